//! The OpenAI-compatible embedder against wiremock servers: batching,
//! concurrency, retries, timeouts, dimension enforcement, malformed answers,
//! auth, and the metrics every attempt leaves in the scrape.

mod embed_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use codeintel_server::embed::{EmbedError, Embedder, OpenAiEmbedder, hash_embedding};
use codeintel_server::observability::metrics::Metrics;
use embed_support::{
    Echo, MODEL, attempts, batch_sum, config, dead_port, embeddings, real_metrics, received_inputs,
    texts,
};
use serde_json::{Value, json};
use wiremock::matchers::{bearer_token, header_exists};
use wiremock::{MockServer, ResponseTemplate};

#[tokio::test]
async fn batches_by_count_and_keeps_input_order() {
    let server = MockServer::start().await;
    embeddings().respond_with(Echo::new(8)).mount(&server).await;
    let (_provider, registry, metrics) = real_metrics();
    let mut cfg = config(&server.uri());
    cfg.batch_size = 4;
    let e = OpenAiEmbedder::new(cfg, metrics).unwrap();
    let input = texts(10);

    let out = e.embed(&input).await.unwrap();

    let want: Vec<Vec<f32>> = input.iter().map(|t| hash_embedding(t, 8)).collect();
    assert_eq!(out, want);
    assert_eq!(e.dimension(), Some(8));
    let mut seen = received_inputs(&server).await;
    assert_eq!(seen.len(), 3, "10 texts in batches of 4 → 3 requests");
    seen.sort_by_key(|b| input.iter().position(|t| t == &b[0]));
    assert_eq!(
        seen,
        vec![
            input[0..4].to_vec(),
            input[4..8].to_vec(),
            input[8..10].to_vec()
        ]
    );
    let body: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["encoding_format"], "base64");

    let scrape = registry.render();
    assert_eq!(attempts(&scrape, "ok"), 3, "{scrape}");
    assert_eq!(attempts(&scrape, "error"), 0, "{scrape}");
    assert_eq!(batch_sum(&scrape), 10, "{scrape}");
}

#[tokio::test]
async fn empty_input_sends_nothing() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(Echo::new(8))
        .expect(0)
        .mount(&server)
        .await;
    let e = OpenAiEmbedder::new(config(&server.uri()), Metrics::noop()).unwrap();
    assert!(e.embed(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let server = MockServer::start().await;
    let echo = Echo {
        delay: Duration::from_millis(300),
        ..Echo::new(4)
    };
    let arrivals = Arc::clone(&echo.arrivals);
    embeddings().respond_with(echo.clone()).mount(&server).await;
    let mut cfg = config(&server.uri());
    cfg.batch_size = 1;
    cfg.max_concurrency = 3;
    let e = OpenAiEmbedder::new(cfg, Metrics::noop()).unwrap();
    let input = texts(8);

    let out = e.embed(&input).await.unwrap();
    assert_eq!(out[7], hash_embedding(&input[7], 4));

    // Each request occupies [arrival, arrival + delay): a new one can only
    // arrive once an answer came back, so the largest overlap is the number
    // of requests in flight at once.
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 8);
    let delay = echo.delay;
    let max_overlap = arrivals
        .iter()
        .map(|&t| {
            arrivals
                .iter()
                .filter(|&&a| a <= t && t < a + delay)
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(max_overlap, 3, "arrivals: {arrivals:?}");
}

#[tokio::test]
async fn retries_a_500_and_counts_both_attempts() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(ResponseTemplate::new(500).set_body_string("CUDA out of memory"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    embeddings().respond_with(Echo::new(8)).mount(&server).await;
    let (_provider, registry, metrics) = real_metrics();
    let e = OpenAiEmbedder::new(config(&server.uri()), metrics).unwrap();
    let input = texts(3);

    let out = e.embed(&input).await.unwrap();

    assert_eq!(out.len(), 3);
    let seen = received_inputs(&server).await;
    assert_eq!(
        seen,
        vec![input.clone(), input.clone()],
        "the same batch twice"
    );
    let scrape = registry.render();
    assert_eq!(attempts(&scrape, "error"), 1, "{scrape}");
    assert_eq!(attempts(&scrape, "ok"), 1, "{scrape}");
    // MET-007: the sum of batch sizes equals the texts the server received.
    let received: usize = seen.iter().map(Vec::len).sum();
    assert_eq!(batch_sum(&scrape), received as u64, "{scrape}");
}

#[tokio::test]
async fn retries_a_429_honouring_retry_after() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    embeddings().respond_with(Echo::new(8)).mount(&server).await;
    let (_provider, registry, metrics) = real_metrics();
    let e = OpenAiEmbedder::new(config(&server.uri()), metrics).unwrap();

    e.embed(&texts(2)).await.unwrap();

    assert_eq!(received_inputs(&server).await.len(), 3);
    let scrape = registry.render();
    assert_eq!(attempts(&scrape, "error"), 2, "{scrape}");
    assert_eq!(attempts(&scrape, "ok"), 1, "{scrape}");
    assert_eq!(batch_sum(&scrape), 6, "{scrape}");
}

#[tokio::test]
async fn gives_up_after_max_retries_on_persistent_5xx() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(ResponseTemplate::new(503).set_body_string("loading model"))
        .expect(3)
        .mount(&server)
        .await;
    let (_provider, registry, metrics) = real_metrics();
    let mut cfg = config(&server.uri());
    cfg.max_retries = 2;
    let e = OpenAiEmbedder::new(cfg, metrics).unwrap();

    let err = e.embed(&texts(1)).await.unwrap_err();

    assert!(
        matches!(&err, EmbedError::Status { status: 503, body_excerpt, .. } if body_excerpt == "loading model"),
        "{err:?}"
    );
    assert!(err.is_unavailable());
    assert_eq!(attempts(&registry.render(), "error"), 3);
}

#[tokio::test]
async fn does_not_retry_a_400_and_says_what_to_check() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"object": "error", "message": "The model `test-model` does not exist."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let (_provider, registry, metrics) = real_metrics();
    let e = OpenAiEmbedder::new(config(&server.uri()), metrics).unwrap();

    let err = e.embed(&texts(2)).await.unwrap_err();

    assert!(
        matches!(err, EmbedError::Status { status: 400, .. }),
        "{err:?}"
    );
    assert!(!err.is_unavailable());
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{}/v1/embeddings", server.uri())),
        "{msg}"
    );
    assert!(msg.contains("does not exist"), "{msg}");
    assert!(msg.contains("CODEINTEL_EMBED_MODEL"), "{msg}");
    let scrape = registry.render();
    assert_eq!(attempts(&scrape, "error"), 1, "{scrape}");
    assert_eq!(batch_sum(&scrape), 2, "{scrape}");
}

