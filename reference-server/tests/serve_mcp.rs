//! MCP over streamable HTTP against a real server on 127.0.0.1:0, with the
//! rmcp client pinned to protocol version 2025-11-25: tools and their
//! schemas, one trace per `semantic_search` call with every pipeline span
//! under the tool span, the contract metrics, `traceparent` continuation,
//! the Deep-Research `search`/`fetch` shape, and path confinement.

// Test helpers outside `#[test]` functions unwrap too (a failure is the test failing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;

use std::time::Duration;

use codeintel_server::diagnostics::runpack;
use opentelemetry::trace::{SpanKind, Status};
use rmcp::RoleClient;
use rmcp::ServiceExt as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProtocolVersion, RequestMetaObject,
};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serve_support::*;

type Client = RunningService<RoleClient, ClientConfig>;

async fn connect(base: &str, token: Option<&str>) -> Client {
    let mut cfg = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"));
    if let Some(t) = token {
        cfg = cfg.auth_header(t);
    }
    let transport = StreamableHttpClientTransport::from_config(cfg);
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("serve-mcp-test", "0.0.1"),
    )
    .with_protocol_version(ProtocolVersion::V_2025_11_25);
    let running = client.serve(transport).await.unwrap();
    let server = running.peer_info().expect("server info after initialize");
    assert_eq!(
        server.protocol_version,
        ProtocolVersion::V_2025_11_25,
        "protocol pinned"
    );
    running
}

fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(map) => map,
        other => panic!("tool arguments must be an object, got {other}"),
    }
}

