//! Describing what was seen: bucket bounds, histogram and counter evidence, the
//! names near a missing family, and the checked histogram lookup.

use std::fmt::Write as _;

use crate::checks::{capped, excerpt, num};
use crate::contract::BUCKETS_B;
use crate::scrape::{Exposition, Histogram};

pub(super) fn bounds_text(bounds: &[f64]) -> String {
    let parts: Vec<String> = bounds.iter().map(|b| num(*b)).collect();
    parts.join(" ")
}

pub(super) fn same_bounds(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            if x.is_infinite() || y.is_infinite() {
                x.is_infinite() && y.is_infinite() && x.is_sign_positive() == y.is_sign_positive()
            } else {
                (x - y).abs() <= 1e-9 * y.abs().max(1.0)
            }
        })
}

pub(super) fn histogram_evidence(step: &str, h: &Histogram) -> Vec<String> {
    capped(
        h.series.iter().map(|s| {
            format!(
                "{step}: {}{} buckets [{}] count={} sum={}",
                h.name,
                s.label_text(),
                bounds_text(&s.bounds()),
                num(s.observations()),
                s.sum.map_or_else(|| "-".to_owned(), num)
            )
        }),
        12,
    )
}

/// Families whose names look like `wanted` (same core, other prefix or unit).
pub(super) fn near_names(expo: &Exposition, wanted: &str) -> Vec<String> {
    let core = wanted
        .strip_prefix("codeintel_")
        .unwrap_or(wanted)
        .trim_end_matches("_total")
        .trim_end_matches("_seconds");
    expo.families()
        .iter()
        .filter(|f| f.name != wanted && f.name.contains(core))
        .map(|f| format!("`{}` ({})", f.name, f.kind))
        .collect()
}

pub(super) fn missing_family(expo: &Exposition, name: &str, step: &str) -> String {
    let near = near_names(expo, name);
    let mut msg = format!("no family `{name}` in the scrape at `{step}`");
    if near.is_empty() {
        let _ = write!(
            msg,
            " (families seen: {}); declare the instrument and record it",
            family_list(expo)
        );
    } else {
        let _ = write!(
            msg,
            "; found {} instead: name it exactly `{name}` (the `codeintel_` namespace, the unit \
             suffix once)",
            near.join(", ")
        );
    }
    msg
}

pub(super) fn family_list(expo: &Exposition) -> String {
    let names: Vec<&str> = expo.families().iter().map(|f| f.name.as_str()).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        excerpt(&names.join(", "), 300)
    }
}

/// The histogram `name` with buckets exactly B on every series and the
/// `labels` present and non-empty; otherwise what is wrong.
pub(super) fn bucketed_histogram(
    expo: &Exposition,
    name: &str,
    labels: &[&str],
    step: &str,
) -> Result<Histogram, (String, Vec<String>)> {
    let Some(family) = expo.family(name) else {
        return Err((missing_family(expo, name, step), Vec::new()));
    };
    let Some(h) = expo.histogram(name) else {
        return Err((
            format!(
                "`{}` is a {}, not a histogram (scrape at `{step}`): record it with a histogram \
                 instrument",
                family.name, family.kind
            ),
            Vec::new(),
        ));
    };
    let evidence = histogram_evidence(step, &h);
    if h.series.is_empty() {
        return Err((
            format!("`{name}` has no series at `{step}`: nothing was recorded"),
            evidence,
        ));
    }
    for s in &h.series {
        let bounds = s.bounds();
        if !same_bounds(&bounds, &BUCKETS_B) {
            let inf = if s.has_inf() { "" } else { " (no +Inf bucket)" };
            return Err((
                format!(
                    "`{name}{}` has buckets [{}]{inf}, expected exactly B = [{}]: set explicit \
                     bucket boundaries on the instrument (the SDK default is 0 5 10 25 …)",
                    s.label_text(),
                    bounds_text(&bounds),
                    bounds_text(&BUCKETS_B)
                ),
                evidence,
            ));
        }
        for label in labels {
            if s.labels.get(*label).is_none_or(String::is_empty) {
                return Err((
                    format!(
                        "series `{name}{}` lacks label `{label}` (required: {})",
                        s.label_text(),
                        labels.join(", ")
                    ),
                    evidence,
                ));
            }
        }
    }
    Ok(h)
}
