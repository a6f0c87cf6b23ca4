//! An OpenAI-compatible embeddings server run by the harness.
//!
//! `POST /v1/embeddings` (also `/embeddings`, for clients whose base URL
//! already ends in `/v1`) takes `{"model": …, "input": "text" | ["text", …]}`
//! and answers `{"object":"list","data":[{"object":"embedding","index":i,
//! "embedding":[…]}],"model":…,"usage":{…}}`. Vectors are a pure function of
//! the text ([`embed_text`]): a feature-hashed bag of lowercase tokens, L2
//! normalised, so similar texts get similar vectors and every run is the same.
//!
//! Every request is recorded as an [`EmbedRequest`]. The behaviour is
//! switchable while it runs ([`Mode`]), and a **gate** holds requests while
//! closed (up to a maximum hold, then 503) so the harness decides when a SUT
//! can finish loading its index.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{PeerError, ServerHandle};
use crate::observe::EmbedRequest;

/// How the server answers, switchable at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// 200 with deterministic vectors.
    #[default]
    Ok,
    /// 500 with an OpenAI-style error body.
    Error500,
    /// Wait this long, then answer as `Ok` (set it past the SUT's timeout).
    Delay(Duration),
    /// 200 with a body that is not JSON.
    Garbage,
}

impl Mode {
    /// The `answered` word recorded for this mode.
    pub fn answered(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error500 => "error_500",
            Self::Delay(_) => "delay",
            Self::Garbage => "garbage",
        }
    }
}

/// Where the peer's vectors come from when not from [`embed_text`]: a real
/// model (the reference server's built-in all-MiniLM-L6-v2 under
/// `--embedder local`). Called on a blocking thread.
pub trait VectorSource: Send + Sync + std::fmt::Debug {
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// One vector per text, in order.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String>;
}

/// Start-up settings of the embeddings server.
#[derive(Debug, Clone)]
pub struct EmbeddingsConfig {
    /// Vector dimension (ignored with a `source`: its dimension wins).
    pub dim: usize,
    /// A real model instead of the token hash; `None`: [`embed_text`].
    pub source: Option<Arc<dyn VectorSource>>,
    /// Whether the gate starts open.
    pub gate_open: bool,
    /// How long a request waits at a closed gate before it is answered 503.
    pub max_hold: Duration,
    /// `model` echoed when a request names none.
    pub default_model: String,
}

impl Default for EmbeddingsConfig {
    fn default() -> Self {
        Self {
            dim: 64,
            source: None,
            gate_open: true,
            max_hold: Duration::from_secs(15),
            default_model: "harness-embed".to_owned(),
        }
    }
}

#[derive(Debug)]
struct Shared {
    dim: usize,
    source: Option<Arc<dyn VectorSource>>,
    max_hold: Duration,
    default_model: String,
    mode: Mutex<Mode>,
    requests: Mutex<Vec<EmbedRequest>>,
    gate: watch::Sender<bool>,
    held_now: AtomicUsize,
    held_total: AtomicUsize,
}

impl Shared {
    fn record(&self, request: EmbedRequest) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }
}

