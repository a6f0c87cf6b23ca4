//! One forwarding HTTP proxy of a [`super::MutatingSut`]: requests go to
//! the upstream unchanged (Host included) and answers come back streamed,
//! except where the operator rewrites them (those are buffered, bounded).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::rewrite::{self, edit_export};
use super::{AppEdit, Effect, Operator, ScrapeEdit};
use crate::contract;
use crate::peers::otlp::{Encoding, decompress};
use crate::peers::{PeerError, ServerHandle};

/// Largest request or buffered answer a proxy handles.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// The streamable-HTTP MCP endpoint of the application port.
const MCP_PATH: &str = "/mcp";
/// The MCP session header (streamable HTTP).
const SESSION_HEADER: &str = "mcp-session-id";

/// Whether an answer is an event stream (MCP over SSE).
fn event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("event-stream"))
}

/// Which of the SUT's surfaces a proxy stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The application port (HTTP API and MCP); `scrape_url` is the SUT's
    /// own scrape, for [`AppEdit::ServeExposition`].
    App { scrape_url: String },
    /// The Prometheus scrape.
    Scrape,
    /// The SUT's OTLP exports, on their way to the harness's receiver.
    Otlp,
    /// The SUT's embeddings requests, on their way to the harness's server.
    Embeddings,
}

struct Proxy {
    role: Role,
    op: Operator,
    upstream: String,
    client: reqwest::Client,
    /// [`ScrapeEdit::Freeze`]: the family as first scraped.
    frozen: Mutex<Option<Vec<String>>>,
    /// [`AppEdit::ReadyzEarlyOk`]: the first `/readyz` was answered.
    readyz_seen: std::sync::atomic::AtomicBool,
}

impl Proxy {
    /// The operator's edit of the application port, when this proxy stands
    /// for it.
    fn app_edit(&self) -> Option<AppEdit> {
        match (&self.role, self.op.effect()) {
            (Role::App { .. }, Effect::App(edit)) => Some(edit),
            _ => None,
        }
    }
}

/// Listen on `addr` and forward to `upstream` (`scheme://host:port`).
pub(crate) async fn spawn_proxy(
    role: Role,
    op: Operator,
    addr: SocketAddr,
    upstream: &str,
) -> Result<ServerHandle, PeerError> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    let proxy = Arc::new(Proxy {
        role,
        op,
        upstream: upstream.trim_end_matches('/').to_owned(),
        client,
        frozen: Mutex::new(None),
        readyz_seen: std::sync::atomic::AtomicBool::new(false),
    });
    let router = Router::new().fallback(forward).with_state(proxy);
    ServerHandle::serve_on("mutating proxy", addr, router).await
}

fn hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::TE,
        header::TRAILER,
        header::PROXY_AUTHORIZATION,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
}

fn bad_gateway(what: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        [(header::CONTENT_TYPE, "text/plain")],
        format!("mutating proxy: {what}"),
    )
        .into_response()
}

