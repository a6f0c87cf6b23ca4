//! Throughput on a generated 1M-line Rust + Python tree. Ignored by default
//! (it writes ~35 MB); run with
//! `cargo test -p codeintel-lint --test throughput -- --ignored --nocapture`
//! (`LINT_LINES=200000` for a smaller tree, `LINT_TREE_DIR=/tmp/x` to keep
//! it). The criterion bench `benches/benches/lint.rs` measures the same in
//! the bench profile.

// Test helpers outside #[test] fns may unwrap too (clippy.toml covers only the fns).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use codeintel_lint::{Config, Rule, lint_paths, synth};

fn measure(root: &Path, config: &Config, mode: &str, tree: &synth::SynthTree) {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let start = Instant::now();
    let report = lint_paths(&[root.to_path_buf()], config).unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(report.count(Rule::LegacyImport), tree.planted);
    assert_eq!(report.count(Rule::ParseError), 0);
    println!(
        "lint throughput, {mode} ({} profile, {threads} threads): {} files ({} parsed), {} lines in {secs:.2} s = {:.0} files/s, {:.0} LOC/s",
        if cfg!(debug_assertions) {
            "dev"
        } else {
            "optimised"
        },
        report.files_checked,
        report.files_parsed,
        report.lines_checked,
        report.files_checked as f64 / secs,
        report.lines_checked as f64 / secs,
    );
}

#[test]
#[ignore = "writes and lints a 1M-line tree; run on demand"]
fn one_million_lines() {
    let lines: u64 = std::env::var("LINT_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let root =
        std::env::var_os("LINT_TREE_DIR").map_or_else(|| dir.path().to_path_buf(), PathBuf::from);
    let tree = synth::synthetic_tree(lines);
    for file in &tree.files {
        let path = root.join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &file.contents).unwrap();
    }
    measure(&root, &Config::default(), "default (prefiltered)", &tree);
    let parse_all = Config {
        parse_all: true,
        ..Config::default()
    };
    measure(&root, &parse_all, "--parse-all", &tree);
}
