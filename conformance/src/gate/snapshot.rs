//! The telemetry surface of one run, as a sorted, stable document.
//!
//! [`snapshot`] is a pure function from [`Observations`] to a [`Snapshot`]:
//! metric families (type, unit, help, label keys, value sets of bounded
//! labels, bucket bounds, series count), spans (kind, attribute keys and value
//! types, status use, parents, events, scopes), the parent → child shape of
//! each operation, log templates (severities, attribute keys, correlation to a
//! span), resource attribute keys and instrumentation scopes.
//!
//! Nothing that varies run to run appears: no timestamps, ids, counts of
//! records or durations. Values that look like ids, paths or numbers are
//! folded into placeholders, every collection is sorted (`BTreeMap` /
//! `BTreeSet`), and two runs of the same build serialise byte for byte the
//! same (`fixtures/telemetry/reference.snapshot.json` is checked that way).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::observe::{AttrValue, Attributes, LogRecord, Observations, SpanRecord, StatusCode};
use crate::scrape::{self, MetricType};

/// The `format` field of every snapshot this version writes.
pub const FORMAT: &str = "codeintel-telemetry-snapshot/1";

/// A label with more distinct values than this is unbounded (its values are
/// not listed).
pub const MAX_LABEL_VALUES: usize = 20;

/// A string attribute value with at least this many words looks like free
/// text (a cardinality and privacy risk).
pub const FREE_TEXT_WORDS: usize = 4;

/// Longest log body template kept.
const MAX_TEMPLATE_CHARS: usize = 120;

/// The parent of a root span in [`SpanShape::parents`].
pub const ROOT: &str = "(root)";

/// The telemetry surface of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`FORMAT`].
    pub format: String,
    /// Metric families by name (counters as `…_total`).
    pub metrics: BTreeMap<String, MetricShape>,
    /// Spans by name.
    pub spans: BTreeMap<String, SpanShape>,
    /// Root span name → every path `child > grandchild > …` seen below it.
    pub operations: BTreeMap<String, BTreeSet<String>>,
    pub logs: LogsShape,
    /// Resource attribute key → value type, over spans and logs.
    pub resource: BTreeMap<String, String>,
    /// Instrumentation scopes (span scopes and the scrape's `otel_scope_name`).
    pub scopes: BTreeSet<String>,
}

/// One metric family.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricShape {
    /// `counter`, `gauge`, `histogram`, … as the exposition declares it.
    #[serde(rename = "type")]
    pub kind: String,
    /// The declared unit (OpenMetrics `UNIT`), else the one the name's suffix
    /// says (`_seconds` → `s`, `_bytes` → `By`, `_ratio` → `1`).
    pub unit: Option<String>,
    pub help: Option<String>,
    /// Label key → its values (`le` and `quantile` excluded).
    pub labels: BTreeMap<String, LabelShape>,
    /// Histogram bucket upper bounds, `+Inf` included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<String>>,
    /// Distinct label sets, at the scrape that had most.
    pub series: usize,
}

/// The values of one label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelShape {
    /// At most [`MAX_LABEL_VALUES`] distinct values were seen.
    pub bounded: bool,
    /// The values, when bounded (ids, paths and numbers folded to
    /// placeholders); empty otherwise.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub values: BTreeSet<String>,
}

/// One span name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpanShape {
    /// `server`, `client`, `internal`, … (joined by `|` if several).
    pub kind: String,
    /// Attribute key → value type.
    pub attributes: BTreeMap<String, AttributeShape>,
    /// Status codes used (`unset`, `ok`, `error`).
    pub status: BTreeSet<String>,
    /// Names of the parents seen ([`ROOT`] for a root span).
    pub parents: BTreeSet<String>,
    /// Event name (templated like a log body) → attribute keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub events: BTreeMap<String, BTreeSet<String>>,
    /// Instrumentation scopes that emitted it.
    pub scopes: BTreeSet<String>,
}

/// One attribute of a span or log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeShape {
    /// Weaver's type names: `string`, `int`, `double`, `boolean`,
    /// `string[]`, … (joined by `|` if several were seen).
    #[serde(rename = "type")]
    pub kind: String,
    /// Some value had [`FREE_TEXT_WORDS`] words or more.
    #[serde(default, skip_serializing_if = "is_false")]
    pub free_text: bool,
}

