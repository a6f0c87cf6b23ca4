//! MET-*: the Prometheus scrape.

use super::CheckResult;
pub use crate::contract::{BUCKETS_B, FAISS_IMPLS, GATING_CLASSES, RM3_VALUES};
use crate::observe::{Observations, Scrape};
use crate::scrape::{self, Exposition};

mod counts;
mod describe;
mod exposition;
mod histograms;
mod hygiene;
pub use counts::*;
use describe::{bucketed_histogram, histogram_evidence, missing_family};
pub use exposition::*;
pub use histograms::*;
pub use hygiene::*;

// ---------------------------------------------------------------------------
// Getting a parsed scrape.

/// Parses one scrape (the format from its `Content-Type`, else detected);
/// [`Scrape::parse`], under the name this module published.
pub fn parse_scrape(s: &Scrape) -> Result<Exposition, scrape::ParseError> {
    s.parse()
}

fn answered(s: &Scrape) -> bool {
    s.status.is_some()
}

/// `error` result when no scrape answered at all.
fn no_scrape(id: &str, obs: &Observations) -> Option<CheckResult> {
    if obs.scrapes.iter().any(answered) {
        return None;
    }
    let why = obs
        .scrapes
        .iter()
        .find_map(|s| s.error.as_deref())
        .unwrap_or("no scrape was taken");
    Some(CheckResult::error(
        id,
        format!("no scrape to judge: the metrics endpoint never answered ({why}); see MET-001"),
    ))
}

/// The scrape of `step`, answered 200 and parsed, or the `error` result
/// saying why it cannot be judged.
fn judged<'a>(
    id: &str,
    obs: &'a Observations,
    step: &str,
) -> Result<(&'a Scrape, Exposition), CheckResult> {
    if let Some(r) = no_scrape(id, obs) {
        return Err(r);
    }
    let Some(s) = obs.last_scrape_at(step) else {
        return Err(CheckResult::error(
            id,
            format!("no scrape at step `{step}`: the drive did not reach it"),
        ));
    };
    judged_scrape(id, s).map(|e| (s, e))
}

fn judged_scrape(id: &str, s: &Scrape) -> Result<Exposition, CheckResult> {
    match s.status {
        None => Err(CheckResult::error(
            id,
            format!(
                "the scrape at `{}` got no answer ({}); see MET-001",
                s.step,
                s.error.as_deref().unwrap_or("no status")
            ),
        )),
        Some(200) => parse_scrape(s).map_err(|e| {
            CheckResult::error(
                id,
                format!(
                    "the scrape at `{}` does not parse ({e}); see MET-001",
                    s.step
                ),
            )
        }),
        Some(other) => Err(CheckResult::error(
            id,
            format!(
                "the scrape at `{}` answered {other}, not 200; see MET-001",
                s.step
            ),
        )),
    }
}

/// The first of `steps` that has an answered scrape, else the last answered
/// scrape of the run.
fn first_of<'a>(obs: &'a Observations, candidates: &[&str]) -> Option<&'a Scrape> {
    candidates
        .iter()
        .find_map(|step| obs.last_scrape_at(step).filter(|s| answered(s)))
        .or_else(|| obs.scrapes.iter().rev().find(|s| answered(s)))
}

fn judged_first<'a>(
    id: &str,
    obs: &'a Observations,
    candidates: &[&str],
) -> Result<(&'a Scrape, Exposition), CheckResult> {
    if let Some(r) = no_scrape(id, obs) {
        return Err(r);
    }
    let Some(s) = first_of(obs, candidates) else {
        return Err(CheckResult::error(id, "no answered scrape"));
    };
    judged_scrape(id, s).map(|e| (s, e))
}

#[cfg(test)]
mod tests {
    use super::describe::{bounds_text, same_bounds};
    use super::*;
    use crate::contract::{DUCKDB_EXECUTE, EMBED_LATENCY};

    #[test]
    fn bounds_compare_as_numbers() {
        assert!(same_bounds(
            &[1.0, f64::INFINITY],
            &[1.000_000_000_000_1, f64::INFINITY]
        ));
        assert!(!same_bounds(&[1.0], &[1.0, f64::INFINITY]));
        assert!(!same_bounds(&[f64::NEG_INFINITY], &[f64::INFINITY]));
        assert_eq!(
            bounds_text(&BUCKETS_B),
            "0.001 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 +Inf"
        );
    }

    #[test]
    fn near_names_find_a_missing_prefix() {
        let e = scrape::parse(include_str!(
            "../../../../fixtures/expositions/bad_missing_prefix.prom"
        ))
        .unwrap();
        let msg = missing_family(&e, DUCKDB_EXECUTE, "s");
        assert!(
            msg.contains("`duckdb_execute_seconds` (histogram)"),
            "{msg}"
        );
    }

    #[test]
    fn default_buckets_are_named_in_the_message() {
        let e = scrape::parse(include_str!(
            "../../../../fixtures/expositions/bad_default_buckets.prom"
        ))
        .unwrap();
        let (msg, _) = bucketed_histogram(&e, EMBED_LATENCY, &["client"], "s").unwrap_err();
        assert!(msg.contains("buckets [0 5 10 25 50 75 100"), "{msg}");
        assert!(msg.contains("expected exactly B"), "{msg}");
    }
}
