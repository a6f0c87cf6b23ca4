//! The rules (`LNT-000` … `LNT-003`), their metadata, and the [`Diagnostic`]
//! every checker produces. Pure data: no I/O.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One lint rule. The numbering follows `LNT-*` of the conformance spec; the
/// parse-error pseudo-rule `LNT-000` reports files that could not be read as
/// source (syntax errors, non-UTF-8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// `LNT-000`: the file does not parse (or is not UTF-8). The run goes on.
    ParseError,
    /// `LNT-001`: a legacy metric import (`prometheus` crate outside the
    /// allowed module, `prometheus_client` outside `observability/metrics.py`,
    /// any import of a `telemetry.prom` module).
    LegacyImport,
    /// `LNT-002`: a legacy metrics module file (`telemetry/prom.*`,
    /// `telemetry/otel.*`).
    LegacyModule,
    /// `LNT-003`: a hand-made `/metrics` route in application code.
    MetricsRoute,
}

/// How serious a rule is: `Error` for the spec's MUST rules (and parse
/// errors), `Warning` for SHOULD rules. Both make the run fail (exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

impl Level {
    /// The SARIF / JSON spelling (`"error"`, `"warning"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

impl Rule {
    /// Every rule, in id order.
    pub const ALL: [Rule; 4] = [
        Rule::ParseError,
        Rule::LegacyImport,
        Rule::LegacyModule,
        Rule::MetricsRoute,
    ];

    /// The stable id, e.g. `"LNT-001"`.
    pub fn id(self) -> &'static str {
        match self {
            Rule::ParseError => "LNT-000",
            Rule::LegacyImport => "LNT-001",
            Rule::LegacyModule => "LNT-002",
            Rule::MetricsRoute => "LNT-003",
        }
    }

    /// A short CamelCase name (SARIF `rule.name`).
    pub fn name(self) -> &'static str {
        match self {
            Rule::ParseError => "ParseError",
            Rule::LegacyImport => "LegacyMetricImport",
            Rule::LegacyModule => "LegacyMetricModule",
            Rule::MetricsRoute => "HandMadeMetricsRoute",
        }
    }

    /// One sentence saying what the rule forbids.
    pub fn summary(self) -> &'static str {
        match self {
            Rule::ParseError => "the file could not be parsed, so it was only partly checked",
            Rule::LegacyImport => {
                "no legacy metric imports: the `prometheus` crate outside the allowed metrics module, \
                 `prometheus_client` outside observability/metrics.py, or any `telemetry.prom` module"
            }
            Rule::LegacyModule => {
                "no legacy metrics modules: telemetry/prom.* and telemetry/otel.* must not exist"
            }
            Rule::MetricsRoute => "no hand-made /metrics route in application code",
        }
    }

    /// What to do instead (the default `help` of this rule's diagnostics).
    pub fn help(self) -> &'static str {
        match self {
            Rule::ParseError => {
                "fix the syntax (or save the file as UTF-8); findings after the error may be missing"
            }
            Rule::LegacyImport => {
                "declare instruments once in the allowed metrics module (observability/metrics) \
                 and record through OpenTelemetry"
            }
            Rule::LegacyModule => {
                "delete this module and move its instruments to observability/metrics (OpenTelemetry)"
            }
            Rule::MetricsRoute => {
                "remove the route; /metrics is served by the OpenTelemetry Prometheus exporter \
                 of the allowed metrics module"
            }
        }
    }

    /// The level this rule reports at.
    pub fn level(self) -> Level {
        match self {
            Rule::MetricsRoute => Level::Warning,
            Rule::ParseError | Rule::LegacyImport | Rule::LegacyModule => Level::Error,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// An unknown rule id was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown lint rule `{0}`: expected one of LNT-000, LNT-001, LNT-002, LNT-003")]
pub struct UnknownRule(pub String);

impl FromStr for Rule {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rule::ALL
            .into_iter()
            .find(|r| r.id().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownRule(s.to_owned()))
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One finding: which rule, where (1-based line and column, the column
/// counted in Unicode scalar values), what was found and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Diagnostic {
    pub rule: Rule,
    pub path: PathBuf,
    pub line: u32,
    pub column: u32,
    /// What was found, e.g. "`use prometheus::Registry` imports the legacy `prometheus` crate".
    pub message: String,
    /// What to do instead.
    pub help: String,
}

impl Diagnostic {
    /// A diagnostic with the rule's default help.
    pub fn new(
        rule: Rule,
        path: &Path,
        line: u32,
        column: u32,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            rule,
            path: path.to_path_buf(),
            line,
            column,
            message: message.into(),
            help: rule.help().to_owned(),
        }
    }

    /// Replaces the help text.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = help.into();
        self
    }

    /// The level of its rule.
    pub fn level(&self) -> Level {
        self.rule.level()
    }
}

/// Sorts diagnostics by path, line, column and rule, and drops repeats of
/// the same rule on the same line (a line such as
/// `let r: prometheus::Registry = prometheus::Registry::new();` is one finding).
pub fn sort_and_dedup(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| {
        (&a.path, a.line, a.column, a.rule).cmp(&(&b.path, b.line, b.column, b.rule))
    });
    let mut seen = std::collections::HashSet::new();
    diags.retain(|d| seen.insert((d.path.clone(), d.line, d.rule)));
}

