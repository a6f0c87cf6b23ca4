//! No silent degradation and safe publishing (issue 15, items 6 and 7),
//! end to end on a running server:
//! - a dimension change of the embedder turns the dense channel off with a
//!   named `limits` entry and a metric;
//! - a dead embeddings server costs the first query its timeouts, then the
//!   circuit breaker answers at once (the mock sees no more requests) until
//!   a probe after the cool-down;
//! - concurrent re-indexes and a CLI rollback end with the server serving
//!   what `CURRENT` names last, and a CLI `index` / `rollback` reaches the
//!   running server without a restart;
//! - `prune` never removes a version still served;
//! - a torn version falls back to its parent, with an error log and a
//!   `limits` entry on every answer.

// Test helpers outside `#[test]` functions unwrap too (a failure is the test failing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use codeintel_server::embed::{Embedder, OpenAiConfig, OpenAiEmbedder, hash_embedding};
use codeintel_server::index::build::{self, BuildOptions};
use codeintel_server::index::publish::{DataDir, KEEP_VERSIONS};
use codeintel_server::observability::metrics::Metrics;
use codeintel_server::serve::RunningServer;
use serve_support::*;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

async fn search(server: &RunningServer, query: &str) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/search", server.url()))
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn limit<'a>(body: &'a serde_json::Value, code: &str) -> Option<&'a serde_json::Value> {
    body["limits"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["code"] == code))
}

/// Answers embeddings of dimension `dim` under the test model's name.
struct DimResponder(usize);

impl Respond for DimResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: serde_json::Value = request.body_json().unwrap();
        let inputs: Vec<String> = body["input"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let data: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| serde_json::json!({"object": "embedding", "index": i, "embedding": hash_embedding(t, self.0)}))
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"object": "list", "model": MODEL, "data": data}))
    }
}

async fn mock_of_dimension(dim: usize) -> MockServer {
    let server = MockServer::builder().start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/embeddings"))
        .respond_with(DimResponder(dim))
        .mount(&server)
        .await;
    server
}

fn client(url: &str, metrics: Metrics, tune: impl FnOnce(&mut OpenAiConfig)) -> Arc<dyn Embedder> {
    let mut cfg = OpenAiConfig::new(url, MODEL);
    cfg.max_retries = 0;
    cfg.backoff_base = Duration::from_millis(10);
    cfg.backoff_max = Duration::from_millis(50);
    tune(&mut cfg);
    Arc::new(OpenAiEmbedder::new(cfg, metrics).unwrap())
}

/// Indexes the workspace with the test model at dimension [`DIM`].
async fn index_with_the_test_model(ws: &Workspace, metrics: &Metrics) {
    let mock = embeddings_mock().await;
    let first = start_ready(
        ws.config(Some(&mock.uri())),
        metrics.clone(),
        Some(openai(&mock.uri(), metrics.clone())),
    )
    .await;
    first.shutdown().await.unwrap();
}

fn all_sparse(body: &serde_json::Value) -> bool {
    body["findings"].as_array().unwrap().iter().all(|f| {
        f["channels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["channel"] == "sparse")
    })
}

/// Same model name, another dimension: known up front (configured) or
/// learnt from the first answer, the dense channel is switched off with a
/// `dense_dimension_mismatch` limit, counted in
/// `codeintel_search_limits_total`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dimension_change_turns_the_dense_channel_off_says_so_and_counts_it() {
    spans();
    let ws = Workspace::new();
    let telemetry = own_metrics("safety-dimension");
    let metrics = telemetry.metrics.clone();
    index_with_the_test_model(&ws, &metrics).await;

    let other = mock_of_dimension(DIM / 2).await;
    for configured in [None, Some(DIM / 2)] {
        let embedder = client(&other.uri(), metrics.clone(), |c| {
            c.expected_dimension = configured;
        });
        let server = start_ready(ws.config(None), metrics.clone(), Some(embedder)).await;
        let body = search(&server, "refund a captured payment").await;
        let l = limit(&body, "dense_dimension_mismatch")
            .unwrap_or_else(|| panic!("a named limit ({configured:?}): {body}"));
        let message = l["message"].as_str().unwrap();
        assert!(
            message.contains(&DIM.to_string()) && message.contains(&(DIM / 2).to_string()),
            "names both dimensions: {message}"
        );
        assert!(limit(&body, "dense_model_mismatch").is_none(), "{body}");
        assert!(!body["findings"].as_array().unwrap().is_empty(), "{body}");
        assert!(all_sparse(&body), "{body}");
        server.shutdown().await.unwrap();
    }
    let text = telemetry.registry.render();
    let counted = sample_sum(
        &text,
        "codeintel_search_limits_total",
        &["limit=\"dense_dimension_mismatch\""],
    );
    assert!((counted - 2.0).abs() < f64::EPSILON, "{counted}: {text}");
}

