//! Test helpers: telemetry whose spans and logs are kept in memory.
//!
//! Tests pass the [`Telemetry`] they build explicitly (its `metrics`, its
//! `subscriber()`); [`global`] exists for integration tests whose server
//! spawns tasks on many threads, where only a process-wide subscriber sees
//! every span: those tests tell their spans apart by trace id.

use std::sync::OnceLock;

use opentelemetry_sdk::trace::SpanData;

use super::{Export, Telemetry, TelemetryConfig};

/// Telemetry with in-memory span and log exporters, a Prometheus registry
/// and no scrape listener (`scrape_on` to serve one).
pub fn in_memory(service_name: &str) -> Telemetry {
    build(service_name, None)
}

/// As [`in_memory`], also serving scrapes on `addr` (e.g. `127.0.0.1:0`).
pub fn in_memory_with_scrape(
    service_name: &str,
    addr: std::net::SocketAddr,
) -> Result<Telemetry, super::TelemetryError> {
    Telemetry::build(&config(service_name, Some(addr)))
}

fn config(service_name: &str, addr: Option<std::net::SocketAddr>) -> TelemetryConfig {
    config_with(service_name, addr, Export::InMemory)
}

fn config_with(
    service_name: &str,
    addr: Option<std::net::SocketAddr>,
    traces: Export,
) -> TelemetryConfig {
    TelemetryConfig {
        service_name: Some(service_name.to_owned()),
        traces,
        logs: Export::InMemory,
        prometheus_addr: addr,
        stderr_logs: std::env::var_os("CODEINTEL_TEST_LOG").is_some(),
        log_filter: "info".to_owned(),
        ..TelemetryConfig::default()
    }
}

fn build(service_name: &str, addr: Option<std::net::SocketAddr>) -> Telemetry {
    build_with(service_name, addr, Export::InMemory)
}

fn build_with(service_name: &str, addr: Option<std::net::SocketAddr>, traces: Export) -> Telemetry {
    match Telemetry::build(&config_with(service_name, addr, traces)) {
        Ok(t) => t,
        // Without a scrape address nothing in the build can fail.
        Err(e) => panic!("in-memory telemetry failed to build: {e}"),
    }
}

static GLOBAL: OnceLock<Telemetry> = OnceLock::new();

/// In-memory telemetry installed as this process's `tracing` subscriber
/// (once; later calls return the same one). Also sets the W3C propagator.
pub fn global() -> &'static Telemetry {
    GLOBAL.get_or_init(|| {
        let t = in_memory("codeintel-test");
        // Another subscriber may already be installed by the test binary;
        // spans then go there and tests relying on this one will say so.
        let _ = tracing::subscriber::set_global_default(t.subscriber());
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        t
    })
}

/// Telemetry whose spans take the path they take in production — the SDK's
/// batch processor, as behind OTLP — into an exporter that drops every
/// batch; logs and metrics as in [`in_memory`]. What a span costs the
/// thread that records it, without a collector (the benches' figure).
pub fn batch_discarding(service_name: &str) -> Telemetry {
    let mut t = build_with(service_name, None, Export::None);
    t.tracer_provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(t.resource.clone())
        .with_batch_exporter(Discard)
        .build();
    t
}

/// A span exporter that accepts and drops every batch.
#[derive(Debug, Default)]
struct Discard;

impl opentelemetry_sdk::trace::SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

/// Finished spans so far (flushes first).
pub fn finished_spans(t: &Telemetry) -> Vec<SpanData> {
    t.flush();
    t.memory_spans
        .as_ref()
        .and_then(|e| e.get_finished_spans().ok())
        .unwrap_or_default()
}

/// Finished spans of one trace (hex trace id).
pub fn spans_of_trace(t: &Telemetry, trace_id: &str) -> Vec<SpanData> {
    finished_spans(t)
        .into_iter()
        .filter(|s| s.span_context.trace_id().to_string() == trace_id)
        .collect()
}

/// Emitted log records so far: (body, trace id, span id) for quick checks.
pub fn emitted_logs(
    t: &Telemetry,
) -> Vec<opentelemetry_sdk::logs::in_memory_exporter::LogDataWithResource> {
    t.flush();
    t.memory_logs
        .as_ref()
        .and_then(|e| e.get_emitted_logs().ok())
        .unwrap_or_default()
}
