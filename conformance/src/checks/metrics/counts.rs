//! MET-005 to MET-008: what rises by how much between two scrapes (gating
//! decisions, rrf_k and ambiguity, batch sizes, failed embed calls).

use std::collections::BTreeMap;

use crate::checks::{CheckResult, capped, num};
use crate::contract::{
    EMBED_BATCH_SIZE, EMBED_LATENCY, GATING_CLASSES, GATING_DECISIONS, GATING_RRF_K,
    QUERY_AMBIGUITY, RM3_VALUES,
};
use crate::observe::{Observations, Scrape, steps};
use crate::scrape::{Exposition, MetricType, Suffix};

use super::{
    answered, histogram_evidence, judged, judged_scrape, missing_family, no_scrape, parse_scrape,
};

/// A scrape and its parsed exposition.
pub(super) type Judged<'a> = (&'a Scrape, Exposition);

/// The baseline and after-searches scrapes, and the searches between them.
pub(super) type SearchWindow<'a> = (Judged<'a>, Judged<'a>, u32);

/// The two scrapes bracketing the counted searches, and the searches between.
pub(super) fn search_window<'a>(
    id: &str,
    obs: &'a Observations,
) -> Result<SearchWindow<'a>, CheckResult> {
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
pub(super) struct CountWindow<'a, 'b> {
    before: &'b Judged<'a>,
    after: &'b Judged<'a>,
    done: u32,
    sent: u32,
}

/// The answered scrapes from `scrape_baseline` on that parse (the others are
/// MET-001's concern and skipped), in order.
pub(super) fn parsed_from_baseline(obs: &Observations) -> Vec<Judged<'_>> {
    obs.scrapes
        .iter()
        .skip_while(|s| s.step != steps::SCRAPE_BASELINE)
        .filter(|s| s.status == Some(200))
        .filter_map(|s| parse_scrape(s).ok().map(|e| (s, e)))
        .collect()
}

/// Every window between consecutive scrapes of `parsed`.
pub(super) fn count_windows<'a, 'b>(parsed: &'b [Judged<'a>]) -> Vec<CountWindow<'a, 'b>> {
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
pub(super) fn fits(rose: f64, w: &CountWindow<'_, '_>, per: f64) -> bool {
    rose >= f64::from(w.done) * per - 1e-9 && rose <= f64::from(w.sent) * per + 1e-9
}

pub(super) fn expected_text(w: &CountWindow<'_, '_>) -> String {
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

pub(super) fn counter_evidence(step: &str, expo: &Exposition, name: &str) -> Vec<String> {
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
