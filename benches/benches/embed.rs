//! Embed latency (issue 8): our OpenAI-compatible HTTP client
//! ([`OpenAiEmbedder`]) against a local axum stub on 127.0.0.1.
//!
//! - `embed_instant`: the stub answers at once (answers pre-rendered), so the
//!   time is the client's own cost per call and per text: one `embed` call of
//!   1, 8, 32 or 128 texts, one request each.
//! - `embed_5ms`: the stub sleeps 5 ms before answering: 32 texts as one
//!   request of 32, as 32 sequential one-text calls, and as one call split
//!   into 32 one-text requests all in flight at once (batching and
//!   concurrency effect).
//!
//! Every bench also checks that `codeintel_embed_latency_seconds`, which the
//! client records per HTTP attempt, agrees with the times handed to criterion
//! (`iter_custom`: the same calls, timed one by one) within the width of the
//! histogram bucket holding criterion's mean; it panics if they disagree. The
//! agreement is printed and, under `cargo bench`, saved to
//! `<criterion dir>/embed_agreement.json`.
//!
//! `cargo bench -p codeintel-benches --profile dev --bench embed`

// A bench that cannot start its stub has nothing to measure: fail loudly.
#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use codeintel_benches::report::{PromHistogram, bucket_of};
use codeintel_benches::{bench_mode, criterion_dir, merge_json};
use codeintel_server::embed::Embedder;
use codeintel_server::embed::openai::{OpenAiConfig, OpenAiEmbedder};
use codeintel_server::observability::metrics::{
    LATENCY_BUCKETS, PromRegistry, meter_provider_with_registry,
};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use serde_json::{Map, Value, json};

const DIM: usize = 384;
const MODEL: &str = "bench-model";

struct Stub {
    delay: Duration,
    /// Pre-rendered answers by (texts, base64).
    bodies: Mutex<HashMap<(usize, bool), Bytes>>,
}

#[derive(serde::Deserialize)]
struct Req {
    input: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    encoding_format: Option<String>,
}

/// An answer of `n` vectors, as JSON numbers or (what the client asks for
/// first, as OpenAI and vLLM serve it) base64 of little-endian f32.
fn answer(n: usize, base64: bool) -> Bytes {
    use base64::Engine as _;
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let data: Vec<Value> = (0..n)
        .map(|i| {
            let v: Vec<f64> = (0..DIM)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    ((x % 2_000_001) as f64 / 1e6 - 1.0) / 20.0
                })
                .collect();
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    Bytes::from(
        serde_json::to_vec(&json!({
            "object": "list",
            "model": MODEL,
            "data": data,
            "usage": {"prompt_tokens": n * 12, "total_tokens": n * 12},
        }))
        .expect("answer JSON"),
    )
}

async fn embeddings(State(stub): State<Arc<Stub>>, body: Bytes) -> impl IntoResponse {
    let key = serde_json::from_slice::<Req>(&body).map_or((0, false), |r| {
        (
            r.input.len(),
            r.encoding_format.as_deref() == Some("base64"),
        )
    });
    let cached = stub
        .bodies
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
        .cloned();
    let out = cached.unwrap_or_else(|| {
        let b = answer(key.0, key.1);
        stub.bodies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, b.clone());
        b
    });
    if !stub.delay.is_zero() {
        tokio::time::sleep(stub.delay).await;
    }
    ([(header::CONTENT_TYPE, "application/json")], out)
}

fn start_stub(rt: &tokio::runtime::Runtime, delay: Duration) -> SocketAddr {
    let stub = Arc::new(Stub {
        delay,
        bodies: Mutex::new(HashMap::new()),
    });
    // Pre-render the answers the benches ask for.
    for n in [1, 8, 32, 128] {
        for b64 in [false, true] {
            stub.bodies
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert((n, b64), answer(n, b64));
        }
    }
    let app = Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(stub);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the stub");
    let addr = listener.local_addr().expect("stub address");
    rt.spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("embed stub stopped: {e}");
        }
    });
    addr
}

fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "def compute_refund_{i}(order, customer):\n    return order.total * 0.1  # refund"
            )
        })
        .collect()
}

/// A client with its own metrics (so each bench's histogram holds only its
/// own calls).
fn client(
    addr: SocketAddr,
    batch_size: usize,
    concurrency: usize,
) -> (
    OpenAiEmbedder,
    PromRegistry,
    opentelemetry_sdk::metrics::SdkMeterProvider,
) {
    let (provider, registry, metrics) =
        meter_provider_with_registry(opentelemetry_sdk::Resource::builder().build())
            .expect("meter provider");
    let mut cfg = OpenAiConfig::new(format!("http://{addr}"), MODEL);
    cfg.batch_size = batch_size;
    cfg.max_concurrency = concurrency;
    cfg.max_retries = 0;
    cfg.expected_dimension = Some(DIM);
    (
        OpenAiEmbedder::new(cfg, metrics).expect("client"),
        registry,
        provider,
    )
}

/// The per-call times handed to criterion, one entry per timed call.
#[derive(Default)]
struct Timed(Vec<f64>);

