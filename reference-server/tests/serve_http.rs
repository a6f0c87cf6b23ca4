//! The HTTP surface against a real server on 127.0.0.1:0: readiness while
//! loading, SERVER spans continuing `traceparent`, no metrics route on the
//! app port, request validation, runpacks, auth and bind safety, degraded
//! search with the embeddings server down, searches during a publish, and
//! the golden queries (hybrid vs dense-only vs sparse-only).

// Test helpers outside `#[test]` functions unwrap too (a failure is the test failing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;

use std::collections::BTreeSet;
use std::time::Duration;

use codeintel_server::diagnostics::runpack;
use codeintel_server::serve::{self, ServeError};
use opentelemetry::trace::{SpanKind, Status};
use serve_support::*;

async fn post_search(
    client: &reqwest::Client,
    base: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = client
        .post(format!("{base}/v1/search"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_is_503_while_loading_then_200_and_every_request_has_a_server_span() {
    spans();
    let ws = Workspace::new();
    let (embedder, gate) = gated();
    let server = serve::start(
        ws.config(None),
        own_metrics("http-ready").metrics.clone(),
        Some(embedder),
    )
    .await
    .unwrap();
    let base = server.url();
    let http = reqwest::Client::new();

    // The listener answers at once; the first build waits on the embedder.
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("loading the index"),
        "{body}"
    );
    let (status, body) = post_search(&http, &base, serde_json::json!({"query": "config"})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "not_ready");

    gate.open();
    let version = server.wait_ready(READY).await.unwrap();

    // A continued traceparent: the SERVER span joins the caller's trace.
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let parent = "b7ad6b7169203331";
    let ready = http
        .get(format!("{base}/readyz"))
        .header("traceparent", format!("00-{trace_id}-{parent}-01"))
        .header("user-agent", "serve-http-test")
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["index_version"], version.as_str());

    let trace = trace_with(trace_id, "GET /readyz").await;
    let span = trace
        .iter()
        .find(|s| s.name == "GET /readyz")
        .expect("SERVER span for GET /readyz");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.parent_span_id.to_string(), parent);
    assert_eq!(
        attr_str(span, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(attr_str(span, "http.route").as_deref(), Some("/readyz"));
    assert_eq!(attr_str(span, "url.path").as_deref(), Some("/readyz"));
    assert_eq!(
        attr_str(span, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attr_str(span, "user_agent.original").as_deref(),
        Some("serve-http-test")
    );
    assert_eq!(
        attr_str(span, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert!(attr(span, "server.port").is_some());

    // capz after loading
    let caps: serde_json::Value = http
        .get(format!("{base}/capz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(caps["channels"]["dense"]["available"], true, "{caps}");
    assert_eq!(caps["channels"]["sparse"]["available"], true);
    assert_eq!(caps["tools"].as_array().unwrap().len(), 7);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn app_port_serves_no_metrics_and_bodies_are_validated_with_the_field_named() {
    spans();
    let ws = Workspace::new();
    let metrics = own_metrics("http-validate").metrics.clone();
    let server = start_ready(ws.config(None), metrics.clone(), Some(hash(metrics))).await;
    let base = server.url();
    let http = reqwest::Client::new();

    let scrape = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(scrape.status(), 404, "the app port must not serve metrics");
    let body: serde_json::Value = scrape.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no such endpoint"),
        "{body}"
    );

    let cases: [(&str, &str); 6] = [
        (r#"{"k": 3}"#, "query"),
        (r#"{"query": "x", "k": "ten"}"#, "k"),
        (r#"{"query": "x", "top_k": 3}"#, "top_k"),
        (r#"{"query": 42}"#, "query"),
        (r#"{"query": "x", "refine": "yes"}"#, "refine"),
        (r#"{"query": "x", "k": 0}"#, "k"),
    ];
    for (raw, field) in cases {
        let r = http
            .post(format!("{base}/v1/search"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{raw}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["field"], field, "{raw}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(field),
            "{raw}: {body}"
        );
    }
    for raw in ["", "{not json", r#"{"query": "x"} trailing"#] {
        let r = http
            .post(format!("{base}/v1/search"))
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{raw:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{body}");
    }
    let huge = format!(r#"{{"query": "{}"}}"#, "x".repeat(2 << 20));
    let r = http
        .post(format!("{base}/v1/search"))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    // Unknown runpack id: 404 with a message.
    let r = http
        .get(format!(
            "{base}/v1/runpack/0123456789abcdef0123456789abcdef"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no run with trace id"),
        "{body}"
    );

    // A real run: the runpack holds its timeline, stages, config and report.
    let (status, body) = post_search(
        &http,
        &base,
        serde_json::json!({"query": "reserve stock of a SKU", "k": 3}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let trace_id = body["trace_id"].as_str().unwrap();
    assert!(
        body["index_version"].is_string() && body["gating"]["class"].is_string(),
        "{body}"
    );
    let r = http
        .get(format!("{base}/v1/runpack/{trace_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/gzip");
    let entries = runpack::unpack(&r.bytes().await.unwrap()).unwrap();
    let get = |name: &str| {
        String::from_utf8(
            entries
                .iter()
                .find(|(k, _)| k.ends_with(&format!("/{name}")))
                .unwrap_or_else(|| panic!("{name} missing"))
                .1
                .clone(),
        )
        .unwrap()
    };
    let timeline = get("timeline.jsonl");
    for stage in ["gather_channels", "fuse", "hydrate"] {
        assert!(
            timeline.contains(&format!("\"stage\":\"{stage}\"")),
            "{stage} not in timeline"
        );
    }
    assert!(
        !timeline.contains("reserve stock of a SKU"),
        "the timeline holds the raw query"
    );
    let report = get("report.md");
    assert!(report.contains("| hydrate |"), "{report}");
    assert!(get("config.toml").contains("record_query_text = false"));
    assert!(get("stages.json").contains("\"outcome\": \"ok\""));

    // A failed run is kept too, and its report names the stage.
    let (status, body) = post_search(&http, &base, serde_json::json!({"query": "   "})).await;
    assert_eq!(status, 400);
    let message = body["message"].as_str().unwrap();
    let failed_trace = message
        .rsplit("trace id ")
        .next()
        .unwrap()
        .trim_end_matches(')');
    let r = http
        .get(format!("{base}/v1/runpack/{failed_trace}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{message}");
    let entries = runpack::unpack(&r.bytes().await.unwrap()).unwrap();
    let report = entries
        .iter()
        .find(|(k, _)| k.ends_with("/report.md"))
        .unwrap()
        .1;
    assert!(String::from_utf8_lossy(report).contains("The run stopped at stage `gate`"));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embeddings_server_down_search_answers_from_sparse_and_says_so() {
    spans();
    let ws = Workspace::new();
    let mock = embeddings_mock().await;
    let telemetry = own_metrics("http-embed-down");
    let metrics = telemetry.metrics.clone();
    let server = start_ready(
        ws.config(Some(&mock.uri())),
        metrics.clone(),
        Some(openai(&mock.uri(), metrics)),
    )
    .await;
    drop(mock);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let failed_before = sample_sum(
        &telemetry.registry.render(),
        "codeintel_embed_latency_seconds_count",
        &["outcome=\"error\""],
    );

    let http = reqwest::Client::new();
    let (status, body) = post_search(
        &http,
        &server.url(),
        serde_json::json!({"query": "refund a captured payment"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body["findings"].as_array().unwrap().is_empty(),
        "sparse still answers: {body}"
    );
    let limits = body["limits"].as_array().unwrap();
    assert!(
        limits.iter().any(|l| l["code"] == "dense_unavailable"
            && l["message"].as_str().unwrap().contains("sparse")),
        "{body}"
    );
    for f in body["findings"].as_array().unwrap() {
        assert!(
            f["channels"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["channel"] == "sparse"),
            "{f}"
        );
    }
    let trace_id = body["trace_id"].as_str().unwrap();
    let trace = trace_with(trace_id, "hydrate").await;
    let embed = trace
        .iter()
        .find(|s| attr_str(s, "gen_ai.operation.name").as_deref() == Some("embeddings"))
        .unwrap_or_else(|| panic!("no embeddings span in {:?}", names(&trace)));
    assert!(
        matches!(embed.status, Status::Error { .. }),
        "embed span status {:?}",
        embed.status
    );
    assert!(
        embed.events.iter().any(|e| e.name == "exception"),
        "no exception event on the embed span"
    );
    let failed_after = sample_sum(
        &telemetry.registry.render(),
        "codeintel_embed_latency_seconds_count",
        &["outcome=\"error\""],
    );
    assert!(
        failed_after > failed_before,
        "a failed embed call is counted"
    );

    let caps: serde_json::Value = http
        .get(format!("{}/capz", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(caps["channels"]["dense"]["in_index"], true);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_beyond_loopback_needs_a_token_and_the_token_guards_http() {
    spans();
    let ws = Workspace::new();
    let mut config = ws.config(None);
    config.http_addr = "0.0.0.0:0".parse().unwrap();
    config.token = None;
    let err = serve::start(config, own_metrics("http-bind").metrics.clone(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ServeError::Config(_)), "{err}");
    assert!(err.to_string().contains("CODEINTEL_TOKEN"), "{err}");

    // A taken port: the error names the address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = ws.config(None);
    config.http_addr = taken.local_addr().unwrap();
    let err = serve::start(config, own_metrics("http-bind2").metrics.clone(), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&taken.local_addr().unwrap().to_string()),
        "{err}"
    );

    let mut config = ws.config(None);
    config.token = Some("tok".into());
    let metrics = own_metrics("http-auth").metrics.clone();
    let server = start_ready(config, metrics.clone(), Some(hash(metrics))).await;
    let http = reqwest::Client::new();
    let base = server.url();
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "healthz stays open"
    );
    let r = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "{body}"
    );
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .bearer_auth("tok")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = http
        .post(format!("{base}/v1/search"))
        .bearer_auth("tok")
        .json(&serde_json::json!({"query": "config"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_searches_while_a_new_version_is_published_have_no_errors() {
    spans();
    let ws = Workspace::new();
    let metrics = own_metrics("http-publish").metrics.clone();
    let server = start_ready(ws.config(None), metrics.clone(), Some(hash(metrics))).await;
    let first = server.state().readiness();
    let base = server.url();
    let http = reqwest::Client::new();
    // Change the repository so the new version differs.
    std::fs::write(
        ws.repo().join("added_during_test.py"),
        "def freshly_added_function():\n    return 42\n",
    )
    .unwrap();

    let state = server.state().clone();
    let reindex = tokio::spawn(async move { state.reindex().await });
    let mut errors = Vec::new();
    let mut versions = BTreeSet::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let batch = (0..50).map(|i| {
            let http = http.clone();
            let base = base.clone();
            async move {
                let q = [
                    "refund a captured payment",
                    "reserve stock",
                    "applyCouponCode",
                    "nearest warehouse",
                    "hash a password",
                ][i % 5];
                post_search(
                    &http,
                    &base,
                    serde_json::json!({"query": q, "k": 5, "refine": i % 2 == 0}),
                )
                .await
            }
        });
        for (status, body) in futures::future::join_all(batch).await {
            if status == 200 {
                versions.insert(
                    body["index_version"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            } else {
                errors.push(format!("{status}: {body}"));
            }
        }
        if reindex.is_finished() || rounds >= 200 {
            break;
        }
    }
    let new_version = reindex.await.unwrap().unwrap();
    assert!(
        errors.is_empty(),
        "{} errors during publish: {:?}",
        errors.len(),
        &errors[..errors.len().min(3)]
    );
    assert_ne!(
        serve::Readiness::Ready {
            version: new_version.clone()
        },
        first
    );
    let (status, body) = post_search(
        &http,
        &base,
        serde_json::json!({"query": "freshly_added_function"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["index_version"], new_version.as_str());
    assert_eq!(
        body["findings"][0]["path"], "added_during_test.py",
        "{body}"
    );
    println!(
        "{rounds} rounds of 50 concurrent searches during the publish; versions seen: {versions:?}"
    );
    server.shutdown().await.unwrap();
}

#[derive(Default)]
struct Score {
    hits: usize,
    rr: f64,
}

impl Score {
    fn add(&mut self, rank: Option<usize>) {
        if let Some(r) = rank {
            if r <= 5 {
                self.hits += 1;
            }
            self.rr += 1.0 / r as f64;
        }
    }
}

/// 1-based rank of the first finding in `expect` in a list of paths.
fn rank_of(paths: &[String], expect: &str) -> Option<usize> {
    let want = expect.trim_start_matches("./");
    paths
        .iter()
        .position(|p| p == want || p.ends_with(&format!("/{want}")))
        .map(|i| i + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn golden_queries_find_their_file_in_the_top_5() {
    spans();
    let ws = Workspace::new();
    let metrics = own_metrics("http-golden").metrics.clone();
    let server = start_ready(ws.config(None), metrics.clone(), Some(hash(metrics))).await;
    let http = reqwest::Client::new();
    let golden = golden_queries();
    let (mut hybrid, mut dense, mut sparse) =
        (Score::default(), Score::default(), Score::default());
    let mut misses = Vec::new();
    for g in &golden {
        // k = 100 keeps every candidate of both channels (50 each), so each
        // channel's own ranking can be read back from the findings.
        let (status, body) = post_search(
            &http,
            &server.url(),
            serde_json::json!({"query": g.query, "k": 100}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let findings = body["findings"].as_array().unwrap();
        let fused: Vec<String> = findings
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_owned())
            .collect();
        let by_channel = |channel: &str| {
            let mut ranked: Vec<(u64, String)> = findings
                .iter()
                .filter_map(|f| {
                    f["channels"]
                        .as_array()?
                        .iter()
                        .find(|c| c["channel"] == channel)
                        .and_then(|c| c["rank"].as_u64())
                        .map(|r| (r, f["path"].as_str().unwrap_or_default().to_owned()))
                })
                .collect();
            ranked.sort();
            ranked.into_iter().map(|(_, p)| p).collect::<Vec<_>>()
        };
        let r = rank_of(&fused, &g.expect_path);
        hybrid.add(r);
        dense.add(rank_of(&by_channel("dense"), &g.expect_path));
        sparse.add(rank_of(&by_channel("sparse"), &g.expect_path));
        if r.is_none_or(|r| r > 5) {
            misses.push(format!(
                "{:?} → want {} got {:?} (rank {r:?})",
                g.query,
                g.expect_path,
                &fused[..fused.len().min(5)]
            ));
        }
    }
    let n = golden.len() as f64;
    println!("golden queries: {}", golden.len());
    println!("| channel | hit@5 | MRR |\n|---|---:|---:|");
    for (name, s) in [
        ("hybrid", &hybrid),
        ("dense only", &dense),
        ("sparse only", &sparse),
    ] {
        println!("| {name} | {:.2} | {:.3} |", s.hits as f64 / n, s.rr / n);
    }
    assert!(
        misses.is_empty(),
        "golden queries missing their file in the top 5:\n{}",
        misses.join("\n")
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_timeout_is_a_504_with_a_message_and_a_kept_run() {
    spans();
    let ws = Workspace::new();
    let mut config = ws.config(None);
    config.request_timeout = Duration::from_millis(300);
    let (embedder, gate) = gated();
    gate.open();
    let server = start_ready(
        config,
        own_metrics("http-timeout").metrics.clone(),
        Some(embedder),
    )
    .await;
    // The embedder now hangs: the search cannot finish in time.
    gate.close();
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    let trace_id = "5ce0e9a56015fec5aadfa328ae398115";
    let r = http
        .post(format!("{}/v1/search", server.url()))
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .json(&serde_json::json!({"query": "reserve stock"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"], "timeout");
    assert!(
        body["message"].as_str().unwrap().contains("300 ms"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Other endpoints still answer.
    assert_eq!(
        http.get(format!("{}/healthz", server.url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The cancelled run is kept: its report says where it was.
    let pack = http
        .get(format!("{}/v1/runpack/{trace_id}", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(pack.status(), 200);
    let entries = runpack::unpack(&pack.bytes().await.unwrap()).unwrap();
    let report = entries
        .iter()
        .find(|(k, _)| k.ends_with("/report.md"))
        .unwrap()
        .1;
    let report = String::from_utf8_lossy(report);
    assert!(report.contains("The run stopped at stage `request`: cancelled before it finished (inside gather_channels > dense): the request timeout of 300 ms elapsed"), "{report}");
    gate.open();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_failure_keeps_serving_health_and_readyz_says_why() {
    spans();
    let ws = Workspace::new();
    let mut config = ws.config(None);
    // A file where the data folder should be: nothing can be loaded or built.
    let blocker = ws.dir.path().join("not-a-folder");
    std::fs::write(&blocker, "x").unwrap();
    config.data = blocker.clone();
    let server = serve::start(config, own_metrics("http-failed").metrics.clone(), None)
        .await
        .unwrap();
    let err = server.wait_ready(READY).await.unwrap_err();
    assert!(matches!(err, ServeError::LoadFailed(_)), "{err}");
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{}/healthz", server.url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = http
        .get(format!("{}/readyz", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "failed");
    assert!(
        body["error"].as_str().unwrap().contains("not-a-folder"),
        "{body}"
    );
    server.shutdown().await.unwrap();
}

/// An index embedded by one model, searched with another of the same
/// dimension: the vectors live in different spaces, so the dense channel
/// is switched off and the search says why, instead of ranking garbage.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_model_swap_turns_the_dense_channel_off_and_says_so() {
    use codeintel_server::embed::Embedder as _;
    spans();
    let ws = Workspace::new();
    let mock = embeddings_mock().await;
    let telemetry = own_metrics("http-model-swap");
    let metrics = telemetry.metrics.clone();
    let first = start_ready(
        ws.config(Some(&mock.uri())),
        metrics.clone(),
        Some(openai(&mock.uri(), metrics.clone())),
    )
    .await;
    first.shutdown().await.unwrap();

    let swapped = hash(metrics.clone());
    assert_ne!(swapped.model(), MODEL, "the test needs another model name");
    let server = start_ready(ws.config(None), metrics, Some(swapped)).await;
    let http = reqwest::Client::new();
    let (status, body) = post_search(
        &http,
        &server.url(),
        serde_json::json!({"query": "refund a captured payment"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let limits = body["limits"].as_array().unwrap();
    let swap = limits
        .iter()
        .find(|l| l["code"] == "dense_model_mismatch")
        .unwrap_or_else(|| panic!("a named limit: {body}"));
    let message = swap["message"].as_str().unwrap();
    assert!(
        message.contains(MODEL),
        "names the index's model: {message}"
    );
    for f in body["findings"].as_array().unwrap() {
        assert!(
            f["channels"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["channel"] == "sparse"),
            "{f}"
        );
    }
    server.shutdown().await.unwrap();
}
