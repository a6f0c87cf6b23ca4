//! The reference server, linked in-process (`--sut reference`).
//!
//! It is started exactly as the `serve` command starts it, from the same
//! variables of the contract, with two differences that only concern how
//! the harness observes it: spans and logs go to in-memory exporters (read
//! back through [`Sut::telemetry`]) instead of OTLP, and the `tracing`
//! subscriber is installed once per harness process. Metrics are real: a
//! fresh meter provider per run, scraped over HTTP on `PROMETHEUS_PORT`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use opentelemetry::trace::{SpanKind as OtelKind, Status};
use opentelemetry::{KeyValue, Value};

use codeintel_server::config::{Config, ConfigArgs};
use codeintel_server::embed::Embedder;
use codeintel_server::embed::openai::{OpenAiConfig, OpenAiEmbedder};
use codeintel_server::observability::metrics::{ScrapeListener, meter_provider_with_registry};
use codeintel_server::observability::{Export, Telemetry as ServerTelemetry, TelemetryConfig};
use codeintel_server::serve::{self, RunningServer};

use super::{StartInfo, Sut, SutEnv, SutError, Telemetry};
use crate::observe::{
    AttrValue, Attributes, LogRecord, SpanEvent, SpanKind, SpanRecord, StatusCode, SutInfo,
};

/// The process-wide in-memory telemetry (a `tracing` subscriber can be
/// installed once per process), and the service name it was built with.
static TELEMETRY: OnceLock<(ServerTelemetry, String)> = OnceLock::new();

fn global_telemetry(service_name: &str) -> Result<&'static ServerTelemetry, SutError> {
    let (t, name) = TELEMETRY.get_or_init(|| {
        let cfg = TelemetryConfig {
            service_name: Some(service_name.to_owned()),
            traces: Export::InMemory,
            logs: Export::InMemory,
            prometheus_addr: None,
            stderr_logs: std::env::var_os("CODEINTEL_CONFORMANCE_SUT_LOG").is_some(),
            log_filter: "info".to_owned(),
            ..TelemetryConfig::default()
        };
        // Without a scrape address the build cannot fail; keep the error
        // visible if that ever changes.
        let t = ServerTelemetry::build(&cfg).unwrap_or_else(|e| {
            panic!("in-memory telemetry for the reference SUT failed to build: {e}")
        });
        let _ = tracing::subscriber::set_global_default(t.subscriber());
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        (t, service_name.to_owned())
    });
    if name != service_name {
        return Err(SutError::Other(format!(
            "the in-process reference SUT was already started in this process as service {name:?}; \
             it cannot be renamed to {service_name:?}"
        )));
    }
    Ok(t)
}

/// The reference server in-process.
pub struct ReferenceSut {
    source_dir: PathBuf,
    start_timeout: Duration,
    server: Option<RunningServer>,
    scrape: Option<ScrapeListener>,
    meter_provider: Option<opentelemetry_sdk::metrics::SdkMeterProvider>,
    telemetry: Option<&'static ServerTelemetry>,
}

impl ReferenceSut {
    /// `source_dir`: the workspace root (for the LNT checks).
    pub fn new(source_dir: PathBuf) -> Self {
        Self {
            source_dir,
            start_timeout: Duration::from_secs(60),
            server: None,
            scrape: None,
            meter_provider: None,
            telemetry: None,
        }
    }

