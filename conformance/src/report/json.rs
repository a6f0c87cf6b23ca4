//! `--json`: the whole report as one JSON document.

use serde::Serialize;

use super::{Context, Summary, exit_code};
use crate::catalog::Level;
use crate::checks::{CheckResult, Outcome};
use crate::observe::PhaseTiming;

#[derive(Serialize)]
struct Report<'a> {
    tool: &'static str,
    catalog: &'static str,
    sut: &'a str,
    strict: bool,
    exit_code: i32,
    summary: Summary,
    phases: &'a [PhaseTiming],
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
        exit_code: exit_code(results, ctx.strict),
        summary: Summary::of(results),
        phases: ctx.phases,
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
                phases: &[],
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
}
