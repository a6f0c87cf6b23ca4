//! Gating and fusion (pure): weighted RRF over 2 × 1,000 candidates, and
//! query classification.
//!
//! `cargo bench -p codeintel-benches --bench fusion`

use std::hint::black_box;

use codeintel_server::search::fusion::{Channel, ChannelHits, rrf};
use codeintel_server::search::gating::{GatingConfig, decide};
use criterion::{Criterion, criterion_group, criterion_main};

/// One channel's ranked hits: (chunk id, raw score).
type Hits = Vec<(String, f32)>;

/// Two channels of `n` hits that overlap on half their ids.
fn channels(n: usize) -> (Hits, Hits) {
    let dense = (0..n)
        .map(|i| (format!("chunk-{i:05}"), 1.0 - i as f32 / n as f32))
        .collect();
    let sparse = (0..n)
        .map(|i| (format!("chunk-{:05}", i + n / 2), 20.0 - i as f32 / 100.0))
        .collect();
    (dense, sparse)
}

fn fusion(c: &mut Criterion) {
    let n = codeintel_benches::size(1_000, 50);
    let (dense, sparse) = channels(n);
    let inputs = [
        ChannelHits {
            channel: Channel::Dense,
            weight: 1.0,
            hits: &dense,
        },
        ChannelHits {
            channel: Channel::Sparse,
            weight: 0.8,
            hits: &sparse,
        },
    ];
    let mut g = c.benchmark_group("fusion");
    g.bench_function("rrf_2x1000_top10", |b| {
        b.iter(|| rrf(black_box(&inputs), 60, 10));
    });
    g.bench_function("rrf_2x1000_all", |b| {
        b.iter(|| rrf(black_box(&inputs), 60, 2 * n));
    });
    g.finish();

    let cfg = GatingConfig::default();
    let queries = [
        "StockLedger::reserve",
        "where is the refund for a captured payment computed",
        "parse_token jwt expiry",
        "fn apply_coupon(code: &str) -> Result<Discount>",
    ];
    let mut g = c.benchmark_group("gating");
    g.bench_function("decide_4_queries", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(decide(black_box(q), &cfg));
            }
        });
    });
    g.finish();
}

criterion_group!(benches, fusion);
criterion_main!(benches);
