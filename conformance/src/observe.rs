//! Observations: one model of everything the harness saw while driving a SUT.
//!
//! The drive phase fills it; checks are pure functions from `&Observations`
//! to results. Every driven item carries the `step` that produced it (see
//! [`steps`]), so a check can pick exactly the exchanges it judges. The model
//! is serialisable so recorded observations of good and broken
//! implementations can live in fixtures.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Names of the drive steps, shared by the drive phase and the checks.
pub mod steps {
    /// `GET /healthz` and `GET /readyz` while the harness holds the SUT's
    /// embeddings server closed (the index cannot finish loading).
    pub const PROBE_NOT_READY: &str = "probe_not_ready";
    /// `GET /healthz` and `GET /readyz` once the SUT is ready.
    pub const PROBE_READY: &str = "probe_ready";
    /// `GET /healthz` while the embeddings server answers 500 (the process
    /// lives, so it stays 200).
    pub const PROBE_EMBED_DOWN: &str = "probe_embed_down";
    /// `GET /metrics` on the application's HTTP port.
    pub const APP_METRICS: &str = "app_metrics";
    /// The scrape taken before any search.
    pub const SCRAPE_BASELINE: &str = "scrape_baseline";
    /// MCP `tools/list`.
    pub const MCP_LIST: &str = "mcp_list";
    /// One MCP `semantic_search` call (the traced search).
    pub const MCP_SEARCH: &str = "mcp_search";
    /// Plain HTTP searches (`refine: false`).
    pub const SEARCH_PLAIN: &str = "search_plain";
    /// Refined HTTP searches (`refine: true`).
    pub const SEARCH_REFINE: &str = "search_refine";
    /// Golden-query searches (API-003).
    pub const SEARCH_GOLDEN: &str = "search_golden";
    /// An HTTP search carrying a harness-made W3C `traceparent` (TRC-007).
    pub const SEARCH_TRACEPARENT: &str = "search_traceparent";
    /// The scrape after the counted searches.
    pub const SCRAPE_AFTER_SEARCHES: &str = "scrape_after_searches";
    /// Searches with many distinct query texts (MET-010).
    pub const SEARCH_CARDINALITY: &str = "search_cardinality";
    /// The scrape after the cardinality searches.
    pub const SCRAPE_AFTER_CARDINALITY: &str = "scrape_after_cardinality";
    /// Searches while the embeddings server answers 500 or times out.
    pub const SEARCH_EMBED_FAULT: &str = "search_embed_fault";
    /// MCP `semantic_search` while the embeddings server fails (TRC-006).
    pub const MCP_SEARCH_EMBED_FAULT: &str = "mcp_search_embed_fault";
    /// The scrape after the fault phase.
    pub const SCRAPE_AFTER_FAULT: &str = "scrape_after_fault";
    /// `GET /v1/runpack/{trace_id}` for a traced search.
    pub const RUNPACK: &str = "runpack";
    /// `GET /v1/runpack/{trace_id}` for a failed (fault-phase) search.
    pub const RUNPACK_FAILED: &str = "runpack_failed";
    /// `GET /v1/runpack/{trace_id}` for a trace id no request had (RUN-001:
    /// a canned archive is told from a real one).
    pub const RUNPACK_UNKNOWN: &str = "runpack_unknown";
    /// The last scrape of the run.
    pub const SCRAPE_FINAL: &str = "scrape_final";
    /// One more scrape after `scrape_final`, asking for OpenMetrics with an
    /// `Accept` header (so `# UNIT` lines can be judged).
    pub const SCRAPE_OPENMETRICS: &str = "scrape_openmetrics";
}

