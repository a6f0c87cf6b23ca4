//! Versioned index folders, the atomic `CURRENT` pointer, and the lock.
//!
//! ```text
//! DATA/
//!   LOCK                  held (flock) by the one `index` run at a time
//!   CURRENT               name of the served version, replaced by rename
//!   versions/
//!     v000003/            catalog.duckdb, dense/, sparse/, manifest.json
//!     .staging-v000004/   a build in progress (removed if abandoned)
//! ```
//!
//! A build writes a whole new version folder, then renames it into place
//! and switches `CURRENT` with an atomic rename: a crash at any point leaves
//! the previous version intact and served.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Versions kept besides the current one (older ones are pruned).
pub const KEEP_VERSIONS: usize = 5;

/// Dense channel status of a version.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DenseStatus {
    /// Whether the version has a dense index.
    pub present: bool,
    /// Why not, when absent.
    pub reason: Option<String>,
    pub model: Option<String>,
    pub dimension: Option<usize>,
    pub kind: Option<String>,
    pub vectors: usize,
    /// Chunks of this version without a vector (embedder down, or their
    /// input refused); found by BM25 only until a later build embeds them.
    #[serde(default)]
    pub unembedded: usize,
}

/// Counts and timings of one build.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BuildStats {
    pub files_seen: usize,
    pub files_changed: usize,
    pub files_unchanged: usize,
    pub files_deleted: usize,
    pub files_skipped: usize,
    /// Skip reasons with counts.
    pub skipped_by_reason: std::collections::BTreeMap<String, usize>,
    /// Folders not descended into (vendored, build output, caches; see
    /// `walk::SKIPPED_DIRS`), apart from [`BuildStats::files_skipped`]:
    /// their files are not counted one by one.
    #[serde(default)]
    pub dirs_skipped: usize,
    /// [`BuildStats::dirs_skipped`] by folder name (`vendor`, `target`, …).
    #[serde(default)]
    pub dirs_skipped_by_name: std::collections::BTreeMap<String, usize>,
    pub chunks: usize,
    pub symbols: usize,
    pub chunks_embedded: usize,
    pub embed_calls: usize,
    /// Seconds per stage (walk, chunk, embed, write, publish).
    pub stage_seconds: std::collections::BTreeMap<String, f64>,
    /// Chunks given a vector of the previous version by content hash
    /// (moved, renamed or duplicated text), without embedding.
    #[serde(default)]
    pub vectors_reused: usize,
    /// Rows added to / removed from the dense index, and whether it was
    /// rebuilt from scratch rather than updated in place.
    #[serde(default)]
    pub dense_added: usize,
    #[serde(default)]
    pub dense_removed: usize,
    #[serde(default)]
    pub dense_rebuilt: bool,
    /// Documents added to / deleted from the sparse index, and whether it
    /// was rebuilt from scratch rather than updated on the previous segments.
    #[serde(default)]
    pub sparse_added: usize,
    #[serde(default)]
    pub sparse_removed: usize,
    #[serde(default)]
    pub sparse_rebuilt: bool,
    /// Chunks left without a vector (count), and the first of them
    /// ([`MAX_LISTED_UNEMBEDDED`]) with why.
    #[serde(default)]
    pub chunks_unembedded: usize,
    #[serde(default)]
    pub unembedded: Vec<UnembeddedChunk>,
}

/// Chunks listed by name in [`BuildStats::unembedded`] (the count is exact).
pub const MAX_LISTED_UNEMBEDDED: usize = 50;

/// A chunk without a vector, and why.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnembeddedChunk {
    pub id: String,
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub reason: String,
}

/// What a version folder holds (`manifest.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub version: String,
    /// The version this one was built from, if incremental.
    pub parent: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    pub repo: String,
    pub files: usize,
    pub chunks: usize,
    pub symbols: usize,
    pub dense: DenseStatus,
    pub stats: BuildStats,
}

/// Errors of the data folder.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("data folder {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another `codeintel-server index` is running on {data} (lock {lock} held{holder}); \
         wait for it to finish, or remove the lock file if no such process exists"
    )]
    Locked {
        data: PathBuf,
        lock: PathBuf,
        holder: String,
    },
    #[error("{path}: manifest is not valid JSON: {why}")]
    Manifest { path: PathBuf, why: String },
    #[error("no index version in {0}; run `codeintel-server index` first")]
    NoVersion(PathBuf),
    #[error("nothing to roll back to in {data}: {why}")]
    NoRollback { data: PathBuf, why: String },
    #[error("version {version} not found in {data}; `codeintel-server versions` lists them")]
    UnknownVersion { data: PathBuf, version: String },
    #[error(
        "refusing to publish {version} in {data}: it is older than {current}, which CURRENT \
         names; build again (the next build gets a newer number) or use `rollback --to`"
    )]
    Older {
        data: PathBuf,
        version: String,
        current: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
    move |source| PublishError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A data folder.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// The exclusive right to build in a data folder. The flock is released
/// when the file closes (on drop); the LOCK file itself stays, its content
/// (the holder's pid) is informational only.
#[derive(Debug)]
pub struct IndexLock {
    _file: File,
}

/// A version being built.
#[derive(Debug)]
pub struct Staging {
    pub version: String,
    pub dir: PathBuf,
}

/// A published version.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionInfo {
    pub name: String,
    pub dir: PathBuf,
    pub manifest: Option<Manifest>,
    pub current: bool,
}

