//! The scenario: what the harness does to a SUT, in order.
//!
//! start peers (embeddings gate closed) → start SUT → probe health and
//! readiness repeatedly while it cannot finish loading (the gate held a few
//! seconds) → open the gate → probe readiness → `/metrics` on the app port →
//! baseline scrape → MCP list + traced `semantic_search` → plain, refined and
//! traceparent searches → scrape → many distinct searches → scrape → golden
//! queries → embeddings faults (500 with a `/healthz` probe, delay) → scrape
//! → runpacks → wait for spans → final scrape (+ promtool) → OpenMetrics
//! scrape (`Accept`) → stop → collect.
//!
//! Every wait has a deadline and every request a timeout: a SUT that hangs,
//! crashes or answers garbage leaves errors in the [`Observations`], never a
//! stuck or crashed harness. After a few unanswered requests in a row (or once
//! the SUT exited) the remaining requests are recorded as not sent.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::StreamExt as _;
use rmcp::ServiceExt as _;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, MetaObject,
    ProtocolVersion, RequestMetaObject,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::mcp_suite::{self, McpSuiteSetting};
use crate::observe::{
    HttpExchange, LintFinding, LintOutcome, McpExchange, McpSuiteOutcome, McpSuiteState,
    Observations, Scrape, ToolRun, steps,
};
use crate::peers::Peers;
use crate::peers::embeddings::{EmbeddingsConfig, Mode};
use crate::sut::process::error_chain;
use crate::sut::{OtlpProtocol, Sut, SutEnv, SutError};

/// The MCP protocol version the harness speaks.
pub const MCP_PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion::V_2025_11_25;

/// Variable the harness sets beyond the contract: the timeout it would like
/// the SUT's embeddings client to use, in milliseconds (a hint; the delay
/// fault waits longer than this).
pub const EMBED_TIMEOUT_HINT_VAR: &str = "CODEINTEL_EMBED_TIMEOUT_MS";

/// Settings of one drive.
#[derive(Debug, Clone)]
pub struct DriveConfig {
    /// `CODEINTEL_REPO` given to the SUT.
    pub repo: PathBuf,
    /// Golden queries (`[[query]] text, kind, expect_path, expect_symbol`).
    pub golden: PathBuf,
    /// `OTEL_SERVICE_NAME` given to the SUT.
    pub service_name: String,
    /// `CODEINTEL_EMBED_MODEL` given to the SUT.
    pub embed_model: String,
    /// Dimension of the harness's embedding vectors.
    pub embed_dim: usize,
    /// A real model behind the harness's embeddings server (`--embedder
    /// local`); `None`: the deterministic token hash.
    pub embed_source: Option<std::sync::Arc<dyn crate::peers::embeddings::VectorSource>>,
    /// Deadline for `/healthz` to answer and, once the gate is open, for
    /// `/readyz` to answer 200.
    pub ready_timeout: Duration,
    /// Timeout of every single request.
    pub request_timeout: Duration,
    /// How long the delay fault holds an embeddings request.
    pub embed_fault_delay: Duration,
    /// Embeddings timeout suggested to the SUT ([`EMBED_TIMEOUT_HINT_VAR`]).
    pub embed_timeout_hint: Duration,
    /// How long a request may wait at the closed gate before it is answered 503.
    pub gate_max_hold: Duration,
    /// If the SUT holds an embeddings request at the closed gate this long and
    /// still does not listen, the harness opens the gate (and notes it).
    pub gate_fallback: Duration,
    /// How long to wait for the SUT's first embeddings request (its index
    /// load) before probing `/readyz` with the gate closed.
    pub not_ready_wait: Duration,
    /// How long the harness keeps the gate closed once `/healthz` answered,
    /// probing `/healthz` and `/readyz` every [`DriveConfig::probe_interval`]
    /// (a `/readyz` that turns 200 on a timer shorter than this is caught).
    pub not_ready_hold: Duration,
    /// Pause between two probes while the gate is held closed.
    pub probe_interval: Duration,
    /// Longest response body kept (the rest is read and dropped, and the cut
    /// recorded in `Observations::truncations`).
    pub max_body: usize,
    /// Deadline for the traced search's spans to arrive.
    pub span_wait: Duration,
    /// Number of distinct-text searches (MET-010).
    pub cardinality_searches: usize,
    /// Unanswered requests in a row after which the rest are not sent.
    pub max_consecutive_timeouts: u32,
    /// Run `promtool check metrics` when it is on `PATH`.
    pub promtool: bool,
    /// The official MCP conformance suite, run against `/mcp` after the
    /// drive while the SUT is still up (MCP-*). [`DriveConfig::new`] leaves
    /// it unconfigured; the CLI sets it from `--mcp-suite` / `CODEINTEL_MCP_SUITE`
    /// / the cache (see [`crate::mcp_suite::locate`]).
    pub mcp_suite: McpSuiteSetting,
    /// Deadline of one scenario of the MCP suite (killed then).
    pub mcp_scenario_timeout: Duration,
    /// Scenarios of the MCP suite run at once (each is one Node process).
    pub mcp_parallel: usize,
}

/// The workspace root, as known when the harness was built.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

impl DriveConfig {
    /// Defaults, with fixtures under `workspace_root/fixtures`.
    pub fn new(workspace_root: &Path) -> Self {
        let fixtures = workspace_root.join("fixtures");
        Self {
            repo: fixtures.join("repos").join("sample"),
            golden: fixtures.join("golden").join("queries.toml"),
            service_name: "codeintel-conformance-sut".to_owned(),
            embed_model: "conformance-embed".to_owned(),
            embed_dim: 64,
            embed_source: None,
            ready_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            embed_fault_delay: Duration::from_millis(2500),
            embed_timeout_hint: Duration::from_secs(1),
            gate_max_hold: Duration::from_secs(20),
            gate_fallback: Duration::from_secs(5),
            not_ready_wait: Duration::from_secs(1),
            not_ready_hold: Duration::from_secs(3),
            probe_interval: Duration::from_millis(250),
            span_wait: Duration::from_secs(5),
            max_body: DEFAULT_MAX_BODY,
            cardinality_searches: 20,
            max_consecutive_timeouts: 3,
            promtool: true,
            mcp_suite: McpSuiteSetting::NotConfigured,
            mcp_scenario_timeout: mcp_suite::DEFAULT_SCENARIO_TIMEOUT,
            mcp_parallel: 2,
        }
    }

