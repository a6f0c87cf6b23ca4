//! Shared helpers of the `ops_*` integration tests (deploy/: Prometheus
//! rules, dashboard, collector and CI files): repository paths, `promtool`,
//! and the reference server started in-process on loopback with its real
//! scrape listener and an embeddings server whose latency the test sets.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use codeintel_server::embed::hash_embedding;
use codeintel_server::observability::{Telemetry, testing};
use codeintel_server::serve::RunningServer;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

use crate::serve_support::{DIM, Workspace, openai, start_ready};

/// The repository's root (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

/// `deploy/…`.
pub fn deploy(rel: &str) -> PathBuf {
    repo_root().join("deploy").join(rel)
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn yaml(path: &Path) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// `promtool`, which the existing scrape test requires too (scripts/setup.sh
/// installs Debian's `prometheus` package, which ships it).
pub fn promtool() -> PathBuf {
    which("promtool")
        .expect("promtool not found: install Debian's `prometheus` package (scripts/setup.sh does)")
}

/// Runs `promtool ARGS` in `dir`; returns (success, stdout + stderr).
pub fn run_promtool(dir: &Path, args: &[&str]) -> (bool, String) {
    let out: Output = Command::new(promtool())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool {args:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The promtool unit test files under deploy/prometheus/tests/.
pub fn rule_test_files() -> Vec<PathBuf> {
    let dir = deploy("prometheus/tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no promtool tests in {}", dir.display());
    files
}

// ------------------------------------------------------------ deploy files

/// Every rule of deploy/prometheus/rules.yml, all groups.
pub fn rules() -> Vec<serde_yaml_ng::Value> {
    let doc = yaml(&deploy("prometheus/rules.yml"));
    doc["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules").clone())
        .collect()
}

/// Every PromQL expression of the dashboard (with Grafana's variables
/// replaced by PromQL), with where it comes from.
pub fn dashboard_exprs() -> Vec<(String, String)> {
    fn walk(v: &serde_json::Value, at: &str, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                let here = m
                    .get("title")
                    .and_then(|t| t.as_str())
                    .map_or_else(|| at.to_owned(), |t| format!("{at}/{t}"));
                for (k, v) in m {
                    if k == "expr"
                        && let Some(e) = v.as_str()
                    {
                        out.push((here.clone(), e.to_owned()));
                    } else {
                        walk(v, &here, out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, at, out)),
            _ => {}
        }
    }
    let path = deploy("grafana/codeintel.json");
    let doc: serde_json::Value = serde_json::from_str(&read(&path)).unwrap();
    let mut out = Vec::new();
    walk(&doc["panels"], "panel", &mut out);
    out.into_iter()
        .map(|(at, e)| (at, grafana_to_promql(&e)))
        .collect()
}

/// Grafana's variables as PromQL: `$job` matches every job, intervals 1m.
pub fn grafana_to_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$job", ".+")
}

// ------------------------------------------------------------ embeddings

/// Answers `POST /v1/embeddings` with `hash_embedding(text, DIM)` per input,
/// after a delay the test can change while it runs.
struct DelayedHash {
    delay_us: Arc<AtomicU64>,
}

impl Respond for DelayedHash {
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
            .map(|(i, t)| {
                serde_json::json!({"object": "embedding", "index": i, "embedding": hash_embedding(t, DIM)})
            })
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({
                "object": "list",
                "model": body["model"],
                "data": data,
                "usage": {"prompt_tokens": inputs.len(), "total_tokens": inputs.len()},
            }))
            .set_delay(Duration::from_micros(self.delay_us.load(Ordering::Relaxed)))
    }
}

// ------------------------------------------------------------ the reference

/// The reference server in-process: HTTP on 127.0.0.1:0, its real scrape
/// listener on another loopback port, a dense index built through an
/// embeddings mock that answers after [`Reference::set_embed_delay`].
pub struct Reference {
    pub server: RunningServer,
    pub telemetry: Telemetry,
    pub mock: MockServer,
    pub http: reqwest::Client,
    delay_us: Arc<AtomicU64>,
    _ws: Workspace,
}

impl Reference {
    pub async fn start(service_name: &str, embed_delay: Duration) -> Self {
        let ws = Workspace::new();
        let telemetry =
            testing::in_memory_with_scrape(service_name, "127.0.0.1:0".parse().unwrap())
                .expect("scrape listener on 127.0.0.1:0");
        let delay_us = Arc::new(AtomicU64::new(micros(embed_delay)));
        let mock = MockServer::builder().start().await;
        Mock::given(matchers::method("POST"))
            .and(matchers::path("/v1/embeddings"))
            .respond_with(DelayedHash {
                delay_us: Arc::clone(&delay_us),
            })
            .mount(&mock)
            .await;
        let metrics = telemetry.metrics.clone();
        let server = start_ready(
            ws.config(Some(&mock.uri())),
            metrics.clone(),
            Some(openai(&mock.uri(), metrics)),
        )
        .await;
        Self {
            server,
            telemetry,
            mock,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            delay_us,
            _ws: ws,
        }
    }

    pub fn scrape_addr(&self) -> SocketAddr {
        self.telemetry
            .scrape_addr()
            .expect("telemetry built with a scrape listener")
    }

    pub fn set_embed_delay(&self, delay: Duration) {
        self.delay_us.store(micros(delay), Ordering::Relaxed);
    }

    /// One `POST /v1/search`; returns the answer and the wall time of the call.
    pub async fn search(&self, query: &str, refine: bool) -> (serde_json::Value, Duration) {
        let started = Instant::now();
        let resp = self
            .http
            .post(format!("{}/v1/search", self.server.url()))
            .json(&serde_json::json!({"query": query, "k": 5, "refine": refine}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        let took = started.elapsed();
        assert_eq!(status, 200, "search {query:?}: {body}");
        (body, took)
    }

    /// The scrape, over HTTP, as Prometheus sees it.
    pub async fn scrape(&self) -> String {
        let resp = self
            .http
            .get(format!("http://{}/metrics", self.scrape_addr()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.text().await.unwrap()
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Queries that exercise every gating class of the fixture repository
/// (made unique per call by `n`, so no cache can answer them).
pub fn query(n: usize) -> String {
    const QUERIES: [&str; 4] = [
        "where are refunds computed",
        "PaymentService.refund",
        "fn parse_config(path: &Path) -> Result<Config>",
        "retry backoff in the http_client",
    ];
    format!("{} {n}", QUERIES[n % QUERIES.len()])
}
