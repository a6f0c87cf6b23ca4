//! `mutants`: drive one implementation once per mutating-proxy operator and
//! score, per requirement, whether a mutant breaking it was killed
//! (`codeintel_conformance::mutate`).

use std::path::Path;

use anyhow::anyhow;
use clap::Args;
use codeintel_conformance::mutate::expect::{self as mutant_expect, Expectations, MutantRun};
use codeintel_conformance::mutate::{MutatingSut, Operator};
use codeintel_conformance::report::{self, Exit};
use codeintel_conformance::session::{self, Target};

use super::{DriveArgs, ReportOutputs, parse_operator, write_file};

#[derive(Debug, Args)]
#[command(
    mut_arg("json", |a| a.help("Write the mutants and the score as JSON to FILE (`-`: stdout)")),
    mut_arg("junit", |a| a.help("Write a JUnit XML report (one case per operator) to FILE")),
    mut_arg("markdown", |a| a.help("Write the score table as Markdown to FILE")),
    mut_arg("deadline", |a| a.help("Deadline of each mutant's run, in seconds")),
    mut_arg("mcp_suite", |a| a.help("The official MCP conformance suite's folder (as for `run`)")),
)]
pub struct MutantsArgs {
    /// `reference` (in-process) or a manifest FILE.toml.
    #[arg(value_name = "TARGET", required_unless_present = "list")]
    pub target: Option<String>,
    /// List the operators (name, target id, what it does) and exit.
    #[arg(long)]
    pub list: bool,
    /// Only these operators (comma-separated; default: all).
    #[arg(long, value_name = "OP,…", value_delimiter = ',', value_parser = parse_operator)]
    pub ops: Vec<Operator>,
    /// Hold the run to an expectation file (fixtures/mutants/EXPECTED.toml); exit 1 on any difference.
    #[arg(long, value_name = "FILE.toml")]
    pub expected: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub outputs: ReportOutputs,
    #[command(flatten)]
    pub drive: DriveArgs,
}

pub async fn mutants(args: MutantsArgs) -> anyhow::Result<Exit> {
    if args.list {
        for op in Operator::ALL {
            println!("{:<24} {:<8} {}", op.name(), op.target(), op.describe());
        }
        return Ok(Exit::Pass);
    }
    let Some(target_name) = args.target.clone() else {
        return Err(anyhow!(
            "give a target: `reference` or a manifest FILE.toml"
        ));
    };
    let expectations = match &args.expected {
        Some(p) => Some(Expectations::load(p).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let timeout = args.drive.timeout();
    let (cfg, _fixtures) = session::drive_config(
        timeout,
        args.drive.mcp_suite.as_deref(),
        &args.drive.fixtures.fixtures(),
    )?;
    let ops: Vec<Operator> = if args.ops.is_empty() {
        Operator::ALL.to_vec()
    } else {
        args.ops.clone()
    };
    let mut runs = Vec::new();
    for op in ops {
        let t = session::target(
            target_name == "reference",
            Some(Path::new(&target_name)),
            timeout,
        )?;
        // The source lint judges files, which no proxy changes: it runs only
        // for a source operator, on a planted copy of the target's source.
        let planted = op
            .plant()
            .map(|plant| session::planted_source(op, plant, t.source_dir.as_deref()));
        let (planted, plant_problem) = match planted {
            Some(Ok(dir)) => (Some(dir), None),
            Some(Err(e)) => (None, Some(e.to_string())),
            None => (None, None),
        };
        let t = Target {
            sut: Box::new(MutatingSut::new(t.sut, op)),
            source_dir: planted.as_ref().map(|d| d.path().to_path_buf()),
            ..t
        };
        eprintln!(
            "codeintel-conformance: mutant `{}` (aimed at {}) …",
            op.name(),
            op.target()
        );
        let (obs, results) = session::judge(t, &cfg, None, None, args.drive.deadline()).await;
        drop(planted);
        let run = MutantRun::new(op, &results, report::problems(&obs, plant_problem));
        eprintln!(
            "codeintel-conformance:   {} — failed: {}",
            if run.killed() { "killed" } else { "survived" },
            if run.failed.is_empty() {
                "nothing".to_owned()
            } else {
                run.failed.join(", ")
            }
        );
        runs.push(run);
    }
    let differences = expectations
        .as_ref()
        .map(|e| e.differences(&runs))
        .unwrap_or_default();
    let out = &args.outputs;
    let text = mutant_expect::render(&target_name, &runs, false);
    super::table_and_json(
        &text,
        out.json.as_deref(),
        || mutant_expect::render_json(&target_name, &runs, &differences),
        "mutants JSON",
    )?;
    for d in &differences {
        eprintln!("codeintel-conformance: unexpected: {d}");
    }
    if let Some(path) = &out.markdown {
        write_file(
            path,
            &mutant_expect::render(&target_name, &runs, true),
            "mutants Markdown",
        )?;
    }
    if let Some(path) = &out.junit {
        write_file(
            path,
            &mutant_expect::render_junit(&target_name, &runs, expectations.as_ref()),
            "mutants JUnit",
        )?;
    }
    if expectations.is_some() {
        return Ok(Exit::failed_if(!differences.is_empty()));
    }
    Ok(Exit::failed_if(runs.iter().any(|r| !r.killed())))
}
