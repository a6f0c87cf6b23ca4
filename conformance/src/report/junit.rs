//! JUnit XML: the one writer every JUnit document of the harness goes
//! through ([`JunitWriter`], on quick-xml: declaration, layout, escaping),
//! and `--junit FILE` of a run: one `<testsuite>` per group (MET, TRC, …),
//! one `<testcase>` per requirement; `<failure>`, `<error>` and `<skipped>`
//! as the outcome says. A SHOULD that failed is a failure only with
//! `--strict`; otherwise it passes with the warning in `<system-out>`.
//! The matrix ([`super::matrix`]) and the telemetry gate
//! ([`crate::gate::render`]) write theirs with the same writer.

use std::io::{self, Write as _};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::{Context, FailOn, evidence_line, one_line};
use crate::catalog::GROUPS;
use crate::checks::{CheckResult, Outcome};

/// Where a test case's child element goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Every element on a line of its own, indented by two spaces a level;
    /// a case without a child is `<testcase …/>` (a run's and the gate's
    /// JUnit).
    Indented,
    /// Suites indented as above, each case on one line with its child
    /// inline: `<testcase …><failure …/></testcase>` (the matrix's and the
    /// mutants' JUnit).
    CaseInline,
}

/// The element inside a `<testcase>`: `failure`, `error`, `skipped` or
/// `system-out`, its attributes in order, and its text (`None`: an empty
/// element).
#[derive(Debug, Clone, Copy)]
pub struct Child<'a> {
    pub tag: &'static str,
    pub attributes: &'a [(&'a str, &'a str)],
    pub text: Option<&'a str>,
}

impl<'a> Child<'a> {
    /// `<failure …>text</failure>`, or `<failure …/>` without text.
    pub fn failure(attributes: &'a [(&'a str, &'a str)], text: Option<&'a str>) -> Self {
        Self {
            tag: "failure",
            attributes,
            text,
        }
    }

    /// `<error …>text</error>`.
    pub fn error(attributes: &'a [(&'a str, &'a str)], text: Option<&'a str>) -> Self {
        Self {
            tag: "error",
            attributes,
            text,
        }
    }

    /// `<skipped …/>`.
    pub fn skipped(attributes: &'a [(&'a str, &'a str)]) -> Self {
        Self {
            tag: "skipped",
            attributes,
            text: None,
        }
    }

    /// `<system-out>text</system-out>`.
    pub fn system_out(text: &'a str) -> Self {
        Self {
            tag: "system-out",
            attributes: &[],
            text: Some(text),
        }
    }
}

/// The harness's JUnit writer: `<testsuites>` → `<testsuite>` →
/// `<testcase>` with at most one child, attributes in the caller's order and
/// escaped by quick-xml (`& < > ' "`, in attributes and text alike).
pub struct JunitWriter {
    w: Writer<Vec<u8>>,
    layout: Layout,
    depth: usize,
}

impl JunitWriter {
    /// A document that starts with the XML declaration (UTF-8).
    pub fn new(layout: Layout) -> io::Result<Self> {
        let mut w = Writer::new(Vec::new());
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        Ok(Self {
            w,
            layout,
            depth: 0,
        })
    }

    fn line(&mut self) -> io::Result<()> {
        let out = self.w.get_mut();
        out.push(b'\n');
        out.write_all(&b" ".repeat(2 * self.depth))
    }

