//! Dense store: a FAISS index over L2-normalised embeddings, searched by
//! inner product (so scores are cosine similarities).
//!
//! A [`DenseIndex`] keeps three things side by side:
//! - the FAISS index (flat, HNSW or IVF, see [`DenseKind`]);
//! - `ids`: FAISS row `i` is the chunk id `ids[i]`;
//! - the raw normalised vectors (`n × dim` floats), so that
//!   [`DenseIndex::search_with_refine`] can re-score candidates exactly and
//!   an incremental build can reuse the vectors of unchanged chunks
//!   ([`DenseIndex::vectors_by_id`]).
//!
//! Concurrency: FAISS CPU searches are read-only, but the Rust binding's
//! `Index::search` takes `&mut self`. Flat and IVF indexes implement the
//! binding's `ConcurrentIndex` (search through `&self`); HNSW is searched
//! through the C API's const search on the one index (`ffi`).
//! Every caller searches the one index at the same time, with no copy;
//! only refined HNSW searches, which widen `efSearch`, take turns.
//!
//! This module holds the types, building and searching; the rest follows
//! the store's seams:
//! - `engine`: the FAISS structure of each kind, built and searched raw;
//! - `ffi`: the C API calls the binding lacks (the shared HNSW search);
//! - `disk`: `save` / `load` of a version's folder;
//! - `diff`: in-place updates with tombstones ([`DenseDiff`]).

mod diff;
mod disk;
mod engine;
mod ffi;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use faiss::index::{ConcurrentIndex, SearchResult};
use opentelemetry::KeyValue;
use serde::{Deserialize, Serialize};

pub use diff::{DenseDiff, TOMBSTONE_REBUILD_RATIO};
use engine::{Engine, build_engine};

use crate::observability::hot::HotSpan;
use crate::observability::metrics::{FaissImpl, Metrics};

/// Number of vectors from which [`DenseKind::Auto`] picks HNSW instead of a
/// flat (exact) index. Below it an exhaustive search over normalised vectors
/// takes well under a few milliseconds per query, and it is exact.
/// Configurable through [`DenseOptions::auto_hnsw_threshold`].
pub const AUTO_HNSW_THRESHOLD: usize = 20_000;
/// HNSW graph degree used by [`DenseKind::Auto`] above the threshold.
pub const DEFAULT_HNSW_M: u32 = 32;
/// HNSW `efSearch` used by [`DenseKind::Auto`] above the threshold.
pub const DEFAULT_HNSW_EF_SEARCH: u32 = 64;
/// HNSW `efConstruction` used when building any HNSW index (FAISS's
/// default; 80 doubled the build time for ~3 points of recall on 10k×384).
pub const DEFAULT_HNSW_EF_CONSTRUCTION: u32 = 40;

/// Which FAISS index structure to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DenseKind {
    /// Exhaustive inner-product search (`IndexFlatIP`): exact.
    Flat,
    /// HNSW graph over the full vectors (`IndexHNSWFlat`): `m` neighbours
    /// per node, `ef_search` candidates explored per query.
    Hnsw { m: u32, ef_search: u32 },
    /// Inverted file with `nlist` k-means cells (trained on the data) and
    /// `nprobe` cells visited per query (`IndexIVFFlat`). `nlist` is capped
    /// at the number of vectors, `nprobe` at `nlist`.
    Ivf { nlist: u32, nprobe: u32 },
    /// Flat below [`DenseOptions::auto_hnsw_threshold`] vectors (default
    /// [`AUTO_HNSW_THRESHOLD`]), HNSW with the options' `m`/`ef_search` at or
    /// above it.
    Auto,
}

impl DenseKind {
    /// The concrete kind built for `n` vectors: resolves `Auto`, and turns
    /// any kind into `Flat` for an empty index (nothing to train or link).
    #[must_use]
    pub fn resolve(self, n: usize, options: &DenseOptions) -> DenseKind {
        if n == 0 {
            return DenseKind::Flat;
        }
        match self {
            DenseKind::Auto if n >= options.auto_hnsw_threshold => DenseKind::Hnsw {
                m: options.auto_hnsw_m,
                ef_search: options.auto_hnsw_ef_search,
            },
            DenseKind::Auto => DenseKind::Flat,
            DenseKind::Ivf { nlist, nprobe } => {
                let cap = u32::try_from(n).unwrap_or(u32::MAX);
                let nlist = nlist.clamp(1, cap);
                DenseKind::Ivf {
                    nlist,
                    nprobe: nprobe.clamp(1, nlist),
                }
            }
            other => other,
        }
    }

