//! Live-check: the telemetry a run emitted, judged against a [`Registry`],
//! with OpenTelemetry Weaver's finding ids and levels, plus coverage.
//!
//! Findings (each as Weaver's `PolicyFinding`: `id`, `level`, `message`,
//! `signal_type`, `signal_name`, `context`), deduplicated over samples:
//!
//! | id | level | when |
//! | --- | --- | --- |
//! | `missing_metric` | violation | a scraped family the registry does not define |
//! | `unit_mismatch` | violation | the family is a registry metric under another unit suffix |
//! | `unexpected_instrument` | violation | the family's type is not the instrument's |
//! | `missing_attribute` | violation | a label, span or event attribute the registry does not define |
//! | `type_mismatch` | violation | a value of another type than the attribute's |
//! | `undefined_enum_variant` | information | a value outside an enum's members (enums are open) |
//! | `required_attribute_not_present` | violation | a `required` attribute absent from a sample |
//! | `recommended_attribute_not_present` | improvement | a `recommended` attribute absent |
//! | `missing_event` | violation | an event (span event or log with `event.name`) the registry does not define |
//!
//! Spans are matched to registry spans by their `name.note` pattern
//! (`{attribute}` placeholders match any text). Every attribute of every
//! span is checked against the registry's attributes, as Weaver does; plain
//! log records (no `event.name`) and resources are not judged.
//!
//! Coverage: the share of the registry's metrics, spans and events seen at
//! least once. A run that received no telemetry at all fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::registry::{
    AttributeDef, AttributeRef, MetricDef, Registry, Requirement, SpanDef, prometheus_name,
    prometheus_type, span_name_matches, unit_suffix,
};
use super::snapshot::{fold_name, scenario_spans, value_type};
use crate::observe::{AttrValue, Attributes, Observations};
use crate::report::one_line;
use crate::scrape;

/// Weaver's finding levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Information,
    Improvement,
    Violation,
}

impl Level {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Information => "information",
            Self::Improvement => "improvement",
            Self::Violation => "violation",
        }
    }
}

/// One finding, shaped like Weaver's `PolicyFinding`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub level: Level,
    pub message: String,
    pub signal_type: Option<String>,
    pub signal_name: Option<String>,
    pub context: BTreeMap<String, String>,
}

/// What the registry declares and what was seen of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub declared: usize,
    pub seen: usize,
    /// `seen / declared` in percent (100 when nothing is declared).
    pub percent: f64,
    /// Declared signals never seen, as `metric codeintel.embed_latency`, ….
    pub missing: Vec<String>,
}

/// How much telemetry the run received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    pub metric_families: usize,
    pub spans: usize,
    pub logs: usize,
}

/// The live-check's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveCheckReport {
    pub findings: Vec<Finding>,
    pub coverage: Coverage,
    pub received: Received,
    pub violations: usize,
    pub improvements: usize,
    pub information: usize,
    /// `--fail-on-coverage-below`, if given.
    pub min_coverage: Option<f64>,
    /// Why the check fails, if it does.
    pub failures: Vec<String>,
}

impl LiveCheckReport {
    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }

    pub fn exit_code(&self) -> u8 {
        u8::from(self.failed())
    }
}

struct Checker<'a> {
    reg: &'a Registry,
    findings: BTreeSet<Finding>,
    seen: BTreeSet<String>,
}

