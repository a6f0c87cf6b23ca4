//! MCP-*: the official MCP conformance suite's output, parsed and judged.
//!
//! `tests/fixtures/mcp-suite/SCENARIO.KIND.json` are `checks.json` files the
//! suite (`@modelcontextprotocol/conformance@0.2.0-alpha.12`) wrote: `pass`
//! against the reference server's `/mcp`; `fail` against a wrong path
//! (`server-initialize`), a closed port (`server-session-lifecycle`) and a
//! server that accepts any Host (`dns-rebinding-protection`), and against a
//! server that answers `{}` to every request (`tools-list`,
//! `http-header-validation`); `broken` against that server too
//! (`server-initialize`). The live tests run
//! the installed suite (skipped, saying so, when it is not installed: run
//! scripts/setup-node.sh) against stand-ins that break the protocol or hang.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use codeintel_conformance::checks::{self, Outcome};
use codeintel_conformance::drive::{DriveConfig, run_mcp_suite, workspace_root};
use codeintel_conformance::mcp_suite::{self, McpSuite, McpSuiteSetting};
use codeintel_conformance::observe::{McpSuiteOutcome, McpSuiteState, Observations};
use common::{good, mcp_checks, mcp_run, only_unmet, says};

fn with_run(scenario: &str, kind: &str) -> Observations {
    let mut obs = good();
    let run = mcp_run(scenario, kind);
    for s in &mut obs.mcp_suite.scenarios {
        if s.scenario == scenario {
            *s = run.clone();
        }
    }
    obs
}

#[test]
fn captured_passing_outputs_parse_and_pass() {
    let checks = mcp_checks("http-header-validation", "pass");
    assert_eq!(checks.len(), 14);
    assert!(checks.iter().all(|c| c.status == "SUCCESS"));
    assert_eq!(checks[0].id, "sep-2243-server-reject-invalid-headers");
    assert!(
        checks[0]
            .details
            .as_deref()
            .unwrap()
            .contains("\"responseStatus\":400")
    );
    let results = common::by_id(checks::run_all(&good()));
    for (id, scenario) in mcp_suite::SCENARIOS {
        let r = &results[id];
        assert_eq!(r.outcome, Outcome::Pass, "{id}: {}", r.message);
        says(r, &[format!("`{scenario}` passed")]);
    }
}

#[test]
fn a_failed_scenario_fails_its_requirement_quoting_the_suite() {
    let r = only_unmet(&with_run("server-initialize", "fail"), "MCP-001");
    says(
        &r,
        &[
            "`server-initialize` failed 1 of 2 checks",
            "[server-initialize] Failed to initialize: Streamable HTTP error",
            "no such endpoint: POST /nope",
        ],
    );
    assert!(
        r.evidence
            .iter()
            .any(|e| e.starts_with("SUCCESS [wire-schema-valid]")),
        "{:?}",
        r.evidence
    );

    let r = only_unmet(&with_run("dns-rebinding-protection", "fail"), "MCP-005");
    says(
        &r,
        &[
            "[localhost-host-rebinding-rejected] Expected HTTP 4xx for invalid Host/Origin headers, got 200",
        ],
    );

    let r = only_unmet(&with_run("tools-list", "fail"), "MCP-003");
    says(
        &r,
        &[
            "[tools-list] Failed",
            "must have required property 'capabilities'",
        ],
    );

    // A SHOULD: the failed scenario warns.
    let r = only_unmet(&with_run("http-header-validation", "fail"), "MCP-006");
    says(
        &r,
        &["[sep-2243-server-reject-invalid-headers] Expected HTTP 400, got 200"],
    );

    let r = only_unmet(&with_run("server-session-lifecycle", "fail"), "MCP-004");
    says(
        &r,
        &["[server-session-lifecycle-error] Failed to exercise session lifecycle: fetch failed"],
    );
}

#[test]
fn a_server_answering_empty_results_fails_initialize_on_two_counts() {
    let r = only_unmet(&with_run("server-initialize", "broken"), "MCP-001");
    says(
        &r,
        &[
            "failed 2 of 2 checks",
            "[server-initialize] Failed to initialize",
            "[wire-schema-valid]",
            "must have required property 'protocolVersion'",
        ],
    );
}

#[test]
fn without_the_suite_every_mcp_requirement_is_skipped_with_the_hint() {
    let mut obs = good();
    obs.mcp_suite = McpSuiteOutcome {
        state: McpSuiteState::NotInstalled,
        note: "no official MCP conformance suite in /nowhere".to_owned(),
        scenarios: Vec::new(),
    };
    for r in checks::run_all(&obs) {
        if r.id.starts_with("MCP-") {
            assert_eq!(r.outcome, Outcome::Skip, "{}", r.id);
            assert_eq!(
                r.message,
                "official MCP conformance suite not installed: run scripts/setup-node.sh"
            );
        } else {
            assert_eq!(r.outcome, Outcome::Pass, "{}: {}", r.id, r.message);
        }
    }
}

