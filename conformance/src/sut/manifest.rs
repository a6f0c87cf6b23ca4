//! `sut.toml`: how to start an implementation as a process.
//!
//! ```toml
//! name = "python-otel"                  # default: the manifest's folder name
//! command = [".venv/bin/python", "-m", "app"]   # or one string, split on spaces
//! args = ["--verbose"]                  # appended to command
//! working_dir = "."                     # default: the manifest's folder
//! ready_url = "/healthz"                # a path on CODEINTEL_HTTP_ADDR, or a full URL
//! start_timeout_secs = 60
//! source_dir = "src"                    # for the source lint (LNT-*)
//! expected_failures = "expected.toml"
//! inherit_env = ["JAVA_HOME", "MY_TOOL_*"]  # beyond PATH, HOME, LANG, LC_*, TMPDIR, …
//! otlp_protocol = "grpc"                # or "http/protobuf" (default), "http/json"
//!
//! [env]                                 # may not set a variable of the contract
//! PYTHONUNBUFFERED = "1"
//! ```
//!
//! Relative paths (`working_dir`, `source_dir`, `expected_failures`, and a
//! command whose program contains a `/`) resolve against the manifest's
//! folder. `${MANIFEST_DIR}` in `command`, `args` and `env` values is the
//! manifest's folder; `${VAR}` for a variable of the contract (e.g.
//! `${CODEINTEL_HTTP_ADDR}`) is replaced when the SUT starts.
//!
//! `otlp_protocol` is what the harness sets as `OTEL_EXPORTER_OTLP_PROTOCOL`;
//! with `"grpc"` the SUT's `OTEL_EXPORTER_OTLP_ENDPOINT` is the receiver's
//! OTLP/gRPC port (`http://127.0.0.1:PORT`, h2c) instead of its HTTP one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::OtlpProtocol;

/// Keys a manifest may hold.
const KNOWN_KEYS: &[&str] = &[
    "name",
    "command",
    "args",
    "env",
    "working_dir",
    "ready_url",
    "start_timeout_secs",
    "source_dir",
    "expected_failures",
    "inherit_env",
    "otlp_protocol",
];

/// Where to wait for the process to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyUrl {
    /// A path on the application's HTTP address (`/healthz`).
    Path(String),
    /// A full URL (may hold `${VAR}` placeholders of the contract).
    Url(String),
}

impl Default for ReadyUrl {
    fn default() -> Self {
        Self::Path("/healthz".to_owned())
    }
}

