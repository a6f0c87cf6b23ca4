//! Scrape parsing: the Prometheus text format (0.0.4) and OpenMetrics 1.0.
//!
//! One pass over the text, byte by byte, no regular expressions: families
//! with their `TYPE`, `HELP` and `UNIT`, samples with labels (escapes `\\`,
//! `\"`, `\n`), values (`NaN`, `+Inf`, `-Inf`, exponents), optional
//! timestamps and OpenMetrics exemplars, `# EOF`, and the OpenMetrics sample
//! suffixes (`_total`, `_created`, …) resolved to their family. Garbage is an
//! error naming the line.
//!
//! The helpers answer what the checks ask: [`Exposition::histogram`] (buckets
//! compared as numbers, so `le="1"` equals `le="1.0"`),
//! [`Exposition::counter_total`], [`Exposition::series_count`],
//! [`Exposition::family_type`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

mod parser;
use parser::Parser;

/// Which text format an exposition is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 (ends with `# EOF`).
    OpenMetrics,
}

impl Format {
    /// The format a `Content-Type` header announces (`None` for anything
    /// else; callers then auto-detect).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let ct = content_type.to_ascii_lowercase();
        if ct.contains("application/openmetrics-text") {
            Some(Self::OpenMetrics)
        } else if ct.contains("text/plain") {
            Some(Self::Prometheus)
        } else {
            None
        }
    }
}

/// The declared type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    /// `untyped` (Prometheus) or `unknown` (OpenMetrics), or no `TYPE` line.
    Unknown,
}

impl MetricType {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" => Self::Histogram,
            "gaugehistogram" => Self::GaugeHistogram,
            "summary" => Self::Summary,
            "info" => Self::Info,
            "stateset" => Self::StateSet,
            "untyped" | "unknown" => Self::Unknown,
            _ => return None,
        })
    }

    /// The lowercase name used in `TYPE` lines.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::GaugeHistogram => "gaugehistogram",
            Self::Summary => "summary",
            Self::Info => "info",
            Self::StateSet => "stateset",
            Self::Unknown => "unknown",
        }
    }

    /// Whether a sample with `suffix` may belong to a family of this type.
    const fn allows(self, suffix: Suffix) -> bool {
        match self {
            Self::Counter => matches!(suffix, Suffix::Bare | Suffix::Total | Suffix::Created),
            Self::Histogram => matches!(
                suffix,
                Suffix::Bucket | Suffix::Sum | Suffix::Count | Suffix::Created
            ),
            Self::GaugeHistogram => {
                matches!(suffix, Suffix::Bucket | Suffix::GSum | Suffix::GCount)
            }
            Self::Summary => matches!(
                suffix,
                Suffix::Bare | Suffix::Sum | Suffix::Count | Suffix::Created
            ),
            Self::Info => matches!(suffix, Suffix::Info | Suffix::Bare),
            Self::Gauge | Self::StateSet | Self::Unknown => matches!(suffix, Suffix::Bare),
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a sample's name adds to its family's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suffix {
    /// The sample is named like its family.
    Bare,
    Bucket,
    Sum,
    Count,
    Total,
    Created,
    GCount,
    GSum,
    Info,
}

impl Suffix {
    /// Suffixes tried, in order, when a sample's name is not a family's name.
    const STRIPPABLE: [Self; 8] = [
        Self::Bucket,
        Self::Count,
        Self::Sum,
        Self::Total,
        Self::Created,
        Self::GCount,
        Self::GSum,
        Self::Info,
    ];

    /// The text appended to the family name (`""` for [`Suffix::Bare`]).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bare => "",
            Self::Bucket => "_bucket",
            Self::Sum => "_sum",
            Self::Count => "_count",
            Self::Total => "_total",
            Self::Created => "_created",
            Self::GCount => "_gcount",
            Self::GSum => "_gsum",
            Self::Info => "_info",
        }
    }
}

/// One label pair. Names and repeated values are shared between samples
/// (the parser interns them), so a 10k-series scrape costs few allocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub name: Arc<str>,
    pub value: Arc<str>,
}

