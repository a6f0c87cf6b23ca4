//! Mutation testing of the suite itself: a [`MutatingSut`] wraps any
//! [`Sut`] (a process from a manifest, or the in-process reference) and
//! rewrites what it emits with one [`Operator`], each meant to break one
//! requirement. `codeintel-conformance mutants` drives every operator and
//! reports, per requirement, whether a mutant breaking it was killed (failed
//! that id) — see [`expect`] for the expectation file and the score.
//!
//! How the proxying works: the harness keeps the addresses it allocated (the
//! [`SutEnv`] it gives [`Sut::start`]); the wrapped SUT is started on fresh
//! ports, and proxies listen on the harness's addresses:
//!
//! - application port → the SUT's (HTTP and MCP, streamed through);
//! - scrape port → the SUT's scrape;
//! - the SUT's OTLP endpoint → the harness's receiver (trace exports decoded,
//!   edited, re-encoded as protobuf);
//! - the SUT's embeddings URL → the harness's embeddings server.
//!
//! Spans an in-process adapter hands over ([`Sut::telemetry`]) get the same
//! edits as exported ones.
//!
//! A proxy cannot change source files: the source operators ([`Operator::plant`])
//! instead have the source lint (LNT-*) judge a copy of the SUT's source
//! tree with a defect planted in it ([`source`]).

pub mod expect;
pub mod proxy;
pub mod rewrite;
pub mod source;

use std::time::Duration;

use futures::future::BoxFuture;

use crate::observe::SutInfo;
use crate::peers::ServerHandle;
use crate::sut::{StartInfo, Sut, SutEnv, SutError, Telemetry};
use proxy::{Role, spawn_proxy};
use rewrite::SpanEdit;

/// One way to break an implementation from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operator {
    ScrapeContentType,
    EmbedDropModelLabel,
    FaissShiftBuckets,
    DuckdbRenameUnit,
    GatingDropClassLabel,
    DropRrfK,
    BatchSizeSumDoubled,
    EmbedCountFrozen,
    AppServesExposition,
    ReadyzNotServer,
    ReparentHydrate,
    StripToolAttributes,
    DropEmbeddingSpans,
    StripServiceResource,
    ReadyzEarlyOk,
    McpHideFetch,
    FindingsWithoutLines,
    McpRewriteHost,
    StripLimits,
    CorruptRunpack,
    EmbedNoTraceparent,
    McpSessionIdNotAscii,
    McpPingError,
    McpToolsWithoutDescription,
    McpDeleteKeepsSession,
    OtlpZeroIdSpan,
    SourceLegacyImport,
    SourceLegacyModule,
}

impl Operator {
    /// Every operator, in catalog order of what it targets.
    pub const ALL: [Self; 28] = [
        Self::ScrapeContentType,
        Self::EmbedDropModelLabel,
        Self::FaissShiftBuckets,
        Self::DuckdbRenameUnit,
        Self::GatingDropClassLabel,
        Self::DropRrfK,
        Self::BatchSizeSumDoubled,
        Self::EmbedCountFrozen,
        Self::AppServesExposition,
        Self::ReadyzNotServer,
        Self::ReparentHydrate,
        Self::StripToolAttributes,
        Self::DropEmbeddingSpans,
        Self::StripServiceResource,
        Self::ReadyzEarlyOk,
        Self::McpHideFetch,
        Self::FindingsWithoutLines,
        Self::McpRewriteHost,
        Self::StripLimits,
        Self::CorruptRunpack,
        Self::EmbedNoTraceparent,
        Self::McpSessionIdNotAscii,
        Self::McpPingError,
        Self::McpToolsWithoutDescription,
        Self::McpDeleteKeepsSession,
        Self::OtlpZeroIdSpan,
        Self::SourceLegacyImport,
        Self::SourceLegacyModule,
    ];

