//! MET-002, MET-003, MET-004: the contract's latency histograms, their buckets,
//! labels and counts.

use std::collections::{BTreeMap, BTreeSet};

use crate::checks::{CheckResult, num};
use crate::contract::{DUCKDB_EXECUTE, EMBED_LATENCY, FAISS_IMPLS, FAISS_LATENCY};
use crate::observe::{Observations, steps};
use crate::scrape::{self, Histogram};

use super::{bucketed_histogram, histogram_evidence, judged_first, parse_scrape, search_window};

/// The scrape MET-002 counts at: the last one before the fault phase.
pub(super) const BEFORE_FAULT: [&str; 2] = [
    steps::SCRAPE_AFTER_CARDINALITY,
    steps::SCRAPE_AFTER_SEARCHES,
];

/// MET-002: embed latency buckets, labels and counts.
pub fn met_002(obs: &Observations) -> CheckResult {
    const ID: &str = "MET-002";
    let (s, expo) = match judged_first(ID, obs, &BEFORE_FAULT) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let h = match bucketed_histogram(&expo, EMBED_LATENCY, &["client", "model"], &s.step) {
        Ok(h) => h,
        Err((msg, ev)) => return CheckResult::fail(ID, msg).with_evidence(ev),
    };
    let mut evidence = histogram_evidence(&s.step, &h);
    if let Some(model) = expected_embed_model(obs)
        && let Some(bad) = h
            .series
            .iter()
            .find(|x| x.labels.get("model").is_some_and(|m| *m != model))
    {
        return CheckResult::fail(
            ID,
            format!(
                "series `{EMBED_LATENCY}{}` has model=\"{}\", expected \"{model}\" (the \
                 CODEINTEL_EMBED_MODEL the harness gave): label the call with the model it asked \
                 for",
                bad.label_text(),
                bad.labels.get("model").map_or("", String::as_str)
            ),
        )
        .with_evidence(evidence);
    }
    // Series that appear later (e.g. failed calls under their own label)
    // need the same buckets and labels.
    let later = obs
        .scrapes
        .iter()
        .skip_while(|x| !std::ptr::eq(*x, s))
        .skip(1)
        .filter(|x| x.status == Some(200));
    for x in later {
        let Ok(e) = parse_scrape(x) else {
            continue; // MET-001's concern
        };
        if let Err((msg, ev)) = bucketed_histogram(&e, EMBED_LATENCY, &["client", "model"], &x.step)
        {
            evidence.extend(ev);
            return CheckResult::fail(ID, msg).with_evidence(evidence);
        }
    }
    let count = h.total_count();
    let seen = f64::from(s.embed_requests_seen);
    if count > seen {
        return CheckResult::fail(
            ID,
            format!(
                "`{EMBED_LATENCY}` counts {} call(s) but the harness's embeddings server had \
                 received {} request(s) by the scrape at `{}`: each request is counted once, not \
                 more (a call recorded twice, or an observation that is not a request)",
                num(count),
                s.embed_requests_seen,
                s.step
            ),
        )
        .with_evidence(evidence);
    }
    if count < seen {
        return CheckResult::fail(
            ID,
            format!(
                "`{EMBED_LATENCY}` counts {} call(s) but the harness's embeddings server had \
                 received {} request(s) by the scrape at `{}`: record one observation per \
                 embeddings request",
                num(count),
                s.embed_requests_seen,
                s.step
            ),
        )
        .with_evidence(evidence);
    }
    CheckResult::pass(
        ID,
        format!(
            "buckets B and labels client, model on {} series; {} call(s) counted for {} \
             request(s) received by `{}`",
            h.series.len(),
            num(count),
            s.embed_requests_seen,
            s.step
        ),
    )
    .with_evidence(evidence)
}

