//! Side-by-side peer benchmarks (issue 16, part 3): the result files the
//! peer bench binaries write and `bench-report` reads, and the pure helpers
//! both use (timing summaries, latency percentiles, finding sets).
//!
//! - `peer-lint` (`src/bin/peer-lint.rs`): `codeintel-lint` (release build,
//!   what ships) vs `ruff check --select TID251` configured by
//!   `benches/peers/ruff.toml` on one generated Python tree →
//!   `<criterion dir>/peers/lint.json` ([`LintPeer`]).
//! - `peer-search` (`src/bin/peer-search.rs`): the reference server vs
//!   `fixtures/suts/python-otel` over HTTP, same corpus, same queries, same
//!   embeddings server → `<criterion dir>/peers/search.json` ([`SearchPeer`]).
//!
//! Every figure of one file comes from one run of one binary, the two sides
//! measured alternately, so their ratio is what to read (the machine is
//! shared and noisy).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Folder of the peer result files under the criterion directory.
pub const PEERS_DIR: &str = "peers";
/// File name of the lint peer result.
pub const LINT_FILE: &str = "lint.json";
/// File name of the search peer result.
pub const SEARCH_FILE: &str = "search.json";

/// `<criterion dir>/peers/<file>`.
pub fn result_path(criterion_dir: &Path, file: &str) -> PathBuf {
    criterion_dir.join(PEERS_DIR).join(file)
}

/// Wall times of repeated runs of one command, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub median_s: f64,
    pub min_s: f64,
    pub samples_s: Vec<f64>,
}

impl Timing {
    /// Summary of `samples` (NaN median when empty).
    pub fn from_samples(samples: &[f64]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Self {
            median_s: median(&sorted),
            min_s: sorted.first().copied().unwrap_or(f64::NAN),
            samples_s: samples.to_vec(),
        }
    }

    /// Median nanoseconds per unit (`units` lines, files, …).
    pub fn ns_per(&self, units: u64) -> f64 {
        if units == 0 {
            return f64::NAN;
        }
        self.median_s * 1e9 / units as f64
    }
}

/// Median of sorted samples (mean of the two middle ones for an even count).
pub fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if !n.is_multiple_of(2) => sorted[n / 2],
        n => f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]),
    }
}

/// `codeintel-lint` vs ruff on one tree (`peers/lint.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LintPeer {
    /// What the tree is (generator and size).
    pub tree: String,
    pub files: u64,
    pub lines: u64,
    pub bytes: u64,
    /// Banned imports planted by the generator.
    pub planted: usize,
    /// CPU threads both tools could use.
    pub threads: usize,
    /// e.g. `codeintel-lint 0.1.0 (release)`.
    pub ours_tool: String,
    /// e.g. `ruff 0.17.5`.
    pub peer_tool: String,
    /// The exact command lines timed.
    pub ours_command: String,
    pub peer_command: String,
    /// Default mode: files that mention nothing a rule looks for are not parsed.
    pub ours_prefiltered: Timing,
    /// `--parse-all`: every file parsed, as ruff does.
    pub ours_parse_all: Timing,
    pub peer: Timing,
    /// `LNT-001` findings of ours (both modes give the same set, checked).
    pub ours_findings: usize,
    /// `TID251` findings of ruff.
    pub peer_findings: usize,
    /// The two `file:line` sets are equal.
    pub agree: bool,
    /// Up to 20 differences, `path:line (ours only|ruff only)`.
    pub disagreements: Vec<String>,
    /// Seconds since the Unix epoch when the run ended.
    pub measured_unix: u64,
}

impl LintPeer {
    /// Ours (default mode) / ruff, medians.
    pub fn ratio(&self) -> f64 {
        self.ours_prefiltered.median_s / self.peer.median_s
    }

    /// Ours (`--parse-all`) / ruff, medians.
    pub fn ratio_parse_all(&self) -> f64 {
        self.ours_parse_all.median_s / self.peer.median_s
    }

    /// Our median time scaled to 1M lines (the target's size).
    pub fn ours_per_million_lines_s(&self) -> f64 {
        self.ours_prefiltered.ns_per(self.lines) * 1e6 / 1e9
    }
}

/// One side of a load level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadStats {
    /// Requests sent (fewer than asked when the level's deadline hit).
    pub requests: usize,
    /// Answered 200 with a JSON body holding `findings`.
    pub ok: usize,
    /// Failed, timed out or not 200.
    pub errors: usize,
    /// 200 answers whose `limits` is not empty (a channel degraded).
    pub degraded: usize,
    /// From the first request sent to the last answer.
    pub wall_s: f64,
    /// `ok / wall_s`.
    pub requests_per_s: f64,
    /// Latency percentiles of the `ok` answers, milliseconds.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    /// The level's deadline stopped it before `requests` reached the count asked.
    pub truncated: bool,
}

