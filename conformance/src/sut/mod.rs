//! Systems under test: one trait, two adapters.
//!
//! - [`process::ProcessSut`]: any implementation started from a
//!   [`manifest::SutManifest`], talked to only over the wire; its spans and
//!   logs arrive at the harness's OTLP receiver.
//! - `reference` (feature `reference`, written beside this module): the
//!   reference server linked in-process; its spans and logs come from
//!   in-memory exporters, which it hands over through [`Sut::telemetry`].
//!
//! The drive phase owns the [`SutEnv`] (ports, peers' URLs, folders) and gives
//! it to [`Sut::start`]; every adapter reads the same variables of the
//! contract.

pub mod manifest;
pub mod process;
#[cfg(feature = "reference")]
pub mod reference;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::observe::{LogRecord, SpanRecord, SutInfo};

/// How a SUT exports spans and logs to the harness's OTLP receiver: the
/// value of `OTEL_EXPORTER_OTLP_PROTOCOL`, chosen by a manifest's
/// `otlp_protocol`. With [`OtlpProtocol::Grpc`] the SUT's
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is the receiver's gRPC port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `http/protobuf` (the default).
    #[default]
    HttpProtobuf,
    /// `http/json`.
    HttpJson,
    /// `grpc` (h2c to the receiver's own port).
    Grpc,
}

impl OtlpProtocol {
    /// Every protocol, in the order the OpenTelemetry spec lists them.
    pub const ALL: [Self; 3] = [Self::Grpc, Self::HttpProtobuf, Self::HttpJson];

    /// The `OTEL_EXPORTER_OTLP_PROTOCOL` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "http/protobuf",
            Self::HttpJson => "http/json",
            Self::Grpc => "grpc",
        }
    }

    /// From an `OTEL_EXPORTER_OTLP_PROTOCOL` value (exactly as the spec
    /// spells it).
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

