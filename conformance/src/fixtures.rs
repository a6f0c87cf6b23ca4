//! The default fixtures, built into the binary (see `build.rs`): the sample
//! repository the SUT indexes and the golden queries. A run writes them to a
//! temp folder, so the harness needs nothing of this repository at run time.

use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_fixtures.rs"));
}

pub use embedded::{GOLDEN, REPO_FILES};

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
}
