//! Reports: a terminal table, JSON, JUnit XML and Markdown of one run; the
//! matrix of several ([`matrix`]); the process's exit code ([`Exit`]);
//! expected failures.
//!
//! Every renderer is a pure function from results (and a [`Context`]) to a
//! string; writing files and choosing colour is the caller's job. Every JUnit
//! document (a run's, the matrix's, the telemetry gate's) is written by
//! [`junit::JunitWriter`].

pub mod expected;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod matrix;
pub mod table;

use std::fmt;

use serde::Serialize;

pub use expected::{ExpectedFailures, ExpectedFailuresError};

use crate::catalog::Level;
use crate::checks::{CheckResult, Outcome};
use crate::observe::{DeadlineExceeded, Observations, PhaseTiming};

/// What a report says besides the results.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// The implementation judged (`reference`, a manifest's name).
    pub sut: &'a str,
    /// `--strict`: SHOULD failures, SHOULD errors and skipped MUSTs fail the
    /// run (the same as `--fail-on skip,warn,error`).
    pub strict: bool,
    /// `--fail-on KIND,…`: outcome kinds that fail the run besides `fail`,
    /// `stale` and a MUST's `error` (joined with `strict`).
    pub fail_on: FailOn,
    /// Wall time per phase, when known.
    pub phases: &'a [PhaseTiming],
    /// What the harness could not do (the run exits 2 when there is any).
    pub harness_errors: &'a [String],
    /// What the harness noticed while starting the SUT, and why it did not
    /// become ready.
    pub startup_notes: &'a [String],
    pub startup_error: Option<&'a str>,
    /// Malformed payloads the harness's peers refused.
    pub peer_errors: &'a [String],
    /// The process's exit code when the caller knows more than the results
    /// (harness errors, the telemetry gate); reports then state it.
    pub exit_code: Option<Exit>,
}

/// The process's exit code: what the README, `REQUIREMENTS.md` and the JSON
/// report's `exit_code` (serialised as its number) state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exit {
    /// 0: every MUST holds (with `--strict`, every SHOULD too, and no MUST
    /// was skipped); for `diff` and `live-check`, the gate passes.
    #[default]
    Pass = 0,
    /// 1: some requirement fails (or the gate, or an expectation file, finds
    /// a difference).
    Fail = 1,
    /// 2: the harness itself failed (bad arguments or manifest, peers that
    /// could not start, missing fixtures, unwritable report files).
    Harness = 2,
    /// 3: the overall run deadline (`--deadline`) expired; the verdicts
    /// printed judge the part of the run that was made.
    Deadline = 3,
}

impl Exit {
    /// The number the process exits with.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// [`Self::Fail`] when `failed`, else [`Self::Pass`].
    pub const fn failed_if(failed: bool) -> Self {
        if failed { Self::Fail } else { Self::Pass }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

impl Serialize for Exit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

impl Context<'_> {
    /// The run's exit code: the caller's, else the one the results give.
    pub fn exit_code(&self, results: &[CheckResult]) -> Exit {
        self.exit_code
            .unwrap_or_else(|| exit_code_on(results, self.effective_fail_on()))
    }

    /// What fails the run besides `fail`, `stale` and a MUST's `error`:
    /// `--fail-on`, joined with everything when `--strict`.
    pub fn effective_fail_on(&self) -> FailOn {
        self.fail_on.union(FailOn::strict(self.strict))
    }
}

/// Outcome kinds that fail a run besides `fail`, `stale` and a MUST's
/// `error` (`--fail-on skip,warn,error`):
///
/// - `skip`: a skipped MUST (a skipped SHOULD never fails a run);
/// - `warn`: a SHOULD that failed;
/// - `error`: a SHOULD the harness could not judge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailOn {
    pub skip: bool,
    pub warn: bool,
    pub error: bool,
}

impl FailOn {
    /// Every kind: what `--strict` means.
    pub const STRICT: Self = Self {
        skip: true,
        warn: true,
        error: true,
    };

