//! A published index version opened for searching.

use std::path::Path;

use crate::index::publish::{DataDir, Manifest, PublishError, read_manifest};
use crate::observability::metrics::Metrics;
use crate::store::catalog::{Catalog, CatalogError};
use crate::store::dense::{DenseError, DenseIndex};
use crate::store::sparse::{SparseError, SparseIndex};

/// File and folder names inside a version folder.
pub const CATALOG_FILE: &str = "catalog.duckdb";
pub const DENSE_DIR: &str = "dense";
pub const SPARSE_DIR: &str = "sparse";

/// One loaded, immutable index version.
pub struct LoadedIndex {
    pub version: String,
    pub manifest: Manifest,
    pub catalog: Catalog,
    pub dense: Option<DenseIndex>,
    pub sparse: SparseIndex,
}

impl std::fmt::Debug for LoadedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedIndex")
            .field("version", &self.version)
            .field("chunks", &self.manifest.chunks)
            .field("dense", &self.dense.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a version could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("version {version}: {source}")]
    Catalog {
        version: String,
        source: Box<CatalogError>,
    },
    #[error("version {version}: {source}")]
    Dense {
        version: String,
        source: Box<DenseError>,
    },
    #[error("version {version}: {source}")]
    Sparse {
        version: String,
        source: Box<SparseError>,
    },
}

/// Opens the version in `dir` for searching (catalog read-only).
pub fn load_version(dir: &Path, metrics: &Metrics) -> Result<LoadedIndex, LoadError> {
    let manifest = read_manifest(dir)?;
    let version = manifest.version.clone();
    let catalog =
        Catalog::open_read_only(&dir.join(CATALOG_FILE), metrics.clone()).map_err(|source| {
            LoadError::Catalog {
                version: version.clone(),
                source: Box::new(source),
            }
        })?;
    let dense = if manifest.dense.present {
        Some(
            DenseIndex::load(&dir.join(DENSE_DIR), metrics.clone()).map_err(|source| {
                LoadError::Dense {
                    version: version.clone(),
                    source: Box::new(source),
                }
            })?,
        )
    } else {
        None
    };
    let sparse = SparseIndex::open(&dir.join(SPARSE_DIR)).map_err(|source| LoadError::Sparse {
        version: version.clone(),
        source: Box::new(source),
    })?;
    Ok(LoadedIndex {
        version,
        manifest,
        catalog,
        dense,
        sparse,
    })
}

/// Opens the current version of `data`, if there is one.
pub fn load_current(data: &DataDir, metrics: &Metrics) -> Result<Option<LoadedIndex>, LoadError> {
    match data.current()? {
        Some(v) => Ok(Some(load_version(&v.dir, metrics)?)),
        None => Ok(None),
    }
}
