//! `codeintel-conformance`: drive an implementation of the codeintel contract
//! end to end and report every requirement by id.
//!
//! Exit codes: 0 every MUST holds (with `--strict`, every SHOULD too, and no
//! MUST was skipped); 1 some requirement fails; 2 the harness itself failed
//! (bad arguments or manifest, peers that could not start, missing fixtures,
//! unwritable report files); 3 the overall run deadline (`--deadline`)
//! expired (the verdicts printed judge the part of the run that was made).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use codeintel_conformance::catalog;
use codeintel_conformance::checks::{self, CheckResult};
use codeintel_conformance::drive::{DriveConfig, drive, drive_into, lint_source, workspace_root};
use codeintel_conformance::fixtures::Materialised;
use codeintel_conformance::gate;
use codeintel_conformance::mutate::expect::{self as mutant_expect, Expectations, MutantRun};
use codeintel_conformance::mutate::{MutatingSut, Operator};
use codeintel_conformance::observe::{DeadlineExceeded, Observations, PhaseTiming};
use codeintel_conformance::report::{self, Context, ExpectedFailures};
use codeintel_conformance::sut::Sut;
use codeintel_conformance::sut::manifest::SutManifest;
use codeintel_conformance::sut::process::ProcessSut;

#[derive(Debug, Parser)]
#[command(
    name = "codeintel-conformance",
    version,
    about = "Drive a codeintel implementation end to end and report each requirement of the contract by id"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per process: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Drive one implementation and report every requirement.
    Run(RunArgs),
    /// List the catalog: ids, levels and titles.
    List,
    /// Explain one requirement: what it asks and how it is checked.
    Explain {
        /// A requirement id, e.g. MET-002.
        id: String,
    },
    /// Drive several implementations and print one table of ids × implementations.
    Matrix(MatrixArgs),
    /// Drive one implementation through every mutating-proxy operator and report, per requirement, whether a mutant breaking it was killed.
    Mutants(MutantsArgs),
    /// Write the telemetry surface a run emitted (metrics, spans, logs, resource, scopes) as a stable JSON snapshot.
    Snapshot(SnapshotArgs),
    /// Compare a telemetry snapshot with a baseline, field by field: breaking, risky, additive.
    Diff(DiffArgs),
    /// Check a run's telemetry against a Weaver definition/2 registry (findings and coverage).
    LiveCheck(LiveCheckArgs),
}

/// Where the telemetry comes from: a live run or saved observations.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct SourceArgs {
    /// The in-process reference server (needs the default `reference` feature).
    #[arg(long, value_name = "NAME", value_parser = ["reference"])]
    sut: Option<String>,
    /// Any implementation, started from a manifest.
    #[arg(long, value_name = "FILE.toml")]
    sut_manifest: Option<PathBuf>,
    /// Observations saved by `run --save-observations FILE` (no run).
    #[arg(long, value_name = "FILE")]
    observations: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct SnapshotArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    fixtures: FixtureArgs,
    /// Write the snapshot to FILE (default: stdout).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also save the observations of a live run to FILE.
    #[arg(long, value_name = "FILE")]
    save_observations: Option<PathBuf>,
    /// Deadline for start-up and readiness, in seconds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    timeout_secs: Option<u64>,
}

#[derive(Debug, Args)]
struct GateOutputs {
    /// Write the diff as Markdown to FILE (for `$GITHUB_STEP_SUMMARY` or a pull-request comment).
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Write the diff as JSON to FILE (`-`: stdout; the table then goes to stderr).
    #[arg(long, value_name = "FILE|-")]
    json: Option<String>,
    /// Write the diff as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the diff as SARIF 2.1.0 to FILE.
    #[arg(long, value_name = "FILE")]
    sarif: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// The committed baseline (a snapshot, or saved observations).
    baseline: PathBuf,
    /// The current snapshot (or saved observations, snapshotted on the fly).
    current: PathBuf,
    /// Gate config (TOML): fail_on, [thresholds], [severity], [accept] key = "reason".
    #[arg(long, value_name = "FILE.toml")]
    config: Option<PathBuf>,
    /// Rewrite BASELINE with CURRENT (after reporting the diff) and exit 0.
    #[arg(long)]
    update: bool,
    #[command(flatten)]
    outputs: GateOutputs,
}

