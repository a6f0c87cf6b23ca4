//! Embedding: the [`Embedder`] trait and its implementations.
//!
//! - [`openai::OpenAiEmbedder`]: the OpenAI-compatible HTTP client
//!   (`POST {base}/v1/embeddings`; vLLM, TEI, Ollama's OpenAI API, OpenAI),
//!   with batching, bounded concurrency, timeouts, retries, dimension
//!   enforcement, one `codeintel_embed_*` observation per HTTP attempt and one
//!   span per batch request.
//! - [`stub::HashEmbedder`]: deterministic, offline, zero-cost (feature-hashed
//!   bag of code tokens) for tests, benches and demos; [`stub::hash_embedding`]
//!   is the pure function behind it.
//! - `stub::FailingEmbedder` (feature `testing` or unit tests): fails after N
//!   calls, for crash-in-the-middle tests.
//!
//! The embedder never logs or traces input texts: only their count and total
//! length.

pub mod breaker;
pub mod local;
pub mod openai;
pub mod select;
pub mod stub;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

pub use local::{LocalConfig, LocalEmbedder, LocalModelError};
pub use openai::{OpenAiConfig, OpenAiEmbedder};
pub use select::{EmbedderChoice, EmbedderKind};
pub use stub::{HashEmbedder, hash_embedding};

#[cfg(any(test, feature = "testing"))]
pub use stub::FailingEmbedder;

/// The environment variable naming the embeddings server (contract name).
pub const ENV_VLLM_URL: &str = "CODEINTEL_VLLM_URL";
/// The environment variable naming the embedding model (contract name).
pub const ENV_EMBED_MODEL: &str = "CODEINTEL_EMBED_MODEL";

/// Turns texts into vectors. Dyn-compatible: store it as `Arc<dyn Embedder>`.
pub trait Embedder: Send + Sync {
    /// The model name sent to the server (also the `model` metric label).
    fn model(&self) -> &str;

    /// A static name of the implementation (the `client` metric label).
    fn client_name(&self) -> &'static str;

    /// The vector dimension, once known (configured, or detected on the first
    /// successful call).
    fn dimension(&self) -> Option<usize>;

    /// Embeds any number of texts and returns one vector per text, in order.
    /// An empty input returns an empty output without any request.
    fn embed<'a>(&'a self, texts: &'a [String])
    -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>>;

    /// Embeds one text (a query).
    fn embed_one<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Vec<f32>, EmbedError>> {
        Box::pin(async move {
            let texts = [text.to_owned()];
            let mut out = self.embed(&texts).await?;
            match out.pop() {
                Some(v) if out.is_empty() => Ok(v),
                _ => Err(EmbedError::CountMismatch {
                    url: self.client_name().to_owned(),
                    sent: 1,
                    got: out.len() + 1,
                }),
            }
        })
    }
}

impl<T: Embedder + ?Sized> Embedder for Arc<T> {
    fn model(&self) -> &str {
        (**self).model()
    }
    fn client_name(&self) -> &'static str {
        (**self).client_name()
    }
    fn dimension(&self) -> Option<usize> {
        (**self).dimension()
    }
    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        (**self).embed(texts)
    }
    fn embed_one<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<Vec<f32>, EmbedError>> {
        (**self).embed_one(text)
    }
}

