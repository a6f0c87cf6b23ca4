//! The walk (gitignore-aware, `ignore` crate) and the parallel run (`rayon`).
//! This is the crate's only I/O.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use rayon::prelude::*;

use crate::config::{Config, Lang};
use crate::rules::{self, Diagnostic};
use crate::{LintError, Report, python, rust, typescript};

/// Compiled allow / exclude globs.
#[derive(Debug, Clone)]
struct Matchers {
    allow: GlobSet,
    exclude: Arc<GlobSet>,
}

fn glob_set(globs: &[String], what: &'static str) -> Result<GlobSet, LintError> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        let compiled = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|source| LintError::Glob {
                glob: glob.clone(),
                what,
                source,
            })?;
        builder.add(compiled);
    }
    builder.build().map_err(|source| LintError::Glob {
        glob: globs.join(", "),
        what,
        source,
    })
}

impl Matchers {
    fn new(config: &Config) -> Result<Self, LintError> {
        Ok(Matchers {
            allow: glob_set(&config.allow, "allow")?,
            exclude: Arc::new(glob_set(&config.exclude, "exclude")?),
        })
    }

    fn allowed(&self, relative: &Path, shown: &Path) -> bool {
        self.allow.is_match(relative) || self.allow.is_match(shown)
    }
}

fn excluded(exclude: &GlobSet, relative: &Path, is_dir: bool) -> bool {
    if exclude.is_empty() || relative.as_os_str().is_empty() {
        return false;
    }
    exclude.is_match(relative)
        || (is_dir && exclude.is_match(format!("{}/", relative.to_string_lossy())))
}

/// One file to lint.
#[derive(Debug, Clone)]
struct Job {
    /// The path as shown in diagnostics (as walked, without a leading `./`).
    path: PathBuf,
    lang: Lang,
    allowed: bool,
}

/// Drops leading `.` components: `./src/a.rs` is shown as `src/a.rs`.
fn shown_path(path: &Path) -> PathBuf {
    let shown: PathBuf = path
        .components()
        .skip_while(|c| matches!(c, Component::CurDir))
        .collect();
    if shown.as_os_str().is_empty() {
        path.to_path_buf()
    } else {
        shown
    }
}

fn collect(
    root: &Path,
    config: &Config,
    matchers: &Matchers,
    jobs: &mut Vec<Job>,
) -> Result<(), LintError> {
    match std::fs::metadata(root) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LintError::NotFound {
                path: root.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(LintError::Read {
                path: root.to_path_buf(),
                source,
            });
        }
    }
    let exclude = Arc::clone(&matchers.exclude);
    let filter_root = root.to_path_buf();
    let walker = ignore::WalkBuilder::new(root)
        .require_git(false)
        .git_ignore(config.ignore_files)
        .git_global(config.ignore_files)
        .git_exclude(config.ignore_files)
        .ignore(config.ignore_files)
        .parents(config.ignore_files)
        .filter_entry(move |entry| {
            if entry.depth() == 0 {
                return true;
            }
            let relative = entry
                .path()
                .strip_prefix(&filter_root)
                .unwrap_or(entry.path());
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            !((is_dir && installed_packages(entry.path())) || excluded(&exclude, relative, is_dir))
        })
        .build();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(source) => {
                if source.io_error().is_some() {
                    return Err(LintError::Walk {
                        root: root.to_path_buf(),
                        source,
                    });
                }
                // Not an I/O problem (e.g. a bad line in a .gitignore): go on.
                continue;
            }
        };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let explicit = entry.depth() == 0;
        let Some(lang) = config.lang.of(entry.path(), explicit) else {
            continue;
        };
        let relative = match entry.path().strip_prefix(root) {
            Ok(r) if !r.as_os_str().is_empty() => r.to_path_buf(),
            _ => entry
                .path()
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_default(),
        };
        if explicit && excluded(&matchers.exclude, &relative, false) {
            continue;
        }
        let path = shown_path(entry.path());
        let allowed = matchers.allowed(&relative, &path);
        jobs.push(Job {
            path,
            lang,
            allowed,
        });
    }
    Ok(())
}

/// One worker thread's tree-sitter parsers (created once per thread).
struct Parsers {
    python: Option<tree_sitter::Parser>,
    typescript: Option<tree_sitter::Parser>,
    javascript: Option<tree_sitter::Parser>,
}

impl Parsers {
    fn new() -> Self {
        Parsers {
            python: python::new_parser().ok(),
            typescript: typescript::new_parser(false).ok(),
            javascript: typescript::new_parser(true).ok(),
        }
    }
}

/// What linting one file gave.
struct FileOutcome {
    lines: u64,
    /// False when the prefilter showed no rule can fire, so it was not parsed.
    parsed: bool,
    diagnostics: Vec<Diagnostic>,
}

fn count_lines(bytes: &[u8]) -> u64 {
    let newlines = bytes.iter().fold(0u64, |n, b| n + u64::from(*b == b'\n'));
    newlines + u64::from(bytes.last().is_some_and(|b| *b != b'\n'))
}

