//! The lines of a source text as byte ranges: rows are 0-based, line
//! breaks (`\n`, `\r\n`) excluded; what every chunker slices.

/// Byte ranges of each line (without its line break).
pub(crate) struct Lines<'s> {
    pub(super) text: &'s str,
    /// (start, end) byte offsets, end excluding `\n` / `\r\n`.
    spans: Vec<(usize, usize)>,
}

impl<'s> Lines<'s> {
    pub(super) fn new(text: &'s str) -> Self {
        let mut spans = Vec::new();
        let mut start = 0;
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                let end = if i > start && text.as_bytes()[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                spans.push((start, end));
                start = i + 1;
            }
        }
        if start < text.len() {
            spans.push((start, text.len()));
        }
        Self { text, spans }
    }

    /// Number of lines.
    pub(crate) fn count(&self) -> u32 {
        self.spans.len() as u32
    }

    /// Line `row` (0-based) without its break; empty past the end.
    pub(crate) fn line(&self, row: u32) -> &'s str {
        self.spans
            .get(row as usize)
            .map_or("", |&(s, e)| &self.text[s..e])
    }

    /// Lines `first..=last` (0-based), joined with their original breaks.
    pub(super) fn slice(&self, first: u32, last: u32) -> &'s str {
        let (Some(&(s, _)), Some(&(_, e))) = (
            self.spans.get(first as usize),
            self.spans.get(last as usize),
        ) else {
            return "";
        };
        &self.text[s..e]
    }

    pub(crate) fn is_blank(&self, row: u32) -> bool {
        self.line(row).trim().is_empty()
    }

    pub(super) fn has_alnum(&self, row: u32) -> bool {
        self.line(row).chars().any(char::is_alphanumeric)
    }
}
