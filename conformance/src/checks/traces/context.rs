//! TRC-005 to TRC-007 and TRC-009: the resource, error status on failed embed
//! calls, W3C trace context continued, valid trace and span ids.

use crate::checks::{
    CheckResult, capped, excerpt, limits_name_dense, limits_of, tool_result_json, tool_result_texts,
};
use crate::observe::{AttrValue, McpExchange, Observations, SpanRecord, StatusCode, steps};

use super::{is_embedding_span, no_spans_message, render_tree, tool_call};

/// TRC-005: every span's resource names the service and its version.
pub fn trc_005(obs: &Observations) -> CheckResult {
    const ID: &str = "TRC-005";
    if obs.spans.is_empty() {
        return CheckResult::fail(ID, no_spans_message(obs));
    }
    let expected = obs.sut.service_name.as_str();
    if expected.is_empty() {
        return CheckResult::error(
            ID,
            "the harness recorded no OTEL_SERVICE_NAME to compare with",
        );
    }
    let mut resources: Vec<(String, String, usize)> = Vec::new();
    let mut bad_name = 0;
    let mut bad_version = 0;
    for s in &obs.spans {
        let name = s
            .resource
            .get("service.name")
            .map_or_else(|| "(none)".to_owned(), ToString::to_string);
        let version = s
            .resource
            .get("service.version")
            .and_then(AttrValue::as_str)
            .unwrap_or("");
        if name != expected {
            bad_name += 1;
        }
        if version.is_empty() {
            bad_version += 1;
        }
        let version = if version.is_empty() {
            "(none)"
        } else {
            version
        };
        match resources
            .iter_mut()
            .find(|(n, v, _)| *n == name && v == version)
        {
            Some(entry) => entry.2 += 1,
            None => resources.push((name, version.to_owned(), 1)),
        }
    }
    let evidence: Vec<String> = resources
        .iter()
        .map(|(n, v, c)| format!("service.name={n} service.version={v}: {c} span(s)"))
        .collect();
    let mut problems = Vec::new();
    if bad_name > 0 {
        let names: Vec<&str> = resources
            .iter()
            .filter(|(n, _, _)| n != expected)
            .map(|(n, _, _)| n.as_str())
            .collect();
        problems.push(format!(
            "{bad_name} of {} span(s) have service.name {} instead of \"{expected}\" \
             (OTEL_SERVICE_NAME)",
            obs.spans.len(),
            names.join(", ")
        ));
    }
    if bad_version > 0 {
        problems.push(format!(
            "{bad_version} of {} span(s) have no service.version: set it on the resource (e.g. \
             the crate or package version)",
            obs.spans.len()
        ));
    }
    if problems.is_empty() {
        CheckResult::pass(
            ID,
            format!(
                "{} span(s) with service.name \"{expected}\" and a service.version",
                obs.spans.len()
            ),
        )
        .with_evidence(evidence)
    } else {
        CheckResult::fail(ID, problems.join("; ")).with_evidence(evidence)
    }
}

/// TRC-006: a failed embed call is an ERROR span with an exception, and the
/// tool result says what failed.
pub fn trc_006(obs: &Observations) -> CheckResult {
    const ID: &str = "TRC-006";
    let call = match tool_call(ID, obs, steps::MCP_SEARCH_EMBED_FAULT) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let tid = call.span.trace_id.as_str();
    let mut evidence = render_tree(obs, tid);
    let mut problems = Vec::new();
    let embeds: Vec<&SpanRecord> = obs.trace(tid).filter(|s| is_embedding_span(s)).collect();
    let good = embeds
        .iter()
        .find(|s| s.status == StatusCode::Error && s.events.iter().any(|e| e.name == "exception"));
    match (good, embeds.first()) {
        (Some(_), _) => {}
        (None, None) => problems.push(format!(
            "no embedding span (gen_ai.operation.name = embeddings) in the failed call's trace \
             {tid}"
        )),
        (None, Some(s)) => {
            let mut what = Vec::new();
            if s.status != StatusCode::Error {
                what.push(format!("status is {:?}, expected Error", s.status));
            }
            if !s.events.iter().any(|e| e.name == "exception") {
                what.push("no `exception` event".to_owned());
            }
            problems.push(format!(
                "the embedding span `{}` of the failed call: {}: record the error on the span",
                s.name,
                what.join(", ")
            ));
        }
    }
    let result_says = result_names_failure(call.exchange);
    if let Some(result) = &call.exchange.result {
        evidence.push(format!(
            "tool result: {}",
            excerpt(&result.to_string(), 300)
        ));
    }
    if !result_says {
        problems.push(
            "the tool result does not say what failed (no isError, no `limits` entry naming the \
             dense channel or the embedding, no mention of the embedding failure)"
                .to_owned(),
        );
    }
    if problems.is_empty() {
        CheckResult::pass(
            ID,
            "the embedding span is ERROR with an exception event; the tool result says what failed",
        )
        .with_evidence(evidence)
    } else {
        CheckResult::fail(ID, problems.join("; ")).with_evidence(evidence)
    }
}

