//! The telemetry diff as a terminal table, Markdown (for a pull-request
//! comment or `$GITHUB_STEP_SUMMARY`), JSON, JUnit XML and SARIF 2.1.0.
//! Pure functions from a [`DiffReport`] to text.

use std::fmt::Write as _;
use std::io;

use serde_json::json;

use super::diff::{Change, ChangeKind, DiffReport, Severity};
use crate::report::junit::{Child, JunitWriter, Layout, or_comment};
use crate::report::one_line;

fn verdict(r: &DiffReport) -> &'static str {
    if r.failed { "FAIL" } else { "PASS" }
}

fn label(c: &Change) -> String {
    match &c.accepted {
        Some(_) => format!("accepted ({})", c.severity),
        None => c.severity.as_str().to_owned(),
    }
}

fn before_after(c: &Change) -> String {
    match (&c.before, &c.after) {
        (Some(b), Some(a)) => format!("{b} → {a}"),
        (Some(b), None) => format!("{b} → (none)"),
        (None, Some(a)) => format!("(none) → {a}"),
        (None, None) => String::new(),
    }
}

/// A plain table for the terminal.
pub fn terminal(r: &DiffReport) -> String {
    let mut out = format!("telemetry diff: {} → {}\n", r.baseline, r.current);
    if r.changes.is_empty() && r.stale.is_empty() {
        out.push_str("no change: the telemetry surface matches the baseline\n");
    }
    let width = r
        .changes
        .iter()
        .map(|c| label(c).len())
        .max()
        .unwrap_or(0)
        .max(8);
    for c in &r.changes {
        let _ = writeln!(
            out,
            "  {:<width$}  {}",
            label(c).to_uppercase(),
            one_line(&c.message)
        );
        let ba = before_after(c);
        if !ba.is_empty() {
            let _ = writeln!(out, "  {:<width$}    {}", "", one_line(&ba));
        }
        let _ = writeln!(out, "  {:<width$}    key {}", "", c.key);
        if let Some(reason) = &c.accepted {
            let _ = writeln!(out, "  {:<width$}    accepted: {}", "", one_line(reason));
        }
    }
    for s in &r.stale {
        let _ = writeln!(
            out,
            "  {:<width$}  accepted change `{}` no longer occurs ({}); remove it from the config",
            "STALE",
            s.key,
            one_line(&s.reason)
        );
    }
    let _ = writeln!(
        out,
        "{}: {} (fails on {})",
        verdict(r),
        r.summary,
        fail_on_text(r)
    );
    out
}

fn fail_on_text(r: &DiffReport) -> &'static str {
    use super::diff::FailOn;
    match r.fail_on {
        FailOn::Breaking => "breaking",
        FailOn::Risky => "risky and breaking",
        FailOn::Additive => "any change",
        FailOn::Never => "stale acceptances only",
    }
}

fn md_cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

/// Markdown: a verdict line, then one table per severity.
pub fn markdown(r: &DiffReport) -> String {
    let mut out = String::from("## Telemetry diff\n\n");
    let _ = writeln!(
        out,
        "**{}** — {} (fails on {}).\n\nBaseline `{}`, current `{}`.\n",
        verdict(r),
        r.summary,
        fail_on_text(r),
        r.baseline,
        r.current
    );
    if r.changes.is_empty() && r.stale.is_empty() {
        out.push_str("No change: the telemetry surface matches the baseline.\n");
        return out;
    }
    for (severity, heading) in [
        (Severity::Breaking, "Breaking"),
        (Severity::Risky, "Risky"),
        (Severity::Additive, "Additive"),
    ] {
        let rows: Vec<&Change> = r
            .changes
            .iter()
            .filter(|c| c.severity == severity && c.accepted.is_none())
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {heading} ({})\n", rows.len());
        out.push_str("| change | what | before → after |\n| --- | --- | --- |\n");
        for c in rows {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                c.kind,
                md_cell(&c.message),
                md_cell(&before_after(c))
            );
        }
        out.push('\n');
    }
    let accepted: Vec<&Change> = r.changes.iter().filter(|c| c.accepted.is_some()).collect();
    if !accepted.is_empty() {
        let _ = writeln!(out, "### Accepted ({})\n", accepted.len());
        out.push_str("| change | what | reason |\n| --- | --- | --- |\n");
        for c in accepted {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                c.kind,
                md_cell(&c.message),
                md_cell(c.accepted.as_deref().unwrap_or_default())
            );
        }
        out.push('\n');
    }
    if !r.stale.is_empty() {
        let _ = writeln!(out, "### Stale accepted changes ({})\n", r.stale.len());
        for s in &r.stale {
            let _ = writeln!(
                out,
                "- `{}` no longer occurs ({}): remove it from the config",
                md_cell(&s.key),
                md_cell(&s.reason)
            );
        }
        out.push('\n');
    }
    out.push_str(
        "<sub>Accept an intended change with its key under `[accept]` in the gate config, \
         with a reason; `--update` rewrites the baseline.</sub>\n",
    );
    out
}

