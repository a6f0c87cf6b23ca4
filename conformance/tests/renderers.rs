//! The mutants' renderings, whole: the score table as text and Markdown, and
//! the JUnit report (snapshots reviewed in `snapshots/`). Built from
//! `MutantRun`s as the `mutants` command builds them: one operator killed,
//! one killed by unrelated ids only, one survived, one not judged.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use codeintel_conformance::mutate::Operator;
use codeintel_conformance::mutate::expect::{Expectations, MutantRun, render, render_junit};

fn run(op: Operator, failed: &[&str], problem: Option<&str>) -> MutantRun {
    MutantRun {
        operator: op.name(),
        target: op.target(),
        failed: failed.iter().map(|s| (*s).to_owned()).collect(),
        problem: problem.map(str::to_owned),
    }
}

fn runs() -> Vec<MutantRun> {
    vec![
        run(Operator::ScrapeContentType, &["MET-001"], None),
        run(Operator::DropRrfK, &["MET-010"], None),
        run(Operator::EmbedDropModelLabel, &[], None),
        run(
            Operator::StripLimits,
            &[],
            Some("deadline exceeded: the run was cut after 5 s <&>"),
        ),
    ]
}

#[test]
fn mutants_table() {
    let text = render("reference", &runs(), false);
    assert!(
        text.starts_with("Mutation score against `reference`: 1/"),
        "{text}"
    );
    insta::assert_snapshot!("mutants_table", text);
    insta::assert_snapshot!("mutants_markdown", render("reference", &runs(), true));
}

#[test]
fn mutants_junit() {
    let e = Expectations::parse(
        "[scrape-content-type]\nfails = [\"MET-001\"]\n\n[embed-drop-model-label]\nknown_survivor = \"checked \\\"elsewhere\\\" & later\"\n",
    )
    .unwrap();
    insta::assert_snapshot!(
        "mutants_junit",
        render_junit("reference", &runs(), Some(&e))
    );
    insta::assert_snapshot!(
        "mutants_junit_no_expectations",
        render_junit("reference", &runs(), None)
    );
}