/// Legacy module names that `LNT-002` forbids inside a `telemetry` package.
const LEGACY_STEMS: [&str; 2] = ["prom", "otel"];

/// `LNT-002`: is `path` a legacy metrics module? `telemetry/prom.py`,
/// `telemetry/otel.py` (and `.pyi`), their package forms
/// `telemetry/prom/__init__.py`, the Rust equivalents
/// `telemetry/prom.rs`, `telemetry/otel.rs`, `telemetry/prom/mod.rs`, and the
/// TypeScript/JavaScript ones `telemetry/prom.ts` (`.mts`, `.cts`, `.js`,
/// `.mjs`, `.cjs`), `telemetry/otel.js`, `telemetry/prom/index.ts`.
pub fn legacy_module(path: &Path) -> Option<Diagnostic> {
    let ext = path.extension()?.to_str()?;
    if !matches!(
        ext,
        "py" | "pyi" | "rs" | "ts" | "mts" | "cts" | "js" | "mjs" | "cjs"
    ) {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let parent = path.parent()?;
    let parent_name = parent.file_name().and_then(|n| n.to_str());
    let (module, package) = if matches!(stem, "__init__" | "mod" | "index") {
        (parent_name?, parent.parent()?.file_name()?.to_str()?)
    } else {
        (stem, parent_name?)
    };
    if package != "telemetry" || !LEGACY_STEMS.contains(&module) {
        return None;
    }
    let lang_dir = match ext {
        "rs" => "observability/metrics.rs",
        "py" | "pyi" => "observability/metrics.py",
        _ => "observability/metrics.ts",
    };
    Some(
        Diagnostic::new(
            Rule::LegacyModule,
            path,
            1,
            1,
            format!("`telemetry/{module}` is a legacy metrics module"),
        )
        .with_help(format!(
            "delete this module and move its instruments to {lang_dir} (OpenTelemetry)"
        )),
    )
}

/// `LNT-000` for bytes that are not UTF-8, at the first bad byte.
/// `declared` is an encoding the file declares (Python's `coding:`), if any.
pub(crate) fn not_utf8(
    path: &Path,
    source: &[u8],
    valid_up_to: usize,
    declared: Option<String>,
) -> Diagnostic {
    let before = &source[..valid_up_to.min(source.len())];
    let line = before
        .iter()
        .fold(1usize, |n, b| n + usize::from(*b == b'\n'));
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    let byte = source.get(valid_up_to).copied().unwrap_or_default();
    let declared = declared
        .map(|e| format!(" (the file declares `coding: {e}`; only UTF-8 is supported)"))
        .unwrap_or_default();
    Diagnostic::new(
        Rule::ParseError,
        path,
        line as u32,
        column as u32,
        format!("file is not valid UTF-8 (byte 0x{byte:02x}){declared}"),
    )
    .with_help("save the file as UTF-8; it was checked with the bad bytes replaced, so findings may be missing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for rule in Rule::ALL {
            assert_eq!(rule.id().parse::<Rule>(), Ok(rule));
        }
        assert!("LNT-009".parse::<Rule>().is_err());
    }

    #[test]
    fn legacy_modules_are_recognised() {
        for p in [
            "a/telemetry/prom.py",
            "telemetry/otel.py",
            "x/telemetry/prom.pyi",
            "x/telemetry/prom/__init__.py",
            "src/telemetry/prom.rs",
            "src/telemetry/otel/mod.rs",
            "src/telemetry/prom.ts",
            "src/telemetry/otel.mjs",
            "lib/telemetry/prom/index.js",
        ] {
            assert!(legacy_module(Path::new(p)).is_some(), "{p}");
        }
        for p in [
            "a/telemetry/promql.py",
            "a/prom.py",
            "a/telemetry/prom.txt",
            "a/observability/prom.rs",
            "a/telemetry/__init__.py",
            "a/telemetry/mod.rs",
            "a/telemetry/index.ts",
            "a/telemetry/prom.d.ts.map",
            "a/telemetry/promise.ts",
        ] {
            assert!(legacy_module(Path::new(p)).is_none(), "{p}");
        }
    }

    #[test]
    fn dedup_keeps_first_column_per_line() {
        let p = Path::new("a.rs");
        let mut d = vec![
            Diagnostic::new(Rule::LegacyImport, p, 2, 30, "b"),
            Diagnostic::new(Rule::LegacyImport, p, 2, 8, "a"),
            Diagnostic::new(Rule::MetricsRoute, p, 2, 9, "c"),
        ];
        sort_and_dedup(&mut d);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].column, d[0].rule), (8, Rule::LegacyImport));
        assert_eq!(d[1].rule, Rule::MetricsRoute);
    }
}
