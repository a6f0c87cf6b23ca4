//! The CI recipes (.github/workflows/*.yml, deploy/ci/*.yml) and the
//! OpenTelemetry Collector configuration, read as YAML: every script a CI
//! file runs exists (and is executable when run directly), every
//! `codeintel-conformance` subcommand and flag it passes is one the CLI
//! defines (read from its clap definitions), every `cargo -p`/`--test` names
//! a package or test target that exists; the collector's pipelines use only
//! components it defines, with OTLP in, batch, and the exporters the guide
//! promises.

// Test helpers outside `#[test]` functions unwrap too (a failure is the test failing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ops_support;
mod serve_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ops_support::*;
use serde_yaml_ng::Value;

// ---------------------------------------------------------------- the CLI

/// `codeintel-conformance`'s subcommands and, for each, its long flags, as
/// declared with clap in conformance/src/main.rs and conformance/src/cli/.
fn conformance_cli() -> BTreeMap<String, BTreeSet<String>> {
    // The binary: main.rs declares the subcommands, cli/*.rs their argument
    // structs (shared groups flattened into each).
    let mut src = read(&repo_root().join("conformance/src/main.rs"));
    let mut cli_files: Vec<_> = std::fs::read_dir(repo_root().join("conformance/src/cli"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    cli_files.sort();
    for f in cli_files {
        src.push('\n');
        src.push_str(&read(&f));
    }
    let block = |start: &str| -> Vec<&str> {
        let from = src
            .find(start)
            .unwrap_or_else(|| panic!("`{start}` not in conformance/src/main.rs"));
        src[from..]
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with('}'))
            .collect()
    };
    let kebab = |s: &str| -> String {
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    out.push('-');
                }
                out.push(c.to_ascii_lowercase());
            } else if c == '_' {
                out.push('-');
            } else {
                out.push(c);
            }
        }
        out
    };
    // Long flags of an `Args` struct, following `#[command(flatten)]` fields
    // into the structs they name (a fn item: it recurses).
    #[allow(clippy::items_after_statements)]
    fn flags_of(
        args_struct: &str,
        block: &dyn Fn(&str) -> Vec<String>,
        kebab: &dyn Fn(&str) -> String,
    ) -> BTreeSet<String> {
        let lines = block(&format!("struct {args_struct} {{"));
        let mut flags: BTreeSet<String> = ["--help".to_owned()].into();
        let mut long = false;
        let mut flatten = false;
        for l in lines {
            let t = l.trim();
            let t = t
                .strip_prefix("pub(crate) ")
                .or_else(|| t.strip_prefix("pub "))
                .unwrap_or(t);
            if t.starts_with("#[arg(") {
                long = t.contains("long");
            } else if t.starts_with("#[command(flatten)]") {
                flatten = true;
            } else if let Some((field, ty)) = t.split_once(':')
                && !t.starts_with("//")
                && field.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            {
                if flatten {
                    let ty = ty.trim().trim_end_matches(',');
                    let ty = ty.rsplit("::").next().unwrap_or(ty);
                    flags.extend(flags_of(ty, block, kebab));
                } else if long {
                    flags.insert(format!("--{}", kebab(field)));
                }
                long = false;
                flatten = false;
            }
        }
        flags
    }
    let owned_block =
        |start: &str| -> Vec<String> { block(start).into_iter().map(str::to_owned).collect() };
    let variant = regex::Regex::new(r"^    ([A-Z]\w*)(?:\((?:\w+::)*(\w+)\))?").unwrap();
    let mut cli = BTreeMap::new();
    for l in block("enum Command {") {
        if let Some(c) = variant.captures(l) {
            let flags = c.get(2).map_or_else(
                || ["--help".to_owned()].into(),
                |s| flags_of(s.as_str(), &owned_block, &kebab),
            );
            cli.insert(kebab(&c[1]), flags);
        }
    }
    cli
}

#[test]
fn the_cli_is_read_from_its_clap_definitions() {
    let cli = conformance_cli();
    let names: Vec<&str> = cli.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "diff",
            "explain",
            "list",
            "live-check",
            "matrix",
            "mutants",
            "run",
            "snapshot"
        ]
    );
    // Flags of flattened structs count (`snapshot --sut`, `diff --markdown`).
    assert!(cli["snapshot"].contains("--sut"), "{:?}", cli["snapshot"]);
    assert!(cli["diff"].contains("--markdown"), "{:?}", cli["diff"]);
    for f in [
        "--sut",
        "--junit",
        "--markdown",
        "--strict",
        "--mcp-suite",
        "--save-observations",
    ] {
        assert!(cli["run"].contains(f), "{f}: {:?}", cli["run"]);
    }
    assert!(cli["matrix"].contains("--markdown"));
    assert!(cli["matrix"].contains("--junit"));
    assert!(!cli["matrix"].contains("--sarif"));
}

