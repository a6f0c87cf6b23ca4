//! Which embedder a command uses: `CODEINTEL_EMBEDDER=local|http|none`, or,
//! unset, `http` when `CODEINTEL_VLLM_URL` is set, else `local` when the model
//! folder holds the model, else none (sparse only), with the reason. Pure:
//! the caller says whether the model is present.

use std::fmt;
use std::path::Path;

/// The message search `limits`, `/capz` and the build summary give when no
/// embedder is configured.
pub const NO_EMBEDDER: &str = "no embedder: set CODEINTEL_VLLM_URL for an embeddings server, \
     or run scripts/setup-model.sh for the built-in local model";

/// An embedder kind, as `CODEINTEL_EMBEDDER` / `--embedder` spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedderKind {
    /// The built-in all-MiniLM-L6-v2 ([`super::local`]).
    Local,
    /// An OpenAI-compatible server at `CODEINTEL_VLLM_URL` ([`super::openai`]).
    Http,
    /// No dense channel: BM25 only.
    None,
}

impl EmbedderKind {
    /// Parses `local`, `http` or `none` (case-insensitive; `openai` and
    /// `vllm` are accepted for `http`).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "local" => Some(Self::Local),
            "http" | "openai" | "vllm" => Some(Self::Http),
            "none" | "off" => Some(Self::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Http => "http",
            Self::None => "none",
        }
    }
}

impl fmt::Display for EmbedderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The resolved choice and why it was made (printed by `index` and `serve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedderChoice {
    pub kind: EmbedderKind,
    pub reason: String,
}

/// Chooses the embedder. `requested` is `CODEINTEL_EMBEDDER` (if any);
/// `model_present` whether `model_dir` holds the model files. An explicit
/// `http` without a URL is an error naming what to set.
pub fn choose(
    requested: Option<EmbedderKind>,
    vllm_url: Option<&str>,
    model_dir: Option<&Path>,
    model_present: bool,
) -> Result<EmbedderChoice, String> {
    let shown_dir = model_dir.map_or_else(
        || "(no model folder: set CODEINTEL_MODEL_DIR)".to_owned(),
        |d| d.display().to_string(),
    );
    let choice = |kind, reason: String| Ok(EmbedderChoice { kind, reason });
    match requested {
        Some(EmbedderKind::Http) => match vllm_url {
            Some(url) => choice(
                EmbedderKind::Http,
                format!("CODEINTEL_EMBEDDER=http: embeddings server {url}"),
            ),
            None => Err(
                "CODEINTEL_EMBEDDER=http needs the server's URL: set CODEINTEL_VLLM_URL \
                 (e.g. http://127.0.0.1:8000), or use CODEINTEL_EMBEDDER=local"
                    .to_owned(),
            ),
        },
        Some(EmbedderKind::Local) => choice(
            EmbedderKind::Local,
            format!("CODEINTEL_EMBEDDER=local: built-in all-MiniLM-L6-v2 from {shown_dir}"),
        ),
        Some(EmbedderKind::None) => choice(
            EmbedderKind::None,
            "CODEINTEL_EMBEDDER=none: sparse (BM25) search only".to_owned(),
        ),
        None => match vllm_url {
            Some(url) => choice(
                EmbedderKind::Http,
                format!("CODEINTEL_VLLM_URL is set: embeddings server {url}"),
            ),
            None if model_present => choice(
                EmbedderKind::Local,
                format!("built-in all-MiniLM-L6-v2 from {shown_dir}"),
            ),
            None => choice(
                EmbedderKind::None,
                format!("{NO_EMBEDDER} (no model in {shown_dir}); sparse (BM25) search only"),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_url_then_model_then_none() {
        let dir = Path::new("/m");
        let http = choose(None, Some("http://x"), Some(dir), true).unwrap();
        assert_eq!(http.kind, EmbedderKind::Http);
        let local = choose(None, None, Some(dir), true).unwrap();
        assert_eq!(local.kind, EmbedderKind::Local);
        let none = choose(None, None, Some(dir), false).unwrap();
        assert_eq!(none.kind, EmbedderKind::None);
        assert!(
            none.reason.contains("scripts/setup-model.sh"),
            "{}",
            none.reason
        );
        assert!(none.reason.contains("/m"), "{}", none.reason);
    }

    #[test]
    fn explicit_choices_win() {
        let dir = Path::new("/m");
        let local = choose(
            Some(EmbedderKind::Local),
            Some("http://x"),
            Some(dir),
            false,
        )
        .unwrap();
        assert_eq!(local.kind, EmbedderKind::Local);
        let none = choose(Some(EmbedderKind::None), Some("http://x"), Some(dir), true).unwrap();
        assert_eq!(none.kind, EmbedderKind::None);
        let err = choose(Some(EmbedderKind::Http), None, Some(dir), true).unwrap_err();
        assert!(err.contains("CODEINTEL_VLLM_URL"), "{err}");
    }

    #[test]
    fn parse_spellings() {
        assert_eq!(EmbedderKind::parse(" LOCAL "), Some(EmbedderKind::Local));
        assert_eq!(EmbedderKind::parse("vllm"), Some(EmbedderKind::Http));
        assert_eq!(EmbedderKind::parse("none"), Some(EmbedderKind::None));
        assert_eq!(EmbedderKind::parse("bert"), None);
    }
}
