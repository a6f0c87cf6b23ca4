//! Offline embedders: [`HashEmbedder`] (deterministic, zero-cost) and, for
//! tests, `FailingEmbedder`.
//!
//! [`hash_embedding`] is a pure function (no I/O, no globals, stable across
//! platforms and Rust versions: [`text::fnv1a`], not `DefaultHasher`; words
//! from [`text::words`]), so tests can predict vectors exactly.

use std::time::Instant;

use futures::future::BoxFuture;

use super::{EmbedError, Embedder};
use crate::observability::metrics::{Metrics, Outcome};
use crate::text;

/// Weight of a sub-word token (`parse`, `config` in `parseConfig`).
const WORD_WEIGHT: f32 = 1.0;
/// Weight of a whole compound identifier (`parseconfig`), so identifier
/// queries favour exact identifiers.
const IDENT_WEIGHT: f32 = 0.5;
/// Weight of each character trigram of a word (`par`, `ars`, ...), so
/// `parsing` and `parse` are close.
const TRIGRAM_WEIGHT: f32 = 0.3;

/// Splits text into lowercase code words ([`text::words`]: on
/// non-alphanumerics, on snake_case, on camelCase / PascalCase boundaries
/// with acronyms kept together — `HTTPServer` → `http`, `server` — and
/// between letters and digits), dropping the hash embedder's stopwords
/// ([`text::EMBED_STOPWORDS`]) and single characters.
pub fn code_words(text: &str) -> Vec<String> {
    text::words(text)
        .into_iter()
        .map(|t| t.text)
        .filter(|w| kept(w))
        .collect()
}

/// A word the hash embedder keeps: more than one character, not a stopword.
fn kept(word: &str) -> bool {
    word.chars().nth(1).is_some() && !text::is_embed_stopword(word)
}

fn add_feature(v: &mut [f32], feature: &str, weight: f32) {
    let h = text::fnv1a(feature.as_bytes(), 0);
    let bucket = (h % v.len() as u64) as usize;
    // The sign comes from independent bits, so collisions cancel on average.
    let sign = if text::fnv1a(feature.as_bytes(), 0x9e37_79b9_7f4a_7c15) & 1 == 0 {
        1.0
    } else {
        -1.0
    };
    v[bucket] += sign * weight;
}

/// A deterministic embedding of `text` in `dim` dimensions, L2-normalised:
/// a signed feature-hashed bag of code words (see [`code_words`]), plus each
/// whole compound identifier and each word's character trigrams at lower
/// weights. Texts sharing words have a high cosine similarity; unrelated
/// texts are near 0.
///
/// A text without any word (empty, punctuation only) hashes its trimmed
/// text as one feature, so the result is still a unit vector. `dim == 0`
/// returns an empty vector.
pub fn hash_embedding(text: &str, dim: usize) -> Vec<f32> {
    let mut v = vec![0.0_f32; dim];
    if dim == 0 {
        return v;
    }
    let mut any = false;
    for (s, e) in text::identifier_spans(text, false) {
        let words: Vec<String> = text::split_identifier(&text[s..e])
            .into_iter()
            .filter(|w| kept(w))
            .collect();
        if words.len() > 1 {
            add_feature(&mut v, &format!("#{}", words.concat()), IDENT_WEIGHT);
        }
        for w in &words {
            any = true;
            add_feature(&mut v, w, WORD_WEIGHT);
            let chars: Vec<char> = w.chars().collect();
            if chars.len() > 3 {
                for tri in chars.windows(3) {
                    let t: String = tri.iter().collect();
                    add_feature(&mut v, &format!("~{t}"), TRIGRAM_WEIGHT);
                }
            }
        }
    }
    if !any {
        add_feature(&mut v, &format!("!{}", text.trim()), 1.0);
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x /= norm;
        }
    }
    v
}

