//! An OTLP receiver run by the harness: OTLP/HTTP on one loopback port,
//! OTLP/gRPC on another ([`grpc`]).
//!
//! `POST /v1/traces` and `POST /v1/logs` accept protobuf
//! (`application/x-protobuf`, also when no content type is given) and JSON
//! (`application/json`, hex ids as the OTLP/JSON mapping says), optionally
//! gzip-compressed (`Content-Encoding: gzip`). What arrives becomes
//! [`SpanRecord`]s and [`LogRecord`]s (ids as lowercase hex, the resource's
//! attributes attached to each record). `POST /v1/metrics` is accepted and
//! ignored. A payload that does not decode is answered 400 and recorded in
//! [`OtlpReceiver::errors`]; nothing a client sends makes the receiver panic.
//! gRPC exports ([`OtlpReceiver::grpc_endpoint`]) go through the same
//! decode → record path, within the same limits, into the same records.

mod grpc;

pub use grpc::{GrpcCode, GrpcFrameError, unframe};

use std::sync::{Arc, Mutex};

use super::{PeerError, ServerHandle};
use crate::observe::{LogRecord, SpanRecord};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::routing::post;
use bytes::Bytes;

mod decode;
mod http;
mod store;
use self::http::receive;
pub use decode::*;
pub use store::*;

/// Largest request body accepted (after and before decompression).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// The running receiver (HTTP and gRPC). Stops when dropped.
#[derive(Debug)]
pub struct OtlpReceiver {
    shared: Shared,
    handle: ServerHandle,
    grpc: grpc::GrpcServer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    fn path(self) -> &'static str {
        match self {
            Self::Traces => "/v1/traces",
            Self::Logs => "/v1/logs",
            Self::Metrics => "/v1/metrics",
        }
    }

    /// The gRPC method of the signal's `Export` call.
    fn grpc_method(self) -> &'static str {
        match self {
            Self::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Self::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            Self::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        }
    }

    fn from_grpc_method(path: &str) -> Option<Self> {
        [Self::Traces, Self::Logs, Self::Metrics]
            .into_iter()
            .find(|s| s.grpc_method() == path)
    }
}

impl OtlpReceiver {
    /// Listen on `127.0.0.1:0` and receive (with the default limits).
    pub async fn start() -> Result<Self, PeerError> {
        Self::start_with(ReceiveLimits::default()).await
    }

