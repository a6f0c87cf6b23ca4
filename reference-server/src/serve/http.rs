//! The HTTP surface (axum): `/healthz`, `/readyz`, `/capz`, `/v1/search`,
//! `/v1/runpack/{trace_id}` and MCP at `/mcp`. No metrics route: scrapes are
//! served by the telemetry listener on its own port.
//!
//! Middleware, outermost first: a SERVER span per request (HTTP semantic
//! conventions, incoming W3C `traceparent` continued), bearer auth when a
//! token is configured (`/healthz` stays open), bounded concurrency and a
//! per-request timeout; request bodies are limited to `config.body_limit`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub use super::json_error::describe_json_error;
pub use super::propagation::{HttpTraceContext, extract_context};
use super::{AppState, Readiness, Run, RunSlot, mcp};
use crate::diagnostics::runpack;
use crate::search::engine::{GatingSummary, SearchError, query_fingerprint};

/// A JSON error answer: `{"error": CODE, "message": TEXT, "field": NAME?}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.code, "message": self.message });
        if let Some(f) = self.field {
            body["field"] = serde_json::Value::String(f);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is not read: the connection cannot be
            // reused, say so rather than let a client pool it.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<&SearchError> for ApiError {
    fn from(e: &SearchError) -> Self {
        let msg = e.to_string();
        match e {
            SearchError::EmptyQuery => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_request", msg).with_field("query")
            }
            SearchError::BadK { .. } => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_request", msg).with_field("k")
            }
            SearchError::NotReady => Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", msg),
            SearchError::NoChannel { .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "channels_failed", msg)
            }
            SearchError::Hydrate(_) | SearchError::Internal(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", msg)
            }
        }
    }
}

/// Parses a JSON request body strictly (unknown fields and trailing data
/// are errors), naming the offending field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], example: &str) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the request body is empty; send JSON like {example}"),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let (field, msg) = describe_json_error(&e);
        let mut err = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("invalid request body: {msg}; expected JSON like {example}"),
        );
        err.field = field;
        err
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("invalid request body: {e}; send one JSON object"),
        )
    })?;
    Ok(value)
}

/// Something a request body can be parsed into, with an example for errors.
pub trait JsonRequest: DeserializeOwned {
    const EXAMPLE: &'static str;
}

/// A JSON body extractor whose rejections are JSON and name the field.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: JsonRequest + Send> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the request body is too large: {}", rej.body_text()),
                )
            } else {
                ApiError::new(rej.status(), "invalid_request", rej.body_text())
            }
        })?;
        parse_json(&bytes, T::EXAMPLE).map(JsonBody)
    }
}

/// `POST /v1/search` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub query: String,
    #[serde(default = "default_k")]
    pub k: usize,
    #[serde(default)]
    pub refine: bool,
}

const fn default_k() -> usize {
    10
}

impl JsonRequest for SearchRequest {
    const EXAMPLE: &'static str =
        r#"{"query": "where is the config parsed", "k": 10, "refine": false}"#;
}

/// Shared by the middleware.
#[derive(Clone)]
struct Ctx {
    state: AppState,
    local: SocketAddr,
    permits: Arc<Semaphore>,
}

/// Builds the application router.
pub fn router(state: AppState, local: SocketAddr, shutdown: CancellationToken) -> Router {
    let ctx = Ctx {
        permits: Arc::new(Semaphore::new(state.config.max_concurrency)),
        state: state.clone(),
        local,
    };
    let body_limit = state.config.body_limit;
    let mcp_service = mcp::http_service(state.clone(), local, shutdown);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/capz", get(capz))
        .route("/v1/search", post(search))
        .route("/v1/runpack/{trace_id}", get(runpack_handler))
        .nest_service("/mcp", mcp_service)
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(ctx.clone(), limits))
        .layer(middleware::from_fn_with_state(ctx.clone(), auth))
        .layer(middleware::from_fn_with_state(ctx.clone(), host_check))
        .layer(middleware::from_fn_with_state(ctx, trace))
}

