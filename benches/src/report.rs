//! The logic of `bench-report`: read criterion's JSON estimates (and the
//! side files the benches write: FAISS recall, embed histogram agreement),
//! compute ratios within one run, render `REPORT.md` and its plots, and
//! compare a run with a saved baseline.
//!
//! Criterion layout (0.7): `<criterion dir>/<group>/<bench>[/<value>]/<name>/`
//! holds `benchmark.json` (ids, throughput) and `estimates.json` (mean,
//! median, MAD, ... in nanoseconds per iteration, each with a 95 % CI), where
//! `<name>` is `new` (the latest run), `base` (the run before) or a name
//! given to `--save-baseline`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context as _, Result};
use serde::Deserialize;

use crate::IndexRun;
use crate::peers::{LintPeer, SearchPeer};

/// One benchmark's estimates as criterion saved them.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// `group/function[/value]`, criterion's `full_id`.
    pub id: String,
    pub group: String,
    /// The id within the group (`function[/value]`).
    pub bench: String,
    /// Median time per iteration, nanoseconds.
    pub median_ns: f64,
    /// 95 % confidence interval of the median.
    pub median_ci: (f64, f64),
    /// Median absolute deviation, nanoseconds.
    pub mad_ns: f64,
    pub mean_ns: f64,
    /// Elements (or bytes) per iteration, when the bench declared it.
    pub elements: Option<u64>,
    /// When criterion wrote the estimates.
    pub modified: Option<SystemTime>,
}

#[derive(Deserialize)]
struct BenchmarkJson {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
    throughput: Option<serde_json::Value>,
    full_id: String,
}

#[derive(Deserialize)]
struct Stat {
    confidence_interval: Interval,
    point_estimate: f64,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Deserialize)]
struct EstimatesJson {
    mean: Stat,
    median: Stat,
    median_abs_dev: Stat,
}

/// Parses one `benchmark.json` + `estimates.json` pair.
pub fn parse_estimate(benchmark: &str, estimates: &str) -> Result<Estimate> {
    let b: BenchmarkJson = serde_json::from_str(benchmark).context("benchmark.json")?;
    let e: EstimatesJson = serde_json::from_str(estimates).context("estimates.json")?;
    let bench = match (&b.function_id, &b.value_str) {
        (Some(f), Some(v)) => format!("{f}/{v}"),
        (Some(f), None) => f.clone(),
        (None, Some(v)) => v.clone(),
        (None, None) => b.full_id.clone(),
    };
    let elements = b.throughput.as_ref().and_then(|t| {
        ["Elements", "Bytes", "BytesDecimal"]
            .iter()
            .find_map(|k| t.get(k).and_then(serde_json::Value::as_u64))
    });
    Ok(Estimate {
        id: b.full_id,
        group: b.group_id,
        bench,
        median_ns: e.median.point_estimate,
        median_ci: (
            e.median.confidence_interval.lower_bound,
            e.median.confidence_interval.upper_bound,
        ),
        mad_ns: e.median_abs_dev.point_estimate,
        mean_ns: e.mean.point_estimate,
        elements,
        modified: None,
    })
}

/// Every benchmark under `dir` saved under `name` (`new`, `base` or a
/// baseline name), sorted by id.
pub fn load(dir: &Path, name: &str) -> Result<Vec<Estimate>> {
    let mut found = Vec::new();
    collect(dir, name, &mut found)
        .with_context(|| format!("reading criterion results under {}", dir.display()))?;
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

fn collect(dir: &Path, name: &str, out: &mut Vec<Estimate>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        let leaf = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if leaf == "report" {
            continue;
        }
        let (bj, ej) = (path.join("benchmark.json"), path.join("estimates.json"));
        if leaf == name && bj.is_file() && ej.is_file() {
            let mut e = parse_estimate(
                &std::fs::read_to_string(&bj)?,
                &std::fs::read_to_string(&ej)?,
            )
            .with_context(|| path.display().to_string())?;
            e.modified = std::fs::metadata(&ej).and_then(|m| m.modified()).ok();
            out.push(e);
        } else {
            collect(&path, name, out)?;
        }
    }
    Ok(())
}

/// Recall@10 per FAISS group and setting, from `faiss_recall.json`.
pub type Recalls = BTreeMap<String, BTreeMap<String, f64>>;

/// Parses `faiss_recall.json` (`{group: {"recall_at_10": {setting: r}}}`).
pub fn parse_recalls(text: &str) -> Result<Recalls> {
    let v: serde_json::Value = serde_json::from_str(text).context("faiss_recall.json")?;
    let mut out = Recalls::new();
    if let Some(groups) = v.as_object() {
        for (group, entry) in groups {
            let settings = entry
                .get("recall_at_10")
                .and_then(serde_json::Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, r)| Some((k.clone(), r.as_f64()?)))
                        .collect()
                })
                .unwrap_or_default();
            out.insert(group.clone(), settings);
        }
    }
    Ok(out)
}

/// The FAISS setting a bench id measures: the id without its `/b<batch>`.
pub fn faiss_setting(bench: &str) -> &str {
    match bench.rsplit_once("/b") {
        Some((setting, batch))
            if !batch.is_empty() && batch.bytes().all(|c| c.is_ascii_digit()) =>
        {
            setting
        }
        _ => bench,
    }
}

/// The batch of a FAISS bench id (`.../b16` → 16).
pub fn faiss_batch(bench: &str) -> Option<u64> {
    bench.rsplit_once("/b").and_then(|(_, b)| b.parse().ok())
}

/// A ratio of two medians of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    pub name: String,
    pub numerator: String,
    pub denominator: String,
    pub value: f64,
}

fn find<'a>(est: &'a [Estimate], id: &str) -> Option<&'a Estimate> {
    est.iter().find(|e| e.id == id)
}

fn ratio(est: &[Estimate], name: &str, num: &str, den: &str) -> Option<Ratio> {
    let (n, d) = (find(est, num)?, find(est, den)?);
    (d.median_ns > 0.0).then(|| Ratio {
        name: name.to_owned(),
        numerator: num.to_owned(),
        denominator: den.to_owned(),
        value: n.median_ns / d.median_ns,
    })
}

