//! MCP (rmcp): the code-intelligence tools, over streamable HTTP at `/mcp`
//! and over stdio (`codeintel-server mcp --stdio`).
//!
//! Tools (declared once, one row each, in [`tools`]): `semantic_search`
//! (hybrid search through the [`Engine`]), `search` and `fetch` (the
//! Deep-Research connector shape: ids, then content), `text_search` (regex
//! over the repository's files with the ripgrep crates), `open_file` (a
//! line range), `list_paths` (glob) and `symbol_search` (the catalog's
//! symbols table). Their file-system side is in `files`.
//!
//! This module runs a call: every call runs in a SERVER span
//! `tools/call {tool}` carrying `mcp.method.name`, `gen_ai.tool.name`,
//! `gen_ai.operation.name`, `jsonrpc.request.id`, `mcp.session.id` (HTTP),
//! and `error.type` with an ERROR status on failure. It continues the W3C
//! `traceparent` of the request's `_meta`, else of the HTTP request (its
//! SERVER span), and records a run (timeline) for runpacks. Failures are
//! tool results with `isError: true` and a message saying what to do; only
//! an unknown tool is a protocol error.
//!
//! [`Engine`]: crate::search::engine::Engine

mod files;
mod tools;

use std::net::SocketAddr;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt as _};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub use files::{MAX_MATCH_LINE_CHARS, MAX_OPEN_BYTES, MAX_OPEN_LINES};
use tools::Call;
pub use tools::{
    FetchArgs, ListPathsArgs, OpenFileArgs, SearchArgs, SemanticSearchArgs, SymbolSearchArgs,
    TOOL_NAMES, TextSearchArgs, tools,
};

use super::json_error::describe_json_error;
use super::propagation::{HttpTraceContext, context_from_traceparent, extract_context};
use super::{AppState, Run, ServeError, guard};
use crate::search::engine::{LoadedIndex, SearchError};

/// A tool failure: shown to the caller as the tool result's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    /// Bounded failure kind (`error.type`).
    pub kind: &'static str,
    pub message: String,
}

impl ToolError {
    fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl From<guard::GuardError> for ToolError {
    fn from(e: guard::GuardError) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}

impl From<&SearchError> for ToolError {
    fn from(e: &SearchError) -> Self {
        let kind = match e {
            SearchError::NotReady => "not_ready",
            SearchError::EmptyQuery | SearchError::BadK { .. } => "invalid_arguments",
            SearchError::NoChannel { .. } => "channels_failed",
            SearchError::Hydrate(_) => "hydrate_failed",
            SearchError::Internal(_) => "internal",
        };
        Self::new(kind, e.to_string())
    }
}

fn parse_args<T: DeserializeOwned>(
    tool: &str,
    args: serde_json::Map<String, serde_json::Value>,
) -> Result<T, ToolError> {
    serde_path_to_error::deserialize(serde_json::Value::Object(args)).map_err(|e| {
        let (_, msg) = describe_json_error(&e);
        ToolError::new(
            "invalid_arguments",
            format!("invalid arguments for {tool}: {msg}; see the tool's input schema"),
        )
    })
}

fn bounded(
    value: Option<usize>,
    default: usize,
    max: usize,
    name: &str,
) -> Result<usize, ToolError> {
    let v = value.unwrap_or(default);
    if v == 0 || v > max {
        return Err(ToolError::new(
            "invalid_arguments",
            format!("`{name}` must be between 1 and {max}, got {v}"),
        ));
    }
    Ok(v)
}

/// How a session reached the server (`network.transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Http,
    Stdio,
}

/// The MCP server: one per session, sharing the [`AppState`].
#[derive(Clone)]
pub struct McpServer {
    state: AppState,
    transport: Transport,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// What a tool produced: its JSON answer and the degradations it reports.
struct ToolOk {
    value: serde_json::Value,
    limits: Vec<String>,
}

impl ToolOk {
    fn plain(value: serde_json::Value) -> Self {
        Self {
            value,
            limits: Vec::new(),
        }
    }
}

/// The parent of a tool span: `_meta.traceparent`, else the HTTP request's
/// SERVER span (which continued its `traceparent` header), else its headers.
fn parent_context(
    params: &CallToolRequestParams,
    ctx: &RequestContext<RoleServer>,
) -> Option<opentelemetry::Context> {
    use opentelemetry::trace::TraceContextExt as _;
    let meta_sources = [Some(&ctx.meta), params.meta.as_ref()];
    for meta in meta_sources.into_iter().flatten() {
        if let Some(tp) = meta.get_traceparent()
            && let Some(cx) = context_from_traceparent(tp, meta.get_tracestate())
        {
            return Some(cx);
        }
    }
    let parts = ctx.extensions.get::<::http::request::Parts>()?;
    if let Some(HttpTraceContext(cx)) = parts.extensions.get::<HttpTraceContext>()
        && cx.span().span_context().is_valid()
    {
        return Some(cx.clone());
    }
    extract_context(&parts.headers)
}

impl McpServer {
    pub fn new(state: AppState, transport: Transport) -> Self {
        Self { state, transport }
    }

