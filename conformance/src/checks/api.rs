//! API-*: HTTP probes, the MCP tool list, search answers.

use serde_json::Value;

use super::{
    CheckResult, capped, excerpt, findings_of, limits_name_dense, limits_of, tool_result_json,
};
use crate::observe::{HttpExchange, Observations, steps};

fn status_text(x: &HttpExchange) -> String {
    x.status.map_or_else(
        || format!("no answer ({})", x.error.as_deref().unwrap_or("no status")),
        |s| s.to_string(),
    )
}

fn probe_line(x: &HttpExchange) -> String {
    format!(
        "{}: {} {} → {} {}",
        x.step,
        x.method,
        x.path,
        status_text(x),
        excerpt(&x.body, 80)
    )
}

fn is_probe(x: &HttpExchange, path: &str) -> bool {
    x.path == path || x.path.starts_with(&format!("{path}?"))
}

/// API-001: healthz while alive; readyz 503 until loaded, then 200.
pub fn api_001(obs: &Observations) -> CheckResult {
    const ID: &str = "API-001";
    let not_ready: Vec<&HttpExchange> = obs.http_at(steps::PROBE_NOT_READY).collect();
    let ready: Vec<&HttpExchange> = obs.http_at(steps::PROBE_READY).collect();
    let embed_down: Vec<&HttpExchange> = obs.http_at(steps::PROBE_EMBED_DOWN).collect();
    // While the gate is held the harness probes repeatedly: show the first
    // probes and every answer that differs from the one before.
    let mut evidence: Vec<String> = Vec::new();
    let mut last: Option<(&str, Option<u16>)> = None;
    for x in not_ready.iter().chain(&ready).chain(&embed_down) {
        let key = (x.path.as_str(), x.status);
        if evidence.len() < 4 || last.is_none_or(|l| l != key) || x.step != steps::PROBE_NOT_READY {
            evidence.push(probe_line(x));
        }
        if x.path == "/readyz" {
            last = Some(key);
        }
    }
    let readyz_probes = not_ready.iter().filter(|x| is_probe(x, "/readyz")).count();
    evidence.push(format!(
        "{readyz_probes} /readyz probe(s) at `{}` while the harness held the index load",
        steps::PROBE_NOT_READY
    ));
    evidence.extend(obs.startup.notes.iter().map(|n| format!("startup: {n}")));
    let evidence = capped(evidence, 20);
    let mut problems = Vec::new();

    let early_ready: Vec<&&HttpExchange> = not_ready
        .iter()
        .filter(|x| is_probe(x, "/readyz"))
        .collect();
    if early_ready.is_empty() {
        return CheckResult::error(
            ID,
            format!(
                "the drive made no /readyz probe while the index could not load (step `{}`)",
                steps::PROBE_NOT_READY
            ),
        )
        .with_evidence(evidence);
    }
    let total = early_ready.len();
    if let Some((i, x)) = early_ready
        .iter()
        .enumerate()
        .find(|(_, x)| x.status != Some(503))
    {
        let when = format!("probe {} of {total} at `{}`", i + 1, x.step);
        match x.status {
            Some(200) => problems.push(format!(
                "GET /readyz answered 200 ({when}), while the index could not load (the harness \
                 held the embeddings server closed): answer 503 until the index is loaded, not \
                 on a timer"
            )),
            _ => problems.push(format!(
                "GET /readyz answered {} ({when}), expected 503 while loading",
                status_text(x)
            )),
        }
    }
    if let Some(x) = not_ready
        .iter()
        .chain(&ready)
        .chain(&embed_down)
        .find(|x| is_probe(x, "/healthz") && x.status != Some(200))
    {
        let why = if x.step == steps::PROBE_EMBED_DOWN {
            " (the embeddings server was answering 500; liveness does not depend on it)"
        } else {
            ""
        };
        problems.push(format!(
            "GET /healthz answered {} at `{}`, expected 200 while the process lives{why}",
            status_text(x),
            x.step
        ));
    }
    if !not_ready.iter().any(|x| is_probe(x, "/healthz")) {
        problems.push(format!(
            "no /healthz probe at `{}` (expected 200 while loading)",
            steps::PROBE_NOT_READY
        ));
    }
    match ready.iter().rev().find(|x| is_probe(x, "/readyz")) {
        Some(x) if x.status == Some(200) => {}
        Some(x) => problems.push(format!(
            "GET /readyz answered {} at `{}` once the index could load, expected 200",
            status_text(x),
            x.step
        )),
        None => {
            let why = if obs.startup.ready {
                String::new()
            } else {
                format!(
                    ": the SUT did not become ready ({})",
                    obs.startup.error.as_deref().unwrap_or("no reason recorded")
                )
            };
            problems.push(format!("no /readyz probe at `{}`{why}", steps::PROBE_READY));
        }
    }
    if problems.is_empty() {
        CheckResult::pass(
            ID,
            format!(
                "/healthz 200 throughout{}; /readyz 503 at all {total} probe(s) while loading, 200 \
                 once loaded",
                if embed_down.is_empty() {
                    ""
                } else {
                    " (also while the embeddings server failed)"
                }
            ),
        )
        .with_evidence(evidence)
    } else {
        CheckResult::fail(ID, problems.join("; ")).with_evidence(evidence)
    }
}