#[derive(Debug, Args)]
struct LiveCheckArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    fixtures: FixtureArgs,
    /// The registry folder (definition/2 YAML; default: the registry built into this binary, conformance/registry when it was built).
    #[arg(long, value_name = "DIR")]
    registry: Option<PathBuf>,
    /// Fail when less than PCT % of the registry's metrics, spans and events were seen.
    #[arg(long, value_name = "PCT")]
    fail_on_coverage_below: Option<f64>,
    /// Write the findings as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the findings as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Deadline for start-up and readiness, in seconds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    timeout_secs: Option<u64>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The in-process reference server (needs the default `reference` feature).
    #[arg(long, value_name = "NAME", value_parser = ["reference"], required_unless_present = "sut_manifest", conflicts_with = "sut_manifest")]
    sut: Option<String>,
    /// Any implementation, started from a manifest (command, env, ready URL, …).
    #[arg(long, value_name = "FILE.toml")]
    sut_manifest: Option<PathBuf>,
    /// The implementation's source tree, for the source lint (LNT-*).
    #[arg(long, value_name = "DIR")]
    source: Option<PathBuf>,
    /// Write the JSON report to FILE (`-`: stdout; the table then goes to stderr).
    #[arg(long, value_name = "FILE|-")]
    json: Option<String>,
    /// Write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write a Markdown report to FILE.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// SHOULD failures and errors, and skipped MUSTs, fail the run too (`--fail-on skip,warn,error`).
    #[arg(long)]
    strict: bool,
    /// Outcome kinds that fail the run besides fail and a MUST's error, comma-separated:
    /// `skip` (a skipped MUST), `warn` (a failed SHOULD), `error` (a SHOULD not judged).
    #[arg(long, value_name = "KIND,…", value_parser = parse_fail_on)]
    fail_on: Option<report::FailOn>,
    /// Requirements expected to fail (`[expected]` id = "reason").
    #[arg(long, value_name = "FILE.toml")]
    expected_failures: Option<PathBuf>,
    /// Deadline for start-up and readiness, in seconds (also caps each request's timeout at 10 s).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    timeout_secs: Option<u64>,
    /// Overall deadline of the run (start, drive, official MCP suite), in seconds; a run cut there exits 3.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_DEADLINE_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    deadline: u64,
    /// Drive the implementation through a mutating proxy with operator OP (see `mutants --list`).
    #[arg(long, value_name = "OP", value_parser = parse_operator)]
    mutate: Option<Operator>,
    /// Write everything observed (the raw model the checks judge) as JSON to FILE.
    #[arg(long, value_name = "FILE", alias = "observations-out")]
    save_observations: Option<PathBuf>,
    /// Telemetry gate: diff this run's telemetry snapshot against FILE (a committed baseline).
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Telemetry gate config for --baseline (TOML: fail_on, thresholds, severities, accepted changes).
    #[arg(long, value_name = "FILE.toml", requires = "baseline")]
    gate_config: Option<PathBuf>,
    /// Rewrite the --baseline file with this run's snapshot.
    #[arg(long, requires = "baseline")]
    update_baseline: bool,
    /// Write this run's telemetry snapshot to FILE.
    #[arg(long, value_name = "FILE")]
    snapshot_out: Option<PathBuf>,
    /// Live-check this run's telemetry against a Weaver definition/2 registry in DIR.
    #[arg(long, value_name = "DIR")]
    registry: Option<PathBuf>,
    /// With --registry: fail when less than PCT % of the registry was seen.
    #[arg(long, value_name = "PCT", requires = "registry")]
    fail_on_coverage_below: Option<f64>,
    /// The official MCP conformance suite's folder (from scripts/setup-node.sh; default: $CODEINTEL_MCP_SUITE, else ${CODEINTEL_CACHE:-~/.cache/codeintel}/mcp-suite when present).
    #[arg(long, value_name = "DIR")]
    mcp_suite: Option<PathBuf>,
    /// Vectors of the harness's embeddings server: `hash` (deterministic token hash, the default)
    /// or `local` (the built-in all-MiniLM-L6-v2 of scripts/setup-model.sh; needs the `reference` feature).
    #[arg(long, value_name = "KIND", value_parser = ["hash", "local"], default_value = "hash")]
    embedder: String,
    /// The local model's folder (default: $CODEINTEL_MODEL_DIR, else ~/.cache/codeintel/models/all-MiniLM-L6-v2).
    #[arg(long, value_name = "DIR")]
    model_dir: Option<PathBuf>,
    #[command(flatten)]
    fixtures: FixtureArgs,
}

#[derive(Debug, Args)]
struct MatrixArgs {
    /// Manifests (FILE.toml) to drive; `reference` for the in-process reference server.
    #[arg(required = true, value_name = "MANIFEST")]
    manifests: Vec<String>,
    /// Also write the matrix as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// SHOULD failures fail the run too.
    #[arg(long)]
    strict: bool,
    /// Deadline for start-up and readiness, in seconds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    timeout_secs: Option<u64>,
    /// The official MCP conformance suite's folder (from scripts/setup-node.sh; default: $CODEINTEL_MCP_SUITE, else ${CODEINTEL_CACHE:-~/.cache/codeintel}/mcp-suite when present).
    #[arg(long, value_name = "DIR")]
    mcp_suite: Option<PathBuf>,
    /// Write the matrix as JSON to FILE (`-`: stdout; the table then goes to stderr).
    #[arg(long, value_name = "FILE|-")]
    json: Option<String>,
    /// Write the matrix as JUnit XML (one suite per implementation) to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// What each implementation must show (fixtures/suts/EXPECTED.toml form: `[name] expect = { ID = "fail" }`, every other id passes); exit 1 on any difference.
    #[arg(long, value_name = "FILE.toml")]
    expected_failures: Option<PathBuf>,
    /// Deadline of each implementation's run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_DEADLINE_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    deadline: u64,
    #[command(flatten)]
    fixtures: FixtureArgs,
}

/// Default of `--deadline`.
const DEFAULT_DEADLINE_SECS: u64 = 300;
/// Exit code of a run cut at its deadline.
const EXIT_DEADLINE: u8 = 3;

fn parse_fail_on(list: &str) -> Result<report::FailOn, String> {
    report::FailOn::parse(list)
}

fn parse_operator(name: &str) -> Result<Operator, String> {
    Operator::parse(name)
}

#[derive(Debug, Args)]
struct MutantsArgs {
    /// `reference` (in-process) or a manifest FILE.toml.
    #[arg(value_name = "TARGET", required_unless_present = "list")]
    target: Option<String>,
    /// List the operators (name, target id, what it does) and exit.
    #[arg(long)]
    list: bool,
    /// Only these operators (comma-separated; default: all).
    #[arg(long, value_name = "OP,…", value_delimiter = ',', value_parser = parse_operator)]
    ops: Vec<Operator>,
    /// Hold the run to an expectation file (fixtures/mutants/EXPECTED.toml); exit 1 on any difference.
    #[arg(long, value_name = "FILE.toml")]
    expected: Option<PathBuf>,
    /// Write the mutants and the score as JSON to FILE (`-`: stdout).
    #[arg(long, value_name = "FILE|-")]
    json: Option<String>,
    /// Write a JUnit XML report (one case per operator) to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the score table as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Deadline of each mutant's run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_DEADLINE_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    deadline: u64,
    /// Deadline for start-up and readiness, in seconds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    timeout_secs: Option<u64>,
    /// The official MCP conformance suite's folder (as for `run`).
    #[arg(long, value_name = "DIR")]
    mcp_suite: Option<PathBuf>,
    #[command(flatten)]
    fixtures: FixtureArgs,
}

/// A failure of the harness itself (exit 2).
#[derive(Debug)]
struct HarnessError(String);