/// Why an embedding call failed. Every message names the URL (or the
/// setting) at fault and says what to do next.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EmbedError {
    /// The request could not be sent or its answer could not be read
    /// (connection refused, reset, DNS, TLS, ...).
    #[error(
        "cannot reach the embeddings server at {url}: {reason} \
         (is the embeddings server running? set CODEINTEL_VLLM_URL to its base URL, e.g. http://127.0.0.1:8000)"
    )]
    Connect { url: String, reason: String },

    /// No complete answer within the per-request timeout.
    #[error(
        "the embeddings server at {url} did not answer within {after:?} \
         (is it overloaded or still loading the model? raise the embed timeout or lower the batch size)"
    )]
    Timeout { url: String, after: Duration },

    /// The server answered with a non-success HTTP status.
    #[error(
        "the embeddings server at {url} answered HTTP {status}: {body_excerpt} ({hint})",
        hint = status_hint(*.status)
    )]
    Status {
        url: String,
        status: u16,
        body_excerpt: String,
    },

    /// The server answered 2xx with a body that is not a valid embeddings
    /// response.
    #[error(
        "the embeddings server at {url} sent a malformed response: {what} \
         (is CODEINTEL_VLLM_URL an OpenAI-compatible /v1/embeddings server?)"
    )]
    Malformed { url: String, what: String },

    /// A vector of another dimension than the configured or first-detected one.
    #[error(
        "the embeddings server at {url} returned vectors of dimension {got}, expected {expected} \
         (did the model behind the server change? an index built with another model must be rebuilt; \
         check CODEINTEL_EMBED_MODEL and the configured dimension)"
    )]
    Dimension {
        expected: usize,
        got: usize,
        url: String,
    },

    /// The server returned another number of vectors than texts sent.
    #[error(
        "the embeddings server at {url} returned {got} vectors for {sent} texts \
         (is it an OpenAI-compatible /v1/embeddings server? check CODEINTEL_VLLM_URL)"
    )]
    CountMismatch {
        url: String,
        sent: usize,
        got: usize,
    },

    /// Invalid client configuration (detected before any request).
    #[error("invalid embeddings configuration: {0}")]
    Config(String),

    /// The in-process model failed (tokenizer or inference).
    #[error("{0}")]
    Local(String),

    /// The circuit breaker is open: the server failed `failures` times in a
    /// row, so no request is sent until the next probe.
    #[error(
        "the embeddings server at {url} is considered down after {failures} consecutive failures \
         (last: {last}); no request sent, the next probe is in {retry_in:?} \
         (is the embeddings server running? check CODEINTEL_VLLM_URL)"
    )]
    CircuitOpen {
        url: String,
        failures: u32,
        retry_in: Duration,
        last: String,
    },
}

impl EmbedError {
    /// The server is down, overloaded or failing (connection errors,
    /// timeouts, 429 and 5xx): callers degrade (search answers from the
    /// sparse channel; indexing builds without the dense part). Other errors
    /// (4xx, malformed answers, dimension changes, configuration) point at a
    /// misconfiguration.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout { .. } | Self::CircuitOpen { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Malformed { .. }
            | Self::Dimension { .. }
            | Self::CountMismatch { .. }
            | Self::Config(_)
            | Self::Local(_) => false,
        }
    }

    /// The server is alive but throttling us (HTTP 429, still after the
    /// retries): "rate limited", not "unavailable", in what callers report.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::Status { status: 429, .. })
    }

    /// Whether this failure says the server is down (what opens the circuit
    /// breaker): connection errors, timeouts and 5xx. A 429 is an answer
    /// from a live server.
    pub fn is_down(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout { .. } => true,
            Self::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether another attempt may succeed: connection errors, timeouts,
    /// 429 and 5xx (except 501 Not Implemented and 505).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout { .. } => true,
            Self::Status { status, .. } => {
                *status == 429 || ((500..600).contains(status) && *status != 501 && *status != 505)
            }
            _ => false,
        }
    }

    /// The variant's type name (`EmbedError::Timeout`, ...), used as the
    /// exception event's `exception.type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "EmbedError::Connect",
            Self::Timeout { .. } => "EmbedError::Timeout",
            Self::Status { .. } => "EmbedError::Status",
            Self::Malformed { .. } => "EmbedError::Malformed",
            Self::Dimension { .. } => "EmbedError::Dimension",
            Self::CountMismatch { .. } => "EmbedError::CountMismatch",
            Self::Config(_) => "EmbedError::Config",
            Self::Local(_) => "EmbedError::Local",
            Self::CircuitOpen { .. } => "EmbedError::CircuitOpen",
        }
    }

    /// A short, bounded name of the failure kind (`timeout`, `http_500`,
    /// ...), used as the span's `error.type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Timeout { .. } => "timeout",
            Self::Status { status, .. } => match status {
                400 => "http_400",
                401 => "http_401",
                403 => "http_403",
                404 => "http_404",
                413 => "http_413",
                422 => "http_422",
                429 => "http_429",
                500 => "http_500",
                502 => "http_502",
                503 => "http_503",
                504 => "http_504",
                s if *s >= 500 => "http_5xx",
                _ => "http_4xx",
            },
            Self::Malformed { .. } => "malformed_response",
            Self::Dimension { .. } => "dimension_mismatch",
            Self::CountMismatch { .. } => "count_mismatch",
            Self::Config(_) => "config",
            Self::Local(_) => "local_model",
            Self::CircuitOpen { .. } => "circuit_open",
        }
    }
}

