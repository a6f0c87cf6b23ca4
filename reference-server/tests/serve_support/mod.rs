//! Shared helpers of the `serve_*` integration tests: the fixture repository
//! copied into a temp dir, an OpenAI-compatible embeddings mock (wiremock)
//! answering deterministic hash embeddings, embedders, configuration and
//! span-tree helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use codeintel_server::config::{Config, ConfigArgs};
use codeintel_server::embed::{
    EmbedError, Embedder, HashEmbedder, OpenAiConfig, OpenAiEmbedder, hash_embedding,
};
use codeintel_server::observability::Telemetry;
use codeintel_server::observability::metrics::Metrics;
use codeintel_server::serve::{self, RunningServer};
use futures::future::BoxFuture;
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

/// Vector dimension of the test embeddings.
pub const DIM: usize = 128;
/// Model name the mock and the client use.
pub const MODEL: &str = "test-embed-model";
/// How long a test waits for the first index version.
pub const READY: Duration = Duration::from_secs(120);

/// The process-wide in-memory telemetry (spans of every test in this binary).
pub fn spans() -> &'static Telemetry {
    codeintel_server::observability::testing::global()
}

/// Fresh in-memory telemetry for one test's metrics (exact counts).
pub fn own_metrics(name: &str) -> Telemetry {
    codeintel_server::observability::testing::in_memory(name)
}

pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fixtures")
        .join(path)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let ty = entry.file_type().unwrap();
        if ty.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if ty.is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A temp dir holding `repo/` (a copy of `fixtures/repos/sample`) and `data/`.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sample = fixture("repos/sample");
        assert!(
            sample.is_dir(),
            "fixture repository missing: {}",
            sample.display()
        );
        copy_dir(&sample, &dir.path().join("repo"));
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        Self { dir }
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A loopback, port-0 configuration for this workspace.
    pub fn config(&self, vllm_url: Option<&str>) -> Config {
        let args = ConfigArgs {
            repo: Some(self.repo()),
            data: Some(self.data()),
            http_addr: Some("127.0.0.1:0".into()),
            vllm_url: vllm_url.map(str::to_owned),
            embed_model: Some(MODEL.into()),
            ..ConfigArgs::default()
        };
        let mut c = Config::resolve(&args).unwrap();
        c.token = None;
        c
    }
}

/// Answers `POST /v1/embeddings` with `hash_embedding(text, DIM)` per input.
struct HashResponder {
    delay: Option<Duration>,
}

impl Respond for HashResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: serde_json::Value = match request.body_json() {
            Ok(v) => v,
            Err(e) => return ResponseTemplate::new(400).set_body_string(e.to_string()),
        };
        let inputs: Vec<String> = match &body["input"] {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect(),
            _ => return ResponseTemplate::new(400).set_body_string("input missing"),
        };
        let data: Vec<serde_json::Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| serde_json::json!({"object": "embedding", "index": i, "embedding": hash_embedding(t, DIM)}))
            .collect();
        let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
        let mut r = ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "object": "list",
            "model": body["model"],
            "data": data,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }));
        if let Some(d) = self.delay {
            r = r.set_delay(d);
        }
        r
    }
}

/// An embeddings server (dedicated, so dropping it really stops it).
pub async fn embeddings_mock() -> MockServer {
    let server = MockServer::builder().start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/embeddings"))
        .respond_with(HashResponder { delay: None })
        .mount(&server)
        .await;
    server
}

/// The HTTP embedder pointed at `url`, recording into `metrics`.
pub fn openai(url: &str, metrics: Metrics) -> Arc<dyn Embedder> {
    let mut cfg = OpenAiConfig::new(url, MODEL);
    cfg.timeout = Duration::from_secs(5);
    cfg.max_retries = 0;
    cfg.backoff_base = Duration::from_millis(10);
    cfg.backoff_max = Duration::from_millis(50);
    Arc::new(OpenAiEmbedder::new(cfg, metrics).unwrap())
}

/// The offline hash embedder.
pub fn hash(metrics: Metrics) -> Arc<dyn Embedder> {
    Arc::new(HashEmbedder::new(DIM).with_metrics(metrics))
}

