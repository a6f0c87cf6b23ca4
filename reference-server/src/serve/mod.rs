//! Serving: HTTP (axum) and MCP (rmcp) on one listener, over one
//! [`Engine`].
//!
//! [`start`] validates the bind, binds the listener first (so `/healthz`
//! answers at once), starts serving, and loads the current index version in
//! the background — building one first when the data folder has none.
//! `/readyz` says 503 with the reason until then ([`Readiness`]).
//!
//! - [`http`]: the router, its middleware (a SERVER span per request,
//!   host check, bearer auth, concurrency bound, timeout, body limit) and
//!   handlers;
//! - [`mcp`]: the MCP tools (streamable HTTP at `/mcp`, and stdio);
//! - [`guard`]: path confinement, the host check and token comparison;
//! - [`propagation`] and [`json_error`]: leaves both surfaces share (W3C
//!   trace context in, a JSON error named by its field out), so that
//!   `http` → `mcp` is the only edge between the two;
//! - [`embeddings`]: `embed-serve`, any embedder behind `/v1/embeddings`.
//!
//! Handlers stay thin: they call the [`Engine`], the catalog of the current
//! index version, or [`guard`], and record one [`RunRecord`] per search or
//! tool call in the [`RunStore`] (for runpacks).

pub mod embeddings;
pub mod guard;
pub mod http;
pub mod json_error;
pub mod mcp;
pub mod propagation;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::{Config, ConfigError};
use crate::diagnostics::timeline::{RunRecord, RunStore, Timeline};
use crate::embed::Embedder;
use crate::index::build::{self, BuildError, BuildOptions};
use crate::index::loaded::{self, LoadError};
use crate::index::publish::{DataDir, PublishError};
use crate::index::walk::WalkOptions;
use crate::observability::metrics::Metrics;
use crate::search::engine::{Engine, EngineConfig};

/// Runs kept for runpacks (oldest evicted first).
pub const RUN_STORE_CAPACITY: usize = 1024;
/// How long a graceful shutdown waits for open connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often a running server reads `CURRENT` (a few bytes) to pick up a
/// CLI `index` or `rollback`.
pub const CURRENT_POLL: Duration = Duration::from_millis(500);

/// Whether the server can search yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Loading (or building) the index; `stage` says what is happening.
    Loading { stage: String },
    /// A version is loaded and searches use it.
    Ready { version: String },
    /// Loading failed; the server keeps answering `/healthz` and says why on
    /// `/readyz`.
    Failed { error: String },
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        matches!(self, Self::Ready { .. })
    }

    /// A one-line reason (for `/readyz` and errors).
    pub fn describe(&self) -> String {
        match self {
            Self::Loading { stage } => format!("loading the index: {stage}"),
            Self::Ready { version } => format!("ready: index version {version}"),
            Self::Failed { error } => format!("loading the index failed: {error}"),
        }
    }
}

/// Why serving could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "cannot listen on {addr}: {source}; is another process using it? \
         choose another address with --http-addr / CODEINTEL_HTTP_ADDR"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("repository {path}: {source}; pass an existing folder with --repo / CODEINTEL_REPO")]
    Repo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Publish(Box<PublishError>),
    #[error("cannot load the index: {0}")]
    Load(Box<LoadError>),
    #[error("cannot build the index: {0}")]
    Build(Box<BuildError>),
    #[error("the index did not become ready within {after:?}: {state}")]
    NotReady { after: Duration, state: String },
    #[error("loading the index failed: {0}")]
    LoadFailed(String),
    #[error("internal task failed: {0}")]
    Task(String),
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("MCP over stdio failed: {0}")]
    Mcp(String),
}

impl From<PublishError> for ServeError {
    fn from(e: PublishError) -> Self {
        Self::Publish(Box::new(e))
    }
}

impl From<LoadError> for ServeError {
    fn from(e: LoadError) -> Self {
        Self::Load(Box::new(e))
    }
}

