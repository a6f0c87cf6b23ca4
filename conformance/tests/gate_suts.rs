//! The telemetry gate on the Python implementation and its known-bad
//! variants (`fixtures/suts/`), through the binary: each variant's snapshot,
//! diffed against the good implementation's, shows exactly the breaking
//! changes its bug makes.
//!
//! - `python-otel-wrong-views`: the three latency histograms keep the SDK's
//!   default buckets → `metric_buckets_changed` on exactly those three;
//! - `python-otel-reader-arg`: nothing listens for scrapes → every metric
//!   removed, spans untouched;
//! - `python-otel-otlp-path`: no span reaches the receiver → every span
//!   removed, metrics untouched.
//!
//! Needs the Python virtualenv (`fixtures/suts/python-otel/setup.sh`);
//! skipped without it unless `CODEINTEL_REQUIRE_SUTS` is set (scripts/test.sh).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use codeintel_conformance::drive::workspace_root;
use codeintel_conformance::gate::diff::{ChangeKind, DiffConfig, DiffReport, Severity, diff};
use codeintel_conformance::gate::snapshot::Snapshot;
use codeintel_conformance::mcp_suite;

fn snapshot_of(variant: &str, dir: &Path) -> Snapshot {
    let manifest = workspace_root().join(format!("fixtures/suts/{variant}/sut.toml"));
    let out = dir.join(format!("{variant}.snapshot.json"));
    let status = Command::new(env!("CARGO_BIN_EXE_codeintel-conformance"))
        .args(["snapshot", "--sut-manifest"])
        .arg(&manifest)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0), "snapshot of {variant}");
    Snapshot::from_json(&std::fs::read_to_string(&out).unwrap()).unwrap()
}

fn breaking(r: &DiffReport) -> BTreeSet<(ChangeKind, String)> {
    r.changes
        .iter()
        .filter(|c| c.severity == Severity::Breaking)
        .map(|c| (c.kind, c.item.clone()))
        .collect()
}

#[test]
fn each_python_variant_breaks_exactly_what_its_bug_breaks() {
    let venv_python = mcp_suite::cache_root()
        .expect("CODEINTEL_CACHE or HOME is set")
        .join("venv/python-otel/bin/python");
    if !venv_python.is_file() {
        let why = format!(
            "no Python virtualenv at {}: run fixtures/suts/python-otel/setup.sh",
            venv_python.display()
        );
        assert!(
            std::env::var_os("CODEINTEL_REQUIRE_SUTS").is_none(),
            "{why}"
        );
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let good = snapshot_of("python-otel", dir.path());
    assert!(
        !good.metrics.is_empty() && !good.spans.is_empty(),
        "{good:?}"
    );
    let cfg = DiffConfig::default();

    let wrong_views = snapshot_of("python-otel-wrong-views", dir.path());
    let r = diff(
        &good,
        &wrong_views,
        &cfg,
        "python-otel",
        "python-otel-wrong-views",
    );
    let expected: BTreeSet<(ChangeKind, String)> = [
        "codeintel_duckdb_execute_seconds",
        "codeintel_embed_latency_seconds",
        "codeintel_faiss_search_latency_seconds",
    ]
    .iter()
    .map(|m| (ChangeKind::MetricBucketsChanged, (*m).to_owned()))
    .collect();
    assert_eq!(breaking(&r), expected, "{r:#?}");
    assert!(r.failed);

    let reader_arg = snapshot_of("python-otel-reader-arg", dir.path());
    let r = diff(
        &good,
        &reader_arg,
        &cfg,
        "python-otel",
        "python-otel-reader-arg",
    );
    let expected: BTreeSet<(ChangeKind, String)> = good
        .metrics
        .keys()
        .map(|m| (ChangeKind::MetricRemoved, m.clone()))
        .collect();
    assert_eq!(breaking(&r), expected, "{r:#?}");
    assert!(r.changes.iter().all(|c| c.signal != "span"), "{r:#?}");

    let otlp_path = snapshot_of("python-otel-otlp-path", dir.path());
    let r = diff(
        &good,
        &otlp_path,
        &cfg,
        "python-otel",
        "python-otel-otlp-path",
    );
    let removed: BTreeSet<String> = r
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::SpanRemoved)
        .map(|c| c.item.clone())
        .collect();
    assert_eq!(removed, good.spans.keys().cloned().collect(), "{r:#?}");
    assert!(r.changes.iter().all(|c| c.signal != "metric"), "{r:#?}");
}
