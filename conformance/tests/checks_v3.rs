//! Catalog v3 (issue 13): RUN-*, LNT-*, MCP-* and strictness verdicts a
//! plausible broken implementation used to earn. Each broken behaviour fails
//! exactly its requirement.

mod common;

use codeintel_conformance::checks::{self, CheckResult, Outcome};
use codeintel_conformance::observe::{LintFinding, McpSuiteCheck, Observations, steps};
use codeintel_conformance::report;
use common::{T_FAULT, T_TRACEPARENT, good, only_unmet, says};

#[allow(clippy::unwrap_used)] // a test helper: a missing exchange fails the test
fn exchange<'a>(
    obs: &'a mut Observations,
    step: &str,
) -> &'a mut codeintel_conformance::observe::HttpExchange {
    obs.http.iter_mut().find(|h| h.step == step).unwrap()
}

#[test]
fn run_001_a_canned_archive_names_no_trace_id() {
    let mut obs = good();
    exchange(&mut obs, steps::RUNPACK).body_base64 = Some(common::targz_base64(&[(
        "runpack/timeline.jsonl",
        "{\"stage\":\"request\",\"status\":\"ok\"}\n",
    )]));
    let r = only_unmet(&obs, "RUN-001");
    says(
        &r,
        &[&format!(
            "never names the trace id asked for ({T_TRACEPARENT})"
        )],
    );
}

#[test]
fn run_001_the_runpack_of_another_trace() {
    // The archive names the trace asked for in its folder, but its timeline
    // is another request's (the latest run, say).
    let mut obs = good();
    let timeline = format!("{{\"stage\":\"gate\",\"trace_id\":\"{T_FAULT}\"}}\n");
    exchange(&mut obs, steps::RUNPACK).body_base64 = Some(common::targz_base64(&[(
        &format!("runpack-{T_TRACEPARENT}/timeline.jsonl"),
        &timeline,
    )]));
    let r = only_unmet(&obs, "RUN-001");
    says(
        &r,
        &[&format!(
            "holds events of another request's trace {T_FAULT}"
        )],
    );
}

#[test]
fn run_001_an_unknown_trace_id_gets_an_archive() {
    let mut obs = good();
    let x = exchange(&mut obs, steps::RUNPACK_UNKNOWN);
    x.status = Some(200);
    x.body_base64 = Some(common::targz_base64(&[(
        "runpack/timeline.jsonl",
        "{\"stage\":\"request\"}\n",
    )]));
    let r = only_unmet(&obs, "RUN-001");
    says(
        &r,
        &["asks for a trace id no request had, and answered 200 with an archive"],
    );
}

#[test]
fn run_001_without_the_unknown_probe_is_not_shown() {
    let mut obs = good();
    obs.http.retain(|h| h.step != steps::RUNPACK_UNKNOWN);
    let r = only_unmet(&obs, "RUN-001");
    says(&r, &["did not ask for the runpack of an unknown trace id"]);
}

fn failed_report(obs: &mut Observations, text: &str) {
    exchange(obs, steps::RUNPACK_FAILED).body_base64 =
        Some(common::targz_base64(&[("report.md", text)]));
}

#[test]
fn run_002_a_duration_is_not_a_failure() {
    let mut obs = good();
    failed_report(
        &mut obs,
        "# Run report\n\n| stage | status | ms |\n| embed | ok | 1500 |\n| fuse | ok | 0.500 |\n",
    );
    let r = only_unmet(&obs, "RUN-002");
    says(&r, &["report.md names no stage together with what failed"]);
}

#[test]
fn run_002_the_wrong_stage_is_blamed() {
    let mut obs = good();
    failed_report(
        &mut obs,
        "# Run report\n\nStage `hydrate` failed: the catalog is locked.\n",
    );
    let r = only_unmet(&obs, "RUN-002");
    says(
        &r,
        &[
            "report.md says stage `hydrate` failed",
            "embed, dense, gather_channels",
        ],
    );
}

#[test]
fn run_002_a_stage_the_sut_marked_error_is_accepted() {
    let mut obs = good();
    for s in obs
        .spans
        .iter_mut()
        .filter(|s| s.trace_id == T_FAULT && s.name == "fuse")
    {
        s.status = codeintel_conformance::observe::StatusCode::Error;
    }
    failed_report(&mut obs, "Stage `fuse` failed: no channel answered.\n");
    let r = checks::run_one("RUN-002", &obs).unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
}

#[test]
fn lnt_zero_files_checked_is_not_a_pass() {
    let mut obs = good();
    obs.lint.as_mut().unwrap().files_checked = 0;
    let results = common::by_id(checks::run_all(&obs));
    for id in ["LNT-001", "LNT-002", "LNT-003"] {
        assert_eq!(results[id].outcome, Outcome::Error, "{id}");
        assert!(results[id].message.contains("checked 0 files"), "{id}");
    }
    assert_eq!(
        report::exit_code(&checks::run_all(&obs), false),
        report::Exit::Fail
    );
}

#[test]
fn lnt_a_file_that_does_not_parse_is_not_a_pass() {
    let mut obs = good();
    obs.lint.as_mut().unwrap().findings.push(LintFinding {
        rule: "LNT-000".into(),
        path: "app/legacy.py".into(),
        line: 1,
        column: 1,
        message: "does not parse".into(),
    });
    let results = common::by_id(checks::run_all(&obs));
    for id in ["LNT-001", "LNT-002", "LNT-003"] {
        assert_eq!(results[id].outcome, Outcome::Error, "{id}");
        assert!(
            results[id].message.contains("app/legacy.py:1:1"),
            "{id}: {}",
            results[id].message
        );
    }
}

#[test]
fn mcp_warnings_without_a_success_fail() {
    let mut obs = good();
    let run = obs
        .mcp_suite
        .scenarios
        .iter_mut()
        .find(|s| s.scenario == "ping")
        .unwrap();
    run.checks = vec![McpSuiteCheck {
        id: "ping".into(),
        name: "ping".into(),
        description: "ping answers".into(),
        status: "WARNING".into(),
        error_message: Some("answered a non-empty result".into()),
        details: None,
    }];
    run.exit_code = Some(0);
    let r = only_unmet(&obs, "MCP-002");
    says(
        &r,
        &[
            "reported no SUCCESS check, only warnings",
            "answered a non-empty result",
        ],
    );
}

#[test]
fn strict_fails_a_run_with_a_skipped_must() {
    let skipped = CheckResult::skip("LNT-001", "no --source given");
    let should_skipped = CheckResult::skip("LNT-003", "no --source given");
    assert_eq!(
        report::exit_code(std::slice::from_ref(&skipped), false),
        report::Exit::Pass
    );
    assert_eq!(
        report::exit_code(std::slice::from_ref(&skipped), true),
        report::Exit::Fail
    );
    assert_eq!(
        report::exit_code(std::slice::from_ref(&should_skipped), true),
        report::Exit::Pass,
        "a skipped SHOULD does not fail even a strict run"
    );
    // And in the JUnit report: a failure, not a skip.
    let xml = report::junit::render(
        std::slice::from_ref(&skipped),
        &report::Context {
            sut: "x",
            strict: true,
            ..report::Context::default()
        },
    );
    assert!(xml.contains("skipped-must"), "{xml}");
}
