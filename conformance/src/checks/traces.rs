//! TRC-*: spans received over OTLP (or from the in-memory exporter).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::{
    CheckResult, capped, excerpt, limits_name_dense, limits_of, query_texts, tool_result_json,
    tool_result_texts,
};
use crate::observe::{
    AttrValue, McpExchange, Observations, SpanKind, SpanRecord, StatusCode, steps,
};

/// The tool the traced calls use.
pub const TOOL: &str = "semantic_search";

/// Value of string attribute `key`.
pub fn attr_str<'a>(s: &'a SpanRecord, key: &str) -> Option<&'a str> {
    s.attributes.get(key).and_then(AttrValue::as_str)
}

/// A span of a `semantic_search` tool call.
pub fn is_tool_span(s: &SpanRecord) -> bool {
    s.name == format!("tools/call {TOOL}") || attr_str(s, "gen_ai.tool.name") == Some(TOOL)
}

/// An embedding span: `gen_ai.operation.name` = `embeddings`.
pub fn is_embedding_span(s: &SpanRecord) -> bool {
    attr_str(s, "gen_ai.operation.name") == Some("embeddings")
}

/// A FAISS span: named `faiss…`, or `db.system.name`/`db.system` = `faiss`.
pub fn is_faiss_span(s: &SpanRecord) -> bool {
    s.name.to_ascii_lowercase().starts_with("faiss")
        || ["db.system.name", "db.system"]
            .iter()
            .any(|k| attr_str(s, k).is_some_and(|v| v.eq_ignore_ascii_case("faiss")))
}

fn no_spans_message(obs: &Observations) -> String {
    let mut msg = "no spans were received: export traces over OTLP/HTTP to \
                   OTEL_EXPORTER_OTLP_ENDPOINT"
        .to_owned();
    if !obs.peer_errors.is_empty() {
        let _ = write!(
            msg,
            " (the receiver rejected payloads: {})",
            excerpt(&obs.peer_errors.join("; "), 200)
        );
    }
    msg
}

/// The spans of one trace by span id.
fn index<'a>(obs: &'a Observations, trace_id: &'a str) -> HashMap<String, &'a SpanRecord> {
    obs.trace(trace_id)
        .map(|s| (s.span_id.clone(), s))
        .collect()
}

/// Whether `span` reaches `ancestor` through `parent_span_id`; otherwise
/// where the chain stops.
fn descends(
    span: &SpanRecord,
    ancestor: &str,
    by_id: &HashMap<String, &SpanRecord>,
) -> Result<(), String> {
    let mut cur = span;
    let mut seen = HashSet::new();
    loop {
        let Some(parent) = cur.parent_span_id.as_deref() else {
            return Err(format!("its chain ends at root span `{}`", cur.name));
        };
        if parent == ancestor {
            return Ok(());
        }
        if !seen.insert(parent.to_owned()) {
            return Err("its parent chain loops".to_owned());
        }
        match by_id.get(parent) {
            Some(next) => cur = next,
            None => {
                return Err(format!(
                    "its chain stops at `{}`, whose parent {parent} was not received",
                    cur.name
                ));
            }
        }
    }
}

/// The trace as an indented tree, children by start time.
pub fn render_tree(obs: &Observations, trace_id: &str) -> Vec<String> {
    let mut spans: Vec<&SpanRecord> = obs.trace(trace_id).collect();
    spans.sort_by_key(|s| (s.start_unix_nano, s.span_id.clone()));
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: HashMap<&str, Vec<&SpanRecord>> = HashMap::new();
    let mut roots = Vec::new();
    for &s in &spans {
        match s.parent_span_id.as_deref() {
            Some(p) if ids.contains(p) => children.entry(p).or_default().push(s),
            _ => roots.push(s),
        }
    }
    let mut out = vec![format!("trace {trace_id}")];
    let mut visited = HashSet::new();
    let mut stack: Vec<(&SpanRecord, usize)> = roots.iter().rev().map(|s| (*s, 1)).collect();
    while let Some((s, depth)) = stack.pop() {
        if !visited.insert(s.span_id.as_str()) {
            continue;
        }
        let mut line = format!(
            "{}{} [{}] {}",
            "  ".repeat(depth),
            s.name,
            s.kind.as_str(),
            s.span_id
        );
        if s.status == StatusCode::Error {
            line.push_str(" ERROR");
        }
        if let Some(p) = s.parent_span_id.as_deref()
            && !ids.contains(p)
        {
            let _ = write!(line, " (parent {p} not in this trace)");
        }
        out.push(line);
        if let Some(kids) = children.get(s.span_id.as_str()) {
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
        }
    }
    capped(out, 60)
}

