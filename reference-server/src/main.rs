//! `codeintel-server`: index a repository, serve search over HTTP and MCP.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

use codeintel_server::config::{Config, ConfigArgs};
use codeintel_server::embed::Embedder;
use codeintel_server::embed::openai::{OpenAiConfig, OpenAiEmbedder};
use codeintel_server::index::build::{self, BuildOptions};
use codeintel_server::index::publish::DataDir;
use codeintel_server::index::walk::WalkOptions;
use codeintel_server::observability::metrics::Metrics;
use codeintel_server::observability::{TelemetryConfig, init_otel};
use codeintel_server::serve;

/// Code intelligence over HTTP and MCP: hybrid (FAISS + BM25) search of a
/// repository, with OpenTelemetry traces, metrics (Prometheus scrape on
/// PROMETHEUS_ADDR:PROMETHEUS_PORT, default 127.0.0.1:9464) and logs.
///
/// Settings come from flags, then environment variables, then the --config
/// TOML file. OTel export follows the standard OTEL_* variables
/// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_SDK_DISABLED, ...).
#[derive(Parser, Debug)]
#[command(name = "codeintel-server", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build or update the index of --repo in --data (incremental; publishes a new version atomically).
    Index {
        /// No progress bar, only log lines.
        #[arg(long)]
        no_progress: bool,
    },
    /// Serve HTTP (and MCP at /mcp) on --http-addr; builds an index first when there is none.
    Serve,
    /// Serve MCP over stdio (for desktop agents).
    Mcp {
        /// Use stdin/stdout as the MCP transport (the only transport of this command).
        #[arg(long)]
        stdio: bool,
    },
    /// List the published index versions.
    Versions,
    /// Point the data folder back at the previous version (or --to VERSION).
    Rollback {
        /// The version to restore, e.g. v000003.
        #[arg(long)]
        to: Option<String>,
    },
    /// Download the runpack (timeline, stages, config, report) of one request from a running server.
    Runpack {
        /// Trace id of the request (from the search response's `trace_id`).
        trace_id: String,
        /// Base URL of the running server.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Where to write the archive (default: runpack-TRACE_ID.tar.gz).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

fn embedder(cfg: &Config, metrics: &Metrics) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
    let Some(url) = &cfg.vllm_url else {
        return Ok(None);
    };
    let mut oc = OpenAiConfig::new(url.clone(), cfg.embed_model.clone());
    oc.api_key.clone_from(&cfg.embed_api_key);
    oc.batch_size = cfg.embed_batch;
    oc.max_concurrency = cfg.embed_concurrency;
    oc.timeout = cfg.embed_timeout;
    oc.max_retries = cfg.embed_retries;
    let e = OpenAiEmbedder::new(oc, metrics.clone())
        .with_context(|| format!("cannot set up the embeddings client for {url}"))?;
    Ok(Some(Arc::new(e)))
}

fn build_options(cfg: &Config, progress: bool) -> BuildOptions {
    BuildOptions {
        walk: WalkOptions {
            max_file_bytes: cfg.max_file_bytes,
            ..WalkOptions::default()
        },
        dense_kind: cfg.dense_kind,
        progress,
        ..BuildOptions::default()
    }
}

/// Telemetry for a command: the scrape listener only for the long-running
/// server (a batch command must not take the server's port).
fn telemetry(scrape: bool) -> anyhow::Result<codeintel_server::observability::TelemetryGuard> {
    let mut tc = TelemetryConfig::from_env().context("invalid telemetry settings")?;
    if !scrape {
        tc.prometheus_addr = None;
    }
    init_otel(&tc).context("cannot start telemetry")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Index { no_progress } => {
            let cfg = Config::resolve(&cli.config)?;
            cfg.check_repo()?;
            let guard = telemetry(false)?;
            let metrics = guard.metrics();
            let data = DataDir::open(&cfg.data)?;
            let emb = embedder(&cfg, &metrics)?;
            let outcome = build::build(
                &cfg.repo,
                &data,
                emb,
                &metrics,
                &build_options(&cfg, !no_progress),
            )
            .await
            .context("indexing failed")?;
            println!("{}", build::summary(&outcome));
        }
        Command::Serve => {
            let cfg = Config::resolve(&cli.config)?;
            cfg.check_repo()?;
            cfg.check_bind()?;
            let guard = telemetry(true)?;
            let metrics = guard.metrics();
            if let Some(addr) = guard
                .telemetry()
                .and_then(codeintel_server::observability::Telemetry::scrape_addr)
            {
                tracing::info!("metrics: scrape http://{addr}/metrics");
            }
            let emb = embedder(&cfg, &metrics)?;
            let server = serve::start(cfg, metrics, emb).await?;
            tracing::info!("serving http://{} (MCP at /mcp)", server.addr);
            tokio::signal::ctrl_c()
                .await
                .context("cannot listen for Ctrl-C")?;
            tracing::info!("shutting down");
            server.shutdown().await.context("shutting down")?;
        }
        Command::Mcp { stdio } => {
            if !stdio {
                bail!(
                    "`mcp` serves over stdio only: run `codeintel-server mcp --stdio` (MCP over HTTP is at /mcp of `serve`)"
                );
            }
            let cfg = Config::resolve(&cli.config)?;
            cfg.check_repo()?;
            let explicit_port = std::env::var_os("PROMETHEUS_PORT").is_some();
            let guard = telemetry(explicit_port)?;
            let metrics = guard.metrics();
            let emb = embedder(&cfg, &metrics)?;
            serve::mcp::run_stdio(cfg, metrics, emb).await?;
        }
        Command::Versions => {
            let cfg = Config::resolve(&cli.config)?;
            let data = DataDir::existing(&cfg.data)?;
            let versions = data.versions()?;
            if versions.is_empty() {
                println!(
                    "no versions in {}; run `codeintel-server index`",
                    cfg.data.display()
                );
            }
            for v in versions {
                let (chunks, dense) = v.manifest.as_ref().map_or((0, "?".to_owned()), |m| {
                    (
                        m.chunks,
                        if m.dense.present {
                            "dense".to_owned()
                        } else {
                            "no dense".to_owned()
                        },
                    )
                });
                println!(
                    "{} {}  {chunks} chunks, {dense}",
                    if v.current { "*" } else { " " },
                    v.name
                );
            }
        }
        Command::Rollback { to } => {
            let cfg = Config::resolve(&cli.config)?;
            let data = DataDir::existing(&cfg.data)?;
            let lock = data.lock()?;
            let v = data.rollback(&lock, to.as_deref())?;
            println!("CURRENT is now {}", v.name);
        }
        Command::Runpack {
            trace_id,
            server,
            output,
        } => {
            let url = format!("{}/v1/runpack/{trace_id}", server.trim_end_matches('/'));
            let resp = reqwest::get(&url).await.with_context(|| {
                format!("cannot reach {url}; is `codeintel-server serve` running there?")
            })?;
            let status = resp.status();
            let bytes = resp
                .bytes()
                .await
                .with_context(|| format!("reading {url}"))?;
            if !status.is_success() {
                bail!(
                    "{url} answered {status}: {}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            let out = output.unwrap_or_else(|| PathBuf::from(format!("runpack-{trace_id}.tar.gz")));
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {} ({} bytes)", out.display(), bytes.len());
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
