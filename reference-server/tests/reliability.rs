//! Reliability figures of the server (issue 19), rendered into
//! `RELIABILITY.md` by `scripts/reliability.sh`:
//!
//! - fuzzing: the config file, the runpack reader, `/v1/search` JSON bodies
//!   and MCP tool arguments (over HTTP against a real server);
//! - faults on the peer side: the embeddings server (500, 429, slow, hangs,
//!   garbage JSON, wrong dimension, closes mid-body), the OTLP endpoint
//!   (down, slow, 413), disk full while publishing (an injected write
//!   error: `ulimit -f` on the `index` command), a torn version folder;
//! - security: path traversal on every path-taking tool and route, bind
//!   without a token, DNS rebinding, body and `k` limits, no query text or
//!   secret in the captured spans, logs and scrape;
//! - load: concurrent `/v1/search` and MCP `semantic_search` clients across
//!   a re-index + publish + rollback (`CODEINTEL_LOAD_REQUESTS` for the full
//!   count; CI runs a modest one).

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Long scenario tests: short names and local consts read better here.
#![allow(
    clippy::many_single_char_names,
    clippy::items_after_statements,
    clippy::collapsible_if,
    clippy::format_push_string
)]

mod reliability_support;
mod serve_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use codeintel_server::config::{Config, ConfigArgs};
use codeintel_server::diagnostics::runpack;
use codeintel_server::diagnostics::timeline::RunRecord;
use codeintel_server::embed::{Embedder, OpenAiConfig, OpenAiEmbedder, hash_embedding};
use codeintel_server::index::publish::DataDir;
use codeintel_server::serve::{self, RunningServer};
use proptest::prelude::*;
use reliability_support::{fuzz, mutated, record};
use rmcp::RoleClient;
use rmcp::ServiceExt as _;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serve_support::*;

type Client = RunningService<RoleClient, ClientConfig>;

async fn connect(base: &str, token: Option<&str>) -> Client {
    let mut cfg = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"));
    if let Some(t) = token {
        cfg = cfg.auth_header(t);
    }
    let transport = StreamableHttpClientTransport::from_config(cfg);
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("reliability", "0.0.1"),
    )
    .with_protocol_version(ProtocolVersion::V_2025_11_25)
    .serve(transport)
    .await
    .unwrap()
}

/// A tool call: `Ok((is_error, text))`, or `Err` when the call itself failed
/// (a JSON-RPC error such as invalid params, or a transport failure).
async fn call(
    client: &Client,
    tool: &str,
    arguments: serde_json::Map<String, serde_json::Value>,
) -> Result<(bool, String), String> {
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .map(|r| {
            let text = r
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect::<Vec<_>>()
                .join("\n");
            (r.is_error == Some(true), text)
        })
        .map_err(|e| e.to_string())
}

fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        other => {
            let mut m = serde_json::Map::new();
            m.insert("query".into(), other);
            m
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// ====================================================================== fuzz

fn config_seeds(ws: &Workspace) -> Vec<Vec<u8>> {
    let config = ws.config(None);
    let repo = ws.repo().display().to_string();
    vec![
        config.redacted_toml().into_bytes(),
        format!("repo = \"{repo}\"\n").into_bytes(),
        format!(
            "repo = \"{repo}\"\nhttp_addr = \"127.0.0.1:0\"\nembed_batch = 16\nrequest_timeout_ms = 500\nrecord_query_text = false\n[extra]\nx = [1, 2, {{a = 3}}]\n"
        )
        .into_bytes(),
    ]
}

#[test]
fn fuzz_config_file() {
    let ws = Workspace::new();
    let file = ws.dir.path().join("codeintel.toml");
    fuzz(
        "config file (TOML)",
        "Config::resolve",
        1024,
        mutated(config_seeds(&ws)),
        move |bytes| {
            std::fs::write(&file, bytes).unwrap();
            let args = ConfigArgs {
                config: Some(file.clone()),
                ..ConfigArgs::default()
            };
            match Config::resolve(&args) {
                Ok(c) => {
                    let _ = c.redacted_toml();
                    let _ = c.check_bind();
                }
                // Errors name the file or the key (and where it came from).
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        },
    );
}

/// Deeply nested TOML (arrays and inline tables): the config reader
/// answers with an error naming the file instead of overflowing the stack.
#[test]
fn deeply_nested_config_is_an_error_not_a_stack_overflow() {
    let ws = Workspace::new();
    let file = ws.dir.path().join("deep.toml");
    for (open, close) in [("[", "]"), ("{a=", "}")] {
        let text = format!("x = {}1{}\n", open.repeat(50_000), close.repeat(50_000));
        std::fs::write(&file, text).unwrap();
        let file = file.clone();
        let outcome = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let args = ConfigArgs {
                    config: Some(file),
                    ..ConfigArgs::default()
                };
                Config::resolve(&args)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .unwrap()
            .join()
            .unwrap();
        let err = outcome.unwrap_err();
        assert!(err.contains("deep.toml"), "{err}");
    }
    record(
        "fuzz",
        "config file: 50 000-deep nesting (regression)",
        serde_json::json!({"target": "Config::resolve", "cases": 2, "outcome": "pass: an error naming the file", "pass": true}),
    );
}

fn sample_run(trace_id: &str) -> RunRecord {
    RunRecord {
        trace_id: trace_id.into(),
        operation: "search".into(),
        started_unix_ms: 1_700_000_000_000,
        outcome: "ok".into(),
        error: None,
        limits: vec!["dense_unavailable".into()],
        events: Vec::new(),
    }
}

#[test]
fn fuzz_runpack_reader() {
    let seeds = vec![
        runpack::build(
            &sample_run("4bf92f3577b34da6a3ce929d0e0e4736"),
            "repo = \"/r\"\n",
        )
        .unwrap(),
        runpack::build(&sample_run("x"), "").unwrap(),
    ];
    fuzz(
        "runpack reader (gzip tar)",
        "runpack::unpack",
        1024,
        mutated(seeds),
        |bytes| match runpack::unpack(bytes) {
            Ok(files) => {
                assert!(files.values().map(Vec::len).sum::<usize>() <= runpack::MAX_UNPACKED);
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        },
    );
}

/// The seeded crash of this suite: before the fix, a runpack that inflates
/// to 1 GiB (1 MiB on the wire) was read whole into memory. Now the reader
/// stops at `runpack::MAX_UNPACKED` and says so.
#[test]
fn runpack_gzip_bomb_is_refused_with_bounded_memory() {
    use std::io::Write as _;
    let mut header = tar::Header::new_gnu();
    let size: u64 = 1 << 30;
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_path("runpack-x/timeline.jsonl").unwrap();
    header.set_cksum();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(header.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(size >> 20) {
        gz.write_all(&zeros).unwrap();
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    let bomb = gz.finish().unwrap();
    let before = reliability_support::peak_rss_kib();
    let err = runpack::unpack(&bomb).unwrap_err().to_string();
    let growth = reliability_support::peak_rss_kib().saturating_sub(before) / 1024;
    assert!(err.contains("larger than"), "{err}");
    assert!(growth < 400, "peak RSS grew {growth} MiB");
    record(
        "fuzz",
        "runpack reader: 1 GiB gzip bomb (seeded crash, regression)",
        serde_json::json!({"target": "runpack::unpack", "cases": 1, "outcome": format!("pass: refused ({err})"), "pass": true, "bomb_bytes": bomb.len()}),
    );
}

/// A server on the sample repository (hash embeddings) in its own runtime,
/// for the tests that fuzz over HTTP.
struct Live {
    rt: tokio::runtime::Runtime,
    _ws: Workspace,
    server: Option<RunningServer>,
    url: String,
}

impl Live {
    fn start(name: &str) -> Self {
        let rt = runtime();
        let ws = Workspace::new();
        let metrics = own_metrics(name).metrics.clone();
        let config = ws.config(None);
        let server = rt.block_on(start_ready(config, metrics.clone(), Some(hash(metrics))));
        let url = server.url();
        Self {
            rt,
            _ws: ws,
            server: Some(server),
            url,
        }
    }

    fn stop(mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown()).unwrap();
        }
    }
}

fn search_body_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = [
        r#"{"query": "where is the config parsed", "k": 10, "refine": false}"#,
        r#"{"query": "refund a captured payment"}"#,
        r#"{"query": "applyCouponCode", "k": 3, "refine": true}"#,
        r#"{"query": "fn main() { println!(\"\\u00e9\"); }", "k": 100}"#,
        r#"{"query": "", "k": 0}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for g in golden_queries().into_iter().take(5) {
        seeds.push(serde_json::to_vec(&serde_json::json!({"query": g.query, "k": 5})).unwrap());
    }
    seeds
}

#[test]
fn fuzz_search_json_bodies() {
    let live = Arc::new(Live::start("fuzz-search"));
    let http = reqwest::Client::new();
    let statuses = Arc::new(std::sync::Mutex::new(
        std::collections::BTreeMap::<u16, u64>::new(),
    ));
    let (l, s) = (live.clone(), statuses.clone());
    let cases = fuzz(
        "/v1/search JSON bodies (over HTTP)",
        "POST /v1/search",
        1024,
        mutated(search_body_seeds()),
        move |body| {
            let (status, answer) = l.rt.block_on(async {
                let r = http
                    .post(format!("{}/v1/search", l.url))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                (status, r.bytes().await.unwrap())
            });
            *s.lock().unwrap().entry(status).or_default() += 1;
            let json: serde_json::Value = serde_json::from_slice(&answer)
                .unwrap_or_else(|e| panic!("{status}: the answer is not JSON ({e})"));
            if status == 200 {
                assert!(json["findings"].is_array(), "{json}");
            } else {
                assert!((400..500).contains(&status), "{status}: {json}");
                assert!(
                    json["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{status} without a message: {json}"
                );
            }
        },
    );
    let statuses = statuses.lock().unwrap().clone();
    record(
        "fuzz_detail",
        "/v1/search JSON bodies (over HTTP)",
        serde_json::json!({"cases": cases, "statuses": statuses}),
    );
    Arc::try_unwrap(live).ok().unwrap().stop();
}

fn leaf() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (0u64..3000).prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        "\\PC{0,24}".prop_map(serde_json::Value::from),
        "[a-z/.%*?\\[\\](){}|+\\\\^$0-9_-]{0,24}".prop_map(serde_json::Value::from),
        prop::collection::vec("[a-z.]{0,6}", 0..3).prop_map(|v| serde_json::json!(v)),
    ]
}

const ARG_KEYS: [&str; 13] = [
    "query",
    "k",
    "refine",
    "id",
    "pattern",
    "glob",
    "max_results",
    "path",
    "start_line",
    "end_line",
    "limit",
    "name",
    "unknown",
];

#[test]
fn fuzz_mcp_tool_arguments() {
    let live = Arc::new(Live::start("fuzz-mcp"));
    let client = Arc::new(live.rt.block_on(connect(&live.url, None)));
    let outcomes = Arc::new(std::sync::Mutex::new([0u64; 3]));
    let tools = codeintel_server::serve::mcp::TOOL_NAMES;
    let args = prop::collection::btree_map(prop::sample::select(ARG_KEYS.to_vec()), leaf(), 0..5);
    let strategy = (prop::sample::select(tools.to_vec()), args);
    let (l, c, o) = (live.clone(), client.clone(), outcomes.clone());
    let cases = fuzz(
        "MCP tool arguments (7 tools, over HTTP)",
        "tools/call",
        1024,
        strategy,
        move |(tool, args)| {
            let map: serde_json::Map<String, serde_json::Value> = args
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect();
            let r = l.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(30), call(&c, tool, map)).await
            });
            let r = r.unwrap_or_else(|_| panic!("{tool} did not answer within 30 s"));
            let slot = match r {
                Ok((false, _)) => 0,
                Ok((true, text)) => {
                    assert!(!text.is_empty(), "{tool}: an error result without text");
                    1
                }
                Err(e) => {
                    // A protocol error for bad params is fine; a dead session is not.
                    assert!(
                        !e.contains("Transport") && !e.contains("closed"),
                        "{tool}: the session broke: {e}"
                    );
                    2
                }
            };
            o.lock().unwrap()[slot] += 1;
        },
    );
    // The session survived every case.
    let listed = live.rt.block_on(client.list_all_tools()).unwrap();
    assert_eq!(listed.len(), tools.len());
    let [ok, tool_error, protocol_error] = *outcomes.lock().unwrap();
    record(
        "fuzz_detail",
        "MCP tool arguments (7 tools, over HTTP)",
        serde_json::json!({"cases": cases, "ok": ok, "tool_error": tool_error, "protocol_error": protocol_error}),
    );
    let client = Arc::try_unwrap(client).ok().unwrap();
    live.rt.block_on(client.cancel()).unwrap();
    Arc::try_unwrap(live).ok().unwrap().stop();
}

// ====================================================================== faults

/// How the fake embeddings server misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum EmbedFault {
    Healthy = 0,
    Status500,
    Status429,
    Slow,
    Hangs,
    GarbageJson,
    WrongDimension,
    ClosesMidBody,
}

impl EmbedFault {
    const ALL: [EmbedFault; 7] = [
        EmbedFault::Status500,
        EmbedFault::Status429,
        EmbedFault::Slow,
        EmbedFault::Hangs,
        EmbedFault::GarbageJson,
        EmbedFault::WrongDimension,
        EmbedFault::ClosesMidBody,
    ];

    fn from_u8(v: u8) -> Self {
        Self::ALL
            .into_iter()
            .find(|f| *f as u8 == v)
            .unwrap_or(EmbedFault::Healthy)
    }