// ---------------------------------------------------------------- CI files

/// Every shell command a CI file runs, with where it comes from.
fn commands(path: &Path) -> Vec<(String, String)> {
    let doc = yaml(path);
    let mut out = Vec::new();
    let mut push = |at: String, script: &str| {
        // one logical line per command; join continuation lines
        let joined = script.replace("\\\n", " ");
        for line in joined.lines() {
            for cmd in line.split("&&").flat_map(|c| c.split(';')) {
                let cmd = cmd.trim();
                if !cmd.is_empty() && !cmd.starts_with('#') {
                    out.push((at.clone(), cmd.to_owned()));
                }
            }
        }
    };
    if let Some(jobs) = doc.get("jobs").and_then(Value::as_mapping) {
        // GitHub Actions
        for (job, spec) in jobs {
            for (i, step) in spec["steps"].as_sequence().unwrap().iter().enumerate() {
                if let Some(run) = step.get("run").and_then(Value::as_str) {
                    push(format!("{}: job {job:?} step {i}", path.display()), run);
                }
            }
        }
    } else {
        // GitLab CI: every mapping with a script
        for (job, spec) in doc.as_mapping().unwrap() {
            for key in ["before_script", "script", "after_script"] {
                for line in spec
                    .get(key)
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                {
                    push(
                        format!("{}: job {job:?} {key}", path.display()),
                        line.as_str().unwrap(),
                    );
                }
            }
        }
    }
    out
}