    /// Short name, used as the `faiss.index_type` span attribute.
    pub const fn label(self) -> &'static str {
        match self {
            DenseKind::Flat => "flat",
            DenseKind::Hnsw { .. } => "hnsw",
            DenseKind::Ivf { .. } => "ivf",
            DenseKind::Auto => "auto",
        }
    }
}

/// Tunables of building and searching a [`DenseIndex`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenseOptions {
    /// [`DenseKind::Auto`] builds HNSW from this many vectors on.
    pub auto_hnsw_threshold: usize,
    /// `m` of the HNSW index [`DenseKind::Auto`] builds.
    pub auto_hnsw_m: u32,
    /// `ef_search` of the HNSW index [`DenseKind::Auto`] builds.
    pub auto_hnsw_ef_search: u32,
    /// `efConstruction` of every HNSW build (quality of the graph).
    pub hnsw_ef_construction: u32,
}

impl Default for DenseOptions {
    fn default() -> Self {
        Self {
            auto_hnsw_threshold: AUTO_HNSW_THRESHOLD,
            auto_hnsw_m: DEFAULT_HNSW_M,
            auto_hnsw_ef_search: DEFAULT_HNSW_EF_SEARCH,
            hnsw_ef_construction: DEFAULT_HNSW_EF_CONSTRUCTION,
        }
    }
}

/// Errors of the dense store.
#[derive(Debug, thiserror::Error)]
pub enum DenseError {
    #[error(
        "dense index: vector dimension mismatch: expected {expected}, got {got} ({context}); \
         the embedding model must match the one the index was built with \
         (check CODEINTEL_EMBED_MODEL, or re-run `codeintel-server index` to rebuild)"
    )]
    DimensionMismatch {
        expected: usize,
        got: usize,
        context: &'static str,
    },
    #[error(
        "dense index: dimension 0 with {vectors} vectors; a vector needs at least one component"
    )]
    ZeroDimension { vectors: usize },
    #[error(
        "dense index: {ids} ids but the vector buffer holds {floats} floats, \
         which is not {ids} vectors of dimension {dim}; pass one vector per id"
    )]
    CountMismatch {
        ids: usize,
        floats: usize,
        dim: usize,
    },
    #[error(
        "dense index: the vector of chunk {id:?} holds a NaN or infinite value; check the embedder's output"
    )]
    NonFiniteVector { id: String },
    #[error(
        "dense index: the query vector holds a NaN or infinite value; check the embedder's output"
    )]
    NonFiniteQuery,
    #[error("dense index: chunk id {id:?} appears more than once; ids must be unique")]
    DuplicateId { id: String },
    #[error("dense index: invalid {kind:?}: {reason}")]
    InvalidKind {
        kind: DenseKind,
        reason: &'static str,
    },
    #[error("dense index: FAISS failed to {op}: {source}")]
    Faiss {
        op: &'static str,
        #[source]
        source: faiss::error::Error,
    },
    #[error("dense index {}: no such index (missing {file}); re-run `codeintel-server index`", dir.display())]
    Missing { dir: PathBuf, file: &'static str },
    #[error("dense index {}: cannot {op}: {source}; check the path and its permissions", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("dense index {}: {reason}; re-run `codeintel-server index` to rebuild it", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("dense index {}: the path is not valid UTF-8, which FAISS file I/O needs; use a UTF-8 data directory", path.display())]
    NonUtf8Path { path: PathBuf },
}

fn faiss_err(op: &'static str) -> impl FnOnce(faiss::error::Error) -> DenseError {
    move |source| DenseError::Faiss { op, source }
}

/// Scales `v` to unit L2 norm in place. A zero (or non-finite-norm) vector
/// is left unchanged.
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        for x in &mut *v {
            *x /= norm;
        }
    }
}
/// A FAISS index over normalised vectors, with the row → chunk id map and
/// the vectors themselves. `Send + Sync`: share it behind an `Arc`.
pub struct DenseIndex {
    dim: usize,
    kind: DenseKind,
    ids: Vec<String>,
    rows: HashMap<String, usize>,
    vectors: Vec<f32>,
    engine: Engine,
    metrics: Metrics,
    /// Rows removed by [`DenseIndex::apply_diff`] (tombstones): FAISS still
    /// holds them (HNSW cannot delete), searches skip them, `rows` does not
    /// map to them, and a rebuild drops them.
    deleted: HashSet<usize>,
    /// A `vectors.f32` on disk whose bytes are the first `.1` rows of
    /// `vectors` (set by `load`; rows are only ever appended after that,
    /// and a rebuild makes a new index without it): `save` copies that file
    /// (in the kernel) and appends the rows added since, instead of
    /// converting and writing every vector again.
    persisted: Option<(PathBuf, usize)>,
}

