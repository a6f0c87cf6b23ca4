//! The telemetry core, end to end: instruments → OTel SDK → Prometheus
//! exporter → the scrape listener over real HTTP → promtool; spans and logs
//! through the in-memory exporters; start-up with the scrape port taken.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::Duration;

use codeintel_server::observability::metrics::{FaissImpl, LATENCY_BUCKETS, Outcome};
use codeintel_server::observability::{Export, Telemetry, TelemetryConfig, testing};
use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

fn telemetry_with_scrape() -> Telemetry {
    Telemetry::build(&TelemetryConfig {
        service_name: Some("scrape-test".into()),
        traces: Export::InMemory,
        logs: Export::InMemory,
        prometheus_addr: Some("127.0.0.1:0".parse().unwrap()),
        stderr_logs: false,
        ..TelemetryConfig::default()
    })
    .unwrap()
}

fn record_one_of_each(t: &Telemetry) {
    let m = &t.metrics;
    m.record_embed(
        "openai",
        "test-model",
        Duration::from_millis(7),
        3,
        Outcome::Ok,
    );
    m.record_faiss_search(FaissImpl::Ann, Duration::from_millis(2));
    m.record_faiss_search(FaissImpl::AnnRefine, Duration::from_millis(4));
    m.record_duckdb(Duration::from_micros(800));
    m.record_gating("identifier", false, 40, 0.25);
}

async fn scrape(addr: SocketAddr) -> (u16, String, String) {
    let resp = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ctype, resp.text().await.unwrap())
}

/// `le` values of one histogram's series, as numbers.
fn bucket_bounds(text: &str, metric: &str, series_filter: &str) -> Vec<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}_bucket{{")) && l.contains(series_filter))
        .map(|l| {
            let le = l.split("le=\"").nth(1).unwrap().split('"').next().unwrap();
            if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse::<f64>().unwrap()
            }
        })
        .collect()
}

