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
//! through the C API's const search on the one index ([`shared_search`]).
//! Every caller searches the one index at the same time, with no copy;
//! only refined HNSW searches, which widen `efSearch`, take turns.
//!
//! On disk (`save`/`load`), a directory holds `index.faiss` (FAISS
//! `write_index`), `vectors.f32` (raw little-endian floats, row-major),
//! `ids.json` (array of chunk ids, FAISS row order) and `meta.json` (format,
//! dimension, resolved kind, count).

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use faiss::index::autotune::ParameterSpace;
use faiss::index::flat::FlatIndexImpl;
use faiss::index::ivf_flat::IVFFlatIndexImpl;
use faiss::index::{ConcurrentIndex, IndexImpl, SearchResult, SearchWithParams};
use faiss::search_params::SearchParametersIVF;
use faiss::{Index, MetricType};
use opentelemetry::KeyValue;
use serde::{Deserialize, Serialize};

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

/// Version of the on-disk layout written by [`DenseIndex::save`]. Version 2
/// added `deleted.json` (tombstoned rows of an incremental update); a
/// version-1 folder is read as one without tombstones.
const FORMAT_VERSION: u32 = 2;
/// Oldest layout [`DenseIndex::load`] still reads.
const OLDEST_FORMAT_VERSION: u32 = 1;
const DELETED_FILE: &str = "deleted.json";
const INDEX_FILE: &str = "index.faiss";
const VECTORS_FILE: &str = "vectors.f32";
const IDS_FILE: &str = "ids.json";
const META_FILE: &str = "meta.json";

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

/// The searchable FAISS structure.
enum Engine {
    /// No vectors (possibly no known dimension either): no FAISS index.
    Empty,
    Flat(FlatIndexImpl),
    Ivf(IVFFlatIndexImpl),
    Hnsw(SharedHnsw),
}

/// One HNSW index shared by every searcher (see [`shared_search`]): plain
/// searches read it concurrently; a refined search that must explore more
/// than `efSearch` candidates (FAISS stops after `efSearch` steps whatever
/// `k`) raises `efSearch` for its call under the write lock, so those
/// searches run one at a time, and never copy the index.
struct SharedHnsw {
    index: std::sync::RwLock<IndexImpl>,
    ef_search: u32,
}

impl SharedHnsw {
    fn new(index: IndexImpl, ef_search: u32) -> Self {
        Self {
            index: std::sync::RwLock::new(index),
            ef_search,
        }
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        wide_ef: Option<u32>,
    ) -> Result<SearchResult, DenseError> {
        match wide_ef.filter(|&ef| ef > self.ef_search) {
            None => {
                let index = self
                    .index
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                shared_search(&index, query, k)
            }
            Some(ef) => {
                let index = self
                    .index
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                set_parameter(&index, "efSearch", ef)?;
                let result = shared_search(&index, query, k);
                set_parameter(&index, "efSearch", self.ef_search)?;
                result
            }
        }
    }
}

