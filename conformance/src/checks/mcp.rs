//! MCP-*: the official MCP conformance suite's scenarios, one requirement each.
//!
//! The suite judges; these checks turn each scenario's checks into one
//! outcome and quote the suite's own failure messages.

use std::fmt::Write as _;

use super::{CheckResult, capped, excerpt};
use crate::mcp_scenarios::{self, INSTALL_HINT};
use crate::observe::{McpScenarioRun, McpSuiteState, Observations};

pub fn mcp_001(obs: &Observations) -> CheckResult {
    judge(obs, "MCP-001")
}

pub fn mcp_002(obs: &Observations) -> CheckResult {
    judge(obs, "MCP-002")
}

pub fn mcp_003(obs: &Observations) -> CheckResult {
    judge(obs, "MCP-003")
}

pub fn mcp_004(obs: &Observations) -> CheckResult {
    judge(obs, "MCP-004")
}

pub fn mcp_005(obs: &Observations) -> CheckResult {
    judge(obs, "MCP-005")
}

pub fn mcp_006(obs: &Observations) -> CheckResult {
    judge(obs, "MCP-006")
}

/// `STATUS [id] description: message` for one check of the suite.
fn check_line(c: &crate::observe::McpSuiteCheck) -> String {
    let mut line = format!("{} [{}] {}", c.status, c.id, c.description);
    if let Some(m) = &c.error_message {
        line.push_str(": ");
        line.push_str(&excerpt(m, 300));
    }
    line
}

fn judge(obs: &Observations, id: &str) -> CheckResult {
    let Some(scenario) = mcp_scenarios::scenario_of(id) else {
        return CheckResult::error(id, "the suite maps no MCP scenario to this requirement");
    };
    let suite = &obs.mcp_suite;
    match suite.state {
        McpSuiteState::NotInstalled => {
            return CheckResult::skip(
                id,
                format!("official MCP conformance suite not installed: {INSTALL_HINT}"),
            )
            .with_evidence([suite.note.clone()]);
        }
        McpSuiteState::NotRun => {
            return CheckResult::fail(
                id,
                format!(
                    "the official MCP suite's `{scenario}` was not run: the SUT was not up to \
                     be tested"
                ),
            );
        }
        McpSuiteState::Ran => {}
    }
    let Some(run) = suite.scenario(scenario) else {
        return CheckResult::error(id, format!("the scenario `{scenario}` was not run"));
    };
    judge_run(id, run).with_evidence([format!(
        "{}: {} ms, exit {}; {}",
        run.url,
        run.elapsed_ms,
        run.exit_code
            .map_or_else(|| "none".to_owned(), |c| c.to_string()),
        suite.note
    )])
}

/// One scenario's run → one outcome.
fn judge_run(id: &str, run: &McpScenarioRun) -> CheckResult {
    let scenario = &run.scenario;
    let lines = capped(run.checks.iter().map(check_line), 20);
    if run.timed_out {
        return CheckResult::fail(
            id,
            format!(
                "the official MCP scenario `{scenario}` {}",
                run.error.as_deref().unwrap_or("timed out")
            ),
        )
        .with_evidence(tail_evidence(run));
    }
    if run.checks.is_empty() {
        let why = run.error.as_deref().unwrap_or("it reported no check");
        return CheckResult::error(
            id,
            format!("the official MCP scenario `{scenario}` gave no result: {why}"),
        )
        .with_evidence(tail_evidence(run));
    }
    let failed = quoted(run, "FAILURE", 300);
    if !failed.is_empty() {
        return CheckResult::fail(
            id,
            format!(
                "the official MCP scenario `{scenario}` failed {} of {} checks: {}",
                failed.len(),
                run.checks.len(),
                failed.join("; ")
            ),
        )
        .with_evidence(lines);
    }
    let passed = run.checks.iter().filter(|c| c.status == "SUCCESS").count();
    let warnings = quoted(run, "WARNING", 200);
    if passed == 0 && !warnings.is_empty() {
        return CheckResult::fail(
            id,
            format!(
                "the official MCP scenario `{scenario}` reported no SUCCESS check, only warnings \
                 (a pass needs at least one SUCCESS): {}",
                warnings.join("; ")
            ),
        )
        .with_evidence(lines);
    }
    if passed == 0 {
        let why: Vec<String> = run
            .checks
            .iter()
            .map(|c| {
                c.details.as_deref().map_or_else(
                    || c.description.clone(),
                    |d| format!("{}: {d}", c.description),
                )
            })
            .collect();
        return CheckResult::skip(
            id,
            format!(
                "the official MCP scenario `{scenario}` does not apply to this SUT: {}",
                excerpt(&why.join("; "), 300)
            ),
        )
        .with_evidence(lines);
    }
    if let Some(code) = run.exit_code.filter(|c| *c != 0) {
        return CheckResult::error(
            id,
            format!(
                "the official MCP scenario `{scenario}` exited {code} although none of its checks failed"
            ),
        )
        .with_evidence(lines)
        .with_evidence(tail_evidence(run));
    }
    let mut message = format!(
        "the official MCP scenario `{scenario}` passed {passed} of {} checks",
        run.checks.len()
    );
    if !warnings.is_empty() {
        let _ = write!(message, ", with warnings: {}", warnings.join("; "));
    }
    CheckResult::pass(id, message).with_evidence(lines)
}

