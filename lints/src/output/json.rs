//! A JSON document: counts and the diagnostics with their level.

use serde_json::json;

use crate::Report;

/// Pretty-printed JSON:
/// `{"files_checked", "lines_checked", "files_parsed", "findings", "diagnostics": [{"rule",
/// "level", "path", "line", "column", "message", "help"}]}`.
pub fn render(report: &Report) -> String {
    let diagnostics: Vec<serde_json::Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            json!({
                "rule": d.rule.id(),
                "level": d.level().as_str(),
                "path": d.path.to_string_lossy(),
                "line": d.line,
                "column": d.column,
                "message": d.message,
                "help": d.help,
            })
        })
        .collect();
    let doc = json!({
        "files_checked": report.files_checked,
        "lines_checked": report.lines_checked,
        "files_parsed": report.files_parsed,
        "findings": report.diagnostics.len(),
        "diagnostics": diagnostics,
    });
    format!("{doc:#}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Diagnostic, Rule};
    use std::path::Path;

    #[test]
    fn fields_are_present() {
        let report = Report {
            files_checked: 1,
            lines_checked: 4,
            files_parsed: 1,
            diagnostics: vec![Diagnostic::new(
                Rule::MetricsRoute,
                Path::new("app.py"),
                2,
                5,
                "route",
            )],
        };
        let v: serde_json::Value = serde_json::from_str(&render(&report)).unwrap();
        assert_eq!(v["findings"], 1);
        assert_eq!(v["diagnostics"][0]["rule"], "LNT-003");
        assert_eq!(v["diagnostics"][0]["level"], "warning");
        assert_eq!(v["diagnostics"][0]["column"], 5);
    }
}