impl From<BuildError> for ServeError {
    fn from(e: BuildError) -> Self {
        Self::Build(Box::new(e))
    }
}

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub runs: RunStore,
    /// The canonical repository root every path argument is confined to.
    pub repo_root: Arc<Path>,
    pub config: Arc<Config>,
    readiness: Arc<watch::Sender<Readiness>>,
    metrics: Metrics,
    embedder: Option<Arc<dyn Embedder>>,
    /// One build at a time from this process.
    index_lock: Arc<tokio::sync::Mutex<()>>,
    /// One load-and-publish at a time: each reads `CURRENT` inside it, so
    /// a slow load can never replace a newer version with an older one.
    publish_lock: Arc<tokio::sync::Mutex<()>>,
    /// The `CURRENT` content the served version was loaded for (the
    /// watcher reloads when it changes).
    seen_current: Arc<std::sync::Mutex<Option<String>>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("repo_root", &self.repo_root)
            .field("readiness", &*self.readiness.borrow())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state (engine, run store, canonical repository root). Does
    /// not load anything: see [`AppState::load_or_build`].
    pub fn new(
        config: Config,
        metrics: Metrics,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Result<Self, ServeError> {
        let root = std::fs::canonicalize(&config.repo).map_err(|source| ServeError::Repo {
            path: config.repo.clone(),
            source,
        })?;
        if !root.is_dir() {
            return Err(ServeError::Repo {
                path: config.repo.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder"),
            });
        }
        let engine = Engine::new(
            embedder.clone(),
            metrics.clone(),
            EngineConfig {
                record_query_text: config.record_query_text,
                query_cache: config.query_cache,
                ..EngineConfig::default()
            },
        );
        let (readiness, _) = watch::channel(Readiness::Loading {
            stage: "starting".to_owned(),
        });
        Ok(Self {
            engine: Arc::new(engine),
            runs: RunStore::new(RUN_STORE_CAPACITY),
            repo_root: Arc::from(root.as_path()),
            config: Arc::new(config),
            readiness: Arc::new(readiness),
            metrics,
            embedder,
            index_lock: Arc::new(tokio::sync::Mutex::new(())),
            publish_lock: Arc::new(tokio::sync::Mutex::new(())),
            seen_current: Arc::new(std::sync::Mutex::new(None)),
        })
    }

    /// The current readiness.
    pub fn readiness(&self) -> Readiness {
        self.readiness.borrow().clone()
    }

    /// Watches readiness changes.
    pub fn subscribe_readiness(&self) -> watch::Receiver<Readiness> {
        self.readiness.subscribe()
    }

    fn set_readiness(&self, r: Readiness) {
        tracing::info!(readiness = %r.describe(), "readiness changed");
        self.readiness.send_replace(r);
    }

    /// The embedder the server was started with.
    pub fn embedder(&self) -> Option<&Arc<dyn Embedder>> {
        self.embedder.as_ref()
    }

    /// Waits until the index is loaded (its version), failed, or `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<String, ServeError> {
        let mut rx = self.readiness.subscribe();
        let wait = async {
            loop {
                let now = rx.borrow_and_update().clone();
                match now {
                    Readiness::Ready { version } => return Ok(version),
                    Readiness::Failed { error } => return Err(ServeError::LoadFailed(error)),
                    Readiness::Loading { .. } => {}
                }
                if rx.changed().await.is_err() {
                    return Err(ServeError::Task("the readiness channel closed".to_owned()));
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(r) => r,
            Err(_) => Err(ServeError::NotReady {
                after: timeout,
                state: self.readiness().describe(),
            }),
        }
    }

    /// How builds from this server walk and index.
    pub fn build_options(&self) -> BuildOptions {
        BuildOptions {
            walk: self.walk_options(),
            dense_kind: self.config.dense_kind,
            progress: false,
            ..BuildOptions::default()
        }
    }

    /// How the tools list the repository's files (as indexing does).
    pub fn walk_options(&self) -> WalkOptions {
        WalkOptions {
            max_file_bytes: self.config.max_file_bytes,
            ..WalkOptions::default()
        }
    }

    /// Builds a new index version on a blocking thread (the build does
    /// file-system, DuckDB and FAISS work) and returns its folder.
    async fn build_version(&self) -> Result<PathBuf, ServeError> {
        let _one_build = self.index_lock.lock().await;
        let data = DataDir::open(&self.config.data)?;
        let repo = self.repo_root.to_path_buf();
        let embedder = self.embedder.clone();
        let metrics = self.metrics.clone();
        let opts = self.build_options();
        let handle = tokio::runtime::Handle::current();
        let span = tracing::Span::current();
        let outcome = tokio::task::spawn_blocking(move || {
            span.in_scope(|| handle.block_on(build::build(&repo, &data, embedder, &metrics, &opts)))
        })
        .await
        .map_err(|e| ServeError::Task(e.to_string()))??;
        tracing::info!(version = %outcome.version.name, chunks = outcome.manifest.chunks, "index version built");
        Ok(outcome.version.dir)
    }

    /// Serves what `CURRENT` names now (its parent when it is torn):
    /// reads `CURRENT`, loads that version on a blocking thread and
    /// publishes it to the engine — all under one lock, so concurrent
    /// re-indexes, rollbacks and the watcher end on what `CURRENT` says last.
    /// Nothing is reloaded when the served version was loaded for the same
    /// `CURRENT`. Returns the served version's name.
    async fn publish_current(&self) -> Result<String, ServeError> {
        let _one_publish = self.publish_lock.lock().await;
        let data = DataDir::open(&self.config.data)?;
        let current = data.current_name()?;
        if let (Some(name), Some(served)) = (&current, self.engine.current())
            && served.wanted == *name
            && self.seen_current() == current
        {
            return Ok(served.version.clone());
        }
        let metrics = self.metrics.clone();
        let span = tracing::Span::current();
        let index = tokio::task::spawn_blocking(move || {
            span.in_scope(|| loaded::load_current(&data, &metrics).map_err(Box::new))
        })
        .await
        .map_err(|e| ServeError::Task(e.to_string()))?
        .map_err(ServeError::Load)?;
        let Some(index) = index else {
            return Err(ServeError::Publish(Box::new(PublishError::NoVersion(
                self.config.data.clone(),
            ))));
        };
        let version = index.version.clone();
        *self
            .seen_current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(index.wanted.clone());
        if let Some(served) = self.engine.current()
            && served.version != version
        {
            tracing::info!(from = %served.version, to = %version, "serving another index version");
        }
        self.engine.publish(index);
        if self.readiness().is_ready() {
            self.set_readiness(Readiness::Ready {
                version: version.clone(),
            });
        }
        Ok(version)
    }

    fn seen_current(&self) -> Option<String> {
        self.seen_current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-reads `CURRENT` and, when it names another version than the one
    /// served (a CLI `index` or `rollback`), loads and serves it. Errors are
    /// logged (the version served so far stays).
    pub async fn follow_current(&self) {
        if !self.readiness().is_ready() {
            return;
        }
        let path = self.config.data.join("CURRENT");
        let now = tokio::fs::read_to_string(&path)
            .await
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        if now.is_none() || now == self.seen_current() {
            return;
        }
        let span = tracing::info_span!("follow_current", index.version = tracing::field::Empty);
        match self.publish_current().instrument(span.clone()).await {
            Ok(version) => {
                span.record("index.version", version.as_str());
            }
            Err(e) => {
                // Remember it: a broken CURRENT is reported once, not per poll.
                *self
                    .seen_current
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
                let _enter = span.enter();
                tracing::error!(error = %e, "CURRENT changed but its version cannot be served; still serving the previous one");
            }
        }
    }

    /// Loads the current version of the data folder — building one first
    /// when there is none — publishes it and becomes ready. A failure is kept
    /// as [`Readiness::Failed`] (and returned).
    pub async fn load_or_build(&self) -> Result<String, ServeError> {
        let span = tracing::info_span!("load_index", index.version = tracing::field::Empty);
        let result = self.load_or_build_inner().instrument(span.clone()).await;
        match &result {
            Ok(version) => {
                span.record("index.version", version.as_str());
                self.set_readiness(Readiness::Ready {
                    version: version.clone(),
                });
            }
            Err(e) => {
                let _enter = span.enter();
                tracing::error!(error = %e, "the index could not be loaded; /readyz answers 503 with this reason");
                self.set_readiness(Readiness::Failed {
                    error: e.to_string(),
                });
            }
        }
        result
    }

    async fn load_or_build_inner(&self) -> Result<String, ServeError> {
        self.set_readiness(Readiness::Loading {
            stage: format!("opening the data folder {}", self.config.data.display()),
        });
        let data = DataDir::open(&self.config.data)?;
        if let Some(name) = data.current_name()? {
            self.set_readiness(Readiness::Loading {
                stage: format!("loading index version {name}"),
            });
        } else {
            self.set_readiness(Readiness::Loading {
                stage: format!(
                    "building the first index version of {} (no version in {} yet)",
                    self.repo_root.display(),
                    self.config.data.display()
                ),
            });
            self.build_version().await?;
        }
        self.publish_current().await
    }

    /// Builds a new version from the repository as it is now and publishes
    /// it while serving: searches running meanwhile finish on the version
    /// they started with. Returns the new version's name.
    pub async fn reindex(&self) -> Result<String, ServeError> {
        let span = tracing::info_span!("reindex", index.version = tracing::field::Empty);
        let result = async {
            self.build_version().await?;
            self.publish_current().await
        }
        .instrument(span.clone())
        .await;
        if let Ok(version) = &result {
            span.record("index.version", version.as_str());
            self.set_readiness(Readiness::Ready {
                version: version.clone(),
            });
        }
        result
    }
}

/// A server started by [`start`].
pub struct RunningServer {
    /// The address the listener is bound to (the real port when `:0` was asked).
    pub addr: SocketAddr,
    state: AppState,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    loader: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Waits until the index is loaded (see [`AppState::wait_ready`]).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<String, ServeError> {
        self.state.wait_ready(timeout).await
    }

    /// Re-indexes the repository and publishes the new version while serving.
    pub async fn reindex(&self) -> Result<String, ServeError> {
        self.state.reindex().await
    }

    /// Stops accepting connections, ends MCP sessions, and waits (at most
    /// [`SHUTDOWN_GRACE`]) for requests in flight.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        self.shutdown.cancel();
        self.loader.abort();
        let mut server = self.server;
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(ServeError::Serve(e)),
            Ok(Err(e)) => Err(ServeError::Task(e.to_string())),
            Err(_) => {
                server.abort();
                tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; closed them");
                Ok(())
            }
        }
    }

    /// Serves until `stop` completes (e.g. Ctrl-C), then shuts down
    /// gracefully. Returns early with the error if the server fails.
    pub async fn run_until(mut self, stop: impl Future<Output = ()>) -> Result<(), ServeError> {
        let ended = tokio::select! {
            () = stop => None,
            res = &mut self.server => Some(res),
        };
        match ended {
            None => self.shutdown().await,
            Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(ServeError::Serve(e)),
            Some(Err(e)) => Err(ServeError::Task(e.to_string())),
        }
    }
}

