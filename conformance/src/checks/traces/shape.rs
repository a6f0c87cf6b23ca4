//! TRC-001 to TRC-004: the search trace's shape (SERVER spans, the pipeline's
//! stages under the tool span, the tool's attributes, embedding and FAISS spans).

use std::collections::HashMap;

use crate::checks::{CheckResult, capped};
use crate::observe::{AttrValue, Observations, SpanKind, SpanRecord, steps};

use super::{
    TOOL, ToolCall, attr_str, descends, index, is_embedding_span, is_faiss_span, is_tool_span,
    no_spans_message, render_tree, tool_call,
};

/// TRC-001: `GET /readyz` yields a SERVER span.
pub fn trc_001(obs: &Observations) -> CheckResult {
    const ID: &str = "TRC-001";
    if obs.spans.is_empty() {
        return CheckResult::fail(ID, no_spans_message(obs));
    }
    let mentions = |s: &SpanRecord| {
        s.name.contains("/readyz")
            || ["url.path", "http.route", "http.target"]
                .iter()
                .any(|k| attr_str(s, k).is_some_and(|v| v.contains("/readyz")))
    };
    if let Some(s) = obs
        .spans
        .iter()
        .find(|s| s.kind == SpanKind::Server && mentions(s))
    {
        return CheckResult::pass(ID, format!("SERVER span `{}`", s.name))
            .with_evidence([format!("{} [server] trace {}", s.name, s.trace_id)]);
    }
    if let Some(s) = obs.spans.iter().find(|s| mentions(s)) {
        return CheckResult::fail(
            ID,
            format!(
                "the /readyz span `{}` has kind {}, expected server: open HTTP request spans with \
                 SpanKind::Server",
                s.name,
                s.kind.as_str()
            ),
        );
    }
    let servers: Vec<String> = obs
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server)
        .map(|s| s.name.clone())
        .collect();
    CheckResult::fail(
        ID,
        format!(
            "no span mentions /readyz among {} span(s) received ({} server span(s)): trace every \
             HTTP request, probes included, with a SERVER span carrying url.path or http.route",
            obs.spans.len(),
            servers.len()
        ),
    )
    .with_evidence(capped(servers, 10))
}

/// TRC-002: gather_channels, fuse and hydrate below the tool span, one trace.
pub fn trc_002(obs: &Observations) -> CheckResult {
    const ID: &str = "TRC-002";
    let call = match tool_call(ID, obs, steps::MCP_SEARCH) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let tid = call.span.trace_id.as_str();
    let by_id = index(obs, tid);
    let evidence = render_tree(obs, tid);
    let mut problems = Vec::new();
    for name in ["gather_channels", "fuse", "hydrate"] {
        let named = |s: &&SpanRecord| s.name.eq_ignore_ascii_case(name);
        let in_trace: Vec<&SpanRecord> = by_id.values().copied().filter(named).collect();
        if in_trace
            .iter()
            .any(|s| descends(s, &call.span.span_id, &by_id).is_ok())
        {
            continue;
        }
        if let Some(s) = in_trace.first() {
            let why = descends(s, &call.span.span_id, &by_id)
                .err()
                .unwrap_or_default();
            problems.push(format!(
                "span `{name}` ({}) is in the tool span's trace but not below the tool span: {why}",
                s.span_id
            ));
        } else if let Some(other) = obs.spans.iter().find(|s| named(s)) {
            problems.push(format!(
                "span `{name}` is in trace {}, not in the tool span's trace {tid}: keep the \
                 call's context when the search runs (spawned tasks, thread pools)",
                other.trace_id
            ));
        } else {
            let similar: Vec<String> = obs
                .spans
                .iter()
                .filter(|s| s.name.to_ascii_lowercase().contains(name))
                .map(|s| format!("`{}`", s.name))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let hint = if similar.is_empty() {
                String::new()
            } else {
                format!(
                    " (similar: {}; name it exactly `{name}`)",
                    similar.join(", ")
                )
            };
            problems.push(format!("no span named `{name}` was received{hint}"));
        }
    }
    problems.extend(one_trace_problems(obs, &call, &by_id));
    if problems.is_empty() {
        CheckResult::pass(
            ID,
            format!(
                "gather_channels, fuse and hydrate below `{}` in trace {tid}, a trace of this \
                 call alone",
                call.span.name
            ),
        )
        .with_evidence(evidence)
    } else {
        CheckResult::fail(ID, problems.join("; ")).with_evidence(evidence)
    }
}

/// Stage spans whose every copy in the call's trace must sit below its tool
/// span.
pub(super) const STAGES: [&str; 3] = ["gather_channels", "fuse", "hydrate"];