    /// The kinds `--fail-on` takes.
    pub const KINDS: [&'static str; 3] = ["skip", "warn", "error"];

    /// [`Self::STRICT`] when `strict`, else nothing.
    pub const fn strict(strict: bool) -> Self {
        if strict {
            Self::STRICT
        } else {
            Self {
                skip: false,
                warn: false,
                error: false,
            }
        }
    }

    /// Parses a comma-separated list of kinds (`skip,warn`); an unknown or
    /// empty kind is an error naming it and the kinds known.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut out = Self::default();
        for kind in list.split(',').map(str::trim) {
            match kind {
                "skip" => out.skip = true,
                "warn" => out.warn = true,
                "error" => out.error = true,
                _ => {
                    return Err(format!(
                        "`{kind}` is not an outcome kind --fail-on takes (known: {}; `fail` always fails a run)",
                        Self::KINDS.join(", ")
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Both sets of kinds.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self {
            skip: self.skip || other.skip,
            warn: self.warn || other.warn,
            error: self.error || other.error,
        }
    }

    /// The kinds set, in [`Self::KINDS`] order.
    pub fn kinds(self) -> Vec<&'static str> {
        Self::KINDS
            .into_iter()
            .zip([self.skip, self.warn, self.error])
            .filter_map(|(k, on)| on.then_some(k))
            .collect()
    }
}

/// Counts of each outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub warned: usize,
    pub skipped: usize,
    pub errors: usize,
    pub expected_failures: usize,
    pub stale: usize,
}

impl Summary {
    /// Counts the outcomes of `results`.
    pub fn of(results: &[CheckResult]) -> Self {
        let mut s = Self::default();
        for r in results {
            match r.outcome {
                Outcome::Pass => s.passed += 1,
                Outcome::Fail => s.failed += 1,
                Outcome::Warn => s.warned += 1,
                Outcome::Skip => s.skipped += 1,
                Outcome::Error => s.errors += 1,
                Outcome::ExpectedFail => s.expected_failures += 1,
                Outcome::Stale => s.stale += 1,
            }
        }
        s
    }

    /// Total results counted.
    pub fn total(&self) -> usize {
        self.passed
            + self.failed
            + self.warned
            + self.skipped
            + self.errors
            + self.expected_failures
            + self.stale
    }
}

/// `N passed, N failed, N warned, N skipped, N errors`, then expected and
/// stale counts when there are any.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} warned, {} skipped, {} errors",
            self.passed, self.failed, self.warned, self.skipped, self.errors
        )?;
        if self.expected_failures > 0 {
            write!(f, ", {} expected failures", self.expected_failures)?;
        }
        if self.stale > 0 {
            write!(f, ", {} stale expected failures", self.stale)?;
        }
        Ok(())
    }
}

/// Whether `r` fails the run.
pub fn fails_run(r: &CheckResult, strict: bool) -> bool {
    fails_run_on(r, FailOn::strict(strict))
}

/// Whether `r` fails a run that also fails on the kinds of `fail_on`.
pub fn fails_run_on(r: &CheckResult, fail_on: FailOn) -> bool {
    match r.outcome {
        Outcome::Fail | Outcome::Stale => true,
        // A MUST the harness could not judge is not shown to hold.
        Outcome::Error => r.level == Level::Must || fail_on.error,
        Outcome::Warn => fail_on.warn,
        // A MUST that was not judged is not shown to hold: strict runs fail.
        Outcome::Skip => fail_on.skip && r.level == Level::Must,
        Outcome::Pass | Outcome::ExpectedFail => false,
    }
}

/// The run's exit code: [`Exit::Pass`] when every MUST holds (and, with
/// `strict`, every SHOULD, and no MUST was skipped), [`Exit::Fail`]
/// otherwise. ([`Exit::Harness`] and [`Exit::Deadline`] are decided by the
/// runner, which knows more than the results.)
pub fn exit_code(results: &[CheckResult], strict: bool) -> Exit {
    exit_code_on(results, FailOn::strict(strict))
}

/// The run's exit code when it also fails on the kinds of `fail_on`.
pub fn exit_code_on(results: &[CheckResult], fail_on: FailOn) -> Exit {
    Exit::failed_if(results.iter().any(|r| fails_run_on(r, fail_on)))
}

/// Text safe for one table cell or XML attribute: no control characters,
/// newlines folded to spaces.
pub(crate) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// An evidence line safe for a table or XML text: control characters
/// become spaces; leading indentation (span trees) is kept.
pub(crate) fn evidence_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim_end()
        .to_owned()
}

/// The deadline outcome, in one line.
pub fn deadline_line(d: &DeadlineExceeded) -> String {
    format!(
        "deadline exceeded: the run was cut after {} s (--deadline){}; the verdicts above judge a partial run",
        d.deadline_secs,
        d.after_phase
            .as_deref()
            .map(|p| format!(", in the phase after `{p}`"))
            .unwrap_or_default()
    )
}

