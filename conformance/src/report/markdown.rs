//! `--markdown FILE`: a report for pull requests and CI summaries.

use super::{Context, Summary, one_line};
use crate::catalog::GROUPS;
use crate::checks::{CheckResult, Outcome};
use std::fmt::Write as _;

fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

fn icon(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "✅ pass",
        Outcome::Fail => "❌ fail",
        Outcome::Warn => "⚠️ warn",
        Outcome::Skip => "⏭️ skip",
        Outcome::Error => "💥 error",
        Outcome::ExpectedFail => "🔶 xfail",
        Outcome::Stale => "❗ stale",
    }
}

/// Renders the Markdown report.
pub fn render(results: &[CheckResult], ctx: &Context<'_>) -> String {
    let mut out = String::new();
    let sut = if ctx.sut.is_empty() { "?" } else { ctx.sut };
    let _ = write!(out, "# codeintel conformance: {sut}\n\n");
    let verdict = if ctx.exit_code(results) == super::Exit::Pass {
        "**conforms**"
    } else {
        "**does not conform**"
    };
    let _ = writeln!(
        out,
        "Catalog {}{}: {verdict} — {}.",
        crate::catalog::VERSION,
        if ctx.strict {
            ", strict".to_owned()
        } else if ctx.fail_on == super::FailOn::default() {
            String::new()
        } else {
            format!(", failing on {}", ctx.fail_on.kinds().join(", "))
        },
        Summary::of(results)
    );
    if !ctx.phases.is_empty() {
        out.push_str("\n| phase | wall time |\n| --- | ---: |\n");
        for p in ctx.phases {
            let _ = writeln!(out, "| {} | {} ms |", cell(&p.phase), p.millis);
        }
    }
    for (group, heading) in GROUPS {
        let members: Vec<&CheckResult> = results.iter().filter(|r| r.group() == group).collect();
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "\n## {heading}\n\n| id | level | outcome | requirement | message |\n| --- | --- | --- | --- | --- |"
        );
        for r in &members {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                r.id,
                r.level,
                icon(r.outcome),
                cell(r.title()),
                cell(&r.message)
            );
        }
    }
    let unmet: Vec<&CheckResult> = results
        .iter()
        .filter(|r| r.outcome.is_problem() || r.outcome == Outcome::Stale)
        .collect();
    if !unmet.is_empty() {
        out.push_str("\n## Details\n");
        for r in unmet {
            let _ = writeln!(
                out,
                "\n### {} {} ({})\n\n{}",
                r.id,
                r.title(),
                icon(r.outcome),
                one_line(&r.message)
            );
            if !r.evidence.is_empty() {
                out.push_str("\n```text\n");
                for e in &r.evidence {
                    // A fence inside evidence would end the block early.
                    out.push_str(&e.replace("```", "'''"));
                    out.push('\n');
                }
                out.push_str("```\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_per_group_and_details_for_unmet() {
        let results = vec![
            CheckResult::pass("MET-001", "ok"),
            CheckResult::fail("TRC-002", "span `fuse` | elsewhere").with_evidence(["```x"]),
        ];
        let md = render(
            &results,
            &Context {
                sut: "ref",
                ..Context::default()
            },
        );
        assert!(md.starts_with("# codeintel conformance: ref\n"));
        assert!(md.contains("**does not conform**"));
        assert!(md.contains("## Metrics\n"));
        assert!(md.contains("span `fuse` \\| elsewhere |"), "{md}");
        assert!(md.contains("### TRC-002"));
        assert!(md.contains("'''x\n```\n"), "{md}");
        assert!(!md.contains("## Logs"));
    }
}
