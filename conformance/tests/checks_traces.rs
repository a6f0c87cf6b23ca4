//! TRC-* and LOG-*: each broken behaviour fails exactly its requirement.

mod common;

use codeintel_conformance::checks::{self, Outcome};
use codeintel_conformance::observe::{AttrValue, SpanKind, StatusCode, steps};
use common::{T_FAULT, T_MCP, T_OTHER, good, only_unmet, says, spans_named};

#[test]
fn trc_001_readyz_span_is_not_a_server_span() {
    let mut obs = good();
    for s in spans_named(&mut obs, "GET /readyz") {
        s.kind = SpanKind::Internal;
    }
    let r = only_unmet(&obs, "TRC-001");
    says(&r, &["`GET /readyz` has kind internal, expected server"]);
}

#[test]
fn trc_001_no_readyz_span_at_all() {
    let mut obs = good();
    obs.spans.retain(|s| s.name != "GET /readyz");
    let r = only_unmet(&obs, "TRC-001");
    says(&r, &["no span mentions /readyz"]);
}

#[test]
fn trc_002_a_span_outside_the_tool_trace() {
    let mut obs = good();
    for s in spans_named(&mut obs, "fuse") {
        if s.trace_id == T_MCP {
            s.trace_id = T_OTHER.into();
            s.parent_span_id = None;
        }
    }
    let r = only_unmet(&obs, "TRC-002");
    says(
        &r,
        &[&format!(
            "span `fuse` is in trace {T_OTHER}, not in the tool span's trace {T_MCP}"
        )],
    );
    assert!(
        r.evidence[0].starts_with("trace "),
        "the span tree is the evidence"
    );
}

#[test]
fn trc_002_a_detached_span_in_the_trace() {
    let mut obs = good();
    for s in spans_named(&mut obs, "hydrate") {
        if s.trace_id == T_MCP {
            s.parent_span_id = Some("deadbeefdeadbeef".into());
        }
    }
    let r = only_unmet(&obs, "TRC-002");
    says(
        &r,
        &[
            "span `hydrate`",
            "not below the tool span",
            "parent deadbeefdeadbeef was not received",
        ],
    );
}

#[test]
fn trc_002_misnamed_span_suggests_the_name() {
    let mut obs = good();
    for s in spans_named(&mut obs, "gather_channels") {
        s.name = "search.gather_channels".into();
    }
    let results = common::by_id(checks::run_all(&obs));
    let r = &results["TRC-002"];
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.message.contains(
            "no span named `gather_channels` was received (similar: `search.gather_channels`"
        ),
        "{}",
        r.message
    );
}

#[test]
fn trc_002_continued_trace_is_found_by_the_sent_trace_id() {
    let mut obs = good();
    let call = obs
        .mcp
        .iter_mut()
        .find(|m| m.step == steps::MCP_SEARCH)
        .unwrap();
    call.trace_id_sent = Some(T_MCP.into());
    // Even with the fault call's spans first in time.
    for s in obs.spans.iter_mut().filter(|s| s.trace_id == T_FAULT) {
        s.start_unix_nano -= 29_000;
    }
    let r = checks::run_one("TRC-002", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    assert!(r.message.contains(T_MCP));
}

#[test]
fn trc_002_no_tool_span() {
    let mut obs = good();
    obs.spans.retain(|s| s.name != "tools/call semantic_search");
    let r = checks::run_one("TRC-002", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.message
            .contains("no span stands for the `semantic_search` call"),
        "{}",
        r.message
    );
}

#[test]
fn trc_003_tool_span_without_mcp_method() {
    let mut obs = good();
    for s in spans_named(&mut obs, "tools/call semantic_search") {
        s.attributes.remove("mcp.method.name");
    }
    let r = only_unmet(&obs, "TRC-003");
    says(
        &r,
        &["`mcp.method.name` is missing (expected `tools/call`)"],
    );
}

#[test]
fn trc_004_no_faiss_span() {
    let mut obs = good();
    obs.spans.retain(|s| s.name != "faiss.search");
    let r = only_unmet(&obs, "TRC-004");
    says(
        &r,
        &["no FAISS span (a name starting with faiss, or db.system.name = faiss) was received"],
    );
}

#[test]
fn trc_004_embedding_span_in_another_trace() {
    let mut obs = good();
    for s in spans_named(&mut obs, "embeddings m") {
        if s.trace_id == T_MCP {
            s.trace_id = T_OTHER.into();
        }
    }
    let results = common::by_id(checks::run_all(&obs));
    let r = &results["TRC-004"];
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.message.contains(&format!(
            "the embedding span `embeddings m` is in trace {T_OTHER}"
        )),
        "{}",
        r.message
    );
}

