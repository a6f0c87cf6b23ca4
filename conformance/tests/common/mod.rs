//! A recorded-looking good run, built in code, with knobs that break exactly
//! one behaviour each. Shared by the `checks_*` integration tests.

// Test helpers: a failed unwrap is a failed test.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use base64::Engine as _;
use codeintel_conformance::checks::{self, CheckResult, Outcome};
use codeintel_conformance::mcp_suite;
use codeintel_conformance::observe::{
    AttrValue, Attributes, EmbedRequest, HttpExchange, LintOutcome, LogRecord, McpExchange,
    McpScenarioRun, McpSuiteCheck, McpSuiteOutcome, McpSuiteState, Observations, PhaseTiming,
    Scrape, SpanEvent, SpanKind, SpanRecord, Startup, StatusCode, SutInfo, ToolRun, steps,
};
use serde_json::{Value, json};

pub const SERVICE: &str = "codeintel-sut";
pub const T_READY: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const T_MCP: &str = "11111111111111111111111111111111";
pub const T_TRACEPARENT: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub const TRACEPARENT_PARENT: &str = "00f067aa0ba902b7";
pub const T_FAULT: &str = "33333333333333333333333333333333";
pub const T_OTHER: &str = "99999999999999999999999999999999";

pub const B: [&str; 11] = [
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];

pub const MCP_QUERY: &str = "where is reciprocal rank fusion computed";
pub const MCP_FAULT_QUERY: &str = "what happens when embeddings fail";

/// What the simulated implementation does; the default is a conforming one.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// Bucket bounds of `codeintel_embed_latency_seconds`.
    pub embed_buckets: Vec<&'static str>,
    /// Labels of the embed latency and batch-size series (before `outcome`).
    pub embed_labels: &'static str,
    /// Calls counted in embed latency minus calls made (from the searches on).
    pub embed_count_offset: i64,
    /// Failed embed calls are counted in embed latency.
    pub count_failed_embeds: bool,
    /// Refined searches are recorded as `impl="ann+refine"`.
    pub record_refine: bool,
    /// Name of the DuckDB histogram.
    pub duckdb_name: &'static str,
    /// Gating decisions counted per search.
    pub gating_per_search: u64,
    /// `gating_rrf_k` observations per search.
    pub rrf_per_search: u64,
    /// Added to the batch-size sum at the final scrape.
    pub final_batch_offset: i64,
    /// A counter labelled with the raw query text.
    pub query_label: bool,
    /// An extra `_milliseconds` histogram.
    pub millis_family: bool,
    /// `service_name` of `target_info`.
    pub target_service: &'static str,
    /// Every search also records `impl="ann+refine"` (besides its own impl).
    pub refine_every_search: bool,
    /// One `ann` and one `ann+refine` observation at start-up (a warm-up),
    /// and none per search.
    pub faiss_warmup_only: bool,
    /// Searches time their hydrate statement (false: DuckDB only at start-up).
    pub hydrate_timed: bool,
    /// Searches of the fault phase (embeddings failing) are gated and counted.
    pub gate_fault_searches: bool,
    /// Factor on every recorded latency (1000: milliseconds in `_seconds`).
    pub latency_scale: f64,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            embed_buckets: B.to_vec(),
            embed_labels: "client=\"openai\",model=\"m\"",
            embed_count_offset: 0,
            count_failed_embeds: true,
            record_refine: true,
            duckdb_name: "codeintel_duckdb_execute_seconds",
            gating_per_search: 1,
            rrf_per_search: 1,
            final_batch_offset: 0,
            query_label: false,
            millis_family: false,
            target_service: SERVICE,
            refine_every_search: false,
            faiss_warmup_only: false,
            hydrate_timed: true,
            gate_fault_searches: true,
            latency_scale: 1.0,
        }
    }
}

/// Cumulative instrument state at one scrape.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    embed_ok: u64,
    embed_err: u64,
    batch_calls: u64,
    batch_sum: u64,
    faiss_ann: u64,
    faiss_refine: u64,
    duckdb: u64,
    lexical: u64,
    semantic: u64,
    rrf_k: u64,
    ambiguity: u64,
}

const SCOPE: &str = "otel_scope_name=\"codeintel\"";

