//! `peer-search`: end-to-end search over HTTP, the reference server vs the
//! Python implementation (`fixtures/suts/python-otel`), in one run (issue 16,
//! part 3).
//!
//! One generated corpus, one harness-hosted embeddings server and one OTLP
//! receiver (`codeintel-conformance`'s peers, on 127.0.0.1) serve both
//! sides. The reference server runs as a process (`codeintel-server index`,
//! then `serve`), python-otel from its manifest (`run.sh`, which loads its
//! index in-process); both get the contract's variables and run in their own
//! process group, killed at the end. After a warm-up, the same distinct
//! queries (the golden ones, then generated ones; no query is sent twice to a
//! side, so no query cache helps either) go to each side at 1, 8 and 32
//! concurrent clients, a fixed count per level, the two sides alternating
//! who goes first. Requests/s and p50/p95 of both and their ratio go to
//! `<criterion dir>/peers/search.json` and stdout. Every wait is bounded.
//!
//! ```sh
//! fixtures/suts/python-otel/setup.sh                       # once: its venv
//! cargo build -p codeintel-server                          # dev profile (never --release: FAISS/DuckDB)
//! cargo run -p codeintel-benches --bin peer-search         # 2,000 files, 300 requests per level and side
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use clap::Parser;
use codeintel_benches::peers::{
    self, LoadStats, SEARCH_FILE, SearchLevel, SearchPeer, golden_queries, result_path,
};
use codeintel_benches::{criterion_dir, generate_repo, query_text};
use codeintel_conformance::peers::Peers;
use codeintel_conformance::peers::embeddings::EmbeddingsConfig;
use codeintel_conformance::sut::manifest::SutManifest;
use codeintel_conformance::sut::process::ProcessSut;
use codeintel_conformance::sut::{Sut, SutEnv};

#[derive(Parser)]
#[command(about = "e2e search over HTTP: the reference server vs python-otel, one run")]
struct Cli {
    /// Python files in the generated corpus.
    #[arg(long, default_value_t = 2_000)]
    files: usize,
    /// Functions per file (one chunk each).
    #[arg(long, default_value_t = 6)]
    functions: usize,
    /// Requests per level and side.
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// Concurrent clients of each level.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 8, 32])]
    clients: Vec<usize>,
    /// Warm-up requests per side (distinct queries, not measured).
    #[arg(long, default_value_t = 32)]
    warmup: usize,
    /// `k` of every search.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Dimension of the embeddings server's vectors.
    #[arg(long, default_value_t = 384)]
    dim: usize,
    /// The reference server (default: $CARGO_TARGET_DIR/debug/codeintel-server).
    #[arg(long)]
    server: Option<PathBuf>,
    /// The peer's manifest (default: fixtures/suts/python-otel/sut.toml).
    #[arg(long)]
    peer_manifest: Option<PathBuf>,
    /// Longest wait for an index build, and for each side's /readyz.
    #[arg(long, default_value_t = 900)]
    ready_timeout_secs: u64,
    /// Longest a level may run per side (the rest of its requests are dropped, and it says so).
    #[arg(long, default_value_t = 300)]
    level_timeout_secs: u64,
    /// Timeout of one request.
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
    /// Result file (default: <criterion dir>/peers/search.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn default_server() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from)
        .join("debug")
        .join("codeintel-server")
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `codeintel-server index` with the contract's variables, bounded.
async fn index_reference(server: &Path, env: &SutEnv, timeout: Duration) -> Result<(f64, String)> {
    let started = Instant::now();
    let child = tokio::process::Command::new(server)
        .args(["index", "--no-progress"])
        .envs(env.vars())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {} index", server.display()))?;
    // On timeout the future (and the child with it) is dropped: kill_on_drop.
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .with_context(|| {
            format!(
                "codeintel-server index did not finish within {} s",
                timeout.as_secs()
            )
        })?
        .context("waiting for codeintel-server index")?;
    ensure!(
        out.status.success(),
        "codeintel-server index failed ({}):\n{}",
        out.status,
        tail(&String::from_utf8_lossy(&out.stderr), 30)
    );
    Ok((
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    ))
}

/// Starts `sut` and waits (bounded) until its `/readyz` answers 200.
async fn start_ready(
    sut: &mut ProcessSut,
    env: &SutEnv,
    client: &reqwest::Client,
    timeout: Duration,
) -> Result<f64> {
    let started = Instant::now();
    let name = sut.manifest().name.clone();
    sut.start(env)
        .await
        .with_context(|| format!("starting {name}"))?;
    let url = format!("{}/readyz", env.http_base());
    let mut last = String::from("no answer yet");
    while started.elapsed() < timeout {
        if let Some(exit) = sut.exited() {
            bail!(
                "{name} exited while loading ({exit}):\n{}",
                tail(&sut.output_tail(), 30)
            );
        }
        match client
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => return Ok(started.elapsed().as_secs_f64()),
            Ok(r) => {
                let status = r.status();
                last = format!("{status} {}", r.text().await.unwrap_or_default());
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "{name} was not ready within {} s (last /readyz: {last}):\n{}",
        timeout.as_secs(),
        tail(&sut.output_tail(), 30)
    )
}

/// What one client task saw.
#[derive(Default)]
struct Seen {
    latencies_ms: Vec<f64>,
    errors: usize,
    degraded: usize,
    sent: usize,
    truncated: bool,
}

/// Sends every query of `queries` once to `url` from `clients` concurrent
/// tasks (each takes the next query when its previous answer is in).
async fn load(
    client: &reqwest::Client,
    url: &str,
    queries: &[String],
    clients: usize,
    k: usize,
    level_timeout: Duration,
) -> Result<LoadStats> {
    let queries: Arc<Vec<String>> = Arc::new(queries.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + level_timeout;
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients.max(1) {
        let (client, url, queries, next) = (
            client.clone(),
            url.to_owned(),
            Arc::clone(&queries),
            Arc::clone(&next),
        );
        tasks.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(query) = queries.get(i) else { break };
                if Instant::now() >= deadline {
                    seen.truncated = true;
                    break;
                }
                seen.sent += 1;
                let t0 = Instant::now();
                let answer = client
                    .post(&url)
                    .json(&serde_json::json!({"query": query, "k": k}))
                    .send()
                    .await;
                let body = match answer {
                    Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok(),
                    _ => None,
                };
                match body {
                    Some(v) if v.get("findings").is_some_and(serde_json::Value::is_array) => {
                        seen.latencies_ms.push(t0.elapsed().as_secs_f64() * 1e3);
                        if v.get("limits")
                            .and_then(serde_json::Value::as_array)
                            .is_some_and(|l| !l.is_empty())
                        {
                            seen.degraded += 1;
                        }
                    }
                    _ => seen.errors += 1,
                }
            }
            seen
        }));
    }
    let mut all = Seen::default();
    for t in tasks {
        let s = t.await.context("a client task failed")?;
        all.latencies_ms.extend(s.latencies_ms);
        all.errors += s.errors;
        all.degraded += s.degraded;
        all.sent += s.sent;
        all.truncated |= s.truncated;
    }
    Ok(LoadStats::summarise(
        all.sent,
        all.latencies_ms,
        all.errors,
        all.degraded,
        started.elapsed().as_secs_f64(),
        all.truncated,
    ))
}