/// Starts serving `config.http_addr`: checks the bind is safe, binds,
/// serves HTTP and MCP at once, and loads (or first builds) the index in
/// the background.
pub async fn start(
    config: Config,
    metrics: Metrics,
    embedder: Option<Arc<dyn Embedder>>,
) -> Result<RunningServer, ServeError> {
    config.check_repo()?;
    config.check_bind()?;
    let addr = config.http_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    let state = AppState::new(config, metrics, embedder)?;
    let shutdown = CancellationToken::new();
    let app = http::router(state.clone(), local, shutdown.child_token());
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.cancelled_owned().await })
        .await
    });
    tracing::info!(addr = %local, repo = %state.repo_root.display(), "serving HTTP and MCP (/mcp)");
    let loader = tokio::spawn({
        let state = state.clone();
        let stop = shutdown.clone();
        async move {
            // The outcome is kept in the readiness state.
            let _ = state.load_or_build().await;
            watch_current(state, stop).await;
        }
    });
    Ok(RunningServer {
        addr: local,
        state,
        shutdown,
        server,
        loader,
    })
}

/// `codeintel-server mcp --stdio`: loads (or builds) the index in the
/// background and serves MCP on stdin/stdout until the client closes it.
pub async fn start_stdio(
    config: Config,
    metrics: Metrics,
    embedder: Option<Arc<dyn Embedder>>,
) -> Result<(), ServeError> {
    let state = AppState::new(config, metrics, embedder)?;
    let loader = tokio::spawn({
        let state = state.clone();
        async move {
            let _ = state.load_or_build().await;
            watch_current(state, CancellationToken::new()).await;
        }
    });
    let result = mcp::serve_stdio(state).await;
    loader.abort();
    result
}

