//! The requirement catalog as data: ids, levels, groups, titles and how each
//! is checked. `REQUIREMENTS.md` (beside `Cargo.toml`) is the same catalog in
//! prose; a unit test keeps the two in step. Ids are never reused.

use std::fmt;

use serde::Serialize;

/// How binding a requirement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Failing it fails the run.
    Must,
    /// Failing it is a warning (fails the run only with `--strict`).
    Should,
}

impl Level {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Must => "MUST",
            Self::Should => "SHOULD",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One requirement of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Requirement {
    /// `MET-001`, …: stable, never reused.
    pub id: &'static str,
    pub level: Level,
    /// `MET`, `TRC`, `LOG`, `API`, `RUN`, `LNT` or `MCP`.
    pub group: &'static str,
    pub title: &'static str,
    /// How it is checked (the "Checked" section of `REQUIREMENTS.md`, short).
    pub spec: &'static str,
}

/// The groups, in report order, with their headings.
pub const GROUPS: [(&str, &str); 7] = [
    ("MET", "Metrics"),
    ("TRC", "Traces"),
    ("LOG", "Logs"),
    ("API", "API and behaviour"),
    ("RUN", "Run diagnostics"),
    ("LNT", "Source lint"),
    ("MCP", "Official MCP conformance suite"),
];

/// Version of this catalog (see "Changes" in `REQUIREMENTS.md`).
pub const VERSION: &str = "v3";

/// The prose catalog, for `explain`.
pub const REQUIREMENTS_MD: &str = include_str!("../REQUIREMENTS.md");

const fn req(
    id: &'static str,
    level: Level,
    group: &'static str,
    title: &'static str,
    spec: &'static str,
) -> Requirement {
    Requirement {
        id,
        level,
        group,
        title,
        spec,
    }
}

use Level::{Must, Should};

static ALL: [Requirement; 37] = [
    req(
        "MET-001",
        Must,
        "MET",
        "The scrape answers 200 and parses",
        "Every scrape answered 200 and parses as Prometheus text or OpenMetrics; promtool (when \
         installed) exits 0, or 3 with lint findings only.",
    ),
    req(
        "MET-002",
        Must,
        "MET",
        "Embed latency: buckets B, labels client and model, every call counted",
        "codeintel_embed_latency_seconds is a histogram, buckets exactly B on every series, labels \
         client and model; before the fault phase its _count over series >= embeddings requests \
         received.",
    ),
    req(
        "MET-003",
        Must,
        "MET",
        "FAISS latency: buckets B, label impl, ann and ann+refine",
        "After the searches, codeintel_faiss_search_latency_seconds has buckets B, label impl, and \
         impl=\"ann\" and impl=\"ann+refine\" both with _count > 0.",
    ),
    req(
        "MET-004",
        Must,
        "MET",
        "DuckDB execute latency: buckets B, counted after a hydrate",
        "After the searches, codeintel_duckdb_execute_seconds has buckets B and _count > 0.",
    ),
    req(
        "MET-005",
        Must,
        "MET",
        "Gating decisions: a counter, labels class and rm3, +1 per search",
        "codeintel_gating_decisions_total is a counter labelled class and rm3 whose total rose by \
         exactly the searches done between the baseline and after-searches scrapes.",
    ),
    req(
        "MET-006",
        Must,
        "MET",
        "rrf_k and query_ambiguity: one observation per search",
        "The _count of codeintel_gating_rrf_k and of codeintel_query_ambiguity rose by exactly the \
         searches done between the baseline and after-searches scrapes.",
    ),
    req(
        "MET-007",
        Must,
        "MET",
        "Embed batch size sums to the texts received",
        "At the final scrape, the _sum of codeintel_embed_batch_size equals the inputs of the \
         embeddings requests received before that scrape.",
    ),
    req(
        "MET-008",
        Must,
        "MET",
        "A failed embed call is still counted",
        "Across the fault phase, the _count of codeintel_embed_latency_seconds rose by at least the \
         embeddings requests that were not answered ok.",
    ),
    req(
        "MET-009",
        Must,
        "MET",
        "No /metrics on the application port",
        "GET /metrics on the application's HTTP port answered 404.",
    ),
    req(
        "MET-010",
        Should,
        "MET",
        "Series count does not grow with distinct query texts",
        "Between the after-searches and after-cardinality scrapes no label value holds a query \
         text and the series count grew by less than the new distinct queries.",
    ),
    req(
        "MET-011",
        Should,
        "MET",
        "Durations are in seconds and named _seconds",
        "Families named for a duration (latency, duration, time, elapsed) end in _seconds; none \
         uses ms/milliseconds/… or _seconds_seconds; a UNIT is seconds.",
    ),
    req(
        "MET-012",
        Should,
        "MET",
        "target_info names the service",
        "target_info has service_name equal to OTEL_SERVICE_NAME.",
    ),
    req(
        "TRC-001",
        Must,
        "TRC",
        "GET /readyz yields a SERVER span",
        "A span of kind SERVER has /readyz in url.path, http.route or its name.",
    ),
    req(
        "TRC-002",
        Must,
        "TRC",
        "One semantic_search call, one trace: gather_channels, fuse, hydrate below the tool span",
        "The mcp_search tool span's trace holds gather_channels, fuse and hydrate, each (every \
         copy) reaching the tool span through parent_span_id; the trace holds no other tool call \
         and no other request's trace id.",
    ),
    req(
        "TRC-003",
        Must,
        "TRC",
        "The tool span names the tool and the MCP method",
        "The mcp_search tool span has gen_ai.tool.name = semantic_search and mcp.method.name = \
         tools/call.",
    ),
    req(
        "TRC-004",
        Must,
        "TRC",
        "The search trace holds an embedding span and a FAISS span",
        "Below the mcp_search tool span: a span with gen_ai.operation.name = embeddings and a \
         span named faiss* or with db.system(.name) = faiss.",
    ),
    req(
        "TRC-005",
        Must,
        "TRC",
        "The resource names the service and its version",
        "Every span's resource has service.name = OTEL_SERVICE_NAME and a non-empty \
         service.version.",
    ),
    req(
        "TRC-006",
        Should,
        "TRC",
        "A failed embed call is an ERROR span with an exception, and the tool says so",
        "The mcp_search_embed_fault trace holds an embedding span with status ERROR and an \
         exception event; the tool result is an error, has limits naming the dense channel or the \
         embedding, or names the failure.",
    ),
    req(
        "TRC-007",
        Should,
        "TRC",
        "An incoming traceparent is continued",
        "A span carries the trace id sent in the search_traceparent request's traceparent.",
    ),
    req(
        "TRC-008",
        Should,
        "TRC",
        "No raw query text in attributes",
        "No span name, status message, attribute, event, resource or scope, log body, attribute \
         or resource, nor scrape exemplar holds a query text the harness sent (8+ characters), \
         raw, in another case, or as its words in order; no span at all fails.",
    ),
    req(
        "TRC-009",
        Must,
        "TRC",
        "OTLP exports decode and carry valid trace and span ids",
        "The receiver refused no export, and every span and log record has well-formed ids (32 \
         and 16 lowercase hex digits, not all zero). No span at all fails.",
    ),
    req(
        "LOG-001",
        Should,
        "LOG",
        "Log records carry the trace and span they were written in",
        "A log record arrived whose trace id and span id are those of a received span of a \
         request's trace (tool span, search stage, or search/MCP SERVER span), not only of a \
         start-up span.",
    ),
    req(
        "API-001",
        Must,
        "API",
        "healthz while alive, readyz 503 until loaded then 200",
        "While the index cannot load, /healthz is 200 and /readyz 503; once ready, /readyz is 200.",
    ),
    req(
        "API-002",
        Must,
        "API",
        "MCP lists semantic_search, search and fetch with input schemas",
        "tools/list has semantic_search, search and fetch, each with an object inputSchema.",
    ),
    req(
        "API-003",
        Must,
        "API",
        "Findings have path, line range, score and snippet; golden files in the top 5",
        "Golden searches return findings with path, line range, score and snippet, and the \
         expected path among the first 5.",
    ),
    req(
        "API-004",
        Should,
        "API",
        "With embeddings down, search answers from sparse and says so",
        "Searches while the embeddings server fails answer 200 with findings or a limits entry \
         naming the dense channel.",
    ),
    req(
        "RUN-001",
        Should,
        "RUN",
        "A runpack holds the trace's timeline",
        "GET /v1/runpack/{trace_id} answered 200 with a (gzip) tar holding timeline.jsonl of JSON \
         lines; the archive names that trace id and no other request's; an unknown trace id \
         answers 4xx.",
    ),
    req(
        "RUN-002",
        Should,
        "RUN",
        "A run report names the failed stage and why",
        "The failed run's runpack holds report.md with a line naming, as whole words, the stage \
         that failed (the embedding path, or a stage the SUT marked ERROR) and the failure.",
    ),
    req(
        "LNT-001",
        Must,
        "LNT",
        "No legacy metric imports",
        "codeintel-lint reported no LNT-001 finding, with the suite's configuration (not the \
         source's), over at least one file, every relevant file parsed (skipped without \
         --source).",
    ),
    req(
        "LNT-002",
        Must,
        "LNT",
        "No legacy modules",
        "codeintel-lint reported no LNT-002 finding (skipped without --source).",
    ),
    req(
        "LNT-003",
        Should,
        "LNT",
        "No hand-made /metrics route",
        "codeintel-lint reported no LNT-003 finding (skipped without --source).",
    ),
    req(
        "MCP-001",
        Must,
        "MCP",
        "Official MCP suite: server-initialize passes",
        "The official MCP conformance suite's server-initialize scenario, run against /mcp after \
         the drive, reported no FAILURE check (skipped when the suite is not installed).",
    ),
    req(
        "MCP-002",
        Must,
        "MCP",
        "Official MCP suite: ping passes",
        "The official MCP conformance suite's ping scenario reported no FAILURE check.",
    ),
    req(
        "MCP-003",
        Must,
        "MCP",
        "Official MCP suite: tools-list passes",
        "The official MCP conformance suite's tools-list scenario reported no FAILURE check.",
    ),
    req(
        "MCP-004",
        Must,
        "MCP",
        "Official MCP suite: server-session-lifecycle passes",
        "The official MCP conformance suite's server-session-lifecycle scenario reported no \
         FAILURE check (a stateless server, which issues no session id, is skipped).",
    ),
    req(
        "MCP-005",
        Must,
        "MCP",
        "Official MCP suite: dns-rebinding-protection passes",
        "The official MCP conformance suite's dns-rebinding-protection scenario reported no \
         FAILURE check: a foreign Host/Origin is refused with a 4xx, localhost ones are accepted.",
    ),
    req(
        "MCP-006",
        Should,
        "MCP",
        "Official MCP suite: http-header-validation passes",
        "The official MCP conformance suite's http-header-validation scenario (Mcp-Method and \
         Mcp-Name headers, draft spec) reported no FAILURE check.",
    ),
];

/// Every requirement, in catalog order.
pub fn all() -> &'static [Requirement] {
    &ALL
}