async fn forward(State(p): State<Arc<Proxy>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let path_q = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());

    // The first /readyz answers 200 whatever the SUT says: an
    // implementation that reports ready before its index is loaded (later
    // probes are forwarded, so the rest of the run proceeds as usual).
    if p.app_edit() == Some(AppEdit::ReadyzEarlyOk)
        && path == "/readyz"
        && !p
            .readyz_seen
            .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "ok").into_response();
    }
    // DELETE of an MCP session is acknowledged, but never reaches the SUT:
    // the session outlives its termination.
    if p.app_edit() == Some(AppEdit::DeleteKeepsSession)
        && parts.method == Method::DELETE
        && path == MCP_PATH
    {
        return StatusCode::OK.into_response();
    }

    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return bad_gateway(format!("request body: {e}")),
    };
    let (body, mut headers) = if p.role == Role::Otlp && path == "/v1/traces" {
        edit_traces(p.op, &parts.headers, body)
    } else {
        (body, parts.headers.clone())
    };
    if p.role == Role::Embeddings && p.op.effect() == Effect::EmbedRequestsWithoutTraceparent {
        headers.remove("traceparent");
        headers.remove("tracestate");
    }
    if p.app_edit() == Some(AppEdit::DropHostOrigin) {
        headers.remove(header::HOST);
        headers.remove(header::ORIGIN);
    }
    if p.op.effect() == Effect::App(AppEdit::GarbleSessionId)
        && let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok())
        && let Ok(v) = HeaderValue::from_str(rewrite::ungarble_session_id(id))
    {
        headers.insert(SESSION_HEADER, v);
    }
    let mcp_ping = p.op.effect() == Effect::App(AppEdit::PingError)
        && parts.method == Method::POST
        && path == MCP_PATH
        && rewrite::mcp_calls(&body, "ping");

    let mut rb = p
        .client
        .request(parts.method.clone(), format!("{}{path_q}", p.upstream));
    for (name, value) in &headers {
        if !hop_by_hop(name) {
            rb = rb.header(name, value);
        }
    }
    let resp = match rb.body(body).send().await {
        Ok(r) => r,
        Err(e) => return bad_gateway(crate::sut::process::error_chain(&e)),
    };
    let status = resp.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in resp.headers() {
        if !hop_by_hop(name) {
            out_headers.append(name, value.clone());
        }
    }
    if p.app_edit() == Some(AppEdit::GarbleSessionId)
        && let Some(id) = out_headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        && let Ok(v) = HeaderValue::from_str(&rewrite::garble_session_id(id))
    {
        out_headers.insert(SESSION_HEADER, v);
    }

    if !rewrites(&p, &parts.method, &path, status, mcp_ping) {
        let stream = futures::stream::unfold(resp, |mut r| async move {
            match r.chunk().await {
                Ok(Some(c)) => Some((Ok::<Bytes, reqwest::Error>(c), r)),
                Ok(None) => None,
                Err(e) => Some((Err(e), r)),
            }
        });
        let mut out = Response::new(Body::from_stream(stream));
        *out.status_mut() = status;
        *out.headers_mut() = out_headers;
        return out;
    }

    let bytes = match resp.bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) => return bad_gateway(crate::sut::process::error_chain(&e)),
    };
    let mut status = status;
    let bytes = rewrite_answer(&p, &path, &mut status, &mut out_headers, bytes).await;
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    *out.headers_mut() = out_headers;
    out
}

/// Whether the answer to this request is rewritten (and so buffered).
/// `mcp_ping`: the request is an MCP `ping` (for [`AppEdit::PingError`]).
fn rewrites(p: &Proxy, method: &Method, path: &str, status: StatusCode, mcp_ping: bool) -> bool {
    use AppEdit as A;
    match (&p.role, p.op.effect()) {
        (Role::Scrape, Effect::Scrape(_)) => true,
        (Role::App { .. }, Effect::App(edit)) => match edit {
            A::ServeExposition => method == Method::GET && status == StatusCode::NOT_FOUND,
            A::HideTool(_) | A::ToolsWithoutDescription => {
                method == Method::POST && path == MCP_PATH
            }
            A::PingError => mcp_ping,
            A::StripFindingKeys(_) | A::StripLimits => path == "/v1/search",
            A::HalveRunpacks => path.starts_with("/v1/runpack/") && status.is_success(),
            A::ReadyzEarlyOk | A::DropHostOrigin | A::GarbleSessionId | A::DeleteKeepsSession => {
                false
            }
        },
        _ => false,
    }
}

