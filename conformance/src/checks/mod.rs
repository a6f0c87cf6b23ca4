//! Checks: pure functions from [`Observations`] to one result per requirement.
//!
//! Every check is registered by id in [`registry`]; [`run_all`] runs them in
//! catalog order. A check never panics and never does I/O: what it cannot
//! judge is an [`Outcome::Error`] naming what was missing.

pub mod api;
pub mod logs;
pub mod mcp;
pub mod metrics;
pub mod run;
pub mod source;
pub mod traces;

use std::fmt;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::catalog::{self, Level};
use crate::observe::Observations;
/// Re-exported from the leaf [`crate::text`] (its home since the checks and
/// the MCP suite runner both use it).
pub(crate) use crate::text::excerpt;

/// What a check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    /// A MUST that failed.
    Fail,
    /// A SHOULD that failed.
    Warn,
    /// Nothing to judge (e.g. no `--source` for the lint), with why.
    Skip,
    /// The harness could not judge (e.g. no scrape answered).
    Error,
    /// Failed, as `--expected-failures` said it would.
    #[serde(rename = "xfail")]
    ExpectedFail,
    /// Listed in `--expected-failures` but passed: the entry is stale.
    Stale,
}

impl Outcome {
    /// Every outcome, in summary order.
    pub const ALL: [Self; 7] = [
        Self::Pass,
        Self::Fail,
        Self::Warn,
        Self::Skip,
        Self::Error,
        Self::ExpectedFail,
        Self::Stale,
    ];

    /// Upper-case word used in tables.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Warn => "WARN",
            Self::Skip => "SKIP",
            Self::Error => "ERROR",
            Self::ExpectedFail => "XFAIL",
            Self::Stale => "STALE",
        }
    }

    /// Whether the requirement was not met (fail, warn or error).
    pub const fn is_problem(self) -> bool {
        matches!(self, Self::Fail | Self::Warn | Self::Error)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of judging one requirement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub id: String,
    pub level: Level,
    pub outcome: Outcome,
    /// What was expected, what was seen, what to fix.
    pub message: String,
    /// What was observed: series, span trees, response excerpts.
    pub evidence: Vec<String>,
}

impl CheckResult {
    fn new(id: &str, outcome: Outcome, message: impl Into<String>) -> Self {
        Self {
            id: id.to_owned(),
            level: level_of(id),
            outcome,
            message: message.into(),
            evidence: Vec::new(),
        }
    }

    /// The requirement is met.
    pub fn pass(id: &str, message: impl Into<String>) -> Self {
        Self::new(id, Outcome::Pass, message)
    }

    /// The requirement is not met: `Fail` for a MUST, `Warn` for a SHOULD.
    pub fn fail(id: &str, message: impl Into<String>) -> Self {
        let outcome = match level_of(id) {
            Level::Must => Outcome::Fail,
            Level::Should => Outcome::Warn,
        };
        Self::new(id, outcome, message)
    }

    /// Nothing to judge.
    pub fn skip(id: &str, message: impl Into<String>) -> Self {
        Self::new(id, Outcome::Skip, message)
    }

    /// The harness could not judge.
    pub fn error(id: &str, message: impl Into<String>) -> Self {
        Self::new(id, Outcome::Error, message)
    }

    /// Adds evidence lines.
    #[must_use]
    pub fn with_evidence<I, S>(mut self, lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.evidence.extend(lines.into_iter().map(Into::into));
        self
    }

    /// The requirement's title from the catalog.
    pub fn title(&self) -> &'static str {
        catalog::find(&self.id).map_or("", |r| r.title)
    }

    /// The requirement's group from the catalog (`MET`, `TRC`, …).
    pub fn group(&self) -> &str {
        catalog::find(&self.id).map_or_else(|| self.id.get(..3).unwrap_or(""), |r| r.group)
    }
}

fn level_of(id: &str) -> Level {
    catalog::find(id).map_or(Level::Must, |r| r.level)
}

/// A check function.
pub type Check = fn(&Observations) -> CheckResult;