impl std::fmt::Debug for DenseIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenseIndex")
            .field("dim", &self.dim)
            .field("kind", &self.kind)
            .field("len", &self.rows.len())
            .field("deleted", &self.deleted.len())
            .finish_non_exhaustive()
    }
}
impl DenseIndex {
    /// Builds an index over `vectors` (`ids.len() × dim` floats, row-major),
    /// with the default [`DenseOptions`]. See [`DenseIndex::build_with`].
    pub fn build(
        dim: usize,
        ids: Vec<String>,
        vectors: Vec<f32>,
        kind: DenseKind,
        metrics: Metrics,
    ) -> Result<DenseIndex, DenseError> {
        Self::build_with(dim, ids, vectors, kind, &DenseOptions::default(), metrics)
    }

    /// Builds an index: validates the input (dimension, count, finite
    /// values, unique ids), L2-normalises every vector, resolves `kind` for
    /// the number of vectors ([`DenseKind::resolve`]), trains (IVF) and adds.
    /// Zero vectors give an empty index whose searches return no hits
    /// (`dim` may then be 0, when no vector was ever seen).
    pub fn build_with(
        dim: usize,
        ids: Vec<String>,
        mut vectors: Vec<f32>,
        kind: DenseKind,
        options: &DenseOptions,
        metrics: Metrics,
    ) -> Result<DenseIndex, DenseError> {
        if dim == 0 && !ids.is_empty() {
            return Err(DenseError::ZeroDimension { vectors: ids.len() });
        }
        if vectors.len() != ids.len().saturating_mul(dim) {
            return Err(DenseError::CountMismatch {
                ids: ids.len(),
                floats: vectors.len(),
                dim,
            });
        }
        for (id, row) in ids.iter().zip(vectors.chunks_exact_mut(dim.max(1))) {
            if row.iter().any(|x| !x.is_finite()) {
                return Err(DenseError::NonFiniteVector { id: id.clone() });
            }
            normalize(row);
        }
        let rows = row_map(&ids, &HashSet::new())?;
        let kind = kind.resolve(ids.len(), options);
        let engine = if ids.is_empty() {
            Engine::Empty
        } else {
            let d = u32::try_from(dim).map_err(|_| DenseError::InvalidKind {
                kind,
                reason: "dimension does not fit FAISS's 32-bit dimension",
            })?;
            build_engine(d, kind, &vectors, options)?
        };
        Ok(DenseIndex {
            dim,
            kind,
            ids,
            rows,
            vectors,
            engine,
            metrics,
            deleted: HashSet::new(),
            persisted: None,
        })
    }
    /// The `k` nearest chunks to `query` by cosine similarity (the query is
    /// normalised here), best first, as reported by the index (approximate
    /// for HNSW/IVF). Records `faiss_search_latency_seconds{impl="ann"}` in a
    /// `faiss.search` span.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<(String, f32)>, DenseError> {
        let mut span = HotSpan::start(
            "faiss.search",
            [
                KeyValue::new("faiss.index_type", self.kind.label()),
                KeyValue::new("k", k as i64),
                KeyValue::new("impl", FaissImpl::Ann.as_str()),
            ],
        );
        let query = self.prepare_query(query)?;
        let start = Instant::now();
        let found = self.search_rows(&query, k, 1);
        self.metrics
            .record_faiss_search(FaissImpl::Ann, start.elapsed());
        let hits = self.to_ids(found.inspect_err(|e| span.fail(e.to_string()))?);
        span.record("hits", hits.len() as i64);
        Ok(hits)
    }

    /// Several queries in one FAISS call (FAISS parallelises a batch over
    /// its threads and amortises the per-call cost): one result list per
    /// query, as [`DenseIndex::search`] would give. One
    /// `faiss_search_latency_seconds{impl="ann"}` per call.
    pub fn search_batch(
        &self,
        queries: &[Vec<f32>],
        k: usize,
    ) -> Result<Vec<Vec<(String, f32)>>, DenseError> {
        let _span = HotSpan::start(
            "faiss.search",
            [
                KeyValue::new("faiss.index_type", self.kind.label()),
                KeyValue::new("k", k as i64),
                KeyValue::new("impl", FaissImpl::Ann.as_str()),
                KeyValue::new("queries", queries.len() as i64),
            ],
        );
        let want = k.min(self.len());
        // Tombstoned rows are skipped: ask for more (one round; a batch may
        // then return fewer than `k` when many neighbours were deleted).
        let k = want
            .saturating_add(self.deleted.len().min(want))
            .min(self.ids.len());
        if k == 0 || queries.is_empty() {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let mut flat = Vec::with_capacity(queries.len() * self.dim);
        for q in queries {
            flat.extend(self.prepare_query(q)?);
        }
        let start = Instant::now();
        let result: Result<SearchResult, DenseError> = match &self.engine {
            Engine::Empty => return Ok(vec![Vec::new(); queries.len()]),
            Engine::Flat(ix) => ConcurrentIndex::search(ix, &flat, k).map_err(faiss_err("search")),
            Engine::Ivf(ix) => ConcurrentIndex::search(ix, &flat, k).map_err(faiss_err("search")),
            Engine::Hnsw(shared) => shared.search(&flat, k, None),
        };
        self.metrics
            .record_faiss_search(FaissImpl::Ann, start.elapsed());
        let result = result?;
        let n = self.ids.len();
        Ok(result
            .labels
            .chunks(k)
            .zip(result.distances.chunks(k))
            .map(|(labels, scores)| {
                let rows = labels
                    .iter()
                    .zip(scores)
                    .filter_map(|(label, score)| {
                        let row = usize::try_from(label.get()?).ok()?;
                        (row < n && !self.deleted.contains(&row)).then_some((row, *score))
                    })
                    .take(want)
                    .collect();
                self.to_ids(rows)
            })
            .collect())
    }

    /// Refined search, recorded as one
    /// `faiss_search_latency_seconds{impl="ann+refine"}` for the whole call.
    ///
    /// Every kind this store builds keeps full vectors in FAISS, so the
    /// scores FAISS returns are already the exact inner products: re-scoring
    /// against the stored vectors would recompute the same numbers. What
    /// refine does is therefore only what changes the answer (see
    /// [`DenseIndex::refine_effect`]):
    /// - flat: nothing — an exact search of `k` (no `k × factor` work);
    /// - HNSW / IVF: a wider approximate search (`efSearch` raised to
    ///   `k × factor`, `nprobe × factor`) whose best `k` are kept, so the
    ///   recall of the approximate search goes up.
    ///
    /// (`factor` 0 counts as 1.)
    pub fn search_with_refine(
        &self,
        query: &[f32],
        k: usize,
        factor: usize,
    ) -> Result<Vec<(String, f32)>, DenseError> {
        let mut span = HotSpan::start(
            "faiss.search",
            [
                KeyValue::new("faiss.index_type", self.kind.label()),
                KeyValue::new("k", k as i64),
                KeyValue::new("impl", FaissImpl::AnnRefine.as_str()),
                KeyValue::new("refine_factor", factor as i64),
            ],
        );
        let query = self.prepare_query(query)?;
        let start = Instant::now();
        let refined = self.refined_rows(&query, k, factor.max(1));
        self.metrics
            .record_faiss_search(FaissImpl::AnnRefine, start.elapsed());
        let hits = self.to_ids(refined.inspect_err(|e| span.fail(e.to_string()))?);
        span.record("hits", hits.len() as i64);
        Ok(hits)
    }

    /// What `refine` changes for this index (for `/capz`): `none` for an
    /// exact (flat) index, `wider_search` for HNSW / IVF.
    pub fn refine_effect(&self) -> &'static str {
        refine_effect_of(self.kind)
    }

    /// The rows of a refined search (see [`DenseIndex::search_with_refine`]):
    /// exact kinds search `k` as a plain search would; approximate ones look
    /// `factor` times wider and keep the best `k` (ties by FAISS row,
    /// deterministic). No re-scoring: FAISS's scores over full vectors are
    /// the exact inner products already.
    fn refined_rows(
        &self,
        query: &[f32],
        k: usize,
        factor: usize,
    ) -> Result<Vec<(usize, f32)>, DenseError> {
        if refine_effect_of(self.kind) == "none" {
            return self.search_rows(query, k, 1);
        }
        let mut rows = self.search_rows(query, k.saturating_mul(factor), factor)?;
        rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        rows.truncate(k);
        Ok(rows)
    }

    /// The stored (normalised) vector of a chunk.
    pub fn vector(&self, id: &str) -> Option<&[f32]> {
        self.rows.get(id).and_then(|&row| self.row_vector(row))
    }

    /// Every chunk's stored (normalised) vector, for incremental rebuilds.
    pub fn vectors_by_id(&self) -> HashMap<&str, &[f32]> {
        self.rows
            .iter()
            .filter_map(|(id, &row)| Some((id.as_str(), self.row_vector(row)?)))
            .collect()
    }

    /// Chunk ids in FAISS row order (a tombstoned row keeps the id it had).
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Number of (live) vectors.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the index holds no live vector.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Vector dimension (0 for an empty index built without one).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The resolved kind actually built (never `Auto`).
    pub fn kind(&self) -> DenseKind {
        self.kind
    }

    fn row_vector(&self, row: usize) -> Option<&[f32]> {
        let start = row.checked_mul(self.dim)?;
        self.vectors.get(start..start + self.dim)
    }

    fn prepare_query(&self, query: &[f32]) -> Result<Vec<f32>, DenseError> {
        // An empty index built before any vector was seen has dimension 0
        // and accepts any query (it answers nothing).
        if query.len() != self.dim && self.dim != 0 {
            return Err(DenseError::DimensionMismatch {
                expected: self.dim,
                got: query.len(),
                context: "query vector",
            });
        }
        if query.iter().any(|x| !x.is_finite()) {
            return Err(DenseError::NonFiniteQuery);
        }
        let mut q = query.to_vec();
        normalize(&mut q);
        Ok(q)
    }
    fn to_ids(&self, rows: Vec<(usize, f32)>) -> Vec<(String, f32)> {
        rows.into_iter()
            .filter_map(|(row, score)| self.ids.get(row).map(|id| (id.clone(), score)))
            .collect()
    }
}