    fn label(self) -> &'static str {
        match self {
            EmbedFault::Healthy => "healthy",
            EmbedFault::Status500 => "embeddings server answers 500",
            EmbedFault::Status429 => "embeddings server answers 429 (Retry-After)",
            EmbedFault::Slow => "embeddings server slow (3 s > 1 s timeout)",
            EmbedFault::Hangs => "embeddings server hangs (never answers)",
            EmbedFault::GarbageJson => "embeddings server answers garbage JSON",
            EmbedFault::WrongDimension => "embeddings server answers the wrong dimension",
            EmbedFault::ClosesMidBody => "embeddings server closes mid-body",
        }
    }
}

async fn fake_embeddings(
    axum::extract::State(mode): axum::extract::State<Arc<AtomicU8>>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let fault = EmbedFault::from_u8(mode.load(Ordering::SeqCst));
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let inputs: Vec<String> = match &request["input"] {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect(),
        _ => Vec::new(),
    };
    let dim = if fault == EmbedFault::WrongDimension {
        DIM / 2
    } else {
        DIM
    };
    let answer = serde_json::json!({
        "object": "list",
        "model": request["model"],
        "data": inputs.iter().enumerate().map(|(i, t)| serde_json::json!({
            "object": "embedding", "index": i, "embedding": hash_embedding(t, dim)
        })).collect::<Vec<_>>(),
    });
    match fault {
        EmbedFault::Healthy | EmbedFault::WrongDimension => axum::Json(answer).into_response(),
        EmbedFault::Status500 => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
        )
            .into_response(),
        EmbedFault::Status429 => (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response(),
        EmbedFault::Slow => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            axum::Json(answer).into_response()
        }
        EmbedFault::Hangs => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        EmbedFault::GarbageJson => (
            [("content-type", "application/json")],
            "{\"object\": \"list\", \"data\": [{\"embedding\": \"nope\"",
        )
            .into_response(),
        EmbedFault::ClosesMidBody => {
            let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
                Ok(bytes::Bytes::from_static(
                    b"{\"object\": \"list\", \"data\": [{\"embedding\": [0.1, ",
                )),
                Err(std::io::Error::other("connection closed mid-body")),
            ];
            axum::response::Response::builder()
                .header("content-type", "application/json")
                .body(axum::body::Body::from_stream(futures::stream::iter(chunks)))
                .unwrap()
        }
    }
}

