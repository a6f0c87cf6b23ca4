//! MET-*: the Prometheus scrape.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{CheckResult, capped, excerpt, num, query_texts};
use crate::observe::{Observations, Scrape, steps};
use crate::scrape::{self, Exposition, Format, Histogram, MetricType, Suffix};

pub use crate::contract::{BUCKETS_B, FAISS_IMPLS, GATING_CLASSES, RM3_VALUES};
use crate::contract::{
    DUCKDB_EXECUTE, EMBED_BATCH_SIZE, EMBED_LATENCY, FAISS_LATENCY, GATING_DECISIONS, GATING_RRF_K,
    QUERY_AMBIGUITY,
};

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

// ---------------------------------------------------------------------------
// Describing what was seen.

fn bounds_text(bounds: &[f64]) -> String {
    let parts: Vec<String> = bounds.iter().map(|b| num(*b)).collect();
    parts.join(" ")
}

fn same_bounds(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            if x.is_infinite() || y.is_infinite() {
                x.is_infinite() && y.is_infinite() && x.is_sign_positive() == y.is_sign_positive()
            } else {
                (x - y).abs() <= 1e-9 * y.abs().max(1.0)
            }
        })
}

fn histogram_evidence(step: &str, h: &Histogram) -> Vec<String> {
    capped(
        h.series.iter().map(|s| {
            format!(
                "{step}: {}{} buckets [{}] count={} sum={}",
                h.name,
                s.label_text(),
                bounds_text(&s.bounds()),
                num(s.observations()),
                s.sum.map_or_else(|| "-".to_owned(), num)
            )
        }),
        12,
    )
}

/// Families whose names look like `wanted` (same core, other prefix or unit).
fn near_names(expo: &Exposition, wanted: &str) -> Vec<String> {
    let core = wanted
        .strip_prefix("codeintel_")
        .unwrap_or(wanted)
        .trim_end_matches("_total")
        .trim_end_matches("_seconds");
    expo.families()
        .iter()
        .filter(|f| f.name != wanted && f.name.contains(core))
        .map(|f| format!("`{}` ({})", f.name, f.kind))
        .collect()
}

fn missing_family(expo: &Exposition, name: &str, step: &str) -> String {
    let near = near_names(expo, name);
    let mut msg = format!("no family `{name}` in the scrape at `{step}`");
    if near.is_empty() {
        let _ = write!(
            msg,
            " (families seen: {}); declare the instrument and record it",
            family_list(expo)
        );
    } else {
        let _ = write!(
            msg,
            "; found {} instead: name it exactly `{name}` (the `codeintel_` namespace, the unit \
             suffix once)",
            near.join(", ")
        );
    }
    msg
}

fn family_list(expo: &Exposition) -> String {
    let names: Vec<&str> = expo.families().iter().map(|f| f.name.as_str()).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        excerpt(&names.join(", "), 300)
    }
}

/// The histogram `name` with buckets exactly B on every series and the
/// `labels` present and non-empty; otherwise what is wrong.
fn bucketed_histogram(
    expo: &Exposition,
    name: &str,
    labels: &[&str],
    step: &str,
) -> Result<Histogram, (String, Vec<String>)> {
    let Some(family) = expo.family(name) else {
        return Err((missing_family(expo, name, step), Vec::new()));
    };
    let Some(h) = expo.histogram(name) else {
        return Err((
            format!(
                "`{}` is a {}, not a histogram (scrape at `{step}`): record it with a histogram \
                 instrument",
                family.name, family.kind
            ),
            Vec::new(),
        ));
    };
    let evidence = histogram_evidence(step, &h);
    if h.series.is_empty() {
        return Err((
            format!("`{name}` has no series at `{step}`: nothing was recorded"),
            evidence,
        ));
    }
    for s in &h.series {
        let bounds = s.bounds();
        if !same_bounds(&bounds, &BUCKETS_B) {
            let inf = if s.has_inf() { "" } else { " (no +Inf bucket)" };
            return Err((
                format!(
                    "`{name}{}` has buckets [{}]{inf}, expected exactly B = [{}]: set explicit \
                     bucket boundaries on the instrument (the SDK default is 0 5 10 25 …)",
                    s.label_text(),
                    bounds_text(&bounds),
                    bounds_text(&BUCKETS_B)
                ),
                evidence,
            ));
        }
        for label in labels {
            if s.labels.get(*label).is_none_or(String::is_empty) {
                return Err((
                    format!(
                        "series `{name}{}` lacks label `{label}` (required: {})",
                        s.label_text(),
                        labels.join(", ")
                    ),
                    evidence,
                ));
            }
        }
    }
    Ok(h)
}

// ---------------------------------------------------------------------------
// The checks.

