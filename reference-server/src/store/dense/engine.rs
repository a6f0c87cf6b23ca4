//! The FAISS structure behind a [`DenseIndex`]: which index it is
//! ([`Engine`]: none yet, flat, IVF or HNSW), how one is built for a
//! [`DenseKind`] ([`build_engine`]: create, train, add, set the search
//! parameters), and the raw search over it (rows and scores, widened for a
//! refined search).

use faiss::index::flat::FlatIndexImpl;
use faiss::index::ivf_flat::IVFFlatIndexImpl;
use faiss::index::{ConcurrentIndex, SearchResult, SearchWithParams};
use faiss::search_params::SearchParametersIVF;
use faiss::{Index, MetricType};

use super::ffi::{SharedHnsw, set_parameter};
use super::{DenseError, DenseIndex, DenseKind, DenseOptions, faiss_err};

/// The searchable FAISS structure.
pub(super) enum Engine {
    /// No vectors (possibly no known dimension either): no FAISS index.
    Empty,
    Flat(FlatIndexImpl),
    Ivf(IVFFlatIndexImpl),
    Hnsw(SharedHnsw),
}

pub(super) fn build_engine(
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

impl DenseIndex {
    /// Raw FAISS search: (row, score) best first, padding (-1) removed.
    ///
    /// `widen > 1` (refined searches) widens the approximate search so that
    /// the extra candidates are real ones: HNSW explores with
    /// `efSearch = max(ef_search, k)` (FAISS stops after `efSearch` steps
    /// whatever `k`), IVF probes `nprobe × widen` cells (capped at `nlist`).
    /// Flat is exact either way.
    pub(super) fn search_rows_raw(
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
}
