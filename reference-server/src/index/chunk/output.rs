//! From segments to the file's output: each segment's text, cut to at most
//! the byte cap, becomes a [`Chunk`] with a stable id ([`chunk_id`]); the
//! raw symbols become the sorted [`Symbol`]s.

use std::collections::{HashMap, HashSet};

use super::tree::RawSymbol;
use super::{Chunk, ChunkOutput, Language, Lines, Segment, Symbol, chunk_id};

/// Cuts lines `first..=last` (0-based) into pieces of at most `max` bytes:
/// whole lines while they fit, a longer line alone in pieces cut at
/// character boundaries. Returns (first, last, text) per piece.
fn byte_capped<'s>(
    lines: &Lines<'s>,
    first: u32,
    last: u32,
    max: usize,
) -> Vec<(u32, u32, &'s str)> {
    let whole = lines.slice(first, last);
    if whole.len() <= max {
        return vec![(first, last, whole)];
    }
    let mut out = Vec::new();
    let mut start = first;
    let mut row = first;
    while row <= last {
        let line = lines.line(row);
        if line.len() > max {
            if start < row {
                out.push((start, row - 1, lines.slice(start, row - 1)));
            }
            let mut rest = line;
            while !rest.is_empty() {
                let mut cut = rest.len().min(max);
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.push((row, row, &rest[..cut]));
                rest = &rest[cut..];
            }
            start = row + 1;
        } else if lines.slice(start, row).len() > max {
            // `start < row` here: one line alone fits.
            out.push((start, row - 1, lines.slice(start, row - 1)));
            start = row;
        }
        row += 1;
    }
    if start <= last {
        out.push((start, last, lines.slice(start, last)));
    }
    out
}

/// Turns segments into chunks (byte-capped, ids by occurrence) and raw
/// symbols into the sorted symbol list.
pub(super) fn build_output(
    path: &str,
    language: Language,
    lines: &Lines<'_>,
    mut segments: Vec<Segment>,
    raw_symbols: Vec<RawSymbol>,
    max_bytes: usize,
) -> ChunkOutput {
    segments.sort_by_key(|s| (s.first, s.last));
    let mut seen = HashSet::new();
    let mut occurrences: HashMap<&str, u32> = HashMap::new();
    let mut chunks = Vec::with_capacity(segments.len());
    for seg in segments {
        for (first, last, text) in byte_capped(lines, seg.first, seg.last, max_bytes) {
            // Same lines and same place in the file: the same chunk (the
            // byte offset tells equal pieces of one long line apart).
            let offset = (text.as_ptr() as usize).wrapping_sub(lines.text.as_ptr() as usize);
            if text.trim().is_empty() || !seen.insert((first, last, offset, text.len())) {
                continue;
            }
            let occurrence = occurrences.entry(text).or_default();
            let id = chunk_id(path, *occurrence, text);
            *occurrence += 1;
            chunks.push(Chunk {
                id,
                path: path.to_owned(),
                start_line: first + 1,
                end_line: last + 1,
                language,
                kind: seg.kind,
                symbol: seg.symbol.clone(),
                text: text.to_owned(),
            });
        }
    }
    let mut symbols: Vec<Symbol> = raw_symbols
        .into_iter()
        .map(|s| Symbol {
            name: s.name,
            kind: s.kind,
            path: path.to_owned(),
            start_line: s.first + 1,
            end_line: s.last + 1,
            language,
        })
        .collect();
    symbols.sort_by(|a, b| {
        (a.start_line, &a.name, a.end_line).cmp(&(b.start_line, &b.name, b.end_line))
    });
    ChunkOutput { chunks, symbols }
}
