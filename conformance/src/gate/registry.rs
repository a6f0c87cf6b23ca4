//! A telemetry registry in OpenTelemetry Weaver's `definition/2` syntax: the
//! part of it the live-check needs (attributes with types and enum members;
//! metrics with unit, instrument and attribute references; spans with kind,
//! name pattern and attribute references; events).
//!
//! Files are YAML (`*.yaml` / `*.yml`) in one folder (`conformance/registry/`
//! for the codeintel service). Unknown keys are ignored here; the
//! `registry_schema` test validates every file against Weaver's JSON schema
//! (`fixtures/weaver/semconv.schema.v2.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why a registry could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read the registry {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("registry file {path} is not valid definition/2 YAML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("registry file {path} has file_format `{found}`; only `definition/2` is read")]
    Format { path: PathBuf, found: String },
    #[error("the registry {path} holds no *.yaml file")]
    Empty { path: PathBuf },
    #[error("registry: {what} `{name}` is defined twice ({first} and {second})")]
    Duplicate {
        what: &'static str,
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("registry: {signal} `{name}` references attribute `{key}`, which no file defines")]
    UnknownRef {
        signal: &'static str,
        name: String,
        key: String,
    },
}

/// One `definition/2` file (the parts used here).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistryFile {
    pub file_format: String,
    #[serde(default)]
    pub attributes: Vec<AttributeDef>,
    #[serde(default)]
    pub metrics: Vec<MetricDef>,
    #[serde(default)]
    pub spans: Vec<SpanDef>,
    #[serde(default)]
    pub events: Vec<EventDef>,
}

/// An attribute definition.
#[derive(Debug, Clone, Deserialize)]
pub struct AttributeDef {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: AttributeType,
    #[serde(default)]
    pub brief: String,
}

/// `type:` of an attribute: a primitive or array name, a template, or an
/// enum's members.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AttributeType {
    Named(String),
    Enum { members: Vec<EnumMember> },
}

/// One enum member.
#[derive(Debug, Clone, Deserialize)]
pub struct EnumMember {
    pub id: String,
    /// Defaults to the `id` when absent.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}

impl EnumMember {
    fn value_text(&self) -> String {
        match &self.value {
            None => self.id.clone(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        }
    }
}

impl AttributeType {
    /// The value type (`string`, `int`, `boolean`, …; an enum's from its
    /// first member; a template's inner type).
    pub fn value_type(&self) -> String {
        match self {
            Self::Named(n) => n
                .strip_prefix("template[")
                .and_then(|t| t.strip_suffix(']'))
                .unwrap_or(n)
                .to_owned(),
            Self::Enum { members } => match members.first().and_then(|m| m.value.as_ref()) {
                Some(serde_json::Value::Number(n)) if n.is_i64() => "int".to_owned(),
                Some(serde_json::Value::Bool(_)) => "boolean".to_owned(),
                _ => "string".to_owned(),
            },
        }
    }

    /// The members' values as text, for an enum.
    pub fn members(&self) -> Option<Vec<String>> {
        match self {
            Self::Named(_) => None,
            Self::Enum { members } => Some(members.iter().map(EnumMember::value_text).collect()),
        }
    }
}

/// An attribute reference on a signal (`ref_group` entries are ignored).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AttributeRef {
    #[serde(rename = "ref", default)]
    pub key: Option<String>,
    #[serde(default)]
    pub requirement_level: Option<serde_json::Value>,
}

/// How strongly a signal asks for an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    Required,
    Recommended,
    /// `opt_in` or `conditionally_required`: absence is not judged.
    Optional,
}

impl AttributeRef {
    /// The reference's requirement level (`recommended` when absent).
    pub fn requirement(&self) -> Requirement {
        match &self.requirement_level {
            Some(serde_json::Value::String(s)) if s == "required" => Requirement::Required,
            Some(serde_json::Value::String(s)) if s == "recommended" => Requirement::Recommended,
            None => Requirement::Recommended,
            Some(serde_json::Value::Object(o)) if o.contains_key("recommended") => {
                Requirement::Recommended
            }
            Some(_) => Requirement::Optional,
        }
    }
}