#[test]
fn trc_005_missing_service_version() {
    let mut obs = good();
    for s in &mut obs.spans {
        s.resource.remove("service.version");
    }
    let r = only_unmet(&obs, "TRC-005");
    says(&r, &["have no service.version"]);
}

#[test]
fn trc_005_wrong_service_name() {
    let mut obs = good();
    for s in &mut obs.spans {
        s.resource.insert(
            "service.name".into(),
            AttrValue::Str("unknown_service:codeintel".into()),
        );
    }
    let r = only_unmet(&obs, "TRC-005");
    says(
        &r,
        &["service.name unknown_service:codeintel instead of \"codeintel-sut\""],
    );
}

#[test]
fn no_spans_at_all_fails_every_trace_must_naming_the_endpoint() {
    let mut obs = good();
    obs.spans.clear();
    obs.peer_errors
        .push("POST /v1/traces: protobuf did not decode".into());
    let results = common::by_id(checks::run_all(&obs));
    for id in ["TRC-001", "TRC-002", "TRC-003", "TRC-004", "TRC-005"] {
        assert_eq!(results[id].outcome, Outcome::Fail, "{id}");
        assert!(
            results[id].message.contains("no spans were received"),
            "{id}"
        );
        assert!(
            results[id].message.contains("protobuf did not decode"),
            "{id}"
        );
    }
}

#[test]
fn trc_006_failed_embed_span_without_error_status() {
    let mut obs = good();
    for s in spans_named(&mut obs, "embeddings m") {
        if s.trace_id == T_FAULT {
            s.status = StatusCode::Unset;
            s.events.clear();
        }
    }
    let r = only_unmet(&obs, "TRC-006");
    says(
        &r,
        &["status is Unset, expected Error", "no `exception` event"],
    );
}

#[test]
fn trc_006_tool_result_silent_about_the_failure() {
    let mut obs = good();
    let call = obs
        .mcp
        .iter_mut()
        .find(|m| m.step == steps::MCP_SEARCH_EMBED_FAULT)
        .unwrap();
    call.result = Some(serde_json::json!({"content": [{"type": "text", "text": "3 findings"}]}));
    let r = only_unmet(&obs, "TRC-006");
    says(&r, &["the tool result does not say what failed"]);
}

#[test]
fn trc_007_traceparent_ignored() {
    let mut obs = good();
    for s in obs
        .spans
        .iter_mut()
        .filter(|s| s.trace_id == common::T_TRACEPARENT)
    {
        s.trace_id = "77777777777777777777777777777777".into();
    }
    let r = only_unmet(&obs, "TRC-007");
    says(
        &r,
        &[&format!(
            "no span carries trace id {}",
            common::T_TRACEPARENT
        )],
    );
}

#[test]
fn trc_008_query_text_in_an_attribute() {
    let mut obs = good();
    for s in spans_named(&mut obs, "search") {
        s.attributes.insert(
            "codeintel.query".into(),
            AttrValue::Str(common::MCP_QUERY.into()),
        );
    }
    let r = only_unmet(&obs, "TRC-008");
    says(
        &r,
        &[
            "span `search` attribute `codeintel.query` holds the raw query text \"where is reciprocal rank fusion computed\"",
        ],
    );
}

#[test]
fn log_001_records_without_trace_context() {
    let mut obs = good();
    for l in &mut obs.logs {
        l.trace_id = None;
        l.span_id = None;
    }
    let r = only_unmet(&obs, "LOG-001");
    says(&r, &["carries a trace id and span id"]);
}

#[test]
fn log_001_no_records() {
    let mut obs = good();
    obs.logs.clear();
    let r = only_unmet(&obs, "LOG-001");
    says(&r, &["no log records arrived over OTLP"]);
}

// ---------------------------------------------------------------------------
// Catalog v3: verdicts a broken implementation could earn (issue 13).

#[allow(clippy::unwrap_used)] // a test helper: the fixture has the span
fn embed_span_id(obs: &codeintel_conformance::observe::Observations, trace: &str) -> String {
    obs.spans
        .iter()
        .find(|s| s.trace_id == trace && s.name == "embeddings m")
        .unwrap()
        .span_id
        .clone()
}

