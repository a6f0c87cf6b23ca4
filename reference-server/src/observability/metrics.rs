//! The instrument registry: every instrument of the metric contract is declared
//! here, once, behind typed recording functions with bounded label values.
//!
//! This is also the only module of the workspace that names the `prometheus`
//! crate: it owns the registry the OpenTelemetry Prometheus exporter writes
//! into, and the dedicated listener that serves it at `/metrics` on
//! `PROMETHEUS_ADDR:PROMETHEUS_PORT`. The application's router never serves
//! `/metrics`.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};

/// The path the scrape listener serves (on `PROMETHEUS_PORT`, never the app port).
pub const SCRAPE_PATH: &str = "/metrics";
/// Histogram buckets of the three latency instruments, in seconds (the
/// contract's `B`, `+Inf` implied).
pub const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
/// Buckets for `embed_batch_size` (texts per request).
pub const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Buckets for `gating_rrf_k`.
pub const RRF_K_BUCKETS: [f64; 7] = [10.0, 20.0, 40.0, 60.0, 90.0, 120.0, 200.0];
/// Buckets for `query_ambiguity` (a score in `[0, 1]`).
pub const AMBIGUITY_BUCKETS: [f64; 10] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// The metric name prefix (the exporter's namespace).
pub const NAMESPACE: &str = "codeintel";
/// The instrumentation scope name.
pub const SCOPE: &str = "codeintel";

/// Which FAISS search path a latency belongs to (label `impl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaissImpl {
    /// Approximate (or flat) index search only.
    Ann,
    /// ANN candidates re-scored exactly against stored vectors.
    AnnRefine,
}

impl FaissImpl {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ann => "ann",
            Self::AnnRefine => "ann+refine",
        }
    }
}

/// Outcome of an embedding call (label `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
        }
    }
}

struct Instruments {
    embed_latency: Histogram<f64>,
    embed_batch_size: Histogram<u64>,
    faiss_search_latency: Histogram<f64>,
    duckdb_execute: Histogram<f64>,
    gating_decisions: Counter<u64>,
    gating_rrf_k: Histogram<u64>,
    query_ambiguity: Histogram<f64>,
    search_limits: Counter<u64>,
    hydrate_misses: Counter<u64>,
    embed_breaker_rejections: Counter<u64>,
}

