//! deploy/prometheus and deploy/grafana against the real thing: promtool
//! checks the configuration and the rules and runs their unit tests (and
//! fails a broken rule file), every alert is documented and tested both
//! ways, and every PromQL expression of the rules and the dashboard names
//! only metrics and labels that a real scrape of the reference exports.

// Test helpers outside `#[test]` functions unwrap too (a failure is the test failing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ops_support;
mod serve_support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use codeintel_server::observability::metrics::{FaissImpl, Outcome};
use codeintel_server::search::gating::QueryClass;
use ops_support::*;
use serde_yaml_ng::Value;

// ---------------------------------------------------------------- promtool

#[test]
fn promtool_accepts_the_config_and_the_rules_and_their_unit_tests_pass() {
    let dir = deploy("prometheus");
    let (ok, out) = run_promtool(&dir, &["check", "config", "prometheus.yml"]);
    assert!(ok, "promtool check config:\n{out}");
    assert!(out.contains("SUCCESS: 1 rule files found"), "{out}");

    let (ok, out) = run_promtool(&dir, &["check", "rules", "rules.yml"]);
    assert!(ok, "promtool check rules:\n{out}");
    assert!(!out.contains("WARNING"), "{out}");

    let files = rule_test_files();
    let mut args = vec!["test".to_owned(), "rules".to_owned()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = run_promtool(&dir, &args);
    assert!(ok, "promtool test rules:\n{out}");
    assert_eq!(
        out.matches("SUCCESS").count(),
        files.len(),
        "one SUCCESS per test file:\n{out}"
    );
}

/// A copy of deploy/prometheus with `rules.yml` replaced by `rules`.
fn with_rules(rules: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("rules.yml"), rules).unwrap();
    std::fs::create_dir(tmp.path().join("tests")).unwrap();
    for f in rule_test_files() {
        std::fs::copy(&f, tmp.path().join("tests").join(f.file_name().unwrap())).unwrap();
    }
    tmp
}

fn test_rules_in(dir: &std::path::Path) -> (bool, String) {
    let files: Vec<String> = rule_test_files()
        .iter()
        .map(|f| format!("tests/{}", f.file_name().unwrap().to_string_lossy()))
        .collect();
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    run_promtool(dir, &args)
}

#[test]
fn a_rule_file_with_a_syntax_error_fails_promtool() {
    let rules = read(&deploy("prometheus/rules.yml"));
    let broken = rules.replacen(
        "sum by (job) (rate(codeintel_gating_decisions_total[5m]))",
        "sum by (job) (rate(codeintel_gating_decisions_total[5m])",
        1,
    );
    assert_ne!(broken, rules, "the mutation applies");
    let tmp = with_rules(&broken);
    let (ok, out) = run_promtool(tmp.path(), &["check", "rules", "rules.yml"]);
    assert!(!ok, "promtool check rules must fail:\n{out}");
    assert!(
        out.contains("job:codeintel_searches:rate5m") && out.contains("parse error"),
        "names the broken rule: {out}"
    );
    let (ok, out) = test_rules_in(tmp.path());
    assert!(!ok, "promtool test rules must fail:\n{out}");
}

#[test]
fn a_rule_with_the_wrong_threshold_fails_the_unit_tests() {
    let rules = read(&deploy("prometheus/rules.yml"));
    // A valid file whose latency alert can no longer fire at 975 ms.
    let broken = rules.replacen(
        "job:codeintel_embed_latency_seconds:p95_5m > 0.5",
        "job:codeintel_embed_latency_seconds:p95_5m > 2.5",
        1,
    );
    assert_ne!(broken, rules, "the mutation applies");
    let tmp = with_rules(&broken);
    let (ok, out) = run_promtool(tmp.path(), &["check", "rules", "rules.yml"]);
    assert!(ok, "still valid syntax:\n{out}");
    let (ok, out) = test_rules_in(tmp.path());
    assert!(!ok, "promtool test rules must fail:\n{out}");
    assert!(out.contains("CodeintelEmbedLatencyHigh"), "{out}");
}

// ---------------------------------------------------------------- rules.yml

fn alerts() -> Vec<Value> {
    rules()
        .into_iter()
        .filter(|r| r.get("alert").is_some())
        .collect()
}