#[test]
fn trc_002_a_second_detached_copy_of_a_stage_breaks_one_call_one_trace() {
    // hydrate below the tool span, and another `hydrate` in the same trace
    // hanging off the SERVER span: two requests' spans in one trace.
    let mut obs = good();
    let mut stray = obs
        .spans
        .iter()
        .find(|s| s.trace_id == T_MCP && s.name == "hydrate")
        .unwrap()
        .clone();
    stray.span_id = "b1ffffffffffff01".into();
    stray.parent_span_id = Some("b100000000000001".into());
    obs.spans.push(stray);
    let r = only_unmet(&obs, "TRC-002");
    says(
        &r,
        &[
            "1 more `hydrate` span(s) in trace",
            "not below the tool span",
        ],
    );
}

#[test]
fn trc_002_two_tool_calls_in_one_trace() {
    // A long-lived trace: the fault call's spans joined the traced call's.
    let mut obs = good();
    for s in obs.spans.iter_mut().filter(|s| s.trace_id == T_FAULT) {
        s.trace_id = T_MCP.into();
    }
    let results = common::by_id(checks::run_all(&obs));
    let r = &results["TRC-002"];
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert!(
        r.message.contains("other tool call span(s)"),
        "{}",
        r.message
    );
}

#[test]
fn trc_002_the_trace_of_another_request() {
    let mut obs = good();
    let x = obs
        .http
        .iter_mut()
        .find(|h| h.step == steps::SEARCH_PLAIN)
        .unwrap();
    x.trace_id_sent = Some(T_MCP.into());
    let r = only_unmet(&obs, "TRC-002");
    says(
        &r,
        &["is also the trace the harness sent with POST /v1/search"],
    );
}

#[test]
fn trc_004_embedding_span_in_the_trace_but_not_below_the_tool_span() {
    // A new root with the same trace id (the context was half lost).
    let mut obs = good();
    for s in spans_named(&mut obs, "embeddings m") {
        if s.trace_id == T_MCP {
            s.parent_span_id = None;
        }
    }
    let r = only_unmet(&obs, "TRC-004");
    says(
        &r,
        &[
            "the embedding span `embeddings m` is in the search trace",
            "not below the tool span",
        ],
    );
}

#[test]
fn trc_004_faiss_span_hung_off_the_server_span() {
    let mut obs = good();
    for s in spans_named(&mut obs, "faiss.search") {
        if s.trace_id == T_MCP {
            s.parent_span_id = Some("b100000000000001".into());
        }
    }
    let r = only_unmet(&obs, "TRC-004");
    says(
        &r,
        &["the FAISS span `faiss.search`", "not below the tool span"],
    );
}

#[test]
fn trc_006_limits_about_something_else_do_not_say_the_embedding_failed() {
    let mut obs = good();
    let call = obs
        .mcp
        .iter_mut()
        .find(|m| m.step == steps::MCP_SEARCH_EMBED_FAULT)
        .unwrap();
    let structured = serde_json::json!({"findings": [], "limits": [{"code": "k_capped"}]});
    call.result = Some(serde_json::json!({
        "content": [{"type": "text", "text": structured.to_string()}],
        "structuredContent": structured,
    }));
    let r = only_unmet(&obs, "TRC-006");
    says(&r, &["the tool result does not say what failed"]);
}

#[test]
fn trc_008_no_span_at_all_does_not_pass() {
    let mut obs = good();
    obs.spans.clear();
    obs.logs.clear();
    let r = checks::run_one("TRC-008", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Warn, "{}", r.message);
    assert!(r.message.contains("nothing to search"), "{}", r.message);
}

#[test]
fn trc_008_query_lower_cased_into_a_span_name() {
    let mut obs = good();
    for s in spans_named(&mut obs, "sparse.search") {
        s.name = format!("sparse {}", common::MCP_QUERY.to_lowercase());
    }
    let r = only_unmet(&obs, "TRC-008");
    says(&r, &["a span name", "holds the raw query text"]);
}

#[test]
fn trc_008_query_in_another_case_in_a_status_message() {
    let mut obs = good();
    let id = embed_span_id(&obs, T_FAULT);
    let s = obs.spans.iter_mut().find(|s| s.span_id == id).unwrap();
    s.status_message = format!(
        "embedding {} failed",
        common::MCP_FAULT_QUERY.to_uppercase()
    );
    let r = only_unmet(&obs, "TRC-008");
    says(&r, &["status message holds the query text in another case"]);
}

