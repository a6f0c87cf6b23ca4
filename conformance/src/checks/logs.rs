//! LOG-*: log records received over OTLP.

use std::collections::HashSet;

use super::traces::{attr_str, is_tool_span};
use super::{CheckResult, capped, excerpt};
use crate::observe::{Observations, SpanKind, SpanRecord};

/// Spans only a request makes: a tool span, a search stage, or the SERVER
/// span of a search or MCP request.
fn is_request_span(s: &SpanRecord) -> bool {
    let serves_search = s.kind == SpanKind::Server
        && std::iter::once(s.name.as_str())
            .chain(
                ["url.path", "http.route", "http.target"]
                    .iter()
                    .filter_map(|k| attr_str(s, k)),
            )
            .any(|v| v.contains("/v1/search") || v.contains("/mcp"));
    serves_search
        || is_tool_span(s)
        || ["gather_channels", "fuse", "hydrate"]
            .iter()
            .any(|n| s.name.eq_ignore_ascii_case(n))
}

/// Trace ids of the traces the harness's requests made.
fn request_traces(obs: &Observations) -> HashSet<&str> {
    obs.spans
        .iter()
        .filter(|s| is_request_span(s))
        .map(|s| s.trace_id.as_str())
        .collect()
}

/// LOG-001: log records carry the trace and span they were written in.
///
/// One correlated record is not enough when it was written outside any
/// request (a start-up span): at least one record must carry the ids of a
/// span of a request's trace.
pub fn log_001(obs: &Observations) -> CheckResult {
    const ID: &str = "LOG-001";
    if obs.logs.is_empty() {
        return CheckResult::fail(
            ID,
            "no log records arrived over OTLP: bridge the application's logs to the OTel logs \
             pipeline (OTEL_EXPORTER_OTLP_ENDPOINT, /v1/logs)",
        );
    }
    let spans: HashSet<(&str, &str)> = obs
        .spans
        .iter()
        .map(|s| (s.trace_id.as_str(), s.span_id.as_str()))
        .collect();
    let with_context: Vec<_> = obs
        .logs
        .iter()
        .filter(|l| l.trace_id.is_some() && l.span_id.is_some())
        .collect();
    let requests = request_traces(obs);
    let correlated: Vec<_> = with_context
        .iter()
        .filter(|l| {
            let (Some(t), Some(s)) = (l.trace_id.as_deref(), l.span_id.as_deref()) else {
                return false;
            };
            spans.contains(&(t, s))
        })
        .collect();
    let matched = correlated
        .iter()
        .filter(|l| l.trace_id.as_deref().is_some_and(|t| requests.contains(t)))
        .count();
    let evidence = capped(
        obs.logs.iter().map(|l| {
            format!(
                "{} trace={} span={}: {}",
                l.severity_text.as_deref().unwrap_or("-"),
                l.trace_id.as_deref().unwrap_or("-"),
                l.span_id.as_deref().unwrap_or("-"),
                excerpt(&l.body, 80)
            )
        }),
        10,
    );
    if matched > 0 {
        return CheckResult::pass(
            ID,
            format!(
                "{matched} of {} log record(s) carry the trace and span id of a received span of \
                 a request's trace",
                obs.logs.len()
            ),
        )
        .with_evidence(evidence);
    }
    let msg = if !correlated.is_empty() {
        format!(
            "{} log record(s) carry the ids of a received span, but none of a request's trace \
             (a search's tool span, stages or HTTP request): only records written outside \
             requests (e.g. at start-up) are correlated; keep the span context when logging \
             while serving a request",
            correlated.len()
        )
    } else if with_context.is_empty() {
        format!(
            "none of {} log record(s) carries a trace id and span id: emit logs inside spans \
             through a bridge that copies the active span context",
            obs.logs.len()
        )
    } else {
        format!(
            "{} log record(s) carry a trace and span id, but none matches a received span: log \
             inside the spans that are exported",
            with_context.len()
        )
    };
    CheckResult::fail(ID, msg).with_evidence(evidence)
}
