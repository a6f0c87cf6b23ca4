//! TRC-008: no attribute, event or log holds the raw query text.

use std::collections::HashSet;

use crate::checks::{CheckResult, capped, excerpt, query_texts};
use crate::observe::{AttrValue, Observations};

use super::no_spans_message;

/// Words a normalised query text may lose without hiding it (a leak that
/// drops them is still a leak).
pub(super) const STOP_WORDS: [&str; 24] = [
    "a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "is", "are", "how", "what",
    "where", "which", "when", "who", "with", "by", "at", "be", "do", "does",
];

/// Lower-cased alphanumeric tokens of `text`, stop words dropped: the form a
/// query keeps when an implementation lower-cases or tokenises it.
pub fn query_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

/// How `haystack` holds `query`: its raw text (any case), or its tokens in
/// order (lower-cased, tokenised, stop words dropped; two tokens or more).
pub fn leaks(haystack: &str, query: &str) -> Option<&'static str> {
    if haystack.contains(query) {
        return Some("the raw query text");
    }
    if haystack.to_lowercase().contains(&query.to_lowercase()) {
        return Some("the query text in another case");
    }
    let q = query_tokens(query);
    if q.len() < 2 {
        return None;
    }
    let h = query_tokens(haystack);
    h.windows(q.len())
        .any(|w| w == q.as_slice())
        .then_some("the query's words, normalised (lower-cased or tokenised)")
}

/// The text of an attribute value (array items joined by spaces).
pub(super) fn value_text(v: &AttrValue) -> Option<String> {
    match v {
        AttrValue::Str(s) => Some(s.clone()),
        AttrValue::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(value_text).collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        }
        _ => None,
    }
}

/// Every text the telemetry carries, each with where it was found: span
/// names, status messages, attributes, events, resources, scopes; log
/// bodies, attributes and resources; exemplars of the scrapes.
pub(super) fn telemetry_texts(obs: &Observations) -> Vec<(String, String)> {
    fn attrs(out: &mut Vec<(String, String)>, owner: &str, map: &crate::observe::Attributes) {
        for (k, v) in map {
            if let Some(t) = value_text(v) {
                out.push((format!("{owner} attribute `{k}`"), t));
            }
        }
    }
    let mut out: Vec<(String, String)> = Vec::new();
    let mut resources_seen = HashSet::new();
    for s in &obs.spans {
        let owner = format!("span `{}`", excerpt(&s.name, 60));
        out.push((
            format!("a span name (`{}`)", excerpt(&s.name, 60)),
            s.name.clone(),
        ));
        if !s.status_message.is_empty() {
            out.push((format!("{owner} status message"), s.status_message.clone()));
        }
        attrs(&mut out, &owner, &s.attributes);
        for e in &s.events {
            out.push((format!("{owner} event name"), e.name.clone()));
            attrs(
                &mut out,
                &format!("{owner} event `{}`", e.name),
                &e.attributes,
            );
        }
        let key = format!("{:?}|{}", s.resource, s.scope);
        if resources_seen.insert(key) {
            attrs(&mut out, "a span resource", &s.resource);
            out.push(("a span's instrumentation scope".to_owned(), s.scope.clone()));
        }
    }
    for l in &obs.logs {
        out.push(("a log record's body".to_owned(), l.body.clone()));
        attrs(&mut out, "a log record's", &l.attributes);
        let key = format!("{:?}", l.resource);
        if resources_seen.insert(key) {
            attrs(&mut out, "a log resource", &l.resource);
        }
    }
    for sc in &obs.scrapes {
        for line in sc.body.lines() {
            if let Some((_, exemplar)) = line.split_once(" # {") {
                out.push((
                    format!("an exemplar in the `{}` scrape", sc.step),
                    exemplar.to_owned(),
                ));
            }
        }
    }
    out
}

/// TRC-008: no raw query text in the telemetry.
pub fn trc_008(obs: &Observations) -> CheckResult {
    const ID: &str = "TRC-008";
    let queries = query_texts(obs);
    if queries.is_empty() {
        return CheckResult::skip(
            ID,
            "the harness recorded no query text of 8 characters or more",
        );
    }
    if obs.spans.is_empty() {
        return CheckResult::fail(
            ID,
            format!(
                "{}: with no span there is nothing to search for query text, so the requirement \
                 is not shown to hold ({} log record(s) were received)",
                no_spans_message(obs),
                obs.logs.len()
            ),
        );
    }
    let texts = telemetry_texts(obs);
    let mut hits = Vec::new();
    for (where_, text) in &texts {
        if let Some((q, how)) = queries
            .iter()
            .find_map(|q| leaks(text, q).map(|how| (q, how)))
        {
            hits.push(format!(
                "{where_} holds {how} \"{}\" (in \"{}\")",
                excerpt(q, 60),
                excerpt(text, 100)
            ));
        }
    }
    if hits.is_empty() {
        CheckResult::pass(
            ID,
            format!(
                "none of {} query text(s), raw or normalised, appears in {} span(s), {} log \
                 record(s) or the scrapes' exemplars ({} texts searched)",
                queries.len(),
                obs.spans.len(),
                obs.logs.len(),
                texts.len()
            ),
        )
    } else {
        CheckResult::fail(
            ID,
            format!(
                "{}{}: record a hash or the length of the query, not its text (nor its words)",
                hits[0],
                if hits.len() > 1 {
                    format!(" (and {} more)", hits.len() - 1)
                } else {
                    String::new()
                }
            ),
        )
        .with_evidence(capped(hits, 12))
    }
}
