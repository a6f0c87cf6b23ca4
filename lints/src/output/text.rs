//! `path:line:col: LNT-001 message (what to do instead)`, one per line.

use std::fmt::Write as _;

use crate::Report;

/// One line per diagnostic, each ending in a newline; empty when clean.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for d in &report.diagnostics {
        let _ = writeln!(
            out,
            "{}:{}:{}: {} {} ({})",
            d.path.display(),
            d.line,
            d.column,
            d.rule.id(),
            d.message,
            d.help
        );
    }
    out
}

/// A one-line summary for humans (the CLI prints it to stderr).
pub fn summary(report: &Report) -> String {
    let n = report.diagnostics.len();
    let files = report.files_checked;
    let lines = report.lines_checked;
    match n {
        0 => format!("codeintel-lint: no findings in {files} files ({lines} lines)"),
        1 => format!("codeintel-lint: 1 finding in {files} files ({lines} lines)"),
        n => format!("codeintel-lint: {n} findings in {files} files ({lines} lines)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Diagnostic, Rule};
    use std::path::Path;

    #[test]
    fn one_line_per_finding() {
        let report = Report {
            files_checked: 2,
            lines_checked: 10,
            files_parsed: 2,
            diagnostics: vec![
                Diagnostic::new(Rule::LegacyImport, Path::new("a/b.py"), 3, 1, "bad")
                    .with_help("good"),
            ],
        };
        assert_eq!(render(&report), "a/b.py:3:1: LNT-001 bad (good)\n");
        assert_eq!(
            summary(&report),
            "codeintel-lint: 1 finding in 2 files (10 lines)"
        );
        assert_eq!(render(&Report::default()), "");
    }
}
