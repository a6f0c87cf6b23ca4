//! The codeintel registry (`conformance/registry/`) is valid Weaver
//! `definition/2`: every file validates against Weaver's JSON schema
//! (`fixtures/weaver/semconv.schema.v2.json`), and the registry loads (names
//! unique, every attribute reference defined).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use codeintel_conformance::drive::workspace_root;
use codeintel_conformance::gate::registry::{Registry, file_as_json, registry_files};

fn validator() -> jsonschema::Validator {
    let path = workspace_root().join("fixtures/weaver/semconv.schema.v2.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("Weaver's schema compiles")
}

#[test]
fn every_registry_file_validates_against_weavers_schema() {
    let validator = validator();
    let files = registry_files(&workspace_root().join("conformance/registry")).unwrap();
    assert!(files.len() >= 3, "{files:?}");
    for file in &files {
        let value = file_as_json(file).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{}:\n{}",
            file.display(),
            errors.join("\n")
        );
    }
}

#[test]
fn the_schema_catches_what_weaver_refuses() {
    let validator = validator();
    let bad: serde_json::Value = serde_json::json!({
        "file_format": "definition/2",
        "metrics": [{
            "name": "codeintel.x",
            "brief": "x",
            "unit": "s",
            "instrument": "timer",
            "stability": "development"
        }]
    });
    assert!(
        !validator.is_valid(&bad),
        "an unknown instrument must not validate"
    );
    let no_unit = serde_json::json!({
        "file_format": "definition/2",
        "metrics": [{ "name": "codeintel.x", "brief": "x", "instrument": "counter", "stability": "development" }]
    });
    assert!(!validator.is_valid(&no_unit), "a metric needs a unit");
}

#[test]
fn the_registry_loads_and_declares_the_contracts_metrics() {
    let reg = Registry::load(&workspace_root().join("conformance/registry")).unwrap();
    let names: Vec<&str> = reg.metrics.iter().map(|m| m.name.as_str()).collect();
    for m in [
        "codeintel.embed_latency",
        "codeintel.faiss_search_latency",
        "codeintel.duckdb_execute",
        "codeintel.gating_decisions",
        "codeintel.gating_rrf_k",
        "codeintel.query_ambiguity",
        "codeintel.embed_batch_size",
    ] {
        assert!(names.contains(&m), "{m} missing from {names:?}");
    }
    assert!(!reg.spans.is_empty() && !reg.events.is_empty());
}
