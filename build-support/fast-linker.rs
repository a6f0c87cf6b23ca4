//! Build script of the packages whose tests, benches and binaries link FAISS
//! and DuckDB statically (reference-server, conformance, benches): link them
//! with a fast linker when one is installed.
//!
//! A warm rebuild is mostly linking: ~45 binaries of ~80 MB each. One test
//! binary linked in ~24 s with GNU ld, ~15 s with gold and ~7 s with mold on
//! the 2-core CI machine (measured under the same load). `scripts/setup.sh`
//! installs mold; gold comes with binutils. `CODEINTEL_LINKER=default` (or
//! `mold`, `gold`, `lld`) overrides the choice.
//!
//! A package with its own build script includes this file as a module
//! (`#[path = "../build-support/fast-linker.rs"] mod fast_linker;`) and
//! calls [`emit`].

use std::env;
use std::path::Path;

#[allow(dead_code)] // the entry point only when this file is the build script
fn main() {
    emit();
}

/// Prints the linker choice for the package being built.
pub fn emit() {
    println!("cargo:rerun-if-changed=../build-support/fast-linker.rs");
    println!("cargo:rerun-if-env-changed=CODEINTEL_LINKER");
    if !env::var("TARGET").is_ok_and(|t| t.contains("linux")) {
        return;
    }
    let chosen = match env::var("CODEINTEL_LINKER") {
        Ok(name) if !name.trim().is_empty() => Some(name.trim().to_owned()),
        _ => ["mold", "gold"]
            .into_iter()
            .find(|name| on_path(&format!("ld.{name}")))
            .map(str::to_owned),
    };
    if let Some(name) = chosen.filter(|n| n != "default") {
        println!("cargo:rustc-link-arg=-fuse-ld={name}");
    }
}

fn on_path(program: &str) -> bool {
    env::var_os("PATH").is_some_and(|paths| {
        env::split_paths(&paths).any(|dir| Path::new(&dir).join(program).is_file())
    })
}
