//! The search engine: gate → gather_channels (dense ‖ sparse) → fuse →
//! [refine] → hydrate, with one span per stage and the contract's metrics.
//!
//! Gating and fusion are pure (see [`super::gating`], [`super::fusion`]);
//! this module wires them to the stores, the embedder and telemetry.
//! Index versions are swapped atomically ([`arc_swap`]): a search holds the
//! version it started with, so a publish during searches causes no errors.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use opentelemetry::KeyValue;
use serde::Serialize;
use tracing::Instrument as _;

use crate::diagnostics::timeline::Timeline;
use crate::embed::Embedder;
pub use crate::index::loaded::LoadedIndex;
use crate::observability::hot::HotSpan;
use crate::observability::metrics::Metrics;
use crate::search::fusion::{self, Channel, ChannelHits};
use crate::search::gating::{self, GatingConfig, GatingDecision};
use crate::store::catalog::ChunkRecord;
use crate::store::sparse;
use crate::text;

/// Top sparse hits read back as RM3 feedback.
const RM3_FEEDBACK_DOCS: usize = 5;
/// Expansion terms added by RM3.
const RM3_EXPANSION_TERMS: usize = 5;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub gating: GatingConfig,
    /// Refine re-scores `k · refine_factor` ANN candidates exactly.
    pub refine_factor: usize,
    /// Candidates taken from each channel before fusion (at least `k`).
    pub channel_candidates: usize,
    /// Largest `k` a caller may ask for.
    pub max_k: usize,
    /// Lines of a chunk shown in a finding's snippet.
    pub snippet_lines: usize,
    /// Record the raw query text in span attributes (off by default).
    pub record_query_text: bool,
    /// Query embeddings kept in an LRU cache (0: off, the default, so that
    /// every search embeds its query and an embedder outage shows at once).
    pub query_cache: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            gating: GatingConfig::default(),
            refine_factor: 4,
            channel_candidates: 50,
            max_k: 100,
            snippet_lines: 12,
            record_query_text: false,
            query_cache: 0,
        }
    }
}

/// Where a finding was found, per channel.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChannelRank {
    pub channel: &'static str,
    pub rank: u32,
    pub score: f32,
}

/// One search result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    /// Chunk id (stable; `fetch` takes it).
    pub id: String,
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    /// Fused score (weighted RRF).
    pub score: f64,
    pub snippet: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    pub language: String,
    pub channels: Vec<ChannelRank>,
}

/// A degradation of this answer, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Limit {
    /// Stable code: `dense_unavailable`, `dense_rate_limited`,
    /// `dense_missing`, `dense_partial`, `dense_model_mismatch`,
    /// `dense_dimension_mismatch`, `sparse_failed`, `hydrate_missing`,
    /// `index_fallback`.
    pub code: &'static str,
    pub message: String,
}

/// `dense_partial` when the served version holds chunks without a vector
/// (the embedder was down or refused them during the build): those are
/// found by BM25 only until the next build embeds them.
fn dense_partial(version: &str, manifest: &crate::index::publish::Manifest) -> Option<Limit> {
    let d = &manifest.dense;
    (d.present && d.unembedded > 0).then(|| Limit {
        code: "dense_partial",
        message: format!(
            "{} of {} chunks of index version {} have no vector yet{}; they are found by BM25 only \
             until the next `codeintel-server index` run embeds them",
            d.unembedded,
            manifest.chunks,
            version,
            d.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
    })
}

/// The gating decision as reported to callers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GatingSummary {
    pub class: &'static str,
    pub ambiguity: f64,
    pub rrf_k: u32,
    pub rm3: bool,
}

/// A search's answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SearchOutcome {
    pub findings: Vec<Finding>,
    pub limits: Vec<Limit>,
    pub gating: GatingSummary,
    pub index_version: String,
}

