//! FAISS search (issue 8): flat, HNSW, IVF and IVF-PQ at 10k and 100k
//! vectors × 384 dims (1M with `CODEINTEL_BENCH_1M=1`), query batch 1 and
//! 16, with and without exact refine; recall@10 of every approximate setting
//! against the exact (flat) answer, printed beside the time and saved to
//! `<criterion dir>/faiss_recall.json` for `bench-report`.
//!
//! Two implementations are timed on the same index and the same queries:
//! - `ours/...`: our dense channel, [`DenseIndex::search`] (`ann`) and
//!   [`DenseIndex::search_with_refine`] (`ann+refine`: `k × 4` candidates,
//!   re-scored exactly against the stored vectors). It has no batch API: a
//!   batch of 16 is 16 calls.
//! - `raw/...`: a plain `faiss` `Index::search` on the index our store wrote
//!   (`faiss::read_index` of its `index.faiss`), a batch in one call. IVF-PQ
//!   is not a kind our store builds, so it is raw only: `IVF{nlist},PQ48,RFlat`
//!   (FAISS `IndexRefineFlat`) with `k_factor_rf` 1 (no refine: the PQ top 10
//!   re-ordered) or 4 (refine).
//!
//! Index builds happen once per size, outside the timed loops (progress on
//! stderr). Data: "embedding-like" vectors (a mixture of 256 Gaussian
//! clusters in a 24-d latent space mapped to 384 dims, plus noise,
//! normalised; see [`EmbeddingLike`]); queries are fresh draws of the same
//! distribution, not indexed points.
//!
//! `cargo bench -p codeintel-benches --profile dev --bench faiss`

// A bench that cannot build its indexes has nothing to measure: fail loudly.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use codeintel_benches::{EmbeddingLike, bench_mode, criterion_dir, merge_json, recall_at};
use codeintel_server::observability::metrics::Metrics;
use codeintel_server::store::dense::{DenseIndex, DenseKind, DenseOptions};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group};
use faiss::index::IndexImpl;
use faiss::index::autotune::ParameterSpace;
use faiss::index::flat::FlatIndexImpl;
use faiss::{Index, MetricType};
use serde_json::{Map, Value, json};

const DIM: usize = 384;
const K: usize = 10;
const REFINE: usize = 4;
const HNSW_M: u32 = 32;
const HNSW_EF: u32 = 64;
const BATCHES: [usize; 2] = [1, 16];

fn sizes() -> Vec<usize> {
    if !bench_mode() {
        return vec![1_000];
    }
    let mut v = vec![10_000, 100_000];
    if std::env::var("CODEINTEL_BENCH_1M").is_ok_and(|v| v == "1") {
        v.push(1_000_000);
    }
    v
}

fn label(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}m", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// IVF cells for `n` vectors (kept small enough that training stays in
/// seconds on 2 cores) and the cells probed per query.
fn ivf_params(n: usize) -> (u32, u32) {
    let nlist: u32 = match n {
        0..20_000 => (n as f64).sqrt().round().max(4.0) as u32,
        20_000..500_000 => 256,
        _ => 1024,
    };
    (nlist, (nlist / 16).max(4))
}

fn stage(what: &str) -> Instant {
    eprintln!("faiss: {what} ...");
    Instant::now()
}

fn done(what: &str, t: Instant) -> f64 {
    let s = t.elapsed().as_secs_f64();
    eprintln!("faiss: {what} done in {s:.1}s");
    s
}

fn labels_of(result: &faiss::index::SearchResult) -> Vec<Vec<i64>> {
    result
        .labels
        .chunks(K)
        .map(|c| c.iter().map(|l| l.get().map_or(-1, |v| v as i64)).collect())
        .collect()
}

fn ours_rows(hits: &[(String, f32)]) -> Vec<i64> {
    hits.iter()
        .map(|(id, _)| id.parse::<i64>().expect("ids are row numbers"))
        .collect()
}

fn set_param(ix: &IndexImpl, name: &str, value: u32) {
    ParameterSpace::new()
        .expect("parameter space")
        .set_index_parameter(ix, name, value)
        .expect("set parameter");
}

