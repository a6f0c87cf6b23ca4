//! Builds a new index version: walk → chunk → embed → write → publish.
//!
//! Incremental: a file whose size and mtime are unchanged is not read; a
//! chunk whose id (path, span, content hash) already has a vector from the
//! previous version is not embedded again. Each build writes a whole new
//! version folder and publishes it atomically (see [`super::publish`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::embed::{EmbedError, Embedder};
use crate::index::chunk::{self, ChunkOptions};
use crate::index::loaded::{CATALOG_FILE, DENSE_DIR, SPARSE_DIR};
use crate::index::publish::{
    BuildStats, DataDir, DenseStatus, Manifest, PublishError, VersionInfo,
};
use crate::index::walk::{self, WalkOptions};
use crate::observability::metrics::Metrics;
use crate::store::catalog::{
    Catalog, CatalogError, ChunkRecord, FileRecord, FileRows, SymbolRecord,
};
use crate::store::dense::{DenseError, DenseIndex, DenseKind};
use crate::store::sparse::{SparseDoc, SparseError, SparseIndex};

/// Files written to the catalog per transaction.
const WRITE_BATCH_FILES: usize = 512;

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub walk: WalkOptions,
    pub chunk: ChunkOptions,
    pub dense_kind: DenseKind,
    /// Show a progress bar on a terminal (log lines otherwise).
    pub progress: bool,
    /// Texts handed to the embedder per call (progress granularity).
    pub embed_slice: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            walk: WalkOptions::default(),
            chunk: ChunkOptions::default(),
            dense_kind: DenseKind::Auto,
            progress: false,
            embed_slice: 256,
        }
    }
}

/// Why a build failed. The previous version stays current.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Walk(#[from] walk::WalkError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("catalog: {0}")]
    Catalog(#[from] CatalogError),
    #[error("dense index: {0}")]
    Dense(#[from] DenseError),
    #[error("sparse index: {0}")]
    Sparse(#[from] SparseError),
    #[error(
        "embedding failed after {done} of {total} chunks: {source}; \
         nothing was published, the previous version is still served"
    )]
    Embed {
        done: usize,
        total: usize,
        source: EmbedError,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("internal: {0}")]
    Internal(String),
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    pub version: VersionInfo,
    pub manifest: Manifest,
}

/// Progress reporting: an `indicatif` bar on a terminal, periodic log lines
/// otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    stage: &'static str,
    total: u64,
    done: u64,
    last_logged_pct: u64,
}

