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

use crate::contract;
use crate::observe::SutInfo;
use crate::peers::ServerHandle;
use crate::sut::{StartInfo, Sut, SutEnv, SutError, Telemetry};
use proxy::{Role, spawn_proxy};
use rewrite::SpanEdit;

/// Declares [`Operator`] and its table from one row per operator:
/// `Variant = "name", "TARGET-ID", effect, "description";`.
macro_rules! operators {
    ($(
        $(#[$meta:meta])*
        $variant:ident = $name:literal, $target:literal, $effect:expr, $describe:literal;
    )*) => {
        /// One way to break an implementation from outside.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Operator {
            $($variant,)*
        }

        /// How many operators the table declares.
        const OPERATOR_COUNT: usize = [$(stringify!($variant)),*].len();

        impl Operator {
            /// Every operator, in catalog order of what it targets.
            pub const ALL: [Self; OPERATOR_COUNT] = [$(Self::$variant),*];

            /// The operator's name on the command line and in the expectation file.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The requirement the operator breaks (what must kill it).
            pub const fn target(self) -> &'static str {
                match self {
                    $(Self::$variant => $target,)*
                }
            }

            /// What the operator does, in one line.
            pub const fn describe(self) -> &'static str {
                match self {
                    $(Self::$variant => $describe,)*
                }
            }

            /// What the operator changes, and where.
            pub const fn effect(self) -> Effect {
                match self {
                    $(Self::$variant => $effect,)*
                }
            }
        }
    };
}

