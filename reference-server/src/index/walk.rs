//! Repository walk: which files of a checkout get indexed.
//!
//! [`walk`] lists the repository's text files, in `rel_path` order, with the
//! [`ignore`] crate:
//! - `.gitignore`, `.git/info/exclude` and `.ignore` files are honoured even
//!   when the folder is not a git repository (`require_git(false)`); ignore
//!   files *above* the repository root and the user's global gitignore are not
//!   (the walk does not depend on where the checkout lives or who runs it);
//! - hidden files and folders (`.git`, `.venv`, `.github`, …) are skipped;
//! - vendored / generated folders named in [`SKIPPED_DIRS`] and lock files /
//!   minified bundles matching [`SKIPPED_FILE_GLOBS`] are skipped, as are
//!   paths matching [`WalkOptions::extra_ignores`]; the folders are listed
//!   in [`WalkOutcome::dirs_skipped`] (not descended into, so their files
//!   are not counted one by one);
//! - symbolic links are never followed: a link is reported as skipped
//!   (outside the repository, inside it — its target is indexed under its own
//!   path — or broken);
//! - files over [`WalkOptions::max_file_bytes`], binary files (a NUL byte in
//!   the first 8 KiB) and files whose first 8 KiB are not UTF-8 are reported
//!   as [`Skipped`] with a [`SkipReason`]; so is anything unreadable. None of
//!   these is fatal: only a missing or unusable repository root is an error.
//!
//! [`read_text`] reads a listed file for chunking and repeats the binary and
//! UTF-8 checks on the whole content.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::UNIX_EPOCH;

use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::WalkBuilder;

pub use super::chunk::Language;

/// Default size limit: 1 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Bytes read from the start of a file to detect binaries and non-UTF-8.
pub const SNIFF_BYTES: usize = 8 * 1024;

/// Folder names never descended into (vendored code, build output, caches,
/// virtual environments). Matched on the folder's own name at any depth.
pub const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    "node_modules",
    "bower_components",
    "vendor",
    "target",
    "dist",
    "build",
    ".next",
    ".gradle",
    "site-packages",
    ".codeintel",
];

/// File globs (matched on the file name) skipped by default: lock files,
/// minified bundles and source maps — generated, large, and noise in search.
pub const SKIPPED_FILE_GLOBS: &[&str] = &[
    "*.min.js",
    "*.min.css",
    "*.map",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.lock",
    "poetry.lock",
    "go.sum",
];

/// What to walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkOptions {
    /// Files larger than this are skipped ([`SkipReason::TooLarge`]).
    pub max_file_bytes: u64,
    /// Extra globs to leave out, matched against the `/`-separated path
    /// relative to the repository root and against the bare file or folder
    /// name (`*` also crosses `/`): `"docs/generated/**"`, `"*.snap"`.
    pub extra_ignores: Vec<String>,
}

impl Default for WalkOptions {
    fn default() -> Self {
        Self {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            extra_ignores: Vec::new(),
        }
    }
}

/// A file to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the repository root, `/`-separated.
    pub rel_path: String,
    /// Absolute path below the canonical repository root.
    pub abs_path: PathBuf,
    /// Size in bytes when walked.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 if unknown).
    pub mtime_ns: u64,
    pub language: Language,
}

/// Why a file was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Larger than [`WalkOptions::max_file_bytes`].
    TooLarge { size: u64, limit: u64 },
    /// A NUL byte in the first [`SNIFF_BYTES`] bytes.
    Binary,
    /// Content is not valid UTF-8.
    NotUtf8,
    /// The path itself is not valid UTF-8 (cannot be stored or searched).
    NotUtf8Path,
    /// Could not be read (the message says why).
    Unreadable(String),
    /// A symbolic link whose target lies outside the repository.
    SymlinkOutsideRepo,
    /// A symbolic link to a path inside the repository: the target is
    /// indexed under its own path, the link is not followed.
    SymlinkInsideRepo,
    /// A symbolic link whose target does not exist.
    BrokenSymlink,
}

