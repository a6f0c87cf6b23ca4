//! Telemetry primitives: one span, one histogram record, one counter add,
//! and a full scrape render of the contract's instruments.
//!
//! `cargo bench -p codeintel-benches --bench telemetry`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use codeintel_server::observability::hot::HotSpan;
use codeintel_server::observability::metrics::{FaissImpl, Outcome, meter_provider_with_registry};
use codeintel_server::observability::testing;

fn primitives(c: &mut Criterion) {
    let mut g = c.benchmark_group("telemetry");

    // One `tracing` span as it ships (request, search, gather_channels,
    // embeddings): tracing → tracing-opentelemetry → SDK batch
    // processor (the OTLP path's), here into an exporter that drops the
    // batches, so no collector's cost is counted.
    let shipped = testing::batch_discarding("bench");
    tracing::subscriber::with_default(shipped.subscriber(), || {
        g.bench_function("span_with_2_attributes", |b| {
            b.iter(|| {
                let span = tracing::info_span!("fuse", rrf.k = 60_i64, chunks = 10_i64);
                let _e = span.enter();
                black_box(&span);
            });
        });
    });
    // A hot-path span as the search's leaves ship it (`HotSpan`: an SDK span
    // under the current `tracing` span's context, the tracer found through
    // the subscriber), inside an entered parent as in a search.
    tracing::subscriber::with_default(shipped.subscriber(), || {
        let parent = tracing::info_span!("search");
        let _p = parent.enter();
        g.bench_function("hot_span_with_2_attributes", |b| {
            b.iter(|| {
                let span = HotSpan::start(
                    "fuse",
                    [
                        opentelemetry::KeyValue::new("rrf.k", 60_i64),
                        opentelemetry::KeyValue::new("chunks", 10_i64),
                    ],
                );
                black_box(&span);
            });
        });
    });
    // The same span straight through the OTel SDK API, no `tracing` bridge:
    // what the bridge adds is the difference.
    {
        use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
        let tracer = shipped.tracer_provider.tracer("bench");
        g.bench_function("otel_sdk_span_with_2_attributes", |b| {
            b.iter(|| {
                let mut span = tracer
                    .span_builder("fuse")
                    .with_attributes([
                        opentelemetry::KeyValue::new("rrf.k", 60_i64),
                        opentelemetry::KeyValue::new("chunks", 10_i64),
                    ])
                    .start(&tracer);
                black_box(&span);
                span.end();
            });
        });
    }
    // The bridge alone: one `tracing-opentelemetry` layer, no per-layer
    // filters, no log bridge.
    {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        let bare = tracing_subscriber::registry().with(
            tracing_opentelemetry::layer()
                .with_tracer(shipped.tracer_provider.tracer("bench"))
                .with_tracked_inactivity(false)
                .with_threads(false)
                .with_location(false)
                .with_target(false)
                .with_level(false),
        );
        tracing::subscriber::with_default(bare, || {
            g.bench_function("span_bare_bridge", |b| {
                b.iter(|| {
                    let span = tracing::info_span!("fuse", rrf.k = 60_i64, chunks = 10_i64);
                    let _e = span.enter();
                    black_box(&span);
                });
            });
        });
    }
    drop(shipped);
    // The tests' path: a simple processor exporting each span synchronously
    // into an in-memory exporter (a lock and a copy per span), reset between
    // batches.
    let t = testing::in_memory("bench");
    let subscriber = t.subscriber();
    let spans = t.memory_spans.clone();
    tracing::subscriber::with_default(subscriber, || {
        let mut n = 0u32;
        g.bench_function("span_in_memory_simple_exporter", |b| {
            b.iter(|| {
                let span = tracing::info_span!("fuse", rrf.k = 60_i64, chunks = 10_i64);
                let _e = span.enter();
                black_box(&span);
                n += 1;
                if let (true, Some(s)) = (n.is_multiple_of(4096), &spans) {
                    s.reset();
                }
            });
        });
    });
    // The same span with no subscriber at all: the floor.
    g.bench_function("span_without_subscriber", |b| {
        b.iter(|| {
            let span = tracing::info_span!("fuse", rrf.k = 60_i64, chunks = 10_i64);
            let _e = span.enter();
            black_box(&span);
        });
    });

    let resource = opentelemetry_sdk::Resource::builder().build();
    let Ok((provider, registry, metrics)) = meter_provider_with_registry(resource) else {
        panic!("meter provider");
    };
    g.bench_function("histogram_record_faiss_latency", |b| {
        b.iter(|| {
            metrics.record_faiss_search(black_box(FaissImpl::Ann), Duration::from_micros(700));
        });
    });
    g.bench_function("histogram_record_embed_with_labels", |b| {
        b.iter(|| {
            metrics.record_embed(
                "openai",
                "bge-small",
                Duration::from_millis(3),
                8,
                Outcome::Ok,
            );
        });
    });
    g.bench_function("counter_add_gating", |b| {
        b.iter(|| metrics.record_gating(black_box("nl"), false, 90, 0.4));
    });
    metrics.record_duckdb(Duration::from_micros(300));
    metrics.record_faiss_search(FaissImpl::AnnRefine, Duration::from_micros(900));
    g.bench_function("scrape_render_contract_instruments", |b| {
        b.iter(|| black_box(registry.render()));
    });
    g.finish();
    drop(provider);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = primitives
}
criterion_main!(benches);
