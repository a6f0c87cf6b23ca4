//! MCP over streamable HTTP: the harness's rmcp client (connect, `tools/list`,
//! traced `semantic_search`) and the official MCP suite's scenarios.

use std::time::Instant;

use futures::StreamExt as _;
use rmcp::ServiceExt as _;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, MetaObject,
    RequestMetaObject,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::mcp_suite::{self, McpSuiteSetting};
use crate::observe::{McpExchange, McpSuiteOutcome, McpSuiteState, steps};
use crate::sut::process::error_chain;

use super::{DriveConfig, Driver, MCP_PROTOCOL_VERSION, Target, Traceparent};

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

pub(super) type McpClient = RunningService<RoleClient, ClientConfig>;

impl Driver<'_> {
    pub(super) async fn mcp_connect(&mut self) -> Option<McpClient> {
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

    pub(super) async fn mcp_list(&mut self, client: Option<&McpClient>) {
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

    pub(super) async fn mcp_search(&mut self, client: Option<&McpClient>, step: &str, query: &str) {
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
}