impl<E: std::fmt::Display> From<E> for HarnessError {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args).await,
        Command::List => {
            print!("{}", render_list());
            Ok(0)
        }
        Command::Explain { id } => explain(&id),
        Command::Matrix(args) => matrix(args).await,
        Command::Mutants(args) => mutants(args).await,
        Command::Snapshot(args) => snapshot_cmd(args).await,
        Command::Diff(args) => diff_cmd(&args),
        Command::LiveCheck(args) => live_check_cmd(args).await,
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(HarnessError(message)) => {
            eprintln!("codeintel-conformance: error: {message}");
            ExitCode::from(2)
        }
    }
}

#[cfg(feature = "reference")]
// Same signature as the build without the adapter, which can only fail.
#[allow(clippy::unnecessary_wraps)]
fn reference_sut() -> Result<Box<dyn Sut>, HarnessError> {
    Ok(Box::new(
        codeintel_conformance::sut::reference::ReferenceSut::new(workspace_root()),
    ))
}

#[cfg(not(feature = "reference"))]
fn reference_sut() -> Result<Box<dyn Sut>, HarnessError> {
    Err(HarnessError(
        "this build has no in-process reference server: build with the default `reference` feature \
         (`cargo run -p codeintel-conformance -- run --sut reference`), or drive a process with \
         --sut-manifest FILE.toml"
            .to_owned(),
    ))
}

/// One implementation to drive, with what its manifest adds.
struct Target {
    sut: Box<dyn Sut>,
    source_dir: Option<PathBuf>,
    expected_failures: Option<PathBuf>,
}

fn target(
    reference: bool,
    manifest: Option<&Path>,
    timeout: Option<Duration>,
) -> Result<Target, HarnessError> {
    if reference {
        // The reference's source is linted when this binary runs beside the
        // workspace it was built from (an installed copy may not be).
        let source = workspace_root().join("reference-server");
        return Ok(Target {
            sut: reference_sut()?,
            source_dir: source.is_dir().then_some(source),
            expected_failures: None,
        });
    }
    let Some(path) = manifest else {
        return Err(HarnessError(
            "give --sut reference or --sut-manifest FILE.toml".to_owned(),
        ));
    };
    let manifest = SutManifest::load(path)?;
    let source_dir = manifest.source_dir.clone();
    let expected_failures = manifest.expected_failures.clone();
    let mut sut = ProcessSut::new(manifest);
    if let Some(t) = timeout {
        sut = sut.with_start_timeout(t);
    }
    Ok(Target {
        sut: Box::new(sut),
        source_dir,
        expected_failures,
    })
}

#[cfg(feature = "reference")]
fn local_vectors(
    dir: Option<PathBuf>,
) -> Result<std::sync::Arc<dyn codeintel_conformance::peers::embeddings::VectorSource>, HarnessError>
{
    let model = codeintel_conformance::sut::reference::LocalVectors::load(dir)
        .map_err(|e| HarnessError(format!("--embedder local: {e}")))?;
    Ok(std::sync::Arc::new(model))
}

#[cfg(not(feature = "reference"))]
fn local_vectors(
    _dir: Option<PathBuf>,
) -> Result<std::sync::Arc<dyn codeintel_conformance::peers::embeddings::VectorSource>, HarnessError>
{
    Err(HarnessError(
        "--embedder local needs the `reference` feature (the built-in model lives in codeintel-server)"
            .to_owned(),
    ))
}

/// `--repo` / `--golden`: what the SUT indexes and is asked.
#[derive(Debug, Clone, Default, Args)]
struct FixtureArgs {
    /// The repository the SUT indexes (default: the sample repository built into this binary).
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// Golden queries, TOML `[[query]] text, expect_path, …` (default: built into this binary, for the sample repository).
    #[arg(long, value_name = "FILE")]
    golden: Option<PathBuf>,
}

/// A drive's settings, with the fixtures it needs on disk (the embedded
/// defaults live in a temp folder as long as the returned guard).
fn drive_config(
    timeout: Option<Duration>,
    mcp_suite: Option<&Path>,
    fixtures: &FixtureArgs,
) -> Result<(DriveConfig, Option<Materialised>), HarnessError> {
    let mut cfg = DriveConfig::new(&workspace_root());
    cfg.mcp_suite = codeintel_conformance::mcp_suite::locate(mcp_suite)?;
    let guard = apply_fixtures(&mut cfg, fixtures)?;
    let cfg = match timeout {
        Some(t) => cfg.with_timeout(t),
        None => cfg,
    };
    Ok((cfg, guard))
}

fn apply_fixtures(
    cfg: &mut DriveConfig,
    fixtures: &FixtureArgs,
) -> Result<Option<Materialised>, HarnessError> {
    if let Some(repo) = &fixtures.repo
        && !repo.is_dir()
    {
        return Err(HarnessError(format!(
            "--repo {}: not a directory",
            repo.display()
        )));
    }
    if let Some(golden) = &fixtures.golden {
        codeintel_conformance::drive::load_golden(golden)
            .map_err(|e| HarnessError(format!("--golden: {e}")))?;
    }
    let embedded = if fixtures.repo.is_none() || fixtures.golden.is_none() {
        Some(codeintel_conformance::fixtures::materialise().map_err(|e| {
            HarnessError(format!(
                "cannot write the built-in fixtures to a temp folder: {e}"
            ))
        })?)
    } else {
        None
    };
    cfg.repo = match (&fixtures.repo, &embedded) {
        (Some(r), _) => std::path::absolute(r).unwrap_or_else(|_| r.clone()),
        (None, Some(m)) => m.repo(),
        (None, None) => cfg.repo.clone(),
    };
    cfg.golden = match (&fixtures.golden, &embedded) {
        (Some(g), _) => g.clone(),
        (None, Some(m)) => m.golden(),
        (None, None) => cfg.golden.clone(),
    };
    Ok(embedded)
}