/// One tool call of the drive and the span that stands for it.
struct ToolCall<'a> {
    exchange: &'a McpExchange,
    span: &'a SpanRecord,
}

/// Top-level tool spans (no tool span above them in their trace), one per
/// trace, by start time.
fn top_tool_spans(obs: &Observations) -> Vec<&SpanRecord> {
    let mut tops: Vec<&SpanRecord> = Vec::new();
    let mut traces: HashMap<&str, HashMap<String, &SpanRecord>> = HashMap::new();
    for s in obs.spans.iter().filter(|s| is_tool_span(s)) {
        let by_id = traces
            .entry(s.trace_id.as_str())
            .or_insert_with(|| index(obs, &s.trace_id));
        let mut cur = s;
        let mut nested = false;
        let mut guard = 0;
        while let Some(p) = cur.parent_span_id.as_deref().and_then(|p| by_id.get(p)) {
            if is_tool_span(p) {
                nested = true;
                break;
            }
            cur = *p;
            guard += 1;
            if guard > 256 {
                break;
            }
        }
        if !nested {
            tops.push(s);
        }
    }
    tops.sort_by_key(|s| (s.start_unix_nano, s.span_id.clone()));
    let mut seen = HashSet::new();
    tops.retain(|s| seen.insert(s.trace_id.clone()));
    tops
}

/// The `semantic_search` call of `step` and its tool span.
fn tool_call<'a>(
    id: &str,
    obs: &'a Observations,
    step: &'a str,
) -> Result<ToolCall<'a>, CheckResult> {
    let is_call = |m: &McpExchange| m.method == "tools/call" && m.tool.as_deref() == Some(TOOL);
    let Some(exchange) = obs.mcp_at(step).find(|m| is_call(m)) else {
        return Err(CheckResult::error(
            id,
            format!("the drive made no `{TOOL}` call at step `{step}`"),
        ));
    };
    if obs.spans.is_empty() {
        return Err(CheckResult::fail(id, no_spans_message(obs)));
    }
    if let Some(tid) = exchange.trace_id_sent.as_deref()
        && let Some(span) = obs
            .trace(tid)
            .filter(|s| is_tool_span(s))
            .min_by_key(|s| s.start_unix_nano)
    {
        return Ok(ToolCall { exchange, span });
    }
    let ordinal = obs
        .mcp
        .iter()
        .filter(|m| is_call(m))
        .position(|m| std::ptr::eq(m, exchange))
        .unwrap_or(0);
    let tops = top_tool_spans(obs);
    match tops.get(ordinal) {
        Some(span) => Ok(ToolCall { exchange, span }),
        None => Err(CheckResult::fail(
            id,
            format!(
                "no span stands for the `{TOOL}` call at `{step}` (call #{} of the run, {} tool \
                 span(s) received): open a span named `tools/call {TOOL}` with gen_ai.tool.name \
                 for every tool call",
                ordinal + 1,
                tops.len()
            ),
        )
        .with_evidence(capped(
            obs.spans
                .iter()
                .map(|s| format!("{} [{}] trace {}", s.name, s.kind.as_str(), s.trace_id)),
            20,
        ))),
    }
}

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
const STAGES: [&str; 3] = ["gather_channels", "fuse", "hydrate"];