/// Decrements the "held now" counter however the held request ends
/// (answered, or dropped because the client went away).
struct HeldGuard<'a>(&'a AtomicUsize);

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The running embeddings server. Stops when dropped.
#[derive(Debug)]
pub struct EmbeddingsServer {
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl EmbeddingsServer {
    /// Listen on `127.0.0.1:0` and serve.
    pub async fn start(config: EmbeddingsConfig) -> Result<Self, PeerError> {
        let (gate, _) = watch::channel(config.gate_open);
        let shared = Arc::new(Shared {
            dim: config
                .source
                .as_ref()
                .map_or(config.dim, |s| s.dim())
                .max(1),
            source: config.source,
            max_hold: config.max_hold,
            default_model: config.default_model,
            mode: Mutex::new(Mode::Ok),
            requests: Mutex::new(Vec::new()),
            gate,
            held_now: AtomicUsize::new(0),
            held_total: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/v1/embeddings", post(embeddings))
            .route("/embeddings", post(embeddings))
            .with_state(Arc::clone(&shared));
        let handle = ServerHandle::serve("embeddings", router).await?;
        Ok(Self { shared, handle })
    }

    /// Base URL (`http://127.0.0.1:PORT`); the API is at `{url}/v1/embeddings`.
    pub fn url(&self) -> String {
        format!("http://{}", self.handle.addr())
    }

    /// The listening address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.handle.addr()
    }

    /// Every request received so far (held requests appear once answered).
    pub fn requests(&self) -> Vec<EmbedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Number of requests recorded so far.
    pub fn request_count(&self) -> usize {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Sum of input texts over the requests recorded so far.
    pub fn texts_received(&self) -> u64 {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|r| u64::from(r.inputs))
            .sum()
    }

    /// Switch how following requests are answered.
    pub fn set_mode(&self, mode: Mode) {
        *self
            .shared
            .mode
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self
            .shared
            .mode
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Open the gate: held requests proceed, new ones are not held.
    pub fn open_gate(&self) {
        self.shared.gate.send_replace(true);
    }

    /// Close the gate: following requests are held until it opens (or the
    /// maximum hold passes).
    pub fn close_gate(&self) {
        self.shared.gate.send_replace(false);
    }

    /// Whether the gate is open.
    pub fn gate_is_open(&self) -> bool {
        *self.shared.gate.borrow()
    }

    /// Requests waiting at the gate right now.
    pub fn held_now(&self) -> usize {
        self.shared.held_now.load(Ordering::SeqCst)
    }

    /// Requests that ever waited at the gate.
    pub fn held_total(&self) -> usize {
        self.shared.held_total.load(Ordering::SeqCst)
    }
}

fn error_body(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"message": message, "type": "harness_fault", "code": status.as_u16()}})),
    )
        .into_response()
}

/// The texts of an OpenAI `input`: a string, or an array of strings (other
/// items, e.g. token arrays, are embedded from their JSON text).
fn input_texts(input: &Value) -> Option<Vec<String>> {
    match input {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => Some(
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        ),
        _ => None,
    }
}

async fn embeddings(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            shared.record(EmbedRequest {
                model: None,
                inputs: 0,
                answered: "bad_request".to_owned(),
                status: 400,
            });
            return error_body(
                StatusCode::BAD_REQUEST,
                &format!("request body is not JSON: {e}"),
            );
        }
    };
    let model = parsed
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(texts) = parsed.get("input").and_then(input_texts) else {
        shared.record(EmbedRequest {
            model,
            inputs: 0,
            answered: "bad_request".to_owned(),
            status: 400,
        });
        return error_body(
            StatusCode::BAD_REQUEST,
            "field `input` must be a string or an array of strings",
        );
    };
    let inputs = u32::try_from(texts.len()).unwrap_or(u32::MAX);

    // The gate: hold the request while it is closed, up to the maximum hold.
    let mut gate = shared.gate.subscribe();
    if !*gate.borrow_and_update() {
        shared.held_now.fetch_add(1, Ordering::SeqCst);
        shared.held_total.fetch_add(1, Ordering::SeqCst);
        let _guard = HeldGuard(&shared.held_now);
        // `wait_for` hands back a read guard of the channel: drop it at once.
        let opened = matches!(
            tokio::time::timeout(shared.max_hold, gate.wait_for(|open| *open)).await,
            Ok(Ok(_))
        );
        if !opened {
            shared.record(EmbedRequest {
                model,
                inputs,
                answered: "closed".to_owned(),
                status: 503,
            });
            return error_body(
                StatusCode::SERVICE_UNAVAILABLE,
                "the harness held this request at its closed gate for too long",
            );
        }
    }

    let mode = *shared.mode.lock().unwrap_or_else(PoisonError::into_inner);
    let status = match mode {
        Mode::Error500 => 500,
        Mode::Ok | Mode::Delay(_) | Mode::Garbage => 200,
    };
    shared.record(EmbedRequest {
        model: model.clone(),
        inputs,
        answered: mode.answered().to_owned(),
        status,
    });
    match mode {
        Mode::Error500 => error_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected fault: the harness's embeddings server answers 500",
        ),
        Mode::Garbage => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"object\": \"list\", \"data\": [ garbage",
        )
            .into_response(),
        Mode::Delay(delay) => {
            tokio::time::sleep(delay).await;
            ok_body(&shared, model, texts).await
        }
        Mode::Ok => ok_body(&shared, model, texts).await,
    }
}

