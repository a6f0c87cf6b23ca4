//! `peer-lint`: `codeintel-lint` vs `ruff check --select TID251` on one
//! generated Python tree, in one run (issue 16, part 3).
//!
//! Both tools ban the same imports (`benches/peers/ruff.toml` configures
//! ruff's banned-api like codeintel-lint's Python rule LNT-001); the run
//! first checks that they report the same `file:line` set, then times each
//! as a process, alternating the order round by round, and writes
//! `<criterion dir>/peers/lint.json`.
//!
//! ```sh
//! benches/peers/setup-ruff.sh                        # once: pinned ruff in ~/.cache/codeintel/venv/ruff
//! cargo build -p codeintel-lint --release            # our binary as it ships (no FAISS/DuckDB in its tree)
//! cargo run -p codeintel-benches --bin peer-lint     # 1M lines of Python, 5 rounds
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use clap::Parser;
use codeintel_benches::criterion_dir;
use codeintel_benches::peers::{
    self, LINT_FILE, LintPeer, Timing, differences, ours_findings, result_path, ruff_findings,
};
use codeintel_lint::synth;

#[derive(Parser)]
#[command(about = "codeintel-lint vs ruff (TID251) on one generated Python tree")]
struct Cli {
    /// Lines of Python to generate (about; whole files).
    #[arg(long, default_value_t = 1_000_000)]
    lines: u64,
    /// Timed rounds (each runs both tools; the order alternates).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Our binary (default: $CARGO_TARGET_DIR/release/codeintel-lint).
    #[arg(long)]
    ours: Option<PathBuf>,
    /// ruff (default: $CODEINTEL_CACHE/venv/ruff/bin/ruff, made by benches/peers/setup-ruff.sh).
    #[arg(long)]
    ruff: Option<PathBuf>,
    /// Write the tree here (kept) instead of a temporary folder.
    #[arg(long)]
    tree_dir: Option<PathBuf>,
    /// Result file (default: <criterion dir>/peers/lint.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Longest a single tool run may take.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

fn cache_root() -> PathBuf {
    std::env::var_os("CODEINTEL_CACHE").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache")
                .join("codeintel")
        },
        PathBuf::from,
    )
}

fn default_ours() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("release")
        .join("codeintel-lint")
}

/// A generated tree: Python files only, ruff.toml at the root.
struct Tree {
    root: PathBuf,
    _temp: Option<tempfile::TempDir>,
    files: u64,
    lines: u64,
    bytes: u64,
    planted: usize,
}

fn write_tree(lines: u64, dir: Option<&Path>) -> Result<Tree> {
    let (temp, root) = if let Some(d) = dir {
        if d.exists() {
            std::fs::remove_dir_all(d).with_context(|| format!("clearing {}", d.display()))?;
        }
        (None, d.to_path_buf())
    } else {
        let t = tempfile::tempdir().context("temporary folder for the tree")?;
        let root = t.path().to_path_buf();
        (Some(t), root)
    };
    // The generator writes Rust and Python half and half: ask for twice the
    // lines and keep the Python.
    let synth = synth::synthetic_tree(lines.saturating_mul(2));
    let mut tree = Tree {
        root: root.clone(),
        _temp: temp,
        files: 0,
        lines: 0,
        bytes: 0,
        planted: 0,
    };
    for file in synth
        .files
        .iter()
        .filter(|f| f.path.extension().is_some_and(|e| e == "py"))
    {
        let path = root.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, &file.contents)
            .with_context(|| format!("writing {}", path.display()))?;
        tree.files += 1;
        tree.lines += file.contents.lines().count() as u64;
        tree.bytes += file.contents.len() as u64;
        tree.planted += usize::from(file.contents.contains("import prometheus_client"))
            + usize::from(file.contents.contains("from prometheus_client"));
    }
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/ruff.toml");
    std::fs::copy(&config, root.join("ruff.toml"))
        .with_context(|| format!("copying {}", config.display()))?;
    Ok(tree)
}

/// Runs `cmd` to completion (bounded), returns (wall seconds, stdout).
/// Exit status 0 (clean) and 1 (findings) are both fine for a linter.
fn run(cmd: &mut Command, what: &str, timeout: Duration) -> Result<(f64, String)> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    // Drain both pipes on threads so a full pipe never blocks the child.
    let mut out = child.stdout.take().context("stdout pipe")?;
    let mut err = child.stderr.take().context("stderr pipe")?;
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting")? {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let secs = started.elapsed().as_secs_f64();
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    ensure!(
        matches!(status.code(), Some(0 | 1)),
        "{what} failed ({status}): {}",
        stderr.trim()
    );
    Ok((secs, stdout))
}

