//! The one place OpenTelemetry is set up.
//!
//! [`init_otel`] builds the resource, the tracer, meter and logger providers,
//! starts the Prometheus scrape listener and installs the `tracing`
//! subscriber that bridges spans and events into OTel. Everything else in the
//! crate only *uses* telemetry: `tracing` spans and events, [`hot::HotSpan`]
//! for the search's leaf spans, [`mark_failed`] for a failed span, and the
//! typed instruments of [`metrics::Metrics`] passed to it explicitly.
//!
//! Signals and where they go:
//! - traces: `tracing` spans → `tracing-opentelemetry` → OTLP http/protobuf
//!   when an endpoint is configured (or an in-memory exporter for tests);
//!   hot-path leaf spans straight through the OTel API to the same tracer;
//! - logs: `tracing` events → `opentelemetry-appender-tracing` → OTLP (and a
//!   human `fmt` layer on stderr), carrying the current span's trace context;
//! - metrics: OTel instruments → `opentelemetry-prometheus` → a registry
//!   served by its own listener on `PROMETHEUS_ADDR:PROMETHEUS_PORT`.

pub mod hot;
pub mod metrics;
pub mod span;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use metrics::{Metrics, PromRegistry, ScrapeListener};
pub use span::mark_failed;

/// Default `service.name` when `OTEL_SERVICE_NAME` is not set.
pub const DEFAULT_SERVICE_NAME: &str = "codeintel";
/// Default scrape address.
pub const DEFAULT_PROMETHEUS_ADDR: &str = "127.0.0.1:9464";
/// Instrumentation scope of the server's spans.
pub const TRACER_NAME: &str = "codeintel";

/// Where a signal (traces or logs) is exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    /// Not exported (`OTEL_TRACES_EXPORTER=none`, no endpoint configured).
    None,
    /// OTLP http/protobuf to this base endpoint (`/v1/traces`, `/v1/logs`
    /// are appended).
    Otlp { endpoint: String },
    /// Kept in memory (tests and the in-process conformance adapter).
    InMemory,
}

/// Everything `init_otel` needs, resolved once (from the environment by
/// [`TelemetryConfig::from_env`], or built by hand in tests).
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `service.name`; `None` keeps one given in `OTEL_RESOURCE_ATTRIBUTES`,
    /// else [`DEFAULT_SERVICE_NAME`].
    pub service_name: Option<String>,
    pub service_version: String,
    pub traces: Export,
    pub logs: Export,
    /// Where to serve Prometheus scrapes; `None` serves none (metrics are
    /// still recorded into the registry).
    pub prometheus_addr: Option<SocketAddr>,
    /// `OTEL_SDK_DISABLED=true`: no export of any signal, no scrape listener.
    pub sdk_disabled: bool,
    /// `tracing` filter for the stderr `fmt` layer and the log bridge
    /// (`RUST_LOG` syntax).
    pub log_filter: String,
    /// Write human-readable logs to stderr.
    pub stderr_logs: bool,
    /// Timeout of one OTLP export (and of shutdown).
    pub export_timeout: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            service_name: None,
            service_version: env!("CARGO_PKG_VERSION").to_owned(),
            traces: Export::None,
            logs: Export::None,
            prometheus_addr: None,
            sdk_disabled: false,
            log_filter: "info".to_owned(),
            stderr_logs: true,
            export_timeout: Duration::from_secs(3),
        }
    }
}

/// Errors setting telemetry up. Start-up fails on them rather than running
/// without telemetry: a swallowed exporter error was the seed system's worst
/// bug.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(transparent)]
    Prometheus(#[from] metrics::ExporterError),
    #[error("invalid {var}={value:?}: {why}")]
    Env {
        var: &'static str,
        value: String,
        why: String,
    },
    #[error("cannot build the OTLP {signal} exporter for {endpoint}: {why}")]
    Otlp {
        signal: &'static str,
        endpoint: String,
        why: String,
    },
    #[error("a global tracing subscriber is already installed: {0}")]
    SubscriberInstalled(String),
}

