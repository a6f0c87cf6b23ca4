//! Pure rewrites of what an implementation emits: Prometheus expositions,
//! JSON answers, OTLP trace exports and in-memory span records. Each
//! [`super::Operator`] is a composition of these.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use serde_json::Value;

use crate::observe::{AttrValue, SpanKind, SpanRecord};

/// The metric name of an exposition line (`# HELP name …` and `# TYPE name …`
/// included); `None` for other comments and blank lines.
pub fn metric_name(line: &str) -> Option<&str> {
    let rest = match line.strip_prefix('#') {
        Some(comment) => {
            let comment = comment.trim_start();
            let rest = comment
                .strip_prefix("HELP ")
                .or_else(|| comment.strip_prefix("TYPE "))
                .or_else(|| comment.strip_prefix("UNIT "))?;
            rest.trim_start()
        }
        None => line,
    };
    let end = rest.find(['{', ' ', '\t']).unwrap_or(rest.len());
    let name = &rest[..end];
    (!name.is_empty()).then_some(name)
}

/// Whether `name` belongs to the family `base` (`base`, `base_bucket`,
/// `base_sum`, `base_count`, `base_created`, `base_total`).
pub fn in_family(name: &str, base: &str) -> bool {
    name == base
        || name
            .strip_prefix(base)
            .is_some_and(|s| ["_bucket", "_sum", "_count", "_created", "_total"].contains(&s))
}