impl Progress {
    fn new(enabled: bool, stage: &'static str, total: usize) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            let style = indicatif::ProgressStyle::with_template(
                "{prefix:>8} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar.set_prefix(stage);
            bar
        });
        Self {
            bar,
            stage,
            total: total as u64,
            done: 0,
            last_logged_pct: 0,
        }
    }

    fn inc(&mut self, n: usize) {
        self.done += n as u64;
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        } else if let Some(pct) = (self.done * 100).checked_div(self.total)
            && (pct >= self.last_logged_pct + 25 || self.done == self.total)
        {
            self.last_logged_pct = pct;
            tracing::info!(
                stage = self.stage,
                done = self.done,
                total = self.total,
                "index progress {pct}%"
            );
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

struct Timer(BTreeMap<String, f64>);

impl Timer {
    fn time<T>(&mut self, stage: &str, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        *self.0.entry(stage.to_owned()).or_default() += start.elapsed().as_secs_f64();
        out
    }
}

fn copy_catalog(from_dir: &Path, to_dir: &Path) -> Result<(), BuildError> {
    for name in [CATALOG_FILE.to_owned(), format!("{CATALOG_FILE}.wal")] {
        let from = from_dir.join(&name);
        if from.exists() {
            let to = to_dir.join(&name);
            std::fs::copy(&from, &to).map_err(|source| BuildError::Io { path: to, source })?;
        }
    }
    Ok(())
}

/// What the walk and chunk stages decided for one file.
struct FileWork {
    record: FileRecord,
    chunks: Vec<ChunkRecord>,
    symbols: Vec<SymbolRecord>,
}

fn file_hash(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex()[..32].to_owned()
}

/// Builds a new version of `repo`'s index in `data` and publishes it.
///
/// Without an embedder (or when the embeddings server is unavailable) the
/// version is published without a dense part, and the manifest says why; the
/// next build fills it in. Any other failure publishes nothing.
pub async fn build(
    repo: &Path,
    data: &DataDir,
    embedder: Option<Arc<dyn Embedder>>,
    metrics: &Metrics,
    opts: &BuildOptions,
) -> Result<BuildOutcome, BuildError> {
    let mut timer = Timer(BTreeMap::new());
    let mut stats = BuildStats::default();
    let lock = data.lock()?;

    // walk
    let walked = timer.time("walk", || walk::walk(repo, &opts.walk))?;
    stats.files_seen = walked.files.len();
    for s in &walked.skipped {
        tracing::debug!(path = %s.rel_path, "skipped: {}", s.reason);
        *stats
            .skipped_by_reason
            .entry(s.reason.as_str().to_owned())
            .or_default() += 1;
    }

    // previous version
    let prev = data.current()?;
    let prev_manifest = prev.as_ref().and_then(|p| p.manifest.clone());
    let staging = data.begin(&lock)?;
    let (prev_files, prev_vectors) = match &prev {
        Some(p) => {
            let files = {
                let cat = Catalog::open_read_only(&p.dir.join(CATALOG_FILE), metrics.clone())?;
                cat.files()?
            };
            copy_catalog(&p.dir, &staging.dir)?;
            let same_model = prev_manifest.as_ref().is_some_and(|m| {
                m.dense.present
                    && embedder
                        .as_ref()
                        .is_some_and(|e| m.dense.model.as_deref() == Some(e.model()))
            });
            let vectors = if same_model {
                let dense = DenseIndex::load(&p.dir.join(DENSE_DIR), metrics.clone())?;
                Some(dense)
            } else {
                None
            };
            (files, vectors)
        }
        None => (HashMap::new(), None),
    };
    let catalog = Catalog::create(&staging.dir.join(CATALOG_FILE), metrics.clone())?;

    // chunk (pure, parallel) the files that changed
    let seen: HashSet<&str> = walked.files.iter().map(|f| f.rel_path.as_str()).collect();
    let mut unreadable: Vec<(String, walk::SkipReason)> = Vec::new();
    let work: Vec<Result<Option<FileWork>, (String, walk::SkipReason)>> =
        timer.time("chunk", || {
            walked
                .files
                .par_iter()
                .map(|f| {
                    let mtime_ns = f.mtime_ns as i64;
                    if let Some(old) = prev_files.get(&f.rel_path)
                        && old.size == f.size as i64
                        && old.mtime_ns == mtime_ns
                    {
                        return Ok(None);
                    }
                    let text = walk::read_text(f).map_err(|r| (f.rel_path.clone(), r))?;
                    let hash = file_hash(&text);
                    if prev_files
                        .get(&f.rel_path)
                        .is_some_and(|old| old.hash == hash)
                    {
                        return Ok(None);
                    }
                    let out = chunk::chunk_file(&f.rel_path, &text, &opts.chunk);
                    let language = f.language.as_str().to_owned();
                    Ok(Some(FileWork {
                        record: FileRecord {
                            path: f.rel_path.clone(),
                            hash,
                            size: f.size as i64,
                            mtime_ns,
                            language,
                        },
                        chunks: out
                            .chunks
                            .into_iter()
                            .map(|c| ChunkRecord {
                                id: c.id,
                                path: c.path,
                                start_line: c.start_line,
                                end_line: c.end_line,
                                language: c.language.as_str().to_owned(),
                                kind: c.kind.as_str().to_owned(),
                                symbol: c.symbol,
                                text: c.text,
                            })
                            .collect(),
                        symbols: out
                            .symbols
                            .into_iter()
                            .map(|s| SymbolRecord {
                                name: s.name,
                                kind: s.kind.as_str().to_owned(),
                                path: s.path,
                                start_line: s.start_line,
                                end_line: s.end_line,
                            })
                            .collect(),
                    }))
                })
                .collect()
        });

    // write the catalog: deleted files, then changed ones, in batched
    // transactions (one per file would cost a commit each)
    timer.time("write", || -> Result<(), BuildError> {
        let mut gone: Vec<&str> = prev_files
            .keys()
            .map(String::as_str)
            .filter(|p| !seen.contains(p))
            .collect();
        stats.files_deleted = gone.len();
        let mut changed: Vec<FileWork> = Vec::new();
        for item in work {
            match item {
                Ok(None) => stats.files_unchanged += 1,
                Ok(Some(w)) => changed.push(w),
                Err((path, why)) => {
                    // Unreadable now: drop what an older version had of it.
                    unreadable.push((path, why));
                }
            }
        }
        for (path, _) in &unreadable {
            if prev_files.contains_key(path) {
                gone.push(path.as_str());
            }
        }
        catalog.delete_paths(&gone)?;
        stats.files_changed = changed.len();
        let mut progress = Progress::new(opts.progress, "files", changed.len());
        for batch in changed.chunks(WRITE_BATCH_FILES) {
            let rows: Vec<FileRows<'_>> = batch
                .iter()
                .map(|w| FileRows {
                    file: &w.record,
                    chunks: &w.chunks,
                    symbols: &w.symbols,
                })
                .collect();
            catalog.replace_files(&rows)?;
            progress.inc(batch.len());
        }
        progress.finish();
        Ok(())
    })?;
    for (path, why) in &unreadable {
        tracing::debug!(path = %path, "skipped: {why}");
        *stats
            .skipped_by_reason
            .entry(why.as_str().to_owned())
            .or_default() += 1;
    }
    stats.files_skipped = walked.skipped.len() + unreadable.len();

    // embed what has no vector yet
    let all_chunks = catalog.all_chunks()?;
    let catalog_stats = catalog.stats()?;
    stats.chunks = catalog_stats.chunks as usize;
    stats.symbols = catalog_stats.symbols as usize;
    let mut known: HashMap<String, Vec<f32>> = HashMap::new();
    if let Some(prev_dense) = &prev_vectors {
        let wanted: HashSet<&str> = all_chunks.iter().map(|c| c.id.as_str()).collect();
        for (id, v) in prev_dense.vectors_by_id() {
            if wanted.contains(id) {
                known.insert(id.to_owned(), v.to_vec());
            }
        }
    }
    drop(prev_vectors);
    let missing: Vec<&ChunkRecord> = all_chunks
        .iter()
        .filter(|c| !known.contains_key(&c.id))
        .collect();
    let embed_start = Instant::now();
    let dense_status = match &embedder {
        None => Err(crate::embed::select::NO_EMBEDDER.to_owned()),
        Some(e) => {
            let mut progress = Progress::new(opts.progress, "embed", missing.len());
            let mut result = Ok(());
            for slice in missing.chunks(opts.embed_slice.max(1)) {
                let texts: Vec<String> = slice.iter().map(|c| c.text.clone()).collect();
                stats.embed_calls += 1;
                match e.embed(&texts).await {
                    Ok(vectors) => {
                        for (c, v) in slice.iter().zip(vectors) {
                            known.insert(c.id.clone(), v);
                        }
                        stats.chunks_embedded += slice.len();
                        progress.inc(slice.len());
                    }
                    Err(err) if err.is_unavailable() => {
                        result = Err(format!("embeddings server unavailable: {err}"));
                        break;
                    }
                    Err(source) => {
                        progress.finish();
                        // Hard failure: publish nothing (the staging folder is
                        // discarded by the next build).
                        return Err(BuildError::Embed {
                            done: stats.chunks_embedded,
                            total: missing.len(),
                            source,
                        });
                    }
                }
            }
            progress.finish();
            result
        }
    };
    stats
        .stage_seconds
        .insert("embed".into(), embed_start.elapsed().as_secs_f64());

    // dense
    let dense = timer.time("dense", || -> Result<DenseStatus, BuildError> {
        if let Err(reason) = dense_status {
            tracing::warn!("dense channel missing in this version: {reason}");
            return Ok(DenseStatus {
                present: false,
                reason: Some(reason),
                ..DenseStatus::default()
            });
        }
        {
            {
                let mut ids = Vec::with_capacity(all_chunks.len());
                let mut vectors = Vec::new();
                let mut dim = None;
                for c in &all_chunks {
                    if let Some(v) = known.remove(&c.id) {
                        dim.get_or_insert(v.len());
                        ids.push(c.id.clone());
                        vectors.extend_from_slice(&v);
                    }
                }
                let dim = dim
                    .or_else(|| embedder.as_ref().and_then(Embedder::dimension))
                    .unwrap_or(0);
                let count = ids.len();
                let index = DenseIndex::build(dim, ids, vectors, opts.dense_kind, metrics.clone())?;
                index.save(&staging.dir.join(DENSE_DIR))?;
                Ok(DenseStatus {
                    present: true,
                    reason: None,
                    model: embedder.as_ref().map(|e| e.model().to_owned()),
                    dimension: Some(dim),
                    kind: Some(format!("{:?}", index.kind())),
                    vectors: count,
                })
            }
        }
    })?;

    // sparse
    timer.time("sparse", || -> Result<(), BuildError> {
        let docs = all_chunks.iter().map(|c| SparseDoc {
            id: c.id.clone(),
            path: c.path.clone(),
            symbol: c.symbol.clone(),
            text: c.text.clone(),
        });
        SparseIndex::build(&staging.dir.join(SPARSE_DIR), docs)?;
        Ok(())
    })?;
    drop(catalog);

    for (k, v) in timer.0 {
        stats.stage_seconds.insert(k, v);
    }
    let manifest = Manifest {
        version: staging.version.clone(),
        parent: prev.as_ref().map(|p| p.name.clone()),
        created_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
        repo: repo.display().to_string(),
        files: catalog_stats.files as usize,
        chunks: stats.chunks,
        symbols: stats.symbols,
        dense,
        stats,
    };
    let publish_start = Instant::now();
    let version = data.publish(&lock, staging, &manifest)?;
    let mut manifest = manifest;
    manifest
        .stats
        .stage_seconds
        .insert("publish".into(), publish_start.elapsed().as_secs_f64());
    Ok(BuildOutcome { version, manifest })
}

/// A human summary of a build (printed at the end of `index`).
pub fn summary(outcome: &BuildOutcome) -> String {
    let m = &outcome.manifest;
    let s = &m.stats;
    let mut out = format!(
        "published {} ({} files, {} chunks, {} symbols)\n  files: {} seen, {} changed, {} unchanged, {} deleted, {} skipped\n",
        m.version,
        m.files,
        m.chunks,
        m.symbols,
        s.files_seen,
        s.files_changed,
        s.files_unchanged,
        s.files_deleted,
        s.files_skipped
    );
    for (reason, n) in &s.skipped_by_reason {
        let _ = writeln!(out, "    skipped {n}: {reason}");
    }
    if m.dense.present {
        let _ = writeln!(
            out,
            "  dense: {} vectors ({} new) from {} (dim {})",
            m.dense.vectors,
            s.chunks_embedded,
            m.dense.model.as_deref().unwrap_or("?"),
            m.dense.dimension.unwrap_or(0)
        );
    } else {
        let _ = writeln!(
            out,
            "  dense: MISSING: {}; search will use BM25 only until the next `index` run with a working embeddings server",
            m.dense.reason.as_deref().unwrap_or("unknown reason")
        );
    }
    let stages: Vec<String> = s
        .stage_seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}s"))
        .collect();
    let _ = writeln!(out, "  time: {}", stages.join(", "));
    out
}
