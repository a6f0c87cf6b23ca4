//! Segments: line ranges with a kind and symbol, what every chunker
//! produces before [`super::output`] turns them into chunks; windowing a
//! long range into overlapping pieces, and trimming a gap between
//! definitions.

use super::{ChunkKind, ChunkOptions, Lines};

/// A line range (0-based rows, inclusive) that becomes one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) first: u32,
    pub(crate) last: u32,
    pub(crate) kind: ChunkKind,
    pub(crate) symbol: Option<String>,
}

/// Splits `first..=last` into windows of `window` lines sharing `overlap`
/// lines; a range no longer than `threshold` stays whole.
pub(crate) fn push_windowed(
    out: &mut Vec<Segment>,
    first: u32,
    last: u32,
    threshold: u32,
    opts: &ChunkOptions,
    kind: ChunkKind,
    symbol: Option<&str>,
) {
    let len = last - first + 1;
    if len <= threshold {
        out.push(Segment {
            first,
            last,
            kind,
            symbol: symbol.map(str::to_owned),
        });
        return;
    }
    let step = opts.window_lines - opts.window_overlap;
    let mut start = first;
    loop {
        let end = (start + opts.window_lines - 1).min(last);
        out.push(Segment {
            first: start,
            last: end,
            kind,
            symbol: symbol.map(str::to_owned),
        });
        if end == last {
            break;
        }
        start += step;
    }
}

/// Trims blank lines at both ends of `first..=last`; `None` when no line in
/// it holds a letter or digit (nothing worth a chunk).
pub(super) fn trim_gap(lines: &Lines<'_>, first: u32, last: u32) -> Option<(u32, u32)> {
    if first > last || !(first..=last).any(|r| lines.has_alnum(r)) {
        return None;
    }
    let mut a = first;
    while a < last && lines.is_blank(a) {
        a += 1;
    }
    let mut b = last;
    while b > a && lines.is_blank(b) {
        b -= 1;
    }
    Some((a, b))
}