    /// The operator's name on the command line and in the expectation file.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ScrapeContentType => "scrape-content-type",
            Self::EmbedDropModelLabel => "embed-drop-model-label",
            Self::FaissShiftBuckets => "faiss-shift-buckets",
            Self::DuckdbRenameUnit => "duckdb-rename-unit",
            Self::GatingDropClassLabel => "gating-drop-class-label",
            Self::DropRrfK => "drop-rrf-k",
            Self::BatchSizeSumDoubled => "batch-size-sum-doubled",
            Self::EmbedCountFrozen => "embed-count-frozen",
            Self::AppServesExposition => "app-serves-exposition",
            Self::ReadyzNotServer => "readyz-not-server",
            Self::ReparentHydrate => "reparent-hydrate",
            Self::StripToolAttributes => "strip-tool-attributes",
            Self::DropEmbeddingSpans => "drop-embedding-spans",
            Self::StripServiceResource => "strip-service-resource",
            Self::ReadyzEarlyOk => "readyz-early-ok",
            Self::McpHideFetch => "mcp-hide-fetch",
            Self::FindingsWithoutLines => "findings-without-lines",
            Self::McpRewriteHost => "mcp-rewrite-host",
            Self::StripLimits => "strip-limits",
            Self::CorruptRunpack => "corrupt-runpack",
            Self::EmbedNoTraceparent => "embed-no-traceparent",
            Self::McpSessionIdNotAscii => "mcp-session-id-not-ascii",
            Self::McpPingError => "mcp-ping-error",
            Self::McpToolsWithoutDescription => "mcp-tools-without-description",
            Self::McpDeleteKeepsSession => "mcp-delete-keeps-session",
            Self::OtlpZeroIdSpan => "otlp-zero-id-span",
            Self::SourceLegacyImport => "source-legacy-import",
            Self::SourceLegacyModule => "source-legacy-module",
        }
    }

    /// The requirement the operator breaks (what must kill it).
    pub const fn target(self) -> &'static str {
        match self {
            Self::ScrapeContentType => "MET-001",
            Self::EmbedDropModelLabel => "MET-002",
            Self::FaissShiftBuckets => "MET-003",
            Self::DuckdbRenameUnit => "MET-004",
            Self::GatingDropClassLabel => "MET-005",
            Self::DropRrfK => "MET-006",
            Self::BatchSizeSumDoubled => "MET-007",
            Self::EmbedCountFrozen => "MET-008",
            Self::AppServesExposition => "MET-009",
            Self::ReadyzNotServer => "TRC-001",
            Self::ReparentHydrate => "TRC-002",
            Self::StripToolAttributes => "TRC-003",
            // No requirement of the catalog judges outgoing propagation to
            // the embeddings peer; the nearest is TRC-004 (the embedding span
            // in the search trace), so the proxy's traceparent removal is
            // aimed there and recorded as a known survivor.
            Self::DropEmbeddingSpans | Self::EmbedNoTraceparent => "TRC-004",
            Self::StripServiceResource => "TRC-005",
            Self::ReadyzEarlyOk => "API-001",
            Self::McpHideFetch => "API-002",
            Self::FindingsWithoutLines => "API-003",
            Self::McpRewriteHost => "MCP-005",
            Self::StripLimits => "API-004",
            Self::CorruptRunpack => "RUN-001",
            Self::McpSessionIdNotAscii => "MCP-001",
            Self::McpPingError => "MCP-002",
            Self::McpToolsWithoutDescription => "MCP-003",
            Self::McpDeleteKeepsSession => "MCP-004",
            Self::OtlpZeroIdSpan => "TRC-009",
            Self::SourceLegacyImport => "LNT-001",
            Self::SourceLegacyModule => "LNT-002",
        }
    }

    /// What the operator does, in one line.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::ScrapeContentType => "the scrape answers Content-Type text/html",
            Self::EmbedDropModelLabel => {
                "the `model` label is dropped from the embed latency histogram"
            }
            Self::FaissShiftBuckets => {
                "the FAISS latency histogram's bucket bounds are multiplied by 10"
            }
            Self::DuckdbRenameUnit => "the DuckDB histogram is renamed _milliseconds",
            Self::GatingDropClassLabel => "the `class` label is dropped from the gating counter",
            Self::DropRrfK => "the rrf_k histogram is removed from the scrape",
            Self::BatchSizeSumDoubled => "the embed batch size _sum is doubled",
            Self::EmbedCountFrozen => {
                "the embed latency histogram keeps the values of its first scrape (later calls uncounted)"
            }
            Self::AppServesExposition => {
                "GETs the application answers 404 get the scrape's exposition instead"
            }
            Self::ReadyzNotServer => "SERVER spans of GET /readyz are exported as INTERNAL",
            Self::ReparentHydrate => "`hydrate` is reparented under a span that does not exist",
            Self::StripToolAttributes => {
                "gen_ai.tool.name and mcp.method.name are removed from spans"
            }
            Self::DropEmbeddingSpans => "embedding spans are dropped from the export",
            Self::StripServiceResource => {
                "service.name and service.version are removed from the resource"
            }
            Self::ReadyzEarlyOk => "the first /readyz answers 200, before the index is loaded",
            Self::McpHideFetch => "`fetch` is removed from MCP tools/list",
            Self::FindingsWithoutLines => "findings of /v1/search lose start_line and end_line",
            Self::McpRewriteHost => {
                "the Host and Origin headers are rewritten to the SUT's own address"
            }
            Self::StripLimits => "`limits` is removed from /v1/search answers",
            Self::CorruptRunpack => "runpacks are cut to half their bytes",
            Self::EmbedNoTraceparent => "traceparent is removed from the SUT's embeddings requests",
            Self::McpSessionIdNotAscii => {
                "the MCP session id the SUT issues gets a space (outside visible ASCII); ids sent back are restored"
            }
            Self::McpPingError => "MCP `ping` is answered with a JSON-RPC error",
            Self::McpToolsWithoutDescription => "MCP tools/list tools lose their `description`",
            Self::McpDeleteKeepsSession => {
                "DELETE of an MCP session answers 200 but the session stays alive"
            }
            Self::OtlpZeroIdSpan => {
                "each trace export carries one more span with all-zero trace and span ids"
            }
            Self::SourceLegacyImport => {
                "the linted source is a copy with a `prometheus_client` and a `prometheus` import planted"
            }
            Self::SourceLegacyModule => {
                "the linted source is a copy with a legacy `telemetry/prom.py` module planted"
            }
        }
    }

    /// The operator named `name`.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|o| o.name() == name)
            .ok_or_else(|| {
                format!(
                    "`{name}` is not a mutation operator (known: {})",
                    Self::ALL.map(Self::name).join(", ")
                )
            })
    }

    /// What a source operator plants in a copy of the SUT's source tree
    /// (the proxy then forwards everything unchanged).
    pub const fn plant(self) -> Option<source::Plant> {
        match self {
            Self::SourceLegacyImport => Some(source::Plant::LegacyImport),
            Self::SourceLegacyModule => Some(source::Plant::LegacyModule),
            _ => None,
        }
    }

    /// The span edit of a trace operator.
    pub const fn span_edit(self) -> Option<SpanEdit> {
        match self {
            Self::ReadyzNotServer => Some(SpanEdit::ReadyzNotServer),
            Self::ReparentHydrate => Some(SpanEdit::ReparentHydrate),
            Self::StripToolAttributes => Some(SpanEdit::StripToolAttributes),
            Self::DropEmbeddingSpans => Some(SpanEdit::DropEmbeddingSpans),
            Self::StripServiceResource => Some(SpanEdit::StripServiceResource),
            Self::OtlpZeroIdSpan => Some(SpanEdit::AddZeroIdSpan),
            _ => None,
        }
    }
}

