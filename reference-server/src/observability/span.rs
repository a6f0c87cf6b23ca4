//! Marking a bridged `tracing` span failed, the one way every module does it.
//!
//! A span made with `tracing` reaches OpenTelemetry through
//! `tracing-opentelemetry`, which reads the special fields
//! `otel.status_code` / `otel.status_description`; the semantic
//! conventions add `error.type`. [`mark_failed`] records the three together
//! (each only where the span declared the field: `tracing` ignores the
//! others). The hot path's OTel-API spans have [`super::hot::HotSpan::fail`].

/// Marks `span` failed: `error.type` = `error_type` (a bounded value: an
/// error kind or an HTTP status code), status ERROR, and the status
/// description when given.
///
/// Call it before an ERROR-level event inside the span: the bridge only
/// replaces an error status by a "greater" one, so an event first would
/// leave the description empty.
pub fn mark_failed(span: &tracing::Span, error_type: &str, description: Option<&str>) {
    span.record("error.type", error_type);
    span.record("otel.status_code", "ERROR");
    if let Some(description) = description {
        span.record("otel.status_description", description);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observability::testing;
    use opentelemetry::trace::Status;

    #[test]
    fn a_failed_span_has_error_status_type_and_description() {
        let t = testing::in_memory("span-test");
        tracing::subscriber::with_default(t.subscriber(), || {
            let span = tracing::info_span!(
                "work",
                otel.status_code = tracing::field::Empty,
                otel.status_description = tracing::field::Empty,
                error.type = tracing::field::Empty,
            );
            mark_failed(&span, "timeout", Some("took too long"));
            drop(span);
            let fine = tracing::info_span!("fine", error.type = tracing::field::Empty);
            drop(fine);
        });
        let spans = testing::finished_spans(&t);
        let work = spans.iter().find(|s| s.name == "work").unwrap();
        assert_eq!(work.status, Status::error("took too long"));
        assert!(
            work.attributes
                .iter()
                .any(|kv| kv.key.as_str() == "error.type" && kv.value.as_str() == "timeout")
        );
        let fine = spans.iter().find(|s| s.name == "fine").unwrap();
        assert_eq!(fine.status, Status::Unset);
    }
}
