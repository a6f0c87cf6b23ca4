//! LOG-*: log records received over OTLP.

use std::collections::HashSet;

use super::{CheckResult, capped, excerpt};
use crate::observe::Observations;

/// LOG-001: log records carry the trace and span they were written in.
pub fn log_001(obs: &Observations) -> CheckResult {
    const ID: &str = "LOG-001";
    if obs.logs.is_empty() {
        return CheckResult::fail(
            ID,
            "no log records arrived over OTLP: bridge the application's logs to the OTel logs \
             pipeline (OTEL_EXPORTER_OTLP_ENDPOINT, /v1/logs)",
        );
    }
    let spans: HashSet<(&str, &str)> = obs
        .spans
        .iter()
        .map(|s| (s.trace_id.as_str(), s.span_id.as_str()))
        .collect();
    let with_context: Vec<_> = obs
        .logs
        .iter()
        .filter(|l| l.trace_id.is_some() && l.span_id.is_some())
        .collect();
    let matched = with_context
        .iter()
        .filter(|l| {
            let (Some(t), Some(s)) = (l.trace_id.as_deref(), l.span_id.as_deref()) else {
                return false;
            };
            spans.contains(&(t, s))
        })
        .count();
    let evidence = capped(
        obs.logs.iter().map(|l| {
            format!(
                "{} trace={} span={}: {}",
                l.severity_text.as_deref().unwrap_or("-"),
                l.trace_id.as_deref().unwrap_or("-"),
                l.span_id.as_deref().unwrap_or("-"),
                excerpt(&l.body, 80)
            )
        }),
        10,
    );
    if matched > 0 {
        return CheckResult::pass(
            ID,
            format!(
                "{matched} of {} log record(s) carry the trace and span id of a received span",
                obs.logs.len()
            ),
        )
        .with_evidence(evidence);
    }
    let msg = if with_context.is_empty() {
        format!(
            "none of {} log record(s) carries a trace id and span id: emit logs inside spans \
             through a bridge that copies the active span context",
            obs.logs.len()
        )
    } else {
        format!(
            "{} log record(s) carry a trace and span id, but none matches a received span: log \
             inside the spans that are exported",
            with_context.len()
        )
    };
    CheckResult::fail(ID, msg).with_evidence(evidence)
}
