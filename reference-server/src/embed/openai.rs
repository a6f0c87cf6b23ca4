//! OpenAI-compatible embeddings client: `POST {base}/v1/embeddings` with
//! `{"model", "input": [...], "encoding_format": "base64"}` (floats as base64;
//! "float" from the first refusal on) (vLLM, TEI,
//! Ollama's OpenAI API, OpenAI).
//!
//! # Behaviour
//! - `embed` splits its texts into batches of `batch_size`, runs up to
//!   `max_concurrency` batch requests at once and returns one vector per text
//!   in input order. The first failing batch fails the call (batches still in
//!   flight are cancelled).
//! - Each batch request is retried (exponential backoff with jitter, capped at
//!   `backoff_max`, at least the server's `Retry-After`) on connection errors,
//!   timeouts, 429 and 5xx, up to `max_retries` times; other 4xx, malformed
//!   answers and dimension mismatches fail at once.
//! - The dimension is the configured one, or the first one seen; every later
//!   vector must have it.
//!
//! # Telemetry
//! - Metrics: one `record_embed(client="openai", model, elapsed, batch_len,
//!   outcome)` per HTTP **attempt** (retries and failures included; an
//!   attempt cancelled in flight is recorded as an error), so the sum of
//!   `codeintel_embed_batch_size` equals the texts the server received
//!   (MET-007) and failed calls are counted (MET-008).
//! - Traces: one CLIENT span per **batch request** (logical request, retries
//!   included) named `embeddings {model}` (tracing name `embeddings`, OTel
//!   name through `otel.name`), with the GenAI attributes
//!   `gen_ai.operation.name=embeddings`, `gen_ai.provider.name` and
//!   `gen_ai.system` (`openai`), `gen_ai.request.model`, `server.address`,
//!   `server.port`, `http.request.method`, and, when known,
//!   `gen_ai.response.model`, `gen_ai.usage.input_tokens`,
//!   `gen_ai.embeddings.dimension.count`, `http.response.status_code`;
//!   `codeintel.embed.texts` / `codeintel.embed.chars` (never the texts
//!   themselves) and `codeintel.embed.attempts`. A retried attempt adds a WARN
//!   event `embeddings request failed, retrying`. A final failure sets
//!   `error.type`, the status ERROR with the error message as description
//!   (`otel.status_code` / `otel.status_description`), and adds an ERROR
//!   event named `exception` carrying `exception.type` (e.g.
//!   `EmbedError::Status`) and `exception.message` (explicit fields, so it does not depend on the
//!   layer's `error_events_to_exceptions` option).
//! - The W3C trace context of the batch span is injected into each request
//!   through the global text-map propagator.

use std::fmt;
use std::hash::BuildHasher as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{StreamExt as _, stream};
use opentelemetry::propagation::Injector;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::breaker::{Admit, Breaker};
use super::{EmbedError, Embedder};
use crate::observability::metrics::{Metrics, Outcome};

/// The `client` metric label and `gen_ai.provider.name` of this client.
pub const CLIENT_NAME: &str = "openai";

/// Default texts per request.
pub const DEFAULT_BATCH_SIZE: usize = 32;
/// Default batch requests in flight at once.
pub const DEFAULT_MAX_CONCURRENCY: usize = 4;
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Default first backoff delay (doubled per retry).
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Default cap of one backoff delay.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Longest excerpt of an error body kept in [`EmbedError::Status`].
const BODY_EXCERPT_CHARS: usize = 300;

/// Configuration of [`OpenAiEmbedder`]. `Debug` never shows the API key.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenAiConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:8000`. The client posts
    /// to `{base_url}/v1/embeddings`; a base that already ends in `/v1` (or
    /// in `/v1/embeddings`) is accepted as is.
    pub base_url: String,
    /// Model name sent in each request.
    pub model: String,
    /// Bearer token sent as `Authorization: Bearer …`; never logged.
    pub api_key: Option<String>,
    /// Texts per request (≥ 1).
    pub batch_size: usize,
    /// Batch requests in flight at once (≥ 1).
    pub max_concurrency: usize,
    /// Per-request timeout (connect, send and read the whole answer).
    pub timeout: Duration,
    /// Retries after the first attempt on retryable failures.
    pub max_retries: u32,
    /// First retry delay; doubled per retry, with jitter (×0.5–1).
    pub backoff_base: Duration,
    /// Cap of one retry delay (also caps `Retry-After`).
    pub backoff_max: Duration,
    /// The vector dimension every answer must have; `None`: detected on the
    /// first successful answer, then enforced.
    pub expected_dimension: Option<usize>,
    /// Consecutive failed attempts (connection errors, timeouts, 5xx) that
    /// open the circuit breaker; 0 turns it off.
    pub breaker_threshold: u32,
    /// How long the open breaker answers at once before one probe request.
    pub breaker_cooldown: Duration,
}

