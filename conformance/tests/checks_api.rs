//! API-*, RUN-* and LNT-*: each broken behaviour fails exactly its
//! requirement.

mod common;

use codeintel_conformance::checks::{self, Outcome};
use codeintel_conformance::observe::{LintFinding, steps};
use common::{good, only_unmet, says};
use serde_json::{Value, json};

#[test]
fn api_001_readyz_always_200() {
    let mut obs = good();
    for x in obs.http.iter_mut().filter(|h| h.path == "/readyz") {
        x.status = Some(200);
    }
    let r = only_unmet(&obs, "API-001");
    says(
        &r,
        &[
            "GET /readyz answered 200 (probe 1 of 3 at `probe_not_ready`)",
            "answer 503 until the index is loaded",
        ],
    );
}

#[test]
fn api_001_healthz_down_while_loading() {
    let mut obs = good();
    let x = obs
        .http
        .iter_mut()
        .find(|h| h.step == steps::PROBE_NOT_READY && h.path == "/healthz")
        .unwrap();
    x.status = None;
    x.error = Some("connection reset".into());
    let r = only_unmet(&obs, "API-001");
    says(
        &r,
        &["GET /healthz answered no answer (connection reset) at `probe_not_ready`"],
    );
}

#[test]
fn api_001_never_ready() {
    let mut obs = good();
    for x in obs
        .http
        .iter_mut()
        .filter(|h| h.step == steps::PROBE_READY && h.path == "/readyz")
    {
        x.status = Some(503);
    }
    let r = only_unmet(&obs, "API-001");
    says(
        &r,
        &["GET /readyz answered 503 at `probe_ready` once the index could load, expected 200"],
    );
}

#[test]
fn api_001_without_a_loading_probe_is_an_error() {
    let mut obs = good();
    obs.http.retain(|h| h.step != steps::PROBE_NOT_READY);
    let r = checks::run_one("API-001", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Error);
}

#[test]
fn api_002_fetch_not_listed() {
    let mut obs = good();
    let list = obs
        .mcp
        .iter_mut()
        .find(|m| m.step == steps::MCP_LIST)
        .unwrap();
    let tools = list.result.as_mut().unwrap()["tools"]
        .as_array_mut()
        .unwrap();
    tools.retain(|t| t["name"] != "fetch");
    let r = only_unmet(&obs, "API-002");
    says(
        &r,
        &[
            "tool `fetch` is not listed",
            "(listed: semantic_search, search)",
        ],
    );
}

#[test]
fn api_002_tool_without_input_schema() {
    let mut obs = good();
    let list = obs
        .mcp
        .iter_mut()
        .find(|m| m.step == steps::MCP_LIST)
        .unwrap();
    list.result.as_mut().unwrap()["tools"][1]
        .as_object_mut()
        .unwrap()
        .remove("inputSchema");
    let r = only_unmet(&obs, "API-002");
    says(&r, &["tool `search` has no inputSchema object"]);
}

#[allow(clippy::unwrap_used)] // a test helper: a missing exchange fails the test
fn golden_body(obs: &mut codeintel_conformance::observe::Observations, n: usize) -> &mut String {
    &mut obs
        .http
        .iter_mut()
        .filter(|h| h.step == steps::SEARCH_GOLDEN)
        .nth(n)
        .unwrap()
        .body
}

#[test]
fn api_003_golden_file_below_the_top_5() {
    let mut obs = good();
    let body = golden_body(&mut obs, 0);
    let mut v: Value = serde_json::from_str(body).unwrap();
    let findings = v["findings"].as_array_mut().unwrap();
    let first = findings.remove(0);
    for i in 0..5 {
        findings.insert(
            0,
            json!({"path": format!("src/other{i}.rs"), "start_line": 1, "end_line": 2, "score": 0.99, "snippet": "x"}),
        );
    }
    findings.insert(6, first);
    *body = v.to_string();
    let r = only_unmet(&obs, "API-003");
    says(
        &r,
        &[
            "golden query \"reciprocal rank fusion\": expected `src/search/fusion.rs` in the top 5, found at rank 7",
        ],
    );
}