fn hist(
    out: &mut String,
    name: &str,
    help: &str,
    labels: &str,
    bounds: &[&str],
    count: u64,
    sum: f64,
) {
    if count == 0 {
        return;
    }
    if !out.contains(&format!("# TYPE {name} histogram")) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    }
    let labels = if labels.is_empty() {
        SCOPE.to_owned()
    } else {
        format!("{labels},{SCOPE}")
    };
    for (i, le) in bounds.iter().enumerate() {
        let c = if i == 0 { 0 } else { count };
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {c}");
    }
    let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
    let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
}

fn exposition(c: &Counts, k: &Knobs, queries: &[String]) -> String {
    let mut out = String::new();
    hist(
        &mut out,
        k.duckdb_name,
        "Duration of one DuckDB catalog statement.",
        "",
        &B,
        c.duckdb,
        c.duckdb as f64 * 0.002 * k.latency_scale,
    );
    hist(
        &mut out,
        "codeintel_embed_batch_size",
        "Texts sent in one embeddings request.",
        k.embed_labels,
        &["1", "2", "4", "8", "16", "32", "64", "128", "256", "+Inf"],
        c.batch_calls,
        c.batch_sum as f64,
    );
    let ok_labels = format!("{},outcome=\"ok\"", k.embed_labels);
    let err_labels = format!("{},outcome=\"error\"", k.embed_labels);
    let help = "Duration of one embeddings request, failed ones included.";
    hist(
        &mut out,
        "codeintel_embed_latency_seconds",
        help,
        &ok_labels,
        &k.embed_buckets,
        c.embed_ok,
        c.embed_ok as f64 * 0.004 * k.latency_scale,
    );
    hist(
        &mut out,
        "codeintel_embed_latency_seconds",
        help,
        &err_labels,
        &k.embed_buckets,
        c.embed_err,
        c.embed_err as f64 * 0.2 * k.latency_scale,
    );
    let help = "Duration of one FAISS search, by implementation (ann, ann+refine).";
    hist(
        &mut out,
        "codeintel_faiss_search_latency_seconds",
        help,
        "impl=\"ann\"",
        &B,
        c.faiss_ann,
        c.faiss_ann as f64 * 0.001 * k.latency_scale,
    );
    hist(
        &mut out,
        "codeintel_faiss_search_latency_seconds",
        help,
        "impl=\"ann+refine\"",
        &B,
        c.faiss_refine,
        c.faiss_refine as f64 * 0.002 * k.latency_scale,
    );
    if c.lexical + c.semantic > 0 {
        out.push_str(
            "# HELP codeintel_gating_decisions_total Query gating decisions, one per search.\n",
        );
        out.push_str("# TYPE codeintel_gating_decisions_total counter\n");
        for (class, rm3, n) in [
            ("identifier", "false", c.lexical),
            ("nl", "true", c.semantic),
        ] {
            if n > 0 {
                let _ = writeln!(
                    out,
                    "codeintel_gating_decisions_total{{class=\"{class}\",rm3=\"{rm3}\",{SCOPE}}} {n}"
                );
            }
        }
    }
    hist(
        &mut out,
        "codeintel_gating_rrf_k",
        "RRF k chosen by query gating, one per search.",
        "",
        &["10", "20", "40", "60", "90", "120", "200", "+Inf"],
        c.rrf_k,
        c.rrf_k as f64 * 60.0,
    );
    hist(
        &mut out,
        "codeintel_query_ambiguity",
        "Ambiguity score of a query in [0, 1], one per search.",
        "",
        &[
            "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1", "+Inf",
        ],
        c.ambiguity,
        c.ambiguity as f64 * 0.3,
    );
    if k.millis_family && c.duckdb > 0 {
        hist(
            &mut out,
            "codeintel_hydrate_latency_milliseconds",
            "Hydrate time.",
            "",
            &["1", "10", "100", "+Inf"],
            c.duckdb,
            12.0,
        );
    }
    if k.query_label && !queries.is_empty() {
        out.push_str("# TYPE codeintel_queries_total counter\n");
        for q in queries {
            let _ = writeln!(out, "codeintel_queries_total{{query=\"{q}\",{SCOPE}}} 1");
        }
    }
    out.push_str("# HELP target_info Target metadata\n# TYPE target_info gauge\n");
    let _ = writeln!(
        out,
        "target_info{{service_name=\"{}\",service_version=\"0.1.0\",telemetry_sdk_language=\"rust\",telemetry_sdk_name=\"opentelemetry\",telemetry_sdk_version=\"0.33.0\"}} 1",
        k.target_service
    );
    out
}