/// What to do about an HTTP status.
fn status_hint(status: u16) -> &'static str {
    match status {
        400 | 422 => {
            "check the model name (CODEINTEL_EMBED_MODEL) and that the texts fit the model's context"
        }
        401 | 403 => "check the API key sent as bearer token to the embeddings server",
        404 => {
            "check CODEINTEL_VLLM_URL, the client posts to <base>/v1/embeddings, \
             and the model name, CODEINTEL_EMBED_MODEL"
        }
        413 => "the request is too large: lower the embed batch size",
        429 => "the server is rate limiting: lower the embed concurrency or retry later",
        s if s >= 500 => "the embeddings server failed: check its logs",
        _ => "check the embeddings server's configuration and CODEINTEL_VLLM_URL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_errors() -> Vec<EmbedError> {
        let url = "http://127.0.0.1:8000/v1/embeddings".to_owned();
        vec![
            EmbedError::Connect {
                url: url.clone(),
                reason: "tcp connect error: Connection refused (os error 111)".into(),
            },
            EmbedError::Timeout {
                url: url.clone(),
                after: Duration::from_millis(200),
            },
            EmbedError::Status {
                url: url.clone(),
                status: 404,
                body_excerpt:
                    "{\"object\":\"error\",\"message\":\"The model `x` does not exist.\"}".into(),
            },
            EmbedError::Status {
                url: url.clone(),
                status: 401,
                body_excerpt: "unauthorized".into(),
            },
            EmbedError::Status {
                url: url.clone(),
                status: 503,
                body_excerpt: "(empty body)".into(),
            },
            EmbedError::Malformed {
                url: url.clone(),
                what: "missing data[3].embedding".into(),
            },
            EmbedError::Dimension {
                expected: 384,
                got: 768,
                url: url.clone(),
            },
            EmbedError::CountMismatch {
                url,
                sent: 4,
                got: 3,
            },
            EmbedError::Config(
                "base URL `localhost:8000` must start with http:// or https://".into(),
            ),
        ]
    }

    #[test]
    fn messages_name_the_url_and_the_next_step() {
        let text = all_errors()
            .iter()
            .map(|e| {
                format!(
                    "[{} {}] unavailable={} retry={}\n{e}",
                    e.type_name(),
                    e.kind(),
                    e.is_unavailable(),
                    e.is_retryable()
                )
            })
            .collect::<Vec<_>>()
            .join("\n\n");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn unavailable_and_retryable_classes() {
        let st = |status| EmbedError::Status {
            url: String::new(),
            status,
            body_excerpt: String::new(),
        };
        assert!(st(500).is_unavailable() && st(500).is_retryable());
        assert!(st(429).is_unavailable() && st(429).is_retryable());
        assert!(!st(400).is_unavailable() && !st(400).is_retryable());
        assert!(!st(404).is_retryable());
        assert!(st(501).is_unavailable() && !st(501).is_retryable());
        let dim = EmbedError::Dimension {
            expected: 1,
            got: 2,
            url: String::new(),
        };
        assert!(!dim.is_unavailable() && !dim.is_retryable());
    }

    #[tokio::test]
    async fn embed_one_and_arc_delegate() {
        let e: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(16));
        let via_arc = Arc::clone(&e);
        let one = via_arc.embed_one("parse config").await.unwrap();
        assert_eq!(one, hash_embedding("parse config", 16));
        assert_eq!(via_arc.dimension(), Some(16));
        assert_eq!(via_arc.client_name(), "hash");
    }
}