    /// `--timeout-secs N`: readiness deadline N, request timeout min(N, 10 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self.request_timeout = timeout.min(Duration::from_secs(10));
        self
    }
}

/// One golden query of `fixtures/golden/queries.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct GoldenQuery {
    /// Stable id of the query, for reports.
    #[serde(default)]
    pub id: Option<String>,
    pub text: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub expect_path: Option<String>,
    #[serde(default)]
    pub expect_symbol: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GoldenFile {
    #[serde(default)]
    query: Vec<GoldenQuery>,
}

/// Read the golden queries.
pub fn load_golden(path: &Path) -> Result<Vec<GoldenQuery>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read golden queries {}: {e}", path.display()))?;
    let file: GoldenFile = toml::from_str(&text)
        .map_err(|e| format!("golden queries {} are not valid: {e}", path.display()))?;
    Ok(file.query)
}

/// A W3C trace context made by the harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traceparent {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits (the harness's "parent" span).
    pub span_id: String,
}

impl Traceparent {
    /// A fresh random, valid (non-zero) context.
    pub fn random() -> Self {
        let trace: u128 = rand::random::<u128>() | 1;
        let span: u64 = rand::random::<u64>() | 1;
        Self {
            trace_id: format!("{trace:032x}"),
            span_id: format!("{span:016x}"),
        }
    }

    /// The `traceparent` header value (sampled).
    pub fn header(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

/// The `Accept` header of the [`steps::SCRAPE_OPENMETRICS`] scrape: OpenMetrics
/// first, the Prometheus text format as a fallback (what Prometheus sends).
pub const OPENMETRICS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Plain searches: ordinary code-search questions about the fixture repo.
const PLAIN_QUERIES: [&str; 3] = [
    "validate the session token of a user",
    "apply a discount code to the cart total",
    "hash and check a password",
];
const REFINE_QUERIES: [&str; 2] = [
    "rate limit requests per client",
    "charge the customer card through the gateway",
];
const TRACEPARENT_QUERY: &str = "send an http request to the api client";
const MCP_QUERY_FALLBACK: &str = "refund a captured payment";
const FAULT_QUERIES: [&str; 2] = [
    "retry after a network failure",
    "format an error message for the user",
];
const MCP_FAULT_QUERY: &str = "serialize the order as json";
const DELAY_QUERY: &str = "parse command line arguments of the daemon";
/// Words for the distinct-text searches.
const CARDINALITY_WORDS: [&str; 10] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
];

/// Drive `sut` through the scenario and return everything seen.
pub async fn drive(sut: &mut dyn Sut, cfg: &DriveConfig) -> Observations {
    let mut obs = Observations::default();
    drive_into(sut, cfg, &mut obs).await;
    obs
}

/// Drive `sut` through the scenario, recording into `obs` as it goes (so a
/// caller that cuts the run at a deadline keeps what was seen until then).
pub async fn drive_into(sut: &mut dyn Sut, cfg: &DriveConfig, obs: &mut Observations) {
    *obs = Observations {
        sut: sut.info(),
        ..Observations::default()
    };
    obs.sut.service_name.clone_from(&cfg.service_name);
    obs.sut.embed_model.clone_from(&cfg.embed_model);

    // start peers
    let phase = Instant::now();
    let peers = match Peers::start(EmbeddingsConfig {
        dim: cfg.embed_dim,
        source: cfg.embed_source.clone(),
        gate_open: false,
        max_hold: cfg.gate_max_hold,
        default_model: cfg.embed_model.clone(),
    })
    .await
    {
        Ok(p) => p,
        Err(e) => {
            obs.harness_errors.push(e.to_string());
            obs.startup.error = Some(format!("the SUT was not started: {e}"));
            return;
        }
    };
    obs.push_phase("start_peers", phase);

    if !cfg.repo.is_dir() {
        obs.harness_errors.push(format!(
            "the fixture repository {} does not exist; the SUT is given it anyway",
            cfg.repo.display()
        ));
    }
    let data = match tempfile::Builder::new()
        .prefix("codeintel-conformance-data-")
        .tempdir()
    {
        Ok(d) => d,
        Err(e) => {
            obs.harness_errors
                .push(format!("cannot create a data folder for the SUT: {e}"));
            obs.startup.error = Some("the SUT was not started: no data folder".to_owned());
            return;
        }
    };
    let mut env = match SutEnv::new(
        cfg.repo.clone(),
        data.path().to_path_buf(),
        peers.embeddings.url(),
        cfg.embed_model.clone(),
        peers.otlp.endpoint(),
        cfg.service_name.clone(),
    ) {
        Ok(env) => env,
        Err(e) => {
            obs.harness_errors
                .push(format!("cannot allocate loopback ports for the SUT: {e}"));
            obs.startup.error = Some("the SUT was not started: no free ports".to_owned());
            return;
        }
    };
    // The SUT's OTLP protocol picks the receiver port it is pointed at.
    env.otlp_protocol = sut.otlp_protocol();
    if env.otlp_protocol == OtlpProtocol::Grpc {
        env.otlp_endpoint = peers.otlp.grpc_endpoint();
    }
    env.extra.insert(
        EMBED_TIMEOUT_HINT_VAR.to_owned(),
        cfg.embed_timeout_hint.as_millis().to_string(),
    );

    // start SUT
    let phase = Instant::now();
    let started = start_sut(sut, &mut env, &peers, cfg, obs).await;
    obs.push_phase("start_sut", phase);

    let phase_drive = Instant::now();
    if let Err(e) = started {
        obs.startup.error = Some(e.to_string());
        peers.embeddings.open_gate();
    } else {
        let mut driver = Driver::new(sut, &peers, &env, cfg, obs, phase);
        driver.run().await;
    }
    obs.push_phase("drive", phase_drive);

    obs.drive_ended_unix_nano = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_nanos() as u64);

    // the official MCP conformance suite, while the SUT is still up
    if obs.startup.ready {
        let phase = Instant::now();
        obs.mcp_suite = run_mcp_suite(cfg, &format!("{}/mcp", env.http_base())).await;
        if obs.mcp_suite.state == McpSuiteState::Ran {
            obs.push_phase("mcp_suite", phase);
        }
    }