    async fn start_inner(&mut self, env: &SutEnv) -> Result<StartInfo, SutError> {
        let started = Instant::now();
        let telemetry = global_telemetry(&env.service_name)?;
        if let Some(s) = &telemetry.memory_spans {
            s.reset();
        }
        if let Some(l) = &telemetry.memory_logs {
            l.reset();
        }
        self.telemetry = Some(telemetry);

        let (provider, registry, metrics) =
            meter_provider_with_registry(telemetry.resource.clone())
                .map_err(|e| SutError::Other(e.to_string()))?;
        let scrape_addr = SocketAddr::new(env.prometheus_addr, env.prometheus_port);
        let scrape = ScrapeListener::start(scrape_addr, registry)
            .map_err(|e| SutError::Other(e.to_string()))?;
        self.scrape = Some(scrape);
        self.meter_provider = Some(provider);

        let args = ConfigArgs {
            repo: Some(env.repo.clone()),
            data: Some(env.data.clone()),
            http_addr: Some(env.http_addr.to_string()),
            vllm_url: Some(env.embed_url.clone()),
            embed_model: Some(env.embed_model.clone()),
            ..ConfigArgs::default()
        };
        let config = Config::resolve(&args).map_err(|e| SutError::Other(e.to_string()))?;
        let mut oc = OpenAiConfig::new(env.embed_url.clone(), env.embed_model.clone());
        oc.timeout = config.embed_timeout;
        oc.max_retries = config.embed_retries;
        oc.batch_size = config.embed_batch;
        oc.max_concurrency = config.embed_concurrency;
        let embedder =
            OpenAiEmbedder::new(oc, metrics.clone()).map_err(|e| SutError::Other(e.to_string()))?;
        let embedder: std::sync::Arc<dyn Embedder> = std::sync::Arc::new(embedder);
        let server = serve::start(config, metrics, Some(embedder))
            .await
            .map_err(|e| SutError::Other(e.to_string()))?;
        self.server = Some(server);
        Ok(StartInfo {
            listening_after: started.elapsed(),
            pid: None,
        })
    }
}

impl Sut for ReferenceSut {
    fn info(&self) -> SutInfo {
        SutInfo {
            name: "reference".to_owned(),
            kind: "reference".to_owned(),
            service_name: String::new(),
            source_dir: Some(self.source_dir.clone()),
            embed_model: String::new(),
        }
    }

    fn start_timeout(&self) -> Duration {
        self.start_timeout
    }

    fn start<'a>(&'a mut self, env: &'a SutEnv) -> BoxFuture<'a, Result<StartInfo, SutError>> {
        Box::pin(self.start_inner(env))
    }

    fn exited(&mut self) -> Option<String> {
        None
    }

    fn telemetry(&self) -> Option<Telemetry> {
        let t = self.telemetry?;
        t.flush();
        let resource = attributes(t.resource.iter().map(|(k, v)| (k.as_str(), v)));
        let spans = t
            .memory_spans
            .as_ref()
            .and_then(|e| e.get_finished_spans().ok())
            .unwrap_or_default()
            .into_iter()
            .map(|s| span_record(&s, &resource))
            .collect();
        let logs = t
            .memory_logs
            .as_ref()
            .and_then(|e| e.get_emitted_logs().ok())
            .unwrap_or_default()
            .into_iter()
            .map(|l| log_record(&l))
            .collect();
        Some(Telemetry { spans, logs })
    }

    fn output_tail(&self) -> String {
        String::new()
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(server) = self.server.take() {
                let _ = server.shutdown().await;
            }
            self.scrape = None;
            if let Some(p) = self.meter_provider.take() {
                let _ = p.shutdown();
            }
        })
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

fn attr(v: &Value) -> AttrValue {
    match v {
        Value::Bool(b) => AttrValue::Bool(*b),
        Value::I64(i) => AttrValue::Int(*i),
        Value::F64(f) => AttrValue::Double(*f),
        Value::String(s) => AttrValue::Str(s.to_string()),
        Value::Array(a) => AttrValue::Str(a.to_string()),
        other => AttrValue::Str(other.to_string()),
    }
}

fn attributes<'a>(kvs: impl Iterator<Item = (&'a str, &'a Value)>) -> Attributes {
    kvs.map(|(k, v)| (k.to_owned(), attr(v))).collect()
}

fn kv_attributes(kvs: &[KeyValue]) -> Attributes {
    attributes(kvs.iter().map(|kv| (kv.key.as_str(), &kv.value)))
}