/// Checks the client's histogram against the criterion-side times; panics
/// on disagreement. Returns the JSON record.
fn agreement(id: &str, timed: &Timed, registry: &PromRegistry, attempts_per_call: usize) -> Value {
    let text = registry.render();
    let hist = PromHistogram::parse(&text, "codeintel_embed_latency_seconds")
        .expect("histogram in the scrape");
    let calls = timed.0.len();
    assert_eq!(
        hist.count as usize,
        calls * attempts_per_call,
        "{id}: the histogram counted {} attempts for {calls} timed calls",
        hist.count
    );
    let crit_mean = timed.0.iter().sum::<f64>() / calls.max(1) as f64;
    let hist_mean = hist.sum / hist.count.max(1) as f64;
    let (lo, hi) = bucket_of(crit_mean, &LATENCY_BUCKETS);
    let width = hi - lo;
    let diff = (crit_mean - hist_mean).abs();
    let agree = diff <= width;
    let (mlo, mhi) = hist.median_bucket().unwrap_or((f64::NAN, f64::NAN));
    println!(
        "{id}: criterion mean {:.3} ms, histogram mean {:.3} ms (n={calls}), |Δ| {:.3} ms vs bucket ({:.0}, {:.0}] ms width {:.0} ms: {}; histogram median bucket ({:.0}, {:.0}] ms",
        crit_mean * 1e3,
        hist_mean * 1e3,
        diff * 1e3,
        lo * 1e3,
        hi * 1e3,
        width * 1e3,
        if agree { "AGREE" } else { "DISAGREE" },
        mlo * 1e3,
        mhi * 1e3,
    );
    assert!(
        agree,
        "{id}: codeintel_embed_latency_seconds (mean {hist_mean:.6}s) disagrees with criterion's measurement (mean {crit_mean:.6}s) by more than the bucket width {width}s"
    );
    json!({
        "calls": calls,
        "criterion_mean_s": crit_mean,
        "histogram_mean_s": hist_mean,
        "bucket_s": [lo, hi],
        "agree": agree,
    })
}

fn embed_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut records = Map::new();

    // Instant stub: client overhead per call and per text.
    let instant = start_stub(&rt, Duration::ZERO);
    let mut g = c.benchmark_group("embed_instant");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for n in [1usize, 8, 32, 128] {
        let (emb, registry, _provider) = client(instant, 128, 1);
        let input = texts(n);
        let mut timed = Timed::default();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("batch", n), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        let out = emb.embed(&input).await.expect("embed");
                        let d = t.elapsed();
                        assert_eq!(out.len(), n);
                        timed.0.push(d.as_secs_f64());
                        total += d;
                    }
                    total
                })
            });
        });
        let id = format!("embed_instant/batch/{n}");
        records.insert(id.clone(), agreement(&id, &timed, &registry, 1));
    }
    g.finish();

    // 5 ms stub: batching and concurrency.
    let slow = start_stub(&rt, Duration::from_millis(5));
    let mut g = c.benchmark_group("embed_5ms");
    g.sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .throughput(Throughput::Elements(32));
    let input = texts(32);

    let (emb, registry, _p1) = client(slow, 32, 1);
    let mut timed = Timed::default();
    g.bench_function("32_texts/1x32_batch", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    emb.embed(&input).await.expect("embed");
                    let d = t.elapsed();
                    timed.0.push(d.as_secs_f64());
                    total += d;
                }
                total
            })
        });
    });
    let id = "embed_5ms/32_texts/1x32_batch".to_owned();
    records.insert(id.clone(), agreement(&id, &timed, &registry, 1));

    let (emb, registry, _p2) = client(slow, 1, 1);
    let mut timed = Timed::default();
    g.bench_function("32_texts/32x1_sequential", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    for text in &input {
                        let t = Instant::now();
                        emb.embed_one(text).await.expect("embed");
                        let d = t.elapsed();
                        timed.0.push(d.as_secs_f64());
                        total += d;
                    }
                }
                total
            })
        });
    });
    let id = "embed_5ms/32_texts/32x1_sequential".to_owned();
    records.insert(id.clone(), agreement(&id, &timed, &registry, 1));

    // One call, 32 one-text requests all in flight: a call's time is about
    // its slowest request, so only the attempt count is checked here.
    let (emb, registry, _p3) = client(slow, 1, 32);
    let mut calls = 0usize;
    g.bench_function("32_texts/32x1_concurrent", |b| {
        b.iter(|| {
            calls += 1;
            rt.block_on(emb.embed(&input)).expect("embed")
        });
    });
    let hist = PromHistogram::parse(&registry.render(), "codeintel_embed_latency_seconds")
        .expect("histogram");
    assert_eq!(
        hist.count as usize,
        calls * 32,
        "concurrent: one attempt per text"
    );
    println!(
        "embed_5ms/32_texts/32x1_concurrent: histogram mean per request {:.3} ms over {} requests",
        hist.sum / hist.count.max(1) as f64 * 1e3,
        hist.count
    );
    g.finish();

    if bench_mode() {
        let path = criterion_dir().join("embed_agreement.json");
        merge_json(&path, records).expect("write agreement JSON");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = embed_benches
}
criterion_main!(benches);
