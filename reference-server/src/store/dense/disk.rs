//! A [`DenseIndex`] on disk: `save` writes a folder of four files (five
//! with tombstones), `load` reads one back and checks that they agree.
//!
//! - `index.faiss`: FAISS `write_index`;
//! - `vectors.f32`: the normalised vectors, raw little-endian floats,
//!   row-major (a new version's file is the parent's, copied by the kernel,
//!   plus the rows added since);
//! - `ids.json`: chunk ids in FAISS row order;
//! - `deleted.json`: tombstoned rows (format 2);
//! - `meta.json`: format, dimension, resolved kind, count.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::Path;

use faiss::Index;
use serde::{Deserialize, Serialize};

use super::engine::Engine;
use super::ffi::{SharedHnsw, set_parameter};
use super::{DenseError, DenseIndex, DenseKind, DenseOptions, faiss_err, row_map};
use crate::observability::metrics::Metrics;

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

#[derive(Debug, Serialize, Deserialize)]
struct DenseMeta {
    format: u32,
    dim: usize,
    count: usize,
    kind: DenseKind,
    metric: String,
}

impl DenseIndex {
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