fn ci_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [".github/workflows", "deploy/ci"] {
        let dir = repo_root().join(dir);
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Whether `pattern` (a repo-relative path, `*` allowed in its last part)
/// names at least one file of the repository.
fn exists(pattern: &str) -> bool {
    let path = repo_root().join(pattern);
    if !pattern.contains('*') {
        return path.exists();
    }
    let (dir, glob) = pattern.rsplit_once('/').unwrap_or((".", pattern));
    let re = regex::Regex::new(&format!("^{}$", regex::escape(glob).replace(r"\*", ".*"))).unwrap();
    std::fs::read_dir(repo_root().join(dir)).is_ok_and(|rd| {
        rd.filter_map(Result::ok)
            .any(|e| re.is_match(&e.file_name().to_string_lossy()))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Workspace packages and their integration test targets.
fn packages() -> BTreeMap<String, BTreeSet<String>> {
    let root: toml::Table = toml::from_str(&read(&repo_root().join("Cargo.toml"))).unwrap();
    let mut out = BTreeMap::new();
    for m in root["workspace"]["members"].as_array().unwrap() {
        let dir = repo_root().join(m.as_str().unwrap());
        let manifest: toml::Table = toml::from_str(&read(&dir.join("Cargo.toml"))).unwrap();
        let name = manifest["package"]["name"].as_str().unwrap().to_owned();
        let tests = std::fs::read_dir(dir.join("tests"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_suffix(".rs").map(str::to_owned)
            })
            .collect();
        out.insert(name, tests);
    }
    out
}

/// What is wrong with the commands: missing scripts or paths, unknown
/// packages, test targets, subcommands or flags.
fn problems(commands: &[(String, String)]) -> Vec<String> {
    let cli = conformance_cli();
    let packages = packages();
    let mut out = Vec::new();
    for (at, cmd) in commands {
        let words: Vec<&str> = cmd
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
            .collect();
        // paths into the repository
        for (i, w) in words.iter().enumerate() {
            let repo_path = w.contains('/')
                && !w.starts_with(['-', '$', '~', '/', '.'])
                && !w.starts_with("target/")
                && !w.contains("://")
                && !w.contains('=');
            if !repo_path {
                continue;
            }
            if !exists(w) {
                out.push(format!(
                    "{at}: `{w}` does not exist in the repository ({cmd})"
                ));
            } else if i == 0 && !is_executable(&repo_root().join(w)) {
                out.push(format!("{at}: `{w}` is run directly but is not executable"));
            }
        }
        // cargo -p PACKAGE [--test NAME ...] [-- ARGS]
        if words.first() == Some(&"cargo") {
            let mut package = None;
            for pair in words.windows(2) {
                match pair[0] {
                    "-p" | "--package" => {
                        package = Some(pair[1]);
                        if !packages.contains_key(pair[1]) {
                            out.push(format!("{at}: no workspace package `{}` ({cmd})", pair[1]));
                        }
                    }
                    "--test" => {
                        let tests = package.and_then(|p| packages.get(p));
                        if !tests.is_some_and(|t| t.contains(pair[1])) {
                            out.push(format!(
                                "{at}: no test target `{}` in {package:?} ({cmd})",
                                pair[1]
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
        // the conformance CLI: `scripts/conformance.sh ARGS` passes ARGS to
        // `run`; `cargo run -p codeintel-conformance -- SUB ARGS`;
        // `codeintel-conformance SUB ARGS`.
        let invocation: Option<(String, &[&str])> = if let Some(i) = words
            .iter()
            .position(|w| w.ends_with("scripts/conformance.sh"))
        {
            Some(("run".to_owned(), &words[i + 1..]))
        } else if words.first() == Some(&"cargo")
            && words.get(1) == Some(&"run")
            && words.contains(&"codeintel-conformance")
        {
            words.iter().position(|w| *w == "--").map(|i| {
                (
                    words.get(i + 1).copied().unwrap_or_default().to_owned(),
                    &words[(i + 2).min(words.len())..],
                )
            })
        } else {
            words
                .iter()
                .position(|w| w.ends_with("codeintel-conformance"))
                .filter(|i| *i == 0)
                .map(|i| {
                    (
                        words.get(i + 1).copied().unwrap_or_default().to_owned(),
                        &words[(i + 2).min(words.len())..],
                    )
                })
        };
        if let Some((sub, args)) = invocation {
            match cli.get(&sub) {
                None => out.push(format!(
                    "{at}: `codeintel-conformance {sub}` is not a subcommand ({:?})",
                    cli.keys().collect::<Vec<_>>()
                )),
                Some(flags) => {
                    for a in args.iter().filter(|a| a.starts_with("--")) {
                        let flag = a.split('=').next().unwrap_or(a);
                        if !flags.contains(flag) {
                            out.push(format!(
                                "{at}: `codeintel-conformance {sub}` has no flag `{flag}` ({cmd})"
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_command_the_ci_files_run_exists_in_the_repository() {
    let files = ci_files();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(repo_root()).unwrap().display().to_string())
        .collect();
    assert!(
        names.contains(&".github/workflows/telemetry-gate.yml".to_owned())
            && names.contains(&"deploy/ci/gitlab-ci.yml".to_owned()),
        "{names:?}"
    );
    for f in &files {
        let cmds = commands(f);
        assert!(!cmds.is_empty(), "{}: no commands found", f.display());
        let p = problems(&cmds);
        assert!(p.is_empty(), "{}", p.join("\n"));
        // The conformance gate's files (not the telemetry-diff workflow)
        // run the suite with both reports.
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !matches!(name, "telemetry-gate.yml" | "gitlab-ci.yml") {
            continue;
        }
        let text = cmds
            .iter()
            .map(|(_, c)| c.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        for want in [
            "scripts/conformance.sh",
            "--junit junit.xml",
            "--markdown report.md",
        ] {
            assert!(text.contains(want), "{}: runs {want}:\n{text}", f.display());
        }
    }
}

#[test]
fn the_github_gate_reports_into_the_step_summary_and_uploads_whatever_the_outcome() {
    let path = repo_root().join(".github/workflows/telemetry-gate.yml");
    let doc = yaml(&path);
    let steps: Vec<&Value> = doc["jobs"]
        .as_mapping()
        .unwrap()
        .values()
        .flat_map(|j| j["steps"].as_sequence().unwrap())
        .collect();
    let summary = steps
        .iter()
        .find(|s| {
            s.get("run")
                .and_then(Value::as_str)
                .is_some_and(|r| r.contains("report.md") && r.contains("$GITHUB_STEP_SUMMARY"))
        })
        .expect("a step appends report.md to $GITHUB_STEP_SUMMARY");
    assert_eq!(summary["if"].as_str(), Some("always()"));
    let upload = steps
        .iter()
        .find(|s| {
            s.get("uses")
                .and_then(Value::as_str)
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("an upload-artifact step");
    assert_eq!(upload["if"].as_str(), Some("always()"));
    let uploaded = upload["with"]["path"].as_str().unwrap();
    assert!(uploaded.contains("junit.xml") && uploaded.contains("report.md"));
    let env = &doc["jobs"]["telemetry-gate"]["env"];
    assert_eq!(env["CODEINTEL_REQUIRE_PROMETHEUS"].as_str(), Some("1"));

    let gitlab = yaml(&repo_root().join("deploy/ci/gitlab-ci.yml"));
    let job = &gitlab["telemetry-gate"];
    assert_eq!(job["artifacts"]["when"].as_str(), Some("always"));
    assert_eq!(
        job["artifacts"]["reports"]["junit"].as_str(),
        Some("junit.xml")
    );
    assert_eq!(
        job["variables"]["CODEINTEL_REQUIRE_PROMETHEUS"].as_str(),
        Some("1")
    );
}

#[test]
fn a_ci_file_with_a_missing_script_or_an_unknown_flag_is_caught() {
    let bad = [
        "scripts/conformance.sh --junit junit.xml --markdwon report.md",
        "scripts/no-such-script.sh",
        "cargo run -p codeintel-conformance -- verify --sut reference",
        "cargo run -p codeintel-conformance -- matrix reference --sarif j.sarif",
        "cargo test -p codeintel-server --test no_such_test",
        "cargo build -p no-such-package",
        "promtool test rules deploy/prometheus/tests/*.yaml-nope",
        "fixtures/golden/queries.toml",
    ];
    for cmd in bad {
        let p = problems(&[("test".to_owned(), cmd.to_owned())]);
        assert!(!p.is_empty(), "not caught: {cmd}");
    }
    let good = [
        "scripts/conformance.sh --junit junit.xml --markdown report.md --strict",
        "cargo run -p codeintel-conformance -- matrix reference --markdown m.md",
        "cargo test -p codeintel-server --test ops_ci",
        "promtool test rules deploy/prometheus/tests/*.yml",
        "source scripts/setup.sh",
    ];
    for cmd in good {
        let p = problems(&[("test".to_owned(), cmd.to_owned())]);
        assert!(p.is_empty(), "{cmd}: {p:?}");
    }
}

// ---------------------------------------------------------------- collector

#[test]
fn the_collector_pipelines_use_only_components_it_defines() {
    let cfg = yaml(&deploy("otel-collector/config.yaml"));
    let defined = |section: &str| -> BTreeSet<String> {
        cfg[section]
            .as_mapping()
            .unwrap_or_else(|| panic!("section {section}"))
            .keys()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect()
    };
    let pipelines = cfg["service"]["pipelines"].as_mapping().unwrap();
    let kinds: BTreeSet<&str> = pipelines.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(kinds, ["logs", "metrics", "traces"].into());
    for (name, p) in pipelines {
        let name = name.as_str().unwrap();
        for section in ["receivers", "processors", "exporters"] {
            let used: Vec<&str> = p[section]
                .as_sequence()
                .unwrap_or_else(|| panic!("{name}: {section}"))
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert!(
                !used.is_empty() || section == "processors",
                "{name}: {section}"
            );
            for u in &used {
                assert!(
                    defined(section).contains(*u),
                    "{name}: {section} {u} is not defined"
                );
            }
            if section == "processors" {
                assert_eq!(
                    used.first(),
                    Some(&"memory_limiter"),
                    "{name}: memory_limiter first"
                );
                assert_eq!(used.last(), Some(&"batch"), "{name}: batch last");
            }
        }
    }
    // OTLP in, both protocols
    let otlp = &cfg["receivers"]["otlp"]["protocols"];
    assert!(otlp.get("grpc").is_some() && otlp.get("http").is_some());
    let uses = |pipeline: &str, section: &str| -> Vec<String> {
        cfg["service"]["pipelines"][pipeline][section]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    for signal in ["traces", "logs"] {
        assert!(uses(signal, "receivers").contains(&"otlp".to_owned()));
        assert!(
            uses(signal, "exporters")
                .iter()
                .all(|e| e == "otlp" || e.starts_with("otlp/")),
            "{signal} to an OTLP backend"
        );
    }
    assert!(uses("traces", "processors").contains(&"tail_sampling".to_owned()));
    assert!(
        uses("metrics", "exporters")
            .iter()
            .any(|e| e == "prometheusremotewrite" || e == "prometheus"),
        "metrics through remote-write or the prometheus exporter"
    );
    // the reference's metrics are scraped from its listener
    let scrape = serde_yaml_ng::to_string(&cfg["receivers"]["prometheus/codeintel"]).unwrap();
    assert!(scrape.contains("127.0.0.1:9464"), "{scrape}");

    // every listen/default address is loopback
    let text = read(&deploy("otel-collector/config.yaml"));
    let addr = regex::Regex::new(r"(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}):\d+").unwrap();
    let found: Vec<&str> = addr
        .captures_iter(&text)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert!(!found.is_empty());
    for a in found {
        assert_eq!(
            a, "127.0.0.1",
            "non-loopback address in the collector config"
        );
    }
}