/// Apply `f` to every line of family `base` (`None` drops the line); other
/// lines are kept as they are.
pub fn map_family(body: &str, base: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(body.len());
    for line in body.lines() {
        let mapped = match metric_name(line) {
            Some(name) if in_family(name, base) => f(line),
            _ => Some(line.to_owned()),
        };
        if let Some(l) = mapped {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// The labels of a sample line as (name, raw quoted value) pairs, and the
/// byte range of the `{…}` block; `None` without labels.
/// Label pairs (name, raw quoted value) and the byte range of `{…}`.
type Labels = (Vec<(String, String)>, usize, usize);

fn labels(line: &str) -> Option<Labels> {
    if line.starts_with('#') {
        return None;
    }
    let open = line.find('{')?;
    let bytes = line.as_bytes();
    let mut pairs = Vec::new();
    let mut i = open + 1;
    loop {
        while i < bytes.len() && (bytes[i] == b',' || bytes[i] == b' ') {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        if bytes[i] == b'}' {
            return Some((pairs, open, i + 1));
        }
        let eq = i + line[i..].find('=')?;
        let key = line[i..eq].trim().to_owned();
        let start = eq + 1;
        if bytes.get(start) != Some(&b'"') {
            return None;
        }
        let mut j = start + 1;
        while j < bytes.len() && bytes[j] != b'"' {
            if bytes[j] == b'\\' {
                j += 1;
            }
            j += 1;
        }
        if j >= bytes.len() {
            return None;
        }
        pairs.push((key, line[start..=j].to_owned()));
        i = j + 1;
    }
}

fn with_labels(line: &str, f: impl FnOnce(&mut Vec<(String, String)>)) -> String {
    let Some((mut pairs, open, close)) = labels(line) else {
        return line.to_owned();
    };
    f(&mut pairs);
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let block = if inner.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", inner.join(","))
    };
    format!("{}{block}{}", &line[..open], &line[close..])
}

/// `line` without label `name`.
pub fn drop_label(line: &str, name: &str) -> String {
    with_labels(line, |pairs| pairs.retain(|(k, _)| k != name))
}

/// A `_bucket` line with its `le` bound multiplied by `factor` (`+Inf` kept).
pub fn scale_le(line: &str, factor: f64) -> String {
    with_labels(line, |pairs| {
        for (k, v) in pairs.iter_mut() {
            if k == "le"
                && let Ok(bound) = v.trim_matches('"').parse::<f64>()
                && bound.is_finite()
            {
                *v = format!("\"{}\"", bound * factor);
            }
        }
    })
}

/// A sample line with its value multiplied by `factor`.
pub fn scale_value(line: &str, factor: f64) -> String {
    if line.starts_with('#') {
        return line.to_owned();
    }
    let after_labels = labels(line).map_or_else(|| line.find(' ').unwrap_or(0), |(_, _, c)| c);
    let rest = &line[after_labels..];
    let mut parts = rest.split_whitespace();
    let Some(value) = parts.next().and_then(|v| v.parse::<f64>().ok()) else {
        return line.to_owned();
    };
    let tail: Vec<&str> = parts.collect();
    let mut out = format!("{} {}", &line[..after_labels], value * factor);
    for t in tail {
        out.push(' ');
        out.push_str(t);
    }
    out
}

/// `body` with the family `from` renamed `to` (HELP/TYPE lines included).
pub fn rename_family(body: &str, from: &str, to: &str) -> String {
    map_family(body, from, |line| {
        Some(match line.find(from) {
            Some(at) => format!("{}{to}{}", &line[..at], &line[at + from.len()..]),
            None => line.to_owned(),
        })
    })
}

/// The lines of family `base` in `body`.
pub fn family_lines(body: &str, base: &str) -> Vec<String> {
    body.lines()
        .filter(|l| metric_name(l).is_some_and(|n| in_family(n, base)))
        .map(str::to_owned)
        .collect()
}

/// `body` with the lines of family `base` replaced by `lines`.
pub fn replace_family(body: &str, base: &str, lines: &[String]) -> String {
    let mut out = map_family(body, base, |_| None);
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Apply `f` to a JSON document; bodies that are not JSON are kept.
pub fn map_json(body: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            f(&mut v);
            serde_json::to_vec(&v).unwrap_or_else(|_| body.to_vec())
        }
        Err(_) => body.to_vec(),
    }
}

/// Apply `f` to every JSON message of an MCP streamable-HTTP answer: a JSON
/// body, or the `data:` lines of an event stream.
pub fn map_mcp(body: &[u8], event_stream: bool, f: impl Fn(&mut Value)) -> Vec<u8> {
    if !event_stream {
        return map_json(body, f);
    }
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (content, newline) = match line.strip_suffix('\n') {
            Some(c) => (c, "\n"),
            None => (line, ""),
        };
        match content.strip_prefix("data:") {
            Some(data) => {
                let mapped = map_json(data.trim().as_bytes(), &f);
                out.push_str("data: ");
                out.push_str(&String::from_utf8_lossy(&mapped));
            }
            None => out.push_str(content),
        }
        out.push_str(newline);
    }
    out.into_bytes()
}

/// Remove `key` from every finding of a search answer (`findings` array).
pub fn strip_finding_keys(v: &mut Value, keys: &[&str]) {
    if let Some(findings) = v.get_mut("findings").and_then(Value::as_array_mut) {
        for f in findings {
            if let Some(obj) = f.as_object_mut() {
                for k in keys {
                    obj.remove(*k);
                }
            }
        }
    }
}

/// What [`garble_session_id`] appends: a space is outside the visible ASCII
/// (0x21–0x7E) a session id must keep to.
pub const SESSION_GARBLE: &str = " mutant";

/// A session id as a server that breaks the visible-ASCII rule would issue it.
pub fn garble_session_id(id: &str) -> String {
    format!("{id}{SESSION_GARBLE}")
}

/// The session id the server issued, from one the client sends back (ids
/// the proxy did not garble are kept).
pub fn ungarble_session_id(id: &str) -> &str {
    id.strip_suffix(SESSION_GARBLE).unwrap_or(id)
}

/// Whether an MCP request body (one JSON-RPC message or a batch) calls
/// `method`.
pub fn mcp_calls(body: &[u8], method: &str) -> bool {
    let is = |m: &Value| m.get("method").and_then(Value::as_str) == Some(method);
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(batch)) => batch.iter().any(is),
        Ok(v) => is(&v),
        Err(_) => false,
    }
}

/// A JSON-RPC answer (or batch) whose `result` becomes a "method not found"
/// error (the id is kept).
pub fn result_to_error(v: &mut Value) {
    match v {
        Value::Array(batch) => batch.iter_mut().for_each(result_to_error),
        Value::Object(obj) if obj.contains_key("result") => {
            obj.remove("result");
            obj.insert(
                "error".to_owned(),
                serde_json::json!({"code": -32601, "message": "Method not found"}),
            );
        }
        _ => {}
    }
}

/// A `tools/list` answer whose tools lose their `description`.
pub fn strip_tool_descriptions(v: &mut Value) {
    if let Some(tools) = v.pointer_mut("/result/tools").and_then(Value::as_array_mut) {
        for t in tools {
            if let Some(obj) = t.as_object_mut() {
                obj.remove("description");
            }
        }
    }
}

/// What to do to spans (OTLP exports and in-memory records alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanEdit {
    /// SERVER spans of `GET /readyz` become INTERNAL.
    ReadyzNotServer,
    /// `hydrate` is moved under a span that does not exist.
    ReparentHydrate,
    /// `gen_ai.tool.name` and `mcp.method.name` are removed.
    StripToolAttributes,
    /// Embedding spans (`gen_ai.operation.name = embeddings`) are dropped.
    DropEmbeddingSpans,
    /// `service.name` and `service.version` are removed from the resource.
    StripServiceResource,
    /// One more span, a copy of the first without attributes or events,
    /// carries all-zero trace and span ids (a span started from an invalid
    /// context).
    AddZeroIdSpan,
}