/// Deterministic offline embedder over [`hash_embedding`]: no network, no
/// model, microseconds per text. Used by tests, benches, and as a demo
/// fallback. Records one `codeintel_embed_*` observation per `embed` call
/// (client `hash`) when given real metrics.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dim: usize,
    model: String,
    metrics: Metrics,
}

impl HashEmbedder {
    /// The model name reported by [`HashEmbedder`].
    pub const MODEL: &'static str = "hash-embedder";

    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            model: Self::MODEL.to_owned(),
            metrics: Metrics::noop(),
        }
    }

    /// Records calls into `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reports another model name (e.g. to stand in for a configured one).
    #[must_use]
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// Embeds synchronously.
    pub fn embed_sync(&self, texts: &[String]) -> Vec<Vec<f32>> {
        texts.iter().map(|t| hash_embedding(t, self.dim)).collect()
    }
}

impl Embedder for HashEmbedder {
    fn model(&self) -> &str {
        &self.model
    }

    fn client_name(&self) -> &'static str {
        "hash"
    }

    fn dimension(&self) -> Option<usize> {
        Some(self.dim)
    }

    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(async move {
            if texts.is_empty() {
                return Ok(Vec::new());
            }
            let start = Instant::now();
            let out = self.embed_sync(texts);
            self.metrics.record_embed(
                "hash",
                &self.model,
                start.elapsed(),
                texts.len(),
                Outcome::Ok,
            );
            Ok(out)
        })
    }
}

#[cfg(any(test, feature = "testing"))]
pub use failing::FailingEmbedder;

#[cfg(any(test, feature = "testing"))]
mod failing {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::future::BoxFuture;

    use super::HashEmbedder;
    use crate::embed::{EmbedError, Embedder};

    type MakeError = dyn Fn(usize) -> EmbedError + Send + Sync;

    /// Test embedder: delegates the first `ok_calls` calls of `embed` to an
    /// inner embedder (a [`HashEmbedder`] by default), then fails every
    /// call. The default error is a [`EmbedError::Connect`] to
    /// `test://failing-embedder` (so `is_unavailable()` is true); choose
    /// another with [`FailingEmbedder::with_error`].
    pub struct FailingEmbedder {
        inner: Arc<dyn Embedder>,
        ok_calls: usize,
        calls: AtomicUsize,
        make_error: Box<MakeError>,
    }

