//! `--junit FILE`: JUnit XML for CI systems. One `<testsuite>` per group
//! (MET, TRC, …), one `<testcase>` per requirement; `<failure>`, `<error>`
//! and `<skipped>` as the outcome says. A SHOULD that failed is a failure
//! only with `--strict`; otherwise it passes with the warning in
//! `<system-out>`.

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::{Context, FailOn, evidence_line, one_line};
use crate::catalog::GROUPS;
use crate::checks::{CheckResult, Outcome};

/// How a result shows in JUnit.
enum Verdict {
    Pass,
    Failure(&'static str),
    Error,
    Skipped,
}

fn verdict(r: &CheckResult, fail_on: FailOn) -> Verdict {
    match r.outcome {
        Outcome::Fail => Verdict::Failure("requirement"),
        Outcome::Stale => Verdict::Failure("stale-expected-failure"),
        Outcome::Warn if fail_on.warn => Verdict::Failure("should"),
        Outcome::Skip if fail_on.skip && r.level == crate::catalog::Level::Must => {
            Verdict::Failure("skipped-must")
        }
        Outcome::Pass | Outcome::Warn => Verdict::Pass,
        Outcome::Error => Verdict::Error,
        Outcome::Skip | Outcome::ExpectedFail => Verdict::Skipped,
    }
}

#[derive(Default)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

fn counts<'a>(results: impl Iterator<Item = &'a CheckResult>, fail_on: FailOn) -> Counts {
    let mut c = Counts::default();
    for r in results {
        c.tests += 1;
        match verdict(r, fail_on) {
            Verdict::Pass => {}
            Verdict::Failure(_) => c.failures += 1,
            Verdict::Error => c.errors += 1,
            Verdict::Skipped => c.skipped += 1,
        }
    }
    c
}

/// Renders JUnit XML.
pub fn render(results: &[CheckResult], ctx: &Context<'_>) -> String {
    write(results, ctx).unwrap_or_else(|e| {
        format!("<?xml version=\"1.0\"?>\n<!-- cannot render the JUnit report: {e} -->\n")
    })
}

fn write(results: &[CheckResult], ctx: &Context<'_>) -> io::Result<String> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let total = counts(results.iter(), ctx.effective_fail_on());
    let suite_name = if ctx.sut.is_empty() {
        "codeintel-conformance".to_owned()
    } else {
        format!("codeintel-conformance {}", ctx.sut)
    };
    let (tests, failures, errors, skipped) = (
        total.tests.to_string(),
        total.failures.to_string(),
        total.errors.to_string(),
        total.skipped.to_string(),
    );
    w.create_element("testsuites")
        .with_attributes([
            ("name", suite_name.as_str()),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", errors.as_str()),
            ("skipped", skipped.as_str()),
        ])
        .write_inner_content(|w| {
            for (group, heading) in GROUPS {
                let members: Vec<&CheckResult> =
                    results.iter().filter(|r| r.group() == group).collect();
                if members.is_empty() {
                    continue;
                }
                write_suite(w, group, heading, &members, ctx.effective_fail_on())?;
            }
            Ok(())
        })?;
    let mut bytes = w.into_inner();
    bytes.push(b'\n');
    String::from_utf8(bytes).map_err(io::Error::other)
}

fn write_suite(
    w: &mut Writer<Vec<u8>>,
    group: &str,
    heading: &str,
    members: &[&CheckResult],
    fail_on: FailOn,
) -> io::Result<()> {
    let c = counts(members.iter().copied(), fail_on);
    let (tests, failures, errors, skipped) = (
        c.tests.to_string(),
        c.failures.to_string(),
        c.errors.to_string(),
        c.skipped.to_string(),
    );
    let name = format!("{group} {heading}");
    w.create_element("testsuite")
        .with_attributes([
            ("name", name.as_str()),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", errors.as_str()),
            ("skipped", skipped.as_str()),
        ])
        .write_inner_content(|w| {
            for r in members {
                write_case(w, group, r, fail_on)?;
            }
            Ok(())
        })?;
    Ok(())
}

fn write_case(
    w: &mut Writer<Vec<u8>>,
    group: &str,
    r: &CheckResult,
    fail_on: FailOn,
) -> io::Result<()> {
    let name = format!("{} {}", r.id, r.title());
    let classname = format!("conformance.{group}");
    let message = one_line(&r.message);
    let details = {
        let mut d = message.clone();
        for e in &r.evidence {
            d.push('\n');
            d.push_str(&evidence_line(e));
        }
        d
    };
    let case = w
        .create_element("testcase")
        .with_attributes([("name", name.as_str()), ("classname", classname.as_str())]);
    match verdict(r, fail_on) {
        Verdict::Pass if r.outcome == Outcome::Warn => {
            case.write_inner_content(|w| {
                w.create_element("system-out")
                    .write_text_content(BytesText::new(&format!("WARN (SHOULD): {details}")))?;
                Ok(())
            })?;
        }
        Verdict::Pass => {
            case.write_empty()?;
        }
        Verdict::Failure(kind) => {
            case.write_inner_content(|w| {
                w.create_element("failure")
                    .with_attributes([("message", message.as_str()), ("type", kind)])
                    .write_text_content(BytesText::new(&details))?;
                Ok(())
            })?;
        }
        Verdict::Error => {
            case.write_inner_content(|w| {
                w.create_element("error")
                    .with_attributes([("message", message.as_str()), ("type", "harness")])
                    .write_text_content(BytesText::new(&details))?;
                Ok(())
            })?;
        }
        Verdict::Skipped => {
            case.write_inner_content(|w| {
                w.create_element("skipped")
                    .with_attribute(("message", message.as_str()))
                    .write_empty()?;
                Ok(())
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_counts() {
        let results = vec![
            CheckResult::pass("MET-001", "ok"),
            CheckResult::fail("MET-002", "le=\"5\" <bad> & worse").with_evidence(["x\u{1b}y"]),
            CheckResult::fail("MET-010", "grew"),
            CheckResult::skip("LNT-001", "no --source"),
        ];
        let xml = render(&results, &Context::default());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        assert!(
            xml.contains("tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("message=\"le=&quot;5&quot; &lt;bad&gt; &amp; worse\""),
            "{xml}"
        );
        assert!(!xml.contains('\u{1b}'));
        assert!(
            xml.contains("<system-out>WARN (SHOULD): grew</system-out>"),
            "{xml}"
        );
        let strict = render(
            &results,
            &Context {
                strict: true,
                ..Context::default()
            },
        );
        assert!(strict.contains("failures=\"2\""), "{strict}");
    }
}