/// The installed suite, or `None` (and a note on stderr) when there is none;
/// with `CODEINTEL_REQUIRE_SUTS` set (scripts/test.sh) a missing suite fails.
fn installed() -> Option<McpSuite> {
    match mcp_suite::locate(None) {
        Ok(McpSuiteSetting::Installed(s)) => Some(s),
        other => {
            assert!(
                std::env::var_os("CODEINTEL_REQUIRE_SUTS").is_none(),
                "official MCP conformance suite not installed ({other:?}): run scripts/setup-node.sh"
            );
            eprintln!(
                "skipped: official MCP conformance suite not installed ({other:?}): run scripts/setup-node.sh"
            );
            None
        }
    }
}

/// A stand-in that breaks MCP: every POST is answered 200 `{"result": {}}`
/// whatever the method, Host or Origin.
async fn broken_server() -> String {
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(|body: axum::body::Bytes| async move {
            let id = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("id").cloned())
                .unwrap_or(serde_json::Value::Null);
            axum::Json(serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {}}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/mcp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_suite_against_a_broken_server_fails_the_mcp_musts() {
    let Some(suite) = installed() else { return };
    let url = broken_server().await;
    let mut cfg = DriveConfig::new(&workspace_root());
    cfg.mcp_suite = McpSuiteSetting::Installed(suite);
    let started = Instant::now();
    let mut obs = good();
    obs.mcp_suite = run_mcp_suite(&cfg, &url).await;
    assert!(started.elapsed() < Duration::from_secs(120));
    assert_eq!(obs.mcp_suite.state, McpSuiteState::Ran);
    assert_eq!(obs.mcp_suite.scenarios.len(), mcp_suite::SCENARIOS.len());

    let results = common::by_id(checks::run_all(&obs));
    let init = &results["MCP-001"];
    assert_eq!(init.outcome, Outcome::Fail, "{}", init.message);
    says(init, &["[server-initialize] Failed to initialize"]);
    let tools = &results["MCP-003"];
    assert_eq!(tools.outcome, Outcome::Fail, "{}", tools.message);
    let dns = &results["MCP-005"];
    assert_eq!(dns.outcome, Outcome::Fail, "{}", dns.message);
    says(
        dns,
        &["Expected HTTP 4xx for invalid Host/Origin headers, got 200"],
    );
    for id in ["MET-001", "API-002", "TRC-002"] {
        assert_eq!(results[id].outcome, Outcome::Pass, "{id}");
    }
}

/// A stand-in that accepts connections and never answers; abort the handle
/// to close it.
async fn hanging_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = listener.accept().await {
            conns.push(c);
        }
    });
    (format!("http://{addr}/mcp"), held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_server_is_killed_at_the_scenario_deadline() {
    let Some(suite) = installed() else { return };
    let (url, held) = hanging_server().await;
    let started = Instant::now();
    // The suite's own timeout (60 s) is past the harness's deadline (4 s), so
    // it is the harness that must end the run, however fast node starts.
    let run = suite
        .run_scenario_with(
            &url,
            "ping",
            Duration::from_secs(4),
            Duration::from_secs(60),
        )
        .await;
    let took = started.elapsed();
    held.abort();
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(run.timed_out, "{run:?}");
    assert_eq!(run.exit_code, None);
    let mut obs = good();
    obs.mcp_suite.scenarios[1] = run;
    let r = only_unmet(&obs, "MCP-002");
    says(&r, &["did not finish within 4 s; the harness killed it"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_server_fails_the_scenario_within_the_deadline() {
    let Some(suite) = installed() else { return };
    let (url, held) = hanging_server().await;
    let started = Instant::now();
    // The default: the suite's own timeout 2 s inside the 4 s deadline. Which
    // of the two ends the run depends on how fast node starts; either way the
    // scenario is unmet, in bounded time.
    let run = suite
        .run_scenario(&url, "ping", Duration::from_secs(4))
        .await;
    let took = started.elapsed();
    held.abort();
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let mut obs = good();
    obs.mcp_suite.scenarios[1] = run.clone();
    let r = only_unmet(&obs, "MCP-002");
    if run.timed_out {
        says(&r, &["the harness killed it"]);
    } else {
        says(&r, &["did not complete within"]);
    }
}