/// The report as pretty JSON.
pub fn json(r: &DiffReport) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// JUnit XML: one test case per change (failures for those that fail the
/// gate, skipped for accepted ones) and per stale acceptance; one passing
/// case when nothing changed.
pub fn junit(r: &DiffReport) -> String {
    or_comment(write_junit(r))
}

fn write_junit(r: &DiffReport) -> io::Result<String> {
    let mut w = JunitWriter::new(Layout::Indented)?;
    let failing: Vec<&Change> = r.failing().collect();
    let tests = (r.changes.len() + r.stale.len()).max(1);
    let failures = failing.len() + r.stale.len();
    let skipped = r.summary.accepted;
    let (tests, failures, skipped) = (tests.to_string(), failures.to_string(), skipped.to_string());
    let suite = [
        ("name", "telemetry-diff"),
        ("tests", tests.as_str()),
        ("failures", failures.as_str()),
        ("errors", "0"),
        ("skipped", skipped.as_str()),
    ];
    w.suites(&[], |w| {
        w.suite(&suite, |w| {
            if r.changes.is_empty() && r.stale.is_empty() {
                w.case(
                    &[
                        ("classname", "telemetry-diff"),
                        ("name", "the telemetry surface matches the baseline"),
                    ],
                    None,
                )?;
            }
            for c in &r.changes {
                let fails = failing.iter().any(|f| f.key == c.key);
                let name = one_line(&c.key);
                let class = format!("telemetry-diff.{}", c.signal);
                let case = [("classname", class.as_str()), ("name", name.as_str())];
                let message = one_line(&c.message);
                if fails {
                    w.case(
                        &case,
                        Some(Child::failure(
                            &[("message", message.as_str()), ("type", c.severity.as_str())],
                            Some(before_after(c).as_str()),
                        )),
                    )?;
                } else if let Some(reason) = &c.accepted {
                    let m = format!("accepted: {}", one_line(reason));
                    w.case(&case, Some(Child::skipped(&[("message", m.as_str())])))?;
                } else {
                    let text = format!("{}: {}", c.severity, message);
                    w.case(&case, Some(Child::system_out(&text)))?;
                }
            }
            for s in &r.stale {
                let name = format!("stale accepted change {}", one_line(&s.key));
                let message = format!(
                    "accepted change no longer occurs ({}); remove it from the config",
                    one_line(&s.reason)
                );
                w.case(
                    &[
                        ("classname", "telemetry-diff.config"),
                        ("name", name.as_str()),
                    ],
                    Some(Child::failure(
                        &[("message", message.as_str()), ("type", "stale")],
                        None,
                    )),
                )?;
            }
            Ok(())
        })
    })?;
    w.finish()
}

fn sarif_level(c: &Change, r: &DiffReport) -> &'static str {
    if c.accepted.is_some() {
        "none"
    } else if r.failing().any(|f| f.key == c.key) {
        "error"
    } else if c.severity == Severity::Additive {
        "note"
    } else {
        "warning"
    }
}

