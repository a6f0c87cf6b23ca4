//! `bench-report`: turns criterion's JSON estimates into `benches/REPORT.md`
//! (tables, ratios within one run, targets, SVG plots), or compares the
//! latest run with a saved baseline.
//!
//! ```sh
//! cargo run -p codeintel-benches --bin bench-report
//! cargo run -p codeintel-benches --bin bench-report -- compare --baseline main --threshold 10%
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use codeintel_benches::criterion_dir;
use codeintel_benches::peers::{
    LINT_FILE, LintPeer, SEARCH_FILE, SearchPeer, read_result, result_path,
};
use codeintel_benches::report::{
    self, Extras, compare, default_report_path, e2e_points, latency_recall_points, parse_recalls,
    parse_threshold, plot_e2e, plot_latency_recall, read_side, render, render_changes,
};

#[derive(Parser)]
#[command(
    about = "Criterion results → benches/REPORT.md, or a regression check against a baseline"
)]
struct Cli {
    /// Criterion's output directory (default: $CRITERION_HOME, else
    /// $CARGO_TARGET_DIR/criterion, else target/criterion).
    #[arg(long, global = true)]
    criterion_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
    /// Where to write the report (plots go next to it).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Write the report (the default).
    Report {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare the latest run (or `--new NAME`) with a baseline saved by
    /// `cargo bench -- --save-baseline NAME`; exit 1 if any bench regressed.
    Compare {
        /// Baseline name given to `--save-baseline`.
        #[arg(long)]
        baseline: String,
        /// The run to check: `new` (criterion's latest) or another baseline.
        #[arg(long, default_value = "new")]
        new: String,
        /// Relative slowdown of the median that counts as a regression
        /// (`10%` or `0.1`); the 95 % CIs must not overlap either.
        #[arg(long, default_value = "10%")]
        threshold: String,
    },
}

/// A peer bench's result file; a file that exists but does not parse (an
/// older format) is named on stderr and left out of the report.
fn peer_result<T: for<'de> serde::Deserialize<'de>>(
    dir: &std::path::Path,
    file: &str,
) -> Option<T> {
    let path = result_path(dir, file);
    let parsed = read_result(&path);
    if parsed.is_none() && path.is_file() {
        eprintln!(
            "bench-report: ignoring {} (not a result of this version's peer bench; re-run it)",
            path.display()
        );
    }
    parsed
}

fn write_report(dir: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let est = report::load(dir, "new")?;
    let lint_peer: Option<LintPeer> = peer_result(dir, LINT_FILE);
    let search_peer: Option<SearchPeer> = peer_result(dir, SEARCH_FILE);
    anyhow::ensure!(
        !est.is_empty() || lint_peer.is_some() || search_peer.is_some(),
        "no criterion results under {} (run the benches first: cargo bench -p codeintel-benches --profile dev)",
        dir.display()
    );
    let recalls = match read_side(dir, "faiss_recall.json") {
        Some(t) => parse_recalls(&t)?,
        None => report::Recalls::new(),
    };
    let index_runs = match read_side(dir, "index_throughput.json") {
        Some(t) => report::parse_index_runs(&t)?,
        None => std::collections::BTreeMap::new(),
    };
    let embed_agreement =
        read_side(dir, "embed_agreement.json").and_then(|t| serde_json::from_str(&t).ok());
    let search_figures = match read_side(dir, "search_figures.json") {
        Some(t) => Some(report::parse_search_figures(&t)?),
        None => None,
    };
    let out_dir = out.parent().map(PathBuf::from).unwrap_or_default();
    let mut plots = Vec::new();
    let pts = latency_recall_points(&est, &recalls);
    if !pts.is_empty() {
        let file = "faiss_latency_recall.svg";
        plot_latency_recall(&out_dir.join(file), &pts)?;
        plots.push(("FAISS latency vs recall@10".to_owned(), file.to_owned()));
    }
    let e2e = e2e_points(&est);
    if !e2e.is_empty() {
        let file = "e2e_latency_corpus.svg";
        plot_e2e(&out_dir.join(file), &e2e)?;
        plots.push((
            "e2e search latency vs corpus size".to_owned(),
            file.to_owned(),
        ));
    }
    let extras = Extras {
        recalls,
        embed_agreement,
        plots,
        source: dir.display().to_string(),
        lint_peer,
        search_peer,
        index_runs,
        search_figures,
    };
    std::fs::write(out, render(&est, &extras))
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {} ({} benches{}{})",
        out.display(),
        est.len(),
        if extras.lint_peer.is_some() {
            ", lint vs ruff"
        } else {
            ""
        },
        if extras.search_peer.is_some() {
            ", search vs python-otel"
        } else {
            ""
        }
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = cli.criterion_dir.clone().unwrap_or_else(criterion_dir);
    let result = match cli.command {
        None => write_report(&dir, &cli.out.unwrap_or_else(default_report_path)).map(|()| true),
        Some(Command::Report { out }) => {
            write_report(&dir, &out.or(cli.out).unwrap_or_else(default_report_path)).map(|()| true)
        }
        Some(Command::Compare {
            baseline,
            new,
            threshold,
        }) => (|| {
            let threshold = parse_threshold(&threshold)?;
            let base = report::load(&dir, &baseline)?;
            anyhow::ensure!(
                !base.is_empty(),
                "no baseline `{baseline}` under {} (save one with: cargo bench -p codeintel-benches --profile dev -- --save-baseline {baseline})",
                dir.display()
            );
            let newer = report::load(&dir, &new)?;
            let changes = compare(&base, &newer, threshold);
            print!("{}", render_changes(&changes, threshold));
            let regressed: Vec<_> = changes.iter().filter(|c| c.regressed).collect();
            if regressed.is_empty() {
                println!(
                    "no regression over {:.0} % against `{baseline}` ({} benches compared)",
                    threshold * 100.0,
                    changes.len()
                );
                Ok(true)
            } else {
                eprintln!(
                    "{} bench(es) regressed over {:.0} % against `{baseline}`:",
                    regressed.len(),
                    threshold * 100.0
                );
                for c in regressed {
                    eprintln!("  {}: {:+.1} %", c.id, c.change * 100.0);
                }
                Ok(false)
            }
        })(),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench-report: {e:#}");
            ExitCode::from(2)
        }
    }
}
