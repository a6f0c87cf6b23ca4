//! Fuzzing the harness's parsers of outside input (issue 19): the scrape
//! parser (Prometheus text and OpenMetrics), the OTLP/HTTP decoders
//! (protobuf, JSON, gzip) and the SUT manifest. Seeds come from
//! `fixtures/` (expositions, manifests) and from encoded OTLP exports; each
//! target runs `PROPTEST_CASES` (default 256) cases in CI, or `FUZZ_SECONDS`
//! on demand. Pass: no panic, no case slower than the deadline, bounded
//! peak memory; every input is either parsed or refused with an error that
//! says what was wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../reference-server/tests/reliability_support/mod.rs"]
mod reliability_support;

use std::io::Write as _;
use std::path::Path;

use codeintel_conformance::drive::workspace_root;
use codeintel_conformance::peers::otlp::{self, Encoding};
use codeintel_conformance::scrape::{self, Format};
use codeintel_conformance::sut::manifest::SutManifest;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use proptest::prelude::*;
use prost::Message as _;
use reliability_support::{corpus, fuzz, mutated, mutated_text};

fn fixtures() -> std::path::PathBuf {
    workspace_root().join("fixtures")
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

fn trace_export() -> ExportTraceServiceRequest {
    let span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        parent_span_id: vec![3; 8],
        name: "search".into(),
        kind: 2,
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        attributes: vec![
            kv("codeintel.search.k", "10"),
            kv("http.route", "/v1/search"),
        ],
        status: Some(Status {
            message: "ok".into(),
            code: 1,
        }),
        ..Span::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "codeintel")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![span.clone(), span],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn logs_export() -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "codeintel")],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    severity_text: "INFO".into(),
                    severity_number: 9,
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("index published".into())),
                    }),
                    attributes: vec![kv("codeintel.index.version", "v1")],
                    ..LogRecord::default()
                }],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn otlp_seeds() -> Vec<Vec<u8>> {
    let traces = trace_export();
    let logs = logs_export();
    vec![
        traces.encode_to_vec(),
        logs.encode_to_vec(),
        serde_json::to_vec(&traces).unwrap(),
        serde_json::to_vec(&logs).unwrap(),
    ]
}

fn exposition_seeds() -> Vec<Vec<u8>> {
    let mut seeds = corpus(&fixtures().join("expositions"), &[".prom", ".txt"]);
    seeds.push(scrape::synthetic_exposition(20).into_bytes());
    seeds
}

