//! Text primitives shared by the index, the stores, gating and the stub
//! embedder: the content hash that keys vectors.

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

    #[test]
    fn content_hash_depends_on_the_text_only() {
        let a = content_hash("def f():\n    pass");
        assert_eq!(a.len(), 32);
        assert_eq!(a, content_hash("def f():\n    pass"));
        assert_ne!(a, content_hash("def g():\n    pass"));
    }
}
