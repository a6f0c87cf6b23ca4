//! The telemetry gate's commands: `snapshot` (the telemetry surface of a
//! run as stable JSON), `diff` (a snapshot against a baseline) and
//! `live-check` (a run against a Weaver registry), over
//! `codeintel_conformance::gate`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use codeintel_conformance::gate::{self, live_check, registry::Registry, render};
use codeintel_conformance::report::Exit;
use codeintel_conformance::session;

use super::{FixtureArgs, SourceArgs, write_file};

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub fixtures: FixtureArgs,
    /// Write the snapshot to FILE (default: stdout).
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also save the observations of a live run to FILE.
    #[arg(long, value_name = "FILE")]
    pub save_observations: Option<PathBuf>,
    /// Deadline for start-up and readiness, in seconds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Args)]
pub struct GateOutputs {
    /// Write the diff as Markdown to FILE (for `$GITHUB_STEP_SUMMARY` or a pull-request comment).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write the diff as JSON to FILE (`-`: stdout; the table then goes to stderr).
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
    /// Write the diff as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the diff as SARIF 2.1.0 to FILE.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The committed baseline (a snapshot, or saved observations).
    pub baseline: PathBuf,
    /// The current snapshot (or saved observations, snapshotted on the fly).
    pub current: PathBuf,
    /// Gate config (TOML): fail_on, [thresholds], [severity], [accept] key = "reason".
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Rewrite BASELINE with CURRENT (after reporting the diff) and exit 0.
    #[arg(long)]
    pub update: bool,
    #[command(flatten)]
    pub outputs: GateOutputs,
}

#[derive(Debug, Args)]
pub struct LiveCheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub fixtures: FixtureArgs,
    /// The registry folder (definition/2 YAML; default: the registry built into this binary, conformance/registry when it was built).
    #[arg(long, value_name = "DIR")]
    pub registry: Option<PathBuf>,
    /// Fail when less than PCT % of the registry's metrics, spans and events were seen.
    #[arg(long, value_name = "PCT")]
    pub fail_on_coverage_below: Option<f64>,
    /// Write the findings as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the findings as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Deadline for start-up and readiness, in seconds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_secs: Option<u64>,
}

fn timeout(secs: Option<u64>) -> Option<std::time::Duration> {
    secs.map(std::time::Duration::from_secs)
}

pub async fn snapshot(args: SnapshotArgs) -> anyhow::Result<Exit> {
    let obs = session::observe_source(
        &args.source.source(),
        &args.fixtures.fixtures(),
        timeout(args.timeout_secs),
    )
    .await?;
    if let Some(path) = &args.save_observations {
        let text =
            serde_json::to_string_pretty(&obs).context("cannot serialise the observations")?;
        write_file(path, &text, "observations")?;
    }
    let snap = gate::snapshot::snapshot(&obs);
    if snap.is_empty() {
        eprintln!(
            "codeintel-conformance: warning: no metric, span or log was observed; the snapshot is empty"
        );
    }
    match &args.out {
        Some(path) => write_file(path, &snap.to_json(), "snapshot")?,
        None => print!("{}", snap.to_json()),
    }
    Ok(Exit::Pass)
}

pub fn diff(args: &DiffArgs) -> anyhow::Result<Exit> {
    let cfg = gate::run::load_config(args.config.as_deref())?;
    let base = gate::load_snapshot(&args.baseline)?;
    let current = gate::load_snapshot(&args.current)?;
    let r = gate::diff::diff(
        &base,
        &current,
        &cfg,
        &args.baseline.display().to_string(),
        &args.current.display().to_string(),
    );
    let out = &args.outputs;
    super::table_and_json(
        &render::terminal(&r),
        out.json.as_deref(),
        || render::json(&r),
        "JSON diff",
    )?;
    if let Some(path) = &out.markdown {
        write_file(path, &render::markdown(&r), "Markdown diff")?;
    }
    if let Some(path) = &out.junit {
        write_file(path, &render::junit(&r), "JUnit diff")?;
    }
    if let Some(path) = &out.sarif {
        write_file(path, &render::sarif(&r), "SARIF diff")?;
    }
    if args.update {
        write_file(&args.baseline, &current.to_json(), "baseline")?;
        eprintln!(
            "codeintel-conformance: baseline {} rewritten from {}",
            args.baseline.display(),
            args.current.display()
        );
        return Ok(Exit::Pass);
    }
    Ok(Exit::failed_if(r.failed))
}

pub async fn live_check(args: LiveCheckArgs) -> anyhow::Result<Exit> {
    let reg = if let Some(dir) = &args.registry {
        Registry::load(dir)?
    } else {
        let embedded = codeintel_conformance::fixtures::materialise_registry()
            .context("cannot write the built-in telemetry registry to a temp folder")?;
        let reg = Registry::load(embedded.path())?;
        eprintln!(
            "codeintel-conformance: registry: the {} file(s) built into this binary \
             (conformance/registry when it was built; --registry DIR for another)",
            reg.files.len()
        );
        reg
    };
    let obs = session::observe_source(
        &args.source.source(),
        &args.fixtures.fixtures(),
        timeout(args.timeout_secs),
    )
    .await?;
    let r = live_check::live_check(&reg, &obs, args.fail_on_coverage_below);
    print!("{}", live_check::render(&r, false));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&r).context("cannot serialise the findings")?;
        write_file(path, &text, "live-check JSON")?;
    }
    if let Some(path) = &args.markdown {
        write_file(path, &live_check::render(&r, true), "live-check Markdown")?;
    }
    Ok(Exit::failed_if(r.failed()))
}