/// A hash embedder that blocks every call until [`Gate::open`].
pub struct Gate {
    open: tokio::sync::watch::Sender<bool>,
}

impl Gate {
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    pub fn close(&self) {
        self.open.send_replace(false);
    }
}

pub struct GatedEmbedder {
    inner: HashEmbedder,
    open: tokio::sync::watch::Receiver<bool>,
}

pub fn gated() -> (Arc<dyn Embedder>, Gate) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    (
        Arc::new(GatedEmbedder {
            inner: HashEmbedder::new(DIM),
            open: rx,
        }),
        Gate { open: tx },
    )
}

impl Embedder for GatedEmbedder {
    fn model(&self) -> &str {
        self.inner.model()
    }
    fn client_name(&self) -> &'static str {
        "gated"
    }
    fn dimension(&self) -> Option<usize> {
        Some(DIM)
    }
    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(async move {
            let mut rx = self.open.clone();
            rx.wait_for(|open| *open)
                .await
                .map_err(|e| EmbedError::Config(e.to_string()))?;
            self.inner.embed(texts).await
        })
    }
}

/// Starts a server and waits until its index is loaded.
pub async fn start_ready(
    config: Config,
    metrics: Metrics,
    embedder: Option<Arc<dyn Embedder>>,
) -> RunningServer {
    let server = serve::start(config, metrics, embedder).await.unwrap();
    server.wait_ready(READY).await.unwrap();
    server
}

// ---------------------------------------------------------------- spans

pub fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

pub fn attr_str(span: &SpanData, key: &str) -> Option<String> {
    attr(span, key).map(|v| v.as_str().into_owned())
}

/// Whether `span` has `ancestor` among its parents (within `trace`).
pub fn descends_from(trace: &[SpanData], span: &SpanData, ancestor: &SpanData) -> bool {
    let target = ancestor.span_context.span_id();
    let mut parent = span.parent_span_id;
    for _ in 0..64 {
        if parent == target {
            return true;
        }
        match trace.iter().find(|s| s.span_context.span_id() == parent) {
            Some(p) => parent = p.parent_span_id,
            None => return false,
        }
    }
    false
}

/// Waits (briefly) until the spans of `trace_id` include one named `name`.
pub async fn trace_with(trace_id: &str, name: &str) -> Vec<SpanData> {
    for _ in 0..50 {
        let spans = codeintel_server::observability::testing::spans_of_trace(spans(), trace_id);
        if spans.iter().any(|s| s.name == name) {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    codeintel_server::observability::testing::spans_of_trace(spans(), trace_id)
}

pub fn names(trace: &[SpanData]) -> Vec<String> {
    trace.iter().map(|s| s.name.to_string()).collect()
}

// ---------------------------------------------------------------- metrics

/// Sum of the samples of `metric` (name prefix match on the series name,
/// e.g. `codeintel_gating_decisions_total`) in a Prometheus text exposition,
/// restricted to series whose labels contain every `label` given.
pub fn sample_sum(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let name = l.split(['{', ' ']).next().unwrap_or_default();
            name == metric
        })
        .filter(|l| labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

// ---------------------------------------------------------------- golden queries

/// One golden query: the text and the file it must find.
#[derive(Debug, Clone)]
pub struct Golden {
    pub query: String,
    pub expect_path: String,
}

fn str_field(t: &toml::Table, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| t.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
}

/// `fixtures/golden/queries.toml`: every table with a query and an expected
/// file, whatever the array is called.
pub fn golden_queries() -> Vec<Golden> {
    let path = fixture("golden/queries.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let mut out = Vec::new();
    for value in doc.values() {
        let Some(items) = value.as_array() else {
            continue;
        };
        for item in items {
            let Some(t) = item.as_table() else { continue };
            let query = str_field(t, &["query", "text", "q"]);
            let expect = str_field(
                t,
                &[
                    "expect_path",
                    "expect_file",
                    "expected_file",
                    "file",
                    "path",
                    "expected",
                ],
            );
            if let (Some(query), Some(expect_path)) = (query, expect) {
                out.push(Golden { query, expect_path });
            }
        }
    }
    assert!(!out.is_empty(), "no queries found in {}", path.display());
    out
}