/// What makes the call's trace not "one call, one trace": another tool call
/// in it, another request's trace id, or a stage span of the trace outside
/// the call's tool span (a shared or long-lived trace).
fn one_trace_problems(
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
type SpanTest = fn(&SpanRecord) -> bool;

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

fn result_names_failure(x: &McpExchange) -> bool {
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

/// Words a normalised query text may lose without hiding it (a leak that
/// drops them is still a leak).
const STOP_WORDS: [&str; 24] = [
    "a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "is", "are", "how", "what",
    "where", "which", "when", "who", "with", "by", "at", "be", "do", "does",
];

/// Lower-cased alphanumeric tokens of `text`, stop words dropped: the form a
/// query keeps when an implementation lower-cases or tokenises it.
pub fn query_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

/// How `haystack` holds `query`: its raw text (any case), or its tokens in
/// order (lower-cased, tokenised, stop words dropped; two tokens or more).
pub fn leaks(haystack: &str, query: &str) -> Option<&'static str> {
    if haystack.contains(query) {
        return Some("the raw query text");
    }
    if haystack.to_lowercase().contains(&query.to_lowercase()) {
        return Some("the query text in another case");
    }
    let q = query_tokens(query);
    if q.len() < 2 {
        return None;
    }
    let h = query_tokens(haystack);
    h.windows(q.len())
        .any(|w| w == q.as_slice())
        .then_some("the query's words, normalised (lower-cased or tokenised)")
}

/// The text of an attribute value (array items joined by spaces).
fn value_text(v: &AttrValue) -> Option<String> {
    match v {
        AttrValue::Str(s) => Some(s.clone()),
        AttrValue::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(value_text).collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        }
        _ => None,
    }
}

/// Every text the telemetry carries, each with where it was found: span
/// names, status messages, attributes, events, resources, scopes; log
/// bodies, attributes and resources; exemplars of the scrapes.
fn telemetry_texts(obs: &Observations) -> Vec<(String, String)> {
    fn attrs(out: &mut Vec<(String, String)>, owner: &str, map: &crate::observe::Attributes) {
        for (k, v) in map {
            if let Some(t) = value_text(v) {
                out.push((format!("{owner} attribute `{k}`"), t));
            }
        }
    }
    let mut out: Vec<(String, String)> = Vec::new();
    let mut resources_seen = HashSet::new();
    for s in &obs.spans {
        let owner = format!("span `{}`", excerpt(&s.name, 60));
        out.push((
            format!("a span name (`{}`)", excerpt(&s.name, 60)),
            s.name.clone(),
        ));
        if !s.status_message.is_empty() {
            out.push((format!("{owner} status message"), s.status_message.clone()));
        }
        attrs(&mut out, &owner, &s.attributes);
        for e in &s.events {
            out.push((format!("{owner} event name"), e.name.clone()));
            attrs(
                &mut out,
                &format!("{owner} event `{}`", e.name),
                &e.attributes,
            );
        }
        let key = format!("{:?}|{}", s.resource, s.scope);
        if resources_seen.insert(key) {
            attrs(&mut out, "a span resource", &s.resource);
            out.push(("a span's instrumentation scope".to_owned(), s.scope.clone()));
        }
    }
    for l in &obs.logs {
        out.push(("a log record's body".to_owned(), l.body.clone()));
        attrs(&mut out, "a log record's", &l.attributes);
        let key = format!("{:?}", l.resource);
        if resources_seen.insert(key) {
            attrs(&mut out, "a log resource", &l.resource);
        }
    }
    for sc in &obs.scrapes {
        for line in sc.body.lines() {
            if let Some((_, exemplar)) = line.split_once(" # {") {
                out.push((
                    format!("an exemplar in the `{}` scrape", sc.step),
                    exemplar.to_owned(),
                ));
            }
        }
    }
    out
}