    // collect
    let phase = Instant::now();
    sut.stop().await;
    let collected = sut.collect();
    obs.startup.output_tail = collected.output_tail;
    if let Some(t) = collected.telemetry {
        obs.spans = t.spans;
        obs.logs = t.logs;
    } else {
        obs.spans = peers.otlp.spans();
        obs.logs = peers.otlp.logs();
    }
    obs.embed_requests = peers.embeddings.requests();
    obs.peer_errors = peers.otlp.errors();
    obs.truncations.extend(collected.truncations);
    obs.truncations.extend(peers.otlp.truncations());
    // In-process telemetry is bounded like the receiver's.
    let limits = crate::peers::otlp::ReceiveLimits::default();
    for (what, len, max) in [
        ("spans", obs.spans.len(), limits.max_spans),
        ("log records", obs.logs.len(), limits.max_logs),
    ] {
        if len > max {
            obs.truncations.push(format!(
                "in-process telemetry: kept the first {max} {what}, dropped {} more",
                len - max
            ));
        }
    }
    obs.spans.truncate(limits.max_spans);
    obs.logs.truncate(limits.max_logs);
    obs.push_phase("collect", phase);
    drop(data);
}

/// Runs every scenario of [`mcp_suite::SCENARIOS`] against `url`,
/// `cfg.mcp_parallel` at a time, each bounded by `cfg.mcp_scenario_timeout`;
/// the results keep the catalog's order.
pub async fn run_mcp_suite(cfg: &DriveConfig, url: &str) -> McpSuiteOutcome {
    let suite = match &cfg.mcp_suite {
        McpSuiteSetting::Installed(suite) => suite,
        McpSuiteSetting::Missing(why) => {
            return McpSuiteOutcome {
                state: McpSuiteState::NotInstalled,
                note: why.clone(),
                scenarios: Vec::new(),
            };
        }
        McpSuiteSetting::NotConfigured => {
            return McpSuiteOutcome {
                state: McpSuiteState::NotInstalled,
                note: "no suite configured for this drive".to_owned(),
                scenarios: Vec::new(),
            };
        }
    };
    let scenarios: Vec<_> = futures::stream::iter(mcp_suite::SCENARIOS)
        .map(|(_, scenario)| {
            tracing::debug!(scenario, url, "running the official MCP conformance suite");
            suite.run_scenario(url, scenario, cfg.mcp_scenario_timeout)
        })
        .buffered(cfg.mcp_parallel.max(1))
        .collect()
        .await;
    McpSuiteOutcome {
        state: McpSuiteState::Ran,
        note: suite.describe(),
        scenarios,
    }
}

/// Start the SUT, opening the gate if it holds an embeddings request and does
/// not listen (`gate_fallback`), and retrying once on new ports when a port
/// was taken.
async fn start_sut(
    sut: &mut dyn Sut,
    env: &mut SutEnv,
    peers: &Peers,
    cfg: &DriveConfig,
    obs: &mut Observations,
) -> Result<(), SutError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut opened_early = false;
        let result = {
            let mut start = sut.start(env);
            let watchdog = async {
                let mut first_held: Option<Instant> = None;
                loop {
                    if first_held.is_none() && peers.embeddings.held_total() > 0 {
                        first_held = Some(Instant::now());
                    }
                    if first_held.is_some_and(|t| t.elapsed() >= cfg.gate_fallback) {
                        peers.embeddings.open_gate();
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            tokio::select! {
                r = &mut start => r,
                () = watchdog => {
                    opened_early = true;
                    start.await
                }
            }
        };
        if opened_early {
            obs.startup.notes.push(format!(
                "the SUT did not listen within {:.1} s while its embeddings request waited at the harness's closed gate; the gate was opened early, so /readyz could not be observed before the index loaded",
                cfg.gate_fallback.as_secs_f64()
            ));
        }
        match result {
            Err(e) if attempt == 1 && e.is_addr_in_use() => {
                obs.startup
                    .notes
                    .push(format!("start retried on new ports after: {e}"));
                sut.stop().await;
                if let Err(io) = env.reallocate_ports() {
                    return Err(SutError::Other(format!("cannot allocate new ports: {io}")));
                }
            }
            Err(e) => return Err(e),
            Ok(_) => return Ok(()),
        }
    }
}

type McpClient = RunningService<RoleClient, ClientConfig>;

/// Which breaker a request counts towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    App,
    Metrics,
}

struct Driver<'a> {
    sut: &'a mut dyn Sut,
    peers: &'a Peers,
    env: &'a SutEnv,
    cfg: &'a DriveConfig,
    obs: &'a mut Observations,
    client: reqwest::Client,
    base: String,
    /// When the SUT's start began (for `ready_after_ms`).
    started: Instant,
    searches_done: u32,
    refine_searches_done: u32,
    searches_sent: u32,
    search_wall_ms: u64,
    queries: BTreeSet<String>,
    app_timeouts: u32,
    metrics_timeouts: u32,
    sut_gone: Option<String>,
}

/// What came back from one HTTP request.
struct Answer {
    status: Option<u16>,
    content_type: Option<String>,
    bytes: Vec<u8>,
    /// Set when the body was cut at `max_body` (what was cut).
    truncated: Option<String>,
    error: Option<String>,
    /// No answer within the request timeout (counts towards the breaker).
    timed_out: bool,
    elapsed_ms: u64,
}