/// Name of the span [`SpanEdit::AddZeroIdSpan`] adds.
pub const ZERO_ID_SPAN: &str = "invalid-context";

const ORPHAN_PARENT: [u8; 8] = [0xde, 0xad, 0xbe, 0xef, 0x0b, 0xad, 0xf0, 0x0d];

fn mentions_readyz(name: &str, attr: impl Fn(&str) -> Option<String>) -> bool {
    name.contains("/readyz")
        || ["url.path", "http.route", "http.target"]
            .iter()
            .any(|k| attr(k).is_some_and(|v| v.contains("/readyz")))
}

fn proto_str(kvs: &[KeyValue], key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(V::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
}

/// Apply `edit` to an OTLP trace export.
pub fn edit_export(edit: SpanEdit, req: &mut ExportTraceServiceRequest) {
    if edit == SpanEdit::AddZeroIdSpan {
        if let Some(ss) = req
            .resource_spans
            .iter_mut()
            .flat_map(|rs| rs.scope_spans.iter_mut())
            .find(|ss| !ss.spans.is_empty())
            && let Some(first) = ss.spans.first()
        {
            let mut s = first.clone();
            ZERO_ID_SPAN.clone_into(&mut s.name);
            s.trace_id = vec![0; 16];
            s.span_id = vec![0; 8];
            s.parent_span_id.clear();
            s.kind = 1;
            s.attributes.clear();
            s.events.clear();
            s.links.clear();
            s.status = None;
            ss.spans.push(s);
        }
        return;
    }
    for rs in &mut req.resource_spans {
        if edit == SpanEdit::StripServiceResource
            && let Some(r) = rs.resource.as_mut()
        {
            r.attributes
                .retain(|kv| kv.key != "service.name" && kv.key != "service.version");
        }
        for ss in &mut rs.scope_spans {
            match edit {
                SpanEdit::DropEmbeddingSpans => ss.spans.retain(|s| {
                    proto_str(&s.attributes, "gen_ai.operation.name").as_deref()
                        != Some("embeddings")
                }),
                SpanEdit::StripToolAttributes => {
                    for s in &mut ss.spans {
                        s.attributes.retain(|kv| {
                            kv.key != "gen_ai.tool.name" && kv.key != "mcp.method.name"
                        });
                    }
                }
                SpanEdit::ReparentHydrate => {
                    for s in ss.spans.iter_mut().filter(|s| s.name == "hydrate") {
                        s.parent_span_id = ORPHAN_PARENT.to_vec();
                    }
                }
                SpanEdit::ReadyzNotServer => {
                    for s in &mut ss.spans {
                        if s.kind == 2 && mentions_readyz(&s.name, |k| proto_str(&s.attributes, k))
                        {
                            s.kind = 1;
                        }
                    }
                }
                SpanEdit::StripServiceResource | SpanEdit::AddZeroIdSpan => {}
            }
        }
    }
}

/// Apply `edit` to in-memory span records.
pub fn edit_records(edit: SpanEdit, spans: &mut Vec<SpanRecord>) {
    let str_attr = |s: &SpanRecord, k: &str| match s.attributes.get(k) {
        Some(AttrValue::Str(v)) => Some(v.clone()),
        _ => None,
    };
    match edit {
        SpanEdit::StripServiceResource => {
            for s in spans.iter_mut() {
                s.resource.remove("service.name");
                s.resource.remove("service.version");
            }
        }
        SpanEdit::DropEmbeddingSpans => {
            spans.retain(|s| str_attr(s, "gen_ai.operation.name").as_deref() != Some("embeddings"));
        }
        SpanEdit::StripToolAttributes => {
            for s in spans.iter_mut() {
                s.attributes.remove("gen_ai.tool.name");
                s.attributes.remove("mcp.method.name");
            }
        }
        SpanEdit::ReparentHydrate => {
            for s in spans.iter_mut().filter(|s| s.name == "hydrate") {
                s.parent_span_id = Some(hex::encode(ORPHAN_PARENT));
            }
        }
        SpanEdit::ReadyzNotServer => {
            for s in spans.iter_mut() {
                if s.kind == SpanKind::Server && mentions_readyz(&s.name, |k| str_attr(s, k)) {
                    s.kind = SpanKind::Internal;
                }
            }
        }
        SpanEdit::AddZeroIdSpan => {
            if let Some(first) = spans.first() {
                spans.push(SpanRecord {
                    name: ZERO_ID_SPAN.to_owned(),
                    trace_id: "0".repeat(32),
                    span_id: "0".repeat(16),
                    parent_span_id: None,
                    kind: SpanKind::Internal,
                    attributes: crate::observe::Attributes::default(),
                    status: crate::observe::StatusCode::default(),
                    status_message: String::new(),
                    events: Vec::new(),
                    ..first.clone()
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPO: &str = "# HELP codeintel_x_seconds X.\n# TYPE codeintel_x_seconds histogram\ncodeintel_x_seconds_bucket{model=\"m\",le=\"0.5\"} 1\ncodeintel_x_seconds_bucket{model=\"m\",le=\"+Inf\"} 2\ncodeintel_x_seconds_sum{model=\"m\"} 0.75\ncodeintel_x_seconds_count{model=\"m\"} 2\ncodeintel_y_total{a=\"1\"} 3\n";

    #[test]
    fn names_and_families() {
        assert_eq!(metric_name("# TYPE a_b histogram"), Some("a_b"));
        assert_eq!(metric_name("a_b{x=\"1\"} 2"), Some("a_b"));
        assert_eq!(metric_name("# EOF"), None);
        assert!(in_family("a_bucket", "a") && in_family("a", "a"));
        assert!(!in_family("ab_bucket", "a"));
    }

    #[test]
    fn labels_are_dropped_and_bounds_shifted() {
        let out = map_family(EXPO, "codeintel_x_seconds", |l| {
            Some(drop_label(l, "model"))
        });
        assert!(
            out.contains("codeintel_x_seconds_bucket{le=\"0.5\"} 1"),
            "{out}"
        );
        assert!(out.contains("codeintel_x_seconds_sum 0.75"), "{out}");
        assert!(out.contains("codeintel_y_total{a=\"1\"} 3"), "{out}");
        let out = map_family(EXPO, "codeintel_x_seconds", |l| Some(scale_le(l, 10.0)));
        assert!(out.contains("le=\"5\"} 1"), "{out}");
        assert!(out.contains("le=\"+Inf\"} 2"), "{out}");
        assert_eq!(
            scale_value("codeintel_x_seconds_sum{model=\"m\"} 0.75", 2.0),
            "codeintel_x_seconds_sum{model=\"m\"} 1.5"
        );
        assert_eq!(
            drop_label("x{a=\"q\\\"}\",b=\"2\"} 1", "b"),
            "x{a=\"q\\\"}\"} 1"
        );
    }

    #[test]
    fn families_are_renamed_dropped_and_replaced() {
        let out = rename_family(EXPO, "codeintel_x_seconds", "codeintel_x_milliseconds");
        assert!(!out.contains("codeintel_x_seconds"), "{out}");
        assert!(out.contains("# TYPE codeintel_x_milliseconds histogram"));
        let lines = family_lines(EXPO, "codeintel_y");
        assert_eq!(lines, ["codeintel_y_total{a=\"1\"} 3"]);
        let out = replace_family(
            EXPO,
            "codeintel_y",
            &["codeintel_y_total{a=\"1\"} 1".into()],
        );
        assert!(out.ends_with("codeintel_y_total{a=\"1\"} 1\n"), "{out}");
    }

    #[test]
    fn mcp_event_streams_are_rewritten_per_message() {
        let body = b"event: message\ndata: {\"result\":{\"tools\":[{\"name\":\"a\"},{\"name\":\"fetch\"}]}}\n\n";
        let out = map_mcp(body, true, |v| {
            if let Some(t) = v.pointer_mut("/result/tools").and_then(Value::as_array_mut) {
                t.retain(|t| t["name"] != "fetch");
            }
        });
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("event: message\ndata: "), "{text}");
        assert!(!text.contains("fetch") && text.contains("\"a\""), "{text}");
        assert!(text.ends_with("\n\n"));
    }

    #[test]
    fn span_records_are_edited() {
        let mut spans = vec![
            SpanRecord {
                name: "hydrate".into(),
                parent_span_id: Some("00000000000000aa".into()),
                ..SpanRecord::default()
            },
            SpanRecord {
                name: "GET /readyz".into(),
                kind: SpanKind::Server,
                ..SpanRecord::default()
            },
        ];
        spans[0].attributes.insert(
            "gen_ai.operation.name".into(),
            AttrValue::Str("embeddings".into()),
        );
        edit_records(SpanEdit::ReparentHydrate, &mut spans);
        assert_eq!(spans[0].parent_span_id.as_deref(), Some("deadbeef0badf00d"));
        edit_records(SpanEdit::ReadyzNotServer, &mut spans);
        assert_eq!(spans[1].kind, SpanKind::Internal);
        edit_records(SpanEdit::DropEmbeddingSpans, &mut spans);
        assert_eq!(spans.len(), 1);
    }
    #[test]
    fn session_ids_are_garbled_outside_visible_ascii_and_restored() {
        let id = "9f1c2a7e-0b5d-4c1e-8a9b-3d2f1e0c4b6a";
        let g = garble_session_id(id);
        assert_ne!(g, id);
        // The MCP rule a session id breaks: only 0x21..=0x7E.
        assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        assert!(!g.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{g}");
        assert!(axum::http::HeaderValue::from_str(&g).is_ok());
        assert_eq!(ungarble_session_id(&g), id);
        assert_eq!(ungarble_session_id(id), id);
    }

    #[test]
    fn ping_requests_are_recognised_and_answered_with_an_error() {
        assert!(mcp_calls(
            br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
            "ping"
        ));
        assert!(mcp_calls(
            br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#,
            "ping"
        ));
        assert!(!mcp_calls(
            br#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
            "ping"
        ));
        assert!(!mcp_calls(b"not json", "ping"));

        let body = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\n";
        let out = map_mcp(body, true, result_to_error);
        let text = String::from_utf8(out).unwrap();
        let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["id"], 3);
        assert_eq!(v["error"]["code"], -32601);
        assert!(v.get("result").is_none(), "{v}");
        // An answer without a result (a notification's, an error) is kept.
        let mut err = serde_json::json!({"jsonrpc":"2.0","id":4,"error":{"code":1,"message":"x"}});
        let before = err.clone();
        result_to_error(&mut err);
        assert_eq!(err, before);
    }

    #[test]
    fn tools_lose_their_descriptions_only() {
        let mut v = serde_json::json!({"jsonrpc":"2.0","id":2,"result":{"tools":[
            {"name":"search","description":"Search.","inputSchema":{"type":"object"}},
            {"name":"fetch","description":"Fetch.","inputSchema":{"type":"object"}}
        ]}});
        strip_tool_descriptions(&mut v);
        let tools = v["result"]["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 2);
        for t in tools {
            assert!(t.get("description").is_none(), "{t}");
            assert!(t["inputSchema"].is_object() && t["name"].is_string(), "{t}");
        }
        // Other answers are left alone.
        let mut other = serde_json::json!({"result":{"description":"kept"}});
        strip_tool_descriptions(&mut other);
        assert_eq!(other["result"]["description"], "kept");
    }

    #[test]
    fn a_zero_id_span_is_added_to_exports_and_records() {
        use crate::checks::traces::valid_id;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let span = Span {
            trace_id: vec![7; 16],
            span_id: vec![8; 8],
            name: "GET /readyz".into(),
            kind: 2,
            attributes: vec![KeyValue {
                key: "url.path".into(),
                ..KeyValue::default()
            }],
            ..Span::default()
        };
        let mut req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![
                    ScopeSpans::default(),
                    ScopeSpans {
                        spans: vec![span.clone()],
                        ..ScopeSpans::default()
                    },
                ],
                ..ResourceSpans::default()
            }],
        };
        edit_export(SpanEdit::AddZeroIdSpan, &mut req);
        let spans = &req.resource_spans[0].scope_spans[1].spans;
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0], span, "the SUT's own span is unchanged");
        assert_eq!(spans[1].name, ZERO_ID_SPAN);
        assert_eq!(
            (spans[1].trace_id.as_slice(), spans[1].span_id.as_slice()),
            (&[0u8; 16][..], &[0u8; 8][..])
        );
        assert!(spans[1].attributes.is_empty() && spans[1].kind == 1);

        let mut records = vec![SpanRecord {
            name: "GET /readyz".into(),
            trace_id: "07".repeat(16),
            span_id: "08".repeat(8),
            ..SpanRecord::default()
        }];
        records[0]
            .resource
            .insert("service.name".into(), AttrValue::Str("svc".into()));
        edit_records(SpanEdit::AddZeroIdSpan, &mut records);
        assert_eq!(records.len(), 2);
        assert!(valid_id(&records[0].trace_id, 32) && valid_id(&records[0].span_id, 16));
        assert!(!valid_id(&records[1].trace_id, 32) && !valid_id(&records[1].span_id, 16));
        assert_eq!(records[1].resource, records[0].resource, "same resource");
        // Nothing to copy: nothing added.
        let mut none: Vec<SpanRecord> = Vec::new();
        edit_records(SpanEdit::AddZeroIdSpan, &mut none);
        assert!(none.is_empty());
    }
}
