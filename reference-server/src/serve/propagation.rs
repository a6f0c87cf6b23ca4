//! W3C trace-context propagation for the serving side (a leaf: it depends
//! on no other `serve` module).
//!
//! [`extract_context`] reads `traceparent` / `tracestate` from HTTP headers
//! through the installed propagator; [`HttpTraceContext`] is how the HTTP
//! middleware hands its SERVER span's context to work done elsewhere (MCP
//! tool calls run in the MCP session's task and continue it).

use axum::http::HeaderMap;

/// The OpenTelemetry context of a request's SERVER span, left in the
/// request's extensions so work done elsewhere (MCP tool calls run in the
/// MCP session's task) can continue the trace.
#[derive(Clone, Debug)]
pub struct HttpTraceContext(pub opentelemetry::Context);

struct HeaderExtractor<'a>(&'a HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}

/// The OpenTelemetry context carried by W3C headers, if any.
pub fn extract_context(headers: &HeaderMap) -> Option<opentelemetry::Context> {
    use opentelemetry::trace::TraceContextExt as _;
    let cx =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    cx.span().span_context().is_valid().then_some(cx)
}

/// The OpenTelemetry context carried by a `traceparent` (and `tracestate`)
/// given as strings, e.g. in an MCP request's `_meta`, if valid.
pub fn context_from_traceparent(
    traceparent: &str,
    tracestate: Option<&str>,
) -> Option<opentelemetry::Context> {
    use opentelemetry::trace::TraceContextExt as _;
    let mut carrier = std::collections::HashMap::new();
    carrier.insert("traceparent".to_owned(), traceparent.to_owned());
    if let Some(ts) = tracestate {
        carrier.insert("tracestate".to_owned(), ts.to_owned());
    }
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    cx.span().span_context().is_valid().then_some(cx)
}
