//! End-to-end search (issue 5, 16): p50/p95 on a generated index (≥100k
//! chunks under `cargo bench`), and the telemetry overhead: the same
//! searches with the real SDK providers (spans through the batch processor
//! into an exporter that drops them, metrics into the Prometheus exporter)
//! vs no subscriber and no-op instruments. Criterion measures each side
//! (`search/e2e_noop_telemetry`, `search/e2e_real_telemetry`, one after the
//! other); the overhead figure alternates the two sides search by search in
//! this one process and takes the geometric mean of the per-pair ratios (written
//! with the percentiles to `<criterion dir>/search_figures.json` for
//! `bench-report`).
//!
//! `cargo bench -p codeintel-benches --profile dev --bench search`

// A bench that cannot set up its corpus has nothing to measure: fail loudly.
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use codeintel_benches::{
    SplitMix, bench_mode, criterion_dir, generate_repo, merge_json, percentile, size,
};
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
    let (p50, p95) = (percentile(&samples, 50.0), percentile(&samples, 95.0));
    println!(
        "search/e2e_latency_ms: p50 {p50:.2} p95 {p95:.2} (n={})",
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

    // Real telemetry as it ships: spans through the batch processor (the
    // OTLP path's) into an exporter that drops the batches, metrics into the
    // Prometheus exporter. Its subscriber is the default of a runtime of its
    // own (every worker and blocking-pool thread, so the spans made on the
    // blocking pool — FAISS, BM25, DuckDB — are recorded) and of the bench
    // thread while it drives that runtime; the no-op side runs on a runtime
    // with no subscriber at all. So both sides live in one process and can
    // alternate.
    let telemetry = testing::batch_discarding("bench-search");
    let real = engine(&data, &telemetry.metrics);
    let dispatch = tracing::Dispatch::new(telemetry.subscriber());
    let rt_real = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start({
            let d = dispatch.clone();
            // The guard would restore the previous default when dropped;
            // these threads keep this one for their lifetime.
            move || std::mem::forget(tracing::dispatcher::set_default(&d))
        })
        .build()
        .expect("runtime");
    let six_noop = || {
        for q in QUERIES {
            rt.block_on(noop.search(q, 10, false, &Timeline::new()))
                .expect("search");
        }
    };
    let six_real = || {
        tracing::dispatcher::with_default(&dispatch, || {
            for q in QUERIES {
                rt_real
                    .block_on(async {
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
    };

    // One iteration = the six queries once each: every iteration does the
    // same work, so the spread measures the machine, not the query mix.
    let mut g = c.benchmark_group("search");
    g.measurement_time(Duration::from_secs(12)).sample_size(20);
    g.bench_function("e2e_noop_telemetry", |b| b.iter(six_noop));
    g.bench_function("e2e_real_telemetry", |b| b.iter(six_real));
    g.finish();

    // The overhead figure: the two sides alternated query by query (the
    // order flipped every pair), so a drift of the machine hits both sides
    // of a pair alike; the ratio of each pair, then their geometric mean
    // with a bootstrap CI, and each side's total.
    let rounds = size(100, 2);
    let (mut noop_ms, mut real_ms, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let one_noop = |q: &str| {
        let t = Instant::now();
        rt.block_on(noop.search(q, 10, false, &Timeline::new()))
            .expect("search");
        t.elapsed().as_secs_f64() * 1e3
    };
    let one_real = |q: &str| {
        tracing::dispatcher::with_default(&dispatch, || {
            let t = Instant::now();
            rt_real
                .block_on(async {
                    let span = tracing::info_span!("POST /v1/search");
                    tracing::Instrument::instrument(
                        real.search(q, 10, false, &Timeline::new()),
                        span,
                    )
                    .await
                })
                .expect("search");
            t.elapsed().as_secs_f64() * 1e3
        })
    };
    for round in 0..rounds {
        for (i, q) in QUERIES.iter().enumerate() {
            let (n, r) = if (round + i) % 2 == 0 {
                let n = one_noop(q);
                (n, one_real(q))
            } else {
                let r = one_real(q);
                (one_noop(q), r)
            };
            noop_ms.push(n);
            real_ms.push(r);
            ratios.push(r / n);
        }
    }
    // The real side did record (a guard against measuring two no-ops).
    assert!(
        telemetry
            .registry
            .render()
            .contains("codeintel_faiss_search_latency_seconds_count"),
        "the real-telemetry side recorded no FAISS latency"
    );
    let overhead = paired_summary(&noop_ms, &real_ms, &ratios);
    println!(
        "search/telemetry_overhead_paired: {:+.2} % (95 % CI {:+.2} … {:+.2} %), {} pairs; \
         medians noop {:.3} ms, real {:.3} ms; totals noop {:.0} ms, real {:.0} ms",
        (overhead.ratio - 1.0) * 100.0,
        (overhead.ci.0 - 1.0) * 100.0,
        (overhead.ci.1 - 1.0) * 100.0,
        ratios.len(),
        overhead.noop_median_ms,
        overhead.real_median_ms,
        noop_ms.iter().sum::<f64>(),
        real_ms.iter().sum::<f64>(),
    );
    if bench_mode() {
        let mut side = serde_json::Map::new();
        side.insert(
            "telemetry_overhead".to_owned(),
            serde_json::json!({
                "ratio_median": overhead.ratio,
                "ratio_ci95": [overhead.ci.0, overhead.ci.1],
                "rounds": ratios.len(),
                "queries_per_round": 1,
                "noop_median_ms": overhead.noop_median_ms,
                "real_median_ms": overhead.real_median_ms,
            }),
        );
        side.insert(
            "e2e_latency".to_owned(),
            serde_json::json!({
                "chunks": chunks, "p50_ms": p50, "p95_ms": p95, "n": samples.len(),
                "embedder": "in-process 384-d hash (zero-cost)", "telemetry": "no-op",
            }),
        );
        let path = criterion_dir().join("search_figures.json");
        merge_json(&path, side).expect("write search_figures.json");
        println!("wrote {}", path.display());
    }
}

struct Paired {
    ratio: f64,
    ci: (f64, f64),
    noop_median_ms: f64,
    real_median_ms: f64,
}

/// The geometric mean of the per-pair ratios (the order within a pair
/// alternates, and a "second run is warmer" effect multiplies one way in
/// half the pairs and the other way in the rest: the geometric mean cancels
/// it, a median would not), a 95 % bootstrap CI of it (2,000 resamples, a
/// fixed seed), and each side's median time.
fn paired_summary(noop_ms: &[f64], real_ms: &[f64], ratios: &[f64]) -> Paired {
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        percentile(&v, 50.0)
    };
    let geomean = |v: &[f64]| (v.iter().map(|r| r.ln()).sum::<f64>() / v.len() as f64).exp();
    let mut rng = SplitMix::new(16);
    let mut means: Vec<f64> = (0..2000)
        .map(|_| {
            let resample: Vec<f64> = (0..ratios.len())
                .map(|_| ratios[(rng.next_u64() % ratios.len() as u64) as usize])
                .collect();
            geomean(&resample)
        })
        .collect();
    means.sort_by(f64::total_cmp);
    Paired {
        ratio: geomean(ratios),
        ci: (percentile(&means, 2.5), percentile(&means, 97.5)),
        noop_median_ms: median(noop_ms),
        real_median_ms: median(real_ms),
    }
}

criterion_group!(benches, by_size, search);
criterion_main!(benches);