/// The ratios the report states, each between two benches of one bench
/// binary run: telemetry overhead, our dense channel vs raw FAISS, and each
/// approximate FAISS setting's speedup over flat.
pub fn ratios(est: &[Estimate]) -> Vec<Ratio> {
    let mut out = Vec::new();
    out.extend(ratio(
        est,
        "telemetry overhead (real SDK / no-op), e2e search",
        "search/e2e_real_telemetry",
        "search/e2e_noop_telemetry",
    ));
    let groups: std::collections::BTreeSet<&str> = est
        .iter()
        .filter(|e| e.group.starts_with("faiss_"))
        .map(|e| e.group.as_str())
        .collect();
    for g in groups {
        for b in [1, 16] {
            out.extend(ratio(
                est,
                &format!("{g}: our dense channel / raw FAISS, flat, batch {b}"),
                &format!("{g}/ours/flat/b{b}"),
                &format!("{g}/raw/flat/b{b}"),
            ));
        }
        for e in est.iter().filter(|e| e.group == g) {
            let (setting, Some(b)) = (faiss_setting(&e.bench), faiss_batch(&e.bench)) else {
                continue;
            };
            if setting.ends_with("/flat") {
                continue;
            }
            let imp = if setting.starts_with("ours/") {
                "ours"
            } else {
                "raw"
            };
            let flat = format!("{g}/{imp}/flat/b{b}");
            if let Some(mut r) = ratio(est, "", &flat, &e.id) {
                r.name = format!("{g}: speedup of {setting} over {imp}/flat, batch {b}");
                out.push(r);
            }
        }
    }
    out
}

/// One target of issue 8 and whether this run meets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub what: &'static str,
    pub target: &'static str,
    pub measured: String,
    pub met: Option<bool>,
}

/// The issue's targets, checked against this run's figures.
pub fn targets(
    est: &[Estimate],
    ratios: &[Ratio],
    recalls: &Recalls,
    search: Option<&SearchFigures>,
) -> Vec<Target> {
    let r = |prefix: &str| ratios.iter().find(|r| r.name.starts_with(prefix));
    let mut out = Vec::new();
    // The paired figure (both sides alternated in one process) when the
    // search bench wrote it; else the ratio of the two criterion benches,
    // measured one after the other.
    let paired = search.and_then(|s| s.telemetry_overhead.as_ref());
    let tele = r("telemetry overhead");
    out.push(Target {
        what: "telemetry overhead of e2e search",
        target: "< 2 %",
        measured: match (paired, tele) {
            (Some(p), _) => format!(
                "{:+.2} % (geometric mean of {} paired searches, sides alternated; 95 % CI {:+.2} … {:+.2} %)",
                (p.ratio_median - 1.0) * 100.0,
                p.rounds,
                (p.ratio_ci95[0] - 1.0) * 100.0,
                (p.ratio_ci95[1] - 1.0) * 100.0,
            ),
            (None, Some(r)) => format!("{:+.1} % ({:.3}×)", (r.value - 1.0) * 100.0, r.value),
            (None, None) => "not measured".to_owned(),
        },
        met: paired
            .map(|p| p.ratio_median < 1.02)
            .or(tele.map(|r| r.value < 1.02)),
    });
    let scrape = find(est, "telemetry/scrape_render_contract_instruments");
    out.push(Target {
        what: "scrape render of the contract's instruments",
        target: "< 1 ms",
        measured: scrape.map_or_else(|| "not measured".to_owned(), |e| fmt_ns(e.median_ns)),
        met: scrape.map(|e| e.median_ns < 1e6),
    });
    let dense = r("faiss_100k: our dense channel / raw FAISS, flat, batch 1");
    out.push(Target {
        what: "our dense channel vs raw FAISS, flat 100k (batch 1)",
        target: "≤ 1.5×",
        measured: dense.map_or_else(|| "not measured".to_owned(), |r| format!("{:.3}×", r.value)),
        met: dense.map(|r| r.value <= 1.5),
    });
    let hnsw = recalls.get("faiss_100k").and_then(|s| {
        s.iter()
            .find(|(k, _)| k.starts_with("ours/hnsw") && !k.contains('+'))
    });
    out.push(Target {
        what: "HNSW recall@10 (100k, our default m=32 efSearch=64)",
        target: "≥ 0.95",
        measured: hnsw.map_or_else(
            || "not measured".to_owned(),
            |(k, v)| format!("{v:.4} ({k})"),
        ),
        met: hnsw.map(|(_, v)| *v >= 0.95),
    });
    out
}

/// Issue 16's targets for the hot paths, from this run's figures.
pub fn hot_path_targets(est: &[Estimate], search: Option<&SearchFigures>) -> Vec<Target> {
    let mut out = Vec::new();
    let e2e = search.and_then(|s| s.e2e_latency.as_ref());
    out.push(Target {
        what: "e2e hybrid search p50 / p95, ≥ 100k chunks, zero-cost embedder",
        target: "< 15 / < 30 ms",
        measured: e2e.map_or_else(
            || "not measured".to_owned(),
            |l| {
                format!(
                    "{:.2} / {:.2} ms ({} chunks, n = {})",
                    l.p50_ms, l.p95_ms, l.chunks, l.n
                )
            },
        ),
        met: e2e.map(|l| l.p50_ms < 15.0 && l.p95_ms < 30.0),
    });
    let per_ns = |id: &str, what: &'static str, target: &'static str, limit_ns: f64| {
        let e = find(est, id);
        Target {
            what,
            target,
            measured: e.map_or_else(
                || "not measured".to_owned(),
                |e| format!("{} (`{id}`)", fmt_ns(e.median_ns)),
            ),
            met: e.map(|e| e.median_ns < limit_ns),
        }
    };
    out.push(per_ns(
        "telemetry/hot_span_with_2_attributes",
        "one span of the hot path (gate, fuse, hydrate, BM25, FAISS), as shipped",
        "< 1 µs",
        1e3,
    ));
    out.push(per_ns(
        "telemetry/span_with_2_attributes",
        "one `tracing` span as shipped (request, search, gather_channels, embeddings)",
        "— (5 per search)",
        f64::INFINITY,
    ));
    out.push(per_ns(
        "telemetry/histogram_record_faiss_latency",
        "one histogram record",
        "< 0.2 µs",
        200.0,
    ));
    let per_text = find(est, "embed_instant/batch/128").and_then(|e| {
        e.elements
            .filter(|&n| n > 0)
            .map(|n| (e.median_ns / n as f64, e))
    });
    out.push(Target {
        what: "embeddings client overhead per text (instant stub, batch 128)",
        target: "< 20 µs",
        measured: per_text.map_or_else(
            || "not measured".to_owned(),
            |(p, _)| format!("{} (`embed_instant/batch/128` per element)", fmt_ns(p)),
        ),
        met: per_text.map(|(p, _)| p < 20e3),
    });
    out
}

