//! The terminal table: id, level, outcome, message; evidence under each
//! unmet requirement; the summary line last.

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use super::{Context, Summary, evidence_line, one_line};
use crate::checks::{CheckResult, Outcome};

/// How the table is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableOptions {
    /// ANSI colours.
    pub color: bool,
    /// Evidence lines under each unmet requirement (at most this many; 0 for none).
    pub evidence_lines: usize,
}

impl Default for TableOptions {
    fn default() -> Self {
        Self {
            color: false,
            evidence_lines: 8,
        }
    }
}

/// Whether to colour output: stdout is a terminal and `NO_COLOR` is unset
/// (<https://no-color.org>).
pub fn use_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

const RESET: &str = "\x1b[0m";

fn color_of(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "\x1b[32m",
        Outcome::Fail | Outcome::Stale => "\x1b[1;31m",
        Outcome::Warn => "\x1b[33m",
        Outcome::Skip => "\x1b[2m",
        Outcome::Error => "\x1b[35m",
        Outcome::ExpectedFail => "\x1b[36m",
    }
}

fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("{code}{text}{RESET}")
    } else {
        text.to_owned()
    }
}

/// Renders the table.
pub fn render(results: &[CheckResult], ctx: &Context<'_>, opts: TableOptions) -> String {
    let id_w = results.iter().map(|r| r.id.len()).max().unwrap_or(2).max(2);
    let mut out = String::new();
    if !ctx.sut.is_empty() {
        let _ = write!(
            out,
            "codeintel conformance (catalog {}) — {}\n\n",
            crate::catalog::VERSION,
            ctx.sut
        );
    }
    let header = format!("{:<id_w$}  {:<6}  {:<7}  MESSAGE", "ID", "LEVEL", "OUTCOME");
    out.push_str(&paint(&header, "\x1b[1m", opts.color));
    out.push('\n');
    for r in results {
        // Pad before painting so escape codes do not break alignment.
        let outcome = format!("{:<7}", r.outcome.as_str());
        let _ = writeln!(
            out,
            "{:<id_w$}  {:<6}  {}  {}",
            r.id,
            r.level.as_str(),
            paint(&outcome, color_of(r.outcome), opts.color),
            one_line(&r.message)
        );
        let show_evidence = matches!(
            r.outcome,
            Outcome::Fail | Outcome::Warn | Outcome::Error | Outcome::Stale
        );
        if show_evidence && opts.evidence_lines > 0 {
            let indent = " ".repeat(id_w + 2);
            for line in r.evidence.iter().take(opts.evidence_lines) {
                let _ = writeln!(
                    out,
                    "{indent}{} {}",
                    paint("│", "\x1b[2m", opts.color),
                    evidence_line(line)
                );
            }
            if r.evidence.len() > opts.evidence_lines {
                let _ = writeln!(
                    out,
                    "{indent}{} … {} more evidence line(s) in --json / --markdown",
                    paint("│", "\x1b[2m", opts.color),
                    r.evidence.len() - opts.evidence_lines
                );
            }
        }
    }
    let summary = Summary::of(results);
    out.push('\n');
    let verdict = if ctx.exit_code(results) == super::Exit::Pass {
        paint(&summary.to_string(), color_of(Outcome::Pass), opts.color)
    } else {
        paint(&summary.to_string(), color_of(Outcome::Fail), opts.color)
    };
    out.push_str(&verdict);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_without_colour_and_coloured_on_request() {
        let results = vec![
            CheckResult::pass("MET-001", "ok"),
            CheckResult::fail("MET-002", "bad\nbuckets").with_evidence(["e1", "e2", "e3"]),
        ];
        let ctx = Context {
            sut: "x",
            ..Context::default()
        };
        let plain = render(
            &results,
            &ctx,
            TableOptions {
                color: false,
                evidence_lines: 2,
            },
        );
        assert!(!plain.contains('\x1b'));
        assert!(
            plain.contains("MET-002  MUST    FAIL     bad buckets\n"),
            "{plain}"
        );
        assert!(plain.contains("         │ e2\n"), "{plain}");
        assert!(plain.contains("… 1 more evidence line(s)"), "{plain}");
        assert!(
            plain
                .trim_end()
                .ends_with("1 passed, 1 failed, 0 warned, 0 skipped, 0 errors")
        );
        let colored = render(
            &results,
            &ctx,
            TableOptions {
                color: true,
                evidence_lines: 0,
            },
        );
        assert!(colored.contains("\x1b[32mPASS   \x1b[0m"), "{colored}");
        assert!(!colored.contains("│ e1"));
    }
}
