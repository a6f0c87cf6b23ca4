//! The mutation score: which operator was killed by which ids, the verdict
//! per requirement, and the expectation file (`fixtures/mutants/EXPECTED.toml`)
//! a run is held to.
//!
//! ```toml
//! [scrape-content-type]
//! fails = ["MET-001"]        # every id that must not pass (fail, warn or error)
//! known_survivor = "why"     # only while the target is not among `fails`
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Operator;
use crate::catalog::{self, Level};
use crate::checks::{CheckResult, Outcome};

/// What one mutant showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MutantRun {
    pub operator: &'static str,
    pub target: &'static str,
    /// Ids that did not pass (fail, warn, error), sorted.
    pub failed: Vec<String>,
    /// Why the mutant could not be judged at all (harness error, deadline).
    pub problem: Option<String>,
}

impl MutantRun {
    /// From the results of one mutant's run.
    pub fn new(op: Operator, results: &[CheckResult], problem: Option<String>) -> Self {
        let failed: BTreeSet<String> = results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail | Outcome::Warn | Outcome::Error))
            .map(|r| r.id.clone())
            .collect();
        Self {
            operator: op.name(),
            target: op.target(),
            failed: failed.into_iter().collect(),
            problem,
        }
    }

    /// Its target failed.
    pub fn killed(&self) -> bool {
        self.failed.iter().any(|id| id == self.target)
    }

    /// Something failed, but not its target: the suite noticed for the wrong
    /// reason.
    pub fn killed_by_unrelated_only(&self) -> bool {
        !self.killed() && !self.failed.is_empty()
    }
}

/// One operator's entry of the expectation file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Every id that must not pass.
    #[serde(default)]
    pub fails: BTreeSet<String>,
    /// Why the target survives (for now).
    #[serde(default)]
    pub known_survivor: Option<String>,
}

/// The expectation file: operator name → expectation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations(pub BTreeMap<String, Expectation>);

impl Expectations {
    /// Read and validate `path` (operators and ids must exist).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read mutant expectations {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("mutant expectations {}: {e}", path.display()))
    }

    /// Parse and validate expectation text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let map: BTreeMap<String, Expectation> =
            toml::from_str(text).map_err(|e| e.message().to_owned())?;
        for (name, e) in &map {
            let op = Operator::parse(name)?;
            if let Some(id) = e.fails.iter().find(|id| catalog::find(id).is_none()) {
                return Err(format!("[{name}] fails: `{id}` is not a requirement id"));
            }
            if e.known_survivor.is_some() && e.fails.contains(op.target()) {
                return Err(format!(
                    "[{name}] is a known survivor, yet `fails` holds its target {}: remove known_survivor",
                    op.target()
                ));
            }
            if e.known_survivor.is_none() && !e.fails.contains(op.target()) {
                return Err(format!(
                    "[{name}] does not fail its target {} and gives no known_survivor reason",
                    op.target()
                ));
            }
        }
        Ok(Self(map))
    }

    /// Differences between `runs` and the expectations, one line each
    /// (empty: the runs are as expected).
    pub fn differences(&self, runs: &[MutantRun]) -> Vec<String> {
        let mut out = Vec::new();
        for run in runs {
            let Some(e) = self.0.get(run.operator) else {
                out.push(format!("{}: not in the expectation file", run.operator));
                continue;
            };
            if let Some(p) = &run.problem {
                out.push(format!("{}: not judged: {p}", run.operator));
                continue;
            }
            let got: BTreeSet<String> = run.failed.iter().cloned().collect();
            let missing: Vec<&String> = e.fails.difference(&got).collect();
            let extra: Vec<&String> = got.difference(&e.fails).collect();
            if !missing.is_empty() {
                out.push(format!(
                    "{}: expected to fail {missing:?} but they passed",
                    run.operator
                ));
            }
            if !extra.is_empty() {
                out.push(format!(
                    "{}: failed {extra:?}, not in its expected `fails`",
                    run.operator
                ));
            }
        }
        out
    }
}

/// The verdict for one requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdScore {
    pub id: &'static str,
    pub level: Level,
    /// Operators aimed at it.
    pub operators: Vec<&'static str>,
    /// Those that were killed by it.
    pub killed_by: Vec<&'static str>,
}

