//! `codeintel-lint [PATHS…] [--lang rust|python|typescript|auto] [--allow GLOB…]
//! [--exclude GLOB…] [--format text|json|sarif] [--config FILE]`.
//! Exit status: 0 clean, 1 findings, 2 usage or I/O error.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use codeintel_lint::{Config, ConfigFile, Format, Lang, LintError, output};

/// Ban legacy metric imports (`prometheus` / `prometheus_client` outside the
/// allowed metrics module, `telemetry.prom`), legacy modules
/// (`telemetry/prom.*`, `telemetry/otel.*`) and hand-made `/metrics` routes
/// in Rust, Python and TypeScript/JavaScript sources.
#[derive(Debug, Parser)]
#[command(
    name = "codeintel-lint",
    version,
    after_help = "Exit status: 0 no findings, 1 findings (LNT-000 parse errors included), 2 usage or I/O error.\n\
                  Configuration is also read from [workspace.metadata.codeintel-lint] in Cargo.toml or\n\
                  [tool.codeintel-lint] in pyproject.toml at each scanned directory (TypeScript trees use the defaults) (keys: lang, allow, exclude)."
)]
struct Cli {
    /// Files or directories to lint (directories are walked honouring .gitignore).
    #[arg(value_name = "PATHS", default_value = ".")]
    paths: Vec<PathBuf>,
    /// Which sources to lint: auto (by extension), rust, python or typescript (also .js).
    #[arg(long, value_name = "LANG")]
    lang: Option<Lang>,
    /// A glob of an allowed metrics module (may use prometheus and serve /metrics); repeatable, adds to the configured ones.
    #[arg(long = "allow", value_name = "GLOB")]
    allow: Vec<String>,
    /// A glob of paths not to lint, relative to each scanned directory; repeatable.
    #[arg(long = "exclude", value_name = "GLOB")]
    exclude: Vec<String>,
    /// Output format: text, json or sarif.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    format: Format,
    /// Parse every file. By default files that mention none of the strings a rule
    /// looks for (prom, prometheus, telemetry, /metrics, make_asgi_app) are not
    /// parsed, so their syntax errors (LNT-000) are not reported.
    #[arg(long)]
    parse_all: bool,
    /// A configuration file (a Cargo.toml, a pyproject.toml or a plain TOML table); replaces discovery.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn config_of(cli: &Cli) -> Result<Config, LintError> {
    let mut config = Config::default();
    if let Some(path) = &cli.config {
        config.apply(&ConfigFile::load(path)?);
    } else {
        for root in &cli.paths {
            for (_, file) in ConfigFile::discover(root)? {
                config.apply(&file);
            }
        }
    }
    if cli.parse_all {
        config.parse_all = true;
    }
    if let Some(lang) = cli.lang {
        config.lang = lang;
    }
    config.allow.extend(cli.allow.iter().cloned());
    config.exclude.extend(cli.exclude.iter().cloned());
    Ok(config)
}

fn run(cli: &Cli) -> Result<bool, LintError> {
    let config = config_of(cli)?;
    let report = codeintel_lint::lint_paths(&cli.paths, &config)?;
    let rendered = output::render(&report, cli.format);
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not worth a panic.
    let _ = stdout.write_all(rendered.as_bytes());
    let _ = stdout.flush();
    eprintln!("{}", output::text::summary(&report));
    Ok(report.is_clean())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("codeintel-lint: error: {e}");
            ExitCode::from(2)
        }
    }
}