/// MET-001: every scrape answered 200 and parses; promtool is happy.
pub fn met_001(obs: &Observations) -> CheckResult {
    const ID: &str = "MET-001";
    if obs.scrapes.is_empty() {
        return CheckResult::fail(
            ID,
            "no scrape was taken: the metrics endpoint (PROMETHEUS_ADDR:PROMETHEUS_PORT/metrics) \
             was never reached",
        );
    }
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    for s in &obs.scrapes {
        match s.status {
            None => {
                let why = s.error.as_deref().unwrap_or("no answer");
                problems.push(format!("`{}`: no answer ({why})", s.step));
                evidence.push(format!("{}: no answer: {why}", s.step));
            }
            Some(200) => match parse_scrape(s) {
                Ok(e) => {
                    evidence.push(format!(
                        "{}: 200, {} families, {} series ({:?}, Content-Type {})",
                        s.step,
                        e.families().len(),
                        e.series_count(),
                        e.format,
                        s.content_type.as_deref().unwrap_or("none")
                    ));
                    if let Some(p) = content_type_problem(s) {
                        problems.push(p);
                    }
                    problems.extend(
                        structure_problems(&e)
                            .into_iter()
                            .take(3)
                            .map(|p| format!("`{}`: {p}", s.step)),
                    );
                }
                Err(err) => {
                    problems.push(format!("`{}` does not parse: {err}", s.step));
                    evidence.push(format!("{}: 200, body: {}", s.step, excerpt(&s.body, 200)));
                }
            },
            Some(other) => {
                problems.push(format!("`{}` answered {other}", s.step));
                evidence.push(format!(
                    "{}: {other}, body: {}",
                    s.step,
                    excerpt(&s.body, 200)
                ));
            }
        }
    }
    if !obs.scrapes.iter().any(answered) {
        return CheckResult::fail(
            ID,
            format!(
                "the metrics endpoint never answered: {}; serve the OTel Prometheus exporter on \
                 PROMETHEUS_ADDR:PROMETHEUS_PORT",
                problems.join("; ")
            ),
        )
        .with_evidence(evidence);
    }
    let mut note = String::new();
    match &obs.promtool {
        None => note.push_str("; promtool not installed, judged on parsing alone"),
        Some(run) => {
            let out: Vec<String> = run
                .output
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect();
            match run.exit_code {
                Some(0) => note.push_str("; promtool check metrics: no problem"),
                Some(3) => {
                    let _ = write!(
                        note,
                        "; promtool check metrics: {} lint finding(s), no error",
                        out.len()
                    );
                    evidence.extend(capped(out.iter().map(|l| format!("promtool: {l}")), 10));
                }
                code => {
                    let code =
                        code.map_or_else(|| "no exit code (killed)".to_owned(), |c| c.to_string());
                    problems.push(format!(
                        "`{}` exited {code}: {}",
                        run.command,
                        excerpt(&out.join(" | "), 300)
                    ));
                    evidence.extend(capped(out.iter().map(|l| format!("promtool: {l}")), 20));
                }
            }
        }
    }
    if problems.is_empty() {
        CheckResult::pass(
            ID,
            format!(
                "{} scrape(s) answered 200 and parse{note}",
                obs.scrapes.len()
            ),
        )
        .with_evidence(evidence)
    } else {
        CheckResult::fail(
            ID,
            format!(
                "{}: every scrape must answer 200 with a valid Prometheus text or OpenMetrics \
                 exposition",
                problems.join("; ")
            ),
        )
        .with_evidence(evidence)
    }
}

/// What is wrong with the `Content-Type` of an answered scrape: Prometheus 3
/// refuses a scrape whose type is neither the text format nor OpenMetrics.
fn content_type_problem(s: &Scrape) -> Option<String> {
    match s.content_type.as_deref() {
        None => Some(format!(
            "`{}` answered without a Content-Type: send `text/plain; version=0.0.4` or \
             `application/openmetrics-text` (Prometheus 3 refuses a scrape without one)",
            s.step
        )),
        Some(ct) if Format::from_content_type(ct).is_none() => Some(format!(
            "`{}` answered Content-Type `{ct}`: send `text/plain; version=0.0.4` or \
             `application/openmetrics-text` (Prometheus 3 refuses other types)",
            s.step
        )),
        Some(_) => None,
    }
}