pub(super) fn result_names_failure(x: &McpExchange) -> bool {
    if x.is_error {
        return true;
    }
    let Some(result) = &x.result else {
        return false;
    };
    if result.get("isError").and_then(serde_json::Value::as_bool) == Some(true) {
        return true;
    }
    if tool_result_json(result)
        .as_ref()
        .and_then(limits_of)
        .is_some_and(|l| limits_name_dense(l))
    {
        return true;
    }
    tool_result_texts(result).iter().any(|t| {
        let t = t.to_ascii_lowercase();
        t.contains("embed")
            && [
                "fail",
                "error",
                "unavailable",
                "timeout",
                "timed out",
                "down",
                "500",
            ]
            .iter()
            .any(|w| t.contains(w))
    })
}

/// TRC-007: an incoming traceparent is continued.
pub fn trc_007(obs: &Observations) -> CheckResult {
    const ID: &str = "TRC-007";
    let Some(x) = obs
        .http_at(steps::SEARCH_TRACEPARENT)
        .find(|h| h.trace_id_sent.is_some())
    else {
        return CheckResult::error(ID, "the drive sent no request with a traceparent");
    };
    let tid = x.trace_id_sent.as_deref().unwrap_or_default();
    let spans: Vec<&SpanRecord> = obs.trace(tid).collect();
    if spans.is_empty() {
        let msg = if obs.spans.is_empty() {
            no_spans_message(obs)
        } else {
            format!(
                "no span carries trace id {tid}, sent in the traceparent of {} {}: extract the \
                 W3C trace context from incoming requests",
                x.method, x.path
            )
        };
        return CheckResult::fail(ID, msg);
    }
    let evidence = render_tree(obs, tid);
    let parent = x.parent_span_id_sent.as_deref();
    let child = spans
        .iter()
        .find(|s| parent.is_some() && s.parent_span_id.as_deref() == parent);
    let msg = match (child, parent) {
        (Some(s), Some(p)) => format!(
            "trace {tid} continued; `{}` has the sent parent {p}",
            s.name
        ),
        (None, Some(p)) => format!(
            "trace {tid} continued ({} span(s)), though none has the sent parent {p}",
            spans.len()
        ),
        _ => format!("trace {tid} continued ({} span(s))", spans.len()),
    };
    CheckResult::pass(ID, msg).with_evidence(evidence)
}

/// Whether `id` is `len` lowercase hex digits, not all zero (a valid W3C /
/// OTLP trace or span id).
pub fn valid_id(id: &str, len: usize) -> bool {
    id.len() == len
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && id.bytes().any(|b| b != b'0')
}

/// TRC-009: every OTLP export decodes, and every span and log record carries
/// well-formed ids.
pub fn trc_009(obs: &Observations) -> CheckResult {
    const ID: &str = "TRC-009";
    let mut problems: Vec<String> = obs
        .peer_errors
        .iter()
        .map(|e| format!("the receiver refused an export: {}", excerpt(e, 200)))
        .collect();
    for s in &obs.spans {
        let mut bad = Vec::new();
        if !valid_id(&s.trace_id, 32) {
            bad.push(format!("trace id `{}`", excerpt(&s.trace_id, 40)));
        }
        if !valid_id(&s.span_id, 16) {
            bad.push(format!("span id `{}`", excerpt(&s.span_id, 40)));
        }
        if let Some(p) = s.parent_span_id.as_deref()
            && !valid_id(p, 16)
        {
            bad.push(format!("parent span id `{}`", excerpt(p, 40)));
        }
        if !bad.is_empty() {
            problems.push(format!(
                "span `{}` has a malformed {} (trace ids are 16 bytes, span ids 8, not all zero)",
                excerpt(&s.name, 60),
                bad.join(", ")
            ));
        }
    }
    for l in &obs.logs {
        let trace_ok = l.trace_id.as_deref().is_none_or(|t| valid_id(t, 32));
        let span_ok = l.span_id.as_deref().is_none_or(|t| valid_id(t, 16));
        if !trace_ok || !span_ok {
            problems.push(format!(
                "log record \"{}\" has a malformed trace id `{}` or span id `{}`",
                excerpt(&l.body, 60),
                l.trace_id.as_deref().unwrap_or("-"),
                l.span_id.as_deref().unwrap_or("-")
            ));
        }
    }
    if !problems.is_empty() {
        let n = problems.len();
        return CheckResult::fail(
            ID,
            format!(
                "{}{}: export OTLP the collector can read (valid protobuf or JSON, valid ids)",
                problems[0],
                if n > 1 {
                    format!(" (and {} more)", n - 1)
                } else {
                    String::new()
                }
            ),
        )
        .with_evidence(capped(problems, 12));
    }
    if obs.spans.is_empty() {
        return CheckResult::fail(ID, no_spans_message(obs));
    }
    CheckResult::pass(
        ID,
        format!(
            "every export decoded; {} span(s) and {} log record(s) with well-formed ids",
            obs.spans.len(),
            obs.logs.len()
        ),
    )
}
