//! The official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! npm), run against a SUT's streamable-HTTP endpoint `/mcp` (the `MCP-*`
//! requirements).
//!
//! `scripts/setup-node.sh` installs the pinned package and a Node 22 into
//! `${CODEINTEL_CACHE:-$HOME/.cache/codeintel}/mcp-suite`; the harness finds
//! that folder through `--mcp-suite DIR`, else `CODEINTEL_MCP_SUITE`, else the
//! cache path when it exists. Each scenario is one run of
//! `node …/dist/index.js server --url URL --scenario NAME -o DIR`, bounded by a
//! deadline after which the harness kills its process group; the results are
//! read from the `checks.json` the suite writes under `DIR`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::observe::{McpScenarioRun, McpSuiteCheck};
use crate::sut::process::{signal_group, strip_ansi};

/// Variable naming the suite's install folder (as `--mcp-suite DIR`).
pub const SUITE_VAR: &str = "CODEINTEL_MCP_SUITE";

/// Variable naming the cache folder the set-up scripts install into.
pub const CACHE_VAR: &str = "CODEINTEL_CACHE";

/// The npm package.
pub const PACKAGE: &str = "@modelcontextprotocol/conformance";

pub use crate::mcp_scenarios::{INSTALL_HINT, SCENARIOS, scenario_of};

/// Default deadline of one scenario (node start-up included).
pub const DEFAULT_SCENARIO_TIMEOUT: Duration = Duration::from_secs(30);

/// The suite could not be found or read.
#[derive(Debug, thiserror::Error)]
pub enum McpSuiteError {
    #[error(
        "no official MCP conformance suite in {dir} (looked for {missing}); {INSTALL_HINT}, or point --mcp-suite / {SUITE_VAR} at the folder it prints"
    )]
    NotInstalled { dir: PathBuf, missing: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the suite's checks.json is not a JSON array of checks: {0}")]
    Parse(#[from] serde_json::Error),
}

/// An installed suite: its folder, the Node that runs it and its entry point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpSuite {
    /// The install folder (holds `node_modules`).
    pub dir: PathBuf,
    /// `node_modules/.bin/node` (Node 22 from the `node` npm package).
    pub node: PathBuf,
    /// `node_modules/@modelcontextprotocol/conformance/dist/index.js`.
    pub entry: PathBuf,
    /// The package's version, from its `package.json`.
    pub version: String,
}

/// Where the harness looks for the suite, and what it found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum McpSuiteSetting {
    /// Found: run it.
    Installed(McpSuite),
    /// Not found (the `MCP-*` requirements are skipped), with where it looked.
    Missing(String),
    /// Not asked for (library callers that build a [`crate::drive::DriveConfig`]
    /// themselves); judged like `Missing`.
    #[default]
    NotConfigured,
}

impl McpSuite {
    /// The suite installed in `dir` (the folder `scripts/setup-node.sh` prints).
    pub fn at(dir: &Path) -> Result<Self, McpSuiteError> {
        let modules = dir.join("node_modules");
        let node = modules.join(".bin").join("node");
        let package = modules.join(PACKAGE);
        let entry = package.join("dist").join("index.js");
        for needed in [&node, &entry] {
            if !needed.is_file() {
                return Err(McpSuiteError::NotInstalled {
                    dir: dir.to_path_buf(),
                    missing: needed.clone(),
                });
            }
        }
        let manifest = package.join("package.json");
        let text = std::fs::read_to_string(&manifest).map_err(|source| McpSuiteError::Read {
            path: manifest.clone(),
            source,
        })?;
        let version = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("version").and_then(|v| v.as_str()).map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(Self {
            dir: dir.to_path_buf(),
            node,
            entry,
            version,
        })
    }

    /// The package, its version and where it is, for reports.
    pub fn describe(&self) -> String {
        format!("{PACKAGE}@{} in {}", self.version, self.dir.display())
    }

    /// Runs `scenario` against `url` and reads its checks; never longer than
    /// `deadline` (the process group is killed then). The suite's own
    /// scenario timeout is set 2 s inside the deadline, so a hanging server
    /// is normally reported by the suite itself.
    pub async fn run_scenario(
        &self,
        url: &str,
        scenario: &str,
        deadline: Duration,
    ) -> McpScenarioRun {
        let inner = deadline
            .saturating_sub(Duration::from_secs(2))
            .max(Duration::from_secs(1));
        self.run_scenario_with(url, scenario, deadline, inner).await
    }