/// A parse either succeeds or names what is wrong (a non-empty message).
fn scrape_check(text: &str, format: Option<Format>) {
    let result = match format {
        Some(f) => scrape::parse_as(text, f),
        None => scrape::parse(text),
    };
    match result {
        Ok(exposition) => {
            // The queries the checks run must not panic either.
            for family in exposition.families() {
                let _ = exposition.histogram(&family.name);
                let _ = exposition.counter_total(&family.name, &[]);
                let _ = family.label_names();
            }
            let _ = exposition.series_count();
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

#[test]
fn fuzz_scrape_prometheus_text() {
    fuzz(
        "scrape parser (Prometheus text 0.0.4)",
        "scrape::parse_as(Prometheus)",
        1024,
        mutated_text(exposition_seeds()),
        |text| scrape_check(text, Some(Format::Prometheus)),
    );
}

#[test]
fn fuzz_scrape_openmetrics() {
    fuzz(
        "scrape parser (OpenMetrics 1.0)",
        "scrape::parse_as(OpenMetrics)",
        1024,
        mutated_text(exposition_seeds()),
        |text| scrape_check(text, Some(Format::OpenMetrics)),
    );
}

/// Label values, escapes and floats the mutations rarely reach by chance.
#[test]
fn fuzz_scrape_structured_lines() {
    let name = "[a-z_:]{1,12}";
    let label = ("[a-z_]{1,6}", r#"([^"\\\n]|\\[\\"n]|\\.){0,12}"#);
    let value = prop_oneof![
        Just("NaN".to_owned()),
        Just("+Inf".to_owned()),
        Just("-Inf".to_owned()),
        any::<f64>().prop_map(|f| f.to_string()),
        "[-+0-9.eE_xInfa]{0,10}",
    ];
    let line = (
        name,
        prop::collection::vec(label, 0..4),
        value,
        prop::option::of("[0-9]{0,14}"),
    )
        .prop_map(|(n, labels, v, ts)| {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            let ts = ts.map(|t| format!(" {t}")).unwrap_or_default();
            format!("{n}{{{}}} {v}{ts}", labels.join(","))
        });
    let header = prop_oneof![
        Just("# TYPE x counter".to_owned()),
        "# (TYPE|HELP|UNIT) [a-z_]{1,8} [a-z ]{0,10}",
        Just("# EOF".to_owned()),
    ];
    let doc = prop::collection::vec(prop_oneof![3 => line, 1 => header], 0..24)
        .prop_map(|lines| lines.join("\n") + "\n");
    fuzz(
        "scrape parser (generated lines, both formats)",
        "scrape::parse (structured)",
        1024,
        doc,
        |text| {
            scrape_check(text, None);
            scrape_check(text, Some(Format::OpenMetrics));
        },
    );
}

fn otlp_check(bytes: &[u8]) {
    for encoding in [Encoding::Protobuf, Encoding::Json] {
        if let Err(e) = otlp::decode_traces(encoding, bytes) {
            assert!(e.to_string().contains("ExportTraceServiceRequest"), "{e}");
        }
        if let Err(e) = otlp::decode_logs(encoding, bytes) {
            assert!(e.to_string().contains("ExportLogsServiceRequest"), "{e}");
        }
    }
}

#[test]
fn fuzz_otlp_protobuf_and_json() {
    fuzz(
        "OTLP decoders (protobuf, JSON)",
        "otlp::decode_traces / decode_logs",
        1024,
        mutated(otlp_seeds()),
        |bytes| otlp_check(bytes),
    );
}

#[test]
fn fuzz_otlp_gzip() {
    let seeds: Vec<Vec<u8>> = otlp_seeds().iter().map(|s| gzip(s)).collect();
    fuzz(
        "OTLP decoders (gzip Content-Encoding)",
        "otlp::decompress + decode",
        1024,
        mutated(seeds),
        |bytes| {
            for encoding in [
                Some("gzip"),
                Some("x-gzip"),
                Some("identity"),
                Some("br"),
                None,
            ] {
                match otlp::decompress(encoding, bytes) {
                    Ok(plain) => otlp_check(&plain),
                    Err(e) => assert!(!e.to_string().is_empty()),
                }
            }
        },
    );
}

/// A gzip bomb: 1 GiB of zeros compressed to about 1 MiB is refused as too
/// large (bounded memory) instead of being inflated whole.
#[test]
fn otlp_gzip_bomb_is_refused_with_bounded_memory() {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..96 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    let before = reliability_support::peak_rss_kib();
    let err = otlp::decompress(Some("gzip"), &bomb).unwrap_err();
    let growth = reliability_support::peak_rss_kib().saturating_sub(before) / 1024;
    assert!(
        err.to_string().contains("large") || err.to_string().contains("limit"),
        "{err}"
    );
    assert!(growth < 200, "peak RSS grew {growth} MiB");
    reliability_support::record(
        "fuzz",
        "OTLP gzip bomb (96 MiB inflated)",
        serde_json::json!({"target": "otlp::decompress", "cases": 1, "outcome": format!("pass: refused ({err})"), "pass": true}),
    );
}

fn manifest_seeds() -> Vec<Vec<u8>> {
    let mut seeds = corpus(&fixtures().join("suts"), &[".toml"]);
    seeds.retain(|s| String::from_utf8_lossy(s).contains("command"));
    seeds
}

#[test]
fn fuzz_sut_manifest() {
    fuzz(
        "SUT manifest (sut.toml)",
        "SutManifest::parse",
        1024,
        mutated_text(manifest_seeds()),
        |text| {
            let path = Path::new("/fuzz/sut.toml");
            match SutManifest::parse(text, path) {
                Ok(m) => assert!(!m.program.is_empty(), "a manifest without a program: {m:?}"),
                Err(e) => assert!(e.to_string().contains("sut.toml"), "{e}"),
            }
        },
    );
}