/// A server that never answers in time: the first query pays the timeouts
/// up to the breaker's threshold, the next ones are answered from the
/// sparse channel at once, without a request; after the cool-down one probe
/// goes out, and a healthy server closes the breaker again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_embedder_costs_one_timeout_then_the_breaker_answers_at_once() {
    spans();
    let ws = Workspace::new();
    let telemetry = own_metrics("safety-breaker");
    let metrics = telemetry.metrics.clone();
    index_with_the_test_model(&ws, &metrics).await;

    let dead = MockServer::builder().start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&dead)
        .await;
    let timeout = Duration::from_millis(400);
    let cooldown = Duration::from_secs(2);
    let embedder = client(&dead.uri(), metrics.clone(), |c| {
        c.timeout = timeout;
        c.max_retries = 3;
        c.breaker_threshold = 2;
        c.breaker_cooldown = cooldown;
    });
    let server = start_ready(ws.config(None), metrics.clone(), Some(embedder)).await;
    let requests = || async { dead.received_requests().await.unwrap().len() };

    let t = Instant::now();
    let first = search(&server, "refund a captured payment").await;
    let first_took = t.elapsed();
    assert!(limit(&first, "dense_unavailable").is_some(), "{first}");
    assert_eq!(
        requests().await,
        2,
        "the breaker opened after 2 failed attempts and stopped the retries"
    );
    assert!(
        first_took < Duration::from_secs(3),
        "two timeouts, not four: {first_took:?}"
    );

    for _ in 0..4 {
        let t = Instant::now();
        let body = search(&server, "refund a captured payment").await;
        let took = t.elapsed();
        assert!(
            took < timeout,
            "the open breaker answers without waiting for a timeout: {took:?}"
        );
        let l = limit(&body, "dense_unavailable").unwrap_or_else(|| panic!("{body}"));
        assert!(
            l["message"]
                .as_str()
                .unwrap()
                .contains("consecutive failures"),
            "{body}"
        );
        assert!(!body["findings"].as_array().unwrap().is_empty(), "{body}");
    }
    assert_eq!(requests().await, 2, "no request while the breaker is open");
    let text = telemetry.registry.render();
    assert!(
        sample_sum(&text, "codeintel_embed_breaker_rejections_total", &[]) >= 4.0,
        "{text}"
    );

    // Half-open: after the cool-down one probe goes out (and fails here).
    tokio::time::sleep(cooldown + Duration::from_millis(200)).await;
    search(&server, "refund a captured payment").await;
    assert_eq!(requests().await, 3, "exactly one probe");

    // The server recovers: the next probe closes the breaker.
    dead.reset().await;
    Mock::given(matchers::method("POST"))
        .respond_with(DimResponder(DIM))
        .mount(&dead)
        .await;
    tokio::time::sleep(cooldown + Duration::from_millis(200)).await;
    let body = search(&server, "refund a captured payment").await;
    assert!(body["limits"].as_array().unwrap().is_empty(), "{body}");
    let body = search(&server, "refund a captured payment").await;
    assert!(body["limits"].as_array().unwrap().is_empty(), "{body}");
    assert_eq!(requests().await, 2, "closed again: one request per query");
    server.shutdown().await.unwrap();
}

/// A server that keeps answering 429: after the retries the answer says
/// "rate limited" (`dense_rate_limited`), not "unavailable", and the
/// breaker stays closed (the server is alive).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limited_embedder_is_reported_as_rate_limited() {
    spans();
    let ws = Workspace::new();
    let metrics = Metrics::noop();
    index_with_the_test_model(&ws, &metrics).await;
    let busy = MockServer::builder().start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_string("slow down"))
        .mount(&busy)
        .await;
    let embedder = client(&busy.uri(), metrics.clone(), |c| {
        c.max_retries = 1;
        c.breaker_threshold = 1;
    });
    let server = start_ready(ws.config(None), metrics, Some(embedder)).await;
    for _ in 0..2 {
        let body = search(&server, "refund a captured payment").await;
        let l = limit(&body, "dense_rate_limited").unwrap_or_else(|| panic!("{body}"));
        assert!(
            l["message"].as_str().unwrap().contains("rate limiting"),
            "{body}"
        );
        assert!(limit(&body, "dense_unavailable").is_none(), "{body}");
    }
    assert_eq!(
        busy.received_requests().await.unwrap().len(),
        4,
        "two attempts per query: a 429 does not open the breaker"
    );
    server.shutdown().await.unwrap();
}