    fn start(tag: &str, attributes: &[(&str, &str)]) -> BytesStart<'static> {
        BytesStart::new(tag.to_owned()).with_attributes(attributes.iter().copied())
    }

    fn element(
        &mut self,
        tag: &str,
        attributes: &[(&str, &str)],
        inner: impl FnOnce(&mut Self) -> io::Result<()>,
    ) -> io::Result<()> {
        self.line()?;
        self.w
            .write_event(Event::Start(Self::start(tag, attributes)))?;
        self.depth += 1;
        inner(self)?;
        self.depth -= 1;
        self.line()?;
        self.w.write_event(Event::End(BytesEnd::new(tag)))
    }

    /// `<testsuites …>`, its suites written by `inner`.
    pub fn suites(
        &mut self,
        attributes: &[(&str, &str)],
        inner: impl FnOnce(&mut Self) -> io::Result<()>,
    ) -> io::Result<()> {
        self.element("testsuites", attributes, inner)
    }

    /// `<testsuite …>`, its cases written by `inner`.
    pub fn suite(
        &mut self,
        attributes: &[(&str, &str)],
        inner: impl FnOnce(&mut Self) -> io::Result<()>,
    ) -> io::Result<()> {
        self.element("testsuite", attributes, inner)
    }

    fn child(&mut self, child: &Child<'_>) -> io::Result<()> {
        let start = Self::start(child.tag, child.attributes);
        match child.text {
            None => self.w.write_event(Event::Empty(start)),
            Some(text) => {
                self.w.write_event(Event::Start(start))?;
                self.w.write_event(Event::Text(BytesText::new(text)))?;
                self.w.write_event(Event::End(BytesEnd::new(child.tag)))
            }
        }
    }

    /// One `<testcase …>` with at most one child.
    pub fn case(
        &mut self,
        attributes: &[(&str, &str)],
        child: Option<Child<'_>>,
    ) -> io::Result<()> {
        self.line()?;
        let start = Self::start("testcase", attributes);
        match (self.layout, child) {
            (Layout::Indented, None) => self.w.write_event(Event::Empty(start)),
            (Layout::Indented, Some(c)) => {
                self.w.write_event(Event::Start(start))?;
                self.depth += 1;
                self.line()?;
                self.child(&c)?;
                self.depth -= 1;
                self.line()?;
                self.w.write_event(Event::End(BytesEnd::new("testcase")))
            }
            (Layout::CaseInline, c) => {
                self.w.write_event(Event::Start(start))?;
                if let Some(c) = c {
                    self.child(&c)?;
                }
                self.w.write_event(Event::End(BytesEnd::new("testcase")))
            }
        }
    }

    /// The document, ending with a newline.
    pub fn finish(self) -> io::Result<String> {
        let mut bytes = self.w.into_inner();
        bytes.push(b'\n');
        String::from_utf8(bytes).map_err(io::Error::other)
    }
}

/// The document `write` made, or a valid XML file that says why there is
/// none (writing to memory does not fail in practice).
pub fn or_comment(written: io::Result<String>) -> String {
    written.unwrap_or_else(|e| {
        format!("<?xml version=\"1.0\"?>\n<!-- cannot render the JUnit report: {e} -->\n")
    })
}

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
    or_comment(write(results, ctx))
}

fn write(results: &[CheckResult], ctx: &Context<'_>) -> io::Result<String> {
    let mut w = JunitWriter::new(Layout::Indented)?;
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
    w.suites(
        &[
            ("name", suite_name.as_str()),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", errors.as_str()),
            ("skipped", skipped.as_str()),
        ],
        |w| {
            for (group, heading) in GROUPS {
                let members: Vec<&CheckResult> =
                    results.iter().filter(|r| r.group() == group).collect();
                if members.is_empty() {
                    continue;
                }
                write_suite(w, group, heading, &members, ctx.effective_fail_on())?;
            }
            Ok(())
        },
    )?;
    w.finish()
}

fn write_suite(
    w: &mut JunitWriter,
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
    w.suite(
        &[
            ("name", name.as_str()),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", errors.as_str()),
            ("skipped", skipped.as_str()),
        ],
        |w| {
            for r in members {
                write_case(w, group, r, fail_on)?;
            }
            Ok(())
        },
    )
}

fn write_case(
    w: &mut JunitWriter,
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
    let case = [("name", name.as_str()), ("classname", classname.as_str())];
    match verdict(r, fail_on) {
        Verdict::Pass if r.outcome == Outcome::Warn => w.case(
            &case,
            Some(Child::system_out(&format!("WARN (SHOULD): {details}"))),
        ),
        Verdict::Pass => w.case(&case, None),
        Verdict::Failure(kind) => w.case(
            &case,
            Some(Child::failure(
                &[("message", message.as_str()), ("type", kind)],
                Some(details.as_str()),
            )),
        ),
        Verdict::Error => w.case(
            &case,
            Some(Child::error(
                &[("message", message.as_str()), ("type", "harness")],
                Some(details.as_str()),
            )),
        ),
        Verdict::Skipped => w.case(
            &case,
            Some(Child::skipped(&[("message", message.as_str())])),
        ),
    }
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