fn context(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The label names that describe the scope, not the sample.
fn is_scope_label(label: &str) -> bool {
    matches!(label, "le" | "quantile") || label.starts_with("otel_scope_")
}

/// The metric's name without unit suffix and `_total`, to spot a unit change.
fn stem(name: &str) -> &str {
    let name = name.strip_suffix("_total").unwrap_or(name);
    for suffix in [
        "_seconds",
        "_milliseconds",
        "_microseconds",
        "_nanoseconds",
        "_bytes",
        "_percent",
        "_ratio",
    ] {
        if let Some(s) = name.strip_suffix(suffix) {
            return s;
        }
    }
    name
}

/// A value as text for enum comparison.
fn value_text(v: &AttrValue) -> String {
    v.to_string()
}

/// Whether a label value (always text) fits a registry type.
fn label_fits(value: &str, kind: &str) -> bool {
    match kind {
        "int" => value.parse::<i64>().is_ok(),
        "double" => value.parse::<f64>().is_ok(),
        "boolean" => value == "true" || value == "false",
        _ => true,
    }
}

/// Whether an attribute value fits a registry type (`int` fits `double`).
fn value_fits(v: &AttrValue, kind: &str) -> bool {
    let observed = value_type(v);
    observed == kind || kind == "any" || (kind == "double" && observed == "int")
}

impl Checker<'_> {
    fn add(
        &mut self,
        id: &str,
        level: Level,
        signal: (&str, &str),
        message: String,
        ctx: BTreeMap<String, String>,
    ) {
        self.findings.insert(Finding {
            id: id.to_owned(),
            level,
            message,
            signal_type: Some(signal.0.to_owned()),
            signal_name: Some(signal.1.to_owned()),
            context: ctx,
        });
    }

    /// Presence of the refs' required / recommended attributes among `keys`.
    fn requirements(
        &mut self,
        signal: (&str, &str),
        refs: &[AttributeRef],
        present: &dyn Fn(&str) -> bool,
    ) {
        for r in refs {
            let Some(key) = r.key.as_deref() else {
                continue;
            };
            if present(key) {
                continue;
            }
            let (id, level) = match r.requirement() {
                Requirement::Required => ("required_attribute_not_present", Level::Violation),
                Requirement::Recommended => {
                    ("recommended_attribute_not_present", Level::Improvement)
                }
                Requirement::Optional => continue,
            };
            self.add(
                id,
                level,
                signal,
                format!("{} `{}` lacks attribute `{key}`", signal.0, signal.1),
                context(&[("attribute_key", key)]),
            );
        }
    }

    /// An attribute (or label) value against its definition.
    fn value(&mut self, signal: (&str, &str), def: &AttributeDef, text: &str, fits: bool) {
        let expected = def.kind.value_type();
        if !fits {
            self.add(
                "type_mismatch",
                Level::Violation,
                signal,
                format!(
                    "{} `{}`: attribute `{}` should be {expected}, got `{text}`",
                    signal.0, signal.1, def.key
                ),
                context(&[
                    ("attribute_key", def.key.as_str()),
                    ("expected", expected.as_str()),
                ]),
            );
        }
        if let Some(members) = def.kind.members()
            && !members.iter().any(|m| m == text)
        {
            self.add(
                "undefined_enum_variant",
                Level::Information,
                signal,
                format!(
                    "{} `{}`: attribute `{}` has value `{text}`, not one of {}",
                    signal.0,
                    signal.1,
                    def.key,
                    members.join(", ")
                ),
                context(&[
                    ("attribute_key", def.key.as_str()),
                    ("attribute_value", text),
                ]),
            );
        }
    }

    fn attributes(&mut self, signal: (&str, &str), attrs: &Attributes) {
        let reg = self.reg;
        for (key, v) in attrs {
            match reg.attributes.get(key) {
                None => self.add(
                    "missing_attribute",
                    Level::Violation,
                    signal,
                    format!(
                        "{} `{}`: attribute `{key}` is not defined in the registry",
                        signal.0, signal.1
                    ),
                    context(&[("attribute_key", key.as_str())]),
                ),
                Some(def) => {
                    let fits = value_fits(v, &def.kind.value_type());
                    self.value(signal, def, &value_text(v), fits);
                }
            }
        }
    }

    fn metric_family(&mut self, family: &scrape::Family) {
        let name = if family.kind == scrape::MetricType::Counter && !family.name.ends_with("_total")
        {
            format!("{}_total", family.name)
        } else {
            family.name.clone()
        };
        if name == "target_info" {
            return;
        }
        let reg = self.reg;
        let exact = reg.metrics.iter().find(|m| prometheus_name(m) == name);
        let def: &MetricDef = if let Some(m) = exact {
            m
        } else {
            {
                let by_stem = reg
                    .metrics
                    .iter()
                    .find(|m| stem(&prometheus_name(m)) == stem(&name));
                let same_unit = |m: &MetricDef| {
                    let expected = prometheus_name(m);
                    expected.strip_suffix("_total").unwrap_or(&expected)
                        == name.strip_suffix("_total").unwrap_or(&name)
                };
                if let Some(m) = by_stem.filter(|m| same_unit(m)) {
                    // The same name but for `_total`: a type change only.
                    m
                } else if let Some(m) = by_stem {
                    let expected = unit_suffix(&m.unit).unwrap_or("no unit suffix");
                    self.add(
                        "unit_mismatch",
                        Level::Violation,
                        ("metric", m.name.as_str()),
                        format!(
                            "metric `{}` is exposed as `{name}`; its unit `{}` means `{}`",
                            m.name,
                            m.unit,
                            prometheus_name(m)
                        ),
                        context(&[("expected", expected), ("observed", name.as_str())]),
                    );
                    m
                } else {
                    self.add(
                        "missing_metric",
                        Level::Violation,
                        ("metric", name.as_str()),
                        format!("metric `{name}` is not defined in the registry"),
                        BTreeMap::new(),
                    );
                    return;
                }
            }
        };
        self.seen.insert(format!("metric {}", def.name));
        let signal = ("metric", def.name.as_str());
        let expected_type = prometheus_type(&def.instrument);
        if family.kind.as_str() != expected_type {
            self.add(
                "unexpected_instrument",
                Level::Violation,
                signal,
                format!(
                    "metric `{}` should be a {} ({expected_type} in the exposition), got {}",
                    def.name,
                    def.instrument,
                    family.kind.as_str()
                ),
                context(&[
                    ("expected", expected_type),
                    ("observed", family.kind.as_str()),
                ]),
            );
        }
        let mut series: BTreeSet<Vec<(String, String)>> = BTreeSet::new();
        for sample in &family.samples {
            let labels: Vec<(String, String)> = sample
                .labels
                .iter()
                .filter(|l| !is_scope_label(&l.name))
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            series.insert(labels);
        }
        for labels in &series {
            for (label, value) in labels {
                match reg.attribute_for_label(label, &def.attributes) {
                    None => self.add(
                        "missing_attribute",
                        Level::Violation,
                        signal,
                        format!(
                            "metric `{}`: label `{label}` is not defined in the registry",
                            def.name
                        ),
                        context(&[("attribute_key", label.as_str())]),
                    ),
                    Some(attr) => {
                        let fits = label_fits(value, &attr.kind.value_type());
                        self.value(signal, attr, value, fits);
                    }
                }
            }
            let present = |key: &str| {
                let l = super::registry::label_name(key);
                labels.iter().any(|(k, _)| *k == l)
            };
            self.requirements(signal, &def.attributes, &present);
        }
    }

    /// The registry span whose name pattern matches `name`: an exact name
    /// first, else the most specific pattern (most literal text).
    fn span_def(&self, name: &str) -> Option<&SpanDef> {
        let literal = |note: &str| {
            let mut n = 0;
            let mut depth = 0;
            for ch in note.chars() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ if depth == 0 => n += 1,
                    _ => {}
                }
            }
            n
        };
        self.reg
            .spans
            .iter()
            .find(|s| s.name.note == name)
            .or_else(|| {
                self.reg
                    .spans
                    .iter()
                    .filter(|s| span_name_matches(&s.name.note, name))
                    .max_by_key(|s| literal(&s.name.note))
            })
    }

    fn event(&mut self, name: &str, attrs: &Attributes) {
        let reg = self.reg;
        let Some(def) = reg.events.iter().find(|e| e.name == name) else {
            self.add(
                "missing_event",
                Level::Violation,
                ("event", name),
                format!("event `{name}` is not defined in the registry"),
                BTreeMap::new(),
            );
            return;
        };
        self.seen.insert(format!("event {name}"));
        self.attributes(("event", name), attrs);
        self.requirements(("event", name), &def.attributes, &|k: &str| {
            attrs.contains_key(k)
        });
    }
}

