//! Chunking source files into searchable units (pure).
//!
//! [`chunk_file`] turns one file's text into [`Chunk`]s (the units that are
//! embedded, BM25-indexed and returned as findings) and [`Symbol`]s (the rows of
//! the symbols table used by `symbol_search`), in one pass.
//!
//! Python, Rust, TypeScript/JavaScript, Go and Java are parsed with
//! tree-sitter and cut at function / method / class granularity; Markdown is cut
//! at headings; everything else falls back to overlapping line windows.
//!
//! # Invariants
//! - Pure: no I/O, no globals, no telemetry. Same `(path, text, options)` →
//!   same output, byte for byte.
//! - Line numbers are 1-based and inclusive; a chunk's `text` is exactly the
//!   source lines `start_line..=end_line` (without the final line break).
//! - Nothing is lost: every line holding a letter or digit lies in at least one
//!   chunk. Code between definitions (imports, top-level statements, a class
//!   header and its fields) becomes [`ChunkKind::Module`] chunks at top level,
//!   or chunks of the container's own kind and symbol inside a class/impl.
//! - A definition's chunk starts at the doc comments / attributes / decorators
//!   attached to it (no blank line in between); its [`Symbol`] range is the
//!   definition node itself.
//! - Definitions longer than [`ChunkOptions::max_chunk_lines`] are split into
//!   overlapping windows that all keep the definition's kind and symbol.
//! - Chunk ids are stable: see [`chunk_id`].
//! - Qualified names join containers with `::` in Rust and `.` elsewhere
//!   (`Ledger::reserve`, `PaymentService.refund`, `Store.Reserve` for a Go
//!   method with receiver `*Store`).
//!
//! # Layout
//! [`chunk_file`] picks the chunker by language: `tree` (the tree-sitter
//! walk shared by the `python`, `rust`, `typescript`, `go` and `java`
//! specs) or `fallback` (Markdown headings, line windows); both cut
//! `lines` into `segment`s, which `output` turns into chunks and symbols.

mod fallback;
mod go;
mod java;
mod lines;
mod output;
mod python;
mod rust;
mod segment;
mod tree;
mod typescript;

use std::fmt;

use serde::{Deserialize, Serialize};

pub(crate) use lines::Lines;
use output::build_output;
pub(crate) use segment::{Segment, push_windowed};
use tree::parse_with;
pub(crate) use tree::{Ctx, DefMatch, LangSpec, field_text, node_text};

/// A source language, detected from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    Rust,
    TypeScript,
    JavaScript,
    Go,
    Java,
    Markdown,
    /// Any other text: chunked by line windows.
    Other,
}

impl Language {
    /// Every language, in a fixed order.
    pub const ALL: [Self; 8] = [
        Self::Python,
        Self::Rust,
        Self::TypeScript,
        Self::JavaScript,
        Self::Go,
        Self::Java,
        Self::Markdown,
        Self::Other,
    ];

    /// Detects the language from a path's extension (case-insensitive).
    pub fn from_path(path: &str) -> Self {
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let Some((_, ext)) = name.rsplit_once('.') else {
            return Self::Other;
        };
        match ext.to_ascii_lowercase().as_str() {
            "py" | "pyi" => Self::Python,
            "rs" => Self::Rust,
            "ts" | "tsx" | "mts" | "cts" => Self::TypeScript,
            "js" | "jsx" | "mjs" | "cjs" => Self::JavaScript,
            "go" => Self::Go,
            "java" => Self::Java,
            "md" | "markdown" => Self::Markdown,
            _ => Self::Other,
        }
    }

    /// The stable lowercase name (used in the catalog and as a metric label).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Rust => "rust",
            Self::TypeScript => "typescript",
            Self::JavaScript => "javascript",
            Self::Go => "go",
            Self::Java => "java",
            Self::Markdown => "markdown",
            Self::Other => "other",
        }
    }

    /// The inverse of [`Language::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a chunk (or symbol) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkKind {
    Function,
    Method,
    Class,
    Struct,
    Enum,
    Trait,
    Impl,
    Interface,
    /// Top-level code between definitions, or a Rust `mod` / TS namespace.
    Module,
    Macro,
    /// Symbol only (constants are left inside the surrounding chunk).
    Constant,
    /// Symbol only (type aliases are left inside the surrounding chunk).
    TypeAlias,
    /// A Markdown section (heading to next heading).
    Section,
    /// A line window of a file no parser handles.
    Window,
}