/// Polls `CURRENT` every [`CURRENT_POLL`] until `stop`, so that a CLI
/// `index` or `rollback` reaches the running server.
async fn watch_current(state: AppState, stop: CancellationToken) {
    let mut tick = tokio::time::interval(CURRENT_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => state.follow_current().await,
        }
    }
}

/// Unix milliseconds now.
pub(crate) fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// The OpenTelemetry trace id of the current span (hex), or a fresh random
/// id when no OpenTelemetry layer records spans (so runs stay addressable).
pub fn current_trace_id() -> String {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    if sc.is_valid() {
        sc.trace_id().to_string()
    } else {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let seed = format!("{nanos}:{n}:{}", std::process::id());
        blake3::hash(seed.as_bytes()).to_hex()[..32].to_owned()
    }
}

/// One search or tool call being recorded for diagnostics. Stored in the
/// run store by [`Run::finish`] — or, when the request is dropped before
/// that (its timeout elapsed, the client went away), on drop, as a failed
/// run that stopped at stage `request`.
pub(crate) struct Run {
    pub trace_id: String,
    pub timeline: Timeline,
    operation: String,
    started_unix_ms: u128,
    runs: RunStore,
    stored: bool,
}

impl Run {
    /// Starts a run; call inside the request's span (its trace id keys the run).
    pub fn begin(state: &AppState, operation: impl Into<String>) -> Self {
        Self {
            trace_id: current_trace_id(),
            timeline: Timeline::new(),
            operation: operation.into(),
            started_unix_ms: unix_ms(),
            runs: state.runs.clone(),
            stored: false,
        }
    }