async fn rewrite_answer(
    p: &Proxy,
    path: &str,
    status: &mut StatusCode,
    headers: &mut HeaderMap,
    bytes: Vec<u8>,
) -> Vec<u8> {
    use AppEdit as A;
    if let Role::App { scrape_url } = &p.role {
        let Effect::App(edit) = p.op.effect() else {
            return bytes;
        };
        return match edit {
            A::ServeExposition => match p.client.get(scrape_url).send().await {
                Ok(r) if r.status().is_success() => {
                    *status = StatusCode::OK;
                    headers.clear();
                    headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    );
                    r.bytes().await.map_or(bytes, |b| b.to_vec())
                }
                _ => bytes,
            },
            A::PingError => rewrite::map_mcp(&bytes, event_stream(headers), |v| {
                rewrite::result_to_error(v);
            }),
            A::ToolsWithoutDescription => rewrite::map_mcp(
                &bytes,
                event_stream(headers),
                rewrite::strip_tool_descriptions,
            ),
            A::HideTool(tool) => rewrite::map_mcp(&bytes, event_stream(headers), |v| {
                if let Some(tools) = v
                    .pointer_mut("/result/tools")
                    .and_then(serde_json::Value::as_array_mut)
                {
                    tools.retain(|t| t.get("name").and_then(|n| n.as_str()) != Some(tool));
                }
            }),
            A::StripFindingKeys(keys) => rewrite::map_json(&bytes, |v| {
                rewrite::strip_finding_keys(v, keys);
            }),
            A::StripLimits => rewrite::map_json(&bytes, |v| {
                if let Some(obj) = v.as_object_mut() {
                    obj.remove("limits");
                }
            }),
            A::HalveRunpacks if path.starts_with("/v1/runpack/") => {
                let half = bytes.len() / 2;
                bytes[..half].to_vec()
            }
            _ => bytes,
        };
    }
    // The scrape.
    let Effect::Scrape(edit) = p.op.effect() else {
        return bytes;
    };
    let family = match edit {
        ScrapeEdit::ContentType(content_type) => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            return bytes;
        }
        ScrapeEdit::DropLabel { family, .. }
        | ScrapeEdit::ScaleBuckets { family, .. }
        | ScrapeEdit::Rename { family, .. }
        | ScrapeEdit::DropFamily { family }
        | ScrapeEdit::ScaleSum { family, .. }
        | ScrapeEdit::Freeze { family } => contract::family_base(family),
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let out = match edit {
        ScrapeEdit::DropLabel { label, .. } => {
            rewrite::map_family(&text, family, |l| Some(rewrite::drop_label(l, label)))
        }
        ScrapeEdit::ScaleBuckets { factor, .. } => rewrite::map_family(&text, family, |l| {
            Some(if l.contains("_bucket") {
                rewrite::scale_le(l, factor)
            } else {
                l.to_owned()
            })
        }),
        ScrapeEdit::Rename { to, .. } => rewrite::rename_family(&text, family, to),
        ScrapeEdit::DropFamily { .. } => rewrite::map_family(&text, family, |_| None),
        ScrapeEdit::ScaleSum { factor, .. } => rewrite::map_family(&text, family, |l| {
            Some(match rewrite::metric_name(l) {
                Some(n) if n.ends_with("_sum") && !l.starts_with('#') => {
                    rewrite::scale_value(l, factor)
                }
                _ => l.to_owned(),
            })
        }),
        ScrapeEdit::Freeze { .. } => {
            let now = rewrite::family_lines(&text, family);
            let mut frozen = p.frozen.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(lines) = frozen.as_ref() {
                rewrite::replace_family(&text, family, lines)
            } else {
                if now.iter().any(|l| !l.starts_with('#')) {
                    *frozen = Some(now);
                }
                text
            }
        }
        ScrapeEdit::ContentType(_) => text,
    };
    out.into_bytes()
}