impl std::fmt::Display for OtlpProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the harness tells a SUT, as the contract's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SutEnv {
    /// `CODEINTEL_REPO`: the repository to index and serve.
    pub repo: PathBuf,
    /// `CODEINTEL_DATA`: a fresh writable folder.
    pub data: PathBuf,
    /// `CODEINTEL_HTTP_ADDR`: HTTP and MCP (`/mcp`).
    pub http_addr: SocketAddr,
    /// `PROMETHEUS_ADDR`.
    pub prometheus_addr: IpAddr,
    /// `PROMETHEUS_PORT`.
    pub prometheus_port: u16,
    /// `CODEINTEL_VLLM_URL`: base URL of the harness's embeddings server.
    pub embed_url: String,
    /// `CODEINTEL_EMBED_MODEL`.
    pub embed_model: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: base URL of the harness's OTLP receiver
    /// (its gRPC port when `otlp_protocol` is gRPC).
    pub otlp_endpoint: String,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` (default `http/protobuf`).
    pub otlp_protocol: OtlpProtocol,
    /// `OTEL_SERVICE_NAME`.
    pub service_name: String,
    /// Further variables (hints beyond the contract), set last.
    pub extra: BTreeMap<String, String>,
}

/// The variables of the contract the harness sets for every SUT. A
/// manifest's `[env]` may not override them (the harness, not the
/// implementation, decides where it listens and where telemetry goes).
pub const CONTRACT_VARS: &[&str] = &[
    "CODEINTEL_REPO",
    "CODEINTEL_DATA",
    "CODEINTEL_HTTP_ADDR",
    "PROMETHEUS_ADDR",
    "PROMETHEUS_PORT",
    "CODEINTEL_VLLM_URL",
    "CODEINTEL_EMBED_MODEL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BLRP_SCHEDULE_DELAY",
    "OTEL_METRIC_EXPORT_INTERVAL",
];

/// Variables a process SUT inherits from the harness's own environment
/// (everything else is cleared, so e.g. CI's `OTEL_*` never reaches it).
/// Names ending in `*` are prefixes. A manifest may add names with
/// `inherit_env`.
pub const INHERITED_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TMPDIR",
    "TERM",
    "NO_COLOR",
    // Where the project's setup scripts keep virtualenvs and models.
    "CODEINTEL_CACHE",
];

/// Whether `name` matches an allow-list entry (`LC_*` is a prefix).
pub fn allowed_by(list: &[impl AsRef<str>], name: &str) -> bool {
    list.iter().any(|entry| {
        let entry = entry.as_ref();
        match entry.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == entry,
        }
    })
}

/// The part of `from` (the harness's environment) a SUT inherits: the
/// names of [`INHERITED_VARS`] and `extra`, never a contract variable.
pub fn inherited_env(
    from: impl IntoIterator<Item = (String, String)>,
    extra: &[String],
) -> Vec<(String, String)> {
    from.into_iter()
        .filter(|(k, _)| !CONTRACT_VARS.contains(&k.as_str()))
        .filter(|(k, _)| allowed_by(INHERITED_VARS, k) || allowed_by(extra, k))
        .collect()
}

/// Two distinct free loopback ports: both are bound at once, read, then
/// released (a small race with other processes is accepted; the drive
/// retries a start that failed with "address in use" once).
pub fn free_ports() -> std::io::Result<(u16, u16)> {
    let a = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let b = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

impl SutEnv {
    /// A new environment with freshly allocated HTTP and Prometheus ports.
    pub fn new(
        repo: PathBuf,
        data: PathBuf,
        embed_url: String,
        embed_model: String,
        otlp_endpoint: String,
        service_name: String,
    ) -> std::io::Result<Self> {
        let (http_port, prometheus_port) = free_ports()?;
        Ok(Self {
            repo,
            data,
            http_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, http_port)),
            prometheus_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            prometheus_port,
            embed_url,
            embed_model,
            otlp_endpoint,
            otlp_protocol: OtlpProtocol::default(),
            service_name,
            extra: BTreeMap::new(),
        })
    }

    /// Allocate new ports (after a start failed with "address in use").
    pub fn reallocate_ports(&mut self) -> std::io::Result<()> {
        let (http_port, prometheus_port) = free_ports()?;
        self.http_addr.set_port(http_port);
        self.prometheus_port = prometheus_port;
        Ok(())
    }

    /// `http://127.0.0.1:PORT` of the application.
    pub fn http_base(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The Prometheus scrape URL.
    pub fn metrics_url(&self) -> String {
        format!(
            "http://{}/metrics",
            SocketAddr::new(self.prometheus_addr, self.prometheus_port)
        )
    }

    /// The variables, in the order they are set (the contract's, in the
    /// order of [`CONTRACT_VARS`], then `extra`).
    pub fn vars(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = [
            ("CODEINTEL_REPO", self.repo.display().to_string()),
            ("CODEINTEL_DATA", self.data.display().to_string()),
            ("CODEINTEL_HTTP_ADDR", self.http_addr.to_string()),
            ("PROMETHEUS_ADDR", self.prometheus_addr.to_string()),
            ("PROMETHEUS_PORT", self.prometheus_port.to_string()),
            ("CODEINTEL_VLLM_URL", self.embed_url.clone()),
            ("CODEINTEL_EMBED_MODEL", self.embed_model.clone()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", self.otlp_endpoint.clone()),
            (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                self.otlp_protocol.as_str().to_owned(),
            ),
            ("OTEL_SERVICE_NAME", self.service_name.clone()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ("OTEL_BLRP_SCHEDULE_DELAY", "100".to_owned()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        vars.extend(self.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        vars
    }
}

/// What a successful start reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartInfo {
    /// From spawn to the first answer of the ready URL.
    pub listening_after: Duration,
    /// The process id, for process adapters.
    pub pid: Option<u32>,
}

/// Spans and logs held by an in-process adapter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Telemetry {
    pub spans: Vec<SpanRecord>,
    pub logs: Vec<LogRecord>,
}

/// What is left to collect after a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collected {
    /// `None`: the spans and logs went to the OTLP receiver.
    pub telemetry: Option<Telemetry>,
    /// The last lines the SUT wrote.
    pub output_tail: String,
    /// What the adapter cut to stay within its bounds (output lines).
    pub truncations: Vec<String>,
}

/// A SUT could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SutError {
    #[error(
        "could not start `{program}`: {source}; check the manifest's `command` and that the program is installed and executable"
    )]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the SUT's working directory {0} does not exist; fix `working_dir` in the manifest")]
    WorkingDir(PathBuf),
    #[error("the SUT exited during start-up ({status}) after {after_ms} ms{}", tail_suffix(.output_tail))]
    Exited {
        status: String,
        after_ms: u64,
        output_tail: String,
    },
    #[error("the SUT did not answer {url} within {waited_secs:.1} s (last attempt: {last}){}", tail_suffix(.output_tail))]
    NotListening {
        url: String,
        waited_secs: f64,
        last: String,
        output_tail: String,
    },
    #[error("the SUT could not start: {0}")]
    Other(String),
}

