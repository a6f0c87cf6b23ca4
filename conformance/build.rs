//! Embeds the default fixtures (the sample repository, the golden queries
//! and the telemetry registry of `live-check`) in the binary, so an installed
//! `codeintel-conformance` runs outside this repository: it writes them to a
//! temp folder at run time (`src/fixtures.rs`). Also links the package's tests and binaries with a
//! fast linker when one is installed (`build-support/fast-linker.rs`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for e in entries {
        let path = e.path();
        let kind = e.file_type()?;
        if kind.is_dir() {
            files(&path, out)?;
        } else if kind.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

#[path = "../build-support/fast-linker.rs"]
mod fast_linker;

fn main() -> std::io::Result<()> {
    fast_linker::emit();
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(std::io::Error::other)?);
    let fixtures = manifest.join("..").join("fixtures");
    let repo = fixtures.join("repos").join("sample");
    let golden = fixtures.join("golden").join("queries.toml");
    println!("cargo::rerun-if-changed={}", repo.display());
    println!("cargo::rerun-if-changed={}", golden.display());

    let mut list = Vec::new();
    files(&repo, &mut list)?;
    let mut code = String::from(
        "/// The sample repository: (path relative to its root, bytes).\npub static REPO_FILES: &[(&str, &[u8])] = &[\n",
    );
    for path in &list {
        println!("cargo::rerun-if-changed={}", path.display());
        let rel = path
            .strip_prefix(&repo)
            .map_err(std::io::Error::other)?
            .to_string_lossy()
            .replace('\\', "/");
        let abs = std::fs::canonicalize(path)?;
        let _ = writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?})),",
            abs.display().to_string()
        );
    }
    code.push_str("];\n");
    let golden = std::fs::canonicalize(&golden)?;
    let _ = writeln!(
        code,
        "/// The golden queries (TOML).\npub static GOLDEN: &str = include_str!({:?});",
        golden.display().to_string()
    );

    // The telemetry registry `live-check` judges by default: the `*.yaml` /
    // `*.yml` files at the top of conformance/registry, as the loader reads
    // them.
    let registry = manifest.join("registry");
    println!("cargo::rerun-if-changed={}", registry.display());
    let mut yaml: Vec<PathBuf> = std::fs::read_dir(&registry)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    yaml.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
    yaml.sort();
    code.push_str(
        "/// The telemetry registry (definition/2 YAML): (file name, text).\npub static REGISTRY_FILES: &[(&str, &str)] = &[\n",
    );
    for path in &yaml {
        println!("cargo::rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let abs = std::fs::canonicalize(path)?;
        let _ = writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            abs.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(std::io::Error::other)?);
    std::fs::write(out.join("embedded_fixtures.rs"), code)
}
