//! The lint guards this workspace: the tree is clean, and a legacy import
//! copied into a tree is caught.

// Test helpers outside #[test] fns may unwrap too (clippy.toml covers only the fns).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use codeintel_lint::{Config, Rule, lint_paths, lint_root, output};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("lints/ lives in the workspace")
        .canonicalize()
        .unwrap()
}

#[test]
fn this_workspace_is_clean() {
    let root = workspace_root();
    let report = lint_root(&root).unwrap();
    assert!(
        report.files_checked >= 10,
        "only {} files checked",
        report.files_checked
    );
    assert!(report.is_clean(), "\n{}", output::text::render(&report));
}

#[test]
fn workspace_config_excludes_fixtures_and_allows_the_metrics_module() {
    let root = workspace_root();
    let config = Config::for_root(&root).unwrap();
    assert!(
        config.exclude.iter().any(|g| g.starts_with("fixtures")),
        "{config:?}"
    );
    assert!(
        config
            .allow
            .iter()
            .any(|g| g.ends_with("observability/metrics.rs")),
        "{config:?}"
    );
    // Without the exclusion the fixtures are found: the exclusion is what keeps the scan clean.
    let report = lint_paths(&[root.join("fixtures/lint")], &Config::default()).unwrap();
    assert!(report.count(Rule::LegacyImport) > 20);
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn legacy_imports_copied_into_a_tree_fail_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "src/lib.rs", "pub fn ok() {}\n");
    write(dir.path(), "app/main.py", "import json\n");
    assert!(lint_root(dir.path()).unwrap().is_clean());

    write(
        dir.path(),
        "src/lib.rs",
        "pub fn ok() {}\nuse prometheus::Registry;\n",
    );
    write(
        dir.path(),
        "app/main.py",
        "import json\nfrom codeintel_rev.telemetry.prom import record\n",
    );
    let report = lint_root(dir.path()).unwrap();
    let found: Vec<(String, u32, &str)> = report
        .diagnostics
        .iter()
        .map(|d| (d.path.to_string_lossy().into_owned(), d.line, d.rule.id()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("app/main.py".to_owned(), 2, "LNT-001"),
            ("src/lib.rs".to_owned(), 2, "LNT-001")
        ]
    );
}

#[test]
fn allowed_module_and_exclusions_come_from_pyproject() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "pkg/obs/prom_metrics.py",
        "import prometheus_client\n",
    );
    write(
        dir.path(),
        "generated/stub.py",
        "import prometheus_client\n",
    );
    assert_eq!(lint_root(dir.path()).unwrap().count(Rule::LegacyImport), 2);
    write(
        dir.path(),
        "pyproject.toml",
        "[project]\nname = \"x\"\n\n[tool.codeintel-lint]\nallow = [\"pkg/obs/prom_metrics.py\"]\nexclude = [\"generated/**\"]\n",
    );
    let report = lint_root(dir.path()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.files_checked, 1);
}

#[test]
fn gitignored_files_are_not_linted() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".gitignore", "build/\n");
    write(dir.path(), "build/gen.rs", "use prometheus::Registry;\n");
    write(dir.path(), "src/lib.rs", "pub fn ok() {}\n");
    let report = lint_root(dir.path()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.files_checked, 1);
}

#[test]
fn without_ignore_files_a_gitignore_hides_nothing_but_installed_packages_stay_out() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".gitignore", "telemetry/\nlegacy.py\n");
    write(dir.path(), ".ignore", "other.py\n");
    write(dir.path(), "telemetry/prom.py", "COUNTERS = {}\n");
    write(
        dir.path(),
        "legacy.py",
        "from prometheus_client import Counter\n",
    );
    write(dir.path(), "other.py", "import prometheus_client\n");
    write(dir.path(), "app.py", "import os\n");
    // Installed packages are not the implementation's source.
    write(dir.path(), "venv/pyvenv.cfg", "home = /usr/bin\n");
    write(dir.path(), "venv/lib/x.py", "import prometheus_client\n");
    write(
        dir.path(),
        "vendor/site-packages/y.py",
        "import prometheus_client\n",
    );
    write(
        dir.path(),
        "web/node_modules/z.py",
        "import prometheus_client\n",
    );
    let honoured = lint_paths(&[dir.path().to_path_buf()], &Config::default()).unwrap();
    assert!(honoured.is_clean(), "{honoured:?}");
    let config = Config {
        ignore_files: false,
        ..Config::default()
    };
    let report = lint_paths(&[dir.path().to_path_buf()], &config)
        .unwrap()
        .relative_to(dir.path());
    assert_eq!(report.count(Rule::LegacyModule), 1, "{report:?}");
    assert_eq!(report.count(Rule::LegacyImport), 2, "{report:?}");
    assert_eq!(report.files_checked, 4, "{report:?}");
}

#[test]
fn files_no_rule_can_fire_in_are_parsed_only_with_parse_all() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "broken.py", "def f(:\n    return 1\n");
    write(dir.path(), "broken.rs", "fn f( {\n");
    let report = lint_root(dir.path()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.files_checked, report.files_parsed), (2, 0));
    let config = Config {
        parse_all: true,
        ..Config::default()
    };
    let report = lint_paths(&[dir.path().to_path_buf()], &config).unwrap();
    assert_eq!(report.count(Rule::ParseError), 2, "{report:?}");
    assert_eq!(report.files_parsed, 2);
}

#[test]
fn a_missing_path_is_an_error_naming_it() {
    let err = lint_paths(&[PathBuf::from("/definitely/not/here")], &Config::default()).unwrap_err();
    assert!(err.to_string().contains("/definitely/not/here"), "{err}");
}

#[test]
fn synthetic_tree_finds_exactly_the_planted_imports() {
    let dir = tempfile::tempdir().unwrap();
    let tree = codeintel_lint::synth::synthetic_tree(30_000);
    for file in &tree.files {
        write(dir.path(), &file.path.to_string_lossy(), &file.contents);
    }
    let report = lint_root(dir.path()).unwrap();
    assert_eq!(report.files_checked, tree.files.len() as u64);
    assert_eq!(report.lines_checked, tree.lines);
    assert_eq!(
        report.count(Rule::ParseError),
        0,
        "{}",
        output::text::render(&report)
    );
    assert_eq!(report.count(Rule::LegacyImport), tree.planted);
    assert_eq!(report.diagnostics.len(), tree.planted);
    assert_eq!(report.files_parsed, tree.relevant as u64);
}
