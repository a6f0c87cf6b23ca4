//! SARIF 2.1.0 (one run, the rules in `tool.driver.rules`, one result per
//! diagnostic with a physical location). Columns are counted in Unicode code
//! points (`columnKind`).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use crate::Report;
use crate::rules::Rule;

/// The SARIF schema this output follows.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// A URI reference for `path`: relative paths stay relative (forward
/// slashes), absolute ones become `file://` URIs; reserved bytes are
/// percent-encoded.
pub fn path_uri(path: &Path) -> String {
    let raw = path.to_string_lossy().replace('\\', "/");
    let mut out = String::with_capacity(raw.len() + 8);
    if raw.starts_with('/') {
        out.push_str("file://");
    }
    for byte in raw.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'/'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
            );
        if keep {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The SARIF log, pretty-printed.
pub fn render(report: &Report) -> String {
    let rules: Vec<serde_json::Value> = Rule::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id(),
                "name": r.name(),
                "shortDescription": { "text": r.summary() },
                "help": { "text": r.help() },
                "defaultConfiguration": { "level": r.level().as_str() },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            let rule_index = Rule::ALL
                .iter()
                .position(|r| *r == d.rule)
                .unwrap_or_default();
            json!({
                "ruleId": d.rule.id(),
                "ruleIndex": rule_index,
                "level": d.level().as_str(),
                "message": { "text": format!("{} ({})", d.message, d.help) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": path_uri(&d.path) },
                        "region": { "startLine": d.line, "startColumn": d.column },
                    }
                }],
            })
        })
        .collect();
    let log = json!({
        "version": "2.1.0",
        "$schema": SCHEMA,
        "runs": [{
            "tool": {
                "driver": {
                    "name": "codeintel-lint",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    format!("{log:#}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Diagnostic;

    #[test]
    fn uris_are_relative_or_file_and_encoded() {
        assert_eq!(path_uri(Path::new("src/a b.py")), "src/a%20b.py");
        assert_eq!(path_uri(Path::new("/r/x#1.rs")), "file:///r/x%231.rs");
        assert_eq!(path_uri(Path::new("é.py")), "%C3%A9.py");
    }

    #[test]
    fn shape_is_sarif_2_1_0() {
        let report = Report {
            files_checked: 1,
            lines_checked: 1,
            files_parsed: 1,
            diagnostics: vec![Diagnostic::new(
                Rule::LegacyModule,
                Path::new("telemetry/prom.py"),
                1,
                1,
                "m",
            )],
        };
        let v: serde_json::Value = serde_json::from_str(&render(&report)).unwrap();
        assert_eq!(v["version"], "2.1.0");
        assert_eq!(v["$schema"], SCHEMA);
        let run = &v["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "codeintel-lint");
        assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 4);
        let result = &run["results"][0];
        assert_eq!(result["ruleId"], "LNT-002");
        assert_eq!(result["ruleIndex"], 2);
        assert_eq!(run["tool"]["driver"]["rules"][2]["id"], "LNT-002");
        assert_eq!(result["level"], "error");
        let loc = &result["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "telemetry/prom.py");
        assert_eq!(loc["region"]["startLine"], 1);
        assert_eq!(loc["region"]["startColumn"], 1);
    }
}