/// What the harness had done before one scrape.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    searches: u32,
    refined: u32,
    wall_ms: u64,
}

fn scrape(step: &str, tally: Tally, distinct: u32, seen: u32, texts: u32, body: String) -> Scrape {
    Scrape {
        step: step.to_owned(),
        searches_done: tally.searches,
        refine_searches_done: tally.refined,
        searches_sent: tally.searches,
        search_wall_ms: tally.wall_ms,
        accept: None,
        distinct_queries: distinct,
        embed_requests_seen: seen,
        embed_texts_seen: texts,
        status: Some(200),
        content_type: Some("text/plain; version=0.0.4; charset=utf-8".to_owned()),
        body,
        error: None,
    }
}

fn finding(path: &str, score: f64) -> Value {
    json!({
        "path": path,
        "start_line": 10,
        "end_line": 42,
        "score": score,
        "snippet": format!("// {path}\nfn example() {{}}"),
    })
}

fn answer(paths: &[&str], limits: &[&str]) -> String {
    let findings: Vec<Value> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| finding(p, 1.0 - i as f64 * 0.05))
        .collect();
    json!({"findings": findings, "limits": limits}).to_string()
}

const FILLER: [&str; 6] = [
    "src/lib.rs",
    "src/main.rs",
    "src/config.rs",
    "src/serve/http.rs",
    "src/index/walk.rs",
    "src/embed/openai.rs",
];

fn search(step: &str, query: &str, refine: bool, body: String) -> HttpExchange {
    HttpExchange {
        step: step.to_owned(),
        method: "POST".to_owned(),
        path: "/v1/search".to_owned(),
        request_body: Some(json!({"query": query, "k": 10, "refine": refine}).to_string()),
        status: Some(200),
        content_type: Some("application/json".to_owned()),
        body,
        elapsed_ms: 12,
        ..HttpExchange::default()
    }
}

fn get(step: &str, path: &str, status: u16, body: &str) -> HttpExchange {
    HttpExchange {
        step: step.to_owned(),
        method: "GET".to_owned(),
        path: path.to_owned(),
        status: Some(status),
        content_type: Some("text/plain".to_owned()),
        body: body.to_owned(),
        elapsed_ms: 1,
        ..HttpExchange::default()
    }
}

/// A gzip-compressed tar of `files`, base64.
pub fn targz_base64(files: &[(&str, &str)]) -> String {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, path, text.as_bytes())
            .unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())
}

fn runpack(step: &str, trace: &str, files: &[(&str, &str)]) -> HttpExchange {
    HttpExchange {
        step: step.to_owned(),
        method: "GET".to_owned(),
        path: format!("/v1/runpack/{trace}"),
        status: Some(200),
        content_type: Some("application/gzip".to_owned()),
        body_base64: Some(targz_base64(files)),
        elapsed_ms: 5,
        ..HttpExchange::default()
    }
}

fn tool_result(findings: &[&str], limits: &[&str]) -> Value {
    let structured: Value = serde_json::from_str(&answer(findings, limits)).unwrap();
    json!({
        "content": [{"type": "text", "text": structured.to_string()}],
        "structuredContent": structured,
        "isError": false,
    })
}

fn mcp_call(step: &str, query: &str, result: Value) -> McpExchange {
    McpExchange {
        step: step.to_owned(),
        method: "tools/call".to_owned(),
        tool: Some("semantic_search".to_owned()),
        arguments: Some(json!({"query": query, "k": 5})),
        result: Some(result),
        elapsed_ms: 20,
        ..McpExchange::default()
    }
}

fn resource() -> Attributes {
    let mut r = Attributes::new();
    r.insert("service.name".into(), AttrValue::Str(SERVICE.into()));
    r.insert("service.version".into(), AttrValue::Str("0.1.0".into()));
    r.insert(
        "telemetry.sdk.language".into(),
        AttrValue::Str("rust".into()),
    );
    r
}