#[test]
fn trc_008_tokenised_query_in_an_array_attribute_of_an_event() {
    let mut obs = good();
    let id = embed_span_id(&obs, T_MCP);
    let s = obs.spans.iter_mut().find(|s| s.span_id == id).unwrap();
    let tokens: Vec<AttrValue> = ["reciprocal", "rank", "fusion", "computed"]
        .iter()
        .map(|t| AttrValue::Str((*t).into()))
        .collect();
    let mut attrs = codeintel_conformance::observe::Attributes::new();
    attrs.insert("query.tokens".into(), AttrValue::Array(tokens));
    s.events.push(codeintel_conformance::observe::SpanEvent {
        name: "tokenised".into(),
        attributes: attrs,
    });
    let r = only_unmet(&obs, "TRC-008");
    says(
        &r,
        &["event `tokenised` attribute `query.tokens`", "normalised"],
    );
}

#[test]
fn trc_008_query_in_a_resource_and_in_an_exemplar() {
    let mut obs = good();
    for s in &mut obs.spans {
        s.resource.insert(
            "process.command_args".into(),
            AttrValue::Str(format!("serve --warm '{}'", common::MCP_QUERY)),
        );
    }
    let r = only_unmet(&obs, "TRC-008");
    says(&r, &["a span resource attribute `process.command_args`"]);

    let mut obs = good();
    let sc = obs.scrapes.last_mut().unwrap();
    let exemplar = format!(
        "codeintel_x_bucket{{le=\"1\"}} 1 # {{trace_id=\"ab\",q=\"{}\"}} 0.2\n",
        common::MCP_QUERY.replace(' ', "_")
    );
    sc.body.push_str(&exemplar);
    let r = checks::run_one("TRC-008", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Warn, "{}", r.message);
    assert!(r.message.contains("an exemplar"), "{}", r.message);
}

#[test]
fn trc_008_short_and_unrelated_words_are_not_leaks() {
    use codeintel_conformance::checks::traces::leaks;
    assert!(leaks("fuse", "where is reciprocal rank fusion computed").is_none());
    assert!(leaks("SELECT path FROM chunks", "open the duckdb catalog").is_none());
    assert!(leaks("sparse.search", "tantivy bm25 sparse channel").is_none());
    assert!(
        leaks("rank fusion", "reciprocal rank fusion").is_none(),
        "a part is not the query"
    );
    assert!(leaks("RECIPROCAL-RANK-FUSION", "reciprocal rank fusion").is_some());
}

#[test]
fn trc_009_malformed_ids_and_refused_exports_fail_by_name() {
    let mut obs = good();
    obs.spans[0].trace_id = "00000000000000000000000000000000".into();
    let r = only_unmet(&obs, "TRC-009");
    says(&r, &["span `GET /readyz` has a malformed trace id"]);

    let mut obs = good();
    obs.spans[1].span_id = "abcd".into();
    let results = common::by_id(checks::run_all(&obs));
    assert_eq!(results["TRC-009"].outcome, Outcome::Fail);
    assert!(results["TRC-009"].message.contains("span id `abcd`"));

    let mut obs = good();
    obs.logs[0].span_id = Some("xyz".into());
    let results = common::by_id(checks::run_all(&obs));
    assert_eq!(results["TRC-009"].outcome, Outcome::Fail);

    let mut obs = good();
    obs.peer_errors.push(
        "OTLP /v1/traces: refused a 12-byte payload (Content-Type application/x-protobuf): bad wire type"
            .into(),
    );
    let r = only_unmet(&obs, "TRC-009");
    says(&r, &["the receiver refused an export", "bad wire type"]);
}

#[test]
fn log_001_only_a_start_up_record_is_correlated() {
    let mut obs = good();
    let mut load = common::span(
        "5555555555555555555555555555555a",
        "e000000000000001",
        None,
        "index.load",
        SpanKind::Internal,
        500,
    );
    load.attributes.clear();
    obs.spans.push(load);
    obs.logs[0].trace_id = Some("5555555555555555555555555555555a".into());
    obs.logs[0].span_id = Some("e000000000000001".into());
    let mut request_log = obs.logs[0].clone();
    request_log.trace_id = None;
    request_log.span_id = None;
    request_log.body = "search answered: 10 findings".into();
    obs.logs.push(request_log);
    let r = only_unmet(&obs, "LOG-001");
    says(
        &r,
        &["carry the ids of a received span, but none of a request's trace"],
    );
}