/// GitHub-style anchors of the Markdown headings of `text`.
fn anchors(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| {
            h.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

#[test]
fn every_alert_has_a_summary_a_description_and_a_runbook_section() {
    let runbook = read(&deploy("RUNBOOK.md"));
    let sections = anchors(&runbook);
    let alerts = alerts();
    let names: BTreeSet<&str> = alerts
        .iter()
        .map(|a| a["alert"].as_str().unwrap())
        .collect();
    for want in [
        "CodeintelEmbedLatencyHigh",
        "CodeintelDenseChannelMissing",
        "CodeintelNoSearches",
        "CodeintelScrapeDown",
    ] {
        assert!(names.contains(want), "{want} missing from {names:?}");
    }
    for a in &alerts {
        let name = a["alert"].as_str().unwrap();
        let ann = &a["annotations"];
        for key in ["summary", "description", "runbook_url"] {
            let v = ann[key].as_str().unwrap_or_default();
            assert!(v.trim().len() > 10, "{name}: annotation {key} is {v:?}");
        }
        assert!(
            a["labels"]["severity"].as_str().is_some(),
            "{name}: severity label"
        );
        let url = ann["runbook_url"].as_str().unwrap();
        let (file, anchor) = url.split_once('#').expect("runbook_url FILE#anchor");
        assert!(
            repo_root().join(file).is_file(),
            "{name}: runbook {file} missing"
        );
        assert_eq!(
            anchor,
            name.to_lowercase(),
            "{name}: anchor named after the alert"
        );
        assert!(
            sections.contains(anchor),
            "{name}: no section #{anchor} in deploy/RUNBOOK.md ({sections:?})"
        );
    }
}

#[test]
fn every_alert_has_unit_tests_where_it_fires_and_where_it_stays_silent() {
    // alert name -> (tests where it fires, tests where it stays silent)
    let mut seen: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for f in rule_test_files() {
        let doc = yaml(&f);
        for t in doc["tests"].as_sequence().unwrap() {
            for case in t
                .get("alert_rule_test")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                let name = case["alertname"].as_str().unwrap().to_owned();
                let fires = case
                    .get("exp_alerts")
                    .and_then(Value::as_sequence)
                    .is_some_and(|s| !s.is_empty());
                let e = seen.entry(name).or_default();
                if fires { e.0 += 1 } else { e.1 += 1 }
            }
        }
    }
    for a in alerts() {
        let name = a["alert"].as_str().unwrap();
        let (fires, silent) = seen.get(name).copied().unwrap_or_default();
        assert!(
            fires > 0 && silent > 0,
            "{name}: {fires} firing and {silent} silent cases in deploy/prometheus/tests/"
        );
    }
    // and every recording rule has an expected value somewhere
    let tested: String = rule_test_files().iter().map(|f| read(f)).collect();
    for r in rules() {
        if let Some(name) = r.get("record").and_then(Value::as_str) {
            assert!(
                tested.contains(&format!("expr: {name}")) || tested.contains(&format!("({name} ")),
                "recording rule {name} has no promql_expr_test"
            );
        }
    }
}

// ---------------------------------------------------------------- PromQL references

/// A matcher: label, operator, value.
type Matcher = (String, String, String);

/// What one PromQL expression refers to.
#[derive(Debug, Default, PartialEq)]
struct Refs {
    /// Vector selectors: metric name (None for `{…}` alone) and matchers
    /// (label, operator, value).
    selectors: Vec<(Option<String>, Vec<Matcher>)>,
    /// Labels of `by`, `without`, `on`, `ignoring`, `group_left/right`.
    grouping: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num,
    Punct(&'static str),
}

const PUNCTS: [&str; 21] = [
    "!=", "=~", "!~", "==", ">=", "<=", "(", ")", "{", "}", "[", "]", ",", "=", "<", ">", "+", "-",
    "*", "/", "^",
];

fn tokens(expr: &str) -> Vec<Tok> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' || c == '\'' || c == '`' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && c != '`' && i + 1 < chars.len() {
                    i += 1;
                }
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Tok::Str(s));
        } else if c == '[' {
            // a range, subquery or Grafana interval: no names inside
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '+' || chars[i] == '-') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            out.push(Tok::Num);
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let p = PUNCTS
                .iter()
                .find(|p| rest.starts_with(**p))
                .unwrap_or_else(|| panic!("unexpected {c:?} in {expr}"));
            i += p.chars().count();
            out.push(Tok::Punct(p));
        }
    }
    out
}

const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: [&str; 8] = [
    "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2",
];

