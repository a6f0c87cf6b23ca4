//! Shared by the `reliability_*` tests of every crate (included with
//! `#[path]`): the JSON side-output that `scripts/reliability.sh` renders into
//! `RELIABILITY.md`, and the fuzz driver (proptest with a fixed case count in
//! CI, longer on demand, a watchdog against hangs and a memory bound).
//!
//! - `PROPTEST_CASES` — cases per fuzz target (default 256);
//! - `FUZZ_SECONDS` — instead, keep fuzzing each target this long;
//! - `CODEINTEL_RELIABILITY_OUT` — a file each test appends its figures to,
//!   one JSON object per line (unset: nothing is written).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Appends one figure (`table`, `row` and any fields of `fields`) to the
/// side-output file, if one is configured.
pub fn record(table: &str, row: &str, fields: serde_json::Value) {
    let Some(path) = std::env::var_os("CODEINTEL_RELIABILITY_OUT") else {
        return;
    };
    let mut object = serde_json::json!({"table": table, "row": row});
    if let (Some(o), serde_json::Value::Object(extra)) = (object.as_object_mut(), fields) {
        o.extend(extra);
    }
    let mut line = serde_json::to_vec(&object).unwrap();
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    // One write of one short line: appends from parallel tests do not interleave.
    file.write_all(&line).unwrap();
}

/// Cases per fuzz target: `PROPTEST_CASES`, else 256.
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// `FUZZ_SECONDS`, when set: fuzz each target for that long.
pub fn fuzz_seconds() -> Option<Duration> {
    std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
}

/// The process's peak resident set (VmHWM), in KiB.
pub fn peak_rss_kib() -> u64 {
    proc_status_kib("VmHWM:")
}

/// The process's resident set (VmRSS), in KiB.
pub fn rss_kib() -> u64 {
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The slowest a single fuzz case may be before it counts as a hang.
pub const CASE_DEADLINE: Duration = Duration::from_secs(10);

/// Runs `check` on values of `strategy`: `cases()` of them, or for
/// `FUZZ_SECONDS`. Fails the test on a panic (proptest shrinks it first), on
/// a case slower than [`CASE_DEADLINE`] (a watchdog thread reports a hang
/// without waiting for it to end) and when the peak RSS grows by more than
/// `max_rss_growth_mib`. Records the figures under table `fuzz`, row `row`.
/// Returns the number of cases run.
pub fn fuzz<S, F>(row: &str, target: &str, max_rss_growth_mib: u64, strategy: S, check: F) -> u64
where
    S: Strategy + Send + 'static,
    S::Value: std::fmt::Debug,
    F: Fn(&S::Value) + Send + 'static,
{
    let count = Arc::new(AtomicU64::new(0));
    let slowest_us = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let peak_before = peak_rss_kib();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let last_case = Arc::new(std::sync::Mutex::new(String::new()));
    let worker = {
        let count = count.clone();
        let slowest_us = slowest_us.clone();
        let last_case = last_case.clone();
        std::thread::spawn(move || {
            let until = fuzz_seconds().map(|d| Instant::now() + d);
            let mut round = 0u64;
            let result = loop {
                let config = Config {
                    cases: cases(),
                    failure_persistence: None,
                    ..Config::default()
                };
                // Fixed seeds in CI (reproducible), a new seed per round on demand.
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&round.to_le_bytes());
                let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
                let mut runner = TestRunner::new_with_rng(config, rng);
                let r = runner.run(&strategy, |value| {
                    *last_case.lock().unwrap() = format!("{value:?}").chars().take(2000).collect();
                    let t = Instant::now();
                    check(&value);
                    slowest_us.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                    count.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                });
                round += 1;
                if r.is_err() || until.is_none_or(|u| Instant::now() >= u) {
                    break r.map_err(|e| e.to_string());
                }
            };
            let _ = done_tx.send(result);
        })
    };
    // The whole run gets the per-case deadline on top of its expected time.
    let budget = fuzz_seconds().unwrap_or(Duration::from_secs(300)) + CASE_DEADLINE;
    let Ok(result) = done_rx.recv_timeout(budget) else {
        panic!(
            "{target}: no answer within {budget:?} (a hang); last case: {}",
            last_case.lock().unwrap()
        )
    };
    let _ = worker.join();
    let cases_run = count.load(Ordering::Relaxed);
    let slowest = Duration::from_micros(slowest_us.load(Ordering::Relaxed));
    let growth_mib = peak_rss_kib().saturating_sub(peak_before) / 1024;
    let outcome = match &result {
        Ok(()) if slowest > CASE_DEADLINE => format!("slow case: {slowest:?}"),
        Ok(()) if growth_mib > max_rss_growth_mib => format!("peak RSS grew {growth_mib} MiB"),
        Ok(()) => "pass: no panic, no hang, bounded memory".to_owned(),
        Err(e) => format!("FAIL: {}", e.lines().next().unwrap_or_default()),
    };
    record(
        "fuzz",
        row,
        serde_json::json!({
            "target": target,
            "cases": cases_run,
            "seconds": started.elapsed().as_secs_f64(),
            "slowest_case_ms": slowest.as_secs_f64() * 1000.0,
            "peak_rss_growth_mib": growth_mib,
            "outcome": outcome,
            "pass": outcome.starts_with("pass"),
        }),
    );
    if let Err(e) = result {
        panic!("{target}: {e}");
    }
    assert!(
        slowest <= CASE_DEADLINE,
        "{target}: a case took {slowest:?}"
    );
    assert!(
        growth_mib <= max_rss_growth_mib,
        "{target}: peak RSS grew {growth_mib} MiB (bound {max_rss_growth_mib})"
    );
    println!(
        "{target}: {cases_run} cases in {:?}, slowest {slowest:?}",
        started.elapsed()
    );
    cases_run
}