async fn ok_body(shared: &Arc<Shared>, model: Option<String>, texts: Vec<String>) -> Response {
    let vectors: Vec<Vec<f32>> = match &shared.source {
        None => texts.iter().map(|t| embed_text(t, shared.dim)).collect(),
        Some(source) => {
            let source = Arc::clone(source);
            let batch = texts.clone();
            match tokio::task::spawn_blocking(move || source.embed(&batch)).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    return error_body(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &format!("the harness's model failed: {e}"),
                    );
                }
                Err(e) => {
                    return error_body(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &format!("the harness's model task failed: {e}"),
                    );
                }
            }
        }
    };
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
        .collect();
    let token_count: usize = texts.iter().map(|t| tokens(t).len()).sum();
    axum::Json(json!({
        "object": "list",
        "data": data,
        "model": model.unwrap_or_else(|| shared.default_model.clone()),
        "usage": {"prompt_tokens": token_count, "total_tokens": token_count},
    }))
    .into_response()
}

/// Lowercase tokens of `text`: runs of alphanumerics, further split at
/// snake_case, camelCase humps (`parseHTTPRequest` → `parse`, `http`,
/// `request`) and letter/digit boundaries; each token lowercased as a whole
/// (Unicode rules: a final `Σ` becomes `ς`). Digits are ASCII digits and,
/// outside ASCII, numeric characters without case (`²` splits, `Ⅻ` is a
/// letter). The reference server's `text::words` follows the same rules
/// (checked by `tests/text_crosscheck.rs`); this copy is kept so the
/// harness does not depend on the server.
pub fn tokens(text: &str) -> Vec<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Class {
        Upper,
        Lower,
        Digit,
        Other,
    }
    let class = |c: char| {
        if c.is_uppercase() {
            Class::Upper
        } else if c.is_lowercase() {
            Class::Lower
        } else if c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric()) {
            Class::Digit
        } else {
            Class::Other
        }
    };
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (k, &(i, c)) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if let Some(s) = start.take() {
                out.push(text[s..i].to_lowercase());
            }
            continue;
        }
        if let Some(s) = start {
            let prev = class(chars[k - 1].1);
            let cur = class(c);
            let next = chars.get(k + 1).map(|&(_, n)| class(n));
            let boundary = match (prev, cur) {
                (Class::Lower, Class::Upper) => true,
                // `HTTPServer`: split before the `S` that starts a word.
                (Class::Upper, Class::Upper) => next == Some(Class::Lower),
                (Class::Digit, other) | (other, Class::Digit) => other != Class::Digit,
                _ => false,
            };
            if boundary {
                out.push(text[s..i].to_lowercase());
                start = Some(i);
            }
        } else {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push(text[s..].to_lowercase());
    }
    out
}