impl OpenAiConfig {
    /// A configuration with the defaults (batch 32, 4 in flight, 10 s
    /// timeout, 3 retries from 100 ms, no key, dimension detected).
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            batch_size: DEFAULT_BATCH_SIZE,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
            expected_dimension: None,
            breaker_threshold: super::breaker::DEFAULT_THRESHOLD,
            breaker_cooldown: super::breaker::DEFAULT_COOLDOWN,
        }
    }
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("batch_size", &self.batch_size)
            .field("max_concurrency", &self.max_concurrency)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_max", &self.backoff_max)
            .field("expected_dimension", &self.expected_dimension)
            .field("breaker_threshold", &self.breaker_threshold)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .finish()
    }
}

/// Where requests go, and how the URL is shown (credentials removed).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    url: reqwest::Url,
    display: String,
    address: String,
    port: u16,
}

fn endpoint(base_url: &str) -> Result<Endpoint, EmbedError> {
    let trimmed = base_url.trim();
    if trimmed.is_empty() {
        return Err(EmbedError::Config(
            "the embeddings server URL is empty: set CODEINTEL_VLLM_URL, e.g. http://127.0.0.1:8000"
                .to_owned(),
        ));
    }
    let mut url = reqwest::Url::parse(trimmed).map_err(|e| {
        EmbedError::Config(format!(
            "the embeddings server URL `{trimmed}` is not a URL ({e}): \
             set CODEINTEL_VLLM_URL to e.g. http://127.0.0.1:8000"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(EmbedError::Config(format!(
            "the embeddings server URL `{trimmed}` must start with http:// or https:// \
             (set CODEINTEL_VLLM_URL to e.g. http://127.0.0.1:8000)"
        )));
    }
    let Some(host) = url.host_str().map(str::to_owned) else {
        return Err(EmbedError::Config(format!(
            "the embeddings server URL `{trimmed}` has no host (set CODEINTEL_VLLM_URL to e.g. http://127.0.0.1:8000)"
        )));
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let path = url.path().trim_end_matches('/').to_owned();
    let path = if path.ends_with("/v1/embeddings") {
        path
    } else if path.ends_with("/v1") {
        format!("{path}/embeddings")
    } else {
        format!("{path}/v1/embeddings")
    };
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    let mut shown = url.clone();
    // Both only fail on URLs that cannot carry credentials, which then have none.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    Ok(Endpoint {
        display: shown.to_string(),
        url,
        address: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    })
}

/// The OpenAI-compatible HTTP embedder. See the module documentation.
pub struct OpenAiEmbedder {
    cfg: OpenAiConfig,
    endpoint: Endpoint,
    client: reqwest::Client,
    metrics: Metrics,
    dimension: OnceLock<usize>,
    span_name: String,
    /// Cleared for good when the server refuses `encoding_format: base64`.
    base64: AtomicBool,
    /// Stops sending to a server that keeps failing (see [`Breaker`]).
    breaker: Breaker,
    /// The last failure that counted towards the breaker (for its message).
    last_down: std::sync::Mutex<String>,
}

impl fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("cfg", &self.cfg)
            .field("endpoint", &self.endpoint.display)
            .field("dimension", &self.dimension.get())
            .finish_non_exhaustive()
    }
}