#[tokio::test]
async fn a_401_points_at_the_api_key() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(ResponseTemplate::new(401).set_body_string("invalid api key"))
        .expect(1)
        .mount(&server)
        .await;
    let e = OpenAiEmbedder::new(config(&server.uri()), Metrics::noop()).unwrap();
    let msg = e.embed(&texts(1)).await.unwrap_err().to_string();
    assert!(msg.contains("HTTP 401") && msg.contains("API key"), "{msg}");
}

#[tokio::test]
async fn a_timeout_names_the_url_and_is_counted() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(Echo {
            delay: Duration::from_secs(3),
            ..Echo::new(8)
        })
        .mount(&server)
        .await;
    let (_provider, registry, metrics) = real_metrics();
    let mut cfg = config(&server.uri());
    cfg.timeout = Duration::from_millis(200);
    cfg.max_retries = 1;
    let e = OpenAiEmbedder::new(cfg, metrics).unwrap();
    let started = Instant::now();

    let err = e.embed(&texts(2)).await.unwrap_err();

    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let url = format!("{}/v1/embeddings", server.uri());
    assert_eq!(
        err,
        EmbedError::Timeout {
            url: url.clone(),
            after: Duration::from_millis(200)
        }
    );
    assert!(err.is_unavailable());
    assert!(err.to_string().contains(&url));
    // MET-008: the timed-out attempts (first try and one retry) are counted.
    let scrape = registry.render();
    assert_eq!(attempts(&scrape, "error"), 2, "{scrape}");
    assert_eq!(batch_sum(&scrape), 4, "{scrape}");
}

#[tokio::test]
async fn a_wrong_dimension_on_the_second_call_is_an_error() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(Echo::new(8))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    embeddings()
        .respond_with(Echo::new(16))
        .mount(&server)
        .await;
    let (_provider, registry, metrics) = real_metrics();
    let e = OpenAiEmbedder::new(config(&server.uri()), metrics).unwrap();

    assert_eq!(e.embed(&texts(2)).await.unwrap()[0].len(), 8);
    assert_eq!(e.dimension(), Some(8));
    let err = e.embed(&texts(2)).await.unwrap_err();

    let url = format!("{}/v1/embeddings", server.uri());
    assert_eq!(
        err,
        EmbedError::Dimension {
            expected: 8,
            got: 16,
            url
        }
    );
    assert!(
        err.to_string().contains("dimension 16, expected 8"),
        "{err}"
    );
    assert_eq!(received_inputs(&server).await.len(), 2, "not retried");
    let scrape = registry.render();
    assert_eq!(attempts(&scrape, "ok"), 1, "{scrape}");
    assert_eq!(attempts(&scrape, "error"), 1, "{scrape}");
}