/// An OpenMetrics exemplar (`# {trace_id="…"} 0.5 1.7e9`).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Vec<Label>,
    pub value: f64,
    pub timestamp: Option<f64>,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// How the sample's name extends its family's name.
    pub suffix: Suffix,
    pub labels: Vec<Label>,
    pub value: f64,
    /// As written: milliseconds (Prometheus text) or seconds (OpenMetrics).
    pub timestamp: Option<f64>,
    pub exemplar: Option<Exemplar>,
    /// 1-based line number in the exposition.
    pub line: usize,
}

impl Sample {
    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| &*l.name == name)
            .map(|l| &*l.value)
    }

    /// Whether every `(name, value)` of `filter` is a label of this sample.
    pub fn matches(&self, filter: &[(&str, &str)]) -> bool {
        filter.iter().all(|(k, v)| self.label(k) == Some(*v))
    }
}

/// One metric family.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: MetricType,
    pub help: Option<String>,
    pub unit: Option<String>,
    pub samples: Vec<Sample>,
    /// A `TYPE` line declared it (otherwise it was made up from a sample).
    pub declared: bool,
}

impl Family {
    /// The full name of one of this family's samples.
    pub fn sample_name(&self, sample: &Sample) -> String {
        let mut s = String::with_capacity(self.name.len() + 8);
        s.push_str(&self.name);
        s.push_str(sample.suffix.as_str());
        s
    }

    /// Names of every label used by any sample (`le` and `quantile` included).
    pub fn label_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .samples
            .iter()
            .flat_map(|s| s.labels.iter().map(|l| &*l.name))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// A parsed exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposition {
    pub format: Format,
    families: Vec<Family>,
    index: HashMap<String, usize>,
}

/// One histogram family, its samples grouped into series.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub name: String,
    pub series: Vec<HistogramSeries>,
}

/// One labelled series of a histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSeries {
    /// Labels other than `le`.
    pub labels: BTreeMap<String, String>,
    /// `(le, cumulative count)`, sorted by `le` as a number (`+Inf` last).
    pub buckets: Vec<(f64, f64)>,
    /// `_sum`, when present.
    pub sum: Option<f64>,
    /// `_count`, when present.
    pub count: Option<f64>,
}

impl HistogramSeries {
    /// The bucket bounds, in order.
    pub fn bounds(&self) -> Vec<f64> {
        self.buckets.iter().map(|(le, _)| *le).collect()
    }

    /// Whether the series has a `le="+Inf"` bucket.
    pub fn has_inf(&self) -> bool {
        self.buckets
            .iter()
            .any(|(le, _)| le.is_infinite() && *le > 0.0)
    }

    /// `_count`, or the `+Inf` bucket when `_count` is missing.
    pub fn observations(&self) -> f64 {
        self.count.unwrap_or_else(|| {
            self.buckets
                .iter()
                .find(|(le, _)| le.is_infinite())
                .map_or(0.0, |(_, c)| *c)
        })
    }

    /// `name="value"` pairs joined like an exposition would show them.
    pub fn label_text(&self) -> String {
        let parts: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
            .collect();
        format!("{{{}}}", parts.join(","))
    }
}

impl Histogram {
    /// Sum of `_count` over every series.
    pub fn total_count(&self) -> f64 {
        self.series.iter().map(HistogramSeries::observations).sum()
    }

    /// Sum of `_sum` over every series (missing `_sum` counts as 0).
    pub fn total_sum(&self) -> f64 {
        self.series.iter().filter_map(|s| s.sum).sum()
    }

    /// Series whose label `name` is `value`.
    pub fn series_where<'a>(
        &'a self,
        name: &'a str,
        value: &'a str,
    ) -> impl Iterator<Item = &'a HistogramSeries> + 'a {
        self.series
            .iter()
            .filter(move |s| s.labels.get(name).map(String::as_str) == Some(value))
    }
}

/// Whether two samples carry the same labels, `le` aside, in the same order.
fn same_series(first: &Sample, second: &Sample) -> bool {
    let mut left = first.labels.iter().filter(|l| &*l.name != "le");
    let mut right = second.labels.iter().filter(|l| &*l.name != "le");
    loop {
        match (left.next(), right.next()) {
            (None, None) => return true,
            (Some(l), Some(r)) if l == r => {}
            _ => return false,
        }
    }
}

