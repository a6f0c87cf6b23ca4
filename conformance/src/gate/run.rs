//! The telemetry gate on a run just made (`run --baseline`, `--snapshot-out`,
//! `--registry`): snapshot the run's observations, diff them against the
//! baseline, live-check them against a registry, and append both Markdown
//! summaries to the run's Markdown report. Unlike the rest of [`crate::gate`]
//! this reads and writes files and prints the terminal renderings to stderr.

use std::path::{Path, PathBuf};

use super::diff::{DiffConfig, DiffConfigError};
use super::registry::{Registry, RegistryError};
use super::{LoadError, live_check, load_snapshot, render, snapshot};
use crate::observe::Observations;
use crate::report::Exit;

/// What the gate is asked to do on a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunGate<'a> {
    /// Diff the run's snapshot against this baseline.
    pub baseline: Option<&'a Path>,
    /// The diff's config (TOML); the defaults without one.
    pub config: Option<&'a Path>,
    /// Rewrite the baseline with the run's snapshot (the diff then never
    /// fails the run).
    pub update_baseline: bool,
    /// Write the run's snapshot here.
    pub snapshot_out: Option<&'a Path>,
    /// Live-check the run against the registry in this folder.
    pub registry: Option<&'a Path>,
    /// Fail when less than this percentage of the registry was seen.
    pub fail_on_coverage_below: Option<f64>,
    /// The run's Markdown report, to append the gate's summaries to.
    pub markdown: Option<&'a Path>,
}

impl RunGate<'_> {
    /// Whether anything is asked at all.
    pub fn is_empty(&self) -> bool {
        self.baseline.is_none() && self.snapshot_out.is_none() && self.registry.is_none()
    }
}

/// Why the gate could not be run (the CLI exits 2).
#[derive(Debug, thiserror::Error)]
pub enum RunGateError {
    #[error("cannot write the {what} to {}: {source}", path.display())]
    Write {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] DiffConfigError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

fn write(path: &Path, text: &str, what: &'static str) -> Result<(), RunGateError> {
    std::fs::write(path, text).map_err(|source| RunGateError::Write {
        what,
        path: path.to_owned(),
        source,
    })
}

/// The gate config at `path`, or the defaults.
pub fn load_config(path: Option<&Path>) -> Result<DiffConfig, DiffConfigError> {
    Ok(match path {
        Some(p) => DiffConfig::load(p)?,
        None => DiffConfig::default(),
    })
}

/// Runs what `gate` asks on `obs`: [`Exit::Fail`] when the diff or the
/// live-check fails, else [`Exit::Pass`].
pub fn run_gate(gate: &RunGate<'_>, obs: &Observations) -> Result<Exit, RunGateError> {
    if gate.is_empty() {
        return Ok(Exit::Pass);
    }
    let snap = snapshot::snapshot(obs);
    let mut markdown = String::new();
    let mut exit = Exit::Pass;
    if let Some(path) = gate.snapshot_out {
        write(path, &snap.to_json(), "telemetry snapshot")?;
    }
    if let Some(baseline) = gate.baseline {
        let cfg = load_config(gate.config)?;
        let base = load_snapshot(baseline)?;
        let diff = super::diff::diff(
            &base,
            &snap,
            &cfg,
            &baseline.display().to_string(),
            &format!("this run of `{}`", obs.sut.name),
        );
        eprint!("{}", render::terminal(&diff));
        markdown.push_str(&render::markdown(&diff));
        if gate.update_baseline {
            write(baseline, &snap.to_json(), "baseline")?;
            eprintln!(
                "codeintel-conformance: baseline {} rewritten",
                baseline.display()
            );
        } else {
            exit = exit.max(Exit::failed_if(diff.failed));
        }
    }
    if let Some(dir) = gate.registry {
        let reg = Registry::load(dir)?;
        let r = live_check::live_check(&reg, obs, gate.fail_on_coverage_below);
        eprint!("{}", live_check::render(&r, false));
        markdown.push('\n');
        markdown.push_str(&live_check::render(&r, true));
        exit = exit.max(Exit::failed_if(r.failed()));
    }
    if let Some(path) = gate.markdown
        && !markdown.is_empty()
    {
        let mut text = std::fs::read_to_string(path).unwrap_or_default();
        text.push('\n');
        text.push_str(&markdown);
        write(path, &text, "Markdown report")?;
    }
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_asked_passes_without_touching_files() {
        assert_eq!(
            run_gate(&RunGate::default(), &Observations::default()).unwrap(),
            Exit::Pass
        );
    }

    #[test]
    fn writes_the_snapshot_and_names_a_missing_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("snap.json");
        let missing = dir.path().join("missing.json");
        let err = run_gate(
            &RunGate {
                snapshot_out: Some(out.as_path()),
                baseline: Some(missing.as_path()),
                ..RunGate::default()
            },
            &Observations::default(),
        )
        .unwrap_err();
        assert!(out.is_file(), "the snapshot is written before the diff");
        assert!(
            err.to_string().contains("missing.json"),
            "the error names the baseline: {err}"
        );
        let unwritable = dir.path().join("no/such/dir/snap.json");
        let err = run_gate(
            &RunGate {
                snapshot_out: Some(unwritable.as_path()),
                ..RunGate::default()
            },
            &Observations::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot write the telemetry snapshot to "),
            "{err}"
        );
    }
}
