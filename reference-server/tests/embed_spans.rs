//! TRC-004/TRC-006 for the embedder: one CLIENT span per batch request with
//! the GenAI attributes, W3C trace context sent to the server, and on failure
//! an ERROR status with an `exception` event. Spans are read from an
//! in-memory exporter through a thread-local subscriber (current-thread
//! runtime).

mod embed_support;

use std::time::Duration;

use codeintel_server::embed::{Embedder, OpenAiEmbedder};
use codeintel_server::observability::metrics::Metrics;
use embed_support::{Echo, config, dead_port, embeddings, texts};
use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Instrument as _;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use wiremock::{MockServer, ResponseTemplate};

struct Traced {
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
}

fn traced() -> Traced {
    traced_with(|layer| layer)
}

type OtelLayer = tracing_opentelemetry::OpenTelemetryLayer<
    tracing_subscriber::Registry,
    opentelemetry_sdk::trace::SdkTracer,
>;

fn traced_with(configure: impl FnOnce(OtelLayer) -> OtelLayer) -> Traced {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    // INFO and above, as a production filter would: hyper's and reqwest's
    // DEBUG/TRACE events would otherwise become events of the embed span.
    let subscriber = tracing_subscriber::registry().with(
        configure(tracing_opentelemetry::layer().with_tracer(provider.tracer("embed-test")))
            .with_filter(LevelFilter::INFO),
    );
    Traced {
        exporter,
        _provider: provider,
        _guard: tracing::subscriber::set_default(subscriber),
    }
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn event_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[allow(clippy::unwrap_used)] // test helper: a failure is a failed test
fn embed_spans(t: &Traced) -> Vec<SpanData> {
    t.exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|s| s.name.starts_with("embeddings"))
        .collect()
}

#[tokio::test]
async fn one_client_span_per_batch_with_genai_attributes_and_traceparent() {
    let t = traced();
    let server = MockServer::start().await;
    embeddings().respond_with(Echo::new(8)).mount(&server).await;
    let mut cfg = config(&server.uri());
    cfg.batch_size = 2;
    let e = OpenAiEmbedder::new(cfg, Metrics::noop()).unwrap();
    let input = texts(3);

    let parent = tracing::info_span!("gather_channels");
    e.embed(&input).instrument(parent.clone()).await.unwrap();
    drop(parent);

    let spans = embed_spans(&t);
    assert_eq!(spans.len(), 2, "3 texts in batches of 2");
    let all = t.exporter.get_finished_spans().unwrap();
    let parent = all.iter().find(|s| s.name == "gather_channels").unwrap();
    let port = i64::from(server.address().port());
    for s in &spans {
        assert_eq!(s.name, "embeddings test-model");
        assert_eq!(s.span_kind, SpanKind::Client);
        assert_eq!(s.status, Status::Unset);
        assert_eq!(s.parent_span_id, parent.span_context.span_id());
        assert_eq!(s.span_context.trace_id(), parent.span_context.trace_id());
        assert_eq!(
            attr(s, "gen_ai.operation.name"),
            Some(&Value::from("embeddings"))
        );
        assert_eq!(
            attr(s, "gen_ai.request.model"),
            Some(&Value::from("test-model"))
        );
        assert_eq!(
            attr(s, "gen_ai.response.model"),
            Some(&Value::from("test-model"))
        );
        assert_eq!(
            attr(s, "gen_ai.provider.name"),
            Some(&Value::from("openai"))
        );
        assert_eq!(attr(s, "gen_ai.system"), Some(&Value::from("openai")));
        assert_eq!(attr(s, "server.address"), Some(&Value::from("127.0.0.1")));
        assert_eq!(attr(s, "server.port"), Some(&Value::I64(port)));
        assert_eq!(attr(s, "http.response.status_code"), Some(&Value::I64(200)));
        assert_eq!(
            attr(s, "gen_ai.embeddings.dimension.count"),
            Some(&Value::I64(8))
        );
        assert_eq!(attr(s, "codeintel.embed.attempts"), Some(&Value::I64(1)));
        // Privacy: the texts never appear in attributes.
        for kv in &s.attributes {
            let v = kv.value.as_str();
            assert!(!input.iter().any(|t| v.contains(t.as_str())), "{kv:?}");
        }
    }
    let mut texts_per_span: Vec<_> = spans
        .iter()
        .map(|s| attr(s, "codeintel.embed.texts").cloned())
        .collect();
    texts_per_span.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(
        texts_per_span,
        vec![Some(Value::I64(1)), Some(Value::I64(2))]
    );

    // Each request carried its own span as W3C parent.
    let mut sent: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.headers
                .get("traceparent")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    sent.sort();
    let mut want: Vec<String> = spans
        .iter()
        .map(|s| {
            format!(
                "00-{}-{}-01",
                s.span_context.trace_id(),
                s.span_context.span_id()
            )
        })
        .collect();
    want.sort();
    assert_eq!(sent, want);
}