    /// Listen on `127.0.0.1:0` and receive, keeping at most `limits`.
    pub async fn start_with(limits: ReceiveLimits) -> Result<Self, PeerError> {
        let shared: Shared = Arc::new(Mutex::new(Received {
            limits,
            ..Received::default()
        }));
        let router = Router::new()
            .route(
                "/v1/traces",
                post(
                    |State(s): State<Shared>, h: HeaderMap, b: Bytes| async move {
                        receive(&s, &h, &b, Signal::Traces)
                    },
                ),
            )
            .route(
                "/v1/logs",
                post(
                    |State(s): State<Shared>, h: HeaderMap, b: Bytes| async move {
                        receive(&s, &h, &b, Signal::Logs)
                    },
                ),
            )
            .route(
                "/v1/metrics",
                post(
                    |State(s): State<Shared>, h: HeaderMap, b: Bytes| async move {
                        receive(&s, &h, &b, Signal::Metrics)
                    },
                ),
            )
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(Arc::clone(&shared));
        let handle = ServerHandle::serve("OTLP", router).await?;
        let grpc = grpc::GrpcServer::start(Arc::clone(&shared)).await?;
        Ok(Self {
            shared,
            handle,
            grpc,
        })
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT` (`http://127.0.0.1:PORT`;
    /// exporters append `/v1/traces`, `/v1/logs`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.handle.addr())
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT` with
    /// `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` (`http://127.0.0.1:PORT`, the
    /// receiver's own gRPC port, h2c without TLS).
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc.addr())
    }

    /// Spans received so far, in arrival order.
    pub fn spans(&self) -> Vec<SpanRecord> {
        lock(&self.shared).spans.clone()
    }

    /// Log records received so far, in arrival order.
    pub fn logs(&self) -> Vec<LogRecord> {
        lock(&self.shared).logs.clone()
    }

    /// Payloads refused so far, each with what was wrong.
    pub fn errors(&self) -> Vec<String> {
        lock(&self.shared).errors.clone()
    }

    /// What was dropped to stay within the [`ReceiveLimits`] (empty when
    /// nothing was).
    pub fn truncations(&self) -> Vec<String> {
        lock(&self.shared).truncations()
    }

    /// Number of span records received so far.
    pub fn span_count(&self) -> usize {
        lock(&self.shared).spans.len()
    }

    /// Number of export requests (all signals, decoded or not) received.
    pub fn exports(&self) -> u32 {
        lock(&self.shared).exports
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord as ProtoLog, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{
        ResourceSpans, ScopeSpans, Span, Status, span::Event,
    };

    use super::*;
    use crate::observe::{AttrValue, SpanEvent, SpanKind, StatusCode as OtlpStatus};
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use prost::Message;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn resource() -> Resource {
        Resource {
            attributes: vec![kv(
                "service.name",
                any_value::Value::StringValue("svc".into()),
            )],
            ..Default::default()
        }
    }

    fn trace_request() -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "codeintel".into(),
                        ..Default::default()
                    }),
                    spans: vec![Span {
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08],
                        parent_span_id: vec![],
                        name: "hydrate".into(),
                        kind: 2,
                        start_time_unix_nano: 10,
                        end_time_unix_nano: 20,
                        attributes: vec![
                            kv("n", any_value::Value::IntValue(3)),
                            kv(
                                "list",
                                any_value::Value::ArrayValue(ArrayValue {
                                    values: vec![AnyValue {
                                        value: Some(any_value::Value::BoolValue(true)),
                                    }],
                                }),
                            ),
                        ],
                        events: vec![Event {
                            name: "exception".into(),
                            attributes: vec![kv(
                                "exception.message",
                                any_value::Value::StringValue("boom".into()),
                            )],
                            ..Default::default()
                        }],
                        status: Some(Status {
                            message: "failed".into(),
                            code: 2,
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn expected_span() -> SpanRecord {
        SpanRecord {
            trace_id: "ab".repeat(16),
            span_id: "0102030405060708".into(),
            parent_span_id: None,
            name: "hydrate".into(),
            kind: SpanKind::Server,
            start_unix_nano: 10,
            end_unix_nano: 20,
            attributes: [
                ("n".to_owned(), AttrValue::Int(3)),
                (
                    "list".to_owned(),
                    AttrValue::Array(vec![AttrValue::Bool(true)]),
                ),
            ]
            .into_iter()
            .collect(),
            status: OtlpStatus::Error,
            status_message: "failed".into(),
            events: vec![SpanEvent {
                name: "exception".into(),
                attributes: [(
                    "exception.message".to_owned(),
                    AttrValue::Str("boom".into()),
                )]
                .into_iter()
                .collect(),
            }],
            resource: [("service.name".to_owned(), AttrValue::Str("svc".into()))]
                .into_iter()
                .collect(),
            scope: "codeintel".into(),
        }
    }

    fn logs_request() -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(resource()),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![
                        ProtoLog {
                            severity_text: "INFO".into(),
                            severity_number: 9,
                            body: Some(AnyValue {
                                value: Some(any_value::Value::StringValue("searched".into())),
                            }),
                            trace_id: vec![0xab; 16],
                            span_id: vec![0x11; 8],
                            ..Default::default()
                        },
                        ProtoLog::default(),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn protobuf_traces_decode_to_records() {
        let bytes = trace_request().encode_to_vec();
        let spans = decode_traces(Encoding::Protobuf, &bytes).unwrap();
        assert_eq!(spans, vec![expected_span()]);
    }

    #[test]
    fn json_traces_decode_with_hex_ids() {
        let json = serde_json::to_string(&trace_request()).unwrap();
        assert!(json.contains(&"ab".repeat(16)), "{json}");
        let spans = decode_traces(Encoding::Json, json.as_bytes()).unwrap();
        assert_eq!(spans, vec![expected_span()]);
        // A hand-written OTLP/JSON payload, as other SDKs send it.
        let hand = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"py"}}]},
            "scopeSpans":[{"scope":{"name":"s"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
            "spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173","name":"fuse","kind":1,
            "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
            "attributes":[{"key":"k","value":{"intValue":"7"}}],"status":{"code":1}}]}]}]}"#;
        let spans = decode_traces(Encoding::Json, hand.as_bytes()).unwrap();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(spans[0].parent_span_id.as_deref(), Some("eee19b7ec3c1b173"));
        assert_eq!(spans[0].attributes["k"], AttrValue::Int(7));
        assert_eq!(spans[0].start_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(
            spans[0].resource["service.name"],
            AttrValue::Str("py".into())
        );
    }

    #[test]
    fn logs_decode_in_both_encodings() {
        let request = logs_request();
        for (encoding, bytes) in [
            (Encoding::Protobuf, request.encode_to_vec()),
            (Encoding::Json, serde_json::to_vec(&request).unwrap()),
        ] {
            let logs = decode_logs(encoding, &bytes).unwrap();
            assert_eq!(logs.len(), 2);
            assert_eq!(logs[0].trace_id.as_deref(), Some("ab".repeat(16).as_str()));
            assert_eq!(logs[0].span_id.as_deref(), Some("1111111111111111"));
            assert_eq!(logs[0].body, "searched");
            assert_eq!(logs[0].severity_text.as_deref(), Some("INFO"));
            assert_eq!(logs[0].severity_number, Some(9));
            assert_eq!(logs[1].trace_id, None);
            assert_eq!(logs[1].severity_text, None);
            assert_eq!(
                logs[1].resource["service.name"],
                AttrValue::Str("svc".into())
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            decode_traces(Encoding::Protobuf, b"\xff\xff\xff\xff garbage"),
            Err(OtlpDecodeError::Protobuf { .. })
        ));
        assert!(matches!(
            decode_logs(Encoding::Json, b"{\"resourceLogs\": 5}"),
            Err(OtlpDecodeError::Json { .. })
        ));
        assert!(matches!(
            decompress(Some("gzip"), b"not gzip"),
            Err(OtlpDecodeError::Gzip(_))
        ));
        assert!(matches!(
            decompress(Some("br"), b""),
            Err(OtlpDecodeError::UnsupportedEncoding(_))
        ));
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    #[tokio::test]
    async fn receiver_accepts_gzip_protobuf_and_json_and_refuses_garbage() {
        let receiver = OtlpReceiver::start().await.unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&trace_request().encode_to_vec()).unwrap();
        let resp = client()
            .post(format!("{}/v1/traces", receiver.endpoint()))
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "gzip")
            .body(gz.finish().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.bytes().await.unwrap();
        assert!(ExportTraceServiceResponse::decode(body).is_ok());

        let resp = client()
            .post(format!("{}/v1/logs", receiver.endpoint()))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&logs_request()).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);

        let resp = client()
            .post(format!("{}/v1/metrics", receiver.endpoint()))
            .header("content-type", "application/x-protobuf")
            .body(vec![1, 2, 3])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);

        let resp = client()
            .post(format!("{}/v1/traces", receiver.endpoint()))
            .header("content-type", "application/x-protobuf")
            .body(b"\xff\xfe garbage".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);

        assert_eq!(receiver.spans(), vec![expected_span()]);
        assert_eq!(receiver.logs().len(), 2);
        let errors = receiver.errors();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("/v1/traces"), "{}", errors[0]);
        assert!(
            errors[0].contains("ExportTraceServiceRequest"),
            "{}",
            errors[0]
        );
        assert_eq!(receiver.exports(), 4);
    }

    #[tokio::test]
    async fn receiver_keeps_within_its_limits_and_says_what_it_dropped() {
        let one = trace_request().encode_to_vec();
        let receiver = OtlpReceiver::start_with(ReceiveLimits {
            max_spans: 2,
            max_logs: 1,
            max_bytes: one.len() * 3 + 2 * 9,
            max_errors: 1,
        })
        .await
        .unwrap();
        let post = |path: &'static str, body: Vec<u8>| {
            let url = format!("{}{path}", receiver.endpoint());
            async move {
                client()
                    .post(url)
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert!(receiver.truncations().is_empty());
        for _ in 0..2 {
            assert_eq!(post("/v1/traces", b"\xff garbage".to_vec()).await, 400);
        }
        for _ in 0..4 {
            assert_eq!(post("/v1/traces", one.clone()).await, 200);
        }
        assert_eq!(receiver.spans().len(), 2, "at most max_spans are kept");
        assert_eq!(receiver.errors().len(), 1);
        let t = receiver.truncations().join("\n");
        assert!(t.contains("kept the first 2 spans, dropped 1 more"), "{t}");
        assert!(t.contains("1 payload(s) dropped undecoded"), "{t}");
        assert!(
            t.contains("kept the first 1 refusal messages, dropped 1 more"),
            "{t}"
        );
    }
}