impl SkipReason {
    /// A stable short name, for counting skips by reason.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::Binary => "binary",
            Self::NotUtf8 => "not_utf8",
            Self::NotUtf8Path => "not_utf8_path",
            Self::Unreadable(_) => "unreadable",
            Self::SymlinkOutsideRepo => "symlink_outside_repo",
            Self::SymlinkInsideRepo => "symlink_inside_repo",
            Self::BrokenSymlink => "broken_symlink",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size, limit } => write!(
                f,
                "file is {size} bytes, over the {limit}-byte limit (raise max_file_bytes to index it)"
            ),
            Self::Binary => f.write_str("binary file (NUL byte in the first 8 KiB)"),
            Self::NotUtf8 => f.write_str("content is not valid UTF-8 (re-encode it as UTF-8 to index it)"),
            Self::NotUtf8Path => f.write_str("file name is not valid UTF-8 (rename it to index it)"),
            Self::Unreadable(why) => write!(f, "cannot read file: {why}"),
            Self::SymlinkOutsideRepo => {
                f.write_str("symbolic link pointing outside the repository (never followed)")
            }
            Self::SymlinkInsideRepo => f.write_str(
                "symbolic link inside the repository (not followed; its target is indexed under its own path)",
            ),
            Self::BrokenSymlink => f.write_str("symbolic link whose target does not exist"),
        }
    }
}

/// A file left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Path relative to the repository root, `/`-separated (lossy if the
    /// name is not UTF-8; empty if the walk error named no path).
    pub rel_path: String,
    pub reason: SkipReason,
}

/// Result of a walk: files to index, files left out and folders not
/// descended into, each sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkOutcome {
    pub files: Vec<SourceFile>,
    pub skipped: Vec<Skipped>,
    /// Folders not descended into because of their name ([`SKIPPED_DIRS`])
    /// or [`WalkOptions::extra_ignores`], relative paths. Their files are
    /// not listed (nor counted) anywhere else. Hidden and gitignored
    /// folders are not in it: the walker drops them before looking.
    pub dirs_skipped: Vec<String>,
}

impl WalkOutcome {
    /// [`WalkOutcome::dirs_skipped`] counted by folder name (`vendor`,
    /// `node_modules`, …).
    pub fn dirs_skipped_by_name(&self) -> std::collections::BTreeMap<String, usize> {
        let mut out = std::collections::BTreeMap::new();
        for rel in &self.dirs_skipped {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            *out.entry(name.to_owned()).or_default() += 1;
        }
        out
    }
}

/// The repository root cannot be walked at all.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error(
        "repository path {path} does not exist: pass --repo (or set CODEINTEL_REPO) to the folder of a checkout"
    )]
    RepoNotFound { path: PathBuf },
    #[error("repository path {path} is not a directory: pass the folder of a checkout, not a file")]
    NotADirectory { path: PathBuf },
    #[error("cannot open repository path {path}: {source}; check that it exists and is readable")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid ignore glob {glob:?}: {message}; fix or remove it from the extra ignores")]
    BadIgnoreGlob { glob: String, message: String },
}

fn glob_set<'a>(globs: impl IntoIterator<Item = &'a str>) -> Result<GlobSet, WalkError> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        let parsed = Glob::new(glob).map_err(|e| WalkError::BadIgnoreGlob {
            glob: glob.to_owned(),
            message: e.kind().to_string(),
        })?;
        builder.add(parsed);
    }
    builder.build().map_err(|e| WalkError::BadIgnoreGlob {
        glob: e.glob().unwrap_or_default().to_owned(),
        message: e.kind().to_string(),
    })
}

/// `root/a/b.rs` → `a/b.rs`; `None` if a component is not UTF-8.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut out = String::new();
    for comp in rel.components() {
        if let Component::Normal(part) = comp {
            if !out.is_empty() {
                out.push('/');
            }
            out.push_str(part.to_str()?);
        }
    }
    Some(out)
}

fn relative_lossy(root: &Path, path: &Path) -> String {
    relative(root, path).unwrap_or_else(|| {
        path.strip_prefix(root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/")
    })
}

/// The path an `ignore` error is about, if it names one.
fn error_path(err: &ignore::Error) -> Option<&Path> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child),
        ignore::Error::Partial(errs) => errs.iter().find_map(error_path),
        _ => None,
    }
}

