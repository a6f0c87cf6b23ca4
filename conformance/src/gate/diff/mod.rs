//! Field-by-field differences between two [`Snapshot`]s, each classified
//! **breaking**, **risky** or **additive**.
//!
//! Breaking: a metric, span, label or attribute removed or renamed; a type,
//! unit or bucket change; a span re-parented or of another kind; an attribute
//! of another type; a resource attribute removed. Risky: a new label on a
//! metric or a bounded label that became unbounded (cardinality), series
//! count up by more than a threshold, a span attribute that looks like free
//! text, lost log correlation, a removed log template or span event. Additive:
//! anything new.
//!
//! Renames are detected: a removed and an added item of the same shape
//! (metric: type, unit, label keys and buckets; span: kind, attributes and
//! parents; attribute or label: same type, same owner) pair up when the
//! pairing is unique, and show as one `…_renamed` change.
//!
//! [`DiffConfig`] (TOML) sets thresholds, overrides severities, chooses what
//! fails the gate and lists accepted changes with a reason each; an accepted
//! change that no longer occurs is stale and fails, like a stale expected
//! failure. The module is pure: snapshots and config in, [`DiffReport`] out.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::snapshot::Snapshot;

mod config;
mod differ;
mod kinds;
pub use config::*;
use differ::Differ;
pub use kinds::*;

/// Counts by severity (accepted changes counted apart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffSummary {
    pub breaking: usize,
    pub risky: usize,
    pub additive: usize,
    pub accepted: usize,
    pub stale: usize,
}

impl fmt::Display for DiffSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} breaking, {} risky, {} additive, {} accepted, {} stale accepted",
            self.breaking, self.risky, self.additive, self.accepted, self.stale
        )
    }
}

/// Every change, what the config accepted, and the verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffReport {
    pub baseline: String,
    pub current: String,
    pub fail_on: FailOn,
    /// Sorted: breaking first, then by key.
    pub changes: Vec<Change>,
    pub stale: Vec<StaleAccept>,
    pub summary: DiffSummary,
    /// The gate fails (exit 1).
    pub failed: bool,
}

impl DiffReport {
    /// Changes that fail the gate (not accepted, severity at or above `fail_on`).
    pub fn failing(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| c.accepted.is_none() && self.fail_on.fails(c.severity))
    }

    /// The exit code: 1 when the gate fails, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.failed)
    }
}

/// Compares `current` with `baseline` under `cfg`; `baseline_name` and
/// `current_name` label the report.
pub fn diff(
    baseline: &Snapshot,
    current: &Snapshot,
    cfg: &DiffConfig,
    baseline_name: &str,
    current_name: &str,
) -> DiffReport {
    let mut d = Differ {
        cfg,
        changes: Vec::new(),
    };
    d.metrics(&baseline.metrics, &current.metrics);
    d.spans(&baseline.spans, &current.spans);
    d.operations(baseline, current);
    d.logs(baseline, current);
    d.resource(&baseline.resource, &current.resource);
    d.scopes(&baseline.scopes, &current.scopes);
    let mut changes = d.changes;

    let mut stale = Vec::new();
    for (pattern, reason) in &cfg.accept {
        let mut used = false;
        for c in changes.iter_mut().filter(|c| key_matches(pattern, &c.key)) {
            c.accepted = Some(reason.clone());
            used = true;
        }
        if !used {
            stale.push(StaleAccept {
                key: pattern.clone(),
                reason: reason.clone(),
            });
        }
    }
    changes.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.key.cmp(&b.key)));
    changes.dedup_by(|a, b| a.key == b.key);

    let mut summary = DiffSummary {
        stale: stale.len(),
        ..DiffSummary::default()
    };
    for c in &changes {
        if c.accepted.is_some() {
            summary.accepted += 1;
            continue;
        }
        match c.severity {
            Severity::Breaking => summary.breaking += 1,
            Severity::Risky => summary.risky += 1,
            Severity::Additive => summary.additive += 1,
        }
    }
    let mut report = DiffReport {
        baseline: baseline_name.to_owned(),
        current: current_name.to_owned(),
        fail_on: cfg.fail_on,
        changes,
        stale,
        summary,
        failed: false,
    };
    report.failed = !report.stale.is_empty() || report.failing().next().is_some();
    report
}