static REGISTRY: [(&str, Check); 37] = [
    ("MET-001", metrics::met_001),
    ("MET-002", metrics::met_002),
    ("MET-003", metrics::met_003),
    ("MET-004", metrics::met_004),
    ("MET-005", metrics::met_005),
    ("MET-006", metrics::met_006),
    ("MET-007", metrics::met_007),
    ("MET-008", metrics::met_008),
    ("MET-009", metrics::met_009),
    ("MET-010", metrics::met_010),
    ("MET-011", metrics::met_011),
    ("MET-012", metrics::met_012),
    ("TRC-001", traces::trc_001),
    ("TRC-002", traces::trc_002),
    ("TRC-003", traces::trc_003),
    ("TRC-004", traces::trc_004),
    ("TRC-005", traces::trc_005),
    ("TRC-006", traces::trc_006),
    ("TRC-007", traces::trc_007),
    ("TRC-008", traces::trc_008),
    ("TRC-009", traces::trc_009),
    ("LOG-001", logs::log_001),
    ("API-001", api::api_001),
    ("API-002", api::api_002),
    ("API-003", api::api_003),
    ("API-004", api::api_004),
    ("RUN-001", run::run_001),
    ("RUN-002", run::run_002),
    ("LNT-001", source::lnt_001),
    ("LNT-002", source::lnt_002),
    ("LNT-003", source::lnt_003),
    ("MCP-001", mcp::mcp_001),
    ("MCP-002", mcp::mcp_002),
    ("MCP-003", mcp::mcp_003),
    ("MCP-004", mcp::mcp_004),
    ("MCP-005", mcp::mcp_005),
    ("MCP-006", mcp::mcp_006),
];

/// Every check, by requirement id.
pub fn registry() -> &'static [(&'static str, Check)] {
    &REGISTRY
}

/// Runs the check of requirement `id`, if there is one.
pub fn run_one(id: &str, obs: &Observations) -> Option<CheckResult> {
    let req = catalog::find(id)?;
    let (_, check) = REGISTRY.iter().find(|(rid, _)| *rid == req.id)?;
    Some(annotate(obs, check(obs)))
}

/// Runs every check, in catalog order. A requirement without a check is an
/// `error` (a bug of the suite, caught by its tests).
pub fn run_all(obs: &Observations) -> Vec<CheckResult> {
    catalog::all()
        .iter()
        .map(|req| {
            run_one(req.id, obs).unwrap_or_else(|| {
                CheckResult::error(req.id, "the suite has no check for this requirement")
            })
        })
        .collect()
}

/// Adds the likely cause to unmet requirements: the SUT never became ready,
/// or (for what the harness could not judge) the harness's own first error.
fn annotate(obs: &Observations, mut result: CheckResult) -> CheckResult {
    if result.outcome.is_problem()
        && !obs.startup.ready
        && let Some(why) = &obs.startup.error
    {
        let _ = write!(result.message, " (the SUT did not become ready: {why})");
    }
    if result.outcome == Outcome::Error
        && let Some(first) = obs.harness_errors.first()
    {
        let more = match obs.harness_errors.len() {
            1 => String::new(),
            n => format!(", and {} more", n - 1),
        };
        let _ = write!(result.message, " (harness: {}{more})", excerpt(first, 200));
    }
    result
}

// ---------------------------------------------------------------------------
// Helpers shared by the checks.

/// Minimum length of a query text looked for in attributes and labels.
pub(crate) const MIN_QUERY_LEN: usize = 8;

/// Query texts the harness sent: `query` of HTTP request bodies and of MCP
/// arguments, 8 characters or more, deduplicated, longest first (so a match
/// names the whole text, not a shorter query it contains).
pub(crate) fn query_texts(obs: &Observations) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |q: &str| {
        if q.chars().count() >= MIN_QUERY_LEN && !out.iter().any(|o| o == q) {
            out.push(q.to_owned());
        }
    };
    for h in &obs.http {
        if let Some(body) = &h.request_body
            && let Ok(v) = serde_json::from_str::<Value>(body)
            && let Some(q) = v.get("query").and_then(Value::as_str)
        {
            push(q);
        }
    }
    for m in &obs.mcp {
        if let Some(q) = m
            .arguments
            .as_ref()
            .and_then(|a| a.get("query"))
            .and_then(Value::as_str)
        {
            push(q);
        }
    }
    out.sort_by_key(|q| std::cmp::Reverse(q.chars().count()));
    out
}