impl Exposition {
    /// Every family, in the order first seen.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// The family called `name`, or the one a sample called `name` belongs to
    /// (`foo_total` finds `foo`, `foo` finds a Prometheus-text `foo_total`,
    /// `foo_bucket` finds `foo`).
    pub fn family(&self, name: &str) -> Option<&Family> {
        if let Some(&i) = self.index.get(name) {
            return Some(&self.families[i]);
        }
        for suffix in Suffix::STRIPPABLE {
            if let Some(base) = name.strip_suffix(suffix.as_str())
                && let Some(&i) = self.index.get(base)
            {
                return Some(&self.families[i]);
            }
        }
        let with_total = format!("{name}_total");
        self.index.get(&with_total).map(|&i| &self.families[i])
    }

    /// The declared type of the family `name` resolves to.
    pub fn family_type(&self, name: &str) -> Option<MetricType> {
        self.family(name).map(|f| f.kind)
    }

    /// The number of series (sample lines) in the exposition.
    pub fn series_count(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }

    /// Samples whose full name is exactly `sample_name` (e.g. `foo_count`).
    pub fn samples_named<'a>(
        &'a self,
        sample_name: &'a str,
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        let family = self.family(sample_name);
        family.into_iter().flat_map(move |f| {
            let suffix = sample_name.strip_prefix(f.name.as_str()).unwrap_or("\u{0}");
            f.samples
                .iter()
                .filter(move |s| s.suffix.as_str() == suffix)
        })
    }

    /// The histogram family `name` (its base name, without `_bucket`), its
    /// samples grouped into series. `None` when no such family exists or it
    /// is not a histogram.
    pub fn histogram(&self, name: &str) -> Option<Histogram> {
        let family = self.family(name)?;
        if !matches!(
            family.kind,
            MetricType::Histogram | MetricType::GaugeHistogram
        ) {
            return None;
        }
        let mut order: Vec<HistogramSeries> = Vec::new();
        let mut by_key: HashMap<Vec<(&str, &str)>, usize> = HashMap::new();
        let mut last: Option<(usize, &Sample)> = None;
        for sample in &family.samples {
            // Samples of one series are usually adjacent: compare with the
            // previous sample before building a key and hashing it.
            let idx = match last {
                Some((idx, prev)) if same_series(prev, sample) => idx,
                _ => {
                    let mut key: Vec<(&str, &str)> = sample
                        .labels
                        .iter()
                        .filter(|l| &*l.name != "le")
                        .map(|l| (&*l.name, &*l.value))
                        .collect();
                    key.sort_unstable();
                    *by_key.entry(key).or_insert_with_key(|key| {
                        order.push(HistogramSeries {
                            labels: key
                                .iter()
                                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                                .collect(),
                            buckets: Vec::new(),
                            sum: None,
                            count: None,
                        });
                        order.len() - 1
                    })
                }
            };
            last = Some((idx, sample));
            let series = &mut order[idx];
            match sample.suffix {
                Suffix::Bucket => {
                    if let Some(le) = sample.label("le").and_then(parse_float) {
                        series.buckets.push((le, sample.value));
                    }
                }
                Suffix::Sum | Suffix::GSum => series.sum = Some(sample.value),
                Suffix::Count | Suffix::GCount => series.count = Some(sample.value),
                _ => {}
            }
        }
        for series in &mut order {
            series.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        Some(Histogram {
            name: family.name.clone(),
            series: order,
        })
    }

    /// Sum of a counter's value over the series matching `filter` (label
    /// name/value pairs; empty matches all). `name` may be given with or
    /// without `_total`. `None` when no such counter family exists.
    pub fn counter_total(&self, name: &str, filter: &[(&str, &str)]) -> Option<f64> {
        let family = self.family(name)?;
        if family.kind != MetricType::Counter {
            return None;
        }
        Some(
            family
                .samples
                .iter()
                .filter(|s| matches!(s.suffix, Suffix::Bare | Suffix::Total))
                .filter(|s| s.matches(filter))
                .map(|s| s.value)
                .sum(),
        )
    }
}

/// Why an exposition did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind} (in `{excerpt}`)")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub kind: ParseErrorKind,
    /// The offending line, shortened.
    pub excerpt: String,
}

