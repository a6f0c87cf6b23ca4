//! One-file re-index (issue 15): the incremental build after a one-line
//! edit in one file of a generated 10k-file repository (70k chunks), with
//! an in-process 384-d embedder (the hash embedder: no network, no model),
//! against the target **< 2 s**; and the cold build of the same repository
//! (once: it takes minutes). Test mode: 50 files.
//!
//! Every iteration edits one line of one function (a new constant each
//! time, so each build really has one changed chunk) outside the timer,
//! then times the build; after each build the bench checks that exactly one
//! file changed and one chunk was embedded. The per-stage seconds of the
//! last incremental build are printed (the profile: which stage costs what)
//! and, under `cargo bench`, written with the cold figures to
//! `<criterion dir>/reindex.json`.
//!
//! `cargo bench -p codeintel-benches --profile dev --bench reindex`

// A bench that cannot set up its corpus has nothing to measure: fail loudly.
#![allow(clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use codeintel_benches::{bench_mode, criterion_dir, generate_repo, merge_json};
use codeintel_server::embed::Embedder;
use codeintel_server::embed::stub::HashEmbedder;
use codeintel_server::index::build::{self, BuildOptions};
use codeintel_server::index::publish::DataDir;
use codeintel_server::observability::metrics::Metrics;
use criterion::{Criterion, criterion_group, criterion_main};

/// Functions (chunks) per generated file.
const FUNCTIONS: usize = 6;
/// The file every iteration edits.
const EDITED: &str = "pkg000/mod00000.py";
/// The line of its first function's body that each edit rewrites.
const LINE: &str = "    total = value * 0\n";

/// Rewrites the edited line of [`EDITED`] with constant `n`.
fn edit_one_line(repo: &Path, n: u64) {
    let path = repo.join(EDITED);
    let text = std::fs::read_to_string(&path).expect("read the edited file");
    let start = text
        .find("    total = value * 0")
        .expect("the generated file has the line");
    let end = start + text[start..].find('\n').expect("a line end") + 1;
    let edited = format!(
        "{}    total = value * 0 + {n}\n{}",
        &text[..start],
        &text[end..]
    );
    assert_ne!(edited, text);
    std::fs::write(&path, edited).expect("write the edited file");
}

fn reindex(c: &mut Criterion) {
    let files = if bench_mode() { 10_000 } else { 50 };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let repo = tempfile::tempdir().expect("tempdir");
    let bytes = generate_repo(repo.path(), files, FUNCTIONS).expect("generate");
    assert!(
        std::fs::read_to_string(repo.path().join(EDITED))
            .expect("read")
            .contains(LINE)
    );
    let data = tempfile::tempdir().expect("tempdir");
    let dd = DataDir::open(data.path()).expect("data dir");
    let embedder: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(384));
    let metrics = Metrics::noop();
    let opts = BuildOptions::default();

    let started = Instant::now();
    let cold = rt
        .block_on(build::build(
            repo.path(),
            &dd,
            Some(embedder.clone()),
            &metrics,
            &opts,
        ))
        .expect("cold build");
    let cold_s = started.elapsed().as_secs_f64();
    println!(
        "reindex/{files}: cold build {cold_s:.2} s ({} chunks, {:.1} MB); stages {:?}",
        cold.manifest.chunks,
        bytes as f64 / 1e6,
        cold.manifest.stats.stage_seconds
    );

    let mut n = 0_u64;
    let mut last_stages = None;
    let mut g = c.benchmark_group("reindex");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(5));
    g.bench_function(format!("one_line_edit/{files}"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                edit_one_line(repo.path(), n);
                let started = Instant::now();
                let out = rt
                    .block_on(build::build(
                        repo.path(),
                        &dd,
                        Some(embedder.clone()),
                        &metrics,
                        &opts,
                    ))
                    .expect("incremental build");
                total += started.elapsed();
                let s = &out.manifest.stats;
                assert_eq!(s.files_changed, 1, "one file changed: {s:#?}");
                assert_eq!(s.chunks_embedded, 1, "one chunk re-embedded: {s:#?}");
                assert!(!s.dense_rebuilt && !s.sparse_rebuilt, "{s:#?}");
                last_stages = Some(s.stage_seconds.clone());
            }
            total
        });
    });
    g.finish();
    let stages = last_stages.unwrap_or_default();
    println!("reindex/{files}: stages of the last one-line re-index {stages:?}");
    if bench_mode() {
        let mut side = serde_json::Map::new();
        side.insert(
            format!("reindex/{files}"),
            serde_json::json!({
                "files": files,
                "chunks": cold.manifest.chunks,
                "cold_s": cold_s,
                "cold_stage_seconds": cold.manifest.stats.stage_seconds,
                "one_line_edit_stage_seconds": stages,
            }),
        );
        let path = criterion_dir().join("reindex.json");
        merge_json(&path, side).expect("write reindex.json");
        println!("wrote {}", path.display());
    }
}

criterion_group!(benches, reindex);
criterion_main!(benches);
