//! OTLP/gRPC for the harness's receiver: the unary `Export` call of the
//! `TraceService`, `LogsService` and `MetricsService`, over HTTP/2 without
//! TLS (h2c, prior knowledge), as exporters send it to a collector's `:4317`.
//!
//! Served by hyper's HTTP/2 server, not tonic's: the tonic server features
//! rebuild sixteen crates of the workspace (measured: 13 more minutes of
//! build on the shared machine), and tonic's generated services decode
//! before any handler runs, so a malformed message could never reach the
//! receiver's refusal list. A request carries one length-prefixed message
//! (a 1-byte compressed flag, a 4-byte big-endian length, the protobuf),
//! compressed when `grpc-encoding: gzip` says so. The message goes through
//! the same decode → record path and limits as OTLP/HTTP: a refused one is
//! recorded in [`super::OtlpReceiver::errors`] (TRC-009 judges them) and
//! answered with a `grpc-status` naming what was wrong.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::{
    Encoding, MAX_BODY, OtlpDecodeError, Shared, Signal, decompress, ingest, lock, refuse,
};
use crate::peers::PeerError;

/// The gRPC status codes this receiver answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcCode {
    Ok = 0,
    Cancelled = 1,
    InvalidArgument = 3,
    ResourceExhausted = 8,
    Unimplemented = 12,
}

/// Why a gRPC request's message was refused.
#[derive(Debug, thiserror::Error)]
pub enum GrpcFrameError {
    #[error("the request body holds {0} bytes, fewer than the 5-byte gRPC message header")]
    ShortHeader(usize),
    #[error("the gRPC message header declares {declared} bytes but {present} follow")]
    Truncated { declared: usize, present: usize },
    #[error("{0} bytes follow the first gRPC message; a unary Export call carries exactly one")]
    Trailing(usize),
    #[error("the gRPC compressed flag is {0}, not 0 (plain) or 1 (compressed)")]
    BadFlag(u8),
    #[error("the message is flagged compressed but no grpc-encoding header names the compression")]
    CompressedWithoutEncoding,
    #[error("grpc-encoding `{0}` is not supported (send identity or gzip)")]
    UnsupportedEncoding(String),
    #[error("the request is larger than the {MAX_BODY}-byte limit")]
    TooLarge,
    #[error(transparent)]
    Decode(#[from] OtlpDecodeError),
}

impl GrpcFrameError {
    /// The `grpc-status` a refusal is answered with.
    pub fn code(&self) -> GrpcCode {
        match self {
            Self::TooLarge | Self::Decode(OtlpDecodeError::TooLarge) => GrpcCode::ResourceExhausted,
            Self::UnsupportedEncoding(_) => GrpcCode::Unimplemented,
            _ => GrpcCode::InvalidArgument,
        }
    }
}

/// The one message of a unary gRPC request body, decompressed as
/// `grpc_encoding` (the request's `grpc-encoding` header) says.
pub fn unframe(body: &[u8], grpc_encoding: Option<&str>) -> Result<Vec<u8>, GrpcFrameError> {
    let Some((header, rest)) = body.split_first_chunk::<5>() else {
        return Err(GrpcFrameError::ShortHeader(body.len()));
    };
    let [flag, len @ ..] = *header;
    let declared = u32::from_be_bytes(len) as usize;
    if declared > MAX_BODY {
        return Err(GrpcFrameError::TooLarge);
    }
    if rest.len() < declared {
        return Err(GrpcFrameError::Truncated {
            declared,
            present: rest.len(),
        });
    }
    if rest.len() > declared {
        return Err(GrpcFrameError::Trailing(rest.len() - declared));
    }
    match flag {
        0 => Ok(rest.to_vec()),
        1 => match grpc_encoding.map(str::trim) {
            None | Some("" | "identity") => Err(GrpcFrameError::CompressedWithoutEncoding),
            Some(e) if e.eq_ignore_ascii_case("gzip") => Ok(decompress(Some("gzip"), rest)?),
            Some(other) => Err(GrpcFrameError::UnsupportedEncoding(other.to_owned())),
        },
        other => Err(GrpcFrameError::BadFlag(other)),
    }
}

/// The gRPC listener; stops (with every connection) when dropped.
#[derive(Debug)]
pub(super) struct GrpcServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl GrpcServer {
    /// Listen on `127.0.0.1:0` and feed what arrives into `shared`.
    pub(super) async fn start(shared: Shared) -> Result<Self, PeerError> {
        let bind_err = |source| PeerError::Bind {
            peer: "OTLP/gRPC",
            source,
        };
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let task = tokio::spawn(accept(listener, shared));
        Ok(Self { addr, task })
    }

    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        // Dropping the accept task drops its JoinSet: every connection ends.
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, shared: Shared) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = Arc::clone(&shared);
                    connections.spawn(serve_connection(stream, shared));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "OTLP/gRPC receiver could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(mut stream: tokio::net::TcpStream, shared: Shared) {
    let mut head = [0u8; 512];
    let peeked = match tokio::time::timeout(HEAD_WAIT, stream.peek(&mut head)).await {
        Ok(Ok(n)) => n,
        // Silent or broken: hyper's own handling below closes it.
        Ok(Err(_)) | Err(_) => 0,
    };
    if let Some(request_line) = http1_request_line(&head[..peeked]) {
        refuse_http1(&mut stream, &shared, &request_line).await;
        return;
    }
    let service = hyper::service::service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(&shared, request).await) }
    });
    let served = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "OTLP/gRPC connection ended with an error");
    }
}

