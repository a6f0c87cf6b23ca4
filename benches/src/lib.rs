//! Shared helpers for the codeintel benches: generated corpora and the
//! test-mode switch.
//!
//! Under `cargo test --benches` (criterion's test mode: no `--bench`
//! argument) every bench runs once on tiny inputs, so the benches never rot
//! without costing CI minutes; under `cargo bench` they use full sizes.

use std::fmt::Write as _;
use std::path::Path;

/// True under `cargo bench` (criterion passes `--bench`), false in test mode.
pub fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// `full` under `cargo bench`, `tiny` in test mode.
pub fn size(full: usize, tiny: usize) -> usize {
    if bench_mode() { full } else { tiny }
}

const WORDS: [&str; 24] = [
    "payment",
    "refund",
    "invoice",
    "customer",
    "order",
    "inventory",
    "stock",
    "ledger",
    "account",
    "balance",
    "token",
    "session",
    "cache",
    "parser",
    "request",
    "response",
    "retry",
    "backoff",
    "schedule",
    "report",
    "metric",
    "span",
    "index",
    "query",
];

/// Deterministic pseudo-random stream (no dependency needed for corpus text).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }
    fn word(&mut self) -> &'static str {
        WORDS[self.next() % WORDS.len()]
    }
}

/// One generated Python source file with `functions` functions (each one
/// chunk), deterministic in `seed`.
pub fn python_file(seed: u64, functions: usize) -> String {
    let mut rng = Lcg(seed.wrapping_add(1));
    let mut out = String::from("\"\"\"Generated module for benchmarks.\"\"\"\nimport os\n\n");
    for n in 0..functions {
        let (verb, noun, arg) = (rng.word(), rng.word(), rng.word());
        let _ = write!(
            out,
            "\ndef {verb}_{noun}_{n}(value, {arg}):\n    \"\"\"Compute the {verb} {noun} for a {arg}.\"\"\"\n    total = value * {n}\n    if {arg} is None:\n        return total\n    return total + len(str({arg}))  # {verb} {arg}\n\n"
        );
    }
    out
}

/// Writes a generated repository of `files` Python files under `root`
/// (100 files per folder). Returns the bytes written.
pub fn generate_repo(root: &Path, files: usize, functions_per_file: usize) -> std::io::Result<u64> {
    let mut bytes = 0u64;
    for i in 0..files {
        let dir = root.join(format!("pkg{:03}", i / 100));
        std::fs::create_dir_all(&dir)?;
        let text = python_file(i as u64, functions_per_file);
        bytes += text.len() as u64;
        std::fs::write(dir.join(format!("mod{i:05}.py")), text)?;
    }
    Ok(bytes)
}

/// Percentile (0..=100) of already-sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_files_are_deterministic_and_sized() {
        assert_eq!(python_file(3, 4), python_file(3, 4));
        assert_ne!(python_file(3, 4), python_file(4, 4));
        assert_eq!(python_file(1, 5).matches("\ndef ").count(), 5);
    }

    #[test]
    fn percentiles_pick_ranks() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((percentile(&v, 50.0) - 3.0).abs() < f64::EPSILON);
        assert!((percentile(&v, 100.0) - 5.0).abs() < f64::EPSILON);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
