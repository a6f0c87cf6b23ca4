//! The `codeintel-lint` binary: formats and exit codes (0 clean, 1 findings,
//! 2 usage or I/O error).

// Test helpers outside #[test] fns may unwrap too (clippy.toml covers only the fns).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_codeintel-lint"))
}

fn run(dir: &Path, args: &[&str]) -> Output {
    bin().current_dir(dir).args(args).output().unwrap()
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn dirty_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "src/lib.rs", "use prometheus::Registry;\n");
    write(
        dir.path(),
        "app/api.py",
        "import os\n\n@app.get(\"/metrics\")\ndef m(): ...\n",
    );
    dir
}

#[test]
fn clean_tree_exits_0_with_default_path() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "src/lib.rs", "pub fn f() {}\n");
    let out = run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no findings in 1 files"));
}

#[test]
fn findings_exit_1_in_text_format() {
    let dir = dirty_tree();
    let out = run(dir.path(), &["."]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("app/api.py:3:6: LNT-003 hand-made `/metrics` route"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("src/lib.rs:1:5: LNT-001 `use prometheus::Registry`"),
        "{text}"
    );
    assert!(
        lines.iter().all(|l| l.ends_with(')')),
        "each line ends with what to do instead"
    );
}

#[test]
fn json_and_sarif_formats_parse() {
    let dir = dirty_tree();
    let out = run(dir.path(), &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["findings"], 2);
    assert_eq!(v["files_checked"], 2);

    let out = run(dir.path(), &["--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[1]["ruleId"], "LNT-001");
    assert_eq!(
        results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "src/lib.rs"
    );
}

#[test]
fn lang_allow_exclude_and_config_flags() {
    let dir = dirty_tree();
    let out = run(dir.path(), &["--lang", "rust"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stdout(&out).contains("api.py"));

    let out = run(dir.path(), &["--lang", "python", "--allow", "app/*.py"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    let out = run(dir.path(), &["--exclude", "src/**", "--exclude", "app"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    write(
        dir.path(),
        "lint.toml",
        "allow = [\"src/lib.rs\"]\nlang = \"rust\"\n",
    );
    let out = run(dir.path(), &["--config", "lint.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("xml"));

    let out = run(dir.path(), &["no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/dir"));

    write(
        dir.path(),
        "pyproject.toml",
        "[tool.codeintel-lint]\nallow = \"not a list\"\n",
    );
    let out = run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pyproject.toml"));
}

#[test]
fn a_syntax_error_does_not_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // Mentions `/metrics` (in a string), so it is parsed by default.
    write(
        dir.path(),
        "a_broken.py",
        "def f(:\n    return '/metrics'\n",
    );
    write(
        dir.path(),
        "b_bad.py",
        "from prometheus_client import Counter\n",
    );
    let out = run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("a_broken.py:1:") && text.contains("LNT-000"),
        "{text}"
    );
    assert!(text.contains("b_bad.py:1:6: LNT-001"), "{text}");
}

#[test]
fn typescript_findings_in_json_and_sarif() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "src/app.ts",
        "import client from \"prom-client\";\napp.get(\"/metrics\", (req, res) => res.end());\n",
    );
    write(
        dir.path(),
        "src/observability/metrics.ts",
        "import { PrometheusExporter } from \"@opentelemetry/exporter-prometheus\";\n",
    );
    write(
        dir.path(),
        "node_modules/prom-client/index.js",
        "const c = require(\"prom-client\");\n",
    );
    let out = run(dir.path(), &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let text = json.to_string();
    assert!(
        text.contains("LNT-001") && text.contains("LNT-003"),
        "{text}"
    );
    assert!(
        text.contains("src/app.ts") && !text.contains("node_modules"),
        "{text}"
    );
    let out = run(dir.path(), &["--format", "sarif", "--lang", "typescript"]);
    assert_eq!(out.status.code(), Some(1));
    let sarif = stdout(&out);
    assert!(
        sarif.contains("src/app.ts") && sarif.contains("prom-client"),
        "{sarif}"
    );
    std::fs::remove_file(dir.path().join("src/app.ts")).unwrap();
    let out = run(dir.path(), &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}
