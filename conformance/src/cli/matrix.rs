//! `matrix`: drive several implementations and print one table of ids ×
//! implementations (`codeintel_conformance::report::matrix`), held to an
//! expectation file when given.

use std::path::Path;

use clap::Args;
use codeintel_conformance::report::matrix::{self, Column};
use codeintel_conformance::report::{Exit, ExpectedFailures};
use codeintel_conformance::session;

use super::{DriveArgs, ReportOutputs, write_file};

#[derive(Debug, Args)]
#[command(
    mut_arg("markdown", |a| a.help("Also write the matrix as Markdown to FILE")),
    mut_arg("json", |a| a.help("Write the matrix as JSON to FILE (`-`: stdout; the table then goes to stderr)")),
    mut_arg("junit", |a| a.help("Write the matrix as JUnit XML (one suite per implementation) to FILE")),
    mut_arg("deadline", |a| a.help("Deadline of each implementation's run, in seconds")),
)]
pub struct MatrixArgs {
    /// Manifests (FILE.toml) to drive; `reference` for the in-process reference server.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<String>,
    /// SHOULD failures fail the run too.
    #[arg(long)]
    pub strict: bool,
    /// What each implementation must show (fixtures/suts/EXPECTED.toml form: `[name] expect = { ID = "fail" }`, every other id passes); exit 1 on any difference.
    #[arg(long, value_name = "FILE.toml")]
    pub expected_failures: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub outputs: ReportOutputs,
    #[command(flatten)]
    pub drive: DriveArgs,
}

pub async fn matrix(args: MatrixArgs) -> anyhow::Result<Exit> {
    let timeout = args.drive.timeout();
    let expectations = match &args.expected_failures {
        Some(p) => Some(matrix::load_expectations(p)?),
        None => None,
    };
    let (cfg, _fixtures) = session::drive_config(
        timeout,
        args.drive.mcp_suite.as_deref(),
        &args.drive.fixtures.fixtures(),
    )?;
    let mut columns = Vec::new();
    for entry in &args.manifests {
        let reference = entry == "reference";
        let t = match session::target(reference, Some(Path::new(entry)), timeout) {
            Ok(t) => t,
            Err(problem) => {
                columns.push(Column::not_driven(entry, problem.to_string()));
                continue;
            }
        };
        let expected = match t.expected_failures.as_deref().map(ExpectedFailures::load) {
            Some(Err(e)) => {
                columns.push(Column::not_driven(entry, e.to_string()));
                continue;
            }
            Some(Ok(x)) => Some(x),
            None => None,
        };
        let name = t.sut.info().name;
        eprintln!("codeintel-conformance: driving `{name}` …");
        let (obs, results) =
            session::judge(t, &cfg, None, expected.as_ref(), args.drive.deadline()).await;
        columns.push(Column::of(name, &obs, results, args.strict));
    }
    let out = &args.outputs;
    super::print_table(&matrix::render(&columns, false), out.json_to_stdout());
    for c in &columns {
        if let Some(p) = &c.problem {
            eprintln!("codeintel-conformance: {}: {p}", c.name);
        }
    }
    let differences = expectations
        .as_ref()
        .map(|e| matrix::differences(e, &columns))
        .unwrap_or_default();
    for d in &differences {
        eprintln!("codeintel-conformance: unexpected: {d}");
    }
    if let Some(path) = &out.markdown {
        write_file(path, &matrix::render(&columns, true), "Markdown matrix")?;
    }
    match out.json.as_deref() {
        Some("-") => println!("{}", matrix::json(&columns, &differences)),
        Some(path) => write_file(
            Path::new(path),
            &matrix::json(&columns, &differences),
            "JSON matrix",
        )?,
        None => {}
    }
    if let Some(path) = &out.junit {
        write_file(
            path,
            &matrix::junit(&columns, expectations.as_ref()),
            "JUnit matrix",
        )?;
    }
    Ok(matrix::exit(&columns, expectations.as_ref(), &differences))
}