fn references(expr: &str) -> Refs {
    let toks = tokens(expr);
    let mut refs = Refs::default();
    let mut i = 0;
    while i < toks.len() {
        let next = toks.get(i + 1);
        match &toks[i] {
            Tok::Ident(id) if GROUPING.contains(&id.as_str()) => {
                if next == Some(&Tok::Punct("(")) {
                    i += 2;
                    while i < toks.len() && toks[i] != Tok::Punct(")") {
                        if let Tok::Ident(l) = &toks[i] {
                            refs.grouping.push(l.clone());
                        }
                        i += 1;
                    }
                }
                i += 1;
            }
            Tok::Ident(id) if KEYWORDS.contains(&id.to_lowercase().as_str()) => i += 1,
            // a function or aggregation call (`sum(…)`, `sum by (…) (…)`)
            Tok::Ident(_)
                if next == Some(&Tok::Punct("("))
                    || matches!(next, Some(Tok::Ident(m)) if m == "by" || m == "without") =>
            {
                i += 1;
            }
            Tok::Ident(id) if next == Some(&Tok::Punct("{")) => {
                let (matchers, end) = matchers(&toks, i + 1, expr);
                refs.selectors.push((Some(id.clone()), matchers));
                i = end;
            }
            Tok::Ident(id) => {
                refs.selectors.push((Some(id.clone()), Vec::new()));
                i += 1;
            }
            Tok::Punct("{") => {
                let (matchers, end) = matchers(&toks, i, expr);
                refs.selectors.push((None, matchers));
                i = end;
            }
            _ => i += 1,
        }
    }
    refs
}

/// Matchers from the `{` at `open`; returns them and the index after `}`.
fn matchers(toks: &[Tok], open: usize, expr: &str) -> (Vec<(String, String, String)>, usize) {
    let mut out = Vec::new();
    let mut i = open + 1;
    while i < toks.len() && toks[i] != Tok::Punct("}") {
        match (&toks[i], toks.get(i + 1), toks.get(i + 2)) {
            (Tok::Ident(label), Some(Tok::Punct(op)), Some(Tok::Str(value))) => {
                out.push((label.clone(), (*op).to_owned(), value.clone()));
                i += 3;
            }
            (Tok::Punct(","), _, _) => i += 1,
            other => panic!("cannot read the matcher {other:?} in {expr}"),
        }
    }
    (out, i + 1)
}

#[test]
fn references_are_read_from_promql() {
    let r = references(
        r#"histogram_quantile(0.95, sum by (job, le) (rate(codeintel_embed_latency_seconds_bucket{outcome="error", job=~"a|b"}[5m])))"#,
    );
    assert_eq!(
        r.selectors,
        vec![(
            Some("codeintel_embed_latency_seconds_bucket".to_owned()),
            vec![
                ("outcome".to_owned(), "=".to_owned(), "error".to_owned()),
                ("job".to_owned(), "=~".to_owned(), "a|b".to_owned()),
            ]
        )]
    );
    assert_eq!(r.grouping, ["job", "le"]);

    let r = references(
        "a:b:c > 0.5 unless on (job) sum(increase(x_total[6h] offset 15m)) by (class) * 1e-3 or absent(up{job=\"j\"})",
    );
    let names: Vec<_> = r.selectors.iter().map(|s| s.0.clone().unwrap()).collect();
    assert_eq!(names, ["a:b:c", "x_total", "up"]);
    assert_eq!(r.grouping, ["job", "class"]);
}

/// What the scrape exports: each sample name with its label names, and each
/// label's values.
struct Exported {
    series: BTreeMap<String, BTreeSet<String>>,
    values: BTreeMap<String, BTreeSet<String>>,
    /// sample name → family (`x_bucket` → `x` for histograms).
    family: BTreeMap<String, String>,
}

fn exported(scrape: &str) -> Exported {
    let mut e = Exported {
        series: BTreeMap::new(),
        values: BTreeMap::new(),
        family: BTreeMap::new(),
    };
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    for line in scrape.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(n), Some(t)) = (parts.next(), parts.next()) {
                types.insert(n.to_owned(), t.to_owned());
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap();
        let name = &line[..name_end];
        let labels = e.series.entry(name.to_owned()).or_default();
        if line[name_end..].starts_with('{') {
            let body = &line[name_end + 1..line.rfind('}').unwrap()];
            for (label, value) in tokens_of_labels(body) {
                labels.insert(label.clone());
                e.values.entry(label).or_default().insert(value);
            }
        }
    }
    for name in e.series.keys() {
        let fam = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|base| types.get(*base).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        e.family.insert(name.clone(), fam.to_owned());
    }
    e
}

