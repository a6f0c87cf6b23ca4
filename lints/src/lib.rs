//! `codeintel-lint`: bans legacy metric imports, legacy metrics modules and
//! hand-made `/metrics` routes in Rust, Python and TypeScript/JavaScript sources (requirements
//! `LNT-001`…`LNT-003` of the conformance spec).
//!
//! * Rust is parsed with `syn` (full syntax tree), Python with
//!   `tree-sitter-python` (3.12 syntax included), TypeScript and JavaScript
//!   (`.ts`, `.mts`, `.cts`, `.js`, `.mjs`, `.cjs`) with
//!   `tree-sitter-typescript` — no regexes.
//! * A file that does not parse, or is not UTF-8, gets an `LNT-000`
//!   diagnostic and the run goes on; the rules still run on what parsed.
//! * The walk honours `.gitignore`/`.ignore` unless [`Config::ignore_files`]
//!   is off (the conformance harness turns it off); installed packages
//!   (`site-packages`, `node_modules`, virtualenvs) are never walked; files
//!   are linted in parallel.
//! * A file that mentions none of the strings a rule looks for (`prom`,
//!   `prometheus`, `telemetry`, `/metrics`, `make_asgi_app`, …) cannot hold a
//!   finding and is not parsed, so its syntax errors are not reported;
//!   [`Config::parse_all`] (`--parse-all`) parses every file.
//! * Allowed modules ([`Config::allow`], default `**/observability/metrics.rs`,
//!   `**/observability/metrics.py` and `**/observability/metrics.ts` (or
//!   `.js`, …)) may use `prometheus` / `prometheus_client` / `prom-client`
//!   and serve `/metrics`; `telemetry.prom` imports and
//!   the legacy module files (`LNT-002`) are banned everywhere.
//!
//! ```no_run
//! use std::path::Path;
//! let root = Path::new("some/checkout");
//! let config = codeintel_lint::Config::for_root(root)?; // reads Cargo.toml / pyproject.toml
//! let report = codeintel_lint::lint_paths(&[root.to_path_buf()], &config)?;
//! for d in &report.diagnostics {
//!     println!("{}:{}:{}: {} {}", d.path.display(), d.line, d.column, d.rule.id(), d.message);
//! }
//! # Ok::<(), codeintel_lint::LintError>(())
//! ```

pub mod config;
mod engine;
pub mod output;
pub mod python;
pub mod rules;
pub mod rust;
pub mod synth;
pub mod typescript;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use config::{Config, ConfigFile, Lang};
pub use output::Format;
pub use rules::{Diagnostic, Level, Rule};

/// Why a run could not complete (the CLI exits 2 on these).
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error("path `{}` does not exist: pass an existing file or directory to lint", path.display())]
    NotFound { path: PathBuf },
    #[error(
        "cannot walk `{}`: {source}; fix the permissions or exclude the path (--exclude, or `exclude` in the config)",
        root.display()
    )]
    Walk {
        root: PathBuf,
        #[source]
        source: ignore::Error,
    },
    #[error(
        "cannot read `{}`: {source}; fix the permissions or exclude the path (--exclude, or `exclude` in the config)",
        path.display()
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read lint configuration `{}`: {source}", path.display())]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "invalid lint configuration in `{}`: {message}\nexpected keys: lang = \"auto|rust|python|typescript\", allow = [globs], exclude = [globs]",
        path.display()
    )]
    ConfigParse { path: PathBuf, message: String },
    #[error(
        "invalid {what} glob `{glob}`: {source}; write gitignore-style globs such as `**/observability/metrics.rs`"
    )]
    Glob {
        glob: String,
        what: &'static str,
        #[source]
        source: globset::Error,
    },
    #[error("cannot start the lint worker threads: {0}")]
    Threads(#[source] rayon::ThreadPoolBuildError),
    #[error(
        "a bundled grammar (tree-sitter-python or tree-sitter-typescript) does not fit this tree-sitter: {0}; build with matching versions"
    )]
    Grammar(#[source] tree_sitter::LanguageError),
    #[error(
        "no Python or TypeScript parser could be created on a worker thread; this is a bug in codeintel-lint"
    )]
    ParserUnavailable,
}

/// The result of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Rust, Python and TypeScript/JavaScript files linted.
    pub files_checked: u64,
    /// Their lines, all together.
    pub lines_checked: u64,
    /// Files actually parsed: the others hold none of the text any rule
    /// looks for (see [`Config::parse_all`]).
    pub files_parsed: u64,
    /// Every finding, sorted by path, line and column; one per rule and line.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// No diagnostic at all.
    pub fn is_clean(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// How many diagnostics `rule` has.
    pub fn count(&self, rule: Rule) -> usize {
        self.diagnostics.iter().filter(|d| d.rule == rule).count()
    }

    /// Diagnostics with paths made relative to `root` when they are under it
    /// (stable output for reports and snapshots).
    #[must_use]
    pub fn relative_to(mut self, root: &Path) -> Report {
        for d in &mut self.diagnostics {
            if let Ok(rel) = d.path.strip_prefix(root) {
                d.path = rel.to_path_buf();
            }
        }
        self
    }
}

/// Lints every Rust, Python and TypeScript/JavaScript file under `paths` (files or directories)
/// with `config`.
///
/// Errors only when the run itself cannot be done (a path missing or
/// unreadable, a bad glob); findings, parse errors included, are in the
/// [`Report`].
pub fn lint_paths(paths: &[PathBuf], config: &Config) -> Result<Report, LintError> {
    engine::run(paths, config)
}

/// Lints `root` with the configuration it declares (`Cargo.toml`
/// `[workspace.metadata.codeintel-lint]`, `pyproject.toml`
/// `[tool.codeintel-lint]`), paths in the report relative to `root`.
/// This is what `codeintel-conformance run --source DIR` calls.
pub fn lint_root(root: &Path) -> Result<Report, LintError> {
    let config = Config::for_root(root)?;
    Ok(lint_paths(&[root.to_path_buf()], &config)?.relative_to(root))
}