impl IdScore {
    /// `killed`, `survived`, or `no operator`.
    pub fn verdict(&self) -> &'static str {
        if self.operators.is_empty() {
            "no operator"
        } else if self.killed_by.is_empty() {
            "survived"
        } else {
            "killed"
        }
    }
}

/// Per requirement of the catalog: which operators aim at it, which killed.
pub fn score(runs: &[MutantRun]) -> Vec<IdScore> {
    catalog::all()
        .iter()
        .map(|r| {
            let aimed: Vec<&MutantRun> = runs.iter().filter(|m| m.target == r.id).collect();
            IdScore {
                id: r.id,
                level: r.level,
                operators: aimed.iter().map(|m| m.operator).collect(),
                killed_by: aimed
                    .iter()
                    .filter(|m| m.killed())
                    .map(|m| m.operator)
                    .collect(),
            }
        })
        .collect()
}

/// `killed/aimed` over the MUST requirements that have an operator.
pub fn must_score(scores: &[IdScore]) -> (usize, usize) {
    let aimed: Vec<&IdScore> = scores
        .iter()
        .filter(|s| s.level == Level::Must && !s.operators.is_empty())
        .collect();
    (
        aimed.iter().filter(|s| !s.killed_by.is_empty()).count(),
        aimed.len(),
    )
}

/// The mutants and the score, as text or Markdown.
pub fn render(target: &str, runs: &[MutantRun], markdown: bool) -> String {
    let scores = score(runs);
    let (killed, aimed) = must_score(&scores);
    let mut out = String::new();
    let h = if markdown { "### " } else { "" };
    let row = |cells: &[&str]| {
        if markdown {
            format!("| {} |\n", cells.join(" | "))
        } else {
            format!("{}\n", cells.join("  "))
        }
    };
    let _ = writeln!(
        out,
        "{h}Mutation score against `{target}`: {killed}/{aimed} MUST requirements killed by a proxy mutant\n"
    );
    out.push_str(&row(&["OPERATOR", "TARGET", "KILLED", "FAILED IDS"]));
    if markdown {
        out.push_str("| --- | --- | --- | --- |\n");
    }
    for m in runs {
        let killed = match (&m.problem, m.killed(), m.killed_by_unrelated_only()) {
            (Some(_), _, _) => "not judged",
            (None, true, _) => "yes",
            (None, false, true) => "no (unrelated ids only)",
            (None, false, false) => "no (survived)",
        };
        let failed = m.failed.join(", ");
        out.push_str(&row(&[m.operator, m.target, killed, &failed]));
    }
    out.push('\n');
    out.push_str(&row(&["ID", "LEVEL", "VERDICT", "KILLED BY"]));
    if markdown {
        out.push_str("| --- | --- | --- | --- |\n");
    }
    for s in &scores {
        let by = s.killed_by.join(", ");
        out.push_str(&row(&[s.id, s.level.as_str(), s.verdict(), &by]));
    }
    out
}