operators! {
    ScrapeContentType = "scrape-content-type", "MET-001",
        Effect::Scrape(ScrapeEdit::ContentType("text/html; charset=utf-8")),
        "the scrape answers Content-Type text/html";
    EmbedDropModelLabel = "embed-drop-model-label", "MET-002",
        Effect::Scrape(ScrapeEdit::DropLabel { family: contract::EMBED_LATENCY, label: "model" }),
        "the `model` label is dropped from the embed latency histogram";
    FaissShiftBuckets = "faiss-shift-buckets", "MET-003",
        Effect::Scrape(ScrapeEdit::ScaleBuckets { family: contract::FAISS_LATENCY, factor: 10.0 }),
        "the FAISS latency histogram's bucket bounds are multiplied by 10";
    DuckdbRenameUnit = "duckdb-rename-unit", "MET-004",
        Effect::Scrape(ScrapeEdit::Rename {
            family: contract::DUCKDB_EXECUTE,
            to: "codeintel_duckdb_execute_milliseconds",
        }),
        "the DuckDB histogram is renamed _milliseconds";
    GatingDropClassLabel = "gating-drop-class-label", "MET-005",
        Effect::Scrape(ScrapeEdit::DropLabel { family: contract::GATING_DECISIONS, label: "class" }),
        "the `class` label is dropped from the gating counter";
    DropRrfK = "drop-rrf-k", "MET-006",
        Effect::Scrape(ScrapeEdit::DropFamily { family: contract::GATING_RRF_K }),
        "the rrf_k histogram is removed from the scrape";
    BatchSizeSumDoubled = "batch-size-sum-doubled", "MET-007",
        Effect::Scrape(ScrapeEdit::ScaleSum { family: contract::EMBED_BATCH_SIZE, factor: 2.0 }),
        "the embed batch size _sum is doubled";
    EmbedCountFrozen = "embed-count-frozen", "MET-008",
        Effect::Scrape(ScrapeEdit::Freeze { family: contract::EMBED_LATENCY }),
        "the embed latency histogram keeps the values of its first scrape (later calls uncounted)";
    AppServesExposition = "app-serves-exposition", "MET-009",
        Effect::App(AppEdit::ServeExposition),
        "GETs the application answers 404 get the scrape's exposition instead";
    ReadyzNotServer = "readyz-not-server", "TRC-001",
        Effect::Spans(SpanEdit::ReadyzNotServer),
        "SERVER spans of GET /readyz are exported as INTERNAL";
    ReparentHydrate = "reparent-hydrate", "TRC-002",
        Effect::Spans(SpanEdit::ReparentHydrate),
        "`hydrate` is reparented under a span that does not exist";
    StripToolAttributes = "strip-tool-attributes", "TRC-003",
        Effect::Spans(SpanEdit::StripToolAttributes),
        "gen_ai.tool.name and mcp.method.name are removed from spans";
    DropEmbeddingSpans = "drop-embedding-spans", "TRC-004",
        Effect::Spans(SpanEdit::DropEmbeddingSpans),
        "embedding spans are dropped from the export";
    StripServiceResource = "strip-service-resource", "TRC-005",
        Effect::Spans(SpanEdit::StripServiceResource),
        "service.name and service.version are removed from the resource";
    ReadyzEarlyOk = "readyz-early-ok", "API-001",
        Effect::App(AppEdit::ReadyzEarlyOk),
        "the first /readyz answers 200, before the index is loaded";
    McpHideFetch = "mcp-hide-fetch", "API-002",
        Effect::App(AppEdit::HideTool("fetch")),
        "`fetch` is removed from MCP tools/list";
    FindingsWithoutLines = "findings-without-lines", "API-003",
        Effect::App(AppEdit::StripFindingKeys(&["start_line", "end_line"])),
        "findings of /v1/search lose start_line and end_line";
    McpRewriteHost = "mcp-rewrite-host", "MCP-005",
        Effect::App(AppEdit::DropHostOrigin),
        "the Host and Origin headers are rewritten to the SUT's own address";
    StripLimits = "strip-limits", "API-004",
        Effect::App(AppEdit::StripLimits),
        "`limits` is removed from /v1/search answers";
    CorruptRunpack = "corrupt-runpack", "RUN-001",
        Effect::App(AppEdit::HalveRunpacks),
        "runpacks are cut to half their bytes";
    // No requirement of the catalog judges outgoing propagation to the
    // embeddings peer; the nearest is TRC-004 (the embedding span in the
    // search trace), so the proxy's traceparent removal is aimed there and
    // recorded as a known survivor.
    EmbedNoTraceparent = "embed-no-traceparent", "TRC-004",
        Effect::EmbedRequestsWithoutTraceparent,
        "traceparent is removed from the SUT's embeddings requests";
    McpSessionIdNotAscii = "mcp-session-id-not-ascii", "MCP-001",
        Effect::App(AppEdit::GarbleSessionId),
        "the MCP session id the SUT issues gets a space (outside visible ASCII); ids sent back are restored";
    McpPingError = "mcp-ping-error", "MCP-002",
        Effect::App(AppEdit::PingError),
        "MCP `ping` is answered with a JSON-RPC error";
    McpToolsWithoutDescription = "mcp-tools-without-description", "MCP-003",
        Effect::App(AppEdit::ToolsWithoutDescription),
        "MCP tools/list tools lose their `description`";
    McpDeleteKeepsSession = "mcp-delete-keeps-session", "MCP-004",
        Effect::App(AppEdit::DeleteKeepsSession),
        "DELETE of an MCP session answers 200 but the session stays alive";
    OtlpZeroIdSpan = "otlp-zero-id-span", "TRC-009",
        Effect::Spans(SpanEdit::AddZeroIdSpan),
        "each trace export carries one more span with all-zero trace and span ids";
    SourceLegacyImport = "source-legacy-import", "LNT-001",
        Effect::Plant(source::Plant::LegacyImport),
        "the linted source is a copy with a `prometheus_client` and a `prometheus` import planted";
    SourceLegacyModule = "source-legacy-module", "LNT-002",
        Effect::Plant(source::Plant::LegacyModule),
        "the linted source is a copy with a legacy `telemetry/prom.py` module planted";
}

/// What an operator changes, and where. Each kind is carried out in one
/// place: the scrape and application edits by the proxy ([`proxy`]), the
/// span edits by [`rewrite`] (exports and in-memory records alike), the
/// plants by [`source`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect {
    /// The scrape's answers are rewritten.
    Scrape(ScrapeEdit),
    /// The application port's traffic (HTTP API and MCP) is rewritten.
    App(AppEdit),
    /// `traceparent` and `tracestate` are removed from the SUT's requests to
    /// the embeddings server.
    EmbedRequestsWithoutTraceparent,
    /// Spans are edited.
    Spans(SpanEdit),
    /// The source lint judges a copy of the source tree with this planted.
    Plant(source::Plant),
}

