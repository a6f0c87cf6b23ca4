//! The field-by-field comparison of two snapshots: metrics, spans, attributes,
//! logs and resources, with renames paired up.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::gate::snapshot::{AttributeShape, LabelShape, MetricShape, Snapshot, SpanShape};

use super::{Change, ChangeKind, DiffConfig};

pub(super) struct Differ<'a> {
    pub(super) cfg: &'a DiffConfig,
    pub(super) changes: Vec<Change>,
}

/// A compact, one-line view of a value for `before` / `after`.
pub(super) fn show<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub(super) fn set_text(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// Pairs removed and added names whose shapes are equal, when the pairing is
/// unique on both sides.
pub(super) fn renames<'n, 's, T: PartialEq + 's>(
    removed: &[&'n str],
    added: &[&'n str],
    shape_before: impl Fn(&str) -> Option<&'s T>,
    shape_after: impl Fn(&str) -> Option<&'s T>,
) -> Vec<(&'n str, &'n str)> {
    let mut out = Vec::new();
    for &old in removed {
        let Some(s_old) = shape_before(old) else {
            continue;
        };
        let candidates: Vec<&str> = added
            .iter()
            .copied()
            .filter(|new| shape_after(new) == Some(s_old))
            .collect();
        if let [new] = candidates.as_slice() {
            let new = *new;
            let Some(s_new) = shape_after(new) else {
                continue;
            };
            let back = removed
                .iter()
                .filter(|o| shape_before(o) == Some(s_new))
                .count();
            if back == 1 {
                out.push((old, new));
            }
        }
    }
    out
}

/// Keys only in `before`, only in `after`, and in both.
pub(super) fn split<'a, V>(
    before: &'a BTreeMap<String, V>,
    after: &'a BTreeMap<String, V>,
) -> (Vec<&'a str>, Vec<&'a str>, Vec<&'a str>) {
    let removed = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .map(String::as_str)
        .collect();
    let added = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .map(String::as_str)
        .collect();
    let common = before
        .keys()
        .filter(|k| after.contains_key(*k))
        .map(String::as_str)
        .collect();
    (removed, added, common)
}

/// A metric's shape without its name, help, label values or series count:
/// what a rename keeps.
#[derive(PartialEq)]
pub(super) struct MetricIdentity<'a> {
    kind: &'a str,
    unit: Option<&'a str>,
    labels: Vec<&'a str>,
    buckets: Option<&'a [String]>,
}

pub(super) fn metric_identity(m: &MetricShape) -> MetricIdentity<'_> {
    MetricIdentity {
        kind: &m.kind,
        unit: m.unit.as_deref(),
        labels: m.labels.keys().map(String::as_str).collect(),
        buckets: m.buckets.as_deref(),
    }
}