fn tokens_of_labels(body: &str) -> Vec<(String, String)> {
    let toks = tokens(&format!("{{{body}}}"));
    let (m, _) = matchers(&toks, 0, body);
    m.into_iter().map(|(l, _, v)| (l, v)).collect()
}

/// Labels Prometheus itself attaches to every scraped series, and the series
/// it makes for each target.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];
const PROMETHEUS_SERIES: [&str; 1] = ["up"];

/// `label_values(METRIC, LABEL)` queries of the dashboard's variables.
fn dashboard_label_values() -> Vec<(String, String)> {
    let doc: serde_json::Value =
        serde_json::from_str(&read(&deploy("grafana/codeintel.json"))).unwrap();
    let re = regex::Regex::new(r"^label_values\(\s*(\w+)\s*,\s*(\w+)\s*\)$").unwrap();
    doc["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let q = v["definition"].as_str().unwrap();
            let c = re.captures(q).unwrap_or_else(|| {
                panic!("variable query {q}: only label_values(m, l) is checked")
            });
            (c[1].to_owned(), c[2].to_owned())
        })
        .collect()
}

/// Problems of `exprs` against what the scrape exports and what the rules
/// record (`recorded`: rule name → labels it may carry).
fn problems(
    exprs: &[(String, String)],
    exported: &Exported,
    recorded: &BTreeMap<String, BTreeSet<String>>,
    known_values: &BTreeMap<&str, BTreeSet<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (at, expr) in exprs {
        let refs = references(expr);
        let mut in_scope: BTreeSet<String> =
            TARGET_LABELS.iter().map(|s| (*s).to_owned()).collect();
        for (name, matchers) in &refs.selectors {
            let Some(name) = name else {
                out.push(format!("{at}: a selector without a metric name in {expr}"));
                continue;
            };
            let labels: BTreeSet<String> = if let Some(l) = exported.series.get(name) {
                l.clone()
            } else if let Some(l) = recorded.get(name) {
                l.clone()
            } else if PROMETHEUS_SERIES.contains(&name.as_str()) {
                BTreeSet::new()
            } else {
                let hint = exported
                    .family
                    .iter()
                    .filter(|(_, f)| *f == name)
                    .map(|(s, _)| s.as_str())
                    .collect::<Vec<_>>();
                out.push(format!(
                    "{at}: `{name}` is neither exported by the reference nor recorded by rules.yml{}",
                    if hint.is_empty() {
                        String::new()
                    } else {
                        format!(" (a histogram family: use one of {hint:?})")
                    }
                ));
                continue;
            };
            for (label, op, value) in matchers {
                if !labels.contains(label) && !TARGET_LABELS.contains(&label.as_str()) {
                    out.push(format!(
                        "{at}: `{name}` has no label `{label}` (it has {labels:?})"
                    ));
                }
                if op == "="
                    && let Some(values) = known_values.get(label.as_str())
                    && !values.contains(value)
                {
                    out.push(format!(
                        "{at}: `{label}` never takes the value {value:?} (values: {values:?})"
                    ));
                }
            }
            in_scope.extend(labels);
        }
        for label in &refs.grouping {
            if !in_scope.contains(label) {
                out.push(format!(
                    "{at}: groups by `{label}`, a label none of its metrics carries ({in_scope:?}) in {expr}"
                ));
            }
        }
    }
    out
}

/// Recorded series of rules.yml and the labels each may carry (the labels
/// its expression keeps: its grouping labels and the target labels).
fn recorded(exprs: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    exprs
        .iter()
        .filter_map(|(at, e)| at.strip_prefix("record ").map(|name| (name, e)))
        .map(|(name, e)| {
            let mut labels: BTreeSet<String> = references(e).grouping.into_iter().collect();
            labels.remove("le");
            labels.insert("job".to_owned());
            (name.to_owned(), labels)
        })
        .collect()
}