impl LoadStats {
    /// Summary of one level: `latencies_ms` of the ok answers (any order).
    pub fn summarise(
        requests: usize,
        mut latencies_ms: Vec<f64>,
        errors: usize,
        degraded: usize,
        wall_s: f64,
        truncated: bool,
    ) -> Self {
        latencies_ms.sort_by(f64::total_cmp);
        let ok = latencies_ms.len();
        Self {
            requests,
            ok,
            errors,
            degraded,
            wall_s,
            requests_per_s: if wall_s > 0.0 {
                ok as f64 / wall_s
            } else {
                f64::NAN
            },
            p50_ms: crate::percentile(&latencies_ms, 50.0),
            p95_ms: crate::percentile(&latencies_ms, 95.0),
            max_ms: latencies_ms.last().copied().unwrap_or(f64::NAN),
            truncated,
        }
    }
}

/// Both sides at one number of concurrent clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchLevel {
    pub clients: usize,
    pub ours: LoadStats,
    pub peer: LoadStats,
}

impl SearchLevel {
    /// Our requests/s over the peer's.
    pub fn throughput_ratio(&self) -> f64 {
        self.ours.requests_per_s / self.peer.requests_per_s
    }
}

/// The reference server vs python-otel over HTTP (`peers/search.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPeer {
    /// What the corpus is (generator and size).
    pub corpus: String,
    pub files: usize,
    pub bytes: u64,
    /// Distinct query texts sent to each side (golden + generated).
    pub queries: usize,
    pub k: usize,
    pub embed_dim: usize,
    /// e.g. `codeintel-server (dev profile)`.
    pub ours_tool: String,
    pub peer_tool: String,
    /// `codeintel-server index` wall time.
    pub ours_index_s: f64,
    /// From spawn to `/readyz` 200 (for python-otel this includes its in-process index load).
    pub ours_ready_s: f64,
    pub peer_ready_s: f64,
    pub levels: Vec<SearchLevel>,
    pub measured_unix: u64,
}

impl SearchPeer {
    /// The level with `clients` concurrent clients.
    pub fn level(&self, clients: usize) -> Option<&SearchLevel> {
        self.levels.iter().find(|l| l.clients == clients)
    }
}

/// Writes `value` as pretty JSON to `path`, creating its folder.
pub fn write_result<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}

/// Reads a peer result file; `None` when absent or not of this shape.
pub fn read_result<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// `path:line` with `path` relative to `root` when under it, `/`-separated.
pub fn finding_key(root: &Path, path: &str, line: u64) -> String {
    let p = Path::new(path);
    let rel = p.strip_prefix(root).unwrap_or(p);
    let rel: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    format!("{}:{line}", rel.join("/"))
}

/// The `file:line` set of `codeintel-lint --format json` findings of `rule`.
pub fn ours_findings(root: &Path, json: &str, rule: &str) -> Result<BTreeSet<String>, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("codeintel-lint JSON: {e}"))?;
    let diags = v
        .get("diagnostics")
        .and_then(serde_json::Value::as_array)
        .ok_or("codeintel-lint JSON has no `diagnostics` array")?;
    Ok(diags
        .iter()
        .filter(|d| d.get("rule").and_then(serde_json::Value::as_str) == Some(rule))
        .filter_map(|d| {
            Some(finding_key(
                root,
                d.get("path")?.as_str()?,
                d.get("line")?.as_u64()?,
            ))
        })
        .collect())
}

/// The `file:line` set of `ruff check --output-format json` findings of `code`.
pub fn ruff_findings(root: &Path, json: &str, code: &str) -> Result<BTreeSet<String>, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("ruff JSON: {e}"))?;
    let items = v.as_array().ok_or("ruff JSON is not an array")?;
    Ok(items
        .iter()
        .filter(|d| d.get("code").and_then(serde_json::Value::as_str) == Some(code))
        .filter_map(|d| {
            Some(finding_key(
                root,
                d.get("filename")?.as_str()?,
                d.get("location")?.get("row")?.as_u64()?,
            ))
        })
        .collect())
}

/// Up to `max` differences between two finding sets, labelled.
pub fn differences(
    ours: &BTreeSet<String>,
    peer: &BTreeSet<String>,
    peer_name: &str,
    max: usize,
) -> Vec<String> {
    ours.difference(peer)
        .map(|k| format!("{k} (ours only)"))
        .chain(
            peer.difference(ours)
                .map(|k| format!("{k} ({peer_name} only)")),
        )
        .take(max)
        .collect()
}

