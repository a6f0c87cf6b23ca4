//! `--json`: the whole report as one JSON document.

use serde::Serialize;

use super::{Context, Summary};
use crate::catalog::Level;
use crate::checks::{CheckResult, Outcome};
use crate::observe::PhaseTiming;

#[derive(Serialize)]
struct Report<'a> {
    tool: &'static str,
    catalog: &'static str,
    sut: &'a str,
    strict: bool,
    /// Outcome kinds that fail the run besides `fail` (`--fail-on`, joined
    /// with `--strict`).
    fail_on: Vec<&'static str>,
    exit_code: super::Exit,
    summary: Summary,
    phases: &'a [PhaseTiming],
    harness_errors: &'a [String],
    startup_notes: &'a [String],
    startup_error: Option<&'a str>,
    peer_errors: &'a [String],
    results: Vec<Item<'a>>,
}

#[derive(Serialize)]
struct Item<'a> {
    id: &'a str,
    level: Level,
    group: &'a str,
    title: &'static str,
    outcome: Outcome,
    message: &'a str,
    evidence: &'a [String],
}

/// Renders the report as pretty-printed JSON.
pub fn render(results: &[CheckResult], ctx: &Context<'_>) -> String {
    let report = Report {
        tool: "codeintel-conformance",
        catalog: crate::catalog::VERSION,
        sut: ctx.sut,
        strict: ctx.strict,
        fail_on: ctx.effective_fail_on().kinds(),
        exit_code: ctx.exit_code(results),
        summary: Summary::of(results),
        phases: ctx.phases,
        harness_errors: ctx.harness_errors,
        startup_notes: ctx.startup_notes,
        startup_error: ctx.startup_error,
        peer_errors: ctx.peer_errors,
        results: results
            .iter()
            .map(|r| Item {
                id: &r.id,
                level: r.level,
                group: r.group(),
                title: r.title(),
                outcome: r.outcome,
                message: &r.message,
                evidence: &r.evidence,
            })
            .collect(),
    };
    // Serialising plain structs of strings and numbers cannot fail; keep a
    // valid document even if it ever does.
    serde_json::to_string_pretty(&report)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot render the report: {e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_json_with_lowercase_outcomes() {
        let results = vec![
            CheckResult::pass("MET-001", "ok"),
            CheckResult::fail("MET-010", "grew").with_evidence(["a"]),
        ];
        let text = render(
            &results,
            &Context {
                sut: "ref",
                strict: true,
                ..Context::default()
            },
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["sut"], "ref");
        assert_eq!(v["exit_code"], 1, "strict makes the warning fail");
        assert_eq!(v["summary"]["warned"], 1);
        assert_eq!(v["results"][1]["outcome"], "warn");
        assert_eq!(v["results"][1]["level"], "SHOULD");
        assert_eq!(v["results"][1]["group"], "MET");
        assert_eq!(v["results"][1]["evidence"][0], "a");
        assert!(
            v["results"][0]["title"]
                .as_str()
                .unwrap()
                .contains("scrape")
        );
    }

    #[test]
    fn carries_harness_errors_notes_and_the_process_exit_code() {
        let results = vec![CheckResult::pass("MET-001", "ok")];
        let errors = vec!["drive: golden file missing".to_owned()];
        let notes = vec!["opened the embeddings gate early".to_owned()];
        let peers = vec!["OTLP /v1/traces: refused a 3-byte payload".to_owned()];
        let text = render(
            &results,
            &Context {
                sut: "x",
                harness_errors: &errors,
                startup_notes: &notes,
                startup_error: Some("exited with status 3"),
                peer_errors: &peers,
                exit_code: Some(crate::report::Exit::Harness),
                ..Context::default()
            },
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["exit_code"], 2,
            "the process's exit code, not the results'"
        );
        assert_eq!(v["harness_errors"][0], errors[0]);
        assert_eq!(v["startup_notes"][0], notes[0]);
        assert_eq!(v["startup_error"], "exited with status 3");
        assert_eq!(v["peer_errors"][0], peers[0]);
    }
}
