//! A synthetic Rust + Python source tree for benches and throughput tests.
//! Pure: it returns file contents; the caller writes them.

use std::fmt::Write as _;
use std::path::PathBuf;

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthFile {
    /// Relative path (`rust/m0007/mod_0007.rs`, `python/p0007/mod_0007.py`).
    pub path: PathBuf,
    pub contents: String,
}

/// A generated tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SynthTree {
    pub files: Vec<SynthFile>,
    /// Lines over all files.
    pub lines: u64,
    /// Legacy imports planted (one `LNT-001` each), none elsewhere.
    pub planted: usize,
    /// Files that mention a string some rule looks for (the planted ones and
    /// every tenth file), i.e. that the default prefilter lets through.
    pub relevant: usize,
}

/// Blocks (functions or classes) per file; about 13 lines each.
const BLOCKS_PER_FILE: usize = 30;
/// Every `PLANT_EVERY`-th file of each language holds one legacy import.
const PLANT_EVERY: usize = 20;

fn rust_file(index: usize, plant: bool) -> String {
    let mut s = String::with_capacity(16 * 1024);
    let _ = writeln!(s, "//! Generated module {index}.");
    s.push_str("use std::collections::HashMap;\nuse std::sync::Arc;\n");
    if plant {
        s.push_str("use prometheus::IntCounter;\n");
    } else if index.is_multiple_of(10) {
        // Mentions a rule looks for, without a finding: such files are parsed.
        s.push_str("use crate::telemetry::tracing_setup;\n");
    }
    let _ = writeln!(
        s,
        "\n#[derive(Debug, Clone, Default)]\npub struct Item{index} {{\n    pub id: u64,\n    pub name: String,\n    pub tags: Vec<Arc<str>>,\n}}\n"
    );
    for k in 0..BLOCKS_PER_FILE {
        let _ = writeln!(
            s,
            "/// Handler {k}.\npub fn handler_{index}_{k}(input: &[u64], map: &mut HashMap<u64, String>) -> Result<u64, String> {{\n    let mut total = 0u64;\n    for (n, value) in input.iter().enumerate() {{\n        match value % 3 {{\n            0 => total += value * 2,\n            1 => {{ map.insert(*value, format!(\"v{{n}}\")); }}\n            _ => total = total.saturating_sub(1),\n        }}\n    }}\n    if total > 1_000 {{ return Err(format!(\"too big: {{total}}\")); }}\n    Ok(total)\n}}\n"
        );
    }
    s
}

fn python_file(index: usize, plant: bool) -> String {
    let mut s = String::with_capacity(16 * 1024);
    let _ = writeln!(
        s,
        "\"\"\"Generated module {index}.\"\"\"\nfrom __future__ import annotations\n\nimport json\nfrom dataclasses import dataclass"
    );
    if plant {
        s.push_str("from prometheus_client import Counter\n");
    } else if index.is_multiple_of(10) {
        s.push_str("from .llm import prompt_template\n");
    }
    s.push('\n');
    for k in 0..BLOCKS_PER_FILE {
        let _ = writeln!(
            s,
            "\nclass Service{k}:\n    \"\"\"Generated service {k}.\"\"\"\n\n    def __init__(self, name: str, limit: int = 10) -> None:\n        self.name = name\n        self.limit = limit\n\n    def run(self, items: list[int]) -> dict[str, int]:\n        result = {{}}\n        for n, item in enumerate(items):\n            if item % 2 == 0:\n                result[f\"{{self.name}}-{{n}}\"] = item * 2\n            elif item > self.limit:\n                result[f\"over-{{n}}\"] = json.loads(str(item))"
        );
    }
    s
}

/// About `target_lines` lines of Rust and Python, half each, in files of
/// about 400 lines, ten files a directory.
pub fn synthetic_tree(target_lines: u64) -> SynthTree {
    let mut tree = SynthTree::default();
    let mut index = 0usize;
    while tree.lines < target_lines {
        let plant = index % PLANT_EVERY == PLANT_EVERY - 1;
        let dir = index / 10;
        for (path, contents) in [
            (
                PathBuf::from(format!("rust/m{dir:04}/mod_{index:05}.rs")),
                rust_file(index, plant),
            ),
            (
                PathBuf::from(format!("python/p{dir:04}/mod_{index:05}.py")),
                python_file(index, plant),
            ),
        ] {
            tree.lines += contents.lines().count() as u64;
            tree.files.push(SynthFile { path, contents });
            tree.planted += usize::from(plant);
            tree.relevant += usize::from(plant || index.is_multiple_of(10));
        }
        index += 1;
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_and_plants_follow_the_request() {
        let tree = synthetic_tree(40_000);
        assert!(
            tree.lines >= 40_000 && tree.lines < 41_000,
            "{}",
            tree.lines
        );
        let planted = tree
            .files
            .iter()
            .filter(|f| f.contents.contains("prometheus"))
            .count();
        assert_eq!(planted, tree.planted);
        let relevant = tree
            .files
            .iter()
            .filter(|f| {
                crate::rust::may_violate(&f.contents) || crate::python::may_violate(&f.contents)
            })
            .count();
        assert_eq!(relevant, tree.relevant);
        assert!(tree.planted > 0);
    }
}