/// Why a search could not answer at all.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(
        "no index is loaded yet; wait until /readyz answers 200 (or run `codeintel-server index`)"
    )]
    NotReady,
    #[error("the query is empty; send a non-empty `query`")]
    EmptyQuery,
    #[error("k must be between 1 and {max}, got {got}")]
    BadK { got: usize, max: usize },
    #[error("both channels failed: dense: {dense}; sparse: {sparse}")]
    NoChannel { dense: String, sparse: String },
    #[error("hydrate failed: {0}")]
    Hydrate(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl SearchError {
    /// The pipeline stage the error belongs to (for run reports).
    pub fn stage(&self) -> &'static str {
        match self {
            Self::NotReady | Self::EmptyQuery | Self::BadK { .. } => "gate",
            Self::NoChannel { .. } => "gather_channels",
            Self::Hydrate(_) => "hydrate",
            Self::Internal(_) => "search",
        }
    }
}

fn dimension_mismatch(version: &str, built: usize, now: usize) -> String {
    format!(
        "the index {version} holds vectors of dimension {built} but the embedder answers \
         dimension {now}; dense channel off: re-run `codeintel-server index` with this \
         embedder, or configure the index's model"
    )
}

/// A short, non-reversible fingerprint of the query for telemetry.
pub fn query_fingerprint(query: &str) -> String {
    let hash = blake3::hash(query.as_bytes());
    hash.to_hex()[..16].to_owned()
}

/// The search engine. Shared by the HTTP and MCP handlers.
pub struct Engine {
    index: ArcSwapOption<LoadedIndex>,
    embedder: Option<Arc<dyn Embedder>>,
    metrics: Metrics,
    cfg: EngineConfig,
    /// Query text → its embedding (only with `query_cache > 0`).
    query_vectors: Option<std::sync::Mutex<lru::LruCache<String, Arc<Vec<f32>>>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("version", &self.current().map(|i| i.version.clone()))
            .finish_non_exhaustive()
    }
}

struct ChannelResult {
    hits: Vec<(String, f32)>,
    limit: Option<Limit>,
    error: Option<String>,
}

impl ChannelResult {
    fn ok(hits: Vec<(String, f32)>) -> Self {
        Self {
            hits,
            limit: None,
            error: None,
        }
    }

    fn degraded(code: &'static str, message: String) -> Self {
        Self {
            hits: Vec::new(),
            error: Some(message.clone()),
            limit: Some(Limit { code, message }),
        }
    }
}

impl Engine {
    pub fn new(embedder: Option<Arc<dyn Embedder>>, metrics: Metrics, cfg: EngineConfig) -> Self {
        let query_vectors = std::num::NonZeroUsize::new(cfg.query_cache)
            .map(|n| std::sync::Mutex::new(lru::LruCache::new(n)));
        Self {
            index: ArcSwapOption::empty(),
            embedder,
            metrics,
            cfg,
            query_vectors,
        }
    }

    /// Makes `index` the version new searches use.
    pub fn publish(&self, index: LoadedIndex) {
        self.index.store(Some(Arc::new(index)));
    }

    /// The version searches use now.
    pub fn current(&self) -> Option<Arc<LoadedIndex>> {
        self.index.load_full()
    }