fn span_record(s: &opentelemetry_sdk::trace::SpanData, resource: &Attributes) -> SpanRecord {
    let parent = s.parent_span_id;
    let (status, status_message) = match &s.status {
        Status::Unset => (StatusCode::Unset, String::new()),
        Status::Ok => (StatusCode::Ok, String::new()),
        Status::Error { description } => (StatusCode::Error, description.to_string()),
    };
    SpanRecord {
        trace_id: s.span_context.trace_id().to_string(),
        span_id: s.span_context.span_id().to_string(),
        parent_span_id: (parent != opentelemetry::trace::SpanId::INVALID)
            .then(|| parent.to_string()),
        name: s.name.to_string(),
        kind: match s.span_kind {
            OtelKind::Internal => SpanKind::Internal,
            OtelKind::Server => SpanKind::Server,
            OtelKind::Client => SpanKind::Client,
            OtelKind::Producer => SpanKind::Producer,
            OtelKind::Consumer => SpanKind::Consumer,
        },
        start_unix_nano: unix_nanos(s.start_time),
        end_unix_nano: unix_nanos(s.end_time),
        attributes: kv_attributes(&s.attributes),
        status,
        status_message,
        events: s
            .events
            .iter()
            .map(|e| SpanEvent {
                name: e.name.to_string(),
                attributes: kv_attributes(&e.attributes),
            })
            .collect(),
        resource: resource.clone(),
        scope: s.instrumentation_scope.name().to_owned(),
    }
}

fn any_value(v: &opentelemetry::logs::AnyValue) -> AttrValue {
    use opentelemetry::logs::AnyValue as A;
    match v {
        A::Int(i) => AttrValue::Int(*i),
        A::Double(d) => AttrValue::Double(*d),
        A::String(s) => AttrValue::Str(s.to_string()),
        A::Boolean(b) => AttrValue::Bool(*b),
        A::ListAny(items) => AttrValue::Array(items.iter().map(any_value).collect()),
        other => AttrValue::Str(format!("{other:?}")),
    }
}

fn log_record(l: &opentelemetry_sdk::logs::in_memory_exporter::LogDataWithResource) -> LogRecord {
    let tc = l.record.trace_context();
    LogRecord {
        trace_id: tc.map(|t| t.trace_id.to_string()),
        span_id: tc.map(|t| t.span_id.to_string()),
        severity_text: l.record.severity_text().map(ToOwned::to_owned),
        severity_number: l.record.severity_number().map(|s| s as i32),
        body: l
            .record
            .body()
            .map(|b| any_value(b).to_string())
            .unwrap_or_default(),
        attributes: l
            .record
            .attributes_iter()
            .map(|(k, v)| (k.as_str().to_owned(), any_value(v)))
            .collect(),
        resource: attributes(l.resource.iter().map(|(k, v)| (k.as_str(), v))),
    }
}

/// The reference server's built-in model (all-MiniLM-L6-v2) as the vectors
/// of the harness's embeddings server (`--embedder local`): drives run on
/// real semantic vectors instead of the token hash, and any implementation
/// under test shares the one model through the harness.
#[derive(Debug)]
pub struct LocalVectors(codeintel_server::embed::LocalEmbedder);

impl LocalVectors {
    /// Loads the model from `dir`, else `CODEINTEL_MODEL_DIR`, else the
    /// default cache folder; the error names the path and the set-up command.
    pub fn load(dir: Option<PathBuf>) -> Result<Self, String> {
        use codeintel_server::embed::local;
        let dir = dir
            .or_else(|| std::env::var_os("CODEINTEL_MODEL_DIR").map(PathBuf::from))
            .or_else(local::default_model_dir)
            .ok_or_else(|| {
                "no model folder: pass --model-dir DIR or set CODEINTEL_MODEL_DIR".to_owned()
            })?;
        let model = codeintel_server::embed::LocalEmbedder::load(
            codeintel_server::embed::LocalConfig::new(dir),
            codeintel_server::observability::metrics::Metrics::noop(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Self(model))
    }
}

impl crate::peers::embeddings::VectorSource for LocalVectors {
    fn dim(&self) -> usize {
        self.0.dimension().unwrap_or(384)
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(32) {
            let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
            let done = self
                .0
                .embed_batch_blocking(&refs)
                .map_err(|e| e.to_string())?;
            out.extend(done.vectors);
        }
        Ok(out)
    }
}