#[cfg(test)]
mod tests {
    use super::differ::show;
    use super::*;
    use crate::gate::snapshot::{AttributeShape, LabelShape, MetricShape, SpanShape};
    use crate::gate::snapshot::{FORMAT, LogShape, LogsShape, ROOT};
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    fn label(values: &[&str]) -> LabelShape {
        LabelShape {
            bounded: true,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    fn attr(kind: &str) -> AttributeShape {
        AttributeShape {
            kind: kind.to_owned(),
            free_text: false,
        }
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn base() -> Snapshot {
        let latency = MetricShape {
            kind: "histogram".into(),
            unit: Some("s".into()),
            help: Some("Duration.".into()),
            labels: [("model".to_owned(), label(&["m"]))].into(),
            buckets: Some(vec!["0.1".into(), "1".into(), "+Inf".into()]),
            series: 2,
        };
        let counter = MetricShape {
            kind: "counter".into(),
            unit: None,
            help: Some("Decisions.".into()),
            labels: [("class".to_owned(), label(&["prose", "symbol"]))].into(),
            buckets: None,
            series: 2,
        };
        let tool = SpanShape {
            kind: "server".into(),
            attributes: [("gen_ai.tool.name".to_owned(), attr("string"))].into(),
            status: set(&["unset"]),
            parents: set(&[ROOT]),
            events: BTreeMap::new(),
            scopes: set(&["codeintel"]),
        };
        let fuse = SpanShape {
            kind: "internal".into(),
            attributes: [("rrf.k".to_owned(), attr("int"))].into(),
            status: set(&["unset"]),
            parents: set(&["tools/call semantic_search"]),
            events: BTreeMap::new(),
            scopes: set(&["codeintel"]),
        };
        Snapshot {
            format: FORMAT.into(),
            metrics: [
                ("codeintel_embed_latency_seconds".to_owned(), latency),
                ("codeintel_gating_decisions_total".to_owned(), counter),
            ]
            .into(),
            spans: [
                ("tools/call semantic_search".to_owned(), tool),
                ("fuse".to_owned(), fuse),
            ]
            .into(),
            operations: [("tools/call semantic_search".to_owned(), set(&["fuse"]))].into(),
            logs: LogsShape {
                correlated: "all".into(),
                records: [(
                    "search degraded: <*>".to_owned(),
                    LogShape {
                        severities: set(&["WARN"]),
                        attributes: [("limit".to_owned(), attr("string"))].into(),
                        correlated: "all".into(),
                    },
                )]
                .into(),
            },
            resource: [("service.name".to_owned(), "string".to_owned())].into(),
            scopes: set(&["codeintel"]),
        }
    }

    fn run(current: &Snapshot) -> DiffReport {
        diff(&base(), current, &DiffConfig::default(), "base", "current")
    }

    fn kinds(r: &DiffReport) -> Vec<(ChangeKind, Severity)> {
        r.changes.iter().map(|c| (c.kind, c.severity)).collect()
    }

    #[test]
    fn identical_snapshots_have_no_change() {
        let r = run(&base());
        assert!(r.changes.is_empty() && !r.failed, "{r:?}");
        assert_eq!(r.exit_code(), 0);
    }

    #[test]
    fn bucket_unit_type_changes_are_breaking() {
        let mut s = base();
        let m = s
            .metrics
            .get_mut("codeintel_embed_latency_seconds")
            .unwrap();
        m.buckets = Some(vec!["0.005".into(), "+Inf".into()]);
        m.unit = Some("ms".into());
        s.metrics
            .get_mut("codeintel_gating_decisions_total")
            .unwrap()
            .kind = "gauge".into();
        let r = run(&s);
        assert_eq!(
            kinds(&r),
            [
                (ChangeKind::MetricBucketsChanged, Severity::Breaking),
                (ChangeKind::MetricTypeChanged, Severity::Breaking),
                (ChangeKind::MetricUnitChanged, Severity::Breaking),
            ]
        );
        assert_eq!(
            r.changes[0].key,
            "metric_buckets_changed:codeintel_embed_latency_seconds:buckets"
        );
        assert!(r.failed);
        assert_eq!(r.summary.breaking, 3);
    }

    #[test]
    fn removed_and_added_metrics_and_renames() {
        let mut s = base();
        let m = s.metrics.remove("codeintel_embed_latency_seconds").unwrap();
        s.metrics
            .insert("codeintel_embedding_latency_seconds".into(), m);
        let r = run(&s);
        assert_eq!(kinds(&r), [(ChangeKind::MetricRenamed, Severity::Breaking)]);
        assert_eq!(
            r.changes[0].key,
            "metric_renamed:codeintel_embed_latency_seconds->codeintel_embedding_latency_seconds"
        );

        let mut s = base();
        s.metrics.remove("codeintel_embed_latency_seconds");
        let mut extra = base().metrics["codeintel_gating_decisions_total"].clone();
        extra.labels.clear();
        s.metrics.insert("codeintel_new_total".into(), extra);
        let r = run(&s);
        assert_eq!(
            kinds(&r),
            [
                (ChangeKind::MetricRemoved, Severity::Breaking),
                (ChangeKind::MetricAdded, Severity::Additive),
            ]
        );
    }

    #[test]
    fn ambiguous_renames_are_not_guessed() {
        let mut s = base();
        let m = s.metrics.remove("codeintel_embed_latency_seconds").unwrap();
        s.metrics.insert("codeintel_a_seconds".into(), m.clone());
        s.metrics.insert("codeintel_b_seconds".into(), m);
        let r = run(&s);
        let k: Vec<ChangeKind> = r.changes.iter().map(|c| c.kind).collect();
        assert_eq!(
            k,
            [
                ChangeKind::MetricRemoved,
                ChangeKind::MetricAdded,
                ChangeKind::MetricAdded
            ]
        );
    }

    #[test]
    fn labels_removed_added_renamed_and_cardinality() {
        let mut s = base();
        s.metrics
            .get_mut("codeintel_embed_latency_seconds")
            .unwrap()
            .labels
            .clear();
        let r = run(&s);
        assert_eq!(kinds(&r), [(ChangeKind::LabelRemoved, Severity::Breaking)]);
        assert_eq!(
            r.changes[0].key,
            "label_removed:codeintel_embed_latency_seconds:model"
        );

        let mut s = base();
        let labels = &mut s
            .metrics
            .get_mut("codeintel_embed_latency_seconds")
            .unwrap()
            .labels;
        let v = labels.remove("model").unwrap();
        labels.insert("embed_model".into(), v);
        assert_eq!(
            kinds(&run(&s)),
            [(ChangeKind::LabelRenamed, Severity::Breaking)]
        );

        let mut s = base();
        let m = s
            .metrics
            .get_mut("codeintel_gating_decisions_total")
            .unwrap();
        m.labels.insert(
            "query".into(),
            LabelShape {
                bounded: false,
                values: BTreeSet::new(),
            },
        );
        m.series = 40;
        let r = run(&s);
        assert_eq!(
            kinds(&r),
            [
                (ChangeKind::LabelAdded, Severity::Risky),
                (ChangeKind::SeriesGrew, Severity::Risky),
            ]
        );
        assert!(!r.failed, "risky does not fail by default");

        let mut s = base();
        let m = s
            .metrics
            .get_mut("codeintel_gating_decisions_total")
            .unwrap();
        m.labels.get_mut("class").unwrap().values = set(&["prose", "natural"]);
        m.series = 3;
        assert_eq!(
            kinds(&run(&s)),
            [
                (ChangeKind::LabelValueRemoved, Severity::Risky),
                (ChangeKind::LabelValueAdded, Severity::Additive),
            ]
        );
    }

    #[test]
    fn span_changes() {
        let mut s = base();
        let fuse = s.spans.get_mut("fuse").unwrap();
        fuse.parents = set(&[ROOT]);
        fuse.kind = "client".into();
        fuse.attributes.insert("rrf.k".into(), attr("string"));
        fuse.attributes.insert(
            "query.text".into(),
            AttributeShape {
                kind: "string".into(),
                free_text: true,
            },
        );
        fuse.events.insert("exception".into(), BTreeSet::new());
        fuse.status = set(&["error", "unset"]);
        s.operations.insert("fuse".into(), BTreeSet::new());
        s.operations
            .insert("tools/call semantic_search".into(), BTreeSet::new());
        let r = run(&s);
        let k: Vec<(ChangeKind, Severity)> = kinds(&r);
        for expected in [
            (ChangeKind::SpanReparented, Severity::Breaking),
            (ChangeKind::SpanKindChanged, Severity::Breaking),
            (ChangeKind::AttributeTypeChanged, Severity::Breaking),
            (ChangeKind::AttributeFreeText, Severity::Risky),
            (ChangeKind::SpanStatusChanged, Severity::Risky),
            (ChangeKind::EventAdded, Severity::Additive),
            (ChangeKind::OperationPathRemoved, Severity::Risky),
        ] {
            assert!(k.contains(&expected), "{expected:?} missing from {k:?}");
        }
        assert_eq!(k.len(), 7, "{k:?}");
    }

    #[test]
    fn span_rename_and_attribute_rename() {
        let mut s = base();
        let fuse = s.spans.remove("fuse").unwrap();
        s.spans.insert("rrf_fuse".into(), fuse);
        s.operations
            .insert("tools/call semantic_search".into(), set(&["rrf_fuse"]));
        let r = run(&s);
        assert_eq!(kinds(&r), [(ChangeKind::SpanRenamed, Severity::Breaking)]);
        assert_eq!(r.changes[0].key, "span_renamed:fuse->rrf_fuse");

        let mut s = base();
        let a = &mut s.spans.get_mut("fuse").unwrap().attributes;
        let v = a.remove("rrf.k").unwrap();
        a.insert("fusion.rrf_k".into(), v);
        let r = run(&s);
        assert_eq!(
            kinds(&r),
            [(ChangeKind::AttributeRenamed, Severity::Breaking)]
        );
        assert_eq!(
            r.changes[0].key,
            "attribute_renamed:fuse:rrf.k->fusion.rrf_k"
        );
    }

    #[test]
    fn log_resource_and_scope_changes() {
        let mut s = base();
        let rec = s.logs.records.remove("search degraded: <*>").unwrap();
        let mut rec2 = rec.clone();
        rec2.correlated = "none".into();
        s.logs.records.insert("search degraded: <*>".into(), rec2);
        s.logs.records.insert("other".into(), rec);
        s.logs.correlated = "most".into();
        s.resource.insert("service.name".into(), "int".into());
        s.resource.insert("service.version".into(), "string".into());
        s.scopes.insert("extra".into());
        let r = run(&s);
        let k = kinds(&r);
        for expected in [
            (ChangeKind::LogCorrelationChanged, Severity::Risky),
            (ChangeKind::LogAdded, Severity::Additive),
            (ChangeKind::ResourceAttributeTypeChanged, Severity::Breaking),
            (ChangeKind::ResourceAttributeAdded, Severity::Additive),
            (ChangeKind::ScopeAdded, Severity::Additive),
        ] {
            assert!(k.contains(&expected), "{expected:?} missing from {k:?}");
        }
        assert_eq!(
            r.changes
                .iter()
                .filter(|c| c.kind == ChangeKind::LogCorrelationChanged)
                .count(),
            2
        );
    }

    #[test]
    fn accepted_changes_pass_and_stale_ones_fail() {
        let mut s = base();
        s.metrics
            .get_mut("codeintel_embed_latency_seconds")
            .unwrap()
            .buckets = Some(vec!["0.5".into(), "+Inf".into()]);
        let cfg = DiffConfig::parse(
            r#"
[accept]
"metric_buckets_changed:codeintel_embed_latency_seconds:buckets" = "new SLO buckets, see #31"
"#,
            Path::new("gate.toml"),
        )
        .unwrap();
        let r = diff(&base(), &s, &cfg, "b", "c");
        assert!(!r.failed, "{r:?}");
        assert_eq!(r.summary.accepted, 1);
        assert_eq!(
            r.changes[0].accepted.as_deref(),
            Some("new SLO buckets, see #31")
        );

        // The same config against an unchanged snapshot: the acceptance is stale.
        let r = diff(&base(), &base(), &cfg, "b", "c");
        assert!(r.failed);
        assert_eq!(r.stale.len(), 1);
        assert_eq!(r.summary.stale, 1);
        assert_eq!(r.exit_code(), 1);

        // A prefix pattern.
        let cfg = DiffConfig::parse(
            "[accept]\n\"metric_buckets_changed:*\" = \"all buckets reworked\"\n",
            Path::new("gate.toml"),
        )
        .unwrap();
        assert!(!diff(&base(), &s, &cfg, "b", "c").failed);
    }

    #[test]
    fn config_overrides_severity_thresholds_and_fail_on() {
        let cfg = DiffConfig::parse(
            r#"
fail_on = "risky"
[thresholds]
series_growth_percent = 10.0
series_growth_min = 1
[severity]
log_removed = "breaking"
"#,
            Path::new("gate.toml"),
        )
        .unwrap();
        let mut s = base();
        s.metrics
            .get_mut("codeintel_gating_decisions_total")
            .unwrap()
            .series = 3;
        let r = diff(&base(), &s, &cfg, "b", "c");
        assert_eq!(kinds(&r), [(ChangeKind::SeriesGrew, Severity::Risky)]);
        assert!(r.failed, "fail_on = risky");

        let mut s = base();
        s.logs.records.clear();
        let r = diff(&base(), &s, &cfg, "b", "c");
        assert_eq!(kinds(&r), [(ChangeKind::LogRemoved, Severity::Breaking)]);

        assert!(matches!(
            DiffConfig::parse("[accept]\n\"x\" = \" \"\n", Path::new("g.toml")),
            Err(DiffConfigError::EmptyReason { .. })
        ));
        assert!(matches!(
            DiffConfig::parse("fail_on = \"sometimes\"\n", Path::new("g.toml")),
            Err(DiffConfigError::Parse { .. })
        ));
        assert!(matches!(
            DiffConfig::parse(
                "[severity]\nno_such_kind = \"risky\"\n",
                Path::new("g.toml")
            ),
            Err(DiffConfigError::UnknownKind { .. })
        ));
    }

    #[test]
    fn every_kind_has_a_unique_name() {
        let names: BTreeSet<&str> = ChangeKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ChangeKind::ALL.len());
        for k in ChangeKind::ALL {
            assert_eq!(show(k), format!("\"{}\"", k.as_str()));
        }
    }
}
