//! MCP (rmcp): the code-intelligence tools, over streamable HTTP at `/mcp`
//! and over stdio (`codeintel-server mcp --stdio`).
//!
//! Tools: `semantic_search` (hybrid search through the [`Engine`]),
//! `search` and `fetch` (the Deep-Research connector shape: ids, then
//! content), `text_search` (regex over the repository's files with the
//! ripgrep crates), `open_file` (a line range), `list_paths` (glob) and
//! `symbol_search` (the catalog's symbols table).
//!
//! Every call runs in a SERVER span `tools/call {tool}` carrying
//! `mcp.method.name`, `gen_ai.tool.name`, `gen_ai.operation.name`,
//! `jsonrpc.request.id`, `mcp.session.id` (HTTP), and `error.type` with an
//! ERROR status on failure. It continues the W3C `traceparent` of the
//! request's `_meta`, else of the HTTP request (its SERVER span), and records
//! a run (timeline) for runpacks. Failures are tool results with
//! `isError: true` and a message saying what to do; only an unknown tool is
//! a protocol error.
//!
//! [`Engine`]: crate::search::engine::Engine

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt as _};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::json_error::describe_json_error;
use super::propagation::{HttpTraceContext, context_from_traceparent, extract_context};
use super::{AppState, Run, ServeError, guard};
use crate::diagnostics::timeline::Timeline;
use crate::index::walk;
use crate::search::engine::{LoadedIndex, SearchError, SearchOutcome, query_fingerprint};

/// The tools this server offers, in `tools/list` order.
pub const TOOL_NAMES: [&str; 7] = [
    "semantic_search",
    "search",
    "fetch",
    "text_search",
    "open_file",
    "list_paths",
    "symbol_search",
];

/// Lines `open_file` returns at most per call.
pub const MAX_OPEN_LINES: usize = 2000;
/// Bytes `open_file` reads at most.
pub const MAX_OPEN_BYTES: u64 = 8 << 20;
/// Characters of one matching line `text_search` returns.
pub const MAX_MATCH_LINE_CHARS: usize = 400;

// ---------------------------------------------------------------- arguments

/// `semantic_search` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SemanticSearchArgs {
    /// What to look for: a question in plain words, an identifier, or a code fragment.
    pub query: String,
    /// How many findings to return (1 to 100; default 10).
    #[serde(default)]
    pub k: Option<usize>,
    /// Re-score the dense candidates exactly against the stored vectors (slower, more precise; default false).
    #[serde(default)]
    pub refine: Option<bool>,
}

/// `search` arguments (Deep-Research connector shape).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// What to look for in the repository.
    pub query: String,
}

/// `fetch` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchArgs {
    /// A result id from `search` or `semantic_search`.
    pub id: String,
}

/// `text_search` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextSearchArgs {
    /// A regular expression (Rust regex syntax), matched line by line.
    pub pattern: String,
    /// Only files whose repository-relative path matches this glob (e.g. `src/**/*.rs`; a glob without `/` matches file names).
    #[serde(default)]
    pub glob: Option<String>,
    /// Most matching lines to return (1 to 1000; default 100).
    #[serde(default)]
    pub max_results: Option<usize>,
}

/// `open_file` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenFileArgs {
    /// Path relative to the repository root, e.g. `src/main.rs`.
    pub path: String,
    /// First line to return, 1-based (default 1).
    #[serde(default)]
    pub start_line: Option<usize>,
    /// Last line to return, inclusive (default: start_line + 399, at most 2000 lines per call).
    #[serde(default)]
    pub end_line: Option<usize>,
}

/// `list_paths` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPathsArgs {
    /// Only paths matching this glob (e.g. `**/*.py`; a glob without `/` matches file names). Default: all.
    #[serde(default)]
    pub glob: Option<String>,
    /// Most paths to return (1 to 10000; default 500).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// `symbol_search` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SymbolSearchArgs {
    /// A symbol name or part of one (case-insensitive); exact matches come first.
    pub name: String,
    /// Most symbols to return (1 to 500; default 20).
    #[serde(default)]
    pub limit: Option<usize>,
}

fn tool<T: JsonSchema + 'static>(
    name: &'static str,
    title: &str,
    description: &'static str,
) -> Tool {
    Tool::new(
        name,
        description,
        rmcp::handler::server::tool::schema_for_type::<T>(),
    )
    .with_title(title)
    .with_annotations(
        ToolAnnotations::new()
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    )
}