/// Drive, lint and judge one target; the drive is cut at `deadline`.
async fn judge(
    mut target: Target,
    cfg: &DriveConfig,
    source: Option<PathBuf>,
    expected: Option<&ExpectedFailures>,
    deadline: Duration,
) -> (Observations, Vec<CheckResult>) {
    let mut obs = Observations::default();
    let cut = tokio::time::timeout(deadline, drive_into(target.sut.as_mut(), cfg, &mut obs))
        .await
        .is_err();
    if cut {
        // The drive future (and the peers it held) is gone; stop the SUT and
        // keep what it left.
        target.sut.stop().await;
        let collected = target.sut.collect();
        obs.startup.output_tail = collected.output_tail;
        obs.truncations.extend(collected.truncations);
        if let Some(t) = collected.telemetry {
            obs.spans = t.spans;
            obs.logs = t.logs;
        }
        obs.deadline_exceeded = Some(DeadlineExceeded {
            deadline_secs: deadline.as_secs(),
            after_phase: obs.phases.last().map(|p| p.phase.clone()),
        });
    }
    if let Some(dir) = source.or(target.source_dir) {
        let started = Instant::now();
        let root = dir.clone();
        obs.lint = Some(
            tokio::task::spawn_blocking(move || lint_source(&root))
                .await
                .unwrap_or_else(|e| codeintel_conformance::observe::LintOutcome {
                    root: dir.clone(),
                    error: Some(format!("the lint task failed: {e}")),
                    ..Default::default()
                }),
        );
        obs.sut.source_dir = Some(dir);
        push_phase(&mut obs, "lint", started);
    }
    let started = Instant::now();
    let mut results = checks::run_all(&obs);
    if let Some(expected) = expected {
        expected.apply(&mut results);
    }
    push_phase(&mut obs, "check", started);
    (obs, results)
}

fn push_phase(obs: &mut Observations, phase: &str, since: Instant) {
    obs.phases.push(PhaseTiming {
        phase: phase.to_owned(),
        millis: since.elapsed().as_millis() as u64,
    });
}

fn write_file(path: &Path, text: &str, what: &str) -> Result<(), HarnessError> {
    std::fs::write(path, text).map_err(|e| {
        HarnessError(format!(
            "cannot write the {what} to {}: {e}",
            path.display()
        ))
    })
}

/// A copy of the target's source with `plant` planted, for source operator
/// `op` (the lint then judges the copy).
fn planted_source(
    op: Operator,
    plant: codeintel_conformance::mutate::source::Plant,
    source: Option<&Path>,
) -> Result<tempfile::TempDir, HarnessError> {
    let Some(source) = source else {
        return Err(HarnessError(format!(
            "the source operator `{}` needs the SUT's source tree: give --source DIR or a manifest with source_dir",
            op.name()
        )));
    };
    codeintel_conformance::mutate::source::planted_copy(plant, source)
        .map_err(|e| HarnessError(format!("source operator `{}`: {e}", op.name())))
}