/// What makes the call's trace not "one call, one trace": another tool call
/// in it, another request's trace id, or a stage span of the trace outside
/// the call's tool span (a shared or long-lived trace).
pub(super) fn one_trace_problems(
    obs: &Observations,
    call: &ToolCall<'_>,
    by_id: &HashMap<String, &SpanRecord>,
) -> Vec<String> {
    let tid = call.span.trace_id.as_str();
    let mut problems = Vec::new();
    let other_tools: Vec<&SpanRecord> = by_id
        .values()
        .copied()
        .filter(|s| {
            is_tool_span(s)
                && s.span_id != call.span.span_id
                && descends(s, &call.span.span_id, by_id).is_err()
                && descends(call.span, &s.span_id, by_id).is_err()
        })
        .collect();
    if let Some(other) = other_tools.first() {
        problems.push(format!(
            "trace {tid} holds {} other tool call span(s) besides this call's (e.g. `{}` {}): \
             each call must be its own trace, not share a long-lived or global one",
            other_tools.len(),
            other.name,
            other.span_id
        ));
    }
    let shared_with: Vec<String> = obs
        .http
        .iter()
        .filter(|h| h.trace_id_sent.as_deref() == Some(tid))
        .map(|h| format!("{} {} ({})", h.method, h.path, h.step))
        .chain(
            obs.mcp
                .iter()
                .filter(|m| {
                    !std::ptr::eq(*m, call.exchange) && m.trace_id_sent.as_deref() == Some(tid)
                })
                .map(|m| format!("{} ({})", m.method, m.step)),
        )
        .collect();
    if let Some(first) = shared_with.first() {
        problems.push(format!(
            "trace {tid} is also the trace the harness sent with {first}: spans of another \
             request joined this call's trace"
        ));
    }
    for name in STAGES {
        let stray: Vec<&SpanRecord> = by_id
            .values()
            .copied()
            .filter(|s| s.name.eq_ignore_ascii_case(name))
            .filter(|s| descends(s, &call.span.span_id, by_id).is_err())
            .collect();
        let below = by_id.values().any(|s| {
            s.name.eq_ignore_ascii_case(name) && descends(s, &call.span.span_id, by_id).is_ok()
        });
        if below && let Some(s) = stray.first() {
            let why = descends(s, &call.span.span_id, by_id)
                .err()
                .unwrap_or_default();
            problems.push(format!(
                "{} more `{name}` span(s) in trace {tid} are not below the tool span (first \
                 {}: {why}): one call, one trace, every stage below its tool span",
                stray.len(),
                s.span_id
            ));
        }
    }
    problems
}

/// TRC-003: the tool span names the tool and the MCP method.
pub fn trc_003(obs: &Observations) -> CheckResult {
    const ID: &str = "TRC-003";
    let call = match tool_call(ID, obs, steps::MCP_SEARCH) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let s = call.span;
    let evidence: Vec<String> = s
        .attributes
        .iter()
        .map(|(k, v)| format!("{}: {k} = {v}", s.name))
        .collect();
    let mut problems = Vec::new();
    for (key, want) in [
        ("gen_ai.tool.name", TOOL),
        ("mcp.method.name", "tools/call"),
    ] {
        match s.attributes.get(key) {
            Some(AttrValue::Str(v)) if v == want => {}
            Some(other) => problems.push(format!("`{key}` is `{other}`, expected `{want}`")),
            None => problems.push(format!("`{key}` is missing (expected `{want}`)")),
        }
    }
    if problems.is_empty() {
        CheckResult::pass(
            ID,
            format!("`{}` carries gen_ai.tool.name and mcp.method.name", s.name),
        )
        .with_evidence(evidence)
    } else {
        CheckResult::fail(
            ID,
            format!("on the tool span `{}`: {}", s.name, problems.join("; ")),
        )
        .with_evidence(evidence)
    }
}

/// A predicate on spans.
pub(super) type SpanTest = fn(&SpanRecord) -> bool;

/// TRC-004: an embedding span and a FAISS span in the search trace.
pub fn trc_004(obs: &Observations) -> CheckResult {
    const ID: &str = "TRC-004";
    let call = match tool_call(ID, obs, steps::MCP_SEARCH) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let tid = call.span.trace_id.as_str();
    let evidence = render_tree(obs, tid);
    let mut problems = Vec::new();
    let kinds: [(&str, SpanTest, &str); 2] = [
        (
            "embedding span",
            is_embedding_span,
            "gen_ai.operation.name = embeddings",
        ),
        (
            "FAISS span",
            is_faiss_span,
            "a name starting with faiss, or db.system.name = faiss",
        ),
    ];
    let mut found = Vec::new();
    let by_id = index(obs, tid);
    let tool = call.span.span_id.as_str();
    for (what, pred, how) in kinds {
        let in_trace: Vec<&SpanRecord> = obs.trace(tid).filter(|s| pred(s)).collect();
        if let Some(s) = in_trace.iter().find(|s| descends(s, tool, &by_id).is_ok()) {
            found.push(format!("{what} `{}`", s.name));
        } else if let Some(s) = in_trace.first() {
            let why = descends(s, tool, &by_id).err().unwrap_or_default();
            problems.push(format!(
                "the {what} `{}` is in the search trace {tid} but not below the tool span `{}`: \
                 {why}",
                s.name, call.span.name
            ));
        } else if let Some(s) = obs.spans.iter().find(|s| pred(s)) {
            problems.push(format!(
                "the {what} `{}` is in trace {}, not in the search trace {tid}",
                s.name, s.trace_id
            ));
        } else {
            problems.push(format!("no {what} ({how}) was received"));
        }
    }
    if problems.is_empty() {
        CheckResult::pass(
            ID,
            format!(
                "{} below `{}` in trace {tid}",
                found.join(" and "),
                call.span.name
            ),
        )
        .with_evidence(evidence)
    } else {
        CheckResult::fail(ID, problems.join("; ")).with_evidence(evidence)
    }
}