impl OpenAiEmbedder {
    /// Validates `cfg` and builds the HTTP client (no request is made).
    pub fn new(mut cfg: OpenAiConfig, metrics: Metrics) -> Result<Self, EmbedError> {
        let endpoint = endpoint(&cfg.base_url)?;
        let trimmed = cfg.model.trim().to_owned();
        cfg.model = trimmed;
        if cfg.model.is_empty() {
            return Err(EmbedError::Config(
                "the embedding model name is empty: set CODEINTEL_EMBED_MODEL".to_owned(),
            ));
        }
        if cfg.batch_size == 0 {
            return Err(EmbedError::Config(
                "the embed batch size is 0: use at least 1 (default 32)".to_owned(),
            ));
        }
        if cfg.max_concurrency == 0 {
            return Err(EmbedError::Config(
                "the embed concurrency is 0: use at least 1 (default 4)".to_owned(),
            ));
        }
        if cfg.timeout.is_zero() {
            return Err(EmbedError::Config(
                "the embed timeout is 0: use a positive duration (default 10 s)".to_owned(),
            ));
        }
        if cfg.expected_dimension == Some(0) {
            return Err(EmbedError::Config(
                "the expected embedding dimension is 0: leave it unset to detect it".to_owned(),
            ));
        }
        if cfg.api_key.as_deref().is_some_and(|k| k.trim().is_empty()) {
            cfg.api_key = None;
        }
        if let Some(key) = &cfg.api_key
            && HeaderValue::from_str(&format!("Bearer {key}")).is_err()
        {
            return Err(EmbedError::Config(
                "the embeddings API key holds characters not allowed in an HTTP header \
                 (newline or control character?)"
                    .to_owned(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(cfg.max_concurrency)
            .user_agent(concat!("codeintel-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EmbedError::Config(format!("cannot build the HTTP client: {e}")))?;
        let dimension = OnceLock::new();
        if let Some(d) = cfg.expected_dimension {
            let _ = dimension.set(d);
        }
        Ok(Self {
            breaker: Breaker::new(cfg.breaker_threshold, cfg.breaker_cooldown),
            last_down: std::sync::Mutex::new(String::new()),
            span_name: format!("embeddings {}", cfg.model),
            cfg,
            endpoint,
            client,
            metrics,
            dimension,
            base64: AtomicBool::new(true),
        })
    }

    /// The full endpoint URL requests are posted to (credentials removed).
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint.display
    }

    /// The configuration in use (model name trimmed).
    pub fn config(&self) -> &OpenAiConfig {
        &self.cfg
    }

    /// Whether the circuit breaker refuses calls now (the server failed
    /// `breaker_threshold` times in a row and the cool-down is running).
    pub fn breaker_open(&self) -> bool {
        self.breaker.is_open(Instant::now())
    }

    /// The breaker's answer for one attempt: `Err` when it refuses (counted
    /// in `codeintel_embed_breaker_rejections_total`).
    fn admit(&self) -> Result<Admit, EmbedError> {
        match self.breaker.admit(Instant::now()) {
            Admit::Reject { retry_in, failures } => Err(self.rejection(retry_in, failures)),
            admit => Ok(admit),
        }
    }

    fn rejection(&self, retry_in: Duration, failures: u32) -> EmbedError {
        self.metrics.record_breaker_rejection(CLIENT_NAME);
        EmbedError::CircuitOpen {
            url: self.endpoint.display.clone(),
            failures,
            retry_in,
            last: self
                .last_down
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }

    /// Tells the breaker how an attempt ended.
    fn report(&self, error: Option<&EmbedError>) {
        match error {
            Some(e) if e.is_down() => {
                *self
                    .last_down
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = e.to_string();
                if self.breaker.on_failure(Instant::now()) {
                    tracing::error!(
                        url = %self.endpoint.display,
                        threshold = i64::from(self.cfg.breaker_threshold),
                        cooldown_ms = self.cfg.breaker_cooldown.as_millis() as i64,
                        reason = %e,
                        "the embeddings server keeps failing: circuit breaker open, \
                         calls fail at once until a probe succeeds"
                    );
                }
            }
            // Any answer (even a 4xx or a 429) shows the server is alive.
            _ => self.breaker.on_success(),
        }
    }

    /// Embeds texts in batches, `max_concurrency` at once, in input order.
    async fn embed_all(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // An open breaker answers at once, without a request, but still in
        // each batch's embedding span (ERROR, `error.type` = circuit_open):
        // a failed embed call always leaves its span (TRC-006).
        // Futures are lazy: each batch's span and request start when
        // `buffer_unordered` first polls it.
        let batches: Vec<_> = texts
            .chunks(self.cfg.batch_size)
            .enumerate()
            .map(|(i, batch)| self.embed_indexed(i, batch))
            .collect();
        let mut slots: Vec<Option<Vec<Vec<f32>>>> = vec![None; batches.len()];
        let mut results = stream::iter(batches).buffer_unordered(self.cfg.max_concurrency);
        while let Some((i, result)) = results.next().await {
            slots[i] = Some(result?);
        }
        let mut out = Vec::with_capacity(texts.len());
        for slot in slots {
            out.extend(slot.unwrap_or_default());
        }
        if out.len() != texts.len() {
            return Err(EmbedError::CountMismatch {
                url: self.endpoint.display.clone(),
                sent: texts.len(),
                got: out.len(),
            });
        }
        Ok(out)
    }

    async fn embed_indexed(
        &self,
        i: usize,
        batch: &[String],
    ) -> (usize, Result<Vec<Vec<f32>>, EmbedError>) {
        (i, self.embed_batch(batch).await)
    }

    /// One batch request, retried, in its own span.
    async fn embed_batch(&self, batch: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let chars: usize = batch.iter().map(|t| t.chars().count()).sum();
        let span = tracing::info_span!(
            "embeddings",
            otel.name = %self.span_name,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty,
            gen_ai.operation.name = "embeddings",
            gen_ai.provider.name = CLIENT_NAME,
            gen_ai.system = CLIENT_NAME,
            gen_ai.request.model = %self.cfg.model,
            gen_ai.response.model = tracing::field::Empty,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.embeddings.dimension.count = tracing::field::Empty,
            server.address = %self.endpoint.address,
            server.port = i64::from(self.endpoint.port),
            http.request.method = "POST",
            http.response.status_code = tracing::field::Empty,
            "error.type" = tracing::field::Empty,
            codeintel.embed.texts = batch.len() as i64,
            codeintel.embed.chars = chars as i64,
            codeintel.embed.attempts = tracing::field::Empty,
        );
        self.retrying(batch, span.clone()).instrument(span).await
    }

    async fn retrying(
        &self,
        batch: &[String],
        span: tracing::Span,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        {
            let mut attempt: u32 = 0;
            loop {
                if let Err(e) = self.admit() {
                    // Opened during our retries (or by a concurrent call):
                    // stop here.
                    span.record("codeintel.embed.attempts", i64::from(attempt));
                    crate::observability::mark_failed(&span, e.kind(), Some(&e.to_string()));
                    tracing::error!(
                        parent: &span,
                        exception.message = %e,
                        "exception.type" = e.type_name(),
                        "exception"
                    );
                    return Err(e);
                }
                let recorder = AttemptRecorder::start(&self.metrics, &self.cfg.model, batch.len());
                let result = self.attempt(batch, &span).await;
                self.report(result.as_ref().err().map(|f| &f.error));
                recorder.finish(if result.is_ok() {
                    Outcome::Ok
                } else {
                    Outcome::Error
                });
                // Numbers are recorded as i64: tracing-opentelemetry maps u64
                // fields to strings.
                let attempts = i64::from(attempt) + 1;
                match result {
                    Ok(ok) => {
                        span.record("http.response.status_code", i64::from(ok.status));
                        span.record("codeintel.embed.attempts", attempts);
                        span.record("gen_ai.embeddings.dimension.count", ok.dimension as i64);
                        if let Some(model) = &ok.parsed.model {
                            span.record("gen_ai.response.model", model.as_str());
                        }
                        if let Some(tokens) =
                            ok.parsed.input_tokens.and_then(|t| i64::try_from(t).ok())
                        {
                            span.record("gen_ai.usage.input_tokens", tokens);
                        }
                        return Ok(ok.parsed.vectors);
                    }
                    Err(failed)
                        if failed.error.is_retryable() && attempt < self.cfg.max_retries =>
                    {
                        let delay = backoff_delay(
                            self.cfg.backoff_base,
                            self.cfg.backoff_max,
                            attempt,
                            failed.retry_after,
                            jitter(),
                        );
                        tracing::warn!(
                            parent: &span,
                            attempt = attempts,
                            retry_in_ms = delay.as_millis() as i64,
                            "error.type" = failed.error.kind(),
                            reason = %failed.error,
                            "embeddings request failed, retrying"
                        );
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                    Err(failed) => {
                        let e = failed.error;
                        if let Some(status) = failed.status {
                            span.record("http.response.status_code", i64::from(status));
                        }
                        span.record("codeintel.embed.attempts", attempts);
                        // Status first, then the ERROR event (see `mark_failed`).
                        crate::observability::mark_failed(&span, e.kind(), Some(&e.to_string()));
                        tracing::error!(
                            parent: &span,
                            exception.message = %e,
                            "exception.type" = e.type_name(),
                            attempts,
                            "exception"
                        );
                        return Err(e);
                    }
                }
            }
        }
    }

    /// One HTTP attempt: send, read, parse, check the dimension.
    async fn attempt(
        &self,
        batch: &[String],
        span: &tracing::Span,
    ) -> Result<AttemptOk, AttemptFailed> {
        let mut headers = HeaderMap::new();
        let cx = span.context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut HeaderInjector(&mut headers));
        });
        drop(cx);
        let mut response = self.send(batch, &headers).await?;
        // A server that refuses base64 (400/422 naming the encoding) gets
        // floats from now on; the same attempt is re-sent once as floats.
        if self.base64.load(Ordering::Relaxed) && matches!(response.status().as_u16(), 400 | 422) {
            let status = response.status().as_u16();
            let body = response.bytes().await.unwrap_or_default();
            let text = String::from_utf8_lossy(&body).to_ascii_lowercase();
            if text.contains("encoding") || text.contains("base64") {
                self.base64.store(false, Ordering::Relaxed);
                tracing::info!(
                    parent: span,
                    "the embeddings server refuses encoding_format=base64; using float"
                );
                response = self.send(batch, &headers).await?;
            } else {
                return Err(AttemptFailed::new(
                    EmbedError::Status {
                        url: self.endpoint.display.clone(),
                        status,
                        body_excerpt: excerpt(&body, BODY_EXCERPT_CHARS),
                    },
                    Some(status),
                    None,
                ));
            }
        }
        let status = response.status().as_u16();
        let retry_after = parse_retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| AttemptFailed::new(self.transport_error(e), Some(status), retry_after))?;
        if !(200..300).contains(&status) {
            return Err(AttemptFailed::new(
                EmbedError::Status {
                    url: self.endpoint.display.clone(),
                    status,
                    body_excerpt: excerpt(&body, BODY_EXCERPT_CHARS),
                },
                Some(status),
                retry_after,
            ));
        }
        let parsed = parse_response(&body, batch.len()).map_err(|f| {
            let error = match f {
                ParseFailure::Malformed(what) => EmbedError::Malformed {
                    url: self.endpoint.display.clone(),
                    what,
                },
                ParseFailure::Count { got } => EmbedError::CountMismatch {
                    url: self.endpoint.display.clone(),
                    sent: batch.len(),
                    got,
                },
            };
            AttemptFailed::new(error, Some(status), None)
        })?;
        let got = parsed.vectors.first().map_or(0, Vec::len);
        let expected = *self.dimension.get_or_init(|| got);
        if got != expected {
            return Err(AttemptFailed::new(
                EmbedError::Dimension {
                    expected,
                    got,
                    url: self.endpoint.display.clone(),
                },
                Some(status),
                None,
            ));
        }
        Ok(AttemptOk {
            parsed,
            status,
            dimension: got,
        })
    }

    /// Sends one request (base64 encoding unless the server refused it).
    async fn send(
        &self,
        batch: &[String],
        headers: &HeaderMap,
    ) -> Result<reqwest::Response, AttemptFailed> {
        let mut request = self
            .client
            .post(self.endpoint.url.clone())
            .headers(headers.clone())
            .json(&EmbeddingsRequest {
                model: &self.cfg.model,
                input: batch,
                encoding_format: if self.base64.load(Ordering::Relaxed) {
                    "base64"
                } else {
                    "float"
                },
            });
        if let Some(key) = &self.cfg.api_key {
            request = request.bearer_auth(key);
        }
        request
            .send()
            .await
            .map_err(|e| AttemptFailed::new(self.transport_error(e), None, None))
    }

    fn transport_error(&self, e: reqwest::Error) -> EmbedError {
        if e.is_timeout() {
            EmbedError::Timeout {
                url: self.endpoint.display.clone(),
                after: self.cfg.timeout,
            }
        } else {
            EmbedError::Connect {
                url: self.endpoint.display.clone(),
                reason: error_chain(&e.without_url()),
            }
        }
    }
}

impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.cfg.model
    }

    fn client_name(&self) -> &'static str {
        CLIENT_NAME
    }