pub fn span(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    name: &str,
    kind: SpanKind,
    start: u64,
) -> SpanRecord {
    SpanRecord {
        trace_id: trace.to_owned(),
        span_id: id.to_owned(),
        parent_span_id: parent.map(str::to_owned),
        name: name.to_owned(),
        kind,
        start_unix_nano: start,
        end_unix_nano: start + 1_000_000,
        resource: resource(),
        scope: "codeintel".to_owned(),
        ..SpanRecord::default()
    }
}

fn with(mut s: SpanRecord, attrs: &[(&str, &str)]) -> SpanRecord {
    for (k, v) in attrs {
        s.attributes
            .insert((*k).to_owned(), AttrValue::Str((*v).to_owned()));
    }
    s
}

/// The spans of one `semantic_search` call; ids are prefixed by `p`.
fn search_trace(trace: &str, p: &str, t0: u64, fault: bool) -> Vec<SpanRecord> {
    let id = |n: u32| format!("{p}{n:014x}");
    let mut spans = vec![
        with(
            span(trace, &id(1), None, "POST /mcp", SpanKind::Server, t0),
            &[("http.route", "/mcp"), ("url.path", "/mcp")],
        ),
        with(
            span(
                trace,
                &id(2),
                Some(id(1).as_str()),
                "tools/call semantic_search",
                SpanKind::Internal,
                t0 + 1,
            ),
            &[
                ("gen_ai.tool.name", "semantic_search"),
                ("mcp.method.name", "tools/call"),
                ("gen_ai.operation.name", "execute_tool"),
            ],
        ),
        span(
            trace,
            &id(3),
            Some(id(2).as_str()),
            "search",
            SpanKind::Internal,
            t0 + 2,
        ),
        with(
            span(
                trace,
                &id(4),
                Some(id(3).as_str()),
                "gate",
                SpanKind::Internal,
                t0 + 3,
            ),
            &[("codeintel.gating.class", "semantic")],
        ),
        span(
            trace,
            &id(5),
            Some(id(3).as_str()),
            "gather_channels",
            SpanKind::Internal,
            t0 + 4,
        ),
        with(
            span(
                trace,
                &id(6),
                Some(id(5).as_str()),
                "embeddings m",
                SpanKind::Client,
                t0 + 5,
            ),
            &[
                ("gen_ai.operation.name", "embeddings"),
                ("gen_ai.request.model", "m"),
                ("server.address", "127.0.0.1"),
            ],
        ),
        with(
            span(
                trace,
                &id(8),
                Some(id(5).as_str()),
                "sparse.search",
                SpanKind::Internal,
                t0 + 6,
            ),
            &[("db.system.name", "tantivy")],
        ),
        span(
            trace,
            &id(9),
            Some(id(3).as_str()),
            "fuse",
            SpanKind::Internal,
            t0 + 8,
        ),
        span(
            trace,
            &id(10),
            Some(id(3).as_str()),
            "hydrate",
            SpanKind::Internal,
            t0 + 9,
        ),
        with(
            span(
                trace,
                &id(11),
                Some(id(10).as_str()),
                "duckdb.execute",
                SpanKind::Client,
                t0 + 10,
            ),
            &[("db.system.name", "duckdb")],
        ),
    ];
    if fault {
        let e = &mut spans[5];
        e.status = StatusCode::Error;
        "embeddings server answered 500".clone_into(&mut e.status_message);
        let mut attrs = Attributes::new();
        attrs.insert(
            "exception.type".into(),
            AttrValue::Str("EmbedError::Status".into()),
        );
        attrs.insert(
            "exception.message".into(),
            AttrValue::Str("embeddings server answered 500".into()),
        );
        e.events.push(SpanEvent {
            name: "exception".to_owned(),
            attributes: attrs,
        });
    } else {
        spans.push(with(
            span(
                trace,
                &id(7),
                Some(id(5).as_str()),
                "faiss.search",
                SpanKind::Internal,
                t0 + 5,
            ),
            &[("db.system.name", "faiss"), ("codeintel.faiss.impl", "ann")],
        ));
    }
    spans
}

