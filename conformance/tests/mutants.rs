//! The suite's own mutation score against the reference: every operator of
//! the mutating proxy is driven (`codeintel-conformance mutants reference`)
//! and must show exactly what `fixtures/mutants/EXPECTED.toml` records —
//! its target killed (or a `known_survivor` reason), and no other id failing
//! beyond the ones listed.
//!
//! Needs the official MCP suite (`scripts/setup-node.sh`) for the MCP-*
//! operator; `scripts/test.sh` sets `CODEINTEL_REQUIRE_SUTS`, which turns a
//! missing suite into a failure instead of a skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use codeintel_conformance::drive::workspace_root;
use codeintel_conformance::mcp_suite::{self, McpSuiteSetting};
use codeintel_conformance::mutate::Operator;
use codeintel_conformance::mutate::expect::Expectations;

#[test]
fn the_expectation_file_covers_every_operator() {
    let path = workspace_root().join("fixtures/mutants/EXPECTED.toml");
    let e = Expectations::load(&path).unwrap();
    for op in Operator::ALL {
        assert!(
            e.0.contains_key(op.name()),
            "{} has no entry in {}",
            op.name(),
            path.display()
        );
    }
    assert_eq!(e.0.len(), Operator::ALL.len());
}

#[test]
fn every_proxy_mutant_of_the_reference_is_as_expected() {
    if !matches!(mcp_suite::locate(None), Ok(McpSuiteSetting::Installed(_))) {
        assert!(
            std::env::var_os("CODEINTEL_REQUIRE_SUTS").is_none(),
            "the official MCP suite is not installed (scripts/setup-node.sh)"
        );
        eprintln!("skipped: the official MCP suite is not installed");
        return;
    }
    // The operators are split over `jobs` processes run at once (a mutant's
    // run is mostly waiting), each with its own in-process reference.
    let root = workspace_root();
    let jobs = std::env::var("CODEINTEL_MATRIX_JOBS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(2)
        .min(Operator::ALL.len());
    let runs: Vec<_> = (0..jobs)
        .map(|j| {
            let ops: Vec<&str> = Operator::ALL
                .iter()
                .skip(j)
                .step_by(jobs)
                .map(|op| op.name())
                .collect();
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_codeintel-conformance"));
            cmd.env("NO_COLOR", "1")
                .args(["mutants", "reference", "--deadline", "120", "--json", "-"])
                .arg("--ops")
                .arg(ops.join(","))
                .arg("--expected")
                .arg(root.join("fixtures/mutants/EXPECTED.toml"));
            std::thread::spawn(move || cmd.output().unwrap())
        })
        .collect();
    let mut judged = 0;
    for run in runs {
        let out = run.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("no JSON on stdout ({e}):\n{stderr}"));
        let differences = report["differences"].as_array().unwrap();
        assert!(
            differences.is_empty(),
            "mutants differ from fixtures/mutants/EXPECTED.toml:\n{}\n\n{stderr}",
            differences
                .iter()
                .map(|d| d.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        judged += report["mutants"].as_array().unwrap().len();
    }
    assert_eq!(judged, Operator::ALL.len());
}