/// Golden queries first, then generated ones, all distinct, `n` in all.
fn query_list(n: usize) -> Result<Vec<String>> {
    let golden_path = repo_root().join("fixtures/golden/queries.toml");
    let golden = golden_queries(
        &std::fs::read_to_string(&golden_path)
            .with_context(|| format!("reading {}", golden_path.display()))?,
    )
    .map_err(anyhow::Error::msg)?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    for q in golden {
        if seen.insert(q.clone()) {
            out.push(q);
        }
    }
    let mut seed = 0u64;
    while out.len() < n {
        seed += 1;
        ensure!(
            seed < 50 * n as u64 + 1_000,
            "the query generator repeats itself"
        );
        let q = query_text(seed);
        if seen.insert(q.clone()) {
            out.push(q);
        }
    }
    out.truncate(n);
    Ok(out)
}

fn print_level(l: &SearchLevel) {
    let side = |name: &str, s: &LoadStats| {
        println!(
            "  {name:<10} {:>4} ok {:>3} err {:>3} degraded  {:>8.1} req/s  p50 {:>8.2} ms  p95 {:>8.2} ms{}",
            s.ok,
            s.errors,
            s.degraded,
            s.requests_per_s,
            s.p50_ms,
            s.p95_ms,
            if s.truncated {
                "  (truncated at the level's deadline)"
            } else {
                ""
            }
        );
    };
    println!("{} clients:", l.clients);
    side("reference", &l.ours);
    side("python", &l.peer);
    println!("  ratio      {:.2}× requests/s", l.throughput_ratio());
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let server = cli.server.clone().unwrap_or_else(default_server);
    ensure!(
        server.is_file(),
        "no codeintel-server at {}: build it with `cargo build -p codeintel-server` (dev profile, same CARGO_TARGET_DIR) or pass --server",
        server.display()
    );
    let peer_manifest = cli
        .peer_manifest
        .clone()
        .unwrap_or_else(|| repo_root().join("fixtures/suts/python-otel/sut.toml"));
    let ready_timeout = Duration::from_secs(cli.ready_timeout_secs);
    let level_timeout = Duration::from_secs(cli.level_timeout_secs);

    let work = tempfile::tempdir().context("temporary folder")?;
    let repo = work.path().join("repo");
    let started = Instant::now();
    let bytes = generate_repo(&repo, cli.files, cli.functions).context("generating the corpus")?;
    let corpus = format!(
        "codeintel_benches::generate_repo: {} Python files × {} functions ({:.1} MB)",
        cli.files,
        cli.functions,
        bytes as f64 / 1e6
    );
    println!(
        "corpus: {corpus}, written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let peers_running = Peers::start(EmbeddingsConfig {
        dim: cli.dim,
        ..EmbeddingsConfig::default()
    })
    .await
    .context("starting the embeddings server and OTLP receiver")?;
    let env_for = |name: &str| -> Result<SutEnv> {
        let data = work.path().join(format!("data-{name}"));
        std::fs::create_dir_all(&data)?;
        let mut env = SutEnv::new(
            repo.clone(),
            data,
            peers_running.embeddings.url(),
            "harness-embed".to_owned(),
            peers_running.otlp.endpoint(),
            format!("peer-search-{name}"),
        )?;
        env.extra
            .insert("CODEINTEL_EMBED_TIMEOUT_MS".to_owned(), "10000".to_owned());
        Ok(env)
    };
    let ours_env = env_for("reference")?;
    let peer_env = env_for("python")?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(cli.request_timeout_secs))
        .pool_max_idle_per_host(64)
        .build()
        .context("HTTP client")?;

    // The reference: index, then serve.
    let (ours_index_s, summary) = index_reference(&server, &ours_env, ready_timeout).await?;
    println!("reference index: {ours_index_s:.1} s: {summary}");
    let manifest_path = work.path().join("reference.toml");
    std::fs::write(
        &manifest_path,
        format!(
            "name = \"reference\"\ncommand = [{:?}, \"serve\"]\n",
            server.display().to_string()
        ),
    )?;
    let mut ours = ProcessSut::new(SutManifest::load(&manifest_path)?)
        .with_start_timeout(Duration::from_secs(120));
    let ours_ready_s = start_ready(&mut ours, &ours_env, &client, ready_timeout).await?;
    println!("reference ready after {ours_ready_s:.1} s");

    // The peer loads its index in-process before /readyz turns 200.
    let mut peer = ProcessSut::new(
        SutManifest::load(&peer_manifest)
            .with_context(|| format!("reading {}", peer_manifest.display()))?,
    )
    .with_start_timeout(Duration::from_secs(120));
    let peer_ready_s = start_ready(&mut peer, &peer_env, &client, ready_timeout).await?;
    println!("python-otel ready after {peer_ready_s:.1} s (includes its index load)");

    let levels_n = cli.clients.len();
    let queries = query_list(levels_n * cli.requests + cli.warmup)?;
    let (measured, warm) = queries.split_at(levels_n * cli.requests);
    let ours_url = format!("{}/v1/search", ours_env.http_base());
    let peer_url = format!("{}/v1/search", peer_env.http_base());
    for (name, url) in [("reference", &ours_url), ("python", &peer_url)] {
        let w = load(&client, url, warm, 4, cli.k, level_timeout).await?;
        println!(
            "warm-up {name}: {} ok, {} errors, {} degraded",
            w.ok, w.errors, w.degraded
        );
        ensure!(w.ok > 0, "{name} answered no warm-up search");
    }

    let mut levels = Vec::new();
    for (i, &clients) in cli.clients.iter().enumerate() {
        let slice = &measured[i * cli.requests..(i + 1) * cli.requests];
        let (ours_stats, peer_stats) = if i.is_multiple_of(2) {
            let o = load(&client, &ours_url, slice, clients, cli.k, level_timeout).await?;
            let p = load(&client, &peer_url, slice, clients, cli.k, level_timeout).await?;
            (o, p)
        } else {
            let p = load(&client, &peer_url, slice, clients, cli.k, level_timeout).await?;
            let o = load(&client, &ours_url, slice, clients, cli.k, level_timeout).await?;
            (o, p)
        };
        let level = SearchLevel {
            clients,
            ours: ours_stats,
            peer: peer_stats,
        };
        print_level(&level);
        levels.push(level);
        for (name, sut) in [("reference", &mut ours), ("python-otel", &mut peer)] {
            if let Some(exit) = sut.exited() {
                bail!(
                    "{name} exited during the run ({exit}):\n{}",
                    tail(&sut.output_tail(), 30)
                );
            }
        }
    }
    ours.stop().await;
    peer.stop().await;
    drop(peers_running);

    let result = SearchPeer {
        corpus,
        files: cli.files,
        bytes,
        queries: measured.len(),
        k: cli.k,
        embed_dim: cli.dim,
        ours_tool: "codeintel-server serve (dev profile: deps opt 2, ours opt 1)".to_owned(),
        peer_tool: "fixtures/suts/python-otel (CPython, uvicorn, faiss-cpu, duckdb)".to_owned(),
        ours_index_s,
        ours_ready_s,
        peer_ready_s,
        levels,
        measured_unix: peers::now_unix(),
    };
    let out = cli
        .out
        .clone()
        .unwrap_or_else(|| result_path(&criterion_dir(), SEARCH_FILE));
    peers::write_result(&out, &result).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}
