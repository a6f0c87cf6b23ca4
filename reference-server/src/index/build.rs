//! Builds a new index version: walk → chunk → write → embed → (dense ‖
//! sparse) → publish, each stage a function over one [`Ctx`].
//!
//! Incremental by content, proportional to the change:
//! - a file whose size and mtime are unchanged is not read, one whose
//!   content hash is unchanged is not chunked;
//! - the catalog is the previous one plus a diff (rows of deleted and
//!   changed files replaced); only chunk ids and content hashes of the
//!   previous version are read, never all the text;
//! - chunk ids do not include the line span ([`chunk::chunk_id`]), so a
//!   chunk that only moved keeps its id and its rows in both indexes;
//! - vectors are keyed by content hash: a new chunk whose text the previous
//!   version had embedded (moved, renamed, duplicated) reuses that vector;
//!   only new text is embedded, in concurrent batches;
//! - the dense index is the previous one updated in place (removed rows
//!   tombstoned, new rows added; rebuilt past a tombstone threshold, see
//!   [`DenseIndex::apply_diff`]), the sparse one the previous segments
//!   hard-linked plus delete + add ([`SparseIndex::update`]); both run in
//!   parallel;
//! - an embedder that is down, or refuses one input, never throws away
//!   known vectors: the version is published with every vector it has, the
//!   rest are listed (`chunks_unembedded`, the manifest's
//!   `dense.unembedded`, a search `limits` entry) and the next build
//!   embeds them.
//!
//! A previous version in an older on-disk format (catalog schema 1), or
//! whose manifest is missing or corrupt, is not reused: the build starts
//! from scratch and says so in a warning naming the file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt as _;
use rayon::prelude::*;

use crate::embed::{EmbedError, Embedder};
use crate::index::chunk::{self, ChunkOptions};
use crate::index::loaded::{CATALOG_FILE, DENSE_DIR, SPARSE_DIR};
use crate::index::publish::{
    BuildStats, DataDir, DenseStatus, IndexLock, MAX_LISTED_UNEMBEDDED, Manifest, PublishError,
    Staging, UnembeddedChunk, VersionInfo,
};
use crate::index::walk::{self, WalkOptions};
use crate::observability::metrics::Metrics;
use crate::store::catalog::{
    Catalog, CatalogError, ChunkHash, ChunkRecord, FileRecord, FileRows, SymbolRecord,
};
use crate::store::dense::{DenseDiff, DenseError, DenseIndex, DenseKind, DenseOptions};
use crate::store::sparse::{SparseDiff, SparseDoc, SparseError, SparseIndex};
use crate::text::content_hash;

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
    /// Embedder calls in flight at once (batches are streamed).
    pub embed_concurrency: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            walk: WalkOptions::default(),
            chunk: ChunkOptions::default(),
            dense_kind: DenseKind::Auto,
            progress: false,
            embed_slice: 256,
            embed_concurrency: 4,
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

/// Everything a build's stages share.
struct Ctx<'a> {
    repo: &'a Path,
    data: &'a DataDir,
    embedder: Option<Arc<dyn Embedder>>,
    metrics: &'a Metrics,
    opts: &'a BuildOptions,
    timer: Timer,
    stats: BuildStats,
    /// Files in the new catalog.
    files: usize,
}

/// The previous version, as far as it can be reused.
struct Prev {
    info: VersionInfo,
    manifest: Option<Manifest>,
    files: HashMap<String, FileRecord>,
    /// Every chunk's id, path and content hash (no text).
    chunks: Vec<ChunkHash>,
}

/// What changed since the previous version (the catalog diff).
#[derive(Default)]
struct Changes {
    /// New rows of changed and new files.
    changed: Vec<FileWork>,
    /// Files gone (deleted, or unreadable now).
    gone: Vec<String>,
    unreadable: Vec<(String, walk::SkipReason)>,
}

/// One chunk as the index stages need it (text only for new ones).
struct NewChunk {
    id: String,
    hash: String,
    path: String,
    symbol: Option<String>,
    text: String,
}

/// Ids to remove from / add to both indexes, and every chunk id of the new
/// version with its content hash.
struct Plan {
    remove: Vec<String>,
    add: Vec<NewChunk>,
    /// Every chunk of the new version: id → content hash.
    all: HashMap<String, String>,
}

