//! Decoding OTLP exports: encodings (protobuf, JSON, gzip), ids as lowercase
//! hex, attributes, and the resource attached to each span and log record.

use std::io::Read;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;

use crate::observe::{
    AttrValue, Attributes, LogRecord, SpanEvent, SpanKind, SpanRecord, StatusCode as OtlpStatus,
};

use super::MAX_BODY;

/// How an OTLP payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From a `Content-Type` header: JSON when it says so, protobuf otherwise
    /// (the OTLP/HTTP default).
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        match content_type {
            Some(ct)
                if ct
                    .trim()
                    .to_ascii_lowercase()
                    .starts_with("application/json") =>
            {
                Self::Json
            }
            _ => Self::Protobuf,
        }
    }
}

/// Why an OTLP payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum OtlpDecodeError {
    #[error("Content-Encoding `{0}` is not supported (send identity or gzip)")]
    UnsupportedEncoding(String),
    #[error("gzip body did not decompress: {0}")]
    Gzip(#[source] std::io::Error),
    #[error("body is larger than {MAX_BODY} bytes once decompressed")]
    TooLarge,
    #[error("protobuf did not decode as {message}: {source}")]
    Protobuf {
        message: &'static str,
        #[source]
        source: prost::DecodeError,
    },
    #[error("JSON did not decode as {message}: {source}")]
    Json {
        message: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Undo `Content-Encoding` (identity or gzip).
pub fn decompress(content_encoding: Option<&str>, body: &[u8]) -> Result<Vec<u8>, OtlpDecodeError> {
    match content_encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => Ok(body.to_vec()),
        Some(e) if e.is_empty() || e == "identity" => Ok(body.to_vec()),
        Some(e) if e == "gzip" || e == "x-gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut out)
                .map_err(OtlpDecodeError::Gzip)?;
            if out.len() > MAX_BODY {
                return Err(OtlpDecodeError::TooLarge);
            }
            Ok(out)
        }
        Some(other) => Err(OtlpDecodeError::UnsupportedEncoding(other)),
    }
}

/// Decode an `ExportTraceServiceRequest` into span records.
pub fn decode_traces(encoding: Encoding, body: &[u8]) -> Result<Vec<SpanRecord>, OtlpDecodeError> {
    const MESSAGE: &str = "ExportTraceServiceRequest";
    let request = match encoding {
        Encoding::Protobuf => {
            ExportTraceServiceRequest::decode(body).map_err(|source| OtlpDecodeError::Protobuf {
                message: MESSAGE,
                source,
            })?
        }
        Encoding::Json => serde_json::from_slice(body).map_err(|source| OtlpDecodeError::Json {
            message: MESSAGE,
            source,
        })?,
    };
    Ok(spans_of(&request))
}

/// Decode an `ExportLogsServiceRequest` into log records.
pub fn decode_logs(encoding: Encoding, body: &[u8]) -> Result<Vec<LogRecord>, OtlpDecodeError> {
    const MESSAGE: &str = "ExportLogsServiceRequest";
    let request = match encoding {
        Encoding::Protobuf => {
            ExportLogsServiceRequest::decode(body).map_err(|source| OtlpDecodeError::Protobuf {
                message: MESSAGE,
                source,
            })?
        }
        Encoding::Json => serde_json::from_slice(body).map_err(|source| OtlpDecodeError::Json {
            message: MESSAGE,
            source,
        })?,
    };
    Ok(logs_of(&request))
}

/// Lowercase hex of an id; `None` when empty or all zero (an invalid id).
pub(super) fn id_hex(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(|b| *b == 0) {
        None
    } else {
        Some(hex::encode(bytes))
    }
}

/// An OTLP `AnyValue` as an [`AttrValue`] (maps become their text).
pub fn attr_value(value: Option<&AnyValue>) -> AttrValue {
    match value.and_then(|v| v.value.as_ref()) {
        None => AttrValue::Str(String::new()),
        Some(any_value::Value::StringValue(s)) => AttrValue::Str(s.clone()),
        Some(any_value::Value::BoolValue(b)) => AttrValue::Bool(*b),
        Some(any_value::Value::IntValue(i)) => AttrValue::Int(*i),
        Some(any_value::Value::DoubleValue(d)) => AttrValue::Double(*d),
        Some(any_value::Value::ArrayValue(a)) => {
            AttrValue::Array(a.values.iter().map(|v| attr_value(Some(v))).collect())
        }
        Some(any_value::Value::KvlistValue(list)) => {
            let inner: Vec<String> = list
                .values
                .iter()
                .map(|kv| format!("{}={}", kv.key, attr_value(kv.value.as_ref())))
                .collect();
            AttrValue::Str(format!("{{{}}}", inner.join(", ")))
        }
        Some(any_value::Value::BytesValue(b)) => AttrValue::Str(hex::encode(b)),
        Some(any_value::Value::StringValueStrindex(i)) => AttrValue::Int(i64::from(*i)),
    }
}

pub(super) fn attributes(kvs: &[KeyValue]) -> Attributes {
    kvs.iter()
        .map(|kv| (kv.key.clone(), attr_value(kv.value.as_ref())))
        .collect()
}

pub(super) fn span_kind(kind: i32) -> SpanKind {
    match kind {
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}

pub(super) fn status_code(code: i32) -> OtlpStatus {
    match code {
        1 => OtlpStatus::Ok,
        2 => OtlpStatus::Error,
        _ => OtlpStatus::Unset,
    }
}

/// Flatten a trace export into records.
pub fn spans_of(request: &ExportTraceServiceRequest) -> Vec<SpanRecord> {
    let mut out = Vec::new();
    for rs in &request.resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            let scope = ss
                .scope
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            for span in &ss.spans {
                let (status, status_message) = span
                    .status
                    .as_ref()
                    .map(|s| (status_code(s.code), s.message.clone()))
                    .unwrap_or_default();
                out.push(SpanRecord {
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: id_hex(&span.parent_span_id),
                    name: span.name.clone(),
                    kind: span_kind(span.kind),
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano,
                    attributes: attributes(&span.attributes),
                    status,
                    status_message,
                    events: span
                        .events
                        .iter()
                        .map(|e| SpanEvent {
                            name: e.name.clone(),
                            attributes: attributes(&e.attributes),
                        })
                        .collect(),
                    resource: resource.clone(),
                    scope: scope.clone(),
                });
            }
        }
    }
    out
}

/// Flatten a log export into records.
pub fn logs_of(request: &ExportLogsServiceRequest) -> Vec<LogRecord> {
    let mut out = Vec::new();
    for rl in &request.resource_logs {
        let resource = rl
            .resource
            .as_ref()
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for sl in &rl.scope_logs {
            for record in &sl.log_records {
                let body = match attr_value(record.body.as_ref()) {
                    AttrValue::Str(s) => s,
                    other => other.to_string(),
                };
                out.push(LogRecord {
                    trace_id: id_hex(&record.trace_id),
                    span_id: id_hex(&record.span_id),
                    severity_text: Some(record.severity_text.clone()).filter(|s| !s.is_empty()),
                    severity_number: Some(record.severity_number).filter(|n| *n != 0),
                    body,
                    attributes: attributes(&record.attributes),
                    resource: resource.clone(),
                });
            }
        }
    }
    out
}