fn rule_exprs() -> Vec<(String, String)> {
    rules()
        .iter()
        .map(|r| {
            let at = r.get("record").map_or_else(
                || format!("alert {}", r["alert"].as_str().unwrap()),
                |n| format!("record {}", n.as_str().unwrap()),
            );
            (at, r["expr"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// Label values the reference can produce, beyond those in one scrape (an
/// error outcome, every gating class).
fn known_values(exported: &Exported) -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut known: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    known.insert(
        "outcome",
        [Outcome::Ok, Outcome::Error]
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect(),
    );
    known.insert(
        "impl",
        [FaissImpl::Ann, FaissImpl::AnnRefine]
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect(),
    );
    known.insert(
        "class",
        QueryClass::ALL
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
    );
    known.insert("job", ["codeintel".to_owned()].into());
    for (label, values) in &mut known {
        if let Some(seen) = exported.values.get(*label) {
            values.extend(seen.iter().cloned());
        }
    }
    known
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rule_and_dashboard_expression_names_only_what_the_reference_exports() {
    let reference = Reference::start("codeintel-ops-names", Duration::from_millis(5)).await;
    for n in 0..8 {
        reference.search(&query(n), n % 2 == 1).await;
    }
    let scrape = reference.scrape().await;
    let exported = exported(&scrape);
    // the scrape really has what the rules are about
    for series in [
        "codeintel_embed_latency_seconds_bucket",
        "codeintel_faiss_search_latency_seconds_bucket",
        "codeintel_duckdb_execute_seconds_bucket",
        "codeintel_gating_decisions_total",
        "codeintel_embed_batch_size_bucket",
        "target_info",
    ] {
        assert!(
            exported.series.contains_key(series),
            "{series} not in\n{scrape}"
        );
    }
    assert_eq!(
        exported.family["codeintel_embed_latency_seconds_count"],
        "codeintel_embed_latency_seconds"
    );

    let rule_exprs = rule_exprs();
    let recorded = recorded(&rule_exprs);
    let known = known_values(&exported);
    let mut all = rule_exprs.clone();
    let dash = dashboard_exprs();
    assert!(dash.len() >= 15, "dashboard expressions: {dash:?}");
    all.extend(dash);
    for (metric, label) in dashboard_label_values() {
        all.push((
            format!("variable label_values({metric}, {label})"),
            format!("count by ({label}) ({metric})"),
        ));
    }
    let found = problems(&all, &exported, &recorded, &known);
    assert!(
        found.is_empty(),
        "{}\n--- scrape ---\n{scrape}",
        found.join("\n")
    );

    // The check can fail: a made-up metric, a histogram family without its
    // suffix, a label the metric lacks, a value the label never takes.
    let bad = [
        ("bad", "rate(codeintel_search_errors_total[5m])"),
        ("bad", "rate(codeintel_embed_latency_seconds[5m])"),
        (
            "bad",
            "sum by (impl) (rate(codeintel_duckdb_execute_seconds_count[5m]))",
        ),
        (
            "bad",
            r#"codeintel_embed_latency_seconds_count{status="500"}"#,
        ),
        (
            "bad",
            r#"codeintel_gating_decisions_total{class="natural_language"}"#,
        ),
    ]
    .map(|(a, e)| (a.to_owned(), e.to_owned()));
    for b in &bad {
        let p = problems(std::slice::from_ref(b), &exported, &recorded, &known);
        assert!(!p.is_empty(), "not flagged: {}", b.1);
    }
    reference.server.shutdown().await.unwrap();
}

#[test]
fn every_dashboard_expression_is_valid_promql() {
    // promtool parses each one as a recording rule.
    let exprs = dashboard_exprs();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, e)) in exprs.iter().enumerate() {
        let quoted = serde_json::to_string(e).unwrap();
        writeln!(
            rules,
            "      - record: dashboard_expr_{i}\n        expr: {quoted}"
        )
        .unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("dashboard.yml"), &rules).unwrap();
    let (ok, out) = run_promtool(tmp.path(), &["check", "rules", "dashboard.yml"]);
    assert!(ok, "{out}\n{rules}");
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{out}"
    );

    let doc: serde_json::Value =
        serde_json::from_str(&read(&deploy("grafana/codeintel.json"))).unwrap();
    let types: BTreeSet<&str> = doc["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["type"].as_str())
        .collect();
    for t in ["heatmap", "timeseries", "stat"] {
        assert!(types.contains(t), "a {t} panel: {types:?}");
    }
    let text = read(&deploy("grafana/codeintel.json"));
    for want in [
        "codeintel_embed_latency_seconds_bucket",
        "codeintel_faiss_search_latency_seconds_bucket",
        "codeintel_duckdb_execute_seconds_bucket",
        "job:codeintel_embed_latency_seconds:p95_5m",
        "job_class:codeintel_gating_decisions:rate5m",
        "codeintel_embed_batch_size_bucket",
    ] {
        assert!(text.contains(want), "dashboard shows {want}");
    }
}