/// The tool definitions (name, description, input schema).
pub fn tools() -> Vec<Tool> {
    vec![
        tool::<SemanticSearchArgs>(
            "semantic_search",
            "Semantic code search",
            "Hybrid code search over the indexed repository: dense embeddings (FAISS) and BM25 fused by \
             reciprocal rank. Returns JSON {findings: [{id, path, start_line, end_line, score, snippet, \
             symbol, channels}], limits, gating, index_version, trace_id}. `limits` lists what was degraded \
             (e.g. the embeddings server is down and the answer comes from BM25 only).",
        ),
        tool::<SearchArgs>(
            "search",
            "Search (ids)",
            "Search the repository and return result ids to `fetch`: JSON {results: [{id, title, url}]}.",
        ),
        tool::<FetchArgs>(
            "fetch",
            "Fetch a result",
            "Fetch one result by id (from `search` or `semantic_search`): JSON {id, title, text, url, metadata}.",
        ),
        tool::<TextSearchArgs>(
            "text_search",
            "Regex search",
            "Search the repository's files line by line with a regular expression (ripgrep engine). \
             Returns JSON {matches: [{path, line, text}], truncated, files_searched}.",
        ),
        tool::<OpenFileArgs>(
            "open_file",
            "Open a file",
            "Read a range of lines of a file of the repository (path relative to its root; paths outside \
             it are refused). Returns JSON {path, start_line, end_line, total_lines, text}.",
        ),
        tool::<ListPathsArgs>(
            "list_paths",
            "List files",
            "List the repository's files (as indexed: ignored, hidden, binary and oversized files are left \
             out), optionally filtered by a glob. Returns JSON {paths, total, truncated}.",
        ),
        tool::<SymbolSearchArgs>(
            "symbol_search",
            "Find symbols",
            "Find symbol definitions (functions, classes, methods, types) by name. Returns JSON \
             {symbols: [{name, kind, path, start_line, end_line}], index_version}.",
        ),
    ]
}

// ---------------------------------------------------------------- errors

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