#[tokio::test]
async fn a_configured_dimension_is_enforced_from_the_first_call() {
    let server = MockServer::start().await;
    embeddings().respond_with(Echo::new(8)).mount(&server).await;
    let mut cfg = config(&server.uri());
    cfg.expected_dimension = Some(384);
    let e = OpenAiEmbedder::new(cfg, Metrics::noop()).unwrap();
    let err = e.embed(&texts(1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            EmbedError::Dimension {
                expected: 384,
                got: 8,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_answers_name_the_url_and_the_problem() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                {"index": 0, "embedding": [0.1, 0.2]},
                {"index": 1},
            ]
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    embeddings()
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>gateway</html>"))
        .mount(&server)
        .await;
    let (_provider, registry, metrics) = real_metrics();
    let e = OpenAiEmbedder::new(config(&server.uri()), metrics).unwrap();
    let url = format!("{}/v1/embeddings", server.uri());

    let err = e.embed(&texts(2)).await.unwrap_err();
    assert_eq!(
        err,
        EmbedError::Malformed {
            url: url.clone(),
            what: "missing data[1].embedding".into()
        }
    );
    let err = e.embed(&texts(2)).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EmbedError::Malformed { .. }), "{err:?}");
    assert!(
        msg.contains(&url) && msg.contains("not JSON") && msg.contains("<html>"),
        "{msg}"
    );

    assert_eq!(
        received_inputs(&server).await.len(),
        2,
        "malformed answers are not retried"
    );
    let scrape = registry.render();
    assert_eq!(attempts(&scrape, "error"), 2, "{scrape}");
    assert_eq!(
        e.dimension(),
        None,
        "no dimension learnt from a malformed answer"
    );
}

#[tokio::test]
async fn a_short_answer_is_a_count_mismatch() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": [{"index": 0, "embedding": [1.0]}]})),
        )
        .mount(&server)
        .await;
    let e = OpenAiEmbedder::new(config(&server.uri()), Metrics::noop()).unwrap();
    let err = e.embed(&texts(3)).await.unwrap_err();
    assert!(
        matches!(
            err,
            EmbedError::CountMismatch {
                sent: 3,
                got: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn out_of_order_answers_are_sorted_by_index() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(Echo {
            reverse: true,
            ..Echo::new(8)
        })
        .mount(&server)
        .await;
    let e = OpenAiEmbedder::new(config(&server.uri()), Metrics::noop()).unwrap();
    let input = texts(5);
    let out = e.embed(&input).await.unwrap();
    let want: Vec<Vec<f32>> = input.iter().map(|t| hash_embedding(t, 8)).collect();
    assert_eq!(out, want);
}

#[tokio::test]
async fn sends_the_bearer_key_only_when_configured() {
    let server = MockServer::start().await;
    embeddings()
        .and(bearer_token("sk-test-123"))
        .respond_with(Echo::new(4))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.api_key = Some("sk-test-123".into());
    let e = OpenAiEmbedder::new(cfg, Metrics::noop()).unwrap();
    e.embed(&texts(1)).await.unwrap();

    let anonymous = MockServer::start().await;
    embeddings()
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&anonymous)
        .await;
    embeddings()
        .respond_with(Echo::new(4))
        .mount(&anonymous)
        .await;
    let e = OpenAiEmbedder::new(config(&anonymous.uri()), Metrics::noop()).unwrap();
    e.embed(&texts(1)).await.unwrap();
}

#[tokio::test]
async fn a_base_url_ending_in_v1_posts_to_the_same_path() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(Echo::new(4))
        .expect(1)
        .mount(&server)
        .await;
    let e = OpenAiEmbedder::new(config(&format!("{}/v1/", server.uri())), Metrics::noop()).unwrap();
    e.embed(&texts(1)).await.unwrap();
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported_and_counted() {
    let (_provider, registry, metrics) = real_metrics();
    let base = format!("http://127.0.0.1:{}", dead_port());
    let mut cfg = config(&base);
    cfg.max_retries = 2;
    let e = OpenAiEmbedder::new(cfg, metrics).unwrap();

    let err = e.embed(&texts(3)).await.unwrap_err();

    assert!(
        matches!(&err, EmbedError::Connect { url, .. } if url == &format!("{base}/v1/embeddings")),
        "{err:?}"
    );
    assert!(err.is_unavailable());
    let msg = err.to_string();
    assert!(
        msg.contains("CODEINTEL_VLLM_URL") && msg.contains("running"),
        "{msg}"
    );
    let scrape = registry.render();
    assert_eq!(attempts(&scrape, "error"), 3, "{scrape}");
}

#[tokio::test]
async fn an_attempt_abandoned_in_flight_is_still_counted() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(Echo {
            delay: Duration::from_secs(2),
            ..Echo::new(4)
        })
        .mount(&server)
        .await;
    let (_provider, registry, metrics) = real_metrics();
    let e = OpenAiEmbedder::new(config(&server.uri()), metrics).unwrap();

    let gave_up = tokio::time::timeout(Duration::from_millis(300), e.embed(&texts(2))).await;

    assert!(gave_up.is_err(), "the caller's deadline fired first");
    let received: usize = received_inputs(&server).await.iter().map(Vec::len).sum();
    assert_eq!(received, 2);
    let scrape = registry.render();
    assert_eq!(attempts(&scrape, "error"), 1, "{scrape}");
    assert_eq!(batch_sum(&scrape), received as u64, "{scrape}");
}