fn protocol_version(v: axum::http::Version) -> &'static str {
    match v {
        axum::http::Version::HTTP_09 => "0.9",
        axum::http::Version::HTTP_10 => "1.0",
        axum::http::Version::HTTP_2 => "2",
        axum::http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

fn route_of(req: &Request) -> Option<String> {
    let matched = req.extensions().get::<MatchedPath>()?.as_str();
    // A nested service's matched path carries axum's private tail capture.
    let route = matched.split("/{*").next().unwrap_or(matched);
    Some(if route.is_empty() {
        "/".to_owned()
    } else {
        route.to_owned()
    })
}

fn host_and_port(headers: &HeaderMap, local: SocketAddr) -> (String, u16) {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let Some(authority) = host.and_then(|h| h.parse::<axum::http::uri::Authority>().ok()) {
        return (
            authority.host().trim_matches(['[', ']']).to_owned(),
            authority.port_u16().unwrap_or(80),
        );
    }
    (local.ip().to_string(), local.port())
}

/// One SERVER span per request, named `{method} {route}`.
async fn trace(State(ctx): State<Ctx>, mut req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let route = route_of(&req);
    let name = route
        .as_ref()
        .map_or_else(|| method.clone(), |r| format!("{method} {r}"));
    let (address, port) = host_and_port(req.headers(), ctx.local);
    let span = tracing::info_span!(
        "http.server.request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        url.path = %req.uri().path(),
        url.scheme = "http",
        server.address = %address,
        server.port = i64::from(port),
        network.protocol.version = protocol_version(req.version()),
        user_agent.original = tracing::field::Empty,
        error.type = tracing::field::Empty,
    );
    if let Some(r) = &route {
        span.record("http.route", r.as_str());
    }
    if let Some(ua) = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        span.record("user_agent.original", ua);
    }
    if let Some(parent) = extract_context(req.headers()) {
        let _ = span.set_parent(parent);
    }
    req.extensions_mut()
        .insert(HttpTraceContext(span.context()));
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        crate::observability::mark_failed(&span, status.as_str(), None);
    }
    response
}

/// DNS rebinding protection on every route but the health probes (which
/// orchestrators call by pod address): the `Host` must be a loopback name,
/// the specific bound address or a configured `allowed_hosts` entry. `/mcp`
/// is checked again by rmcp with the same list.
async fn host_check(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return next.run(req).await;
    }
    let authority = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}"))
        .or_else(|| {
            req.uri()
                .authority()
                .map(axum::http::uri::Authority::as_str)
        });
    let allowed = super::guard::allowed_hosts(ctx.local, &ctx.state.config.allowed_hosts);
    if super::guard::host_allowed(authority, &allowed) {
        return next.run(req).await;
    }
    let shown: String = authority.unwrap_or_default().chars().take(100).collect();
    ApiError::new(
        StatusCode::FORBIDDEN,
        "host_not_allowed",
        format!(
            "Host {shown:?} is not allowed (DNS rebinding protection); reach the server as \
             localhost or 127.0.0.1, or add the name to CODEINTEL_ALLOWED_HOSTS"
        ),
    )
    .into_response()
}