/// Waits until the server serves `version` (the `CURRENT` watcher polls).
async fn until_served(server: &RunningServer, version: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // The engine is swapped first and readiness updated just after:
        // wait for both (a reader may see the new engine a moment early).
        let served = server.state().engine.current().map(|i| i.version.clone());
        if served.as_deref() == Some(version) && server.state().readiness() == serve_ready(version)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server still serves {served:?}, not {version}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn touch(ws: &Workspace, n: usize) {
    std::fs::write(
        ws.repo().join(format!("added_{n}.py")),
        format!("def added_{n}():\n    return {n}\n"),
    )
    .unwrap();
}

/// What the CLI's `index` does (another process, in effect: it only shares
/// the data folder with the server).
async fn cli_index(ws: &Workspace) -> String {
    let data = DataDir::open(&ws.data()).unwrap();
    let out = build::build(
        &ws.repo(),
        &data,
        Some(hash(Metrics::noop())),
        &Metrics::noop(),
        &BuildOptions::default(),
    )
    .await
    .unwrap();
    out.version.name
}

fn cli_rollback(ws: &Workspace, to: Option<&str>) -> String {
    let data = DataDir::existing(&ws.data()).unwrap();
    let lock = data.lock().unwrap();
    data.rollback(&lock, to).unwrap().name
}

/// Three re-indexes at once through the server, then a CLI rollback and a
/// CLI index: the server always ends on what `CURRENT` names — the newest
/// build, then the rolled-back version, then the newest build again —
/// without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reindexes_and_cli_changes_end_on_what_current_names() {
    spans();
    let ws = Workspace::new();
    let metrics = Metrics::noop();
    let server = start_ready(ws.config(None), metrics.clone(), Some(hash(metrics))).await;
    assert_eq!(server.wait_ready(READY).await.unwrap(), "v000001");

    touch(&ws, 1);
    let state = server.state().clone();
    let (a, b, c) = tokio::join!(state.reindex(), state.reindex(), state.reindex());
    let built: Vec<String> = [a, b, c].into_iter().map(Result::unwrap).collect();
    let data = DataDir::existing(&ws.data()).unwrap();
    assert_eq!(data.current_name().unwrap().as_deref(), Some("v000004"));
    assert_eq!(
        server.state().engine.current().unwrap().version,
        "v000004",
        "served after {built:?}"
    );
    assert!(built.contains(&"v000004".to_owned()), "{built:?}");

    // CLI rollback, while the server runs: it follows.
    assert_eq!(cli_rollback(&ws, None), "v000003");
    until_served(&server, "v000003").await;
    let body = search(&server, "payment").await;
    assert_eq!(body["index_version"], "v000003", "{body}");

    // CLI index: a newer version than the rolled-back one.
    touch(&ws, 2);
    let newest = cli_index(&ws).await;
    assert_eq!(newest, "v000005");
    until_served(&server, &newest).await;
    assert_eq!(
        server.state().readiness(),
        serve_ready(&newest),
        "readiness names it"
    );
    server.shutdown().await.unwrap();
}

fn serve_ready(version: &str) -> codeintel_server::serve::Readiness {
    codeintel_server::serve::Readiness::Ready {
        version: version.to_owned(),
    }
}

/// A version a search still holds (in this process or another) survives
/// `prune` however many builds follow, and is pruned once released.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prune_never_removes_a_served_version() {
    spans();
    let ws = Workspace::new();
    let metrics = Metrics::noop();
    let server = start_ready(ws.config(None), metrics.clone(), Some(hash(metrics))).await;
    // A search in flight on v1 holds it.
    let held = server.state().engine.current().unwrap();
    assert_eq!(held.version, "v000001");
    let v1 = ws.data().join("versions").join("v000001");

    let mut newest = String::new();
    for n in 0..(KEEP_VERSIONS + 2) {
        touch(&ws, n);
        newest = cli_index(&ws).await;
    }
    until_served(&server, &newest).await;
    let data = DataDir::existing(&ws.data()).unwrap();
    let kept: Vec<String> = data
        .versions()
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert!(v1.is_dir(), "the held version was pruned: {kept:?}");
    assert!(
        !ws.data().join("versions").join("v000002").exists(),
        "unheld old versions are pruned: {kept:?}"
    );
    // The holder can still read it.
    assert!(!held.catalog.files().unwrap().is_empty());

    drop(held);
    touch(&ws, 99);
    cli_index(&ws).await;
    assert!(!v1.exists(), "released, it is pruned on the next build");
    server.shutdown().await.unwrap();
}

/// `CURRENT` names a version whose catalog is gone: the server serves the
/// parent, logs an error naming the torn version, and every answer says so
/// in `limits`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_torn_version_falls_back_to_its_parent_loudly() {
    let telemetry = spans();
    let ws = Workspace::new();
    assert_eq!(cli_index(&ws).await, "v000001");
    touch(&ws, 1);
    assert_eq!(cli_index(&ws).await, "v000002");
    let torn = ws.data().join("versions").join("v000002");
    std::fs::remove_file(torn.join("catalog.duckdb")).unwrap();

    let metrics = Metrics::noop();
    let server = start_ready(ws.config(None), metrics.clone(), Some(hash(metrics))).await;
    assert_eq!(server.state().engine.current().unwrap().version, "v000001");
    let body = search(&server, "payment").await;
    assert_eq!(body["index_version"], "v000001", "{body}");
    let l = limit(&body, "index_fallback").unwrap_or_else(|| panic!("{body}"));
    let message = l["message"].as_str().unwrap();
    assert!(
        message.contains("v000002") && message.contains("v000001"),
        "{message}"
    );
    let logs = codeintel_server::observability::testing::emitted_logs(telemetry);
    assert!(
        logs.iter().any(|l| {
            let text = format!("{:?}", l.record);
            l.record.severity_number() == Some(opentelemetry::logs::Severity::Error)
                && text.contains("torn")
                && text.contains("v000002")
        }),
        "an error log names the torn version"
    );
    server.shutdown().await.unwrap();
}