// ---------------------------------------------------------------- server

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

    async fn dispatch(
        &self,
        tool: &str,
        args: serde_json::Map<String, serde_json::Value>,
        timeline: &Timeline,
        trace_id: &str,
    ) -> Result<ToolOk, ToolError> {
        match tool {
            "semantic_search" => {
                self.semantic_search(parse_args(tool, args)?, timeline, trace_id)
                    .await
            }
            "search" => self.search(parse_args(tool, args)?, timeline).await,
            "fetch" => self.fetch(parse_args(tool, args)?, timeline).await,
            "text_search" => self.text_search(parse_args(tool, args)?, timeline).await,
            "open_file" => self.open_file(parse_args(tool, args)?, timeline).await,
            "list_paths" => self.list_paths(parse_args(tool, args)?, timeline).await,
            "symbol_search" => self.symbol_search(parse_args(tool, args)?, timeline).await,
            other => Err(ToolError::new(
                "unknown_tool",
                format!("unknown tool {other:?}"),
            )),
        }
    }

    async fn run_search(
        &self,
        query: &str,
        k: usize,
        refine: bool,
        timeline: &Timeline,
    ) -> Result<SearchOutcome, ToolError> {
        timeline.note(
            "request",
            "received",
            serde_json::json!({
                "query_hash": query_fingerprint(query),
                "query_length": query.chars().count(),
                "k": k,
                "refine": refine,
            }),
        );
        self.state
            .engine
            .search(query, k, refine, timeline)
            .await
            .map_err(|e| ToolError::from(&e))
    }

    async fn semantic_search(
        &self,
        a: SemanticSearchArgs,
        timeline: &Timeline,
        trace_id: &str,
    ) -> Result<ToolOk, ToolError> {
        let k = a.k.unwrap_or(10);
        let outcome = self
            .run_search(&a.query, k, a.refine.unwrap_or(false), timeline)
            .await?;
        let limits = outcome
            .limits
            .iter()
            .map(|l| format!("{}: {}", l.code, l.message))
            .collect();
        Ok(ToolOk {
            value: serde_json::json!({
                "findings": outcome.findings,
                "limits": outcome.limits,
                "gating": outcome.gating,
                "index_version": outcome.index_version,
                "trace_id": trace_id,
            }),
            limits,
        })
    }

    fn chunk_url(&self, path: &str, start: u32, end: u32) -> String {
        format!(
            "file://{}/{path}#L{start}-L{end}",
            self.state.repo_root.display()
        )
    }

    async fn search(&self, a: SearchArgs, timeline: &Timeline) -> Result<ToolOk, ToolError> {
        let outcome = self.run_search(&a.query, 10, false, timeline).await?;
        let limits = outcome
            .limits
            .iter()
            .map(|l| format!("{}: {}", l.code, l.message))
            .collect();
        let results: Vec<serde_json::Value> = outcome
            .findings
            .iter()
            .map(|f| {
                let title = match &f.symbol {
                    Some(s) => format!("{} — {}:{}-{}", s, f.path, f.start_line, f.end_line),
                    None => format!("{}:{}-{}", f.path, f.start_line, f.end_line),
                };
                serde_json::json!({
                    "id": f.id,
                    "title": title,
                    "url": self.chunk_url(&f.path, f.start_line, f.end_line),
                })
            })
            .collect();
        Ok(ToolOk {
            value: serde_json::json!({ "results": results }),
            limits,
        })
    }

    async fn fetch(&self, a: FetchArgs, timeline: &Timeline) -> Result<ToolOk, ToolError> {
        let mut stage = timeline.stage("fetch");
        let index = self.index()?;
        let id = a.id.trim().to_owned();
        if id.is_empty() {
            return Err(ToolError::new(
                "invalid_arguments",
                "`id` is empty; pass an id from `search`",
            ));
        }
        let idx = Arc::clone(&index);
        let lookup = id.clone();
        let span = tracing::Span::current();
        let rows = tokio::task::spawn_blocking(move || {
            span.in_scope(|| idx.catalog.chunks_by_ids(&[lookup]))
        })
        .await
        .map_err(|e| ToolError::new("internal", e.to_string()))?
        .map_err(|e| {
            stage.fail(e.to_string());
            ToolError::new("catalog", format!("reading the catalog failed: {e}"))
        })?;
        let Some(chunk) = rows.into_iter().next() else {
            stage.fail("unknown id");
            return Err(ToolError::new(
                "not_found",
                format!(
                    "no result with id {id:?} in index version {}; ids come from `search` or `semantic_search` \
                     (an id from an older version may be gone after re-indexing)",
                    index.version
                ),
            ));
        };
        let title = match &chunk.symbol {
            Some(s) => format!(
                "{s} — {}:{}-{}",
                chunk.path, chunk.start_line, chunk.end_line
            ),
            None => format!("{}:{}-{}", chunk.path, chunk.start_line, chunk.end_line),
        };
        Ok(ToolOk::plain(serde_json::json!({
            "id": chunk.id,
            "title": title,
            "text": chunk.text,
            "url": self.chunk_url(&chunk.path, chunk.start_line, chunk.end_line),
            "metadata": {
                "path": chunk.path,
                "start_line": chunk.start_line,
                "end_line": chunk.end_line,
                "language": chunk.language,
                "kind": chunk.kind,
                "symbol": chunk.symbol,
                "index_version": index.version,
            },
        })))
    }

    /// The repository's files as indexing saw them, filtered by `glob`:
    /// the loaded version's file list from its catalog (no walk per call;
    /// files added since the last index run show after the next one), or a
    /// walk while no version is loaded yet.
    async fn walk_files(&self, glob: Option<&str>) -> Result<(Vec<Listed>, usize), ToolError> {
        let matcher = match glob.map(str::trim).filter(|g| !g.is_empty()) {
            Some(g) => Some(PathGlob::new(g)?),
            None => None,
        };
        if let Some(index) = self.state.engine.current() {
            let span = tracing::Span::current();
            let root = self.state.repo_root.to_path_buf();
            let files =
                tokio::task::spawn_blocking(move || span.in_scope(|| index.catalog.files()))
                    .await
                    .map_err(|e| ToolError::new("internal", e.to_string()))?
                    .map_err(|e| {
                        ToolError::new("catalog", format!("reading the file list failed: {e}"))
                    })?;
            let total = files.len();
            let mut listed: Vec<Listed> = files
                .into_keys()
                .filter(|p| !p.split('/').any(|part| part == ".." || part.is_empty()))
                .filter(|p| matcher.as_ref().is_none_or(|m| m.is_match(p)))
                .map(|p| Listed {
                    abs_path: root.join(&p),
                    rel_path: p,
                })
                .collect();
            listed.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
            return Ok((listed, total));
        }
        let root = self.state.repo_root.to_path_buf();
        let opts = self.state.walk_options();
        let span = tracing::Span::current();
        let walked =
            tokio::task::spawn_blocking(move || span.in_scope(|| walk::walk(&root, &opts)))
                .await
                .map_err(|e| ToolError::new("internal", e.to_string()))?
                .map_err(|e| {
                    ToolError::new("walk", format!("listing the repository failed: {e}"))
                })?;
        let total = walked.files.len();
        let files = walked
            .files
            .into_iter()
            .filter(|f| matcher.as_ref().is_none_or(|m| m.is_match(&f.rel_path)))
            .filter(|f| f.abs_path.starts_with(&*self.state.repo_root))
            .map(|f| Listed {
                rel_path: f.rel_path,
                abs_path: f.abs_path,
            })
            .collect();
        Ok((files, total))
    }

    async fn text_search(
        &self,
        a: TextSearchArgs,
        timeline: &Timeline,
    ) -> Result<ToolOk, ToolError> {
        let mut stage = timeline.stage("text_search");
        let max = bounded(a.max_results, 100, 1000, "max_results")?;
        let matcher = grep_regex::RegexMatcherBuilder::new()
            .line_terminator(Some(b'\n'))
            .build(&a.pattern)
            .map_err(|e| {
                ToolError::new(
                    "invalid_pattern",
                    format!("`pattern` is not a valid regular expression: {e}"),
                )
            })?;
        let (files, _) = self.walk_files(a.glob.as_deref()).await?;
        let span = tracing::Span::current();
        let result = tokio::task::spawn_blocking(move || {
            span.in_scope(|| grep_files(&matcher, &files, max))
        })
        .await
        .map_err(|e| ToolError::new("internal", e.to_string()))?;
        let (matches, searched, truncated) = result;
        stage.detail(serde_json::json!({ "matches": matches.len(), "files_searched": searched }));
        Ok(ToolOk::plain(serde_json::json!({
            "matches": matches,
            "truncated": truncated,
            "files_searched": searched,
        })))
    }

    async fn open_file(&self, a: OpenFileArgs, timeline: &Timeline) -> Result<ToolOk, ToolError> {
        let mut stage = timeline.stage("open_file");
        // File-system work (canonicalize, stat, read) off the async runtime.
        let root = Arc::clone(&self.state.repo_root);
        let span = tracing::Span::current();
        let result = tokio::task::spawn_blocking(move || span.in_scope(|| open_file(&root, &a)))
            .await
            .map_err(|e| ToolError::new("internal", e.to_string()))
            .and_then(|r| r);
        if let Err(e) = &result {
            stage.fail(e.message.clone());
        }
        result.map(ToolOk::plain)
    }

    async fn list_paths(&self, a: ListPathsArgs, timeline: &Timeline) -> Result<ToolOk, ToolError> {
        let mut stage = timeline.stage("list_paths");
        let limit = bounded(a.limit, 500, 10_000, "limit")?;
        let (files, _) = self.walk_files(a.glob.as_deref()).await?;
        let total = files.len();
        let paths: Vec<&str> = files
            .iter()
            .take(limit)
            .map(|f| f.rel_path.as_str())
            .collect();
        stage.detail(serde_json::json!({ "paths": paths.len(), "total": total }));
        Ok(ToolOk::plain(serde_json::json!({
            "paths": paths,
            "total": total,
            "truncated": total > limit,
        })))
    }

    async fn symbol_search(
        &self,
        a: SymbolSearchArgs,
        timeline: &Timeline,
    ) -> Result<ToolOk, ToolError> {
        let mut stage = timeline.stage("symbol_search");
        let limit = bounded(a.limit, 20, 500, "limit")?;
        if a.name.trim().is_empty() {
            return Err(ToolError::new(
                "invalid_arguments",
                "`name` is empty; pass a symbol name or part of one",
            ));
        }
        let index = self.index()?;
        let idx = Arc::clone(&index);
        let name = a.name.clone();
        let span = tracing::Span::current();
        let rows = tokio::task::spawn_blocking(move || {
            span.in_scope(|| idx.catalog.symbol_search(&name, limit))
        })
        .await
        .map_err(|e| ToolError::new("internal", e.to_string()))?
        .map_err(|e| ToolError::new("catalog", format!("reading the catalog failed: {e}")))?;
        stage.detail(serde_json::json!({ "symbols": rows.len() }));
        let symbols: Vec<serde_json::Value> = rows
            .into_iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name, "kind": s.kind, "path": s.path,
                    "start_line": s.start_line, "end_line": s.end_line,
                })
            })
            .collect();
        Ok(ToolOk::plain(serde_json::json!({
            "symbols": symbols,
            "index_version": index.version,
        })))
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
            let mut work = std::pin::pin!(self.dispatch(&tool, args, &run.timeline, &run.trace_id));
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