/// Bytes made from a seed of `seeds` by up to 8 random edits (flip, insert,
/// delete, truncate, duplicate a range, splice from another seed), or plain
/// random bytes one time in eight.
pub fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> + Send + 'static {
    use proptest::prelude::*;
    assert!(!seeds.is_empty(), "no seed corpus");
    let n = seeds.len();
    let edit = (0u8..6, any::<u32>(), any::<u32>(), any::<u8>());
    prop_oneof![
        7 => (0..n, 0..n, prop::collection::vec(edit, 0..8)).prop_map(move |(i, j, edits)| {
            let mut b = seeds[i].clone();
            let other = &seeds[j];
            for (op, x, y, byte) in edits {
                let len = b.len().max(1);
                let at = x as usize % len;
                match op {
                    0 if !b.is_empty() => b[at] ^= byte | 1,
                    1 => b.insert(at.min(b.len()), byte),
                    2 if !b.is_empty() => {
                        let end = (at + 1 + y as usize % 16).min(b.len());
                        b.drain(at..end);
                    }
                    3 => b.truncate(at),
                    4 if !b.is_empty() => {
                        let end = (at + 1 + y as usize % 64).min(b.len());
                        let piece = b[at..end].to_vec();
                        let rep = 1 + (byte as usize % 4);
                        for _ in 0..rep {
                            b.splice(at..at, piece.iter().copied());
                        }
                    }
                    _ if !other.is_empty() => {
                        let from = y as usize % other.len();
                        let end = (from + 1 + byte as usize).min(other.len());
                        b.splice(at.min(b.len())..at.min(b.len()), other[from..end].iter().copied());
                    }
                    _ => {}
                }
            }
            b
        }),
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

/// As [`mutated`], decoded as UTF-8 (lossily: parsers of text get text).
pub fn mutated_text(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = String> + Send + 'static {
    mutated(seeds).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Every file below `dir` whose name ends with one of `exts` (sorted).
pub fn corpus(dir: &std::path::Path, exts: &[&str]) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if exts.iter().any(|x| p.to_string_lossy().ends_with(x)) {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| b.len() < 256 * 1024)
        .collect()
}