/// A metric definition.
#[derive(Debug, Clone, Deserialize)]
pub struct MetricDef {
    pub name: String,
    pub unit: String,
    pub instrument: String,
    #[serde(default)]
    pub attributes: Vec<AttributeRef>,
    #[serde(default)]
    pub brief: String,
}

/// `name:` of a span definition.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SpanName {
    pub note: String,
}

/// A span definition.
#[derive(Debug, Clone, Deserialize)]
pub struct SpanDef {
    #[serde(rename = "type")]
    pub id: String,
    pub kind: String,
    pub name: SpanName,
    #[serde(default)]
    pub attributes: Vec<AttributeRef>,
}

/// An event definition.
#[derive(Debug, Clone, Deserialize)]
pub struct EventDef {
    pub name: String,
    #[serde(default)]
    pub attributes: Vec<AttributeRef>,
}

/// Every file of a registry folder, merged.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub attributes: BTreeMap<String, AttributeDef>,
    pub metrics: Vec<MetricDef>,
    pub spans: Vec<SpanDef>,
    pub events: Vec<EventDef>,
    /// The files read, sorted.
    pub files: Vec<PathBuf>,
}

/// The YAML files of `dir`, sorted.
pub fn registry_files(dir: &Path) -> Result<Vec<PathBuf>, RegistryError> {
    let read = |source| RegistryError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// One file as a JSON value (for schema validation) — YAML read through
/// `serde_norway`.
pub fn file_as_json(path: &Path) -> Result<serde_json::Value, RegistryError> {
    let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_norway::from_str(&text).map_err(|e| RegistryError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

impl Registry {
    /// Loads every `*.yaml` of `dir`, checks names are unique and every
    /// attribute reference resolves.
    pub fn load(dir: &Path) -> Result<Self, RegistryError> {
        let files = registry_files(dir)?;
        if files.is_empty() {
            return Err(RegistryError::Empty {
                path: dir.to_owned(),
            });
        }
        let mut reg = Self::default();
        let mut seen: BTreeMap<(&'static str, String), PathBuf> = BTreeMap::new();
        let mut dup = |what: &'static str, name: &str, path: &Path| -> Result<(), RegistryError> {
            if let Some(first) = seen.insert((what, name.to_owned()), path.to_owned()) {
                return Err(RegistryError::Duplicate {
                    what,
                    name: name.to_owned(),
                    first,
                    second: path.to_owned(),
                });
            }
            Ok(())
        };
        for path in &files {
            let value = file_as_json(path)?;
            let file: RegistryFile =
                serde_json::from_value(value).map_err(|e| RegistryError::Parse {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            if file.file_format != "definition/2" {
                return Err(RegistryError::Format {
                    path: path.clone(),
                    found: file.file_format,
                });
            }
            for a in file.attributes {
                dup("attribute", &a.key, path)?;
                reg.attributes.insert(a.key.clone(), a);
            }
            for m in file.metrics {
                dup("metric", &m.name, path)?;
                reg.metrics.push(m);
            }
            for s in file.spans {
                dup("span", &s.id, path)?;
                reg.spans.push(s);
            }
            for e in file.events {
                dup("event", &e.name, path)?;
                reg.events.push(e);
            }
        }
        reg.files = files;
        let refs = reg
            .metrics
            .iter()
            .map(|m| ("metric", &m.name, &m.attributes))
            .chain(reg.spans.iter().map(|s| ("span", &s.id, &s.attributes)))
            .chain(reg.events.iter().map(|e| ("event", &e.name, &e.attributes)));
        for (signal, name, attrs) in refs {
            for key in attrs.iter().filter_map(|r| r.key.as_ref()) {
                if !reg.attributes.contains_key(key) {
                    return Err(RegistryError::UnknownRef {
                        signal,
                        name: name.clone(),
                        key: key.clone(),
                    });
                }
            }
        }
        Ok(reg)
    }

    /// The attribute whose key, as a Prometheus label (`.` → `_`), is
    /// `label`, preferring those `refs` names.
    pub fn attribute_for_label<'a>(
        &'a self,
        label: &str,
        refs: &[AttributeRef],
    ) -> Option<&'a AttributeDef> {
        let by_ref = refs
            .iter()
            .filter_map(|r| r.key.as_deref())
            .find(|k| label_name(k) == label)
            .and_then(|k| self.attributes.get(k));
        by_ref.or_else(|| {
            self.attributes
                .values()
                .find(|a| label_name(&a.key) == label)
        })
    }
}

/// An attribute key as a Prometheus label name.
pub fn label_name(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The Prometheus suffix a UCUM unit gets from the OTel exporter (`s` →
/// `_seconds`); `None` for units the exporter does not suffix (`{text}`, `1`).
pub fn unit_suffix(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "_seconds",
        "ms" => "_milliseconds",
        "By" => "_bytes",
        "%" => "_percent",
        _ => return None,
    })
}

/// The family name the OTel Prometheus exporter gives a metric: dots to
/// underscores, the unit's suffix, `_total` for counters.
pub fn prometheus_name(metric: &MetricDef) -> String {
    let mut name = label_name(&metric.name);
    if let Some(suffix) = unit_suffix(&metric.unit)
        && !name.ends_with(suffix)
    {
        name.push_str(suffix);
    }
    if metric.instrument == "counter" && !name.ends_with("_total") {
        name.push_str("_total");
    }
    name
}

/// The exposition type an instrument becomes.
pub fn prometheus_type(instrument: &str) -> &'static str {
    match instrument {
        "counter" => "counter",
        "histogram" => "histogram",
        // updowncounter, gauge
        _ => "gauge",
    }
}

/// Whether a span name matches a `name.note` pattern: literal text, with
/// `{attribute}` placeholders matching any non-empty text.
pub fn span_name_matches(pattern: &str, name: &str) -> bool {
    let mut parts: Vec<&str> = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        parts.push(&rest[..open]);
        rest = &rest[open + close + 1..];
    }
    parts.push(rest);
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    let Some(mut remaining) = name.strip_prefix(first) else {
        return false;
    };
    for lit in &parts[1..parts.len() - 1] {
        // Each placeholder takes at least one character.
        let Some(pos) = remaining.get(1..).and_then(|r| r.find(lit)) else {
            return false;
        };
        remaining = &remaining[pos + 1 + lit.len()..];
    }
    remaining.len() > last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_name_patterns() {
        assert!(span_name_matches("fuse", "fuse"));
        assert!(!span_name_matches("fuse", "fused"));
        assert!(span_name_matches(
            "tools/call {gen_ai.tool.name}",
            "tools/call semantic_search"
        ));
        assert!(!span_name_matches(
            "tools/call {gen_ai.tool.name}",
            "tools/call "
        ));
        assert!(span_name_matches(
            "{http.request.method} {http.route}",
            "GET /readyz"
        ));
        assert!(!span_name_matches(
            "{http.request.method} {http.route}",
            "GET"
        ));
        assert!(span_name_matches(
            "embeddings {gen_ai.request.model}",
            "embeddings m"
        ));
    }

    #[test]
    fn prometheus_names() {
        let m = |name: &str, unit: &str, instrument: &str| MetricDef {
            name: name.into(),
            unit: unit.into(),
            instrument: instrument.into(),
            attributes: Vec::new(),
            brief: String::new(),
        };
        assert_eq!(
            prometheus_name(&m("codeintel.embed_latency", "s", "histogram")),
            "codeintel_embed_latency_seconds"
        );
        assert_eq!(
            prometheus_name(&m("codeintel.gating_decisions", "{decision}", "counter")),
            "codeintel_gating_decisions_total"
        );
        assert_eq!(prometheus_type("updowncounter"), "gauge");
    }

    #[test]
    fn requirement_levels() {
        let r = |v: serde_json::Value| AttributeRef {
            key: Some("k".into()),
            requirement_level: Some(v),
        };
        assert_eq!(
            r(serde_json::json!("required")).requirement(),
            Requirement::Required
        );
        assert_eq!(
            r(serde_json::json!({"conditionally_required": "on error"})).requirement(),
            Requirement::Optional
        );
        assert_eq!(
            r(serde_json::json!("opt_in")).requirement(),
            Requirement::Optional
        );
        assert_eq!(
            AttributeRef::default().requirement(),
            Requirement::Recommended
        );
    }
}