fn sync_dir(path: &Path) {
    // Best effort: makes the rename durable on filesystems that need it.
    if let Ok(d) = File::open(path) {
        let _ = d.sync_all();
    }
}

/// Flushes every file and folder under `dir` (then `dir` itself) to disk,
/// so that a version renamed into place after this is whole after a crash.
pub fn sync_tree(dir: &Path) -> Result<(), PublishError> {
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let ty = entry.file_type().map_err(io(&path))?;
        if ty.is_dir() {
            sync_tree(&path)?;
        } else if ty.is_file() {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io(&path))?;
        }
    }
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Marks a version folder as served by this process until the returned
/// file is dropped: a shared lock on its `manifest.json`, which `prune`
/// (in any process) honours. `None` when the file system refuses locks.
pub fn hold_served(dir: &Path) -> Option<File> {
    let file = File::open(dir.join("manifest.json")).ok()?;
    match file.lock_shared() {
        Ok(()) => Some(file),
        Err(e) => {
            tracing::warn!(
                version = %dir.display(),
                error = %e,
                "cannot mark the served version (shared lock on manifest.json); \
                 a concurrent prune could remove it"
            );
            None
        }
    }
}

/// Whether a server holds `dir` (see [`hold_served`]).
pub fn is_served(dir: &Path) -> bool {
    let Ok(file) = File::open(dir.join("manifest.json")) else {
        return false;
    };
    // An exclusive lock we get is released when `file` closes; a lock
    // error (no flock on this file system) cannot tell, so it says no.
    matches!(file.try_lock(), Err(fs::TryLockError::WouldBlock))
}

fn parse_version_number(name: &str) -> Option<u64> {
    name.strip_prefix('v')?.parse().ok()
}

