//! LNT-*: source lint results (`codeintel-lint`), when `--source` was given.

use super::{CheckResult, capped};
use crate::observe::Observations;

/// The lint's rule for a file it could not parse (not UTF-8, syntax error).
const PARSE_ERROR_RULE: &str = "LNT-000";

fn lint_rule(obs: &Observations, id: &str, what: &str, fix: &str) -> CheckResult {
    let Some(lint) = &obs.lint else {
        return CheckResult::skip(id, "no --source given: the source lint did not run");
    };
    if let Some(e) = &lint.error {
        return CheckResult::error(id, format!("the source lint could not run: {e}"));
    }
    let findings: Vec<String> = lint
        .findings
        .iter()
        .filter(|f| f.rule == id)
        .map(|f| format!("{}:{}:{}: {}", f.path, f.line, f.column, f.message))
        .collect();
    if findings.is_empty() && lint.files_checked == 0 {
        return CheckResult::error(
            id,
            format!(
                "the source lint checked 0 files under {}: it holds no Rust or Python file the \
                 lint reads, so nothing was judged (point source_dir / --source at the \
                 implementation's source)",
                lint.root.display()
            ),
        );
    }
    let unparsed: Vec<String> = lint
        .findings
        .iter()
        .filter(|f| f.rule == PARSE_ERROR_RULE)
        .map(|f| format!("{}:{}:{}: {}", f.path, f.line, f.column, f.message))
        .collect();
    if findings.is_empty() && !unparsed.is_empty() {
        return CheckResult::error(
            id,
            format!(
                "{} file(s) under {} could not be parsed, so no {what} is shown absent there \
                 (first: {})",
                unparsed.len(),
                lint.root.display(),
                unparsed[0]
            ),
        )
        .with_evidence(capped(unparsed, 20));
    }
    if findings.is_empty() {
        return CheckResult::pass(
            id,
            format!(
                "no {what} in {} file(s) under {}",
                lint.files_checked,
                lint.root.display()
            ),
        );
    }
    CheckResult::fail(
        id,
        format!(
            "{} {what} found, first at {}: {fix}",
            findings.len(),
            findings[0]
        ),
    )
    .with_evidence(capped(findings, 20))
}

/// LNT-001: no legacy metric imports.
pub fn lnt_001(obs: &Observations) -> CheckResult {
    lint_rule(
        obs,
        "LNT-001",
        "legacy metric import(s)",
        "record metrics through OpenTelemetry instruments declared in the one metrics module",
    )
}

/// LNT-002: no legacy modules.
pub fn lnt_002(obs: &Observations) -> CheckResult {
    lint_rule(
        obs,
        "LNT-002",
        "legacy telemetry module(s)",
        "remove telemetry/prom.* and telemetry/otel.*; telemetry goes through one OTel set-up",
    )
}

/// LNT-003: no hand-made `/metrics` route.
pub fn lnt_003(obs: &Observations) -> CheckResult {
    lint_rule(
        obs,
        "LNT-003",
        "hand-made /metrics route(s)",
        "let the OTel Prometheus exporter serve /metrics on PROMETHEUS_PORT",
    )
}
