//! The tool table and the tools: one row per tool ([`tool_table!`] makes
//! `TOOL_NAMES`, [`tools`] and the dispatch from it), each row's arguments
//! type (its JSON schema is the tool's input schema) and its method on
//! [`McpServer`].
//!
//! A new tool is one row here, its arguments struct and its method.

use std::sync::Arc;

use rmcp::model::{Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Deserialize;

pub use super::files::OpenFileArgs;
use super::files::{Listed, PathGlob, grep_files, open_file};
use super::{McpServer, ToolError, ToolOk, bounded, parse_args};
use crate::diagnostics::timeline::Timeline;
use crate::index::walk;
use crate::search::engine::{SearchOutcome, query_fingerprint};

/// Declares the tools, one row each: `method(ArgsType) "Title" =>
/// "description";`. The row's order is the `tools/list` order.
macro_rules! tool_table {
    ($( $name:ident ( $args:ty ) $title:literal => $description:expr ; )+) => {
        const TOOL_COUNT: usize = [$(stringify!($name)),+].len();

        /// The tools this server offers, in `tools/list` order.
        pub const TOOL_NAMES: [&str; TOOL_COUNT] = [$(stringify!($name)),+];

        /// The tool definitions (name, title, description, input schema,
        /// annotations).
        pub fn tools() -> Vec<Tool> {
            vec![$(tool::<$args>(stringify!($name), $title, $description)),+]
        }

        impl McpServer {
            /// Runs tool `tool` on its parsed arguments; an unknown name is
            /// an `unknown_tool` error.
            pub(super) async fn dispatch(
                &self,
                tool: &str,
                args: serde_json::Map<String, serde_json::Value>,
                call: &Call<'_>,
            ) -> Result<ToolOk, ToolError> {
                match tool {
                    $(stringify!($name) => self.$name(parse_args(tool, args)?, call).await,)+
                    other => Err(ToolError::new(
                        "unknown_tool",
                        format!("unknown tool {other:?}"),
                    )),
                }
            }
        }
    };
}

tool_table! {
    semantic_search(SemanticSearchArgs) "Semantic code search" =>
        "Hybrid code search over the indexed repository: dense embeddings (FAISS) and BM25 fused by \
             reciprocal rank. Returns JSON {findings: [{id, path, start_line, end_line, score, snippet, \
             symbol, channels}], limits, gating, index_version, trace_id}. `limits` lists what was degraded \
             (e.g. the embeddings server is down and the answer comes from BM25 only).";
    search(SearchArgs) "Search (ids)" =>
        "Search the repository and return result ids to `fetch`: JSON {results: [{id, title, url}]}.";
    fetch(FetchArgs) "Fetch a result" =>
        "Fetch one result by id (from `search` or `semantic_search`): JSON {id, title, text, url, metadata}.";
    text_search(TextSearchArgs) "Regex search" =>
        "Search the repository's files line by line with a regular expression (ripgrep engine). \
             Returns JSON {matches: [{path, line, text}], truncated, files_searched}.";
    open_file(OpenFileArgs) "Open a file" =>
        "Read a range of lines of a file of the repository (path relative to its root; paths outside \
             it are refused). Returns JSON {path, start_line, end_line, total_lines, text}.";
    list_paths(ListPathsArgs) "List files" =>
        "List the repository's files (as indexed: ignored, hidden, binary and oversized files are left \
             out), optionally filtered by a glob. Returns JSON {paths, total, truncated}.";
    symbol_search(SymbolSearchArgs) "Find symbols" =>
        "Find symbol definitions (functions, classes, methods, types) by name. Returns JSON \
             {symbols: [{name, kind, path, start_line, end_line}], index_version}.";
}

/// What a tool call gives its tool besides the arguments: the run it
/// records into.
#[derive(Clone, Copy)]
pub(super) struct Call<'a> {
    pub timeline: &'a Timeline,
    pub trace_id: &'a str,
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

impl McpServer {
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
        call: &Call<'_>,
    ) -> Result<ToolOk, ToolError> {
        let timeline = call.timeline;
        let trace_id = call.trace_id;
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

    async fn search(&self, a: SearchArgs, call: &Call<'_>) -> Result<ToolOk, ToolError> {
        let timeline = call.timeline;
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

    async fn fetch(&self, a: FetchArgs, call: &Call<'_>) -> Result<ToolOk, ToolError> {
        let timeline = call.timeline;
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

    async fn text_search(&self, a: TextSearchArgs, call: &Call<'_>) -> Result<ToolOk, ToolError> {
        let timeline = call.timeline;
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

    async fn open_file(&self, a: OpenFileArgs, call: &Call<'_>) -> Result<ToolOk, ToolError> {
        let timeline = call.timeline;
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

    async fn list_paths(&self, a: ListPathsArgs, call: &Call<'_>) -> Result<ToolOk, ToolError> {
        let timeline = call.timeline;
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
        call: &Call<'_>,
    ) -> Result<ToolOk, ToolError> {
        let timeline = call.timeline;
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
}
