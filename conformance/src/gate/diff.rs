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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::snapshot::{AttributeShape, LabelShape, MetricShape, Snapshot, SpanShape};

/// How much a change matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Additive,
    Risky,
    Breaking,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Additive => "additive",
            Self::Risky => "risky",
            Self::Breaking => "breaking",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! change_kinds {
    ($($variant:ident => $severity:ident, $name:literal;)*) => {
        /// What changed. Each kind has a default [`Severity`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ChangeKind { $($variant,)* }

        impl ChangeKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The snake_case name used in keys, configs and reports.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// The severity when the config does not override it.
            pub const fn default_severity(self) -> Severity {
                match self { $(Self::$variant => Severity::$severity,)* }
            }
        }
    };
}

change_kinds! {
    MetricRemoved => Breaking, "metric_removed";
    MetricRenamed => Breaking, "metric_renamed";
    MetricAdded => Additive, "metric_added";
    MetricTypeChanged => Breaking, "metric_type_changed";
    MetricUnitChanged => Breaking, "metric_unit_changed";
    MetricBucketsChanged => Breaking, "metric_buckets_changed";
    MetricHelpChanged => Additive, "metric_help_changed";
    LabelRemoved => Breaking, "label_removed";
    LabelRenamed => Breaking, "label_renamed";
    LabelAdded => Risky, "label_added";
    LabelUnbounded => Risky, "label_unbounded";
    LabelValueRemoved => Risky, "label_value_removed";
    LabelValueAdded => Additive, "label_value_added";
    SeriesGrew => Risky, "series_grew";
    SpanRemoved => Breaking, "span_removed";
    SpanRenamed => Breaking, "span_renamed";
    SpanAdded => Additive, "span_added";
    SpanKindChanged => Breaking, "span_kind_changed";
    SpanReparented => Breaking, "span_reparented";
    SpanStatusChanged => Risky, "span_status_changed";
    AttributeRemoved => Breaking, "attribute_removed";
    AttributeRenamed => Breaking, "attribute_renamed";
    AttributeTypeChanged => Breaking, "attribute_type_changed";
    AttributeAdded => Additive, "attribute_added";
    AttributeFreeText => Risky, "attribute_free_text";
    EventRemoved => Risky, "event_removed";
    EventAdded => Additive, "event_added";
    OperationPathRemoved => Risky, "operation_path_removed";
    OperationPathAdded => Additive, "operation_path_added";
    LogRemoved => Risky, "log_removed";
    LogAdded => Additive, "log_added";
    LogSeverityChanged => Risky, "log_severity_changed";
    LogAttributeRemoved => Risky, "log_attribute_removed";
    LogAttributeAdded => Additive, "log_attribute_added";
    LogCorrelationChanged => Risky, "log_correlation_changed";
    ResourceAttributeRemoved => Breaking, "resource_attribute_removed";
    ResourceAttributeTypeChanged => Breaking, "resource_attribute_type_changed";
    ResourceAttributeAdded => Additive, "resource_attribute_added";
    ScopeRemoved => Risky, "scope_removed";
    ScopeAdded => Additive, "scope_added";
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference between baseline and current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `kind:item[:detail]`, stable across runs: what `[accept]` names.
    pub key: String,
    pub kind: ChangeKind,
    pub severity: Severity,
    /// `metric`, `span`, `log`, `resource`, `scope`, `operation`.
    pub signal: String,
    /// The metric, span, log template or operation concerned.
    pub item: String,
    /// What in it changed (`buckets`, a label or attribute key, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// One sentence for a human.
    pub message: String,
    /// The reason it was accepted, if the config accepts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<String>,
}

/// An accepted change that did not occur.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleAccept {
    pub key: String,
    pub reason: String,
}

/// What fails the gate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailOn {
    /// Breaking changes (the default).
    #[default]
    Breaking,
    /// Breaking and risky changes.
    Risky,
    /// Any change at all.
    Additive,
    /// Nothing (report only); stale accepted changes still fail.
    Never,
}