// serde's `skip_serializing_if` passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}

/// The logs of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogsShape {
    /// How many records carried a trace context: `none`, `some` (under
    /// half), `most`, `all`; `none` also when there were no records.
    pub correlated: String,
    /// Template (`event.name` attribute, else the body with ids, numbers,
    /// paths and URLs folded) → its shape.
    pub records: BTreeMap<String, LogShape>,
}

/// One log template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogShape {
    /// `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`.
    pub severities: BTreeSet<String>,
    /// Attribute key → value type.
    pub attributes: BTreeMap<String, AttributeShape>,
    /// `none`, `some`, `most` or `all` of its records carried a trace context.
    pub correlated: String,
}

impl Snapshot {
    /// Pretty JSON with sorted keys and a final newline: the committed form.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise the snapshot: {e}\"}}"));
        text.push('\n');
        text
    }

    /// Parses a snapshot written by [`Snapshot::to_json`].
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Whether nothing at all was observed.
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty() && self.spans.is_empty() && self.logs.records.is_empty()
    }
}

/// Spans of the scenario itself: those started before
/// [`Observations::drive_ended_unix_nano`] (the official MCP suite's traffic
/// afterwards depends on whether it is installed).
pub fn scenario_spans(obs: &Observations) -> impl Iterator<Item = &SpanRecord> {
    let cut = obs.drive_ended_unix_nano.unwrap_or(u64::MAX);
    obs.spans.iter().filter(move |s| s.start_unix_nano <= cut)
}

/// The telemetry surface of `obs`.
pub fn snapshot(obs: &Observations) -> Snapshot {
    if obs.drive_ended_unix_nano.is_some() && scenario_spans(obs).count() < obs.spans.len() {
        let trimmed = Observations {
            spans: scenario_spans(obs).cloned().collect(),
            drive_ended_unix_nano: None,
            ..obs.clone()
        };
        return snapshot(&trimmed);
    }
    let mut snap = Snapshot {
        format: FORMAT.to_owned(),
        metrics: metrics(obs),
        ..Snapshot::default()
    };
    spans(obs, &mut snap);
    snap.logs = logs(&obs.logs);
    for record in &obs.spans {
        add_types(&mut snap.resource, &record.resource);
    }
    for record in &obs.logs {
        add_types(&mut snap.resource, &record.resource);
    }
    for m in snap.metrics.values() {
        if let Some(l) = m.labels.get("otel_scope_name") {
            snap.scopes.extend(l.values.iter().cloned());
        }
    }
    snap
}

// ---------------------------------------------------------------- metrics

/// Accumulates one family over every scrape.
#[derive(Default)]
struct FamilyAcc {
    kind: String,
    unit: Option<String>,
    help: Option<String>,
    values: BTreeMap<String, BTreeSet<String>>,
    buckets: BTreeSet<OrderedBound>,
    series: usize,
}

/// A bucket bound, ordered numerically, shown as the exposition would.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedBound(f64);

impl Eq for OrderedBound {}
impl PartialOrd for OrderedBound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrderedBound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A bucket bound as text: `+Inf`, else Rust's shortest round-trip form.
pub fn bound_text(b: f64) -> String {
    if b.is_infinite() && b > 0.0 {
        "+Inf".to_owned()
    } else {
        format!("{b}")
    }
}

/// The unit a metric name's suffix announces.
pub fn unit_from_name(name: &str) -> Option<&'static str> {
    let base = name
        .strip_suffix("_total")
        .or_else(|| name.strip_suffix("_bucket"))
        .unwrap_or(name);
    [
        ("_seconds", "s"),
        ("_milliseconds", "ms"),
        ("_bytes", "By"),
        ("_ratio", "1"),
        ("_percent", "%"),
    ]
    .iter()
    .find(|(suffix, _)| base.ends_with(suffix))
    .map(|(_, unit)| *unit)
}

/// The family name users query: counters end in `_total`.
fn canonical_name(family: &scrape::Family) -> String {
    if family.kind == MetricType::Counter && !family.name.ends_with("_total") {
        format!("{}_total", family.name)
    } else {
        family.name.clone()
    }
}

