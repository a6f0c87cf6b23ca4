//! End-to-end search (issue 5): p50/p95 on a generated index (≥100k chunks
//! under `cargo bench`), and the telemetry overhead ratio: the same searches
//! with the real SDK providers (tracing → OTel spans through the batch
//! processor into an exporter that drops them, metrics into the Prometheus
//! exporter) vs no subscriber and no-op instruments. Both measured in this
//! one run.
//!
//! `cargo bench -p codeintel-benches --bench search`

// A bench that cannot set up its corpus has nothing to measure: fail loudly.
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use codeintel_benches::{generate_repo, percentile, size};
use codeintel_server::diagnostics::timeline::Timeline;
use codeintel_server::embed::Embedder;
use codeintel_server::embed::stub::HashEmbedder;
use codeintel_server::index::build::{self, BuildOptions};
use codeintel_server::index::loaded::load_current;
use codeintel_server::index::publish::DataDir;
use codeintel_server::observability::metrics::Metrics;
use codeintel_server::observability::testing;
use codeintel_server::search::engine::{Engine, EngineConfig};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const QUERIES: [&str; 6] = [
    "compute the refund for a customer",
    "invoice_ledger",
    "where is the session cache retried",
    "paymentBalance",
    "report metric span index",
    "order stock inventory",
];

fn engine(data: &DataDir, metrics: &Metrics) -> Engine {
    let emb: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(384).with_metrics(metrics.clone()));
    let e = Engine::new(Some(emb), metrics.clone(), EngineConfig::default());
    let loaded = load_current(data, metrics)
        .expect("load")
        .expect("a version");
    e.publish(loaded);
    e
}

/// Generates and indexes `files` files (~10 chunks each) with the 384-d
/// hash embedder. Returns the temp dirs (kept alive), the data dir and the
/// chunk count.
fn corpus(
    rt: &tokio::runtime::Runtime,
    files: usize,
) -> (tempfile::TempDir, tempfile::TempDir, DataDir, u64) {
    let repo = tempfile::tempdir().expect("tempdir");
    generate_repo(repo.path(), files, 10).expect("generate");
    let data_dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::open(data_dir.path()).expect("data");
    let emb: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(384));
    let started = Instant::now();
    let built = rt
        .block_on(build::build(
            repo.path(),
            &data,
            Some(emb),
            &Metrics::noop(),
            &BuildOptions::default(),
        ))
        .expect("build");
    println!(
        "search/corpus: {files} files, {} chunks, dense {:?}, built in {:.1}s",
        built.manifest.chunks,
        built.manifest.dense.kind,
        started.elapsed().as_secs_f64()
    );
    (repo, data_dir, data, built.manifest.chunks as u64)
}

/// E2E latency vs corpus size (no-op telemetry), for the report's plot:
/// bench ids `search_by_size/e2e/<chunks>`. Below 20k vectors the dense
/// index is flat (exact), above it HNSW (`DenseKind::Auto`). The largest
/// point is measured in [`search`] on its corpus (built once).
fn by_size(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sizes = if codeintel_benches::bench_mode() {
        vec![100, 1_000]
    } else {
        vec![5]
    };
    let mut g = c.benchmark_group("search_by_size");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    for files in sizes {
        let (_repo, _dd, data, chunks) = corpus(&rt, files);
        let e = engine(&data, &Metrics::noop());
        let mut i = 0usize;
        g.bench_function(BenchmarkId::new("e2e", chunks), |b| {
            b.iter(|| {
                i += 1;
                rt.block_on(e.search(QUERIES[i % QUERIES.len()], 10, false, &Timeline::new()))
                    .expect("search")
            });
        });
    }
    g.finish();
}

fn search(c: &mut Criterion) {
    // ~10 chunks per file: 10k files ≈ 100k chunks.
    let files = size(10_000, 30);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (_repo, _data_dir, data, chunks) = corpus(&rt, files);

    // Percentiles over a fixed loop, noop telemetry.
    let noop = engine(&data, &Metrics::noop());
    let mut samples = Vec::new();
    for i in 0..size(400, 6) {
        let q = QUERIES[i % QUERIES.len()];
        let t = Instant::now();
        rt.block_on(noop.search(q, 10, i % 2 == 1, &Timeline::new()))
            .expect("search");
        samples.push(t.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "search/e2e_latency_ms: p50 {:.2} p95 {:.2} (n={})",
        percentile(&samples, 50.0),
        percentile(&samples, 95.0),
        samples.len()
    );

    // The largest point of the by-size plot.
    let mut g = c.benchmark_group("search_by_size");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    let mut count = 0usize;
    g.bench_function(BenchmarkId::new("e2e", chunks), |b| {
        b.iter(|| {
            count += 1;
            rt.block_on(noop.search(QUERIES[count % QUERIES.len()], 10, false, &Timeline::new()))
                .expect("search")
        });
    });
    g.finish();

    // One iteration = the six queries once each: every iteration does the
    // same work, so the spread measures the machine, not the query mix, and
    // the noop/real ratio can resolve a few percent.
    let mut g = c.benchmark_group("search");
    g.measurement_time(Duration::from_secs(12)).sample_size(20);
    g.bench_function("e2e_noop_telemetry", |b| {
        b.iter(|| {
            for q in QUERIES {
                rt.block_on(noop.search(q, 10, false, &Timeline::new()))
                    .expect("search");
            }
        });
    });

    // Spans as they ship: the batch processor (the OTLP path's) into an
    // exporter that drops the batches.
    let telemetry = testing::batch_discarding("bench-search");
    let real = engine(&data, &telemetry.metrics);
    // Global, so spans made on the blocking pool (FAISS, BM25, DuckDB) are
    // recorded too; set only now that the no-op measurement is done.
    tracing::subscriber::set_global_default(telemetry.subscriber()).expect("subscriber");
    g.bench_function("e2e_real_telemetry", |b| {
        b.iter(|| {
            for q in QUERIES {
                rt.block_on(async {
                    let span = tracing::info_span!("POST /v1/search");
                    tracing::Instrument::instrument(
                        real.search(q, 10, false, &Timeline::new()),
                        span,
                    )
                    .await
                })
                .expect("search");
            }
        });
    });
    g.finish();
}

// by_size first: `search` installs a global subscriber for its real-telemetry half.
criterion_group!(benches, by_size, search);
criterion_main!(benches);