#[test]
fn api_003_findings_without_snippet() {
    let mut obs = good();
    let body = golden_body(&mut obs, 1);
    let mut v: Value = serde_json::from_str(body).unwrap();
    for f in v["findings"].as_array_mut().unwrap() {
        f.as_object_mut().unwrap().remove("snippet");
    }
    *body = v.to_string();
    let r = only_unmet(&obs, "API-003");
    says(&r, &["finding #1 has no string `snippet`"]);
}

#[test]
fn api_003_answer_not_json() {
    let mut obs = good();
    *golden_body(&mut obs, 0) = "<html>oops</html>".into();
    let r = only_unmet(&obs, "API-003");
    says(&r, &["the answer is not JSON"]);
}

#[test]
fn api_004_search_fails_with_embeddings_down() {
    let mut obs = good();
    for x in obs
        .http
        .iter_mut()
        .filter(|h| h.step == steps::SEARCH_EMBED_FAULT)
    {
        x.status = Some(500);
        x.body = "{\"error\":\"embeddings unavailable\"}".into();
    }
    let r = only_unmet(&obs, "API-004");
    says(&r, &["answered 500 while the embeddings server failed"]);
}

#[test]
fn run_001_no_runpack_endpoint() {
    let mut obs = good();
    let x = obs
        .http
        .iter_mut()
        .find(|h| h.step == steps::RUNPACK)
        .unwrap();
    x.status = Some(404);
    x.body_base64 = None;
    x.body = "not found".into();
    let r = only_unmet(&obs, "RUN-001");
    says(&r, &["answered 404", "GET /v1/runpack/{trace_id}"]);
}

#[test]
fn run_001_archive_without_timeline() {
    let mut obs = good();
    let x = obs
        .http
        .iter_mut()
        .find(|h| h.step == steps::RUNPACK)
        .unwrap();
    x.body_base64 = Some(common::targz_base64(&[("runpack/stages.jsonl", "{}\n")]));
    let r = only_unmet(&obs, "RUN-001");
    says(&r, &["holds no timeline.jsonl"]);
    assert_eq!(r.evidence, vec!["runpack/stages.jsonl (3 bytes)"]);
}

#[test]
fn run_001_body_not_an_archive() {
    let mut obs = good();
    let x = obs
        .http
        .iter_mut()
        .find(|h| h.step == steps::RUNPACK)
        .unwrap();
    x.body_base64 = Some("aGVsbG8gd29ybGQ=".into());
    let r = only_unmet(&obs, "RUN-001");
    says(&r, &["answered 200 but"]);
}

#[test]
fn run_002_report_without_a_stage() {
    let mut obs = good();
    let x = obs
        .http
        .iter_mut()
        .find(|h| h.step == steps::RUNPACK_FAILED)
        .unwrap();
    x.body_base64 = Some(common::targz_base64(&[(
        "report.md",
        "# Report\n\nSomething failed.\n",
    )]));
    let r = only_unmet(&obs, "RUN-002");
    says(&r, &["report.md names no stage"]);
}

fn finding(rule: &str, path: &str) -> LintFinding {
    LintFinding {
        rule: rule.into(),
        path: path.into(),
        line: 3,
        column: 5,
        message: "use of the prometheus crate outside observability/metrics.rs".into(),
    }
}

#[test]
fn lnt_001_legacy_import() {
    let mut obs = good();
    obs.lint
        .as_mut()
        .unwrap()
        .findings
        .push(finding("LNT-001", "src/search/engine.rs"));
    let r = only_unmet(&obs, "LNT-001");
    says(
        &r,
        &["1 legacy metric import(s) found, first at src/search/engine.rs:3:5"],
    );
}

