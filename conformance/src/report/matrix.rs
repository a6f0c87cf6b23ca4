//! The matrix: several implementations judged side by side, one column
//! each, as a text table, Markdown, JSON and JUnit; and the expectation file
//! (`fixtures/suts/EXPECTED.toml`) a matrix is held to. Pure functions, like
//! every renderer of [`crate::report`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use super::Exit;
use super::junit::{Child, JunitWriter, Layout, or_comment};
use crate::catalog;
use crate::checks::CheckResult;
use crate::observe::Observations;

/// One column of the matrix.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub results: Vec<CheckResult>,
    pub exit: Exit,
    /// Why the implementation could not be driven, if so.
    pub problem: Option<String>,
}

impl Column {
    /// A column for an implementation the harness could not drive at all.
    pub fn not_driven(name: &str, problem: String) -> Self {
        Self {
            name: name.to_owned(),
            results: Vec::new(),
            exit: Exit::Harness,
            problem: Some(problem),
        }
    }

    /// The column of a run that was made: its exit as `run` would give it.
    pub fn of(name: String, obs: &Observations, results: Vec<CheckResult>, strict: bool) -> Self {
        let problem = super::problems(obs, None);
        let exit = if obs.deadline_exceeded.is_some() {
            Exit::Deadline
        } else if problem.is_some() {
            Exit::Harness
        } else {
            super::exit_code(&results, strict)
        };
        Self {
            name,
            results,
            exit,
            problem,
        }
    }
}

/// One implementation's entry of a matrix expectation file.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixExpectation {
    /// Why the implementation shows what it shows (for the reader).
    #[serde(default)]
    pub why: Option<String>,
    /// Id → outcome (`pass`, `fail`, `warn`, `error`, `skip`); every other
    /// id must pass.
    #[serde(default)]
    pub expect: BTreeMap<String, String>,
}

/// A matrix expectation file: implementation name → what it must show.
pub type MatrixExpectations = BTreeMap<String, MatrixExpectation>;

/// Why a matrix expectation file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MatrixExpectationsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: [{name}] expects `{id}`, which is not a requirement id", path.display())]
    UnknownId {
        path: PathBuf,
        name: String,
        id: String,
    },
    #[error("{}: [{name}] {id} = `{outcome}`: expected pass, fail, warn, error or skip", path.display())]
    UnknownOutcome {
        path: PathBuf,
        name: String,
        id: String,
        outcome: String,
    },
}

