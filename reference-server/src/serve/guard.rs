//! Request guards: path confinement to the repository root, the `Host`
//! check against DNS rebinding ([`allowed_hosts`], [`host_allowed`]), and
//! the bearer token comparison (constant time, [`bearer_matches`]).
//!
//! Every path a client sends (`open_file`, globs are matched against walked
//! paths only) goes through [`check_relative`] (pure: refuses NUL bytes,
//! absolute paths, `..` components and URL-encoded tricks such as `%2e%2e`)
//! and then [`resolve`] (canonicalizes against the canonical repository root
//! and refuses anything — a symbolic link, typically — that resolves
//! outside it).

use std::path::{Component, Path, PathBuf};

/// Why a path argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("the path is empty; give a path relative to the repository root, e.g. `src/main.rs`")]
    Empty,
    #[error("path refused: it contains a NUL byte")]
    NulByte,
    #[error(
        "path escapes the repository: {path:?} is absolute; give a path relative to the repository root"
    )]
    Absolute { path: String },
    #[error(
        "path escapes the repository: {path:?} has a `..` component; give a path relative to the repository root without `..`"
    )]
    ParentComponent { path: String },
    #[error(
        "path escapes the repository: {path:?} is URL-encoded ({decoded:?}); send the plain path relative to the repository root"
    )]
    Encoded { path: String, decoded: String },
    #[error(
        "path escapes the repository: {path:?} resolves outside the repository root (via a symbolic link)"
    )]
    OutsideRoot { path: String },
    #[error("no such file or folder in the repository: {path:?}")]
    NotFound { path: String },
    #[error("cannot access {path:?} in the repository: {reason}")]
    Io { path: String, reason: String },
}

impl GuardError {
    /// A short, bounded name of the refusal (the span's `error.type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Io { .. } => "io",
            Self::Empty => "invalid_path",
            Self::NulByte
            | Self::Absolute { .. }
            | Self::ParentComponent { .. }
            | Self::Encoded { .. }
            | Self::OutsideRoot { .. } => "path_escape",
        }
    }
}