#[test]
fn lnt_002_legacy_module() {
    let mut obs = good();
    obs.lint
        .as_mut()
        .unwrap()
        .findings
        .push(finding("LNT-002", "telemetry/prom.py"));
    let r = only_unmet(&obs, "LNT-002");
    says(
        &r,
        &["legacy telemetry module(s) found, first at telemetry/prom.py:3:5"],
    );
}

#[test]
fn lnt_003_metrics_route() {
    let mut obs = good();
    obs.lint
        .as_mut()
        .unwrap()
        .findings
        .push(finding("LNT-003", "src/serve/http.rs"));
    let r = only_unmet(&obs, "LNT-003");
    says(&r, &["hand-made /metrics route(s) found"]);
}

#[test]
fn lint_without_source_is_skipped_and_a_broken_lint_is_an_error() {
    let mut obs = good();
    obs.lint = None;
    let r = checks::run_one("LNT-001", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Skip);
    assert!(r.message.contains("no --source given"));
    obs.lint = Some(codeintel_conformance::observe::LintOutcome {
        error: Some("cannot read /nope: not found".into()),
        ..Default::default()
    });
    let r = checks::run_one("LNT-002", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Error);
    assert!(r.message.contains("cannot read /nope"));
}

// ---------------------------------------------------------------------------
// Broken implementations that used to pass (issue 13).

#[test]
fn api_001_readiness_on_a_timer_fails() {
    // 503 at first, then 200 while the harness still holds the index load.
    let mut obs = good();
    let late = obs
        .http
        .iter_mut()
        .filter(|h| h.step == steps::PROBE_NOT_READY && h.path == "/readyz")
        .nth(2)
        .unwrap();
    late.status = Some(200);
    late.body = "{\"status\":\"ready\"}".into();
    let r = only_unmet(&obs, "API-001");
    says(
        &r,
        &[
            "GET /readyz answered 200 (probe 3 of 3 at `probe_not_ready`)",
            "not on a timer",
        ],
    );
}

#[test]
fn api_001_healthz_while_embeddings_are_down() {
    let mut obs = good();
    let x = obs
        .http
        .iter_mut()
        .find(|h| h.step == steps::PROBE_EMBED_DOWN)
        .unwrap();
    x.status = Some(503);
    let r = only_unmet(&obs, "API-001");
    says(
        &r,
        &[
            "GET /healthz answered 503 at `probe_embed_down`",
            "liveness does not depend on it",
        ],
    );
}

#[allow(clippy::unwrap_used)] // a test helper: the model always has the MCP search
fn mcp_result(obs: &mut codeintel_conformance::observe::Observations) -> &mut Value {
    obs.mcp
        .iter_mut()
        .find(|m| m.step == steps::MCP_SEARCH && m.method == "tools/call")
        .unwrap()
        .result
        .as_mut()
        .unwrap()
}

#[test]
fn api_003_mcp_result_is_judged() {
    // isError
    let mut obs = good();
    obs.mcp
        .iter_mut()
        .find(|m| m.step == steps::MCP_SEARCH && m.method == "tools/call")
        .unwrap()
        .is_error = true;
    let r = only_unmet(&obs, "API-003");
    says(&r, &["the MCP semantic_search result has isError: true"]);

    // plain text, no JSON
    let mut obs = good();
    *mcp_result(&mut obs) = json!({
        "content": [{"type": "text", "text": "src/search/fusion.rs:10-42 (0.93)"}],
        "isError": false,
    });
    let r = only_unmet(&obs, "API-003");
    says(&r, &["the MCP semantic_search result carries no JSON"]);

    // empty findings
    let mut obs = good();
    *mcp_result(&mut obs) = json!({
        "content": [{"type": "text", "text": "{\"findings\": []}"}],
        "structuredContent": {"findings": []},
        "isError": false,
    });
    let r = only_unmet(&obs, "API-003");
    says(&r, &["the MCP semantic_search result has no findings"]);

    // no MCP call answered
    let mut obs = good();
    let call = obs
        .mcp
        .iter_mut()
        .find(|m| m.step == steps::MCP_SEARCH)
        .unwrap();
    call.result = None;
    call.error = Some("tools/call semantic_search failed: connection closed".into());
    let r = only_unmet(&obs, "API-003");
    says(&r, &["the MCP semantic_search call failed: tools/call"]);
}

