//! `codeintel-server embed-serve`: the built-in model behind an
//! OpenAI-compatible `POST /v1/embeddings` (plus `GET /v1/models` and
//! `/healthz`), so the Python implementation, the conformance harness and
//! other tools share one local model instead of running vLLM.
//!
//! Requests: `{"model", "input": string | [string], "encoding_format":
//! "float" | "base64"}`; answers as OpenAI does (`data[i].embedding`, `model`,
//! `usage`). Errors are OpenAI-style `{"error": {"message", "type"}}` with a
//! 4xx status naming what was wrong. Inputs per request and body size are
//! bounded. Vectors come from [`Embedder::embed`], so every request is
//! traced and measured like the server's own embedding.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;

use crate::embed::Embedder;

/// Largest request body accepted, bytes.
pub const BODY_LIMIT: usize = 8 << 20;
/// Most texts in one request.
pub const MAX_INPUTS: usize = 2048;

/// Model names accepted besides the embedder's own (`model` may also be
/// empty or absent).
fn accepts_model(embedder: &dyn Embedder, asked: &str) -> bool {
    let own = embedder.model();
    let short = own.rsplit('/').next().unwrap_or(own);
    asked.is_empty() || asked == own || asked == short
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    model: String,
    input: Input,
    #[serde(default)]
    encoding_format: Option<String>,
}

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(serde_json::json!({
            "error": { "message": message.into(), "type": kind, "code": status.as_u16() }
        })),
    )
        .into_response()
}

async fn embeddings(
    State(embedder): State<Arc<dyn Embedder>>,
    body: Result<Json<Request>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!(
                    "{}: expected {{\"model\": ..., \"input\": \"text\" or [\"text\", ...]}}",
                    e.body_text()
                ),
            );
        }
    };
    if !accepts_model(embedder.as_ref(), &req.model) {
        return error(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!(
                "The model `{}` does not exist: this server serves `{}`",
                req.model,
                embedder.model()
            ),
        );
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("encoding_format `{other}` is not supported: use float or base64"),
            );
        }
    };
    let texts = match req.input {
        Input::One(t) => vec![t],
        Input::Many(v) => v,
    };
    if texts.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "input is empty: send at least one text",
        );
    }
    if texts.len() > MAX_INPUTS {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!(
                "{} inputs in one request; the limit is {MAX_INPUTS}: split the batch",
                texts.len()
            ),
        );
    }
    let chars: usize = texts.iter().map(String::len).sum();
    let vectors = match embedder.embed(&texts).await {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                e.to_string(),
            );
        }
    };
    let data: Vec<serde_json::Value> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                serde_json::json!(v)
            };
            serde_json::json!({ "object": "embedding", "index": i, "embedding": embedding })
        })
        .collect();
    // Token counts are not exposed by the trait: report characters / 4, as
    // OpenAI's rule of thumb, so clients see a plausible figure.
    let tokens = chars.div_ceil(4);
    Json(serde_json::json!({
        "object": "list",
        "data": data,
        "model": embedder.model(),
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    }))
    .into_response()
}

async fn models(State(embedder): State<Arc<dyn Embedder>>) -> Response {
    Json(serde_json::json!({
        "object": "list",
        "data": [{ "id": embedder.model(), "object": "model", "owned_by": "codeintel" }],
    }))
    .into_response()
}

/// The router: `/v1/embeddings`, `/v1/models`, `/healthz`.
pub fn router(embedder: Arc<dyn Embedder>) -> Router {
    Router::new()
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(embedder)
}

/// Binds `addr` and serves until `shutdown` resolves. Returns the bound
/// address through `on_bound` first (port 0 picks a free one).
pub async fn serve(
    addr: SocketAddr,
    embedder: Arc<dyn Embedder>,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr}: {e} (pass another --addr, e.g. 127.0.0.1:0)"),
        )
    })?;
    on_bound(listener.local_addr()?);
    axum::serve(listener, router(embedder))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::HashEmbedder;
    use axum::body::Body;
    use tower::ServiceExt as _;

    async fn call(body: &str) -> (StatusCode, serde_json::Value) {
        let app = router(Arc::new(HashEmbedder::new(8)));
        let resp = app
            .oneshot(
                axum::http::Request::post("/v1/embeddings")
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_owned()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn floats_and_base64_agree() {
        let (s, f) = call(r#"{"model":"","input":["a b","c"]}"#).await;
        assert_eq!(s, StatusCode::OK);
        let (s, b) = call(r#"{"input":["a b","c"],"encoding_format":"base64"}"#).await;
        assert_eq!(s, StatusCode::OK);
        let b64 = b["data"][0]["embedding"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let decoded: Vec<f64> = bytes
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        let floats: Vec<f64> = f["data"][0]["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(decoded.len(), 8);
        for (a, b) in decoded.iter().zip(&floats) {
            assert!((a - b).abs() < 1e-6);
        }
        assert_eq!(f["data"].as_array().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn bad_requests_say_what_is_wrong() {
        let (s, e) = call(r#"{"input":[]}"#).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(e["error"]["message"].as_str().unwrap().contains("empty"));
        let (s, e) = call(r#"{"model":"gpt-x","input":"a"}"#).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(e["error"]["message"].as_str().unwrap().contains("gpt-x"));
        let (s, _) = call(r#"{"input":[1,2]}"#).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let (s, e) = call(r#"{"input":"a","encoding_format":"int8"}"#).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(e["error"]["message"].as_str().unwrap().contains("int8"));
    }
}
