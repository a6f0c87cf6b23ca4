//! One session of the harness: pick the implementation to drive (the
//! in-process reference or a manifest's process), put the fixtures it needs
//! on disk, drive it under an overall deadline, lint its source, and judge
//! the observations. The CLI's subcommands (`run`, `matrix`, `mutants`,
//! `snapshot`, `live-check`) are thin loops over these functions.
//!
//! Errors are typed ([`SessionError`]); their messages name the flag or file
//! at fault, as the CLI prints them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::checks::{self, CheckResult};
use crate::drive::{DriveConfig, drive, drive_into, lint_source, workspace_root};
use crate::fixtures::Materialised;
use crate::gate;
use crate::mcp_suite::McpSuiteError;
use crate::mutate::Operator;
use crate::mutate::source::{Plant, SourceMutantError};
use crate::observe::{DeadlineExceeded, LintOutcome, McpSuiteState, Observations, PhaseTiming};
use crate::peers::embeddings::VectorSource;
use crate::report::ExpectedFailures;
pub use crate::report::{deadline_line, problems};
use crate::sut::Sut;
use crate::sut::manifest::{ManifestError, SutManifest};
use crate::sut::process::ProcessSut;

/// Why a session could not be set up (the CLI exits 2).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(
        "this build has no in-process reference server: build with the default `reference` feature \
         (`cargo run -p codeintel-conformance -- run --sut reference`), or drive a process with \
         --sut-manifest FILE.toml"
    )]
    NoReference,
    #[error("give --sut reference or --sut-manifest FILE.toml")]
    NoTarget,
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    McpSuite(#[from] McpSuiteError),
    #[error("--embedder local: {0}")]
    LocalModel(String),
    #[error(
        "--embedder local needs the `reference` feature (the built-in model lives in codeintel-server)"
    )]
    LocalNeedsReference,
    #[error("--repo {}: not a directory", .0.display())]
    RepoNotADir(PathBuf),
    #[error("--golden: {0}")]
    Golden(String),
    #[error("cannot write the built-in fixtures to a temp folder: {0}")]
    Fixtures(#[source] std::io::Error),
    #[error(
        "the source operator `{0}` needs the SUT's source tree: give --source DIR or a manifest with source_dir"
    )]
    NoSource(&'static str),
    #[error("source operator `{op}`: {error}")]
    Planted {
        op: &'static str,
        #[source]
        error: SourceMutantError,
    },
    #[error("--repo / --golden set what a live run drives; with --observations nothing is driven")]
    FixturesWithObservations,
    #[error(transparent)]
    Load(#[from] gate::LoadError),
    #[error("the run of `{name}` was incomplete: {errors}")]
    Incomplete { name: String, errors: String },
}

/// One implementation to drive, with what its manifest adds.
pub struct Target {
    pub sut: Box<dyn Sut>,
    pub source_dir: Option<PathBuf>,
    pub expected_failures: Option<PathBuf>,
}

#[cfg(feature = "reference")]
// Same signature as the build without the adapter, which can only fail.
#[allow(clippy::unnecessary_wraps)]
fn reference_sut() -> Result<Box<dyn Sut>, SessionError> {
    Ok(Box::new(crate::sut::reference::ReferenceSut::new(
        workspace_root(),
    )))
}

#[cfg(not(feature = "reference"))]
fn reference_sut() -> Result<Box<dyn Sut>, SessionError> {
    Err(SessionError::NoReference)
}

/// The reference (in-process) when `reference`, else the process of the
/// manifest at `manifest`, its start-up deadline `timeout` when given.
pub fn target(
    reference: bool,
    manifest: Option<&Path>,
    timeout: Option<Duration>,
) -> Result<Target, SessionError> {
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
        return Err(SessionError::NoTarget);
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

/// The built-in model's vectors for the harness's embeddings server
/// (`--embedder local`).
#[cfg(feature = "reference")]
pub fn local_vectors(dir: Option<PathBuf>) -> Result<Arc<dyn VectorSource>, SessionError> {
    let model = crate::sut::reference::LocalVectors::load(dir).map_err(SessionError::LocalModel)?;
    Ok(Arc::new(model))
}

/// The built-in model's vectors: not in a build without the reference.
#[cfg(not(feature = "reference"))]
pub fn local_vectors(_dir: Option<PathBuf>) -> Result<Arc<dyn VectorSource>, SessionError> {
    Err(SessionError::LocalNeedsReference)
}

/// What the SUT indexes and is asked (`--repo` / `--golden`); `None`: the
/// sample repository and golden queries built into the binary.
#[derive(Debug, Clone, Default)]
pub struct Fixtures {
    pub repo: Option<PathBuf>,
    pub golden: Option<PathBuf>,
}

impl Fixtures {
    /// Where a drive's repository and golden queries come from, in one line.
    pub fn note(&self) -> String {
        let repo = self.repo.as_ref().map_or_else(
            || "the sample repository built into this binary".to_owned(),
            |r| format!("repository {}", r.display()),
        );
        let golden = self.golden.as_ref().map_or_else(
            || "the golden queries built into this binary".to_owned(),
            |g| format!("golden queries {}", g.display()),
        );
        format!("fixtures: {repo}; {golden}")
    }
}

/// A drive's settings, with the fixtures it needs on disk (the embedded
/// defaults live in a temp folder as long as the returned guard).
pub fn drive_config(
    timeout: Option<Duration>,
    mcp_suite: Option<&Path>,
    fixtures: &Fixtures,
) -> Result<(DriveConfig, Option<Materialised>), SessionError> {
    let mut cfg = DriveConfig::new(&workspace_root());
    cfg.mcp_suite = crate::mcp_suite::locate(mcp_suite)?;
    let guard = apply_fixtures(&mut cfg, fixtures)?;
    let cfg = match timeout {
        Some(t) => cfg.with_timeout(t),
        None => cfg,
    };
    Ok((cfg, guard))
}

/// Points `cfg` at the fixtures, writing the built-in ones to a temp folder
/// when `fixtures` leaves one out (kept as long as the returned guard).
pub fn apply_fixtures(
    cfg: &mut DriveConfig,
    fixtures: &Fixtures,
) -> Result<Option<Materialised>, SessionError> {
    if let Some(repo) = &fixtures.repo
        && !repo.is_dir()
    {
        return Err(SessionError::RepoNotADir(repo.clone()));
    }
    if let Some(golden) = &fixtures.golden {
        crate::drive::load_golden(golden).map_err(SessionError::Golden)?;
    }
    let embedded = if fixtures.repo.is_none() || fixtures.golden.is_none() {
        Some(crate::fixtures::materialise().map_err(SessionError::Fixtures)?)
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
pub async fn judge(
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
                .unwrap_or_else(|e| LintOutcome {
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

/// A copy of the target's source with `plant` planted, for source operator
/// `op` (the lint then judges the copy).
pub fn planted_source(
    op: Operator,
    plant: Plant,
    source: Option<&Path>,
) -> Result<tempfile::TempDir, SessionError> {
    let Some(source) = source else {
        return Err(SessionError::NoSource(op.name()));
    };
    crate::mutate::source::planted_copy(plant, source).map_err(|error| SessionError::Planted {
        op: op.name(),
        error,
    })
}

/// Where a gate command's telemetry comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The in-process reference server.
    Reference,
    /// A process started from this manifest.
    Manifest(PathBuf),
    /// Observations saved by `run --save-observations` (no run).
    Observations(PathBuf),
}

/// Observations from saved JSON, or from a live run (the official MCP suite
/// is not run: the gate judges the scenario's telemetry only).
pub async fn observe_source(
    source: &Source,
    fixtures: &Fixtures,
    timeout: Option<Duration>,
) -> Result<Observations, SessionError> {
    let manifest = match source {
        Source::Observations(path) => {
            if fixtures.repo.is_some() || fixtures.golden.is_some() {
                return Err(SessionError::FixturesWithObservations);
            }
            return Ok(gate::load_observations(path)?);
        }
        Source::Reference => None,
        Source::Manifest(path) => Some(path.as_path()),
    };
    let mut target = target(manifest.is_none(), manifest, timeout)?;
    let mut cfg = DriveConfig::new(&workspace_root());
    // The sample repository and golden queries built into the binary unless
    // --repo / --golden name others; the guard keeps them until the drive ends.
    let _fixtures = apply_fixtures(&mut cfg, fixtures)?;
    eprintln!("codeintel-conformance: {}", fixtures.note());
    if let Some(t) = timeout {
        cfg = cfg.with_timeout(t);
    }
    let name = target.sut.info().name;
    eprintln!("codeintel-conformance: driving `{name}` for its telemetry …");
    let obs = drive(target.sut.as_mut(), &cfg).await;
    if !obs.harness_errors.is_empty() {
        return Err(SessionError::Incomplete {
            name,
            errors: obs.harness_errors.join("; "),
        });
    }
    Ok(obs)
}

/// What became of the official MCP suite, in one line.
pub fn mcp_suite_line(obs: &Observations) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_are_checked_before_any_drive() {
        let mut cfg = DriveConfig::new(&workspace_root());
        let err = apply_fixtures(
            &mut cfg,
            &Fixtures {
                repo: Some(PathBuf::from("/nonexistent/repo")),
                golden: None,
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "--repo /nonexistent/repo: not a directory");
        let err = apply_fixtures(
            &mut cfg,
            &Fixtures {
                repo: None,
                golden: Some(PathBuf::from("/nonexistent/golden.toml")),
            },
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("--golden: "), "{err}");
        let guard = apply_fixtures(&mut cfg, &Fixtures::default()).unwrap();
        assert!(guard.is_some() && cfg.repo.is_dir() && cfg.golden.is_file());
    }

    #[test]
    fn a_target_needs_a_sut() {
        assert!(matches!(
            target(false, None, None),
            Err(SessionError::NoTarget)
        ));
        let err = target(false, Some(Path::new("/nonexistent/sut.toml")), None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/sut.toml"), "{err}");
    }
}
