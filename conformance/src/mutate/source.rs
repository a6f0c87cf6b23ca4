//! Source mutants: a copy of the SUT's source tree with one defect planted,
//! for the source lint (LNT-*) to judge. The tree itself is never touched.

use std::path::{Path, PathBuf};

/// What a source operator plants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plant {
    /// A legacy metric import in each language the lint reads
    /// (`prometheus_client` in Python, the `prometheus` crate in Rust), in
    /// files outside any metrics module.
    LegacyImport,
    /// A legacy metrics module, `telemetry/prom.py` (without any import).
    LegacyModule,
}

impl Plant {
    /// The files planted (path relative to the copy's root, content).
    pub const fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::LegacyImport => &[
                (
                    "codeintel_mutant_legacy.py",
                    include_str!("../../../fixtures/mutants/plant/legacy_import.py.txt"),
                ),
                (
                    "codeintel_mutant_legacy.rs",
                    include_str!("../../../fixtures/mutants/plant/legacy_import.rs.txt"),
                ),
            ],
            Self::LegacyModule => &[(
                "telemetry/prom.py",
                include_str!("../../../fixtures/mutants/plant/prom.py.txt"),
            )],
        }
    }
}

/// Most files a copy holds.
pub const MAX_FILES: usize = 20_000;
/// Most bytes a copy holds.
pub const MAX_BYTES: u64 = 128 * 1024 * 1024;

/// Folders not copied: build output and installed packages, never the
/// implementation's own source.
const SKIPPED_DIRS: [&str; 4] = [".git", "target", "node_modules", "__pycache__"];

/// A source tree could not be copied.
#[derive(Debug, thiserror::Error)]
pub enum SourceMutantError {
    #[error("the source tree {0} is not a folder")]
    NotADir(PathBuf),
    #[error("cannot copy the source tree: {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the source tree {root} is too large to copy for a source mutant (over {what})")]
    TooLarge { root: PathBuf, what: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SourceMutantError + '_ {
    move |source| SourceMutantError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A copy of `root` (symbolic links and the [`SKIPPED_DIRS`] left out) with
/// `plant`'s files written into it; removed when dropped.
pub fn planted_copy(plant: Plant, root: &Path) -> Result<tempfile::TempDir, SourceMutantError> {
    if !root.is_dir() {
        return Err(SourceMutantError::NotADir(root.to_path_buf()));
    }
    let dir = tempfile::Builder::new()
        .prefix("codeintel-source-mutant-")
        .tempdir()
        .map_err(io(Path::new("a temporary folder")))?;
    let mut budget = (MAX_FILES, MAX_BYTES);
    copy_tree(root, dir.path(), root, &mut budget)?;
    for (rel, text) in plant.files() {
        let path = dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    Ok(dir)
}

fn copy_tree(
    from: &Path,
    to: &Path,
    root: &Path,
    budget: &mut (usize, u64),
) -> Result<(), SourceMutantError> {
    let walk = walkdir::WalkDir::new(from)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| {
            !(e.file_type().is_dir() && SKIPPED_DIRS.iter().any(|d| e.file_name() == *d))
        });
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(from).to_path_buf();
            SourceMutantError::Io {
                path,
                source: e.into(),
            }
        })?;
        let path = entry.path();
        let kind = entry.file_type();
        let Ok(rel) = path.strip_prefix(from) else {
            continue;
        };
        let target = to.join(rel);
        if kind.is_dir() {
            std::fs::create_dir(&target).map_err(io(&target))?;
        } else if kind.is_file() {
            let len = entry
                .metadata()
                .map_err(|e| SourceMutantError::Io {
                    path: path.to_path_buf(),
                    source: e.into(),
                })?
                .len();
            budget.0 = budget
                .0
                .checked_sub(1)
                .ok_or_else(|| SourceMutantError::TooLarge {
                    root: root.to_path_buf(),
                    what: format!("{MAX_FILES} files"),
                })?;
            budget.1 = budget
                .1
                .checked_sub(len)
                .ok_or_else(|| SourceMutantError::TooLarge {
                    root: root.to_path_buf(),
                    what: format!("{} MiB", MAX_BYTES / (1024 * 1024)),
                })?;
            std::fs::copy(path, &target).map_err(io(path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drive::lint_source;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("app/observability")).unwrap();
        std::fs::write(dir.path().join("app/main.py"), "import os\n").unwrap();
        std::fs::write(
            dir.path().join("app/observability/metrics.py"),
            "from prometheus_client import Counter\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("target/debug")).unwrap();
        std::fs::write(dir.path().join("target/debug/big.py"), "x = 1\n").unwrap();
        dir
    }

    fn rules(root: &Path) -> Vec<(String, String)> {
        let outcome = lint_source(root);
        assert_eq!(outcome.error, None);
        let mut r: Vec<(String, String)> = outcome
            .findings
            .into_iter()
            .map(|f| (f.rule, f.path))
            .collect();
        r.sort();
        r
    }

    #[test]
    fn the_clean_tree_passes_and_each_plant_is_found_in_the_copy_only() {
        let src = tree();
        assert_eq!(rules(src.path()), []);

        let copy = planted_copy(Plant::LegacyImport, src.path()).unwrap();
        assert!(copy.path().join("app/main.py").is_file());
        assert!(!copy.path().join("target").exists(), "build output copied");
        assert_eq!(
            rules(copy.path()),
            [
                (
                    "LNT-001".to_owned(),
                    "codeintel_mutant_legacy.py".to_owned()
                ),
                (
                    "LNT-001".to_owned(),
                    "codeintel_mutant_legacy.rs".to_owned()
                ),
            ]
        );

        let copy = planted_copy(Plant::LegacyModule, src.path()).unwrap();
        assert_eq!(
            rules(copy.path()),
            [("LNT-002".to_owned(), "telemetry/prom.py".to_owned())]
        );
        // The SUT's own tree is never changed.
        assert_eq!(rules(src.path()), []);
        assert!(!src.path().join("telemetry").exists());
    }

    #[test]
    fn a_missing_tree_is_named() {
        let err = planted_copy(Plant::LegacyModule, Path::new("/nonexistent/src")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/src"), "{err}");
    }
}