// ---------------------------------------------------------------- pure-ish helpers

/// A glob over repository-relative paths; one without `/` matches file names.
struct PathGlob {
    matcher: globset::GlobMatcher,
    name_only: bool,
}

impl PathGlob {
    fn new(glob: &str) -> Result<Self, ToolError> {
        guard::check_relative(glob.trim_start_matches("**/")).map_err(ToolError::from)?;
        let matcher = globset::GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| {
                ToolError::new("invalid_glob", format!("`glob` is not a valid glob: {e}"))
            })?
            .compile_matcher();
        Ok(Self {
            matcher,
            name_only: !glob.contains('/'),
        })
    }

    fn is_match(&self, rel_path: &str) -> bool {
        if self.name_only {
            let name = rel_path.rsplit('/').next().unwrap_or(rel_path);
            self.matcher.is_match(name)
        } else {
            self.matcher.is_match(rel_path)
        }
    }
}

/// A file of the repository as the tools list it.
struct Listed {
    /// Repository-relative, `/`-separated.
    rel_path: String,
    /// Below the canonical repository root.
    abs_path: std::path::PathBuf,
}

/// Regex search over `files`, at most `max` matching lines:
/// (matches, files searched, truncated).
fn grep_files(
    matcher: &grep_regex::RegexMatcher,
    files: &[Listed],
    max: usize,
) -> (Vec<serde_json::Value>, usize, bool) {
    use grep_searcher::{BinaryDetection, SearcherBuilder, sinks::UTF8};
    let mut searcher = SearcherBuilder::new()
        .line_number(true)
        .binary_detection(BinaryDetection::quit(b'\x00'))
        .build();
    let mut matches = Vec::new();
    let mut searched = 0;
    let mut truncated = false;
    for file in files {
        if matches.len() >= max {
            truncated = true;
            break;
        }
        searched += 1;
        let path = file.rel_path.clone();
        let _ = searcher.search_path(
            matcher,
            &file.abs_path,
            UTF8(|line_number, line| {
                if matches.len() >= max {
                    truncated = true;
                    return Ok(false);
                }
                let text = line.trim_end_matches(['\n', '\r']);
                let text: String = text.chars().take(MAX_MATCH_LINE_CHARS).collect();
                matches
                    .push(serde_json::json!({ "path": path, "line": line_number, "text": text }));
                Ok(true)
            }),
        );
    }
    (matches, searched, truncated)
}