    fn dimension(&self) -> Option<usize> {
        self.dimension.get().copied()
    }

    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(self.embed_all(texts))
    }
}

#[derive(Serialize)]
struct EmbeddingsRequest<'a> {
    model: &'a str,
    input: &'a [String],
    encoding_format: &'static str,
}

struct AttemptOk {
    parsed: Parsed,
    status: u16,
    dimension: usize,
}

struct AttemptFailed {
    error: EmbedError,
    status: Option<u16>,
    retry_after: Option<Duration>,
}

impl AttemptFailed {
    fn new(error: EmbedError, status: Option<u16>, retry_after: Option<Duration>) -> Self {
        Self {
            error,
            status,
            retry_after,
        }
    }
}

/// Records one attempt in the metrics exactly once: with its outcome when
/// finished, as an error when dropped in flight (the caller gave up, or a
/// sibling batch failed), since the server may have received it.
struct AttemptRecorder<'a> {
    metrics: &'a Metrics,
    model: &'a str,
    batch_len: usize,
    start: Instant,
    done: bool,
}

impl<'a> AttemptRecorder<'a> {
    fn start(metrics: &'a Metrics, model: &'a str, batch_len: usize) -> Self {
        Self {
            metrics,
            model,
            batch_len,
            start: Instant::now(),
            done: false,
        }
    }