fn label_names(text: &str, sample_prefix: &str) -> BTreeSet<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with(sample_prefix))
        .unwrap_or_else(|| panic!("no sample {sample_prefix} in\n{text}"));
    let labels = line.split('{').nth(1).unwrap().split('}').next().unwrap();
    labels
        .split(',')
        .map(|kv| kv.split('=').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn scrape_over_http_has_the_contract() {
    let t = telemetry_with_scrape();
    record_one_of_each(&t);
    let addr = t.scrape_addr().unwrap();
    let (status, ctype, text) = scrape(addr).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/plain"), "{ctype}");

    let mut expected: Vec<f64> = LATENCY_BUCKETS.to_vec();
    expected.push(f64::INFINITY);
    for (metric, filter) in [
        ("codeintel_embed_latency_seconds", ""),
        ("codeintel_faiss_search_latency_seconds", "impl=\"ann\""),
        (
            "codeintel_faiss_search_latency_seconds",
            "impl=\"ann+refine\"",
        ),
        ("codeintel_duckdb_execute_seconds", ""),
    ] {
        assert_eq!(
            bucket_bounds(&text, metric, filter),
            expected,
            "{metric} {filter}"
        );
        assert!(
            text.contains(&format!("# TYPE {metric} histogram")),
            "{metric}"
        );
    }
    let embed_labels = label_names(&text, "codeintel_embed_latency_seconds_count");
    assert!(
        embed_labels.contains("client") && embed_labels.contains("model"),
        "{embed_labels:?}"
    );
    let gating = label_names(&text, "codeintel_gating_decisions_total");
    assert!(
        gating.contains("class") && gating.contains("rm3"),
        "{gating:?}"
    );
    assert!(
        text.contains("# TYPE codeintel_gating_decisions_total counter"),
        "{text}"
    );
    assert!(text.contains("codeintel_gating_rrf_k_count"), "{text}");
    assert!(text.contains("codeintel_query_ambiguity_count"), "{text}");
    assert!(text.contains("codeintel_embed_batch_size_sum"), "{text}");
    assert!(!text.contains("_seconds_seconds") && !text.contains("_total_total"));
    assert!(
        text.lines()
            .any(|l| l.starts_with("target_info{") && l.contains("service_name=\"scrape-test\"")),
        "{text}"
    );

    insta::assert_snapshot!("scrape", normalise(&text));
}

/// Keeps the exposition's shape (names, labels, bucket bounds, types) and
/// drops what varies between runs (values, versions).
fn normalise(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("target_info") && !l.contains("otel_scope_version"))
        .map(|l| {
            if l.starts_with('#') {
                l.to_owned()
            } else {
                match l.rsplit_once(' ') {
                    Some((series, _value)) => format!("{series} <v>"),
                    None => l.to_owned(),
                }
            }
        })
        .filter(|l| !l.contains("telemetry_sdk"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn promtool_accepts_the_scrape() {
    let t = telemetry_with_scrape();
    record_one_of_each(&t);
    let (_, _, text) = scrape(t.scrape_addr().unwrap()).await;
    let promtool = which("promtool").expect(
        "promtool not found: install Debian's `prometheus` package (scripts/setup.sh does)",
    );
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool failed:\n{report}\n--- scrape ---\n{text}"
    );
    assert!(
        report.trim().is_empty(),
        "promtool reported problems:\n{report}"
    );
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.is_file())
}

#[test]
fn log_record_shares_the_trace_of_its_span() {
    let t = testing::in_memory("log-test");
    let (trace_id, span_id) = tracing::subscriber::with_default(t.subscriber(), || {
        let span = tracing::info_span!("hydrate");
        let _e = span.enter();
        tracing::info!(chunks = 3, "hydrated");
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        (sc.trace_id(), sc.span_id())
    });
    let logs = testing::emitted_logs(&t);
    let record = logs
        .iter()
        .find(|l| format!("{:?}", l.record.body()).contains("hydrated"))
        .expect("the log record was exported");
    let tc = record
        .record
        .trace_context()
        .expect("the record carries trace context");
    assert_eq!(tc.trace_id, trace_id);
    assert_eq!(tc.span_id, span_id);
    let spans = testing::finished_spans(&t);
    assert!(
        spans
            .iter()
            .any(|s| s.name == "hydrate" && s.span_context.trace_id() == trace_id)
    );
}

#[test]
fn taken_scrape_port_fails_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Telemetry::build(&TelemetryConfig {
        prometheus_addr: Some(addr),
        stderr_logs: false,
        ..TelemetryConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains(&addr.to_string()), "{err}");
    assert!(err.contains("PROMETHEUS_PORT"), "says what to do: {err}");
}

#[test]
fn server_binary_refuses_to_start_without_its_scrape_port() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let repo = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_codeintel-server"))
        .arg("serve")
        .env("CODEINTEL_REPO", repo.path())
        .env("CODEINTEL_HTTP_ADDR", "127.0.0.1:0")
        .env("PROMETHEUS_ADDR", "127.0.0.1")
        .env("PROMETHEUS_PORT", port.to_string())
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "must not run without its metrics listener"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
}

#[test]
fn unreachable_otlp_endpoint_neither_crashes_nor_blocks() {
    // Nothing listens on this port: exports fail, the app goes on, and
    // shutdown returns within the export timeout.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let t = Telemetry::build(&TelemetryConfig {
        traces: Export::Otlp {
            endpoint: endpoint.clone(),
        },
        logs: Export::Otlp { endpoint },
        stderr_logs: false,
        export_timeout: Duration::from_millis(500),
        ..TelemetryConfig::default()
    })
    .unwrap();
    tracing::subscriber::with_default(t.subscriber(), || {
        for _ in 0..100 {
            let span = tracing::info_span!("search");
            let _e = span.enter();
            tracing::info!("work");
        }
    });
    let started = std::time::Instant::now();
    t.flush();
    drop(t);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