impl ChunkKind {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 14] = [
        Self::Function,
        Self::Method,
        Self::Class,
        Self::Struct,
        Self::Enum,
        Self::Trait,
        Self::Impl,
        Self::Interface,
        Self::Module,
        Self::Macro,
        Self::Constant,
        Self::TypeAlias,
        Self::Section,
        Self::Window,
    ];

    /// The stable snake_case name (catalog column value).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Function => "function",
            Self::Method => "method",
            Self::Class => "class",
            Self::Struct => "struct",
            Self::Enum => "enum",
            Self::Trait => "trait",
            Self::Impl => "impl",
            Self::Interface => "interface",
            Self::Module => "module",
            Self::Macro => "macro",
            Self::Constant => "constant",
            Self::TypeAlias => "type_alias",
            Self::Section => "section",
            Self::Window => "window",
        }
    }

    /// The inverse of [`ChunkKind::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for ChunkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One searchable unit of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Stable id, see [`chunk_id`].
    pub id: String,
    /// Repository-relative path, `/`-separated.
    pub path: String,
    /// First line, 1-based.
    pub start_line: u32,
    /// Last line, 1-based, inclusive.
    pub end_line: u32,
    pub language: Language,
    pub kind: ChunkKind,
    /// Qualified name of the definition (or container) the chunk belongs to,
    /// or the heading of a Markdown section; `None` for top-level code and
    /// plain windows.
    pub symbol: Option<String>,
    /// The source lines `start_line..=end_line`.
    pub text: String,
}

/// One row of the symbols table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    /// Qualified name (`PaymentService.refund`, `Ledger::reserve`).
    pub name: String,
    pub kind: ChunkKind,
    pub path: String,
    /// Line of the definition node (after decorators / doc comments), 1-based.
    pub start_line: u32,
    /// Last line of the definition node, 1-based, inclusive.
    pub end_line: u32,
    pub language: Language,
}

/// Result of chunking one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkOutput {
    /// Ordered by start line, then end line.
    pub chunks: Vec<Chunk>,
    /// Ordered by start line, then name.
    pub symbols: Vec<Symbol>,
}

/// Chunk sizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChunkOptions {
    /// Lines per window (fallback files, long definitions, long top-level code).
    pub window_lines: u32,
    /// Lines shared by consecutive windows; clamped below `window_lines`.
    pub window_overlap: u32,
    /// A definition longer than this is split into windows.
    pub max_chunk_lines: u32,
    /// No chunk's text is longer than this many bytes: a longer chunk is
    /// cut between lines, and a longer line is cut (at a character
    /// boundary) into pieces with the same line span. Embedding servers
    /// refuse over-long inputs; minified files are one huge line.
    pub max_chunk_bytes: u32,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self {
            window_lines: 60,
            window_overlap: 10,
            max_chunk_lines: 200,
            max_chunk_bytes: DEFAULT_MAX_CHUNK_BYTES,
        }
    }
}

/// Default [`ChunkOptions::max_chunk_bytes`]: 8 KiB, about 2k tokens of
/// code, under every common embedding model's input limit (sequences past
/// the model's own window are truncated by the server, not refused).
pub const DEFAULT_MAX_CHUNK_BYTES: u32 = 8 * 1024;

/// Smallest accepted [`ChunkOptions::max_chunk_bytes`] (a 4-byte UTF-8
/// character must fit).
pub const MIN_MAX_CHUNK_BYTES: u32 = 64;

/// Invalid [`ChunkOptions`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkOptionsError {
    #[error("chunk window_lines is 0: set it to a positive number of lines (default 60)")]
    ZeroWindow,
    #[error(
        "chunk window_overlap ({overlap}) must be smaller than window_lines ({window}): lower the overlap (default 10)"
    )]
    OverlapTooLarge { overlap: u32, window: u32 },
    #[error("chunk max_chunk_lines is 0: set it to a positive number of lines (default 200)")]
    ZeroMaxChunk,
    #[error(
        "chunk max_chunk_bytes ({0}) is below {MIN_MAX_CHUNK_BYTES}: raise it (default {DEFAULT_MAX_CHUNK_BYTES})"
    )]
    MaxBytesTooSmall(u32),
}