/// Checks `obs` against `reg`; `min_coverage` (percent) fails the check
/// when coverage is below it.
pub fn live_check(
    reg: &Registry,
    obs: &Observations,
    min_coverage: Option<f64>,
) -> LiveCheckReport {
    let mut c = Checker {
        reg,
        findings: BTreeSet::new(),
        seen: BTreeSet::new(),
    };
    let mut families: BTreeSet<String> = BTreeSet::new();
    for s in obs.scrapes.iter().filter(|s| s.status == Some(200)) {
        let Ok(expo) = s.parse() else { continue };
        for family in expo.families() {
            families.insert(family.name.clone());
            c.metric_family(family);
        }
    }
    for span in scenario_spans(obs) {
        let name = fold_name(&span.name);
        let def = c.span_def(&name).cloned();
        let signal_name = def.as_ref().map_or_else(|| name.clone(), |d| d.id.clone());
        let signal = ("span", signal_name.as_str());
        if let Some(d) = &def {
            c.seen.insert(format!("span {}", d.id));
            c.requirements(signal, &d.attributes, &|k: &str| {
                span.attributes.contains_key(k)
            });
        }
        c.attributes(signal, &span.attributes);
        // A span event named like a sentence is a log message written in
        // the span (tracing-opentelemetry), not a semantic event.
        for e in span
            .events
            .iter()
            .filter(|e| !e.name.contains(char::is_whitespace))
        {
            c.event(&e.name, &e.attributes);
        }
    }
    for log in &obs.logs {
        if let Some(name) = log.attributes.get("event.name").and_then(AttrValue::as_str) {
            let mut attrs = log.attributes.clone();
            attrs.remove("event.name");
            c.event(name, &attrs);
        }
    }

    let declared: Vec<String> = reg
        .metrics
        .iter()
        .map(|m| format!("metric {}", m.name))
        .chain(reg.spans.iter().map(|s| format!("span {}", s.id)))
        .chain(reg.events.iter().map(|e| format!("event {}", e.name)))
        .collect();
    let missing: Vec<String> = declared
        .iter()
        .filter(|d| !c.seen.contains(*d))
        .cloned()
        .collect();
    let seen = declared.len() - missing.len();
    let percent = if declared.is_empty() {
        100.0
    } else {
        seen as f64 * 100.0 / declared.len() as f64
    };
    let mut findings: Vec<Finding> = c.findings.into_iter().collect();
    findings.sort_by(|a, b| b.level.cmp(&a.level).then_with(|| a.cmp(b)));
    let count = |l: Level| findings.iter().filter(|f| f.level == l).count();
    let mut report = LiveCheckReport {
        violations: count(Level::Violation),
        improvements: count(Level::Improvement),
        information: count(Level::Information),
        findings,
        coverage: Coverage {
            declared: declared.len(),
            seen,
            percent,
            missing,
        },
        received: Received {
            metric_families: families.len(),
            spans: scenario_spans(obs).count(),
            logs: obs.logs.len(),
        },
        min_coverage,
        failures: Vec::new(),
    };
    let r = report.received;
    if r.metric_families == 0 && r.spans == 0 && r.logs == 0 {
        report.failures.push(
            "no telemetry was received (no scrape, span or log record): nothing to check"
                .to_owned(),
        );
    }
    if report.violations > 0 {
        report
            .failures
            .push(format!("{} violation(s)", report.violations));
    }
    if let Some(min) = min_coverage
        && report.coverage.percent < min
    {
        report.failures.push(format!(
            "coverage {:.1} % is below {min} %",
            report.coverage.percent
        ));
    }
    report
}

