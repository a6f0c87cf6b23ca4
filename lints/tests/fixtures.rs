//! The fixtures under `fixtures/lint/`: every marked line is found (rule and
//! line), nothing else is; text and SARIF outputs are snapshotted.

// Test helpers outside #[test] fns may unwrap too (clippy.toml covers only the fns).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use codeintel_lint::{Config, Report, Rule, lint_paths, output};

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/lint")
        .canonicalize()
        .expect("fixtures/lint exists")
}

fn lint(paths: &[&str]) -> Report {
    let root = fixtures_root();
    let paths: Vec<PathBuf> = paths.iter().map(|p| root.join(p)).collect();
    lint_paths(&paths, &Config::default())
        .unwrap()
        .relative_to(&root)
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("rs" | "py" | "ts" | "mts" | "cts" | "js" | "mjs" | "cjs")
        ) {
            out.push(path);
        }
    }
}

/// `(path, line, rule)` for every `expect: LNT-…` marker.
fn markers(root: &Path) -> BTreeSet<(String, u32, String)> {
    let mut files = Vec::new();
    source_files(root, &mut files);
    let mut found = BTreeSet::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        for (n, line) in text.lines().enumerate() {
            if let Some(at) = line.find("expect: LNT-") {
                for rule in line[at + "expect: ".len()..].split(',') {
                    found.insert((rel.clone(), n as u32 + 1, rule.trim().to_owned()));
                }
            }
        }
    }
    found
}

#[test]
fn findings_are_exactly_the_markers() {
    assert_findings_are_the_markers(&lint(&["."]));
}

#[test]
fn findings_are_the_same_when_every_file_is_parsed() {
    let root = fixtures_root();
    let config = Config {
        parse_all: true,
        ..Config::default()
    };
    let report = lint_paths(std::slice::from_ref(&root), &config)
        .unwrap()
        .relative_to(&root);
    assert_eq!(report.files_parsed, report.files_checked);
    assert_findings_are_the_markers(&report);
}

fn assert_findings_are_the_markers(report: &Report) {
    let root = fixtures_root();
    let expected = markers(&root);
    let actual: BTreeSet<(String, u32, String)> = report
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.path.to_string_lossy().into_owned(),
                d.line,
                d.rule.id().to_owned(),
            )
        })
        .collect();
    let missing: Vec<_> = expected.difference(&actual).collect();
    let unexpected: Vec<_> = actual.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "missing (marked, not found): {missing:#?}\nunexpected (found, not marked): {unexpected:#?}\n{}",
        output::text::render(report)
    );
    assert!(
        expected.len() > 80,
        "the fixtures hold {} markers",
        expected.len()
    );
}

#[test]
fn every_rule_is_shown_in_every_language() {
    let report = lint(&["."]);
    for rule in Rule::ALL {
        for ext in ["rs", "py", "ts"] {
            assert!(
                report
                    .diagnostics
                    .iter()
                    .any(|d| d.rule == rule && d.path.extension().is_some_and(|e| e == ext)),
                "no {rule} finding in a .{ext} fixture"
            );
        }
    }
}

#[test]
fn negative_fixtures_and_allowed_modules_are_clean() {
    let report = lint(&["."]);
    let false_positives: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| {
            let p = d.path.to_string_lossy();
            p.contains("/negative_") || p.contains("observability/")
        })
        .collect();
    assert!(false_positives.is_empty(), "{false_positives:#?}");
    let root = fixtures_root();
    let mut files = Vec::new();
    source_files(&root, &mut files);
    let negatives = files
        .iter()
        .filter(|f| {
            f.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("negative_")
        })
        .count();
    assert!(negatives >= 8, "only {negatives} negative fixtures");
}

#[test]
fn parse_errors_name_the_problem() {
    let report = lint(&[
        "python/syntax_error.py",
        "python/non_utf8_latin1.py",
        "rust/syntax_error.rs",
        "rust/non_utf8.rs",
        "python/pep695_and_312_syntax.py",
        "typescript/syntax_error.ts",
        "typescript/lib/view_with_jsx.js",
    ]);
    let parse: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.rule == Rule::ParseError)
        .collect();
    assert_eq!(parse.len(), 5, "{parse:#?}");
    for d in &parse {
        let p = d.path.to_string_lossy();
        if p.contains("non_utf8") {
            assert!(
                d.message.contains("not valid UTF-8") && d.message.contains("0xe9"),
                "{}",
                d.message
            );
        } else if p.ends_with(".ts") {
            assert!(
                d.message
                    .starts_with("cannot parse TypeScript: syntax error"),
                "{}",
                d.message
            );
        } else if p.ends_with(".py") {
            assert!(
                d.message.starts_with("cannot parse Python: syntax error"),
                "{}",
                d.message
            );
        } else {
            assert!(d.message.starts_with("cannot parse Rust"), "{}", d.message);
        }
    }
    assert!(
        report
            .diagnostics
            .iter()
            .all(|d| !d.path.ends_with("pep695_and_312_syntax.py") || d.rule == Rule::LegacyImport),
        "3.12 syntax must parse cleanly"
    );
}

#[test]
fn text_output_snapshot() {
    let report = lint(&["."]);
    insta::assert_snapshot!("fixtures_text", output::text::render(&report));
}

#[test]
fn sarif_output_snapshot() {
    let report = lint(&[
        "python/telemetry",
        "python/route_app_get_metrics.py",
        "python/syntax_error.py",
        "rust/route_metrics.rs",
        "typescript/telemetry",
        "typescript/route_raw_http_server.js",
    ]);
    let sarif = output::sarif::render(&report).replace(env!("CARGO_PKG_VERSION"), "[version]");
    insta::assert_snapshot!("fixtures_sarif", sarif);
}

#[test]
fn json_output_snapshot() {
    let report = lint(&[
        "python/telemetry/prom.py",
        "rust/use_prometheus_simple.rs",
        "typescript/import_prom_client_default.ts",
        "typescript/route_express_app_get_metrics.ts",
    ]);
    insta::assert_snapshot!("fixtures_json", output::json::render(&report));
}