    /// [`Self::run_scenario`] with the suite's own timeout given: past
    /// `deadline` the harness kills the run whatever `suite_timeout` says.
    pub async fn run_scenario_with(
        &self,
        url: &str,
        scenario: &str,
        deadline: Duration,
        suite_timeout: Duration,
    ) -> McpScenarioRun {
        let started = Instant::now();
        let mut run = McpScenarioRun {
            scenario: scenario.to_owned(),
            url: url.to_owned(),
            ..McpScenarioRun::default()
        };
        let out_dir = match tempfile::Builder::new()
            .prefix("codeintel-mcp-suite-")
            .tempdir()
        {
            Ok(d) => d,
            Err(e) => {
                run.error = Some(format!(
                    "cannot create a folder for the suite's results: {e}"
                ));
                return run;
            }
        };
        let child = tokio::process::Command::new(&self.node)
            .arg(&self.entry)
            .args(["server", "--url", url, "--scenario", scenario, "--timeout"])
            .arg(suite_timeout.as_millis().to_string())
            .arg("--output-dir")
            .arg(out_dir.path())
            .current_dir(out_dir.path())
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                run.error = Some(format!("could not start {}: {e}", self.node.display()));
                return run;
            }
        };
        let pid = child.id();
        match tokio::time::timeout(deadline, child.wait_with_output()).await {
            Ok(Ok(out)) => {
                run.exit_code = out.status.code();
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                run.output_tail = tail(&strip_ansi(&text), 40);
            }
            Ok(Err(e)) => run.error = Some(format!("waiting for the suite failed: {e}")),
            Err(_) => {
                // The child was dropped with the future (kill_on_drop reaches
                // node); take any process it started too.
                if let Some(pid) = pid {
                    signal_group(pid, libc::SIGKILL);
                }
                run.timed_out = true;
                run.error = Some(format!(
                    "did not finish within {:.0} s; the harness killed it",
                    deadline.as_secs_f64()
                ));
            }
        }
        run.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if !run.timed_out {
            match find_checks(out_dir.path()).map(|p| read_checks(&p)) {
                Some(Ok(checks)) => run.checks = checks,
                Some(Err(e)) => {
                    run.error.get_or_insert_with(|| e.to_string());
                }
                None => {
                    run.error.get_or_insert_with(|| {
                        format!(
                            "the suite wrote no checks.json (exit {})",
                            run.exit_code
                                .map_or_else(|| "by signal".to_owned(), |c| c.to_string())
                        )
                    });
                }
            }
        }
        run
    }
}

/// Where the suite is: `flag` (`--mcp-suite DIR`), else `CODEINTEL_MCP_SUITE`,
/// else the cache folder of `scripts/setup-node.sh` when it holds the suite.
/// A folder named by the flag or the variable that holds no suite is an
/// error (a misconfiguration, not a missing optional tool).
pub fn locate(flag: Option<&Path>) -> Result<McpSuiteSetting, McpSuiteError> {
    let explicit = flag.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(SUITE_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if let Some(dir) = explicit {
        return McpSuite::at(&dir).map(McpSuiteSetting::Installed);
    }
    let Some(dir) = default_dir() else {
        return Ok(McpSuiteSetting::Missing(format!(
            "neither --mcp-suite, {SUITE_VAR}, {CACHE_VAR} nor HOME is set"
        )));
    };
    Ok(match McpSuite::at(&dir) {
        Ok(suite) => McpSuiteSetting::Installed(suite),
        Err(e) => McpSuiteSetting::Missing(e.to_string()),
    })
}

/// `${CODEINTEL_CACHE:-$HOME/.cache/codeintel}`: where the set-up scripts
/// install what the harness and the tests use (the MCP suite, the Python
/// implementation's venv), outside the checkout.
pub fn cache_root() -> Option<PathBuf> {
    std::env::var_os(CACHE_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache").join("codeintel"))
        })
}

/// `${CODEINTEL_CACHE:-$HOME/.cache/codeintel}/mcp-suite`.
pub fn default_dir() -> Option<PathBuf> {
    Some(cache_root()?.join("mcp-suite"))
}

/// The `checks.json` the suite wrote under `out_dir`
/// (`server-SCENARIO-TIMESTAMP/checks.json`).
fn find_checks(out_dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(out_dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("checks.json"))
        .find(|p| p.is_file())
}

fn read_checks(path: &Path) -> Result<Vec<McpSuiteCheck>, McpSuiteError> {
    let text = std::fs::read_to_string(path).map_err(|source| McpSuiteError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_checks(&text)
}

/// One check as the suite writes it (`checks.json`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct RawCheck {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    details: Option<serde_json::Value>,
}

/// Parses the suite's `checks.json` (an array of `{id, name, description,
/// status, errorMessage?, details?}`; `status` is `SUCCESS`, `FAILURE`,
/// `WARNING`, `SKIPPED` or `INFO`).
pub fn parse_checks(json: &str) -> Result<Vec<McpSuiteCheck>, McpSuiteError> {
    let raw: Vec<RawCheck> = serde_json::from_str(json)?;
    Ok(raw
        .into_iter()
        .map(|c| McpSuiteCheck {
            id: c.id,
            name: c.name,
            description: c.description,
            status: c.status.to_ascii_uppercase(),
            error_message: c.error_message,
            details: c.details.map(|d| crate::text::excerpt(&d.to_string(), 300)),
        })
        .collect())
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_are_the_mcp_group_in_order() {
        let ids: Vec<&str> = crate::catalog::all()
            .iter()
            .filter(|r| r.group == "MCP")
            .map(|r| r.id)
            .collect();
        let mapped: Vec<&str> = SCENARIOS.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, mapped);
        assert_eq!(scenario_of("mcp-002"), Some("ping"));
        assert_eq!(scenario_of("MET-001"), None);
    }

    #[test]
    fn a_folder_without_the_suite_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let err = McpSuite::at(dir.path()).unwrap_err().to_string();
        assert!(err.contains("node_modules/.bin/node"), "{err}");
        assert!(err.contains(INSTALL_HINT), "{err}");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