/// How long a new connection may stay silent before it is handed to hyper
/// unsniffed.
const HEAD_WAIT: Duration = Duration::from_secs(5);

/// The request line when `head` (the first bytes of a connection) is an
/// HTTP/1.x request, not the HTTP/2 preface (`PRI * HTTP/2.0`).
fn http1_request_line(head: &[u8]) -> Option<String> {
    let line_end = head.iter().position(|b| *b == b'\r' || *b == b'\n')?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let is_method = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    (is_method && method != "PRI" && version.starts_with("HTTP/1."))
        .then(|| format!("{method} {target} {version}"))
}

/// An OTLP/HTTP exporter pointed at the gRPC port (HTTP/1.x, not h2c): the
/// export is refused by name, so TRC-009 says why no span arrived, and the
/// client is told 505.
async fn refuse_http1(stream: &mut tokio::net::TcpStream, shared: &Shared, request_line: &str) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    lock(shared).exports += 1;
    let message = format!(
        "OTLP/gRPC port: refused an HTTP/1 request `{request_line}`; this port takes OTLP/gRPC \
         (HTTP/2 without TLS) as OTEL_EXPORTER_OTLP_PROTOCOL=grpc asks: the SUT exported \
         with an OTLP/HTTP exporter to the gRPC endpoint"
    );
    refuse(shared, message.clone());
    // Read what was sent (up to a bound) so closing does not reset the
    // connection before the client reads the answer.
    let mut sink = vec![0u8; 64 * 1024];
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut sink)).await;
    let answer = format!(
        "HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{message}",
        message.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

type GrpcBody = BoxBody<Bytes, Infallible>;

/// Answer one gRPC request.
async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<GrpcBody> {
    let path = request.uri().path().to_owned();
    let Some(signal) = Signal::from_grpc_method(&path).filter(|_| request.method() == Method::POST)
    else {
        return status_only(
            GrpcCode::Unimplemented,
            &format!(
                "{} {path} is not a method of this receiver: it serves the Export call of \
                 TraceService, LogsService and MetricsService (opentelemetry.proto.collector.*.v1)",
                request.method()
            ),
        );
    };
    let header = |name: HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(CONTENT_TYPE);
    let grpc_encoding = header(HeaderName::from_static("grpc-encoding"));
    lock(shared).exports += 1;

    if !content_type.as_deref().is_some_and(|ct| {
        ct.trim()
            .to_ascii_lowercase()
            .starts_with("application/grpc")
    }) {
        let message = format!(
            "OTLP/gRPC {path}: refused a request with Content-Type {} (gRPC requires application/grpc)",
            content_type.as_deref().unwrap_or("none")
        );
        refuse(shared, message.clone());
        let mut response = Response::new(Full::new(Bytes::from(message)).boxed());
        *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return response;
    }

    let body = match Limited::new(request.into_body(), MAX_BODY + 5)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(GrpcFrameError::TooLarge),
        // The client reset the stream or went away: nobody to answer.
        Err(e) => return status_only(GrpcCode::Cancelled, &format!("request body: {e}")),
    };
    let outcome = body.and_then(|body| {
        let raw = unframe(&body, grpc_encoding.as_deref())?;
        ingest(shared, signal, Encoding::Protobuf, &raw).map_err(GrpcFrameError::from)
    });
    match outcome {
        Ok(()) => exported(),
        Err(e) => {
            let message = format!(
                "OTLP/gRPC {path}: refused a request (grpc-encoding {}): {e}",
                grpc_encoding.as_deref().unwrap_or("none"),
            );
            refuse(shared, message.clone());
            status_only(e.code(), &message)
        }
    }
}