#[test]
fn api_003_line_range_must_not_end_before_it_starts() {
    let mut obs = good();
    let body = golden_body(&mut obs, 0);
    let mut v: Value = serde_json::from_str(body).unwrap();
    v["findings"][0]["start_line"] = json!(50);
    v["findings"][0]["end_line"] = json!(12);
    *body = v.to_string();
    let r = only_unmet(&obs, "API-003");
    says(
        &r,
        &["finding #1 has a line range that ends before it starts (start 50 > end 12)"],
    );
}

#[test]
fn api_003_mcp_golden_query_needs_its_file() {
    // The MCP call's query is a golden one: its file must be in the top 5.
    let mut obs = good();
    let golden_query = obs
        .http
        .iter()
        .find(|h| h.step == steps::SEARCH_GOLDEN)
        .and_then(|h| h.request_body.clone())
        .map(|b| serde_json::from_str::<Value>(&b).unwrap()["query"].clone())
        .unwrap();
    let call = obs
        .mcp
        .iter_mut()
        .find(|m| m.step == steps::MCP_SEARCH && m.method == "tools/call")
        .unwrap();
    call.arguments = Some(json!({"query": golden_query, "k": 5}));
    let findings = json!({"findings": [
        {"path": "src/lib.rs", "start_line": 1, "end_line": 2, "score": 0.5, "snippet": "x"}
    ]});
    call.result = Some(json!({
        "content": [{"type": "text", "text": findings.to_string()}],
        "structuredContent": findings,
        "isError": false,
    }));
    let r = only_unmet(&obs, "API-003");
    says(
        &r,
        &[
            "the MCP semantic_search result: expected `src/search/fusion.rs` (a golden query) in the top 5",
        ],
    );
}

#[test]
fn api_004_findings_without_limits_warn() {
    let mut obs = good();
    for x in obs
        .http
        .iter_mut()
        .filter(|h| h.step == steps::SEARCH_EMBED_FAULT)
    {
        let mut v: Value = serde_json::from_str(&x.body).unwrap();
        v["limits"] = json!([]);
        x.body = v.to_string();
    }
    let r = only_unmet(&obs, "API-004");
    says(
        &r,
        &["answered 3 finding(s) but no `limits` entry naming the dense channel (error_500)"],
    );
}

#[test]
fn api_004_limits_without_findings_warn() {
    let mut obs = good();
    for x in obs
        .http
        .iter_mut()
        .filter(|h| h.step == steps::SEARCH_EMBED_FAULT)
    {
        let mut v: Value = serde_json::from_str(&x.body).unwrap();
        v["findings"] = json!([]);
        x.body = v.to_string();
    }
    let r = only_unmet(&obs, "API-004");
    says(
        &r,
        &["answered 200 with no findings: the sparse channel still answers"],
    );
}

#[test]
fn api_004_a_delay_the_sut_waited_out_needs_no_limits() {
    let mut obs = good();
    let x = obs
        .http
        .iter_mut()
        .filter(|h| h.step == steps::SEARCH_EMBED_FAULT)
        .last()
        .unwrap();
    x.embed_fault = Some("delay:2500".into());
    x.elapsed_ms = 2600;
    let mut v: Value = serde_json::from_str(&x.body).unwrap();
    v["limits"] = json!([]);
    x.body = v.to_string();
    let r = checks::run_one("API-004", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    // Answered before the delay ended: it did not wait, so it must say so.
    let x = obs
        .http
        .iter_mut()
        .filter(|h| h.step == steps::SEARCH_EMBED_FAULT)
        .last()
        .unwrap();
    x.elapsed_ms = 1100;
    let r = checks::run_one("API-004", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Warn, "{}", r.message);
}