/// Decodes `%XX` sequences once (invalid sequences are kept as they are).
fn percent_decode_once(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The lexical checks on one form of the path.
fn lexical(original: &str, candidate: &str) -> Result<(), GuardError> {
    if candidate.contains('\0') {
        return Err(GuardError::NulByte);
    }
    let bytes = candidate.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if candidate.starts_with('/')
        || candidate.starts_with('\\')
        || drive
        || candidate.starts_with('~')
    {
        return Err(GuardError::Absolute {
            path: original.to_owned(),
        });
    }
    if candidate.split(['/', '\\']).any(|part| part == "..") {
        return Err(GuardError::ParentComponent {
            path: original.to_owned(),
        });
    }
    Ok(())
}

/// Checks a client-supplied path without touching the file system and
/// returns it normalised (`/`-separated, no `.` or empty components).
///
/// Refuses NUL bytes, absolute paths (`/…`, `\…`, `C:…`, `~…`), any `..`
/// component, and percent-encoded forms that decode (once or repeatedly) to
/// any of those. An empty path or `.` is the repository root (`""`).
pub fn check_relative(path: &str) -> Result<String, GuardError> {
    lexical(path, path)?;
    // Percent-encoded traversal (`%2e%2e%2f`, double-encoded `%252e`).
    let mut current = path.to_owned();
    for _ in 0..4 {
        let decoded = percent_decode_once(&current);
        if decoded == current {
            break;
        }
        if lexical(path, &decoded).is_err() || decoded.contains('\0') {
            return Err(GuardError::Encoded {
                path: path.to_owned(),
                decoded,
            });
        }
        current = decoded;
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    Ok(parts.join("/"))
}

/// Resolves a client-supplied path against the canonical repository root:
/// [`check_relative`], then canonicalization (following symbolic links),
/// which must stay below `root`. Returns the canonical absolute path.
///
/// `root` must itself be canonical (see [`std::fs::canonicalize`]).
pub fn resolve(root: &Path, path: &str) -> Result<PathBuf, GuardError> {
    let rel = check_relative(path)?;
    if rel.is_empty() {
        return Ok(root.to_path_buf());
    }
    let joined = root.join(&rel);
    let canonical = match std::fs::canonicalize(&joined) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling link pointing outside is still an escape attempt:
            // report it as such when the link itself exists.
            if let Ok(target) = std::fs::read_link(&joined) {
                let target = if target.is_absolute() {
                    target
                } else {
                    joined.parent().unwrap_or(root).join(target)
                };
                if !target.starts_with(root) {
                    return Err(GuardError::OutsideRoot {
                        path: path.to_owned(),
                    });
                }
            }
            return Err(GuardError::NotFound {
                path: path.to_owned(),
            });
        }
        Err(e) => {
            return Err(GuardError::Io {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    if !canonical.starts_with(root) {
        return Err(GuardError::OutsideRoot {
            path: path.to_owned(),
        });
    }
    Ok(canonical)
}

/// The repository-relative, `/`-separated form of a canonical path below
/// `root` (`None` when it is not below it).
pub fn relative_to(root: &Path, canonical: &Path) -> Option<String> {
    let rel = canonical.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    Some(parts.join("/"))
}

/// Compares two secrets in time independent of where they differ
/// (`subtle`; only the lengths are compared in variable time).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    bool::from(a.ct_eq(b))
}

/// Checks an `Authorization` header value against the expected bearer
/// token. `None` header → false.
pub fn bearer_matches(header: Option<&str>, token: &str) -> bool {
    let Some(value) = header else {
        return false;
    };
    let value = value.trim();
    let Some((scheme, presented)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && constant_time_eq(presented.trim().as_bytes(), token.as_bytes())
}

/// The `Host` names the server answers to (DNS rebinding protection): the
/// loopback names, the bound address when it is a specific (non-loopback,
/// non-wildcard) one, and the configured extras.
pub fn allowed_hosts(local: std::net::SocketAddr, extra: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !local.ip().is_loopback() && !local.ip().is_unspecified() {
        hosts.push(local.ip().to_string());
    }
    hosts.extend(extra.iter().cloned());
    hosts
}

/// Whether a request's authority (`Host` header, or the HTTP/2 `:authority`)
/// names an allowed host; a request that names none passes (only browsers
/// are the rebinding threat, and they always send one). The port is not
/// judged; case is ignored.
pub fn host_allowed(authority: Option<&str>, allowed: &[String]) -> bool {
    let Some(authority) = authority.map(str::trim).filter(|a| !a.is_empty()) else {
        return true;
    };
    let host = match authority.parse::<axum::http::uri::Authority>() {
        Ok(a) => a.host().trim_matches(['[', ']']).to_ascii_lowercase(),
        Err(_) => return false,
    };
    let host = host.strip_suffix('.').unwrap_or(&host);
    allowed.iter().any(|h| h.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_and_the_bound_address_are_allowed_hosts() {
        let loopback: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let hosts = allowed_hosts(loopback, &[]);
        for ok in [
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "LOCALHOST",
            "localhost.",
        ] {
            assert!(host_allowed(Some(ok), &hosts), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.5",
            "a b",
            "@x",
        ] {
            assert!(!host_allowed(Some(bad), &hosts), "{bad}");
        }
        assert!(host_allowed(None, &hosts));
        let bound: std::net::SocketAddr = "10.0.0.5:8080".parse().unwrap();
        assert!(host_allowed(
            Some("10.0.0.5:8080"),
            &allowed_hosts(bound, &[])
        ));
        let wildcard: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(!host_allowed(
            Some("0.0.0.0:8080"),
            &allowed_hosts(wildcard, &[])
        ));
        let extra = allowed_hosts(wildcard, &["codeintel.internal".into()]);
        assert!(host_allowed(Some("CodeIntel.internal:8080"), &extra));
    }

    #[test]
    fn plain_relative_paths_are_normalised() {
        assert_eq!(check_relative("src/main.rs").unwrap(), "src/main.rs");
        assert_eq!(check_relative("./src//lib.rs").unwrap(), "src/lib.rs");
        assert_eq!(check_relative("").unwrap(), "");
        assert_eq!(check_relative(".").unwrap(), "");
        assert_eq!(check_relative("100%.txt").unwrap(), "100%.txt");
        assert_eq!(check_relative("a%20b.rs").unwrap(), "a%20b.rs");
    }

    #[test]
    fn escapes_are_refused_with_clear_messages() {
        let cases = [
            "../etc/passwd",
            "src/../../x",
            "..",
            "/etc/passwd",
            "\\windows\\system32",
            "C:\\Windows",
            "~/.ssh/id_rsa",
            "..\\..\\x",
            "%2e%2e/etc/passwd",
            "%2E%2E%2Fetc%2Fpasswd",
            "%252e%252e%252fetc",
            "%2fetc%2fpasswd",
            "a\0b",
            "ok%00.rs",
        ];
        for c in cases {
            let e = check_relative(c).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains("escapes the repository") || msg.contains("NUL"),
                "{c:?}: {msg}"
            );
            assert_eq!(e.kind(), "path_escape", "{c:?}");
        }
    }

    #[test]
    fn messages_snapshot() {
        let text = ["../x", "/etc/passwd", "%2e%2e/x", "a\0b"]
            .iter()
            .map(|p| format!("{p:?} -> {}", check_relative(p).unwrap_err()))
            .collect::<Vec<_>>()
            .join("\n");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn resolve_confines_to_the_root_and_follows_links_inside_only() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "s").unwrap();
        let root = tmp.path().join("repo");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/a.rs"), "fn a() {}").unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("leak.txt"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("outdir")).unwrap();
        std::os::unix::fs::symlink(root.join("src/a.rs"), root.join("alias.rs")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/target", root.join("dangling")).unwrap();

        let ok = resolve(&root, "src/a.rs").unwrap();
        assert_eq!(relative_to(&root, &ok).as_deref(), Some("src/a.rs"));
        let alias = resolve(&root, "alias.rs").unwrap();
        assert_eq!(relative_to(&root, &alias).as_deref(), Some("src/a.rs"));

        for p in ["leak.txt", "outdir/secret.txt", "outdir", "dangling"] {
            let e = resolve(&root, p).unwrap_err();
            assert!(matches!(e, GuardError::OutsideRoot { .. }), "{p}: {e}");
            assert!(e.to_string().contains("escapes the repository"), "{e}");
        }
        assert!(matches!(
            resolve(&root, "missing.rs").unwrap_err(),
            GuardError::NotFound { .. }
        ));
        assert!(matches!(
            resolve(&root, "../repo/src/a.rs").unwrap_err(),
            GuardError::ParentComponent { .. }
        ));
        assert_eq!(resolve(&root, "").unwrap(), root);
    }

    #[test]
    fn bearer_tokens_compare_exactly() {
        assert!(bearer_matches(Some("Bearer s3cret"), "s3cret"));
        assert!(bearer_matches(Some("bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(Some("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(Some("Basic s3cret"), "s3cret"));
        assert!(!bearer_matches(Some("s3cret"), "s3cret"));
        assert!(!bearer_matches(None, "s3cret"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
