//! `codeintel-server`: index a repository, serve search over HTTP and MCP.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

use codeintel_server::config::{Config, ConfigArgs};
use codeintel_server::embed::local::{LocalConfig, LocalEmbedder};
use codeintel_server::embed::openai::{OpenAiConfig, OpenAiEmbedder};
use codeintel_server::embed::select::{self, EmbedderKind};
use codeintel_server::embed::{Embedder, local};
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
    /// Serve the built-in embedding model (all-MiniLM-L6-v2) as an OpenAI-compatible
    /// POST /v1/embeddings, for other tools and implementations to share.
    EmbedServe {
        /// Listen address (loopback by default).
        #[arg(long, default_value = "127.0.0.1:8000")]
        addr: std::net::SocketAddr,
    },
    /// Retrieval evaluation: index each package of a query set and score every channel
    /// (sparse, dense, plain RRF, the gated hybrid) by hit@5, MRR@10 and nDCG@10.
    Eval {
        /// JSON lines: {"pkg", "kind", "query", "path", "start", "end"} (e.g. shared/eval-dev/queries.jsonl).
        #[arg(long)]
        queries: PathBuf,
        /// Folder holding one source folder per `pkg`.
        #[arg(long)]
        corpus: PathBuf,
        /// Also write the table (Markdown) to this file.
        #[arg(long)]
        markdown: Option<PathBuf>,
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

/// The embedder a command uses (see `embed::select`), and why: printed on
/// stderr so the user knows whether search will be semantic.
fn embedder(cfg: &Config, metrics: &Metrics) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
    let present = cfg.model_dir.as_deref().is_some_and(local::model_present);
    let choice = select::choose(
        cfg.embedder,
        cfg.vllm_url.as_deref(),
        cfg.model_dir.as_deref(),
        present,
    )
    .map_err(anyhow::Error::msg)?;
    eprintln!("embedder: {} ({})", choice.kind, choice.reason);
    tracing::info!(embedder = choice.kind.as_str(), reason = %choice.reason, "embedder chosen");
    match choice.kind {
        EmbedderKind::None => Ok(None),
        EmbedderKind::Local => Ok(Some(Arc::new(local_embedder(cfg, metrics)?))),
        EmbedderKind::Http => {
            let url = cfg.vllm_url.clone().unwrap_or_default();
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
    }
}

fn local_embedder(cfg: &Config, metrics: &Metrics) -> anyhow::Result<LocalEmbedder> {
    let dir = cfg
        .model_dir
        .clone()
        .context("no model folder: set CODEINTEL_MODEL_DIR or --model-dir (HOME is unset)")?;
    let mut lc = LocalConfig::new(dir);
    lc.batch_size = cfg.embed_batch;
    Ok(LocalEmbedder::load(lc, metrics.clone())?)
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
        Command::EmbedServe { addr } => {
            // No repository is involved: only the model settings matter.
            let mut args = cli.config.clone();
            args.repo.get_or_insert_with(|| PathBuf::from("."));
            let cfg = Config::resolve(&args)?;
            let guard = telemetry(std::env::var_os("PROMETHEUS_PORT").is_some())?;
            let metrics = guard.metrics();
            let model = Arc::new(local_embedder(&cfg, &metrics)?) as Arc<dyn Embedder>;
            if !addr.ip().is_loopback() {
                tracing::warn!(
                    "embed-serve listens on {addr}, beyond this machine, without authentication"
                );
            }
            codeintel_server::serve::embeddings::serve(
                addr,
                model,
                |bound| {
                    eprintln!(
                        "embed-serve: http://{bound}/v1/embeddings (model {})",
                        local::MODEL_NAME
                    );
                },
                async {
                    let _ = tokio::signal::ctrl_c().await;
                },
            )
            .await
            .context("embed-serve")?;
        }
        Command::Eval {
            queries,
            corpus,
            markdown,
        } => {
            let mut args = cli.config.clone();
            args.repo.get_or_insert_with(|| corpus.clone());
            let cfg = Config::resolve(&args)?;
            let guard = telemetry(false)?;
            let metrics = guard.metrics();
            let emb = embedder(&cfg, &metrics)?;
            let qs = codeintel_server::eval::read_queries(&queries)?;
            eprintln!("eval: {} queries from {}", qs.len(), queries.display());
            let table = codeintel_server::eval::run(&qs, &corpus, emb, &metrics, |line| {
                eprintln!("eval: {line}");
            })
            .await?;
            let md = codeintel_server::eval::markdown(&table);
            print!("{md}");
            if let Some(out) = markdown {
                std::fs::write(&out, &md).with_context(|| format!("writing {}", out.display()))?;
            }
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