/// The model the SUT was told to use: `CODEINTEL_EMBED_MODEL` as recorded,
/// else the one its embeddings requests named most often.
pub(super) fn expected_embed_model(obs: &Observations) -> Option<String> {
    if !obs.sut.embed_model.is_empty() {
        return Some(obs.sut.embed_model.clone());
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &obs.embed_requests {
        if let Some(m) = r.model.as_deref() {
            *counts.entry(m).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(m, _)| m.to_owned())
}

/// `_count` of the series of `h` whose `label` is `value` (0 when absent).
pub(super) fn count_where(h: Option<&Histogram>, label: &str, value: &str) -> f64 {
    h.map_or(0.0, |h| {
        h.series_where(label, value)
            .map(scrape::HistogramSeries::observations)
            .sum()
    })
}

/// MET-003: FAISS latency buckets, `impl`, each search counted under the
/// implementation that ran.
pub fn met_003(obs: &Observations) -> CheckResult {
    const ID: &str = "MET-003";
    let ((b, bexpo), (s, expo), searches) = match search_window(ID, obs) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let h = match bucketed_histogram(&expo, FAISS_LATENCY, &["impl"], &s.step) {
        Ok(h) => h,
        Err((msg, ev)) => return CheckResult::fail(ID, msg).with_evidence(ev),
    };
    let bh = bexpo.histogram(FAISS_LATENCY);
    let mut evidence = bh
        .as_ref()
        .map(|h| histogram_evidence(&b.step, h))
        .unwrap_or_default();
    evidence.extend(histogram_evidence(&s.step, &h));
    let seen: BTreeSet<&str> = h
        .series
        .iter()
        .filter_map(|x| x.labels.get("impl").map(String::as_str))
        .collect();
    if let Some(other) = seen.iter().find(|v| !FAISS_IMPLS.contains(v)) {
        return CheckResult::fail(
            ID,
            format!(
                "`{FAISS_LATENCY}` has impl=\"{other}\": the contract's values are {}",
                FAISS_IMPLS.join(", ")
            ),
        )
        .with_evidence(evidence);
    }
    let refined = s
        .refine_searches_done
        .saturating_sub(b.refine_searches_done);
    let plain = searches.saturating_sub(refined);
    if refined == 0 || plain == 0 {
        return CheckResult::error(
            ID,
            format!(
                "between `{}` and `{}` the harness completed {plain} plain and {refined} refined \
                 search(es): both kinds are needed to judge the impl label",
                b.step, s.step
            ),
        )
        .with_evidence(evidence);
    }
    let rise =
        |imp: &str| count_where(Some(&h), "impl", imp) - count_where(bh.as_ref(), "impl", imp);
    let (ann, refine) = (rise("ann"), rise("ann+refine"));
    // n FAISS searches per search, the same n for both kinds, n ≥ 1.
    let per_search = ann / f64::from(plain);
    let consistent = ann > 0.0
        && refine > 0.0
        && (per_search - per_search.round()).abs() < 1e-9
        && (refine - per_search * f64::from(refined)).abs() < 1e-9;
    let rises = format!(
        "impl=\"ann\" rose by {} for {plain} plain search(es) and impl=\"ann+refine\" by {} for \
         {refined} refined search(es) between `{}` and `{}`",
        num(ann),
        num(refine),
        b.step,
        s.step
    );
    if !consistent {
        return CheckResult::fail(
            ID,
            format!(
                "{rises}: record each plain search's FAISS search as impl=\"ann\" and each \
                 refined one's as impl=\"ann+refine\", only when it ran (impl values seen: {})",
                if seen.is_empty() {
                    "none".to_owned()
                } else {
                    seen.into_iter().collect::<Vec<_>>().join(", ")
                }
            ),
        )
        .with_evidence(evidence);
    }
    CheckResult::pass(ID, format!("buckets B, label impl; {rises}")).with_evidence(evidence)
}

/// MET-004: DuckDB execute latency buckets; every search's hydrate counted.
pub fn met_004(obs: &Observations) -> CheckResult {
    const ID: &str = "MET-004";
    let ((b, bexpo), (s, expo), searches) = match search_window(ID, obs) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let h = match bucketed_histogram(&expo, DUCKDB_EXECUTE, &[], &s.step) {
        Ok(h) => h,
        Err((msg, ev)) => return CheckResult::fail(ID, msg).with_evidence(ev),
    };
    let bh = bexpo.histogram(DUCKDB_EXECUTE);
    let mut evidence = bh
        .as_ref()
        .map(|h| histogram_evidence(&b.step, h))
        .unwrap_or_default();
    evidence.extend(histogram_evidence(&s.step, &h));
    let before = bh.as_ref().map_or(0.0, Histogram::total_count);
    let rose = h.total_count() - before;
    if rose < f64::from(searches) {
        return CheckResult::fail(
            ID,
            format!(
                "`{DUCKDB_EXECUTE}` rose by {} (from {} to {}) between `{}` and `{}`, across \
                 {searches} search(es) that each hydrated findings: time every catalog statement, \
                 the hydrate of each search included",
                num(rose),
                num(before),
                num(h.total_count()),
                b.step,
                s.step
            ),
        )
        .with_evidence(evidence);
    }
    CheckResult::pass(
        ID,
        format!(
            "buckets B; rose by {} across {searches} search(es)",
            num(rose)
        ),
    )
    .with_evidence(evidence)
}