/// Typed handle on the contract's instruments. Cheap to clone; pass it
/// explicitly to whatever records (no globals), so tests can use their own
/// provider.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Instruments>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Declares every instrument of the contract on `meter`.
    ///
    /// Names carry no unit or `_total` suffix: the Prometheus exporter appends
    /// them (`embed_latency` with unit `s` becomes
    /// `codeintel_embed_latency_seconds`).
    pub fn new(meter: &Meter) -> Self {
        let latency = |name: &'static str, description: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build()
        };
        let inner = Instruments {
            embed_latency: latency(
                "embed_latency",
                "Duration of one embeddings request, failed ones included.",
            ),
            faiss_search_latency: latency(
                "faiss_search_latency",
                "Duration of one FAISS search, by implementation (ann, ann+refine).",
            ),
            duckdb_execute: latency(
                "duckdb_execute",
                "Duration of one DuckDB catalog statement.",
            ),
            embed_batch_size: meter
                .u64_histogram("embed_batch_size")
                .with_description("Texts sent in one embeddings request.")
                .with_boundaries(BATCH_BUCKETS.to_vec())
                .build(),
            gating_decisions: meter
                .u64_counter("gating_decisions")
                .with_description("Query gating decisions, one per search.")
                .build(),
            gating_rrf_k: meter
                .u64_histogram("gating_rrf_k")
                .with_description("RRF k chosen by query gating, one per search.")
                .with_boundaries(RRF_K_BUCKETS.to_vec())
                .build(),
            query_ambiguity: meter
                .f64_histogram("query_ambiguity")
                .with_description("Ambiguity score of a query in [0, 1], one per search.")
                .with_boundaries(AMBIGUITY_BUCKETS.to_vec())
                .build(),
            search_limits: meter
                .u64_counter("search_limits")
                .with_description(
                    "Degradations reported in a search's `limits`, by stable code \
                     (dense_model_mismatch, dense_dimension_mismatch, hydrate_missing, ...).",
                )
                .build(),
            hydrate_misses: meter
                .u64_counter("hydrate_misses")
                .with_description(
                    "Fused ids missing from the catalog at hydrate (dropped from the answer).",
                )
                .build(),
            embed_breaker_rejections: meter
                .u64_counter("embed_breaker_rejections")
                .with_description(
                    "Embedding calls answered at once by the open circuit breaker, without a request.",
                )
                .build(),
        };
        // Exported as 0 from the start: a consistent index never misses, and
        // a dashboard (or a registry's coverage) should see a zero, not an
        // absent series.
        inner.hydrate_misses.add(0, &[]);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Instruments that record nothing (for code paths and tests that do not
    /// observe metrics).
    pub fn noop() -> Self {
        let provider = opentelemetry::metrics::NoopMeterProvider::new();
        Self::new(&provider.meter(SCOPE))
    }

    /// One embeddings request: its latency (always, failed calls included),
    /// and its batch size.
    ///
    /// `client` is a static name of the client implementation (bounded);
    /// `model` is the configured model name (one per process).
    pub fn record_embed(
        &self,
        client: &'static str,
        model: &str,
        elapsed: Duration,
        batch_len: usize,
        outcome: Outcome,
    ) {
        let attrs = [
            KeyValue::new("client", client),
            KeyValue::new("model", model.to_owned()),
            KeyValue::new("outcome", outcome.as_str()),
        ];
        self.inner
            .embed_latency
            .record(elapsed.as_secs_f64(), &attrs);
        self.inner.embed_batch_size.record(
            batch_len as u64,
            &[
                KeyValue::new("client", client),
                KeyValue::new("model", model.to_owned()),
            ],
        );
    }

    /// One FAISS search call.
    pub fn record_faiss_search(&self, imp: FaissImpl, elapsed: Duration) {
        self.inner.faiss_search_latency.record(
            elapsed.as_secs_f64(),
            &[KeyValue::new("impl", imp.as_str())],
        );
    }

    /// One DuckDB statement.
    pub fn record_duckdb(&self, elapsed: Duration) {
        self.inner.duckdb_execute.record(elapsed.as_secs_f64(), &[]);
    }

    /// Runs `f` and records its duration as one DuckDB statement.
    pub fn time_duckdb<T>(&self, f: impl FnOnce() -> T) -> T {
        let start = std::time::Instant::now();
        let out = f();
        self.record_duckdb(start.elapsed());
        out
    }

    /// One gating decision: exactly one call per search.
    ///
    /// `class` must be one of the gating module's static class names
    /// (bounded cardinality).
    pub fn record_gating(&self, class: &'static str, rm3: bool, rrf_k: u32, ambiguity: f64) {
        self.inner.gating_decisions.add(
            1,
            &[
                KeyValue::new("class", class),
                KeyValue::new("rm3", if rm3 { "true" } else { "false" }),
            ],
        );
        self.inner.gating_rrf_k.record(u64::from(rrf_k), &[]);
        self.inner.query_ambiguity.record(ambiguity, &[]);
    }
}

impl Metrics {
    /// One `limits` entry of a search answer. `code` must be one of the
    /// engine's static limit codes (bounded cardinality).
    pub fn record_search_limit(&self, code: &'static str) {
        self.inner
            .search_limits
            .add(1, &[KeyValue::new("limit", code)]);
    }

    /// Ids the fusion returned that the catalog does not hold.
    pub fn record_hydrate_misses(&self, missing: usize) {
        self.inner.hydrate_misses.add(missing as u64, &[]);
    }

    /// One embedding call refused by the open circuit breaker. `client` is
    /// the client's static name.
    pub fn record_breaker_rejection(&self, client: &'static str) {
        self.inner
            .embed_breaker_rejections
            .add(1, &[KeyValue::new("client", client)]);
    }
}

/// Errors of the Prometheus exporter set-up.
#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    #[error("cannot build the OpenTelemetry Prometheus exporter: {0}")]
    Build(String),
    #[error(
        "cannot listen for Prometheus scrapes on {addr}: {source} \
         (is another process using it? set PROMETHEUS_PORT to a free port, or 0 for any)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the Prometheus scrape listener thread: {0}")]
    Thread(std::io::Error),
}

/// The Prometheus side of the meter provider: the registry the OTel exporter
/// writes into, and the exporter (a metric reader) to install on the provider.
pub struct PrometheusParts {
    pub registry: PromRegistry,
    pub reader: opentelemetry_prometheus::PrometheusExporter,
}

/// A registry the scrape is rendered from. Wraps the `prometheus` crate so
/// that nothing outside this module names it.
#[derive(Clone, Default)]
pub struct PromRegistry(prometheus::Registry);

