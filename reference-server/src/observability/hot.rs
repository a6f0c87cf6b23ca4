//! Spans of the hot path, made through the OpenTelemetry API directly.
//!
//! A search's leaf stages (gate, fuse, hydrate, the BM25 and FAISS
//! searches) take microseconds to a few milliseconds each; a span made with
//! `tracing` and bridged by `tracing-opentelemetry` costs ~1.6 µs (registry
//! slot, field visitors, per-layer filters, busy/idle tracking, then the SDK
//! span at the end). These leaves have no child spans and log no events, so
//! they need none of that: a [`HotSpan`] is an SDK span started under the
//! current `tracing` span's OpenTelemetry context (~0.4 µs, the benches'
//! `hot_span_with_2_attributes`), ended when dropped.
//!
//! The tracer comes from the installed subscriber ([`HotTracer`] is a layer
//! of [`super::Telemetry::subscriber`] that only carries it), so a hot span
//! goes exactly where the `tracing` spans around it go — the process's
//! exporter, or a test's scoped in-memory one — and nowhere when no
//! telemetry is installed.
//!
//! Use it for leaves only: a `tracing` span or event made inside a hot span
//! attaches to the enclosing `tracing` span, not to the hot one.

use opentelemetry::trace::{Span as _, Status, Tracer as _};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::trace::{SdkTracer, Span as SdkSpan};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// A layer with no callbacks that carries the tracer of hot spans; found by
/// downcasting the current dispatcher. Installed behind a filter that is
/// never interested, so it changes no callsite's interest.
#[derive(Debug)]
pub struct HotTracer {
    tracer: SdkTracer,
}

impl HotTracer {
    pub fn new(tracer: SdkTracer) -> Self {
        HotTracer { tracer }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for HotTracer {}

/// One hot-path span: started by [`HotSpan::start`], ended on drop. A no-op
/// when the current subscriber carries no [`HotTracer`].
#[derive(Debug)]
#[must_use = "the span ends when dropped"]
pub struct HotSpan(Option<SdkSpan>);

impl HotSpan {
    /// Starts `name` as a child of the current `tracing` span (or of the
    /// current OpenTelemetry context when no `tracing` span is entered).
    pub fn start<const N: usize>(name: &'static str, attributes: [KeyValue; N]) -> HotSpan {
        let tracer = tracing::dispatcher::get_default(|d| {
            d.downcast_ref::<HotTracer>().map(|h| h.tracer.clone())
        });
        let Some(tracer) = tracer else {
            return HotSpan(None);
        };
        let current = tracing::Span::current();
        let parent = if current.is_none() {
            Context::current()
        } else {
            current.context()
        };
        let span = tracer
            .span_builder(name)
            .with_attributes(attributes)
            .start_with_context(&tracer, &parent);
        HotSpan(Some(span))
    }

    /// Sets one attribute (a later value for the same key replaces it).
    pub fn record(&mut self, key: &'static str, value: impl Into<Value>) {
        if let Some(span) = &mut self.0 {
            span.set_attribute(KeyValue::new(key, value));
        }
    }

    /// Marks the span failed, with a description of what went wrong.
    pub fn fail(&mut self, description: impl Into<String>) {
        if let Some(span) = &mut self.0 {
            span.set_status(Status::error(description.into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observability::testing;
    use opentelemetry::trace::{SpanKind, Status};

    #[test]
    fn a_hot_span_is_a_child_of_the_current_tracing_span_in_the_same_trace() {
        let t = testing::in_memory("hot-test");
        tracing::subscriber::with_default(t.subscriber(), || {
            let parent = tracing::info_span!("search");
            let _e = parent.enter();
            let mut hot = HotSpan::start("fuse", [KeyValue::new("rrf.k", 60_i64)]);
            hot.record("chunks", 10_i64);
        });
        let spans = testing::finished_spans(&t);
        let fuse = spans.iter().find(|s| s.name == "fuse").expect("fuse span");
        let search = spans
            .iter()
            .find(|s| s.name == "search")
            .expect("search span");
        assert_eq!(fuse.span_context.trace_id(), search.span_context.trace_id());
        assert_eq!(fuse.parent_span_id, search.span_context.span_id());
        assert!(!fuse.parent_span_is_remote);
        assert_eq!(fuse.span_kind, SpanKind::Internal);
        assert_eq!(fuse.status, Status::Unset);
        assert_eq!(
            fuse.instrumentation_scope.name(),
            crate::observability::TRACER_NAME
        );
        let attr = |k: &str| {
            fuse.attributes
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.clone())
        };
        assert_eq!(attr("rrf.k"), Some(Value::I64(60)));
        assert_eq!(attr("chunks"), Some(Value::I64(10)));
        assert!(fuse.end_time >= fuse.start_time);
    }

    #[test]
    fn a_failed_hot_span_carries_an_error_status_with_the_description() {
        let t = testing::in_memory("hot-test");
        tracing::subscriber::with_default(t.subscriber(), || {
            let parent = tracing::info_span!("search");
            let _e = parent.enter();
            let mut hot = HotSpan::start("hydrate", []);
            hot.fail("catalog unreadable");
        });
        let spans = testing::finished_spans(&t);
        let hydrate = spans.iter().find(|s| s.name == "hydrate").expect("span");
        assert_eq!(hydrate.status, Status::error("catalog unreadable"));
    }

    #[test]
    fn without_telemetry_a_hot_span_is_a_no_op() {
        let t = testing::in_memory("hot-test");
        // No subscriber installed on this thread.
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            let mut hot = HotSpan::start("fuse", []);
            hot.record("k", 1_i64);
            hot.fail("nothing");
            assert!(hot.0.is_none());
        });
        assert!(testing::finished_spans(&t).is_empty());
    }

    #[test]
    fn the_tracer_layer_changes_no_callsite_interest() {
        // A debug event is off in the subscriber's filters: the carrier
        // layer must not turn it on.
        let t = testing::in_memory("hot-test");
        tracing::subscriber::with_default(t.subscriber(), || {
            let parent = tracing::info_span!("search");
            let _e = parent.enter();
            assert!(!tracing::enabled!(tracing::Level::DEBUG));
            assert!(tracing::enabled!(tracing::Level::INFO));
        });
    }
}
