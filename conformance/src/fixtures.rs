//! The default fixtures, built into the binary (see `build.rs`): the sample
//! repository the SUT indexes, the golden queries and the telemetry registry
//! `live-check` judges by default. A run writes them to a temp folder, so the
//! harness needs nothing of this repository at run time.

use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_fixtures.rs"));
}

pub use embedded::{GOLDEN, REGISTRY_FILES, REPO_FILES};

/// The embedded fixtures written out; removed when dropped.
#[derive(Debug)]
pub struct Materialised {
    dir: tempfile::TempDir,
}

impl Materialised {
    /// The sample repository's root.
    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// The golden queries file.
    pub fn golden(&self) -> PathBuf {
        self.dir.path().join("golden.toml")
    }
}

/// Write the embedded fixtures to a fresh temp folder.
pub fn materialise() -> std::io::Result<Materialised> {
    let dir = tempfile::Builder::new()
        .prefix("codeintel-conformance-fixtures-")
        .tempdir()?;
    let repo = dir.path().join("repo");
    for (rel, bytes) in REPO_FILES {
        let path = repo.join(Path::new(rel));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
    }
    std::fs::write(dir.path().join("golden.toml"), GOLDEN)?;
    Ok(Materialised { dir })
}

/// The embedded telemetry registry written out; removed when dropped.
#[derive(Debug)]
pub struct MaterialisedRegistry {
    dir: tempfile::TempDir,
}

impl MaterialisedRegistry {
    /// The folder holding the registry's YAML files.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Write the embedded telemetry registry (`conformance/registry` when the
/// binary was built) to a fresh temp folder.
pub fn materialise_registry() -> std::io::Result<MaterialisedRegistry> {
    let dir = tempfile::Builder::new()
        .prefix("codeintel-conformance-registry-")
        .tempdir()?;
    for (name, text) in REGISTRY_FILES {
        std::fs::write(dir.path().join(name), text)?;
    }
    Ok(MaterialisedRegistry { dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_fixtures_equal_the_repository_s() {
        let root = crate::drive::workspace_root().join("fixtures");
        let m = materialise().unwrap();
        let mut n = 0;
        for (rel, bytes) in REPO_FILES {
            let on_disk = std::fs::read(root.join("repos/sample").join(rel)).unwrap();
            assert_eq!(&on_disk[..], *bytes, "{rel}");
            assert_eq!(std::fs::read(m.repo().join(rel)).unwrap(), *bytes);
            n += 1;
        }
        assert!(n > 10, "only {n} files embedded");
        assert_eq!(
            std::fs::read_to_string(m.golden()).unwrap(),
            std::fs::read_to_string(root.join("golden/queries.toml")).unwrap()
        );
        assert!(!crate::drive::load_golden(&m.golden()).unwrap().is_empty());
        let dir = m.repo();
        drop(m);
        assert!(!dir.exists(), "the temp folder is removed");
    }

    #[test]
    fn the_embedded_registry_equals_the_repository_s_and_loads() {
        let dir = crate::drive::workspace_root().join("conformance/registry");
        let on_disk = crate::gate::registry::registry_files(&dir).unwrap();
        let names: Vec<String> = on_disk
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let embedded: Vec<&str> = REGISTRY_FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(embedded, names, "every registry file is embedded, no other");
        for (name, text) in REGISTRY_FILES {
            assert_eq!(
                std::fs::read_to_string(dir.join(name)).unwrap(),
                *text,
                "{name}"
            );
        }
        let m = materialise_registry().unwrap();
        let mut reg = crate::gate::registry::Registry::load(m.path()).unwrap();
        let mut from_disk = crate::gate::registry::Registry::load(&dir).unwrap();
        assert_eq!(reg.files.len(), from_disk.files.len());
        // The same definitions; only the folder they were read from differs.
        (reg.files, from_disk.files) = (Vec::new(), Vec::new());
        assert!(!reg.metrics.is_empty() && !reg.spans.is_empty());
        assert_eq!(format!("{reg:?}"), format!("{from_disk:?}"));
        let path = m.path().to_owned();
        drop(m);
        assert!(!path.exists(), "the temp folder is removed");
    }
}