    pub fn is_ready(&self) -> bool {
        self.index.load().is_some()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn embedder(&self) -> Option<&Arc<dyn Embedder>> {
        self.embedder.as_ref()
    }

    /// Runs one search, in a `search` span carrying a fingerprint and the
    /// length of the query (its text only when `record_query_text` is on).
    /// Records exactly one gating decision.
    pub async fn search(
        &self,
        query: &str,
        k: usize,
        refine: bool,
        timeline: &Timeline,
    ) -> Result<SearchOutcome, SearchError> {
        let query = query.trim();
        let span = tracing::info_span!(
            "search",
            query.hash = %query_fingerprint(query),
            query.length = query.chars().count() as i64,
            query.text = tracing::field::Empty,
            search.k = k as i64,
            search.refine = refine,
        );
        if self.cfg.record_query_text {
            span.record("query.text", query);
        }
        self.search_inner(query, k, refine, timeline)
            .instrument(span)
            .await
    }

    async fn search_inner(
        &self,
        query: &str,
        k: usize,
        refine: bool,
        timeline: &Timeline,
    ) -> Result<SearchOutcome, SearchError> {
        if query.is_empty() {
            timeline.error("gate", "empty query");
            return Err(SearchError::EmptyQuery);
        }
        if k == 0 || k > self.cfg.max_k {
            timeline.error("gate", "k out of range");
            return Err(SearchError::BadK {
                got: k,
                max: self.cfg.max_k,
            });
        }
        let Some(index) = self.current() else {
            timeline.error("gate", "no index loaded");
            return Err(SearchError::NotReady);
        };

        // gate
        let decision = {
            let _span = HotSpan::start("gate", []);
            let d = gating::decide(query, &self.cfg.gating);
            self.metrics
                .record_gating(d.class.as_str(), d.rm3, d.rrf_k, d.ambiguity);
            timeline.note(
                "gate",
                "decision",
                serde_json::json!({
                    "class": d.class.as_str(), "ambiguity": d.ambiguity, "rrf_k": d.rrf_k,
                    "dense_weight": d.dense_weight, "sparse_weight": d.sparse_weight, "rm3": d.rm3,
                }),
            );
            d
        };

        // gather_channels: dense ‖ sparse
        let candidates = self.cfg.channel_candidates.max(k);
        let (dense, sparse) = {
            let mut stage = timeline.stage("gather_channels");
            let span = tracing::info_span!(
                "gather_channels",
                dense.hits = tracing::field::Empty,
                sparse.hits = tracing::field::Empty
            );
            let (dense, sparse) = async {
                tokio::join!(
                    self.dense_channel(&index, query, candidates, refine, timeline),
                    self.sparse_channel(&index, query, candidates, &decision, timeline),
                )
            }
            .instrument(span.clone())
            .await;
            span.record("dense.hits", dense.hits.len() as i64);
            span.record("sparse.hits", sparse.hits.len() as i64);
            stage.detail(serde_json::json!({
                "dense_hits": dense.hits.len(), "sparse_hits": sparse.hits.len(),
            }));
            if let (true, Some(d), Some(s)) = (
                dense.hits.is_empty() && sparse.hits.is_empty(),
                &dense.error,
                &sparse.error,
            ) {
                stage.fail(format!("dense: {d}; sparse: {s}"));
                return Err(SearchError::NoChannel {
                    dense: d.clone(),
                    sparse: s.clone(),
                });
            }
            (dense, sparse)
        };

        // fuse
        let fused = {
            let mut stage = timeline.stage("fuse");
            let _span = HotSpan::start("fuse", [KeyValue::new("rrf.k", i64::from(decision.rrf_k))]);
            let inputs = [
                ChannelHits {
                    channel: Channel::Dense,
                    weight: decision.dense_weight,
                    hits: &dense.hits,
                },
                ChannelHits {
                    channel: Channel::Sparse,
                    weight: decision.sparse_weight,
                    hits: &sparse.hits,
                },
            ];
            let fused = fusion::rrf(&inputs, decision.rrf_k, k);
            stage.detail(serde_json::json!({ "fused": fused.len() }));
            fused
        };

        // hydrate
        let findings = {
            let mut stage = timeline.stage("hydrate");
            let mut span = HotSpan::start("hydrate", [KeyValue::new("chunks", fused.len() as i64)]);
            let ids: Vec<String> = fused.iter().map(|f| f.id.clone()).collect();
            let idx = Arc::clone(&index);
            let rows = tokio::task::spawn_blocking(move || idx.catalog.chunks_by_ids(&ids))
                .await
                .map_err(|e| {
                    span.fail(format!("hydrate task failed: {e}"));
                    SearchError::Internal(e.to_string())
                })?;
            let rows = match rows {
                Ok(rows) => rows,
                Err(e) => {
                    span.fail(e.to_string());
                    stage.fail(e.to_string());
                    return Err(SearchError::Hydrate(e.to_string()));
                }
            };
            let (findings, missing) = self.findings(&fused, rows);
            stage.detail(
                serde_json::json!({ "findings": findings.len(), "missing": missing.len() }),
            );
            (findings, missing)
        };
        let (findings, missing) = findings;
        let hydrate_limit = (!missing.is_empty()).then(|| {
            self.metrics.record_hydrate_misses(missing.len());
            let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
            Limit {
                code: "hydrate_missing",
                message: format!(
                    "{} of {} fused results are missing from the catalog of index {} \
                     (ids {}{}) and were left out; the index version is inconsistent: \
                     re-run `codeintel-server index`",
                    missing.len(),
                    fused.len(),
                    index.version,
                    shown.join(", "),
                    if missing.len() > shown.len() {
                        ", ..."
                    } else {
                        ""
                    }
                ),
            }
        });

        let limits: Vec<Limit> = [
            dense.limit,
            sparse.limit,
            hydrate_limit,
            dense_partial(&index.version, &index.manifest),
        ]
        .into_iter()
        .flatten()
        .chain(Self::index_limits(&index))
        .collect();
        for l in &limits {
            self.metrics.record_search_limit(l.code);
            tracing::warn!(limit = l.code, "search degraded: {}", l.message);
        }
        Ok(SearchOutcome {
            findings,
            limits,
            gating: GatingSummary {
                class: decision.class.as_str(),
                ambiguity: decision.ambiguity,
                rrf_k: decision.rrf_k,
                rm3: decision.rm3,
            },
            index_version: index.version.clone(),
        })
    }

    /// The findings of the fused ids the catalog holds, and the ids it
    /// does not hold (reported, never silently dropped).
    fn findings(
        &self,
        fused: &[fusion::Fused],
        rows: Vec<ChunkRecord>,
    ) -> (Vec<Finding>, Vec<String>) {
        let mut by_id: HashMap<String, ChunkRecord> =
            rows.into_iter().map(|r| (r.id.clone(), r)).collect();
        let mut missing = Vec::new();
        let findings = fused
            .iter()
            .filter_map(|f| {
                let Some(row) = by_id.remove(&f.id) else {
                    missing.push(f.id.clone());
                    return None;
                };
                let snippet = row
                    .text
                    .lines()
                    .take(self.cfg.snippet_lines)
                    .collect::<Vec<_>>()
                    .join("\n");
                Some(Finding {
                    id: row.id,
                    path: row.path,
                    start_line: row.start_line,
                    end_line: row.end_line,
                    score: f.score,
                    snippet,
                    symbol: row.symbol,
                    language: row.language,
                    channels: f
                        .channels
                        .iter()
                        .map(|c| ChannelRank {
                            channel: c.channel.as_str(),
                            rank: c.rank,
                            score: c.score,
                        })
                        .collect(),
                })
            })
            .collect();
        (findings, missing)
    }

    /// Degradations of the loaded version itself (a torn version replaced
    /// by its parent).
    fn index_limits(index: &LoadedIndex) -> Option<Limit> {
        index.fallback.as_ref().map(|why| Limit {
            code: "index_fallback",
            message: why.clone(),
        })
    }

    async fn dense_channel(
        &self,
        index: &Arc<LoadedIndex>,
        query: &str,
        candidates: usize,
        refine: bool,
        timeline: &Timeline,
    ) -> ChannelResult {
        if index.dense.is_none() {
            let why = index
                .manifest
                .dense
                .reason
                .clone()
                .unwrap_or_else(|| "the index has no dense part".to_owned());
            timeline.note("dense", "skipped", serde_json::json!({ "reason": why }));
            return ChannelResult::degraded(
                "dense_missing",
                format!(
                    "dense channel missing in index {}: {why}; re-run `codeintel-server index` with an embedder (CODEINTEL_VLLM_URL, or the local model of scripts/setup-model.sh)",
                    index.version
                ),
            );
        }
        let Some(embedder) = self.embedder.clone() else {
            return ChannelResult::degraded(
                "dense_unavailable",
                format!(
                    "{}; answered from the sparse channel only",
                    crate::embed::select::NO_EMBEDDER
                ),
            );
        };
        // Vectors of another model live in another space: a same-dimension
        // swap would rank garbage without an error. Say so instead.
        if let Some(built_with) = index.manifest.dense.model.as_deref()
            && built_with != embedder.model()
        {
            let msg = format!(
                "the index {} was embedded with model {built_with:?} but the embedder is {:?}; \
                 dense channel off: re-run `codeintel-server index` with this embedder, or \
                 configure the index's model",
                index.version,
                embedder.model()
            );
            timeline.note("dense", "skipped", serde_json::json!({ "reason": msg }));
            return ChannelResult::degraded("dense_model_mismatch", msg);
        }
        let index_dim = index
            .manifest
            .dense
            .dimension
            .or_else(|| {
                index
                    .dense
                    .as_ref()
                    .map(crate::store::dense::DenseIndex::dim)
            })
            .filter(|d| *d > 0);
        if let (Some(built), Some(now)) = (index_dim, embedder.dimension())
            && built != now
        {
            let msg = dimension_mismatch(&index.version, built, now);
            timeline.note("dense", "skipped", serde_json::json!({ "reason": msg }));
            return ChannelResult::degraded("dense_dimension_mismatch", msg);
        }
        let mut stage = timeline.stage("dense");
        let vector = match self.query_vector(embedder.as_ref(), query).await {
            Ok(v) => v,
            Err((code, msg)) => {
                stage.fail(msg.clone());
                return ChannelResult::degraded(code, msg);
            }
        };
        // The embedder may learn its dimension only from this answer.
        if let Some(built) = index_dim
            && vector.len() != built
        {
            let msg = dimension_mismatch(&index.version, built, vector.len());
            stage.fail(msg.clone());
            return ChannelResult::degraded("dense_dimension_mismatch", msg);
        }
        let idx = Arc::clone(index);
        let factor = self.cfg.refine_factor;
        let span = tracing::Span::current();
        let result = tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                let Some(dense) = idx.dense.as_ref() else {
                    return Ok(Vec::new());
                };
                if refine {
                    dense.search_with_refine(&vector, candidates, factor)
                } else {
                    dense.search(&vector, candidates)
                }
            })
        })
        .await;
        match result {
            Ok(Ok(hits)) => {
                stage.detail(serde_json::json!({ "hits": hits.len(), "refine": refine }));
                ChannelResult::ok(hits)
            }
            Ok(Err(e)) => {
                let msg = format!("FAISS search failed: {e}");
                stage.fail(msg.clone());
                ChannelResult::degraded("dense_unavailable", msg)
            }
            Err(e) => {
                let msg = format!("FAISS search task failed: {e}");
                stage.fail(msg.clone());
                ChannelResult::degraded("dense_unavailable", msg)
            }
        }
    }

    /// The query's embedding: from the LRU cache when on and present, else
    /// from the embedder (then cached).
    async fn query_vector(
        &self,
        embedder: &dyn Embedder,
        query: &str,
    ) -> Result<Arc<Vec<f32>>, (&'static str, String)> {
        if let Some(cache) = &self.query_vectors {
            let hit = cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(query)
                .cloned();
            if let Some(v) = hit {
                return Ok(v);
            }
        }
        let texts = [query.to_owned()];
        let vector = match embedder.embed(&texts).await {
            Ok(mut v) if v.len() == 1 => Arc::new(v.pop().unwrap_or_default()),
            Ok(v) => {
                return Err((
                    "dense_unavailable",
                    format!("embedder returned {} vectors for 1 query", v.len()),
                ));
            }
            Err(e) if e.is_rate_limited() => {
                return Err((
                    "dense_rate_limited",
                    format!(
                        "the embeddings server is rate limiting (HTTP 429 after the retries): {e}; \
                         answered from the sparse channel only"
                    ),
                ));
            }
            Err(e) => {
                return Err((
                    "dense_unavailable",
                    format!(
                        "embedding the query failed: {e}; answered from the sparse channel only"
                    ),
                ));
            }
        };
        if let Some(cache) = &self.query_vectors {
            cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .put(query.to_owned(), Arc::clone(&vector));
        }
        Ok(vector)
    }

    async fn sparse_channel(
        &self,
        index: &Arc<LoadedIndex>,
        query: &str,
        candidates: usize,
        decision: &GatingDecision,
        timeline: &Timeline,
    ) -> ChannelResult {
        let mut stage = timeline.stage("sparse");
        let idx = Arc::clone(index);
        let q = query.to_owned();
        let rm3 = decision.rm3;
        let mut span = HotSpan::start("sparse.search", [KeyValue::new("rm3", rm3)]);
        let result = tokio::task::spawn_blocking(
            move || -> Result<(Vec<(String, f32)>, usize), sparse::SparseError> {
                let first = idx.sparse.search(&q, candidates)?;
                if !rm3 || first.is_empty() {
                    return Ok((first, 0));
                }
                // RM3: one feedback read of the top documents' text
                // from the catalog (one query), weighted expansion
                // terms interpolated with the original query, one
                // second search.
                let feedback_ids: Vec<String> = first
                    .iter()
                    .take(RM3_FEEDBACK_DOCS)
                    .map(|(id, _)| id.clone())
                    .collect();
                let Ok(rows) = idx.catalog.chunks_by_ids(&feedback_ids) else {
                    // Expansion only re-ranks: without feedback the
                    // first pass stands.
                    return Ok((first, 0));
                };
                let mut by_id: HashMap<String, ChunkRecord> =
                    rows.into_iter().map(|r| (r.id.clone(), r)).collect();
                let feedback: Vec<Vec<String>> = feedback_ids
                    .iter()
                    .map(|id| {
                        by_id.remove(id).map_or_else(Vec::new, |r| {
                            let mut t = r
                                .symbol
                                .as_deref()
                                .map(text::code_tokens)
                                .unwrap_or_default();
                            t.extend(text::code_tokens(&r.text));
                            t
                        })
                    })
                    .collect();
                let query_tokens = text::code_tokens(&q);
                let extra =
                    gating::expansion_weights(&query_tokens, &feedback, RM3_EXPANSION_TERMS);
                if extra.is_empty() {
                    return Ok((first, 0));
                }
                let n = extra.len();
                let terms = gating::rm3_query(&query_tokens, &extra, gating::RM3_ORIGINAL_WEIGHT);
                Ok((idx.sparse.search_weighted(&terms, candidates)?, n))
            },
        )
        .await;
        match result {
            Ok(Ok((hits, expanded))) => {
                span.record("expansion.terms", expanded as i64);
                stage
                    .detail(serde_json::json!({ "hits": hits.len(), "expansion_terms": expanded }));
                ChannelResult::ok(hits)
            }
            Ok(Err(e)) => {
                let msg = format!("BM25 search failed: {e}");
                span.fail(msg.clone());
                stage.fail(msg.clone());
                ChannelResult::degraded("sparse_failed", msg)
            }
            Err(e) => {
                let msg = format!("BM25 search task failed: {e}");
                span.fail(msg.clone());
                stage.fail(msg.clone());
                ChannelResult::degraded("sparse_failed", msg)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fused(id: &str, score: f64) -> fusion::Fused {
        fusion::Fused {
            id: id.to_owned(),
            score,
            channels: Vec::new(),
        }
    }

    fn row(id: &str) -> ChunkRecord {
        ChunkRecord {
            id: id.to_owned(),
            path: format!("{id}.rs"),
            start_line: 1,
            end_line: 2,
            language: "rust".to_owned(),
            kind: "function".to_owned(),
            symbol: None,
            text: "fn a() {}".to_owned(),
        }
    }

    #[test]
    fn hydrate_reports_ids_the_catalog_lacks_instead_of_dropping_them_silently() {
        let engine = Engine::new(None, Metrics::noop(), EngineConfig::default());
        let ranked = [fused("a", 0.3), fused("gone", 0.2), fused("b", 0.1)];
        let (findings, missing) = engine.findings(&ranked, vec![row("b"), row("a")]);
        let ids: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"], "fused order kept");
        assert_eq!(missing, ["gone"]);
    }
}

#[cfg(test)]
mod partial_tests {
    use super::*;
    use crate::index::publish::{DenseStatus, Manifest};

    #[test]
    fn a_version_with_unembedded_chunks_says_so_in_limits() {
        let mut m = Manifest {
            chunks: 10,
            dense: DenseStatus {
                present: true,
                vectors: 7,
                unembedded: 3,
                reason: Some("embeddings server unavailable".into()),
                ..DenseStatus::default()
            },
            ..Manifest::default()
        };
        let l = dense_partial("v000002", &m).unwrap();
        assert_eq!(l.code, "dense_partial");
        assert!(l.message.contains("3 of 10 chunks"), "{}", l.message);
        assert!(l.message.contains("unavailable"), "{}", l.message);
        m.dense.unembedded = 0;
        assert_eq!(dense_partial("v000002", &m), None);
        m.dense.unembedded = 3;
        m.dense.present = false;
        assert_eq!(
            dense_partial("v000002", &m),
            None,
            "dense_missing covers it"
        );
    }
}