/// A number without a useless `.0` (`8`, `0.25`).
pub(crate) fn num(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Lines of `items`, at most `max`, then `… N more`.
pub(crate) fn capped<I: IntoIterator<Item = String>>(items: I, max: usize) -> Vec<String> {
    let all: Vec<String> = items.into_iter().collect();
    let total = all.len();
    let mut out: Vec<String> = all.into_iter().take(max).collect();
    if total > max {
        out.push(format!("… {} more", total - max));
    }
    out
}

/// The JSON a tool result carries: `structuredContent`, else the first text
/// content that parses as JSON.
pub(crate) fn tool_result_json(result: &Value) -> Option<Value> {
    if let Some(s) = result.get("structuredContent")
        && !s.is_null()
    {
        return Some(s.clone());
    }
    tool_result_texts(result)
        .into_iter()
        .find_map(|t| serde_json::from_str::<Value>(&t).ok())
}

/// The texts of a tool result's `content` items.
pub(crate) fn tool_result_texts(result: &Value) -> Vec<String> {
    result
        .get("content")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("text").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The `findings` array of a search answer (or the answer itself when it is
/// an array; `results` is accepted as an alias).
pub(crate) fn findings_of(v: &Value) -> Option<&Vec<Value>> {
    if let Some(a) = v.as_array() {
        return Some(a);
    }
    v.get("findings")
        .or_else(|| v.get("results"))
        .and_then(Value::as_array)
}

/// The `limits` array of a search answer, found at any depth.
pub(crate) fn limits_of(v: &Value) -> Option<&Vec<Value>> {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(a)) = map.get("limits") {
                return Some(a);
            }
            map.values().find_map(limits_of)
        }
        _ => None,
    }
}

/// Whether some `limits` entry names the dense channel (`dense` or `embed`).
pub(crate) fn limits_name_dense(limits: &[Value]) -> bool {
    limits.iter().any(|l| {
        let text = l.to_string().to_ascii_lowercase();
        text.contains("dense") || text.contains("embed")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_requirement_has_exactly_one_check() {
        for req in catalog::all() {
            let n = registry().iter().filter(|(id, _)| *id == req.id).count();
            assert_eq!(n, 1, "{} has {n} checks", req.id);
        }
        assert_eq!(registry().len(), catalog::all().len());
    }

    #[test]
    fn fail_maps_to_warn_for_a_should() {
        assert_eq!(CheckResult::fail("MET-001", "x").outcome, Outcome::Fail);
        assert_eq!(CheckResult::fail("MET-010", "x").outcome, Outcome::Warn);
        assert_eq!(CheckResult::fail("MET-010", "x").level, Level::Should);
    }

    #[test]
    fn run_all_on_empty_observations_judges_every_id_without_passing_musts() {
        let results = run_all(&Observations::default());
        assert_eq!(results.len(), catalog::all().len());
        for (r, req) in results.iter().zip(catalog::all()) {
            assert_eq!(r.id, req.id, "catalog order");
            if req.level == Level::Must && req.group != "LNT" {
                assert_ne!(r.outcome, Outcome::Pass, "{} passed on nothing", r.id);
            }
            assert!(!r.message.is_empty(), "{} has no message", r.id);
        }
    }

    #[test]
    fn unready_sut_is_named_on_problems() {
        let mut obs = Observations::default();
        obs.startup.error = Some("exited with status 3".into());
        let r = run_one("MET-009", &obs).unwrap();
        assert!(
            r.message
                .ends_with("(the SUT did not become ready: exited with status 3)"),
            "{}",
            r.message
        );
        obs.harness_errors = vec!["drive: GET /metrics timed out".into(), "x".into()];
        let r = run_one("MET-009", &obs).unwrap();
        assert!(
            r.message
                .ends_with("(harness: drive: GET /metrics timed out, and 1 more)"),
            "{}",
            r.message
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(num(8.0), "8");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(num(f64::INFINITY), "+Inf");
        assert_eq!(excerpt("a\nb  ", 10), "a b");
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert_eq!(
            capped((0..5).map(|i| i.to_string()), 2),
            vec!["0", "1", "… 3 more"]
        );
        let v: Value = serde_json::json!({"answer": {"limits": ["dense channel down"]}});
        assert!(limits_name_dense(limits_of(&v).unwrap()));
        let r = serde_json::json!({"content": [{"type": "text", "text": "{\"findings\": []}"}]});
        assert_eq!(
            tool_result_json(&r).unwrap()["findings"],
            serde_json::json!([])
        );
    }
}