#[tokio::test]
async fn a_failed_call_sets_error_status_and_an_exception_event() {
    let t = traced();
    let server = MockServer::start().await;
    embeddings()
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri());
    cfg.max_retries = 1;
    let e = OpenAiEmbedder::new(cfg, Metrics::noop()).unwrap();

    let err = e.embed(&texts(1)).await.unwrap_err();

    let spans = embed_spans(&t);
    assert_eq!(spans.len(), 1, "one span per batch, retries included");
    let s = &spans[0];
    assert_eq!(
        s.status,
        Status::Error {
            description: err.to_string().into()
        }
    );
    assert_eq!(attr(s, "error.type"), Some(&Value::from("http_500")));
    assert_eq!(attr(s, "http.response.status_code"), Some(&Value::I64(500)));
    assert_eq!(attr(s, "codeintel.embed.attempts"), Some(&Value::I64(2)));
    let names: Vec<&str> = s.events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(names, ["embeddings request failed, retrying", "exception"]);
    let exception = &s.events.events[1];
    let message = event_attr(&exception.attributes, "exception.message")
        .unwrap()
        .as_str();
    assert!(
        message.contains(&format!("{}/v1/embeddings", server.uri())),
        "{message}"
    );
    assert!(message.contains("HTTP 500"), "{message}");
    assert_eq!(
        event_attr(&exception.attributes, "exception.type"),
        Some(&Value::from("EmbedError::Status"))
    );
}

#[tokio::test]
async fn a_server_that_is_down_gives_an_error_span() {
    let t = traced();
    let mut cfg = config(&format!("http://127.0.0.1:{}", dead_port()));
    cfg.max_retries = 0;
    cfg.timeout = Duration::from_secs(2);
    let e = OpenAiEmbedder::new(cfg, Metrics::noop()).unwrap();

    let err = e.embed_one("where is the config parsed").await.unwrap_err();

    assert!(err.is_unavailable());
    let spans = embed_spans(&t);
    assert_eq!(spans.len(), 1);
    assert!(matches!(spans[0].status, Status::Error { .. }));
    assert_eq!(attr(&spans[0], "error.type"), Some(&Value::from("connect")));
    assert!(spans[0].events.iter().any(|e| e.name == "exception"));
}

#[tokio::test]
async fn the_exception_event_does_not_depend_on_the_layer_error_options() {
    let t = traced_with(|layer| {
        layer
            .with_error_events_to_exceptions(false)
            .with_error_events_to_status(false)
            .with_error_fields_to_exceptions(false)
            .with_error_records_to_exceptions(false)
    });
    let server = MockServer::start().await;
    embeddings()
        .respond_with(ResponseTemplate::new(404).set_body_string("no such route"))
        .mount(&server)
        .await;
    let e = OpenAiEmbedder::new(config(&server.uri()), Metrics::noop()).unwrap();

    let err = e.embed(&texts(1)).await.unwrap_err();

    let spans = embed_spans(&t);
    assert_eq!(spans.len(), 1);
    let s = &spans[0];
    assert_eq!(
        s.status,
        Status::Error {
            description: err.to_string().into()
        }
    );
    let exception = s.events.iter().find(|e| e.name == "exception").unwrap();
    assert_eq!(
        event_attr(&exception.attributes, "exception.type"),
        Some(&Value::from("EmbedError::Status"))
    );
    assert!(event_attr(&exception.attributes, "exception.message").is_some());
}
