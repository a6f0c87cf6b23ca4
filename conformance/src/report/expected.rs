//! Expected failures (`--expected-failures FILE.toml`):
//!
//! ```toml
//! [expected]
//! "MET-010" = "labels carry the repository name; fixed in #42"
//! ```
//!
//! A listed requirement that fails is reported `xfail` and does not fail the
//! run; one that passes is reported `stale` and fails the run, so the list
//! shrinks as implementations improve (as the official MCP conformance suite
//! does).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::catalog;
use crate::checks::{CheckResult, Outcome};

/// Requirement id → why it is expected to fail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedFailures {
    entries: BTreeMap<String, String>,
}

/// Why an expected-failures file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExpectedFailuresError {
    #[error("cannot read expected failures {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "expected failures {path} is not valid: {message} (write `[expected]` then `\"MET-010\" = \
         \"reason\"` lines)"
    )]
    Parse { path: PathBuf, message: String },
    #[error(
        "expected failures {path} lists `{id}`, which is not a requirement of catalog {version} \
         (see `codeintel-conformance list`)"
    )]
    UnknownId {
        path: PathBuf,
        id: String,
        version: &'static str,
    },
    #[error("expected failures {path}: `{id}` has an empty reason; say why it is expected to fail")]
    EmptyReason { path: PathBuf, id: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    expected: BTreeMap<String, String>,
}

impl ExpectedFailures {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ExpectedFailuresError> {
        let text = std::fs::read_to_string(path).map_err(|source| ExpectedFailuresError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates TOML text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ExpectedFailuresError> {
        let file: File = toml::from_str(text).map_err(|e| ExpectedFailuresError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        let mut entries = BTreeMap::new();
        for (id, reason) in file.expected {
            let Some(req) = catalog::find(&id) else {
                return Err(ExpectedFailuresError::UnknownId {
                    path: path.to_owned(),
                    id,
                    version: catalog::VERSION,
                });
            };
            if reason.trim().is_empty() {
                return Err(ExpectedFailuresError::EmptyReason {
                    path: path.to_owned(),
                    id,
                });
            }
            entries.insert(req.id.to_owned(), reason);
        }
        Ok(Self { entries })
    }

    /// The reason `id` is expected to fail, if listed.
    pub fn reason(&self, id: &str) -> Option<&str> {
        self.entries.get(id).map(String::as_str)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Marks listed results: a problem becomes `xfail`, a pass `stale`;
    /// skips stay skips (nothing was judged).
    pub fn apply(&self, results: &mut [CheckResult]) {
        for r in results {
            let Some(reason) = self.entries.get(&r.id) else {
                continue;
            };
            match r.outcome {
                Outcome::Fail | Outcome::Warn | Outcome::Error => {
                    r.message = format!(
                        "expected failure ({reason}); was {}: {}",
                        r.outcome, r.message
                    );
                    r.outcome = Outcome::ExpectedFail;
                }
                Outcome::Pass => {
                    r.message = format!(
                        "listed as an expected failure ({reason}) but passed: remove the entry \
                         from the expected-failures file; {}",
                        r.message
                    );
                    r.outcome = Outcome::Stale;
                }
                Outcome::Skip | Outcome::ExpectedFail | Outcome::Stale => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("xf.toml")
    }

    #[test]
    fn parses_validates_and_applies() {
        let xf = ExpectedFailures::parse(
            "[expected]\n\"MET-010\" = \"unbounded labels\"\n\"met-002\" = \"wrong buckets\"\n",
            p(),
        )
        .unwrap();
        assert_eq!(xf.len(), 2);
        assert_eq!(
            xf.reason("MET-002"),
            Some("wrong buckets"),
            "ids are normalised"
        );
        let mut results = vec![
            CheckResult::fail("MET-010", "grew"),
            CheckResult::pass("MET-002", "fine"),
            CheckResult::fail("MET-003", "broken"),
        ];
        xf.apply(&mut results);
        assert_eq!(results[0].outcome, Outcome::ExpectedFail);
        assert!(
            results[0]
                .message
                .starts_with("expected failure (unbounded labels); was WARN: grew")
        );
        assert_eq!(results[1].outcome, Outcome::Stale);
        assert!(results[1].message.contains("remove the entry"));
        assert_eq!(
            results[2].outcome,
            Outcome::Fail,
            "unlisted results are untouched"
        );
    }

    #[test]
    fn refuses_unknown_ids_empty_reasons_and_bad_toml() {
        let e = ExpectedFailures::parse("[expected]\n\"MET-999\" = \"x\"\n", p()).unwrap_err();
        assert!(
            e.to_string()
                .contains("`MET-999`, which is not a requirement"),
            "{e}"
        );
        let e = ExpectedFailures::parse("[expected]\n\"MET-001\" = \" \"\n", p()).unwrap_err();
        assert!(
            matches!(e, ExpectedFailuresError::EmptyReason { .. }),
            "{e}"
        );
        let e = ExpectedFailures::parse("expected = 3\n", p()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("expected failures xf.toml is not valid"),
            "{e}"
        );
        let e = ExpectedFailures::parse("[expectd]\n", p()).unwrap_err();
        assert!(matches!(e, ExpectedFailuresError::Parse { .. }), "{e}");
        assert!(ExpectedFailures::parse("", p()).unwrap().is_empty());
    }
}