/// A time in ns with three significant digits and a unit.
pub fn fmt_ns(ns: f64) -> String {
    let (v, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

/// One group's table: median, MAD, 95 % CI of the median, time per element
/// (when a throughput was declared), and for FAISS groups recall@10 and the
/// speedup over flat.
pub fn group_table(group: &str, est: &[Estimate], recalls: &Recalls, ratios: &[Ratio]) -> String {
    let rows: Vec<&Estimate> = est.iter().filter(|e| e.group == group).collect();
    let faiss = recalls.get(group);
    let per_elem = rows.iter().any(|e| e.elements.is_some_and(|n| n > 1));
    let mut s = String::new();
    s.push_str("| bench | median | MAD | 95 % CI of median |");
    if per_elem {
        s.push_str(" per element |");
    }
    if faiss.is_some() {
        s.push_str(" recall@10 | speedup vs flat |");
    }
    s.push('\n');
    let cols = 4 + usize::from(per_elem) + 2 * usize::from(faiss.is_some());
    s.push_str(&"| --- ".repeat(cols));
    s.push_str("|\n");
    for e in rows {
        let _ = write!(
            s,
            "| `{}` | {} | {} | {} – {} |",
            e.bench,
            fmt_ns(e.median_ns),
            fmt_ns(e.mad_ns),
            fmt_ns(e.median_ci.0),
            fmt_ns(e.median_ci.1)
        );
        if per_elem {
            let cell = e
                .elements
                .filter(|&n| n > 0)
                .map_or_else(|| "—".to_owned(), |n| fmt_ns(e.median_ns / n as f64));
            let _ = write!(s, " {cell} |");
        }
        if let Some(settings) = faiss {
            let recall = settings
                .get(faiss_setting(&e.bench))
                .map_or_else(|| "—".to_owned(), |r| format!("{r:.3}"));
            let speedup = ratios
                .iter()
                .find(|r| r.denominator == e.id && r.name.contains("speedup"))
                .map_or_else(|| "—".to_owned(), |r| format!("{:.1}×", r.value));
            let _ = write!(s, " {recall} | {speedup} |");
        }
        s.push('\n');
    }
    s
}

/// `search_figures.json` (written by the `search` bench): the paired
/// telemetry overhead and the e2e latency percentiles.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct SearchFigures {
    pub telemetry_overhead: Option<PairedOverhead>,
    pub e2e_latency: Option<E2eLatency>,
}

/// Real SDK vs no-op providers, alternated search by search in one process:
/// `ratio_median` is the geometric mean of the per-pair ratios (the name is
/// kept for old side files).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct PairedOverhead {
    pub ratio_median: f64,
    pub ratio_ci95: [f64; 2],
    pub rounds: usize,
    pub queries_per_round: usize,
    pub noop_median_ms: f64,
    pub real_median_ms: f64,
}

/// e2e hybrid search percentiles over a fixed loop of queries.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct E2eLatency {
    pub chunks: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub n: usize,
}

/// Parses `search_figures.json`.
pub fn parse_search_figures(text: &str) -> Result<SearchFigures> {
    serde_json::from_str(text).context("search_figures.json")
}

/// Inputs of the report besides the estimates.
#[derive(Debug, Default)]
pub struct Extras {
    pub recalls: Recalls,
    /// `embed_agreement.json`, as is.
    pub embed_agreement: Option<serde_json::Value>,
    /// Plot files written next to the report (file names).
    pub plots: Vec<(String, String)>,
    /// Where the estimates were read.
    pub source: String,
    /// `peers/lint.json`: codeintel-lint vs ruff.
    pub lint_peer: Option<LintPeer>,
    /// `peers/search.json`: the reference server vs python-otel.
    pub search_peer: Option<SearchPeer>,
    /// `index_throughput.json`: `index/<files>/<mode>` → one build pair.
    pub index_runs: BTreeMap<String, IndexRun>,
    /// `search_figures.json`: paired telemetry overhead, e2e percentiles.
    pub search_figures: Option<SearchFigures>,
}

/// Parses `index_throughput.json` (written by the `index` bench).
pub fn parse_index_runs(text: &str) -> Result<BTreeMap<String, IndexRun>> {
    serde_json::from_str(text).context("index_throughput.json")
}

/// The index build throughput table: per size and mode, cold files/s and
/// MB/s and the incremental build after one file changed.
pub fn index_table(runs: &BTreeMap<String, IndexRun>) -> String {
    let mut rows: Vec<(&String, &IndexRun)> = runs.iter().collect();
    rows.sort_by(|a, b| (a.1.files, a.0).cmp(&(b.1.files, b.0)));
    let mut s = String::from(
        "| files | mode | chunks | MB | cold build | files/s | MB/s | incremental (1 file changed) |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (key, r) in rows {
        let mode = key.rsplit('/').next().unwrap_or(key);
        let _ = writeln!(
            s,
            "| {} | {mode} | {} | {:.1} | {} | {:.0} | {:.2} | {} |",
            r.files,
            r.chunks,
            r.bytes as f64 / 1e6,
            secs(r.cold_s),
            r.cold_files_per_s,
            r.cold_mb_per_s,
            secs(r.incremental_s)
        );
    }
    s
}

/// Issue 16: the reference serves at least this many times python-otel's
/// requests/s at [`PEER_TARGET_CLIENTS`] concurrent clients.
pub const PEER_RPS_TARGET: f64 = 5.0;
/// The concurrency the requests/s target is judged at.
pub const PEER_TARGET_CLIENTS: usize = 8;
/// Issue 16: seconds codeintel-lint may take for 1M lines.
pub const LINT_SECONDS_PER_MILLION: f64 = 2.0;
/// Issue 16: codeintel-lint's time at most this many times ruff's.
pub const LINT_RATIO_TARGET: f64 = 2.0;

fn yes_no(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}

fn secs(s: f64) -> String {
    fmt_ns(s * 1e9)
}

