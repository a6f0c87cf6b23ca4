//! The telemetry gate on real runs of the in-process reference server:
//!
//! - two runs give byte-identical snapshots, equal to the committed
//!   `fixtures/telemetry/reference.snapshot.json` (no diff);
//! - live-check against `conformance/registry/` gives zero violations and
//!   100 % coverage;
//! - snapshot + diff of the saved observations through the binary takes
//!   under a second.
//!
//! `CODEINTEL_UPDATE_SNAPSHOTS=1` rewrites the committed snapshot (then
//! review the diff). The runs share the process-wide in-memory telemetry of
//! the reference adapter, so they happen one after the other in one test.

#![cfg(feature = "reference")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use codeintel_conformance::drive::{DriveConfig, drive, workspace_root};
use codeintel_conformance::gate::diff::{DiffConfig, diff};
use codeintel_conformance::gate::live_check::live_check;
use codeintel_conformance::gate::registry::Registry;
use codeintel_conformance::gate::render;
use codeintel_conformance::gate::snapshot::snapshot;
use codeintel_conformance::observe::Observations;
use codeintel_conformance::sut::reference::ReferenceSut;

const SNAPSHOT: &str = "fixtures/telemetry/reference.snapshot.json";

async fn reference_run() -> Observations {
    let root = workspace_root();
    let mut sut = ReferenceSut::new(root.clone());
    let obs = drive(&mut sut, &DriveConfig::new(&root)).await;
    assert!(
        obs.harness_errors.is_empty() && obs.startup.ready,
        "the reference run was incomplete: {:?} {:?}",
        obs.harness_errors,
        obs.startup.error
    );
    obs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reference_telemetry_is_stable_matches_its_baseline_and_its_registry() {
    let root = workspace_root();
    let first = reference_run().await;
    let second = reference_run().await;
    let (a, b) = (snapshot(&first), snapshot(&second));
    let report = diff(&a, &b, &DiffConfig::default(), "first run", "second run");
    assert!(
        report.changes.is_empty(),
        "two runs of one build differ:\n{}",
        render::terminal(&report)
    );
    assert_eq!(
        a.to_json(),
        b.to_json(),
        "two runs must serialise byte for byte the same"
    );
    assert!(!a.metrics.is_empty() && !a.spans.is_empty() && !a.logs.records.is_empty());

    let committed_path = root.join(SNAPSHOT);
    if std::env::var_os("CODEINTEL_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&committed_path, a.to_json()).unwrap();
    }
    let committed =
        codeintel_conformance::gate::load_snapshot(&committed_path).expect("committed snapshot");
    let report = diff(&committed, &a, &DiffConfig::default(), SNAPSHOT, "this run");
    assert!(
        report.changes.is_empty(),
        "the reference's telemetry drifted from {SNAPSHOT} (CODEINTEL_UPDATE_SNAPSHOTS=1 rewrites it):\n{}",
        render::terminal(&report)
    );
    assert_eq!(
        std::fs::read_to_string(&committed_path).unwrap(),
        a.to_json()
    );

    // Live-check: zero violations, every declared signal seen.
    let registry = Registry::load(&root.join("conformance/registry")).unwrap();
    for obs in [&first, &second] {
        let r = live_check(&registry, obs, Some(100.0));
        assert!(
            !r.failed() && r.violations == 0 && r.coverage.percent >= 100.0,
            "{}",
            codeintel_conformance::gate::live_check::render(&r, false)
        );
    }

    // Snapshot + diff of saved observations, through the binary: < 1 s.
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("observations.json");
    std::fs::write(&saved, serde_json::to_string_pretty(&first).unwrap()).unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_codeintel-conformance"))
        .args([
            "diff",
            committed_path.to_str().unwrap(),
            saved.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("no change"), "{stdout}");
    eprintln!(
        "snapshot + diff of saved observations ({} bytes): {took:?}",
        std::fs::metadata(&saved).unwrap().len()
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
}