fn grpc_response(body: GrpcBody) -> Response<GrpcBody> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(
        HeaderName::from_static("grpc-accept-encoding"),
        HeaderValue::from_static("identity,gzip"),
    );
    response
}

/// Success: one empty `Export…ServiceResponse` (all fields default encode
/// to no bytes), then `grpc-status: 0` as a trailer.
fn exported() -> Response<GrpcBody> {
    let mut trailers = HeaderMap::new();
    trailers.insert(
        HeaderName::from_static("grpc-status"),
        HeaderValue::from(GrpcCode::Ok as u16),
    );
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
        Ok(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 0]))),
        Ok(Frame::trailers(trailers)),
    ];
    grpc_response(StreamBody::new(futures::stream::iter(frames)).boxed())
}

/// A "trailers-only" answer: no message, the status in the headers.
fn status_only(code: GrpcCode, message: &str) -> Response<GrpcBody> {
    let mut response = grpc_response(Empty::new().boxed());
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("grpc-status"),
        HeaderValue::from(code as u16),
    );
    if let Ok(value) = HeaderValue::from_str(&percent_encode(message, 1000)) {
        headers.insert(HeaderName::from_static("grpc-message"), value);
    }
    response
}

/// `grpc-message` encoding: printable ASCII but `%` as is, every other
/// byte as `%XX`; at most `max_chars` characters of `text`.
fn percent_encode(text: &str, max_chars: usize) -> String {
    /// Controls, DEL and `%` (non-ASCII bytes are always encoded).
    const GRPC_MESSAGE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');
    let cut: String = text.chars().take(max_chars).collect();
    percent_encoding::utf8_percent_encode(&cut, GRPC_MESSAGE).to_string()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    use super::super::{OtlpReceiver, ReceiveLimits};
    use super::*;

    fn frame(flag: u8, message: &[u8]) -> Vec<u8> {
        let mut out = vec![flag];
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    fn one_span(name: &str) -> Vec<u8> {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        name: name.into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn unframe_takes_exactly_one_message() {
        let msg = one_span("a");
        assert_eq!(unframe(&frame(0, &msg), None).unwrap(), msg);
        assert_eq!(unframe(&frame(1, &gzip(&msg)), Some("gzip")).unwrap(), msg);
        assert_eq!(unframe(&frame(0, b""), None).unwrap(), b"");
        let cases: [(Vec<u8>, Option<&str>, &str); 7] = [
            (vec![0, 0, 0], None, "fewer than the 5-byte"),
            (
                vec![0, 0, 0, 0, 9, 1],
                None,
                "declares 9 bytes but 1 follow",
            ),
            (
                [frame(0, b"x"), frame(0, b"y")].concat(),
                None,
                "6 bytes follow",
            ),
            (frame(2, b"x"), None, "compressed flag is 2"),
            (frame(1, b"x"), None, "no grpc-encoding header"),
            (frame(1, b"x"), Some("snappy"), "`snappy` is not supported"),
            (
                frame(1, b"not gzip"),
                Some("gzip"),
                "gzip body did not decompress",
            ),
        ];
        for (body, encoding, expected) in cases {
            let e = unframe(&body, encoding).unwrap_err();
            assert!(e.to_string().contains(expected), "{body:?}: {e}");
        }
        let huge = [0u8, 0xff, 0xff, 0xff, 0xff];
        let e = unframe(&huge, None).unwrap_err();
        assert!(matches!(e, GrpcFrameError::TooLarge), "{e}");
        assert_eq!(e.code(), GrpcCode::ResourceExhausted);
        assert_eq!(
            GrpcFrameError::UnsupportedEncoding("br".into()).code(),
            GrpcCode::Unimplemented
        );
        assert_eq!(GrpcFrameError::BadFlag(7).code(), GrpcCode::InvalidArgument);
    }

    #[test]
    fn http1_is_told_from_the_http2_preface() {
        assert_eq!(
            http1_request_line(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\n\r\n").as_deref(),
            Some("POST /v1/traces HTTP/1.1")
        );
        assert_eq!(
            http1_request_line(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            None
        );
        assert_eq!(
            http1_request_line(b"POST /v1/tra"),
            None,
            "no whole line yet"
        );
        assert_eq!(http1_request_line(b"\x16\x03\x01 tls hello\r\n"), None);
    }

    /// An OTLP/HTTP exporter sent to the gRPC port is refused by name.
    #[tokio::test]
    async fn an_http1_export_to_the_grpc_port_is_refused_by_name() {
        let receiver = OtlpReceiver::start().await.unwrap();
        let response = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{}/v1/traces", receiver.grpc_endpoint()))
            .header("content-type", "application/x-protobuf")
            .body(one_span("over http"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 505);
        assert!(receiver.spans().is_empty());
        let errors = receiver.errors();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(
            errors[0].contains("refused an HTTP/1 request `POST /v1/traces HTTP/1.1`"),
            "{}",
            errors[0]
        );
        assert_eq!(receiver.exports(), 1);
        // The port still serves gRPC afterwards.
        let ok = call(
            receiver.grpc.addr(),
            TRACES,
            &[GRPC],
            frame(0, &one_span("g")),
        )
        .await;
        assert_eq!(ok.status.as_deref(), Some("0"));
    }

    #[test]
    fn grpc_message_is_percent_encoded_and_bounded() {
        assert_eq!(percent_encode("a b%c\né", 100), "a b%25c%0A%C3%A9");
        assert_eq!(percent_encode(&"x".repeat(5000), 1000).len(), 1000);
    }

    /// What one raw HTTP/2 gRPC call answered.
    struct Answer {
        http: StatusCode,
        status: Option<String>,
        message: Option<String>,
        body: Bytes,
    }

    /// A unary call with a hand-made body, over a fresh h2c connection.
    async fn call(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("http://{addr}{path}"));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = sender
            .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let http = response.status();
        let head = response.headers().clone();
        let collected = response.into_body().collect().await.unwrap();
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let get = |name: &str| {
            trailers
                .get(name)
                .or_else(|| head.get(name))
                .map(|v| v.to_str().unwrap().to_owned())
        };
        Answer {
            http,
            status: get("grpc-status"),
            message: get("grpc-message"),
            body: collected.to_bytes(),
        }
    }

    const TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    const GRPC: (&str, &str) = ("content-type", "application/grpc");

    #[tokio::test]
    async fn receiver_answers_grpc_and_refuses_malformed_frames_by_name() {
        let receiver = OtlpReceiver::start().await.unwrap();
        let addr = receiver.grpc.addr();
        assert_eq!(receiver.grpc_endpoint(), format!("http://{addr}"));
        assert_ne!(receiver.grpc_endpoint(), receiver.endpoint());

        let ok = call(addr, TRACES, &[GRPC], frame(0, &one_span("plain"))).await;
        assert_eq!(ok.http, StatusCode::OK);
        assert_eq!(ok.status.as_deref(), Some("0"));
        assert_eq!(&ok.body[..], &[0, 0, 0, 0, 0], "one empty response message");

        let gz = call(
            addr,
            TRACES,
            &[GRPC, ("grpc-encoding", "gzip")],
            frame(1, &gzip(&one_span("gzipped"))),
        )
        .await;
        assert_eq!(gz.status.as_deref(), Some("0"));

        // A frame that declares more than it carries: INVALID_ARGUMENT, and
        // the refusal is recorded where TRC-009 reads it.
        let bad = call(addr, TRACES, &[GRPC], vec![0, 0, 0, 0, 50, 1, 2]).await;
        assert_eq!(bad.http, StatusCode::OK);
        assert_eq!(bad.status.as_deref(), Some("3"));
        let message = bad.message.unwrap();
        assert!(
            message.contains("declares 50 bytes but 2 follow"),
            "{message}"
        );
        // A whole frame whose message is not an ExportTraceServiceRequest.
        let garbage = call(addr, TRACES, &[GRPC], frame(0, b"\xff\xff\xff\xff garbage")).await;
        assert_eq!(garbage.status.as_deref(), Some("3"));
        let unknown = call(
            addr,
            "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export",
            &[GRPC],
            frame(0, b""),
        )
        .await;
        assert_eq!(unknown.status.as_deref(), Some("12"));
        let snappy = call(
            addr,
            TRACES,
            &[GRPC, ("grpc-encoding", "snappy")],
            frame(1, b"x"),
        )
        .await;
        assert_eq!(snappy.status.as_deref(), Some("12"));
        let not_grpc = call(
            addr,
            TRACES,
            &[("content-type", "application/json")],
            vec![],
        )
        .await;
        assert_eq!(not_grpc.http, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let metrics = call(
            addr,
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            &[GRPC],
            frame(0, b""),
        )
        .await;
        assert_eq!(
            metrics.status.as_deref(),
            Some("0"),
            "metrics are accepted and ignored"
        );

        let names: Vec<String> = receiver.spans().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["plain", "gzipped"]);
        let errors = receiver.errors();
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(
            errors[0].starts_with(&format!("OTLP/gRPC {TRACES}: refused")),
            "{}",
            errors[0]
        );
        assert!(errors[0].contains("declares 50 bytes"), "{}", errors[0]);
        assert!(
            errors[1].contains("ExportTraceServiceRequest"),
            "{}",
            errors[1]
        );
        assert!(errors[2].contains("snappy"), "{}", errors[2]);
        assert!(errors[3].contains("application/grpc"), "{}", errors[3]);
        assert_eq!(receiver.exports(), 7, "the unknown method is no export");
    }

    #[tokio::test]
    async fn grpc_exports_share_the_receivers_limits() {
        let one = one_span("s");
        let receiver = OtlpReceiver::start_with(ReceiveLimits {
            max_spans: 1,
            max_logs: 1,
            max_bytes: one.len() * 2,
            max_errors: 1,
        })
        .await
        .unwrap();
        let addr = receiver.grpc.addr();
        for _ in 0..3 {
            let a = call(addr, TRACES, &[GRPC], frame(0, &one)).await;
            assert_eq!(a.status.as_deref(), Some("0"));
        }
        for _ in 0..2 {
            let a = call(addr, TRACES, &[GRPC], vec![9]).await;
            assert_eq!(a.status.as_deref(), Some("3"));
        }
        assert_eq!(receiver.spans().len(), 1);
        assert_eq!(receiver.errors().len(), 1);
        let t = receiver.truncations().join("\n");
        assert!(t.contains("kept the first 1 spans, dropped 1 more"), "{t}");
        assert!(t.contains("1 payload(s) dropped undecoded"), "{t}");
        assert!(
            t.contains("kept the first 1 refusal messages, dropped 1 more"),
            "{t}"
        );
    }

    /// The Rust SDK's own OTLP/gRPC exporters (tonic; spans gzip-compressed)
    /// deliver to the receiver's gRPC port as they would to a collector.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_real_tonic_exporter_delivers_spans_and_logs() {
        use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
        use opentelemetry::trace::{Tracer as _, TracerProvider as _};
        use opentelemetry_otlp::{
            Compression, LogExporter, SpanExporter, WithExportConfig, WithTonicConfig,
        };
        use opentelemetry_sdk::Resource;
        use opentelemetry_sdk::logs::SdkLoggerProvider;
        use opentelemetry_sdk::trace::SdkTracerProvider;

        let receiver = OtlpReceiver::start().await.unwrap();
        let spans = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(receiver.grpc_endpoint())
            .with_compression(Compression::Gzip)
            .build()
            .unwrap();
        let logs = LogExporter::builder()
            .with_tonic()
            .with_endpoint(receiver.grpc_endpoint())
            .build()
            .unwrap();
        let resource = Resource::builder()
            .with_service_name("grpc-exporter-test")
            .build();
        let tracer_provider = SdkTracerProvider::builder()
            .with_batch_exporter(spans)
            .with_resource(resource.clone())
            .build();
        let logger_provider = SdkLoggerProvider::builder()
            .with_batch_exporter(logs)
            .with_resource(resource)
            .build();
        tracer_provider
            .tracer("grpc-test")
            .in_span("exported over grpc", |_| {
                let logger = logger_provider.logger("grpc-test");
                let mut record = logger.create_log_record();
                record.set_body("logged over grpc".into());
                record.set_severity_number(Severity::Info);
                record.set_severity_text("INFO");
                logger.emit(record);
            });
        let (t, l) = (tracer_provider.clone(), logger_provider.clone());
        tokio::task::spawn_blocking(move || {
            t.force_flush().unwrap();
            l.force_flush().unwrap();
            t.shutdown().unwrap();
            l.shutdown().unwrap();
        })
        .await
        .unwrap();

        assert_eq!(receiver.errors(), Vec::<String>::new());
        let spans = receiver.spans();
        assert_eq!(spans.len(), 1, "{spans:#?}");
        assert_eq!(spans[0].name, "exported over grpc");
        assert_eq!(spans[0].scope, "grpc-test");
        assert_eq!(
            spans[0].resource["service.name"],
            crate::observe::AttrValue::Str("grpc-exporter-test".into())
        );
        let logs = receiver.logs();
        assert_eq!(logs.len(), 1, "{logs:#?}");
        assert_eq!(logs[0].body, "logged over grpc");
        assert_eq!(logs[0].severity_number, Some(9));
        assert_eq!(
            logs[0].trace_id.as_deref(),
            Some(spans[0].trace_id.as_str())
        );
        assert_eq!(logs[0].span_id.as_deref(), Some(spans[0].span_id.as_str()));
        assert!(receiver.exports() >= 2);
    }
}
