//! Indexing throughput (issues 4 and 16): files/s and MB/s of a cold build
//! and of an incremental build after one file changed, sparse-only (walk +
//! chunk + catalog + BM25) and with a zero-cost 384-d embedder (the dense
//! index built too), at 1k and 10k generated files (100k with
//! `CODEINTEL_BENCH_INDEX_100K=1`; any sizes with
//! `CODEINTEL_BENCH_INDEX_SIZES=100000`, modes with
//! `CODEINTEL_BENCH_INDEX_MODES=sparse`; test mode: 50 files). Each build runs
//! once per size and mode (a 10k build takes seconds to minutes: criterion's
//! ten samples would take too long); the figures go to stdout and, under
//! `cargo bench`, to `<criterion dir>/index_throughput.json`, which
//! `bench-report` turns into a table. Criterion measures the walk with its
//! stat-based change check (`index/walk_and_stat`, on the 10k repository).
//!
//! `cargo bench -p codeintel-benches --profile dev --bench index`

// A bench that cannot set up its corpus has nothing to measure: fail loudly.
#![allow(clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use codeintel_benches::{
    IndexRun, bench_mode, criterion_dir, generate_repo, merge_json, python_file,
};
use codeintel_server::embed::Embedder;
use codeintel_server::embed::stub::HashEmbedder;
use codeintel_server::index::build::{self, BuildOptions};
use codeintel_server::index::publish::DataDir;
use codeintel_server::index::walk::{self, WalkOptions};
use codeintel_server::observability::metrics::Metrics;
use criterion::{Criterion, criterion_group, criterion_main};

/// Functions (chunks) per generated file.
const FUNCTIONS: usize = 6;

fn sizes() -> Vec<usize> {
    if !bench_mode() {
        return vec![50];
    }
    if let Some(list) = env_list("CODEINTEL_BENCH_INDEX_SIZES") {
        return list
            .iter()
            .map(|s| {
                s.parse().unwrap_or_else(|_| {
                    panic!("CODEINTEL_BENCH_INDEX_SIZES: `{s}` is not a file count")
                })
            })
            .collect();
    }
    let mut v = vec![1_000, 10_000];
    if std::env::var("CODEINTEL_BENCH_INDEX_100K").as_deref() == Ok("1") {
        v.push(100_000);
    }
    v
}

/// Whether `mode` (`sparse`, `hash384`) runs: all unless
/// `CODEINTEL_BENCH_INDEX_MODES` lists some.
fn mode_on(mode: &str) -> bool {
    env_list("CODEINTEL_BENCH_INDEX_MODES").is_none_or(|l| l.iter().any(|m| m == mode))
}

/// A comma-separated list from the environment, when set and not empty.
fn env_list(var: &str) -> Option<Vec<String>> {
    let v = std::env::var(var).ok()?;
    let list: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!list.is_empty()).then_some(list)
}

/// A cold build into a fresh data folder, then an incremental one after
/// one file changed (`edit_seed` makes the new content differ from any
/// earlier edit).
fn cold_and_incremental(
    rt: &tokio::runtime::Runtime,
    repo: &Path,
    files: usize,
    bytes: u64,
    embedder: Option<Arc<dyn Embedder>>,
    edit_seed: u64,
) -> IndexRun {
    let metrics = Metrics::noop();
    let opts = BuildOptions::default();
    let data = tempfile::tempdir().expect("tempdir");
    let dd = DataDir::open(data.path()).expect("data dir");
    let started = Instant::now();
    let cold = rt
        .block_on(build::build(repo, &dd, embedder.clone(), &metrics, &opts))
        .expect("cold build");
    let cold_s = started.elapsed().as_secs_f64();

    std::fs::write(
        repo.join("pkg000/mod00000.py"),
        python_file(edit_seed, FUNCTIONS),
    )
    .expect("edit one file");
    let started = Instant::now();
    let inc = rt
        .block_on(build::build(repo, &dd, embedder, &metrics, &opts))
        .expect("incremental build");
    let incremental_s = started.elapsed().as_secs_f64();
    assert_eq!(inc.manifest.stats.files_changed, 1, "one file changed");
    IndexRun {
        files,
        bytes,
        chunks: cold.manifest.chunks,
        cold_s,
        cold_files_per_s: files as f64 / cold_s,
        cold_mb_per_s: bytes as f64 / 1e6 / cold_s,
        incremental_s,
        incremental_files_changed: inc.manifest.stats.files_changed,
        incremental_chunks_embedded: inc.manifest.stats.chunks_embedded,
        incremental_stage_seconds: inc.manifest.stats.stage_seconds.clone(),
    }
}

fn indexing(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut side = serde_json::Map::new();
    let mut walk_repo = None;
    for files in sizes() {
        let repo = tempfile::tempdir().expect("tempdir");
        let bytes = generate_repo(repo.path(), files, FUNCTIONS).expect("generate");
        let modes: [(&str, Option<Arc<dyn Embedder>>); 2] = [
            ("sparse", None),
            ("hash384", Some(Arc::new(HashEmbedder::new(384)))),
        ];
        for (n, (mode, embedder)) in modes.into_iter().enumerate() {
            if !mode_on(mode) {
                continue;
            }
            let run = cold_and_incremental(
                &rt,
                repo.path(),
                files,
                bytes,
                embedder,
                1_000_000 + n as u64,
            );
            println!(
                "index/{files}/{mode}: {} chunks, {:.1} MB; cold {:.2} s = {:.0} files/s, {:.2} MB/s; incremental (1 file changed, {} chunks embedded) {:.2} s; stages {:?}",
                run.chunks,
                bytes as f64 / 1e6,
                run.cold_s,
                run.cold_files_per_s,
                run.cold_mb_per_s,
                run.incremental_chunks_embedded,
                run.incremental_s,
                run.incremental_stage_seconds
            );
            side.insert(
                format!("index/{files}/{mode}"),
                serde_json::to_value(&run).expect("serialise"),
            );
        }
        // The walk bench runs on the 10k repository (the test-mode one in test mode).
        if files == 10_000 || !bench_mode() {
            walk_repo = Some(repo);
        }
    }
    if bench_mode() {
        let path = criterion_dir().join("index_throughput.json");
        merge_json(&path, side).expect("write index_throughput.json");
        println!("wrote {}", path.display());
    }

    // The part that scales with the repository but must not read content:
    // the walk with its stat-based change check.
    // (Only when the 10k repository was built in this run.)
    let Some(repo) = walk_repo else {
        return;
    };
    let mut g = c.benchmark_group("index");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("walk_and_stat", |b| {
        b.iter(|| walk::walk(repo.path(), &WalkOptions::default()).expect("walk"));
    });
    g.finish();
}

criterion_group!(benches, indexing);
criterion_main!(benches);
