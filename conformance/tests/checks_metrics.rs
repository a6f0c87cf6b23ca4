//! MET-*: the good run passes; each broken behaviour fails exactly its
//! requirement, with a message naming the cause.

#![allow(clippy::unwrap_used)] // tests: a malformed fixture fails the test

mod common;

use std::fmt::Write as _;

use codeintel_conformance::checks::{self, Outcome};
use codeintel_conformance::observe::{ToolRun, steps};
use common::{Knobs, build, good, only_unmet, replace_in_scrapes, says};

#[test]
fn good_run_meets_every_requirement() {
    let results = checks::run_all(&good());
    let unmet: Vec<String> = results
        .iter()
        .filter(|r| r.outcome != Outcome::Pass)
        .map(|r| format!("{} {}: {}", r.id, r.outcome, r.message))
        .collect();
    assert!(unmet.is_empty(), "{unmet:#?}");
    assert_eq!(results.len(), codeintel_conformance::catalog::all().len());
}

#[test]
fn met_001_promtool_error_fails_with_its_output() {
    let mut obs = good();
    obs.promtool = Some(ToolRun {
        command: "promtool check metrics".into(),
        exit_code: Some(1),
        output: "error while linting: text format parsing error in line 3: expected float".into(),
    });
    let r = only_unmet(&obs, "MET-001");
    says(&r, &["exited 1", "text format parsing error in line 3"]);
}

#[test]
fn met_001_promtool_lint_findings_only_still_pass() {
    let mut obs = good();
    obs.promtool = Some(ToolRun {
        command: "promtool check metrics".into(),
        exit_code: Some(3),
        output: "codeintel_gating_rrf_k no help text\n".into(),
    });
    let r = checks::run_one("MET-001", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Pass);
    assert!(
        r.message.contains("1 lint finding(s), no error"),
        "{}",
        r.message
    );
    assert!(r.evidence.iter().any(|e| e.contains("no help text")));
}

#[test]
fn met_001_without_promtool_passes_on_parsing_and_says_so() {
    let mut obs = good();
    obs.promtool = None;
    let r = checks::run_one("MET-001", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Pass);
    assert!(
        r.message.contains("promtool not installed"),
        "{}",
        r.message
    );
}

#[test]
fn met_001_garbage_scrape_names_step_and_line() {
    let mut obs = good();
    let last = obs.scrapes.last_mut().unwrap();
    last.body.push_str("codeintel_up{broken=\"yes} 1\n");
    let r = checks::run_one("MET-001", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.message.contains("`scrape_final` does not parse: line"),
        "{}",
        r.message
    );
    assert!(
        r.message.contains("label value is not terminated"),
        "{}",
        r.message
    );
    // What depends on that scrape cannot be judged, and says why.
    let r7 = checks::run_one("MET-007", &obs).unwrap();
    assert_eq!(r7.outcome, Outcome::Error);
    assert!(r7.message.contains("see MET-001"), "{}", r7.message);
}

#[test]
fn no_scrape_answered_fails_met_001_and_errors_the_other_mets() {
    let mut obs = good();
    for s in &mut obs.scrapes {
        s.status = None;
        s.body.clear();
        s.error = Some("connection refused".into());
    }
    let results = common::by_id(checks::run_all(&obs));
    assert_eq!(results["MET-001"].outcome, Outcome::Fail);
    assert!(results["MET-001"].message.contains("connection refused"));
    for id in [
        "MET-002", "MET-003", "MET-004", "MET-005", "MET-006", "MET-007", "MET-008", "MET-010",
        "MET-011", "MET-012",
    ] {
        assert_eq!(results[id].outcome, Outcome::Error, "{id}");
        assert!(
            results[id].message.contains("no scrape to judge"),
            "{id}: {}",
            results[id].message
        );
    }
    assert_eq!(
        results["MET-009"].outcome,
        Outcome::Pass,
        "the app port is judged apart"
    );
}

