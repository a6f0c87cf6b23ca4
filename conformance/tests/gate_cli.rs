//! `codeintel-conformance diff` end to end on small snapshot files: exit
//! codes, every output format, accepted and stale changes, `--update`; and
//! `snapshot` / `live-check` offline from saved observations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use codeintel_conformance::gate::snapshot::{FORMAT, LabelShape, MetricShape, Snapshot};
use codeintel_conformance::observe::{Observations, Scrape};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_codeintel-conformance"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn base() -> Snapshot {
    let mut s = Snapshot {
        format: FORMAT.to_owned(),
        ..Snapshot::default()
    };
    s.metrics.insert(
        "codeintel_embed_latency_seconds".into(),
        MetricShape {
            kind: "histogram".into(),
            unit: Some("s".into()),
            labels: [(
                "model".to_owned(),
                LabelShape {
                    bounded: true,
                    values: ["m".to_owned()].into(),
                },
            )]
            .into(),
            buckets: Some(vec!["0.1".into(), "+Inf".into()]),
            series: 1,
            ..MetricShape::default()
        },
    );
    s
}

fn write(dir: &Path, name: &str, s: &Snapshot) -> String {
    let p = dir.join(name);
    std::fs::write(&p, s.to_json()).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn diff_exit_codes_outputs_acceptance_and_update() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let baseline = write(d, "baseline.json", &base());
    let same = run(&["diff", &baseline, &baseline]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));

    let mut changed = base();
    changed
        .metrics
        .get_mut("codeintel_embed_latency_seconds")
        .unwrap()
        .buckets = Some(vec!["5".into(), "+Inf".into()]);
    let current = write(d, "current.json", &changed);
    let (md, junit, sarif, json) = (
        d.join("d.md"),
        d.join("d.xml"),
        d.join("d.sarif"),
        d.join("d.json"),
    );
    let out = run(&[
        "diff",
        &baseline,
        &current,
        "--markdown",
        md.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--sarif",
        sarif.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "breaking fails: {}", text(&out));
    assert!(text(&out).contains("metric_buckets_changed:codeintel_embed_latency_seconds:buckets"));
    assert!(
        std::fs::read_to_string(&md)
            .unwrap()
            .contains("### Breaking (1)")
    );
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("<failure")
    );
    let sarif: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(
        sarif["runs"][0]["results"][0]["ruleId"],
        "metric_buckets_changed"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(json["summary"]["breaking"], 1);

    // Accepted with a reason: passes. The same acceptance on no change: stale, fails.
    let cfg = d.join("gate.toml");
    std::fs::write(
        &cfg,
        "[accept]\n\"metric_buckets_changed:codeintel_embed_latency_seconds:buckets\" = \"slower backend, see #12\"\n",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let accepted = run(&["diff", &baseline, &current, "--config", cfg]);
    assert_eq!(accepted.status.code(), Some(0), "{}", text(&accepted));
    assert!(text(&accepted).contains("slower backend, see #12"));
    let stale = run(&["diff", &baseline, &baseline, "--config", cfg]);
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    assert!(text(&stale).contains("STALE"));

    // A bad config is a harness error (exit 2).
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "fail_on = \"maybe\"\n").unwrap();
    let out = run(&[
        "diff",
        &baseline,
        &current,
        "--config",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // --update rewrites the baseline; the diff is then empty.
    let out = run(&["diff", &baseline, &current, "--update"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let again = run(&["diff", &baseline, &current]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(text(&again).contains("no change"));
}

#[test]
fn snapshot_and_live_check_offline_from_saved_observations() {
    let dir = tempfile::tempdir().unwrap();
    let obs = Observations {
        scrapes: vec![Scrape {
            step: "scrape_final".into(),
            status: Some(200),
            content_type: Some("text/plain; version=0.0.4".into()),
            body: "# TYPE codeintel_query_ambiguity histogram\n\
                   codeintel_query_ambiguity_bucket{le=\"+Inf\"} 1\n\
                   codeintel_query_ambiguity_count 1\n"
                .into(),
            ..Scrape::default()
        }],
        ..Observations::default()
    };
    let saved = dir.path().join("obs.json");
    std::fs::write(&saved, serde_json::to_string(&obs).unwrap()).unwrap();
    let saved = saved.to_str().unwrap();
    let out = run(&["snapshot", "--observations", saved]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let snap = Snapshot::from_json(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert!(snap.metrics.contains_key("codeintel_query_ambiguity"));

    // One declared metric out of many: coverage is low, so the gate fails.
    let out = run(&[
        "live-check",
        "--observations",
        saved,
        "--fail-on-coverage-below",
        "100",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("coverage"), "{}", text(&out));

    // Nothing received: fails instead of passing empty.
    let empty = dir.path().join("empty.json");
    std::fs::write(
        &empty,
        serde_json::to_string(&Observations::default()).unwrap(),
    )
    .unwrap();
    let out = run(&["live-check", "--observations", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no telemetry was received"),
        "{}",
        text(&out)
    );

    // No source at all is a usage error.
    assert_eq!(run(&["snapshot"]).status.code(), Some(2));
}