impl<'a> Driver<'a> {
    fn new(
        sut: &'a mut dyn Sut,
        peers: &'a Peers,
        env: &'a SutEnv,
        cfg: &'a DriveConfig,
        obs: &'a mut Observations,
        started: Instant,
    ) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            sut,
            peers,
            env,
            cfg,
            obs,
            client,
            base: env.http_base(),
            started,
            searches_done: 0,
            refine_searches_done: 0,
            searches_sent: 0,
            search_wall_ms: 0,
            queries: BTreeSet::new(),
            app_timeouts: 0,
            metrics_timeouts: 0,
            sut_gone: None,
        }
    }

    async fn run(&mut self) {
        if !self.probe().await {
            self.peers.embeddings.open_gate();
            return;
        }
        self.get(steps::APP_METRICS, "/metrics").await;
        self.scrape(steps::SCRAPE_BASELINE).await;

        let golden = match load_golden(&self.cfg.golden) {
            Ok(g) => g,
            Err(e) => {
                self.obs.harness_errors.push(e);
                Vec::new()
            }
        };

        // MCP: list + one traced semantic_search.
        let mcp = self.mcp_connect().await;
        self.mcp_list(mcp.as_ref()).await;
        let mcp_query = golden
            .first()
            .map_or(MCP_QUERY_FALLBACK, |g| g.text.as_str())
            .to_owned();
        self.mcp_search(mcp.as_ref(), steps::MCP_SEARCH, &mcp_query)
            .await;

        for q in PLAIN_QUERIES {
            self.search(
                steps::SEARCH_PLAIN,
                q,
                false,
                Some(Traceparent::random()),
                None,
            )
            .await;
        }
        for q in REFINE_QUERIES {
            self.search(
                steps::SEARCH_REFINE,
                q,
                true,
                Some(Traceparent::random()),
                None,
            )
            .await;
        }
        self.search(
            steps::SEARCH_TRACEPARENT,
            TRACEPARENT_QUERY,
            false,
            Some(Traceparent::random()),
            None,
        )
        .await;
        self.scrape(steps::SCRAPE_AFTER_SEARCHES).await;

        for i in 0..self.cfg.cardinality_searches {
            let word = CARDINALITY_WORDS[i % CARDINALITY_WORDS.len()];
            let text = format!("find the {word} handler number {i}");
            self.search(steps::SEARCH_CARDINALITY, &text, false, None, None)
                .await;
        }
        self.scrape(steps::SCRAPE_AFTER_CARDINALITY).await;

        for g in &golden {
            self.search(steps::SEARCH_GOLDEN, &g.text, false, None, Some(g))
                .await;
        }

        // Faults of the embeddings server.
        self.peers.embeddings.set_mode(Mode::Error500);
        self.get(steps::PROBE_EMBED_DOWN, "/healthz").await;
        for q in FAULT_QUERIES {
            self.search(
                steps::SEARCH_EMBED_FAULT,
                q,
                false,
                Some(Traceparent::random()),
                None,
            )
            .await;
        }
        self.mcp_search(mcp.as_ref(), steps::MCP_SEARCH_EMBED_FAULT, MCP_FAULT_QUERY)
            .await;
        self.peers
            .embeddings
            .set_mode(Mode::Delay(self.cfg.embed_fault_delay));
        self.search(
            steps::SEARCH_EMBED_FAULT,
            DELAY_QUERY,
            false,
            Some(Traceparent::random()),
            None,
        )
        .await;
        self.peers.embeddings.set_mode(Mode::Ok);
        self.scrape(steps::SCRAPE_AFTER_FAULT).await;

        // Runpacks of a plain search and of a failed one.
        let ok_trace = self.trace_of(steps::SEARCH_PLAIN);
        let failed_trace = self.trace_of(steps::SEARCH_EMBED_FAULT);
        for (step, trace) in [
            (steps::RUNPACK, ok_trace),
            (steps::RUNPACK_FAILED, failed_trace),
        ] {
            match trace {
                Some(t) => {
                    let _ = self.get(step, &format!("/v1/runpack/{t}")).await;
                }
                None => self.obs.http.push(HttpExchange {
                    step: step.to_owned(),
                    method: "GET".to_owned(),
                    path: "/v1/runpack/".to_owned(),
                    error: Some(
                        "not sent: no search of that step was answered, so there is no trace id to ask a runpack for"
                            .to_owned(),
                    ),
                    ..HttpExchange::default()
                }),
            }
        }

        // A trace id no request had: a runpack must not be made up for it.
        let unknown = Traceparent::random().trace_id;
        let _ = self
            .get(steps::RUNPACK_UNKNOWN, &format!("/v1/runpack/{unknown}"))
            .await;

        if let Some(client) = mcp {
            let mut client = client;
            let _ = client.close_with_timeout(Duration::from_secs(2)).await;
        }

        self.wait_for_spans().await;
        self.scrape(steps::SCRAPE_FINAL).await;
        if self.cfg.promtool {
            self.obs.promtool = self.promtool().await;
        }
        self.scrape_accepting(steps::SCRAPE_OPENMETRICS, Some(OPENMETRICS_ACCEPT))
            .await;
    }

    /// PROBE_NOT_READY → open the gate → PROBE_READY. `false` when the SUT
    /// never became ready (the run stops there).
    async fn probe(&mut self) -> bool {
        let deadline = Instant::now() + self.cfg.ready_timeout;
        // /healthz answers at all (the manifest's ready URL may be another one).
        loop {
            match self.raw(reqwest::Method::GET, "/healthz", None, None).await {
                a if a.status.is_some() => break,
                a => {
                    if let Some(gone) = self.gone() {
                        self.obs.startup.error = Some(gone);
                        return false;
                    }
                    if Instant::now() >= deadline {
                        self.obs.startup.error = Some(format!(
                            "GET /healthz got no answer within {:.1} s (last: {})",
                            self.cfg.ready_timeout.as_secs_f64(),
                            a.error.unwrap_or_default()
                        ));
                        return false;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Give the SUT a moment to reach its index load (an embeddings request
        // held at the gate), so /readyz is probed while it cannot finish.
        let wait_until = Instant::now() + self.cfg.not_ready_wait;
        while self.peers.embeddings.held_now() == 0
            && !self.peers.embeddings.gate_is_open()
            && Instant::now() < wait_until
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !self.peers.embeddings.gate_is_open() && self.peers.embeddings.held_now() == 0 {
            self.obs.startup.notes.push(format!(
                "no embeddings request reached the harness within {:.1} s of /healthz answering; /readyz was probed before the index load was seen to start",
                self.cfg.not_ready_wait.as_secs_f64()
            ));
        }
        // Keep the gate closed a while and probe throughout: readiness must
        // follow the index load, not a timer.
        let hold_until = Instant::now() + self.cfg.not_ready_hold;
        loop {
            self.get(steps::PROBE_NOT_READY, "/healthz").await;
            self.get(steps::PROBE_NOT_READY, "/readyz").await;
            if Instant::now() >= hold_until || self.peers.embeddings.gate_is_open() {
                break;
            }
            if let Some(gone) = self.gone() {
                self.obs.startup.error = Some(gone);
                self.peers.embeddings.open_gate();
                return false;
            }
            tokio::time::sleep(self.cfg.probe_interval).await;
        }
        self.peers.embeddings.open_gate();

        let deadline = Instant::now() + self.cfg.ready_timeout;
        loop {
            let a = self.raw(reqwest::Method::GET, "/readyz", None, None).await;
            if a.status == Some(200) {
                break;
            }
            let gone = self.gone();
            if gone.is_some() || Instant::now() >= deadline {
                self.get(steps::PROBE_READY, "/readyz").await;
                let last = match (a.status, a.error) {
                    (Some(s), _) => format!(
                        "status {s}: {}",
                        truncate(&String::from_utf8_lossy(&a.bytes), 300)
                    ),
                    (None, e) => e.unwrap_or_default(),
                };
                self.obs.startup.error = Some(gone.unwrap_or_else(|| {
                    format!(
                        "GET /readyz did not answer 200 within {:.1} s after the embeddings server was opened (last: {last})",
                        self.cfg.ready_timeout.as_secs_f64()
                    )
                }));
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.obs.startup.ready = true;
        self.obs.startup.ready_after_ms = Some(self.started.elapsed().as_millis() as u64);
        self.get(steps::PROBE_READY, "/healthz").await;
        self.get(steps::PROBE_READY, "/readyz").await;
        true
    }

    /// `Some(reason)` when requests to the app should no longer be sent.
    fn gone(&mut self) -> Option<String> {
        if self.sut_gone.is_none()
            && let Some(status) = self.sut.exited()
        {
            self.sut_gone = Some(format!("the SUT exited during the run ({status})"));
        }
        self.sut_gone.clone()
    }

    fn skip_reason(&mut self, target: Target) -> Option<String> {
        if let Some(gone) = self.gone() {
            return Some(format!("not sent: {gone}"));
        }
        let (count, what) = match target {
            Target::App => (self.app_timeouts, "the application port"),
            Target::Metrics => (self.metrics_timeouts, "the metrics endpoint"),
        };
        (count >= self.cfg.max_consecutive_timeouts).then(|| {
            format!(
                "not sent: {what} left {count} requests in a row unanswered within {:.1} s",
                self.cfg.request_timeout.as_secs_f64()
            )
        })
    }

    /// One request with a timeout, not recorded.
    async fn raw(
        &self,
        method: reqwest::Method,
        path_or_url: &str,
        body: Option<&Value>,
        traceparent: Option<&Traceparent>,
    ) -> Answer {
        self.send(self.request(method, path_or_url, body, traceparent))
            .await
    }

    fn request(
        &self,
        method: reqwest::Method,
        path_or_url: &str,
        body: Option<&Value>,
        traceparent: Option<&Traceparent>,
    ) -> reqwest::RequestBuilder {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        let mut req = self
            .client
            .request(method, &url)
            .timeout(self.cfg.request_timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(tp) = traceparent {
            req = req.header("traceparent", tp.header());
        }
        req
    }

    /// Sends one request and reads the whole answer, not recorded.
    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let started = Instant::now();
        let result = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let url = resp.url().path().to_owned();
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let (bytes, cut) = read_bounded(resp, self.cfg.max_body).await?;
            Ok::<_, reqwest::Error>((status, url, content_type, bytes, cut))
        }
        .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok((status, url, content_type, bytes, cut)) => Answer {
                status: Some(status),
                content_type,
                bytes,
                truncated: cut.then(|| {
                    format!(
                        "{url}: kept the first {} bytes of the response body",
                        self.cfg.max_body
                    )
                }),
                error: None,
                timed_out: false,
                elapsed_ms,
            },
            Err(e) => {
                let timed_out = e.is_timeout();
                let what = if timed_out {
                    format!(
                        "no answer within {:.1} s (timed out): {}",
                        self.cfg.request_timeout.as_secs_f64(),
                        error_chain(&e)
                    )
                } else {
                    error_chain(&e)
                };
                Answer {
                    status: None,
                    content_type: None,
                    bytes: Vec::new(),
                    truncated: None,
                    error: Some(what),
                    timed_out,
                    elapsed_ms,
                }
            }
        }
    }

    fn note_answer(&mut self, target: Target, answer: &Answer) {
        if let Some(cut) = &answer.truncated {
            self.obs.truncations.push(cut.clone());
        }
        let counter = match target {
            Target::App => &mut self.app_timeouts,
            Target::Metrics => &mut self.metrics_timeouts,
        };
        if answer.status.is_some() {
            *counter = 0;
        } else if answer.timed_out {
            *counter += 1;
        }
    }

    /// One recorded request to the application port; returns the index of
    /// its exchange in `obs.http`.
    async fn exchange(
        &mut self,
        step: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        traceparent: Option<Traceparent>,
    ) -> usize {
        let mut ex = HttpExchange {
            step: step.to_owned(),
            method: method.as_str().to_owned(),
            path: path.to_owned(),
            request_body: body.as_ref().map(Value::to_string),
            trace_id_sent: traceparent.as_ref().map(|t| t.trace_id.clone()),
            parent_span_id_sent: traceparent.as_ref().map(|t| t.span_id.clone()),
            ..HttpExchange::default()
        };
        if let Some(reason) = self.skip_reason(Target::App) {
            ex.error = Some(reason);
        } else {
            let a = self
                .raw(method, path, body.as_ref(), traceparent.as_ref())
                .await;
            self.note_answer(Target::App, &a);
            if a.status.is_none() {
                let _ = self.gone();
            }
            ex.status = a.status;
            ex.elapsed_ms = a.elapsed_ms;
            ex.error = a.error;
            let binary = !is_text(a.content_type.as_deref(), &a.bytes);
            if binary || (path.starts_with("/v1/runpack/") && a.status.is_some_and(|s| s < 300)) {
                ex.body_base64 = Some(base64::engine::general_purpose::STANDARD.encode(&a.bytes));
            }
            if !binary {
                ex.body = String::from_utf8_lossy(&a.bytes).into_owned();
            }
            ex.content_type = a.content_type;
        }
        self.obs.http.push(ex);
        self.obs.http.len() - 1
    }

    async fn get(&mut self, step: &str, path: &str) -> (Option<u16>, usize) {
        let i = self
            .exchange(step, reqwest::Method::GET, path, None, None)
            .await;
        (self.obs.http[i].status, i)
    }

    async fn search(
        &mut self,
        step: &str,
        query: &str,
        refine: bool,
        traceparent: Option<Traceparent>,
        golden: Option<&GoldenQuery>,
    ) {
        self.queries.insert(query.to_owned());
        let body = json!({"query": query, "k": 10, "refine": refine});
        let i = self
            .exchange(
                step,
                reqwest::Method::POST,
                "/v1/search",
                Some(body),
                traceparent,
            )
            .await;
        let ex = &mut self.obs.http[i];
        if ex
            .error
            .as_deref()
            .is_none_or(|e| !e.starts_with("not sent"))
        {
            self.searches_sent += 1;
            self.search_wall_ms += ex.elapsed_ms;
        }
        if ex.status.is_some_and(|s| (200..300).contains(&s)) {
            self.searches_done += 1;
            if refine {
                self.refine_searches_done += 1;
            }
        }
        if let Some(g) = golden {
            ex.expected_path.clone_from(&g.expect_path);
            ex.expected_symbol.clone_from(&g.expect_symbol);
        }
        ex.embed_fault = match self.peers.embeddings.mode() {
            Mode::Ok => None,
            Mode::Delay(d) => Some(format!("delay:{}", d.as_millis())),
            other => Some(other.answered().to_owned()),
        };
    }

    /// The trace id of the first exchange of `step`: the one the SUT reported
    /// (`trace_id` in the body), else the one the harness sent.
    fn trace_of(&self, step: &str) -> Option<String> {
        self.obs.http_at(step).find_map(|ex| {
            let reported = serde_json::from_str::<Value>(&ex.body)
                .ok()
                .and_then(|v| v.get("trace_id").and_then(Value::as_str).map(str::to_owned))
                .filter(|t| !t.is_empty());
            reported.or_else(|| ex.trace_id_sent.clone().filter(|_| ex.status.is_some()))
        })
    }

    async fn scrape(&mut self, step: &str) {
        self.scrape_accepting(step, None).await;
    }

    /// One scrape, sending `accept` as the `Accept` header when given.
    async fn scrape_accepting(&mut self, step: &str, accept: Option<&str>) {
        let mut s = Scrape {
            step: step.to_owned(),
            searches_done: self.searches_done,
            refine_searches_done: self.refine_searches_done,
            searches_sent: self.searches_sent,
            search_wall_ms: self.search_wall_ms,
            accept: accept.map(str::to_owned),
            distinct_queries: u32::try_from(self.queries.len()).unwrap_or(u32::MAX),
            embed_requests_seen: u32::try_from(self.peers.embeddings.request_count())
                .unwrap_or(u32::MAX),
            embed_texts_seen: u32::try_from(self.peers.embeddings.texts_received())
                .unwrap_or(u32::MAX),
            ..Scrape::default()
        };
        if let Some(reason) = self.skip_reason(Target::Metrics) {
            s.error = Some(reason);
        } else {
            let url = self.env.metrics_url();
            let mut req = self.request(reqwest::Method::GET, &url, None, None);
            if let Some(accept) = accept {
                req = req.header(reqwest::header::ACCEPT, accept);
            }
            let a = self.send(req).await;
            self.note_answer(Target::Metrics, &a);
            s.status = a.status;
            s.content_type = a.content_type;
            s.body = String::from_utf8_lossy(&a.bytes).into_owned();
            s.error = a.error;
        }
        self.obs.scrapes.push(s);
    }

    async fn mcp_connect(&mut self) -> Option<McpClient> {
        let started = Instant::now();
        let mut ex = McpExchange {
            step: steps::MCP_LIST.to_owned(),
            method: "initialize".to_owned(),
            ..McpExchange::default()
        };
        if let Some(reason) = self.skip_reason(Target::App) {
            ex.error = Some(reason);
            self.obs.mcp.push(ex);
            return None;
        }
        let transport = StreamableHttpClientTransport::with_client(
            self.client.clone(),
            StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", self.base)),
        );
        let config = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("codeintel-conformance", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(MCP_PROTOCOL_VERSION);
        let result = tokio::time::timeout(self.cfg.request_timeout, config.serve(transport)).await;
        ex.elapsed_ms = started.elapsed().as_millis() as u64;
        let client = match result {
            Ok(Ok(client)) => {
                self.app_timeouts = 0;
                ex.result = client
                    .peer_info()
                    .and_then(|info| serde_json::to_value(&*info).ok());
                Some(client)
            }
            Ok(Err(e)) => {
                ex.error = Some(format!(
                    "MCP initialize at {}/mcp failed: {}",
                    self.base,
                    error_chain(&e)
                ));
                None
            }
            Err(_) => {
                self.app_timeouts += 1;
                ex.error = Some(format!(
                    "MCP initialize at {}/mcp got no answer within {:.1} s",
                    self.base,
                    self.cfg.request_timeout.as_secs_f64()
                ));
                None
            }
        };
        self.obs.mcp.push(ex);
        client
    }

    async fn mcp_list(&mut self, client: Option<&McpClient>) {
        let mut ex = McpExchange {
            step: steps::MCP_LIST.to_owned(),
            method: "tools/list".to_owned(),
            ..McpExchange::default()
        };
        let skip = self.skip_reason(Target::App);
        match (client, skip) {
            (_, Some(reason)) => ex.error = Some(reason),
            (None, None) => {
                ex.error = Some("not sent: no MCP session (initialize failed)".to_owned());
            }
            (Some(client), None) => {
                let started = Instant::now();
                let result =
                    tokio::time::timeout(self.cfg.request_timeout, client.list_tools(None)).await;
                ex.elapsed_ms = started.elapsed().as_millis() as u64;
                match result {
                    Ok(Ok(list)) => {
                        self.app_timeouts = 0;
                        ex.result = serde_json::to_value(&list).ok();
                    }
                    Ok(Err(e)) => {
                        ex.error = Some(format!("tools/list failed: {}", error_chain(&e)));
                    }
                    Err(_) => {
                        self.app_timeouts += 1;
                        ex.error = Some(format!(
                            "tools/list got no answer within {:.1} s",
                            self.cfg.request_timeout.as_secs_f64()
                        ));
                    }
                }
            }
        }
        self.obs.mcp.push(ex);
    }

    async fn mcp_search(&mut self, client: Option<&McpClient>, step: &str, query: &str) {
        self.queries.insert(query.to_owned());
        let tp = Traceparent::random();
        let mut arguments = serde_json::Map::new();
        arguments.insert("query".to_owned(), json!(query));
        arguments.insert("k".to_owned(), json!(10));
        let mut ex = McpExchange {
            step: step.to_owned(),
            method: "tools/call".to_owned(),
            tool: Some("semantic_search".to_owned()),
            arguments: Some(Value::Object(arguments.clone())),
            trace_id_sent: Some(tp.trace_id.clone()),
            ..McpExchange::default()
        };
        let skip = self.skip_reason(Target::App);
        match (client, skip) {
            (_, Some(reason)) => ex.error = Some(reason),
            (None, None) => {
                ex.error = Some("not sent: no MCP session (initialize failed)".to_owned());
            }
            (Some(client), None) => {
                let mut meta = MetaObject::new();
                meta.set_traceparent(tp.header());
                let mut params =
                    CallToolRequestParams::new("semantic_search").with_arguments(arguments);
                params.meta = Some(RequestMetaObject(meta));
                let started = Instant::now();
                let result =
                    tokio::time::timeout(self.cfg.request_timeout, client.call_tool(params)).await;
                ex.elapsed_ms = started.elapsed().as_millis() as u64;
                self.searches_sent += 1;
                self.search_wall_ms += ex.elapsed_ms;
                match result {
                    Ok(Ok(r)) => {
                        self.app_timeouts = 0;
                        self.searches_done += 1;
                        ex.is_error = r.is_error.unwrap_or(false);
                        ex.result = serde_json::to_value(&r).ok();
                    }
                    Ok(Err(e)) => {
                        ex.error = Some(format!(
                            "tools/call semantic_search failed: {}",
                            error_chain(&e)
                        ));
                    }
                    Err(_) => {
                        self.app_timeouts += 1;
                        ex.error = Some(format!(
                            "tools/call semantic_search got no answer within {:.1} s",
                            self.cfg.request_timeout.as_secs_f64()
                        ));
                    }
                }
            }
        }
        self.obs.mcp.push(ex);
    }

    fn spans_now(&self) -> Vec<crate::observe::SpanRecord> {
        match self.sut.telemetry() {
            Some(t) => t.spans,
            None => self.peers.otlp.spans(),
        }
    }

    /// Poll until the traced MCP search's trace holds a `hydrate` span (or the
    /// deadline), then until no new span arrives for a moment.
    async fn wait_for_spans(&mut self) {
        let trace = self
            .obs
            .mcp_at(steps::MCP_SEARCH)
            .find_map(|m| m.trace_id_sent.clone());
        let deadline = Instant::now() + self.cfg.span_wait;
        loop {
            let spans = self.spans_now();
            let done = trace
                .as_deref()
                .is_some_and(|t| spans.iter().any(|s| s.trace_id == t && s.name == "hydrate"));
            if done || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Settle: stop once the count holds still over 300 ms (at most 1.5 s).
        let settle_deadline = Instant::now() + Duration::from_millis(1500);
        let mut last = self.spans_now().len();
        while Instant::now() < settle_deadline {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = self.spans_now().len();
            if now == last {
                break;
            }
            last = now;
        }
    }

    async fn promtool(&mut self) -> Option<ToolRun> {
        let program = find_on_path("promtool")?;
        let body = match self.obs.last_scrape_at(steps::SCRAPE_FINAL) {
            Some(s) if s.status == Some(200) => s.body.clone(),
            _ => return None,
        };
        Some(run_promtool(&program, &body, self.cfg.request_timeout).await)
    }
}

/// Default of [`DriveConfig::max_body`]: far above any honest answer (a
/// scrape of the reference is a few tens of KiB, a runpack a few KiB).
pub const DEFAULT_MAX_BODY: usize = 8 * 1024 * 1024;

/// The body of `resp`, at most `max` bytes of it; `true` when more came (the
/// rest is read and dropped, so the connection stays usable).
async fn read_bounded(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut out = Vec::new();
    let mut cut = false;
    while let Some(chunk) = resp.chunk().await? {
        let room = max.saturating_sub(out.len());
        if chunk.len() > room {
            cut = true;
        }
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok((out, cut))
}

/// Run the source lint (`codeintel-lint`, LNT-*) over `root`. CPU-bound:
/// call it from a blocking task.
///
/// The lint runs with the suite's own configuration (the default allowed
/// metrics modules), never with one the source tree declares: an
/// implementation's `pyproject.toml` or `Cargo.toml` could otherwise allow or
/// exclude its own offending files.
///
/// Nor is an ignore file of the tree honoured (`.gitignore`, `.ignore`): an
/// implementation could list its legacy module there. Installed packages
/// (`site-packages`, `node_modules`, a virtualenv) are still left out.
pub fn lint_source(root: &Path) -> LintOutcome {
    let config = codeintel_lint::Config {
        ignore_files: false,
        ..codeintel_lint::Config::default()
    };
    match codeintel_lint::lint_paths(&[root.to_path_buf()], &config).map(|r| r.relative_to(root)) {
        Ok(report) => LintOutcome {
            root: root.to_path_buf(),
            files_checked: report.files_checked,
            findings: report
                .diagnostics
                .iter()
                .map(|d| LintFinding {
                    rule: d.rule.id().to_owned(),
                    path: d.path.display().to_string(),
                    line: d.line,
                    column: d.column,
                    message: d.message.clone(),
                })
                .collect(),
            error: None,
        },
        Err(e) => LintOutcome {
            root: root.to_path_buf(),
            files_checked: 0,
            findings: Vec::new(),
            error: Some(e.to_string()),
        },
    }
}

/// Run `promtool check metrics < exposition`.
pub async fn run_promtool(program: &Path, exposition: &str, timeout: Duration) -> ToolRun {
    let command = "promtool check metrics".to_owned();
    let file = match tempfile::NamedTempFile::new()
        .and_then(|mut f| std::io::Write::write_all(&mut f, exposition.as_bytes()).map(|()| f))
    {
        Ok(f) => f,
        Err(e) => {
            return ToolRun {
                command,
                exit_code: None,
                output: format!("could not write the scrape to a temp file: {e}"),
            };
        }
    };
    let stdin = match std::fs::File::open(file.path()) {
        Ok(f) => f,
        Err(e) => {
            return ToolRun {
                command,
                exit_code: None,
                output: format!("could not reopen the scrape file: {e}"),
            };
        }
    };
    let child = tokio::process::Command::new(program)
        .args(["check", "metrics"])
        .stdin(stdin)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            return ToolRun {
                command,
                exit_code: None,
                output: format!("could not run {}: {e}", program.display()),
            };
        }
    };
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
            output.push_str(&String::from_utf8_lossy(&out.stderr));
            ToolRun {
                command,
                exit_code: out.status.code(),
                output: output.trim().to_owned(),
            }
        }
        Ok(Err(e)) => ToolRun {
            command,
            exit_code: None,
            output: format!("promtool failed: {e}"),
        },
        Err(_) => ToolRun {
            command,
            exit_code: None,
            output: format!(
                "promtool did not finish within {:.1} s",
                timeout.as_secs_f64()
            ),
        },
    }
}

/// `program` on `PATH`, if there is an executable file of that name.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Whether a response body is text (kept as `body`) or binary (base64).
fn is_text(content_type: Option<&str>, bytes: &[u8]) -> bool {
    if let Some(ct) = content_type {
        let ct = ct.to_ascii_lowercase();
        if ct.starts_with("text/")
            || ct.contains("json")
            || ct.contains("xml")
            || ct.contains("openmetrics")
        {
            return true;
        }
        if ct.starts_with("application/") || ct.starts_with("image/") {
            return false;
        }
    }
    std::str::from_utf8(bytes).is_ok() && !bytes.contains(&0)
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{} …", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn response_bodies_are_read_up_to_the_bound() {
        let router =
            axum::Router::new().route("/big", axum::routing::get(|| async { "x".repeat(100_000) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("http://{addr}/big");
        let resp = client.get(&url).send().await.unwrap();
        let (bytes, cut) = read_bounded(resp, 1000).await.unwrap();
        assert_eq!(bytes.len(), 1000);
        assert!(cut);
        let resp = client.get(&url).send().await.unwrap();
        let (bytes, cut) = read_bounded(resp, 100_000).await.unwrap();
        assert_eq!(bytes.len(), 100_000);
        assert!(!cut, "a body of exactly the bound is whole");
    }

    #[test]
    fn traceparent_is_well_formed_and_fresh() {
        let a = Traceparent::random();
        let b = Traceparent::random();
        assert_ne!(a, b);
        assert_eq!(a.trace_id.len(), 32);
        assert_eq!(a.span_id.len(), 16);
        let h = a.header();
        assert!(h.starts_with("00-") && h.ends_with("-01"), "{h}");
        assert_eq!(h.len(), 55);
    }

    #[test]
    fn golden_file_parses() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.toml");
        std::fs::write(
            &p,
            "[[query]]\ntext = \"parse config\"\nkind = \"nl\"\nexpect_path = \"src/config.py\"\n\n[[query]]\ntext = \"Foo\"\nexpect_symbol = \"Foo\"\n",
        )
        .unwrap();
        let g = load_golden(&p).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].expect_path.as_deref(), Some("src/config.py"));
        assert_eq!(g[1].expect_symbol.as_deref(), Some("Foo"));
        let err = load_golden(&dir.path().join("missing.toml")).unwrap_err();
        assert!(err.contains("missing.toml"), "{err}");
    }

    #[test]
    fn text_and_binary_bodies_are_told_apart() {
        assert!(is_text(Some("application/json"), b"{}"));
        assert!(is_text(Some("text/plain; version=0.0.4"), b"x 1"));
        assert!(!is_text(Some("application/gzip"), b"\x1f\x8b"));
        assert!(!is_text(None, b"a\0b"));
        assert!(is_text(None, b"plain"));
    }

    #[test]
    fn config_timeout_caps_request_timeout() {
        let c = DriveConfig::new(Path::new("/w")).with_timeout(Duration::from_secs(3));
        assert_eq!(c.ready_timeout, Duration::from_secs(3));
        assert_eq!(c.request_timeout, Duration::from_secs(3));
        let c = DriveConfig::new(Path::new("/w")).with_timeout(Duration::from_secs(60));
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert_eq!(c.repo, Path::new("/w/fixtures/repos/sample"));
    }

    #[test]
    fn lint_source_reports_findings_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("telemetry")).unwrap();
        std::fs::write(dir.path().join("telemetry/prom.py"), "x = 1\n").unwrap();
        let outcome = lint_source(dir.path());
        assert_eq!(outcome.error, None);
        assert!(
            outcome.findings.iter().any(|f| f.rule == "LNT-002"),
            "{outcome:?}"
        );
        let missing = lint_source(&dir.path().join("nope"));
        assert!(missing.error.is_some());
    }

    #[test]
    fn lint_source_ignores_the_configuration_the_source_declares() {
        // An implementation that allows (and excludes) its own offending
        // files in its pyproject.toml is still linted with the suite's rules.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[tool.codeintel-lint]\nallow = [\"**\"]\nexclude = [\"app.py\"]\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("app.py"),
            "from prometheus_client import Counter\nC = Counter('c', 'c')\n",
        )
        .unwrap();
        let outcome = lint_source(dir.path());
        assert_eq!(outcome.error, None);
        assert_eq!(outcome.files_checked, 1, "{outcome:?}");
        assert!(
            outcome
                .findings
                .iter()
                .any(|f| f.rule == "LNT-001" && f.path == "app.py"),
            "{outcome:?}"
        );
    }

    #[test]
    fn lint_source_sees_what_the_source_gitignores() {
        // An implementation that lists its legacy module and import in its
        // own .gitignore still has them linted.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "telemetry/\nlegacy.py\n").unwrap();
        std::fs::create_dir_all(dir.path().join("telemetry")).unwrap();
        std::fs::write(dir.path().join("telemetry/prom.py"), "x = 1\n").unwrap();
        std::fs::write(
            dir.path().join("legacy.py"),
            "from prometheus_client import Counter\n",
        )
        .unwrap();
        let outcome = lint_source(dir.path());
        assert_eq!(outcome.error, None);
        let rules: Vec<(&str, &str)> = outcome
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.path.as_str()))
            .collect();
        assert!(
            rules.contains(&("LNT-002", "telemetry/prom.py")),
            "{outcome:?}"
        );
        assert!(rules.contains(&("LNT-001", "legacy.py")), "{outcome:?}");
    }

    #[tokio::test]
    async fn promtool_runs_when_installed() {
        let Some(program) = find_on_path("promtool") else {
            return;
        };
        let good = run_promtool(
            &program,
            "# HELP x_total A counter.\n# TYPE x_total counter\nx_total 1\n",
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(good.exit_code, Some(0), "{}", good.output);
        let bad = run_promtool(&program, "garbage here {{{\n", Duration::from_secs(10)).await;
        assert_ne!(bad.exit_code, Some(0), "{}", bad.output);
    }
}