#[test]
fn met_002_default_buckets() {
    let obs = build(&Knobs {
        embed_buckets: vec![
            "0", "5", "10", "25", "50", "75", "100", "250", "500", "750", "1000", "2500", "5000",
            "7500", "10000", "+Inf",
        ],
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-002");
    says(
        &r,
        &["buckets [0 5 10 25", "expected exactly B = [0.001 0.005"],
    );
}

#[test]
fn met_002_buckets_without_inf() {
    let mut b = common::B.to_vec();
    b.pop();
    let obs = build(&Knobs {
        embed_buckets: b,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-002");
    says(&r, &["(no +Inf bucket)"]);
}

#[test]
fn met_002_bucket_spelling_does_not_matter() {
    let obs = build(&Knobs {
        embed_buckets: vec![
            "1e-3", "0.0050", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "+Inf",
        ],
        ..Knobs::default()
    });
    assert_eq!(
        checks::run_one("MET-002", &obs).unwrap().outcome,
        Outcome::Pass
    );
}

#[test]
fn met_002_missing_model_label() {
    let obs = build(&Knobs {
        embed_labels: "client=\"openai\"",
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-002");
    says(&r, &["lacks label `model`"]);
}

#[test]
fn met_002_a_call_not_counted() {
    let obs = build(&Knobs {
        embed_count_offset: -1,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-002");
    says(
        &r,
        &[
            "counts 27 call(s)",
            "received 28 request(s)",
            "scrape_after_cardinality",
        ],
    );
}

#[test]
fn met_003_refined_searches_not_labelled() {
    let obs = build(&Knobs {
        record_refine: false,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-003");
    says(
        &r,
        &[
            "impl=\"ann\" rose by 5 for 4 plain search(es) and impl=\"ann+refine\" by 0 for 1 \
             refined search(es)",
            "impl values seen: ann",
        ],
    );
}

#[test]
fn met_004_missing_codeintel_prefix() {
    let obs = build(&Knobs {
        duckdb_name: "duckdb_execute_seconds",
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-004");
    says(
        &r,
        &[
            "no family `codeintel_duckdb_execute_seconds`",
            "found `duckdb_execute_seconds`",
        ],
    );
}

#[test]
fn met_004_seconds_seconds_is_named_too() {
    let obs = build(&Knobs {
        duckdb_name: "codeintel_duckdb_execute_seconds_seconds",
        ..Knobs::default()
    });
    let results = common::by_id(checks::run_all(&obs));
    assert_eq!(results["MET-004"].outcome, Outcome::Fail);
    assert!(
        results["MET-004"]
            .message
            .contains("`codeintel_duckdb_execute_seconds_seconds`")
    );
    assert_eq!(results["MET-011"].outcome, Outcome::Warn);
    assert!(results["MET-011"].message.contains("repeats the unit"));
}

#[test]
fn met_005_gating_counter_twice_per_search() {
    let obs = build(&Knobs {
        gating_per_search: 2,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-005");
    says(&r, &["rose by 10 for 5 searches", "expected exactly 5"]);
}

#[test]
fn met_005_names_the_rise_for_four_searches() {
    let mut obs = build(&Knobs {
        gating_per_search: 2,
        ..Knobs::default()
    });
    // Pretend three searches had already run at baseline, counted once each.
    let base = obs
        .scrapes
        .iter_mut()
        .find(|s| s.step == steps::SCRAPE_BASELINE)
        .unwrap();
    base.searches_done = 1;
    base.searches_sent = 1;
    base.body.push_str(
        "# TYPE codeintel_gating_decisions_total counter\n\
         codeintel_gating_decisions_total{class=\"identifier\",rm3=\"false\"} 2\n",
    );
    let r = checks::run_one("MET-005", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.message.contains("rose by 8 for 4 searches"),
        "{}",
        r.message
    );
}

#[test]
fn met_005_gauge_instead_of_counter() {
    let mut obs = good();
    replace_in_scrapes(
        &mut obs,
        "# TYPE codeintel_gating_decisions_total counter",
        "# TYPE codeintel_gating_decisions_total gauge",
    );
    let r = only_unmet(&obs, "MET-005");
    says(&r, &["is a gauge, not a counter"]);
}

#[test]
fn met_006_rrf_k_recorded_twice() {
    let obs = build(&Knobs {
        rrf_per_search: 2,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-006");
    says(
        &r,
        &["`codeintel_gating_rrf_k` _count rose by 10 for 5 searches"],
    );
}

#[test]
fn met_007_batch_sum_off_by_one() {
    let obs = build(&Knobs {
        final_batch_offset: -1,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-007");
    says(
        &r,
        &[
            "sum of `codeintel_embed_batch_size` is 49",
            "received 50 text(s) in 33 request(s)",
        ],
    );
}

#[test]
fn met_007_requests_after_the_final_scrape_do_not_count() {
    let mut obs = good();
    obs.embed_requests.push(obs.embed_requests[0].clone());
    assert_eq!(
        checks::run_one("MET-007", &obs).unwrap().outcome,
        Outcome::Pass
    );
}

#[test]
fn met_008_failed_calls_not_counted() {
    let obs = build(&Knobs {
        count_failed_embeds: false,
        ..Knobs::default()
    });
    // The window holds the golden searches too (as in the drive): their
    // successful calls must not make up for the uncounted failures.
    let r = only_unmet(&obs, "MET-008");
    says(
        &r,
        &[
            "_count rose by 2 between `scrape_after_cardinality` and `scrape_after_fault`",
            "5 embeddings request(s) reached the harness's server in that window (2 ok, 3 failed: \
             1 × delay, 2 × error_500)",
            "the failed calls were not counted",
        ],
    );
}

#[test]
fn met_008_without_a_fault_is_an_error_not_a_pass() {
    let mut obs = good();
    for e in &mut obs.embed_requests {
        e.answered = "ok".into();
    }
    let r = checks::run_one("MET-008", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Error);
    assert!(
        r.message.contains("the fault phase did not reach"),
        "{}",
        r.message
    );
}

#[test]
fn met_009_metrics_on_the_app_port() {
    let mut obs = good();
    let x = obs
        .http
        .iter_mut()
        .find(|h| h.step == steps::APP_METRICS)
        .unwrap();
    x.status = Some(200);
    x.body = "# HELP codeintel_up Up.\n# TYPE codeintel_up gauge\ncodeintel_up 1\n".into();
    let r = only_unmet(&obs, "MET-009");
    says(
        &r,
        &["answered 200 with a Prometheus exposition", "expected 404"],
    );
}

#[test]
fn met_010_query_text_as_a_label() {
    let obs = build(&Knobs {
        query_label: true,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-010");
    says(
        &r,
        &["label `query` of `codeintel_queries_total` holds the query text"],
    );
    assert!(
        r.evidence
            .iter()
            .any(|e| e.contains("codeintel_queries_total label `query`")),
        "{:?}",
        r.evidence
    );
}

#[test]
fn met_010_growth_proportional_to_queries() {
    let mut obs = good();
    // A label per query that does not hold the text itself (e.g. a hash).
    let s = obs
        .scrapes
        .iter_mut()
        .find(|s| s.step == steps::SCRAPE_AFTER_CARDINALITY)
        .unwrap();
    for i in 0..25 {
        let _ = writeln!(s.body, "codeintel_query_seen{{qhash=\"{i:08x}\"}} 1");
    }
    let r = checks::run_one("MET-010", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Warn);
    assert!(r.message.contains("grew by 25"), "{}", r.message);
    assert!(
        r.message.contains("20 new distinct query text(s)"),
        "{}",
        r.message
    );
}

#[test]
fn met_011_milliseconds() {
    let obs = build(&Knobs {
        millis_family: true,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-011");
    says(
        &r,
        &["`codeintel_hydrate_latency_milliseconds` is in `milliseconds`"],
    );
}

#[test]
fn met_012_wrong_service_name() {
    let obs = build(&Knobs {
        target_service: "unknown_service",
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-012");
    says(
        &r,
        &[
            "service_name=\"unknown_service\"",
            "expected \"codeintel-sut\"",
        ],
    );
}

#[test]
fn openmetrics_scrapes_are_judged_too() {
    let mut obs = good();
    for s in &mut obs.scrapes {
        s.content_type = Some("application/openmetrics-text; version=1.0.0; charset=utf-8".into());
        s.body.push_str("# EOF\n");
    }
    let unmet: Vec<String> = checks::run_all(&obs)
        .into_iter()
        .filter(|r| r.outcome != Outcome::Pass)
        .map(|r| format!("{}: {}", r.id, r.message))
        .collect();
    assert!(unmet.is_empty(), "{unmet:#?}");
    // Without `# EOF` an OpenMetrics scrape does not parse.
    let last = obs.scrapes.last_mut().unwrap();
    last.body = last.body.replace("# EOF\n", "");
    let r = checks::run_one("MET-001", &obs).unwrap();
    assert!(
        r.message.contains("does not end with `# EOF`"),
        "{}",
        r.message
    );
}

// ---------------------------------------------------------------------------
// Broken implementations that used to pass (issue 13).

#[test]
fn met_001_content_type_html_fails() {
    let mut obs = good();
    for s in &mut obs.scrapes {
        s.content_type = Some("text/html; charset=utf-8".into());
    }
    let r = only_unmet(&obs, "MET-001");
    says(
        &r,
        &[
            "`scrape_baseline` answered Content-Type `text/html; charset=utf-8`",
            "Prometheus 3 refuses other types",
        ],
    );
    // No Content-Type at all fails too.
    let mut obs = good();
    obs.scrapes[0].content_type = None;
    let r = only_unmet(&obs, "MET-001");
    says(&r, &["`scrape_baseline` answered without a Content-Type"]);
}

#[test]
fn met_001_non_cumulative_buckets_fail_without_promtool() {
    let mut obs = good();
    obs.promtool = None;
    let last = obs.scrapes.last_mut().unwrap();
    last.body.push_str(
        "# HELP codeintel_rerank_latency_seconds Rerank.\n\
         # TYPE codeintel_rerank_latency_seconds histogram\n\
         codeintel_rerank_latency_seconds_bucket{le=\"0.1\"} 5\n\
         codeintel_rerank_latency_seconds_bucket{le=\"1\"} 3\n\
         codeintel_rerank_latency_seconds_bucket{le=\"+Inf\"} 5\n\
         codeintel_rerank_latency_seconds_sum 0.2\n\
         codeintel_rerank_latency_seconds_count 5\n",
    );
    let r = only_unmet(&obs, "MET-001");
    says(
        &r,
        &[
            "`scrape_final`: `codeintel_rerank_latency_seconds{}` buckets are not cumulative",
            "le=\"1\" counts 3 after le=\"0.1\" counted 5",
        ],
    );
}

#[test]
fn met_001_count_other_than_inf_bucket_fails() {
    let mut obs = good();
    obs.promtool = None;
    let last = obs.scrapes.last_mut().unwrap();
    last.body.push_str(
        "# TYPE codeintel_rerank_latency_seconds histogram\n\
         codeintel_rerank_latency_seconds_bucket{le=\"+Inf\"} 5\n\
         codeintel_rerank_latency_seconds_sum 0.2\n\
         codeintel_rerank_latency_seconds_count 7\n",
    );
    let r = only_unmet(&obs, "MET-001");
    says(&r, &["has _count 7 but its +Inf bucket counts 5"]);
}

#[test]
fn met_001_duplicate_series_fail_without_promtool() {
    let mut obs = good();
    obs.promtool = None;
    let last = obs.scrapes.last_mut().unwrap();
    let line = last
        .body
        .lines()
        .find(|l| l.starts_with("target_info{"))
        .unwrap()
        .to_owned();
    last.body.push_str(&line);
    last.body.push('\n');
    let r = only_unmet(&obs, "MET-001");
    says(&r, &["`scrape_final`: duplicate series `target_info{"]);
}

#[test]
fn met_002_double_counting_fails() {
    // One observation more than requests: a call recorded twice.
    let obs = build(&Knobs {
        embed_count_offset: 1,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-002");
    says(
        &r,
        &[
            "counts 29 call(s)",
            "received 28 request(s)",
            "each request is counted once, not more",
        ],
    );
}

#[test]
fn met_002_model_label_is_the_configured_model() {
    let obs = build(&Knobs {
        embed_labels: "client=\"openai\",model=\"text-embedding-3-small\"",
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-002");
    says(
        &r,
        &[
            "has model=\"text-embedding-3-small\", expected \"m\"",
            "CODEINTEL_EMBED_MODEL",
        ],
    );
    // Old recordings without the configured model: the model the requests
    // named is expected.
    let mut obs = build(&Knobs {
        embed_labels: "client=\"openai\",model=\"other\"",
        ..Knobs::default()
    });
    obs.sut.embed_model.clear();
    let r = only_unmet(&obs, "MET-002");
    says(&r, &["has model=\"other\", expected \"m\""]);
}

#[test]
fn met_002_series_first_seen_in_the_fault_phase_are_bucket_checked() {
    let mut obs = good();
    let bad = "codeintel_embed_latency_seconds_bucket{client=\"openai\",model=\"m\",outcome=\"timeout\",le=\"5\"} 0\n\
               codeintel_embed_latency_seconds_bucket{client=\"openai\",model=\"m\",outcome=\"timeout\",le=\"+Inf\"} 0\n\
               codeintel_embed_latency_seconds_sum{client=\"openai\",model=\"m\",outcome=\"timeout\"} 0\n\
               codeintel_embed_latency_seconds_count{client=\"openai\",model=\"m\",outcome=\"timeout\"} 0\n";
    for s in obs
        .scrapes
        .iter_mut()
        .filter(|s| s.step == steps::SCRAPE_AFTER_FAULT || s.step == steps::SCRAPE_FINAL)
    {
        let anchor = "# HELP codeintel_faiss_search_latency_seconds";
        let at = s.body.find(anchor).unwrap();
        s.body.insert_str(at, bad);
    }
    let r = only_unmet(&obs, "MET-002");
    says(
        &r,
        &[
            "outcome=\"timeout\"}` has buckets [5 +Inf]",
            "expected exactly B",
        ],
    );
}

#[test]
fn met_003_refine_recorded_on_every_search_fails() {
    let obs = build(&Knobs {
        refine_every_search: true,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-003");
    says(
        &r,
        &[
            "impl=\"ann\" rose by 4 for 4 plain search(es) and impl=\"ann+refine\" by 5 for 1 refined",
        ],
    );
}

#[test]
fn met_003_a_start_up_warm_up_does_not_count() {
    let obs = build(&Knobs {
        faiss_warmup_only: true,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-003");
    says(&r, &["impl=\"ann\" rose by 0 for 4 plain search(es)"]);
}

#[test]
fn met_003_impl_values_are_the_contracts() {
    let mut obs = good();
    common::replace_in_scrapes(&mut obs, "impl=\"ann+refine\"", "impl=\"hnsw_refine\"");
    let r = only_unmet(&obs, "MET-003");
    says(
        &r,
        &["has impl=\"hnsw_refine\": the contract's values are ann, ann+refine"],
    );
}

#[test]
fn met_004_duckdb_timed_only_at_start_up_fails() {
    let obs = build(&Knobs {
        hydrate_timed: false,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-004");
    says(
        &r,
        &[
            "rose by 0 (from 5 to 5) between `scrape_baseline` and `scrape_after_searches`",
            "across 5 search(es)",
        ],
    );
}

#[test]
fn met_005_class_outside_the_contract_fails() {
    let mut obs = good();
    common::replace_in_scrapes(&mut obs, "class=\"nl\"", "class=\"unknown\"");
    let r = only_unmet(&obs, "MET-005");
    says(
        &r,
        &["has class=\"unknown\": the contract's values are identifier, code, nl, mixed"],
    );
    let mut obs = good();
    common::replace_in_scrapes(&mut obs, "rm3=\"true\"", "rm3=\"True\"");
    let r = only_unmet(&obs, "MET-005");
    says(
        &r,
        &["has rm3=\"True\": the contract's values are true, false"],
    );
}

#[test]
fn met_005_006_degraded_searches_are_searches_too() {
    // Searches answered from sparse while embeddings fail are not gated.
    let obs = build(&Knobs {
        gate_fault_searches: false,
        ..Knobs::default()
    });
    let results = common::by_id(checks::run_all(&obs));
    assert_eq!(results["MET-005"].outcome, Outcome::Fail);
    says(
        &results["MET-005"],
        &["rose by 2 for 5 searches between `scrape_after_cardinality` and `scrape_after_fault`"],
    );
    assert_eq!(results["MET-006"].outcome, Outcome::Fail);
    says(&results["MET-006"], &["_count rose by 2 for 5 searches"]);
}

/// Adds `by` to the `class="identifier"` gating counter from the fault
/// scrape on.
fn bump_gating_from_fault(obs: &mut codeintel_conformance::observe::Observations, by: f64) {
    const PREFIX: &str = "codeintel_gating_decisions_total{class=\"identifier\"";
    for s in obs
        .scrapes
        .iter_mut()
        .skip_while(|s| s.step != steps::SCRAPE_AFTER_FAULT)
    {
        s.body = s
            .body
            .lines()
            .map(|l| match l.strip_prefix(PREFIX) {
                Some(rest) => {
                    let (labels, value) = rest.rsplit_once(' ').unwrap();
                    let v: f64 = value.parse().unwrap();
                    format!("{PREFIX}{labels} {}\n", v + by)
                }
                None => format!("{l}\n"),
            })
            .collect();
    }
}

#[test]
fn met_005_a_failed_search_may_or_may_not_be_counted() {
    // One more search was sent in the fault phase and answered 500: a
    // decision for it is allowed, not required.
    let mut obs = good();
    for s in obs
        .scrapes
        .iter_mut()
        .skip_while(|s| s.step != steps::SCRAPE_AFTER_FAULT)
    {
        s.searches_sent += 1;
    }
    let r = checks::run_one("MET-005", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    bump_gating_from_fault(&mut obs, 1.0);
    let r = checks::run_one("MET-005", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    bump_gating_from_fault(&mut obs, 1.0);
    let r = checks::run_one("MET-005", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    says(
        &r,
        &["expected 5 to 6 (5 searches completed, 1 more sent that failed)"],
    );
}

#[test]
fn met_011_milliseconds_in_a_seconds_histogram() {
    let obs = build(&Knobs {
        latency_scale: 1000.0,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-011");
    says(
        &r,
        &[
            "`codeintel_embed_latency_seconds` _sum rose by 20 over 5 observation(s) between \
             `scrape_baseline` and `scrape_after_searches`",
            "took 0.068 s of wall time",
            "not seconds (milliseconds?)",
        ],
    );
}

#[test]
fn met_011_values_below_any_round_trip_are_not_seconds() {
    let obs = build(&Knobs {
        latency_scale: 1e-6,
        ..Knobs::default()
    });
    let r = only_unmet(&obs, "MET-011");
    says(&r, &["faster than any HTTP round trip"]);
}

#[test]
fn met_011_openmetrics_unit_is_judged() {
    let mut obs = good();
    let mut om = obs.last_scrape_at(steps::SCRAPE_FINAL).unwrap().clone();
    om.step = steps::SCRAPE_OPENMETRICS.to_owned();
    om.content_type = Some("application/openmetrics-text; version=1.0.0; charset=utf-8".into());
    om.accept = Some(codeintel_conformance::drive::OPENMETRICS_ACCEPT.to_owned());
    om.body = om.body.replace(
        "# TYPE codeintel_embed_latency_seconds histogram\n",
        "# TYPE codeintel_embed_latency_seconds histogram\n# UNIT codeintel_embed_latency_seconds seconds\n",
    );
    om.body.push_str("# EOF\n");
    obs.scrapes.push(om.clone());
    let r = checks::run_one("MET-011", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    assert!(
        r.message.contains("OpenMetrics UNIT lines judged"),
        "{}",
        r.message
    );
    let last = obs.scrapes.last_mut().unwrap();
    last.body = last.body.replace(
        "# UNIT codeintel_embed_latency_seconds seconds",
        "# UNIT codeintel_embed_latency_seconds milliseconds",
    );
    let r = checks::run_one("MET-011", &obs).unwrap();
    if r.outcome == Outcome::Pass {
        // The parser refused the mismatched UNIT: MET-001 names it instead.
        let r1 = checks::run_one("MET-001", &obs).unwrap();
        assert_eq!(r1.outcome, Outcome::Fail, "{}", r1.message);
    } else {
        assert_eq!(r.outcome, Outcome::Warn);
        says(&r, &["declares UNIT `milliseconds`, expected `seconds`"]);
    }
}