impl PromRegistry {
    /// Renders the registry as Prometheus text exposition format.
    pub fn render(&self) -> String {
        use prometheus::Encoder as _;
        let families = self.0.gather();
        let mut buf = Vec::new();
        // Encoding into a Vec only fails on invalid metric families, which the
        // OTel exporter does not produce; report it in the body if it does.
        if let Err(e) = prometheus::TextEncoder::new().encode(&families, &mut buf) {
            return format!("# encoding error: {e}\n");
        }
        String::from_utf8(buf).unwrap_or_else(|e| format!("# encoding error: {e}\n"))
    }
}

/// Builds the OTel Prometheus exporter on a fresh registry, namespace
/// `codeintel`.
pub fn prometheus_parts() -> Result<PrometheusParts, ExporterError> {
    let registry = PromRegistry::default();
    let reader = opentelemetry_prometheus::exporter()
        .with_registry(registry.0.clone())
        .with_namespace(NAMESPACE)
        .build()
        .map_err(|e| ExporterError::Build(e.to_string()))?;
    Ok(PrometheusParts { registry, reader })
}

/// The scrape listener: serves `GET /metrics` from the registry on its own
/// socket and thread, independent of the application's runtime and router.
pub struct ScrapeListener {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ScrapeListener {
    /// Binds `addr` now (so a taken port fails start-up with an error naming
    /// the address) and serves scrapes on a dedicated thread.
    pub fn start(addr: SocketAddr, registry: PromRegistry) -> Result<Self, ExporterError> {
        let std_listener =
            TcpListener::bind(addr).map_err(|source| ExporterError::Bind { addr, source })?;
        std_listener
            .set_nonblocking(true)
            .map_err(|source| ExporterError::Bind { addr, source })?;
        let bound = std_listener
            .local_addr()
            .map_err(|source| ExporterError::Bind { addr, source })?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("prometheus-scrape".into())
            .spawn(move || serve_scrapes(std_listener, registry, rx))
            .map_err(ExporterError::Thread)?;
        Ok(Self {
            addr: bound,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ScrapeListener {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_scrapes(
    listener: TcpListener,
    registry: PromRegistry,
    shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!(
            "prometheus scrape listener: cannot build its runtime; no scrapes will be served"
        );
        return;
    };
    rt.block_on(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            eprintln!(
                "prometheus scrape listener: cannot register its socket; no scrapes will be served"
            );
            return;
        };
        let app = axum::Router::new().route(
            SCRAPE_PATH,
            axum::routing::get(move || {
                let registry = registry.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        registry.render(),
                    )
                }
            }),
        );
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = shutdown.await;
        });
        if let Err(e) = server.await {
            eprintln!("prometheus scrape listener stopped: {e}");
        }
    });
}

/// A meter provider wired to a fresh Prometheus registry, with the
/// contract's instruments declared on it. Used by `init_otel` and by tests.
pub fn meter_provider_with_registry(
    resource: opentelemetry_sdk::Resource,
) -> Result<
    (
        opentelemetry_sdk::metrics::SdkMeterProvider,
        PromRegistry,
        Metrics,
    ),
    ExporterError,
> {
    let parts = prometheus_parts()?;
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(parts.reader)
        .build();
    let metrics = Metrics::new(&provider.meter(SCOPE));
    Ok((provider, parts.registry, metrics))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded() -> String {
        let (provider, registry, m) =
            meter_provider_with_registry(opentelemetry_sdk::Resource::builder().build()).unwrap();
        m.record_embed("test", "m", Duration::from_millis(3), 4, Outcome::Ok);
        m.record_faiss_search(FaissImpl::Ann, Duration::from_millis(2));
        m.record_faiss_search(FaissImpl::AnnRefine, Duration::from_millis(2));
        m.record_duckdb(Duration::from_micros(500));
        m.record_gating("nl", false, 60, 0.4);
        let text = registry.render();
        drop(provider);
        text
    }

    #[test]
    fn names_carry_prefix_unit_and_total_suffix_once() {
        let text = recorded();
        for name in [
            "codeintel_embed_latency_seconds_bucket",
            "codeintel_faiss_search_latency_seconds_bucket",
            "codeintel_duckdb_execute_seconds_bucket",
            "codeintel_embed_batch_size_bucket",
            "codeintel_gating_rrf_k_bucket",
            "codeintel_query_ambiguity_bucket",
            "codeintel_gating_decisions_total",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        assert!(!text.contains("_seconds_seconds"), "{text}");
        assert!(!text.contains("_total_total"), "{text}");
    }

    #[test]
    fn noop_metrics_record_without_a_provider() {
        let m = Metrics::noop();
        m.record_gating("nl", true, 40, 0.1);
        assert_eq!(m.time_duckdb(|| 7), 7);
    }
}
