//! One `Config`, resolved once from command-line flags, then the environment,
//! then an optional TOML file, then defaults — and validated before anything
//! starts, with errors that name the key and where it came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::embed::select::EmbedderKind;
use crate::store::dense::DenseKind;

/// Flags (each also readable from its environment variable). Flattened into
/// every subcommand of the CLI.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct ConfigArgs {
    /// TOML file with any of the settings below (keys as in the long flags,
    /// with `_` for `-`). Flags and environment variables win over it.
    #[arg(long, env = "CODEINTEL_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Repository to index and serve.
    #[arg(long, env = "CODEINTEL_REPO", value_name = "PATH", global = true)]
    pub repo: Option<PathBuf>,
    /// Folder for index versions, the catalog and the lock (default: `.codeintel` inside the repository).
    #[arg(long, env = "CODEINTEL_DATA", value_name = "DIR", global = true)]
    pub data: Option<PathBuf>,
    /// HTTP (and MCP streamable HTTP at /mcp) listen address. A non-loopback
    /// address requires CODEINTEL_TOKEN.
    #[arg(long, env = "CODEINTEL_HTTP_ADDR", value_name = "ADDR", global = true)]
    pub http_addr: Option<String>,
    /// OpenAI-compatible embeddings server (vLLM, TEI, Ollama, OpenAI); the client POSTs `{URL}/v1/embeddings`.
    /// Unset: the index has no dense channel and search uses BM25 only.
    #[arg(long, env = "CODEINTEL_VLLM_URL", value_name = "URL", global = true)]
    pub vllm_url: Option<String>,
    /// Which embedder: local (built-in all-MiniLM-L6-v2), http (CODEINTEL_VLLM_URL) or none.
    /// Default: http when CODEINTEL_VLLM_URL is set, else local when the model is installed
    /// (scripts/setup-model.sh), else none (BM25 only).
    #[arg(long, env = "CODEINTEL_EMBEDDER", value_name = "KIND", global = true)]
    pub embedder: Option<String>,
    /// Folder of the local model (config.json, tokenizer.json, model.safetensors).
    /// Default: ~/.cache/codeintel/models/all-MiniLM-L6-v2, where scripts/setup-model.sh installs it.
    #[arg(long, env = "CODEINTEL_MODEL_DIR", value_name = "DIR", global = true)]
    pub model_dir: Option<PathBuf>,
    /// Embedding model name sent to the embeddings server.
    #[arg(
        long,
        env = "CODEINTEL_EMBED_MODEL",
        value_name = "NAME",
        global = true
    )]
    pub embed_model: Option<String>,
    /// Texts per embeddings request.
    #[arg(long, env = "CODEINTEL_EMBED_BATCH", value_name = "N", global = true)]
    pub embed_batch: Option<usize>,
    /// Embeddings requests in flight at once.
    #[arg(
        long,
        env = "CODEINTEL_EMBED_CONCURRENCY",
        value_name = "N",
        global = true
    )]
    pub embed_concurrency: Option<usize>,
    /// Timeout of one embeddings request, in milliseconds.
    #[arg(
        long,
        env = "CODEINTEL_EMBED_TIMEOUT_MS",
        value_name = "MS",
        global = true
    )]
    pub embed_timeout_ms: Option<u64>,
    /// Retries of a failed embeddings request (429, 5xx, connection errors, timeouts).
    #[arg(long, env = "CODEINTEL_EMBED_RETRIES", value_name = "N", global = true)]
    pub embed_retries: Option<u32>,
    /// Dense index kind: auto (flat for small repositories, HNSW for large), flat, hnsw, ivf.
    #[arg(
        long,
        env = "CODEINTEL_DENSE_INDEX",
        value_name = "KIND",
        global = true
    )]
    pub dense_index: Option<String>,
    /// Files larger than this are skipped while indexing, in bytes.
    #[arg(
        long,
        env = "CODEINTEL_MAX_FILE_BYTES",
        value_name = "BYTES",
        global = true
    )]
    pub max_file_bytes: Option<u64>,
    /// Record raw query text in span attributes and logs (local debugging only).
    #[arg(
        long,
        env = "CODEINTEL_RECORD_QUERY_TEXT",
        value_name = "BOOL",
        global = true
    )]
    pub record_query_text: Option<bool>,
    /// Timeout of one HTTP or MCP request, in milliseconds.
    #[arg(
        long,
        env = "CODEINTEL_REQUEST_TIMEOUT_MS",
        value_name = "MS",
        global = true
    )]
    pub request_timeout_ms: Option<u64>,
    /// Query embeddings kept in an LRU cache (0, the default: off, every search embeds its query).
    #[arg(long, env = "CODEINTEL_QUERY_CACHE", value_name = "N", global = true)]
    pub query_cache: Option<usize>,
    /// Requests served at once; more wait.
    #[arg(
        long,
        env = "CODEINTEL_MAX_CONCURRENCY",
        value_name = "N",
        global = true
    )]
    pub max_concurrency: Option<usize>,
    /// Extra `Host` names the server answers to, comma-separated (DNS
    /// rebinding protection: by default only localhost, 127.0.0.1, ::1 and a
    /// specific bound address are accepted, on every route but /healthz and
    /// /readyz). Needed when clients reach a 0.0.0.0 bind by a name.
    #[arg(
        long,
        env = "CODEINTEL_ALLOWED_HOSTS",
        value_name = "HOST,...",
        global = true
    )]
    pub allowed_hosts: Option<String>,
}