/// Everything seen during one run against one SUT.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Observations {
    pub sut: SutInfo,
    pub startup: Startup,
    /// Scrapes of `PROMETHEUS_ADDR:PROMETHEUS_PORT/metrics`, in order.
    pub scrapes: Vec<Scrape>,
    /// `promtool check metrics` on the final scrape; `None` when promtool is
    /// not installed.
    pub promtool: Option<ToolRun>,
    /// HTTP exchanges with the application's port, in order.
    pub http: Vec<HttpExchange>,
    /// MCP exchanges (streamable HTTP at `/mcp`), in order.
    pub mcp: Vec<McpExchange>,
    /// Spans received (OTLP receiver or in-memory exporter).
    pub spans: Vec<SpanRecord>,
    /// Log records received.
    pub logs: Vec<LogRecord>,
    /// Requests the harness's embeddings server received.
    pub embed_requests: Vec<EmbedRequest>,
    /// Malformed payloads the harness's peers received (e.g. OTLP that did not
    /// decode), with what was wrong.
    pub peer_errors: Vec<String>,
    /// Wall time of each phase of the run.
    pub phases: Vec<PhaseTiming>,
    /// Source lint results, when `--source DIR` was given.
    pub lint: Option<LintOutcome>,
    /// The official MCP conformance suite's scenarios, run against `/mcp`
    /// after the drive (MCP-*).
    #[serde(default)]
    pub mcp_suite: McpSuiteOutcome,
    /// Things the harness could not do (it could not judge what depends on them).
    pub harness_errors: Vec<String>,
    /// When the scenario ended (Unix nanoseconds), before the official MCP
    /// suite ran: the telemetry gate leaves out spans started later, so a
    /// snapshot does not depend on whether the suite is installed.
    #[serde(default)]
    pub drive_ended_unix_nano: Option<u64>,
    /// What the harness cut to stay within its memory bounds (response
    /// bodies, output lines, received spans and logs), one line each.
    #[serde(default)]
    pub truncations: Vec<String>,
    /// Set when the overall run deadline (`--deadline`) expired: the
    /// observations stop where the run was cut.
    #[serde(default)]
    pub deadline_exceeded: Option<DeadlineExceeded>,
}

/// The overall run deadline expired.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeadlineExceeded {
    /// The deadline, in seconds.
    pub deadline_secs: u64,
    /// The last phase that had finished before the run was cut.
    pub after_phase: Option<String>,
}

/// Which implementation was driven.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SutInfo {
    /// A short name for reports (`reference`, the manifest's `name`).
    pub name: String,
    /// `reference` (in-process) or `process`.
    pub kind: String,
    /// The `OTEL_SERVICE_NAME` the harness gave the SUT.
    pub service_name: String,
    /// Source tree, when known (for the LNT checks).
    pub source_dir: Option<PathBuf>,
    /// The `CODEINTEL_EMBED_MODEL` the harness gave the SUT (empty when not
    /// recorded).
    #[serde(default)]
    pub embed_model: String,
}

/// How start-up went.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Startup {
    /// The SUT reached readiness before the deadline.
    pub ready: bool,
    /// Milliseconds from start to readiness.
    pub ready_after_ms: Option<u64>,
    /// Why it did not become ready (exited with status …, deadline passed, …).
    pub error: Option<String>,
    /// The last lines the SUT wrote to stdout/stderr.
    pub output_tail: String,
    /// What the harness noticed while starting the SUT (e.g. it had to open
    /// the embeddings gate before the SUT listened).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// One scrape of the Prometheus endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Scrape {
    pub step: String,
    /// Searches (HTTP and MCP, all steps) completed before this scrape.
    pub searches_done: u32,
    /// Of those, searches sent with `refine: true`.
    #[serde(default)]
    pub refine_searches_done: u32,
    /// Searches sent before this scrape, answered or not (a search answered
    /// 5xx or not at all is sent but not done).
    #[serde(default)]
    pub searches_sent: u32,
    /// Distinct query texts sent before this scrape.
    pub distinct_queries: u32,
    /// Embeddings requests the harness's server had received before this scrape.
    pub embed_requests_seen: u32,
    /// Input texts over those embeddings requests (the sum of their batch sizes).
    #[serde(default)]
    pub embed_texts_seen: u32,
    /// HTTP status, `None` when no answer (connection refused, timeout).
    pub status: Option<u16>,
    pub content_type: Option<String>,
    pub body: String,
    /// Transport error, if any.
    pub error: Option<String>,
    /// The `Accept` header the harness sent, if any.
    #[serde(default)]
    pub accept: Option<String>,
    /// Wall time of the search requests (HTTP and MCP) sent before this
    /// scrape, summed, in milliseconds: an upper bound of the time the SUT
    /// spent inside searches.
    #[serde(default)]
    pub search_wall_ms: u64,
}

