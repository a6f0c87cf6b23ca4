//! The telemetry regression gate: snapshot what a run emitted, diff it
//! against a committed baseline, and live-check it against a registry of the
//! service's conventions in OpenTelemetry Weaver's `definition/2` syntax.
//!
//! - [`snapshot`]: `&Observations → Snapshot`, sorted and stable.
//! - [`diff`]: `(baseline, current, config) → DiffReport`, each change
//!   breaking / risky / additive, renames detected, accepted changes with
//!   reasons, stale acceptances failing.
//! - [`render`]: the diff as terminal text, Markdown, JSON, JUnit, SARIF.
//! - [`registry`] and [`live_check`]: the registry's model and the check of
//!   observations against it, with Weaver's finding ids and levels and a
//!   coverage figure.
//! - [`run`]: all of the above on a run just made (`run --baseline`,
//!   `--snapshot-out`, `--registry`).
//!
//! Everything here is pure except [`load_snapshot`] and
//! [`load_observations`], which read a file, and [`run`], which reads and
//! writes the files it is given.

pub mod diff;
pub mod live_check;
pub mod registry;
pub mod render;
pub mod run;
pub mod snapshot;

use std::path::{Path, PathBuf};

use crate::observe::Observations;
use snapshot::Snapshot;

/// Why a snapshot or observations file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is neither a telemetry snapshot (`format: {format}`) nor observations saved by \
         `run --save-observations`: {message}"
    )]
    Parse {
        path: PathBuf,
        format: &'static str,
        message: String,
    },
    #[error("{path} is a snapshot of format `{found}`; this build reads `{expected}`")]
    Format {
        path: PathBuf,
        found: String,
        expected: &'static str,
    },
}

/// Reads observations saved by `run --save-observations FILE`.
pub fn load_observations(path: &Path) -> Result<Observations, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| LoadError::Parse {
        path: path.to_owned(),
        format: snapshot::FORMAT,
        message: e.to_string(),
    })
}

/// Reads a snapshot, or observations (then snapshots them): a diff can take
/// either on each side.
pub fn load_snapshot(path: &Path) -> Result<Snapshot, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| LoadError::Parse {
        path: path.to_owned(),
        format: snapshot::FORMAT,
        message: e.to_string(),
    })?;
    let parse_error = |e: serde_json::Error| LoadError::Parse {
        path: path.to_owned(),
        format: snapshot::FORMAT,
        message: e.to_string(),
    };
    match value.get("format").and_then(serde_json::Value::as_str) {
        Some(snapshot::FORMAT) => serde_json::from_value(value).map_err(parse_error),
        Some(other) => Err(LoadError::Format {
            path: path.to_owned(),
            found: other.to_owned(),
            expected: snapshot::FORMAT,
        }),
        None => {
            let obs: Observations = serde_json::from_value(value).map_err(parse_error)?;
            Ok(snapshot::snapshot(&obs))
        }
    }
}
