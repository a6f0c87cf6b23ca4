//! Fuzzing the lint's two front ends (issue 19): Rust (`syn`) and Python
//! (tree-sitter), seeded from `fixtures/lint`. Each target runs
//! `PROPTEST_CASES` (default 256) cases in CI, or `FUZZ_SECONDS` on demand.
//! Pass: no panic, no stack overflow, no case slower than the deadline,
//! bounded memory; a file that does not parse is an `LNT-000` diagnostic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../reference-server/tests/reliability_support/mod.rs"]
mod reliability_support;

use std::path::{Path, PathBuf};

use codeintel_lint::python::{check_python, new_parser};
use codeintel_lint::rust::check_rust;
use reliability_support::{corpus, fuzz, mutated, mutated_text};

fn lint_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/lint")
}

/// The stack a rayon worker of the lint gets (2 MiB, Rust's default for
/// spawned threads): a front end must not overflow it on any input.
const WORKER_STACK: usize = 2 << 20;

fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn fuzz_rust_front_end() {
    fuzz(
        "lint front end: Rust (syn)",
        "rust::check_rust",
        1024,
        mutated_text(corpus(&lint_fixtures().join("rust"), &[".rs"])),
        |text| {
            let text = text.clone();
            on_worker_stack(move || {
                for allowed in [false, true] {
                    for d in check_rust(Path::new("fuzz.rs"), &text, allowed) {
                        assert!(!d.message.is_empty());
                    }
                }
            });
        },
    );
}

#[test]
fn fuzz_python_front_end() {
    fuzz(
        "lint front end: Python (tree-sitter)",
        "python::check_python",
        1024,
        mutated(corpus(&lint_fixtures().join("python"), &[".py"])),
        |bytes| {
            let bytes = bytes.clone();
            on_worker_stack(move || {
                let mut parser = new_parser().unwrap();
                let path = Path::new("telemetry/fuzz.py");
                for allowed in [false, true] {
                    for d in check_python(&mut parser, path, path, &bytes, allowed) {
                        assert!(!d.message.is_empty());
                    }
                }
            });
        },
    );
}

/// Deeply nested input (a known way to overflow a recursive-descent
/// parser's stack, which aborts the whole process): each front end answers
/// with diagnostics on a worker-sized stack. The seeded crash of the Rust
/// front end: before `MAX_NESTING`, 20 000 nested parentheses aborted the
/// lint with a stack overflow.
#[test]
fn deeply_nested_sources_do_not_overflow_the_stack() {
    // At the limit the file is parsed and checked as usual.
    let at_limit = format!(
        "use prometheus::Counter;\nfn f() {{ let x = {}1{}; }}\n",
        "(".repeat(codeintel_lint::rust::MAX_NESTING - 2),
        ")".repeat(codeintel_lint::rust::MAX_NESTING - 2)
    );
    on_worker_stack(move || {
        let d = check_rust(Path::new("limit.rs"), &at_limit, false);
        assert!(
            d.iter().any(|d| d.rule != codeintel_lint::Rule::ParseError),
            "{d:?}"
        );
    });
    let depth = 20_000;
    let mut cases = 0;
    for (open, close) in [("(", ")"), ("[", "]"), ("{", "}")] {
        let rust = format!(
            "use prometheus::Counter;\nfn f() {{ let x = {}1{}; }}\n",
            open.repeat(depth),
            close.repeat(depth)
        );
        on_worker_stack(move || {
            let d = check_rust(Path::new("deep.rs"), &rust, false);
            assert!(
                !d.is_empty(),
                "no diagnostic for a file with a banned import"
            );
        });
        let python = format!(
            "import prometheus_client\nx = {}1{}\n",
            open.repeat(depth),
            close.repeat(depth)
        );
        on_worker_stack(move || {
            let mut parser = new_parser().unwrap();
            let p = Path::new("deep.py");
            let d = check_python(&mut parser, p, p, python.as_bytes(), false);
            assert!(!d.is_empty());
        });
        cases += 2;
    }
    reliability_support::record(
        "fuzz",
        "lint front ends: 20 000-deep nesting (regression)",
        serde_json::json!({"target": "check_rust / check_python", "cases": cases, "outcome": "pass: diagnostics, no stack overflow", "pass": true}),
    );
}