impl Scrape {
    /// The body parsed, in the format its `Content-Type` announces, else the
    /// one detected: the one way the checks and the gate read a scrape.
    pub fn parse(&self) -> Result<crate::scrape::Exposition, crate::scrape::ParseError> {
        match self
            .content_type
            .as_deref()
            .and_then(crate::scrape::Format::from_content_type)
        {
            Some(format) => crate::scrape::parse_as(&self.body, format),
            None => crate::scrape::parse(&self.body),
        }
    }
}

/// Result of running an external tool (promtool).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ToolRun {
    pub command: String,
    pub exit_code: Option<i32>,
    pub output: String,
}

/// One HTTP request to the application's port and its answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HttpExchange {
    pub step: String,
    pub method: String,
    pub path: String,
    pub request_body: Option<String>,
    /// The W3C trace id the harness sent in `traceparent`, if any.
    pub trace_id_sent: Option<String>,
    /// The span id the harness sent as parent in `traceparent`, if any.
    pub parent_span_id_sent: Option<String>,
    pub status: Option<u16>,
    pub content_type: Option<String>,
    /// Body as text (binary bodies: see `body_base64`).
    pub body: String,
    /// Binary bodies (archives), base64.
    pub body_base64: Option<String>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
    /// Golden queries (API-003): the file expected in the top 5.
    #[serde(default)]
    pub expected_path: Option<String>,
    /// Golden queries: the symbol expected among the findings, if any.
    #[serde(default)]
    pub expected_symbol: Option<String>,
    /// The fault the harness's embeddings server was injecting when this
    /// request was sent: `error_500`, or `delay:MS` (answers after MS
    /// milliseconds); `None` when it answered normally.
    #[serde(default)]
    pub embed_fault: Option<String>,
}

/// One MCP exchange.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct McpExchange {
    pub step: String,
    /// `initialize`, `tools/list`, `tools/call`.
    pub method: String,
    /// For `tools/call`, the tool's name.
    pub tool: Option<String>,
    pub arguments: Option<serde_json::Value>,
    pub trace_id_sent: Option<String>,
    /// The JSON result (`ListToolsResult`, `CallToolResult`), if one came back.
    pub result: Option<serde_json::Value>,
    /// `CallToolResult.isError`.
    pub is_error: bool,
    /// Protocol or transport error.
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// An attribute value as received (OTLP `AnyValue`, simplified).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum AttrValue {
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
    Array(Vec<AttrValue>),
}

impl AttrValue {
    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl std::fmt::Display for AttrValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Double(d) => write!(f, "{d}"),
            Self::Str(s) => write!(f, "{s}"),
            Self::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Attributes by key.
pub type Attributes = BTreeMap<String, AttrValue>;

/// OTLP span kind.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// The kind in lower case, as reports and snapshots spell it (`server`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Internal => "internal",
            Self::Server => "server",
            Self::Client => "client",
            Self::Producer => "producer",
            Self::Consumer => "consumer",
        }
    }
}

/// OTLP status code.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StatusCode {
    #[default]
    Unset,
    Ok,
    Error,
}

/// One span event (e.g. `exception`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SpanEvent {
    pub name: String,
    pub attributes: Attributes,
}

/// One finished span, with its resource.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SpanRecord {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// `None` for a root span.
    pub parent_span_id: Option<String>,
    pub name: String,
    pub kind: SpanKind,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub attributes: Attributes,
    pub status: StatusCode,
    pub status_message: String,
    pub events: Vec<SpanEvent>,
    /// The resource the span was exported with.
    pub resource: Attributes,
    /// Instrumentation scope name.
    pub scope: String,
}

/// One log record, with its resource.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LogRecord {
    /// 32 hex digits, `None` when the record carries no trace context.
    pub trace_id: Option<String>,
    /// 16 hex digits.
    pub span_id: Option<String>,
    pub severity_text: Option<String>,
    pub severity_number: Option<i32>,
    pub body: String,
    pub attributes: Attributes,
    pub resource: Attributes,
}

/// One request the harness's embeddings server received.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct EmbedRequest {
    /// `model` from the request body.
    pub model: Option<String>,
    /// Number of input texts.
    pub inputs: u32,
    /// What the server did: `ok`, `error_500`, `delay`, `garbage`, `closed`.
    pub answered: String,
    /// HTTP status answered (0 when the connection was dropped).
    pub status: u16,
}

