//! The run report: what a request did, stage by stage, and — for a failed
//! run — the stage it stopped at and why. Pure functions of a
//! [`RunRecord`].

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::timeline::{Event, RunRecord};

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageOutcome {
    /// Started and ended without an error.
    Ok,
    /// Recorded an error (the run may still have answered, degraded).
    Error,
    /// Started but never ended (the run stopped inside it).
    Unfinished,
}

impl StageOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Unfinished => "unfinished",
        }
    }
}

/// One stage of a run, as reconstructed from its timeline (`stages.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageRecord {
    pub stage: String,
    /// Milliseconds since the run started, when the stage recorded a start.
    pub started_ms: Option<f64>,
    pub duration_ms: Option<f64>,
    pub outcome: StageOutcome,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

fn error_message(event: &Event) -> String {
    event
        .detail
        .get("message")
        .and_then(serde_json::Value::as_str)
        .map_or_else(|| event.detail.to_string(), str::to_owned)
}

/// The stages of a run in the order they started (an error recorded
/// outside any started stage is a stage of its own).
pub fn stage_records(run: &RunRecord) -> Vec<StageRecord> {
    let mut out: Vec<StageRecord> = Vec::new();
    let mut open: HashMap<&str, usize> = HashMap::new();
    for event in &run.events {
        match event.kind.as_str() {
            "start" => {
                open.insert(event.stage.as_str(), out.len());
                out.push(StageRecord {
                    stage: event.stage.clone(),
                    started_ms: Some(event.at_ms),
                    duration_ms: None,
                    outcome: StageOutcome::Unfinished,
                    error: None,
                    detail: serde_json::Value::Null,
                });
            }
            "error" => {
                let message = error_message(event);
                if let Some(&i) = open.get(event.stage.as_str()) {
                    out[i].outcome = StageOutcome::Error;
                    out[i].error = Some(message);
                } else {
                    out.push(StageRecord {
                        stage: event.stage.clone(),
                        started_ms: Some(event.at_ms),
                        duration_ms: None,
                        outcome: StageOutcome::Error,
                        error: Some(message),
                        detail: serde_json::Value::Null,
                    });
                }
            }
            "end" => {
                if let Some(i) = open.remove(event.stage.as_str()) {
                    let rec = &mut out[i];
                    rec.duration_ms = event.duration_ms;
                    rec.detail = event.detail.clone();
                    if rec.outcome == StageOutcome::Unfinished {
                        rec.outcome = StageOutcome::Ok;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// For a failed run: the stage it stopped at and why. The last error
/// recorded names the stage; a run that failed without one stopped in its
/// last unfinished stage, else in `request`.
pub fn stopped_at(run: &RunRecord) -> Option<(String, String)> {
    if run.outcome == "ok" {
        return None;
    }
    let reason = run.error.clone();
    if let Some(event) = run.events.iter().rev().find(|e| e.kind == "error") {
        return Some((
            event.stage.clone(),
            reason.unwrap_or_else(|| error_message(event)),
        ));
    }
    let unfinished = stage_records(run)
        .into_iter()
        .rev()
        .find(|s| s.outcome == StageOutcome::Unfinished)
        .map_or_else(|| "request".to_owned(), |s| s.stage);
    Some((
        unfinished,
        reason.unwrap_or_else(|| "no error message was recorded".to_owned()),
    ))
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn detail_cell(detail: &serde_json::Value) -> String {
    match detail {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"))
}

/// The run report (`report.md`).
pub fn render(run: &RunRecord) -> String {
    let stages = stage_records(run);
    let mut out = String::new();
    let _ = writeln!(out, "# Run report: {}\n", cell(&run.operation));
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| trace id | `{}` |", cell(&run.trace_id));
    let _ = writeln!(out, "| operation | `{}` |", cell(&run.operation));
    let _ = writeln!(out, "| started (Unix ms) | {} |", run.started_unix_ms);
    let _ = writeln!(out, "| outcome | **{}** |", cell(&run.outcome));
    let _ = writeln!(out, "| events | {} |", run.events.len());
    out.push('\n');

    if let Some((stage, why)) = stopped_at(run) {
        let _ = writeln!(out, "## Where it stopped\n");
        let _ = writeln!(
            out,
            "The run stopped at stage `{}`: {}\n",
            cell(&stage),
            why.trim()
        );
    } else {
        let degraded: Vec<&StageRecord> = stages
            .iter()
            .filter(|s| s.outcome == StageOutcome::Error)
            .collect();
        let _ = writeln!(out, "## Outcome\n");
        if degraded.is_empty() {
            let _ = writeln!(
                out,
                "The run completed: {} stages, none failed.\n",
                stages.len()
            );
        } else {
            let names: Vec<String> = degraded.iter().map(|s| format!("`{}`", s.stage)).collect();
            let _ = writeln!(
                out,
                "The run completed, degraded: {} failed and the answer was made without {}.\n",
                names.join(", "),
                if degraded.len() == 1 { "it" } else { "them" }
            );
        }
    }

    let _ = writeln!(out, "## Stages\n");
    if stages.is_empty() {
        let _ = writeln!(out, "No stage was recorded.\n");
    } else {
        let _ = writeln!(
            out,
            "| stage | start (ms) | duration (ms) | outcome | detail |"
        );
        let _ = writeln!(out, "|---|---:|---:|---|---|");
        for s in &stages {
            let detail = match &s.error {
                Some(e) => {
                    let d = detail_cell(&s.detail);
                    if d.is_empty() {
                        format!("error: {e}")
                    } else {
                        format!("error: {e}; {d}")
                    }
                }
                None => detail_cell(&s.detail),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                cell(&s.stage),
                ms(s.started_ms),
                ms(s.duration_ms),
                s.outcome.as_str(),
                cell(&detail)
            );
        }
        out.push('\n');
    }

    let decisions: Vec<&Event> = run
        .events
        .iter()
        .filter(|e| !matches!(e.kind.as_str(), "start" | "end" | "error"))
        .collect();
    if !decisions.is_empty() {
        let _ = writeln!(out, "## Decisions and notes\n");
        for e in decisions {
            let _ = writeln!(
                out,
                "- `{}` {} at {:.2} ms: {}",
                cell(&e.stage),
                cell(&e.kind),
                e.at_ms,
                cell(&detail_cell(&e.detail))
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Limits\n");
    if run.limits.is_empty() {
        let _ = writeln!(out, "None reported.");
    } else {
        for l in &run.limits {
            let _ = writeln!(out, "- {}", cell(l));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn ev(
        at_ms: f64,
        stage: &str,
        kind: &str,
        duration_ms: Option<f64>,
        detail: serde_json::Value,
    ) -> Event {
        Event {
            at_ms,
            unix_ms: 1_700_000_000_000 + at_ms as u128,
            stage: stage.into(),
            kind: kind.into(),
            duration_ms,
            detail,
        }
    }

    /// A completed search whose dense channel failed (degraded).
    pub(crate) fn degraded_run() -> RunRecord {
        use serde_json::json;
        RunRecord {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            operation: "tools/call semantic_search".into(),
            started_unix_ms: 1_700_000_000_000,
            outcome: "ok".into(),
            error: None,
            limits: vec![
                "dense_unavailable: embedding the query failed: connection refused".into(),
            ],
            events: vec![
                ev(
                    0.1,
                    "gate",
                    "decision",
                    None,
                    json!({"class": "natural_language", "rrf_k": 90, "rm3": false}),
                ),
                ev(
                    0.2,
                    "gather_channels",
                    "start",
                    None,
                    serde_json::Value::Null,
                ),
                ev(0.3, "dense", "start", None, serde_json::Value::Null),
                ev(0.4, "sparse", "start", None, serde_json::Value::Null),
                ev(
                    1.5,
                    "sparse",
                    "end",
                    Some(1.1),
                    json!({"hits": 12, "expansion_terms": 0}),
                ),
                ev(
                    2.0,
                    "dense",
                    "error",
                    None,
                    json!({"message": "embedding the query failed: connection refused"}),
                ),
                ev(2.0, "dense", "end", Some(1.7), serde_json::Value::Null),
                ev(
                    2.1,
                    "gather_channels",
                    "end",
                    Some(1.9),
                    json!({"dense_hits": 0, "sparse_hits": 12}),
                ),
                ev(2.2, "fuse", "start", None, serde_json::Value::Null),
                ev(2.3, "fuse", "end", Some(0.1), json!({"fused": 10})),
                ev(2.4, "hydrate", "start", None, serde_json::Value::Null),
                ev(3.4, "hydrate", "end", Some(1.0), json!({"findings": 10})),
            ],
        }
    }

    /// A search that stopped in `hydrate`.
    pub(crate) fn failed_run() -> RunRecord {
        use serde_json::json;
        RunRecord {
            trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
            operation: "search".into(),
            started_unix_ms: 1_700_000_000_000,
            outcome: "error".into(),
            error: Some("hydrate failed: catalog: database is locked".into()),
            limits: vec![],
            events: vec![
                ev(
                    0.2,
                    "gather_channels",
                    "start",
                    None,
                    serde_json::Value::Null,
                ),
                ev(
                    2.1,
                    "gather_channels",
                    "end",
                    Some(1.9),
                    json!({"dense_hits": 10, "sparse_hits": 12}),
                ),
                ev(2.4, "hydrate", "start", None, serde_json::Value::Null),
                ev(
                    3.0,
                    "hydrate",
                    "error",
                    None,
                    json!({"message": "catalog: database is locked"}),
                ),
                ev(3.0, "hydrate", "end", Some(0.6), serde_json::Value::Null),
            ],
        }
    }

    #[test]
    fn stages_are_reconstructed_in_start_order() {
        let stages = stage_records(&degraded_run());
        let names: Vec<(&str, &str)> = stages
            .iter()
            .map(|s| (s.stage.as_str(), s.outcome.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("gather_channels", "ok"),
                ("dense", "error"),
                ("sparse", "ok"),
                ("fuse", "ok"),
                ("hydrate", "ok")
            ]
        );
        assert_eq!(
            stages[1].error.as_deref(),
            Some("embedding the query failed: connection refused")
        );
        assert_eq!(stages[0].duration_ms, Some(1.9));
    }

    #[test]
    fn a_failed_run_names_its_stage_and_reason() {
        let (stage, why) = stopped_at(&failed_run()).unwrap();
        assert_eq!(stage, "hydrate");
        assert!(why.contains("database is locked"), "{why}");
        assert!(stopped_at(&degraded_run()).is_none());

        // An error outside any stage, and a run with no events at all.
        let mut gate = failed_run();
        gate.events = vec![ev(
            0.0,
            "gate",
            "error",
            None,
            serde_json::json!({"message": "empty query"}),
        )];
        gate.error = Some("the query is empty".into());
        assert_eq!(stopped_at(&gate).unwrap().0, "gate");
        let mut bare = failed_run();
        bare.events.clear();
        assert_eq!(
            stopped_at(&bare).unwrap(),
            (
                "request".into(),
                "hydrate failed: catalog: database is locked".into()
            )
        );
        let mut unfinished = failed_run();
        unfinished.events.truncate(3);
        assert_eq!(stopped_at(&unfinished).unwrap().0, "hydrate");
    }

    #[test]
    fn report_of_a_degraded_run() {
        insta::assert_snapshot!(render(&degraded_run()));
    }

    #[test]
    fn report_of_a_failed_run() {
        let text = render(&failed_run());
        assert!(
            text.contains("The run stopped at stage `hydrate`"),
            "{text}"
        );
        insta::assert_snapshot!(text);
    }
}
