//! Shared helpers for the codeintel benches: generated corpora and the
//! test-mode switch.
//!
//! Under `cargo test --benches` (criterion's test mode: no `--bench`
//! argument) every bench runs once on tiny inputs, so the benches never rot
//! without costing CI minutes; under `cargo bench` they use full sizes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub mod peers;
pub mod report;

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

/// A search query over a [`generate_repo`] corpus, deterministic in `seed`:
/// three in four are natural language built from the words of the generated
/// docstrings ("compute the refund payment for a customer"), one in four an
/// identifier of a generated function (`refund_payment_3`).
pub fn query_text(seed: u64) -> String {
    let mut rng = Lcg(seed.wrapping_mul(0x9E37_79B9).wrapping_add(7));
    let (verb, noun, arg) = (rng.word(), rng.word(), rng.word());
    if seed % 4 == 3 {
        format!("{verb}_{noun}_{}", rng.next() % 8)
    } else {
        format!("compute the {verb} {noun} for a {arg}")
    }
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

/// One index build measurement of the `index` bench (one size, one mode):
/// a cold build, then an incremental build after one file changed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IndexRun {
    pub files: usize,
    pub bytes: u64,
    pub chunks: usize,
    pub cold_s: f64,
    pub cold_files_per_s: f64,
    pub cold_mb_per_s: f64,
    pub incremental_s: f64,
    pub incremental_files_changed: usize,
    pub incremental_chunks_embedded: usize,
    /// Seconds per stage of the incremental build.
    pub incremental_stage_seconds: std::collections::BTreeMap<String, f64>,
}

/// Percentile (0..=100) of already-sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Where criterion writes its results, found the way criterion finds it:
/// `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else
/// `./target/criterion` (criterion would ask `cargo metadata`; the workspace
/// scripts always set `CARGO_TARGET_DIR`).
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    PathBuf::from("target/criterion")
}

/// Merges `entries` into the JSON object stored at `path` (created if
/// missing or unreadable), so several bench runs can add to one side file.
pub fn merge_json(
    path: &Path,
    entries: serde_json::Map<String, serde_json::Value>,
) -> std::io::Result<()> {
    let mut root = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&b).ok())
        .unwrap_or_default();
    root.extend(entries);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(root))
        .map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}

/// SplitMix64: a tiny deterministic generator for bench data.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `(0, 1]`.
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.unit(), self.unit());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

/// Latent dimension of [`EmbeddingLike`] vectors: real sentence embeddings
/// have a low intrinsic dimension, which is what makes ANN indexes work.
pub const LATENT_DIM: usize = 24;

/// Generator of embedding-like vectors: a mixture of `clusters` Gaussian
/// clusters in a [`LATENT_DIM`]-dimensional latent space, mapped into `dim`
/// dimensions by a fixed random linear map, plus small isotropic noise, then
/// L2-normalised. Deterministic in the seed.
#[derive(Debug, Clone)]
pub struct EmbeddingLike {
    dim: usize,
    centers: Vec<f32>,
    map: Vec<f32>,
    rng: SplitMix,
}

impl EmbeddingLike {
    pub fn new(dim: usize, clusters: usize, seed: u64) -> Self {
        let mut rng = SplitMix::new(seed);
        let centers = (0..clusters.max(1) * LATENT_DIM)
            .map(|_| rng.gaussian())
            .collect();
        let scale = 1.0 / (LATENT_DIM as f32).sqrt();
        let map = (0..dim * LATENT_DIM)
            .map(|_| rng.gaussian() * scale)
            .collect();
        Self {
            dim,
            centers,
            map,
            rng,
        }
    }

    /// `n` vectors, row-major (`n × dim`), each of unit norm.
    pub fn take(&mut self, n: usize) -> Vec<f32> {
        let clusters = self.centers.len() / LATENT_DIM;
        let mut out = vec![0.0f32; n * self.dim];
        let mut z = [0.0f32; LATENT_DIM];
        for row in out.chunks_exact_mut(self.dim) {
            let c = (self.rng.next_u64() % clusters as u64) as usize;
            let center = &self.centers[c * LATENT_DIM..(c + 1) * LATENT_DIM];
            for (zi, ci) in z.iter_mut().zip(center) {
                *zi = ci + 0.35 * self.rng.gaussian();
            }
            for (x, m) in row.iter_mut().zip(self.map.chunks_exact(LATENT_DIM)) {
                let mut acc = 0.0f32;
                for (a, b) in m.iter().zip(&z) {
                    acc += a * b;
                }
                *x = acc + 0.02 * self.rng.gaussian();
            }
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                for x in row.iter_mut() {
                    *x /= norm;
                }
            }
        }
        out
    }
}

/// Mean recall@k of `found` against `truth` (one list of row ids per
/// query; only the first `k` of each `truth` list count).
pub fn recall_at(k: usize, truth: &[Vec<i64>], found: &[Vec<i64>]) -> f64 {
    if truth.is_empty() || k == 0 {
        return f64::NAN;
    }
    let mut hits = 0usize;
    for (t, f) in truth.iter().zip(found) {
        let t = &t[..t.len().min(k)];
        hits += f.iter().take(k).filter(|id| t.contains(id)).count();
    }
    hits as f64 / (truth.len() * k) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_like_vectors_are_unit_and_deterministic() {
        let a = EmbeddingLike::new(16, 4, 7).take(5);
        let b = EmbeddingLike::new(16, 4, 7).take(5);
        assert_eq!(a, b);
        assert_eq!(a.len(), 80);
        for row in a.chunks_exact(16) {
            let n: f32 = row.iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-4, "{n}");
        }
    }

    #[test]
    fn recall_counts_overlap() {
        let truth = vec![vec![1, 2, 3], vec![4, 5, 6]];
        let found = vec![vec![3, 2, 9], vec![7, 8, 9]];
        assert!((recall_at(3, &truth, &found) - 2.0 / 6.0).abs() < 1e-12);
        assert!((recall_at(3, &truth, &truth) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn merge_json_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/side.json");
        let mut a = serde_json::Map::new();
        a.insert("a".into(), 1.into());
        merge_json(&p, a).unwrap();
        let mut b = serde_json::Map::new();
        b.insert("b".into(), 2.into());
        merge_json(&p, b).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v, serde_json::json!({"a": 1, "b": 2}));
    }

    #[test]
    fn generated_files_are_deterministic_and_sized() {
        assert_eq!(python_file(3, 4), python_file(3, 4));
        assert_ne!(python_file(3, 4), python_file(4, 4));
        assert_eq!(python_file(1, 5).matches("\ndef ").count(), 5);
    }

    #[test]
    fn queries_mix_language_and_identifiers() {
        assert_eq!(query_text(5), query_text(5));
        let qs: Vec<String> = (0..400).map(query_text).collect();
        let idents = qs.iter().filter(|q| !q.contains(' ')).count();
        assert_eq!(idents, 100);
        let distinct: std::collections::HashSet<&String> = qs.iter().collect();
        assert!(distinct.len() > 350, "{}", distinct.len());
    }

    #[test]
    fn percentiles_pick_ranks() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((percentile(&v, 50.0) - 3.0).abs() < f64::EPSILON);
        assert!((percentile(&v, 100.0) - 5.0).abs() < f64::EPSILON);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