impl FailOn {
    fn fails(self, s: Severity) -> bool {
        match self {
            Self::Breaking => s >= Severity::Breaking,
            Self::Risky => s >= Severity::Risky,
            Self::Additive => true,
            Self::Never => false,
        }
    }
}

/// Thresholds of the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Series count up by more than this percentage is risky.
    pub series_growth_percent: f64,
    /// … and by at least this many series (small families may double
    /// harmlessly).
    pub series_growth_min: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            series_growth_percent: 50.0,
            series_growth_min: 5,
        }
    }
}

/// The gate's config (`--config FILE.toml`):
///
/// ```toml
/// fail_on = "breaking"            # breaking | risky | additive | never
/// [thresholds]
/// series_growth_percent = 50.0
/// series_growth_min = 5
/// [severity]                      # override a kind's default
/// log_removed = "breaking"
/// [accept]                        # key (as reported) = reason; `*` at the end matches a prefix
/// "metric_buckets_changed:codeintel_embed_latency_seconds" = "new SLO buckets, see #31"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiffConfig {
    pub fail_on: FailOn,
    pub thresholds: Thresholds,
    pub severity: BTreeMap<String, Severity>,
    pub accept: BTreeMap<String, String>,
}

/// Why a config was refused.
#[derive(Debug, thiserror::Error)]
pub enum DiffConfigError {
    #[error("cannot read the gate config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the gate config {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(
        "the gate config {path} sets the severity of `{kind}`, which is not a change kind \
         (see `codeintel-conformance diff --help`)"
    )]
    UnknownKind { path: PathBuf, kind: String },
    #[error("the gate config {path} accepts `{key}` with an empty reason; say why it is accepted")]
    EmptyReason { path: PathBuf, key: String },
}

impl DiffConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, DiffConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| DiffConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses TOML; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, DiffConfigError> {
        let cfg: Self = toml::from_str(text).map_err(|e| DiffConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        if let Some(kind) = cfg
            .severity
            .keys()
            .find(|k| !ChangeKind::ALL.iter().any(|c| c.as_str() == k.as_str()))
        {
            return Err(DiffConfigError::UnknownKind {
                path: path.to_owned(),
                kind: kind.clone(),
            });
        }
        if let Some((key, _)) = cfg.accept.iter().find(|(_, r)| r.trim().is_empty()) {
            return Err(DiffConfigError::EmptyReason {
                path: path.to_owned(),
                key: key.clone(),
            });
        }
        Ok(cfg)
    }

    fn severity_of(&self, kind: ChangeKind) -> Severity {
        self.severity
            .get(kind.as_str())
            .copied()
            .unwrap_or_else(|| kind.default_severity())
    }
}

fn key_matches(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => pattern == key,
    }
}

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

struct Differ<'a> {
    cfg: &'a DiffConfig,
    changes: Vec<Change>,
}

/// A compact, one-line view of a value for `before` / `after`.
fn show<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn set_text(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// Pairs removed and added names whose shapes are equal, when the pairing is
/// unique on both sides.
fn renames<'n, 's, T: PartialEq + 's>(
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
fn split<'a, V>(
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
struct MetricIdentity<'a> {
    kind: &'a str,
    unit: Option<&'a str>,
    labels: Vec<&'a str>,
    buckets: Option<&'a [String]>,
}

fn metric_identity(m: &MetricShape) -> MetricIdentity<'_> {
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

    fn metrics(
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

    fn spans(&mut self, before: &BTreeMap<String, SpanShape>, after: &BTreeMap<String, SpanShape>) {
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

    fn operations(&mut self, before: &Snapshot, after: &Snapshot) {
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

    fn logs(&mut self, before: &Snapshot, after: &Snapshot) {
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

    fn resource(&mut self, before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) {
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

    fn scopes(&mut self, before: &BTreeSet<String>, after: &BTreeSet<String>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::snapshot::{FORMAT, LogShape, LogsShape, ROOT};

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