/// FNV-1a, 64 bits: stable across runs and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The deterministic vector of `text`: each token adds ±1 at a hashed
/// position, then the vector is L2 normalised. A text without tokens maps to
/// the first unit vector (never a zero vector).
pub fn embed_text(text: &str, dim: usize) -> Vec<f32> {
    let dim = dim.max(1);
    let mut v = vec![0f32; dim];
    for token in tokens(text) {
        let h = fnv1a(token.as_bytes());
        let idx = (h % dim as u64) as usize;
        let sign = if (h >> 63) == 0 { 1.0 } else { -1.0 };
        v[idx] += sign;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x /= norm;
        }
    } else {
        v[0] = 1.0;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn tokens_split_case_and_separators() {
        assert_eq!(
            tokens("parseHTTPRequest load_index v2beta"),
            [
                "parse", "http", "request", "load", "index", "v", "2", "beta"
            ]
        );
        assert_eq!(tokens("  --  "), Vec::<String>::new());
    }

    #[test]
    fn vectors_are_deterministic_normalised_and_similar_for_similar_texts() {
        let a = embed_text("parse the config file", 64);
        assert_eq!(a, embed_text("parse the config file", 64));
        assert_eq!(a.len(), 64);
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        let similar = embed_text("parseConfigFile", 64);
        let other = embed_text("render widgets on screen quickly", 64);
        assert!(cosine(&a, &similar) > cosine(&a, &other));
        let empty = embed_text("", 8);
        assert!((empty[0] - 1.0).abs() < f32::EPSILON);
    }

    async fn post(server: &EmbeddingsServer, body: &str) -> reqwest::Response {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{}/v1/embeddings", server.url()))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn ok_mode_answers_openai_shape_and_records() {
        let server = EmbeddingsServer::start(EmbeddingsConfig {
            dim: 8,
            ..EmbeddingsConfig::default()
        })
        .await
        .unwrap();
        let resp = post(&server, r#"{"model":"m1","input":["a b","c"]}"#).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["object"], "list");
        assert_eq!(body["model"], "m1");
        assert_eq!(body["data"][1]["index"], 1);
        assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 8);
        let resp = post(&server, r#"{"input":"single"}"#).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            server.requests(),
            vec![
                EmbedRequest {
                    model: Some("m1".into()),
                    inputs: 2,
                    answered: "ok".into(),
                    status: 200
                },
                EmbedRequest {
                    model: None,
                    inputs: 1,
                    answered: "ok".into(),
                    status: 200
                },
            ]
        );
        assert_eq!(server.texts_received(), 3);
    }

    #[tokio::test]
    async fn fault_modes_answer_as_switched() {
        let server = EmbeddingsServer::start(EmbeddingsConfig::default())
            .await
            .unwrap();
        server.set_mode(Mode::Error500);
        assert_eq!(post(&server, r#"{"input":"x"}"#).await.status(), 500);
        server.set_mode(Mode::Garbage);
        let resp = post(&server, r#"{"input":"x"}"#).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.json::<Value>().await.is_err());
        server.set_mode(Mode::Delay(Duration::from_millis(300)));
        let started = std::time::Instant::now();
        assert_eq!(post(&server, r#"{"input":"x"}"#).await.status(), 200);
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(post(&server, "not json").await.status(), 400);
        let answered: Vec<String> = server.requests().into_iter().map(|r| r.answered).collect();
        assert_eq!(answered, ["error_500", "garbage", "delay", "bad_request"]);
    }

    #[tokio::test]
    async fn gate_holds_until_opened_or_max_hold() {
        let server = Arc::new(
            EmbeddingsServer::start(EmbeddingsConfig {
                gate_open: false,
                max_hold: Duration::from_secs(10),
                ..EmbeddingsConfig::default()
            })
            .await
            .unwrap(),
        );
        let s2 = Arc::clone(&server);
        let pending = tokio::spawn(async move { post(&s2, r#"{"input":"x"}"#).await.status() });
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while server.held_now() == 0 {
            assert!(std::time::Instant::now() < deadline, "request never held");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(server.request_count(), 0, "held request answered early");
        assert!(!pending.is_finished());
        server.open_gate();
        assert_eq!(pending.await.unwrap(), 200);
        assert_eq!(server.held_now(), 0);
        assert_eq!(server.held_total(), 1);

        let short = EmbeddingsServer::start(EmbeddingsConfig {
            gate_open: false,
            max_hold: Duration::from_millis(100),
            ..EmbeddingsConfig::default()
        })
        .await
        .unwrap();
        assert_eq!(post(&short, r#"{"input":"x"}"#).await.status(), 503);
        assert_eq!(short.requests()[0].answered, "closed");
    }
}
