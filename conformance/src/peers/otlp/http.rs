//! OTLP/HTTP: `POST /v1/traces`, `/v1/logs` and `/v1/metrics`, and the signal
//! each path carries.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

use super::{Encoding, Shared, Signal, decompress, ingest, lock, refuse};

pub(super) fn receive(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
    signal: Signal,
) -> Response {
    let header_str = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header_str(header::CONTENT_TYPE);
    let encoding = Encoding::from_content_type(content_type.as_deref());
    let content_encoding = header_str(header::CONTENT_ENCODING);
    lock(shared).exports += 1;

    let outcome = decompress(content_encoding.as_deref(), body)
        .and_then(|raw| ingest(shared, signal, encoding, &raw));
    if let Err(e) = outcome {
        let message = format!(
            "OTLP {}: refused a {}-byte payload (Content-Type {}, Content-Encoding {}): {e}",
            signal.path(),
            body.len(),
            content_type.as_deref().unwrap_or("none"),
            content_encoding.as_deref().unwrap_or("none"),
        );
        refuse(shared, message.clone());
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain")],
            message,
        )
            .into_response();
    }
    match encoding {
        Encoding::Json => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response(),
        Encoding::Protobuf => {
            let bytes = match signal {
                Signal::Traces => ExportTraceServiceResponse::default().encode_to_vec(),
                Signal::Logs => ExportLogsServiceResponse::default().encode_to_vec(),
                Signal::Metrics => Vec::new(),
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/x-protobuf")],
                bytes,
            )
                .into_response()
        }
    }
}