/// What was wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("expected a metric name at column {0}")]
    ExpectedName(usize),
    #[error("expected a label name at column {0}")]
    ExpectedLabelName(usize),
    #[error("expected `=` after label name at column {0}")]
    ExpectedEquals(usize),
    #[error("expected a double-quoted label value at column {0}")]
    ExpectedQuote(usize),
    #[error("label value is not terminated by `\"`")]
    UnterminatedLabelValue,
    #[error("unknown escape `\\{0}` in label value (only \\\\, \\\" and \\n are allowed)")]
    BadEscape(char),
    #[error("expected `,` or `}}` after a label at column {0}")]
    ExpectedCommaOrBrace(usize),
    #[error("duplicate label `{0}`")]
    DuplicateLabel(String),
    #[error("missing value after the metric name")]
    MissingValue,
    #[error("`{0}` is not a number")]
    BadValue(String),
    #[error("`{0}` is not a timestamp")]
    BadTimestamp(String),
    #[error("unexpected text `{0}` after the sample")]
    TrailingText(String),
    #[error("`{0}` is not a metric type (counter, gauge, histogram, summary, untyped, …)")]
    UnknownType(String),
    #[error("malformed `# {0}` line")]
    MalformedComment(&'static str),
    #[error("second TYPE line for `{0}`")]
    DuplicateType(String),
    #[error("second HELP line for `{0}`")]
    DuplicateHelp(String),
    #[error("TYPE line for `{0}` comes after its samples")]
    TypeAfterSamples(String),
    #[error("sample `{sample}` does not fit family `{family}` of type {kind}")]
    SuffixMismatch {
        sample: String,
        family: String,
        kind: MetricType,
    },
    #[error("histogram bucket of `{0}` has no valid `le` label")]
    BucketWithoutLe(String),
    #[error("content after `# EOF`")]
    AfterEof,
    #[error("the OpenMetrics exposition does not end with `# EOF`")]
    MissingEof,
    #[error("the exposition is not valid UTF-8")]
    NotUtf8,
}

/// Parses an exposition, detecting the format (`# EOF` means OpenMetrics).
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    Parser::new(text, None).run()
}

/// Parses an exposition known to be in `format` (OpenMetrics requires `# EOF`).
pub fn parse_as(text: &str, format: Format) -> Result<Exposition, ParseError> {
    Parser::new(text, Some(format)).run()
}

/// Escapes a label value the way an exposition writes it.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Parses a sample value or `le` bound: decimal, exponent, `NaN`, `+Inf`,
/// `-Inf` (case-insensitive, as Prometheus does).
pub fn parse_float(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    // Rust accepts `inf`, `infinity` and `nan` in any case, like Go's
    // ParseFloat; it rejects hex and `_` separators, which no exporter writes.
    s.parse::<f64>().ok()
}

