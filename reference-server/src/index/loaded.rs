//! A published index version opened for searching.

use std::path::Path;

use crate::index::publish::{DataDir, Manifest, PublishError, hold_served, read_manifest};
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
    /// Set when this version is served in place of a newer one that could
    /// not be loaded (a torn version): why, for every answer's `limits`.
    pub fallback: Option<String>,
    /// The version named by `CURRENT` when this one was loaded for it
    /// (differs from `version` on a fallback).
    pub wanted: String,
    /// Keeps `prune` (of any process) away from this folder while loaded.
    _served: Option<std::fs::File>,
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
    // Held before the files are opened: a prune starting now skips it.
    let served = hold_served(dir);
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
        wanted: version.clone(),
        version,
        manifest,
        catalog,
        dense,
        sparse,
        fallback: None,
        _served: served,
    })
}

/// Opens the current version of `data`, if there is one. A torn current
/// version (a missing or corrupt file) falls back to its parent — or the
/// newest older version that loads — loudly: an error log, and the loaded
/// index carries the reason ([`LoadedIndex::fallback`], shown in every
/// answer's `limits`). Fails with the current version's error when no
/// older version loads either.
pub fn load_current(data: &DataDir, metrics: &Metrics) -> Result<Option<LoadedIndex>, LoadError> {
    let Some(name) = data.current_name()? else {
        return Ok(None);
    };
    let dir = data.root().join("versions").join(&name);
    let error = match load_version(&dir, metrics) {
        Ok(index) => return Ok(Some(index)),
        Err(e) => e,
    };
    tracing::error!(
        version = %name,
        error = %error,
        "the index version CURRENT names cannot be loaded (torn or corrupt); \
         falling back to its parent"
    );
    for candidate in fallback_candidates(data, &dir, &name)? {
        match load_version(&candidate, metrics) {
            Ok(mut index) => {
                let why = format!(
                    "index version {name} (named by CURRENT) cannot be loaded: {error}; \
                     serving its parent {} instead: re-run `codeintel-server index`, or \
                     `codeintel-server rollback`",
                    index.version
                );
                tracing::error!(
                    version = %name,
                    served = %index.version,
                    "serving the parent of a torn index version: {why}"
                );
                index.fallback = Some(why);
                index.wanted = name;
                return Ok(Some(index));
            }
            Err(e) => tracing::error!(
                version = %candidate.display(),
                error = %e,
                "fallback version cannot be loaded either"
            ),
        }
    }
    Err(error)
}

/// Folders to try in place of the torn `name`: its manifest's parent first
/// (when the manifest is readable), then older versions, newest first.
fn fallback_candidates(
    data: &DataDir,
    dir: &Path,
    name: &str,
) -> Result<Vec<std::path::PathBuf>, LoadError> {
    let number = |n: &str| n.strip_prefix('v').and_then(|d| d.parse::<u64>().ok());
    let own = number(name);
    let mut out = Vec::new();
    if let Some(parent) = read_manifest(dir).ok().and_then(|m| m.parent) {
        out.push(data.root().join("versions").join(parent));
    }
    let mut older: Vec<_> = data
        .versions()?
        .into_iter()
        .filter(|v| number(&v.name) < own)
        .collect();
    older.reverse();
    for v in older {
        if !out.contains(&v.dir) {
            out.push(v.dir);
        }
    }
    Ok(out)
}