    fn finish(mut self, outcome: Outcome) {
        self.record(outcome);
    }

    fn record(&mut self, outcome: Outcome) {
        if !self.done {
            self.done = true;
            self.metrics.record_embed(
                CLIENT_NAME,
                self.model,
                self.start.elapsed(),
                self.batch_len,
                outcome,
            );
        }
    }
}

impl Drop for AttemptRecorder<'_> {
    fn drop(&mut self) {
        self.record(Outcome::Error);
    }
}

/// Writes propagation fields into request headers.
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// An error and its sources, deduplicated, joined by `: `.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut next = e.source();
    while let Some(src) = next {
        let s = src.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        next = src.source();
    }
    parts.join(": ")
}

/// `Retry-After` in seconds (the HTTP-date form is ignored).
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// Delay before retry number `attempt + 1`: `base · 2^attempt` capped at
/// `max`, scaled by `0.5 + 0.5 · jitter` (`jitter` in `[0, 1)`), and at least
/// `retry_after` (itself capped at `max`).
fn backoff_delay(
    base: Duration,
    max: Duration,
    attempt: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    let exp = base
        .saturating_mul(2_u32.saturating_pow(attempt.min(31)))
        .min(max);
    let jittered = exp.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    match retry_after {
        Some(ra) => jittered.max(ra.min(max)),
        None => jittered,
    }
}

