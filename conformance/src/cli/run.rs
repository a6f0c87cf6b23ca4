//! `run`: drive one implementation, judge every requirement, report it (table,
//! JSON, JUnit, Markdown), and optionally gate its telemetry.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use codeintel_conformance::gate::run::{RunGate, run_gate};
use codeintel_conformance::mutate::{MutatingSut, Operator};
use codeintel_conformance::report::{self, Context, Exit, ExpectedFailures};
use codeintel_conformance::session::{self, deadline_line, mcp_suite_line};

use super::{DriveArgs, ReportOutputs, parse_fail_on, parse_operator, write_file};

#[derive(Debug, Args)]
#[command(
    mut_arg("json", |a| a.help("Write the JSON report to FILE (`-`: stdout; the table then goes to stderr)")),
    mut_arg("junit", |a| a.help("Write a JUnit XML report to FILE")),
    mut_arg("markdown", |a| a.help("Write a Markdown report to FILE")),
    mut_arg("timeout_secs", |a| a.help("Deadline for start-up and readiness, in seconds (also caps each request's timeout at 10 s)")),
    mut_arg("deadline", |a| a.help("Overall deadline of the run (start, drive, official MCP suite), in seconds; a run cut there exits 3")),
)]
pub struct RunArgs {
    /// The in-process reference server (needs the default `reference` feature).
    #[arg(long, value_name = "NAME", value_parser = ["reference"], required_unless_present = "sut_manifest", conflicts_with = "sut_manifest")]
    pub sut: Option<String>,
    /// Any implementation, started from a manifest (command, env, ready URL, …).
    #[arg(long, value_name = "FILE.toml")]
    pub sut_manifest: Option<PathBuf>,
    /// The implementation's source tree, for the source lint (LNT-*).
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    #[command(flatten)]
    pub outputs: ReportOutputs,
    /// SHOULD failures and errors, and skipped MUSTs, fail the run too (`--fail-on skip,warn,error`).
    #[arg(long)]
    pub strict: bool,
    /// Outcome kinds that fail the run besides fail and a MUST's error, comma-separated:
    /// `skip` (a skipped MUST), `warn` (a failed SHOULD), `error` (a SHOULD not judged).
    #[arg(long, value_name = "KIND,…", value_parser = parse_fail_on)]
    pub fail_on: Option<report::FailOn>,
    /// Requirements expected to fail (`[expected]` id = "reason").
    #[arg(long, value_name = "FILE.toml")]
    pub expected_failures: Option<PathBuf>,
    /// Drive the implementation through a mutating proxy with operator OP (see `mutants --list`).
    #[arg(long, value_name = "OP", value_parser = parse_operator)]
    pub mutate: Option<Operator>,
    /// Write everything observed (the raw model the checks judge) as JSON to FILE.
    #[arg(long, value_name = "FILE", alias = "observations-out")]
    pub save_observations: Option<PathBuf>,
    /// Telemetry gate: diff this run's telemetry snapshot against FILE (a committed baseline).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Telemetry gate config for --baseline (TOML: fail_on, thresholds, severities, accepted changes).
    #[arg(long, value_name = "FILE.toml", requires = "baseline")]
    pub gate_config: Option<PathBuf>,
    /// Rewrite the --baseline file with this run's snapshot.
    #[arg(long, requires = "baseline")]
    pub update_baseline: bool,
    /// Write this run's telemetry snapshot to FILE.
    #[arg(long, value_name = "FILE")]
    pub snapshot_out: Option<PathBuf>,
    /// Live-check this run's telemetry against a Weaver definition/2 registry in DIR.
    #[arg(long, value_name = "DIR")]
    pub registry: Option<PathBuf>,
    /// With --registry: fail when less than PCT % of the registry was seen.
    #[arg(long, value_name = "PCT", requires = "registry")]
    pub fail_on_coverage_below: Option<f64>,
    /// Vectors of the harness's embeddings server: `hash` (deterministic token hash, the default)
    /// or `local` (the built-in all-MiniLM-L6-v2 of scripts/setup-model.sh; needs the `reference` feature).
    #[arg(long, value_name = "KIND", value_parser = ["hash", "local"], default_value = "hash")]
    pub embedder: String,
    /// The local model's folder (default: $CODEINTEL_MODEL_DIR, else ~/.cache/codeintel/models/all-MiniLM-L6-v2).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    #[command(flatten)]
    pub drive: DriveArgs,
}