/// The TOML file's shape. Unknown keys are errors (a typo must not be
/// silently ignored). Secrets (API key, token) are read from the
/// environment only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    repo: Option<PathBuf>,
    data: Option<PathBuf>,
    http_addr: Option<String>,
    vllm_url: Option<String>,
    embedder: Option<String>,
    model_dir: Option<PathBuf>,
    embed_model: Option<String>,
    embed_batch: Option<usize>,
    embed_concurrency: Option<usize>,
    embed_timeout_ms: Option<u64>,
    embed_retries: Option<u32>,
    dense_index: Option<String>,
    max_file_bytes: Option<u64>,
    record_query_text: Option<bool>,
    request_timeout_ms: Option<u64>,
    query_cache: Option<usize>,
    max_concurrency: Option<usize>,
    allowed_hosts: Option<Vec<String>>,
}

/// Resolved, validated configuration.
#[derive(Clone)]
pub struct Config {
    pub repo: PathBuf,
    pub data: PathBuf,
    pub http_addr: SocketAddr,
    pub vllm_url: Option<String>,
    /// `CODEINTEL_EMBEDDER`, when given (else chosen by [`crate::embed::select::choose`]).
    pub embedder: Option<EmbedderKind>,
    /// The local model's folder (`None` only without a home folder).
    pub model_dir: Option<PathBuf>,
    pub embed_model: String,
    /// From `CODEINTEL_EMBED_API_KEY` only; never logged.
    pub embed_api_key: Option<String>,
    pub embed_batch: usize,
    pub embed_concurrency: usize,
    pub embed_timeout: Duration,
    pub embed_retries: u32,
    pub dense_kind: DenseKind,
    pub max_file_bytes: u64,
    pub record_query_text: bool,
    /// From `CODEINTEL_TOKEN` only; required for a non-loopback bind.
    pub token: Option<String>,
    pub request_timeout: Duration,
    /// Query embeddings cached (0: off).
    pub query_cache: usize,
    pub max_concurrency: usize,
    /// Request body limit, bytes.
    pub body_limit: usize,
    /// Extra `Host` names accepted besides the loopback names and a
    /// specific bound address (lower case, no port).
    pub allowed_hosts: Vec<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted_toml())
    }
}

/// Default embedding model name.
pub const DEFAULT_EMBED_MODEL: &str = "BAAI/bge-small-en-v1.5";
/// Default listen address.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";