/// What a lenient parser lets through but Prometheus rejects or misreads:
/// the same series twice, histogram buckets that are not cumulative, a
/// `_count` other than the `+Inf` bucket.
pub fn structure_problems(expo: &Exposition) -> Vec<String> {
    let mut problems = Vec::new();
    for f in expo.families() {
        let mut seen: BTreeMap<(String, Vec<(String, String)>), usize> = BTreeMap::new();
        for sample in &f.samples {
            let mut labels: Vec<(String, String)> = sample
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            labels.sort();
            let name = f.sample_name(sample);
            if let Some(first) = seen.insert((name.clone(), labels.clone()), sample.line) {
                let text: Vec<String> =
                    labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                problems.push(format!(
                    "duplicate series `{name}{{{}}}` (lines {first} and {})",
                    text.join(","),
                    sample.line
                ));
            }
        }
        if f.kind != MetricType::Histogram {
            continue;
        }
        let Some(h) = expo.histogram(&f.name) else {
            continue;
        };
        for series in &h.series {
            let decreasing = series.buckets.windows(2).find(|w| w[1].1 < w[0].1);
            if let Some(w) = decreasing {
                problems.push(format!(
                    "`{}{}` buckets are not cumulative: le=\"{}\" counts {} after le=\"{}\" \
                     counted {}",
                    h.name,
                    series.label_text(),
                    num(w[1].0),
                    num(w[1].1),
                    num(w[0].0),
                    num(w[0].1)
                ));
                continue;
            }
            let inf = series
                .buckets
                .last()
                .filter(|b| b.0.is_infinite() && b.0 > 0.0);
            if let (Some(inf), Some(count)) = (inf, series.count)
                && (inf.1 - count).abs() > 1e-9
            {
                problems.push(format!(
                    "`{}{}` has _count {} but its +Inf bucket counts {}",
                    h.name,
                    series.label_text(),
                    num(count),
                    num(inf.1)
                ));
            }
        }
    }
    problems
}

/// The scrape MET-002 counts at: the last one before the fault phase.
const BEFORE_FAULT: [&str; 2] = [
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
fn expected_embed_model(obs: &Observations) -> Option<String> {
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
fn count_where(h: Option<&Histogram>, label: &str, value: &str) -> f64 {
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

/// A scrape and its parsed exposition.
type Judged<'a> = (&'a Scrape, Exposition);

/// The baseline and after-searches scrapes, and the searches between them.
type SearchWindow<'a> = (Judged<'a>, Judged<'a>, u32);

/// The two scrapes bracketing the counted searches, and the searches between.
fn search_window<'a>(id: &str, obs: &'a Observations) -> Result<SearchWindow<'a>, CheckResult> {
    let before = judged(id, obs, steps::SCRAPE_BASELINE)?;
    let after = judged(id, obs, steps::SCRAPE_AFTER_SEARCHES)?;
    let searches = after.0.searches_done.saturating_sub(before.0.searches_done);
    if searches == 0 {
        return Err(CheckResult::error(
            id,
            format!(
                "no search completed between `{}` and `{}` (searches_done {} and {}): nothing to \
                 compare",
                before.0.step, after.0.step, before.0.searches_done, after.0.searches_done
            ),
        ));
    }
    Ok((before, after, searches))
}

/// Two consecutive answered scrapes from the baseline on, and the searches
/// between them: `done` completed, up to `sent` reached the SUT (a search
/// answered 5xx or not at all may or may not have been counted).
struct CountWindow<'a, 'b> {
    before: &'b Judged<'a>,
    after: &'b Judged<'a>,
    done: u32,
    sent: u32,
}

/// The answered scrapes from `scrape_baseline` on that parse (the others are
/// MET-001's concern and skipped), in order.
fn parsed_from_baseline(obs: &Observations) -> Vec<Judged<'_>> {
    obs.scrapes
        .iter()
        .skip_while(|s| s.step != steps::SCRAPE_BASELINE)
        .filter(|s| s.status == Some(200))
        .filter_map(|s| parse_scrape(s).ok().map(|e| (s, e)))
        .collect()
}

/// Every window between consecutive scrapes of `parsed`.
fn count_windows<'a, 'b>(parsed: &'b [Judged<'a>]) -> Vec<CountWindow<'a, 'b>> {
    parsed
        .windows(2)
        .map(|pair| {
            let (before, after) = (&pair[0], &pair[1]);
            let done = after.0.searches_done.saturating_sub(before.0.searches_done);
            let sent = after
                .0
                .searches_sent
                .saturating_sub(before.0.searches_sent)
                .max(done);
            CountWindow {
                before,
                after,
                done,
                sent,
            }
        })
        .collect()
}

/// `rose` fits `w`'s searches (`per` per search): exactly `done`, or up to
/// `sent` when some searches failed.
fn fits(rose: f64, w: &CountWindow<'_, '_>, per: f64) -> bool {
    rose >= f64::from(w.done) * per - 1e-9 && rose <= f64::from(w.sent) * per + 1e-9
}

fn expected_text(w: &CountWindow<'_, '_>) -> String {
    if w.sent > w.done {
        format!(
            "{} to {} ({} searches completed, {} more sent that failed)",
            w.done,
            w.sent,
            w.done,
            w.sent - w.done
        )
    } else {
        format!("exactly {}", w.done)
    }
}

fn counter_evidence(step: &str, expo: &Exposition, name: &str) -> Vec<String> {
    let Some(f) = expo.family(name) else {
        return vec![format!("{step}: no `{name}`")];
    };
    capped(
        f.samples
            .iter()
            .filter(|s| matches!(s.suffix, Suffix::Bare | Suffix::Total))
            .map(|s| {
                let labels: Vec<String> = s
                    .labels
                    .iter()
                    .map(|l| format!("{}=\"{}\"", l.name, l.value))
                    .collect();
                format!(
                    "{step}: {}{{{}}} {}",
                    f.sample_name(s),
                    labels.join(","),
                    num(s.value)
                )
            }),
        10,
    )
}

