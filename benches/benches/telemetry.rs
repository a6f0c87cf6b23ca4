//! Telemetry primitives: one span, one histogram record, one counter add,
//! and a full scrape render of the contract's instruments.
//!
//! `cargo bench -p codeintel-benches --bench telemetry`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use codeintel_server::observability::metrics::{FaissImpl, Outcome, meter_provider_with_registry};
use codeintel_server::observability::testing;

fn primitives(c: &mut Criterion) {
    let mut g = c.benchmark_group("telemetry");

    // Spans through the real pipeline: tracing → tracing-opentelemetry → SDK
    // (simple processor into an in-memory exporter, reset between batches).
    let t = testing::in_memory("bench");
    let subscriber = t.subscriber();
    let spans = t.memory_spans.clone();
    tracing::subscriber::with_default(subscriber, || {
        let mut n = 0u32;
        g.bench_function("span_with_2_attributes", |b| {
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
