//! Text no parser handles: overlapping line windows; Markdown: one chunk
//! per heading section (windowed when long), the heading as its symbol.

use super::{ChunkKind, ChunkOptions, Lines, Segment, push_windowed};

/// First and last non-blank rows of `first..=last`, if any.
fn trim_blank(lines: &Lines<'_>, first: u32, last: u32) -> Option<(u32, u32)> {
    let a = (first..=last).find(|&r| !lines.is_blank(r))?;
    let b = (a..=last).rev().find(|&r| !lines.is_blank(r))?;
    Some((a, b))
}

/// Windows of `window_lines` sharing `window_overlap` lines over the whole
/// file (blank lines at both ends trimmed; all-blank windows dropped).
pub(super) fn window_segments(lines: &Lines<'_>, opts: &ChunkOptions) -> Vec<Segment> {
    let mut out = Vec::new();
    if lines.count() == 0 {
        return out;
    }
    if let Some((a, b)) = trim_blank(lines, 0, lines.count() - 1) {
        push_windowed(
            &mut out,
            a,
            b,
            opts.window_lines,
            opts,
            ChunkKind::Window,
            None,
        );
    }
    out.retain(|s| (s.first..=s.last).any(|r| !lines.is_blank(r)));
    out
}

/// `## Title` → `Some("Title")` for ATX headings (1–6 `#` then a space or end).
fn heading(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None;
    }
    let hashes = t.bytes().take_while(|&b| b == b'#').count();
    if hashes == 0 || hashes > 6 {
        return None;
    }
    let rest = &t[hashes..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some(rest.trim().trim_end_matches('#').trim())
}

/// One segment per heading section; text before the first heading is a
/// section without symbol. Headings inside fenced code blocks are ignored.
pub(super) fn markdown_segments(lines: &Lines<'_>, opts: &ChunkOptions) -> Vec<Segment> {
    let mut starts: Vec<(u32, Option<String>)> = vec![(0, None)];
    let mut fence: Option<&str> = None;
    for row in 0..lines.count() {
        let line = lines.line(row);
        let t = line.trim_start();
        if let Some(f) = fence {
            if t.starts_with(f) {
                fence = None;
            }
            continue;
        }
        if t.starts_with("```") {
            fence = Some("```");
            continue;
        }
        if t.starts_with("~~~") {
            fence = Some("~~~");
            continue;
        }
        if let Some(h) = heading(line) {
            if row == 0 {
                starts.clear();
            }
            let symbol = (!h.is_empty()).then(|| h.to_owned());
            starts.push((row, symbol));
        }
    }
    let mut out = Vec::new();
    for (i, (start, symbol)) in starts.iter().enumerate() {
        let end = starts
            .get(i + 1)
            .map_or(lines.count() - 1, |(next, _)| next - 1);
        if *start > end {
            continue;
        }
        if let Some((a, b)) = trim_blank(lines, *start, end) {
            push_windowed(
                &mut out,
                a,
                b,
                opts.window_lines,
                opts,
                ChunkKind::Section,
                symbol.as_deref(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_covered, chunk, spans};
    use super::super::{ChunkOptions, chunk_file};
    use std::fmt::Write as _;

    #[test]
    fn small_text_is_one_window() {
        let src = "\n\nkey = 1\nother = 2\n\n";
        let out = chunk("settings.toml", src);
        assert_eq!(spans(&out), vec![(3, 4, "window", None)]);
        assert_eq!(out.chunks[0].text, "key = 1\nother = 2");
        assert!(out.symbols.is_empty());
    }

    #[test]
    fn long_text_is_windowed_with_overlap() {
        let src: String = (1..=130).fold(String::new(), |mut acc, i| {
            let _ = writeln!(acc, "line {i}");
            acc
        });
        let out = chunk("notes.txt", &src);
        assert_eq!(
            spans(&out),
            vec![
                (1, 60, "window", None),
                (51, 110, "window", None),
                (101, 130, "window", None)
            ]
        );
        assert_covered(&src, &out);
        let opts = ChunkOptions {
            window_lines: 10,
            window_overlap: 0,
            max_chunk_lines: 10,
            ..ChunkOptions::default()
        };
        let out = chunk_file("notes.txt", &src, &opts);
        assert_eq!(out.chunks.len(), 13);
        assert_eq!(
            (out.chunks[12].start_line, out.chunks[12].end_line),
            (121, 130)
        );
    }

    #[test]
    fn markdown_sections() {
        let src = "Intro text.\n\n# Shopfront\n\nA shop.\n\n## Payments\n\nRefunds.\n\n```sh\n# not a heading\n```\n\n### \n\nempty heading\n";
        let out = chunk("README.md", src);
        assert_eq!(
            spans(&out),
            vec![
                (1, 1, "section", None),
                (3, 5, "section", Some("Shopfront".into())),
                (7, 13, "section", Some("Payments".into())),
                (15, 17, "section", None),
            ]
        );
        assert_covered(src, &out);
        assert!(out.symbols.is_empty());
    }
}
