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
            "span `search` attribute `codeintel.query` holds \"where is reciprocal rank fusion computed\"",
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