/// Wall time of one phase (start peers, start SUT, drive, observe, check).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PhaseTiming {
    pub phase: String,
    pub millis: u64,
}

/// Whether the official MCP conformance suite ran.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum McpSuiteState {
    /// Not run: the SUT never became ready, or the run stopped before.
    #[default]
    NotRun,
    /// The suite is not installed (`scripts/setup-node.sh` installs it).
    NotInstalled,
    /// The scenarios ran (each may still have failed or timed out).
    Ran,
}

/// The official MCP conformance suite's results (MCP-*).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct McpSuiteOutcome {
    pub state: McpSuiteState,
    /// What ran it (node, entry point, package version), or why it is missing.
    pub note: String,
    /// One run per scenario, in catalog order.
    pub scenarios: Vec<McpScenarioRun>,
}

impl McpSuiteOutcome {
    /// The run of `scenario`, if it ran.
    pub fn scenario(&self, scenario: &str) -> Option<&McpScenarioRun> {
        self.scenarios.iter().find(|s| s.scenario == scenario)
    }
}

/// One scenario of the official MCP conformance suite against `url`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct McpScenarioRun {
    /// The suite's scenario name (`server-initialize`, …).
    pub scenario: String,
    /// The MCP endpoint it was run against.
    pub url: String,
    /// The suite's exit code (0: no check failed); `None` when killed.
    pub exit_code: Option<i32>,
    /// Killed at the harness's deadline.
    pub timed_out: bool,
    pub elapsed_ms: u64,
    /// The checks from the suite's `checks.json`.
    pub checks: Vec<McpSuiteCheck>,
    /// Why there are no checks (could not start, no `checks.json`, killed).
    pub error: Option<String>,
    /// The last lines the suite printed (colour stripped).
    pub output_tail: String,
}

/// One check of a scenario, as the suite reported it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct McpSuiteCheck {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `SUCCESS`, `FAILURE`, `WARNING`, `SKIPPED` or `INFO`.
    pub status: String,
    /// The suite's failure (or warning) message.
    pub error_message: Option<String>,
    /// The check's `details`, as compact JSON cut to a few hundred characters.
    pub details: Option<String>,
}

/// Source lint results (LNT-*), from `codeintel-lint`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LintOutcome {
    pub root: PathBuf,
    pub files_checked: u64,
    /// Findings, each `rule`, `path:line:col` and message.
    pub findings: Vec<LintFinding>,
    /// The lint could not run (I/O error), with why.
    pub error: Option<String>,
}

/// One lint finding.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LintFinding {
    /// `LNT-000` … `LNT-003`.
    pub rule: String,
    pub path: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl Observations {
    /// Scrapes taken at `step`.
    pub fn scrapes_at<'a>(&'a self, step: &'a str) -> impl Iterator<Item = &'a Scrape> + 'a {
        self.scrapes.iter().filter(move |s| s.step == step)
    }

    /// The last scrape taken at `step`.
    pub fn last_scrape_at(&self, step: &str) -> Option<&Scrape> {
        self.scrapes.iter().rev().find(|s| s.step == step)
    }

    /// HTTP exchanges of `step`.
    pub fn http_at<'a>(&'a self, step: &'a str) -> impl Iterator<Item = &'a HttpExchange> + 'a {
        self.http.iter().filter(move |h| h.step == step)
    }

    /// MCP exchanges of `step`.
    pub fn mcp_at<'a>(&'a self, step: &'a str) -> impl Iterator<Item = &'a McpExchange> + 'a {
        self.mcp.iter().filter(move |m| m.step == step)
    }

    /// Records the wall time of `phase`, begun at `since`.
    pub fn push_phase(&mut self, phase: &str, since: std::time::Instant) {
        self.phases.push(PhaseTiming {
            phase: phase.to_owned(),
            millis: since.elapsed().as_millis() as u64,
        });
    }

    /// Spans of one trace.
    pub fn trace<'a>(&'a self, trace_id: &'a str) -> impl Iterator<Item = &'a SpanRecord> + 'a {
        self.spans.iter().filter(move |s| s.trace_id == trace_id)
    }
}
