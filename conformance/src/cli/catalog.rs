//! `list` and `explain`: the catalog of requirements, as data from
//! `codeintel_conformance::catalog`.

use std::fmt::Write as _;

use anyhow::bail;
use codeintel_conformance::catalog;
use codeintel_conformance::report::Exit;

/// `list`: ids, levels and titles, by group.
pub fn render_list() -> String {
    let mut out = format!("codeintel conformance catalog {}\n", catalog::VERSION);
    for (group, heading) in catalog::GROUPS {
        let _ = writeln!(out, "\n{heading}");
        for r in catalog::all().iter().filter(|r| r.group == group) {
            let _ = writeln!(out, "  {:<8} {:<6} {}", r.id, r.level.as_str(), r.title);
        }
    }
    out
}

/// `explain ID`: what one requirement asks and how it is checked.
pub fn explain(id: &str) -> anyhow::Result<Exit> {
    let Some(req) = catalog::find(id) else {
        bail!(
            "`{id}` is not a requirement of catalog {}; see `codeintel-conformance list`",
            catalog::VERSION
        );
    };
    match catalog::details(req.id) {
        Some(text) => println!("{text}"),
        None => println!(
            "{} {} — {}\n\nChecked: {}",
            req.id,
            req.level.as_str(),
            req.title,
            req.spec
        ),
    }
    Ok(Exit::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_names_every_requirement() {
        let text = render_list();
        for r in catalog::all() {
            assert!(text.contains(r.id), "{} missing", r.id);
        }
    }

    #[test]
    fn explain_refuses_an_unknown_id() {
        let e = explain("NOPE-001").unwrap_err().to_string();
        assert!(e.contains("`NOPE-001` is not a requirement"), "{e}");
    }
}