impl ChunkOptions {
    /// Checks the options; [`chunk_file`] clamps bad values instead of failing,
    /// so call this where configuration is loaded.
    pub fn validate(&self) -> Result<(), ChunkOptionsError> {
        if self.window_lines == 0 {
            return Err(ChunkOptionsError::ZeroWindow);
        }
        if self.window_overlap >= self.window_lines {
            return Err(ChunkOptionsError::OverlapTooLarge {
                overlap: self.window_overlap,
                window: self.window_lines,
            });
        }
        if self.max_chunk_lines == 0 {
            return Err(ChunkOptionsError::ZeroMaxChunk);
        }
        if self.max_chunk_bytes < MIN_MAX_CHUNK_BYTES {
            return Err(ChunkOptionsError::MaxBytesTooSmall(self.max_chunk_bytes));
        }
        Ok(())
    }

    fn clamped(self) -> Self {
        let window_lines = self.window_lines.max(1);
        Self {
            window_lines,
            window_overlap: self.window_overlap.min(window_lines - 1),
            max_chunk_lines: self.max_chunk_lines.max(1),
            max_chunk_bytes: self.max_chunk_bytes.max(MIN_MAX_CHUNK_BYTES),
        }
    }
}

/// Stable chunk id: the first 24 hex digits of
/// `blake3(path ‖ 0 ‖ occurrence ‖ blake3(text))` (`occurrence` as a
/// little-endian u32: how many earlier chunks of the file have the same
/// text). The line span is not part of it: a chunk that only moved (lines
/// inserted above it) keeps its id, so the dense and sparse indexes keep
/// its row and nothing is embedded again; any change of path or content
/// gives a different id.
pub fn chunk_id(path: &str, occurrence: u32, text: &str) -> String {
    let content = blake3::hash(text.as_bytes());
    let mut hasher = blake3::Hasher::new();
    hasher.update(path.as_bytes());
    hasher.update(&[0]);
    hasher.update(&occurrence.to_le_bytes());
    hasher.update(content.as_bytes());
    let digest = hasher.finalize();
    hex::encode(&digest.as_bytes()[..12])
}

