//! `codeintel-lint` throughput: files/s and LOC/s on a generated Rust +
//! Python tree (1M lines under `cargo bench`, 20k lines when criterion runs
//! in test mode, i.e. `cargo test --benches`). Target: 1M lines in under 2 s
//! on 2 cores.

// A bench that cannot write or lint its tree has nothing to measure: it stops loudly.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use codeintel_lint::{Config, lint_paths, synth};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A temporary directory removed on drop (the benches crate has no `tempfile`).
struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_tree(lines: u64) -> (TempTree, synth::SynthTree) {
    let root = std::env::temp_dir().join(format!("codeintel-lint-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let tree = synth::synthetic_tree(lines);
    for file in &tree.files {
        let path = root.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create bench tree directory");
        }
        std::fs::write(&path, &file.contents).expect("write bench tree file");
    }
    (TempTree(root), tree)
}

fn lint_once(root: &Path, config: &Config) -> codeintel_lint::Report {
    lint_paths(&[root.to_path_buf()], config).expect("lint the bench tree")
}

fn bench_lint(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let lines = if full { 1_000_000 } else { 20_000 };
    let (dir, tree) = write_tree(lines);
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);

    let mut group = c.benchmark_group("lint");
    group.sample_size(10);
    for (name, parse_all) in [("prefiltered", false), ("parse_all", true)] {
        let config = Config {
            parse_all,
            ..Config::default()
        };
        let start = Instant::now();
        let report = lint_once(&dir.0, &config);
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(
            report.diagnostics.len(),
            tree.planted,
            "only the planted imports are found"
        );
        println!(
            "lint {name}: {} files ({} parsed), {} lines in {secs:.3} s on {threads} threads = {:.0} files/s, {:.0} LOC/s (target: 1M lines < 2 s)",
            report.files_checked,
            report.files_parsed,
            report.lines_checked,
            report.files_checked as f64 / secs,
            report.lines_checked as f64 / secs,
        );
        group.throughput(Throughput::Elements(report.lines_checked));
        group.bench_function(format!("{name}_loc"), |b| {
            b.iter(|| lint_once(&dir.0, &config));
        });
        group.throughput(Throughput::Elements(report.files_checked));
        group.bench_function(format!("{name}_files"), |b| {
            b.iter(|| lint_once(&dir.0, &config));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_lint);
criterion_main!(benches);
