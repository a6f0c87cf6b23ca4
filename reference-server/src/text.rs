//! Text primitives (pure) shared by the index, the stores, gating and the
//! stub embedder: one tokenizer with byte spans, one identifier splitter
//! and classifier, the stopword lists, the FNV-1a hash and the content hash
//! that keys vectors.
//!
//! # Tokenizer
//! An *identifier* is a maximal run of alphanumeric characters and `_`
//! ([`identifier_spans`]); for the code tokenizer a `-` between two
//! alphanumerics joins too (kebab-case). Every other character separates,
//! so paths (`a/b.c`, `a::b`, `a.b`) split into their components.
//!
//! An identifier's *parts* ([`identifier_parts`]) are its pieces between
//! `_` and `-`, each further cut at `camelCase` / `PascalCase` humps (an
//! upper-case run followed by a capitalised word splits before the last
//! capital: `HTTPRequest` → `HTTP`, `Request`) and at letter/digit
//! boundaries (`utf8` → `utf`, `8`). Digits are ASCII digits and, outside
//! ASCII, numeric characters that are neither upper- nor lower-case.
//! Lowercasing is Unicode's, per part (`str::to_lowercase`).
//!
//! - [`words`]: every part of every identifier, lowercased, with its byte
//!   span. The hash embedder builds on it (dropping stopwords and
//!   one-character words), and the conformance harness's deterministic
//!   embeddings peer keeps its own copy that must agree with it (a test in
//!   `conformance/tests/text_crosscheck.rs` checks both on tricky inputs).
//! - [`code_token_spans`] / [`code_tokens`]: the sparse (BM25) tokenizer:
//!   for each identifier the whole identifier lowercased, then its parts
//!   when there is more than one; tokens over [`MAX_TOKEN_BYTES`] dropped.
//!   `parseHTTPRequest` → `parsehttprequest`, `parse`, `http`, `request`.
//!   A change to its output changes the terms of every index: bump
//!   `store::sparse::TOKENIZER_VERSION` with it.

/// Tokens longer than this (in bytes) are dropped by [`code_token_spans`]
/// (blobs, hashes, minified code); their shorter parts are still kept.
pub const MAX_TOKEN_BYTES: usize = 80;

/// One token: lowercased text and its byte range in the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub from: usize,
    pub to: usize,
}

// ---------------------------------------------------------------------------
// Characters and identifiers

/// The class of a character for splitting identifiers into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharClass {
    Upper,
    Lower,
    Digit,
    /// A letter without case (CJK, …) or anything else.
    Other,
}

/// The [`CharClass`] of `c`. Outside ASCII, case wins over numeric (`Ⅻ` is
/// an upper-case letter here).
pub fn char_class(c: char) -> CharClass {
    if c.is_ascii() {
        if c.is_ascii_uppercase() {
            CharClass::Upper
        } else if c.is_ascii_lowercase() {
            CharClass::Lower
        } else if c.is_ascii_digit() {
            CharClass::Digit
        } else {
            CharClass::Other
        }
    } else if c.is_uppercase() {
        CharClass::Upper
    } else if c.is_lowercase() {
        CharClass::Lower
    } else if c.is_numeric() {
        CharClass::Digit
    } else {
        CharClass::Other
    }
}

/// A character of an identifier: alphanumeric or `_`.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Lowercases `raw` (ASCII fast path, which keeps byte offsets).
pub fn lowercase(raw: &str) -> String {
    if raw.is_ascii() {
        raw.to_ascii_lowercase()
    } else {
        raw.to_lowercase()
    }
}

