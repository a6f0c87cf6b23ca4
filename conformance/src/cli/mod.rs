//! The subcommands of `codeintel-conformance`, each a thin module over the
//! library (`session`, `report`, `gate`, `mutate`), and the argument groups
//! they share, flattened into each: how implementations are driven
//! ([`DriveArgs`], [`FixtureArgs`]), where reports go ([`ReportOutputs`]),
//! where a gate command's telemetry comes from ([`SourceArgs`]).
//!
//! Errors are `anyhow` with `.context()` at this edge; [`describe`] prints
//! one as the CLI always has, each cause once.

pub mod catalog;
pub mod gate;
pub mod matrix;
pub mod mutants;
pub mod run;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use codeintel_conformance::mutate::Operator;
use codeintel_conformance::report;
use codeintel_conformance::session::{Fixtures, Source};

/// Default of `--deadline`.
pub const DEFAULT_DEADLINE_SECS: u64 = 300;

/// `--repo` / `--golden`: what the SUT indexes and is asked.
#[derive(Debug, Clone, Default, Args)]
pub struct FixtureArgs {
    /// The repository the SUT indexes (default: the sample repository built into this binary).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// Golden queries, TOML `[[query]] text, expect_path, …` (default: built into this binary, for the sample repository).
    #[arg(long, value_name = "FILE")]
    pub golden: Option<PathBuf>,
}

impl FixtureArgs {
    pub fn fixtures(&self) -> Fixtures {
        Fixtures {
            repo: self.repo.clone(),
            golden: self.golden.clone(),
        }
    }
}

/// How each implementation is driven (`run`, `matrix`, `mutants`; each
/// words the help of these flags for itself with `mut_arg`).
#[derive(Debug, Args)]
pub struct DriveArgs {
    /// Deadline for start-up and readiness, in seconds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_secs: Option<u64>,
    /// Deadline of each run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_DEADLINE_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub deadline: u64,
    /// The official MCP conformance suite's folder (from scripts/setup-node.sh; default: $CODEINTEL_MCP_SUITE, else ${CODEINTEL_CACHE:-~/.cache/codeintel}/mcp-suite when present).
    #[arg(long, value_name = "DIR")]
    pub mcp_suite: Option<PathBuf>,
    #[command(flatten)]
    pub fixtures: FixtureArgs,
}

impl DriveArgs {
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_secs.map(Duration::from_secs)
    }

    pub fn deadline(&self) -> Duration {
        Duration::from_secs(self.deadline)
    }
}

/// Where a report goes besides the terminal (`run`, `matrix`, `mutants`).
#[derive(Debug, Args)]
pub struct ReportOutputs {
    /// Write the report as JSON to FILE (`-`: stdout; the table then goes to stderr).
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
    /// Write the report as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the report as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

impl ReportOutputs {
    /// `--json -`: the JSON goes to stdout, the table to stderr.
    pub fn json_to_stdout(&self) -> bool {
        self.json.as_deref() == Some("-")
    }
}

/// Where the telemetry comes from: a live run or saved observations.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct SourceArgs {
    /// The in-process reference server (needs the default `reference` feature).
    #[arg(long, value_name = "NAME", value_parser = ["reference"])]
    pub sut: Option<String>,
    /// Any implementation, started from a manifest.
    #[arg(long, value_name = "FILE.toml")]
    pub sut_manifest: Option<PathBuf>,
    /// Observations saved by `run --save-observations FILE` (no run).
    #[arg(long, value_name = "FILE")]
    pub observations: Option<PathBuf>,
}

impl SourceArgs {
    pub fn source(&self) -> Source {
        match (&self.observations, &self.sut_manifest) {
            (Some(path), _) => Source::Observations(path.clone()),
            (None, Some(path)) => Source::Manifest(path.clone()),
            (None, None) => Source::Reference,
        }
    }
}

pub fn parse_fail_on(list: &str) -> Result<report::FailOn, String> {
    report::FailOn::parse(list)
}

pub fn parse_operator(name: &str) -> Result<Operator, String> {
    Operator::parse(name)
}

/// Writes a report file; the error names what and where.
pub fn write_file(path: &Path, text: &str, what: &str) -> anyhow::Result<()> {
    std::fs::write(path, text)
        .with_context(|| format!("cannot write the {what} to {}", path.display()))
}

/// Prints `table` to stdout, or to stderr when stdout carries JSON.
pub fn print_table(table: &str, json_to_stdout: bool) {
    if json_to_stdout {
        eprint!("{table}");
    } else {
        print!("{table}");
    }
}

/// The table to stdout and the JSON to `--json FILE`, or both with `--json
/// -` (the table then on stderr, the JSON on stdout).
pub fn table_and_json(
    table: &str,
    json_target: Option<&str>,
    json: impl FnOnce() -> String,
    what: &str,
) -> anyhow::Result<()> {
    match json_target {
        Some("-") => {
            eprint!("{table}");
            println!("{}", json());
        }
        Some(path) => {
            print!("{table}");
            write_file(Path::new(path), &json(), what)?;
        }
        None => print!("{table}"),
    }
    Ok(())
}

/// An error and its causes in one line, each cause once: a cause whose text
/// the message already holds (a typed error that quotes its source) is not
/// repeated.
pub fn describe(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read x: {source}")]
    struct Quoting {
        source: std::io::Error,
    }

    #[test]
    fn describe_names_each_cause_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = anyhow::Error::new(io()).context("cannot write the report to r.json");
        assert_eq!(describe(&e), "cannot write the report to r.json: gone");
        let e = anyhow::Error::new(Quoting { source: io() });
        assert_eq!(describe(&e), "cannot read x: gone");
        let e = anyhow::Error::new(Quoting { source: io() }).context("--golden");
        assert_eq!(describe(&e), "--golden: cannot read x: gone");
    }
}