/// The query texts of `fixtures/golden/queries.toml` (`[[query]] text = …`).
pub fn golden_queries(toml_text: &str) -> Result<Vec<String>, String> {
    let v: toml::Table = toml_text
        .parse()
        .map_err(|e: toml::de::Error| format!("golden queries: {e}"))?;
    let list = v
        .get("query")
        .and_then(toml::Value::as_array)
        .ok_or("golden queries: no [[query]] tables")?;
    Ok(list
        .iter()
        .filter_map(|q| q.get("text")?.as_str().map(str::to_owned))
        .collect())
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_and_medians() {
        let t = Timing::from_samples(&[3.0, 1.0, 2.0, 10.0]);
        assert!((t.median_s - 2.5).abs() < 1e-12);
        assert!((t.min_s - 1.0).abs() < 1e-12);
        assert_eq!(t.samples_s, vec![3.0, 1.0, 2.0, 10.0]);
        assert!((t.ns_per(5) - 0.5e9).abs() < 1e-3);
        assert!(t.ns_per(0).is_nan());
        assert!(median(&[]).is_nan());
        assert!((median(&[1.0, 2.0, 9.0]) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn load_stats_summarise_ok_answers() {
        let lat: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = LoadStats::summarise(102, lat, 2, 1, 4.0, false);
        assert_eq!((s.requests, s.ok, s.errors, s.degraded), (102, 100, 2, 1));
        assert!((s.requests_per_s - 25.0).abs() < 1e-12);
        assert!((s.p50_ms - 51.0).abs() < 1e-12, "{}", s.p50_ms);
        assert!((s.p95_ms - 95.0).abs() < 1e-12, "{}", s.p95_ms);
        assert!((s.max_ms - 100.0).abs() < 1e-12);
        let empty = LoadStats::summarise(3, Vec::new(), 3, 0, 1.0, true);
        assert!(empty.p50_ms.is_nan() && empty.truncated);
        assert!(empty.requests_per_s.abs() < 1e-12);
    }

    #[test]
    fn finding_sets_from_both_tools_compare_by_file_and_line() {
        let root = Path::new("/t/tree");
        let ours = r#"{"diagnostics": [
            {"rule": "LNT-001", "path": "/t/tree/a/m.py", "line": 3, "column": 6},
            {"rule": "LNT-001", "path": "/t/tree/b.py", "line": 1, "column": 8},
            {"rule": "LNT-003", "path": "/t/tree/c.py", "line": 9, "column": 1}]}"#;
        let ruff = r#"[
            {"code": "TID251", "filename": "/t/tree/a/m.py", "location": {"row": 3, "column": 1}},
            {"code": "TID251", "filename": "/t/tree/d.py", "location": {"row": 2, "column": 1}},
            {"code": "F401", "filename": "/t/tree/b.py", "location": {"row": 1, "column": 1}}]"#;
        let o = ours_findings(root, ours, "LNT-001").unwrap();
        let r = ruff_findings(root, ruff, "TID251").unwrap();
        assert_eq!(
            o.iter().map(String::as_str).collect::<Vec<_>>(),
            ["a/m.py:3", "b.py:1"]
        );
        assert_eq!(
            r.iter().map(String::as_str).collect::<Vec<_>>(),
            ["a/m.py:3", "d.py:2"]
        );
        assert_eq!(
            differences(&o, &r, "ruff", 10),
            vec!["b.py:1 (ours only)", "d.py:2 (ruff only)"]
        );
        assert_eq!(differences(&o, &r, "ruff", 1).len(), 1);
        assert!(ours_findings(root, "[]", "LNT-001").is_err());
        assert!(ruff_findings(root, "{}", "TID251").is_err());
    }

    #[test]
    fn golden_queries_are_read() {
        let text = "[[query]]\nid = \"a\"\ntext = \"refund a payment\"\n\n[[query]]\nid = \"b\"\ntext = \"Ledger\"\n";
        assert_eq!(
            golden_queries(text).unwrap(),
            vec!["refund a payment", "Ledger"]
        );
        assert!(golden_queries("x = 1").is_err());
        let real = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/golden/queries.toml"),
        )
        .unwrap();
        assert!(golden_queries(&real).unwrap().len() >= 10);
    }

    #[test]
    fn results_round_trip_through_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = result_path(dir.path(), SEARCH_FILE);
        let level = SearchLevel {
            clients: 8,
            ours: LoadStats::summarise(10, vec![1.0; 10], 0, 0, 0.1, false),
            peer: LoadStats::summarise(10, vec![4.0; 10], 0, 0, 0.5, false),
        };
        assert!((level.throughput_ratio() - 5.0).abs() < 1e-9);
        let s = SearchPeer {
            corpus: "c".into(),
            files: 1,
            bytes: 2,
            queries: 3,
            k: 10,
            embed_dim: 384,
            ours_tool: "o".into(),
            peer_tool: "p".into(),
            ours_index_s: 1.0,
            ours_ready_s: 2.0,
            peer_ready_s: 3.0,
            levels: vec![level],
            measured_unix: 5,
        };
        write_result(&p, &s).unwrap();
        assert!(p.ends_with("peers/search.json"));
        assert_eq!(read_result::<SearchPeer>(&p), Some(s));
        assert_eq!(read_result::<LintPeer>(&p), None);
    }
}