/// Checks the first bytes of content: NUL → binary, invalid UTF-8 (not just
/// a sequence cut at the end of the sample) → not UTF-8.
fn sniff(sample: &[u8], complete: bool) -> Result<(), SkipReason> {
    let head = &sample[..sample.len().min(SNIFF_BYTES)];
    if head.contains(&0) {
        return Err(SkipReason::Binary);
    }
    match std::str::from_utf8(sample) {
        Ok(_) => Ok(()),
        Err(e) if e.error_len().is_none() && !complete => Ok(()),
        Err(_) => Err(SkipReason::NotUtf8),
    }
}

fn sniff_file(path: &Path) -> Result<(), SkipReason> {
    let file = fs::File::open(path).map_err(|e| SkipReason::Unreadable(e.to_string()))?;
    let mut sample = Vec::with_capacity(SNIFF_BYTES);
    file.take(SNIFF_BYTES as u64 + 1)
        .read_to_end(&mut sample)
        .map_err(|e| SkipReason::Unreadable(e.to_string()))?;
    let complete = sample.len() <= SNIFF_BYTES;
    sample.truncate(SNIFF_BYTES);
    sniff(&sample, complete)
}

fn mtime_ns(meta: &fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Walks the repository at `repo`. See the module docs for what is listed,
/// skipped and reported.
pub fn walk(repo: &Path, opts: &WalkOptions) -> Result<WalkOutcome, WalkError> {
    let meta = fs::metadata(repo).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            WalkError::RepoNotFound {
                path: repo.to_path_buf(),
            }
        } else {
            WalkError::Unreadable {
                path: repo.to_path_buf(),
                source,
            }
        }
    })?;
    if !meta.is_dir() {
        return Err(WalkError::NotADirectory {
            path: repo.to_path_buf(),
        });
    }
    let root = fs::canonicalize(repo).map_err(|source| WalkError::Unreadable {
        path: repo.to_path_buf(),
        source,
    })?;
    // Fail on an unreadable root rather than reporting an empty repository.
    fs::read_dir(&root).map_err(|source| WalkError::Unreadable {
        path: repo.to_path_buf(),
        source,
    })?;
    let default_files = glob_set(SKIPPED_FILE_GLOBS.iter().copied())?;
    let extra = glob_set(opts.extra_ignores.iter().map(String::as_str))?;

    let mut builder = WalkBuilder::new(&root);
    builder
        .hidden(true)
        .parents(false)
        .ignore(true)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .require_git(false)
        .follow_links(false);
    let filter_root = root.clone();
    // Folders the filter drops, recorded for the outcome (the filter must be
    // `Fn + Send + Sync`, hence the mutex).
    let dropped_dirs = Arc::new(Mutex::new(Vec::<String>::new()));
    let record_dir = {
        let dropped_dirs = Arc::clone(&dropped_dirs);
        move |rel: String| {
            dropped_dirs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(rel);
        }
    };
    builder.filter_entry(move |entry| {
        if entry.depth() == 0 {
            return true;
        }
        let name = entry.file_name().to_string_lossy();
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        if is_dir && SKIPPED_DIRS.contains(&&*name) {
            record_dir(relative_lossy(&filter_root, entry.path()));
            return false;
        }
        if !is_dir && default_files.is_match(&*name) {
            return false;
        }
        if extra.is_empty() {
            return true;
        }
        let rel = relative_lossy(&filter_root, entry.path());
        let keep = !(extra.is_match(&rel) || extra.is_match(&*name));
        if !keep && is_dir {
            record_dir(rel);
        }
        keep
    });

    let mut outcome = WalkOutcome::default();
    for result in builder.build() {
        let entry = match result {
            Ok(entry) => entry,
            Err(err) => {
                let rel_path = error_path(&err)
                    .map(|p| relative_lossy(&root, p))
                    .unwrap_or_default();
                outcome.skipped.push(Skipped {
                    rel_path,
                    reason: SkipReason::Unreadable(err.to_string()),
                });
                continue;
            }
        };
        if entry.depth() == 0 {
            continue;
        }
        let path = entry.path();
        let Some(file_type) = entry.file_type() else {
            continue;
        };
        let skip = |reason: SkipReason| Skipped {
            rel_path: relative_lossy(&root, path),
            reason,
        };
        if file_type.is_symlink() {
            let reason = match fs::canonicalize(path) {
                Err(_) => SkipReason::BrokenSymlink,
                Ok(target) if target.starts_with(&root) => SkipReason::SymlinkInsideRepo,
                Ok(_) => SkipReason::SymlinkOutsideRepo,
            };
            outcome.skipped.push(skip(reason));
            continue;
        }
        if !file_type.is_file() {
            continue;
        }
        let Some(rel_path) = relative(&root, path) else {
            outcome.skipped.push(skip(SkipReason::NotUtf8Path));
            continue;
        };
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(err) => {
                outcome
                    .skipped
                    .push(skip(SkipReason::Unreadable(err.to_string())));
                continue;
            }
        };
        let size = meta.len();
        if size > opts.max_file_bytes {
            outcome.skipped.push(skip(SkipReason::TooLarge {
                size,
                limit: opts.max_file_bytes,
            }));
            continue;
        }
        if let Err(reason) = sniff_file(path) {
            outcome.skipped.push(skip(reason));
            continue;
        }
        let language = Language::from_path(&rel_path);
        outcome.files.push(SourceFile {
            rel_path,
            abs_path: path.to_path_buf(),
            size,
            mtime_ns: mtime_ns(&meta),
            language,
        });
    }
    outcome.dirs_skipped =
        std::mem::take(&mut *dropped_dirs.lock().unwrap_or_else(PoisonError::into_inner));
    outcome.dirs_skipped.sort();
    outcome.files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    outcome
        .skipped
        .sort_by(|a, b| (&a.rel_path, a.reason.as_str()).cmp(&(&b.rel_path, b.reason.as_str())));
    Ok(outcome)
}