fn lint_file(parsers: &mut Parsers, job: &Job, parse_all: bool) -> Result<FileOutcome, LintError> {
    let bytes = std::fs::read(&job.path).map_err(|source| LintError::Read {
        path: job.path.clone(),
        source,
    })?;
    let mut diagnostics: Vec<Diagnostic> = rules::legacy_module(&job.path).into_iter().collect();
    let lines = count_lines(&bytes);
    if !parse_all {
        let text = String::from_utf8_lossy(&bytes);
        let relevant = match job.lang {
            Lang::Python => python::may_violate(&text),
            Lang::Typescript => typescript::may_violate(&text),
            Lang::Rust | Lang::Auto => rust::may_violate(&text),
        };
        if !relevant {
            return Ok(FileOutcome {
                lines,
                parsed: false,
                diagnostics,
            });
        }
    }
    match job.lang {
        Lang::Typescript => {
            let parser = if typescript::is_javascript(&job.path) {
                parsers.javascript.as_mut()
            } else {
                parsers.typescript.as_mut()
            };
            let Some(parser) = parser else {
                return Err(LintError::ParserUnavailable);
            };
            let context = std::path::absolute(&job.path).unwrap_or_else(|_| job.path.clone());
            diagnostics.extend(typescript::check_typescript(
                parser,
                &job.path,
                &context,
                &bytes,
                job.allowed,
            ));
        }
        Lang::Python => {
            let Some(parser) = parsers.python.as_mut() else {
                return Err(LintError::ParserUnavailable);
            };
            let context = std::path::absolute(&job.path).unwrap_or_else(|_| job.path.clone());
            diagnostics.extend(python::check_python(
                parser,
                &job.path,
                &context,
                &bytes,
                job.allowed,
            ));
        }
        Lang::Rust | Lang::Auto => {
            let text = match std::str::from_utf8(&bytes) {
                Ok(text) => std::borrow::Cow::Borrowed(text),
                Err(e) => {
                    diagnostics.push(rules::not_utf8(&job.path, &bytes, e.valid_up_to(), None));
                    String::from_utf8_lossy(&bytes)
                }
            };
            diagnostics.extend(rust::check_rust(&job.path, &text, job.allowed));
            // No span of this file outlives the check: free the thread's source map.
            proc_macro2::extra::invalidate_current_thread_spans();
        }
    }
    Ok(FileOutcome {
        lines,
        parsed: true,
        diagnostics,
    })
}

/// Walks `paths` and lints every Rust, Python and TypeScript/JavaScript file
/// found, in parallel.
pub(crate) fn run(paths: &[PathBuf], config: &Config) -> Result<Report, LintError> {
    let matchers = Matchers::new(config)?;
    let mut jobs = Vec::new();
    for root in paths {
        collect(root, config, &matchers, &mut jobs)?;
    }
    jobs.sort_by(|a, b| a.path.cmp(&b.path));
    jobs.dedup_by(|a, b| a.path == b.path);
    if jobs.iter().any(|j| j.lang == Lang::Python) {
        python::new_parser().map_err(LintError::Grammar)?;
    }
    if jobs.iter().any(|j| j.lang == Lang::Typescript) {
        typescript::new_parser(false).map_err(LintError::Grammar)?;
        typescript::new_parser(true).map_err(LintError::Grammar)?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("codeintel-lint-{i}"))
        .build()
        .map_err(LintError::Threads)?;
    let outcomes: Vec<Result<FileOutcome, LintError>> = pool.install(|| {
        jobs.par_iter()
            .map_init(Parsers::new, |parsers, job| {
                lint_file(parsers, job, config.parse_all)
            })
            .collect()
    });
    let mut report = Report::default();
    for outcome in outcomes {
        let outcome = outcome?;
        report.files_checked += 1;
        report.lines_checked += outcome.lines;
        report.files_parsed += u64::from(outcome.parsed);
        report.diagnostics.extend(outcome.diagnostics);
    }
    rules::sort_and_dedup(&mut report.diagnostics);
    Ok(report)
}

/// Whether the folder `dir` holds installed packages rather than source:
/// `site-packages`, `node_modules`, or a Python virtualenv (`pyvenv.cfg`).
fn installed_packages(dir: &Path) -> bool {
    dir.file_name()
        .is_some_and(|n| n == "site-packages" || n == "node_modules")
        || dir.join("pyvenv.cfg").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_relative_and_walked_paths() {
        let m = Matchers::new(&Config {
            exclude: vec!["fixtures/**".into()],
            ..Config::default()
        })
        .unwrap();
        assert!(m.allowed(
            Path::new("reference-server/src/observability/metrics.rs"),
            Path::new("/work/main/reference-server/src/observability/metrics.rs")
        ));
        assert!(m.allowed(
            Path::new("observability/metrics.py"),
            Path::new("observability/metrics.py")
        ));
        assert!(m.allowed(
            Path::new("metrics.py"),
            Path::new("/a/observability/metrics.py")
        ));
        assert!(!m.allowed(Path::new("src/metrics.rs"), Path::new("src/metrics.rs")));
        assert!(excluded(&m.exclude, Path::new("fixtures"), true));
        assert!(excluded(&m.exclude, Path::new("fixtures/lint/a.py"), false));
        assert!(!excluded(&m.exclude, Path::new("src/fixtures"), true));
    }

    #[test]
    fn bad_globs_are_named() {
        let err = Matchers::new(&Config {
            allow: vec!["a/[b".into()],
            ..Config::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("a/[b") && err.contains("allow"), "{err}");
    }

    #[test]
    fn lines_are_counted_with_or_without_final_newline() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a\nb\n"), 2);
        assert_eq!(count_lines(b"a\nb"), 2);
    }

    #[test]
    fn shown_paths_drop_leading_dot() {
        assert_eq!(shown_path(Path::new("./a/b.rs")), PathBuf::from("a/b.rs"));
        assert_eq!(shown_path(Path::new("/x/./b.rs")), PathBuf::from("/x/b.rs"));
    }
}