/// Bearer auth on everything but `/healthz` when a token is configured.
async fn auth(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let Some(token) = ctx.state.config.token.as_deref() else {
        return next.run(req).await;
    };
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if super::guard::bearer_matches(presented, token) {
        return next.run(req).await;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        if presented.is_some() {
            "the bearer token is wrong; send `Authorization: Bearer <CODEINTEL_TOKEN>`"
        } else {
            "this server requires a bearer token: send `Authorization: Bearer <CODEINTEL_TOKEN>`"
        },
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Bounded concurrency (requests beyond `max_concurrency` wait) and a
/// per-request timeout (504 with a message).
async fn limits(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let timeout = ctx.state.config.request_timeout;
    let slot = RunSlot::default();
    let mut req = req;
    req.extensions_mut().insert(slot.clone());
    let work = async {
        let Ok(_permit) = ctx.permits.clone().acquire_owned().await else {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down",
            )
            .into_response();
        };
        next.run(req).await
    };
    let mut work = std::pin::pin!(work);
    if let Ok(response) = tokio::time::timeout(timeout, work.as_mut()).await {
        return response;
    }
    // The request is still alive here (it is dropped on return): note where
    // its run was.
    if let Some(timeline) = slot.timeline() {
        super::note_cancelled(&timeline, timeout);
    }
    timeout_response(timeout)
}

fn timeout_response(timeout: std::time::Duration) -> Response {
    ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "timeout",
        format!(
            "the request did not finish within {} ms and was cancelled \
             (CODEINTEL_REQUEST_TIMEOUT_MS sets the limit)",
            timeout.as_millis()
        ),
    )
    .into_response()
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.readiness();
    match &readiness {
        Readiness::Ready { version } if state.engine.is_ready() => {
            axum::Json(serde_json::json!({ "status": "ready", "index_version": version }))
                .into_response()
        }
        Readiness::Ready { .. } | Readiness::Loading { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "loading", "reason": readiness.describe() })),
        )
            .into_response(),
        Readiness::Failed { error } => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "status": "failed",
                "reason": readiness.describe(),
                "error": error,
            })),
        )
            .into_response(),
    }
}

/// What this server can do now.
pub fn capabilities(state: &AppState) -> serde_json::Value {
    let index = state.engine.current();
    let embedder = state.engine.embedder();
    let dense_in_index = index.as_ref().is_some_and(|i| i.dense.is_some());
    let dense_reason = match (&index, embedder) {
        (None, _) => Some("no index loaded yet".to_owned()),
        (Some(i), _) if i.dense.is_none() => Some(
            i.manifest
                .dense
                .reason
                .clone()
                .unwrap_or_else(|| "the index has no dense part".to_owned()),
        ),
        (Some(_), None) => Some(crate::embed::select::NO_EMBEDDER.to_owned()),
        _ => None,
    };
    serde_json::json!({
        "service": "codeintel",
        "version": env!("CARGO_PKG_VERSION"),
        "ready": index.is_some(),
        "index_version": index.as_ref().map(|i| i.version.clone()),
        "channels": {
            "dense": {
                "available": dense_in_index && embedder.is_some(),
                "in_index": dense_in_index,
                "embedder_configured": embedder.is_some(),
                "model": embedder.map(|e| e.model().to_owned()),
                "reason": dense_reason,
            },
            "sparse": { "available": index.is_some() },
            "refine": dense_in_index && embedder.is_some(),
            // FAISS holds full vectors for every kind built, so its scores are
            // exact already: refine only widens an approximate search.
            "refine_effect": index.as_ref().and_then(|i| i.dense.as_ref()).map(|d| {
                serde_json::json!({
                    "index_kind": d.kind().label(),
                    "effect": d.refine_effect(),
                    "note": if d.refine_effect() == "none" {
                        "exact (flat) index: refine changes nothing and costs nothing"
                    } else {
                        "approximate index: refine searches factor× wider (efSearch / nprobe) and keeps the best k; no re-scoring, FAISS scores are exact inner products"
                    },
                })
            }),
        },
        "tools": mcp::TOOL_NAMES,
        "endpoints": ["/healthz", "/readyz", "/capz", "/v1/search", "/v1/runpack/{trace_id}", "/mcp"],
        "auth": if state.config.token.is_some() { "bearer" } else { "none" },
    })
}

async fn capz(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(capabilities(&state))
}

#[derive(serde::Serialize)]
struct SearchResponse<'a> {
    findings: &'a [crate::search::engine::Finding],
    limits: &'a [crate::search::engine::Limit],
    trace_id: &'a str,
    gating: &'a GatingSummary,
    index_version: &'a str,
}