/// A synthetic exposition of exactly `series` series in the OTel exporter's
/// shape (histograms of 13 series per label set, then counter series), for
/// benchmarks and tests of the parser.
pub fn synthetic_exposition(series: usize) -> String {
    use std::fmt::Write as _;
    const LES: [&str; 11] = [
        "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
    ];
    let label_sets = series / 13;
    let counters = series - label_sets * 13;
    let mut text = String::with_capacity(series * 130);
    text.push_str("# HELP codeintel_load_seconds Synthetic load.\n");
    text.push_str("# TYPE codeintel_load_seconds histogram\n");
    for i in 0..label_sets {
        let labels = format!(
            "route=\"/r/{i}\",client=\"c{}\",otel_scope_name=\"codeintel\"",
            i % 7
        );
        for (j, le) in LES.iter().enumerate() {
            let _ = writeln!(
                text,
                "codeintel_load_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                j * i
            );
        }
        let _ = writeln!(text, "codeintel_load_seconds_sum{{{labels}}} {i}.5");
        let _ = writeln!(text, "codeintel_load_seconds_count{{{labels}}} {}", 10 * i);
    }
    text.push_str("# HELP codeintel_events_total Synthetic events.\n");
    text.push_str("# TYPE codeintel_events_total counter\n");
    for k in 0..counters {
        let _ = writeln!(text, "codeintel_events_total{{kind=\"k{k}\"}} {k}");
    }
    text
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are the point of a parser test
mod tests {
    use super::*;

    const GOOD: &str = include_str!("../../../fixtures/expositions/good.prom");
    const GOOD_OM: &str = include_str!("../../../fixtures/expositions/good_openmetrics.txt");
    const DEFAULT_BUCKETS: &str =
        include_str!("../../../fixtures/expositions/bad_default_buckets.prom");
    const NO_PREFIX: &str = include_str!("../../../fixtures/expositions/bad_missing_prefix.prom");
    const DOUBLE_UNIT: &str =
        include_str!("../../../fixtures/expositions/bad_seconds_seconds.prom");
    const GARBAGE: &str = include_str!("../../../fixtures/expositions/bad_garbage.prom");
    const HTML: &str = include_str!("../../../fixtures/expositions/bad_html.prom");

    const B: [f64; 11] = crate::contract::BUCKETS_B;

    #[test]
    fn good_exporter_shape_parses_with_histograms_counters_and_target_info() {
        let e = parse(GOOD).unwrap();
        assert_eq!(e.format, Format::Prometheus);
        let h = e.histogram("codeintel_embed_latency_seconds").unwrap();
        assert_eq!(h.series.len(), 1);
        let s = &h.series[0];
        assert_eq!(s.bounds(), B.to_vec());
        assert!(s.has_inf());
        assert_eq!(s.labels.get("client").map(String::as_str), Some("openai"));
        assert_eq!(s.labels.get("model").map(String::as_str), Some("m"));
        assert!(!s.labels.contains_key("le"));
        assert_eq!(s.count, Some(12.0));
        assert!((s.sum.unwrap() - 0.084).abs() < 1e-12);
        assert_eq!(
            e.family_type("codeintel_gating_decisions_total"),
            Some(MetricType::Counter)
        );
        assert_eq!(
            e.counter_total("codeintel_gating_decisions_total", &[]),
            Some(7.0)
        );
        assert_eq!(
            e.counter_total("codeintel_gating_decisions", &[("class", "lexical")]),
            Some(3.0)
        );
        let target = e.family("target_info").unwrap();
        assert_eq!(target.kind, MetricType::Gauge);
        assert_eq!(
            target.samples[0].label("service_name"),
            Some("codeintel-sut")
        );
        assert_eq!(
            target.help.as_deref(),
            Some("Target metadata"),
            "HELP is kept"
        );
        let faiss = e
            .histogram("codeintel_faiss_search_latency_seconds")
            .unwrap();
        assert_eq!(faiss.series_where("impl", "ann+refine").count(), 1);
        assert_eq!(faiss.total_count(), 7.0);
    }

    #[test]
    fn openmetrics_resolves_total_and_created_suffixes_units_and_eof() {
        let e = parse(GOOD_OM).unwrap();
        assert_eq!(e.format, Format::OpenMetrics);
        let fam = e.family("codeintel_gating_decisions_total").unwrap();
        assert_eq!(fam.name, "codeintel_gating_decisions");
        assert_eq!(fam.kind, MetricType::Counter);
        assert_eq!(
            e.counter_total("codeintel_gating_decisions_total", &[]),
            Some(4.0),
            "`_created` samples are not counted"
        );
        let lat = e.family("codeintel_embed_latency_seconds").unwrap();
        assert_eq!(lat.unit.as_deref(), Some("seconds"));
        let h = e.histogram("codeintel_embed_latency_seconds").unwrap();
        assert_eq!(h.series[0].bounds(), B.to_vec(), "le=\"1.0\" is read as 1");
        let bucket = &lat.samples[0];
        assert_eq!(
            &*bucket.exemplar.as_ref().unwrap().labels[0].name,
            "trace_id"
        );
        assert_eq!(e.family("target").unwrap().kind, MetricType::Info);
        assert_eq!(
            e.samples_named("target_info")
                .next()
                .unwrap()
                .label("service_name"),
            Some("codeintel-sut")
        );
        assert!(
            parse_as(
                GOOD_OM.trim_end().trim_end_matches("# EOF"),
                Format::OpenMetrics
            )
            .is_err()
        );
    }

    #[test]
    fn buckets_compare_as_numbers_whatever_their_spelling() {
        let text = "# TYPE h histogram\n\
            h_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0e-3\"} 0\nh_bucket{le=\"+Inf\"} 2\n\
            h_sum 3\nh_count 2\n";
        let h = parse(text).unwrap().histogram("h").unwrap();
        assert_eq!(h.series[0].bounds(), vec![0.001, 1.0, f64::INFINITY]);
        assert_eq!(h.series[0].count, Some(2.0));
    }

    #[test]
    fn values_nan_infinities_exponents_and_timestamps() {
        let text = "a NaN\nb +Inf 1700000000000\nc -Inf\nd 1.5e+06\ne -2E-3 17\nf 0x1p1\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.line, 6, "hex floats are rejected: {err}");
        let e = parse(&text.replace("f 0x1p1\n", "")).unwrap();
        assert!(e.family("a").unwrap().samples[0].value.is_nan());
        let b = &e.family("b").unwrap().samples[0];
        assert_eq!(b.value, f64::INFINITY);
        assert_eq!(b.timestamp, Some(1.7e12));
        assert_eq!(e.family("c").unwrap().samples[0].value, f64::NEG_INFINITY);
        assert_eq!(e.family("d").unwrap().samples[0].value, 1.5e6);
        assert_eq!(e.family("e").unwrap().samples[0].value, -0.002);
        assert_eq!(e.series_count(), 5);
        assert_eq!(e.family_type("a"), Some(MetricType::Unknown));
    }

    #[test]
    fn label_escapes_are_decoded_and_reencoded() {
        let text = "m{path=\"C:\\\\dir\",q=\"say \\\"hi\\\"\",multi=\"a\\nb\",} 1\n";
        let e = parse(text).unwrap();
        let s = &e.family("m").unwrap().samples[0];
        assert_eq!(s.label("path"), Some("C:\\dir"));
        assert_eq!(s.label("q"), Some("say \"hi\""));
        assert_eq!(s.label("multi"), Some("a\nb"));
        assert_eq!(escape_label_value("a\nb\"\\"), "a\\nb\\\"\\\\");
    }

    #[test]
    fn garbage_is_an_error_naming_the_line() {
        let err = parse(GARBAGE).unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        assert!(err.to_string().starts_with("line 4:"), "{err}");
        let err = parse(HTML).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(matches!(err.kind, ParseErrorKind::ExpectedName(1)), "{err}");
    }

    #[test]
    fn malformed_lines_each_name_what_is_wrong() {
        type Want = fn(&ParseErrorKind) -> bool;
        let cases: &[(&str, Want)] = &[
            ("m{a=\"x} 1\n", |k| {
                matches!(k, ParseErrorKind::UnterminatedLabelValue)
            }),
            ("m{a=x} 1\n", |k| {
                matches!(k, ParseErrorKind::ExpectedQuote(_))
            }),
            ("m{a\"x\"} 1\n", |k| {
                matches!(k, ParseErrorKind::ExpectedEquals(_))
            }),
            ("m{a=\"\\t\"} 1\n", |k| {
                matches!(k, ParseErrorKind::BadEscape('t'))
            }),
            ("m{a=\"1\",a=\"2\"} 1\n", |k| {
                matches!(k, ParseErrorKind::DuplicateLabel(_))
            }),
            ("m{a=\"1\" b=\"2\"} 1\n", |k| {
                matches!(k, ParseErrorKind::ExpectedCommaOrBrace(_))
            }),
            ("m\n", |k| matches!(k, ParseErrorKind::MissingValue)),
            ("m one\n", |k| matches!(k, ParseErrorKind::BadValue(_))),
            ("m 1 soon\n", |k| {
                matches!(k, ParseErrorKind::BadTimestamp(_))
            }),
            ("m 1 2 3\n", |k| {
                matches!(k, ParseErrorKind::TrailingText(_))
            }),
            ("# TYPE m frobnicator\n", |k| {
                matches!(k, ParseErrorKind::UnknownType(_))
            }),
            ("# TYPE m gauge\n# TYPE m gauge\n", |k| {
                matches!(k, ParseErrorKind::DuplicateType(_))
            }),
            ("m 1\n# TYPE m gauge\n", |k| {
                matches!(k, ParseErrorKind::TypeAfterSamples(_))
            }),
            ("# HELP m a\n# HELP m b\n", |k| {
                matches!(k, ParseErrorKind::DuplicateHelp(_))
            }),
            ("# TYPE h histogram\nh_bucket 1\n", |k| {
                matches!(k, ParseErrorKind::BucketWithoutLe(_))
            }),
            ("# TYPE h histogram\nh 1\n", |k| {
                matches!(k, ParseErrorKind::SuffixMismatch { .. })
            }),
            ("# TYPE m gauge\nm 1\n# EOF\nm 2\n", |k| {
                matches!(k, ParseErrorKind::AfterEof)
            }),
            ("# TYPE\n", |k| {
                matches!(k, ParseErrorKind::MalformedComment("TYPE"))
            }),
        ];
        for (text, want) in cases {
            let err = parse(text).expect_err(text);
            assert!(want(&err.kind), "{text:?} gave {err}");
        }
    }

    #[test]
    fn comments_blank_lines_and_crlf_are_accepted() {
        let text =
            "# a free comment\r\n\r\n# HELP m with \\\\ and \\n\r\n# TYPE m gauge\r\nm 3\r\n";
        let e = parse(text).unwrap();
        let m = e.family("m").unwrap();
        assert_eq!(m.samples[0].value, 3.0);
        assert_eq!(m.help.as_deref(), Some("with \\ and \n"));
    }

    #[test]
    fn bad_fixtures_parse_but_show_what_the_checks_reject() {
        let e = parse(DEFAULT_BUCKETS).unwrap();
        let h = e.histogram("codeintel_embed_latency_seconds").unwrap();
        assert_ne!(h.series[0].bounds(), B.to_vec());
        let e = parse(NO_PREFIX).unwrap();
        assert!(e.histogram("codeintel_embed_latency_seconds").is_none());
        assert!(e.histogram("embed_latency_seconds").is_some());
        let e = parse(DOUBLE_UNIT).unwrap();
        assert!(
            e.families()
                .iter()
                .any(|f| f.name.ends_with("_seconds_seconds"))
        );
    }

    #[test]
    fn histogram_of_a_non_histogram_is_none_and_counter_total_of_a_gauge_is_none() {
        let e = parse("# TYPE g gauge\ng 1\n").unwrap();
        assert!(e.histogram("g").is_none());
        assert!(e.counter_total("g", &[]).is_none());
        assert!(e.histogram("missing").is_none());
    }

    #[test]
    fn label_names_and_repeated_values_are_shared_not_copied() {
        let expo = parse(GOOD).unwrap();
        let f = expo.family("codeintel_embed_latency_seconds").unwrap();
        let (first, second) = (&f.samples[0].labels, &f.samples[1].labels);
        assert_eq!(&*first[0].name, "client");
        assert!(Arc::ptr_eq(&first[0].name, &second[0].name));
        assert!(
            Arc::ptr_eq(&first[0].value, &second[0].value),
            "same value, previous line"
        );
        let d = expo.family("codeintel_duckdb_execute_seconds").unwrap();
        let le_of = |s: &Sample| s.labels.iter().find(|l| &*l.name == "le").cloned().unwrap();
        assert!(
            Arc::ptr_eq(&le_of(&d.samples[0]).value, &le_of(&f.samples[0]).value),
            "`le` bounds are shared across families"
        );
    }

    #[test]
    fn ten_thousand_series_parse_correctly() {
        let text = synthetic_exposition(10_000);
        let e = parse(&text).unwrap();
        assert_eq!(e.series_count(), 10_000);
        let h = e.histogram("codeintel_load_seconds").unwrap();
        assert_eq!(h.series.len(), 769);
        assert!(
            h.series
                .iter()
                .all(|s| s.buckets.len() == 11 && s.has_inf())
        );
        let last = h
            .series
            .iter()
            .find(|s| s.labels.get("route").map(String::as_str) == Some("/r/768"))
            .unwrap();
        assert_eq!(last.count, Some(7680.0));
        assert_eq!(last.buckets[10], (f64::INFINITY, 7680.0));
        assert_eq!(e.counter_total("codeintel_events_total", &[]), Some(3.0));
    }
}