/// The "vs peers" table (issue 16): codeintel-lint vs ruff and the
/// reference server vs python-otel, each side by side from one run, with
/// the ratio and the target. Empty when neither result exists.
pub fn peers_table(lint: Option<&LintPeer>, search: Option<&SearchPeer>) -> String {
    if lint.is_none() && search.is_none() {
        return String::new();
    }
    let mut s = String::from(
        "| measure | ours | peer | ratio | target | met |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    if let Some(l) = lint {
        let per_line = |t: &crate::peers::Timing| {
            format!("{} ({:.0} ns/line)", secs(t.median_s), t.ns_per(l.lines))
        };
        let per_million = l.ours_per_million_lines_s();
        let _ = writeln!(
            s,
            "| lint, {} lines of Python, {} threads: median wall time | {} | {} | {:.2}× the time | < {} s per 1M lines ({} here) and ≤ {}× ruff | {} |",
            l.lines,
            l.threads,
            per_line(&l.ours_prefiltered),
            per_line(&l.peer),
            l.ratio(),
            LINT_SECONDS_PER_MILLION,
            secs(per_million),
            LINT_RATIO_TARGET,
            yes_no(per_million < LINT_SECONDS_PER_MILLION && l.ratio() <= LINT_RATIO_TARGET)
        );
        let _ = writeln!(
            s,
            "| lint `--parse-all` (every file parsed, as ruff does) | {} | {} | {:.2}× the time | — | — |",
            per_line(&l.ours_parse_all),
            per_line(&l.peer),
            l.ratio_parse_all()
        );
        let _ = writeln!(
            s,
            "| lint findings: LNT-001 vs TID251 ({} planted) | {} | {} | {} | the same file:line set | {} |",
            l.planted,
            l.ours_findings,
            l.peer_findings,
            if l.agree {
                "same set".to_owned()
            } else {
                format!("{} differences", l.disagreements.len())
            },
            yes_no(l.agree)
        );
    }
    if let Some(p) = search {
        for level in &p.levels {
            let side = |st: &crate::peers::LoadStats| {
                let mut cell = format!(
                    "{:.1} req/s, p50 {:.2} ms, p95 {:.2} ms",
                    st.requests_per_s, st.p50_ms, st.p95_ms
                );
                if st.errors > 0 || st.degraded > 0 || st.truncated {
                    let _ = write!(
                        cell,
                        " ({} of {} failed, {} degraded{})",
                        st.errors,
                        st.requests,
                        st.degraded,
                        if st.truncated { ", truncated" } else { "" }
                    );
                }
                cell
            };
            let ratio = level.throughput_ratio();
            let (target, met) = if level.clients == PEER_TARGET_CLIENTS {
                (
                    format!("≥ {PEER_RPS_TARGET}× requests/s"),
                    yes_no(ratio >= PEER_RPS_TARGET && level.ours.errors == 0).to_owned(),
                )
            } else {
                ("—".to_owned(), "—".to_owned())
            };
            let _ = writeln!(
                s,
                "| e2e search over HTTP, {} concurrent client{} | {} | {} | {ratio:.2}× requests/s | {target} | {met} |",
                level.clients,
                if level.clients == 1 { "" } else { "s" },
                side(&level.ours),
                side(&level.peer),
            );
        }
    }
    s.push('\n');
    if let Some(l) = lint {
        let _ = writeln!(
            s,
            "Lint: {} vs {} on {} ({} files, {:.1} MB), {} timed rounds each, alternating; measured {}. \
             Ours: `{}`; peer: `{}` (configured by `benches/peers/ruff.toml`). \
             Produced by `cargo run -p codeintel-benches --bin peer-lint`.\n",
            l.ours_tool,
            l.peer_tool,
            l.tree,
            l.files,
            l.bytes as f64 / 1e6,
            l.peer.samples_s.len(),
            fmt_time(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(l.measured_unix)),
            l.ours_command,
            l.peer_command
        );
    }
    if let Some(p) = search {
        let _ = writeln!(
            s,
            "Search: {} vs {} on {}, k = {}, {} distinct queries per side (golden + generated, none repeated), \
             one harness embeddings server ({}-d) and OTLP receiver for both; \
             ready after {:.1} s (ours, after a {:.1} s `index`) and {:.1} s (peer, index load included); measured {}. \
             Produced by `cargo run -p codeintel-benches --bin peer-search`.\n",
            p.ours_tool,
            p.peer_tool,
            p.corpus,
            p.k,
            p.queries,
            p.embed_dim,
            p.ours_ready_s,
            p.ours_index_s,
            p.peer_ready_s,
            fmt_time(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(p.measured_unix)),
        );
    }
    s
}

#[allow(clippy::many_single_char_names)]
fn fmt_time(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// The whole `REPORT.md`.
fn target_row(s: &mut String, t: &Target) {
    let met = match t.met {
        Some(true) if t.target.starts_with('—') => "—",
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "—",
    };
    let _ = writeln!(s, "| {} | {} | {} | {met} |", t.what, t.target, t.measured);
}

pub fn render(est: &[Estimate], extras: &Extras) -> String {
    let ratios = ratios(est);
    let mut s = String::from("# codeintel bench report\n\n");
    let _ = writeln!(
        s,
        "Generated by `cargo run -p codeintel-benches --bin bench-report` from `{}` \
         (criterion's latest run of each bench, `new/estimates.json`). Times are per \
         iteration; \"per element\" divides by the declared throughput (queries, texts). \
         Spread: MAD and the 95 % bootstrap CI of the median. The machine is noisy and \
         shared: compare ratios within one run, never absolute times across runs.\n",
        extras.source
    );

    s.push_str(
        "## Targets (issue 8)\n\n| what | target | measured | met |\n| --- | --- | --- | --- |\n",
    );
    let search = extras.search_figures.as_ref();
    for t in targets(est, &ratios, &extras.recalls, search) {
        target_row(&mut s, &t);
    }
    s.push('\n');
    s.push_str(
        "## Targets (issue 16: the hot paths)\n\n| what | target | measured | met |\n| --- | --- | --- | --- |\n",
    );
    for t in hot_path_targets(est, search) {
        target_row(&mut s, &t);
    }
    s.push('\n');

    let peers = peers_table(extras.lint_peer.as_ref(), extras.search_peer.as_ref());
    if !peers.is_empty() {
        s.push_str("## vs peers (issue 16; each row from one run of one peer bench)\n\n");
        s.push_str(&peers);
    }

    s.push_str("## Ratios (medians of one bench run)\n\n| ratio | value | numerator | denominator |\n| --- | --- | --- | --- |\n");
    for r in ratios.iter().filter(|r| !r.name.contains("speedup")) {
        let _ = writeln!(
            s,
            "| {} | {:.3}× | `{}` | `{}` |",
            r.name, r.value, r.numerator, r.denominator
        );
    }
    s.push_str(
        "\nSpeedups of the approximate FAISS settings over flat are in the FAISS tables.\n\n",
    );

    if !extras.index_runs.is_empty() {
        s.push_str(
            "## Index build throughput (one build each; `sparse`: walk + chunk + catalog + BM25, \
             `hash384`: the same plus a zero-cost 384-d embedder and the dense index)\n\n",
        );
        s.push_str(&index_table(&extras.index_runs));
        s.push('\n');
    }

    for (title, file) in &extras.plots {
        let _ = writeln!(s, "![{title}]({file})\n");
    }

    let mut groups: Vec<&str> = est.iter().map(|e| e.group.as_str()).collect();
    groups.dedup();
    for g in groups {
        let when = est
            .iter()
            .filter(|e| e.group == g)
            .filter_map(|e| e.modified)
            .max()
            .map(fmt_time)
            .unwrap_or_default();
        let _ = writeln!(s, "## {g}\n\nMeasured {when}.\n");
        s.push_str(&group_table(g, est, &extras.recalls, &ratios));
        s.push('\n');
        if g.starts_with("embed")
            && let Some(agree) = extras.embed_agreement.as_ref().and_then(|v| v.as_object())
        {
            {
                let mut rows: Vec<_> = agree
                    .iter()
                    .filter(|(k, _)| k.starts_with(&format!("{g}/")))
                    .collect();
                rows.sort_by(|a, b| a.0.cmp(b.0));
                if !rows.is_empty() {
                    s.push_str("`codeintel_embed_latency_seconds` vs criterion (mean per request, all timed calls):\n\n| bench | criterion | histogram | bucket | agree |\n| --- | --- | --- | --- | --- |\n");
                    for (k, v) in rows {
                        let f = |key: &str| {
                            v.get(key)
                                .and_then(serde_json::Value::as_f64)
                                .unwrap_or(f64::NAN)
                        };
                        let bucket = v.get("bucket_s").and_then(|b| b.as_array()).map_or_else(
                            String::new,
                            |b| {
                                let lo =
                                    b.first().and_then(serde_json::Value::as_f64).unwrap_or(0.0);
                                let hi = b
                                    .get(1)
                                    .and_then(serde_json::Value::as_f64)
                                    .unwrap_or(f64::INFINITY);
                                format!("({}, {}] ms", lo * 1e3, hi * 1e3)
                            },
                        );
                        let ok = v
                            .get("agree")
                            .and_then(serde_json::Value::as_bool)
                            .unwrap_or(false);
                        let _ = writeln!(
                            s,
                            "| `{k}` | {} | {} | {bucket} | {} |",
                            fmt_ns(f("criterion_mean_s") * 1e9),
                            fmt_ns(f("histogram_mean_s") * 1e9),
                            if ok { "yes" } else { "**no**" }
                        );
                    }
                    s.push('\n');
                }
            }
        }
    }
    s
}

/// The bucket `(lo, hi]` of `bounds` (upper bounds, ascending, `+Inf`
/// implied) that holds `x`.
pub fn bucket_of(x: f64, bounds: &[f64]) -> (f64, f64) {
    let mut lo = 0.0;
    for &hi in bounds {
        if x <= hi {
            return (lo, hi);
        }
        lo = hi;
    }
    (lo, f64::INFINITY)
}

/// A Prometheus histogram read from a text scrape, summed over label sets.
#[derive(Debug, Clone, PartialEq)]
pub struct PromHistogram {
    /// `(le, cumulative count)`, ascending, `+Inf` last.
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl PromHistogram {
    /// Reads histogram `name` (without `_bucket`/`_sum`/`_count`) from the
    /// text exposition format. `None` when it is absent.
    pub fn parse(text: &str, name: &str) -> Option<Self> {
        let mut buckets: BTreeMap<u64, (f64, u64)> = BTreeMap::new();
        let (mut sum, mut count, mut seen) = (0.0, 0u64, false);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some(rest) = line.strip_prefix(name) else {
                continue;
            };
            let Some((series, value)) = rest.rsplit_once(' ') else {
                continue;
            };
            let Ok(v) = value.trim().parse::<f64>() else {
                continue;
            };
            if series.starts_with("_bucket") {
                let le = series
                    .split("le=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .map(|s| {
                        if s == "+Inf" {
                            f64::INFINITY
                        } else {
                            s.parse().unwrap_or(f64::NAN)
                        }
                    })?;
                let e = buckets.entry(le.to_bits()).or_insert((le, 0));
                e.1 += v as u64;
                seen = true;
            } else if series.starts_with("_sum") {
                sum += v;
                seen = true;
            } else if series.starts_with("_count") {
                count += v as u64;
                seen = true;
            }
        }
        let mut buckets: Vec<(f64, u64)> = buckets.into_values().collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        seen.then_some(Self {
            buckets,
            sum,
            count,
        })
    }

    /// The bucket `(lo, hi]` holding the median observation.
    pub fn median_bucket(&self) -> Option<(f64, f64)> {
        let half = self.count.div_ceil(2).max(1);
        let mut lo = 0.0;
        for &(le, cum) in &self.buckets {
            if cum >= half {
                return Some((lo, le));
            }
            lo = le;
        }
        None
    }
}