fn tail_suffix(tail: &str) -> String {
    if tail.trim().is_empty() {
        "; it wrote nothing to stdout/stderr".to_owned()
    } else {
        format!("; its last output:\n{tail}")
    }
}

impl SutError {
    /// The start failed because a port was taken (worth one retry on new ports).
    pub fn is_addr_in_use(&self) -> bool {
        match self {
            Self::Exited { output_tail, .. } | Self::NotListening { output_tail, .. } => {
                let t = output_tail.to_ascii_lowercase();
                t.contains("address already in use")
                    || t.contains("address in use")
                    || t.contains("eaddrinuse")
            }
            _ => false,
        }
    }
}

/// One implementation the harness can drive.
pub trait Sut: Send {
    /// Name, kind and source folder for reports (`service_name` is filled by
    /// the drive phase).
    fn info(&self) -> SutInfo;

    /// How long [`Sut::start`] may wait for the SUT to listen.
    fn start_timeout(&self) -> Duration;

    /// How the SUT exports spans and logs (the drive phase sets
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` and the matching receiver endpoint).
    fn otlp_protocol(&self) -> OtlpProtocol {
        OtlpProtocol::default()
    }

    /// Start the SUT with `env` and wait (with a deadline) until it listens.
    /// Called again, on new ports, after a start failed with "address in use".
    fn start<'a>(&'a mut self, env: &'a SutEnv) -> BoxFuture<'a, Result<StartInfo, SutError>>;

    /// `Some(description)` once the SUT has exited (e.g. "exit status: 3").
    fn exited(&mut self) -> Option<String>;

    /// Spans and logs now, for in-process adapters (forcing a flush);
    /// `None` when they go to the OTLP receiver.
    fn telemetry(&self) -> Option<Telemetry>;

    /// The last lines the SUT wrote to stdout/stderr (empty in-process).
    fn output_tail(&self) -> String;

    /// What the adapter cut to stay within its bounds, one line each.
    fn truncations(&self) -> Vec<String> {
        Vec::new()
    }

    /// Stop the SUT and everything it started (idempotent).
    fn stop(&mut self) -> BoxFuture<'_, ()>;

    /// What is left after [`Sut::stop`].
    fn collect(&mut self) -> Collected {
        Collected {
            telemetry: self.telemetry(),
            output_tail: self.output_tail(),
            truncations: self.truncations(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_holds_every_contract_variable() {
        let mut env = SutEnv::new(
            "/repo".into(),
            "/data".into(),
            "http://127.0.0.1:1".into(),
            "m".into(),
            "http://127.0.0.1:2".into(),
            "svc".into(),
        )
        .unwrap();
        env.extra.insert("X_HINT".into(), "1".into());
        let vars: BTreeMap<String, String> = env.vars().into_iter().collect();
        for key in [
            "CODEINTEL_REPO",
            "CODEINTEL_DATA",
            "CODEINTEL_HTTP_ADDR",
            "PROMETHEUS_ADDR",
            "PROMETHEUS_PORT",
            "CODEINTEL_VLLM_URL",
            "CODEINTEL_EMBED_MODEL",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_SERVICE_NAME",
            "OTEL_BSP_SCHEDULE_DELAY",
            "OTEL_BLRP_SCHEDULE_DELAY",
            "OTEL_METRIC_EXPORT_INTERVAL",
            "X_HINT",
        ] {
            assert!(vars.contains_key(key), "{key} missing");
        }
        assert_eq!(vars["OTEL_EXPORTER_OTLP_PROTOCOL"], "http/protobuf");
        assert_eq!(vars["PROMETHEUS_ADDR"], "127.0.0.1");
        assert_ne!(env.http_addr.port(), env.prometheus_port);
        assert!(
            env.metrics_url()
                .ends_with(&format!(":{}/metrics", env.prometheus_port))
        );
        env.reallocate_ports().unwrap();
        assert_ne!(env.http_addr.port(), 0);
    }

    #[test]
    fn vars_set_exactly_the_contract_then_extras() {
        let mut env = SutEnv::new(
            "/r".into(),
            "/d".into(),
            "e".into(),
            "m".into(),
            "o".into(),
            "s".into(),
        )
        .unwrap();
        env.extra.insert("X_HINT".into(), "1".into());
        let names: Vec<String> = env.vars().into_iter().map(|(k, _)| k).collect();
        assert_eq!(&names[..CONTRACT_VARS.len()], CONTRACT_VARS);
        assert_eq!(names[CONTRACT_VARS.len()..], ["X_HINT".to_owned()]);
    }

    #[test]
    fn the_protocol_is_set_as_chosen() {
        let mut env = SutEnv::new(
            "/r".into(),
            "/d".into(),
            "e".into(),
            "m".into(),
            "http://127.0.0.1:4317".into(),
            "s".into(),
        )
        .unwrap();
        env.otlp_protocol = OtlpProtocol::Grpc;
        let vars: BTreeMap<String, String> = env.vars().into_iter().collect();
        assert_eq!(vars["OTEL_EXPORTER_OTLP_PROTOCOL"], "grpc");
        assert_eq!(vars["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://127.0.0.1:4317");
        for p in OtlpProtocol::ALL {
            assert_eq!(OtlpProtocol::parse(p.as_str()), Some(p));
        }
        assert_eq!(OtlpProtocol::parse("GRPC"), None);
        assert_eq!(OtlpProtocol::parse("http"), None);
    }

    #[test]
    fn only_the_allow_list_is_inherited() {
        let harness_env = [
            ("PATH", "/bin"),
            ("HOME", "/root"),
            ("LC_ALL", "C.UTF-8"),
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ci-collector:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("MY_TOOL_HOME", "/opt/t"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let kept: Vec<String> = inherited_env(harness_env.clone(), &[])
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(kept, ["PATH", "HOME", "LC_ALL"]);
        let kept: Vec<String> = inherited_env(
            harness_env,
            &[
                "MY_TOOL_*".to_owned(),
                "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            ],
        )
        .into_iter()
        .map(|(k, _)| k)
        .collect();
        assert_eq!(
            kept,
            ["PATH", "HOME", "LC_ALL", "MY_TOOL_HOME"],
            "a contract variable is never inherited, even when asked for"
        );
    }

    #[test]
    fn addr_in_use_is_recognised_from_the_output() {
        let e = SutError::Exited {
            status: "exit status: 1".into(),
            after_ms: 5,
            output_tail: "Error: Address already in use (os error 98)".into(),
        };
        assert!(e.is_addr_in_use());
        assert!(e.to_string().contains("exit status: 1"));
        assert!(e.to_string().contains("os error 98"));
        let quiet = SutError::Exited {
            status: "exit status: 2".into(),
            after_ms: 5,
            output_tail: String::new(),
        };
        assert!(!quiet.is_addr_in_use());
        assert!(quiet.to_string().contains("wrote nothing"));
    }
}