#[tokio::test]
async fn the_first_failing_batch_fails_the_call() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(ResponseTemplate::new(400).set_body_string("input too long"))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.batch_size = 2;
    cfg.max_concurrency = 1;
    let e = OpenAiEmbedder::new(cfg, Metrics::noop()).unwrap();
    let err = e.embed(&texts(10)).await.unwrap_err();
    assert!(matches!(err, EmbedError::Status { status: 400, .. }));
    assert_eq!(
        received_inputs(&server).await.len(),
        1,
        "later batches are not sent"
    );
}

/// Answers base64 vectors when asked, and refuses `encoding_format=base64`
/// when `refuse` is set (as some servers do), floats otherwise.
struct Base64Echo {
    dim: usize,
    refuse: bool,
}

impl wiremock::Respond for Base64Echo {
    #[allow(clippy::unwrap_used)]
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        use base64::Engine as _;
        let body: Value = request.body_json().unwrap();
        let asked_b64 = body["encoding_format"] == "base64";
        if asked_b64 && self.refuse {
            return ResponseTemplate::new(400).set_body_json(json!({
                "object": "error",
                "message": "encoding_format: unsupported value 'base64'"
            }));
        }
        let data: Vec<Value> = body["input"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let v = hash_embedding(t.as_str().unwrap(), self.dim);
                let embedding = if asked_b64 {
                    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes))
                } else {
                    json!(v)
                };
                json!({"object": "embedding", "index": i, "embedding": embedding})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"object": "list", "data": data}))
    }
}

#[tokio::test]
async fn base64_answers_decode_to_the_same_vectors() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(Base64Echo {
            dim: 16,
            refuse: false,
        })
        .mount(&server)
        .await;
    let e = OpenAiEmbedder::new(config(&server.uri()), Metrics::noop()).unwrap();
    let input = texts(5);
    let out = e.embed(&input).await.unwrap();
    let want: Vec<Vec<f32>> = input.iter().map(|t| hash_embedding(t, 16)).collect();
    assert_eq!(out, want);
}

#[tokio::test]
async fn a_server_refusing_base64_gets_floats_from_then_on() {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(Base64Echo {
            dim: 8,
            refuse: true,
        })
        .mount(&server)
        .await;
    let (_provider, registry, metrics) = real_metrics();
    let e = OpenAiEmbedder::new(config(&server.uri()), metrics).unwrap();
    let first = e.embed(&texts(2)).await.unwrap();
    let second = e.embed(&texts(3)).await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(second[2], hash_embedding(&texts(3)[2], 8));
    let formats: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.body_json::<Value>().unwrap()["encoding_format"].to_string())
        .collect();
    assert_eq!(
        formats,
        vec!["\"base64\"", "\"float\"", "\"float\""],
        "one refusal, then floats only"
    );
    let scrape = registry.render();
    assert_eq!(attempts(&scrape, "ok"), 2, "{scrape}");
    assert_eq!(attempts(&scrape, "error"), 0, "{scrape}");
}
