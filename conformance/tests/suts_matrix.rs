//! The implementations in `fixtures/suts/` — the Python implementation and its
//! known-bad variants — plus the in-process reference, driven by one
//! `codeintel-conformance matrix` run: each must show exactly the outcomes
//! `fixtures/suts/EXPECTED.toml` records for it (every id not listed passes).
//!
//! This proves the suite on implementations not written in Rust, and that each
//! reproduced bug of the seed system fails exactly the requirements it should.
//!
//! Needs the Python virtualenv (`fixtures/suts/python-otel/setup.sh`) and, for
//! the `MCP-*` rows, the official MCP suite (`scripts/setup-node.sh`);
//! `scripts/test.sh` installs both and sets `CODEINTEL_REQUIRE_SUTS`, which
//! turns a missing one into a failure instead of a skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use codeintel_conformance::drive::workspace_root;
use codeintel_conformance::mcp_suite::{self, McpSuiteSetting};
use serde::Deserialize;

/// The whole matrix must finish within this much per implementation (each
/// run has its own deadlines; one takes 25-35 s on the 2-core machine), and
/// never sooner than `MATRIX_DEADLINE_FLOOR`: a guard against a hang, not a
/// timing test.
const DEADLINE_PER_IMPLEMENTATION: Duration = Duration::from_secs(75);
const MATRIX_DEADLINE_FLOOR: Duration = Duration::from_secs(20 * 60);

fn matrix_deadline(implementations: usize) -> Duration {
    let n = u32::try_from(implementations).unwrap_or(u32::MAX);
    (DEADLINE_PER_IMPLEMENTATION * n).max(MATRIX_DEADLINE_FLOOR)
}

/// Matrix processes run at once: `CODEINTEL_MATRIX_JOBS`, default 2.
fn matrix_jobs() -> usize {
    std::env::var("CODEINTEL_MATRIX_JOBS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(2)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    why: String,
    #[serde(default)]
    expect: BTreeMap<String, String>,
}

/// Set by scripts/test.sh: a missing set-up fails instead of skipping (as in
/// tests/mcp_suite.rs).
fn required() -> bool {
    std::env::var_os("CODEINTEL_REQUIRE_SUTS").is_some()
}

/// The manifests `fixtures/suts/*/sut.toml`, by folder name.
fn manifests(root: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(root.join("fixtures/suts")).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = dir.join("sut.toml");
        if manifest.is_file() {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            out.insert(name, manifest);
        }
    }
    out
}

/// Parses the Markdown matrix: column name → (id → outcome).
fn parse_matrix(markdown: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let rows: Vec<Vec<&str>> = markdown
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect()
        })
        .collect();
    let header = &rows[0];
    assert_eq!(&header[..2], ["ID", "LEVEL"], "matrix header: {header:?}");
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in rows.iter().skip(2) {
        for (i, column) in header.iter().enumerate().skip(2) {
            out.entry((*column).to_owned())
                .or_default()
                .insert(row[0].to_owned(), row[i].to_ascii_lowercase());
        }
    }
    out
}