fn env_flag(var: &'static str) -> Result<bool, TelemetryError> {
    match std::env::var(var) {
        Err(_) => Ok(false),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" | "" => Ok(false),
            _ => Err(TelemetryError::Env {
                var,
                value: v,
                why: "expected true or false".into(),
            }),
        },
    }
}

fn non_empty_env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// Resolves the scrape address from `PROMETHEUS_ADDR` / `PROMETHEUS_PORT`.
pub fn prometheus_addr_from_env() -> Result<SocketAddr, TelemetryError> {
    let host = non_empty_env("PROMETHEUS_ADDR").unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = non_empty_env("PROMETHEUS_PORT").unwrap_or_else(|| "9464".to_owned());
    let port: u16 = port.trim().parse().map_err(|e| TelemetryError::Env {
        var: "PROMETHEUS_PORT",
        value: port.clone(),
        why: format!("{e}; expected a port number (0 picks a free one)"),
    })?;
    // PROMETHEUS_ADDR may be a bare host or host:port.
    let candidate =
        if host.contains(':') && !host.starts_with('[') && host.parse::<SocketAddr>().is_ok() {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
    candidate.parse().map_err(|e| TelemetryError::Env {
        var: "PROMETHEUS_ADDR",
        value: host,
        why: format!("{e}; expected an IP address such as 127.0.0.1"),
    })
}

impl TelemetryConfig {
    /// Reads the standard OTel variables: `OTEL_SERVICE_NAME`,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SDK_DISABLED`,
    /// `OTEL_TRACES_EXPORTER`, `OTEL_LOGS_EXPORTER`, `OTEL_METRICS_EXPORTER`
    /// (the last four the Rust SDK ignores by itself), plus
    /// `PROMETHEUS_ADDR`, `PROMETHEUS_PORT` and `RUST_LOG`.
    pub fn from_env() -> Result<Self, TelemetryError> {
        let sdk_disabled = env_flag("OTEL_SDK_DISABLED")?;
        let endpoint = non_empty_env("OTEL_EXPORTER_OTLP_ENDPOINT");
        if let Some(p) = non_empty_env("OTEL_EXPORTER_OTLP_PROTOCOL")
            && p != "http/protobuf"
        {
            return Err(TelemetryError::Env {
                var: "OTEL_EXPORTER_OTLP_PROTOCOL",
                value: p,
                why: "this server exports OTLP over http/protobuf only".into(),
            });
        }
        let signal = |var: &'static str| -> Result<Export, TelemetryError> {
            let choice = non_empty_env(var).unwrap_or_else(|| "otlp".to_owned());
            match choice.as_str() {
                "none" => Ok(Export::None),
                "otlp" => Ok(endpoint
                    .clone()
                    .map_or(Export::None, |endpoint| Export::Otlp { endpoint })),
                _ => Err(TelemetryError::Env {
                    var,
                    value: choice,
                    why: "supported values are otlp and none".into(),
                }),
            }
        };
        let traces = signal("OTEL_TRACES_EXPORTER")?;
        let logs = signal("OTEL_LOGS_EXPORTER")?;
        let metrics_choice =
            non_empty_env("OTEL_METRICS_EXPORTER").unwrap_or_else(|| "prometheus".to_owned());
        let prometheus_addr = match metrics_choice.as_str() {
            "none" => None,
            "prometheus" => Some(prometheus_addr_from_env()?),
            _ => {
                return Err(TelemetryError::Env {
                    var: "OTEL_METRICS_EXPORTER",
                    value: metrics_choice,
                    why: "supported values are prometheus and none".into(),
                });
            }
        };
        Ok(Self {
            service_name: non_empty_env("OTEL_SERVICE_NAME"),
            traces,
            logs,
            prometheus_addr,
            sdk_disabled,
            log_filter: non_empty_env("RUST_LOG").unwrap_or_else(|| "info".to_owned()),
            ..Self::default()
        })
    }
}

/// Builds the resource: SDK defaults and `OTEL_RESOURCE_ATTRIBUTES`, then
/// `service.name` and `service.version`.
pub fn resource(cfg: &TelemetryConfig) -> Resource {
    let detected = Resource::builder().build();
    let from_env = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .map(|v| v.to_string())
        .filter(|v| !v.starts_with("unknown_service"));
    let name = cfg
        .service_name
        .clone()
        .or(from_env)
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    Resource::builder()
        .with_service_name(name)
        .with_attribute(KeyValue::new(
            "service.version",
            cfg.service_version.clone(),
        ))
        .build()
}