    fn index(&self) -> Result<Arc<LoadedIndex>, ToolError> {
        self.state
            .engine
            .current()
            .ok_or_else(|| ToolError::from(&SearchError::NotReady))
    }

    /// Runs one tool call in its span and records its run.
    async fn call(
        &self,
        params: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let tool = params.name.to_string();
        let known = TOOL_NAMES.contains(&tool.as_str());
        let span_name = if known {
            format!("tools/call {tool}")
        } else {
            "tools/call".to_owned()
        };
        let span = tracing::info_span!(
            "tools/call",
            otel.name = %span_name,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty,
            mcp.method.name = "tools/call",
            gen_ai.tool.name = %tool,
            gen_ai.operation.name = "execute_tool",
            jsonrpc.request.id = %ctx.id,
            mcp.session.id = tracing::field::Empty,
            mcp.protocol.version = tracing::field::Empty,
            network.transport = match self.transport { Transport::Http => "tcp", Transport::Stdio => "pipe" },
            error.type = tracing::field::Empty,
        );
        let _ = span.set_parent(parent_context(&params, &ctx).unwrap_or_default());
        if let Some(session) = ctx
            .extensions
            .get::<::http::request::Parts>()
            .and_then(|parts| parts.headers.get("mcp-session-id"))
            .and_then(|v| v.to_str().ok())
        {
            span.record("mcp.session.id", session);
        }
        if let Some(v) = ctx.protocol_version() {
            span.record("mcp.protocol.version", v.as_str());
        }
        let run = span.in_scope(|| Run::begin(&self.state, span_name.clone()));
        let args = params.arguments.unwrap_or_default();
        let timeout = self.state.config.request_timeout;
        let result = async {
            let call = Call {
                timeline: &run.timeline,
                trace_id: &run.trace_id,
            };
            let mut work = std::pin::pin!(self.dispatch(&tool, args, &call));
            if let Ok(r) = tokio::time::timeout(timeout, work.as_mut()).await {
                return r;
            }
            // Still alive: note where the run was before it is dropped.
            super::note_cancelled(&run.timeline, timeout);
            Err(ToolError::new(
                "timeout",
                format!(
                    "the tool call did not finish within {} ms (CODEINTEL_REQUEST_TIMEOUT_MS)",
                    timeout.as_millis()
                ),
            ))
        }
        .instrument(span.clone())
        .await;
        match result {
            Ok(ok) => {
                run.finish(None, ok.limits);
                Ok(CallToolResult::structured(ok.value).into())
            }
            Err(e) => {
                crate::observability::mark_failed(&span, e.kind, Some(&e.message));
                span.in_scope(
                    || tracing::warn!(error.type = e.kind, "tool {tool} failed: {}", e.message),
                );
                let stage = match e.kind {
                    "invalid_arguments" => "arguments",
                    "timeout" => "request",
                    _ if known => tool.as_str(),
                    _ => "tool",
                };
                run.finish(Some((stage, e.message.clone())), Vec::new());
                if e.kind == "unknown_tool" {
                    return Err(McpError::invalid_params(
                        format!("{}; available tools: {}", e.message, TOOL_NAMES.join(", ")),
                        None,
                    ));
                }
                Ok(CallToolResult::error(vec![ContentBlock::text(e.message)]).into())
            }
        }
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("codeintel", env!("CARGO_PKG_VERSION")).with_title("codeintel code search"),
            )
            .with_instructions(
                "Code intelligence over one repository: `semantic_search` for hybrid (dense + BM25) search, \
                 `search`/`fetch` for id-then-content retrieval, `text_search` for regex, `open_file` to read \
                 lines, `list_paths` to list files, `symbol_search` for definitions.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.call(request, context).await
    }
}

/// The MCP streamable-HTTP service mounted at `/mcp`. Keeps rmcp's DNS
/// rebinding protection: `Host` must be a loopback name (or the bound
/// address) and a browser `Origin`, when sent, a loopback origin.
pub fn http_service(
    state: AppState,
    local: SocketAddr,
    shutdown: CancellationToken,
) -> StreamableHttpService<McpServer, LocalSessionManager> {
    let hosts = guard::allowed_hosts(local, &state.config.allowed_hosts);
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"])
        .with_max_request_body_bytes(state.config.body_limit)
        .with_cancellation_token(shutdown);
    StreamableHttpService::new(
        move || Ok(McpServer::new(state.clone(), Transport::Http)),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

/// `codeintel-server mcp --stdio`: builds the state, loads (or first
/// builds) the index in the background and serves MCP on stdin/stdout (see
/// [`super::start_stdio`]).
pub async fn run_stdio(
    config: crate::config::Config,
    metrics: crate::observability::metrics::Metrics,
    embedder: Option<Arc<dyn crate::embed::Embedder>>,
) -> Result<(), ServeError> {
    super::start_stdio(config, metrics, embedder).await
}

/// Serves MCP on stdin/stdout until the client closes the stream.
pub async fn serve_stdio(state: AppState) -> Result<(), ServeError> {
    let running = McpServer::new(state, Transport::Stdio)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| ServeError::Mcp(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| ServeError::Mcp(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::files::{PathGlob, open_file};
    use super::*;
    use std::fmt::Write as _;

    #[test]
    fn every_tool_has_an_object_schema_and_a_description() {
        let tools = tools();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, TOOL_NAMES);
        for t in &tools {
            assert_eq!(
                t.input_schema.get("type").and_then(|v| v.as_str()),
                Some("object"),
                "{}",
                t.name
            );
            assert!(
                t.description.as_ref().is_some_and(|d| d.len() > 40),
                "{}",
                t.name
            );
        }
        let ss = &tools[0].input_schema;
        assert_eq!(ss["required"], serde_json::json!(["query"]));
        assert!(ss["properties"]["k"].is_object());
    }

    #[test]
    fn arguments_are_checked_and_errors_name_the_field() {
        let args = |v: serde_json::Value| v.as_object().unwrap().clone();
        let e =
            parse_args::<SemanticSearchArgs>("semantic_search", args(serde_json::json!({"k": 3})))
                .unwrap_err();
        assert!(e.message.contains("query"), "{}", e.message);
        let e = parse_args::<SemanticSearchArgs>(
            "semantic_search",
            args(serde_json::json!({"query": "x", "k": "3"})),
        )
        .unwrap_err();
        assert!(e.message.contains("`k`"), "{}", e.message);
        let e = parse_args::<OpenFileArgs>(
            "open_file",
            args(serde_json::json!({"path": "a", "mode": "w"})),
        )
        .unwrap_err();
        assert!(e.message.contains("mode"), "{}", e.message);
        assert_eq!(e.kind, "invalid_arguments");
        assert!(bounded(Some(0), 10, 100, "k").is_err());
        assert_eq!(bounded(None, 10, 100, "k").unwrap(), 10);
    }

    #[test]
    fn globs_match_paths_or_names_and_refuse_escapes() {
        let g = PathGlob::new("*.rs").unwrap();
        assert!(g.is_match("src/deep/a.rs"));
        assert!(!g.is_match("src/a.py"));
        let g = PathGlob::new("src/*.rs").unwrap();
        assert!(g.is_match("src/a.rs"));
        assert!(!g.is_match("src/deep/a.rs"));
        let g = PathGlob::new("src/**/*.rs").unwrap();
        assert!(g.is_match("src/deep/a.rs"));
        assert!(PathGlob::new("../**").is_err());
        assert!(PathGlob::new("/etc/*").is_err());
        assert!(PathGlob::new("[").is_err());
    }

    #[test]
    fn open_file_slices_lines_and_refuses_escapes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir(root.join("src")).unwrap();
        let body = (1..=10).fold(String::new(), |mut acc, i| {
            let _ = writeln!(acc, "line {i}");
            acc
        });
        std::fs::write(root.join("src/a.txt"), body).unwrap();
        let args = |path: &str, s: Option<usize>, e: Option<usize>| OpenFileArgs {
            path: path.into(),
            start_line: s,
            end_line: e,
        };
        let v = open_file(&root, &args("src/a.txt", Some(3), Some(4))).unwrap();
        assert_eq!(v["text"], "line 3\nline 4");
        assert_eq!(v["total_lines"], 10);
        let v = open_file(&root, &args("./src/a.txt", None, None)).unwrap();
        assert_eq!(v["end_line"], 10);
        assert_eq!(v["path"], "src/a.txt");
        assert!(open_file(&root, &args("src/a.txt", Some(11), None)).is_err());
        assert!(open_file(&root, &args("src/a.txt", Some(0), None)).is_err());
        assert_eq!(
            open_file(&root, &args("src", None, None)).unwrap_err().kind,
            "is_a_folder"
        );
        for bad in ["../etc/passwd", "/etc/passwd", "%2e%2e/etc/passwd"] {
            let e = open_file(&root, &args(bad, None, None)).unwrap_err();
            assert_eq!(e.kind, "path_escape", "{bad}");
            assert!(
                e.message.contains("escapes the repository"),
                "{}",
                e.message
            );
        }
    }
}