/// A trace export with the operator's span edit applied, re-encoded as
/// protobuf; a payload that does not decode goes on unchanged (the receiver
/// judges it).
fn edit_traces(op: Operator, headers: &HeaderMap, body: Bytes) -> (Bytes, HeaderMap) {
    let Some(edit) = op.span_edit() else {
        return (body, headers.clone());
    };
    let header_str = |n: HeaderName| headers.get(n).and_then(|v| v.to_str().ok());
    let encoding = Encoding::from_content_type(header_str(header::CONTENT_TYPE));
    let Ok(raw) = decompress(header_str(header::CONTENT_ENCODING), &body) else {
        return (body, headers.clone());
    };
    let decoded = match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(raw.as_slice()).ok(),
        Encoding::Json => serde_json::from_slice(&raw).ok(),
    };
    let Some(mut req) = decoded else {
        return (body, headers.clone());
    };
    edit_export(edit, &mut req);
    let mut headers = headers.clone();
    headers.remove(header::CONTENT_ENCODING);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    (Bytes::from(req.encode_to_vec()), headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::ServerHandle;

    /// An upstream MCP endpoint that records what reached it and issues a
    /// session id.
    async fn upstream(seen: Arc<Mutex<Vec<String>>>) -> ServerHandle {
        let router = Router::new().fallback(move |req: Request| {
            let seen = Arc::clone(&seen);
            async move {
                let session = req
                    .headers()
                    .get(SESSION_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_owned();
                let line = format!("{} {} {session}", req.method(), req.uri().path());
                seen.lock().unwrap().push(line);
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (HeaderName::from_static(SESSION_HEADER), "abc-123"),
                    ],
                    r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
                )
            }
        });
        ServerHandle::serve("test upstream", router).await.unwrap()
    }

    async fn proxy_for(op: Operator, up: &ServerHandle) -> ServerHandle {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let role = Role::App {
            scrape_url: "http://127.0.0.1:9".into(),
        };
        spawn_proxy(role, op, any, &format!("http://{}", up.addr()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn delete_of_a_session_is_acknowledged_and_never_forwarded() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let up = upstream(Arc::clone(&seen)).await;
        let proxy = proxy_for(Operator::McpDeleteKeepsSession, &up).await;
        let client = reqwest::Client::new();
        let url = format!("http://{}/mcp", proxy.addr());
        let r = client
            .delete(&url)
            .header(SESSION_HEADER, "abc-123")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = client.post(&url).body("{}").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            *seen.lock().unwrap(),
            ["POST /mcp -"],
            "DELETE reached the SUT"
        );
    }

    #[tokio::test]
    async fn the_issued_session_id_is_garbled_and_restored_on_its_way_back() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let up = upstream(Arc::clone(&seen)).await;
        let proxy = proxy_for(Operator::McpSessionIdNotAscii, &up).await;
        let client = reqwest::Client::new();
        let url = format!("http://{}/mcp", proxy.addr());
        let r = client.post(&url).body("{}").send().await.unwrap();
        let issued = r.headers()[SESSION_HEADER].to_str().unwrap().to_owned();
        assert_eq!(issued, rewrite::garble_session_id("abc-123"));
        let r = client
            .post(&url)
            .header(SESSION_HEADER, &issued)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            *seen.lock().unwrap(),
            ["POST /mcp -", "POST /mcp abc-123"],
            "the SUT got its own id back"
        );
    }

    #[tokio::test]
    async fn only_ping_answers_become_errors() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let up = upstream(Arc::clone(&seen)).await;
        let proxy = proxy_for(Operator::McpPingError, &up).await;
        let client = reqwest::Client::new();
        let url = format!("http://{}/mcp", proxy.addr());
        let answer = |method: &'static str| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}"}}"#);
                let r = client.post(&url).body(body).send().await.unwrap();
                r.json::<serde_json::Value>().await.unwrap()
            }
        };
        let ping = answer("ping").await;
        assert_eq!(ping["error"]["code"], -32601, "{ping}");
        let other = answer("tools/list").await;
        assert!(
            other.get("error").is_none() && other["result"].is_object(),
            "{other}"
        );
        assert_eq!(seen.lock().unwrap().len(), 2, "both were forwarded");
    }
}