/// API-002: the MCP tool list.
pub fn api_002(obs: &Observations) -> CheckResult {
    const ID: &str = "API-002";
    let Some(x) = obs
        .mcp_at(steps::MCP_LIST)
        .find(|m| m.method == "tools/list")
    else {
        return CheckResult::error(ID, "the drive made no MCP tools/list request");
    };
    if let Some(e) = &x.error {
        return CheckResult::fail(
            ID,
            format!("MCP tools/list at /mcp failed: {e}: serve MCP over streamable HTTP at /mcp"),
        );
    }
    let tools = x
        .result
        .as_ref()
        .and_then(|r| r.get("tools"))
        .and_then(Value::as_array);
    let Some(tools) = tools else {
        return CheckResult::fail(ID, "the tools/list result has no `tools` array")
            .with_evidence(x.result.as_ref().map(|r| excerpt(&r.to_string(), 300)));
    };
    let names: Vec<&str> = tools
        .iter()
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .collect();
    let evidence = vec![format!("tools: {}", names.join(", "))];
    let mut problems = Vec::new();
    for want in ["semantic_search", "search", "fetch"] {
        match tools
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some(want))
        {
            None => problems.push(format!("tool `{want}` is not listed")),
            Some(t) => {
                if !t.get("inputSchema").is_some_and(Value::is_object) {
                    problems.push(format!("tool `{want}` has no inputSchema object"));
                }
            }
        }
    }
    if problems.is_empty() {
        CheckResult::pass(
            ID,
            format!(
                "{} tool(s) listed, semantic_search, search and fetch with input schemas",
                names.len()
            ),
        )
        .with_evidence(evidence)
    } else {
        CheckResult::fail(
            ID,
            format!("{} (listed: {})", problems.join("; "), names.join(", ")),
        )
        .with_evidence(evidence)
    }
}

/// Problems with one finding's shape (empty when it is well formed).
fn finding_problems(f: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if !f.get("path").is_some_and(Value::is_string) {
        out.push("no string `path`".to_owned());
    }
    match line_range(f) {
        None => out.push("no line range (`start_line`/`end_line`)".to_owned()),
        Some((start, end)) if start > end => out.push(format!(
            "a line range that ends before it starts (start {start} > end {end})"
        )),
        Some(_) => {}
    }
    if !f.get("score").is_some_and(Value::is_number) {
        out.push("no numeric `score`".to_owned());
    }
    if !f.get("snippet").is_some_and(Value::is_string) {
        out.push("no string `snippet`".to_owned());
    }
    out
}

/// The finding's `(start, end)` lines, in any accepted spelling.
fn line_range(f: &Value) -> Option<(u64, u64)> {
    let pair = |v: &Value| -> Option<(u64, u64)> {
        match v {
            Value::Array(a) if a.len() == 2 => Some((a[0].as_u64()?, a[1].as_u64()?)),
            Value::Object(_) => Some((v.get("start")?.as_u64()?, v.get("end")?.as_u64()?)),
            _ => None,
        }
    };
    let direct = || -> Option<(u64, u64)> {
        Some((f.get("start_line")?.as_u64()?, f.get("end_line")?.as_u64()?))
    };
    direct().or_else(|| {
        ["lines", "line_range", "range"]
            .iter()
            .find_map(|k| f.get(*k).and_then(pair))
    })
}

#[cfg(test)]
fn has_line_range(f: &Value) -> bool {
    line_range(f).is_some()
}

fn normalise(p: &str) -> String {
    let p = p.replace('\\', "/");
    p.trim_start_matches("./").to_owned()
}

fn same_path(found: &str, expected: &str) -> bool {
    let (a, b) = (normalise(found), normalise(expected));
    a == b || a.ends_with(&format!("/{b}")) || b.ends_with(&format!("/{a}"))
}

fn query_of(x: &HttpExchange) -> String {
    x.request_body
        .as_deref()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .and_then(|v| v.get("query").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Shape problems of a findings array, at most one line per finding.
fn shape_problems(what: &str, findings: &[Value]) -> Vec<String> {
    findings
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let p = finding_problems(f);
            (!p.is_empty()).then(|| format!("{what}: finding #{} has {}", i + 1, p.join(", ")))
        })
        .take(3)
        .collect()
}