impl RunArgs {
    fn gate(&self) -> RunGate<'_> {
        RunGate {
            baseline: self.baseline.as_deref(),
            config: self.gate_config.as_deref(),
            update_baseline: self.update_baseline,
            snapshot_out: self.snapshot_out.as_deref(),
            registry: self.registry.as_deref(),
            fail_on_coverage_below: self.fail_on_coverage_below,
            markdown: self.outputs.markdown.as_deref(),
        }
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<Exit> {
    let timeout = args.drive.timeout();
    let mut target = session::target(args.sut.is_some(), args.sut_manifest.as_deref(), timeout)?;
    let mut source = args.source.clone();
    let mut _planted = None;
    if let Some(op) = args.mutate {
        if let Some(plant) = op.plant() {
            let dir = session::planted_source(
                op,
                plant,
                source.as_deref().or(target.source_dir.as_deref()),
            )?;
            source = Some(dir.path().to_path_buf());
            _planted = Some(dir);
        }
        target.sut = Box::new(MutatingSut::new(target.sut, op));
    }
    let expected = match args
        .expected_failures
        .as_deref()
        .or(target.expected_failures.as_deref())
    {
        Some(path) => Some(ExpectedFailures::load(path)?),
        None => None,
    };
    let (mut cfg, _fixtures) = session::drive_config(
        timeout,
        args.drive.mcp_suite.as_deref(),
        &args.drive.fixtures.fixtures(),
    )?;
    if args.embedder == "local" {
        cfg.embed_source = Some(session::local_vectors(args.model_dir.clone())?);
    }
    let name = target.sut.info().name;
    eprintln!("codeintel-conformance: driving `{name}` …");

    let (obs, results) = session::judge(
        target,
        &cfg,
        source,
        expected.as_ref(),
        args.drive.deadline(),
    )
    .await;

    let mut ctx = Context {
        sut: &obs.sut.name,
        strict: args.strict,
        fail_on: args.fail_on.unwrap_or_default(),
        phases: &obs.phases,
        harness_errors: &obs.harness_errors,
        startup_notes: &obs.startup.notes,
        startup_error: obs.startup.error.as_deref(),
        peer_errors: &obs.peer_errors,
        exit_code: None,
    };
    let out = &args.outputs;
    let phases: Vec<String> = obs
        .phases
        .iter()
        .map(|p| format!("{} {} ms", p.phase, p.millis))
        .collect();

    if let Some(path) = &out.markdown {
        write_file(
            path,
            &report::markdown::render(&results, &ctx),
            "Markdown report",
        )?;
    }
    if let Some(path) = &args.save_observations {
        let text =
            serde_json::to_string_pretty(&obs).context("cannot serialise the observations")?;
        write_file(path, &text, "observations")?;
    }
    // The process's exit code, known before the JSON and JUnit reports are
    // written so that they state it: 2 on harness errors (the gate does not
    // run then), else the worst of the results and the telemetry gate.
    let exit = if obs.deadline_exceeded.is_some() {
        Exit::Deadline
    } else if obs.harness_errors.is_empty() {
        let gate_exit = run_gate(&args.gate(), &obs)?;
        report::exit_code_on(&results, ctx.effective_fail_on()).max(gate_exit)
    } else {
        Exit::Harness
    };
    ctx.exit_code = Some(exit);

    let table = report::table::render(
        &results,
        &ctx,
        report::table::TableOptions {
            color: !out.json_to_stdout() && report::table::use_color(),
            ..Default::default()
        },
    );
    super::print_table(&table, out.json_to_stdout());
    eprintln!("codeintel-conformance: wall time: {}", phases.join(", "));
    eprintln!("codeintel-conformance: {}", mcp_suite_line(&obs));

    match out.json.as_deref() {
        Some("-") => println!("{}", report::json::render(&results, &ctx)),
        Some(path) => write_file(
            Path::new(path),
            &report::json::render(&results, &ctx),
            "JSON report",
        )?,
        None => {}
    }
    if let Some(path) = &out.junit {
        write_file(path, &report::junit::render(&results, &ctx), "JUnit report")?;
    }
    for e in &obs.harness_errors {
        eprintln!("codeintel-conformance: harness error: {e}");
    }
    for t in &obs.truncations {
        eprintln!("codeintel-conformance: truncated: {t}");
    }
    if let Some(d) = &obs.deadline_exceeded {
        eprintln!("codeintel-conformance: {}", deadline_line(d));
    }
    Ok(exit)
}