/// The harness's own problems with a run (its errors, a deadline cut), in
/// one line; `None` when the run was whole.
pub fn problems(obs: &Observations, extra: Option<String>) -> Option<String> {
    let mut problems = obs.harness_errors.clone();
    problems.extend(extra);
    if let Some(d) = &obs.deadline_exceeded {
        problems.push(deadline_line(d));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, outcome: Outcome) -> CheckResult {
        let mut r = CheckResult::pass(id, "m");
        r.outcome = outcome;
        r
    }

    #[test]
    fn summary_keeps_the_n_passed_n_failed_shape() {
        let rs = [
            result("MET-001", Outcome::Pass),
            result("MET-002", Outcome::Fail),
            result("MET-010", Outcome::Warn),
            result("LNT-001", Outcome::Skip),
            result("MET-003", Outcome::Error),
        ];
        assert_eq!(
            Summary::of(&rs).to_string(),
            "1 passed, 1 failed, 1 warned, 1 skipped, 1 errors"
        );
        let rs = [
            result("MET-001", Outcome::ExpectedFail),
            result("MET-002", Outcome::Stale),
        ];
        assert_eq!(
            Summary::of(&rs).to_string(),
            "0 passed, 0 failed, 0 warned, 0 skipped, 0 errors, 1 expected failures, 1 stale \
             expected failures"
        );
    }

    #[test]
    fn fail_on_fails_exactly_the_kinds_listed() {
        let skipped_must = result("LNT-001", Outcome::Skip);
        let skipped_should = result("LNT-003", Outcome::Skip);
        let warned = result("MET-010", Outcome::Warn);
        let should_error = result("MET-010", Outcome::Error);
        let all = [
            skipped_must.clone(),
            skipped_should.clone(),
            warned.clone(),
            should_error.clone(),
        ];
        let on = |list: &str| FailOn::parse(list).unwrap();
        assert_eq!(exit_code_on(&all, FailOn::default()), Exit::Pass);
        assert_eq!(
            exit_code_on(std::slice::from_ref(&skipped_must), on("skip")),
            Exit::Fail
        );
        assert_eq!(
            exit_code_on(std::slice::from_ref(&warned), on("skip")),
            Exit::Pass
        );
        assert_eq!(
            exit_code_on(std::slice::from_ref(&should_error), on("skip")),
            Exit::Pass
        );
        assert_eq!(
            exit_code_on(std::slice::from_ref(&skipped_should), on("skip,warn,error")),
            Exit::Pass,
            "a skipped SHOULD never fails a run"
        );
        assert_eq!(
            exit_code_on(std::slice::from_ref(&warned), on("warn")),
            Exit::Fail
        );
        assert_eq!(
            exit_code_on(std::slice::from_ref(&skipped_must), on("warn")),
            Exit::Pass
        );
        assert_eq!(
            exit_code_on(std::slice::from_ref(&should_error), on("error")),
            Exit::Fail
        );
        assert_eq!(on(" warn , skip").kinds(), ["skip", "warn"]);
        assert_eq!(FailOn::STRICT, on("skip,warn,error"));
        // --strict is --fail-on skip,warn,error, joined with any --fail-on.
        let ctx = Context {
            strict: true,
            ..Context::default()
        };
        assert_eq!(ctx.effective_fail_on(), FailOn::STRICT);
        let ctx = Context {
            fail_on: on("skip"),
            ..Context::default()
        };
        assert_eq!(
            ctx.exit_code(std::slice::from_ref(&skipped_must)),
            Exit::Fail
        );
        assert_eq!(ctx.exit_code(std::slice::from_ref(&warned)), Exit::Pass);
        for bad in ["fail", "skip,", "skipped", ""] {
            let err = FailOn::parse(bad).unwrap_err();
            assert!(
                err.contains("is not an outcome kind") && err.contains("skip, warn, error"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn exit_code_fails_on_must_failures_errors_stale_and_strict_warnings() {
        let pass = result("MET-001", Outcome::Pass);
        assert_eq!(exit_code(std::slice::from_ref(&pass), false), Exit::Pass);
        assert_eq!(
            exit_code(&[pass.clone(), result("MET-002", Outcome::Fail)], false),
            Exit::Fail
        );
        assert_eq!(
            exit_code(&[result("MET-010", Outcome::Warn)], false),
            Exit::Pass
        );
        assert_eq!(
            exit_code(&[result("MET-010", Outcome::Warn)], true),
            Exit::Fail
        );
        assert_eq!(
            exit_code(&[result("MET-003", Outcome::Error)], false),
            Exit::Fail,
            "MUST error"
        );
        assert_eq!(
            exit_code(&[result("MET-010", Outcome::Error)], false),
            Exit::Pass,
            "SHOULD error"
        );
        assert_eq!(
            exit_code(&[result("MET-010", Outcome::Error)], true),
            Exit::Fail
        );
        assert_eq!(
            exit_code(&[result("LNT-001", Outcome::Skip)], false),
            Exit::Pass
        );
        assert_eq!(
            exit_code(&[result("LNT-001", Outcome::Skip)], true),
            Exit::Fail,
            "strict: a skipped MUST is not shown to hold"
        );
        assert_eq!(
            exit_code(&[result("LNT-003", Outcome::Skip)], true),
            Exit::Pass
        );
        assert_eq!(
            exit_code(&[result("MET-002", Outcome::ExpectedFail)], true),
            Exit::Pass
        );
        assert_eq!(
            exit_code(&[result("MET-002", Outcome::Stale)], false),
            Exit::Fail
        );
    }

    #[test]
    fn one_line_strips_control_characters() {
        assert_eq!(one_line("a\nb\u{1b}[31m "), "a b [31m");
        assert_eq!(evidence_line("  child\t "), "  child");
    }

    #[test]
    fn problems_join_harness_errors_and_the_deadline() {
        let mut obs = Observations::default();
        assert_eq!(problems(&obs, None), None);
        obs.harness_errors.push("peer down".into());
        obs.deadline_exceeded = Some(DeadlineExceeded {
            deadline_secs: 5,
            after_phase: Some("start".into()),
        });
        let p = problems(&obs, Some("no source".into())).unwrap();
        assert!(
            p.starts_with("peer down; no source; deadline exceeded: the run was cut after 5 s"),
            "{p}"
        );
        assert!(p.contains("in the phase after `start`"), "{p}");
    }
}