/// SARIF 2.1.0: one rule per change kind, one result per change and per
/// stale acceptance, located at the baseline file.
pub fn sarif(r: &DiffReport) -> String {
    let rules: Vec<serde_json::Value> = ChangeKind::ALL
        .iter()
        .map(|k| {
            json!({
                "id": k.as_str(),
                "shortDescription": { "text": k.as_str().replace('_', " ") },
                "properties": { "severity": k.default_severity().as_str() },
            })
        })
        .chain(std::iter::once(json!({
            "id": "stale_accepted_change",
            "shortDescription": { "text": "an accepted change no longer occurs" },
        })))
        .collect();
    let location = json!([{
        "physicalLocation": { "artifactLocation": { "uri": r.baseline } }
    }]);
    let mut results: Vec<serde_json::Value> = r
        .changes
        .iter()
        .map(|c| {
            json!({
                "ruleId": c.kind.as_str(),
                "level": sarif_level(c, r),
                "message": { "text": c.message },
                "locations": location,
                "partialFingerprints": { "changeKey": c.key },
                "properties": {
                    "severity": c.severity.as_str(),
                    "signal": c.signal,
                    "before": c.before,
                    "after": c.after,
                    "accepted": c.accepted,
                },
            })
        })
        .collect();
    results.extend(r.stale.iter().map(|s| {
        json!({
            "ruleId": "stale_accepted_change",
            "level": "error",
            "message": { "text": format!("accepted change `{}` no longer occurs ({}); remove it from the config", s.key, s.reason) },
            "locations": location,
        })
    }));
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "codeintel-conformance telemetry diff",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::diff::{DiffConfig, diff};
    use crate::gate::snapshot::{MetricShape, Snapshot};

    fn report() -> DiffReport {
        let mut a = Snapshot::default();
        a.metrics.insert(
            "codeintel_x_seconds".into(),
            MetricShape {
                kind: "histogram".into(),
                buckets: Some(vec!["1".into(), "+Inf".into()]),
                ..MetricShape::default()
            },
        );
        a.metrics.insert(
            "codeintel_y_total".into(),
            MetricShape {
                kind: "counter".into(),
                ..MetricShape::default()
            },
        );
        let mut b = a.clone();
        b.metrics.get_mut("codeintel_x_seconds").unwrap().buckets =
            Some(vec!["2".into(), "+Inf".into()]);
        b.metrics.remove("codeintel_y_total");
        b.metrics.insert(
            "codeintel_z".into(),
            MetricShape {
                kind: "gauge".into(),
                ..MetricShape::default()
            },
        );
        let cfg = DiffConfig::parse(
            "[accept]\n\"metric_removed:codeintel_y_total\" = \"folded into z | see #9\"\n\"metric_added:nothing\" = \"old\"\n",
            std::path::Path::new("g.toml"),
        )
        .unwrap();
        diff(&a, &b, &cfg, "base.json", "cur.json")
    }

    #[test]
    fn every_format_names_the_changes() {
        let r = report();
        assert!(r.failed);
        // The whole renderings, reviewed in src/gate/snapshots/: a breaking
        // bucket change, an accepted removal (its reason holds a `|`), an
        // additive metric and a stale acceptance.
        insta::assert_snapshot!("diff_terminal", terminal(&r));
        insta::assert_snapshot!("diff_markdown", markdown(&r));
        insta::assert_snapshot!("diff_junit", junit(&r));

        let j: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(j["summary"]["breaking"], 1);
        assert_eq!(j["failed"], true);

        let s: serde_json::Value = serde_json::from_str(&sarif(&r)).unwrap();
        assert_eq!(s["version"], "2.1.0");
        let results = s["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 4);
        assert!(
            results
                .iter()
                .any(|x| x["ruleId"] == "metric_buckets_changed" && x["level"] == "error")
        );
        assert!(
            results
                .iter()
                .any(|x| x["ruleId"] == "stale_accepted_change")
        );
    }

    #[test]
    fn no_change_passes() {
        let r = diff(
            &Snapshot::default(),
            &Snapshot::default(),
            &DiffConfig::default(),
            "a",
            "b",
        );
        assert!(!r.failed);
        insta::assert_snapshot!("no_change_terminal", terminal(&r));
        insta::assert_snapshot!("no_change_markdown", markdown(&r));
        insta::assert_snapshot!("no_change_junit", junit(&r));
    }
}