/// A pseudo-random number in `[0, 1)` (std's randomly keyed hasher; no
/// extra dependency, good enough to spread retries).
fn jitter() -> f64 {
    let h = std::hash::RandomState::new().hash_one(Instant::now());
    (h >> 11) as f64 / (1_u64 << 53) as f64
}

/// The first `max_chars` characters of a body, whitespace collapsed.
fn excerpt(body: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return "(empty body)".to_owned();
    }
    let mut out: String = collapsed.chars().take(max_chars).collect();
    if collapsed.chars().count() > max_chars {
        out.push('…');
    }
    out
}

/// A parsed, validated embeddings answer: one vector per text, in input
/// order, all of one non-zero dimension.
#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    vectors: Vec<Vec<f32>>,
    model: Option<String>,
    input_tokens: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
enum ParseFailure {
    Malformed(String),
    Count { got: usize },
}

#[derive(Deserialize)]
struct WireResponse {
    data: Option<Vec<WireItem>>,
    model: Option<serde_json::Value>,
    usage: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireItem {
    index: Option<usize>,
    embedding: Option<WireEmbedding>,
}

/// A vector as JSON numbers, or as base64 of little-endian f32 (what
/// `encoding_format: "base64"` asks for; servers that ignore it send numbers).
#[derive(Deserialize)]
#[serde(untagged)]
enum WireEmbedding {
    Floats(Vec<f32>),
    Base64(String),
}

/// Decodes a base64 vector; `None` when it is not base64 of whole f32s.
fn decode_base64_vector(text: &str) -> Option<Vec<f32>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    if bytes.len() % 4 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// Parses an embeddings answer for `sent` texts. Items are placed by their
/// `index` (answers may come out of order); an item without `index` takes
/// its position.
fn parse_response(body: &[u8], sent: usize) -> Result<Parsed, ParseFailure> {
    let wire: WireResponse = serde_json::from_slice(body)
        .map_err(|e| ParseFailure::Malformed(diagnose(body, &e.to_string())))?;
    let Some(data) = wire.data else {
        return Err(ParseFailure::Malformed(diagnose(body, "missing `data`")));
    };
    if data.len() != sent {
        return Err(ParseFailure::Count { got: data.len() });
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; sent];
    let mut dim = None;
    for (i, item) in data.into_iter().enumerate() {
        let embedding = match item.embedding {
            None => {
                return Err(ParseFailure::Malformed(format!(
                    "missing data[{i}].embedding"
                )));
            }
            Some(WireEmbedding::Floats(v)) => v,
            Some(WireEmbedding::Base64(text)) => decode_base64_vector(&text).ok_or_else(|| {
                ParseFailure::Malformed(format!(
                    "data[{i}].embedding is a string that is not base64 of 32-bit floats"
                ))
            })?,
        };
        if embedding.is_empty() {
            return Err(ParseFailure::Malformed(format!(
                "data[{i}].embedding is empty"
            )));
        }
        if let Some(j) = embedding.iter().position(|x| !x.is_finite()) {
            return Err(ParseFailure::Malformed(format!(
                "data[{i}].embedding[{j}] is not a finite 32-bit float"
            )));
        }
        match dim {
            None => dim = Some((i, embedding.len())),
            Some((first, d)) if d != embedding.len() => {
                return Err(ParseFailure::Malformed(format!(
                    "vectors of different lengths in one answer: data[{first}].embedding has {d} numbers, \
                     data[{i}].embedding has {}",
                    embedding.len()
                )));
            }
            Some(_) => {}
        }
        let index = item.index.unwrap_or(i);
        let Some(slot) = slots.get_mut(index) else {
            return Err(ParseFailure::Malformed(format!(
                "data[{i}].index is {index} but only {sent} texts were sent"
            )));
        };
        if slot.is_some() {
            return Err(ParseFailure::Malformed(format!(
                "data[{i}].index {index} appears more than once"
            )));
        }
        *slot = Some(embedding);
    }
    let vectors = slots.into_iter().flatten().collect::<Vec<_>>();
    if vectors.len() != sent {
        return Err(ParseFailure::Count { got: vectors.len() });
    }
    Ok(Parsed {
        vectors,
        model: wire.model.and_then(|m| m.as_str().map(str::to_owned)),
        input_tokens: wire
            .usage
            .as_ref()
            .and_then(|u| u.get("prompt_tokens"))
            .and_then(serde_json::Value::as_u64),
    })
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Explains why a body is not a valid answer (slow path, errors only).
fn diagnose(body: &[u8], fallback: &str) -> String {
    use serde_json::Value;
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return format!(
                "the body is not JSON ({e}); it starts with: {}",
                excerpt(body, 120)
            );
        }
    };
    let Some(obj) = v.as_object() else {
        return format!(
            "the body is {} instead of an object with `data`",
            json_kind(&v)
        );
    };
    let Some(data) = obj.get("data").filter(|d| !d.is_null()) else {
        if let Some(err) = obj.get("error") {
            let text = serde_json::to_string(err).unwrap_or_default();
            return format!(
                "missing `data`; the server reported an error: {}",
                excerpt(text.as_bytes(), 200)
            );
        }
        return "missing `data`".to_owned();
    };
    let Some(items) = data.as_array() else {
        return format!("`data` is {}, expected an array", json_kind(data));
    };
    for (i, item) in items.iter().enumerate() {
        let Some(o) = item.as_object() else {
            return format!("data[{i}] is {}, expected an object", json_kind(item));
        };
        match o.get("embedding") {
            None | Some(Value::Null) => return format!("missing data[{i}].embedding"),
            Some(Value::String(_)) => {
                return format!(
                    "data[{i}].embedding is a string (base64?), expected an array of numbers \
                     (the server ignored encoding_format=float)"
                );
            }
            Some(Value::Array(xs)) => {
                if let Some((j, x)) = xs.iter().enumerate().find(|(_, x)| !x.is_number()) {
                    return format!(
                        "data[{i}].embedding[{j}] is {}, expected a number",
                        json_kind(x)
                    );
                }
            }
            Some(other) => {
                return format!(
                    "data[{i}].embedding is {}, expected an array of numbers",
                    json_kind(other)
                );
            }
        }
        match o.get("index") {
            None | Some(Value::Null) => {}
            Some(x) if x.as_u64().is_some() => {}
            Some(x) => return format!("data[{i}].index is {x}, expected a non-negative integer"),
        }
    }
    fallback.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_accepts_bases_with_or_without_v1() {
        let cases = [
            (
                "http://127.0.0.1:8000",
                "http://127.0.0.1:8000/v1/embeddings",
            ),
            (
                "http://127.0.0.1:8000/",
                "http://127.0.0.1:8000/v1/embeddings",
            ),
            (
                "http://127.0.0.1:8000/v1",
                "http://127.0.0.1:8000/v1/embeddings",
            ),
            (
                "http://127.0.0.1:8000/v1/",
                "http://127.0.0.1:8000/v1/embeddings",
            ),
            ("http://h/v1/embeddings", "http://h/v1/embeddings"),
            (
                "https://api.example.com/openai",
                "https://api.example.com/openai/v1/embeddings",
            ),
        ];
        for (base, want) in cases {
            assert_eq!(endpoint(base).unwrap().url.as_str(), want, "{base}");
        }
        let e = endpoint("https://user:secret@example.com").unwrap();
        assert_eq!(e.display, "https://example.com/v1/embeddings");
        assert_eq!((e.address.as_str(), e.port), ("example.com", 443));
        let v6 = endpoint("http://[::1]:9000").unwrap();
        assert_eq!((v6.address.as_str(), v6.port), ("::1", 9000));
    }