/// MET-005: gating decisions counter, bounded labels, +1 per search.
pub fn met_005(obs: &Observations) -> CheckResult {
    const ID: &str = "MET-005";
    let ((b, bexpo), (a, aexpo), _) = match search_window(ID, obs) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut evidence = counter_evidence(&b.step, &bexpo, GATING_DECISIONS);
    evidence.extend(counter_evidence(&a.step, &aexpo, GATING_DECISIONS));
    let Some(family) = aexpo.family(GATING_DECISIONS) else {
        return CheckResult::fail(ID, missing_family(&aexpo, GATING_DECISIONS, &a.step))
            .with_evidence(evidence);
    };
    if family.kind != MetricType::Counter {
        return CheckResult::fail(
            ID,
            format!(
                "`{}` is a {}, not a counter: record gating decisions with a monotonic counter",
                family.name, family.kind
            ),
        )
        .with_evidence(evidence);
    }
    let parsed = parsed_from_baseline(obs);
    let windows = count_windows(&parsed);
    for w in &windows {
        let Some(f) = w.after.1.family(GATING_DECISIONS) else {
            continue;
        };
        for s in f
            .samples
            .iter()
            .filter(|s| matches!(s.suffix, Suffix::Bare | Suffix::Total))
        {
            for (label, allowed) in [("class", &GATING_CLASSES[..]), ("rm3", &RM3_VALUES[..])] {
                match s.label(label) {
                    None | Some("") => {
                        return CheckResult::fail(
                            ID,
                            format!(
                                "a series of `{GATING_DECISIONS}` (line {} at `{}`) lacks label \
                                 `{label}` (required: class, rm3)",
                                s.line, w.after.0.step
                            ),
                        )
                        .with_evidence(evidence);
                    }
                    Some(v) if !allowed.contains(&v) => {
                        return CheckResult::fail(
                            ID,
                            format!(
                                "a series of `{GATING_DECISIONS}` (line {} at `{}`) has \
                                 {label}=\"{v}\": the contract's values are {}",
                                s.line,
                                w.after.0.step,
                                allowed.join(", ")
                            ),
                        )
                        .with_evidence(evidence);
                    }
                    Some(_) => {}
                }
            }
        }
    }
    let mut rises = Vec::new();
    for w in &windows {
        let before = w
            .before
            .1
            .counter_total(GATING_DECISIONS, &[])
            .unwrap_or(0.0);
        let after = w
            .after
            .1
            .counter_total(GATING_DECISIONS, &[])
            .unwrap_or(0.0);
        let rose = after - before;
        if !fits(rose, w, 1.0) {
            return CheckResult::fail(
                ID,
                format!(
                    "`{GATING_DECISIONS}` rose by {} for {} searches between `{}` and `{}` (from \
                     {} to {}): expected {}, one decision per search",
                    num(rose),
                    w.done,
                    w.before.0.step,
                    w.after.0.step,
                    num(before),
                    num(after),
                    expected_text(w)
                ),
            )
            .with_evidence(evidence);
        }
        rises.push(format!("+{} for {}", num(rose), w.done));
    }
    CheckResult::pass(
        ID,
        format!(
            "a counter labelled class and rm3 (contract values); rose by {} search(es) over the \
             scrapes from `{}`",
            rises.join(", "),
            b.step
        ),
    )
    .with_evidence(evidence)
}

/// MET-006: rrf_k and query_ambiguity, one observation per search.
pub fn met_006(obs: &Observations) -> CheckResult {
    const ID: &str = "MET-006";
    let (_, (a, aexpo), searches) = match search_window(ID, obs) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    let mut seen = Vec::new();
    let parsed = parsed_from_baseline(obs);
    let windows = count_windows(&parsed);
    for name in [GATING_RRF_K, QUERY_AMBIGUITY] {
        let Some(family) = aexpo.family(name) else {
            problems.push(missing_family(&aexpo, name, &a.step));
            continue;
        };
        let Some(h) = aexpo.histogram(name) else {
            problems.push(format!(
                "`{}` is a {}, not a histogram: record one observation per search",
                family.name, family.kind
            ));
            continue;
        };
        evidence.extend(histogram_evidence(&a.step, &h));
        let mut ok = true;
        for w in &windows {
            let before = w.before.1.histogram(name).map_or(0.0, |h| h.total_count());
            let after = w.after.1.histogram(name).map_or(0.0, |h| h.total_count());
            let rose = after - before;
            if !fits(rose, w, 1.0) {
                problems.push(format!(
                    "`{name}` _count rose by {} for {} searches between `{}` and `{}`: expected \
                     {}, one observation per search",
                    num(rose),
                    w.done,
                    w.before.0.step,
                    w.after.0.step,
                    expected_text(w)
                ));
                ok = false;
                break;
            }
        }
        if ok {
            seen.push(format!("{name} one per search"));
        }
    }
    if problems.is_empty() {
        CheckResult::pass(
            ID,
            format!(
                "{} ({searches} searches to `{}`, {} window(s) judged)",
                seen.join(", "),
                a.step,
                windows.len()
            ),
        )
        .with_evidence(evidence)
    } else {
        CheckResult::fail(ID, problems.join("; ")).with_evidence(evidence)
    }
}

