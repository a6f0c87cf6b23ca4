//! Pure text helpers shared by the checks and the MCP suite runner. A leaf: it uses no other module of the crate.

/// `s` cut to `max` characters, with `…` when cut, on one line.
pub fn excerpt(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    if trimmed.chars().count() <= max {
        trimmed.to_owned()
    } else {
        let cut: String = trimmed.chars().take(max).collect();
        format!("{cut}…")
    }
}
