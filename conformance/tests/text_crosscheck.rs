//! The harness's deterministic embeddings peer keeps its own tokenizer and
//! vector function (the harness must not depend on the server it judges);
//! this test keeps that copy in step with the reference server's `text`
//! module: the same tokens as `text::words` and the same vectors as a
//! bag of `text::words` hashed with `text::fnv1a`, on a corpus of tricky
//! inputs (Unicode case and numerals, camelCase, snake_case, kebab-case,
//! digits, punctuation, empty) and on generated strings.

#![cfg(feature = "reference")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use codeintel_conformance::peers::embeddings::{embed_text, tokens};
use codeintel_server::text;
use proptest::prelude::*;

const TRICKY: &[&str] = &[
    "",
    " ",
    "\n\t",
    "---",
    "___",
    "!@#$%^&*()[]{}<>?/\\|`~",
    "parseHTTPRequest",
    "XMLHttpRequest HashMap getURL",
    "parse_http_request MAX_TOKEN_BYTES __init__ _private",
    "codeintel-server --repo a-b- -x",
    "utf8Decode sha256sum v2beta 12345 3d 0x1F",
    "v1.2.3 e.g. std::fs::read_to_string self.metrics a->b",
    "src/store/catalog.rs:42",
    "ÉtéChaud Ünïcode İstanbul straße STRASSE ẞ",
    "ΟΔΟΣ ΣΑΣ σας",
    "数据Parser 東京Tower 데이터Base",
    "x²y ٣abc Ⅻab abⅫ ⅻ",
    "ǅemal ﬁle ﬀ",
    "emoji🙂inside café_au_lait",
    "fn parse_config(path: &Path) -> Result<Config, Error> {",
    "def load(self, *args, **kwargs):  # the loader",
];

fn server_words(s: &str) -> Vec<String> {
    text::words(s).into_iter().map(|t| t.text).collect()
}

/// The peer's documented vector rule, written with the server's primitives:
/// each word adds ±1 at `fnv1a % dim` (sign: the hash's top bit), then L2
/// normalisation; no word → the first unit vector.
fn server_vector(s: &str, dim: usize) -> Vec<f32> {
    let mut v = vec![0f32; dim];
    for w in server_words(s) {
        let h = text::fnv1a(w.as_bytes(), 0);
        v[(h % dim as u64) as usize] += if h >> 63 == 0 { 1.0 } else { -1.0 };
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x /= norm;
        }
    } else {
        v[0] = 1.0;
    }
    v
}

#[test]
fn peer_tokens_match_the_server_on_tricky_inputs() {
    for s in TRICKY {
        assert_eq!(tokens(s), server_words(s), "tokens of {s:?}");
    }
    // A few pinned outputs, so both cannot drift together unnoticed.
    assert_eq!(
        tokens("parseHTTPRequest load_index v2beta"),
        [
            "parse", "http", "request", "load", "index", "v", "2", "beta"
        ]
    );
    assert_eq!(tokens("ΟΔΟΣ"), ["οδο\u{3c2}"]);
    assert_eq!(tokens("x²y abⅫ"), ["x", "²", "y", "ab", "ⅻ"]);
    assert!(tokens("--- ___").is_empty());
}

#[test]
fn peer_vectors_match_the_server_on_tricky_inputs() {
    for dim in [1, 8, 384] {
        for s in TRICKY {
            assert_eq!(embed_text(s, dim), server_vector(s, dim), "{s:?} dim {dim}");
        }
    }
}

proptest! {
    #[test]
    fn peer_and_server_agree_on_generated_text(
        s in "[a-zA-Z0-9_\\-. /:()ΣσςÉé²Ⅻⅻ٣数ǅİß]{0,32}"
    ) {
        prop_assert_eq!(tokens(&s), server_words(&s));
        prop_assert_eq!(embed_text(&s, 16), server_vector(&s, 16));
    }
}