/// A relative threshold: `10%` or `0.1`.
pub fn parse_threshold(s: &str) -> Result<f64> {
    let t = s.trim();
    let v = if let Some(p) = t.strip_suffix('%') {
        p.trim().parse::<f64>().map(|v| v / 100.0)
    } else {
        t.parse::<f64>()
    }
    .with_context(|| format!("threshold `{s}`: expected e.g. `10%` or `0.1`"))?;
    anyhow::ensure!(
        v.is_finite() && v >= 0.0,
        "threshold `{s}` must be a non-negative number"
    );
    Ok(v)
}

/// One bench present in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub id: String,
    pub baseline_ns: f64,
    pub new_ns: f64,
    /// `new / baseline − 1` of the medians.
    pub change: f64,
    /// Over the threshold, and the two medians' CIs do not overlap.
    pub regressed: bool,
}

/// Compares the medians of the benches present in both lists. A bench
/// regressed when its median grew by more than `threshold` (relative) and
/// its 95 % CI lies entirely above the baseline's (noise is not a
/// regression).
pub fn compare(baseline: &[Estimate], new: &[Estimate], threshold: f64) -> Vec<Change> {
    new.iter()
        .filter_map(|n| {
            let b = find(baseline, &n.id)?;
            if b.median_ns <= 0.0 {
                return None;
            }
            let change = n.median_ns / b.median_ns - 1.0;
            Some(Change {
                id: n.id.clone(),
                baseline_ns: b.median_ns,
                new_ns: n.median_ns,
                change,
                regressed: change > threshold && n.median_ci.0 > b.median_ci.1,
            })
        })
        .collect()
}

/// `compare`'s table.
pub fn render_changes(changes: &[Change], threshold: f64) -> String {
    let mut s = format!(
        "| bench | baseline | new | change | regressed (> {:.0} %) |\n| --- | --- | --- | --- | --- |\n",
        threshold * 100.0
    );
    for c in changes {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:+.1} % | {} |",
            c.id,
            fmt_ns(c.baseline_ns),
            fmt_ns(c.new_ns),
            c.change * 100.0,
            if c.regressed { "**REGRESSED**" } else { "" }
        );
    }
    s
}

/// Points of the FAISS latency/recall plot: per group, `(setting, recall,
/// median ms per query)` of the batch-1 benches that have a recall.
pub fn latency_recall_points(
    est: &[Estimate],
    recalls: &Recalls,
) -> BTreeMap<String, Vec<(String, f64, f64)>> {
    let mut out: BTreeMap<String, Vec<(String, f64, f64)>> = BTreeMap::new();
    for e in est.iter().filter(|e| faiss_batch(&e.bench) == Some(1)) {
        let setting = faiss_setting(&e.bench);
        if let Some(r) = recalls.get(&e.group).and_then(|s| s.get(setting)) {
            out.entry(e.group.clone()).or_default().push((
                setting.to_owned(),
                *r,
                e.median_ns / 1e6,
            ));
        }
    }
    out
}

/// Points of the e2e latency/corpus size plot: `(chunks, median ms)` from
/// the `search_by_size` group (bench ids `e2e/<chunks>`).
pub fn e2e_points(est: &[Estimate]) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = est
        .iter()
        .filter(|e| e.group == "search_by_size")
        .filter_map(|e| {
            Some((
                e.bench.rsplit('/').next()?.parse::<f64>().ok()?,
                e.median_ns / 1e6,
            ))
        })
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