/// Times our dense channel: `batch` single-query calls per iteration,
/// cycling through the queries.
fn bench_ours(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    queries: &[f32],
    batch: usize,
    search: impl Fn(&[f32]) -> Vec<(String, f32)>,
) {
    let chunks: Vec<&[f32]> = queries.chunks_exact(DIM * batch).collect();
    let mut i = 0usize;
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function(format!("{id}/b{batch}"), |b| {
        b.iter(|| {
            i += 1;
            for q in chunks[i % chunks.len()].chunks_exact(DIM) {
                black_box(search(q));
            }
        });
    });
}

/// Times a raw FAISS search of `batch` queries in one call.
fn bench_raw(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    queries: &[f32],
    batch: usize,
    ix: &mut IndexImpl,
) {
    let chunks: Vec<&[f32]> = queries.chunks_exact(DIM * batch).collect();
    let mut i = 0usize;
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function(format!("{id}/b{batch}"), |b| {
        b.iter(|| {
            i += 1;
            black_box(ix.search(chunks[i % chunks.len()], K).expect("search"))
        });
    });
}

struct Recalls {
    group: String,
    n: usize,
    queries: usize,
    settings: Map<String, Value>,
    builds: Map<String, Value>,
}

impl Recalls {
    fn add(&mut self, key: &str, recall: f64) {
        println!("{}/{key}: recall@{K} = {recall:.4}", self.group);
        self.settings.insert(key.to_owned(), json!(recall));
        self.save();
    }

    /// Saved after each setting, so an interrupted run keeps what it has.
    fn save(&self) {
        if !bench_mode() {
            return;
        }
        let mut entry = Map::new();
        entry.insert(
            self.group.clone(),
            json!({
                "n": self.n,
                "dim": DIM,
                "k": K,
                "queries": self.queries,
                "data": "embedding-like: 256 Gaussian clusters in a 24-d latent space → 384-d, normalised",
                "omp_num_threads": std::env::var("OMP_NUM_THREADS").ok(),
                "recall_at_10": self.settings,
                "build_seconds": self.builds,
            }),
        );
        let path = criterion_dir().join("faiss_recall.json");
        merge_json(&path, entry).expect("write recall JSON");
    }
}