async fn run(args: RunArgs) -> Result<u8, HarnessError> {
    let timeout = args.timeout_secs.map(Duration::from_secs);
    let mut target = target(args.sut.is_some(), args.sut_manifest.as_deref(), timeout)?;
    let mut source = args.source.clone();
    let mut _planted = None;
    if let Some(op) = args.mutate {
        if let Some(plant) = op.plant() {
            let dir = planted_source(
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
    let (mut cfg, _fixtures) = drive_config(timeout, args.mcp_suite.as_deref(), &args.fixtures)?;
    if args.embedder == "local" {
        cfg.embed_source = Some(local_vectors(args.model_dir.clone())?);
    }
    let name = target.sut.info().name;
    eprintln!("codeintel-conformance: driving `{name}` …");

    let (obs, results) = judge(
        target,
        &cfg,
        source,
        expected.as_ref(),
        Duration::from_secs(args.deadline),
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
    let json_to_stdout = args.json.as_deref() == Some("-");
    let phases: Vec<String> = obs
        .phases
        .iter()
        .map(|p| format!("{} {} ms", p.phase, p.millis))
        .collect();

    if let Some(path) = &args.markdown {
        write_file(
            path,
            &report::markdown::render(&results, &ctx),
            "Markdown report",
        )?;
    }
    if let Some(path) = &args.save_observations {
        let text = serde_json::to_string_pretty(&obs)
            .map_err(|e| HarnessError(format!("cannot serialise the observations: {e}")))?;
        write_file(path, &text, "observations")?;
    }
    // The process's exit code, known before the JSON and JUnit reports are
    // written so that they state it: 2 on harness errors (the gate does not
    // run then), else the worst of the results and the telemetry gate.
    let exit = if obs.deadline_exceeded.is_some() {
        EXIT_DEADLINE
    } else if obs.harness_errors.is_empty() {
        let gate_exit = run_gate(&args, &obs)?;
        u8::try_from(report::exit_code_on(&results, ctx.effective_fail_on()))
            .unwrap_or(1)
            .max(gate_exit)
    } else {
        2
    };
    ctx.exit_code = Some(i32::from(exit));

    let table = report::table::render(
        &results,
        &ctx,
        report::table::TableOptions {
            color: !json_to_stdout && report::table::use_color(),
            ..Default::default()
        },
    );
    if json_to_stdout {
        eprint!("{table}");
    } else {
        print!("{table}");
    }
    eprintln!("codeintel-conformance: wall time: {}", phases.join(", "));
    eprintln!("codeintel-conformance: {}", mcp_suite_line(&obs));

    match args.json.as_deref() {
        Some("-") => println!("{}", report::json::render(&results, &ctx)),
        Some(path) => write_file(
            Path::new(path),
            &report::json::render(&results, &ctx),
            "JSON report",
        )?,
        None => {}
    }
    if let Some(path) = &args.junit {
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

/// `run --baseline / --snapshot-out / --registry`: the telemetry gate on the
/// run just made. Its reports go to stderr (and are appended to --markdown).
fn run_gate(args: &RunArgs, obs: &Observations) -> Result<u8, HarnessError> {
    if args.baseline.is_none() && args.snapshot_out.is_none() && args.registry.is_none() {
        return Ok(0);
    }
    let snap = gate::snapshot::snapshot(obs);
    let mut markdown = String::new();
    let mut exit = 0;
    if let Some(path) = &args.snapshot_out {
        write_file(path, &snap.to_json(), "telemetry snapshot")?;
    }
    if let Some(baseline) = &args.baseline {
        let cfg = load_gate_config(args.gate_config.as_deref())?;
        let base = gate::load_snapshot(baseline)?;
        let diff = gate::diff::diff(
            &base,
            &snap,
            &cfg,
            &baseline.display().to_string(),
            &format!("this run of `{}`", obs.sut.name),
        );
        eprint!("{}", gate::render::terminal(&diff));
        markdown.push_str(&gate::render::markdown(&diff));
        if args.update_baseline {
            write_file(baseline, &snap.to_json(), "baseline")?;
            eprintln!(
                "codeintel-conformance: baseline {} rewritten",
                baseline.display()
            );
        } else {
            exit = exit.max(diff.exit_code());
        }
    }
    if let Some(dir) = &args.registry {
        let reg = gate::registry::Registry::load(dir)?;
        let r = gate::live_check::live_check(&reg, obs, args.fail_on_coverage_below);
        eprint!("{}", gate::live_check::render(&r, false));
        markdown.push('\n');
        markdown.push_str(&gate::live_check::render(&r, true));
        exit = exit.max(r.exit_code());
    }
    if let Some(path) = &args.markdown
        && !markdown.is_empty()
    {
        let mut text = std::fs::read_to_string(path).unwrap_or_default();
        text.push('\n');
        text.push_str(&markdown);
        write_file(path, &text, "Markdown report")?;
    }
    Ok(exit)
}

fn load_gate_config(path: Option<&Path>) -> Result<gate::diff::DiffConfig, HarnessError> {
    Ok(match path {
        Some(p) => gate::diff::DiffConfig::load(p)?,
        None => gate::diff::DiffConfig::default(),
    })
}

/// Observations from saved JSON, or from a live run (the official MCP suite
/// is not run: the gate judges the scenario's telemetry only).
async fn observe_source(
    source: &SourceArgs,
    fixtures: &FixtureArgs,
    timeout_secs: Option<u64>,
) -> Result<Observations, HarnessError> {
    if let Some(path) = &source.observations {
        if fixtures.repo.is_some() || fixtures.golden.is_some() {
            return Err(HarnessError(
                "--repo / --golden set what a live run drives; with --observations nothing is driven"
                    .to_owned(),
            ));
        }
        return Ok(gate::load_observations(path)?);
    }
    let timeout = timeout_secs.map(Duration::from_secs);
    let mut target = target(
        source.sut.is_some(),
        source.sut_manifest.as_deref(),
        timeout,
    )?;
    let mut cfg = DriveConfig::new(&workspace_root());
    // The sample repository and golden queries built into the binary unless
    // --repo / --golden name others; the guard keeps them until the drive ends.
    let _fixtures = apply_fixtures(&mut cfg, fixtures)?;
    eprintln!("codeintel-conformance: {}", fixtures_note(fixtures));
    if let Some(t) = timeout {
        cfg = cfg.with_timeout(t);
    }
    let name = target.sut.info().name;
    eprintln!("codeintel-conformance: driving `{name}` for its telemetry …");
    let obs = drive(target.sut.as_mut(), &cfg).await;
    if !obs.harness_errors.is_empty() {
        return Err(HarnessError(format!(
            "the run of `{name}` was incomplete: {}",
            obs.harness_errors.join("; ")
        )));
    }
    Ok(obs)
}

/// Where a drive's repository and golden queries come from, in one line.
fn fixtures_note(fixtures: &FixtureArgs) -> String {
    let repo = fixtures.repo.as_ref().map_or_else(
        || "the sample repository built into this binary".to_owned(),
        |r| format!("repository {}", r.display()),
    );
    let golden = fixtures.golden.as_ref().map_or_else(
        || "the golden queries built into this binary".to_owned(),
        |g| format!("golden queries {}", g.display()),
    );
    format!("fixtures: {repo}; {golden}")
}

async fn snapshot_cmd(args: SnapshotArgs) -> Result<u8, HarnessError> {
    let obs = observe_source(&args.source, &args.fixtures, args.timeout_secs).await?;
    if let Some(path) = &args.save_observations {
        let text = serde_json::to_string_pretty(&obs)
            .map_err(|e| HarnessError(format!("cannot serialise the observations: {e}")))?;
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
    Ok(0)
}

fn diff_cmd(args: &DiffArgs) -> Result<u8, HarnessError> {
    let cfg = load_gate_config(args.config.as_deref())?;
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
    let table = gate::render::terminal(&r);
    match out.json.as_deref() {
        Some("-") => {
            eprint!("{table}");
            println!("{}", gate::render::json(&r));
        }
        Some(path) => {
            print!("{table}");
            write_file(Path::new(path), &gate::render::json(&r), "JSON diff")?;
        }
        None => print!("{table}"),
    }
    if let Some(path) = &out.markdown {
        write_file(path, &gate::render::markdown(&r), "Markdown diff")?;
    }
    if let Some(path) = &out.junit {
        write_file(path, &gate::render::junit(&r), "JUnit diff")?;
    }
    if let Some(path) = &out.sarif {
        write_file(path, &gate::render::sarif(&r), "SARIF diff")?;
    }
    if args.update {
        write_file(&args.baseline, &current.to_json(), "baseline")?;
        eprintln!(
            "codeintel-conformance: baseline {} rewritten from {}",
            args.baseline.display(),
            args.current.display()
        );
        return Ok(0);
    }
    Ok(r.exit_code())
}

async fn live_check_cmd(args: LiveCheckArgs) -> Result<u8, HarnessError> {
    let reg = if let Some(dir) = &args.registry {
        gate::registry::Registry::load(dir)?
    } else {
        let embedded = codeintel_conformance::fixtures::materialise_registry().map_err(|e| {
            HarnessError(format!(
                "cannot write the built-in telemetry registry to a temp folder: {e}"
            ))
        })?;
        let reg = gate::registry::Registry::load(embedded.path())?;
        eprintln!(
            "codeintel-conformance: registry: the {} file(s) built into this binary \
             (conformance/registry when it was built; --registry DIR for another)",
            reg.files.len()
        );
        reg
    };
    let obs = observe_source(&args.source, &args.fixtures, args.timeout_secs).await?;
    let r = gate::live_check::live_check(&reg, &obs, args.fail_on_coverage_below);
    print!("{}", gate::live_check::render(&r, false));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&r)
            .map_err(|e| HarnessError(format!("cannot serialise the findings: {e}")))?;
        write_file(path, &text, "live-check JSON")?;
    }
    if let Some(path) = &args.markdown {
        write_file(
            path,
            &gate::live_check::render(&r, true),
            "live-check Markdown",
        )?;
    }
    Ok(r.exit_code())
}

/// The deadline outcome, in one line.
fn deadline_line(d: &DeadlineExceeded) -> String {
    format!(
        "deadline exceeded: the run was cut after {} s (--deadline){}; the verdicts above judge a partial run",
        d.deadline_secs,
        d.after_phase
            .as_deref()
            .map(|p| format!(", in the phase after `{p}`"))
            .unwrap_or_default()
    )
}

/// What became of the official MCP suite, in one line.
fn mcp_suite_line(obs: &Observations) -> String {
    use codeintel_conformance::observe::McpSuiteState;
    match obs.mcp_suite.state {
        McpSuiteState::Ran => format!(
            "official MCP suite: {} scenario(s) with {}",
            obs.mcp_suite.scenarios.len(),
            obs.mcp_suite.note
        ),
        McpSuiteState::NotInstalled => {
            format!("official MCP suite not installed: {}", obs.mcp_suite.note)
        }
        McpSuiteState::NotRun => "official MCP suite not run: the SUT was not up".to_owned(),
    }
}

fn render_list() -> String {
    let mut out = format!("codeintel conformance catalog {}\n", catalog::VERSION);
    for (group, heading) in catalog::GROUPS {
        let _ = writeln!(out, "\n{heading}");
        for r in catalog::all().iter().filter(|r| r.group == group) {
            let _ = writeln!(out, "  {:<8} {:<6} {}", r.id, r.level.as_str(), r.title);
        }
    }
    out
}

fn explain(id: &str) -> Result<u8, HarnessError> {
    let Some(req) = catalog::find(id) else {
        return Err(HarnessError(format!(
            "`{id}` is not a requirement of catalog {}; see `codeintel-conformance list`",
            catalog::VERSION
        )));
    };
    match catalog::details(req.id) {
        Some(text) => println!("{text}"),
        None => println!(
            "{} {} — {}\n\nChecked: {}",
            req.id,
            req.level.as_str(),
            req.title,
            req.spec
        ),
    }
    Ok(0)
}

/// One column of the matrix.
struct Column {
    name: String,
    results: Vec<CheckResult>,
    exit: u8,
    /// Why the implementation could not be driven, if so.
    problem: Option<String>,
}

async fn matrix(args: MatrixArgs) -> Result<u8, HarnessError> {
    let timeout = args.timeout_secs.map(Duration::from_secs);
    let expectations = match &args.expected_failures {
        Some(p) => Some(load_matrix_expectations(p)?),
        None => None,
    };
    let (cfg, _fixtures) = drive_config(timeout, args.mcp_suite.as_deref(), &args.fixtures)?;
    let deadline = Duration::from_secs(args.deadline);
    let mut columns = Vec::new();
    for entry in &args.manifests {
        let reference = entry == "reference";
        let column = match target(reference, Some(Path::new(entry)), timeout) {
            Err(HarnessError(problem)) => Column {
                name: entry.clone(),
                results: Vec::new(),
                exit: 2,
                problem: Some(problem),
            },
            Ok(t) => {
                let expected = match t.expected_failures.as_deref().map(ExpectedFailures::load) {
                    Some(Err(e)) => {
                        columns.push(Column {
                            name: entry.clone(),
                            results: Vec::new(),
                            exit: 2,
                            problem: Some(e.to_string()),
                        });
                        continue;
                    }
                    Some(Ok(x)) => Some(x),
                    None => None,
                };
                let name = t.sut.info().name;
                eprintln!("codeintel-conformance: driving `{name}` …");
                let (obs, results) = judge(t, &cfg, None, expected.as_ref(), deadline).await;
                column_of(name, &obs, results, args.strict)
            }
        };
        columns.push(column);
    }
    let table = render_matrix(&columns, false);
    if args.json.as_deref() == Some("-") {
        eprint!("{table}");
    } else {
        print!("{table}");
    }
    for c in &columns {
        if let Some(p) = &c.problem {
            eprintln!("codeintel-conformance: {}: {p}", c.name);
        }
    }
    let differences = expectations
        .as_ref()
        .map(|e| matrix_differences(e, &columns))
        .unwrap_or_default();
    for d in &differences {
        eprintln!("codeintel-conformance: unexpected: {d}");
    }
    if let Some(path) = &args.markdown {
        write_file(path, &render_matrix(&columns, true), "Markdown matrix")?;
    }
    match args.json.as_deref() {
        Some("-") => println!("{}", matrix_json(&columns, &differences)),
        Some(path) => write_file(
            Path::new(path),
            &matrix_json(&columns, &differences),
            "JSON matrix",
        )?,
        None => {}
    }
    if let Some(path) = &args.junit {
        write_file(
            path,
            &matrix_junit(&columns, expectations.as_ref()),
            "JUnit matrix",
        )?;
    }
    if let Some(e) = &expectations {
        let problem = columns
            .iter()
            .filter(|c| c.problem.is_some() && e.contains_key(&c.name))
            .count();
        return Ok(if problem > 0 {
            2
        } else {
            u8::from(!differences.is_empty())
        });
    }
    Ok(columns.iter().map(|c| c.exit).max().unwrap_or(0))
}

fn column_of(name: String, obs: &Observations, results: Vec<CheckResult>, strict: bool) -> Column {
    let mut problems = obs.harness_errors.clone();
    if let Some(d) = &obs.deadline_exceeded {
        problems.push(deadline_line(d));
    }
    let problem = (!problems.is_empty()).then(|| problems.join("; "));
    let exit = if obs.deadline_exceeded.is_some() {
        EXIT_DEADLINE
    } else if problem.is_some() {
        2
    } else {
        u8::try_from(report::exit_code(&results, strict)).unwrap_or(1)
    };
    Column {
        name,
        results,
        exit,
        problem,
    }
}

/// One implementation's entry of a matrix expectation file.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixExpectation {
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
    #[serde(default)]
    expect: std::collections::BTreeMap<String, String>,
}

type MatrixExpectations = std::collections::BTreeMap<String, MatrixExpectation>;

fn load_matrix_expectations(path: &Path) -> Result<MatrixExpectations, HarnessError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| HarnessError(format!("cannot read {}: {e}", path.display())))?;
    let map: MatrixExpectations = toml::from_str(&text)
        .map_err(|e| HarnessError(format!("{}: {}", path.display(), e.message())))?;
    for (name, e) in &map {
        for (id, outcome) in &e.expect {
            if catalog::find(id).is_none() {
                return Err(HarnessError(format!(
                    "{}: [{name}] expects `{id}`, which is not a requirement id",
                    path.display()
                )));
            }
            if !["pass", "fail", "warn", "error", "skip"].contains(&outcome.as_str()) {
                return Err(HarnessError(format!(
                    "{}: [{name}] {id} = `{outcome}`: expected pass, fail, warn, error or skip",
                    path.display()
                )));
            }
        }
    }
    Ok(map)
}

/// Cells that differ from the expectations (a skipped id matches anything:
/// what it needs was not installed).
fn matrix_differences(expected: &MatrixExpectations, columns: &[Column]) -> Vec<String> {
    let mut out = Vec::new();
    for c in columns {
        let Some(e) = expected.get(&c.name) else {
            out.push(format!("{}: no entry in the expectation file", c.name));
            continue;
        };
        for r in catalog::all() {
            let want = e.expect.get(r.id).map_or("pass", String::as_str);
            let got = cell(&c.results, r.id).to_ascii_lowercase();
            if got != want && got != "skip" {
                out.push(format!("{} {}: expected {want}, got {got}", c.name, r.id));
            }
        }
    }
    out
}

fn matrix_json(columns: &[Column], differences: &[String]) -> String {
    let doc = serde_json::json!({
        "tool": "codeintel-conformance matrix",
        "catalog": catalog::VERSION,
        "columns": columns.iter().map(|c| serde_json::json!({
            "name": c.name,
            "exit_code": c.exit,
            "problem": c.problem,
            "results": catalog::all().iter().map(|r| (r.id.to_owned(), serde_json::Value::from(cell(&c.results, r.id).to_ascii_lowercase()))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "differences": differences,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One suite per implementation, one case per id: failed when the outcome
/// differs from the expectation (without one: when it is fail or error).
fn matrix_junit(columns: &[Column], expected: Option<&MatrixExpectations>) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for c in columns {
        let mut cases = String::new();
        let mut failures = 0;
        for r in catalog::all() {
            let got = cell(&c.results, r.id).to_ascii_lowercase();
            let failed = match expected.and_then(|e| e.get(&c.name)) {
                Some(e) => {
                    let want = e.expect.get(r.id).map_or("pass", String::as_str);
                    (got != want && got != "skip").then(|| format!("expected {want}, got {got}"))
                }
                None => matches!(got.as_str(), "fail" | "error" | "-").then(|| got.clone()),
            };
            let _ = write!(
                cases,
                "    <testcase classname=\"{}\" name=\"{} {}\">",
                xml_escape(&c.name),
                r.id,
                xml_escape(r.title)
            );
            if let Some(f) = failed {
                failures += 1;
                let _ = write!(cases, "<failure message=\"{}\"/>", xml_escape(&f));
            } else if got == "skip" {
                cases.push_str("<skipped/>");
            }
            cases.push_str("</testcase>\n");
        }
        let _ = write!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">\n{cases}  </testsuite>\n",
            xml_escape(&c.name),
            catalog::all().len()
        );
    }
    out.push_str("</testsuites>\n");
    out
}

async fn mutants(args: MutantsArgs) -> Result<u8, HarnessError> {
    if args.list {
        for op in Operator::ALL {
            println!("{:<24} {:<8} {}", op.name(), op.target(), op.describe());
        }
        return Ok(0);
    }
    let Some(target_name) = args.target.clone() else {
        return Err(HarnessError(
            "give a target: `reference` or a manifest FILE.toml".to_owned(),
        ));
    };
    let expectations = match &args.expected {
        Some(p) => Some(Expectations::load(p).map_err(HarnessError)?),
        None => None,
    };
    let timeout = args.timeout_secs.map(Duration::from_secs);
    let (cfg, _fixtures) = drive_config(timeout, args.mcp_suite.as_deref(), &args.fixtures)?;
    let ops: Vec<Operator> = if args.ops.is_empty() {
        Operator::ALL.to_vec()
    } else {
        args.ops.clone()
    };
    let deadline = Duration::from_secs(args.deadline);
    let mut runs = Vec::new();
    for op in ops {
        let t = target(
            target_name == "reference",
            Some(Path::new(&target_name)),
            timeout,
        )?;
        // The source lint judges files, which no proxy changes: it runs only
        // for a source operator, on a planted copy of the target's source.
        let planted = op
            .plant()
            .map(|plant| planted_source(op, plant, t.source_dir.as_deref()));
        let (planted, plant_problem) = match planted {
            Some(Ok(dir)) => (Some(dir), None),
            Some(Err(e)) => (None, Some(e.0)),
            None => (None, None),
        };
        let t = Target {
            sut: Box::new(MutatingSut::new(t.sut, op)),
            source_dir: planted.as_ref().map(|d| d.path().to_path_buf()),
            ..t
        };
        eprintln!(
            "codeintel-conformance: mutant `{}` (aimed at {}) …",
            op.name(),
            op.target()
        );
        let (obs, results) = judge(t, &cfg, None, None, deadline).await;
        drop(planted);
        let mut problems = obs.harness_errors.clone();
        problems.extend(plant_problem);
        if let Some(d) = &obs.deadline_exceeded {
            problems.push(deadline_line(d));
        }
        let run = MutantRun::new(
            op,
            &results,
            (!problems.is_empty()).then(|| problems.join("; ")),
        );
        eprintln!(
            "codeintel-conformance:   {} — failed: {}",
            if run.killed() { "killed" } else { "survived" },
            if run.failed.is_empty() {
                "nothing".to_owned()
            } else {
                run.failed.join(", ")
            }
        );
        runs.push(run);
    }
    let differences = expectations
        .as_ref()
        .map(|e| e.differences(&runs))
        .unwrap_or_default();
    let text = mutant_expect::render(&target_name, &runs, false);
    let json = mutant_expect::render_json(&target_name, &runs, &differences);
    match args.json.as_deref() {
        Some("-") => {
            eprint!("{text}");
            println!("{json}");
        }
        Some(path) => {
            print!("{text}");
            write_file(Path::new(path), &json, "mutants JSON")?;
        }
        None => print!("{text}"),
    }
    for d in &differences {
        eprintln!("codeintel-conformance: unexpected: {d}");
    }
    if let Some(path) = &args.markdown {
        write_file(
            path,
            &mutant_expect::render(&target_name, &runs, true),
            "mutants Markdown",
        )?;
    }
    if let Some(path) = &args.junit {
        write_file(
            path,
            &mutant_expect::render_junit(&target_name, &runs, expectations.as_ref()),
            "mutants JUnit",
        )?;
    }
    if expectations.is_some() {
        return Ok(u8::from(!differences.is_empty()));
    }
    Ok(u8::from(runs.iter().any(|r| !r.killed())))
}

fn cell(results: &[CheckResult], id: &str) -> &'static str {
    results
        .iter()
        .find(|r| r.id == id)
        .map_or("-", |r| r.outcome.as_str())
}

/// Ids × implementations, as a text table or Markdown.
fn render_matrix(columns: &[Column], markdown: bool) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["ID".to_owned(), "LEVEL".to_owned()];
    header.extend(columns.iter().map(|c| c.name.clone()));
    for r in catalog::all() {
        let mut row = vec![r.id.to_owned(), r.level.as_str().to_owned()];
        row.extend(columns.iter().map(|c| cell(&c.results, r.id).to_owned()));
        rows.push(row);
    }
    let mut exit_row = vec!["exit".to_owned(), String::new()];
    exit_row.extend(columns.iter().map(|c| c.exit.to_string()));
    rows.push(exit_row);

    let mut out = String::new();
    if markdown {
        let _ = write!(
            out,
            "# codeintel conformance matrix (catalog {})\n\n",
            catalog::VERSION
        );
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(
            out,
            "|{}",
            header.iter().map(|_| " --- |").collect::<String>()
        );
        for row in &rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        let problems: Vec<&Column> = columns.iter().filter(|c| c.problem.is_some()).collect();
        if !problems.is_empty() {
            out.push_str("\nNot driven or not fully judged:\n\n");
            for c in problems {
                let _ = writeln!(
                    out,
                    "- `{}`: {}",
                    c.name,
                    c.problem.as_deref().unwrap_or_default().replace('\n', " ")
                );
            }
        }
        return out;
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, fail: &str, exit: u8) -> Column {
        Column {
            name: name.to_owned(),
            results: catalog::all()
                .iter()
                .map(|r| {
                    if r.id == fail {
                        CheckResult::fail(r.id, "broken")
                    } else {
                        CheckResult::pass(r.id, "ok")
                    }
                })
                .collect(),
            exit,
            problem: None,
        }
    }

    #[test]
    fn matrix_shows_ids_by_implementation() {
        let mut broken = column("broken-variant", "MET-002", 1);
        broken.problem = Some("golden queries missing".into());
        let columns = vec![column("reference", "", 0), broken];
        let text = render_matrix(&columns, false);
        let header = text.lines().next().unwrap();
        assert!(header.starts_with("ID"), "{header}");
        assert!(header.contains("reference") && header.contains("broken-variant"));
        let met002 = text.lines().find(|l| l.starts_with("MET-002")).unwrap();
        assert!(
            met002.contains("PASS") && met002.contains("FAIL"),
            "{met002}"
        );
        assert!(text.lines().last().unwrap().starts_with("exit"));
        assert_eq!(text.lines().count(), catalog::all().len() + 2);

        let md = render_matrix(&columns, true);
        assert!(
            md.contains("| ID | LEVEL | reference | broken-variant |"),
            "{md}"
        );
        assert!(md.contains("| MET-002 | MUST | PASS | FAIL |"), "{md}");
        assert!(md.contains("- `broken-variant`: golden queries missing"));
    }

    #[test]
    fn missing_results_show_a_dash() {
        assert_eq!(cell(&[], "MET-001"), "-");
        let r = [CheckResult::skip("LNT-001", "no source")];
        assert_eq!(cell(&r, "LNT-001"), checks::Outcome::Skip.as_str());
    }

    #[test]
    fn list_names_every_requirement() {
        let text = render_list();
        for r in catalog::all() {
            assert!(text.contains(r.id), "{} missing", r.id);
        }
    }

    #[test]
    fn cli_parses_the_documented_shapes() {
        let cli = Cli::try_parse_from([
            "codeintel-conformance",
            "run",
            "--sut-manifest",
            "x.toml",
            "--json",
            "-",
            "--strict",
            "--timeout-secs",
            "5",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.sut_manifest, Some(PathBuf::from("x.toml")));
        assert_eq!(args.json.as_deref(), Some("-"));
        assert!(args.strict);
        assert_eq!(args.timeout_secs, Some(5));
        assert!(
            Cli::try_parse_from(["codeintel-conformance", "run"]).is_err(),
            "a SUT is required"
        );
        assert!(
            Cli::try_parse_from([
                "codeintel-conformance",
                "run",
                "--sut",
                "reference",
                "--sut-manifest",
                "x.toml"
            ])
            .is_err()
        );
        assert!(Cli::try_parse_from(["codeintel-conformance", "run", "--sut", "other"]).is_err());
        assert!(Cli::try_parse_from(["codeintel-conformance", "matrix"]).is_err());
    }
}