/// `[id] message` of each check with `status`, the suite's message cut to `max`.
fn quoted(run: &McpScenarioRun, status: &str, max: usize) -> Vec<String> {
    run.checks
        .iter()
        .filter(|c| c.status == status)
        .map(|c| {
            let what = c.error_message.as_deref().unwrap_or(&c.description);
            format!("[{}] {}", c.id, excerpt(what, max))
        })
        .collect()
}

fn tail_evidence(run: &McpScenarioRun) -> Vec<String> {
    let tail: Vec<String> = run
        .output_tail
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let skip = tail.len().saturating_sub(10);
    tail.into_iter().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Outcome;
    use crate::observe::{McpSuiteCheck, McpSuiteOutcome};

    fn check(id: &str, status: &str, msg: Option<&str>) -> McpSuiteCheck {
        McpSuiteCheck {
            id: id.to_owned(),
            name: id.to_owned(),
            description: format!("{id} works"),
            status: status.to_owned(),
            error_message: msg.map(str::to_owned),
            details: None,
        }
    }

    fn obs_with(run: McpScenarioRun) -> Observations {
        let mut obs = Observations::default();
        obs.startup.ready = true;
        obs.mcp_suite = McpSuiteOutcome {
            state: McpSuiteState::Ran,
            note: "node index.js server".to_owned(),
            scenarios: vec![run],
        };
        obs
    }

    fn run(scenario: &str, checks: Vec<McpSuiteCheck>, exit: i32) -> McpScenarioRun {
        McpScenarioRun {
            scenario: scenario.to_owned(),
            url: "http://127.0.0.1:1/mcp".to_owned(),
            exit_code: Some(exit),
            checks,
            ..McpScenarioRun::default()
        }
    }

    #[test]
    fn not_installed_is_a_skip_with_the_hint() {
        let mut obs = Observations::default();
        obs.mcp_suite.state = McpSuiteState::NotInstalled;
        let r = mcp_001(&obs);
        assert_eq!(r.outcome, Outcome::Skip);
        assert_eq!(
            r.message,
            "official MCP conformance suite not installed: run scripts/setup-node.sh"
        );
    }

    #[test]
    fn a_should_that_fails_warns_and_a_stateless_server_skips_the_lifecycle() {
        let obs = obs_with(run(
            "http-header-validation",
            vec![check(
                "sep-2243-x",
                "FAILURE",
                Some("expected 400, got 200"),
            )],
            1,
        ));
        let r = mcp_006(&obs);
        assert_eq!(r.outcome, Outcome::Warn);
        assert!(r.message.contains("expected 400, got 200"), "{}", r.message);

        let obs = obs_with(run(
            "server-session-lifecycle",
            vec![check("server-session-lifecycle-skipped", "INFO", None)],
            0,
        ));
        assert_eq!(mcp_004(&obs).outcome, Outcome::Skip);
    }

    #[test]
    fn warnings_pass_and_are_named_timeouts_fail_missing_results_are_errors() {
        let obs = obs_with(run(
            "ping",
            vec![
                check("ping", "SUCCESS", None),
                check("slow", "WARNING", Some("took long")),
            ],
            0,
        ));
        let r = mcp_002(&obs);
        assert_eq!(r.outcome, Outcome::Pass);
        assert!(r.message.contains("[slow] took long"), "{}", r.message);

        let mut timed_out = run("ping", Vec::new(), 0);
        timed_out.exit_code = None;
        timed_out.timed_out = true;
        timed_out.error = Some("did not finish within 30 s; the harness killed it".to_owned());
        let r = mcp_002(&obs_with(timed_out));
        assert_eq!(r.outcome, Outcome::Fail);
        assert!(r.message.contains("killed"), "{}", r.message);

        let mut nothing = run("ping", Vec::new(), 1);
        nothing.error = Some("the suite wrote no checks.json (exit 1)".to_owned());
        assert_eq!(mcp_002(&obs_with(nothing)).outcome, Outcome::Error);
        // A scenario that is not in the observations.
        assert_eq!(
            mcp_003(&obs_with(run("ping", Vec::new(), 0))).outcome,
            Outcome::Error
        );
    }

    #[test]
    fn not_run_because_the_sut_was_down_fails() {
        let obs = Observations::default();
        assert_eq!(mcp_001(&obs).outcome, Outcome::Fail);
        assert_eq!(mcp_005(&obs).outcome, Outcome::Fail);
    }
}