/// Draws the FAISS latency vs recall@10 plot (SVG).
pub fn plot_latency_recall(
    path: &Path,
    points: &BTreeMap<String, Vec<(String, f64, f64)>>,
) -> Result<()> {
    use plotters::prelude::*;
    let all: Vec<&(String, f64, f64)> = points.values().flatten().collect();
    anyhow::ensure!(!all.is_empty(), "no FAISS point with a recall");
    let rmin = all.iter().map(|p| p.1).fold(1.0f64, f64::min);
    let (tmin, tmax) = all.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| {
        (a.min(p.2), b.max(p.2))
    });
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "FAISS: median latency per query (batch 1) vs recall@10",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            ((rmin - 0.05).max(0.0))..1.01f64,
            ((tmin * 0.7)..(tmax * 1.5)).log_scale(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("recall@10 vs exact (flat)")
        .y_desc("ms per query (log)")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let colors = [RED, BLUE, GREEN, MAGENTA, CYAN];
    for (i, (group, pts)) in points.iter().enumerate() {
        let color = colors[i % colors.len()];
        chart
            .draw_series(
                pts.iter()
                    .map(|p| Circle::new((p.1, p.2), 4, color.filled())),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(group.clone())
            .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
        chart
            .draw_series(pts.iter().map(|p| {
                Text::new(
                    p.0.clone(),
                    (p.1, p.2),
                    ("sans-serif", 10).into_font().color(&color),
                )
            }))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Draws e2e search latency vs corpus size (SVG).
pub fn plot_e2e(path: &Path, points: &[(f64, f64)]) -> Result<()> {
    use plotters::prelude::*;
    anyhow::ensure!(!points.is_empty(), "no search_by_size results");
    let xmax = points.iter().map(|p| p.0).fold(1.0f64, f64::max);
    let xmin = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let ymax = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "End-to-end search: median latency vs corpus size",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(((xmin * 0.7)..(xmax * 1.5)).log_scale(), 0.0..(ymax * 1.2))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("chunks in the index (log)")
        .y_desc("ms per search (median)")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .draw_series(LineSeries::new(points.iter().copied(), BLUE))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .draw_series(points.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Reads a side file the benches write next to criterion's results.
pub fn read_side(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

/// The default report path: `benches/REPORT.md`.
pub fn default_report_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("REPORT.md")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::too_many_arguments)]
    fn write_bench(
        root: &Path,
        dir: &str,
        name: &str,
        group: &str,
        func: &str,
        value: Option<&str>,
        median: f64,
        elements: Option<u64>,
    ) {
        let d = root.join(dir).join(name);
        std::fs::create_dir_all(&d).unwrap();
        let full = match value {
            Some(v) => format!("{group}/{func}/{v}"),
            None => format!("{group}/{func}"),
        };
        let tp = elements.map_or(
            serde_json::Value::Null,
            |n| serde_json::json!({"Elements": n}),
        );
        std::fs::write(
            d.join("benchmark.json"),
            serde_json::json!({"group_id": group, "function_id": func, "value_str": value, "throughput": tp, "full_id": full, "directory_name": dir, "title": full}).to_string(),
        )
        .unwrap();
        let stat = |p: f64| serde_json::json!({"confidence_interval": {"confidence_level": 0.95, "lower_bound": p * 0.98, "upper_bound": p * 1.02}, "point_estimate": p, "standard_error": 1.0});
        std::fs::write(
            d.join("estimates.json"),
            serde_json::json!({"mean": stat(median * 1.01), "median": stat(median), "median_abs_dev": stat(median * 0.05), "slope": null, "std_dev": stat(median * 0.1)}).to_string(),
        )
        .unwrap();
    }

    fn fixture() -> (tempfile::TempDir, Vec<Estimate>) {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write_bench(
            r,
            "search/e2e_noop_telemetry",
            "new",
            "search",
            "e2e_noop_telemetry",
            None,
            80e6,
            None,
        );
        write_bench(
            r,
            "search/e2e_real_telemetry",
            "new",
            "search",
            "e2e_real_telemetry",
            None,
            81e6,
            None,
        );
        write_bench(
            r,
            "telemetry/scrape_render_contract_instruments",
            "new",
            "telemetry",
            "scrape_render_contract_instruments",
            None,
            440e3,
            None,
        );
        write_bench(
            r,
            "faiss_100k/ours_flat_b1",
            "new",
            "faiss_100k",
            "ours/flat/b1",
            None,
            6e6,
            Some(1),
        );
        write_bench(
            r,
            "faiss_100k/raw_flat_b1",
            "new",
            "faiss_100k",
            "raw/flat/b1",
            None,
            5e6,
            Some(1),
        );
        write_bench(
            r,
            "faiss_100k/raw_hnsw32_ef64_b1",
            "new",
            "faiss_100k",
            "raw/hnsw32_ef64/b1",
            None,
            0.25e6,
            Some(1),
        );
        write_bench(
            r,
            "faiss_100k/ours_hnsw32_ef64_b16",
            "new",
            "faiss_100k",
            "ours/hnsw32_ef64/b16",
            None,
            4.8e6,
            Some(16),
        );
        write_bench(
            r,
            "search_by_size/e2e/1100",
            "new",
            "search_by_size",
            "e2e",
            Some("1100"),
            9e6,
            None,
        );
        // A baseline and a report dir that must be skipped.
        write_bench(
            r,
            "search/e2e_noop_telemetry",
            "main",
            "search",
            "e2e_noop_telemetry",
            None,
            60e6,
            None,
        );
        std::fs::create_dir_all(r.join("search/report")).unwrap();
        let est = load(r, "new").unwrap();
        (t, est)
    }

    fn recalls() -> Recalls {
        parse_recalls(r#"{"faiss_100k": {"n": 100000, "recall_at_10": {"ours/hnsw32_ef64": 0.97, "raw/hnsw32_ef64": 0.97, "ours/flat": 1.0}}}"#).unwrap()
    }

    #[test]
    fn loads_new_estimates_only() {
        let (_t, est) = fixture();
        assert_eq!(est.len(), 8);
        let e = est
            .iter()
            .find(|e| e.id == "search_by_size/e2e/1100")
            .unwrap();
        assert_eq!(e.bench, "e2e/1100");
        assert!((e.median_ns - 9e6).abs() < 1e-6);
        assert!(e.modified.is_some());
        let b = est
            .iter()
            .find(|e| e.id == "faiss_100k/ours/hnsw32_ef64/b16")
            .unwrap();
        assert_eq!(b.elements, Some(16));
    }

    #[test]
    fn computes_ratios_within_the_run() {
        let (_t, est) = fixture();
        let r = ratios(&est);
        let tele = r.iter().find(|r| r.name.starts_with("telemetry")).unwrap();
        assert!((tele.value - 81.0 / 80.0).abs() < 1e-9);
        let dense = r
            .iter()
            .find(|r| r.name.contains("dense channel / raw FAISS, flat, batch 1"))
            .unwrap();
        assert!((dense.value - 1.2).abs() < 1e-9);
        let speed = r
            .iter()
            .find(|r| r.denominator == "faiss_100k/raw/hnsw32_ef64/b1")
            .unwrap();
        assert!((speed.value - 20.0).abs() < 1e-9);
        // No ours/flat/b16 in the fixture: no speedup for ours hnsw b16.
        assert!(
            !r.iter()
                .any(|r| r.denominator.ends_with("ours/hnsw32_ef64/b16"))
        );
    }

    #[test]
    fn checks_the_targets() {
        let (_t, est) = fixture();
        let t = targets(&est, &ratios(&est), &recalls(), None);
        assert_eq!(
            t.iter().map(|t| t.met).collect::<Vec<_>>(),
            vec![Some(true), Some(true), Some(true), Some(true)]
        );
        let none = targets(&[], &[], &Recalls::new(), None);
        assert!(none.iter().all(|t| t.met.is_none()));
    }

    #[test]
    fn the_paired_overhead_wins_over_the_sequential_ratio_and_hot_targets_judge_it() {
        let (_t, est) = fixture();
        let figures = parse_search_figures(
            r#"{"telemetry_overhead": {"ratio_median": 1.031, "ratio_ci95": [1.01, 1.05],
                "rounds": 60, "queries_per_round": 6, "noop_median_ms": 40.0, "real_median_ms": 41.2},
               "e2e_latency": {"chunks": 110000, "p50_ms": 6.5, "p95_ms": 31.0, "n": 400}}"#,
        )
        .expect("figures");
        let t = targets(&est, &ratios(&est), &recalls(), Some(&figures));
        assert_eq!(t[0].met, Some(false), "{:?}", t[0]);
        assert!(
            t[0].measured
                .starts_with("+3.10 % (geometric mean of 60 paired searches")
        );
        let hot = hot_path_targets(&est, Some(&figures));
        // p95 31 ms misses < 30 ms though p50 meets < 15 ms.
        assert_eq!(hot[0].met, Some(false));
        assert!(hot[1..].iter().all(|t| t.met.is_none()), "{hot:?}");
        let none = hot_path_targets(&[], None);
        assert!(
            none.iter()
                .all(|t| t.met.is_none() && t.measured == "not measured")
        );
    }

    #[test]
    fn faiss_ids_split_into_setting_and_batch() {
        assert_eq!(
            faiss_setting("ours/hnsw32_ef64+refine4/b16"),
            "ours/hnsw32_ef64+refine4"
        );
        assert_eq!(faiss_batch("ours/hnsw32_ef64+refine4/b16"), Some(16));
        assert_eq!(faiss_setting("e2e_noop"), "e2e_noop");
        assert_eq!(faiss_batch("raw/flat"), None);
    }

    #[test]
    fn compare_flags_regressions_over_threshold() {
        let (t, est) = fixture();
        let base = load(t.path(), "main").unwrap();
        let changes = compare(&base, &est, parse_threshold("10%").unwrap());
        assert_eq!(changes.len(), 1);
        assert!(changes[0].regressed);
        assert!((changes[0].change - (80.0 / 60.0 - 1.0)).abs() < 1e-9);
        assert!(compare(&base, &est, 0.5).iter().all(|c| !c.regressed));
        assert!(render_changes(&changes, 0.1).contains("REGRESSED"));
    }

    #[test]
    fn thresholds_parse() {
        assert!((parse_threshold("10%").unwrap() - 0.1).abs() < 1e-12);
        assert!((parse_threshold(" 0.25 ").unwrap() - 0.25).abs() < 1e-12);
        assert!(parse_threshold("ten").is_err());
        assert!(parse_threshold("-5%").is_err());
    }

    #[test]
    fn reads_a_prometheus_histogram() {
        let text = "# TYPE codeintel_embed_latency_seconds histogram\n\
codeintel_embed_latency_seconds_bucket{client=\"openai\",outcome=\"ok\",le=\"0.001\"} 1\n\
codeintel_embed_latency_seconds_bucket{client=\"openai\",outcome=\"ok\",le=\"0.005\"} 3\n\
codeintel_embed_latency_seconds_bucket{client=\"openai\",outcome=\"ok\",le=\"+Inf\"} 4\n\
codeintel_embed_latency_seconds_sum{client=\"openai\",outcome=\"ok\"} 0.02\n\
codeintel_embed_latency_seconds_count{client=\"openai\",outcome=\"ok\"} 4\n\
codeintel_embed_batch_size_count{client=\"openai\"} 9\n";
        let h = PromHistogram::parse(text, "codeintel_embed_latency_seconds").unwrap();
        assert_eq!(h.count, 4);
        assert!((h.sum - 0.02).abs() < 1e-12);
        assert_eq!(h.median_bucket(), Some((0.001, 0.005)));
        assert!(PromHistogram::parse(text, "codeintel_nothing").is_none());
        assert_eq!(bucket_of(0.003, &[0.001, 0.005]), (0.001, 0.005));
        assert_eq!(bucket_of(0.0005, &[0.001, 0.005]), (0.0, 0.001));
        assert_eq!(bucket_of(1.0, &[0.001]), (0.001, f64::INFINITY));
    }

    #[test]
    fn plot_points_come_from_batch_1_and_sizes() {
        let (t, est) = fixture();
        let pts = latency_recall_points(&est, &recalls());
        assert_eq!(pts["faiss_100k"].len(), 2);
        assert_eq!(e2e_points(&est), vec![(1100.0, 9.0)]);
        plot_latency_recall(&t.path().join("a.svg"), &pts).unwrap();
        plot_e2e(&t.path().join("b.svg"), &e2e_points(&est)).unwrap();
        assert!(
            std::fs::read_to_string(t.path().join("a.svg"))
                .unwrap()
                .contains("<svg")
        );
    }

    #[test]
    fn renders_a_faiss_table() {
        let (_t, est) = fixture();
        let table = group_table("faiss_100k", &est, &recalls(), &ratios(&est));
        insta::assert_snapshot!(table);
    }

    fn lint_peer(ours_s: f64, ruff_s: f64, agree: bool) -> LintPeer {
        use crate::peers::Timing;
        LintPeer {
            tree: "synthetic".into(),
            files: 2_500,
            lines: 1_000_000,
            bytes: 30_000_000,
            planted: 125,
            threads: 2,
            ours_tool: "codeintel-lint 0.1.0 (release build)".into(),
            peer_tool: "ruff 0.17.5".into(),
            ours_command: "codeintel-lint TREE".into(),
            peer_command: "ruff check TREE".into(),
            ours_prefiltered: Timing::from_samples(&[ours_s, ours_s + 0.1, ours_s - 0.1]),
            ours_parse_all: Timing::from_samples(&[ours_s * 3.0]),
            peer: Timing::from_samples(&[ruff_s]),
            ours_findings: 125,
            peer_findings: if agree { 125 } else { 124 },
            agree,
            disagreements: if agree {
                Vec::new()
            } else {
                vec!["a.py:3 (ours only)".into()]
            },
            measured_unix: 1_790_000_000,
        }
    }

    fn search_peer(ratio_at_8: f64) -> SearchPeer {
        use crate::peers::{LoadStats, SearchLevel};
        let level = |clients: usize, ours_rps: f64, peer_rps: f64| SearchLevel {
            clients,
            ours: LoadStats::summarise(100, vec![2.0; 100], 0, 0, 100.0 / ours_rps, false),
            peer: LoadStats::summarise(100, vec![9.0; 98], 2, 1, 98.0 / peer_rps, false),
        };
        SearchPeer {
            corpus: "2000 files".into(),
            files: 2_000,
            bytes: 3_000_000,
            queries: 300,
            k: 10,
            embed_dim: 384,
            ours_tool: "codeintel-server".into(),
            peer_tool: "python-otel".into(),
            ours_index_s: 10.0,
            ours_ready_s: 0.5,
            peer_ready_s: 30.0,
            levels: vec![level(1, 100.0, 40.0), level(8, 20.0 * ratio_at_8, 20.0)],
            measured_unix: 1_790_000_000,
        }
    }

    #[test]
    fn peers_table_states_ratios_and_targets() {
        assert_eq!(peers_table(None, None), "");
        let table = peers_table(Some(&lint_peer(1.2, 0.8, true)), Some(&search_peer(6.0)));
        let rows: Vec<&str> = table
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| ---"))
            .collect();
        assert_eq!(rows.len(), 1 + 3 + 2, "{table}");
        assert!(
            rows[1].contains("1,000,000") || rows[1].contains("1000000 lines"),
            "{}",
            rows[1]
        );
        assert!(
            rows[1].contains("| 1.20 s (1200 ns/line) | 800 ms (800 ns/line) | 1.50× the time |"),
            "{}",
            rows[1]
        );
        assert!(rows[1].ends_with("| yes |"), "{}", rows[1]);
        assert!(
            rows[2].contains("3.60 s") && rows[2].contains("4.50× the time"),
            "{}",
            rows[2]
        );
        assert!(
            rows[3].contains("| 125 | 125 | same set |") && rows[3].ends_with("| yes |"),
            "{}",
            rows[3]
        );
        assert!(
            rows[4].contains("1 concurrent client |")
                && rows[4].contains("2.50× requests/s | — | — |"),
            "{}",
            rows[4]
        );
        assert!(
            rows[4].contains("(2 of 100 failed, 1 degraded)"),
            "{}",
            rows[4]
        );
        assert!(
            rows[5].contains("8 concurrent clients")
                && rows[5].contains("6.00× requests/s | ≥ 5× requests/s | yes |"),
            "{}",
            rows[5]
        );
        assert!(table.contains("Produced by `cargo run -p codeintel-benches --bin peer-lint`"));
        assert!(table.contains("2026-"), "{table}");

        // Too slow for 1M lines, slower than 2× ruff, disagreeing, under 5×.
        let bad = peers_table(Some(&lint_peer(2.5, 0.8, false)), Some(&search_peer(4.0)));
        let rows: Vec<&str> = bad
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| ---"))
            .collect();
        assert!(rows[1].ends_with("| **no** |"), "{}", rows[1]);
        assert!(
            rows[3].contains("1 differences") && rows[3].ends_with("| **no** |"),
            "{}",
            rows[3]
        );
        assert!(
            rows[5].contains("4.00× requests/s") && rows[5].ends_with("| **no** |"),
            "{}",
            rows[5]
        );
        // Fast enough, but more than 2× ruff's time.
        let slow_ratio = peers_table(Some(&lint_peer(1.5, 0.5, true)), None);
        assert!(
            slow_ratio.lines().nth(2).unwrap().ends_with("| **no** |"),
            "{slow_ratio}"
        );
    }

    #[test]
    fn the_report_has_a_vs_peers_section_only_with_peer_results() {
        let (_t, est) = fixture();
        let plain = render(&est, &Extras::default());
        assert!(!plain.contains("## vs peers"));
        let extras = Extras {
            lint_peer: Some(lint_peer(1.0, 0.9, true)),
            ..Extras::default()
        };
        let with = render(&est, &extras);
        let at = with.find("## vs peers").unwrap();
        assert!(at < with.find("## Ratios").unwrap());
        assert!(with.contains("ruff 0.17.5"));
    }

    #[test]
    fn index_table_sorts_by_size_and_mode() {
        let run = |files: usize, cold_s: f64| IndexRun {
            files,
            bytes: files as u64 * 1_000,
            chunks: files * 6,
            cold_s,
            cold_files_per_s: files as f64 / cold_s,
            cold_mb_per_s: files as f64 * 1_000.0 / 1e6 / cold_s,
            incremental_s: 0.25,
            incremental_files_changed: 1,
            incremental_chunks_embedded: 6,
            incremental_stage_seconds: BTreeMap::new(),
        };
        let text = serde_json::json!({
            "index/10000/sparse": run(10_000, 5.0),
            "index/1000/sparse": run(1_000, 0.5),
            "index/1000/hash384": run(1_000, 1.0),
        })
        .to_string();
        let runs = parse_index_runs(&text).unwrap();
        let table = index_table(&runs);
        let rows: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(
            rows,
            [
                "| 1000 | hash384 | 6000 | 1.0 | 1.00 s | 1000 | 1.00 | 250 ms |",
                "| 1000 | sparse | 6000 | 1.0 | 500 ms | 2000 | 2.00 | 250 ms |",
                "| 10000 | sparse | 60000 | 10.0 | 5.00 s | 2000 | 2.00 | 250 ms |",
            ]
        );
        let (_t, est) = fixture();
        let extras = Extras {
            index_runs: runs,
            ..Extras::default()
        };
        assert!(render(&est, &extras).contains("## Index build throughput"));
        assert!(!render(&est, &Extras::default()).contains("## Index build throughput"));
        assert!(parse_index_runs("{\"x\": 1}").is_err());
    }

    #[test]
    fn formats_times() {
        assert_eq!(fmt_ns(440_000.0), "440 µs");
        assert_eq!(fmt_ns(5_700_000.0), "5.70 ms");
        assert_eq!(fmt_ns(12.0), "12.0 ns");
        assert_eq!(fmt_ns(2.5e9), "2.50 s");
    }
}