/// MET-007: the batch-size sum equals the texts received.
pub fn met_007(obs: &Observations) -> CheckResult {
    const ID: &str = "MET-007";
    let (s, expo) = match judged(ID, obs, steps::SCRAPE_FINAL) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let seen = s.embed_requests_seen as usize;
    let (texts, requests) = if obs.embed_requests.len() >= seen {
        let prefix = &obs.embed_requests[..seen];
        (
            prefix.iter().map(|r| u64::from(r.inputs)).sum::<u64>(),
            prefix.len(),
        )
    } else {
        // The harness recorded fewer requests than it counted: trust its tally.
        (u64::from(s.embed_texts_seen), seen)
    };
    let Some(family) = expo.family(EMBED_BATCH_SIZE) else {
        return CheckResult::fail(ID, missing_family(&expo, EMBED_BATCH_SIZE, &s.step));
    };
    let sum = match expo.histogram(EMBED_BATCH_SIZE) {
        Some(h) => h.total_sum(),
        None => {
            return CheckResult::fail(
                ID,
                format!(
                    "`{}` is a {}, not a histogram: record the texts of each embeddings request \
                     in a histogram",
                    family.name, family.kind
                ),
            );
        }
    };
    let evidence = expo
        .histogram(EMBED_BATCH_SIZE)
        .map(|h| histogram_evidence(&s.step, &h))
        .unwrap_or_default();
    if (sum - texts as f64).abs() > 1e-6 {
        return CheckResult::fail(
            ID,
            format!(
                "the sum of `{EMBED_BATCH_SIZE}` is {} but the harness's embeddings server \
                 received {texts} text(s) in {requests} request(s) before `{}`: record the number \
                 of input texts of every request, failed ones included",
                num(sum),
                s.step
            ),
        )
        .with_evidence(evidence);
    }
    CheckResult::pass(
        ID,
        format!(
            "sum {} = {texts} text(s) received in {requests} request(s)",
            num(sum)
        ),
    )
    .with_evidence(evidence)
}

/// MET-008: failed embed calls are counted.
pub fn met_008(obs: &Observations) -> CheckResult {
    const ID: &str = "MET-008";
    if let Some(r) = no_scrape(ID, obs) {
        return r;
    }
    let Some(after_idx) = obs
        .scrapes
        .iter()
        .rposition(|s| s.step == steps::SCRAPE_AFTER_FAULT)
    else {
        return CheckResult::error(
            ID,
            format!(
                "no scrape at step `{}`: the drive did not reach it",
                steps::SCRAPE_AFTER_FAULT
            ),
        );
    };
    let earlier = &obs.scrapes[..after_idx];
    let Some(before) = earlier
        .iter()
        .rev()
        .find(|s| s.step == steps::SCRAPE_AFTER_CARDINALITY && answered(s))
        .or_else(|| earlier.iter().rev().find(|s| answered(s)))
    else {
        return CheckResult::error(
            ID,
            "no answered scrape before the fault phase to compare with",
        );
    };
    let after = &obs.scrapes[after_idx];
    let (bexpo, aexpo) = match (judged_scrape(ID, before), judged_scrape(ID, after)) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let lo = (before.embed_requests_seen as usize).min(obs.embed_requests.len());
    let hi = (after.embed_requests_seen as usize).min(obs.embed_requests.len());
    let window = obs.embed_requests.get(lo..hi).unwrap_or(&[]);
    let mut failed_by_kind: BTreeMap<&str, u32> = BTreeMap::new();
    for r in window.iter().filter(|r| r.answered != "ok") {
        *failed_by_kind.entry(r.answered.as_str()).or_default() += 1;
    }
    let failed: u32 = failed_by_kind.values().sum();
    if failed == 0 {
        return CheckResult::error(
            ID,
            format!(
                "no embeddings request failed between `{}` and `{}` ({} request(s) in the window): \
                 the fault phase did not reach the embeddings server",
                before.step,
                after.step,
                window.len()
            ),
        );
    }
    let kinds: Vec<String> = failed_by_kind
        .iter()
        .map(|(k, n)| format!("{n} × {k}"))
        .collect();
    let Some(ah) = aexpo.histogram(EMBED_LATENCY) else {
        return CheckResult::fail(ID, missing_family(&aexpo, EMBED_LATENCY, &after.step));
    };
    let before_count = bexpo
        .histogram(EMBED_LATENCY)
        .map_or(0.0, |h| h.total_count());
    let rose = ah.total_count() - before_count;
    let mut evidence = bexpo
        .histogram(EMBED_LATENCY)
        .map(|h| histogram_evidence(&before.step, &h))
        .unwrap_or_default();
    evidence.extend(histogram_evidence(&after.step, &ah));
    let total = window.len();
    let ok = total - failed as usize;
    let requests = format!(
        "{total} embeddings request(s) reached the harness's server in that window ({ok} ok, \
         {failed} failed: {})",
        kinds.join(", ")
    );
    // Fewer observations than requests fails; more is MET-002's concern (an
    // attempt the SUT abandoned in the fault phase may never have reached the
    // harness's server, yet be counted).
    if rose < total as f64 - 1e-9 {
        let why = if rose <= ok as f64 + 1e-9 {
            "the failed calls were not counted: record the latency of every call, failed ones \
             included (e.g. with an outcome or error.type label)"
        } else {
            "some calls were not counted: record the latency of every call, failed ones included"
        };
        return CheckResult::fail(
            ID,
            format!(
                "`{EMBED_LATENCY}` _count rose by {} between `{}` and `{}`, while {requests}: {why}",
                num(rose),
                before.step,
                after.step,
            ),
        )
        .with_evidence(evidence);
    }
    CheckResult::pass(
        ID,
        format!(
            "_count rose by {} across the fault phase, at least one per request: {requests}",
            num(rose)
        ),
    )
    .with_evidence(evidence)
}

