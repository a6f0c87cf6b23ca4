//! Incremental updates of a [`DenseIndex`]: [`DenseIndex::apply_diff`]
//! tombstones removed rows and adds new ones in place (rebuilding past
//! [`TOMBSTONE_REBUILD_RATIO`] tombstones or on a kind change), reporting
//! what it did as a [`DenseDiff`]; searches skip tombstoned rows.

use std::collections::HashSet;

use faiss::Index;

use super::engine::Engine;
use super::{DenseError, DenseIndex, DenseKind, DenseOptions, faiss_err, normalize};

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
    pub(super) fn search_rows(
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