fn metrics(obs: &Observations) -> BTreeMap<String, MetricShape> {
    let mut acc: BTreeMap<String, FamilyAcc> = BTreeMap::new();
    for s in &obs.scrapes {
        if s.status != Some(200) {
            continue;
        }
        let Ok(expo) = s.parse() else { continue };
        for family in expo.families() {
            let name = canonical_name(family);
            let a = acc.entry(name.clone()).or_default();
            family.kind.as_str().clone_into(&mut a.kind);
            if family.unit.as_deref().is_some_and(|u| !u.is_empty()) {
                a.unit.clone_from(&family.unit);
            } else if a.unit.is_none() {
                a.unit = unit_from_name(&name).map(str::to_owned);
            }
            if family.help.is_some() {
                a.help.clone_from(&family.help);
            }
            let mut series: BTreeSet<Vec<(&str, &str)>> = BTreeSet::new();
            for sample in &family.samples {
                let mut key: Vec<(&str, &str)> = Vec::new();
                for l in &sample.labels {
                    if &*l.name == "le" || &*l.name == "quantile" {
                        continue;
                    }
                    key.push((&*l.name, &*l.value));
                    a.values
                        .entry(l.name.to_string())
                        .or_default()
                        .insert(fold_value(&l.value));
                }
                key.sort_unstable();
                series.insert(key);
            }
            a.series = a.series.max(series.len());
            if let Some(h) = expo.histogram(&family.name) {
                for s in &h.series {
                    a.buckets.extend(s.bounds().into_iter().map(OrderedBound));
                }
            }
        }
    }
    acc.into_iter()
        .map(|(name, a)| {
            let labels = a
                .values
                .into_iter()
                .map(|(k, values)| {
                    let bounded = values.len() <= MAX_LABEL_VALUES;
                    let shape = LabelShape {
                        bounded,
                        values: if bounded { values } else { BTreeSet::new() },
                    };
                    (k, shape)
                })
                .collect();
            let histogram = a.kind == "histogram" || a.kind == "gaugehistogram";
            let shape = MetricShape {
                kind: a.kind,
                unit: a.unit,
                help: a.help,
                labels,
                buckets: histogram.then(|| a.buckets.iter().map(|b| bound_text(b.0)).collect()),
                series: a.series,
            };
            (name, shape)
        })
        .collect()
}

// ---------------------------------------------------------------- values

/// Whether `token` looks like an id: 16+ hex digits, or a UUID.
fn is_id(token: &str) -> bool {
    let hex = token.chars().filter(char::is_ascii_hexdigit).count();
    let dashes = token.chars().filter(|c| *c == '-').count();
    hex >= 16 && hex + dashes == token.len() && token.chars().any(|c| c.is_ascii_digit())
}

/// A label or attribute value with run-to-run noise folded: ids become
/// `<id>`, absolute paths `<path>`; anything else stays.
pub fn fold_value(value: &str) -> String {
    if is_id(value) {
        "<id>".to_owned()
    } else if value.starts_with('/') && value.len() > 1 && !value.contains(' ') {
        "<path>".to_owned()
    } else {
        value.to_owned()
    }
}

