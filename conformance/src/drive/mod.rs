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

use rmcp::model::ProtocolVersion;
use serde::Deserialize;

use crate::mcp_suite::{self, McpSuiteSetting};
use crate::observe::{LintFinding, LintOutcome, McpSuiteState, Observations, ToolRun};
use crate::peers::Peers;
use crate::peers::embeddings::EmbeddingsConfig;
use crate::sut::{OtlpProtocol, Sut, SutEnv, SutError};

mod http;
mod mcp;
mod scenario;
pub use self::http::*;
pub use mcp::*;

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