/// Chunks one file. The language comes from `path` ([`Language::from_path`]).
/// An empty or blank file gives no chunks. Never fails: a file the parser
/// cannot make sense of is still covered (by top-level chunks or windows).
pub fn chunk_file(path: &str, text: &str, opts: &ChunkOptions) -> ChunkOutput {
    let opts = opts.clamped();
    let language = Language::from_path(path);
    let lines = Lines::new(text);
    if lines.count() == 0 || text.trim().is_empty() {
        return ChunkOutput::default();
    }
    let segments_and_symbols = match language {
        Language::Python => parse_with(&python::SPEC, text, &lines, &opts),
        Language::Rust => parse_with(&rust::SPEC, text, &lines, &opts),
        Language::TypeScript => {
            let tsx = std::path::Path::new(path)
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("tsx"));
            if tsx {
                parse_with(&typescript::TSX_SPEC, text, &lines, &opts)
            } else {
                parse_with(&typescript::TS_SPEC, text, &lines, &opts)
            }
        }
        // JSX is common in .js files, and the TSX grammar accepts plain JS.
        Language::JavaScript => parse_with(&typescript::TSX_SPEC, text, &lines, &opts),
        Language::Go => parse_with(&go::SPEC, text, &lines, &opts),
        Language::Java => parse_with(&java::SPEC, text, &lines, &opts),
        Language::Markdown => Some((fallback::markdown_segments(&lines, &opts), Vec::new())),
        Language::Other => None,
    };
    let (segments, defs) =
        segments_and_symbols.unwrap_or_else(|| (fallback::window_segments(&lines, &opts), vec![]));
    build_output(
        path,
        language,
        &lines,
        segments,
        defs,
        opts.max_chunk_bytes as usize,
    )
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::{ChunkOptions, ChunkOutput, chunk_file};

    /// `(start, end, kind, symbol)` of each chunk.
    pub(crate) fn spans(out: &ChunkOutput) -> Vec<(u32, u32, &'static str, Option<String>)> {
        out.chunks
            .iter()
            .map(|c| (c.start_line, c.end_line, c.kind.as_str(), c.symbol.clone()))
            .collect()
    }

    /// `(name, kind, start, end)` of each symbol.
    pub(crate) fn symbols(out: &ChunkOutput) -> Vec<(String, &'static str, u32, u32)> {
        out.symbols
            .iter()
            .map(|s| (s.name.clone(), s.kind.as_str(), s.start_line, s.end_line))
            .collect()
    }

    pub(crate) fn chunk(path: &str, text: &str) -> ChunkOutput {
        chunk_file(path, text, &ChunkOptions::default())
    }

    /// Every line with a letter or digit is inside some chunk.
    pub(crate) fn assert_covered(text: &str, out: &ChunkOutput) {
        for (i, line) in text.lines().enumerate() {
            let n = i as u32 + 1;
            if line.chars().any(char::is_alphanumeric) {
                assert!(
                    out.chunks
                        .iter()
                        .any(|c| c.start_line <= n && n <= c.end_line),
                    "line {n} {line:?} is in no chunk"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{assert_covered, chunk, spans};
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::fmt::Write as _;

    #[test]
    fn language_from_path() {
        let cases = [
            ("a/b.py", Language::Python),
            ("x.PYI", Language::Python),
            ("src/lib.rs", Language::Rust),
            ("web/a.ts", Language::TypeScript),
            ("web/a.tsx", Language::TypeScript),
            ("web/a.mjs", Language::JavaScript),
            ("web/a.jsx", Language::JavaScript),
            ("cmd/main.go", Language::Go),
            ("A.java", Language::Java),
            ("README.md", Language::Markdown),
            ("Makefile", Language::Other),
            ("config.toml", Language::Other),
            (".hidden", Language::Other),
        ];
        for (path, lang) in cases {
            assert_eq!(Language::from_path(path), lang, "{path}");
        }
        for lang in Language::ALL {
            assert_eq!(Language::from_name(lang.as_str()), Some(lang));
        }
        for kind in ChunkKind::ALL {
            assert_eq!(ChunkKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(Language::from_name("cobol"), None);
    }

    #[test]
    fn empty_and_blank_files_have_no_chunks() {
        for text in ["", "\n\n", "   \n\t\n"] {
            for path in ["a.py", "a.rs", "a.txt", "a.md"] {
                assert_eq!(chunk(path, text), ChunkOutput::default(), "{path} {text:?}");
            }
        }
    }

    #[test]
    fn chunk_ids_are_stable_and_content_sensitive() {
        let a = chunk_id("a.py", 0, "def f():\n    pass");
        assert_eq!(a, chunk_id("a.py", 0, "def f():\n    pass"));
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, chunk_id("a.py", 0, "def g():\n    pass"));
        assert_ne!(a, chunk_id("b.py", 0, "def f():\n    pass"));
        assert_ne!(a, chunk_id("a.py", 1, "def f():\n    pass"));
        let src = "def f():\n    return 1\n\n\ndef g():\n    return 2\n";
        let one = chunk("m.py", src);
        assert_eq!(one, chunk("m.py", src));
        let edited = chunk("m.py", &src.replace("return 2", "return 3"));
        assert_eq!(
            one.chunks[0].id, edited.chunks[0].id,
            "untouched chunk keeps its id"
        );
        assert_ne!(
            one.chunks[1].id, edited.chunks[1].id,
            "edited chunk gets a new id"
        );
        // A line inserted at the top moves every chunk but changes no id.
        let moved = chunk("m.py", &format!("import os\n{src}"));
        let texts = |o: &ChunkOutput| -> Vec<(String, String)> {
            o.chunks
                .iter()
                .map(|c| (c.id.clone(), c.text.clone()))
                .collect()
        };
        for (id, text) in texts(&one) {
            assert!(
                texts(&moved).contains(&(id, text.clone())),
                "moved chunk {text:?} kept its id"
            );
        }
        assert_ne!(
            one.chunks[0].start_line,
            moved.chunks.last().unwrap().start_line
        );
        // Two identical definitions in one file get distinct ids.
        let twice = chunk("t.py", "def f():\n    pass\n\n\ndef f():\n    pass\n");
        let ids: HashSet<&str> = twice.chunks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), twice.chunks.len(), "{twice:#?}");
    }

    #[test]
    fn chunks_are_byte_capped_and_long_lines_split() {
        let opts = ChunkOptions {
            max_chunk_bytes: 100,
            ..ChunkOptions::default()
        };
        // A minified one-liner of 1000 bytes with multi-byte characters.
        let line: String = "é=1;".repeat(200);
        let src = format!("first line\n{line}\nlast line\n");
        let out = chunk_file("min.txt", &src, &opts);
        assert!(out.chunks.iter().all(|c| c.text.len() <= 100), "{out:#?}");
        let pieces: Vec<&Chunk> = out.chunks.iter().filter(|c| c.start_line == 2).collect();
        assert!(pieces.len() >= 10, "the long line is cut in pieces");
        assert!(pieces.iter().all(|c| c.end_line == 2));
        let joined: String = pieces.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(joined, line, "pieces cover the line exactly, in order");
        assert!(out.chunks.iter().any(|c| c.text == "first line"));
        assert!(out.chunks.iter().any(|c| c.text == "last line"));
        // Many short lines: cut between lines, nothing lost.
        let many: String = (0..50)
            .map(|i| format!("line number {i:03}"))
            .collect::<Vec<_>>()
            .join("\n");
        let out = chunk_file("many.txt", &many, &opts);
        assert!(out.chunks.len() > 1);
        for c in &out.chunks {
            assert!(c.text.len() <= 100, "{c:#?}");
            assert_eq!(c.text.lines().count() as u32, c.end_line - c.start_line + 1);
        }
        let bad = ChunkOptions {
            max_chunk_bytes: 10,
            ..ChunkOptions::default()
        };
        assert_eq!(bad.validate(), Err(ChunkOptionsError::MaxBytesTooSmall(10)));
    }

    #[test]
    fn options_validate_and_clamp() {
        assert_eq!(ChunkOptions::default().validate(), Ok(()));
        let bad = ChunkOptions {
            window_lines: 10,
            window_overlap: 10,
            max_chunk_lines: 5,
            ..ChunkOptions::default()
        };
        let err = bad.validate().unwrap_err();
        assert!(
            err.to_string().contains("smaller than window_lines"),
            "{err}"
        );
        let zero = ChunkOptions {
            window_lines: 0,
            window_overlap: 0,
            max_chunk_lines: 0,
            max_chunk_bytes: 0,
        };
        assert_eq!(zero.validate(), Err(ChunkOptionsError::ZeroWindow));
        // Clamped instead of looping forever.
        let text = "a\nb\nc\nd\n";
        let out = chunk_file("x.txt", text, &zero);
        assert_eq!(out.chunks.len(), 4);
    }

    #[test]
    fn long_definition_is_windowed_and_keeps_symbol() {
        let mut src = String::from("def big():\n");
        for i in 0..250 {
            let _ = writeln!(src, "    x{i} = {i}");
        }
        let out = chunk("big.py", &src);
        let s = spans(&out);
        assert_eq!(s.len(), 5, "{s:?}");
        assert_eq!(s[0], (1, 60, "function", Some("big".into())));
        assert_eq!(s[1], (51, 110, "function", Some("big".into())));
        assert_eq!(s[4], (201, 251, "function", Some("big".into())));
        assert_covered(&src, &out);
        assert_eq!(out.symbols.len(), 1);
        assert_eq!(out.symbols[0].end_line, 251);
    }

    #[test]
    fn broken_source_is_still_covered() {
        let src =
            "def ok():\n    return 1\n\nclass Broken(:\n    def x(self) return\n\nprint('tail')\n";
        let out = chunk("b.py", src);
        assert_covered(src, &out);
        assert!(out.symbols.iter().any(|s| s.name == "ok"));
    }

    #[test]
    fn chunk_text_matches_lines() {
        let src = "import os\r\n\r\ndef f():\r\n    return os.sep\r\n";
        let out = chunk("w.py", src);
        for c in &out.chunks {
            let expected: Vec<&str> = src
                .lines()
                .skip(c.start_line as usize - 1)
                .take((c.end_line - c.start_line + 1) as usize)
                .collect();
            assert_eq!(c.text.replace("\r\n", "\n"), expected.join("\n"));
        }
        assert_eq!(
            spans(&out),
            vec![(1, 1, "module", None), (3, 4, "function", Some("f".into()))]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any text, any language: every meaningful line is covered, ranges
        /// are valid and the text matches the range.
        #[test]
        fn chunks_cover_every_meaningful_line(
            body in proptest::collection::vec("[ a-z0-9(){}:=#/.\"]{0,30}", 0..80),
            ext in prop::sample::select(vec!["py", "rs", "ts", "js", "go", "java", "md", "txt"]),
        ) {
            let text = body.join("\n");
            let path = format!("f.{ext}");
            let out = chunk(&path, &text);
            let n_lines = text.lines().count() as u32;
            for c in &out.chunks {
                prop_assert!(c.start_line >= 1 && c.start_line <= c.end_line && c.end_line <= n_lines);
            }
            for (i, line) in text.lines().enumerate() {
                let n = i as u32 + 1;
                if line.chars().any(char::is_alphanumeric) {
                    prop_assert!(out.chunks.iter().any(|c| c.start_line <= n && n <= c.end_line), "line {n} uncovered");
                }
            }
            prop_assert_eq!(out.clone(), chunk(&path, &text));
        }
    }
}
