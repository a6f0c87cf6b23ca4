//! Retrieval evaluation: index a corpus, ask its queries, and score each
//! channel and the fused result (hit@5, MRR@10, nDCG@10 per query kind), so
//! every change to embedding, gating, expansion or fusion shows its effect.
//!
//! Queries come as JSON lines (the format of `shared/eval-dev/queries.jsonl`):
//! `{"pkg", "kind", "query", "path", "symbol", "start", "end"}`; each `pkg`
//! is indexed from `CORPUS/pkg` on its own. A finding is relevant when its
//! path equals the target's and its lines overlap `start..=end`; one
//! relevant target per query, binary gains (the first relevant finding
//! counts).
//!
//! Channels reported: `dense` (FAISS alone), `sparse` (BM25 alone), `rrf`
//! (plain RRF, k = 60, weights 1) and `hybrid` (the engine's search: gating,
//! weighted RRF, expansion — what users get). Scoring is pure
//! ([`rank_of_first_relevant`], [`Scores`]); [`run`] does the I/O.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::diagnostics::timeline::Timeline;
use crate::embed::Embedder;
use crate::index::build::{self, BuildOptions};
use crate::index::loaded;
use crate::index::publish::DataDir;
use crate::observability::metrics::Metrics;
use crate::search::engine::{Engine, EngineConfig};
use crate::search::fusion::{self, Channel, ChannelHits};
use crate::store::catalog::ChunkRecord;

/// Findings scored per query.
pub const DEPTH: usize = 10;
/// Candidates taken from each channel for the plain RRF baseline.
const RRF_CANDIDATES: usize = 50;

/// One query of the set.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct EvalQuery {
    pub pkg: String,
    pub kind: String,
    pub query: String,
    pub path: String,
    #[serde(default)]
    pub symbol: Option<String>,
    pub start: u32,
    pub end: u32,
}

/// A finding's location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub path: String,
    pub start: u32,
    pub end: u32,
}

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read the queries file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} line {line}: not an eval query ({message}); expected {{\"pkg\", \"kind\", \"query\", \"path\", \"start\", \"end\"}}"
    )]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("corpus folder {0} is missing: pass --corpus DIR holding one folder per `pkg`")]
    MissingCorpus(PathBuf),
    #[error("indexing {pkg} failed: {message}")]
    Index { pkg: String, message: String },
    #[error("searching {pkg} failed: {message}")]
    Search { pkg: String, message: String },
}

/// Reads a JSON-lines query file (blank lines skipped).
pub fn read_queries(path: &Path) -> Result<Vec<EvalQuery>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| EvalError::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// 1-based rank of the first relevant finding within the first [`DEPTH`].
pub fn rank_of_first_relevant(q: &EvalQuery, findings: &[Located]) -> Option<usize> {
    findings
        .iter()
        .take(DEPTH)
        .position(|f| f.path == q.path && f.start <= q.end && q.start <= f.end)
        .map(|i| i + 1)
}

/// Sums of per-query scores; divide by `n` for the means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Scores {
    pub n: usize,
    pub hit5: f64,
    pub mrr10: f64,
    pub ndcg10: f64,
}

impl Scores {
    /// Adds one query whose first relevant finding is at `rank` (if any).
    pub fn add(&mut self, rank: Option<usize>) {
        self.n += 1;
        if let Some(r) = rank.filter(|&r| r <= DEPTH) {
            if r <= 5 {
                self.hit5 += 1.0;
            }
            self.mrr10 += 1.0 / r as f64;
            self.ndcg10 += 1.0 / ((r + 1) as f64).log2();
        }
    }

    /// Means: (hit@5, MRR@10, nDCG@10).
    pub fn means(&self) -> (f64, f64, f64) {
        let n = self.n.max(1) as f64;
        (self.hit5 / n, self.mrr10 / n, self.ndcg10 / n)
    }
}

/// Scores per (channel, kind), ordered.
pub type Table = BTreeMap<(String, String), Scores>;

/// The table as Markdown, channels in a fixed order.
pub fn markdown(table: &Table) -> String {
    let mut out = String::from(
        "| channel | kind | n | hit@5 | MRR@10 | nDCG@10 |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    let order = ["sparse", "dense", "rrf", "hybrid"];
    let mut keys: Vec<&(String, String)> = table.keys().collect();
    keys.sort_by_key(|(c, k)| (order.iter().position(|o| o == c).unwrap_or(9), k.clone()));
    for key in keys {
        let s = table[key];
        let (h, m, n) = s.means();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {h:.3} | {m:.3} | {n:.3} |",
            key.0, key.1, s.n
        );
    }
    out
}

fn locate(ids: &[String], rows: Vec<ChunkRecord>) -> Vec<Located> {
    let mut by_id: HashMap<String, ChunkRecord> =
        rows.into_iter().map(|r| (r.id.clone(), r)).collect();
    ids.iter()
        .filter_map(|id| by_id.remove(id))
        .map(|r| Located {
            path: r.path,
            start: r.start_line,
            end: r.end_line,
        })
        .collect()
}