/// `open_file`: confine, read, slice lines.
fn open_file(root: &Path, a: &OpenFileArgs) -> Result<serde_json::Value, ToolError> {
    let canonical = guard::resolve(root, &a.path)?;
    let rel = guard::relative_to(root, &canonical).unwrap_or_else(|| a.path.clone());
    let meta = std::fs::metadata(&canonical)
        .map_err(|e| ToolError::new("io", format!("cannot read {rel:?}: {e}")))?;
    if meta.is_dir() {
        return Err(ToolError::new(
            "is_a_folder",
            format!("{rel:?} is a folder; use `list_paths` with a glob like \"{rel}/**\""),
        ));
    }
    if meta.len() > MAX_OPEN_BYTES {
        return Err(ToolError::new(
            "too_large",
            format!(
                "{rel:?} is {} bytes, more than {MAX_OPEN_BYTES}; use `text_search` on it instead",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(&canonical)
        .map_err(|e| ToolError::new("io", format!("cannot read {rel:?}: {e}")))?;
    let text = walk::decode_text(bytes)
        .map_err(|why| ToolError::new("not_text", format!("{rel:?} is not a text file: {why}")))?;
    let lines: Vec<&str> = text.lines().collect();
    let total = lines.len();
    let start = a.start_line.unwrap_or(1);
    if start == 0 {
        return Err(ToolError::new(
            "invalid_arguments",
            "`start_line` is 1-based; got 0",
        ));
    }
    if start > total.max(1) {
        return Err(ToolError::new(
            "invalid_arguments",
            format!("`start_line` {start} is past the end of {rel:?} ({total} lines)"),
        ));
    }
    let end = a.end_line.unwrap_or(start + 399).min(total);
    if end < start && total > 0 {
        return Err(ToolError::new(
            "invalid_arguments",
            format!("`end_line` {end} is before `start_line` {start}"),
        ));
    }
    let end = end.min(start + MAX_OPEN_LINES - 1);
    let slice = if total == 0 {
        &[][..]
    } else {
        &lines[start - 1..end]
    };
    Ok(serde_json::json!({
        "path": rel,
        "start_line": start,
        "end_line": if total == 0 { 0 } else { end },
        "total_lines": total,
        "text": slice.join("\n"),
    }))
}

#[cfg(test)]
mod tests {
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