/// The live-check as terminal text (or Markdown with `markdown`).
pub fn render(r: &LiveCheckReport, markdown: bool) -> String {
    let mut out = String::new();
    let verdict = if r.failed() { "FAIL" } else { "PASS" };
    if markdown {
        out.push_str("## Telemetry live-check\n\n");
    }
    let _ = writeln!(
        out,
        "{}live-check: {verdict}{} — {} violation(s), {} improvement(s), {} information; coverage {:.1} % ({}/{}); received {} metric families, {} spans, {} log records",
        if markdown { "**" } else { "" },
        if markdown { "**" } else { "" },
        r.violations,
        r.improvements,
        r.information,
        r.coverage.percent,
        r.coverage.seen,
        r.coverage.declared,
        r.received.metric_families,
        r.received.spans,
        r.received.logs
    );
    if markdown {
        out.push('\n');
    }
    if !r.findings.is_empty() && markdown {
        out.push_str("| level | id | signal | message |\n| --- | --- | --- | --- |\n");
    }
    for f in &r.findings {
        let signal = format!(
            "{} {}",
            f.signal_type.as_deref().unwrap_or_default(),
            f.signal_name.as_deref().unwrap_or_default()
        );
        if markdown {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |",
                f.level.as_str(),
                f.id,
                one_line(&signal).replace('|', "\\|"),
                one_line(&f.message).replace('|', "\\|")
            );
        } else {
            let _ = writeln!(
                out,
                "  {:<11}  {:<34}  {}",
                f.level.as_str().to_uppercase(),
                f.id,
                one_line(&f.message)
            );
        }
    }
    if !r.coverage.missing.is_empty() {
        let _ = writeln!(
            out,
            "{}not seen: {}",
            if markdown { "\n" } else { "  " },
            r.coverage.missing.join(", ")
        );
    }
    for why in &r.failures {
        let _ = writeln!(out, "{}fails: {why}", if markdown { "\n" } else { "  " });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::registry::{AttributeType, EnumMember, EventDef, SpanName};
    use crate::observe::{Scrape, SpanEvent, SpanRecord};

    fn attr(key: &str, kind: AttributeType) -> (String, AttributeDef) {
        (
            key.to_owned(),
            AttributeDef {
                key: key.to_owned(),
                kind,
                brief: String::new(),
            },
        )
    }

    fn reference(key: &str, level: &str) -> AttributeRef {
        AttributeRef {
            key: Some(key.to_owned()),
            requirement_level: Some(serde_json::Value::String(level.to_owned())),
        }
    }

    fn registry() -> Registry {
        let members = |vals: &[&str]| AttributeType::Enum {
            members: vals
                .iter()
                .map(|v| EnumMember {
                    id: (*v).to_owned(),
                    value: Some(serde_json::Value::String((*v).to_owned())),
                })
                .collect(),
        };
        Registry {
            attributes: [
                attr("model", AttributeType::Named("string".into())),
                attr("impl", members(&["ann", "ann+refine"])),
                attr("rrf.k", AttributeType::Named("int".into())),
                attr("exception.message", AttributeType::Named("string".into())),
            ]
            .into(),
            metrics: vec![
                MetricDef {
                    name: "codeintel.embed_latency".into(),
                    unit: "s".into(),
                    instrument: "histogram".into(),
                    attributes: vec![reference("model", "required")],
                    brief: String::new(),
                },
                MetricDef {
                    name: "codeintel.faiss_search_latency".into(),
                    unit: "s".into(),
                    instrument: "histogram".into(),
                    attributes: vec![reference("impl", "required")],
                    brief: String::new(),
                },
                MetricDef {
                    name: "codeintel.never".into(),
                    unit: "{x}".into(),
                    instrument: "counter".into(),
                    attributes: Vec::new(),
                    brief: String::new(),
                },
            ],
            spans: vec![SpanDef {
                id: "codeintel.search.fuse".into(),
                kind: "internal".into(),
                name: SpanName {
                    note: "fuse".into(),
                },
                attributes: vec![reference("rrf.k", "required")],
            }],
            events: vec![EventDef {
                name: "exception".into(),
                attributes: vec![reference("exception.message", "required")],
            }],
            files: Vec::new(),
        }
    }

    fn scrape(body: &str) -> Scrape {
        Scrape {
            step: "scrape_final".into(),
            status: Some(200),
            content_type: Some("text/plain; version=0.0.4".into()),
            body: body.into(),
            ..Scrape::default()
        }
    }

    const GOOD: &str = "\
# TYPE codeintel_embed_latency_seconds histogram
codeintel_embed_latency_seconds_bucket{model=\"m\",otel_scope_name=\"codeintel\",le=\"+Inf\"} 1
codeintel_embed_latency_seconds_count{model=\"m\",otel_scope_name=\"codeintel\"} 1
# TYPE codeintel_faiss_search_latency_seconds histogram
codeintel_faiss_search_latency_seconds_bucket{impl=\"ann\",le=\"+Inf\"} 1
codeintel_faiss_search_latency_seconds_count{impl=\"ann\"} 1
# TYPE target_info gauge
target_info{service_name=\"x\"} 1
";

    fn good() -> Observations {
        let mut fuse = SpanRecord {
            name: "fuse".into(),
            ..SpanRecord::default()
        };
        fuse.attributes.insert("rrf.k".into(), AttrValue::Int(60));
        fuse.events.push(SpanEvent {
            name: "exception".into(),
            attributes: [(
                "exception.message".to_owned(),
                AttrValue::Str("boom".into()),
            )]
            .into(),
        });
        Observations {
            scrapes: vec![scrape(GOOD)],
            spans: vec![fuse],
            ..Observations::default()
        }
    }

    fn ids(r: &LiveCheckReport) -> Vec<(&str, Option<&str>)> {
        r.findings
            .iter()
            .map(|f| (f.id.as_str(), f.signal_name.as_deref()))
            .collect()
    }

    #[test]
    fn conforming_run_has_no_finding_and_coverage_counts_signals() {
        let r = live_check(&registry(), &good(), None);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!(r.coverage.declared, 5);
        assert_eq!(r.coverage.seen, 4);
        assert_eq!(r.coverage.missing, ["metric codeintel.never"]);
        assert!(!r.failed());
        let gated = live_check(&registry(), &good(), Some(100.0));
        assert!(gated.failed(), "coverage 80 % < 100 %");
        assert!(render(&gated, false).contains("coverage 80.0 % is below 100 %"));
    }

    #[test]
    fn dropped_label_is_required_attribute_not_present_on_exactly_that_metric() {
        let mut obs = good();
        obs.scrapes = vec![scrape(&GOOD.replace("model=\"m\",", ""))];
        let r = live_check(&registry(), &obs, None);
        assert_eq!(
            ids(&r),
            [(
                "required_attribute_not_present",
                Some("codeintel.embed_latency")
            )]
        );
        assert_eq!(r.findings[0].level, Level::Violation);
        assert!(r.failed());
    }

    #[test]
    fn metric_findings() {
        let mut obs = good();
        let body = GOOD
            .replace("impl=\"ann\"", "impl=\"hnsw\"")
            .replace("model=\"m\",", "model=\"m\",query=\"q\",")
            .replace(
                "codeintel_embed_latency_seconds",
                "codeintel_embed_latency_milliseconds",
            )
            + "# TYPE codeintel_extra gauge\ncodeintel_extra 1\n";
        obs.scrapes = vec![scrape(&body)];
        let r = live_check(&registry(), &obs, None);
        assert_eq!(
            ids(&r),
            [
                ("missing_attribute", Some("codeintel.embed_latency")),
                ("missing_metric", Some("codeintel_extra")),
                ("unit_mismatch", Some("codeintel.embed_latency")),
                (
                    "undefined_enum_variant",
                    Some("codeintel.faiss_search_latency")
                ),
            ]
        );
        assert_eq!(r.findings[3].level, Level::Information);

        let mut obs = good();
        let body = GOOD.replace(
            "# TYPE codeintel_faiss_search_latency_seconds histogram\n\
             codeintel_faiss_search_latency_seconds_bucket{impl=\"ann\",le=\"+Inf\"} 1\n\
             codeintel_faiss_search_latency_seconds_count{impl=\"ann\"} 1\n",
            "# TYPE codeintel_faiss_search_latency_seconds counter\n\
             codeintel_faiss_search_latency_seconds{impl=\"ann\"} 1\n",
        );
        assert!(body.contains("counter"), "{body}");
        obs.scrapes = vec![scrape(&body)];
        let r = live_check(&registry(), &obs, None);
        assert_eq!(
            ids(&r),
            [(
                "unexpected_instrument",
                Some("codeintel.faiss_search_latency")
            )]
        );
    }

    #[test]
    fn span_and_event_findings() {
        let mut obs = good();
        let fuse = &mut obs.spans[0];
        fuse.attributes
            .insert("rrf.k".into(), AttrValue::Str("60".into()));
        fuse.attributes
            .insert("query.text".into(), AttrValue::Str("q".into()));
        fuse.events[0].attributes.clear();
        fuse.events.push(SpanEvent {
            name: "retry".into(),
            attributes: Attributes::new(),
        });
        let r = live_check(&registry(), &obs, None);
        assert_eq!(
            ids(&r),
            [
                ("missing_attribute", Some("codeintel.search.fuse")),
                ("missing_event", Some("retry")),
                ("required_attribute_not_present", Some("exception")),
                ("type_mismatch", Some("codeintel.search.fuse")),
            ]
        );
        obs.spans[0].attributes.remove("rrf.k");
        let r = live_check(&registry(), &obs, None);
        assert!(ids(&r).contains(&(
            "required_attribute_not_present",
            Some("codeintel.search.fuse")
        )));
    }

    #[test]
    fn a_run_that_received_nothing_fails() {
        let r = live_check(&registry(), &Observations::default(), None);
        assert!(r.failed());
        assert!(
            r.failures[0].contains("no telemetry was received"),
            "{:?}",
            r.failures
        );
        assert_eq!(r.coverage.seen, 0);
    }
}
