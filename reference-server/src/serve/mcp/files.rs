//! The file-system side of the tools, pure or blocking (callers run it on
//! the blocking pool): globs over repository-relative paths, the regex
//! search over a file list (ripgrep's searcher) and `open_file`'s confined,
//! line-sliced read.

use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;

use super::ToolError;
use crate::index::walk;
use crate::serve::guard;

/// `open_file` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenFileArgs {
    /// Path relative to the repository root, e.g. `src/main.rs`.
    pub path: String,
    /// First line to return, 1-based (default 1).
    #[serde(default)]
    pub start_line: Option<usize>,
    /// Last line to return, inclusive (default: start_line + 399, at most 2000 lines per call).
    #[serde(default)]
    pub end_line: Option<usize>,
}

/// Lines `open_file` returns at most per call.
pub const MAX_OPEN_LINES: usize = 2000;
/// Bytes `open_file` reads at most.
pub const MAX_OPEN_BYTES: u64 = 8 << 20;
/// Characters of one matching line `text_search` returns.
pub const MAX_MATCH_LINE_CHARS: usize = 400;

/// A glob over repository-relative paths; one without `/` matches file names.
pub(super) struct PathGlob {
    matcher: globset::GlobMatcher,
    name_only: bool,
}

impl PathGlob {
    pub(super) fn new(glob: &str) -> Result<Self, ToolError> {
        guard::check_relative(glob.trim_start_matches("**/")).map_err(ToolError::from)?;
        let matcher = globset::GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| {
                ToolError::new("invalid_glob", format!("`glob` is not a valid glob: {e}"))
            })?
            .compile_matcher();
        Ok(Self {
            matcher,
            name_only: !glob.contains('/'),
        })
    }

    pub(super) fn is_match(&self, rel_path: &str) -> bool {
        if self.name_only {
            let name = rel_path.rsplit('/').next().unwrap_or(rel_path);
            self.matcher.is_match(name)
        } else {
            self.matcher.is_match(rel_path)
        }
    }
}

/// A file of the repository as the tools list it.
pub(super) struct Listed {
    /// Repository-relative, `/`-separated.
    pub(super) rel_path: String,
    /// Below the canonical repository root.
    pub(super) abs_path: std::path::PathBuf,
}

/// Regex search over `files`, at most `max` matching lines:
/// (matches, files searched, truncated).
pub(super) fn grep_files(
    matcher: &grep_regex::RegexMatcher,
    files: &[Listed],
    max: usize,
) -> (Vec<serde_json::Value>, usize, bool) {
    use grep_searcher::{BinaryDetection, SearcherBuilder, sinks::UTF8};
    let mut searcher = SearcherBuilder::new()
        .line_number(true)
        .binary_detection(BinaryDetection::quit(b'\x00'))
        .build();
    let mut matches = Vec::new();
    let mut searched = 0;
    let mut truncated = false;
    for file in files {
        if matches.len() >= max {
            truncated = true;
            break;
        }
        searched += 1;
        let path = file.rel_path.clone();
        let _ = searcher.search_path(
            matcher,
            &file.abs_path,
            UTF8(|line_number, line| {
                if matches.len() >= max {
                    truncated = true;
                    return Ok(false);
                }
                let text = line.trim_end_matches(['\n', '\r']);
                let text: String = text.chars().take(MAX_MATCH_LINE_CHARS).collect();
                matches
                    .push(serde_json::json!({ "path": path, "line": line_number, "text": text }));
                Ok(true)
            }),
        );
    }
    (matches, searched, truncated)
}

/// `open_file`: confine, read, slice lines.
pub(super) fn open_file(root: &Path, a: &OpenFileArgs) -> Result<serde_json::Value, ToolError> {
    let canonical = guard::resolve(root, &a.path)?;
    let rel = guard::relative_to(root, &canonical).unwrap_or_else(|| a.path.clone());
    let meta = std::fs::metadata(&canonical)
        .map_err(|e| ToolError::new("io", format!("cannot read {rel:?}: {e}")))?;
    if meta.is_dir() {
        return Err(ToolError::new(
            "is_a_folder",
            format!("{rel:?} is a folder; use `list_paths` with a glob like \"{rel}/**\""),
        ));
    }
    if meta.len() > MAX_OPEN_BYTES {
        return Err(ToolError::new(
            "too_large",
            format!(
                "{rel:?} is {} bytes, more than {MAX_OPEN_BYTES}; use `text_search` on it instead",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(&canonical)
        .map_err(|e| ToolError::new("io", format!("cannot read {rel:?}: {e}")))?;
    let text = walk::decode_text(bytes)
        .map_err(|why| ToolError::new("not_text", format!("{rel:?} is not a text file: {why}")))?;
    let lines: Vec<&str> = text.lines().collect();
    let total = lines.len();
    let start = a.start_line.unwrap_or(1);
    if start == 0 {
        return Err(ToolError::new(
            "invalid_arguments",
            "`start_line` is 1-based; got 0",
        ));
    }
    if start > total.max(1) {
        return Err(ToolError::new(
            "invalid_arguments",
            format!("`start_line` {start} is past the end of {rel:?} ({total} lines)"),
        ));
    }
    let end = a.end_line.unwrap_or(start + 399).min(total);
    if end < start && total > 0 {
        return Err(ToolError::new(
            "invalid_arguments",
            format!("`end_line` {end} is before `start_line` {start}"),
        ));
    }
    let end = end.min(start + MAX_OPEN_LINES - 1);
    let slice = if total == 0 {
        &[][..]
    } else {
        &lines[start - 1..end]
    };
    Ok(serde_json::json!({
        "path": rel,
        "start_line": start,
        "end_line": if total == 0 { 0 } else { end },
        "total_lines": total,
        "text": slice.join("\n"),
    }))
}
