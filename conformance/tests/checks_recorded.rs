//! Recorded observations of real runs (`run --save-observations`, trimmed by
//! `tests/fixtures/observations/trim.py`): the clean Python implementation,
//! the reference, and each behavioural variant of `fixtures/suts/`. The MET-*
//! and API-* verdicts on each recording must be what
//! `fixtures/suts/EXPECTED.toml` says for that implementation, so a check that
//! weakens again is caught without driving a process.
//!
//! Spans, logs and the MCP suite's results are not kept (other groups' checks
//! are not judged here).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use codeintel_conformance::checks::{self, Outcome};
use codeintel_conformance::observe::Observations;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Entry {
    #[allow(dead_code)]
    why: String,
    #[serde(default)]
    expect: BTreeMap<String, String>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn recordings() -> Vec<(String, Observations)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/observations");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json.gz"))
        else {
            continue;
        };
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let obs: Observations =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push((name.to_owned(), obs));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::Warn => "warn",
        Outcome::Skip => "skip",
        Outcome::Error => "error",
        Outcome::ExpectedFail => "xfail",
        Outcome::Stale => "stale",
    }
}

#[test]
fn recorded_runs_get_the_expected_met_and_api_verdicts() {
    let expected: BTreeMap<String, Entry> = toml::from_str(
        &std::fs::read_to_string(root().join("fixtures/suts/EXPECTED.toml")).unwrap(),
    )
    .unwrap();
    let recs = recordings();
    assert!(
        recs.len() >= 10,
        "expected recordings of python-otel, the reference and each behavioural variant, found {:?}",
        recs.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    let mut wrong = Vec::new();
    for (name, obs) in &recs {
        let entry = expected
            .get(name)
            .unwrap_or_else(|| panic!("recording {name} has no entry in EXPECTED.toml"));
        for r in checks::run_all(obs) {
            if !(r.id.starts_with("MET-") || r.id.starts_with("API-")) {
                continue;
            }
            let want = entry.expect.get(&r.id).map_or("pass", String::as_str);
            let got = outcome_word(r.outcome);
            if got != want {
                wrong.push(format!(
                    "{name} {}: {got}, expected {want}: {}",
                    r.id, r.message
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn every_behavioural_variant_has_a_recording() {
    let names: Vec<String> = recordings().into_iter().map(|r| r.0).collect();
    for variant in [
        "python-otel",
        "reference",
        "python-otel-embed-success-only",
        "python-otel-batch-twice",
        "python-otel-class-unknown",
        "python-otel-refine-every-search",
        "python-otel-hydrate-untimed",
        "python-otel-readyz-timer",
        "python-otel-latency-ms",
        "python-otel-scrape-html",
        "python-otel-gating-after-dense",
        "python-otel-batch-nominal",
        "python-otel-fetch-name-copied",
        "python-otel-fuse-ascending",
    ] {
        assert!(
            names.iter().any(|n| n == variant),
            "no recording of {variant}"
        );
    }
}