/// Reads a walked file as text for chunking: `Binary` if a NUL byte is in
/// its first 8 KiB, `NotUtf8` if any of it is not UTF-8, `Unreadable` if it
/// cannot be read (gone, permissions). A leading UTF-8 byte-order mark is
/// dropped.
pub fn read_text(file: &SourceFile) -> Result<String, SkipReason> {
    let bytes = fs::read(&file.abs_path).map_err(|e| SkipReason::Unreadable(e.to_string()))?;
    decode_text(bytes)
}

/// The content checks of [`read_text`] on bytes already in memory.
pub fn decode_text(bytes: Vec<u8>) -> Result<String, SkipReason> {
    if bytes[..bytes.len().min(SNIFF_BYTES)].contains(&0) {
        return Err(SkipReason::Binary);
    }
    let mut text = String::from_utf8(bytes).map_err(|_| SkipReason::NotUtf8)?;
    if text.starts_with('\u{feff}') {
        text.replace_range(..'\u{feff}'.len_utf8(), "");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn write(root: &Path, rel: &str, content: &[u8]) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    fn paths(outcome: &WalkOutcome) -> Vec<&str> {
        outcome.files.iter().map(|f| f.rel_path.as_str()).collect()
    }

    fn skipped(outcome: &WalkOutcome) -> Vec<(&str, &'static str)> {
        outcome
            .skipped
            .iter()
            .map(|s| (s.rel_path.as_str(), s.reason.as_str()))
            .collect()
    }

    #[test]
    fn gitignore_is_honoured_without_git() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".gitignore", b"build/\n*.log\nsecret.txt\n");
        write(root, "src/app.py", b"print('hi')\n");
        write(root, "src/debug.log", b"log\n");
        write(root, "secret.txt", b"x\n");
        write(root, "out/build/gen.py", b"x = 1\n");
        write(root, "sub/.gitignore", b"local.rs\n");
        write(root, "sub/local.rs", b"fn a() {}\n");
        write(root, "sub/kept.rs", b"fn b() {}\n");
        assert!(!root.join(".git").exists());
        let out = walk(root, &WalkOptions::default()).unwrap();
        assert_eq!(paths(&out), vec!["src/app.py", "sub/kept.rs"]);
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
        let app = &out.files[0];
        assert_eq!(app.language, Language::Python);
        assert_eq!(app.size, 12);
        assert!(app.mtime_ns > 0);
        assert!(app.abs_path.is_absolute() && app.abs_path.ends_with("src/app.py"));
    }

    #[test]
    fn vendored_hidden_and_generated_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "main.go", b"package main\n");
        write(root, "vendor/lib/lib.go", b"package lib\n");
        write(
            root,
            "web/node_modules/x/index.js",
            b"module.exports = 1;\n",
        );
        write(root, "target/debug/out.rs", b"fn x() {}\n");
        write(root, "pkg/__pycache__/m.py", b"x = 1\n");
        write(root, ".git/config", b"[core]\n");
        write(root, ".venv/lib/site.py", b"x = 1\n");
        write(root, "web/package-lock.json", b"{}\n");
        write(root, "web/app.min.js", b"var a=1;\n");
        write(root, "web/app.js", b"var a = 1;\n");
        write(root, "lib/build/gen.py", b"x = 1\n");
        let out = walk(root, &WalkOptions::default()).unwrap();
        assert_eq!(paths(&out), vec!["main.go", "web/app.js"]);
        // The named folders are listed (hidden ones are dropped earlier by
        // the walker and are not).
        assert_eq!(
            out.dirs_skipped,
            [
                "lib/build",
                "pkg/__pycache__",
                "target",
                "vendor",
                "web/node_modules"
            ]
        );
        let by_name = out.dirs_skipped_by_name();
        assert_eq!(by_name.get("vendor"), Some(&1));
        assert_eq!(by_name.len(), 5);
        // Their files are not reported as skipped files.
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    }

    #[test]
    fn extra_ignores_apply_and_bad_glob_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "a.rs", b"fn a() {}\n");
        write(root, "docs/gen/api.md", b"# api\n");
        write(root, "x/y/z.snap", b"snap\n");
        let opts = WalkOptions {
            extra_ignores: vec!["docs/gen/**".into(), "*.snap".into()],
            ..WalkOptions::default()
        };
        let out = walk(root, &opts).unwrap();
        assert_eq!(paths(&out), vec!["a.rs"]);
        // A folder matched by an extra glob is listed as a skipped folder.
        write(root, "generated/x.rs", b"fn x() {}\n");
        let opts = WalkOptions {
            extra_ignores: vec!["generated".into()],
            ..WalkOptions::default()
        };
        let out = walk(root, &opts).unwrap();
        assert_eq!(out.dirs_skipped, ["generated"]);
        let bad = WalkOptions {
            extra_ignores: vec!["a[".into()],
            ..WalkOptions::default()
        };
        let err = walk(root, &bad).unwrap_err();
        assert!(matches!(err, WalkError::BadIgnoreGlob { .. }));
        assert!(err.to_string().contains("\"a[\""), "{err}");
    }

    #[test]
    fn too_large_binary_and_not_utf8_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "ok.txt", b"fine\n");
        write(root, "big.txt", &vec![b'a'; 2048]);
        write(root, "logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
        write(root, "latin1.py", b"# caf\xe9\nx = 1\n");
        let opts = WalkOptions {
            max_file_bytes: 1024,
            ..WalkOptions::default()
        };
        let out = walk(root, &opts).unwrap();
        assert_eq!(paths(&out), vec!["ok.txt"]);
        assert_eq!(
            skipped(&out),
            vec![
                ("big.txt", "too_large"),
                ("latin1.py", "not_utf8"),
                ("logo.png", "binary")
            ]
        );
        assert_eq!(
            out.skipped[0].reason,
            SkipReason::TooLarge {
                size: 2048,
                limit: 1024
            }
        );
        assert!(out.skipped[0].reason.to_string().contains("max_file_bytes"));
    }

    #[test]
    fn utf8_cut_at_the_sniff_boundary_is_not_rejected() {
        let mut content = vec![b'a'; SNIFF_BYTES - 1];
        content.extend_from_slice("é and more".as_bytes());
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "long.txt", &content);
        let out = walk(dir.path(), &WalkOptions::default()).unwrap();
        assert_eq!(paths(&out), vec!["long.txt"]);
        let text = read_text(&out.files[0]).unwrap();
        assert!(text.ends_with("é and more"));
    }

    #[test]
    fn read_text_checks_whole_content() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut late_bad = vec![b'a'; SNIFF_BYTES * 2];
        late_bad.push(0xff);
        write(root, "late.txt", &late_bad);
        write(root, "bom.py", b"\xef\xbb\xbfx = 1\n");
        let out = walk(root, &WalkOptions::default()).unwrap();
        assert_eq!(paths(&out), vec!["bom.py", "late.txt"]);
        assert_eq!(read_text(&out.files[0]).unwrap(), "x = 1\n");
        assert_eq!(read_text(&out.files[1]), Err(SkipReason::NotUtf8));
        fs::remove_file(root.join("bom.py")).unwrap();
        assert!(matches!(
            read_text(&out.files[0]),
            Err(SkipReason::Unreadable(_))
        ));
        assert_eq!(decode_text(b"a\0b".to_vec()), Err(SkipReason::Binary));
    }

    #[test]
    fn symlinks_are_never_followed() {
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.py", b"password = 'x'\n");
        write(outside.path(), "dir/more.py", b"y = 2\n");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "real.py", b"x = 1\n");
        symlink(outside.path().join("secret.py"), root.join("leak.py")).unwrap();
        symlink(outside.path().join("dir"), root.join("leakdir")).unwrap();
        symlink(root.join("real.py"), root.join("alias.py")).unwrap();
        symlink(root.join("missing.py"), root.join("dangling.py")).unwrap();
        let out = walk(root, &WalkOptions::default()).unwrap();
        assert_eq!(paths(&out), vec!["real.py"]);
        assert_eq!(
            skipped(&out),
            vec![
                ("alias.py", "symlink_inside_repo"),
                ("dangling.py", "broken_symlink"),
                ("leak.py", "symlink_outside_repo"),
                ("leakdir", "symlink_outside_repo"),
            ]
        );
    }

    #[test]
    fn repo_given_through_a_symlink_is_walked_from_its_real_path() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "repo/a.py", b"x = 1\n");
        let link = dir.path().join("link");
        symlink(dir.path().join("repo"), &link).unwrap();
        let out = walk(&link, &WalkOptions::default()).unwrap();
        assert_eq!(paths(&out), vec!["a.py"]);
        assert!(out.skipped.is_empty());
    }

    #[test]
    fn empty_repo_gives_empty_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let out = walk(dir.path(), &WalkOptions::default()).unwrap();
        assert_eq!(out, WalkOutcome::default());
        write(dir.path(), "empty.py", b"");
        let out = walk(dir.path(), &WalkOptions::default()).unwrap();
        assert_eq!(paths(&out), vec!["empty.py"]);
        assert_eq!(read_text(&out.files[0]).unwrap(), "");
    }

    #[test]
    fn missing_repo_and_file_repo_are_errors_that_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = walk(&missing, &WalkOptions::default()).unwrap_err();
        assert!(matches!(err, WalkError::RepoNotFound { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("nope") && msg.contains("CODEINTEL_REPO"),
            "{msg}"
        );
        write(dir.path(), "file.txt", b"x");
        let err = walk(&dir.path().join("file.txt"), &WalkOptions::default()).unwrap_err();
        assert!(matches!(err, WalkError::NotADirectory { .. }));
        assert!(err.to_string().contains("not a directory"));
    }

    #[test]
    fn skip_reasons_have_distinct_names_and_messages() {
        let reasons = [
            SkipReason::TooLarge { size: 2, limit: 1 },
            SkipReason::Binary,
            SkipReason::NotUtf8,
            SkipReason::NotUtf8Path,
            SkipReason::Unreadable("denied".into()),
            SkipReason::SymlinkOutsideRepo,
            SkipReason::SymlinkInsideRepo,
            SkipReason::BrokenSymlink,
        ];
        let names: std::collections::HashSet<_> = reasons.iter().map(SkipReason::as_str).collect();
        assert_eq!(names.len(), reasons.len());
        let messages: std::collections::HashSet<_> =
            reasons.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), reasons.len());
        assert!(reasons[4].to_string().contains("denied"));
    }
}