/// A span name with ids folded (`GET /v1/runpack/4bf9…` →
/// `GET /v1/runpack/<id>`).
pub fn fold_name(name: &str) -> String {
    name.split(' ')
        .map(|word| {
            word.split('/')
                .map(|part| if is_id(part) { "<id>" } else { part })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A log body as a template: words holding a digit, paths and URLs become
/// `<*>` (punctuation around them kept), runs of `<*>` collapse to one, and
/// the template is cut to a fixed length.
pub fn body_template(body: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for word in body.split_whitespace() {
        let start = word
            .find(|c: char| c.is_alphanumeric() || c == '/' || c == '<')
            .unwrap_or(word.len());
        let end = word
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_alphanumeric() || *c == '/' || *c == '>')
            .map_or(start, |(i, c)| i + c.len_utf8())
            .max(start);
        let (lead, core, tail) = (&word[..start], &word[start..end], &word[end..]);
        let variable = core.chars().any(|c| c.is_ascii_digit())
            || core.starts_with('/')
            || core.contains("://")
            || core.contains('\\');
        let folded = if variable {
            format!("{lead}<*>{tail}")
        } else {
            word.to_owned()
        };
        if folded == "<*>" && words.last().is_some_and(|w| w == "<*>") {
            continue;
        }
        words.push(folded);
    }
    let mut t = words.join(" ");
    if t.chars().count() > MAX_TEMPLATE_CHARS {
        t = t.chars().take(MAX_TEMPLATE_CHARS).collect::<String>() + "…";
    }
    t
}

/// Weaver's name of an attribute value's type.
pub fn value_type(v: &AttrValue) -> String {
    match v {
        AttrValue::Bool(_) => "boolean".to_owned(),
        AttrValue::Int(_) => "int".to_owned(),
        AttrValue::Double(_) => "double".to_owned(),
        AttrValue::Str(_) => "string".to_owned(),
        AttrValue::Array(items) => match items.first() {
            Some(first) => format!("{}[]", value_type(first)),
            None => "any[]".to_owned(),
        },
    }
}

fn looks_free_text(v: &AttrValue) -> bool {
    v.as_str()
        .is_some_and(|s| s.split_whitespace().count() >= FREE_TEXT_WORDS)
}

fn join_types(old: &str, new: &str) -> String {
    if old.is_empty() || old == new {
        return new.to_owned();
    }
    let mut set: BTreeSet<&str> = old.split('|').collect();
    set.insert(new);
    set.into_iter().collect::<Vec<_>>().join("|")
}

fn add_attributes(into: &mut BTreeMap<String, AttributeShape>, attrs: &Attributes) {
    for (k, v) in attrs {
        let shape = into.entry(k.clone()).or_default();
        shape.kind = join_types(&shape.kind, &value_type(v));
        shape.free_text |= looks_free_text(v);
    }
}

fn add_types(into: &mut BTreeMap<String, String>, attrs: &Attributes) {
    for (k, v) in attrs {
        let t = into.entry(k.clone()).or_default();
        *t = join_types(t, &value_type(v));
    }
}

// ---------------------------------------------------------------- spans

fn status_text(s: StatusCode) -> &'static str {
    match s {
        StatusCode::Unset => "unset",
        StatusCode::Ok => "ok",
        StatusCode::Error => "error",
    }
}

/// Deepest parent chain followed (guards against cycles in bad input).
const MAX_DEPTH: usize = 64;

fn spans(obs: &Observations, snap: &mut Snapshot) {
    // (trace, span id) → index, to resolve parents within a trace.
    let by_id: HashMap<(&str, &str), usize> = obs
        .spans
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.trace_id.as_str(), s.span_id.as_str()), i))
        .collect();
    let names: Vec<String> = obs.spans.iter().map(|s| fold_name(&s.name)).collect();
    let parent_of = |i: usize| -> Option<usize> {
        let s = &obs.spans[i];
        let p = s.parent_span_id.as_deref()?;
        by_id.get(&(s.trace_id.as_str(), p)).copied()
    };
    let mut kinds: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (i, s) in obs.spans.iter().enumerate() {
        let name = &names[i];
        let shape = snap.spans.entry(name.clone()).or_default();
        kinds.entry(name).or_default().insert(s.kind.as_str());
        add_attributes(&mut shape.attributes, &s.attributes);
        shape.status.insert(status_text(s.status).to_owned());
        shape.scopes.insert(s.scope.clone());
        snap.scopes.insert(s.scope.clone());
        for e in &s.events {
            // Events written as log messages in a span carry their
            // message as name: template it like a log body.
            shape
                .events
                .entry(body_template(&e.name))
                .or_default()
                .extend(e.attributes.keys().cloned());
        }
        // The chain of names from the root down to this span.
        let mut chain = vec![name.as_str()];
        let mut at = i;
        while let Some(p) = parent_of(at) {
            if chain.len() > MAX_DEPTH {
                break;
            }
            chain.push(&names[p]);
            at = p;
        }
        shape
            .parents
            .insert(chain.get(1).map_or(ROOT, |p| *p).to_owned());
        chain.reverse();
        let (root, below) = chain.split_first().map_or(("", &[][..]), |(r, b)| (*r, b));
        let paths = snap.operations.entry(root.to_owned()).or_default();
        if !below.is_empty() {
            paths.insert(below.join(" > "));
        }
    }
    for (name, ks) in kinds {
        if let Some(shape) = snap.spans.get_mut(name) {
            shape.kind = ks.into_iter().collect::<Vec<_>>().join("|");
        }
    }
}

// ---------------------------------------------------------------- logs

