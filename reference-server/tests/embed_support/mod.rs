//! Shared helpers of the `embed_*` integration tests: a wiremock responder
//! that behaves like an OpenAI-compatible embeddings server, and a reader of
//! the Prometheus scrape.
// Test support: a failed unwrap is a failed test.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use codeintel_server::embed::{OpenAiConfig, hash_embedding};
use codeintel_server::observability::metrics::{
    Metrics, PromRegistry, meter_provider_with_registry,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const MODEL: &str = "test-model";
pub const EMBEDDINGS_PATH: &str = "/v1/embeddings";

/// Answers each request with `hash_embedding(text, dim)` per input, like a
/// real server: optionally in reverse order, after a delay, recording when
/// each request arrived.
#[derive(Clone, Default)]
pub struct Echo {
    pub dim: usize,
    pub reverse: bool,
    pub delay: Duration,
    pub arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Echo {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            ..Self::default()
        }
    }
}

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.arrivals.lock().unwrap().push(Instant::now());
        let body: Value = request.body_json().unwrap();
        let inputs = body["input"].as_array().unwrap();
        let mut data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                json!({
                    "object": "embedding",
                    "index": i,
                    "embedding": hash_embedding(t.as_str().unwrap(), self.dim),
                })
            })
            .collect();
        if self.reverse {
            data.reverse();
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({
                "object": "list",
                "model": body["model"],
                "data": data,
                "usage": {"prompt_tokens": inputs.len(), "total_tokens": inputs.len()},
            }))
            .set_delay(self.delay)
    }
}

/// A POST /v1/embeddings mock.
pub fn embeddings() -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path(EMBEDDINGS_PATH))
}

/// A fast-retrying configuration against `base`.
pub fn config(base: &str) -> OpenAiConfig {
    let mut c = OpenAiConfig::new(base, MODEL);
    c.backoff_base = Duration::from_millis(5);
    c.backoff_max = Duration::from_millis(50);
    c.timeout = Duration::from_secs(5);
    c
}

pub fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("fn handler_{i}() {{ parse request number {i} }}"))
        .collect()
}

/// The `input` lists of every request the server received, in arrival order.
pub async fn received_inputs(server: &MockServer) -> Vec<Vec<String>> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let body: Value = r.body_json().unwrap();
            body["input"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

/// Real metrics on a fresh Prometheus registry (the provider must outlive
/// the scrape).
pub fn real_metrics() -> (
    opentelemetry_sdk::metrics::SdkMeterProvider,
    PromRegistry,
    Metrics,
) {
    meter_provider_with_registry(opentelemetry_sdk::Resource::builder().build()).unwrap()
}

/// Sum of the samples of `name` whose labels include all of `labels`.
pub fn sample(scrape: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, lbls) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if n != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| lbls.split(',').any(|kv| kv == format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}

/// A sum of integer-valued samples (counts, batch sizes) as an integer.
fn whole(x: f64) -> u64 {
    assert!(x >= 0.0 && x.fract() == 0.0, "not a whole number: {x}");
    x as u64
}

/// Embed attempts counted with `outcome`, for the test model.
pub fn attempts(scrape: &str, outcome: &str) -> u64 {
    whole(sample(
        scrape,
        "codeintel_embed_latency_seconds_count",
        &[("client", "openai"), ("model", MODEL), ("outcome", outcome)],
    ))
}

/// Sum of `embed_batch_size` for the test model.
pub fn batch_sum(scrape: &str) -> u64 {
    whole(sample(
        scrape,
        "codeintel_embed_batch_size_sum",
        &[("client", "openai"), ("model", MODEL)],
    ))
}

/// A local port nobody listens on.
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
