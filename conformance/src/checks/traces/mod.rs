//! TRC-*: spans received over OTLP (or from the in-memory exporter).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::{CheckResult, capped, excerpt};
use crate::observe::{AttrValue, McpExchange, Observations, SpanRecord, StatusCode};

mod context;
mod query_text;
mod shape;
pub use context::*;
pub use query_text::*;
pub use shape::*;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::SpanKind;

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