/// API-003: findings shape; golden files in the top 5.
pub fn api_003(obs: &Observations) -> CheckResult {
    const ID: &str = "API-003";
    let golden: Vec<&HttpExchange> = obs.http_at(steps::SEARCH_GOLDEN).collect();
    if golden.is_empty() {
        return CheckResult::error(ID, "the drive made no golden-query search");
    }
    if golden.iter().all(|x| x.expected_path.is_none()) {
        return CheckResult::error(ID, "the golden-query searches carry no expected_path");
    }
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    let mut judged = 0;
    for x in &golden {
        let query = query_of(x);
        let what = format!("golden query \"{}\"", excerpt(&query, 60));
        if x.status != Some(200) {
            problems.push(format!("{what} answered {}", status_text(x)));
            evidence.push(format!(
                "{what}: {} {}",
                status_text(x),
                excerpt(&x.body, 200)
            ));
            continue;
        }
        let Ok(body) = serde_json::from_str::<Value>(&x.body) else {
            problems.push(format!("{what}: the answer is not JSON"));
            evidence.push(format!("{what}: {}", excerpt(&x.body, 200)));
            continue;
        };
        let Some(findings) = findings_of(&body) else {
            problems.push(format!("{what}: the answer has no `findings` array"));
            evidence.push(format!("{what}: {}", excerpt(&x.body, 200)));
            continue;
        };
        problems.extend(shape_problems(&what, findings));
        let paths: Vec<&str> = findings
            .iter()
            .filter_map(|f| f.get("path").and_then(Value::as_str))
            .collect();
        evidence.push(format!(
            "{what}: expected {}; top 5: {}",
            x.expected_path.as_deref().unwrap_or("-"),
            paths.iter().take(5).copied().collect::<Vec<_>>().join(", ")
        ));
        let Some(expected) = x.expected_path.as_deref() else {
            continue;
        };
        judged += 1;
        match paths.iter().position(|p| same_path(p, expected)) {
            Some(rank) if rank < 5 => {}
            Some(rank) => problems.push(format!(
                "{what}: expected `{expected}` in the top 5, found at rank {}",
                rank + 1
            )),
            None => problems.push(format!(
                "{what}: expected `{expected}` in the top 5, not among the {} finding(s)",
                paths.len()
            )),
        }
    }
    // The MCP tool's own answer: `semantic_search` is the tool the
    // contract names, so its result is judged like the HTTP answers.
    mcp_search_problems(obs, &golden, &mut problems, &mut evidence);
    if problems.is_empty() {
        CheckResult::pass(
            ID,
            format!(
                "findings well formed; {judged} golden quer(ies) found their file in the top 5"
            ),
        )
        .with_evidence(capped(evidence, 12))
    } else {
        CheckResult::fail(ID, problems.join("; ")).with_evidence(capped(evidence, 12))
    }
}

/// Judges the MCP `semantic_search` call of step `mcp_search`: it answered,
/// not `isError`, with JSON findings of the right shape; when its query is a
/// golden one, the expected file is in its top 5 too.
fn mcp_search_problems(
    obs: &Observations,
    golden: &[&HttpExchange],
    problems: &mut Vec<String>,
    evidence: &mut Vec<String>,
) {
    const WHAT: &str = "the MCP semantic_search result";
    let Some(call) = obs
        .mcp_at(steps::MCP_SEARCH)
        .find(|m| m.method == "tools/call")
    else {
        problems.push(format!(
            "the drive made no MCP semantic_search call (step `{}`): serve the tool over MCP at \
             /mcp (see API-002)",
            steps::MCP_SEARCH
        ));
        return;
    };
    if let Some(e) = &call.error {
        problems.push(format!("the MCP semantic_search call failed: {e}"));
        return;
    }
    let Some(result) = call.result.as_ref() else {
        problems.push("the MCP semantic_search call returned no result".to_owned());
        return;
    };
    let texts = super::tool_result_texts(result);
    evidence.push(format!("{WHAT}: {}", excerpt(&result.to_string(), 200)));
    if call.is_error {
        problems.push(format!(
            "{WHAT} has isError: true ({}) with the embeddings server answering: return findings",
            excerpt(&texts.join(" "), 160)
        ));
        return;
    }
    let Some(json) = tool_result_json(result) else {
        problems.push(format!(
            "{WHAT} carries no JSON (neither structuredContent nor a text content that parses): \
             return {{\"findings\": [{{path, start_line, end_line, score, snippet}}]}}"
        ));
        return;
    };
    let Some(findings) = findings_of(&json) else {
        problems.push(format!("{WHAT} has no `findings` array"));
        return;
    };
    if findings.is_empty() {
        problems.push(format!(
            "{WHAT} has no findings for a query the fixture repository answers"
        ));
        return;
    }
    problems.extend(shape_problems(WHAT, findings));
    let query = call
        .arguments
        .as_ref()
        .and_then(|a| a.get("query"))
        .and_then(Value::as_str);
    let expected = golden
        .iter()
        .find(|x| query.is_some_and(|q| query_of(x) == q))
        .and_then(|x| x.expected_path.as_deref());
    if let Some(expected) = expected {
        let paths: Vec<&str> = findings
            .iter()
            .filter_map(|f| f.get("path").and_then(Value::as_str))
            .collect();
        if !paths.iter().take(5).any(|p| same_path(p, expected)) {
            problems.push(format!(
                "{WHAT}: expected `{expected}` (a golden query) in the top 5, got {}",
                paths.iter().take(5).copied().collect::<Vec<_>>().join(", ")
            ));
        }
    }
}