/// A configuration problem, naming the key and where its value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message} (see `codeintel-server --help` for the keys)")]
    ParseFile { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error(
        "no repository given: pass --repo PATH, set CODEINTEL_REPO, or put `repo = \"...\"` in the config file"
    )]
    MissingRepo,
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// Validates `allowed_hosts` entries: bare host names or IP addresses (no
/// scheme, port or path), lower-cased; empty entries are ignored.
fn parse_allowed_hosts<'a>(
    items: impl Iterator<Item = &'a str>,
) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for item in items.map(str::trim).filter(|h| !h.is_empty()) {
        let host = item.trim_matches(['[', ']']);
        let ok = host.parse::<std::net::IpAddr>().is_ok()
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !ok {
            return Err(invalid(
                "allowed_hosts (--allowed-hosts / CODEINTEL_ALLOWED_HOSTS)",
                format!(
                    "{item:?} is not a host name or IP address; give names like `codeintel.internal` \
                     or `10.0.0.5`, comma-separated, without scheme, port or path"
                ),
            ));
        }
        out.push(host.to_ascii_lowercase());
    }
    Ok(out)
}

fn env_secret(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Resolves flags > environment (clap already merged those two) > TOML >
    /// defaults, and validates each value. Whether the repository exists is
    /// checked separately ([`Config::check_repo`]) by the commands that need it.
    pub fn resolve(args: &ConfigArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                        path: path.clone(),
                        source,
                    })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::ParseFile {
                    path: path.clone(),
                    message: e.message().to_owned(),
                })?
            }
            None => FileConfig::default(),
        };
        // Relative paths in the file are relative to the file.
        let file_dir = args
            .config
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let from_file =
            |p: Option<PathBuf>| p.map(|p| if p.is_absolute() { p } else { file_dir.join(p) });

        let repo = args
            .repo
            .clone()
            .or_else(|| from_file(file.repo))
            .ok_or(ConfigError::MissingRepo)?;
        let data = args
            .data
            .clone()
            .or_else(|| from_file(file.data))
            .unwrap_or_else(|| repo.join(".codeintel"));

        let http_addr_text = args
            .http_addr
            .clone()
            .or(file.http_addr)
            .unwrap_or_else(|| DEFAULT_HTTP_ADDR.to_owned());
        let http_addr: SocketAddr = http_addr_text.parse().map_err(|e| {
            invalid(
                "http_addr (--http-addr / CODEINTEL_HTTP_ADDR)",
                format!("{http_addr_text:?} is not an address like 127.0.0.1:8080: {e}"),
            )
        })?;

        let vllm_url = args
            .vllm_url
            .clone()
            .or(file.vllm_url)
            .filter(|u| !u.trim().is_empty());
        if let Some(url) = &vllm_url {
            let parsed = reqwest::Url::parse(url).map_err(|e| {
                invalid(
                    "vllm_url (--vllm-url / CODEINTEL_VLLM_URL)",
                    format!("{url:?} is not a URL: {e}; expected e.g. http://127.0.0.1:8000"),
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid(
                    "vllm_url (--vllm-url / CODEINTEL_VLLM_URL)",
                    format!("{url:?} must be http:// or https://"),
                ));
            }
        }

        let embedder_text = args.embedder.clone().or(file.embedder);
        let embedder = match embedder_text.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => Some(EmbedderKind::parse(t).ok_or_else(|| {
                invalid(
                    "embedder (--embedder / CODEINTEL_EMBEDDER)",
                    format!("{t:?}: expected local, http or none"),
                )
            })?),
        };
        let model_dir = args
            .model_dir
            .clone()
            .or_else(|| from_file(file.model_dir))
            .or_else(crate::embed::local::default_model_dir);

        let positive = |key: &'static str, v: usize| {
            if v == 0 {
                Err(invalid(key, "must be at least 1"))
            } else {
                Ok(v)
            }
        };
        let embed_batch = positive(
            "embed_batch (--embed-batch / CODEINTEL_EMBED_BATCH)",
            args.embed_batch.or(file.embed_batch).unwrap_or(32),
        )?;
        let embed_concurrency = positive(
            "embed_concurrency (--embed-concurrency / CODEINTEL_EMBED_CONCURRENCY)",
            args.embed_concurrency
                .or(file.embed_concurrency)
                .unwrap_or(4),
        )?;
        let max_concurrency = positive(
            "max_concurrency (--max-concurrency / CODEINTEL_MAX_CONCURRENCY)",
            args.max_concurrency.or(file.max_concurrency).unwrap_or(64),
        )?;
        let embed_timeout_ms = args
            .embed_timeout_ms
            .or(file.embed_timeout_ms)
            .unwrap_or(5_000);
        if embed_timeout_ms == 0 {
            return Err(invalid(
                "embed_timeout_ms (--embed-timeout-ms / CODEINTEL_EMBED_TIMEOUT_MS)",
                "must be at least 1",
            ));
        }
        let request_timeout_ms = args
            .request_timeout_ms
            .or(file.request_timeout_ms)
            .unwrap_or(30_000);
        if request_timeout_ms == 0 {
            return Err(invalid(
                "request_timeout_ms (--request-timeout-ms / CODEINTEL_REQUEST_TIMEOUT_MS)",
                "must be at least 1",
            ));
        }

        let dense_text = args
            .dense_index
            .clone()
            .or(file.dense_index)
            .unwrap_or_else(|| "auto".to_owned());
        let dense_kind = parse_dense_kind(&dense_text).ok_or_else(|| {
            invalid(
                "dense_index (--dense-index / CODEINTEL_DENSE_INDEX)",
                format!("{dense_text:?}: expected auto, flat, hnsw or ivf"),
            )
        })?;

        let allowed_hosts = match &args.allowed_hosts {
            Some(list) => parse_allowed_hosts(list.split(','))?,
            None => parse_allowed_hosts(file.allowed_hosts.iter().flatten().map(String::as_str))?,
        };

        let token = env_secret("CODEINTEL_TOKEN");
        let config = Self {
            repo,
            data,
            http_addr,
            vllm_url,
            embedder,
            model_dir,
            embed_model: args
                .embed_model
                .clone()
                .or(file.embed_model)
                .unwrap_or_else(|| DEFAULT_EMBED_MODEL.to_owned()),
            embed_api_key: env_secret("CODEINTEL_EMBED_API_KEY"),
            embed_batch,
            embed_concurrency,
            embed_timeout: Duration::from_millis(embed_timeout_ms),
            embed_retries: args.embed_retries.or(file.embed_retries).unwrap_or(2),
            dense_kind,
            max_file_bytes: args
                .max_file_bytes
                .or(file.max_file_bytes)
                .unwrap_or(1 << 20),
            record_query_text: args
                .record_query_text
                .or(file.record_query_text)
                .unwrap_or(false),
            token,
            request_timeout: Duration::from_millis(request_timeout_ms),
            query_cache: args.query_cache.or(file.query_cache).unwrap_or(0),
            max_concurrency,
            body_limit: 1 << 20,
            allowed_hosts,
        };
        Ok(config)
    }

    /// Checks that the repository exists and is a folder. Commands that
    /// index or serve call it before touching the data folder (whose default
    /// lives inside the repository and would otherwise be created with it).
    pub fn check_repo(&self) -> Result<(), ConfigError> {
        match std::fs::metadata(&self.repo) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(invalid(
                "repo (--repo / CODEINTEL_REPO)",
                format!(
                    "{} is a file, not a folder; pass the repository's root folder",
                    self.repo.display()
                ),
            )),
            Err(e) => Err(invalid(
                "repo (--repo / CODEINTEL_REPO)",
                format!(
                    "{}: {e}; pass the path of an existing checkout",
                    self.repo.display()
                ),
            )),
        }
    }

    /// Checks that serving on `http_addr` is safe: a non-loopback address
    /// needs a bearer token.
    pub fn check_bind(&self) -> Result<(), ConfigError> {
        if !self.http_addr.ip().is_loopback() && self.token.is_none() {
            return Err(invalid(
                "http_addr (--http-addr / CODEINTEL_HTTP_ADDR)",
                format!(
                    "{} is not a loopback address; serving beyond this machine requires a bearer token: \
                     set CODEINTEL_TOKEN (clients then send `Authorization: Bearer <token>`), \
                     or bind 127.0.0.1",
                    self.http_addr
                ),
            ));
        }
        Ok(())
    }

    /// The configuration as TOML with secrets replaced (for runpacks and `--help` output).
    pub fn redacted_toml(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: String| {
            out.push_str(k);
            out.push_str(" = ");
            out.push_str(&v);
            out.push('\n');
        };
        line("repo", format!("{:?}", self.repo.display().to_string()));
        line("data", format!("{:?}", self.data.display().to_string()));
        line("http_addr", format!("{:?}", self.http_addr.to_string()));
        line(
            "vllm_url",
            format!("{:?}", self.vllm_url.clone().unwrap_or_default()),
        );
        line(
            "embedder",
            format!("{:?}", self.embedder.map_or("", EmbedderKind::as_str)),
        );
        line(
            "model_dir",
            format!(
                "{:?}",
                self.model_dir
                    .as_ref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            ),
        );
        line("embed_model", format!("{:?}", self.embed_model));
        line("embed_batch", self.embed_batch.to_string());
        line("embed_concurrency", self.embed_concurrency.to_string());
        line(
            "embed_timeout_ms",
            self.embed_timeout.as_millis().to_string(),
        );
        line("embed_retries", self.embed_retries.to_string());
        line(
            "dense_index",
            format!("{:?}", dense_kind_name(&self.dense_kind)),
        );
        line("max_file_bytes", self.max_file_bytes.to_string());
        line("record_query_text", self.record_query_text.to_string());
        line(
            "request_timeout_ms",
            self.request_timeout.as_millis().to_string(),
        );
        line("query_cache", self.query_cache.to_string());
        line("max_concurrency", self.max_concurrency.to_string());
        line("allowed_hosts", format!("{:?}", self.allowed_hosts));
        line(
            "# embed_api_key",
            format!(
                "{:?}",
                if self.embed_api_key.is_some() {
                    "<redacted>"
                } else {
                    "<unset>"
                }
            ),
        );
        line(
            "# token",
            format!(
                "{:?}",
                if self.token.is_some() {
                    "<redacted>"
                } else {
                    "<unset>"
                }
            ),
        );
        out
    }
}