/// Byte ranges of the identifiers of `text`: maximal runs of alphanumerics
/// and `_`; with `join_kebab`, a `-` between two alphanumerics inside a run
/// joins too (`codeintel-server`), a leading or trailing one does not.
pub fn identifier_spans(text: &str, join_kebab: bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut prev_alnum = false;
    for (i, c) in text.char_indices() {
        let alnum = c.is_alphanumeric();
        let joiner = join_kebab
            && c == '-'
            && prev_alnum
            && start.is_some()
            && text[i + 1..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric);
        if alnum || c == '_' || joiner {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            out.push((s, i));
        }
        prev_alnum = alnum;
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// The parts of one identifier as byte ranges into `ident`, written into
/// `parts` (cleared first, so scratch space can be reused): pieces between
/// `_` and `-`, cut at camel humps and letter/digit boundaries. See the
/// module docs. `__init__` → `init`; `___` → nothing.
pub fn identifier_parts(ident: &str, parts: &mut Vec<(usize, usize)>) {
    parts.clear();
    let mut seg_start: Option<usize> = None;
    for (i, c) in ident.char_indices() {
        if c == '_' || c == '-' {
            if let Some(s) = seg_start.take() {
                split_humps(ident, s, i, parts);
            }
        } else if seg_start.is_none() {
            seg_start = Some(i);
        }
    }
    if let Some(s) = seg_start {
        split_humps(ident, s, ident.len(), parts);
    }
}

/// Splits `s[start..end]` (no `_`/`-` inside) at camel humps and
/// letter/digit boundaries, pushing byte ranges.
fn split_humps(s: &str, start: usize, end: usize, parts: &mut Vec<(usize, usize)>) {
    let mut chars = s[start..end].char_indices().peekable();
    let mut part_start = start;
    let mut prev: Option<CharClass> = None;
    while let Some((i, c)) = chars.next() {
        let cur = char_class(c);
        if let Some(prev) = prev {
            let boundary = match (prev, cur) {
                (CharClass::Lower, CharClass::Upper) => true,
                // HTTPServer: split before the last capital of an acronym.
                (CharClass::Upper, CharClass::Upper) => {
                    chars.peek().map(|&(_, n)| char_class(n)) == Some(CharClass::Lower)
                }
                (CharClass::Digit, other) | (other, CharClass::Digit) => other != CharClass::Digit,
                _ => false,
            };
            if boundary {
                parts.push((part_start, start + i));
                part_start = start + i;
            }
        }
        prev = Some(cur);
    }
    if part_start < end {
        parts.push((part_start, end));
    }
}

/// The lowercased parts of one identifier (no spans): `XMLHttpRequest` →
/// `xml`, `http`, `request`.
pub fn split_identifier(ident: &str) -> Vec<String> {
    let mut parts = Vec::new();
    identifier_parts(ident, &mut parts);
    parts
        .iter()
        .map(|&(s, e)| lowercase(&ident[s..e]))
        .collect()
}

// ---------------------------------------------------------------------------
// Tokenizers

/// Every part of every identifier of `text` (`-` separates), lowercased,
/// with byte spans into `text`. Nothing is filtered out.
/// `parseHTTPRequest load_index v2beta` → `parse`, `http`, `request`,
/// `load`, `index`, `v`, `2`, `beta`.
pub fn words(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut parts = Vec::new();
    for (s, e) in identifier_spans(text, false) {
        identifier_parts(&text[s..e], &mut parts);
        out.extend(parts.iter().map(|&(ps, pe)| Token {
            text: lowercase(&text[s + ps..s + pe]),
            from: s + ps,
            to: s + pe,
        }));
    }
    out
}

/// The sparse tokenizer: for each identifier, the whole identifier
/// (lowercased) followed by its parts. See the module docs.
pub fn code_tokens(text: &str) -> Vec<String> {
    code_token_spans(text).into_iter().map(|t| t.text).collect()
}

/// [`code_tokens`] with byte offsets.
pub fn code_token_spans(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut parts = Vec::new();
    for (s, e) in identifier_spans(text, true) {
        identifier_tokens(&text[s..e], s, &mut parts, &mut out);
    }
    out
}

/// Emits the whole identifier, then its parts (when there is more than the
/// whole itself).
fn identifier_tokens(
    ident: &str,
    base: usize,
    parts: &mut Vec<(usize, usize)>,
    out: &mut Vec<Token>,
) {
    identifier_parts(ident, parts);
    if parts.is_empty() {
        // Only underscores/dashes: nothing searchable.
        return;
    }
    let whole = lowercase(ident);
    // ASCII lowercasing keeps byte offsets, so parts are slices of `whole`.
    let ascii = ident.is_ascii();
    let single = parts.len() == 1 && parts[0] == (0, ident.len());
    if ident.len() <= MAX_TOKEN_BYTES {
        out.push(Token {
            text: whole.clone(),
            from: base,
            to: base + ident.len(),
        });
    }
    if single {
        return;
    }
    for &(s, e) in parts.iter() {
        if e - s > MAX_TOKEN_BYTES {
            continue;
        }
        let text = if ascii {
            whole[s..e].to_owned()
        } else {
            lowercase(&ident[s..e])
        };
        out.push(Token {
            text,
            from: base + s,
            to: base + e,
        });
    }
}

// ---------------------------------------------------------------------------
// Identifier classifier

/// The word characters of a whitespace token stripped of surrounding
/// punctuation (`"refund?"` → `"refund"`).
pub fn word_core(token: &str) -> &str {
    token.trim_matches(|c: char| !is_word_char(c))
}

/// Does a whitespace-delimited token of a query look like an identifier?
/// `camelCase` / `PascalCase` with an inner capital after a lower-case
/// letter, `snake_case`, `SCREAMING_CASE`, `_private`, a digit inside
/// letters (`utf8`, `sha256sum`), a path with `::`, `.`, `/` or `->`
/// between word characters (`PaymentService.refund`, `std::fs::read`; not
/// `e.g.` nor `v1.2`), or a call `name(`. Surrounding quotes and trailing
/// sentence punctuation are ignored.
pub fn is_identifier_like(token: &str) -> bool {
    let t = token.trim_end_matches(['?', ',', '!', ';', ':']);
    let t = t.trim_start_matches(['"', '\'', '`', '(']);
    let t = t.trim_end_matches(['"', '\'', '`']);
    if t.is_empty() || !t.chars().any(char::is_alphabetic) {
        return false;
    }
    let chars: Vec<char> = t.chars().collect();
    // Call: name( or name()
    if let Some(open) = t.find('(') {
        let head = &t[..open];
        if !head.is_empty()
            && head
                .chars()
                .all(|c| is_word_char(c) || c == '.' || c == ':')
        {
            return true;
        }
    }
    // Paths: a::b, a.b, a/b, a->b with word characters on both sides.
    for sep in ["::", "->", ".", "/"] {
        if let Some((a, b)) = t.split_once(sep) {
            let ok = |s: &str| s.chars().next().is_some_and(is_word_char);
            if ok(a.rsplit(['.', ':', '/', '>']).next().unwrap_or(a)) && ok(b) && !a.is_empty() {
                // "e.g." and version numbers are not paths.
                if sep == "." && (a.len() == 1 || b.len() <= 1) {
                    continue;
                }
                return true;
            }
        }
    }
    if !t.chars().all(is_word_char) {
        return false;
    }
    // snake_case / SCREAMING_CASE / _private
    if t.contains('_') {
        return true;
    }
    let inner_cap = chars
        .windows(2)
        .any(|w| w[0].is_lowercase() && w[1].is_uppercase());
    let letter_digit = chars
        .windows(2)
        .any(|w| w[0].is_alphabetic() && w[1].is_ascii_digit());
    inner_cap || letter_digit
}

// ---------------------------------------------------------------------------
// Stopwords

/// English function words, question words and pronouns that carry no topic:
/// gating counts them, expansion never proposes them.
pub const STOPWORDS: &[&str] = &[
    "a", "about", "all", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "did", "do", "does", "doing", "done", "each", "for", "from", "get", "gets", "has",
    "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "not", "of", "on", "or",
    "our", "should", "so", "some", "that", "the", "their", "them", "then", "there", "these",
    "this", "those", "to", "was", "we", "were", "what", "when", "where", "which", "who", "why",
    "will", "with", "would", "you", "your",
];

/// Keywords of common programming languages: code evidence in a query,
/// never expansion terms.
pub const CODE_KEYWORDS: &[&str] = &[
    "fn",
    "def",
    "func",
    "impl",
    "struct",
    "enum",
    "trait",
    "class",
    "interface",
    "return",
    "const",
    "let",
    "var",
    "import",
    "pub",
    "public",
    "private",
    "static",
    "void",
    "async",
    "await",
    "self",
    "this",
    "new",
    "null",
    "none",
    "nil",
    "true",
    "false",
    "mut",
    "package",
    "type",
    "int",
    "string",
    "bool",
    "use",
    "mod",
    "elif",
    "else",
    "lambda",
    "function",
];

/// The words the hash embedder drops: a narrower list than [`STOPWORDS`] +
/// [`CODE_KEYWORDS`] on purpose. It embeds code as well as queries, where
/// `get`, `class`, `type`, `string` or `none` carry meaning, so only the
/// most frequent prose words and definition keywords go (plus `end`, the
/// block closer of Ruby and Lua). Every entry is in one of the two other
/// lists except `end` (a test keeps it so).
pub const EMBED_STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "i", "if",
    "in", "is", "it", "of", "on", "or", "that", "the", "this", "to", "what", "when", "where",
    "which", "with", "fn", "def", "func", "function", "let", "var", "const", "pub", "return",
    "self", "mut", "impl", "import", "use", "package", "new", "end",
];

/// Is `word` (any case) one of [`STOPWORDS`]?
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.contains(&lowercase(word).as_str())
}