/// A rewrite of the scrape's answer; `family` is a contract metric
/// ([`crate::contract`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScrapeEdit {
    /// The answer's `Content-Type` is replaced (the body is kept).
    ContentType(&'static str),
    /// Label `label` is dropped from the family's series.
    DropLabel {
        family: &'static str,
        label: &'static str,
    },
    /// The family's finite bucket bounds are multiplied by `factor`.
    ScaleBuckets { family: &'static str, factor: f64 },
    /// The family is renamed `to` (HELP and TYPE lines included).
    Rename {
        family: &'static str,
        to: &'static str,
    },
    /// The family is removed.
    DropFamily { family: &'static str },
    /// The family's `_sum` samples are multiplied by `factor`.
    ScaleSum { family: &'static str, factor: f64 },
    /// The family keeps the lines of the first scrape that had samples.
    Freeze { family: &'static str },
}

/// A rewrite of the application port's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEdit {
    /// GETs the application answers 404 get the scrape's exposition.
    ServeExposition,
    /// The first `/readyz` is answered 200 by the proxy.
    ReadyzEarlyOk,
    /// The tool is removed from MCP `tools/list` answers.
    HideTool(&'static str),
    /// These keys are removed from the findings of `/v1/search` answers.
    StripFindingKeys(&'static [&'static str]),
    /// The `Host` and `Origin` request headers are removed (the client then
    /// sends the SUT's own address).
    DropHostOrigin,
    /// `limits` is removed from `/v1/search` answers.
    StripLimits,
    /// Runpacks are cut to half their bytes.
    HalveRunpacks,
    /// The session id the SUT issues is garbled, and restored on its way back.
    GarbleSessionId,
    /// MCP `ping` is answered with a JSON-RPC error.
    PingError,
    /// MCP `tools/list` tools lose their `description`.
    ToolsWithoutDescription,
    /// DELETE of an MCP session is answered 200 and never forwarded.
    DeleteKeepsSession,
}

impl Operator {
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
        match self.effect() {
            Effect::Plant(plant) => Some(plant),
            _ => None,
        }
    }

    /// The span edit of a trace operator.
    pub const fn span_edit(self) -> Option<SpanEdit> {
        match self.effect() {
            Effect::Spans(edit) => Some(edit),
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
    fn scrape_edits_name_contract_metrics_and_kinds_match_their_targets() {
        for o in Operator::ALL {
            match o.effect() {
                Effect::Scrape(edit) => {
                    assert!(o.target().starts_with("MET-"), "{}", o.name());
                    let family = match edit {
                        ScrapeEdit::ContentType(_) => continue,
                        ScrapeEdit::DropLabel { family, .. }
                        | ScrapeEdit::ScaleBuckets { family, .. }
                        | ScrapeEdit::Rename { family, .. }
                        | ScrapeEdit::DropFamily { family }
                        | ScrapeEdit::ScaleSum { family, .. }
                        | ScrapeEdit::Freeze { family } => family,
                    };
                    assert!(
                        contract::METRICS.contains(&family),
                        "{}: {family}",
                        o.name()
                    );
                }
                Effect::Plant(_) => assert!(o.target().starts_with("LNT-"), "{}", o.name()),
                Effect::Spans(_) => assert!(o.target().starts_with("TRC-"), "{}", o.name()),
                Effect::App(_) | Effect::EmbedRequestsWithoutTraceparent => {}
            }
            assert_eq!(o.plant().is_some(), matches!(o.effect(), Effect::Plant(_)));
            assert_eq!(
                o.span_edit().is_some(),
                matches!(o.effect(), Effect::Spans(_))
            );
        }
        assert_eq!(Operator::FaissShiftBuckets.span_edit(), None);
        assert_eq!(
            Operator::OtlpZeroIdSpan.span_edit(),
            Some(SpanEdit::AddZeroIdSpan)
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