/// MET-009: no `/metrics` on the application port.
pub fn met_009(obs: &Observations) -> CheckResult {
    const ID: &str = "MET-009";
    let Some(x) = obs.http_at(steps::APP_METRICS).next() else {
        return CheckResult::error(
            ID,
            "the drive did not request /metrics on the application port",
        );
    };
    let evidence = vec![format!(
        "{} {} → {} {}",
        x.method,
        x.path,
        x.status
            .map_or_else(|| "no answer".to_owned(), |s| s.to_string()),
        excerpt(&x.body, 160)
    )];
    match x.status {
        None => CheckResult::error(
            ID,
            format!(
                "GET {} on the application port got no answer ({})",
                x.path,
                x.error.as_deref().unwrap_or("no status")
            ),
        )
        .with_evidence(evidence),
        Some(404) => CheckResult::pass(
            ID,
            format!("GET {} on the application port answered 404", x.path),
        )
        .with_evidence(evidence),
        Some(status) => {
            let what = if x.body.contains("# TYPE") || x.body.contains("# HELP") {
                " with a Prometheus exposition"
            } else {
                ""
            };
            CheckResult::fail(
                ID,
                format!(
                    "GET {} on the application port answered {status}{what}, expected 404: serve \
                     metrics only on PROMETHEUS_ADDR:PROMETHEUS_PORT, never from the application \
                     router",
                    x.path
                ),
            )
            .with_evidence(evidence)
        }
    }
}

/// MET-010: series count does not grow with distinct query texts.
pub fn met_010(obs: &Observations) -> CheckResult {
    const ID: &str = "MET-010";
    let (b, bexpo) = match judged(ID, obs, steps::SCRAPE_AFTER_SEARCHES) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (a, aexpo) = match judged(ID, obs, steps::SCRAPE_AFTER_CARDINALITY) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let new_queries = a.distinct_queries.saturating_sub(b.distinct_queries);
    let (before, after) = (bexpo.series_count(), aexpo.series_count());
    let counts = format!(
        "{before} series at `{}`, {after} at `{}`, {new_queries} new distinct query text(s)",
        b.step, a.step
    );
    let evidence = label_growth(&bexpo, &aexpo);
    let queries = query_texts(obs);
    for f in aexpo.families() {
        for s in &f.samples {
            for l in &s.labels {
                if let Some(q) = queries.iter().find(|q| l.value.contains(q.as_str())) {
                    return CheckResult::fail(
                        ID,
                        format!(
                            "label `{}` of `{}` holds the query text \"{}\" ({counts}): never use \
                             query text as a label value",
                            l.name,
                            f.name,
                            excerpt(q, 60)
                        ),
                    )
                    .with_evidence(evidence);
                }
            }
        }
    }
    if new_queries == 0 {
        return CheckResult::error(
            ID,
            format!("the drive sent no new distinct query text between the scrapes ({counts})"),
        );
    }
    let grew = after.saturating_sub(before);
    if grew >= new_queries as usize {
        return CheckResult::fail(
            ID,
            format!(
                "the series count grew by {grew} ({counts}): some label takes a new value per \
                 query; keep label values bounded"
            ),
        )
        .with_evidence(evidence);
    }
    CheckResult::pass(ID, counts).with_evidence(evidence)
}