/// Is `word` (exact, lower case) one of [`CODE_KEYWORDS`]?
pub fn is_code_keyword(word: &str) -> bool {
    CODE_KEYWORDS.contains(&word)
}

/// Is `word` (exact, lower case) one of [`EMBED_STOPWORDS`]?
pub fn is_embed_stopword(word: &str) -> bool {
    EMBED_STOPWORDS.contains(&word)
}

// ---------------------------------------------------------------------------
// Hashes

/// FNV-1a, 64 bits, its offset basis xor `seed`: stable across platforms
/// and Rust versions (unlike `DefaultHasher`). Seed 0 is plain FNV-1a.
pub fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Content hash of a chunk's text: the first 32 hex digits of
/// `blake3(text)`. Vectors are keyed by it (the embedder sees only the
/// text), so a chunk that moved (lines inserted above it, a renamed file, a
/// duplicate elsewhere) reuses its vector instead of being embedded again.
pub fn content_hash(text: &str) -> String {
    let digest = blake3::hash(text.as_bytes());
    hex::encode(&digest.as_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn toks(s: &str) -> Vec<String> {
        code_tokens(s)
    }

    fn word_texts(s: &str) -> Vec<String> {
        words(s).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn content_hash_depends_on_the_text_only() {
        let a = content_hash("def f():\n    pass");
        assert_eq!(a.len(), 32);
        assert_eq!(a, content_hash("def f():\n    pass"));
        assert_ne!(a, content_hash("def g():\n    pass"));
    }

    #[test]
    fn fnv1a_matches_the_published_vectors() {
        // Test vectors of the FNV reference (64-bit FNV-1a).
        assert_eq!(fnv1a(b"", 0), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a", 0), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar", 0), 0x8594_4171_f739_67e8);
        assert_ne!(fnv1a(b"a", 1), fnv1a(b"a", 0));
    }

    #[test]
    fn camel_case_keeps_whole_and_splits_acronyms() {
        assert_eq!(
            toks("parseHTTPRequest"),
            ["parsehttprequest", "parse", "http", "request"]
        );
        assert_eq!(toks("HashMap"), ["hashmap", "hash", "map"]);
        assert_eq!(toks("XMLParser"), ["xmlparser", "xml", "parser"]);
    }

    #[test]
    fn snake_and_kebab_case() {
        assert_eq!(
            toks("parse_http_request"),
            ["parse_http_request", "parse", "http", "request"]
        );
        assert_eq!(
            toks("codeintel-server"),
            ["codeintel-server", "codeintel", "server"]
        );
        assert_eq!(
            toks("MAX_TOKEN_BYTES"),
            ["max_token_bytes", "max", "token", "bytes"]
        );
        // A leading dash is not a joiner.
        assert_eq!(toks("--repo"), ["repo"]);
        // `words` never joins on a dash.
        assert_eq!(word_texts("codeintel-server"), ["codeintel", "server"]);
    }

    #[test]
    fn paths_split_into_components() {
        assert_eq!(
            toks("src/store/catalog.rs"),
            ["src", "store", "catalog", "rs"]
        );
        assert_eq!(
            toks("std::collections::HashMap"),
            ["std", "collections", "hashmap", "hash", "map"]
        );
        assert_eq!(toks("self.metrics"), ["self", "metrics"]);
    }

    #[test]
    fn digits_split_from_letters() {
        assert_eq!(toks("utf8"), ["utf8", "utf", "8"]);
        assert_eq!(toks("v2Client"), ["v2client", "v", "2", "client"]);
        assert_eq!(toks("12345"), ["12345"]);
        assert_eq!(split_identifier("utf8Decode"), ["utf", "8", "decode"]);
        // Non-ASCII numerals are digits; a numeral with case is a letter.
        assert_eq!(word_texts("x²y"), ["x", "²", "y"]);
        assert_eq!(word_texts("Ⅻab"), ["ⅻab"]);
    }

    #[test]
    fn unicode_is_lowercased_per_part() {
        assert_eq!(split_identifier("Ünïcode"), ["ünïcode"]);
        assert_eq!(word_texts("ÉtéChaud"), ["été", "chaud"]);
        // Unicode lowercasing of the part: a final capital sigma becomes ς.
        assert_eq!(word_texts("ΟΔΟΣ"), ["οδο\u{3c2}"]);
        // A letter without case does not start a hump.
        assert_eq!(word_texts("数据Parser"), ["数据parser"]);
    }

    #[test]
    fn single_word_empty_and_punctuation() {
        assert_eq!(toks("Catalog"), ["catalog"]);
        assert_eq!(toks("  the  "), ["the"]);
        assert!(toks("").is_empty());
        assert!(toks("+-*/ ()").is_empty());
        assert!(toks("___").is_empty());
        assert!(words("").is_empty());
        assert!(words("--- ___ !!").is_empty());
        assert_eq!(split_identifier("__init__"), ["init"]);
    }

    #[test]
    fn offsets_point_into_the_source() {
        let text = "fn parseHTTP()";
        let spans = code_token_spans(text);
        assert_eq!(spans[1].text, "parsehttp");
        assert_eq!((spans[1].from, spans[1].to), (3, 12));
        let w = words("é_Ab9");
        assert_eq!(
            w.iter().map(|t| (t.from, t.to)).collect::<Vec<_>>(),
            [(0, 2), (3, 5), (5, 6)]
        );
    }

    #[test]
    fn overlong_tokens_are_dropped_but_parts_kept() {
        let long = format!("{}_tail", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(toks(&long), ["tail"]);
        // `words` keeps everything.
        assert_eq!(words(&long).len(), 2);
    }

    #[test]
    fn identifier_classifier() {
        for t in [
            "parseConfig",
            "PaymentService.refund",
            "std::fs::read",
            "MAX_RETRIES",
            "_private",
            "sha256",
            "reserve()",
            "`load_index`",
            "a->b",
        ] {
            assert!(is_identifier_like(t), "{t}");
        }
        for t in ["refund", "Payment", "e.g.", "v1.2", "1234", "", "?", "a+b"] {
            assert!(!is_identifier_like(t), "{t}");
        }
        assert_eq!(word_core("\"refund?\""), "refund");
    }

    #[test]
    fn stopword_lists() {
        assert!(is_stopword("The"));
        assert!(!is_stopword("parser"));
        assert!(is_code_keyword("def"));
        assert!(!is_code_keyword("Def"));
        for w in EMBED_STOPWORDS {
            assert!(
                *w == "end" || STOPWORDS.contains(w) || CODE_KEYWORDS.contains(w),
                "{w} is in no other list"
            );
        }
    }

    proptest! {
        #[test]
        fn spans_slice_the_source_to_the_token(s in "\\PC{0,40}") {
            for t in code_token_spans(&s).into_iter().chain(words(&s)) {
                prop_assert!(s.is_char_boundary(t.from) && s.is_char_boundary(t.to));
                prop_assert_eq!(lowercase(&s[t.from..t.to]), t.text);
            }
        }

        #[test]
        fn words_are_the_parts_of_code_tokens(s in "[a-zA-Z0-9_ .:]{0,40}") {
            // Without dashes, every word is a token of the code tokenizer.
            let code = code_tokens(&s);
            for w in words(&s) {
                prop_assert!(code.contains(&w.text), "{} not in {:?}", w.text, code);
            }
        }
    }
}