/// What the embed stage produced: vectors by content hash, and the hashes
/// left without one with why.
#[derive(Default)]
struct Embedded {
    vectors: HashMap<String, Vec<f32>>,
    failed: HashMap<String, String>,
    /// Set when the embedder stopped answering: nothing more was embedded.
    unavailable: Option<String>,
}

/// Builds a new version of `repo`'s index in `data` and publishes it.
///
/// Without an embedder the version is published without a dense part. An
/// embeddings server that is down, or refuses some inputs, costs only the
/// vectors it could not give: the version keeps every known vector and
/// lists the rest, the next build fills them in. Any other failure
/// publishes nothing.
pub async fn build(
    repo: &Path,
    data: &DataDir,
    embedder: Option<Arc<dyn Embedder>>,
    metrics: &Metrics,
    opts: &BuildOptions,
) -> Result<BuildOutcome, BuildError> {
    let mut ctx = Ctx {
        repo,
        data,
        embedder,
        metrics,
        opts,
        timer: Timer(BTreeMap::new()),
        stats: BuildStats::default(),
        files: 0,
    };
    let lock = data.lock()?;
    let walked = walk_stage(&mut ctx)?;
    let staging = data.begin(&lock)?;
    let prev = previous_stage(&mut ctx, &staging)?;
    let changes = chunk_stage(&mut ctx, &walked, prev.as_ref());
    let catalog = Catalog::create(&staging.dir.join(CATALOG_FILE), metrics.clone())?;
    write_stage(&mut ctx, &catalog, &changes)?;
    let plan = plan_stage(prev.as_ref(), changes);
    let prev_dense = load_prev_dense(&mut ctx, prev.as_ref());
    let wanted = vectors_wanted(&plan, prev_dense.as_ref());
    let (known, to_embed) = known_vectors(
        &ctx,
        &catalog,
        &plan,
        prev.as_ref(),
        prev_dense.as_ref(),
        &wanted,
    )?;
    let embedded = embed_stage(&mut ctx, to_embed).await?;
    let dense = index_stage(
        &mut ctx,
        &catalog,
        &staging,
        prev.as_ref(),
        prev_dense,
        &plan,
        known,
        embedded,
        &wanted,
    )?;
    drop(catalog);
    finish(ctx, &lock, staging, prev.as_ref(), dense)
}

fn walk_stage(ctx: &mut Ctx<'_>) -> Result<walk::WalkOutcome, BuildError> {
    let (repo, walk_opts) = (ctx.repo, &ctx.opts.walk);
    let walked = ctx.timer.time("walk", || walk::walk(repo, walk_opts))?;
    ctx.stats.files_seen = walked.files.len();
    for s in &walked.skipped {
        tracing::debug!(path = %s.rel_path, "skipped: {}", s.reason);
        *ctx.stats
            .skipped_by_reason
            .entry(s.reason.as_str().to_owned())
            .or_default() += 1;
    }
    ctx.stats.files_skipped = walked.skipped.len();
    for d in &walked.dirs_skipped {
        tracing::debug!(path = %d, "folder skipped");
    }
    ctx.stats.dirs_skipped = walked.dirs_skipped.len();
    ctx.stats.dirs_skipped_by_name = walked.dirs_skipped_by_name();
    Ok(walked)
}

/// Opens the previous version's catalog (ids and hashes only) and copies
/// it into the staging folder, which the write stage then diffs. A
/// previous version this server cannot read (older format, a manifest that
/// is missing or not valid JSON) is not reused: the build starts from
/// scratch and a warning names the file.
fn previous_stage(ctx: &mut Ctx<'_>, staging: &Staging) -> Result<Option<Prev>, BuildError> {
    let info = match ctx.data.current() {
        Ok(Some(info)) => info,
        Ok(None) => return Ok(None),
        Err(e) => match unreadable_manifest(&e) {
            Some(path) => {
                tracing::warn!(
                    file = %path.display(),
                    "manifest of the current version unreadable, building from scratch: {e}"
                );
                return Ok(None);
            }
            None => return Err(e.into()),
        },
    };
    let metrics = ctx.metrics.clone();
    let read = ctx.timer.time("previous", || -> Result<_, CatalogError> {
        let cat = Catalog::open_read_only(&info.dir.join(CATALOG_FILE), metrics)?;
        Ok((cat.files()?, cat.chunk_hashes()?))
    });
    let (files, chunks) = match read {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(
                version = %info.name,
                "previous version not reusable, building from scratch: {e}"
            );
            return Ok(None);
        }
    };
    ctx.timer
        .time("previous", || copy_catalog(&info.dir, &staging.dir))?;
    Ok(Some(Prev {
        manifest: info.manifest.clone(),
        info,
        files,
        chunks,
    }))
}