/// Reads and validates a matrix expectation file (ids of the catalog,
/// outcomes by name).
pub fn load_expectations(path: &Path) -> Result<MatrixExpectations, MatrixExpectationsError> {
    let text = std::fs::read_to_string(path).map_err(|source| MatrixExpectationsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let map: MatrixExpectations =
        toml::from_str(&text).map_err(|e| MatrixExpectationsError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
    for (name, e) in &map {
        for (id, outcome) in &e.expect {
            if catalog::find(id).is_none() {
                return Err(MatrixExpectationsError::UnknownId {
                    path: path.to_owned(),
                    name: name.clone(),
                    id: id.clone(),
                });
            }
            if !["pass", "fail", "warn", "error", "skip"].contains(&outcome.as_str()) {
                return Err(MatrixExpectationsError::UnknownOutcome {
                    path: path.to_owned(),
                    name: name.clone(),
                    id: id.clone(),
                    outcome: outcome.clone(),
                });
            }
        }
    }
    Ok(map)
}

/// Cells that differ from the expectations (a skipped id matches anything:
/// what it needs was not installed).
pub fn differences(expected: &MatrixExpectations, columns: &[Column]) -> Vec<String> {
    let mut out = Vec::new();
    for c in columns {
        let Some(e) = expected.get(&c.name) else {
            out.push(format!("{}: no entry in the expectation file", c.name));
            continue;
        };
        for r in catalog::all() {
            let want = e.expect.get(r.id).map_or("pass", String::as_str);
            let got = cell(&c.results, r.id).to_ascii_lowercase();
            if got != want && got != "skip" {
                out.push(format!("{} {}: expected {want}, got {got}", c.name, r.id));
            }
        }
    }
    out
}

/// The exit code of a matrix run: with expectations, 2 when an expected
/// implementation could not be driven, else 1 on any difference; without,
/// the worst column's.
pub fn exit(
    columns: &[Column],
    expected: Option<&MatrixExpectations>,
    differences: &[String],
) -> Exit {
    match expected {
        Some(e) => {
            if columns
                .iter()
                .any(|c| c.problem.is_some() && e.contains_key(&c.name))
            {
                Exit::Harness
            } else {
                Exit::failed_if(!differences.is_empty())
            }
        }
        None => columns.iter().map(|c| c.exit).max().unwrap_or_default(),
    }
}

/// The outcome of `id` in `results`, `-` when it has none.
pub fn cell(results: &[CheckResult], id: &str) -> &'static str {
    results
        .iter()
        .find(|r| r.id == id)
        .map_or("-", |r| r.outcome.as_str())
}

/// The matrix as JSON: columns with their exit code, problem and outcome per
/// id, and the differences from the expectations.
pub fn json(columns: &[Column], differences: &[String]) -> String {
    let doc = serde_json::json!({
        "tool": "codeintel-conformance matrix",
        "catalog": catalog::VERSION,
        "columns": columns.iter().map(|c| serde_json::json!({
            "name": c.name,
            "exit_code": c.exit,
            "problem": c.problem,
            "results": catalog::all().iter().map(|r| (r.id.to_owned(), serde_json::Value::from(cell(&c.results, r.id).to_ascii_lowercase()))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "differences": differences,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// One suite per implementation, one case per id: failed when the outcome
/// differs from the expectation (without one: when it is fail or error).
pub fn junit(columns: &[Column], expected: Option<&MatrixExpectations>) -> String {
    or_comment(write_junit(columns, expected))
}

fn write_junit(columns: &[Column], expected: Option<&MatrixExpectations>) -> io::Result<String> {
    let mut w = JunitWriter::new(Layout::CaseInline)?;
    let tests = catalog::all().len().to_string();
    w.suites(&[], |w| {
        for c in columns {
            let verdicts: Vec<(String, Option<String>)> = catalog::all()
                .iter()
                .map(|r| {
                    let got = cell(&c.results, r.id).to_ascii_lowercase();
                    let failed = match expected.and_then(|e| e.get(&c.name)) {
                        Some(e) => {
                            let want = e.expect.get(r.id).map_or("pass", String::as_str);
                            (got != want && got != "skip")
                                .then(|| format!("expected {want}, got {got}"))
                        }
                        None => matches!(got.as_str(), "fail" | "error" | "-").then(|| got.clone()),
                    };
                    (got, failed)
                })
                .collect();
            let failures = verdicts
                .iter()
                .filter(|(_, f)| f.is_some())
                .count()
                .to_string();
            let suite = [
                ("name", c.name.as_str()),
                ("tests", tests.as_str()),
                ("failures", failures.as_str()),
            ];
            w.suite(&suite, |w| {
                for (r, (got, failed)) in catalog::all().iter().zip(&verdicts) {
                    let name = format!("{} {}", r.id, r.title);
                    let case = [("classname", c.name.as_str()), ("name", name.as_str())];
                    match failed {
                        Some(f) => {
                            w.case(
                                &case,
                                Some(Child::failure(&[("message", f.as_str())], None)),
                            )?;
                        }
                        None if got == "skip" => w.case(&case, Some(Child::skipped(&[])))?,
                        None => w.case(&case, None)?,
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    })?;
    w.finish()
}

/// Ids × implementations, as a text table or Markdown.
pub fn render(columns: &[Column], markdown: bool) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["ID".to_owned(), "LEVEL".to_owned()];
    header.extend(columns.iter().map(|c| c.name.clone()));
    for r in catalog::all() {
        let mut row = vec![r.id.to_owned(), r.level.as_str().to_owned()];
        row.extend(columns.iter().map(|c| cell(&c.results, r.id).to_owned()));
        rows.push(row);
    }
    let mut exit_row = vec!["exit".to_owned(), String::new()];
    exit_row.extend(columns.iter().map(|c| c.exit.to_string()));
    rows.push(exit_row);

    let mut out = String::new();
    if markdown {
        let _ = write!(
            out,
            "# codeintel conformance matrix (catalog {})\n\n",
            catalog::VERSION
        );
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(
            out,
            "|{}",
            header.iter().map(|_| " --- |").collect::<String>()
        );
        for row in &rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        let problems: Vec<&Column> = columns.iter().filter(|c| c.problem.is_some()).collect();
        if !problems.is_empty() {
            out.push_str("\nNot driven or not fully judged:\n\n");
            for c in problems {
                let _ = writeln!(
                    out,
                    "- `{}`: {}",
                    c.name,
                    c.problem.as_deref().unwrap_or_default().replace('\n', " ")
                );
            }
        }
        return out;
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks;

    fn column(name: &str, fail: &str, exit: Exit) -> Column {
        Column {
            name: name.to_owned(),
            results: catalog::all()
                .iter()
                .map(|r| {
                    if r.id == fail {
                        CheckResult::fail(r.id, "broken")
                    } else {
                        CheckResult::pass(r.id, "ok")
                    }
                })
                .collect(),
            exit,
            problem: None,
        }
    }

    #[test]
    fn matrix_shows_ids_by_implementation() {
        let mut broken = column("broken-variant", "MET-002", Exit::Fail);
        broken.problem = Some("golden queries missing".into());
        let mut skipped = column("no-node", "", Exit::Pass);
        skipped.results[0] = CheckResult::skip(&skipped.results[0].id.clone(), "no suite");
        skipped.results.pop();
        let columns = vec![column("reference", "", Exit::Pass), broken, skipped];
        let text = render(&columns, false);
        assert_eq!(text.lines().count(), catalog::all().len() + 2);
        // The whole renderings, reviewed in src/report/snapshots/.
        insta::assert_snapshot!("matrix_table", text);
        insta::assert_snapshot!("matrix_markdown", render(&columns, true));
        insta::assert_snapshot!("matrix_junit", junit(&columns, None));
    }

    #[test]
    fn missing_results_show_a_dash() {
        assert_eq!(cell(&[], "MET-001"), "-");
        let r = [CheckResult::skip("LNT-001", "no source")];
        assert_eq!(cell(&r, "LNT-001"), checks::Outcome::Skip.as_str());
    }

    #[test]
    fn expectations_are_validated_and_compared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("EXPECTED.toml");
        std::fs::write(&path, "[broken]\nexpect = { MET-002 = \"fail\" }\n").unwrap();
        let e = load_expectations(&path).unwrap();
        let columns = [
            column("broken", "MET-002", Exit::Fail),
            column("other", "", Exit::Pass),
        ];
        let d = differences(&e, &columns);
        assert_eq!(d, ["other: no entry in the expectation file"]);
        assert_eq!(exit(&columns, Some(&e), &d), Exit::Fail);
        assert_eq!(exit(&columns[..1], Some(&e), &[]), Exit::Pass);
        assert_eq!(exit(&columns, None, &d), Exit::Fail);
        let d = differences(&e, &[column("broken", "MET-003", Exit::Fail)]);
        assert_eq!(
            d,
            [
                "broken MET-002: expected fail, got pass",
                "broken MET-003: expected pass, got fail"
            ]
        );
        for (text, err) in [
            (
                "[x]\nexpect = { NOPE-1 = \"fail\" }",
                "expects `NOPE-1`, which is not a requirement id",
            ),
            (
                "[x]\nexpect = { MET-001 = \"broken\" }",
                "MET-001 = `broken`: expected pass, fail",
            ),
            ("[x]\nwhat = 1", "unknown field"),
        ] {
            std::fs::write(&path, text).unwrap();
            let got = load_expectations(&path).unwrap_err().to_string();
            assert!(got.contains(err), "{text}: {got}");
        }
        let got = load_expectations(&dir.path().join("missing.toml")).unwrap_err();
        assert!(got.to_string().starts_with("cannot read "), "{got}");
    }

    #[test]
    fn junit_fails_the_cells_that_differ() {
        let columns = [column("a&b", "MET-002", Exit::Fail)];
        let xml = junit(&columns, None);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"a&amp;b\""), "{xml}");
        assert!(
            xml.contains("    <testcase classname=\"a&amp;b\" name=\"MET-001 The scrape answers 200 and parses\"></testcase>\n"),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"fail\"/></testcase>\n"),
            "{xml}"
        );
        assert!(xml.ends_with("  </testsuite>\n</testsuites>\n"), "{xml}");
    }
}