fn parse_dense_kind(text: &str) -> Option<DenseKind> {
    match text.trim().to_ascii_lowercase().as_str() {
        "auto" => Some(DenseKind::Auto),
        "flat" => Some(DenseKind::Flat),
        "hnsw" => Some(DenseKind::Hnsw {
            m: 32,
            ef_search: 128,
        }),
        "ivf" => Some(DenseKind::Ivf {
            nlist: 1024,
            nprobe: 32,
        }),
        _ => None,
    }
}

fn dense_kind_name(kind: &DenseKind) -> &'static str {
    match kind {
        DenseKind::Auto => "auto",
        DenseKind::Flat => "flat",
        DenseKind::Hnsw { .. } => "hnsw",
        DenseKind::Ivf { .. } => "ivf",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(repo: &str) -> ConfigArgs {
        ConfigArgs {
            repo: Some(PathBuf::from(repo)),
            ..ConfigArgs::default()
        }
    }

    #[test]
    fn defaults_are_safe() {
        let c = Config::resolve(&args("/r")).unwrap();
        assert!(c.http_addr.ip().is_loopback());
        assert_eq!(c.data, PathBuf::from("/r/.codeintel"));
        assert!(!c.record_query_text);
        assert!(c.check_bind().is_ok());
    }

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "repo = \"repo\"\nembed_batch = 7\nembed_model = \"file-model\"\n",
        )
        .unwrap();
        let a = ConfigArgs {
            config: Some(file),
            embed_model: Some("flag-model".into()),
            ..ConfigArgs::default()
        };
        let c = Config::resolve(&a).unwrap();
        assert_eq!(c.repo, dir.path().join("repo"));
        assert_eq!(c.embed_batch, 7);
        assert_eq!(c.embed_model, "flag-model");
    }

    #[test]
    fn unknown_file_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "repo = \"r\"\nembed_bacth = 7\n").unwrap();
        let a = ConfigArgs {
            config: Some(file),
            ..ConfigArgs::default()
        };
        let e = Config::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("embed_bacth"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut a = args("/r");
        a.http_addr = Some("localhost".into());
        let e = Config::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("CODEINTEL_HTTP_ADDR"), "{e}");

        let mut a = args("/r");
        a.vllm_url = Some("ftp://x".into());
        let e = Config::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("CODEINTEL_VLLM_URL"), "{e}");

        let mut a = args("/r");
        a.embed_batch = Some(0);
        assert!(
            Config::resolve(&a)
                .unwrap_err()
                .to_string()
                .contains("embed_batch")
        );

        let mut a = args("/r");
        a.dense_index = Some("annoy".into());
        assert!(
            Config::resolve(&a)
                .unwrap_err()
                .to_string()
                .contains("dense_index")
        );

        assert!(matches!(
            Config::resolve(&ConfigArgs::default()),
            Err(ConfigError::MissingRepo)
        ));
    }

    #[test]
    fn missing_or_file_repo_is_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::resolve(&args(dir.path().join("nope").to_str().unwrap())).unwrap();
        let e = c.check_repo().unwrap_err().to_string();
        assert!(e.contains("CODEINTEL_REPO") && e.contains("nope"), "{e}");
        assert!(!dir.path().join("nope").exists(), "nothing was created");
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let c = Config::resolve(&args(file.to_str().unwrap())).unwrap();
        assert!(
            c.check_repo()
                .unwrap_err()
                .to_string()
                .contains("is a file")
        );
        let c = Config::resolve(&args(dir.path().to_str().unwrap())).unwrap();
        assert!(c.check_repo().is_ok());
    }

    #[test]
    fn non_loopback_bind_needs_a_token() {
        let mut a = args("/r");
        a.http_addr = Some("0.0.0.0:8080".into());
        let mut c = Config::resolve(&a).unwrap();
        c.token = None;
        let e = c.check_bind().unwrap_err().to_string();
        assert!(e.contains("CODEINTEL_TOKEN"), "{e}");
        c.token = Some("t".into());
        assert!(c.check_bind().is_ok());
    }

    #[test]
    fn allowed_hosts_are_validated_and_lower_cased() {
        let mut a = args("/r");
        a.allowed_hosts = Some(" CodeIntel.internal, 10.0.0.5,[::2],, ".into());
        let c = Config::resolve(&a).unwrap();
        assert_eq!(c.allowed_hosts, ["codeintel.internal", "10.0.0.5", "::2"]);
        for bad in ["http://x", "x:8080", "a/b", "a b"] {
            a.allowed_hosts = Some(bad.into());
            let e = Config::resolve(&a).unwrap_err().to_string();
            assert!(
                e.contains("CODEINTEL_ALLOWED_HOSTS") && e.contains(bad),
                "{e}"
            );
        }
        assert!(
            Config::resolve(&args("/r"))
                .unwrap()
                .allowed_hosts
                .is_empty()
        );
    }

    #[test]
    fn redacted_config_hides_secrets() {
        let mut c = Config::resolve(&args("/r")).unwrap();
        c.embed_api_key = Some("sk-secret".into());
        c.token = Some("tok-secret".into());
        let text = c.redacted_toml();
        assert!(
            !text.contains("sk-secret") && !text.contains("tok-secret"),
            "{text}"
        );
        assert!(text.contains("<redacted>"));
    }
}