/// Wraps an exporter so that its failures are reported once on stderr (then
/// again only after it recovered), instead of on every batch, and never
/// reach the OTel log bridge (which would export them again).
#[derive(Debug)]
struct ReportFailures<E> {
    inner: E,
    signal: &'static str,
    endpoint: String,
    failing: Arc<AtomicBool>,
}

impl<E> ReportFailures<E> {
    fn new(inner: E, signal: &'static str, endpoint: String) -> Self {
        Self {
            inner,
            signal,
            endpoint,
            failing: Arc::new(AtomicBool::new(false)),
        }
    }

    fn observe(&self, result: &OTelSdkResult) {
        match result {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    eprintln!(
                        "codeintel: OTLP {} export to {} recovered",
                        self.signal, self.endpoint
                    );
                }
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "codeintel: OTLP {} export to {} failed: {e}; the service keeps running and drops \
                         what it cannot send (check OTEL_EXPORTER_OTLP_ENDPOINT and that a collector listens there)",
                        self.signal, self.endpoint
                    );
                }
            }
        }
    }
}

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for ReportFailures<E>
{
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.observe(&result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: opentelemetry_sdk::logs::LogExporter> opentelemetry_sdk::logs::LogExporter
    for ReportFailures<E>
{
    async fn export(&self, batch: opentelemetry_sdk::logs::LogBatch<'_>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.observe(&result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

fn otlp_url(endpoint: &str, path: &str) -> String {
    format!("{}/{path}", endpoint.trim_end_matches('/'))
}

/// The providers and what tests can read back from them. Built without
/// touching any global; [`Telemetry::install`] makes it the process's.
pub struct Telemetry {
    /// The resource every signal carries.
    pub resource: Resource,
    pub tracer_provider: SdkTracerProvider,
    pub meter_provider: SdkMeterProvider,
    pub logger_provider: SdkLoggerProvider,
    pub metrics: Metrics,
    pub registry: PromRegistry,
    /// Present when traces are kept in memory.
    pub memory_spans: Option<InMemorySpanExporter>,
    /// Present when logs are kept in memory.
    pub memory_logs: Option<InMemoryLogExporter>,
    scrape: Option<ScrapeListener>,
    log_filter: String,
    stderr_logs: bool,
    export_timeout: Duration,
    /// The OTLP URL of traces and of logs, when exported there (named when
    /// a shutdown cannot flush them).
    otlp_traces: Option<String>,
    otlp_logs: Option<String>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("scrape_addr", &self.scrape_addr())
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// Builds every provider and starts the scrape listener.
    pub fn build(cfg: &TelemetryConfig) -> Result<Self, TelemetryError> {
        let resource = resource(cfg);
        let resource_for_all = resource.clone();
        let (traces, logs, scrape_addr) = if cfg.sdk_disabled {
            (Export::None, Export::None, None)
        } else {
            (cfg.traces.clone(), cfg.logs.clone(), cfg.prometheus_addr)
        };

        let otlp_traces = match &traces {
            Export::Otlp { endpoint } => Some(otlp_url(endpoint, "v1/traces")),
            _ => None,
        };
        let otlp_logs = match &logs {
            Export::Otlp { endpoint } => Some(otlp_url(endpoint, "v1/logs")),
            _ => None,
        };
        let mut tracer_builder = SdkTracerProvider::builder().with_resource(resource.clone());
        let mut memory_spans = None;
        match &traces {
            Export::None => {}
            Export::InMemory => {
                let exporter = InMemorySpanExporter::default();
                memory_spans = Some(exporter.clone());
                tracer_builder = tracer_builder.with_simple_exporter(exporter);
            }
            Export::Otlp { endpoint } => {
                use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
                let url = otlp_url(endpoint, "v1/traces");
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(url.clone())
                    .with_timeout(cfg.export_timeout)
                    .with_headers(std::collections::HashMap::new())
                    .build()
                    .map_err(|e| TelemetryError::Otlp {
                        signal: "traces",
                        endpoint: url.clone(),
                        why: e.to_string(),
                    })?;
                tracer_builder = tracer_builder
                    .with_batch_exporter(ReportFailures::new(exporter, "traces", url));
            }
        }
        let tracer_provider = tracer_builder.build();

        let mut logger_builder = SdkLoggerProvider::builder().with_resource(resource.clone());
        let mut memory_logs = None;
        match &logs {
            Export::None => {}
            Export::InMemory => {
                let exporter = InMemoryLogExporter::default();
                memory_logs = Some(exporter.clone());
                logger_builder = logger_builder.with_simple_exporter(exporter);
            }
            Export::Otlp { endpoint } => {
                use opentelemetry_otlp::WithExportConfig as _;
                let url = otlp_url(endpoint, "v1/logs");
                let exporter = opentelemetry_otlp::LogExporter::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(url.clone())
                    .with_timeout(cfg.export_timeout)
                    .build()
                    .map_err(|e| TelemetryError::Otlp {
                        signal: "logs",
                        endpoint: url.clone(),
                        why: e.to_string(),
                    })?;
                logger_builder =
                    logger_builder.with_batch_exporter(ReportFailures::new(exporter, "logs", url));
            }
        }
        let logger_provider = logger_builder.build();

        let (meter_provider, registry, metrics) = if cfg.sdk_disabled {
            (
                SdkMeterProvider::builder().with_resource(resource).build(),
                PromRegistry::default(),
                Metrics::noop(),
            )
        } else {
            metrics::meter_provider_with_registry(resource)?
        };
        let scrape = match scrape_addr {
            Some(addr) => Some(ScrapeListener::start(addr, registry.clone())?),
            None => None,
        };

        Ok(Self {
            resource: resource_for_all,
            tracer_provider,
            meter_provider,
            logger_provider,
            metrics,
            registry,
            memory_spans,
            memory_logs,
            scrape,
            log_filter: cfg.log_filter.clone(),
            stderr_logs: cfg.stderr_logs,
            export_timeout: cfg.export_timeout,
            otlp_traces,
            otlp_logs,
        })
    }

    /// The address the scrape listener is bound to.
    pub fn scrape_addr(&self) -> Option<SocketAddr> {
        self.scrape.as_ref().map(ScrapeListener::local_addr)
    }

    /// The `tracing` subscriber for these providers: a human `fmt` layer on
    /// stderr, the span bridge and the log bridge. Install it globally with
    /// [`Telemetry::install`], or scope it with
    /// `tracing::subscriber::with_default` in a test.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        // The SDK's own diagnostics and the HTTP stack never go to the log
        // bridge: exporting them could loop back into the failing exporter.
        const QUIET: &str = "opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off,\
                             opentelemetry_http=off,hyper=off,hyper_util=off,h2=off,reqwest=off,tower=off,\
                             tantivy=warn";
        let filter = |base: &str| {
            EnvFilter::try_new(format!("{base},{QUIET}"))
                .unwrap_or_else(|_| EnvFilter::new(format!("info,{QUIET}")))
        };
        let tracer = self.tracer_provider.tracer(TRACER_NAME);
        let spans = tracing_opentelemetry::layer()
            .with_tracer(tracer.clone())
            .with_error_events_to_exceptions(true)
            .with_error_events_to_status(true)
            .with_error_fields_to_exceptions(true)
            .with_level(false)
            .with_threads(false)
            .with_location(false)
            .with_target(false)
            // Spans and span events come from our code only: rmcp's own
            // events carry raw request payloads (query text) and the HTTP
            // stack's would only add noise.
            .with_filter(filter("info,rmcp=off"));
        // The OTel log bridge gets none of rmcp's events (they may carry
        // payloads); stderr gets its warnings.
        let bridge_base = format!("{},rmcp=off", self.log_filter);
        let logs_base = format!("{},rmcp=warn", self.log_filter);
        let logs = opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(
            &self.logger_provider,
        )
        .with_filter(filter(&bridge_base));
        let fmt = self.stderr_logs.then(|| {
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .compact()
                .with_filter(filter(&logs_base))
        });
        // Carries the tracer of the hot path's spans (`hot::HotSpan`); never
        // interested in a callsite.
        let hot = hot::HotTracer::new(tracer.clone())
            .with_filter(tracing_subscriber::filter::LevelFilter::OFF);
        tracing_subscriber::registry()
            .with(spans)
            .with(logs)
            .with(fmt)
            .with(hot)
    }

    /// Installs this telemetry as the process's: the global `tracing`
    /// subscriber and the W3C trace-context propagator.
    pub fn install(self) -> Result<TelemetryGuard, TelemetryError> {
        tracing::subscriber::set_global_default(self.subscriber())
            .map_err(|e| TelemetryError::SubscriberInstalled(e.to_string()))?;
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        Ok(TelemetryGuard {
            telemetry: Some(self),
        })
    }

    /// Flushes spans and logs now (tests, end of a CLI command).
    pub fn flush(&self) {
        let _ = self.tracer_provider.force_flush();
        let _ = self.logger_provider.force_flush();
    }

    fn shutdown(&self) {
        let timeout = self.export_timeout;
        // A flush the collector does not take in time is said, never
        // silent: the batch's own failure report may not have run yet.
        let say = |signal: &str, url: &Option<String>, result: OTelSdkResult| {
            if let (Some(url), Err(e)) = (url, result) {
                eprintln!(
                    "codeintel: OTLP {signal} export to {url} did not finish at shutdown within {:.1} s: {e}; \
                     what was not sent is dropped (check that a collector answers at OTEL_EXPORTER_OTLP_ENDPOINT, \
                     or raise OTEL_EXPORTER_OTLP_TIMEOUT)",
                    timeout.as_secs_f64()
                );
            }
        };
        say(
            "traces",
            &self.otlp_traces,
            self.tracer_provider.shutdown_with_timeout(timeout),
        );
        say(
            "logs",
            &self.otlp_logs,
            self.logger_provider.shutdown_with_timeout(timeout),
        );
        let _ = self.meter_provider.shutdown_with_timeout(timeout);
    }
}

/// Keeps telemetry alive; flushes and shuts every provider down on drop
/// (bounded by the export timeout: an unreachable collector never blocks
/// exit for long).
#[derive(Debug)]
pub struct TelemetryGuard {
    telemetry: Option<Telemetry>,
}

impl TelemetryGuard {
    /// The instruments to pass to the application.
    pub fn metrics(&self) -> Metrics {
        self.telemetry
            .as_ref()
            .map_or_else(Metrics::noop, |t| t.metrics.clone())
    }

    /// The telemetry behind this guard.
    pub fn telemetry(&self) -> Option<&Telemetry> {
        self.telemetry.as_ref()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(t) = self.telemetry.take() {
            t.shutdown();
        }
    }
}

/// One call that sets up every signal from `cfg` and installs it for the
/// process. Fails (naming the address) when the scrape port is taken.
pub fn init_otel(cfg: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    Telemetry::build(cfg)?.install()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_paths_are_appended_once() {
        assert_eq!(
            otlp_url("http://h:4318", "v1/traces"),
            "http://h:4318/v1/traces"
        );
        assert_eq!(
            otlp_url("http://h:4318/", "v1/logs"),
            "http://h:4318/v1/logs"
        );
    }

    #[test]
    fn resource_has_name_and_version() {
        let cfg = TelemetryConfig {
            service_name: Some("svc-under-test".into()),
            ..TelemetryConfig::default()
        };
        let r = resource(&cfg);
        let get = |k: &'static str| {
            r.get(&opentelemetry::Key::from_static_str(k))
                .map(|v| v.to_string())
        };
        assert_eq!(get("service.name").as_deref(), Some("svc-under-test"));
        assert_eq!(
            get("service.version").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn sdk_disabled_builds_no_listener_and_no_export() {
        let cfg = TelemetryConfig {
            sdk_disabled: true,
            traces: Export::InMemory,
            prometheus_addr: Some("127.0.0.1:0".parse().unwrap()),
            ..TelemetryConfig::default()
        };
        let t = Telemetry::build(&cfg).unwrap();
        assert!(t.scrape_addr().is_none());
        assert!(t.memory_spans.is_none());
    }
}