/// A [`Sut`] seen through a mutating proxy.
pub struct MutatingSut {
    inner: Box<dyn Sut>,
    op: Operator,
    proxies: Vec<ServerHandle>,
}

impl MutatingSut {
    /// Wrap `inner`; nothing starts until [`Sut::start`].
    pub fn new(inner: Box<dyn Sut>, op: Operator) -> Self {
        Self {
            inner,
            op,
            proxies: Vec::new(),
        }
    }

    async fn start_inner(&mut self, env: &SutEnv) -> Result<StartInfo, SutError> {
        self.proxies.clear();
        let mut inner_env = env.clone();
        inner_env
            .reallocate_ports()
            .map_err(|e| SutError::Other(format!("mutating proxy: no free ports: {e}")))?;
        let proxy_err =
            |e: crate::peers::PeerError| SutError::Other(format!("mutating proxy: {e}"));

        let scrape_upstream = inner_env.metrics_url();
        let app = spawn_proxy(
            Role::App {
                scrape_url: scrape_upstream.clone(),
            },
            self.op,
            env.http_addr,
            &inner_env.http_base(),
        )
        .await
        .map_err(proxy_err)?;
        self.proxies.push(app);

        let scrape_addr = std::net::SocketAddr::new(env.prometheus_addr, env.prometheus_port);
        let scrape = spawn_proxy(
            Role::Scrape,
            self.op,
            scrape_addr,
            &origin(&scrape_upstream),
        )
        .await
        .map_err(proxy_err)?;
        self.proxies.push(scrape);

        let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let otlp = spawn_proxy(Role::Otlp, self.op, any, &origin(&env.otlp_endpoint))
            .await
            .map_err(proxy_err)?;
        inner_env.otlp_endpoint = rebase(&env.otlp_endpoint, otlp.addr());
        self.proxies.push(otlp);

        let embed = spawn_proxy(Role::Embeddings, self.op, any, &origin(&env.embed_url))
            .await
            .map_err(proxy_err)?;
        inner_env.embed_url = rebase(&env.embed_url, embed.addr());
        self.proxies.push(embed);

        self.inner.start(&inner_env).await
    }
}