/// Searches an index through `&self`: FAISS CPU indexes are safe to search
/// from many threads at once as long as nothing modifies them ("Threads and
/// asynchronous calls" in the FAISS wiki; `Index::search` is a `const`
/// method), but the binding only offers `&self` search for flat and IVF
/// indexes (`ConcurrentIndex`), not HNSW. `efSearch` is fixed when the index
/// is built or loaded, before it is shared; a wider search changes it only
/// under [`SharedHnsw`]'s write lock.
#[allow(unsafe_code)]
fn shared_search(index: &IndexImpl, query: &[f32], k: usize) -> Result<SearchResult, DenseError> {
    let d = Index::d(index) as usize;
    if d == 0 || !query.len().is_multiple_of(d) {
        return Err(DenseError::DimensionMismatch {
            expected: d,
            got: query.len(),
            context: "query vector",
        });
    }
    let nq = query.len() / d;
    let mut distances = vec![0_f32; k * nq];
    let mut labels = vec![-1_i64; k * nq];
    let (Ok(n), Ok(kk)) = (i64::try_from(nq), i64::try_from(k)) else {
        return Err(DenseError::Corrupt {
            path: PathBuf::new(),
            reason: format!("search of {nq} queries for {k} neighbours overflows"),
        });
    };
    // SAFETY: `index` is a valid FAISS index owned by `SharedHnsw` for the
    // whole call (borrowed); `faiss_Index_search` only reads it (const), the
    // query buffer holds `nq * d` floats and the output buffers `nq * k`
    // elements each, as the C API requires.
    let rc = unsafe {
        faiss_sys::faiss_Index_search(
            index.inner_ptr(),
            n,
            query.as_ptr(),
            kk,
            distances.as_mut_ptr(),
            labels.as_mut_ptr(),
        )
    };
    if rc != 0 {
        // SAFETY: FAISS returns a NUL-terminated message owned by the
        // thread's last-error slot, or null.
        let msg = unsafe {
            let p = faiss_sys::faiss_get_last_error();
            if p.is_null() {
                format!("error code {rc}")
            } else {
                std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        return Err(DenseError::Corrupt {
            path: PathBuf::new(),
            reason: format!("FAISS HNSW search failed: {msg}"),
        });
    }
    Ok(SearchResult {
        distances,
        labels: labels.into_iter().map(faiss::Idx::from).collect(),
    })
}

fn set_parameter(index: &IndexImpl, name: &'static str, value: u32) -> Result<(), DenseError> {
    let space = ParameterSpace::new().map_err(faiss_err("create a FAISS parameter space"))?;
    space
        .set_index_parameter(index, name, value)
        .map_err(faiss_err("set an HNSW/IVF search parameter"))
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

#[derive(Debug, Serialize, Deserialize)]
struct DenseMeta {
    format: u32,
    dim: usize,
    count: usize,
    kind: DenseKind,
    metric: String,
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

    /// Writes the index to `dir` (created if missing): `index.faiss`,
    /// `vectors.f32`, `ids.json`, `meta.json`.
    pub fn save(&self, dir: &Path) -> Result<(), DenseError> {
        std::fs::create_dir_all(dir).map_err(|source| DenseError::Io {
            path: dir.to_path_buf(),
            op: "create the directory",
            source,
        })?;
        let index_path = dir.join(INDEX_FILE);
        let index_str = utf8_path(&index_path)?;
        match &self.engine {
            Engine::Empty => Ok(()),
            Engine::Flat(ix) => faiss::write_index(ix, index_str),
            Engine::Ivf(ix) => faiss::write_index(ix, index_str),
            Engine::Hnsw(shared) => faiss::write_index(
                &*shared
                    .index
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                index_str,
            ),
        }
        .map_err(faiss_err("write index.faiss"))?;

        let vectors_path = dir.join(VECTORS_FILE);
        let io = |op: &'static str| {
            let path = vectors_path.clone();
            move |source: std::io::Error| DenseError::Io { path, op, source }
        };
        // Rows already on disk in the file this index was loaded from are
        // copied, not rewritten; anything unexpected there means a full write.
        let row_bytes = self.dim * 4;
        let from_row = match &self.persisted {
            Some((src, rows))
                if *src != vectors_path
                    && rows * self.dim <= self.vectors.len()
                    && std::fs::metadata(src)
                        .is_ok_and(|m| m.len() == (rows * row_bytes) as u64)
                    && std::fs::copy(src, &vectors_path).is_ok() =>
            {
                *rows
            }
            _ => 0,
        };
        let file = if from_row > 0 {
            std::fs::OpenOptions::new()
                .append(true)
                .open(&vectors_path)
                .map_err(io("open for appending"))?
        } else {
            std::fs::File::create(&vectors_path).map_err(io("create"))?
        };
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut buf = Vec::with_capacity(4 << 16);
        let rest = self.vectors.get(from_row * self.dim..).unwrap_or(&[]);
        for chunk in rest.chunks(1 << 16) {
            buf.clear();
            for x in chunk {
                buf.extend_from_slice(&x.to_le_bytes());
            }
            out.write_all(&buf).map_err(io("write"))?;
        }
        out.flush().map_err(io("write"))?;

        write_json(&dir.join(IDS_FILE), &self.ids)?;
        let mut deleted: Vec<usize> = self.deleted.iter().copied().collect();
        deleted.sort_unstable();
        write_json(&dir.join(DELETED_FILE), &deleted)?;
        write_json(
            &dir.join(META_FILE),
            &DenseMeta {
                format: FORMAT_VERSION,
                dim: self.dim,
                count: self.ids.len(),
                kind: self.kind,
                metric: "inner_product".to_owned(),
            },
        )
    }

    /// Loads an index written by [`DenseIndex::save`], with the default
    /// [`DenseOptions`].
    pub fn load(dir: &Path, metrics: Metrics) -> Result<DenseIndex, DenseError> {
        Self::load_with(dir, &DenseOptions::default(), metrics)
    }

    /// Loads an index written by [`DenseIndex::save`]; checks that the four
    /// files agree (format, dimension, count).
    pub fn load_with(
        dir: &Path,
        _options: &DenseOptions,
        metrics: Metrics,
    ) -> Result<DenseIndex, DenseError> {
        let meta_path = dir.join(META_FILE);
        if !meta_path.is_file() {
            return Err(DenseError::Missing {
                dir: dir.to_path_buf(),
                file: META_FILE,
            });
        }
        let meta: DenseMeta = read_json(&meta_path)?;
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&meta.format) {
            return Err(DenseError::Corrupt {
                path: meta_path,
                reason: format!(
                    "format version {} is not one of the supported \
                     {OLDEST_FORMAT_VERSION}..={FORMAT_VERSION}",
                    meta.format
                ),
            });
        }
        if meta.dim == 0 && meta.count > 0 {
            return Err(DenseError::Corrupt {
                path: meta_path,
                reason: format!("dimension 0 with {} vectors", meta.count),
            });
        }

        let ids_path = dir.join(IDS_FILE);
        let ids: Vec<String> = read_json(&ids_path)?;
        if ids.len() != meta.count {
            return Err(DenseError::Corrupt {
                path: ids_path,
                reason: format!("{} ids, meta.json says {}", ids.len(), meta.count),
            });
        }
        let deleted = read_deleted(dir, ids.len())?;
        let rows = row_map(&ids, &deleted)?;

        let vectors_path = dir.join(VECTORS_FILE);
        let bytes = std::fs::read(&vectors_path).map_err(|source| DenseError::Io {
            path: vectors_path.clone(),
            op: "read",
            source,
        })?;
        let expected_bytes = meta.count * meta.dim * 4;
        if bytes.len() != expected_bytes {
            return Err(DenseError::Corrupt {
                path: vectors_path,
                reason: format!(
                    "{} bytes, expected {expected_bytes} ({} vectors of dimension {})",
                    bytes.len(),
                    meta.count,
                    meta.dim
                ),
            });
        }
        let vectors: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();

        if meta.count == 0 {
            return Ok(DenseIndex {
                dim: meta.dim,
                kind: meta.kind,
                ids,
                rows,
                vectors,
                engine: Engine::Empty,
                metrics,
                deleted,
                persisted: Some((vectors_path, meta.count)),
            });
        }
        let index_path = dir.join(INDEX_FILE);
        if !index_path.is_file() {
            return Err(DenseError::Missing {
                dir: dir.to_path_buf(),
                file: INDEX_FILE,
            });
        }
        let index =
            faiss::read_index(utf8_path(&index_path)?).map_err(faiss_err("read index.faiss"))?;
        if index.d() as usize != meta.dim || index.ntotal() as usize != meta.count {
            return Err(DenseError::Corrupt {
                path: index_path,
                reason: format!(
                    "FAISS index holds {} vectors of dimension {}, meta.json says {} of dimension {}",
                    index.ntotal(),
                    index.d(),
                    meta.count,
                    meta.dim
                ),
            });
        }
        let engine = match meta.kind {
            DenseKind::Flat => Engine::Flat(
                index
                    .into_flat()
                    .map_err(faiss_err("open index.faiss as a flat index"))?,
            ),
            DenseKind::Ivf { nprobe, .. } => {
                let mut ivf = index
                    .into_ivf_flat()
                    .map_err(faiss_err("open index.faiss as an IVF index"))?;
                ivf.set_nprobe(nprobe);
                Engine::Ivf(ivf)
            }
            DenseKind::Hnsw { ef_search, .. } => {
                set_parameter(&index, "efSearch", ef_search)?;
                Engine::Hnsw(SharedHnsw::new(index, ef_search))
            }
            DenseKind::Auto => {
                return Err(DenseError::Corrupt {
                    path: meta_path,
                    reason: "kind `auto` was never resolved to a concrete kind".to_owned(),
                });
            }
        };
        Ok(DenseIndex {
            dim: meta.dim,
            kind: meta.kind,
            ids,
            rows,
            vectors,
            engine,
            metrics,
            deleted,
            persisted: Some((vectors_path, meta.count)),
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

    /// Raw FAISS search: (row, score) best first, padding (-1) removed.
    ///
    /// `widen > 1` (refined searches) widens the approximate search so that
    /// the extra candidates are real ones: HNSW explores with
    /// `efSearch = max(ef_search, k)` (FAISS stops after `efSearch` steps
    /// whatever `k`), IVF probes `nprobe × widen` cells (capped at `nlist`).
    /// Flat is exact either way.
    fn search_rows_raw(
        &self,
        query: &[f32],
        k: usize,
        widen: usize,
    ) -> Result<Vec<(usize, f32)>, DenseError> {
        let k = k.min(self.ids.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        let result: SearchResult = match (&self.engine, self.kind) {
            (Engine::Empty, _) => return Ok(Vec::new()),
            (Engine::Flat(ix), _) => ConcurrentIndex::search(ix, query, k),
            (Engine::Ivf(ix), DenseKind::Ivf { nlist, nprobe }) if widen > 1 => {
                let wide = (nprobe as usize).saturating_mul(widen).min(nlist as usize);
                let mut params = SearchParametersIVF::new()
                    .map_err(faiss_err("create IVF search parameters"))?;
                params.set_nprobe(wide);
                SearchWithParams::search_with_params(ix, query, k, &params.upcast())
            }
            (Engine::Ivf(ix), _) => ConcurrentIndex::search(ix, query, k),
            (Engine::Hnsw(shared), _) => {
                let wide_ef = (widen > 1).then(|| u32::try_from(k).unwrap_or(u32::MAX));
                Ok(shared.search(query, k, wide_ef)?)
            }
        }
        .map_err(faiss_err("search"))?;
        let n = self.ids.len();
        Ok(result
            .labels
            .iter()
            .zip(result.distances)
            .filter_map(|(label, score)| {
                let row = usize::try_from(label.get()?).ok()?;
                (row < n).then_some((row, score))
            })
            .collect())
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

// ---------------------------------------------------------------------------
// Incremental updates: tombstones and in-place adds

/// Tombstones past this share of the FAISS rows make
/// [`DenseIndex::apply_diff`] rebuild the index from its live vectors
/// (skipped rows cost search over-fetch and memory).
pub const TOMBSTONE_REBUILD_RATIO: f64 = 0.1;

/// What [`DenseIndex::apply_diff`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DenseDiff {
    /// Rows added (in place, or into the rebuilt index).
    pub added: usize,
    /// Live rows removed (tombstoned, or dropped by the rebuild).
    pub removed: usize,
    /// Whether the FAISS index was rebuilt from scratch (kind change,
    /// empty index, or too many tombstones), rather than updated in place.
    pub rebuilt: bool,
}

impl DenseIndex {
    /// Raw search without tombstoned rows: asks FAISS for `k` plus as many
    /// rows as may be tombstoned among them, widening until `k` live rows
    /// are found or the index is exhausted.
    fn search_rows(
        &self,
        query: &[f32],
        k: usize,
        widen: usize,
    ) -> Result<Vec<(usize, f32)>, DenseError> {
        if self.deleted.is_empty() {
            return self.search_rows_raw(query, k, widen);
        }
        let want = k.min(self.len());
        let mut fetch = want.saturating_add(self.deleted.len().min(want.max(16)));
        loop {
            let raw = self.search_rows_raw(query, fetch, widen)?;
            let exhausted = raw.len() < fetch || fetch >= self.ids.len();
            let live: Vec<(usize, f32)> = raw
                .into_iter()
                .filter(|(row, _)| !self.deleted.contains(row))
                .take(want)
                .collect();
            if live.len() >= want || exhausted {
                return Ok(live);
            }
            fetch = fetch.saturating_mul(2).min(self.ids.len());
        }
    }

    /// Number of tombstoned rows (removed, still in FAISS until a rebuild).
    pub fn tombstones(&self) -> usize {
        self.deleted.len()
    }

    /// Updates the index in place: tombstones the rows of `remove` (unknown
    /// ids are ignored) and adds `add_ids` with their vectors (`add_ids.len()
    /// × dim` floats, normalised here). FAISS gets only the new rows (flat,
    /// IVF and HNSW all add incrementally); the index is rebuilt from its
    /// live vectors instead when `kind` resolves to another kind for the
    /// new size, when it was empty, or when tombstones would pass
    /// [`TOMBSTONE_REBUILD_RATIO`] of the rows.
    pub fn apply_diff(
        &mut self,
        remove: &[String],
        add_ids: Vec<String>,
        mut add_vectors: Vec<f32>,
        kind: DenseKind,
        options: &DenseOptions,
    ) -> Result<DenseDiff, DenseError> {
        let dim = if self.dim == 0 && self.ids.is_empty() {
            add_vectors.len().checked_div(add_ids.len()).unwrap_or(0)
        } else {
            self.dim
        };
        if dim == 0 && !add_ids.is_empty() {
            return Err(DenseError::ZeroDimension {
                vectors: add_ids.len(),
            });
        }
        if add_vectors.len() != add_ids.len().saturating_mul(dim) {
            return Err(DenseError::DimensionMismatch {
                expected: dim,
                got: add_vectors.len().checked_div(add_ids.len()).unwrap_or(0),
                context: "vectors added to an existing index",
            });
        }
        for (id, row) in add_ids.iter().zip(add_vectors.chunks_exact_mut(dim.max(1))) {
            if row.iter().any(|x| !x.is_finite()) {
                return Err(DenseError::NonFiniteVector { id: id.clone() });
            }
            normalize(row);
        }
        let mut removed = 0;
        for id in remove {
            if let Some(row) = self.rows.remove(id) {
                self.deleted.insert(row);
                removed += 1;
            }
        }
        let mut seen = HashSet::with_capacity(add_ids.len());
        for id in &add_ids {
            if self.rows.contains_key(id) || !seen.insert(id.as_str()) {
                return Err(DenseError::DuplicateId { id: id.clone() });
            }
        }
        let added = add_ids.len();
        let live_after = self.rows.len() + added;
        let rows_after = self.ids.len() + added;
        let resolved = kind.resolve(live_after, options);
        let too_many_tombstones =
            self.deleted.len() as f64 > TOMBSTONE_REBUILD_RATIO * rows_after as f64;
        let rebuild =
            matches!(self.engine, Engine::Empty) || resolved != self.kind || too_many_tombstones;
        if rebuild {
            let mut live: Vec<(usize, &String)> =
                self.rows.iter().map(|(id, &row)| (row, id)).collect();
            live.sort_unstable();
            let mut ids = Vec::with_capacity(live_after);
            let mut vectors = Vec::with_capacity(live_after * dim);
            for (row, id) in live {
                if let Some(v) = self.row_vector(row) {
                    ids.push(id.clone());
                    vectors.extend_from_slice(v);
                }
            }
            ids.extend(add_ids);
            vectors.extend_from_slice(&add_vectors);
            let metrics = self.metrics.clone();
            *self = DenseIndex::build_with(dim, ids, vectors, kind, options, metrics)?;
            return Ok(DenseDiff {
                added,
                removed,
                rebuilt: true,
            });
        }
        if added > 0 {
            match &mut self.engine {
                Engine::Empty => {}
                Engine::Flat(ix) => Index::add(ix, &add_vectors)
                    .map_err(faiss_err("add vectors to the flat index"))?,
                Engine::Ivf(ix) => Index::add(ix, &add_vectors)
                    .map_err(faiss_err("add vectors to the IVF index"))?,
                Engine::Hnsw(shared) => Index::add(
                    shared
                        .index
                        .get_mut()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                    &add_vectors,
                )
                .map_err(faiss_err("add vectors to the HNSW index"))?,
            }
            for id in add_ids {
                self.rows.insert(id.clone(), self.ids.len());
                self.ids.push(id);
            }
            self.vectors.extend_from_slice(&add_vectors);
        }
        Ok(DenseDiff {
            added,
            removed,
            rebuilt: false,
        })
    }
}

/// Tombstoned rows saved next to the index (absent in format 1: none).
fn read_deleted(dir: &Path, rows: usize) -> Result<HashSet<usize>, DenseError> {
    let path = dir.join(DELETED_FILE);
    if !path.is_file() {
        return Ok(HashSet::new());
    }
    let deleted: Vec<usize> = read_json(&path)?;
    if let Some(bad) = deleted.iter().find(|&&r| r >= rows) {
        return Err(DenseError::Corrupt {
            path,
            reason: format!("tombstoned row {bad} is past the {rows} rows of ids.json"),
        });
    }
    Ok(deleted.into_iter().collect())
}

fn build_engine(
    d: u32,
    kind: DenseKind,
    vectors: &[f32],
    options: &DenseOptions,
) -> Result<Engine, DenseError> {
    match kind {
        DenseKind::Flat | DenseKind::Auto => {
            let mut ix = FlatIndexImpl::new_ip(d).map_err(faiss_err("create a flat index"))?;
            if !vectors.is_empty() {
                Index::add(&mut ix, vectors).map_err(faiss_err("add vectors to the flat index"))?;
            }
            Ok(Engine::Flat(ix))
        }
        DenseKind::Ivf { nlist, nprobe } => {
            if nlist == 0 || nprobe == 0 {
                return Err(DenseError::InvalidKind {
                    kind,
                    reason: "nlist and nprobe must be at least 1",
                });
            }
            let ix = faiss::index_factory(d, format!("IVF{nlist},Flat"), MetricType::InnerProduct)
                .map_err(faiss_err("create an IVF index"))?;
            let mut ivf = ix
                .into_ivf_flat()
                .map_err(faiss_err("create an IVF index"))?;
            Index::train(&mut ivf, vectors).map_err(faiss_err("train the IVF index"))?;
            Index::add(&mut ivf, vectors).map_err(faiss_err("add vectors to the IVF index"))?;
            ivf.set_nprobe(nprobe);
            Ok(Engine::Ivf(ivf))
        }
        DenseKind::Hnsw { m, ef_search } => {
            if m < 2 || ef_search == 0 {
                return Err(DenseError::InvalidKind {
                    kind,
                    reason: "m must be at least 2 and ef_search at least 1",
                });
            }
            let mut ix = faiss::index_factory(d, format!("HNSW{m},Flat"), MetricType::InnerProduct)
                .map_err(faiss_err("create an HNSW index"))?;
            set_parameter(
                &ix,
                "efConstruction",
                options.hnsw_ef_construction.max(ef_search),
            )?;
            set_parameter(&ix, "efSearch", ef_search)?;
            Index::add(&mut ix, vectors).map_err(faiss_err("add vectors to the HNSW index"))?;
            Ok(Engine::Hnsw(SharedHnsw::new(ix, ef_search)))
        }
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

fn utf8_path(path: &Path) -> Result<&str, DenseError> {
    path.to_str().ok_or_else(|| DenseError::NonUtf8Path {
        path: path.to_path_buf(),
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), DenseError> {
    let bytes = serde_json::to_vec(value).map_err(|e| DenseError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("cannot serialise: {e}"),
    })?;
    std::fs::write(path, bytes).map_err(|source| DenseError::Io {
        path: path.to_path_buf(),
        op: "write",
        source,
    })
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, DenseError> {
    let bytes = std::fs::read(path).map_err(|source| DenseError::Io {
        path: path.to_path_buf(),
        op: "read",
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| DenseError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("not valid JSON for this file: {e}"),
    })
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