    #[test]
    fn endpoint_rejects_non_urls_with_advice() {
        for bad in ["", "localhost:8000", "ftp://h", "not a url"] {
            let err = endpoint(bad).unwrap_err().to_string();
            assert!(err.contains("CODEINTEL_VLLM_URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn config_is_validated_and_key_redacted() {
        let mut cfg = OpenAiConfig::new("http://127.0.0.1:1", "m");
        cfg.api_key = Some("sk-secret".into());
        assert!(!format!("{cfg:?}").contains("sk-secret"));
        let e = OpenAiEmbedder::new(cfg.clone(), Metrics::noop()).unwrap();
        assert!(!format!("{e:?}").contains("sk-secret"));
        assert_eq!(e.endpoint_url(), "http://127.0.0.1:1/v1/embeddings");
        assert_eq!(e.dimension(), None);

        let bad = |f: fn(&mut OpenAiConfig)| {
            let mut c = OpenAiConfig::new("http://127.0.0.1:1", "m");
            f(&mut c);
            OpenAiEmbedder::new(c, Metrics::noop()).unwrap_err()
        };
        assert!(
            bad(|c| c.model = " ".into())
                .to_string()
                .contains("CODEINTEL_EMBED_MODEL")
        );
        assert!(bad(|c| c.batch_size = 0).to_string().contains("batch size"));
        assert!(
            bad(|c| c.max_concurrency = 0)
                .to_string()
                .contains("concurrency")
        );
        assert!(
            bad(|c| c.timeout = Duration::ZERO)
                .to_string()
                .contains("timeout")
        );
        assert!(
            bad(|c| c.expected_dimension = Some(0))
                .to_string()
                .contains("dimension")
        );
        assert!(
            bad(|c| c.api_key = Some("a\nb".into()))
                .to_string()
                .contains("API key")
        );

        let mut c = OpenAiConfig::new("http://127.0.0.1:1", "m");
        c.expected_dimension = Some(384);
        let e = OpenAiEmbedder::new(c, Metrics::noop()).unwrap();
        assert_eq!(e.dimension(), Some(384));
    }

    #[test]
    fn parses_out_of_order_answers_by_index() {
        let body = br#"{"object":"list","model":"m-1","usage":{"prompt_tokens":7,"total_tokens":7},
            "data":[{"index":2,"embedding":[3,3]},{"index":0,"embedding":[1,1]},{"index":1,"embedding":[2,2.5]}]}"#;
        let p = parse_response(body, 3).unwrap();
        assert_eq!(
            p.vectors,
            vec![vec![1.0, 1.0], vec![2.0, 2.5], vec![3.0, 3.0]]
        );
        assert_eq!(p.model.as_deref(), Some("m-1"));
        assert_eq!(p.input_tokens, Some(7));
        // Without `index`, position is used.
        let p = parse_response(br#"{"data":[{"embedding":[1]},{"embedding":[2]}]}"#, 2).unwrap();
        assert_eq!(p.vectors, vec![vec![1.0], vec![2.0]]);
    }

    #[test]
    fn malformed_answers_say_what_is_wrong() {
        let cases: &[(&[u8], usize)] = &[
            (b"<html>Bad Gateway</html>", 1),
            (b"[1,2]", 1),
            (br#"{"error":{"message":"model not loaded"}}"#, 1),
            (br#"{"data":{}}"#, 1),
            (br#"{"data":[{"index":0,"embedding":[1]},{"index":1},{"index":2,"embedding":[1]},{"index":3}]}"#, 4),
            (br#"{"data":[{"index":0,"embedding":"AAAA"}]}"#, 1),
            (br#"{"data":[{"index":0,"embedding":[1,"x"]}]}"#, 1),
            (br#"{"data":[{"index":0,"embedding":[]}]}"#, 1),
            (br#"{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1]}]}"#, 2),
            (br#"{"data":[{"index":5,"embedding":[1]}]}"#, 1),
            (br#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}"#, 2),
            (br#"{"data":[{"index":-1,"embedding":[1]}]}"#, 1),
            (br#"{"data":[{"index":0,"embedding":[1e300]}]}"#, 1),
        ];
        let text = cases
            .iter()
            .map(|(body, sent)| match parse_response(body, *sent) {
                Ok(p) => format!("unexpectedly parsed: {p:?}"),
                Err(f) => format!("{f:?}"),
            })
            .collect::<Vec<_>>()
            .join("\n");
        insta::assert_snapshot!(text);
        assert_eq!(
            parse_response(br#"{"data":[{"index":0,"embedding":[1]}]}"#, 2),
            Err(ParseFailure::Count { got: 1 })
        );
    }

    #[test]
    fn backoff_grows_is_capped_jittered_and_respects_retry_after() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        assert_eq!(
            backoff_delay(base, max, 0, None, 1.0),
            Duration::from_millis(100)
        );
        assert_eq!(
            backoff_delay(base, max, 0, None, 0.0),
            Duration::from_millis(50)
        );
        assert_eq!(
            backoff_delay(base, max, 3, None, 0.0),
            Duration::from_millis(400)
        );
        assert_eq!(
            backoff_delay(base, max, 40, None, 0.0),
            Duration::from_secs(1)
        );
        assert!(backoff_delay(base, max, 40, None, 0.999) <= max);
        assert_eq!(
            backoff_delay(base, max, 0, Some(Duration::from_secs(1)), 0.0),
            Duration::from_secs(1)
        );
        assert_eq!(
            backoff_delay(base, max, 0, Some(Duration::from_secs(60)), 0.0),
            max
        );
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }

    #[test]
    fn retry_after_and_excerpt() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static(" 3 "));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), None);
        assert_eq!(excerpt(b"  a\n\n b  ", 10), "a b");
        assert_eq!(excerpt(b"", 10), "(empty body)");
        assert_eq!(excerpt("ééééé".as_bytes(), 3), "ééé…");
    }
}