fn one_size(c: &mut Criterion, n: usize) {
    let group = format!("faiss_{}", label(n));
    let nq = if bench_mode() { 256 } else { 32 };
    let t = stage(&format!("generating {n} + {nq} vectors × {DIM}"));
    let mut gen_ = EmbeddingLike::new(DIM, 256, 42);
    let data = gen_.take(n);
    let queries = gen_.take(nq);
    done("generating", t);

    let mut rec = Recalls {
        group: group.clone(),
        n,
        queries: nq,
        settings: Map::new(),
        builds: Map::new(),
    };

    // Ground truth: exact top 10 from a flat index.
    let t = stage("ground truth (flat)");
    let mut exact = FlatIndexImpl::new_ip(DIM as u32).expect("flat");
    exact.add(&data).expect("add");
    let truth = labels_of(&exact.search(&queries, K).expect("search"));
    done("ground truth", t);
    drop(exact);

    let mut g = c.benchmark_group(&group);
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));

    let (nlist, nprobe) = ivf_params(n);
    let kinds = [
        ("flat".to_owned(), DenseKind::Flat),
        (
            format!("hnsw{HNSW_M}_ef{HNSW_EF}"),
            DenseKind::Hnsw {
                m: HNSW_M,
                ef_search: HNSW_EF,
            },
        ),
        (
            format!("ivf{nlist}_np{nprobe}"),
            DenseKind::Ivf { nlist, nprobe },
        ),
    ];
    let opts = DenseOptions::default();
    for (name, kind) in kinds {
        let t = stage(&format!("building ours/{name} on {n} × {DIM}"));
        let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let ours = DenseIndex::build_with(DIM, ids, data.clone(), kind, &opts, Metrics::noop())
            .expect("build dense index");
        rec.builds.insert(name.clone(), json!(done("build", t)));
        let dir = tempfile::tempdir().expect("tempdir");
        ours.save(dir.path()).expect("save");
        let path = dir.path().join("index.faiss");
        let mut raw =
            faiss::read_index(path.to_str().expect("utf-8 temp path")).expect("read index");
        drop(dir);

        // Recall of each setting, then the timings.
        let ann: Vec<Vec<i64>> = queries
            .chunks_exact(DIM)
            .map(|q| ours_rows(&ours.search(q, K).expect("search")))
            .collect();
        rec.add(&format!("ours/{name}"), recall_at(K, &truth, &ann));
        let raw_found = labels_of(&raw.search(&queries, K).expect("search"));
        rec.add(&format!("raw/{name}"), recall_at(K, &truth, &raw_found));
        let refine = !matches!(kind, DenseKind::Flat);
        if refine {
            let refined: Vec<Vec<i64>> = queries
                .chunks_exact(DIM)
                .map(|q| ours_rows(&ours.search_with_refine(q, K, REFINE).expect("search")))
                .collect();
            rec.add(
                &format!("ours/{name}+refine{REFINE}"),
                recall_at(K, &truth, &refined),
            );
        }

        for batch in BATCHES {
            bench_ours(&mut g, &format!("ours/{name}"), &queries, batch, |q| {
                ours.search(q, K).expect("search")
            });
            if refine {
                bench_ours(
                    &mut g,
                    &format!("ours/{name}+refine{REFINE}"),
                    &queries,
                    batch,
                    |q| ours.search_with_refine(q, K, REFINE).expect("search"),
                );
            }
            bench_raw(&mut g, &format!("raw/{name}"), &queries, batch, &mut raw);
        }

        // HNSW: efSearch sweep on the raw index (batch 1), for the
        // latency/recall curve.
        if matches!(kind, DenseKind::Hnsw { .. }) {
            for ef in [16u32, 32, 128] {
                set_param(&raw, "efSearch", ef);
                let key = format!("raw/hnsw{HNSW_M}_ef{ef}");
                let found = labels_of(&raw.search(&queries, K).expect("search"));
                rec.add(&key, recall_at(K, &truth, &found));
                bench_raw(&mut g, &key, &queries, 1, &mut raw);
            }
        }
    }

    // IVF-PQ (raw FAISS only), refined by IndexRefineFlat.
    // `np`: no polysemous training (simulated annealing, single-threaded,
    // minutes; only used by polysemous search, which we do not run).
    let pq = if n < 10_000 { "PQ48x4np" } else { "PQ48np" };
    let name = format!(
        "ivf{nlist}_{}_np{nprobe}",
        pq.trim_end_matches("np").to_lowercase()
    );
    let t = stage(&format!(
        "building raw/{name} (IVF{nlist},{pq},RFlat) on {n} × {DIM}"
    ));
    let mut ivfpq = faiss::index_factory(
        DIM as u32,
        format!("IVF{nlist},{pq},RFlat"),
        MetricType::InnerProduct,
    )
    .expect("IVF-PQ index");
    ivfpq.train(&data).expect("train");
    ivfpq.add(&data).expect("add");
    set_param(&ivfpq, "nprobe", nprobe);
    rec.builds.insert(name.clone(), json!(done("build", t)));
    for (suffix, kf) in [
        (String::new(), 1u32),
        (format!("+rflat{REFINE}"), REFINE as u32),
    ] {
        set_param(&ivfpq, "k_factor_rf", kf);
        let key = format!("raw/{name}{suffix}");
        let found = labels_of(&ivfpq.search(&queries, K).expect("search"));
        rec.add(&key, recall_at(K, &truth, &found));
        for batch in BATCHES {
            bench_raw(&mut g, &key, &queries, batch, &mut ivfpq);
        }
    }
    g.finish();

    rec.save();
    eprintln!(
        "faiss: recall written to {}",
        criterion_dir().join("faiss_recall.json").display()
    );
}

fn faiss_benches(c: &mut Criterion) {
    for n in sizes() {
        one_size(c, n);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = faiss_benches
}

/// Runs with `OMP_NUM_THREADS=1` unless the caller chose a value: FAISS's
/// OpenMP k-means (IVF/PQ training) stalls on a loaded 2-core machine (the
/// IVF-PQ 100k build did not finish in 8 minutes with 2 threads; seconds
/// with 1), and single-threaded batches compare fairly with our dense
/// channel, which has no batch API. OpenMP reads the variable when the
/// library loads, so the bench re-executes itself with it set.
fn main() {
    if std::env::var_os("OMP_NUM_THREADS").is_none() {
        eprintln!("faiss: re-running with OMP_NUM_THREADS=1 (set OMP_NUM_THREADS to choose)");
        let exe = std::env::current_exe().expect("current exe");
        let status = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("OMP_NUM_THREADS", "1")
            .status()
            .expect("re-run the bench");
        std::process::exit(status.code().unwrap_or(1));
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
