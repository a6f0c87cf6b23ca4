//! The built-in embedding model (all-MiniLM-L6-v2 in candle, issue 17):
//! texts per second at batch 1, 16 and 64 on code chunks of about 150–250
//! tokens (the size the chunker produces), and one `embed` call of 256
//! texts through the [`Embedder`] trait (sorting by length, batching,
//! blocking pool, telemetry) — the path indexing takes.
//!
//! Needs the model (`scripts/setup-model.sh`); without it the bench says so
//! and measures nothing, unless `CODEINTEL_REQUIRE_MODEL=1`.
//!
//! `cargo bench -p codeintel-benches --profile dev --bench local_model`

#![allow(clippy::expect_used)]

use std::fmt::Write as _;
use std::path::PathBuf;

use codeintel_benches::size;
use codeintel_server::embed::Embedder;
use codeintel_server::embed::local::{self, LocalConfig, LocalEmbedder};
use codeintel_server::observability::metrics::Metrics;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CODEINTEL_MODEL_DIR")
        .map(PathBuf::from)
        .or_else(local::default_model_dir)?;
    if local::model_present(&dir) {
        return Some(dir);
    }
    assert!(
        std::env::var("CODEINTEL_REQUIRE_MODEL").as_deref() != Ok("1"),
        "CODEINTEL_REQUIRE_MODEL=1 but {} has no model: run scripts/setup-model.sh",
        dir.display()
    );
    eprintln!(
        "local_model: skipped, no model in {} (run scripts/setup-model.sh)",
        dir.display()
    );
    None
}

/// A Python function of roughly 150–250 WordPiece tokens, varied by `i`.
fn chunk(i: usize) -> String {
    const WORDS: [&str; 12] = [
        "payment",
        "refund",
        "invoice",
        "customer",
        "ledger",
        "session",
        "token",
        "retry",
        "schedule",
        "report",
        "inventory",
        "gateway",
    ];
    let w = |k: usize| WORDS[(i * 7 + k * 3) % WORDS.len()];
    let mut s = format!(
        "def {}_{}_{i}(self, {}, {}=None):\n    \"\"\"Compute the {} of a {} and record the {} for the {}.\"\"\"\n",
        w(0),
        w(1),
        w(2),
        w(3),
        w(4),
        w(5),
        w(6),
        w(7)
    );
    for line in 0..(6 + i % 5) {
        let _ = writeln!(
            s,
            "    {}_{line} = self.{}.get({}, {line}) + len(str({}))  # {} {}",
            w(line),
            w(line + 1),
            w(line + 2),
            w(line + 3),
            w(line + 4),
            w(line + 5)
        );
    }
    s.push_str("    return result\n");
    s
}

fn bench(c: &mut Criterion) {
    let Some(dir) = model_dir() else { return };
    let model =
        LocalEmbedder::load(LocalConfig::new(&dir), Metrics::noop()).expect("load the model");
    let texts: Vec<String> = (0..size(64, 4)).map(chunk).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens = model.token_counts(&refs).expect("tokenize");
    eprintln!(
        "local_model: chunks of {}–{} tokens (mean {:.0})",
        tokens.iter().min().copied().unwrap_or(0),
        tokens.iter().max().copied().unwrap_or(0),
        tokens.iter().sum::<usize>() as f64 / tokens.len().max(1) as f64
    );

    let mut group = c.benchmark_group("local_embed");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    let mut batches: Vec<usize> = [1_usize, 16, 64].map(|b| b.min(refs.len())).to_vec();
    batches.dedup();
    for batch in batches {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("batch", batch), &batch, |b, &n| {
            b.iter(|| model.embed_batch_blocking(&refs[..n]).expect("embed"));
        });
    }
    group.finish();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let many: Vec<String> = (0..size(256, 8)).map(chunk).collect();
    let mut group = c.benchmark_group("local_embed_call");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.throughput(Throughput::Elements(many.len() as u64));
    group.bench_function(BenchmarkId::new("embed", many.len()), |b| {
        b.iter(|| rt.block_on(model.embed(&many)).expect("embed"));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