async fn start_fake_embeddings(mode: Arc<AtomicU8>) -> String {
    let app = axum::Router::new()
        .route("/v1/embeddings", axum::routing::post(fake_embeddings))
        .with_state(mode);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn fast_openai(
    url: &str,
    metrics: codeintel_server::observability::metrics::Metrics,
) -> Arc<dyn Embedder> {
    let mut cfg = OpenAiConfig::new(url, MODEL);
    cfg.timeout = Duration::from_secs(1);
    cfg.max_retries = 1;
    cfg.backoff_base = Duration::from_millis(10);
    cfg.backoff_max = Duration::from_millis(50);
    Arc::new(OpenAiEmbedder::new(cfg, metrics).unwrap())
}

fn fault_cell(row: &str, side: &str, outcome: &str, nothing_lost: &str, verdict: &str, test: &str) {
    record(
        "faults",
        row,
        serde_json::json!({"side": side, "outcome": outcome, "nothing_lost": nothing_lost, "verdict": verdict, "test": test, "injected": 1}),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fault_matrix_embeddings_server_faults_degrade_search_and_say_so() {
    spans();
    let ws = Workspace::new();
    let mode = Arc::new(AtomicU8::new(EmbedFault::Healthy as u8));
    let url = start_fake_embeddings(mode.clone()).await;
    let metrics = own_metrics("faults-embed").metrics.clone();
    let server = start_ready(
        ws.config(Some(&url)),
        metrics.clone(),
        Some(fast_openai(&url, metrics)),
    )
    .await;
    let http = reqwest::Client::new();
    let version = server.state().readiness();
    let mut failures = Vec::new();
    for (i, fault) in EmbedFault::ALL.into_iter().enumerate() {
        mode.store(fault as u8, Ordering::SeqCst);
        // A new query each time: the query-embedding cache must not answer.
        let query = format!("refund a captured payment {i} {}", fault.label());
        let started = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(30),
            http.post(format!("{}/v1/search", server.url()))
                .json(&serde_json::json!({"query": query, "k": 5}))
                .send(),
        )
        .await;
        let elapsed = started.elapsed();
        let (outcome, verdict) = match r {
            Err(_) => ("no answer within 30 s".to_owned(), "hang"),
            Ok(Err(e)) => (format!("request failed: {e}"), "crash"),
            Ok(Ok(r)) => {
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                let limits: Vec<String> = body["limits"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|l| l["code"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let findings = body["findings"].as_array().map_or(0, Vec::len);
                if status == 200 && !limits.is_empty() && findings > 0 {
                    (
                        format!(
                            "200 in {:.1} s, {findings} findings from BM25, limits: {}",
                            elapsed.as_secs_f64(),
                            limits.join(", ")
                        ),
                        "degraded",
                    )
                } else if status == 200 {
                    (format!("200 without a limits entry: {body}"), "silent")
                } else if body["message"].as_str().is_some() {
                    (format!("{status}: {}", body["message"]), "error")
                } else {
                    (format!("{status}: {body}"), "silent")
                }
            }
        };
        let intact = server.state().readiness() == version;
        let nothing_lost = if intact {
            "served version unchanged"
        } else {
            "VERSION CHANGED"
        };
        fault_cell(
            fault.label(),
            "server (peer: embeddings)",
            &outcome,
            nothing_lost,
            verdict,
            "reliability::fault_matrix_embeddings_server_faults_degrade_search_and_say_so",
        );
        if !matches!(verdict, "degraded" | "error") || !intact {
            failures.push(format!("{}: {verdict}: {outcome}", fault.label()));
        }
    }
    // Healthy again: the server still answers.
    mode.store(EmbedFault::Healthy as u8, Ordering::SeqCst);
    let r = http
        .post(format!("{}/v1/search", server.url()))
        .json(&serde_json::json!({"query": "reserve stock after recovery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.shutdown().await.unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A collector that misbehaves: `down` (nothing listens), `slow` (answers
/// after 20 s) or `413` (Payload Too Large).
async fn start_fake_collector(kind: &'static str) -> String {
    if kind == "down" {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        return format!("http://{addr}");
    }
    let handler = move || async move {
        if kind == "slow" {
            tokio::time::sleep(Duration::from_secs(20)).await;
            axum::http::StatusCode::OK
        } else {
            axum::http::StatusCode::PAYLOAD_TOO_LARGE
        }
    };
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(handler))
        .route("/v1/logs", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn server_bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_codeintel-server"));
    c.env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("CODEINTEL_CONFIG")
        .env_remove("CODEINTEL_TOKEN")
        .env("CODEINTEL_EMBEDDER", "none")
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "1000");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_otlp_endpoint_faults_are_reported_and_never_block() {
    let mut failures = Vec::new();
    for kind in ["down", "slow", "413"] {
        let endpoint = start_fake_collector(kind).await;
        let ws = Workspace::new();
        let mut cmd = server_bin();
        cmd.arg("index")
            .arg("--no-progress")
            .env("CODEINTEL_REPO", ws.repo())
            .env("CODEINTEL_DATA", ws.data())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
        let started = Instant::now();
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let reported = stderr.contains("OTLP") && stderr.contains(&endpoint);
        let published = DataDir::open(&ws.data()).unwrap().current_name().unwrap();
        let verdict = if !out.status.success() {
            "crash"
        } else if elapsed > Duration::from_secs(60) {
            "hang"
        } else if reported {
            "error"
        } else {
            "silent"
        };
        let outcome = format!(
            "index exits {} in {:.1} s; stderr {}",
            out.status.code().unwrap_or(-1),
            elapsed.as_secs_f64(),
            if reported {
                stderr
                    .lines()
                    .find(|l| l.contains("OTLP"))
                    .unwrap_or_default()
                    .chars()
                    .take(160)
                    .collect::<String>()
            } else {
                "does not name the endpoint".to_owned()
            }
        );
        let lost = if published.is_some() {
            "index published regardless"
        } else {
            "NO VERSION PUBLISHED"
        };
        fault_cell(
            &format!("OTLP endpoint {kind}"),
            "server (peer: OTLP)",
            &outcome,
            lost,
            verdict,
            "reliability::fault_matrix_otlp_endpoint_faults_are_reported_and_never_block",
        );
        if verdict != "error" || published.is_none() {
            failures.push(format!("{kind}: {verdict}: {outcome}\n{stderr}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn current_of(data: &Path) -> Option<String> {
    DataDir::open(data).unwrap().current_name().unwrap()
}

fn version_dirs(data: &Path) -> BTreeSet<String> {
    DataDir::open(data)
        .unwrap()
        .versions()
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect()
}

#[test]
fn fault_matrix_disk_full_while_publishing_keeps_the_served_version() {
    let ws = Workspace::new();
    let first = server_bin()
        .args(["index", "--no-progress"])
        .env("CODEINTEL_REPO", ws.repo())
        .env("CODEINTEL_DATA", ws.data())
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let before = current_of(&ws.data()).unwrap();
    let versions_before = version_dirs(&ws.data());
    std::fs::write(
        ws.repo().join("new_module.py"),
        "def added():\n    return 1\n",
    )
    .unwrap();
    // A write error as on a full disk: files may not grow past 64 KiB
    // (EFBIG; SIGXFSZ ignored so the write fails instead of killing).
    let out = Command::new("bash")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 64; exec \"$0\" index --no-progress")
        .arg(env!("CARGO_BIN_EXE_codeintel-server"))
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("CODEINTEL_EMBEDDER", "none")
        .env("CODEINTEL_REPO", ws.repo())
        .env("CODEINTEL_DATA", ws.data())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let after = current_of(&ws.data());
    let versions_after = version_dirs(&ws.data());
    let signal = std::os::unix::process::ExitStatusExt::signal(&out.status);
    let verdict = if signal.is_some() {
        "crash"
    } else if out.status.success() {
        "silent"
    } else if stderr.to_lowercase().contains("too large")
        || stderr.contains("File too large")
        || stderr.contains("os error 27")
    {
        "error"
    } else {
        "error (unnamed)"
    };
    let lost = if after.as_deref() == Some(before.as_str()) && versions_after == versions_before {
        format!("CURRENT still {before}, no partial version")
    } else {
        format!("CURRENT {after:?}, versions {versions_after:?}")
    };
    let first_error: String = stderr
        .lines()
        .find(|l| l.to_lowercase().contains("error"))
        .unwrap_or_else(|| stderr.lines().last().unwrap_or_default())
        .chars()
        .take(200)
        .collect();
    fault_cell(
        "disk full while publishing (write error: ulimit -f 64 KiB)",
        "server (index publish)",
        &format!(
            "index exits {:?} (signal {signal:?}): {first_error}",
            out.status.code()
        ),
        &lost,
        verdict,
        "reliability::fault_matrix_disk_full_while_publishing_keeps_the_served_version",
    );
    assert_eq!(verdict, "error", "{stderr}");
    assert_eq!(after.as_deref(), Some(before.as_str()), "{stderr}");
    assert_eq!(versions_after, versions_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_torn_version_folder() {
    spans();
    let ws = Workspace::new();
    let first = server_bin()
        .args(["index", "--no-progress"])
        .env("CODEINTEL_REPO", ws.repo())
        .env("CODEINTEL_DATA", ws.data())
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let good = current_of(&ws.data()).unwrap();
    let versions = ws.data().join("versions");
    // A later version torn by a crash: folder renamed in, files truncated.
    let torn = versions.join("v000099");
    copy_tree(&versions.join(&good), &torn);
    for f in std::fs::read_dir(&torn).unwrap().flatten() {
        if f.path().is_file() {
            let len = f.metadata().unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(f.path())
                .unwrap()
                .set_len(len / 3)
                .unwrap();
        }
    }
    // 1: CURRENT names the good version, a torn one lies beside it.
    let metrics = own_metrics("faults-torn").metrics.clone();
    let server = serve::start(
        ws.config(None),
        metrics.clone(),
        Some(hash(metrics.clone())),
    )
    .await
    .unwrap();
    let ready = server.wait_ready(READY).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/search", server.url()))
        .json(&serde_json::json!({"query": "refund"}))
        .send()
        .await
        .unwrap();
    let served = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    server.shutdown().await.unwrap();
    let beside_ok = ready.is_ok() && served == 200 && body["index_version"] == good.as_str();
    fault_cell(
        "torn version folder beside the current one",
        "server (index load)",
        &format!(
            "ready: {}, search {served} from {}",
            ready.is_ok(),
            body["index_version"]
        ),
        &format!("serves {good}; torn folder ignored"),
        if beside_ok { "ok" } else { "silent" },
        "reliability::fault_matrix_torn_version_folder",
    );
    // 2: CURRENT itself names the torn version: the server falls back to
    // the newest version that loads, loudly — every answer carries an
    // `index_fallback` limit naming the torn one.
    std::fs::write(ws.data().join("CURRENT"), "v000099").unwrap();
    let server = serve::start(ws.config(None), metrics.clone(), Some(hash(metrics)))
        .await
        .unwrap();
    let ready = server.wait_ready(READY).await;
    let r = http
        .post(format!("{}/v1/search", server.url()))
        .json(&serde_json::json!({"query": "refund"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    server.shutdown().await.unwrap();
    let fallback = body["limits"].as_array().and_then(|ls| {
        ls.iter()
            .find(|l| l["code"] == "index_fallback")
            .and_then(|l| l["message"].as_str())
            .map(str::to_owned)
    });
    let named = fallback.as_deref().is_some_and(|m| m.contains("v000099"));
    let verdict = match (ready.is_ok(), status, named) {
        (true, 200, true) if body["index_version"] == good.as_str() => "degraded (limits)",
        (true, 200, false) => "silent",
        _ => "error",
    };
    fault_cell(
        "CURRENT names a torn version folder",
        "server (index load)",
        &format!(
            "search {status} from {}; limit: {}",
            body["index_version"],
            fallback
                .unwrap_or_default()
                .chars()
                .take(160)
                .collect::<String>(),
        ),
        "nothing served from the torn folder; the previous good version is served",
        verdict,
        "reliability::fault_matrix_torn_version_folder",
    );
    assert!(beside_ok, "{body}");
    assert_eq!(verdict, "degraded (limits)", "{ready:?} {status} {body}");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

// ====================================================================== security

const SECRET_MARKER: &str = "RELIABILITY-OUTSIDE-SECRET-4f1d";

fn escaped(text: &str) -> bool {
    text.contains(SECRET_MARKER) || text.contains("root:x:0:0")
}

fn path_attempts(outside: &Path) -> Vec<String> {
    let secret = outside.join("secret.txt").display().to_string();
    let mut v: Vec<String> = [
        "../secret.txt",
        "../../../../../../etc/passwd",
        "src/../../secret.txt",
        "./../secret.txt",
        "....//....//etc/passwd",
        "/etc/passwd",
        "leak.txt",
        "outside_dir/secret.txt",
        "dangling_link",
        "%2e%2e/secret.txt",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "..%2fsecret.txt",
        "%252e%252e/secret.txt",
        "%25252e%25252e%25252fetc%25252fpasswd",
        "%c0%ae%c0%ae/secret.txt",
        "..%c0%afsecret.txt",
        "\u{2025}/secret.txt",
        "..\\secret.txt",
        "..\\..\\etc\\passwd",
        "C:\\Windows\\win.ini",
        "~/secret.txt",
        "~root/.bashrc",
        "secret.txt\0",
        "\0../secret.txt",
        "README.md\0../../etc/passwd",
        "%00../secret.txt",
        "file:///etc/passwd",
        "//etc/passwd",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    v.push(secret);
    v.push(format!("{}/../secret.txt", outside.display()));
    v
}

fn glob_attempts() -> Vec<String> {
    [
        "../**",
        "../*",
        "/**",
        "/etc/*",
        "**/../../**",
        "outside_dir/**",
        "leak.txt",
        "%2e%2e/**",
        "{..,.}/**",
        "**/secret.txt",
        "..\\**",
        "\0**",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_path_traversal_on_every_tool_and_route_has_zero_escapes() {
    spans();
    let ws = Workspace::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), SECRET_MARKER).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        ws.repo().join("leak.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.repo().join("outside_dir")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("gone.txt"),
        ws.repo().join("dangling_link"),
    )
    .unwrap();
    let metrics = own_metrics("security-paths").metrics.clone();
    let server = start_ready(ws.config(None), metrics.clone(), Some(hash(metrics))).await;
    let client = connect(&server.url(), None).await;
    let mut tried = 0usize;
    let mut escapes = Vec::new();
    let mut per_surface: Vec<(String, usize)> = Vec::new();

    let mut count = |surface: &str, n: usize| per_surface.push((surface.to_owned(), n));
    let paths = path_attempts(outside.path());
    let globs = glob_attempts();

    // open_file: every attempt is refused, none returns the secret.
    let mut n = 0;
    for p in &paths {
        for args in [
            serde_json::json!({"path": p}),
            serde_json::json!({"path": p, "start_line": 1, "end_line": 5}),
        ] {
            n += 1;
            let r = call(&client, "open_file", obj(args)).await;
            match &r {
                Ok((_, text)) if escaped(text) => {
                    escapes.push(format!("open_file {p:?}"));
                }
                Ok((false, text)) => escapes.push(format!(
                    "open_file {p:?} answered: {}",
                    &text[..text.len().min(80)]
                )),
                _ => {}
            }
        }
    }
    count("MCP open_file (path)", n);
    tried += n;

    // list_paths and text_search: globs, and the whole listing/grep never
    // contains anything from outside.
    let mut n = 0;
    for g in &globs {
        for (tool, args) in [
            ("list_paths", serde_json::json!({"glob": g})),
            (
                "text_search",
                serde_json::json!({"pattern": SECRET_MARKER, "glob": g}),
            ),
            (
                "text_search",
                serde_json::json!({"pattern": "root:x:0", "glob": g}),
            ),
        ] {
            n += 1;
            if let Ok((_, text)) = call(&client, tool, obj(args)).await {
                if escaped(&text) || text.contains("secret.txt") {
                    escapes.push(format!("{tool} {g:?}"));
                }
            }
        }
    }
    for (tool, args) in [
        ("list_paths", serde_json::json!({})),
        ("list_paths", serde_json::json!({"limit": 10000})),
        ("text_search", serde_json::json!({"pattern": SECRET_MARKER})),
        ("text_search", serde_json::json!({"pattern": "."})),
    ] {
        n += 1;
        if let Ok((_, text)) = call(&client, tool, obj(args)).await {
            if escaped(&text) || text.contains("secret.txt") {
                escapes.push(format!("{tool} (whole repository)"));
            }
        }
    }
    count("MCP list_paths / text_search (glob, symlinks)", n);
    tried += n;

    // fetch ids and symbol names shaped like paths or SQL.
    let mut n = 0;
    for p in paths.iter().chain(
        [
            "' OR 1=1 --".to_owned(),
            "x'; DROP TABLE chunks; --".to_owned(),
        ]
        .iter(),
    ) {
        for (tool, args) in [
            ("fetch", serde_json::json!({"id": p})),
            ("symbol_search", serde_json::json!({"name": p})),
        ] {
            n += 1;
            if let Ok((_, text)) = call(&client, tool, obj(args)).await {
                if escaped(&text) {
                    escapes.push(format!("{tool} {p:?}"));
                }
            }
        }
    }
    count("MCP fetch / symbol_search (ids)", n);
    tried += n;

    // HTTP routes: the runpack id and raw request paths.
    let base = server.url();
    let mut n = 0;
    let raw_paths = [
        "/v1/runpack/..%2f..%2f..%2fetc%2fpasswd",
        "/v1/runpack/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/v1/runpack/..%252f..%252fetc%252fpasswd",
        "/v1/runpack/%00",
        "/v1/runpack/....%2f%2fetc%2fpasswd",
        "/v1/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/mcp/../../etc/passwd",
        "/v1/search/..%2f..%2fetc%2fpasswd",
        "//etc/passwd",
    ];
    for p in raw_paths {
        n += 1;
        // Send the path as written (reqwest would normalise `..`).
        let (status, body) = raw_get(&base, p).await;
        if status == 200 && escaped(&body) || escaped(&body) {
            escapes.push(format!("GET {p}"));
        }
    }
    count("HTTP routes (/v1/runpack/{id}, raw paths)", n);
    tried += n;

    client.cancel().await.unwrap();
    server.shutdown().await.unwrap();
    for (surface, n) in &per_surface {
        record(
            "security",
            &format!("path traversal: {surface}"),
            serde_json::json!({"tried": n, "escapes": escapes.iter().filter(|e| surface.contains(e.split(' ').next().unwrap_or_default())).count(), "outcome": "refused or answered from inside the repository", "pass": escapes.is_empty()}),
        );
    }
    record(
        "security_total",
        "path traversal (all surfaces)",
        serde_json::json!({"tried": tried, "escapes": escapes.len(), "pass": escapes.is_empty()}),
    );
    assert!(
        escapes.is_empty(),
        "{} escapes of {tried}: {escapes:#?}",
        escapes.len()
    );
}

/// A GET with the request target sent byte for byte.
async fn raw_get(base: &str, target: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_bind_host_and_request_limits() {
    spans();
    let ws = Workspace::new();
    // Non-loopback bind without a token: refused before listening.
    let mut config = ws.config(None);
    config.http_addr = "0.0.0.0:0".parse().unwrap();
    config.token = None;
    let refused = serve::start(config, own_metrics("sec-bind").metrics.clone(), None).await;
    let bind_ok = matches!(&refused, Err(e) if e.to_string().contains("CODEINTEL_TOKEN"));
    record(
        "security",
        "non-loopback bind (0.0.0.0) without a token",
        serde_json::json!({"tried": 1, "outcome": if bind_ok { "refused at start, naming CODEINTEL_TOKEN" } else { "STARTED" }, "pass": bind_ok}),
    );
    assert!(bind_ok);

    let metrics = own_metrics("sec-limits").metrics.clone();
    let config = ws.config(None);
    let body_limit = config.body_limit;
    let server = start_ready(config, metrics.clone(), Some(hash(metrics))).await;
    let http = reqwest::Client::new();
    let base = server.url();

    // DNS rebinding: a foreign Host header.
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let mcp_status = http
        .post(format!("{base}/mcp"))
        .header("host", "evil.example")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(init)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    let search_status = http
        .post(format!("{base}/v1/search"))
        .header("host", "evil.example")
        .json(&serde_json::json!({"query": "config"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    record(
        "security",
        "DNS rebinding (Host: evil.example) on /mcp",
        serde_json::json!({"tried": 1, "outcome": format!("{mcp_status}"), "pass": mcp_status == 403}),
    );
    record(
        "security",
        "DNS rebinding (Host: evil.example) on /v1/search",
        serde_json::json!({"tried": 1, "outcome": format!("{search_status}"), "pass": search_status == 403}),
    );
    assert_eq!(mcp_status, 403, "MCP keeps its Host check");
    assert_eq!(search_status, 403, "/v1/search checks Host too");

    // Body limit.
    let big = format!("{{\"query\": \"{}\"}}", "a".repeat(body_limit * 2));
    let r = http
        .post(format!("{base}/v1/search"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    let body_ok = status == 413 && body["message"].as_str().is_some();
    record(
        "security",
        &format!("request body over the limit ({} bytes)", body_limit * 2),
        serde_json::json!({"tried": 1, "outcome": format!("{status}: {}", body["message"].as_str().unwrap_or("no message")), "pass": body_ok}),
    );
    assert!(body_ok, "{status} {body}");

    // k limits, over HTTP and MCP.
    let mut k_tried = 0;
    let mut k_bad = Vec::new();
    for k in [
        serde_json::json!(0),
        serde_json::json!(101),
        serde_json::json!(1_000_000_000_000u64),
        serde_json::json!(-1),
        serde_json::json!(1.5),
        serde_json::json!("ten"),
        serde_json::json!(u64::MAX),
    ] {
        k_tried += 1;
        let r = http
            .post(format!("{base}/v1/search"))
            .json(&serde_json::json!({"query": "config", "k": k}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        let msg = body["message"].as_str().unwrap_or_default().to_owned();
        if status != 400 || !msg.contains('k') {
            k_bad.push(format!("k={k}: {status} {body}"));
        }
    }
    let client = connect(&base, None).await;
    for k in [0u64, 101, 1_000_000] {
        k_tried += 1;
        let r = call(
            &client,
            "semantic_search",
            obj(serde_json::json!({"query": "config", "k": k})),
        )
        .await;
        if !matches!(&r, Ok((true, t)) if t.contains('k')) && r.is_ok() {
            k_bad.push(format!("MCP k={k}: {r:?}"));
        }
    }
    client.cancel().await.unwrap();
    record(
        "security",
        "`k` out of range (0, 101, 10^12, -1, 1.5, \"ten\", u64::MAX; HTTP and MCP)",
        serde_json::json!({"tried": k_tried, "outcome": if k_bad.is_empty() { "400 / tool error naming `k`".to_owned() } else { k_bad.join("; ") }, "pass": k_bad.is_empty()}),
    );
    server.shutdown().await.unwrap();
    assert!(k_bad.is_empty(), "{k_bad:#?}");
}

/// `Host` is checked on every route, not only /mcp (a bug this suite found).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_rebinding_is_rejected_on_v1_search() {
    spans();
    let ws = Workspace::new();
    let metrics = own_metrics("sec-host").metrics.clone();
    let server = start_ready(
        ws.config(None),
        metrics.clone(),
        Some(hash(metrics.clone())),
    )
    .await;
    let client = reqwest::Client::new();
    let search = |host: &'static str| {
        client
            .post(format!("{}/v1/search", server.url()))
            .header("host", host)
            .json(&serde_json::json!({"query": "config"}))
            .send()
    };
    let mut tried = 0;
    let mut bad = Vec::new();
    for host in [
        "evil.example",
        "evil.example:80",
        "localhost.evil.example",
        "10.9.8.7",
    ] {
        tried += 1;
        let r = search(host).await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        if status != 403 || !body.contains("CODEINTEL_ALLOWED_HOSTS") {
            bad.push(format!("POST /v1/search Host {host}: {status} {body}"));
        }
    }
    for path in ["/capz", "/v1/runpack/0123456789abcdef0123456789abcdef"] {
        tried += 1;
        let r = client
            .get(format!("{}{path}", server.url()))
            .header("host", "evil.example")
            .send()
            .await
            .unwrap();
        if r.status().as_u16() != 403 {
            bad.push(format!("GET {path} Host evil.example: {}", r.status()));
        }
    }
    // Health probes answer any Host (orchestrators call them by address);
    // loopback names are served.
    for path in ["/healthz", "/readyz"] {
        let r = client
            .get(format!("{}{path}", server.url()))
            .header("host", "evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    let ok = search("localhost:1234").await.unwrap().status().as_u16();
    server.shutdown().await.unwrap();
    // A configured name is accepted.
    let mut cfg = ws.config(None);
    cfg.allowed_hosts = vec!["codeintel.internal".into()];
    let server = start_ready(cfg, metrics.clone(), Some(hash(metrics))).await;
    let named = reqwest::Client::new()
        .post(format!("{}/v1/search", server.url()))
        .header("host", "codeintel.internal:8080")
        .json(&serde_json::json!({"query": "config"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    server.shutdown().await.unwrap();
    record(
        "security",
        "DNS rebinding: foreign hosts (name, name:port, loopback-prefixed name, IP) on /v1/search, /capz, /v1/runpack; configured name served",
        serde_json::json!({"tried": tried, "outcome": if bad.is_empty() { "403 naming CODEINTEL_ALLOWED_HOSTS; loopback names and configured names served; /healthz, /readyz exempt".to_owned() } else { bad.join("; ") }, "pass": bad.is_empty()}),
    );
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(ok, 200);
    assert_eq!(named, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_no_query_text_or_secret_in_spans_logs_or_scrape() {
    let global = spans();
    const QUERY: &str = "zqcanary7f3a needle";
    const TOKEN: &str = "tok-canary-secret-91c2";
    const API_KEY: &str = "sk-canary-secret-5e0b";
    let ws = Workspace::new();
    let mode = Arc::new(AtomicU8::new(EmbedFault::Healthy as u8));
    let url = start_fake_embeddings(mode).await;
    let telemetry = own_metrics("sec-canary");
    let metrics = telemetry.metrics.clone();
    let mut cfg = OpenAiConfig::new(&url, MODEL);
    cfg.api_key = Some(API_KEY.into());
    cfg.timeout = Duration::from_secs(5);
    let embedder: Arc<dyn Embedder> = Arc::new(OpenAiEmbedder::new(cfg, metrics.clone()).unwrap());
    let mut config = ws.config(Some(&url));
    config.token = Some(TOKEN.into());
    let server = start_ready(config, metrics, Some(embedder)).await;
    let http = reqwest::Client::new();
    let base = server.url();
    let mut requests = 0;
    for (refine, k) in [(false, 5), (true, 3)] {
        let r = http
            .post(format!("{base}/v1/search"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"query": QUERY, "k": k, "refine": refine}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        requests += 1;
    }
    // A failed request carries the query too.
    let r = http
        .post(format!("{base}/v1/search"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"query": QUERY, "k": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    requests += 1;
    let client = connect(&base, Some(TOKEN)).await;
    for (tool, args) in [
        ("semantic_search", serde_json::json!({"query": QUERY})),
        ("search", serde_json::json!({"query": QUERY})),
        ("text_search", serde_json::json!({"pattern": QUERY})),
        ("symbol_search", serde_json::json!({"name": QUERY})),
        // A path is not query text (it is echoed in the tool's error).
        ("open_file", serde_json::json!({"path": "no/such/file.rs"})),
    ] {
        let _ = call(&client, tool, obj(args)).await;
        requests += 1;
    }
    client.cancel().await.unwrap();
    let scrape = telemetry.registry.render();
    server.shutdown().await.unwrap();

    // Everything captured in this process: every span (name, attributes,
    // events, status), every log record, the whole scrape.
    let mut captured = String::new();
    for s in codeintel_server::observability::testing::finished_spans(global) {
        captured.push_str(&format!("{s:?}\n"));
    }
    for l in codeintel_server::observability::testing::emitted_logs(global) {
        captured.push_str(&format!("{:?}\n", l.record));
    }
    captured.push_str(&scrape);
    let spans_n = codeintel_server::observability::testing::finished_spans(global).len();
    let mut leaks = Vec::new();
    for (what, canary) in [
        ("query text", "zqcanary7f3a"),
        ("token", TOKEN),
        ("API key", API_KEY),
    ] {
        if let Some(at) = captured.find(canary) {
            let from = at.saturating_sub(120);
            leaks.push(format!(
                "{what}: …{}…",
                &captured[from..(at + 60).min(captured.len())]
            ));
        }
    }
    record(
        "security",
        "raw query text, token or API key in spans, logs or the scrape (default config)",
        serde_json::json!({"tried": requests, "outcome": if leaks.is_empty() { format!("none found in {} bytes of captured output ({spans_n} spans, logs, scrape)", captured.len()) } else { leaks.join(" | ") }, "pass": leaks.is_empty()}),
    );
    assert!(leaks.is_empty(), "{leaks:#?}");
}

// ====================================================================== load

/// Requests of the whole load run: `CODEINTEL_LOAD_REQUESTS` (the on-demand
/// figure is 10 800), else a modest count for CI.
fn load_requests() -> usize {
    std::env::var("CODEINTEL_LOAD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(540)
}

const LOAD_QUERIES: [&str; 6] = [
    "refund a captured payment",
    "reserve stock",
    "applyCouponCode",
    "nearest warehouse",
    "hash a password",
    "where is the config parsed",
];

#[derive(Default)]
struct LevelStats {
    latencies_us: Vec<u64>,
    errors: Vec<String>,
    versions: BTreeSet<String>,
    http: usize,
    mcp: usize,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Re-index (publish a new version), then roll back and reload: the two
/// switches a load level must survive. Returns the versions published.
async fn publish_and_rollback(
    server: &serve::AppState,
    data: PathBuf,
    repo: PathBuf,
    n: usize,
) -> Result<Vec<String>, String> {
    std::fs::write(
        repo.join("added_during_load.py"),
        format!("def added_during_load_{n}():\n    return {n}\n"),
    )
    .map_err(|e| e.to_string())?;
    let new = server.reindex().await.map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let back = tokio::task::spawn_blocking(move || {
        let dir = DataDir::open(&data).map_err(|e| e.to_string())?;
        let lock = dir.lock().map_err(|e| e.to_string())?;
        dir.rollback(&lock, None)
            .map(|v| v.name)
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())??;
    let loaded = server.load_or_build().await.map_err(|e| e.to_string())?;
    if loaded != back {
        return Err(format!("rolled back to {back} but loaded {loaded}"));
    }
    Ok(vec![new, back])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_searches_across_publish_and_rollback_have_no_errors() {
    // The RSS figures must be the server's. The binary's shared in-memory
    // capture keeps every span (~8 KiB per search), so alone
    // (`CODEINTEL_LOAD_ALONE=1`, as scripts/reliability.sh runs it) spans
    // take the production path, the batch processor, into a discarding
    // exporter; in a whole-binary run they are captured and the row says so.
    let alone = std::env::var_os("CODEINTEL_LOAD_ALONE").is_some();
    let _discarding = if alone {
        let t = codeintel_server::observability::testing::batch_discarding("load");
        tracing::subscriber::set_global_default(t.subscriber())
            .expect("run the load test alone (--exact) with CODEINTEL_LOAD_ALONE");
        Some(t)
    } else {
        spans();
        None
    };
    let ws = Workspace::new();
    let metrics = own_metrics("load").metrics.clone();
    let mut config = ws.config(None);
    config.max_concurrency = config.max_concurrency.max(128);
    let server = start_ready(config, metrics.clone(), Some(hash(metrics))).await;
    let first = match server.state().readiness() {
        serve::Readiness::Ready { version } => version,
        other => panic!("{other:?}"),
    };
    let base = server.url();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let total = load_requests();
    let levels = [8usize, 32, 64];
    let rounds = 3;
    let per_level = (total / (levels.len() * rounds)).max(1);
    let mut published: BTreeSet<String> = [first.clone()].into();
    let mut rss_after_round = Vec::new();
    let rss_start = reliability_support::rss_kib();
    let mut all_errors = 0usize;
    let mut all_requests = 0usize;
    let mut stray = BTreeSet::new();
    let mut switch_no = 0;
    let mut summary = Vec::new();
    for round in 1..=rounds {
        for &clients in &levels {
            switch_no += 1;
            let stats = Arc::new(std::sync::Mutex::new(LevelStats::default()));
            let sent = Arc::new(AtomicUsize::new(0));
            let switching = Arc::new(std::sync::atomic::AtomicBool::new(true));
            // MCP sessions for half the clients.
            let mut mcp = Vec::new();
            for _ in 0..clients / 2 {
                mcp.push(Arc::new(connect(&base, None).await));
            }
            let started = Instant::now();
            let mut workers = Vec::new();
            for c in 0..clients {
                let (stats, sent, switching) = (stats.clone(), sent.clone(), switching.clone());
                let http = http.clone();
                let base = base.clone();
                let mcp_client = if c % 2 == 1 {
                    mcp.get(c / 2).cloned()
                } else {
                    None
                };
                workers.push(tokio::spawn(async move {
                    loop {
                        let i = sent.fetch_add(1, Ordering::SeqCst);
                        if i >= per_level && !switching.load(Ordering::SeqCst) {
                            break;
                        }
                        let q = LOAD_QUERIES[i % LOAD_QUERIES.len()];
                        let t = Instant::now();
                        let (result, is_mcp) = match &mcp_client {
                            None => {
                                let r = http
                                    .post(format!("{base}/v1/search"))
                                    .json(&serde_json::json!({"query": q, "k": 5, "refine": i % 4 == 0}))
                                    .send()
                                    .await;
                                let r = match r {
                                    Ok(r) if r.status() == 200 => r
                                        .json::<serde_json::Value>()
                                        .await
                                        .map_err(|e| e.to_string()),
                                    Ok(r) => Err(format!("{}: {}", r.status(), r.text().await.unwrap_or_default())),
                                    Err(e) => Err(e.to_string()),
                                };
                                (r, false)
                            }
                            Some(client) => {
                                let r = call(client, "semantic_search", obj(serde_json::json!({"query": q, "k": 5}))).await;
                                let r = match r {
                                    Ok((false, text)) => serde_json::from_str(&text).map_err(|e| e.to_string()),
                                    Ok((true, text)) => Err(format!("tool error: {text}")),
                                    Err(e) => Err(e),
                                };
                                (r, true)
                            }
                        };
                        let us = t.elapsed().as_micros() as u64;
                        let mut s = stats.lock().unwrap();
                        s.latencies_us.push(us);
                        if is_mcp { s.mcp += 1 } else { s.http += 1 }
                        match result {
                            Ok(v) => {
                                s.versions.insert(v["index_version"].as_str().unwrap_or("<none>").to_owned());
                            }
                            Err(e) => s.errors.push(e),
                        }
                    }
                }));
            }
            // The switches run while the clients search.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let switched =
                publish_and_rollback(server.state(), ws.data(), ws.repo(), switch_no).await;
            switching.store(false, Ordering::SeqCst);
            for w in workers {
                w.await.unwrap();
            }
            let elapsed = started.elapsed();
            for c in mcp {
                if let Ok(c) = Arc::try_unwrap(c) {
                    let _ = c.cancel().await;
                }
            }
            let switched = switched.unwrap_or_else(|e| panic!("publish/rollback failed: {e}"));
            published.extend(switched.iter().cloned());
            let mut s = std::mem::take(&mut *stats.lock().unwrap());
            s.latencies_us.sort_unstable();
            let n = s.latencies_us.len();
            all_requests += n;
            all_errors += s.errors.len();
            for v in &s.versions {
                if !published.contains(v) {
                    stray.insert(v.clone());
                }
            }
            let row = serde_json::json!({
                "round": round,
                "clients": clients,
                "requests": n,
                "http": s.http,
                "mcp": s.mcp,
                "errors": s.errors.len(),
                "first_errors": s.errors.iter().take(3).collect::<Vec<_>>(),
                "versions_seen": s.versions,
                "switches": switched,
                "p50_ms": percentile(&s.latencies_us, 0.50),
                "p99_ms": percentile(&s.latencies_us, 0.99),
                "max_ms": percentile(&s.latencies_us, 1.0),
                "throughput_rps": n as f64 / elapsed.as_secs_f64(),
            });
            println!("load {row}");
            summary.push(row);
        }
        rss_after_round.push(reliability_support::rss_kib());
    }
    server.shutdown().await.unwrap();
    let rss_growth_mib = rss_after_round
        .last()
        .unwrap()
        .saturating_sub(rss_after_round[0]) as f64
        / 1024.0;
    for row in &summary {
        record(
            "load",
            &format!("round {} · {} clients", row["round"], row["clients"]),
            row.clone(),
        );
    }
    record(
        "load_total",
        "all rounds",
        serde_json::json!({
            "requests": all_requests,
            "errors": all_errors,
            "half_published_responses": stray.len(),
            "versions_published": published.len(),
            "rss_start_mib": rss_start as f64 / 1024.0,
            "rss_after_rounds_mib": rss_after_round.iter().map(|k| *k as f64 / 1024.0).collect::<Vec<_>>(),
            "rss_growth_round1_to_3_mib": rss_growth_mib,
            "spans": if alone { "batch processor into a discarding exporter" } else { "every span kept in the test's in-memory capture" },
            "pass": all_errors == 0 && stray.is_empty(),
        }),
    );
    assert_eq!(all_errors, 0, "{summary:#?}");
    assert!(
        stray.is_empty(),
        "responses from versions never published: {stray:?}"
    );
    // No growth across rounds beyond noise (allocator caches, the run store).
    assert!(
        rss_growth_mib < 128.0,
        "RSS grew {rss_growth_mib} MiB from round 1 to 3"
    );
}