/// A severity name from the record's number (OTel ranges), else its text.
pub fn severity(r: &LogRecord) -> String {
    match r.severity_number {
        Some(n @ 1..=24) => {
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"][((n - 1) / 4) as usize].to_owned()
        }
        _ => r
            .severity_text
            .as_deref()
            .map_or_else(|| "UNSPECIFIED".to_owned(), str::to_ascii_uppercase),
    }
}

/// How many of `total` records were correlated, as a coarse bucket.
fn correlation(correlated: usize, total: usize) -> String {
    match (correlated, total) {
        (0, _) => "none",
        (c, t) if c >= t => "all",
        (c, t) if c * 2 >= t => "most",
        _ => "some",
    }
    .to_owned()
}

/// The template a record is grouped under.
pub fn log_template(r: &LogRecord) -> String {
    match r.attributes.get("event.name").and_then(AttrValue::as_str) {
        Some(name) => format!("event {name}"),
        None => body_template(&r.body),
    }
}

fn logs(records: &[LogRecord]) -> LogsShape {
    let mut out = LogsShape::default();
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut correlated_total = 0;
    for r in records {
        let template = log_template(r);
        let shape = out.records.entry(template.clone()).or_default();
        shape.severities.insert(severity(r));
        add_attributes(&mut shape.attributes, &r.attributes);
        let correlated = r.trace_id.as_deref().is_some_and(|t| !t.is_empty());
        let c = counts.entry(template).or_default();
        c.1 += 1;
        if correlated {
            c.0 += 1;
            correlated_total += 1;
        }
    }
    for (template, (c, t)) in counts {
        if let Some(shape) = out.records.get_mut(&template) {
            shape.correlated = correlation(c, t);
        }
    }
    out.correlated = correlation(correlated_total, records.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{Scrape, SpanKind};

    const EXPO: &str = "\
# HELP codeintel_embed_latency_seconds Duration of one embeddings request.
# TYPE codeintel_embed_latency_seconds histogram
codeintel_embed_latency_seconds_bucket{model=\"m\",le=\"0.1\"} 1
codeintel_embed_latency_seconds_bucket{model=\"m\",le=\"+Inf\"} 2
codeintel_embed_latency_seconds_sum{model=\"m\"} 0.3
codeintel_embed_latency_seconds_count{model=\"m\"} 2
# HELP codeintel_gating_decisions_total Gating decisions.
# TYPE codeintel_gating_decisions_total counter
codeintel_gating_decisions_total{class=\"symbol\",rm3=\"false\"} 3
codeintel_gating_decisions_total{class=\"prose\",rm3=\"true\"} 1
";

    fn span(trace: &str, id: &str, parent: Option<&str>, name: &str) -> SpanRecord {
        SpanRecord {
            trace_id: trace.to_owned(),
            span_id: id.to_owned(),
            parent_span_id: parent.map(str::to_owned),
            name: name.to_owned(),
            kind: SpanKind::Internal,
            scope: "codeintel".to_owned(),
            start_unix_nano: 17,
            end_unix_nano: 42,
            ..SpanRecord::default()
        }
    }

    fn observations() -> Observations {
        let mut root = span("t1", "a", None, "tools/call semantic_search");
        root.kind = SpanKind::Server;
        root.attributes.insert(
            "gen_ai.tool.name".into(),
            AttrValue::Str("semantic_search".into()),
        );
        root.resource
            .insert("service.name".into(), AttrValue::Str("codeintel".into()));
        let mut embed = span("t1", "c", Some("b"), "embeddings m");
        embed.status = StatusCode::Error;
        embed.events.push(crate::observe::SpanEvent {
            name: "exception".into(),
            attributes: [("exception.message".to_owned(), AttrValue::Str("x".into()))].into(),
        });
        Observations {
            scrapes: vec![Scrape {
                step: "scrape_final".into(),
                status: Some(200),
                content_type: Some("text/plain; version=0.0.4".into()),
                body: EXPO.into(),
                ..Scrape::default()
            }],
            spans: vec![
                root,
                span("t1", "b", Some("a"), "gather_channels"),
                embed,
                span("t2", "d", Some("remote"), "GET /readyz"),
            ],
            logs: vec![
                LogRecord {
                    trace_id: Some("t1".into()),
                    span_id: Some("a".into()),
                    severity_number: Some(13),
                    body: "embeddings request failed after 3 attempts: http://127.0.0.1:9/v1"
                        .into(),
                    ..LogRecord::default()
                },
                LogRecord {
                    severity_text: Some("info".into()),
                    body: "serving".into(),
                    ..LogRecord::default()
                },
            ],
            ..Observations::default()
        }
    }

    #[test]
    fn metrics_keep_shape_not_values() {
        let snap = snapshot(&observations());
        let h = &snap.metrics["codeintel_embed_latency_seconds"];
        assert_eq!(h.kind, "histogram");
        assert_eq!(h.unit.as_deref(), Some("s"));
        assert_eq!(
            h.buckets.as_deref(),
            Some(&["0.1".to_owned(), "+Inf".to_owned()][..])
        );
        assert_eq!(h.series, 1);
        assert!(!h.labels.contains_key("le"));
        let c = &snap.metrics["codeintel_gating_decisions_total"];
        assert_eq!(c.kind, "counter");
        assert_eq!(c.series, 2);
        assert_eq!(
            c.labels["class"].values.iter().collect::<Vec<_>>(),
            ["prose", "symbol"]
        );
        assert!(c.buckets.is_none());
    }

    #[test]
    fn spans_keep_parents_paths_events_and_status() {
        let snap = snapshot(&observations());
        let e = &snap.spans["embeddings m"];
        assert_eq!(e.parents.iter().collect::<Vec<_>>(), ["gather_channels"]);
        assert!(e.status.contains("error"));
        assert!(e.events["exception"].contains("exception.message"));
        assert_eq!(
            snap.spans["GET /readyz"].parents.iter().next().unwrap(),
            ROOT
        );
        assert_eq!(
            snap.operations["tools/call semantic_search"]
                .iter()
                .collect::<Vec<_>>(),
            ["gather_channels", "gather_channels > embeddings m"]
        );
        assert_eq!(snap.spans["tools/call semantic_search"].kind, "server");
        assert_eq!(snap.resource["service.name"], "string");
        assert!(snap.scopes.contains("codeintel"));
    }

    #[test]
    fn logs_are_templated_with_severity_and_correlation() {
        let snap = snapshot(&observations());
        assert_eq!(snap.logs.correlated, "most");
        let t = "embeddings request failed after <*> attempts: <*>";
        assert_eq!(
            snap.logs.records[t].severities.iter().next().unwrap(),
            "WARN"
        );
        assert_eq!(snap.logs.records[t].correlated, "all");
        assert_eq!(
            snap.logs.records["serving"]
                .severities
                .iter()
                .next()
                .unwrap(),
            "INFO"
        );
    }

    #[test]
    fn no_run_to_run_values_and_stable_bytes() {
        let obs = observations();
        let a = snapshot(&obs).to_json();
        let mut shuffled = obs.clone();
        shuffled.spans.reverse();
        shuffled.logs.reverse();
        for s in &mut shuffled.spans {
            s.start_unix_nano += 1000;
            s.trace_id.push('x');
        }
        assert_eq!(a, snapshot(&shuffled).to_json());
        assert!(
            !a.contains("t1") && !a.contains("17") && !a.contains("0.3"),
            "{a}"
        );
        assert_eq!(Snapshot::from_json(&a).unwrap(), snapshot(&obs));
    }

    #[test]
    fn folding() {
        assert_eq!(fold_value("4bf92f3577b34da6a3ce929d0e0e4736"), "<id>");
        assert_eq!(fold_value("/tmp/x/repo"), "<path>");
        assert_eq!(fold_value("ann+refine"), "ann+refine");
        assert_eq!(
            fold_value("deadbeefdeadbeefdeadbeef"),
            "deadbeefdeadbeefdeadbeef"
        );
        assert_eq!(
            fold_name("GET /v1/runpack/4bf92f3577b34da6a3ce929d0e0e4736"),
            "GET /v1/runpack/<id>"
        );
        assert_eq!(
            body_template("took 12 ms (port 8080)"),
            "took <*> ms (port <*>)"
        );
        assert_eq!(body_template("at /tmp/a /tmp/b done"), "at <*> done");
        assert_eq!(unit_from_name("x_seconds"), Some("s"));
        assert_eq!(unit_from_name("x_total"), None);
    }
}
