//! `codeintel-conformance`: drive an implementation of the codeintel contract
//! end to end and report every requirement by id.
//!
//! A thin binary: flag parsing (clap) over the library, one module of
//! [`cli`] per subcommand. Exit codes are [`report::Exit`]'s: 0 every MUST
//! holds (with `--strict`, every SHOULD too, and no MUST was skipped); 1 some
//! requirement fails; 2 the harness itself failed (bad arguments or
//! manifest, peers that could not start, missing fixtures, unwritable report
//! files); 3 the overall run deadline (`--deadline`) expired (the verdicts
//! printed judge the part of the run that was made).

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use codeintel_conformance::report::{self, Exit};

#[derive(Debug, Parser)]
#[command(
    name = "codeintel-conformance",
    version,
    about = "Drive a codeintel implementation end to end and report each requirement of the contract by id"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per process: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Drive one implementation and report every requirement.
    Run(cli::run::RunArgs),
    /// List the catalog: ids, levels and titles.
    List,
    /// Explain one requirement: what it asks and how it is checked.
    Explain {
        /// A requirement id, e.g. MET-002.
        id: String,
    },
    /// Drive several implementations and print one table of ids × implementations.
    Matrix(cli::matrix::MatrixArgs),
    /// Drive one implementation through every mutating-proxy operator and report, per requirement, whether a mutant breaking it was killed.
    Mutants(cli::mutants::MutantsArgs),
    /// Write the telemetry surface a run emitted (metrics, spans, logs, resource, scopes) as a stable JSON snapshot.
    Snapshot(cli::gate::SnapshotArgs),
    /// Compare a telemetry snapshot with a baseline, field by field: breaking, risky, additive.
    Diff(cli::gate::DiffArgs),
    /// Check a run's telemetry against a Weaver definition/2 registry (findings and coverage).
    LiveCheck(cli::gate::LiveCheckArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => cli::run::run(args).await,
        Command::List => {
            print!("{}", cli::catalog::render_list());
            Ok(Exit::Pass)
        }
        Command::Explain { id } => cli::catalog::explain(&id),
        Command::Matrix(args) => cli::matrix::matrix(args).await,
        Command::Mutants(args) => cli::mutants::mutants(args).await,
        Command::Snapshot(args) => cli::gate::snapshot(args).await,
        Command::Diff(args) => cli::gate::diff(&args),
        Command::LiveCheck(args) => cli::gate::live_check(args).await,
    };
    let exit = result.unwrap_or_else(|e| {
        eprintln!("codeintel-conformance: error: {}", cli::describe(&e));
        report::Exit::Harness
    });
    ExitCode::from(exit.code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::path::PathBuf;

    #[test]
    fn the_command_line_is_well_formed() {
        // Every `mut_arg` names a flag its command has (clap panics here
        // otherwise), and no two flags clash.
        Cli::command().debug_assert();
    }

    #[test]
    fn cli_parses_the_documented_shapes() {
        let cli = Cli::try_parse_from([
            "codeintel-conformance",
            "run",
            "--sut-manifest",
            "x.toml",
            "--json",
            "-",
            "--strict",
            "--timeout-secs",
            "5",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.sut_manifest, Some(PathBuf::from("x.toml")));
        assert_eq!(args.outputs.json.as_deref(), Some("-"));
        assert!(args.strict);
        assert_eq!(args.drive.timeout_secs, Some(5));
        assert_eq!(args.drive.deadline, cli::DEFAULT_DEADLINE_SECS);
        assert!(
            Cli::try_parse_from(["codeintel-conformance", "run"]).is_err(),
            "a SUT is required"
        );
        assert!(
            Cli::try_parse_from([
                "codeintel-conformance",
                "run",
                "--sut",
                "reference",
                "--sut-manifest",
                "x.toml"
            ])
            .is_err()
        );
        assert!(Cli::try_parse_from(["codeintel-conformance", "run", "--sut", "other"]).is_err());
        assert!(Cli::try_parse_from(["codeintel-conformance", "matrix"]).is_err());
        assert!(
            Cli::try_parse_from([
                "codeintel-conformance",
                "run",
                "--sut",
                "reference",
                "--deadline",
                "0"
            ])
            .is_err(),
            "a zero deadline is refused"
        );
    }

    #[test]
    fn each_command_words_its_shared_flags() {
        let help = |sub: &str, flag: &str| {
            let cmd = Cli::command();
            let sub = cmd.find_subcommand(sub).unwrap();
            let arg = sub
                .get_arguments()
                .find(|a| a.get_id() == flag)
                .unwrap_or_else(|| panic!("{flag}"));
            arg.get_help().map(ToString::to_string).unwrap_or_default()
        };
        assert!(help("run", "deadline").contains("a run cut there exits 3"));
        assert_eq!(
            help("matrix", "deadline"),
            "Deadline of each implementation's run, in seconds"
        );
        assert_eq!(
            help("mutants", "deadline"),
            "Deadline of each mutant's run, in seconds"
        );
        assert_eq!(
            help("run", "json"),
            "Write the JSON report to FILE (`-`: stdout; the table then goes to stderr)"
        );
        assert_eq!(
            help("mutants", "mcp_suite"),
            "The official MCP conformance suite's folder (as for `run`)"
        );
    }
}