/// The manifest file named by `e` when `e` is a failure to read or parse a
/// version's `manifest.json` (not one of the data folder itself, such as an
/// unreadable `CURRENT`, which stays fatal).
fn unreadable_manifest(e: &PublishError) -> Option<&Path> {
    match e {
        PublishError::Manifest { path, .. } | PublishError::Io { path, .. }
            if path.file_name().is_some_and(|n| n == "manifest.json") =>
        {
            Some(path)
        }
        _ => None,
    }
}

fn chunk_file(
    f: &walk::SourceFile,
    prev: Option<&Prev>,
    opts: &BuildOptions,
) -> Result<Option<FileWork>, (String, walk::SkipReason)> {
    let old = prev.and_then(|p| p.files.get(&f.rel_path));
    let mtime_ns = f.mtime_ns as i64;
    if old.is_some_and(|old| old.size == f.size as i64 && old.mtime_ns == mtime_ns) {
        return Ok(None);
    }
    let text = walk::read_text(f).map_err(|r| (f.rel_path.clone(), r))?;
    let hash = file_hash(&text);
    if old.is_some_and(|old| old.hash == hash) {
        return Ok(None);
    }
    let out = chunk::chunk_file(&f.rel_path, &text, &opts.chunk);
    Ok(Some(FileWork {
        record: FileRecord {
            path: f.rel_path.clone(),
            hash,
            size: f.size as i64,
            mtime_ns,
            language: f.language.as_str().to_owned(),
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
}

/// Reads and chunks (pure, parallel) the files that changed.
fn chunk_stage(ctx: &mut Ctx<'_>, walked: &walk::WalkOutcome, prev: Option<&Prev>) -> Changes {
    let opts = ctx.opts;
    let work: Vec<Result<Option<FileWork>, (String, walk::SkipReason)>> =
        ctx.timer.time("chunk", || {
            walked
                .files
                .par_iter()
                .map(|f| chunk_file(f, prev, opts))
                .collect()
        });
    let mut changes = Changes::default();
    for item in work {
        match item {
            Ok(None) => ctx.stats.files_unchanged += 1,
            Ok(Some(w)) => changes.changed.push(w),
            Err(unreadable) => changes.unreadable.push(unreadable),
        }
    }
    if let Some(prev) = prev {
        let seen: HashSet<&str> = walked.files.iter().map(|f| f.rel_path.as_str()).collect();
        changes.gone = prev
            .files
            .keys()
            .filter(|p| !seen.contains(p.as_str()))
            .cloned()
            .collect();
        ctx.stats.files_deleted = changes.gone.len();
        for (path, _) in &changes.unreadable {
            // Unreadable now: drop what an older version had of it.
            if prev.files.contains_key(path) {
                changes.gone.push(path.clone());
            }
        }
    }
    for (path, why) in &changes.unreadable {
        tracing::debug!(path = %path, "skipped: {why}");
        *ctx.stats
            .skipped_by_reason
            .entry(why.as_str().to_owned())
            .or_default() += 1;
    }
    ctx.stats.files_skipped += changes.unreadable.len();
    ctx.stats.files_changed = changes.changed.len();
    changes
}

/// Applies the diff to the (copied) catalog: deleted files, then changed
/// ones, in batched transactions (one per file would cost a commit each).
fn write_stage(ctx: &mut Ctx<'_>, catalog: &Catalog, changes: &Changes) -> Result<(), BuildError> {
    let progress_on = ctx.opts.progress;
    ctx.timer.time("write", || -> Result<(), BuildError> {
        let gone: Vec<&str> = changes.gone.iter().map(String::as_str).collect();
        catalog.delete_paths(&gone)?;
        let mut progress = Progress::new(progress_on, "files", changes.changed.len());
        for batch in changes.changed.chunks(WRITE_BATCH_FILES) {
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
    let catalog_stats = catalog.stats()?;
    ctx.files = catalog_stats.files as usize;
    ctx.stats.chunks = catalog_stats.chunks as usize;
    ctx.stats.symbols = catalog_stats.symbols as usize;
    Ok(())
}

/// The index diff: chunks of touched files (changed or gone) whose id is
/// not kept are removed, new ids added; a chunk that kept its id (same
/// path and text, possibly other lines) stays as it is.
fn plan_stage(prev: Option<&Prev>, changes: Changes) -> Plan {
    let touched: HashSet<&str> = changes
        .changed
        .iter()
        .map(|w| w.record.path.as_str())
        .chain(changes.gone.iter().map(String::as_str))
        .collect();
    let mut all: HashMap<String, String> = HashMap::new();
    let mut old_touched: HashSet<&str> = HashSet::new();
    for c in prev.map(|p| p.chunks.as_slice()).unwrap_or_default() {
        if touched.contains(c.path.as_str()) {
            old_touched.insert(c.id.as_str());
        } else {
            all.insert(c.id.clone(), c.content_hash.clone());
        }
    }
    let mut add = Vec::new();
    let mut kept: HashSet<String> = HashSet::new();
    for w in changes.changed {
        for c in w.chunks {
            let hash = content_hash(&c.text);
            all.insert(c.id.clone(), hash.clone());
            if old_touched.contains(c.id.as_str()) {
                kept.insert(c.id);
            } else {
                add.push(NewChunk {
                    id: c.id,
                    hash,
                    path: c.path,
                    symbol: c.symbol,
                    text: c.text,
                });
            }
        }
    }
    let remove = old_touched
        .into_iter()
        .filter(|id| !kept.contains(*id))
        .map(str::to_owned)
        .collect();
    Plan { remove, add, all }
}

/// The previous version's dense index, when this build can extend it: same
/// model, and present.
fn load_prev_dense(ctx: &mut Ctx<'_>, prev: Option<&Prev>) -> Option<DenseIndex> {
    let prev = prev?;
    let embedder = ctx.embedder.as_ref()?;
    let m = prev.manifest.as_ref()?;
    if !m.dense.present || m.dense.model.as_deref() != Some(embedder.model()) {
        return None;
    }
    let dir = prev.info.dir.join(DENSE_DIR);
    let metrics = ctx.metrics.clone();
    match ctx
        .timer
        .time("previous", || DenseIndex::load(&dir, metrics))
    {
        Ok(d)
            if embedder
                .dimension()
                .is_none_or(|dim| dim == d.dim() || d.is_empty()) =>
        {
            Some(d)
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("previous dense index not reusable, embedding everything: {e}");
            None
        }
    }
}

/// Chunk ids of the new version that have no vector in the reused dense
/// index (new chunks, and those an earlier build left unembedded).
fn vectors_wanted(plan: &Plan, prev_dense: Option<&DenseIndex>) -> Vec<String> {
    let removed: HashSet<&str> = plan.remove.iter().map(String::as_str).collect();
    let mut wanted: Vec<String> = plan
        .all
        .keys()
        .filter(|id| {
            prev_dense.is_none_or(|d| d.vector(id).is_none() || removed.contains(id.as_str()))
        })
        .cloned()
        .collect();
    wanted.sort_unstable();
    wanted
}

/// Vectors the previous version already has for wanted content (by hash),
/// and the texts still to embed (by hash, each once).
#[allow(clippy::type_complexity)]
fn known_vectors(
    ctx: &Ctx<'_>,
    catalog: &Catalog,
    plan: &Plan,
    prev: Option<&Prev>,
    prev_dense: Option<&DenseIndex>,
    wanted: &[String],
) -> Result<(HashMap<String, Vec<f32>>, Vec<(String, String)>), BuildError> {
    let mut known: HashMap<String, Vec<f32>> = HashMap::new();
    let wanted_hashes: HashSet<&str> = wanted
        .iter()
        .filter_map(|id| plan.all.get(id).map(String::as_str))
        .collect();
    if let (Some(prev), Some(dense)) = (prev, prev_dense) {
        for c in &prev.chunks {
            if wanted_hashes.contains(c.content_hash.as_str())
                && !known.contains_key(&c.content_hash)
                && let Some(v) = dense.vector(&c.id)
            {
                known.insert(c.content_hash.clone(), v.to_vec());
            }
        }
    }
    if ctx.embedder.is_none() {
        return Ok((known, Vec::new()));
    }
    // Texts: new chunks carry theirs; older unembedded ones are read back.
    let mut texts: HashMap<&str, String> = HashMap::new();
    for c in &plan.add {
        if !known.contains_key(&c.hash) {
            texts
                .entry(c.hash.as_str())
                .or_insert_with(|| c.text.clone());
        }
    }
    let missing_ids: Vec<String> = wanted
        .iter()
        .filter(|id| {
            plan.all
                .get(*id)
                .is_some_and(|h| !known.contains_key(h) && !texts.contains_key(h.as_str()))
        })
        .cloned()
        .collect();
    let mut to_embed: Vec<(String, String)> =
        texts.into_iter().map(|(h, t)| (h.to_owned(), t)).collect();
    if !missing_ids.is_empty() {
        let mut seen: HashSet<String> = to_embed.iter().map(|(h, _)| h.clone()).collect();
        for c in catalog.chunks_by_ids(&missing_ids)? {
            let h = content_hash(&c.text);
            if seen.insert(h.clone()) {
                to_embed.push((h, c.text));
            }
        }
    }
    to_embed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok((known, to_embed))
}

/// Whether the embedder refused this input (and maybe only this one): the
/// batch is split to find it, and a single refused input is skipped.
fn input_refused(e: &EmbedError) -> bool {
    matches!(e, EmbedError::Status { status, .. } if matches!(status, 400 | 413 | 422))
}

/// One batch's outcome: vectors by hash, refused inputs, embedder calls.
struct BatchOutcome {
    vectors: Vec<(String, Vec<f32>)>,
    refused: Vec<(String, String)>,
    calls: usize,
    error: Option<EmbedError>,
}

/// Embeds one batch; an input refusal splits it in halves until the
/// refused input is alone, and skips that one.
async fn embed_batch(embedder: &dyn Embedder, batch: Vec<(String, String)>) -> BatchOutcome {
    let mut out = BatchOutcome {
        vectors: Vec::new(),
        refused: Vec::new(),
        calls: 0,
        error: None,
    };
    let mut stack = vec![batch];
    while let Some(part) = stack.pop() {
        let texts: Vec<String> = part.iter().map(|(_, t)| t.clone()).collect();
        out.calls += 1;
        match embedder.embed(&texts).await {
            Ok(vectors) => {
                out.vectors
                    .extend(part.into_iter().map(|(h, _)| h).zip(vectors));
            }
            Err(e) if input_refused(&e) && part.len() > 1 => {
                let mut first = part;
                let second = first.split_off(first.len() / 2);
                stack.push(second);
                stack.push(first);
            }
            Err(e) if input_refused(&e) => {
                out.refused
                    .extend(part.into_iter().map(|(h, _)| (h, e.to_string())));
            }
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        }
    }
    out
}

/// Embeds `to_embed` (hash, text) in batches of `embed_slice`, up to
/// `embed_concurrency` in flight, results taken as they come.
async fn embed_stage(
    ctx: &mut Ctx<'_>,
    to_embed: Vec<(String, String)>,
) -> Result<Embedded, BuildError> {
    let start = Instant::now();
    let mut embedded = Embedded::default();
    let Some(embedder) = ctx.embedder.clone() else {
        return Ok(embedded);
    };
    let total = to_embed.len();
    let mut progress = Progress::new(ctx.opts.progress, "embed", total);
    let slice = ctx.opts.embed_slice.max(1);
    let mut batches: Vec<Vec<(String, String)>> = Vec::new();
    let mut rest = to_embed.into_iter().peekable();
    while rest.peek().is_some() {
        batches.push(rest.by_ref().take(slice).collect());
    }
    let mut results = futures::stream::iter(batches)
        .map(|b| {
            let e = Arc::clone(&embedder);
            async move { embed_batch(e.as_ref(), b).await }
        })
        .buffer_unordered(ctx.opts.embed_concurrency.max(1));
    let mut fatal = None;
    while let Some(b) = results.next().await {
        ctx.stats.embed_calls += b.calls;
        ctx.stats.chunks_embedded += b.vectors.len();
        progress.inc(b.vectors.len() + b.refused.len());
        embedded.vectors.extend(b.vectors);
        for (hash, why) in b.refused {
            tracing::warn!(content_hash = %hash, "chunk skipped, the embedder refused it: {why}");
            embedded.failed.insert(hash, why);
        }
        match b.error {
            None => {}
            Some(e) if e.is_unavailable() => {
                embedded.unavailable = Some(format!("embeddings server unavailable: {e}"));
                break;
            }
            Some(e) => {
                fatal = Some(e);
                break;
            }
        }
    }
    drop(results);
    progress.finish();
    ctx.stats
        .stage_seconds
        .insert("embed".into(), start.elapsed().as_secs_f64());
    if let Some(source) = fatal {
        // Hard failure: publish nothing (the staging folder is discarded by
        // the next build).
        return Err(BuildError::Embed {
            done: ctx.stats.chunks_embedded,
            total,
            source,
        });
    }
    Ok(embedded)
}

/// Builds (or updates) the dense and sparse indexes, in parallel.
#[allow(clippy::too_many_arguments)]
fn index_stage(
    ctx: &mut Ctx<'_>,
    catalog: &Catalog,
    staging: &Staging,
    prev: Option<&Prev>,
    prev_dense: Option<DenseIndex>,
    plan: &Plan,
    mut known: HashMap<String, Vec<f32>>,
    embedded: Embedded,
    wanted: &[String],
) -> Result<DenseStatus, BuildError> {
    let Embedded {
        vectors,
        failed,
        unavailable,
    } = embedded;
    ctx.stats.vectors_reused = wanted
        .iter()
        .filter(|id| plan.all.get(*id).is_some_and(|h| known.contains_key(h)))
        .count();
    known.extend(vectors);
    // The wanted ids with a vector now, and those without.
    let mut add_ids = Vec::new();
    let mut add_vectors = Vec::new();
    let mut unembedded_ids = Vec::new();
    let mut dim = prev_dense.as_ref().map(DenseIndex::dim).filter(|&d| d > 0);
    for id in wanted {
        match plan.all.get(id).and_then(|h| known.get(h)) {
            Some(v) if dim.is_none_or(|d| d == v.len()) => {
                dim.get_or_insert(v.len());
                add_ids.push(id.clone());
                add_vectors.extend_from_slice(v);
            }
            _ => unembedded_ids.push(id.clone()),
        }
    }
    drop(known);
    let no_embedder = ctx.embedder.is_none();
    let dense_dir = staging.dir.join(DENSE_DIR);
    let sparse_dir = staging.dir.join(SPARSE_DIR);
    let prev_sparse = prev.map(|p| p.info.dir.join(SPARSE_DIR));
    let kind = ctx.opts.dense_kind;
    let metrics = ctx.metrics.clone();
    let model = ctx.embedder.as_ref().map(|e| e.model().to_owned());
    let embed_dim = ctx
        .embedder
        .as_ref()
        .and_then(|e| Embedder::dimension(e.as_ref()));
    let start = Instant::now();
    let (dense, sparse, sparse_s, dense_s) = std::thread::scope(|s| {
        let sparse = s.spawn(|| {
            let start = Instant::now();
            let out = sparse_index(catalog, prev_sparse.as_deref(), &sparse_dir, plan);
            (out, start.elapsed().as_secs_f64())
        });
        let dense_start = Instant::now();
        let dense = (!no_embedder).then(|| {
            let dim = dim.or(embed_dim).unwrap_or(0);
            dense_index(
                prev_dense,
                &plan.remove,
                add_ids,
                add_vectors,
                dim,
                kind,
                &dense_dir,
                metrics,
            )
        });
        let dense_s = dense_start.elapsed().as_secs_f64();
        let (sparse, sparse_s) = sparse.join().unwrap_or_else(|_| {
            (
                Err(BuildError::Internal(
                    "the sparse index thread panicked".into(),
                )),
                0.0,
            )
        });
        (dense.transpose(), sparse, sparse_s, dense_s)
    });
    // The two halves of `index` (they run in parallel), for profiles.
    ctx.stats
        .stage_seconds
        .insert("index_sparse".into(), sparse_s);
    if !no_embedder {
        ctx.stats
            .stage_seconds
            .insert("index_dense".into(), dense_s);
    }
    let (index, diff) = match dense? {
        Some((index, diff)) => (Some(index), diff),
        None => (None, DenseDiff::default()),
    };
    let sparse_diff = sparse?;
    ctx.stats
        .stage_seconds
        .insert("index".into(), start.elapsed().as_secs_f64());
    ctx.stats.dense_added = diff.added;
    ctx.stats.dense_removed = diff.removed;
    ctx.stats.dense_rebuilt = diff.rebuilt;
    ctx.stats.sparse_added = sparse_diff.added;
    ctx.stats.sparse_removed = sparse_diff.removed;
    ctx.stats.sparse_rebuilt = sparse_diff.rebuilt;

    // Unembedded chunks: counted, the first listed with why.
    let reason_of = |id: &str| -> String {
        plan.all
            .get(id)
            .and_then(|h| failed.get(h))
            .cloned()
            .or_else(|| unavailable.clone())
            .unwrap_or_else(|| "no vector (embedder answered without it)".to_owned())
    };
    if !no_embedder {
        ctx.stats.chunks_unembedded = unembedded_ids.len();
        let listed: Vec<String> = unembedded_ids
            .iter()
            .take(MAX_LISTED_UNEMBEDDED)
            .cloned()
            .collect();
        for c in catalog.chunks_by_ids(&listed)? {
            ctx.stats.unembedded.push(UnembeddedChunk {
                reason: reason_of(&c.id),
                id: c.id,
                path: c.path,
                start_line: c.start_line,
                end_line: c.end_line,
            });
        }
    }
    let status = match index {
        None => DenseStatus {
            present: false,
            reason: Some(crate::embed::select::NO_EMBEDDER.to_owned()),
            ..DenseStatus::default()
        },
        Some(index) if index.is_empty() && !unembedded_ids.is_empty() => {
            let reason = unavailable.unwrap_or_else(|| {
                format!("none of {} chunks could be embedded", unembedded_ids.len())
            });
            tracing::warn!("dense channel missing in this version: {reason}");
            DenseStatus {
                present: false,
                reason: Some(reason),
                unembedded: unembedded_ids.len(),
                ..DenseStatus::default()
            }
        }
        Some(index) => {
            if !unembedded_ids.is_empty() {
                tracing::warn!(
                    unembedded = unembedded_ids.len(),
                    "published with {} chunks not embedded ({}); the next build embeds them",
                    unembedded_ids.len(),
                    unavailable
                        .as_deref()
                        .unwrap_or("the embedder refused them"),
                );
            }
            DenseStatus {
                present: true,
                reason: unavailable,
                model,
                dimension: Some(index.dim()),
                kind: Some(format!("{:?}", index.kind())),
                vectors: index.len(),
                unembedded: unembedded_ids.len(),
            }
        }
    };
    Ok(status)
}

/// The dense index of the new version: the previous one with the diff
/// applied in place, or a new one.
#[allow(clippy::too_many_arguments)]
fn dense_index(
    prev: Option<DenseIndex>,
    remove: &[String],
    add_ids: Vec<String>,
    add_vectors: Vec<f32>,
    dim: usize,
    kind: DenseKind,
    dir: &Path,
    metrics: Metrics,
) -> Result<(DenseIndex, DenseDiff), BuildError> {
    let (index, diff) = if let Some(mut index) = prev {
        let diff =
            index.apply_diff(remove, add_ids, add_vectors, kind, &DenseOptions::default())?;
        (index, diff)
    } else {
        let added = add_ids.len();
        let index = DenseIndex::build(dim, add_ids, add_vectors, kind, metrics)?;
        (
            index,
            DenseDiff {
                added,
                removed: 0,
                rebuilt: true,
            },
        )
    };
    index.save(dir)?;
    Ok((index, diff))
}

/// The sparse index of the new version: the previous segments plus the
/// diff, or (no usable previous index) every chunk of the catalog.
fn sparse_index(
    catalog: &Catalog,
    prev: Option<&Path>,
    dir: &Path,
    plan: &Plan,
) -> Result<SparseDiff, BuildError> {
    let docs = || {
        plan.add.iter().map(|c| SparseDoc {
            id: c.id.clone(),
            path: c.path.clone(),
            symbol: c.symbol.clone(),
            text: c.text.clone(),
        })
    };
    if let Some(prev) = prev {
        match SparseIndex::update(prev, dir, &plan.remove, docs()) {
            Ok((_, diff)) => return Ok(diff),
            Err(e) => {
                tracing::warn!("previous sparse index not reusable, rebuilding it: {e}");
                if dir.exists() {
                    std::fs::remove_dir_all(dir).map_err(|source| BuildError::Io {
                        path: dir.to_path_buf(),
                        source,
                    })?;
                }
            }
        }
    }
    let mut docs = Vec::new();
    catalog.for_each_chunk(|c| {
        docs.push(SparseDoc {
            id: c.id,
            path: c.path,
            symbol: c.symbol,
            text: c.text,
        });
    })?;
    let n = docs.len();
    SparseIndex::build(dir, docs)?;
    Ok(SparseDiff::rebuilt(n))
}

fn finish(
    ctx: Ctx<'_>,
    lock: &IndexLock,
    staging: Staging,
    prev: Option<&Prev>,
    dense: DenseStatus,
) -> Result<BuildOutcome, BuildError> {
    let Ctx {
        repo,
        data,
        timer,
        mut stats,
        files: ctx_files,
        ..
    } = ctx;
    for (k, v) in timer.0 {
        stats.stage_seconds.insert(k, v);
    }
    let manifest = Manifest {
        version: staging.version.clone(),
        parent: prev.map(|p| p.info.name.clone()),
        created_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
        repo: repo.display().to_string(),
        files: ctx_files,
        chunks: stats.chunks,
        symbols: stats.symbols,
        dense,
        stats,
    };
    let publish_start = Instant::now();
    let version = data.publish(lock, staging, &manifest)?;
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
    if s.dirs_skipped > 0 {
        let names: Vec<String> = s
            .dirs_skipped_by_name
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "  folders: {} skipped, not descended into ({})",
            s.dirs_skipped,
            names.join(", ")
        );
    }
    if m.dense.present {
        let _ = writeln!(
            out,
            "  dense: {} vectors ({} embedded, {} reused by content) from {} (dim {}); \
             {} added, {} removed, {}",
            m.dense.vectors,
            s.chunks_embedded,
            s.vectors_reused,
            m.dense.model.as_deref().unwrap_or("?"),
            m.dense.dimension.unwrap_or(0),
            s.dense_added,
            s.dense_removed,
            if s.dense_rebuilt {
                "rebuilt"
            } else {
                "updated in place"
            }
        );
        if s.chunks_unembedded > 0 {
            let _ = writeln!(
                out,
                "  dense: {} chunks not embedded (BM25 only until the next `index` run){}",
                s.chunks_unembedded,
                m.dense
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
            for u in &s.unembedded {
                let _ = writeln!(
                    out,
                    "    {}:{}-{}: {}",
                    u.path, u.start_line, u.end_line, u.reason
                );
            }
        }
    } else {
        let _ = writeln!(
            out,
            "  dense: MISSING: {}; search will use BM25 only until the next `index` run with a working embeddings server",
            m.dense.reason.as_deref().unwrap_or("unknown reason")
        );
    }
    let _ = writeln!(
        out,
        "  sparse: {} added, {} removed, {}",
        s.sparse_added,
        s.sparse_removed,
        if s.sparse_rebuilt {
            "rebuilt"
        } else {
            "updated on the previous segments"
        }
    );
    let stages: Vec<String> = s
        .stage_seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.2}s"))
        .collect();
    let _ = writeln!(out, "  time: {}", stages.join(", "));
    out
}