async fn search(
    State(state): State<AppState>,
    slot: Option<axum::Extension<RunSlot>>,
    JsonBody(req): JsonBody<SearchRequest>,
) -> Response {
    let run = Run::begin(&state, "POST /v1/search");
    if let Some(axum::Extension(slot)) = slot {
        slot.register(&run.timeline);
    }
    run.timeline.note(
        "request",
        "received",
        serde_json::json!({
            "query_hash": query_fingerprint(&req.query),
            "query_length": req.query.chars().count(),
            "k": req.k,
            "refine": req.refine,
        }),
    );
    let result = state
        .engine
        .search(&req.query, req.k, req.refine, &run.timeline)
        .await;
    let trace_id = run.trace_id.clone();
    match result {
        Ok(outcome) => {
            let limits = outcome
                .limits
                .iter()
                .map(|l| format!("{}: {}", l.code, l.message))
                .collect();
            run.finish(None, limits);
            axum::Json(SearchResponse {
                findings: &outcome.findings,
                limits: &outcome.limits,
                trace_id: &trace_id,
                gating: &outcome.gating,
                index_version: &outcome.index_version,
            })
            .into_response()
        }
        Err(e) => {
            run.finish(Some((e.stage(), e.to_string())), Vec::new());
            let mut err = ApiError::from(&e);
            err.message = format!("{} (trace id {trace_id})", err.message);
            err.into_response()
        }
    }
}

async fn runpack_handler(State(state): State<AppState>, Path(trace_id): Path<String>) -> Response {
    let Some(run) = state.runs.get(&trace_id) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no run with trace id {trace_id:?} is kept here: runs are kept in memory, the last {} only; \
                 use the trace_id of a recent /v1/search answer or MCP tool call",
                super::RUN_STORE_CAPACITY
            ),
        )
        .into_response();
    };
    match runpack::build(&run, &state.config.redacted_toml()) {
        Ok(bytes) => {
            let disposition = format!(
                "attachment; filename=\"{}.tar.gz\"",
                runpack::folder(&run.trace_id)
            );
            let mut response = (StatusCode::OK, bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/gzip"),
            );
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            .into_response(),
    }
}

async fn not_found(req: Request) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no such endpoint: {} {}; GET /capz lists what this server offers",
            req.method(),
            req.uri().path()
        ),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<SearchRequest>(br#"{"k": 3}"#, SearchRequest::EXAMPLE).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.field.as_deref(), Some("query"));
        assert!(e.message.contains("query"), "{}", e.message);

        let e =
            parse_json::<SearchRequest>(br#"{"query": "x", "k": "ten"}"#, SearchRequest::EXAMPLE)
                .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("k"));
        assert!(e.message.contains("`k`"), "{}", e.message);

        let e = parse_json::<SearchRequest>(br#"{"query": "x", "top": 3}"#, SearchRequest::EXAMPLE)
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("top"));
        assert!(e.message.contains("unknown field `top`"), "{}", e.message);

        let e =
            parse_json::<SearchRequest>(br#"{"query": 5}"#, SearchRequest::EXAMPLE).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("query"));

        let e = parse_json::<SearchRequest>(b"  ", SearchRequest::EXAMPLE).unwrap_err();
        assert!(e.message.contains("empty"), "{}", e.message);

        let e = parse_json::<SearchRequest>(br#"{"query": "x"} {"#, SearchRequest::EXAMPLE)
            .unwrap_err();
        assert!(e.message.contains("trailing"), "{}", e.message);

        let ok = parse_json::<SearchRequest>(br#"{"query": "x"}"#, SearchRequest::EXAMPLE).unwrap();
        assert_eq!((ok.k, ok.refine), (10, false));
    }

    #[test]
    fn search_errors_map_to_statuses() {
        assert_eq!(
            ApiError::from(&SearchError::EmptyQuery).status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::from(&SearchError::BadK { got: 0, max: 100 })
                .field
                .as_deref(),
            Some("k")
        );
        assert_eq!(
            ApiError::from(&SearchError::NotReady).status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::from(&SearchError::Hydrate("x".into())).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn host_header_gives_server_address() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8123"));
        let local: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(host_and_port(&h, local), ("127.0.0.1".to_owned(), 8123));
        assert_eq!(
            host_and_port(&HeaderMap::new(), local),
            ("127.0.0.1".to_owned(), 9)
        );
    }
}