/// TRC-008: no raw query text in the telemetry.
pub fn trc_008(obs: &Observations) -> CheckResult {
    const ID: &str = "TRC-008";
    let queries = query_texts(obs);
    if queries.is_empty() {
        return CheckResult::skip(
            ID,
            "the harness recorded no query text of 8 characters or more",
        );
    }
    if obs.spans.is_empty() {
        return CheckResult::fail(
            ID,
            format!(
                "{}: with no span there is nothing to search for query text, so the requirement \
                 is not shown to hold ({} log record(s) were received)",
                no_spans_message(obs),
                obs.logs.len()
            ),
        );
    }
    let texts = telemetry_texts(obs);
    let mut hits = Vec::new();
    for (where_, text) in &texts {
        if let Some((q, how)) = queries
            .iter()
            .find_map(|q| leaks(text, q).map(|how| (q, how)))
        {
            hits.push(format!(
                "{where_} holds {how} \"{}\" (in \"{}\")",
                excerpt(q, 60),
                excerpt(text, 100)
            ));
        }
    }
    if hits.is_empty() {
        CheckResult::pass(
            ID,
            format!(
                "none of {} query text(s), raw or normalised, appears in {} span(s), {} log \
                 record(s) or the scrapes' exemplars ({} texts searched)",
                queries.len(),
                obs.spans.len(),
                obs.logs.len(),
                texts.len()
            ),
        )
    } else {
        CheckResult::fail(
            ID,
            format!(
                "{}{}: record a hash or the length of the query, not its text (nor its words)",
                hits[0],
                if hits.len() > 1 {
                    format!(" (and {} more)", hits.len() - 1)
                } else {
                    String::new()
                }
            ),
        )
        .with_evidence(capped(hits, 12))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: &str, id: &str, parent: Option<&str>, name: &str, start: u64) -> SpanRecord {
        SpanRecord {
            trace_id: trace.into(),
            span_id: id.into(),
            parent_span_id: parent.map(Into::into),
            name: name.into(),
            start_unix_nano: start,
            ..SpanRecord::default()
        }
    }

    #[test]
    fn tree_indents_children_and_marks_detached_parents() {
        let obs = Observations {
            spans: vec![
                span("t", "a", None, "root", 1),
                span("t", "b", Some("a"), "child", 2),
                span("t", "c", Some("zzzz"), "orphan", 3),
            ],
            ..Observations::default()
        };
        let tree = render_tree(&obs, "t");
        assert_eq!(
            tree,
            vec![
                "trace t",
                "  root [unspecified] a",
                "    child [unspecified] b",
                "  orphan [unspecified] c (parent zzzz not in this trace)",
            ]
        );
    }

    #[test]
    fn descends_names_where_the_chain_stops() {
        let spans = [
            span("t", "a", None, "tool", 1),
            span("t", "b", Some("x"), "fuse", 2),
            span("t", "c", None, "hydrate", 2),
        ];
        let by_id: HashMap<String, &SpanRecord> =
            spans.iter().map(|s| (s.span_id.clone(), s)).collect();
        assert!(
            descends(&spans[1], "a", &by_id)
                .unwrap_err()
                .contains("parent x was not received")
        );
        assert!(
            descends(&spans[2], "a", &by_id)
                .unwrap_err()
                .contains("root span `hydrate`")
        );
    }

    #[test]
    fn nested_tool_spans_count_once_per_trace() {
        let mut outer = span("t", "a", None, "tools/call semantic_search", 1);
        outer.kind = SpanKind::Server;
        let mut inner = span("t", "b", Some("a"), "semantic_search", 2);
        inner
            .attributes
            .insert("gen_ai.tool.name".into(), AttrValue::Str(TOOL.into()));
        let other = span("u", "c", None, "tools/call semantic_search", 0);
        let obs = Observations {
            spans: vec![outer, inner, other],
            ..Observations::default()
        };
        let tops: Vec<&str> = top_tool_spans(&obs)
            .iter()
            .map(|s| s.span_id.as_str())
            .collect();
        assert_eq!(tops, vec!["c", "a"]);
    }
}
