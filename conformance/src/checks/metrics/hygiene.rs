//! MET-009 to MET-012: no exposition on the application port, bounded
//! cardinality, durations in seconds, `target_info`.

use std::collections::{BTreeMap, BTreeSet};

use crate::checks::{CheckResult, capped, excerpt, num, query_texts};
use crate::contract::{DUCKDB_EXECUTE, EMBED_LATENCY, FAISS_LATENCY};
use crate::observe::{Observations, steps};
use crate::scrape::{Exposition, Format, Histogram, MetricType};

use super::{judged, judged_first, parse_scrape};

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
pub(super) fn label_growth(before: &Exposition, after: &Exposition) -> Vec<String> {
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
pub(super) const EMBED_FLOOR_SECS: f64 = 1e-5;

/// Whether the latency histograms hold seconds: over the counted searches
/// (`scrape_baseline` → `scrape_after_searches`) the `_sum` of each rose by
/// no more than the wall time the harness measured for those searches (with
/// slack), and embeddings calls average at least [`EMBED_FLOOR_SECS`].
/// Returns the problems (with an evidence line each) and what was checked.
pub(super) fn duration_sanity(obs: &Observations) -> (Vec<(String, String)>, String) {
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
