//! The FAISS C API where the Rust binding falls short: one HNSW index
//! searched by every caller at once through FAISS's const search
//! ([`SharedHnsw`]), and setting a search parameter on an index. The only
//! `unsafe` of the dense store.

use std::path::PathBuf;

use faiss::Index;
use faiss::index::autotune::ParameterSpace;
use faiss::index::{IndexImpl, SearchResult};

use super::{DenseError, faiss_err};

/// One HNSW index shared by every searcher (see [`shared_search`]): plain
/// searches read it concurrently; a refined search that must explore more
/// than `efSearch` candidates (FAISS stops after `efSearch` steps whatever
/// `k`) raises `efSearch` for its call under the write lock, so those
/// searches run one at a time, and never copy the index.
pub(super) struct SharedHnsw {
    pub(super) index: std::sync::RwLock<IndexImpl>,
    ef_search: u32,
}

impl SharedHnsw {
    pub(super) fn new(index: IndexImpl, ef_search: u32) -> Self {
        Self {
            index: std::sync::RwLock::new(index),
            ef_search,
        }
    }

    pub(super) fn search(
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

pub(super) fn set_parameter(
    index: &IndexImpl,
    name: &'static str,
    value: u32,
) -> Result<(), DenseError> {
    let space = ParameterSpace::new().map_err(faiss_err("create a FAISS parameter space"))?;
    space
        .set_index_parameter(index, name, value)
        .map_err(faiss_err("set an HNSW/IVF search parameter"))
}