/// The mutants as JSON.
pub fn render_json(target: &str, runs: &[MutantRun], differences: &[String]) -> String {
    let scores = score(runs);
    let (killed, aimed) = must_score(&scores);
    let doc = serde_json::json!({
        "tool": "codeintel-conformance mutants",
        "catalog": catalog::VERSION,
        "target": target,
        "must_killed": killed,
        "must_aimed": aimed,
        "mutants": runs,
        "scores": scores
            .iter()
            .map(|s| serde_json::json!({
                "id": s.id,
                "level": s.level,
                "verdict": s.verdict(),
                "operators": s.operators,
                "killed_by": s.killed_by,
            }))
            .collect::<Vec<_>>(),
        "differences": differences,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The mutants as JUnit XML: one test case per operator, failed when it
/// survived or differs from its expectation.
pub fn render_junit(
    target: &str,
    runs: &[MutantRun],
    expectations: Option<&Expectations>,
) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut cases = String::new();
    let mut failures = 0;
    for m in runs {
        let diffs = expectations.map_or_else(Vec::new, |e| e.differences(std::slice::from_ref(m)));
        let known = expectations
            .and_then(|e| e.0.get(m.operator))
            .and_then(|e| e.known_survivor.clone());
        let problem = if !diffs.is_empty() {
            Some(diffs.join("; "))
        } else if !m.killed() && known.is_none() {
            Some(format!("survived: {} still passes", m.target))
        } else {
            None
        };
        let _ = write!(
            cases,
            "    <testcase classname=\"mutants.{}\" name=\"{} ({})\">",
            esc(target),
            m.operator,
            m.target
        );
        if let Some(p) = problem {
            failures += 1;
            let _ = write!(cases, "<failure message=\"{}\"/>", esc(&p));
        } else if let Some(k) = known {
            let _ = write!(cases, "<skipped message=\"known survivor: {}\"/>", esc(&k));
        }
        cases.push_str("</testcase>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"mutants of {}\" tests=\"{}\" failures=\"{failures}\">\n{cases}  </testsuite>\n</testsuites>\n",
        esc(target),
        runs.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(op: Operator, failed: &[&str]) -> MutantRun {
        MutantRun {
            operator: op.name(),
            target: op.target(),
            failed: failed.iter().map(|s| (*s).to_owned()).collect(),
            problem: None,
        }
    }

    #[test]
    fn killed_survived_and_unrelated_are_told_apart() {
        let k = run(Operator::ScrapeContentType, &["MET-001"]);
        let s = run(Operator::EmbedDropModelLabel, &[]);
        let u = run(Operator::DropRrfK, &["MET-010"]);
        assert!(k.killed() && !k.killed_by_unrelated_only());
        assert!(!s.killed() && !s.killed_by_unrelated_only());
        assert!(!u.killed() && u.killed_by_unrelated_only());
        let scores = score(&[k, s, u]);
        let get = |id| scores.iter().find(|x| x.id == id).unwrap().verdict();
        assert_eq!(get("MET-001"), "killed");
        assert_eq!(get("MET-002"), "survived");
        assert_eq!(get("MET-006"), "survived");
        assert_eq!(get("LNT-001"), "no operator");
        assert_eq!(must_score(&scores), (1, 3));
    }

    #[test]
    fn expectations_are_validated_and_compared() {
        let e = Expectations::parse(
            "[scrape-content-type]\nfails = [\"MET-001\", \"MET-011\"]\n\n[drop-rrf-k]\nknown_survivor = \"checked elsewhere\"\n",
        )
        .unwrap();
        let runs = [
            run(Operator::ScrapeContentType, &["MET-001"]),
            run(Operator::DropRrfK, &["MET-006"]),
            run(Operator::StripLimits, &[]),
        ];
        let d = e.differences(&runs).join("\n");
        assert!(
            d.contains("scrape-content-type: expected to fail [\"MET-011\"]"),
            "{d}"
        );
        assert!(d.contains("drop-rrf-k: failed [\"MET-006\"]"), "{d}");
        assert!(
            d.contains("strip-limits: not in the expectation file"),
            "{d}"
        );
        for (text, err) in [
            ("[nope]\nfails = []", "`nope` is not a mutation operator"),
            (
                "[drop-rrf-k]\nfails = [\"X-1\"]",
                "`X-1` is not a requirement",
            ),
            ("[drop-rrf-k]\nfails = []", "gives no known_survivor reason"),
            (
                "[drop-rrf-k]\nfails = [\"MET-006\"]\nknown_survivor = \"x\"",
                "remove known_survivor",
            ),
        ] {
            let got = Expectations::parse(text).unwrap_err();
            assert!(got.contains(err), "{text}: {got}");
        }
    }

    #[test]
    fn renders_name_every_operator() {
        let runs = [run(Operator::ScrapeContentType, &["MET-001"])];
        let md = render("reference", &runs, true);
        assert!(
            md.contains("| scrape-content-type | MET-001 | yes | MET-001 |"),
            "{md}"
        );
        assert!(md.contains("1/1 MUST"), "{md}");
        let json: serde_json::Value =
            serde_json::from_str(&render_json("reference", &runs, &[])).unwrap();
        assert_eq!(json["must_killed"], 1);
        let junit = render_junit("reference", &[run(Operator::DropRrfK, &[])], None);
        assert!(
            junit.contains("failures=\"1\"") && junit.contains("survived"),
            "{junit}"
        );
    }
}