/// A parsed and validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SutManifest {
    /// The manifest file itself.
    pub path: PathBuf,
    pub name: String,
    /// The program (resolved when it contains a `/`).
    pub program: String,
    /// The command's own arguments followed by `args`.
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Names (or `PREFIX*`) of the harness's variables the SUT inherits
    /// beyond [`super::INHERITED_VARS`]; everything else is cleared.
    pub inherit_env: Vec<String>,
    pub working_dir: PathBuf,
    pub ready_url: ReadyUrl,
    pub start_timeout: Duration,
    pub source_dir: Option<PathBuf>,
    pub expected_failures: Option<PathBuf>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` the harness sets (and the receiver port
    /// it points `OTEL_EXPORTER_OTLP_ENDPOINT` at).
    pub otlp_protocol: OtlpProtocol,
}

/// A manifest could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read SUT manifest {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("SUT manifest {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("SUT manifest {path}: key `{key}` {problem}")]
    Key {
        path: PathBuf,
        key: String,
        problem: String,
    },
}

impl SutManifest {
    /// Read and validate a manifest file.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse manifest text; `path` names the file in errors and anchors
    /// relative paths (its folder).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ManifestError::Syntax {
                    path: path.to_path_buf(),
                    message: e.message().to_owned(),
                })?;
        let key_err = |key: &str, problem: String| ManifestError::Key {
            path: path.to_path_buf(),
            key: key.to_owned(),
            problem,
        };
        if let Some(unknown) = table.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            return Err(key_err(
                unknown,
                format!(
                    "is not a manifest key (known keys: {})",
                    KNOWN_KEYS.join(", ")
                ),
            ));
        }
        let dir = manifest_dir(path);
        let dir_text = dir.display().to_string();
        let expand = |s: &str| s.replace("${MANIFEST_DIR}", &dir_text);

        let get_str = |key: &str| -> Result<Option<String>, ManifestError> {
            match table.get(key) {
                None => Ok(None),
                Some(toml::Value::String(s)) if s.trim().is_empty() => {
                    Err(key_err(key, "must not be empty".to_owned()))
                }
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(key_err(
                    key,
                    format!("must be a string, found {}", other.type_str()),
                )),
            }
        };
        let string_array = |key: &str, value: &toml::Value| -> Result<Vec<String>, ManifestError> {
            let toml::Value::Array(items) = value else {
                return Err(key_err(
                    key,
                    format!("must be an array of strings, found {}", value.type_str()),
                ));
            };
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    toml::Value::String(s) => Ok(expand(s)),
                    other => Err(key_err(
                        &format!("{key}[{i}]"),
                        format!("must be a string, found {}", other.type_str()),
                    )),
                })
                .collect()
        };

        let name = match get_str("name")? {
            Some(n) => n,
            None => default_name(path),
        };

        let mut command = match table.get("command") {
            None => {
                return Err(key_err(
                    "command",
                    "is missing: give the program to start, e.g. command = [\"python3\", \"app.py\"]"
                        .to_owned(),
                ));
            }
            Some(toml::Value::String(s)) => s.split_whitespace().map(expand).collect(),
            Some(v @ toml::Value::Array(_)) => string_array("command", v)?,
            Some(other) => {
                return Err(key_err(
                    "command",
                    format!(
                        "must be a string or an array of strings, found {}",
                        other.type_str()
                    ),
                ));
            }
        };
        if command.is_empty() || command[0].trim().is_empty() {
            return Err(key_err("command", "names no program".to_owned()));
        }
        let mut program = command.remove(0);
        if program.contains('/') && Path::new(&program).is_relative() {
            program = dir.join(&program).display().to_string();
        }
        let mut args = command;
        if let Some(v) = table.get("args") {
            args.extend(string_array("args", v)?);
        }

        let mut env = BTreeMap::new();
        match table.get("env") {
            None => {}
            Some(toml::Value::Table(t)) => {
                for (k, v) in t {
                    if super::CONTRACT_VARS.contains(&k.as_str()) {
                        return Err(key_err(
                            &format!("env.{k}"),
                            format!(
                                "overrides a variable of the contract, which the harness sets \
                                 itself (use its value as ${{{k}}}); remove it from [env]"
                            ),
                        ));
                    }
                    let value = match v {
                        toml::Value::String(s) => expand(s),
                        toml::Value::Integer(i) => i.to_string(),
                        toml::Value::Float(f) => f.to_string(),
                        toml::Value::Boolean(b) => b.to_string(),
                        other => {
                            return Err(key_err(
                                &format!("env.{k}"),
                                format!(
                                    "must be a string, number or boolean, found {}",
                                    other.type_str()
                                ),
                            ));
                        }
                    };
                    env.insert(k.clone(), value);
                }
            }
            Some(other) => {
                return Err(key_err(
                    "env",
                    format!(
                        "must be a table of NAME = \"value\", found {}",
                        other.type_str()
                    ),
                ));
            }
        }

        let inherit_env = match table.get("inherit_env") {
            None => Vec::new(),
            Some(v) => string_array("inherit_env", v)?,
        };
        if let Some(k) = inherit_env
            .iter()
            .find(|k| super::CONTRACT_VARS.contains(&k.as_str()))
        {
            return Err(key_err(
                "inherit_env",
                format!("names `{k}`, a variable of the contract, which the harness sets itself"),
            ));
        }

        let working_dir = match get_str("working_dir")? {
            Some(w) => dir.join(w),
            None => dir.clone(),
        };

        let ready_url = match get_str("ready_url")? {
            None => ReadyUrl::default(),
            Some(u) if u.starts_with('/') => ReadyUrl::Path(u),
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => ReadyUrl::Url(u),
            Some(u) => {
                return Err(key_err(
                    "ready_url",
                    format!("must be a path starting with `/` or an http:// URL, found `{u}`"),
                ));
            }
        };

        let start_timeout = match table.get("start_timeout_secs") {
            None => Duration::from_secs(60),
            Some(toml::Value::Integer(n)) if *n > 0 => Duration::from_secs(n.unsigned_abs()),
            Some(toml::Value::Float(f)) if *f > 0.0 && f.is_finite() => Duration::from_secs_f64(*f),
            Some(other) => {
                return Err(key_err(
                    "start_timeout_secs",
                    format!("must be a positive number of seconds, found {other}"),
                ));
            }
        };

        let otlp_protocol = match get_str("otlp_protocol")? {
            None => OtlpProtocol::default(),
            Some(p) => OtlpProtocol::parse(&p).ok_or_else(|| {
                key_err(
                    "otlp_protocol",
                    format!(
                        "must be one of {}, found `{p}`",
                        OtlpProtocol::ALL.map(|p| format!("\"{p}\"")).join(", ")
                    ),
                )
            })?,
        };

        let source_dir = get_str("source_dir")?.map(|s| dir.join(s));
        let expected_failures = get_str("expected_failures")?.map(|s| dir.join(s));

        Ok(Self {
            path: path.to_path_buf(),
            name,
            program,
            args,
            env,
            inherit_env,
            working_dir,
            ready_url,
            start_timeout,
            source_dir,
            expected_failures,
            otlp_protocol,
        })
    }
}

/// The folder a manifest's relative paths resolve against.
/// The manifest's folder, made absolute: the SUT is spawned with its working
/// dir set, so a relative program path would otherwise be resolved twice
/// (`fixtures/suts/x/./run.sh` looked up from inside `fixtures/suts/x`).
fn manifest_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(&dir).unwrap_or(dir)
}

/// `fixtures/suts/python-otel/sut.toml` → `python-otel`; `x/bad.toml` → `bad`.
fn default_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem == "sut"
        && let Some(folder) = path
            .parent()
            .and_then(Path::file_name)
            .map(|f| f.to_string_lossy().into_owned())
    {
        return folder;
    }
    if stem.is_empty() {
        "sut".to_owned()
    } else {
        stem
    }
}

/// Replace `${NAME}` placeholders with values from `vars`; unknown names are
/// left as they are.
pub fn substitute(text: &str, vars: &[(String, String)]) -> String {
    let mut out = text.to_owned();
    for (k, v) in vars {
        let placeholder = format!("${{{k}}}");
        if out.contains(&placeholder) {
            out = out.replace(&placeholder, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SutManifest, ManifestError> {
        SutManifest::parse(text, Path::new("/suts/py/sut.toml"))
    }

    #[test]
    fn a_relative_manifest_path_gives_absolute_program_and_dirs() {
        let m = SutManifest::parse(
            "command = [\"./run.sh\"]\nsource_dir = \"src\"",
            Path::new("fixtures/suts/py/sut.toml"),
        )
        .unwrap();
        assert!(Path::new(&m.program).is_absolute(), "{}", m.program);
        assert!(
            m.program.ends_with("fixtures/suts/py/./run.sh"),
            "{}",
            m.program
        );
        assert!(m.working_dir.is_absolute());
        assert!(m.source_dir.unwrap().is_absolute());
    }

    #[test]
    fn full_manifest_resolves_paths_and_defaults() {
        let m = parse(
            r#"
            command = ["./run.sh", "--fast"]
            args = ["${MANIFEST_DIR}/x"]
            working_dir = "work"
            ready_url = "/readyz"
            start_timeout_secs = 5
            source_dir = "src"
            expected_failures = "xfail.toml"
            [env]
            A = "1"
            B = 2
            C = true
            "#,
        )
        .unwrap();
        assert_eq!(m.name, "py");
        assert_eq!(m.program, "/suts/py/./run.sh");
        assert_eq!(m.args, ["--fast", "/suts/py/x"]);
        assert_eq!(m.working_dir, PathBuf::from("/suts/py/work"));
        assert_eq!(m.ready_url, ReadyUrl::Path("/readyz".into()));
        assert_eq!(m.start_timeout, Duration::from_secs(5));
        assert_eq!(m.source_dir, Some(PathBuf::from("/suts/py/src")));
        assert_eq!(
            m.expected_failures,
            Some(PathBuf::from("/suts/py/xfail.toml"))
        );
        assert_eq!(m.env["B"], "2");
        assert_eq!(m.env["C"], "true");
        assert_eq!(m.otlp_protocol, OtlpProtocol::HttpProtobuf, "the default");
        let m = parse("command = \"a\"\notlp_protocol = \"grpc\"").unwrap();
        assert_eq!(m.otlp_protocol, OtlpProtocol::Grpc);
        let m = parse("command = \"a\"\notlp_protocol = \"http/json\"").unwrap();
        assert_eq!(m.otlp_protocol, OtlpProtocol::HttpJson);
    }

    #[test]
    fn string_command_is_split_and_defaults_apply() {
        let m = parse(
            r#"name = "x"
command = "python3 -m app""#,
        )
        .unwrap();
        assert_eq!(m.name, "x");
        assert_eq!(m.program, "python3");
        assert_eq!(m.args, ["-m", "app"]);
        assert_eq!(m.working_dir, PathBuf::from("/suts/py"));
        assert_eq!(m.ready_url, ReadyUrl::Path("/healthz".into()));
        assert_eq!(m.start_timeout, Duration::from_secs(60));
        assert_eq!(m.source_dir, None);
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let cases = [
            ("name = \"x\"", "`command` is missing"),
            (
                "command = 5",
                "`command` must be a string or an array of strings, found integer",
            ),
            (
                "command = [\"a\", 1]",
                "`command[1]` must be a string, found integer",
            ),
            (
                "command = \"a\"\nstart_timeout_secs = -1",
                "`start_timeout_secs` must be a positive number",
            ),
            (
                "command = \"a\"\nready_url = \"healthz\"",
                "`ready_url` must be a path",
            ),
            (
                "command = \"a\"\nenv = { X = [1] }",
                "`env.X` must be a string, number or boolean",
            ),
            (
                "command = \"a\"\ncomand = 1",
                "`comand` is not a manifest key",
            ),
            (
                "command = \"a\"\nworking_dir = 3",
                "`working_dir` must be a string, found integer",
            ),
            ("command = []", "`command` names no program"),
            (
                "command = \"a\"\notlp_protocol = \"http\"",
                "`otlp_protocol` must be one of \"grpc\", \"http/protobuf\", \"http/json\", found `http`",
            ),
            (
                "command = \"a\"\notlp_protocol = 4317",
                "`otlp_protocol` must be a string, found integer",
            ),
            (
                "command = \"a\"\n[env]\nOTEL_SERVICE_NAME = \"mine\"",
                "`env.OTEL_SERVICE_NAME` overrides a variable of the contract",
            ),
            (
                "command = \"a\"\n[env]\nPROMETHEUS_PORT = 9464",
                "`env.PROMETHEUS_PORT` overrides a variable of the contract",
            ),
            (
                "command = \"a\"\ninherit_env = [\"CODEINTEL_REPO\"]",
                "`inherit_env` names `CODEINTEL_REPO`",
            ),
        ];
        for (text, expected) in cases {
            let message = parse(text).unwrap_err().to_string();
            assert!(message.contains("/suts/py/sut.toml"), "{message}");
            assert!(message.contains(expected), "{text:?}: {message}");
        }
        let message = parse("command = [").unwrap_err().to_string();
        assert!(message.contains("not valid TOML"), "{message}");
        let message = SutManifest::load(Path::new("/nonexistent/sut.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("cannot read SUT manifest /nonexistent/sut.toml"),
            "{message}"
        );
    }

    #[test]
    fn substitute_replaces_known_placeholders() {
        let vars = vec![("PORT".to_owned(), "9464".to_owned())];
        assert_eq!(
            substitute("http://h:${PORT}/${OTHER}", &vars),
            "http://h:9464/${OTHER}"
        );
    }
}