/// Indexes each package of `queries` from `corpus/pkg` into a temporary
/// data folder and scores every channel. `progress` is called per package.
pub async fn run(
    queries: &[EvalQuery],
    corpus: &Path,
    embedder: Option<Arc<dyn Embedder>>,
    metrics: &Metrics,
    mut progress: impl FnMut(&str),
) -> Result<Table, EvalError> {
    let mut table = Table::new();
    let mut by_pkg: BTreeMap<&str, Vec<&EvalQuery>> = BTreeMap::new();
    for q in queries {
        by_pkg.entry(q.pkg.as_str()).or_default().push(q);
    }
    for (pkg, qs) in by_pkg {
        let repo = corpus.join(pkg);
        if !repo.is_dir() {
            return Err(EvalError::MissingCorpus(repo));
        }
        let err = |message: String| EvalError::Index {
            pkg: pkg.to_owned(),
            message,
        };
        let tmp = tempfile::tempdir().map_err(|e| err(e.to_string()))?;
        let data = DataDir::open(tmp.path()).map_err(|e| err(e.to_string()))?;
        let started = std::time::Instant::now();
        build::build(
            &repo,
            &data,
            embedder.clone(),
            metrics,
            &BuildOptions::default(),
        )
        .await
        .map_err(|e| err(e.to_string()))?;
        progress(&format!(
            "{pkg}: indexed in {:.1} s, {} queries",
            started.elapsed().as_secs_f64(),
            qs.len()
        ));
        let index = loaded::load_current(&data, metrics)
            .map_err(|e| err(e.to_string()))?
            .ok_or_else(|| err("no version published".to_owned()))?;
        let engine = Engine::new(embedder.clone(), metrics.clone(), EngineConfig::default());
        engine.publish(index);
        let index = engine
            .current()
            .ok_or_else(|| err("no version loaded".to_owned()))?;
        let serr = |message: String| EvalError::Search {
            pkg: pkg.to_owned(),
            message,
        };
        for q in qs {
            let sparse = index
                .sparse
                .search(&q.query, RRF_CANDIDATES)
                .map_err(|e| serr(e.to_string()))?;
            let dense = match (&index.dense, &embedder) {
                (Some(d), Some(e)) => {
                    let v = e
                        .embed_one(&q.query)
                        .await
                        .map_err(|e| serr(e.to_string()))?;
                    d.search(&v, RRF_CANDIDATES)
                        .map_err(|e| serr(e.to_string()))?
                }
                _ => Vec::new(),
            };
            let fused: Vec<String> = fusion::rrf(
                &[
                    ChannelHits {
                        channel: Channel::Dense,
                        weight: 1.0,
                        hits: &dense,
                    },
                    ChannelHits {
                        channel: Channel::Sparse,
                        weight: 1.0,
                        hits: &sparse,
                    },
                ],
                60,
                DEPTH,
            )
            .into_iter()
            .map(|f| f.id)
            .collect();
            let hybrid = engine
                .search(&q.query, DEPTH, false, &Timeline::new())
                .await
                .map_err(|e| serr(e.to_string()))?;
            let hybrid: Vec<Located> = hybrid
                .findings
                .into_iter()
                .map(|f| Located {
                    path: f.path,
                    start: f.start_line,
                    end: f.end_line,
                })
                .collect();
            let top = |hits: &[(String, f32)]| -> Vec<String> {
                hits.iter().take(DEPTH).map(|h| h.0.clone()).collect()
            };
            let mut channels: Vec<(&str, Vec<Located>)> = Vec::new();
            for (name, ids) in [
                ("sparse", top(&sparse)),
                ("dense", top(&dense)),
                ("rrf", fused),
            ] {
                if name == "dense" && index.dense.is_none() {
                    continue;
                }
                let rows = index
                    .catalog
                    .chunks_by_ids(&ids)
                    .map_err(|e| serr(e.to_string()))?;
                channels.push((name, locate(&ids, rows)));
            }
            channels.push(("hybrid", hybrid));
            for (name, found) in channels {
                table
                    .entry((name.to_owned(), q.kind.clone()))
                    .or_default()
                    .add(rank_of_first_relevant(q, &found));
            }
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> EvalQuery {
        EvalQuery {
            pkg: "p".into(),
            kind: "nl".into(),
            query: "x".into(),
            path: "a.py".into(),
            symbol: None,
            start: 10,
            end: 20,
        }
    }

    fn at(path: &str, start: u32, end: u32) -> Located {
        Located {
            path: path.into(),
            start,
            end,
        }
    }

    #[test]
    fn relevance_is_path_and_overlapping_lines() {
        let q = q();
        assert_eq!(
            rank_of_first_relevant(&q, &[at("a.py", 1, 9), at("a.py", 20, 30)]),
            Some(2)
        );
        assert_eq!(rank_of_first_relevant(&q, &[at("b.py", 10, 20)]), None);
        let eleven: Vec<Located> = (0..11)
            .map(|i| {
                if i == 10 {
                    at("a.py", 10, 20)
                } else {
                    at("z", 1, 1)
                }
            })
            .collect();
        assert_eq!(rank_of_first_relevant(&q, &eleven), None, "beyond depth 10");
    }

    #[test]
    fn scores_follow_the_definitions() {
        let mut s = Scores::default();
        s.add(Some(1));
        s.add(Some(3));
        s.add(Some(7));
        s.add(None);
        let (hit5, mrr, ndcg) = s.means();
        assert!((hit5 - 0.5).abs() < 1e-12);
        assert!((mrr - (1.0 + 1.0 / 3.0 + 1.0 / 7.0) / 4.0).abs() < 1e-12);
        assert!(
            (ndcg - (1.0 + 0.5 + 1.0 / 3.0) / 4.0).abs() < 1e-12,
            "{ndcg}"
        );
        let mut t = Table::new();
        t.insert(("hybrid".into(), "nl".into()), s);
        t.insert(("sparse".into(), "nl".into()), s);
        let md = markdown(&t);
        assert!(
            md.find("| sparse").unwrap() < md.find("| hybrid").unwrap(),
            "{md}"
        );
        assert!(md.contains("| 4 | 0.500 |"), "{md}");
    }
}
