//! The gate's config (`--config FILE.toml`): what fails, thresholds, severity
//! overrides and accepted changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ChangeKind, Severity};

/// What fails the gate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailOn {
    /// Breaking changes (the default).
    #[default]
    Breaking,
    /// Breaking and risky changes.
    Risky,
    /// Any change at all.
    Additive,
    /// Nothing (report only); stale accepted changes still fail.
    Never,
}

impl FailOn {
    pub(super) fn fails(self, s: Severity) -> bool {
        match self {
            Self::Breaking => s >= Severity::Breaking,
            Self::Risky => s >= Severity::Risky,
            Self::Additive => true,
            Self::Never => false,
        }
    }
}

/// Thresholds of the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Series count up by more than this percentage is risky.
    pub series_growth_percent: f64,
    /// … and by at least this many series (small families may double
    /// harmlessly).
    pub series_growth_min: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            series_growth_percent: 50.0,
            series_growth_min: 5,
        }
    }
}

/// The gate's config (`--config FILE.toml`):
///
/// ```toml
/// fail_on = "breaking"            # breaking | risky | additive | never
/// [thresholds]
/// series_growth_percent = 50.0
/// series_growth_min = 5
/// [severity]                      # override a kind's default
/// log_removed = "breaking"
/// [accept]                        # key (as reported) = reason; `*` at the end matches a prefix
/// "metric_buckets_changed:codeintel_embed_latency_seconds" = "new SLO buckets, see #31"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiffConfig {
    pub fail_on: FailOn,
    pub thresholds: Thresholds,
    pub severity: BTreeMap<String, Severity>,
    pub accept: BTreeMap<String, String>,
}

/// Why a config was refused.
#[derive(Debug, thiserror::Error)]
pub enum DiffConfigError {
    #[error("cannot read the gate config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the gate config {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(
        "the gate config {path} sets the severity of `{kind}`, which is not a change kind \
         (see `codeintel-conformance diff --help`)"
    )]
    UnknownKind { path: PathBuf, kind: String },
    #[error("the gate config {path} accepts `{key}` with an empty reason; say why it is accepted")]
    EmptyReason { path: PathBuf, key: String },
}

impl DiffConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, DiffConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| DiffConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses TOML; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, DiffConfigError> {
        let cfg: Self = toml::from_str(text).map_err(|e| DiffConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        if let Some(kind) = cfg
            .severity
            .keys()
            .find(|k| !ChangeKind::ALL.iter().any(|c| c.as_str() == k.as_str()))
        {
            return Err(DiffConfigError::UnknownKind {
                path: path.to_owned(),
                kind: kind.clone(),
            });
        }
        if let Some((key, _)) = cfg.accept.iter().find(|(_, r)| r.trim().is_empty()) {
            return Err(DiffConfigError::EmptyReason {
                path: path.to_owned(),
                key: key.clone(),
            });
        }
        Ok(cfg)
    }

    pub(super) fn severity_of(&self, kind: ChangeKind) -> Severity {
        self.severity
            .get(kind.as_str())
            .copied()
            .unwrap_or_else(|| kind.default_severity())
    }
}

pub(super) fn key_matches(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => pattern == key,
    }
}
