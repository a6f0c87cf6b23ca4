//! The scenario's steps, in order: the queries it sends, the driver's run from
//! start-up probes to the final scrape, and the wait for spans.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::observe::{HttpExchange, Observations, ToolRun, steps};
use crate::peers::Peers;
use crate::peers::embeddings::Mode;
use crate::sut::{Sut, SutEnv};

use super::{
    DriveConfig, Driver, OPENMETRICS_ACCEPT, Traceparent, find_on_path, load_golden, run_promtool,
    truncate,
};

/// Plain searches: ordinary code-search questions about the fixture repo.
pub(super) const PLAIN_QUERIES: [&str; 3] = [
    "validate the session token of a user",
    "apply a discount code to the cart total",
    "hash and check a password",
];
pub(super) const REFINE_QUERIES: [&str; 2] = [
    "rate limit requests per client",
    "charge the customer card through the gateway",
];
pub(super) const TRACEPARENT_QUERY: &str = "send an http request to the api client";
pub(super) const MCP_QUERY_FALLBACK: &str = "refund a captured payment";
pub(super) const FAULT_QUERIES: [&str; 2] = [
    "retry after a network failure",
    "format an error message for the user",
];
pub(super) const MCP_FAULT_QUERY: &str = "serialize the order as json";
pub(super) const DELAY_QUERY: &str = "parse command line arguments of the daemon";
/// Words for the distinct-text searches.
pub(super) const CARDINALITY_WORDS: [&str; 10] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
];

impl<'a> Driver<'a> {
    pub(super) fn new(
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

    pub(super) async fn run(&mut self) {
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
}

impl Driver<'_> {
    /// PROBE_NOT_READY → open the gate → PROBE_READY. `false` when the SUT
    /// never became ready (the run stops there).
    pub(super) async fn probe(&mut self) -> bool {
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
}

impl Driver<'_> {
    pub(super) fn spans_now(&self) -> Vec<crate::observe::SpanRecord> {
        match self.sut.telemetry() {
            Some(t) => t.spans,
            None => self.peers.otlp.spans(),
        }
    }

    /// Poll until the traced MCP search's trace holds a `hydrate` span (or the
    /// deadline), then until no new span arrives for a moment.
    pub(super) async fn wait_for_spans(&mut self) {
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

    pub(super) async fn promtool(&mut self) -> Option<ToolRun> {
        let program = find_on_path("promtool")?;
        let body = match self.obs.last_scrape_at(steps::SCRAPE_FINAL) {
            Some(s) if s.status == Some(200) => s.body.clone(),
            _ => return None,
        };
        Some(run_promtool(&program, &body, self.cfg.request_timeout).await)
    }
}