/// Runs the binary with a deadline; returns (exit code, stderr).
fn run_with_deadline(mut cmd: Command, deadline: Duration) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start codeintel-conformance");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).ok();
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > deadline {
            child.kill().ok();
            child.wait().ok();
            let stderr = reader.join().unwrap_or_default();
            panic!("the matrix ran past {deadline:?}; killed it. stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    (status.code(), reader.join().unwrap_or_default())
}

#[test]
fn every_implementation_shows_exactly_its_expected_outcomes() {
    let root = workspace_root();
    let venv_python = mcp_suite::cache_root()
        .expect("CODEINTEL_CACHE or HOME is set")
        .join("venv/python-otel/bin/python");
    if !venv_python.is_file() {
        let why = format!(
            "no Python virtualenv at {}: run fixtures/suts/python-otel/setup.sh",
            venv_python.display()
        );
        assert!(!required(), "{why}");
        eprintln!("skipped: {why}");
        return;
    }
    // Found as the harness finds it.
    let mcp_installed = match mcp_suite::locate(None) {
        Ok(McpSuiteSetting::Installed(_)) => true,
        other => {
            assert!(
                !required(),
                "the official MCP suite is not installed ({other:?}): run scripts/setup-node.sh"
            );
            false
        }
    };

    let expected_path = root.join("fixtures/suts/EXPECTED.toml");
    let expected: BTreeMap<String, Entry> =
        toml::from_str(&std::fs::read_to_string(&expected_path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
    let manifests = manifests(&root);
    for name in manifests.keys() {
        assert!(
            expected.contains_key(name),
            "fixtures/suts/{name}/sut.toml has no [{name}] table in EXPECTED.toml"
        );
    }
    for (name, entry) in &expected {
        assert!(
            name == "reference" || manifests.contains_key(name),
            "EXPECTED.toml has [{name}] but there is no fixtures/suts/{name}/sut.toml"
        );
        assert!(!entry.why.trim().is_empty(), "[{name}] needs a `why`");
    }

    // The implementations are split over `jobs` matrix processes run at
    // once (most of a run is waiting: readiness holds, span settling), each
    // with its own ports, peers and temp folders.
    let out = tempfile::tempdir().unwrap();
    let mut all: Vec<String> = manifests
        .values()
        .map(|p| p.display().to_string())
        .collect();
    all.push("reference".to_owned());
    let jobs = matrix_jobs().min(all.len());
    let started = Instant::now();
    let runs: Vec<_> = (0..jobs)
        .map(|j| {
            let part: Vec<String> = all.iter().skip(j).step_by(jobs).cloned().collect();
            let md = out.path().join(format!("MATRIX-{j}.md"));
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_codeintel-conformance"));
            cmd.current_dir(&root).arg("matrix");
            cmd.args(&part);
            cmd.arg("--markdown").arg(&md);
            let deadline = matrix_deadline(part.len());
            std::thread::spawn(move || (md, run_with_deadline(cmd, deadline)))
        })
        .collect();
    let mut matrix = BTreeMap::new();
    let (mut text, mut stderr) = (String::new(), String::new());
    for run in runs {
        let (md, (code, err)) = run.join().unwrap();
        assert_ne!(code, Some(2), "the harness itself failed:\n{err}");
        let part = std::fs::read_to_string(&md)
            .unwrap_or_else(|e| panic!("no Markdown matrix ({e}); stderr:\n{err}"));
        matrix.extend(parse_matrix(&part));
        text.push_str(&part);
        stderr.push_str(&err);
    }
    eprintln!(
        "matrix of {} implementations in {jobs} processes took {:.1} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );

    let mut problems = Vec::new();
    for (name, entry) in &expected {
        // Columns are named by the manifest's `name`, which must be its folder's.
        let Some(column) = matrix.get(name) else {
            problems.push(format!(
                "no column `{name}` in the matrix (is the manifest's `name` its folder name?)"
            ));
            continue;
        };
        for id in entry.expect.keys() {
            if !column.contains_key(id) {
                problems.push(format!(
                    "[{name}] expects {id}, which is not in the catalog"
                ));
            }
        }
        for (id, outcome) in column {
            if id == "exit" {
                continue;
            }
            let want = entry.expect.get(id).map_or("pass", String::as_str);
            let skip_ok = id.starts_with("MCP-") && !mcp_installed;
            if outcome != want && !(skip_ok && outcome == "skip") {
                problems.push(format!("{name} {id}: expected {want}, got {outcome}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} mismatches with EXPECTED.toml:\n  {}\n\nmatrix:\n{text}\nstderr:\n{stderr}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// The Python sources of `dir`, concatenated (no `__pycache__`).
fn python_sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("__pycache__") {
                python_sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "py") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// Each variant's `CODEINTEL_PY_BUG` word is switched somewhere in the
/// Python code (`BUG == "word"` or `BUG != "word"`): a misspelt word leaves
/// the variant a clean copy, which only the slow matrix (and only with the
/// venv) would notice.
#[test]
fn every_variant_s_bug_word_is_switched_in_the_python_code() {
    let root = workspace_root();
    let mut code = String::new();
    python_sources(
        &root.join("fixtures/suts/python-otel/codeintel_py"),
        &mut code,
    );
    let mut words = Vec::new();
    for (name, manifest) in manifests(&root) {
        let value: toml::Value = toml::from_str(&std::fs::read_to_string(&manifest).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        let Some(word) = value
            .get("env")
            .and_then(|e| e.get("CODEINTEL_PY_BUG"))
            .and_then(toml::Value::as_str)
        else {
            continue;
        };
        assert!(
            code.contains(&format!("BUG == \"{word}\""))
                || code.contains(&format!("BUG != \"{word}\"")),
            "{name}: CODEINTEL_PY_BUG = {word:?} is switched nowhere in fixtures/suts/python-otel/codeintel_py"
        );
        words.push(word.to_owned());
    }
    assert!(
        words.len() >= 30,
        "only {} variant(s) with a bug word: {words:?}",
        words.len()
    );
}

#[test]
fn the_matrix_deadline_grows_with_the_implementations() {
    assert_eq!(matrix_deadline(3), MATRIX_DEADLINE_FLOOR);
    assert_eq!(matrix_deadline(34), Duration::from_secs(34 * 75));
}

#[test]
fn the_matrix_parser_reads_columns_by_name() {
    let md = "# m\n\n| ID | LEVEL | a | b |\n| --- | --- | --- | --- |\n| MET-001 | MUST | PASS | FAIL |\n| exit |  | 0 | 1 |\n";
    let m = parse_matrix(md);
    assert_eq!(
        m["a"]["MET-001"], "pass",
        "outcomes are compared in lower case"
    );
    assert_eq!(m["b"]["MET-001"], "fail");
    assert_eq!(m["b"]["exit"], "1");
}