/// `scheme://host:port` of `url` (the whole text when it does not parse).
fn origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => url.trim_end_matches('/').to_owned(),
    }
}

/// `url` with its host and port replaced by `addr` (path kept).
fn rebase(url: &str, addr: std::net::SocketAddr) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_ip_host(addr.ip());
            let _ = u.set_port(Some(addr.port()));
            u.to_string().trim_end_matches('/').to_owned()
        }
        Err(_) => format!("http://{addr}"),
    }
}

impl Sut for MutatingSut {
    fn info(&self) -> SutInfo {
        let mut info = self.inner.info();
        info.name = format!("{}+{}", info.name, self.op.name());
        info
    }

    fn start_timeout(&self) -> Duration {
        self.inner.start_timeout()
    }

    fn start<'a>(&'a mut self, env: &'a SutEnv) -> BoxFuture<'a, Result<StartInfo, SutError>> {
        Box::pin(self.start_inner(env))
    }

    fn exited(&mut self) -> Option<String> {
        self.inner.exited()
    }

    fn telemetry(&self) -> Option<Telemetry> {
        let mut t = self.inner.telemetry()?;
        if let Some(edit) = self.op.span_edit() {
            rewrite::edit_records(edit, &mut t.spans);
        }
        Some(t)
    }

    fn output_tail(&self) -> String {
        self.inner.output_tail()
    }

    fn truncations(&self) -> Vec<String> {
        self.inner.truncations()
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.stop().await;
            self.proxies.clear();
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_have_unique_names_and_parse_back() {
        let mut names: Vec<&str> = Operator::ALL.iter().map(|o| o.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Operator::ALL.len());
        for o in Operator::ALL {
            assert_eq!(Operator::parse(o.name()), Ok(o));
            assert!(crate::catalog::find(o.target()).is_some(), "{}", o.target());
        }
        let err = Operator::parse("nope").unwrap_err();
        assert!(
            err.contains("`nope`") && err.contains("strip-limits"),
            "{err}"
        );
    }

    #[test]
    fn urls_are_rebased_on_the_proxy() {
        let addr: std::net::SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(
            rebase("http://127.0.0.1:9/v1", addr),
            "http://127.0.0.1:4000/v1"
        );
        assert_eq!(rebase("http://127.0.0.1:9", addr), "http://127.0.0.1:4000");
        assert_eq!(origin("http://127.0.0.1:9/v1/x"), "http://127.0.0.1:9");
    }
}