impl Differ<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: ChangeKind,
        signal: &str,
        item: &str,
        field: Option<&str>,
        before: Option<String>,
        after: Option<String>,
        message: String,
    ) {
        let key = match field {
            Some(f) => format!("{kind}:{item}:{f}"),
            None => format!("{kind}:{item}"),
        };
        self.changes.push(Change {
            key,
            kind,
            severity: self.cfg.severity_of(kind),
            signal: signal.to_owned(),
            item: item.to_owned(),
            field: field.map(str::to_owned),
            before,
            after,
            message,
            accepted: None,
        });
    }

    pub(super) fn metrics(
        &mut self,
        before: &BTreeMap<String, MetricShape>,
        after: &BTreeMap<String, MetricShape>,
    ) {
        let (removed, added, common) = split(before, after);
        let identities_b: BTreeMap<&str, MetricIdentity<'_>> = removed
            .iter()
            .map(|n| (*n, metric_identity(&before[*n])))
            .collect();
        let identities_a: BTreeMap<&str, MetricIdentity<'_>> = added
            .iter()
            .map(|n| (*n, metric_identity(&after[*n])))
            .collect();
        let pairs = renames(
            &removed,
            &added,
            |n| identities_b.get(n),
            |n| identities_a.get(n),
        );
        let renamed_old: BTreeSet<&str> = pairs.iter().map(|p| p.0).collect();
        let renamed_new: BTreeSet<&str> = pairs.iter().map(|p| p.1).collect();
        for (old, new) in &pairs {
            self.push(
                ChangeKind::MetricRenamed,
                "metric",
                &format!("{old}->{new}"),
                None,
                Some((*old).to_owned()),
                Some((*new).to_owned()),
                format!("metric `{old}` renamed to `{new}` (same type, unit, labels and buckets)"),
            );
        }
        for name in removed.iter().copied().filter(|n| !renamed_old.contains(n)) {
            self.push(
                ChangeKind::MetricRemoved,
                "metric",
                name,
                None,
                Some(before[name].kind.clone()),
                None,
                format!("metric `{name}` is no longer emitted"),
            );
        }
        for name in added.iter().copied().filter(|n| !renamed_new.contains(n)) {
            self.push(
                ChangeKind::MetricAdded,
                "metric",
                name,
                None,
                None,
                Some(after[name].kind.clone()),
                format!("new metric `{name}` ({})", after[name].kind),
            );
        }
        for name in common {
            self.metric(name, &before[name], &after[name]);
        }
    }

    fn metric(&mut self, name: &str, b: &MetricShape, a: &MetricShape) {
        if b.kind != a.kind {
            self.push(
                ChangeKind::MetricTypeChanged,
                "metric",
                name,
                Some("type"),
                Some(b.kind.clone()),
                Some(a.kind.clone()),
                format!("metric `{name}` changed type from {} to {}", b.kind, a.kind),
            );
        }
        if b.unit != a.unit {
            self.push(
                ChangeKind::MetricUnitChanged,
                "metric",
                name,
                Some("unit"),
                b.unit.clone(),
                a.unit.clone(),
                format!(
                    "metric `{name}` changed unit from {} to {}",
                    b.unit.as_deref().unwrap_or("none"),
                    a.unit.as_deref().unwrap_or("none")
                ),
            );
        }
        if b.buckets != a.buckets {
            self.push(
                ChangeKind::MetricBucketsChanged,
                "metric",
                name,
                Some("buckets"),
                b.buckets.as_ref().map(show),
                a.buckets.as_ref().map(show),
                format!("histogram `{name}` changed its bucket bounds"),
            );
        }
        if b.help != a.help {
            self.push(
                ChangeKind::MetricHelpChanged,
                "metric",
                name,
                Some("help"),
                b.help.clone(),
                a.help.clone(),
                format!("metric `{name}` changed its help text"),
            );
        }
        self.labels(name, &b.labels, &a.labels);
        let grown = a.series.saturating_sub(b.series);
        let limit = b.series as f64 * self.cfg.thresholds.series_growth_percent / 100.0;
        if grown >= self.cfg.thresholds.series_growth_min && grown as f64 > limit {
            self.push(
                ChangeKind::SeriesGrew,
                "metric",
                name,
                Some("series"),
                Some(b.series.to_string()),
                Some(a.series.to_string()),
                format!(
                    "metric `{name}` grew from {} to {} series (more than {}%)",
                    b.series, a.series, self.cfg.thresholds.series_growth_percent
                ),
            );
        }
    }

    fn labels(
        &mut self,
        metric: &str,
        before: &BTreeMap<String, LabelShape>,
        after: &BTreeMap<String, LabelShape>,
    ) {
        let (removed, added, common) = split(before, after);
        // A label rename: one removed, one added, and the values agree.
        let pairs = renames(&removed, &added, |n| before.get(n), |n| after.get(n));
        let old: BTreeSet<&str> = pairs.iter().map(|p| p.0).collect();
        let new: BTreeSet<&str> = pairs.iter().map(|p| p.1).collect();
        for (o, n) in &pairs {
            self.push(
                ChangeKind::LabelRenamed,
                "metric",
                metric,
                Some(format!("{o}->{n}").as_str()),
                Some((*o).to_owned()),
                Some((*n).to_owned()),
                format!("metric `{metric}`: label `{o}` renamed to `{n}`"),
            );
        }
        for l in removed.iter().copied().filter(|l| !old.contains(l)) {
            self.push(
                ChangeKind::LabelRemoved,
                "metric",
                metric,
                Some(l),
                Some((*l).to_owned()),
                None,
                format!("metric `{metric}` lost label `{l}`"),
            );
        }
        for l in added.iter().copied().filter(|l| !new.contains(l)) {
            let values = &after[l];
            self.push(
                ChangeKind::LabelAdded,
                "metric",
                metric,
                Some(l),
                None,
                Some((*l).to_owned()),
                format!(
                    "metric `{metric}` has a new label `{l}` ({}): every value multiplies its series",
                    if values.bounded {
                        format!("values {}", set_text(&values.values))
                    } else {
                        "unbounded".to_owned()
                    }
                ),
            );
        }
        for l in common {
            let (b, a) = (&before[l], &after[l]);
            if b.bounded && !a.bounded {
                self.push(
                    ChangeKind::LabelUnbounded,
                    "metric",
                    metric,
                    Some(l),
                    Some(set_text(&b.values)),
                    Some("unbounded".to_owned()),
                    format!("metric `{metric}`: label `{l}` now takes unbounded values"),
                );
            }
            if !(b.bounded && a.bounded) {
                continue;
            }
            for v in b.values.difference(&a.values) {
                self.push(
                    ChangeKind::LabelValueRemoved,
                    "metric",
                    metric,
                    Some(format!("{l}={v}").as_str()),
                    Some(v.clone()),
                    None,
                    format!("metric `{metric}`: label `{l}` no longer takes the value `{v}`"),
                );
            }
            for v in a.values.difference(&b.values) {
                self.push(
                    ChangeKind::LabelValueAdded,
                    "metric",
                    metric,
                    Some(format!("{l}={v}").as_str()),
                    None,
                    Some(v.clone()),
                    format!("metric `{metric}`: label `{l}` takes a new value `{v}`"),
                );
            }
        }
    }

    pub(super) fn spans(
        &mut self,
        before: &BTreeMap<String, SpanShape>,
        after: &BTreeMap<String, SpanShape>,
    ) {
        let (removed, added, common) = split(before, after);
        let pairs = renames(&removed, &added, |n| before.get(n), |n| after.get(n));
        let old: BTreeSet<&str> = pairs.iter().map(|p| p.0).collect();
        let new: BTreeSet<&str> = pairs.iter().map(|p| p.1).collect();
        for (o, n) in &pairs {
            self.push(
                ChangeKind::SpanRenamed,
                "span",
                &format!("{o}->{n}"),
                None,
                Some((*o).to_owned()),
                Some((*n).to_owned()),
                format!("span `{o}` renamed to `{n}` (same kind, attributes and parents)"),
            );
        }
        for s in removed.iter().copied().filter(|s| !old.contains(s)) {
            self.push(
                ChangeKind::SpanRemoved,
                "span",
                s,
                None,
                Some(before[s].kind.clone()),
                None,
                format!("span `{s}` is no longer emitted"),
            );
        }
        for s in added.iter().copied().filter(|s| !new.contains(s)) {
            self.push(
                ChangeKind::SpanAdded,
                "span",
                s,
                None,
                None,
                Some(after[s].kind.clone()),
                format!("new span `{s}` ({})", after[s].kind),
            );
            for (k, attr) in &after[s].attributes {
                if attr.free_text {
                    self.free_text("span", s, k);
                }
            }
        }
        for s in common {
            self.span(s, &before[s], &after[s]);
        }
    }

    fn free_text(&mut self, signal: &str, item: &str, key: &str) {
        self.push(
            ChangeKind::AttributeFreeText,
            signal,
            item,
            Some(key),
            None,
            Some("free text".to_owned()),
            format!("{signal} `{item}`: attribute `{key}` holds free text (cardinality, privacy)"),
        );
    }

    fn span(&mut self, name: &str, b: &SpanShape, a: &SpanShape) {
        if b.kind != a.kind {
            self.push(
                ChangeKind::SpanKindChanged,
                "span",
                name,
                Some("kind"),
                Some(b.kind.clone()),
                Some(a.kind.clone()),
                format!("span `{name}` changed kind from {} to {}", b.kind, a.kind),
            );
        }
        if !b.parents.is_subset(&a.parents) {
            self.push(
                ChangeKind::SpanReparented,
                "span",
                name,
                Some("parents"),
                Some(set_text(&b.parents)),
                Some(set_text(&a.parents)),
                format!(
                    "span `{name}` re-parented: was under {}, now under {}",
                    set_text(&b.parents),
                    set_text(&a.parents)
                ),
            );
        }
        if b.status != a.status {
            self.push(
                ChangeKind::SpanStatusChanged,
                "span",
                name,
                Some("status"),
                Some(set_text(&b.status)),
                Some(set_text(&a.status)),
                format!(
                    "span `{name}` sets status {} (was {})",
                    set_text(&a.status),
                    set_text(&b.status)
                ),
            );
        }
        self.attributes("span", name, &b.attributes, &a.attributes, false);
        for e in b.events.keys().filter(|e| !a.events.contains_key(*e)) {
            self.push(
                ChangeKind::EventRemoved,
                "span",
                name,
                Some(e.as_str()),
                Some(e.clone()),
                None,
                format!("span `{name}` no longer records event `{e}`"),
            );
        }
        for e in a.events.keys().filter(|e| !b.events.contains_key(*e)) {
            self.push(
                ChangeKind::EventAdded,
                "span",
                name,
                Some(e.as_str()),
                None,
                Some(e.clone()),
                format!("span `{name}` records a new event `{e}`"),
            );
        }
    }

    /// Attribute changes of one span (`log`: of one log template, with the
    /// log kinds).
    fn attributes(
        &mut self,
        signal: &str,
        item: &str,
        before: &BTreeMap<String, AttributeShape>,
        after: &BTreeMap<String, AttributeShape>,
        log: bool,
    ) {
        let (removed, added, common) = split(before, after);
        let pairs = if log {
            Vec::new()
        } else {
            renames(&removed, &added, |n| before.get(n), |n| after.get(n))
        };
        let old: BTreeSet<&str> = pairs.iter().map(|p| p.0).collect();
        let new: BTreeSet<&str> = pairs.iter().map(|p| p.1).collect();
        for (o, n) in &pairs {
            self.push(
                ChangeKind::AttributeRenamed,
                signal,
                item,
                Some(format!("{o}->{n}").as_str()),
                Some((*o).to_owned()),
                Some((*n).to_owned()),
                format!("{signal} `{item}`: attribute `{o}` renamed to `{n}`"),
            );
        }
        let (removed_kind, added_kind) = if log {
            (
                ChangeKind::LogAttributeRemoved,
                ChangeKind::LogAttributeAdded,
            )
        } else {
            (ChangeKind::AttributeRemoved, ChangeKind::AttributeAdded)
        };
        for k in removed.iter().copied().filter(|k| !old.contains(k)) {
            self.push(
                removed_kind,
                signal,
                item,
                Some(k),
                Some(before[k].kind.clone()),
                None,
                format!("{signal} `{item}` lost attribute `{k}`"),
            );
        }
        for k in added.iter().copied().filter(|k| !new.contains(k)) {
            if after[k].free_text && !log {
                self.free_text(signal, item, k);
                continue;
            }
            self.push(
                added_kind,
                signal,
                item,
                Some(k),
                None,
                Some(after[k].kind.clone()),
                format!(
                    "{signal} `{item}` has a new attribute `{k}` ({})",
                    after[k].kind
                ),
            );
        }
        for k in common {
            let (b, a) = (&before[k], &after[k]);
            if b.kind != a.kind {
                self.push(
                    ChangeKind::AttributeTypeChanged,
                    signal,
                    item,
                    Some(k),
                    Some(b.kind.clone()),
                    Some(a.kind.clone()),
                    format!(
                        "{signal} `{item}`: attribute `{k}` changed type from {} to {}",
                        b.kind, a.kind
                    ),
                );
            }
            if a.free_text && !b.free_text && !log {
                self.free_text(signal, item, k);
            }
        }
    }

    pub(super) fn operations(&mut self, before: &Snapshot, after: &Snapshot) {
        // Paths through spans that were added, removed or renamed are
        // already reported as such.
        let gone: BTreeSet<&str> = before
            .spans
            .keys()
            .filter(|k| !after.spans.contains_key(*k))
            .chain(
                after
                    .spans
                    .keys()
                    .filter(|k| !before.spans.contains_key(*k)),
            )
            .map(String::as_str)
            .collect();
        let touches = |root: &str, path: &str| {
            gone.contains(root) || path.split(" > ").any(|s| gone.contains(s))
        };
        let empty = BTreeSet::new();
        let roots: BTreeSet<&String> = before
            .operations
            .keys()
            .chain(after.operations.keys())
            .collect();
        for root in roots {
            let b = before.operations.get(root).unwrap_or(&empty);
            let a = after.operations.get(root).unwrap_or(&empty);
            for p in b
                .difference(a)
                .filter(|p| !touches(root.as_str(), p.as_str()))
            {
                self.push(
                    ChangeKind::OperationPathRemoved,
                    "operation",
                    root,
                    Some(p.as_str()),
                    Some(p.clone()),
                    None,
                    format!("operation `{root}` no longer has `{p}` below it"),
                );
            }
            for p in a
                .difference(b)
                .filter(|p| !touches(root.as_str(), p.as_str()))
            {
                self.push(
                    ChangeKind::OperationPathAdded,
                    "operation",
                    root,
                    Some(p.as_str()),
                    None,
                    Some(p.clone()),
                    format!("operation `{root}` has a new path `{p}`"),
                );
            }
        }
    }

    pub(super) fn logs(&mut self, before: &Snapshot, after: &Snapshot) {
        let (b, a) = (&before.logs.records, &after.logs.records);
        let (removed, added, common) = split(b, a);
        for t in removed {
            self.push(
                ChangeKind::LogRemoved,
                "log",
                t,
                None,
                Some(set_text(&b[t].severities)),
                None,
                format!("log `{t}` is no longer written"),
            );
        }
        for t in added {
            self.push(
                ChangeKind::LogAdded,
                "log",
                t,
                None,
                None,
                Some(set_text(&a[t].severities)),
                format!("new log `{t}` ({})", set_text(&a[t].severities)),
            );
        }
        for t in common {
            if b[t].severities != a[t].severities {
                self.push(
                    ChangeKind::LogSeverityChanged,
                    "log",
                    t,
                    Some("severity"),
                    Some(set_text(&b[t].severities)),
                    Some(set_text(&a[t].severities)),
                    format!(
                        "log `{t}` changed severity from {} to {}",
                        set_text(&b[t].severities),
                        set_text(&a[t].severities)
                    ),
                );
            }
            self.attributes("log", t, &b[t].attributes, &a[t].attributes, true);
            self.correlation(t, &b[t].correlated, &a[t].correlated);
        }
        self.correlation(
            "(all logs)",
            &before.logs.correlated,
            &after.logs.correlated,
        );
    }

    fn correlation(&mut self, item: &str, before: &str, after: &str) {
        let rank = |s: &str| ["none", "some", "most", "all"].iter().position(|x| *x == s);
        if rank(after) < rank(before) {
            self.push(
                ChangeKind::LogCorrelationChanged,
                "log",
                item,
                Some("correlated"),
                Some(before.to_owned()),
                Some(after.to_owned()),
                format!(
                    "log `{item}`: {after} of its records carry a trace context (was {before})"
                ),
            );
        }
    }

    pub(super) fn resource(
        &mut self,
        before: &BTreeMap<String, String>,
        after: &BTreeMap<String, String>,
    ) {
        let (removed, added, common) = split(before, after);
        for k in removed {
            self.push(
                ChangeKind::ResourceAttributeRemoved,
                "resource",
                k,
                None,
                Some(before[k].clone()),
                None,
                format!("resource attribute `{k}` is gone"),
            );
        }
        for k in added {
            self.push(
                ChangeKind::ResourceAttributeAdded,
                "resource",
                k,
                None,
                None,
                Some(after[k].clone()),
                format!("new resource attribute `{k}` ({})", after[k]),
            );
        }
        for k in common.into_iter().filter(|k| before[*k] != after[*k]) {
            self.push(
                ChangeKind::ResourceAttributeTypeChanged,
                "resource",
                k,
                Some("type"),
                Some(before[k].clone()),
                Some(after[k].clone()),
                format!(
                    "resource attribute `{k}` changed type from {} to {}",
                    before[k], after[k]
                ),
            );
        }
    }

    pub(super) fn scopes(&mut self, before: &BTreeSet<String>, after: &BTreeSet<String>) {
        for s in before.difference(after) {
            self.push(
                ChangeKind::ScopeRemoved,
                "scope",
                s,
                None,
                Some(s.clone()),
                None,
                format!("instrumentation scope `{s}` emits nothing any more"),
            );
        }
        for s in after.difference(before) {
            self.push(
                ChangeKind::ScopeAdded,
                "scope",
                s,
                None,
                None,
                Some(s.clone()),
                format!("new instrumentation scope `{s}`"),
            );
        }
    }
}