    /// Stores the run. A failure names its stage: when nothing in the
    /// timeline recorded the error yet, it is recorded under `stage`.
    pub fn finish(mut self, failure: Option<(&str, String)>, limits: Vec<String>) {
        self.store(failure, limits, false);
    }

    fn store(&mut self, failure: Option<(&str, String)>, limits: Vec<String>, force_stage: bool) {
        self.stored = true;
        let (outcome, error) = match failure {
            None => ("ok", None),
            Some((stage, message)) => {
                if force_stage || !self.timeline.events().iter().any(|e| e.kind == "error") {
                    self.timeline.error(stage, &message);
                }
                ("error", Some(message))
            }
        };
        self.runs.insert(RunRecord {
            trace_id: self.trace_id.clone(),
            operation: std::mem::take(&mut self.operation),
            started_unix_ms: self.started_unix_ms,
            outcome: outcome.to_owned(),
            error,
            limits,
            events: self.timeline.events(),
        });
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.stored {
            return;
        }
        // A timeout noted by `note_cancelled` says where the run was; a
        // client that went away is only known here.
        let noted = self
            .timeline
            .events()
            .iter()
            .rev()
            .find(|e| e.stage == "request" && e.kind == "error")
            .and_then(|e| {
                e.detail
                    .get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            });
        let forced = noted.is_none();
        let message = noted.unwrap_or_else(|| {
            cancelled_message(
                &open_stages(&self.timeline),
                "the client went away or the request was dropped",
            )
        });
        self.store(Some(("request", message)), Vec::new(), forced);
    }
}

/// Stages started and not ended yet, outermost first.
fn open_stages(timeline: &Timeline) -> Vec<String> {
    use crate::diagnostics::report::{StageOutcome, stage_records};
    stage_records(&RunRecord {
        trace_id: String::new(),
        operation: String::new(),
        started_unix_ms: 0,
        outcome: String::new(),
        error: None,
        limits: Vec::new(),
        events: timeline.events(),
    })
    .into_iter()
    .filter(|s| s.outcome == StageOutcome::Unfinished)
    .map(|s| s.stage)
    .collect()
}

fn cancelled_message(open: &[String], why: &str) -> String {
    let inside = if open.is_empty() {
        String::new()
    } else {
        format!(" (inside {})", open.join(" > "))
    };
    format!("cancelled before it finished{inside}: {why}")
}

/// Notes in `timeline` that its request is being cancelled by the request
/// timeout, while the stages it was in are still open: each gets an error
/// (so the report shows where it hung), then stage `request` says why.
pub(crate) fn note_cancelled(timeline: &Timeline, timeout: Duration) {
    let open = open_stages(timeline);
    for stage in &open {
        timeline.error(stage, "cancelled by the request timeout");
    }
    let message = cancelled_message(
        &open,
        &format!(
            "the request timeout of {} ms elapsed (CODEINTEL_REQUEST_TIMEOUT_MS)",
            timeout.as_millis()
        ),
    );
    timeline.error("request", &message);
}

/// Lets the timeout middleware find the timeline of the run its request is
/// making (left in the request's extensions; the handler registers).
#[derive(Clone, Default)]
pub(crate) struct RunSlot(Arc<std::sync::Mutex<Option<Timeline>>>);

impl RunSlot {
    pub fn register(&self, timeline: &Timeline) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(timeline.clone());
    }

    pub fn timeline(&self) -> Option<Timeline> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
