//! The harness is hermetic and bounded: a SUT sees only an allow-list of the
//! harness's own environment plus the contract, a manifest cannot override
//! the contract, a run has an overall deadline (its own exit code), and the
//! installed binary needs nothing of this repository.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_codeintel-conformance"));
    c.env("NO_COLOR", "1");
    c
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A manifest for a SUT that writes its environment to `env_out` and then
/// serves plain HTTP on `CODEINTEL_HTTP_ADDR` (enough to be "listening").
fn env_dumping_manifest(dir: &Path, env_out: &Path, extra_env: &str) -> std::path::PathBuf {
    let manifest = dir.join("sut.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"name = "env-dump"
command = ["sh", "-c", "env > \"$ENV_OUT\"; exec python3 -m http.server --bind 127.0.0.1 \"${{CODEINTEL_HTTP_ADDR##*:}}\""]
start_timeout_secs = 10
[env]
ENV_OUT = "{}"
{extra_env}
"#,
            env_out.display()
        ),
    )
    .unwrap();
    manifest
}

fn run_timed(cmd: &mut Command) -> (Output, Duration) {
    let started = Instant::now();
    let out = cmd.output().unwrap();
    (out, started.elapsed())
}

#[test]
fn an_inherited_otel_variable_does_not_reach_the_sut() {
    let dir = tempfile::tempdir().unwrap();
    let env_out = dir.path().join("env.txt");
    let manifest = env_dumping_manifest(dir.path(), &env_out, "");
    let (out, _) = run_timed(
        bin()
            .env("OTEL_SDK_DISABLED", "true")
            .env("OTEL_TRACES_EXPORTER", "none")
            .env("SOME_CI_TOKEN", "secret")
            .env("CODEINTEL_CACHE", dir.path())
            .args(["run", "--deadline", "3", "--sut-manifest"])
            .arg(&manifest),
    );
    let seen = std::fs::read_to_string(&env_out)
        .unwrap_or_else(|e| panic!("the SUT wrote no env ({e}): {}", text(&out.stderr)));
    let names: Vec<&str> = seen.lines().filter_map(|l| l.split('=').next()).collect();
    for leaked in ["OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "SOME_CI_TOKEN"] {
        assert!(
            !names.contains(&leaked),
            "{leaked} reached the SUT:\n{seen}"
        );
    }
    for kept in [
        "PATH",
        "HOME",
        "OTEL_SERVICE_NAME",
        "CODEINTEL_REPO",
        "ENV_OUT",
    ] {
        assert!(names.contains(&kept), "{kept} missing:\n{seen}");
    }
}

#[test]
fn a_manifest_overriding_a_contract_variable_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let env_out = dir.path().join("env.txt");
    let manifest = env_dumping_manifest(
        dir.path(),
        &env_out,
        "OTEL_EXPORTER_OTLP_ENDPOINT = \"http://elsewhere:4318\"",
    );
    let (out, _) = run_timed(bin().args(["run", "--sut-manifest"]).arg(&manifest));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`env.OTEL_EXPORTER_OTLP_ENDPOINT` overrides a variable of the contract"),
        "{stderr}"
    );
    assert!(!env_out.exists(), "the SUT must not have been started");
}

#[test]
fn a_run_past_its_deadline_is_cut_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let env_out = dir.path().join("env.txt");
    let manifest = env_dumping_manifest(dir.path(), &env_out, "");
    let json = dir.path().join("report.json");
    let observations = dir.path().join("obs.json");
    let (out, took) = run_timed(
        bin()
            .env("CODEINTEL_CACHE", dir.path())
            .args(["run", "--deadline", "2", "--sut-manifest"])
            .arg(&manifest)
            .arg("--json")
            .arg(&json)
            .arg("--save-observations")
            .arg(&observations),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("deadline exceeded: the run was cut after 2 s"),
        "{stderr}"
    );
    // Cut at 2 s; stopping the SUT takes at most its grace period.
    assert!(took < Duration::from_secs(12), "took {took:?}");
    let obs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&observations).unwrap()).unwrap();
    assert_eq!(obs["deadline_exceeded"]["deadline_secs"], 2, "{obs}");
    assert!(json.is_file(), "the reports are still written");
}

/// `cargo install` leaves a lone binary: copied to a temp folder and run
/// from another working directory, it drives the reference with the
/// fixtures built into it.
#[test]
fn an_installed_binary_runs_the_suite_outside_the_repository() {
    let install = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let binary = install.path().join("codeintel-conformance");
    std::fs::copy(env!("CARGO_BIN_EXE_codeintel-conformance"), &binary).unwrap();
    let json = elsewhere.path().join("report.json");
    let out = Command::new(&binary)
        .current_dir(elsewhere.path())
        .env("NO_COLOR", "1")
        // No MCP suite in this empty cache: MCP-* are skipped, not run.
        .env("CODEINTEL_CACHE", elsewhere.path())
        .args(["run", "--sut", "reference", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{stderr}",
        text(&out.stdout)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let outcome = |id: &str| {
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["outcome"].as_str().unwrap().to_owned())
            .unwrap()
    };
    // The golden queries and the repository they ask about came from the binary.
    assert_eq!(outcome("API-003"), "pass");
    assert_eq!(outcome("MET-001"), "pass");

    // --repo / --golden are checked before anything starts.
    let out = Command::new(&binary)
        .current_dir(elsewhere.path())
        .args(["run", "--sut", "reference", "--repo", "no-such-dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--repo no-such-dir: not a directory"));
    let out = Command::new(&binary)
        .current_dir(elsewhere.path())
        .args(["run", "--sut", "reference", "--golden", "missing.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--golden: cannot read golden queries missing.toml"));

    // `snapshot` and `live-check` need nothing of the repository either: the
    // drive indexes the embedded sample repository, and live-check judges by
    // the embedded registry.
    let snap = elsewhere.path().join("snap.json");
    let saved = elsewhere.path().join("obs.json");
    let out = Command::new(&binary)
        .current_dir(elsewhere.path())
        .env("NO_COLOR", "1")
        .env("CODEINTEL_CACHE", elsewhere.path())
        .args(["snapshot", "--sut", "reference", "--out"])
        .arg(&snap)
        .arg("--save-observations")
        .arg(&saved)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "fixtures: the sample repository built into this binary; the golden queries built \
             into this binary"
        ),
        "{stderr}"
    );
    let snapshot = std::fs::read_to_string(&snap).unwrap();
    for family in [
        "codeintel_embed_latency_seconds",
        "codeintel_gating_decisions_total",
    ] {
        assert!(snapshot.contains(family), "{family} missing:\n{snapshot}");
    }
    let obs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert!(
        !obs["http"].as_array().unwrap().is_empty(),
        "the drive ran its searches"
    );

    let out = Command::new(&binary)
        .current_dir(elsewhere.path())
        .env("NO_COLOR", "1")
        .args(["live-check", "--observations"])
        .arg(&saved)
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let files = codeintel_conformance::fixtures::REGISTRY_FILES.len();
    assert!(files >= 3, "only {files} registry file(s) embedded");
    assert!(
        stderr.contains(&format!(
            "registry: the {files} file(s) built into this binary"
        )),
        "{stderr}"
    );
    assert!(stdout.contains("live-check: PASS"), "{stdout}");

    // --repo / --golden drive a live run; with saved observations they are an error.
    let out = Command::new(&binary)
        .current_dir(elsewhere.path())
        .args(["snapshot", "--observations"])
        .arg(&saved)
        .args(["--repo", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("with --observations nothing is driven"),
        "{}",
        text(&out.stderr)
    );
}