/// The requirement `id` (case-insensitive), if it exists.
pub fn find(id: &str) -> Option<&'static Requirement> {
    all().iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// The section of `REQUIREMENTS.md` for `id`: its heading line through the
/// line before the next heading.
pub fn details(id: &str) -> Option<&'static str> {
    let req = find(id)?;
    let start = REQUIREMENTS_MD.find(&format!("### {} ", req.id))?;
    let rest = &REQUIREMENTS_MD[start..];
    let end = rest[3..]
        .find("\n## ")
        .into_iter()
        .chain(rest[3..].find("\n### "))
        .min()
        .map_or(rest.len(), |i| i + 4);
    Some(rest[..end].trim_end())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// `### MET-001 · MUST · title` headings of REQUIREMENTS.md.
    fn headings() -> BTreeMap<String, (String, String)> {
        let mut out = BTreeMap::new();
        for line in REQUIREMENTS_MD.lines() {
            let Some(rest) = line.strip_prefix("### ") else {
                continue;
            };
            let parts: Vec<&str> = rest.splitn(3, " · ").collect();
            assert_eq!(
                parts.len(),
                3,
                "heading `{line}` is not `### ID · LEVEL · title`"
            );
            let prev = out.insert(
                parts[0].to_owned(),
                (parts[1].to_owned(), parts[2].to_owned()),
            );
            assert!(prev.is_none(), "{} has two sections", parts[0]);
        }
        out
    }

    fn is_id(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() == 7
            && b[..3].iter().all(u8::is_ascii_uppercase)
            && b[3] == b'-'
            && b[4..].iter().all(u8::is_ascii_digit)
    }

    #[test]
    fn every_id_of_requirements_md_is_in_the_catalog_with_its_level_and_title() {
        let md = headings();
        assert!(md.len() >= 30, "found only {} sections", md.len());
        for (id, (level, title)) in &md {
            let req =
                find(id).unwrap_or_else(|| panic!("{id} is in REQUIREMENTS.md, not in catalog.rs"));
            assert_eq!(req.level.as_str(), level, "{id}: level differs");
            assert_eq!(req.title, title, "{id}: title differs");
        }
    }

    #[test]
    fn every_catalog_id_has_a_section_in_requirements_md() {
        let md = headings();
        for req in all() {
            assert!(
                md.contains_key(req.id),
                "{} is in catalog.rs, not in REQUIREMENTS.md",
                req.id
            );
        }
    }

    #[test]
    fn ids_mentioned_anywhere_in_requirements_md_exist() {
        for word in REQUIREMENTS_MD.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if is_id(word) {
                assert!(
                    find(word).is_some(),
                    "REQUIREMENTS.md mentions unknown id {word}"
                );
            }
        }
    }

    #[test]
    fn ids_are_unique_well_formed_and_grouped() {
        let mut seen = std::collections::HashSet::new();
        for req in all() {
            assert!(is_id(req.id), "{}", req.id);
            assert!(seen.insert(req.id), "{} twice", req.id);
            assert_eq!(&req.id[..3], req.group);
            assert!(GROUPS.iter().any(|(g, _)| *g == req.group));
            assert!(!req.spec.is_empty() && !req.title.is_empty());
        }
    }

    #[test]
    fn find_is_case_insensitive_and_details_is_one_section() {
        assert_eq!(find("met-005").map(|r| r.id), Some("MET-005"));
        assert!(find("MET-999").is_none());
        let d = details("TRC-002").unwrap();
        assert!(d.starts_with("### TRC-002 · MUST"));
        assert!(d.contains("Checked for the `mcp_search` call"));
        assert!(!d.contains("TRC-003"));
        let last = details("LNT-003").unwrap();
        assert!(last.ends_with("Skipped without `--source`."));
        let end_of_group = details("MET-012").unwrap();
        assert!(!end_of_group.contains("## Traces"));
    }
}
