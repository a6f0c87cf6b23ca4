//! codeintel-lint's Python rule (LNT-001) against ruff's banned-api
//! (`TID251`) configured by `benches/peers/ruff.toml`: on a small tree of
//! every import spelling, and on a generated tree, both must report the
//! expected `file:line` sets. The side-by-side timing on 1M lines is
//! `benches/src/bin/peer-lint.rs`; this test keeps its premise (the two tools
//! agree) from rotting.
//!
//! Needs the pinned ruff (`benches/peers/setup-ruff.sh`, which
//! `scripts/test.sh` runs); skipped with a message without it, unless
//! `CODEINTEL_REQUIRE_SUTS=1`, where a missing ruff fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use codeintel_lint::{Config, Lang, Rule, lint_paths, synth};

fn ruff() -> Option<PathBuf> {
    let cache = std::env::var_os("CODEINTEL_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/codeintel"),
        PathBuf::from,
    );
    let bin = cache.join("venv/ruff/bin/ruff");
    if bin.is_file() {
        return Some(bin);
    }
    let msg = format!(
        "no ruff at {}: run benches/peers/setup-ruff.sh (scripts/test.sh does)",
        bin.display()
    );
    assert!(
        std::env::var("CODEINTEL_REQUIRE_SUTS").as_deref() != Ok("1"),
        "{msg} (CODEINTEL_REQUIRE_SUTS=1)"
    );
    eprintln!("SKIPPED: {msg}");
    None
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn key(root: &Path, path: &Path, line: u64) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    format!("{}:{line}", parts.join("/"))
}

fn ours(root: &Path) -> BTreeSet<String> {
    let config = Config {
        lang: Lang::Python,
        ..Config::default()
    };
    let report = lint_paths(&[root.to_path_buf()], &config).unwrap();
    assert_eq!(report.count(Rule::ParseError), 0, "{report:?}");
    report
        .diagnostics
        .iter()
        .filter(|d| d.rule == Rule::LegacyImport)
        .map(|d| key(root, &d.path, u64::from(d.line)))
        .collect()
}

fn ruff_findings(ruff: &Path, root: &Path) -> BTreeSet<String> {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/peers/ruff.toml");
    std::fs::copy(&config, root.join("ruff.toml")).unwrap();
    // From the root: with --config, ruff resolves per-file-ignores against the working directory.
    let out = Command::new(ruff)
        .current_dir(root)
        .args(["check", "--no-cache", "--quiet", "--select", "TID251"])
        .arg("--config")
        .arg(root.join("ruff.toml"))
        .args(["--output-format", "json"])
        .arg(root)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "ruff failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "TID251")
        .map(|d| {
            key(
                root,
                Path::new(d["filename"].as_str().unwrap()),
                d["location"]["row"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn ruff_and_codeintel_lint_agree_on_every_absolute_spelling() {
    let Some(ruff) = ruff() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    write(
        &root,
        "app/imports.py",
        "import prometheus_client\n\
         import prometheus_client.core as core\n\
         from prometheus_client import Counter\n\
         from prometheus_client.exposition import make_wsgi_app\n\
         import prometheus_clientele\n\
         import telemetry.prom\n\
         from telemetry.prom import x\n\
         from telemetry import prom\n\
         from app.telemetry.prom import y\n\
         import importlib\n\
         m = importlib.import_module(\"prometheus_client\")\n\
         def f():\n\
         \x20   try:\n\
         \x20       import prometheus_client as pc\n\
         \x20   except ImportError:\n\
         \x20       pass\n\
         import os, prometheus_client\n",
    );
    write(
        &root,
        "app/observability/metrics.py",
        "from prometheus_client import Counter\nfrom telemetry.prom import z\n",
    );
    write(
        &root,
        "app/telemetry/relative.py",
        "from .prom import q\nfrom . import prom\n",
    );
    write(
        &root,
        "app/clean.py",
        "import json\n# import prometheus_client\ns = \"from prometheus_client import x\"\n",
    );

    let both = [
        "app/imports.py:1",
        "app/imports.py:2",
        "app/imports.py:3",
        "app/imports.py:4",
        "app/imports.py:6",
        "app/imports.py:7",
        "app/imports.py:8",
        "app/imports.py:14",
        "app/imports.py:17",
    ];
    // What banned-api cannot express: telemetry.prom below another package,
    // a dynamic import, relative imports resolved against the folder, and
    // telemetry.prom inside the allowed module (ruff's per-file-ignores
    // drops the whole rule there; codeintel-lint only allows prometheus_client).
    let ours_only = [
        "app/imports.py:9",
        "app/imports.py:11",
        "app/observability/metrics.py:2",
        "app/telemetry/relative.py:1",
        "app/telemetry/relative.py:2",
    ];
    let ruff_set = ruff_findings(&ruff, &root);
    assert_eq!(ruff_set, set(&both), "ruff");
    let ours_set = ours(&root);
    let mut expected = set(&both);
    expected.extend(set(&ours_only));
    assert_eq!(ours_set, expected, "codeintel-lint");
}

#[test]
fn ruff_and_codeintel_lint_find_the_same_planted_imports() {
    let Some(ruff) = ruff() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let tree = synth::synthetic_tree(40_000);
    let mut planted = 0;
    for f in tree
        .files
        .iter()
        .filter(|f| f.path.extension().is_some_and(|e| e == "py"))
    {
        planted += usize::from(f.contents.contains("prometheus_client"));
        write(&root, f.path.to_str().unwrap(), &f.contents);
    }
    assert!(planted > 0);
    let ours_set = ours(&root);
    assert_eq!(ours_set.len(), planted);
    assert_eq!(ruff_findings(&ruff, &root), ours_set);
}