/// `family label: N → M distinct values` for labels whose value count grew.
fn label_growth(before: &Exposition, after: &Exposition) -> Vec<String> {
    fn distinct(e: &Exposition) -> BTreeMap<(String, String), BTreeSet<String>> {
        let mut m: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        for f in e.families() {
            for s in &f.samples {
                for l in &s.labels {
                    m.entry((f.name.clone(), l.name.to_string()))
                        .or_default()
                        .insert(l.value.to_string());
                }
            }
        }
        m
    }
    let (b, a) = (distinct(before), distinct(after));
    let mut grown: Vec<(usize, String)> = a
        .iter()
        .filter_map(|(k, vals)| {
            let n0 = b.get(k).map_or(0, BTreeSet::len);
            (vals.len() > n0).then(|| {
                (
                    vals.len() - n0,
                    format!(
                        "{} label `{}`: {n0} → {} distinct values",
                        k.0,
                        k.1,
                        vals.len()
                    ),
                )
            })
        })
        .collect();
    grown.sort_by(|x, y| y.0.cmp(&x.0).then_with(|| x.1.cmp(&y.1)));
    capped(grown.into_iter().map(|(_, s)| s), 8)
}

/// MET-011: durations in seconds, named `_seconds`.
pub fn met_011(obs: &Observations) -> CheckResult {
    const ID: &str = "MET-011";
    const DURATION_WORDS: [&str; 4] = ["latency", "duration", "time", "elapsed"];
    const OTHER_UNITS: [&str; 7] = [
        "ms",
        "milliseconds",
        "millis",
        "us",
        "microseconds",
        "ns",
        "nanoseconds",
    ];
    let (s, expo) = match judged_first(ID, obs, &[steps::SCRAPE_FINAL]) {
        Ok(x) => x,
        Err(r) => return r,
    };
    // The OpenMetrics scrape, when one answered, carries `# UNIT` lines.
    let openmetrics = obs
        .last_scrape_at(steps::SCRAPE_OPENMETRICS)
        .filter(|x| x.status == Some(200))
        .and_then(|x| parse_scrape(x).ok().map(|e| (x, e)));
    let negotiated = openmetrics
        .as_ref()
        .is_some_and(|(_, e)| e.format == Format::OpenMetrics);
    let mut judged_scrapes = vec![(s, expo)];
    judged_scrapes.extend(openmetrics);
    let mut problems = Vec::new();
    let mut offenders = Vec::new();
    let mut durations: BTreeSet<&str> = BTreeSet::new();
    let mut named: BTreeSet<String> = BTreeSet::new();
    let families = judged_scrapes
        .iter()
        .flat_map(|(s, e)| e.families().iter().map(move |f| (*s, f)));
    for (s, f) in families {
        let unit_key = format!("{}|{}", f.name, f.unit.as_deref().unwrap_or(""));
        if !named.insert(unit_key) {
            continue;
        }
        let words: Vec<&str> = f.name.split('_').collect();
        let unit = f.unit.as_deref().unwrap_or("-");
        let line = format!("{}: {} ({}, unit {unit})", s.step, f.name, f.kind);
        if let Some(unit) = words.iter().find(|w| OTHER_UNITS.contains(w)) {
            problems.push(format!(
                "`{}` is in `{unit}`: use seconds and `_seconds`",
                f.name
            ));
            offenders.push(line);
            continue;
        }
        if f.name.contains("_seconds_seconds") {
            problems.push(format!(
                "`{}` repeats the unit: name the instrument without it (the exporter appends \
                 `_seconds` from the unit `s`)",
                f.name
            ));
            offenders.push(line);
            continue;
        }
        if !words.iter().any(|w| DURATION_WORDS.contains(w)) {
            continue;
        }
        durations.insert(f.name.as_str());
        let base = if f.kind == MetricType::Counter {
            f.name.strip_suffix("_total").unwrap_or(f.name.as_str())
        } else {
            f.name.as_str()
        };
        if !base.ends_with("_seconds") {
            problems.push(format!(
                "`{}` measures a duration but does not end in `_seconds`: record seconds with \
                 unit `s`",
                f.name
            ));
            offenders.push(line);
        } else if let Some(unit) = f
            .unit
            .as_deref()
            .filter(|u| !u.is_empty() && *u != "seconds")
        {
            problems.push(format!(
                "`{}` declares UNIT `{unit}`, expected `seconds`",
                f.name
            ));
            offenders.push(line);
        }
    }
    let (sanity, checked) = duration_sanity(obs);
    for (problem, line) in sanity {
        problems.push(problem);
        offenders.push(line);
    }
    // A family judged in both scrapes is named once.
    let mut said = BTreeSet::new();
    problems.retain(|p| said.insert(p.clone()));
    let durations = durations.len();
    if problems.is_empty() {
        let units = if negotiated {
            ", OpenMetrics UNIT lines judged"
        } else {
            ", no OpenMetrics answer (UNIT not judged)"
        };
        CheckResult::pass(
            ID,
            format!(
                "{durations} duration famil(ies), all named `_seconds`{units}; values plausible in \
                 seconds for {checked}"
            ),
        )
    } else {
        CheckResult::fail(ID, problems.join("; ")).with_evidence(capped(offenders, 20))
    }
}