fn version(bin: &Path) -> Result<String> {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", bin.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let ours = cli.ours.clone().unwrap_or_else(default_ours);
    ensure!(
        ours.is_file(),
        "no codeintel-lint at {}: build it with `cargo build -p codeintel-lint --release` (same CARGO_TARGET_DIR) or pass --ours",
        ours.display()
    );
    let ruff = cli
        .ruff
        .clone()
        .unwrap_or_else(|| cache_root().join("venv/ruff/bin/ruff"));
    ensure!(
        ruff.is_file(),
        "no ruff at {}: run benches/peers/setup-ruff.sh (pinned ruff from PyPI) or pass --ruff",
        ruff.display()
    );
    let timeout = Duration::from_secs(cli.timeout_secs);
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);

    let started = Instant::now();
    let tree = write_tree(cli.lines, cli.tree_dir.as_deref())?;
    println!(
        "tree: {} Python files, {} lines, {:.1} MB, {} banned imports planted, written in {:.1} s ({})",
        tree.files,
        tree.lines,
        tree.bytes as f64 / 1e6,
        tree.planted,
        started.elapsed().as_secs_f64(),
        tree.root.display()
    );
    let root = tree.root.clone();
    let config = root.join("ruff.toml");

    let ours_cmd = |parse_all: bool| {
        let mut c = Command::new(&ours);
        c.args(["--lang", "python", "--format", "json"]);
        if parse_all {
            c.arg("--parse-all");
        }
        c.arg(&root);
        c
    };
    let ruff_cmd = || {
        let mut c = Command::new(&ruff);
        // From the root: with --config, ruff resolves per-file-ignores against the working directory.
        c.current_dir(&root)
            .args(["check", "--no-cache", "--quiet", "--select", "TID251"])
            .arg("--config")
            .arg(&config)
            .args(["--output-format", "json"])
            .arg(&root);
        c
    };

    // Agreement first (also warms the page cache for both).
    let (_, ours_json) = run(&mut ours_cmd(false), "codeintel-lint", timeout)?;
    let (_, ours_all_json) = run(&mut ours_cmd(true), "codeintel-lint --parse-all", timeout)?;
    let (_, ruff_json) = run(&mut ruff_cmd(), "ruff", timeout)?;
    let ours_set = ours_findings(&root, &ours_json, "LNT-001").map_err(anyhow::Error::msg)?;
    let ours_all_set =
        ours_findings(&root, &ours_all_json, "LNT-001").map_err(anyhow::Error::msg)?;
    ensure!(
        ours_set == ours_all_set,
        "codeintel-lint finds a different set with --parse-all: {:?}",
        differences(&ours_set, &ours_all_set, "parse-all", 10)
    );
    let ruff_set = ruff_findings(&root, &ruff_json, "TID251").map_err(anyhow::Error::msg)?;
    let disagreements = differences(&ours_set, &ruff_set, "ruff", 20);
    let agree = disagreements.is_empty();
    println!(
        "findings: codeintel-lint LNT-001 {}, ruff TID251 {}, planted {}: {}",
        ours_set.len(),
        ruff_set.len(),
        tree.planted,
        if agree {
            "same file:line set".to_owned()
        } else {
            format!("DIFFER: {disagreements:?}")
        }
    );

    let (mut pre, mut all, mut peer) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..cli.rounds.max(1) {
        // Alternate who goes first, so drift in the machine's load hits both.
        let order: [u8; 3] = if round.is_multiple_of(2) {
            [0, 1, 2]
        } else {
            [2, 1, 0]
        };
        for which in order {
            match which {
                0 => pre.push(run(&mut ours_cmd(false), "codeintel-lint", timeout)?.0),
                1 => all.push(run(&mut ours_cmd(true), "codeintel-lint --parse-all", timeout)?.0),
                _ => peer.push(run(&mut ruff_cmd(), "ruff", timeout)?.0),
            }
        }
        println!(
            "round {round}: codeintel-lint {:.3} s, --parse-all {:.3} s, ruff {:.3} s",
            pre[round], all[round], peer[round]
        );
    }

    let result = LintPeer {
        tree: format!(
            "codeintel_lint::synth::synthetic_tree, Python files only ({} lines)",
            tree.lines
        ),
        files: tree.files,
        lines: tree.lines,
        bytes: tree.bytes,
        planted: tree.planted,
        threads,
        ours_tool: format!("{} (release build)", version(&ours)?),
        peer_tool: version(&ruff)?,
        ours_command: "codeintel-lint --lang python --format json [--parse-all] TREE".to_owned(),
        peer_command: "ruff check --no-cache --quiet --select TID251 --config TREE/ruff.toml --output-format json TREE (from TREE)".to_owned(),
        ours_prefiltered: Timing::from_samples(&pre),
        ours_parse_all: Timing::from_samples(&all),
        peer: Timing::from_samples(&peer),
        ours_findings: ours_set.len(),
        peer_findings: ruff_set.len(),
        agree,
        disagreements,
        measured_unix: peers::now_unix(),
    };
    let out = cli
        .out
        .clone()
        .unwrap_or_else(|| result_path(&criterion_dir(), LINT_FILE));
    peers::write_result(&out, &result).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "median: codeintel-lint {:.3} s ({:.0} ns/line), --parse-all {:.3} s ({:.0} ns/line), ruff {:.3} s ({:.0} ns/line); ours/ruff {:.2}× (parse-all {:.2}×); wrote {}",
        result.ours_prefiltered.median_s,
        result.ours_prefiltered.ns_per(result.lines),
        result.ours_parse_all.median_s,
        result.ours_parse_all.ns_per(result.lines),
        result.peer.median_s,
        result.peer.ns_per(result.lines),
        result.ratio(),
        result.ratio_parse_all(),
        out.display()
    );
    ensure!(
        agree,
        "codeintel-lint and ruff disagree on the banned imports (see above)"
    );
    ensure!(
        result.ours_findings == tree.planted,
        "codeintel-lint found {} banned imports, {} were planted",
        result.ours_findings,
        tree.planted
    );
    Ok(())
}
