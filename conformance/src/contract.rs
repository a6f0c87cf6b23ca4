//! The contract's metric names and label values (conformance-spec
//! "Metrics"), declared once: the MET-* checks judge them and the mutation
//! operators break them. A leaf: it uses no other module of the crate.

/// The contract's latency buckets B (`+Inf` included).
pub const BUCKETS_B: [f64; 11] = [
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    f64::INFINITY,
];

/// MET-002, MET-008: one observation per embed call.
pub const EMBED_LATENCY: &str = "codeintel_embed_latency_seconds";
/// MET-003: one observation per FAISS search, label `impl`.
pub const FAISS_LATENCY: &str = "codeintel_faiss_search_latency_seconds";
/// MET-004: one observation per DuckDB statement.
pub const DUCKDB_EXECUTE: &str = "codeintel_duckdb_execute_seconds";
/// MET-005: the gating counter, labels `class` and `rm3` (its samples' name;
/// the family is [`family_base`] of it).
pub const GATING_DECISIONS: &str = "codeintel_gating_decisions_total";
/// MET-006: one observation per search.
pub const GATING_RRF_K: &str = "codeintel_gating_rrf_k";
/// MET-006: one observation per search.
pub const QUERY_AMBIGUITY: &str = "codeintel_query_ambiguity";
/// MET-007: its sum is the number of texts sent to the embeddings server.
pub const EMBED_BATCH_SIZE: &str = "codeintel_embed_batch_size";

/// Every metric the contract names, in requirement order.
pub const METRICS: [&str; 7] = [
    EMBED_LATENCY,
    FAISS_LATENCY,
    DUCKDB_EXECUTE,
    GATING_DECISIONS,
    GATING_RRF_K,
    QUERY_AMBIGUITY,
    EMBED_BATCH_SIZE,
];

/// The values of `impl` on the FAISS histogram (registry `codeintel.faiss.impl`).
pub const FAISS_IMPLS: [&str; 2] = ["ann", "ann+refine"];
/// The values of `class` on the gating counter (registry `class`).
pub const GATING_CLASSES: [&str; 4] = ["identifier", "code", "nl", "mixed"];
/// The values of `rm3` on the gating counter (a boolean as label text).
pub const RM3_VALUES: [&str; 2] = ["true", "false"];

/// The family a metric's samples belong to: a counter's name without its
/// `_total` (its `_created` samples share the family); any other name as is.
pub fn family_base(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_prefixed() {
        for (i, name) in METRICS.iter().enumerate() {
            assert!(name.starts_with("codeintel_"), "{name}");
            assert!(!METRICS[..i].contains(name), "{name} listed twice");
        }
    }

    #[test]
    fn a_counter_family_drops_total_only() {
        assert_eq!(family_base(GATING_DECISIONS), "codeintel_gating_decisions");
        assert_eq!(family_base(EMBED_LATENCY), EMBED_LATENCY);
        assert_eq!(family_base("codeintel_total_x"), "codeintel_total_x");
    }
}