impl DataDir {
    /// Opens (creating) the data folder.
    pub fn open(root: &Path) -> Result<Self, PublishError> {
        fs::create_dir_all(root.join("versions")).map_err(io(root))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// Opens an existing data folder without creating anything.
    pub fn existing(root: &Path) -> Result<Self, PublishError> {
        if !root.join("versions").is_dir() {
            return Err(PublishError::NoVersion(root.to_path_buf()));
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn versions_dir(&self) -> PathBuf {
        self.root.join("versions")
    }

    /// Takes the build lock, failing at once (with who holds it) when
    /// another build runs.
    pub fn lock(&self) -> Result<IndexLock, PublishError> {
        let path = self.root.join("LOCK");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path)
                    .ok()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .map(|s| format!(" by {s}"))
                    .unwrap_or_default();
                return Err(PublishError::Locked {
                    data: self.root.clone(),
                    lock: path,
                    holder,
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        file.set_len(0).map_err(io(&path))?;
        let _ = writeln!(file, "pid {}", std::process::id());
        Ok(IndexLock { _file: file })
    }

    /// The name of the served version, if any.
    pub fn current_name(&self) -> Result<Option<String>, PublishError> {
        let path = self.root.join("CURRENT");
        match fs::read_to_string(&path) {
            Ok(s) => {
                let name = s.trim().to_owned();
                Ok((!name.is_empty() && self.versions_dir().join(&name).is_dir()).then_some(name))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// The served version's folder and manifest.
    pub fn current(&self) -> Result<Option<VersionInfo>, PublishError> {
        let Some(name) = self.current_name()? else {
            return Ok(None);
        };
        let dir = self.versions_dir().join(&name);
        let manifest = Some(read_manifest(&dir)?);
        Ok(Some(VersionInfo {
            name,
            dir,
            manifest,
            current: true,
        }))
    }

    /// Published versions, oldest first.
    pub fn versions(&self) -> Result<Vec<VersionInfo>, PublishError> {
        let current = self.current_name()?;
        let dir = self.versions_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if parse_version_number(&name).is_none() || !entry.path().is_dir() {
                continue;
            }
            let manifest = read_manifest(&entry.path()).ok();
            out.push(VersionInfo {
                current: current.as_deref() == Some(name.as_str()),
                name,
                dir: entry.path(),
                manifest,
            });
        }
        out.sort_by_key(|v| parse_version_number(&v.name));
        Ok(out)
    }

    /// Starts a new version (removing abandoned staging folders).
    pub fn begin(&self, _lock: &IndexLock) -> Result<Staging, PublishError> {
        let dir = self.versions_dir();
        let mut next = 1;
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".staging-") {
                // Left by a build that died; we hold the lock, so it is dead.
                let _ = fs::remove_dir_all(entry.path());
                continue;
            }
            if let Some(n) = parse_version_number(&name) {
                next = next.max(n + 1);
            }
        }
        let version = format!("v{next:06}");
        let staging = dir.join(format!(".staging-{version}"));
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        Ok(Staging {
            version,
            dir: staging,
        })
    }

    /// Publishes a finished version: writes its manifest, renames it into
    /// place, then switches `CURRENT` atomically. Prunes old versions.
    pub fn publish(
        &self,
        _lock: &IndexLock,
        staging: Staging,
        manifest: &Manifest,
    ) -> Result<VersionInfo, PublishError> {
        if let Some(current) = self.current_name()?
            && parse_version_number(&current) >= parse_version_number(&staging.version)
        {
            return Err(PublishError::Older {
                data: self.root.clone(),
                version: staging.version,
                current,
            });
        }
        let manifest_path = staging.dir.join("manifest.json");
        let json = serde_json::to_vec_pretty(manifest).map_err(|e| PublishError::Manifest {
            path: manifest_path.clone(),
            why: e.to_string(),
        })?;
        fs::write(&manifest_path, json).map_err(io(&manifest_path))?;
        // Every file and folder on disk before the rename makes it visible.
        sync_tree(&staging.dir)?;
        let final_dir = self.versions_dir().join(&staging.version);
        fs::rename(&staging.dir, &final_dir).map_err(io(&final_dir))?;
        sync_dir(&self.versions_dir());
        self.point_current(&staging.version)?;
        self.prune(KEEP_VERSIONS)?;
        Ok(VersionInfo {
            name: staging.version,
            dir: final_dir,
            manifest: Some(manifest.clone()),
            current: true,
        })
    }

    fn point_current(&self, version: &str) -> Result<(), PublishError> {
        let tmp = self.root.join("CURRENT.tmp");
        {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(version.as_bytes()).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        let current = self.root.join("CURRENT");
        fs::rename(&tmp, &current).map_err(io(&current))?;
        sync_dir(&self.root);
        Ok(())
    }

    /// Points `CURRENT` at the version before the current one (or at
    /// `target`), returning it.
    pub fn rollback(
        &self,
        lock: &IndexLock,
        target: Option<&str>,
    ) -> Result<VersionInfo, PublishError> {
        let _ = lock;
        let versions = self.versions()?;
        let chosen = if let Some(t) = target {
            versions.into_iter().find(|v| v.name == t).ok_or_else(|| {
                PublishError::UnknownVersion {
                    data: self.root.clone(),
                    version: t.to_owned(),
                }
            })?
        } else {
            let pos = versions.iter().position(|v| v.current).ok_or_else(|| {
                PublishError::NoRollback {
                    data: self.root.clone(),
                    why: "no version is current".into(),
                }
            })?;
            if pos == 0 {
                return Err(PublishError::NoRollback {
                    data: self.root.clone(),
                    why: format!("{} is the oldest version kept", versions[pos].name),
                });
            }
            versions
                .into_iter()
                .nth(pos - 1)
                .ok_or_else(|| PublishError::NoRollback {
                    data: self.root.clone(),
                    why: "no older version".into(),
                })?
        };
        self.point_current(&chosen.name)?;
        Ok(VersionInfo {
            current: true,
            ..chosen
        })
    }

    /// Removes all but the newest `keep` versions — never the one CURRENT
    /// names, nor one a running server still serves (see [`hold_served`]).
    /// Returns the names removed.
    pub fn prune(&self, keep: usize) -> Result<Vec<String>, PublishError> {
        let versions = self.versions()?;
        let excess = versions.len().saturating_sub(keep);
        let mut removed = Vec::new();
        for v in versions.into_iter().take(excess) {
            if v.current {
                continue;
            }
            if is_served(&v.dir) {
                tracing::info!(version = %v.name, "not pruned: a server still serves it");
                continue;
            }
            if fs::remove_dir_all(&v.dir).is_ok() {
                removed.push(v.name);
            }
        }
        Ok(removed)
    }
}

/// Reads a version folder's `manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, PublishError> {
    let path = dir.join("manifest.json");
    let bytes = fs::read(&path).map_err(io(&path))?;
    serde_json::from_slice(&bytes).map_err(|e| PublishError::Manifest {
        path,
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(v: &str) -> Manifest {
        Manifest {
            version: v.into(),
            ..Manifest::default()
        }
    }

    #[test]
    fn publish_switches_current_and_rollback_goes_back() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::open(tmp.path()).unwrap();
        let lock = data.lock().unwrap();
        assert!(data.current().unwrap().is_none());
        for _ in 0..2 {
            let s = data.begin(&lock).unwrap();
            let m = manifest(&s.version);
            data.publish(&lock, s, &m).unwrap();
        }
        assert_eq!(data.current_name().unwrap().as_deref(), Some("v000002"));
        let back = data.rollback(&lock, None).unwrap();
        assert_eq!(back.name, "v000001");
        assert_eq!(data.current_name().unwrap().as_deref(), Some("v000001"));
        assert!(data.rollback(&lock, None).is_err(), "nothing older than v1");
        data.rollback(&lock, Some("v000002")).unwrap();
        assert_eq!(data.current_name().unwrap().as_deref(), Some("v000002"));
    }

    #[test]
    fn abandoned_staging_never_becomes_current() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::open(tmp.path()).unwrap();
        let lock = data.lock().unwrap();
        let s = data.begin(&lock).unwrap();
        let m = manifest(&s.version);
        data.publish(&lock, s, &m).unwrap();
        let abandoned = data.begin(&lock).unwrap();
        fs::write(abandoned.dir.join("catalog.duckdb"), b"half").unwrap();
        drop(abandoned); // the build died here
        assert_eq!(data.current_name().unwrap().as_deref(), Some("v000001"));
        let next = data.begin(&lock).unwrap();
        assert_eq!(next.version, "v000002");
        assert_eq!(data.versions().unwrap().len(), 1);
    }

    #[test]
    fn second_lock_fails_clearly() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::open(tmp.path()).unwrap();
        let _held = data.lock().unwrap();
        let e = data.lock().unwrap_err().to_string();
        assert!(
            e.contains("another `codeintel-server index` is running"),
            "{e}"
        );
        assert!(e.contains("pid"), "{e}");
    }

    #[test]
    fn prune_skips_a_served_version_until_it_is_released() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::open(tmp.path()).unwrap();
        let lock = data.lock().unwrap();
        let publish = || {
            let s = data.begin(&lock).unwrap();
            let m = manifest(&s.version);
            data.publish(&lock, s, &m).unwrap()
        };
        let first = publish();
        let held = hold_served(&first.dir).expect("shared lock");
        assert!(is_served(&first.dir));
        for _ in 0..(KEEP_VERSIONS + 2) {
            publish();
        }
        assert!(first.dir.is_dir(), "a served version is never pruned");
        assert!(!tmp.path().join("versions/v000002").exists());
        drop(held);
        assert!(!is_served(&first.dir));
        let removed = data.prune(KEEP_VERSIONS).unwrap();
        assert_eq!(removed, vec!["v000001".to_owned()]);
    }

    #[test]
    fn an_older_version_is_never_published_over_a_newer_one() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::open(tmp.path()).unwrap();
        let lock = data.lock().unwrap();
        let stale = data.begin(&lock).unwrap(); // v000001, started first
        // Meanwhile v000002 was published (as a concurrent build would).
        fs::create_dir_all(tmp.path().join("versions/v000002")).unwrap();
        fs::write(
            tmp.path().join("versions/v000002/manifest.json"),
            serde_json::to_vec(&manifest("v000002")).unwrap(),
        )
        .unwrap();
        data.point_current("v000002").unwrap();
        let m = manifest(&stale.version);
        let e = data.publish(&lock, stale, &m).unwrap_err().to_string();
        assert!(e.contains("refusing to publish v000001"), "{e}");
        assert!(e.contains("older than v000002"), "{e}");
        assert_eq!(data.current_name().unwrap().as_deref(), Some("v000002"));
    }

    #[test]
    fn published_files_are_synced_and_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::open(tmp.path()).unwrap();
        let lock = data.lock().unwrap();
        let s = data.begin(&lock).unwrap();
        fs::create_dir_all(s.dir.join("dense")).unwrap();
        fs::write(s.dir.join("dense/vectors.bin"), [1u8; 64]).unwrap();
        sync_tree(&s.dir).unwrap();
        let m = manifest(&s.version);
        let v = data.publish(&lock, s, &m).unwrap();
        assert_eq!(
            fs::read(v.dir.join("dense/vectors.bin")).unwrap(),
            [1u8; 64]
        );
        assert!(sync_tree(&tmp.path().join("missing")).is_err());
    }

    #[test]
    fn prune_keeps_newest_and_current() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::open(tmp.path()).unwrap();
        let lock = data.lock().unwrap();
        for _ in 0..(KEEP_VERSIONS + 3) {
            let s = data.begin(&lock).unwrap();
            let m = manifest(&s.version);
            data.publish(&lock, s, &m).unwrap();
        }
        let names: Vec<_> = data
            .versions()
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(names.len(), KEEP_VERSIONS);
        assert_eq!(names.last().map(String::as_str), Some("v000008"));
    }
}