/// Least time one embeddings request can take (a loopback HTTP round trip):
/// an average below it is not in seconds.
const EMBED_FLOOR_SECS: f64 = 1e-5;

/// Whether the latency histograms hold seconds: over the counted searches
/// (`scrape_baseline` → `scrape_after_searches`) the `_sum` of each rose by
/// no more than the wall time the harness measured for those searches (with
/// slack), and embeddings calls average at least [`EMBED_FLOOR_SECS`].
/// Returns the problems (with an evidence line each) and what was checked.
fn duration_sanity(obs: &Observations) -> (Vec<(String, String)>, String) {
    let window = |step: &str| {
        obs.last_scrape_at(step)
            .filter(|x| x.status == Some(200))
            .and_then(|x| parse_scrape(x).ok().map(|e| (x, e)))
    };
    let (Some((b, bexpo)), Some((a, aexpo))) = (
        window(steps::SCRAPE_BASELINE),
        window(steps::SCRAPE_AFTER_SEARCHES),
    ) else {
        return (Vec::new(), "no family (no search window)".to_owned());
    };
    let wall_ms = a.search_wall_ms.saturating_sub(b.search_wall_ms);
    if wall_ms == 0 {
        return (
            Vec::new(),
            "no family (no search wall time recorded)".to_owned(),
        );
    }
    let wall = wall_ms as f64 / 1000.0;
    let ceiling = wall * 1.5 + 0.05;
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    for name in [EMBED_LATENCY, FAISS_LATENCY, DUCKDB_EXECUTE] {
        let Some(ah) = aexpo.histogram(name) else {
            continue;
        };
        let bh = bexpo.histogram(name);
        let count = ah.total_count() - bh.as_ref().map_or(0.0, Histogram::total_count);
        let sum = ah.total_sum() - bh.as_ref().map_or(0.0, Histogram::total_sum);
        if count <= 0.0 {
            continue;
        }
        checked.push(name);
        let line = format!(
            "{} → {}: {name} +{} observation(s), _sum +{} s; the searches took {} s of wall time",
            b.step,
            a.step,
            num(count),
            num(sum),
            num(wall)
        );
        if sum > ceiling {
            problems.push((
                format!(
                    "`{name}` _sum rose by {} over {} observation(s) between `{}` and `{}`, while \
                     the searches in that window took {} s of wall time in all: the values are \
                     not seconds (milliseconds?); record seconds",
                    num(sum),
                    num(count),
                    b.step,
                    a.step,
                    num(wall)
                ),
                line,
            ));
        } else if name == EMBED_LATENCY && sum < count * EMBED_FLOOR_SECS {
            problems.push((
                format!(
                    "`{name}` averages {} s per embeddings request between `{}` and `{}` (below \
                     {} s, faster than any HTTP round trip): the values are not seconds",
                    num(sum / count),
                    b.step,
                    a.step,
                    num(EMBED_FLOOR_SECS)
                ),
                line,
            ));
        }
    }
    let checked = if checked.is_empty() {
        "no family (nothing recorded in the search window)".to_owned()
    } else {
        checked.join(", ")
    };
    (problems, checked)
}

/// MET-012: `target_info` names the service.
pub fn met_012(obs: &Observations) -> CheckResult {
    const ID: &str = "MET-012";
    let (s, expo) = match judged_first(ID, obs, &[steps::SCRAPE_FINAL]) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let expected = &obs.sut.service_name;
    let Some(sample) = expo.samples_named("target_info").next() else {
        return CheckResult::fail(
            ID,
            format!(
                "no `target_info` in the scrape at `{}`: keep the exporter's resource \
                 (target_info) enabled",
                s.step
            ),
        );
    };
    let labels: Vec<String> = sample
        .labels
        .iter()
        .map(|l| format!("{}=\"{}\"", l.name, l.value))
        .collect();
    let evidence = vec![format!("{}: target_info{{{}}}", s.step, labels.join(","))];
    match sample.label("service_name") {
        Some(v) if v == expected => {
            CheckResult::pass(ID, format!("target_info has service_name=\"{v}\""))
                .with_evidence(evidence)
        }
        Some(v) => CheckResult::fail(
            ID,
            format!(
                "target_info has service_name=\"{v}\", expected \"{expected}\" \
                 (OTEL_SERVICE_NAME): build the resource from the environment"
            ),
        )
        .with_evidence(evidence),
        None => CheckResult::fail(
            ID,
            format!(
                "target_info has no service_name label, expected \"{expected}\" (OTEL_SERVICE_NAME)"
            ),
        )
        .with_evidence(evidence),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "../../../fixtures/expositions/bad_missing_prefix.prom"
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
            "../../../fixtures/expositions/bad_default_buckets.prom"
        ))
        .unwrap();
        let (msg, _) = bucketed_histogram(&e, EMBED_LATENCY, &["client"], "s").unwrap_err();
        assert!(msg.contains("buckets [0 5 10 25 50 75 100"), "{msg}");
        assert!(msg.contains("expected exactly B"), "{msg}");
    }
}