    impl std::fmt::Debug for FailingEmbedder {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("FailingEmbedder")
                .field("ok_calls", &self.ok_calls)
                .field("calls", &self.calls.load(Ordering::SeqCst))
                .finish_non_exhaustive()
        }
    }

    impl FailingEmbedder {
        /// Fails every call.
        pub fn always(dim: usize) -> Self {
            Self::after_calls(0, Arc::new(HashEmbedder::new(dim)))
        }

        /// Succeeds `ok_calls` times through `inner`, then fails.
        pub fn after_calls(ok_calls: usize, inner: Arc<dyn Embedder>) -> Self {
            Self {
                inner,
                ok_calls,
                calls: AtomicUsize::new(0),
                make_error: Box::new(|call| EmbedError::Connect {
                    url: "test://failing-embedder".to_owned(),
                    reason: format!("injected failure on call {call}"),
                }),
            }
        }

        /// The error returned by failing calls (given the 1-based call
        /// number).
        #[must_use]
        pub fn with_error(
            mut self,
            f: impl Fn(usize) -> EmbedError + Send + Sync + 'static,
        ) -> Self {
            self.make_error = Box::new(f);
            self
        }

        /// `embed` calls so far (failed ones included).
        pub fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl Embedder for FailingEmbedder {
        fn model(&self) -> &str {
            self.inner.model()
        }

        fn client_name(&self) -> &'static str {
            "failing"
        }

        fn dimension(&self) -> Option<usize> {
            self.inner.dimension()
        }

        fn embed<'a>(
            &'a self,
            texts: &'a [String],
        ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if call > self.ok_calls {
                let err = (self.make_error)(call);
                return Box::pin(async move { Err(err) });
            }
            self.inner.embed(texts)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::split_identifier;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn splits_code_identifiers() {
        assert_eq!(
            code_words("parseConfigFile(HTTPServer, max_retry_count2) // the URL"),
            [
                "parse", "config", "file", "http", "server", "max", "retry", "count", "url"
            ]
        );
        assert_eq!(
            split_identifier("XMLHttpRequest"),
            ["xml", "http", "request"]
        );
        assert_eq!(split_identifier("utf8Decode"), ["utf", "8", "decode"]);
        assert_eq!(split_identifier("Ünïcode"), ["ünïcode"]);
        assert_eq!(split_identifier("__init__"), ["init"]);
        // The same identifier in two conventions shares its whole-identifier
        // feature.
        let snake = hash_embedding("parse_config_file", 128);
        let camel = hash_embedding("parseConfigFile", 128);
        assert!((cos(&snake, &camel) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn unit_norm_deterministic_and_sized() {
        for text in [
            "fn parse_config(path: &Path)",
            "",
            "   ",
            "+-*/",
            "ÄÖÜ straße",
        ] {
            let v = hash_embedding(text, 64);
            assert_eq!(v.len(), 64);
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{text:?}: norm {norm}");
            assert_eq!(v, hash_embedding(text, 64));
        }
        assert!(hash_embedding("x", 0).is_empty());
    }

    #[test]
    fn stable_across_builds() {
        // Pinned values: the harness relies on this function being stable.
        let v = hash_embedding("parseConfig", 8);
        let rounded: Vec<i32> = v.iter().map(|x| (x * 1000.0).round() as i32).collect();
        insta::assert_debug_snapshot!(rounded);
    }

    #[test]
    fn shared_words_are_similar_unrelated_are_not() {
        let dim = 256;
        let query = hash_embedding("parse the config file", dim);
        let code = hash_embedding(
            "def parse_config_file(path):\n    return toml.load(path)",
            dim,
        );
        let other = hash_embedding("fn render_histogram(buckets: &[f64]) -> String", dim);
        let near = cos(&query, &code);
        let far = cos(&query, &other);
        assert!(near > 0.45, "near {near}");
        assert!(far.abs() < 0.25, "far {far}");
        // Morphology: trigrams bring `parsing` closer to `parse` than to noise.
        let parsing = hash_embedding("parsing", dim);
        assert!(cos(&parsing, &hash_embedding("parser", dim)) > cos(&parsing, &other));
    }

    #[tokio::test]
    async fn hash_embedder_embeds_in_order() {
        let e = HashEmbedder::new(32);
        let texts = vec!["alpha beta".to_owned(), "gamma".to_owned()];
        let out = e.embed(&texts).await.unwrap();
        assert_eq!(
            out,
            vec![
                hash_embedding("alpha beta", 32),
                hash_embedding("gamma", 32)
            ]
        );
        assert!(e.embed(&[]).await.unwrap().is_empty());
        assert_eq!(e.model(), HashEmbedder::MODEL);
    }

    #[tokio::test]
    async fn failing_embedder_fails_after_n_calls() {
        let f = FailingEmbedder::after_calls(2, std::sync::Arc::new(HashEmbedder::new(8)));
        let texts = vec!["a b".to_owned()];
        assert!(f.embed(&texts).await.is_ok());
        assert!(f.embed(&texts).await.is_ok());
        let err = f.embed(&texts).await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(err.to_string().contains("call 3"), "{err}");
        assert_eq!(f.calls(), 3);

        let always = FailingEmbedder::always(8).with_error(|_| EmbedError::Dimension {
            expected: 8,
            got: 9,
            url: "test://".into(),
        });
        assert!(matches!(
            always.embed(&texts).await,
            Err(EmbedError::Dimension { .. })
        ));
    }
}
