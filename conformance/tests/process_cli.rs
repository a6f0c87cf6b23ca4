//! The `codeintel-conformance` binary: exit codes 0/1/2, the report files, a
//! broken SUT judged (not crashing the harness), and the matrix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use codeintel_conformance::drive::workspace_root;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_codeintel-conformance"));
    c.env("NO_COLOR", "1");
    c
}

fn standin(name: &str) -> PathBuf {
    workspace_root()
        .join("fixtures/suts/standins")
        .join(format!("{name}.toml"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(cmd: &mut Command) -> (Output, Duration) {
    let started = Instant::now();
    let out = cmd.output().unwrap();
    (out, started.elapsed())
}

#[test]
fn list_and_explain() {
    let (out, _) = run(bin().arg("list"));
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("MET-001") && stdout.contains("LNT-003"),
        "{stdout}"
    );

    let (out, _) = run(bin().args(["explain", "met-002"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("MET-002"));

    let (out, _) = run(bin().args(["explain", "NOPE-9"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("`NOPE-9` is not a requirement"));
}

#[test]
#[cfg(not(feature = "reference"))]
fn reference_without_the_feature_is_a_clear_harness_error() {
    let (out, _) = run(bin().args(["run", "--sut", "reference"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no in-process reference server") && stderr.contains("--sut-manifest"),
        "{stderr}"
    );
}

#[test]
fn a_bad_manifest_is_a_harness_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sut.toml");
    std::fs::write(&path, "command = 5\n").unwrap();
    let (out, _) = run(bin().arg("run").arg("--sut-manifest").arg(&path));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("key `command`"), "{stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
}

#[test]
fn a_sut_that_exits_at_start_fails_the_run_with_reports_written() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let markdown = dir.path().join("report.md");
    let observations = dir.path().join("obs.json");
    let (out, elapsed) = run(bin()
        .arg("run")
        .arg("--sut-manifest")
        .arg(standin("exits-at-start"))
        .args(["--json", "-", "--timeout-secs", "5"])
        .arg("--junit")
        .arg(&junit)
        .arg("--markdown")
        .arg(&markdown)
        .arg("--save-observations")
        .arg(&observations));
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");

    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sut"], "standin-exits-at-start");
    assert_eq!(report["exit_code"], 1);
    assert!(
        report["summary"]["failed"].as_u64().unwrap() > 0,
        "{report}"
    );
    let messages = report["results"].to_string();
    assert!(messages.contains("exit status 3"), "{messages}");
    // The table went to stderr since stdout carries the JSON.
    assert!(stderr.contains("MET-001"), "{stderr}");

    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .starts_with("<?xml")
    );
    assert!(
        std::fs::read_to_string(&markdown)
            .unwrap()
            .contains("standin-exits-at-start")
    );
    let obs: codeintel_conformance::observe::Observations =
        serde_json::from_str(&std::fs::read_to_string(&observations).unwrap()).unwrap();
    assert!(obs.startup.output_tail.contains("cannot open the index"));
}

#[test]
fn matrix_drives_every_manifest_and_never_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("MATRIX.md");
    let (out, elapsed) = run(bin()
        .arg("matrix")
        .arg(standin("exits-at-start"))
        .arg(standin("never-ready"))
        .arg(dir.path().join("missing.toml"))
        .args(["--timeout-secs", "2"])
        .arg("--markdown")
        .arg(&md));
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    // A manifest that cannot be read is a harness error of its column.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let header = stdout.lines().next().unwrap();
    assert!(
        header.contains("standin-exits-at-start") && header.contains("standin-never-ready"),
        "{stdout}"
    );
    let met001 = stdout.lines().find(|l| l.starts_with("MET-001")).unwrap();
    assert!(!met001.contains("PASS"), "{met001}");
    assert!(text(&out.stderr).contains("cannot read SUT manifest"));
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(markdown.contains("| ID | LEVEL |"), "{markdown}");
}

#[test]
fn an_unknown_fail_on_kind_is_refused_naming_it() {
    let (out, _) = run(bin().args(["run", "--sut-manifest", "x.toml", "--fail-on", "skip,nope"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`nope` is not an outcome kind") && stderr.contains("skip, warn, error"),
        "{stderr}"
    );
}

/// Without the official MCP suite the MCP-* MUSTs are skipped: a plain run
/// passes, `--fail-on skip` fails it, `--fail-on warn` does not (the
/// reference warns on nothing).
#[test]
#[cfg(feature = "reference")]
fn fail_on_skip_fails_a_run_with_skipped_musts_and_warn_does_not() {
    let cache = tempfile::tempdir().unwrap();
    let report_of = |kinds: &str| {
        let (out, _) = run(bin()
            .args([
                "run",
                "--sut",
                "reference",
                "--json",
                "-",
                "--fail-on",
                kinds,
            ])
            .env_remove("CODEINTEL_MCP_SUITE")
            .env("CODEINTEL_CACHE", cache.path()));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("no JSON ({e}): {}", text(&out.stderr)));
        (out.status.code(), report)
    };
    let (code, report) = report_of("skip");
    let skipped: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "skip" && r["level"] == "MUST")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(skipped.contains(&"MCP-001"), "{report}");
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["exit_code"], 1);
    assert_eq!(report["fail_on"], serde_json::json!(["skip"]));

    let (code, report) = report_of("warn");
    assert_eq!(report["summary"]["warned"], 0, "{report}");
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["exit_code"], 0);
}

#[test]
fn a_source_operator_without_a_source_tree_is_a_harness_error_naming_it() {
    let (out, _) = run(bin()
        .arg("run")
        .arg("--sut-manifest")
        .arg(standin("exits-at-start"))
        .args(["--mutate", "source-legacy-module"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`source-legacy-module` needs the SUT's source tree")
            && stderr.contains("--source DIR"),
        "{stderr}"
    );
}

/// `run --mutate source-…` lints a planted copy: the failure names the
/// planted file, and the tree given with --source is left as it was.
#[test]
fn a_source_operator_plants_into_a_copy_of_the_given_tree() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("app.py"), "import os\n").unwrap();
    let (out, _) = run(bin()
        .arg("run")
        .arg("--sut-manifest")
        .arg(standin("exits-at-start"))
        .args([
            "--timeout-secs",
            "5",
            "--json",
            "-",
            "--mutate",
            "source-legacy-import",
        ])
        .arg("--source")
        .arg(src.path()));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", text(&out.stderr)));
    let lnt = |id: &str| {
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap()
    };
    let r = lnt("LNT-001");
    assert_eq!(r["outcome"], "fail", "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("codeintel_mutant_legacy"),
        "{r}"
    );
    assert_eq!(lnt("LNT-002")["outcome"], "pass");
    let left: Vec<_> = std::fs::read_dir(src.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "the given tree was changed");
}