async fn call(client: &Client, tool: &str, arguments: serde_json::Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args(arguments)))
        .await
        .unwrap()
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn json(result: &CallToolResult) -> serde_json::Value {
    assert_ne!(result.is_error, Some(true), "tool failed: {}", text(result));
    serde_json::from_str(&text(result)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn semantic_search_is_one_trace_under_the_tool_span_and_metrics_count_exactly() {
    spans();
    let ws = Workspace::new();
    let mock = embeddings_mock().await;
    let telemetry = own_metrics("serve-mcp-trace");
    let metrics = telemetry.metrics.clone();
    let server = start_ready(
        ws.config(Some(&mock.uri())),
        metrics.clone(),
        Some(openai(&mock.uri(), metrics)),
    )
    .await;
    let client = connect(&server.url(), None).await;

    // tools/list: the contract's three and ours, each with an object schema.
    let tools = client.list_all_tools().await.unwrap();
    let tool_names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for want in [
        "semantic_search",
        "search",
        "fetch",
        "text_search",
        "open_file",
        "list_paths",
        "symbol_search",
    ] {
        assert!(
            tool_names.contains(&want),
            "{want} missing from {tool_names:?}"
        );
    }
    for t in &tools {
        assert_eq!(
            t.input_schema.get("type").and_then(|v| v.as_str()),
            Some("object"),
            "{}",
            t.name
        );
        assert!(t.description.is_some(), "{}", t.name);
    }

    let before = telemetry.registry.render();
    let gating_before = sample_sum(&before, "codeintel_gating_decisions_total", &[]);
    let rrf_before = sample_sum(&before, "codeintel_gating_rrf_k_count", &[]);
    let ambiguity_before = sample_sum(&before, "codeintel_query_ambiguity_count", &[]);

    let query = "score a card transaction for fraud risk";
    let result = call(
        &client,
        "semantic_search",
        serde_json::json!({"query": query, "k": 5}),
    )
    .await;
    let body = json(&result);
    let findings = body["findings"].as_array().unwrap();
    assert!(!findings.is_empty(), "{body}");
    for f in findings {
        for key in ["path", "start_line", "end_line", "score", "snippet"] {
            assert!(!f[key].is_null(), "finding lacks {key}: {f}");
        }
    }
    assert!(body["limits"].as_array().unwrap().is_empty(), "{body}");
    let trace_id = body["trace_id"].as_str().unwrap().to_owned();
    assert_eq!(trace_id.len(), 32);

    // One trace: the pipeline spans all descend from the tool span.
    let trace = trace_with(&trace_id, "tools/call semantic_search").await;
    let tool = trace
        .iter()
        .find(|s| s.name == "tools/call semantic_search")
        .unwrap_or_else(|| panic!("no tool span in {:?}", names(&trace)));
    assert_eq!(tool.span_kind, SpanKind::Server);
    assert_eq!(
        attr_str(tool, "mcp.method.name").as_deref(),
        Some("tools/call")
    );
    assert_eq!(
        attr_str(tool, "gen_ai.tool.name").as_deref(),
        Some("semantic_search")
    );
    assert_eq!(
        attr_str(tool, "gen_ai.operation.name").as_deref(),
        Some("execute_tool")
    );
    assert!(attr_str(tool, "jsonrpc.request.id").is_some());
    assert!(
        attr_str(tool, "mcp.session.id").is_some(),
        "session id recorded over HTTP"
    );
    for name in ["gather_channels", "fuse", "hydrate", "faiss.search"] {
        let span = trace
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} missing from {:?}", names(&trace)));
        assert!(
            descends_from(&trace, span, tool),
            "{name} is not under the tool span"
        );
    }
    let embed = trace
        .iter()
        .find(|s| attr_str(s, "gen_ai.operation.name").as_deref() == Some("embeddings"))
        .unwrap_or_else(|| panic!("no embeddings span in {:?}", names(&trace)));
    assert!(
        descends_from(&trace, embed, tool),
        "the embeddings span is not under the tool span"
    );
    // The tool span itself sits under the HTTP request's SERVER span.
    let http = trace
        .iter()
        .find(|s| s.name == "POST /mcp")
        .expect("HTTP SERVER span for the MCP POST");
    assert!(descends_from(&trace, tool, http));
    // Privacy: no attribute holds the query text.
    for s in &trace {
        for kv in &s.attributes {
            assert!(
                !kv.value.as_str().contains(query),
                "{} carries the query in {}",
                s.name,
                kv.key
            );
        }
    }

    // A refined search: both impl labels now have counts.
    let refined = call(
        &client,
        "semantic_search",
        serde_json::json!({"query": "convert currency", "refine": true}),
    )
    .await;
    json(&refined);
    let after = telemetry.registry.render();
    let delta =
        |metric: &str, before: f64| (sample_sum(&after, metric, &[]) - before).round() as i64;
    assert_eq!(
        delta("codeintel_gating_decisions_total", gating_before),
        2,
        "one gating decision per search"
    );
    assert_eq!(delta("codeintel_gating_rrf_k_count", rrf_before), 2);
    assert_eq!(
        delta("codeintel_query_ambiguity_count", ambiguity_before),
        2
    );
    assert!(
        sample_sum(
            &after,
            "codeintel_faiss_search_latency_seconds_count",
            &["impl=\"ann\""]
        ) >= 1.0,
        "{after}"
    );
    assert!(
        sample_sum(
            &after,
            "codeintel_faiss_search_latency_seconds_count",
            &["impl=\"ann+refine\""]
        ) >= 1.0,
        "{after}"
    );
    assert!(sample_sum(&after, "codeintel_duckdb_execute_seconds_count", &[]) >= 1.0);
    assert!(
        sample_sum(
            &after,
            "codeintel_embed_latency_seconds_count",
            &["client=\"openai\""]
        ) >= 2.0
    );

    // The run is kept: its runpack holds the timeline and the report.
    let pack = reqwest::get(format!("{}/v1/runpack/{trace_id}", server.url()))
        .await
        .unwrap();
    assert_eq!(pack.status(), 200);
    let entries = runpack::unpack(&pack.bytes().await.unwrap()).unwrap();
    let timeline = entries
        .iter()
        .find(|(k, _)| k.ends_with("/timeline.jsonl"))
        .unwrap()
        .1;
    assert!(String::from_utf8_lossy(timeline).contains("gather_channels"));

    client.cancel().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn traceparent_in_meta_is_continued_and_deep_research_shape_round_trips() {
    spans();
    let ws = Workspace::new();
    let metrics = own_metrics("serve-mcp-meta").metrics.clone();
    let server = start_ready(ws.config(None), metrics.clone(), Some(hash(metrics))).await;
    let client = connect(&server.url(), None).await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let mut meta = RequestMetaObject::new();
    meta.set_traceparent(format!("00-{trace_id}-{parent}-01"));
    let mut params = CallToolRequestParams::new("search").with_arguments(args(
        serde_json::json!({"query": "refund a captured payment"}),
    ));
    params.meta = Some(meta);
    let result = client.call_tool(params).await.unwrap();
    let body = json(&result);
    let results = body["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{body}");
    for r in results {
        for key in ["id", "title", "url"] {
            assert!(r[key].is_string(), "{r}");
        }
    }

    let trace = trace_with(trace_id, "tools/call search").await;
    let tool = trace
        .iter()
        .find(|s| s.name == "tools/call search")
        .expect("tool span continued the meta trace");
    assert_eq!(tool.parent_span_id.to_string(), parent);

    // fetch the first id
    let id = results[0]["id"].as_str().unwrap();
    let doc = json(&call(&client, "fetch", serde_json::json!({"id": id})).await);
    assert_eq!(doc["id"], id);
    assert!(!doc["text"].as_str().unwrap().is_empty());
    assert!(doc["metadata"]["path"].is_string());
    let missing = call(&client, "fetch", serde_json::json!({"id": "no-such-id"})).await;
    assert_eq!(missing.is_error, Some(true));
    assert!(
        text(&missing).contains("no result with id"),
        "{}",
        text(&missing)
    );

    // symbols, regex, listing
    let listed = json(&call(&client, "list_paths", serde_json::json!({})).await);
    let paths: Vec<&str> = listed["paths"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert!(paths.len() >= 5, "{paths:?}");
    let py = json(&call(&client, "list_paths", serde_json::json!({"glob": "*.py"})).await);
    assert!(
        py["paths"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| has_extension(p.as_str().unwrap(), "py"))
    );
    let first_symbol_file = paths
        .iter()
        .find(|p| has_extension(p, "py") || has_extension(p, "rs"))
        .unwrap();
    let grep = json(
        &call(
            &client,
            "text_search",
            serde_json::json!({"pattern": "(def|fn) ", "max_results": 5}),
        )
        .await,
    );
    let matches = grep["matches"].as_array().unwrap();
    assert!(!matches.is_empty() && matches.len() <= 5, "{grep}");
    let bad = call(
        &client,
        "text_search",
        serde_json::json!({"pattern": "(unclosed"}),
    )
    .await;
    assert_eq!(bad.is_error, Some(true));
    let opened = json(
        &call(
            &client,
            "open_file",
            serde_json::json!({"path": first_symbol_file, "start_line": 1, "end_line": 3}),
        )
        .await,
    );
    assert_eq!(opened["start_line"], 1);
    let sym_name = grep_symbol_name(matches);
    let symbols = json(
        &call(
            &client,
            "symbol_search",
            serde_json::json!({"name": sym_name}),
        )
        .await,
    );
    assert!(
        !symbols["symbols"].as_array().unwrap().is_empty(),
        "no symbol {sym_name}: {symbols}"
    );

    // wrong arguments are tool errors naming the field
    let wrong = call(
        &client,
        "semantic_search",
        serde_json::json!({"query": "x", "k": "five"}),
    )
    .await;
    assert_eq!(wrong.is_error, Some(true));
    assert!(text(&wrong).contains("`k`"), "{}", text(&wrong));
    let unknown = client
        .call_tool(
            CallToolRequestParams::new("no_such_tool").with_arguments(args(serde_json::json!({}))),
        )
        .await;
    assert!(unknown.is_err(), "an unknown tool is a protocol error");

    client.cancel().await.unwrap();
    server.shutdown().await.unwrap();
}

fn has_extension(path: &str, ext: &str) -> bool {
    std::path::Path::new(path)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// A function name from a `(def|fn) name` match line.
fn grep_symbol_name(matches: &[serde_json::Value]) -> String {
    for m in matches {
        let line = m["text"].as_str().unwrap_or_default();
        for kw in ["def ", "fn "] {
            if let Some(rest) = line.split(kw).nth(1) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name.len() > 2 {
                    return name;
                }
            }
        }
    }
    panic!("no function name in {matches:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn path_arguments_are_confined_to_the_repository() {
    spans();
    let ws = Workspace::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        ws.repo().join("leak.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.repo().join("outside_dir")).unwrap();
    let metrics = own_metrics("serve-mcp-paths").metrics.clone();
    let server = start_ready(ws.config(None), metrics.clone(), Some(hash(metrics))).await;
    let client = connect(&server.url(), None).await;

    let secret = outside.path().join("secret.txt").display().to_string();
    let attempts = [
        "../secret.txt",
        "src/../../secret.txt",
        secret.as_str(),
        "/etc/passwd",
        "leak.txt",
        "outside_dir/secret.txt",
        "%2e%2e/secret.txt",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "..%2fsecret.txt",
        "%252e%252e/secret.txt",
    ];
    for path in attempts {
        let r = call(&client, "open_file", serde_json::json!({"path": path})).await;
        assert_eq!(r.is_error, Some(true), "{path} was not refused");
        let t = text(&r);
        assert!(t.contains("escapes the repository"), "{path}: {t}");
        assert!(!t.contains("top secret"), "{path} leaked the file");
    }
    let listed = json(&call(&client, "list_paths", serde_json::json!({})).await);
    let paths = listed["paths"].to_string();
    assert!(
        !paths.contains("secret"),
        "listing followed a link out: {paths}"
    );
    let refused_glob = call(&client, "list_paths", serde_json::json!({"glob": "../**"})).await;
    assert_eq!(refused_glob.is_error, Some(true));
    let grep = json(
        &call(
            &client,
            "text_search",
            serde_json::json!({"pattern": "top secret"}),
        )
        .await,
    );
    assert!(
        grep["matches"].as_array().unwrap().is_empty(),
        "text_search followed a link out: {grep}"
    );

    // The refusal is an ERROR tool span with error.type.
    let refused = spans_named("tools/call open_file");
    assert!(
        refused.iter().any(
            |s| attr_str(s, "error.type").as_deref() == Some("path_escape")
                && matches!(s.status, Status::Error { .. })
        ),
        "no ERROR open_file span with error.type=path_escape"
    );

    client.cancel().await.unwrap();
    server.shutdown().await.unwrap();
}

fn spans_named(name: &str) -> Vec<opentelemetry_sdk::trace::SpanData> {
    codeintel_server::observability::testing::finished_spans(spans())
        .into_iter()
        .filter(|s| s.name == name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_keeps_dns_rebinding_protection_and_requires_the_token() {
    spans();
    let ws = Workspace::new();
    let mut config = ws.config(None);
    config.token = Some("s3cret-token".into());
    let metrics = own_metrics("serve-mcp-auth").metrics.clone();
    let server = start_ready(config, metrics.clone(), Some(hash(metrics))).await;
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let http = reqwest::Client::new();
    let post = |host: Option<&'static str>, token: Option<&'static str>| {
        let mut r = http
            .post(format!("{}/mcp", server.url()))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init);
        if let Some(h) = host {
            r = r.header("host", h);
        }
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(
        post(None, None).await.unwrap().status(),
        401,
        "MCP needs the token"
    );
    assert_eq!(post(None, Some("wrong")).await.unwrap().status(), 401);
    assert_eq!(
        post(Some("evil.example:80"), Some("s3cret-token"))
            .await
            .unwrap()
            .status(),
        403,
        "foreign Host refused"
    );
    let ok = post(None, Some("s3cret-token")).await.unwrap();
    assert_eq!(ok.status(), 200);
    let origin = http
        .post(format!("{}/mcp", server.url()))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("origin", "https://evil.example")
        .bearer_auth("s3cret-token")
        .body(init)
        .send()
        .await
        .unwrap();
    assert_eq!(origin.status(), 403, "foreign Origin refused");

    let client = connect(&server.url(), Some("s3cret-token")).await;
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 7);
    client.cancel().await.unwrap();
    tokio::time::timeout(Duration::from_secs(15), server.shutdown())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stdio_server_answers_the_same_tools_with_root_tool_spans() {
    use codeintel_server::serve::AppState;
    use codeintel_server::serve::mcp::{McpServer, Transport};
    spans();
    let ws = Workspace::new();
    let metrics = own_metrics("serve-mcp-stdio").metrics.clone();
    let state = AppState::new(ws.config(None), metrics.clone(), Some(hash(metrics))).unwrap();
    state.load_or_build().await.unwrap();
    // stdio is a byte stream: a duplex pipe stands in for stdin/stdout.
    let (server_io, client_io) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let running = McpServer::new(state, Transport::Stdio)
            .serve(server_io)
            .await
            .unwrap();
        running.waiting().await
    });
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("stdio-test", "0.0.1"),
    )
    .with_protocol_version(ProtocolVersion::V_2025_11_25)
    .serve(client_io)
    .await
    .unwrap();
    assert_eq!(
        client
            .peer_info()
            .unwrap()
            .server_info
            .as_ref()
            .unwrap()
            .name,
        "codeintel"
    );
    let body = json(
        &call(
            &client,
            "semantic_search",
            serde_json::json!({"query": "hash a password with a random salt"}),
        )
        .await,
    );
    assert_eq!(
        body["findings"][0]["path"], "auth/password/password.go",
        "{body}"
    );
    let trace_id = body["trace_id"].as_str().unwrap().to_owned();
    let trace = trace_with(&trace_id, "tools/call semantic_search").await;
    let tool = trace
        .iter()
        .find(|s| s.name == "tools/call semantic_search")
        .expect("tool span");
    assert_eq!(
        tool.parent_span_id,
        opentelemetry::trace::SpanId::INVALID,
        "no incoming context: a root span"
    );
    assert_eq!(attr_str(tool, "network.transport").as_deref(), Some("pipe"));
    let hydrate = trace
        .iter()
        .find(|s| s.name == "hydrate")
        .expect("hydrate span");
    assert!(descends_from(&trace, hydrate, tool));
    client.cancel().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