/// API-004: with embeddings down, search answers from sparse and says so.
pub fn api_004(obs: &Observations) -> CheckResult {
    const ID: &str = "API-004";
    let faults: Vec<&HttpExchange> = obs.http_at(steps::SEARCH_EMBED_FAULT).collect();
    if faults.is_empty() {
        return CheckResult::error(
            ID,
            "the drive made no search while the embeddings server failed",
        );
    }
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    let mut with_limits = 0;
    for x in &faults {
        let what = format!("search \"{}\"", excerpt(&query_of(x), 60));
        evidence.push(format!(
            "{what}: {} {}",
            status_text(x),
            excerpt(&x.body, 200)
        ));
        if x.status != Some(200) {
            problems.push(format!(
                "{what} answered {} while the embeddings server failed: answer from the sparse \
                 channel",
                status_text(x)
            ));
            continue;
        }
        let body: Value = serde_json::from_str(&x.body).unwrap_or(Value::Null);
        let n = findings_of(&body).map_or(0, Vec::len);
        let limits = limits_of(&body).is_some_and(|l| limits_name_dense(l));
        if limits {
            with_limits += 1;
        }
        // A delayed embeddings answer that the SUT waited for is no fault
        // from its side: it needs no `limits` entry.
        let waited_out = x
            .embed_fault
            .as_deref()
            .and_then(|f| f.strip_prefix("delay:"))
            .and_then(|ms| ms.parse::<u64>().ok())
            .is_some_and(|ms| x.elapsed_ms >= ms);
        match (n, limits || waited_out) {
            (0, false) => problems.push(format!(
                "{what} answered 200 with no findings and no `limits` entry naming the dense \
                 channel: answer from the sparse channel and say the dense one was skipped"
            )),
            (0, true) => problems.push(format!(
                "{what} answered 200 with no findings: the sparse channel still answers, return \
                 its findings"
            )),
            (_, false) => problems.push(format!(
                "{what} answered {n} finding(s) but no `limits` entry naming the dense channel \
                 ({}): say the dense channel was skipped",
                x.embed_fault.as_deref().unwrap_or("embeddings failing")
            )),
            (_, true) => {}
        }
    }
    if problems.is_empty() {
        let note = if with_limits == faults.len() {
            "each with a `limits` entry naming the dense channel".to_owned()
        } else {
            format!(
                "{with_limits} of {} with a `limits` entry naming the dense channel",
                faults.len()
            )
        };
        CheckResult::pass(
            ID,
            format!("{} search(es) answered 200; {note}", faults.len()),
        )
        .with_evidence(capped(evidence, 6))
    } else {
        CheckResult::fail(ID, problems.join("; ")).with_evidence(capped(evidence, 6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn line_ranges_in_several_spellings() {
        assert!(has_line_range(&json!({"start_line": 1, "end_line": 4})));
        assert!(has_line_range(&json!({"lines": [1, 4]})));
        assert!(has_line_range(
            &json!({"line_range": {"start": 1, "end": 4}})
        ));
        assert!(!has_line_range(&json!({"start_line": 1})));
        assert!(!has_line_range(&json!({"lines": "1-4"})));
    }

    #[test]
    fn paths_match_by_suffix_and_without_dot_slash() {
        assert!(same_path("./src/a.rs", "src/a.rs"));
        assert!(same_path("/repo/src/a.rs", "src/a.rs"));
        assert!(same_path("src\\a.rs", "src/a.rs"));
        assert!(!same_path("src/ba.rs", "a.rs"));
    }
}