/// What `refine` changes for an index of `kind` (see
/// [`DenseIndex::search_with_refine`]).
pub fn refine_effect_of(kind: DenseKind) -> &'static str {
    match kind {
        DenseKind::Flat | DenseKind::Auto => "none",
        DenseKind::Hnsw { .. } | DenseKind::Ivf { .. } => "wider_search",
    }
}

/// Live rows by id (tombstoned rows skipped: a deleted id may come back).
fn row_map(ids: &[String], deleted: &HashSet<usize>) -> Result<HashMap<String, usize>, DenseError> {
    let mut seen = HashSet::with_capacity(ids.len());
    let mut rows = HashMap::with_capacity(ids.len());
    for (row, id) in ids.iter().enumerate() {
        if deleted.contains(&row) {
            continue;
        }
        if !seen.insert(id.as_str()) {
            return Err(DenseError::DuplicateId { id: id.clone() });
        }
        rows.insert(id.clone(), row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<DenseIndex>();
    }

    #[test]
    fn normalize_gives_unit_norm_and_keeps_zero() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0, 0.0];
        normalize(&mut z);
        assert_eq!(z, vec![0.0, 0.0]);
    }

    #[test]
    fn auto_resolves_by_threshold() {
        let opts = DenseOptions {
            auto_hnsw_threshold: 100,
            ..DenseOptions::default()
        };
        assert_eq!(DenseKind::Auto.resolve(99, &opts), DenseKind::Flat);
        assert_eq!(
            DenseKind::Auto.resolve(100, &opts),
            DenseKind::Hnsw {
                m: DEFAULT_HNSW_M,
                ef_search: DEFAULT_HNSW_EF_SEARCH
            }
        );
        assert_eq!(
            DenseKind::Hnsw { m: 8, ef_search: 8 }.resolve(0, &opts),
            DenseKind::Flat
        );
        assert_eq!(
            DenseKind::Ivf {
                nlist: 64,
                nprobe: 100
            }
            .resolve(10, &opts),
            DenseKind::Ivf {
                nlist: 10,
                nprobe: 10
            }
        );
    }

    #[test]
    fn kind_serialises_with_a_type_tag() {
        let json = serde_json::to_string(&DenseKind::Hnsw {
            m: 16,
            ef_search: 32,
        })
        .unwrap();
        assert_eq!(json, r#"{"type":"hnsw","m":16,"ef_search":32}"#);
        let back: DenseKind = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back,
            DenseKind::Hnsw {
                m: 16,
                ef_search: 32
            }
        );
    }
}
