//! MET-001: every scrape answered 200 with a known format and parses; promtool
//! and the exposition's own structure agree.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::checks::{CheckResult, capped, excerpt, num};
use crate::observe::{Observations, Scrape};
use crate::scrape::{Exposition, Format, MetricType};

use super::{answered, parse_scrape};

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
pub(super) fn content_type_problem(s: &Scrape) -> Option<String> {
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
