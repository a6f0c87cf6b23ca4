//! Indexing throughput (issue 4): sparse + catalog indexing of a generated
//! repository with a zero-cost embedder, and an incremental re-index after
//! one file changed.
//!
//! `cargo bench -p codeintel-benches --bench index` (10k files; test mode: 50)

// A bench that cannot set up its corpus has nothing to measure: fail loudly.
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use codeintel_benches::{generate_repo, python_file, size};
use codeintel_server::embed::Embedder;
use codeintel_server::embed::stub::HashEmbedder;
use codeintel_server::index::build::{self, BuildOptions};
use codeintel_server::index::publish::DataDir;
use codeintel_server::index::walk::{self, WalkOptions};
use codeintel_server::observability::metrics::Metrics;
use criterion::{Criterion, criterion_group, criterion_main};

fn indexing(c: &mut Criterion) {
    let files = size(10_000, 50);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let repo = tempfile::tempdir().expect("tempdir");
    let bytes = generate_repo(repo.path(), files, 6).expect("generate");
    let metrics = Metrics::noop();
    let opts = BuildOptions::default();

    // Cold build without a dense channel: walk + chunk + catalog + BM25.
    let data = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let dd = DataDir::open(data.path()).expect("data dir");
    let outcome = rt
        .block_on(build::build(repo.path(), &dd, None, &metrics, &opts))
        .expect("build");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "index/cold_sparse_catalog: {files} files, {} chunks, {:.1} MB in {secs:.2}s = {:.0} files/s, {:.2} MB/s",
        outcome.manifest.chunks,
        bytes as f64 / 1e6,
        files as f64 / secs,
        bytes as f64 / 1e6 / secs
    );

    // With a zero-cost embedder the dense part is built too.
    let data2 = tempfile::tempdir().expect("tempdir");
    let dd2 = DataDir::open(data2.path()).expect("data dir");
    let emb: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(384));
    let started = Instant::now();
    rt.block_on(build::build(
        repo.path(),
        &dd2,
        Some(emb.clone()),
        &metrics,
        &opts,
    ))
    .expect("build with dense");
    println!(
        "index/cold_with_hash_embedder_384d: {files} files in {:.2}s",
        started.elapsed().as_secs_f64()
    );

    // Incremental: one file changed. Unchanged files are not read (size +
    // mtime) and their chunks not re-embedded; the stage times show where
    // the rest goes (the dense and sparse indexes are rebuilt whole).
    let path = repo.path().join("pkg000/mod00000.py");
    std::fs::write(&path, python_file(1_000_000, 6)).expect("edit");
    let started = Instant::now();
    let inc = rt
        .block_on(build::build(
            repo.path(),
            &dd2,
            Some(emb.clone()),
            &metrics,
            &opts,
        ))
        .expect("incremental build");
    println!(
        "index/incremental_one_changed_file: {:.2}s total; changed {} unchanged {}; embedded {} chunks; stages {:?}",
        started.elapsed().as_secs_f64(),
        inc.manifest.stats.files_changed,
        inc.manifest.stats.files_unchanged,
        inc.manifest.stats.chunks_embedded,
        inc.manifest.stats.stage_seconds
    );

    // The part that scales with the repository but must not read content:
    // the walk with its stat-based change check.
    let mut g = c.benchmark_group("index");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("walk_and_stat", |b| {
        b.iter(|| walk::walk(repo.path(), &WalkOptions::default()).expect("walk"));
    });
    g.finish();
}

criterion_group!(benches, indexing);
criterion_main!(benches);