/// The good run under `knobs`.
pub fn build(k: &Knobs) -> Observations {
    let mut http = Vec::new();
    let mut mcp = Vec::new();
    let mut queries: Vec<String> = Vec::new();
    let mut embeds: Vec<EmbedRequest> = Vec::new();
    let ok = |inputs: u32| EmbedRequest {
        model: Some("m".to_owned()),
        inputs,
        answered: "ok".to_owned(),
        status: 200,
    };
    // Index build: three batches.
    embeds.extend([ok(8), ok(8), ok(4)]);

    // The harness probes repeatedly while it holds the index load.
    for _ in 0..3 {
        http.push(get(steps::PROBE_NOT_READY, "/healthz", 200, "ok"));
        http.push(get(steps::PROBE_NOT_READY, "/readyz", 503, "loading index"));
    }
    http.push(get(steps::PROBE_READY, "/readyz", 200, "ready"));
    http.push(get(steps::PROBE_READY, "/healthz", 200, "ok"));
    http.push(get(steps::APP_METRICS, "/metrics", 404, "not found"));

    let mut c = Counts {
        embed_ok: 3,
        batch_calls: 3,
        batch_sum: 20,
        duckdb: 5,
        ..Counts::default()
    };
    if k.faiss_warmup_only {
        c.faiss_ann = 1;
        c.faiss_refine = 1;
    }
    let seen = |e: &[EmbedRequest]| e.len() as u32;
    let texts = |e: &[EmbedRequest]| e.iter().map(|r| r.inputs).sum::<u32>();
    let mut scrapes = vec![scrape(
        steps::SCRAPE_BASELINE,
        Tally::default(),
        0,
        seen(&embeds),
        texts(&embeds),
        exposition(&c, k, &queries),
    )];

    mcp.push(McpExchange {
        step: steps::MCP_LIST.to_owned(),
        method: "tools/list".to_owned(),
        result: Some(json!({"tools": [
            {"name": "semantic_search", "description": "Search code by meaning.", "inputSchema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}},
            {"name": "search", "description": "Search (ChatGPT connector shape).", "inputSchema": {"type": "object", "properties": {"query": {"type": "string"}}}},
            {"name": "fetch", "description": "Fetch a file by id.", "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}}}
        ]})),
        elapsed_ms: 3,
        ..McpExchange::default()
    });

    // The counted searches (in the drive's order: MCP, plain, refined,
    // traceparent; then the cardinality searches; then the golden ones).
    let mut tally = Tally::default();
    let do_search = |c: &mut Counts,
                     q: &str,
                     refine: bool,
                     embeds: &mut Vec<EmbedRequest>,
                     queries: &mut Vec<String>,
                     lexical: bool| {
        embeds.push(ok(1));
        c.embed_ok += 1;
        c.batch_calls += 1;
        c.batch_sum += 1;
        if !k.faiss_warmup_only {
            if refine && k.record_refine {
                c.faiss_refine += 1;
            } else {
                c.faiss_ann += 1;
                if k.refine_every_search {
                    c.faiss_refine += 1;
                }
            }
        }
        if k.hydrate_timed {
            c.duckdb += 1;
        }
        if lexical {
            c.lexical += k.gating_per_search;
        } else {
            c.semantic += k.gating_per_search;
        }
        c.rrf_k += k.rrf_per_search;
        c.ambiguity += 1;
        if !queries.iter().any(|x| x == q) {
            queries.push(q.to_owned());
        }
    };
    mcp.push(mcp_call(
        steps::MCP_SEARCH,
        MCP_QUERY,
        tool_result(&["src/search/fusion.rs", "src/search/engine.rs"], &[]),
    ));
    do_search(&mut c, MCP_QUERY, false, &mut embeds, &mut queries, false);
    tally.searches += 1;
    tally.wall_ms += 20;
    for (q, lexical) in [
        ("open the duckdb catalog", true),
        ("tantivy bm25 sparse channel", true),
    ] {
        http.push(search(steps::SEARCH_PLAIN, q, false, answer(&FILLER, &[])));
        do_search(&mut c, q, false, &mut embeds, &mut queries, lexical);
        tally.searches += 1;
        tally.wall_ms += 12;
    }
    let q = "exact refine of faiss candidates";
    http.push(search(steps::SEARCH_REFINE, q, true, answer(&FILLER, &[])));
    do_search(&mut c, q, true, &mut embeds, &mut queries, false);
    tally.searches += 1;
    tally.refined += 1;
    tally.wall_ms += 12;
    let q = "how are spans exported";
    let mut x = search(steps::SEARCH_TRACEPARENT, q, false, answer(&FILLER, &[]));
    x.trace_id_sent = Some(T_TRACEPARENT.to_owned());
    x.parent_span_id_sent = Some(TRACEPARENT_PARENT.to_owned());
    http.push(x);
    do_search(&mut c, q, false, &mut embeds, &mut queries, false);
    tally.searches += 1;
    tally.wall_ms += 12;

    let mut counted = c;
    counted.embed_ok = counted.embed_ok.saturating_add_signed(k.embed_count_offset);
    scrapes.push(scrape(
        steps::SCRAPE_AFTER_SEARCHES,
        tally,
        queries.len() as u32,
        seen(&embeds),
        texts(&embeds),
        exposition(&counted, k, &queries),
    ));

    // Many distinct query texts.
    for i in 0..20 {
        let q = format!("cardinality probe query number {i:02}");
        http.push(search(
            steps::SEARCH_CARDINALITY,
            &q,
            false,
            answer(&FILLER, &[]),
        ));
        do_search(&mut c, &q, false, &mut embeds, &mut queries, i % 2 == 0);
        tally.searches += 1;
        tally.wall_ms += 12;
    }
    let mut counted = c;
    counted.embed_ok = counted.embed_ok.saturating_add_signed(k.embed_count_offset);
    scrapes.push(scrape(
        steps::SCRAPE_AFTER_CARDINALITY,
        tally,
        queries.len() as u32,
        seen(&embeds),
        texts(&embeds),
        exposition(&counted, k, &queries),
    ));

    // The golden queries (API-003), between the cardinality scrape and the
    // fault phase, as in the drive.
    for (q, expected, lexical) in [
        ("reciprocal rank fusion", "src/search/fusion.rs", false),
        ("catalog schema for chunks", "src/store/catalog.rs", true),
    ] {
        let mut paths: Vec<&str> = FILLER[..2].to_vec();
        paths.insert(if lexical { 2 } else { 0 }, expected);
        let mut x = search(steps::SEARCH_GOLDEN, q, false, answer(&paths, &[]));
        x.expected_path = Some(expected.to_owned());
        http.push(x);
        do_search(&mut c, q, false, &mut embeds, &mut queries, lexical);
        tally.searches += 1;
        tally.wall_ms += 12;
    }

    // The fault phase: the embeddings server answers 500, then delays.
    let limits = ["dense channel unavailable: embeddings server answered 500"];
    http.push(get(steps::PROBE_EMBED_DOWN, "/healthz", 200, "ok"));
    for q in [
        "embedding server down search one",
        "embedding server down search two",
    ] {
        let mut x = search(
            steps::SEARCH_EMBED_FAULT,
            q,
            false,
            answer(&FILLER[..3], &limits),
        );
        x.embed_fault = Some("error_500".to_owned());
        http.push(x);
        embeds.push(EmbedRequest {
            model: Some("m".to_owned()),
            inputs: 1,
            answered: "error_500".to_owned(),
            status: 500,
        });
        queries.push(q.to_owned());
        tally.searches += 1;
        tally.wall_ms += 12;
    }
    mcp.push(mcp_call(
        steps::MCP_SEARCH_EMBED_FAULT,
        MCP_FAULT_QUERY,
        tool_result(&FILLER[..2], &limits),
    ));
    embeds.push(EmbedRequest {
        model: Some("m".to_owned()),
        inputs: 1,
        answered: "delay".to_owned(),
        status: 200,
    });
    queries.push(MCP_FAULT_QUERY.to_owned());
    tally.searches += 1;
    tally.wall_ms += 20;
    if k.count_failed_embeds {
        c.embed_err += 3;
    }
    c.batch_calls += 3;
    c.batch_sum += 3;
    if k.hydrate_timed {
        c.duckdb += 3;
    }
    if k.gate_fault_searches {
        c.lexical += 3 * k.gating_per_search;
        c.rrf_k += 3 * k.rrf_per_search;
        c.ambiguity += 3;
    }
    let mut counted = c;
    counted.embed_ok = counted.embed_ok.saturating_add_signed(k.embed_count_offset);
    scrapes.push(scrape(
        steps::SCRAPE_AFTER_FAULT,
        tally,
        queries.len() as u32,
        seen(&embeds),
        texts(&embeds),
        exposition(&counted, k, &queries),
    ));

    http.push(runpack(
        steps::RUNPACK,
        T_TRACEPARENT,
        &[
            ("runpack/timeline.jsonl", "{\"event\":\"gate\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}\n{\"event\":\"fuse\"}\n"),
            ("runpack/stages.jsonl", "{\"stage\":\"gather_channels\",\"ms\":3}\n"),
            ("runpack/report.md", "# Run report\n\nCompleted all stages.\n"),
        ],
    ));
    http.push(runpack(
        steps::RUNPACK_FAILED,
        T_FAULT,
        &[
            ("runpack/timeline.jsonl", "{\"event\":\"gather_channels\",\"error\":\"embeddings 500\"}\n"),
            ("runpack/report.md", "# Run report\n\nStopped at stage `gather_channels` (dense): the embeddings request failed: server answered 500.\n"),
        ],
    ));
    http.push(get(
        steps::RUNPACK_UNKNOWN,
        "/v1/runpack/0123456789abcdef0123456789abcdef",
        404,
        "no run with that trace id",
    ));

    let mut counted = c;
    counted.embed_ok = counted.embed_ok.saturating_add_signed(k.embed_count_offset);
    counted.batch_sum = counted
        .batch_sum
        .saturating_add_signed(k.final_batch_offset);
    scrapes.push(scrape(
        steps::SCRAPE_FINAL,
        tally,
        queries.len() as u32,
        seen(&embeds),
        texts(&embeds),
        exposition(&counted, k, &queries),
    ));

    // Spans.
    let mut spans = vec![with(
        span(
            T_READY,
            "a000000000000001",
            None,
            "GET /readyz",
            SpanKind::Server,
            1_000,
        ),
        &[
            ("http.route", "/readyz"),
            ("url.path", "/readyz"),
            ("http.request.method", "GET"),
        ],
    )];
    spans.extend(search_trace(T_MCP, "b1", 10_000, false));
    spans.push(with(
        span(
            T_TRACEPARENT,
            "c000000000000001",
            Some(TRACEPARENT_PARENT),
            "POST /v1/search",
            SpanKind::Server,
            20_000,
        ),
        &[("http.route", "/v1/search"), ("url.path", "/v1/search")],
    ));
    spans.push(span(
        T_TRACEPARENT,
        "c000000000000002",
        Some("c000000000000001"),
        "search",
        SpanKind::Internal,
        20_001,
    ));
    spans.extend(search_trace(T_FAULT, "d3", 30_000, true));

    let logs = vec![LogRecord {
        trace_id: Some(T_MCP.to_owned()),
        span_id: Some("b100000000000005".to_owned()),
        severity_text: Some("INFO".to_owned()),
        severity_number: Some(9),
        body: "dense channel: 10 candidates".to_owned(),
        attributes: Attributes::new(),
        resource: resource(),
    }];

    Observations {
        sut: SutInfo {
            name: "good".to_owned(),
            kind: "recorded".to_owned(),
            service_name: SERVICE.to_owned(),
            source_dir: None,
            embed_model: "m".to_owned(),
        },
        startup: Startup {
            ready: true,
            ready_after_ms: Some(840),
            error: None,
            output_tail: String::new(),
            notes: Vec::new(),
        },
        scrapes,
        promtool: Some(ToolRun {
            command: "promtool check metrics".to_owned(),
            exit_code: Some(0),
            output: String::new(),
        }),
        http,
        mcp,
        spans,
        logs,
        embed_requests: embeds,
        peer_errors: Vec::new(),
        phases: vec![
            PhaseTiming {
                phase: "start peers".to_owned(),
                millis: 12,
            },
            PhaseTiming {
                phase: "start SUT".to_owned(),
                millis: 840,
            },
            PhaseTiming {
                phase: "drive".to_owned(),
                millis: 2100,
            },
            PhaseTiming {
                phase: "observe".to_owned(),
                millis: 110,
            },
            PhaseTiming {
                phase: "check".to_owned(),
                millis: 3,
            },
        ],
        mcp_suite: mcp_suite_passing(),
        lint: Some(LintOutcome {
            root: "/src/sut".into(),
            files_checked: 42,
            findings: Vec::new(),
            error: None,
        }),
        harness_errors: Vec::new(),
        drive_ended_unix_nano: None,
        truncations: Vec::new(),
        deadline_exceeded: None,
    }
}

/// A captured `checks.json` of the official MCP suite
/// (`tests/fixtures/mcp-suite/SCENARIO.KIND.json`), parsed.
pub fn mcp_checks(scenario: &str, kind: &str) -> Vec<McpSuiteCheck> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mcp-suite")
        .join(format!("{scenario}.{kind}.json"));
    mcp_suite::parse_checks(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// One scenario's run from a captured `checks.json`.
pub fn mcp_run(scenario: &str, kind: &str) -> McpScenarioRun {
    let checks = mcp_checks(scenario, kind);
    let failed = checks.iter().any(|c| c.status == "FAILURE");
    McpScenarioRun {
        scenario: scenario.to_owned(),
        url: "http://127.0.0.1:18080/mcp".to_owned(),
        exit_code: Some(i32::from(failed)),
        timed_out: false,
        elapsed_ms: 1500,
        checks,
        error: None,
        output_tail: String::new(),
    }
}

/// Every scenario of the MCP group passing, as captured against the reference.
pub fn mcp_suite_passing() -> McpSuiteOutcome {
    McpSuiteOutcome {
        state: McpSuiteState::Ran,
        note: "@modelcontextprotocol/conformance@0.2.0-alpha.12 in /cache/mcp-suite".to_owned(),
        scenarios: mcp_suite::SCENARIOS
            .iter()
            .map(|(_, s)| mcp_run(s, "pass"))
            .collect(),
    }
}

/// The conforming run.
pub fn good() -> Observations {
    build(&Knobs::default())
}

/// Runs every check and asserts that `id` is the only requirement not met;
/// returns its result.
#[track_caller]
pub fn only_unmet(obs: &Observations, id: &str) -> CheckResult {
    let results = checks::run_all(obs);
    let unmet: Vec<String> = results
        .iter()
        .filter(|r| r.outcome != Outcome::Pass)
        .map(|r| format!("{} {}: {}", r.id, r.outcome, r.message))
        .collect();
    assert_eq!(unmet.len(), 1, "expected only {id} unmet, got {unmet:#?}");
    let r = results.into_iter().find(|r| r.id == id).unwrap();
    let want = match codeintel_conformance::catalog::find(id).unwrap().level {
        codeintel_conformance::catalog::Level::Must => Outcome::Fail,
        codeintel_conformance::catalog::Level::Should => Outcome::Warn,
    };
    assert_eq!(r.outcome, want, "{id}: {}", r.message);
    r
}

/// Asserts `message` contains every one of `parts`.
#[track_caller]
pub fn says<S: AsRef<str>>(r: &CheckResult, parts: &[S]) {
    for p in parts {
        let p = p.as_ref();
        assert!(
            r.message.contains(p),
            "{} message lacks `{p}`: {}",
            r.id,
            r.message
        );
    }
}

/// Spans of `obs` by name (mutable), for breaking one.
pub fn spans_named<'a>(
    obs: &'a mut Observations,
    name: &'a str,
) -> impl Iterator<Item = &'a mut SpanRecord> + 'a {
    obs.spans.iter_mut().filter(move |s| s.name == name)
}

/// Replaces text in every scrape body.
pub fn replace_in_scrapes(obs: &mut Observations, from: &str, to: &str) {
    for s in &mut obs.scrapes {
        s.body = s.body.replace(from, to);
    }
}

/// A map from id to result.
pub fn by_id(results: Vec<CheckResult>) -> BTreeMap<String, CheckResult> {
    results.into_iter().map(|r| (r.id.clone(), r)).collect()
}
