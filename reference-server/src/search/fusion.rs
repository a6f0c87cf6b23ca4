//! Reciprocal-rank fusion (pure).
//!
//! [`rrf`] merges ranked hit lists from several channels into one list:
//! `score(d) = Σ_c w_c / (k + rank_c(d))`, summed over the channels that
//! returned `d` (`rank` 1-based). Raw channel scores are carried through for
//! display but never used for ranking, so BM25 and cosine scores need no
//! calibration against each other.
//!
//! # Guarantees
//! - A chunk id repeated within one channel counts once, at its best rank.
//! - Deterministic and independent of the order of `inputs`: contributions
//!   are summed in a canonical order, and ties are broken by score
//!   (descending), then best rank (ascending), then id (ascending).
//! - Negative or NaN weights count as 0 (the channel still shows in
//!   [`Fused::channels`], it just adds nothing).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// A retrieval channel. Its [`Channel::as_str`] is a span / metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Dense,
    Sparse,
}

impl Channel {
    /// `"dense"` or `"sparse"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Dense => "dense",
            Self::Sparse => "sparse",
        }
    }
}

/// One channel's ranked hits, best first: `(chunk id, raw score)`.
#[derive(Debug, Clone, Copy)]
pub struct ChannelHits<'a> {
    pub channel: Channel,
    pub weight: f64,
    pub hits: &'a [(String, f32)],
}

/// Where one channel ranked a fused result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChannelRank {
    pub channel: Channel,
    /// 1-based rank in that channel.
    pub rank: u32,
    /// The channel's raw score.
    pub score: f32,
}

/// One fused result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fused {
    pub id: String,
    /// The RRF score.
    pub score: f64,
    /// The channels that found it, ordered by channel then rank.
    pub channels: Vec<ChannelRank>,
}

impl Fused {
    /// The best (smallest) rank over its channels.
    pub fn best_rank(&self) -> u32 {
        self.channels
            .iter()
            .map(|c| c.rank)
            .min()
            .unwrap_or(u32::MAX)
    }
}

fn effective_weight(w: f64) -> f64 {
    if w.is_finite() && w > 0.0 { w } else { 0.0 }
}

/// One channel's contribution to one id.
struct Contribution {
    channel: Channel,
    rank: u32,
    score: f32,
    weight: f64,
}

/// Weighted reciprocal-rank fusion of `inputs`, at most `limit` results.
/// See the module docs for the formula and guarantees.
pub fn rrf(inputs: &[ChannelHits<'_>], k: u32, limit: usize) -> Vec<Fused> {
    if limit == 0 {
        return Vec::new();
    }
    let mut by_id: HashMap<&str, Vec<Contribution>> = HashMap::new();
    for input in inputs {
        let mut seen: HashSet<&str> = HashSet::with_capacity(input.hits.len());
        for (pos, (id, score)) in input.hits.iter().enumerate() {
            if !seen.insert(id.as_str()) {
                continue;
            }
            by_id.entry(id.as_str()).or_default().push(Contribution {
                channel: input.channel,
                rank: u32::try_from(pos + 1).unwrap_or(u32::MAX),
                score: *score,
                weight: effective_weight(input.weight),
            });
        }
    }
    let k = f64::from(k);
    let mut fused: Vec<Fused> = by_id
        .into_iter()
        .map(|(id, mut contributions)| {
            // Canonical order so the float sum does not depend on input order.
            contributions.sort_by(|a, b| {
                (a.channel, a.rank)
                    .cmp(&(b.channel, b.rank))
                    .then_with(|| a.weight.total_cmp(&b.weight))
                    .then_with(|| a.score.total_cmp(&b.score))
            });
            let score = contributions
                .iter()
                .map(|c| c.weight / (k + f64::from(c.rank)))
                .sum::<f64>();
            Fused {
                id: id.to_owned(),
                score,
                channels: contributions
                    .iter()
                    .map(|c| ChannelRank {
                        channel: c.channel,
                        rank: c.rank,
                        score: c.score,
                    })
                    .collect(),
            }
        })
        .collect();
    fused.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.best_rank().cmp(&b.best_rank()))
            .then_with(|| a.id.cmp(&b.id))
    });
    fused.truncate(limit);
    fused
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hits(ids: &[&str]) -> Vec<(String, f32)> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| ((*id).to_owned(), 1.0 - i as f32 * 0.1))
            .collect()
    }

    fn ids(fused: &[Fused]) -> Vec<&str> {
        fused.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn fuses_two_channels() {
        let dense = hits(&["a", "b", "c"]);
        let sparse = hits(&["c", "a", "d"]);
        let out = rrf(
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
            10,
        );
        assert_eq!(ids(&out), vec!["a", "c", "b", "d"]);
        let a = &out[0];
        assert!((a.score - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-12);
        assert_eq!(
            a.channels,
            vec![
                ChannelRank {
                    channel: Channel::Dense,
                    rank: 1,
                    score: 1.0
                },
                ChannelRank {
                    channel: Channel::Sparse,
                    rank: 2,
                    score: sparse[1].1
                },
            ]
        );
        assert_eq!(out[3].channels.len(), 1);
        assert_eq!(out[3].best_rank(), 3);
    }

    #[test]
    fn weights_shift_the_order() {
        let dense = hits(&["a", "b"]);
        let sparse = hits(&["b", "a"]);
        let run = |wd: f64, ws: f64| {
            let out = rrf(
                &[
                    ChannelHits {
                        channel: Channel::Dense,
                        weight: wd,
                        hits: &dense,
                    },
                    ChannelHits {
                        channel: Channel::Sparse,
                        weight: ws,
                        hits: &sparse,
                    },
                ],
                40,
                10,
            );
            ids(&out).join(",")
        };
        assert_eq!(run(1.0, 0.5), "a,b");
        assert_eq!(run(0.5, 1.0), "b,a");
        // Equal weights: equal scores, tie broken by best rank then id.
        assert_eq!(run(1.0, 1.0), "a,b");
        // NaN / negative weights add nothing.
        assert_eq!(run(f64::NAN, 1.0), "b,a");
        assert_eq!(run(-3.0, 1.0), "b,a");
    }

    #[test]
    fn duplicates_in_a_channel_count_once_at_best_rank() {
        let dense = hits(&["a", "b", "a", "a"]);
        let out = rrf(
            &[ChannelHits {
                channel: Channel::Dense,
                weight: 1.0,
                hits: &dense,
            }],
            10,
            10,
        );
        assert_eq!(ids(&out), vec!["a", "b"]);
        assert_eq!(out[0].channels.len(), 1);
        assert_eq!(out[0].channels[0].rank, 1);
        assert!((out[0].score - 1.0 / 11.0).abs() < 1e-12);
        assert_eq!(out[1].channels[0].rank, 2);
    }

    #[test]
    fn empty_inputs_and_zero_limit() {
        assert!(rrf(&[], 60, 10).is_empty());
        let none: Vec<(String, f32)> = Vec::new();
        let empty = [ChannelHits {
            channel: Channel::Sparse,
            weight: 1.0,
            hits: &none,
        }];
        assert!(rrf(&empty, 60, 10).is_empty());
        let some = hits(&["a"]);
        let one = [ChannelHits {
            channel: Channel::Sparse,
            weight: 1.0,
            hits: &some,
        }];
        assert!(rrf(&one, 60, 0).is_empty());
        assert_eq!(Channel::Dense.as_str(), "dense");
        assert_eq!(Channel::Sparse.as_str(), "sparse");
    }

    /// One generated channel: (is dense, weight, ranked hits).
    type GenChannel = (bool, f64, Vec<(String, f32)>);

    /// Up to 3 channels of up to 12 hits drawn from 10 ids.
    fn channels() -> impl Strategy<Value = Vec<GenChannel>> {
        proptest::collection::vec(
            (
                any::<bool>(),
                0.0f64..2.0,
                proptest::collection::vec(("[a-j]", -1.0f32..1.0), 0..12),
            ),
            0..4,
        )
    }

    fn as_inputs(chs: &[GenChannel]) -> Vec<ChannelHits<'_>> {
        chs.iter()
            .map(|(dense, w, h)| ChannelHits {
                channel: if *dense {
                    Channel::Dense
                } else {
                    Channel::Sparse
                },
                weight: *w,
                hits: h,
            })
            .collect()
    }

    /// Best 1-based rank of `id` in `hits`.
    fn rank_of(hits: &[(String, f32)], id: &str) -> Option<usize> {
        hits.iter().position(|(h, _)| h == id).map(|p| p + 1)
    }

    proptest! {
        #[test]
        fn input_order_does_not_matter(chs in channels(), k in 0u32..200, limit in 0usize..15) {
            let inputs = as_inputs(&chs);
            let mut reversed = inputs.clone();
            reversed.reverse();
            prop_assert_eq!(rrf(&inputs, k, limit), rrf(&reversed, k, limit));
        }

        #[test]
        fn limit_is_respected_and_output_sorted(chs in channels(), k in 0u32..200, limit in 0usize..15) {
            let inputs = as_inputs(&chs);
            let out = rrf(&inputs, k, limit);
            let distinct: std::collections::HashSet<&str> =
                chs.iter().flat_map(|c| c.2.iter().map(|h| h.0.as_str())).collect();
            prop_assert_eq!(out.len(), limit.min(distinct.len()));
            for w in out.windows(2) {
                prop_assert!(w[0].score >= w[1].score);
            }
            let unique: std::collections::HashSet<&str> = out.iter().map(|f| f.id.as_str()).collect();
            prop_assert_eq!(unique.len(), out.len());
        }

        /// If `a` is ranked better than `b` in every channel that has `b`
        /// (and is present wherever `b` is), `a` never scores lower, and the
        /// gap shrinks as `k` grows.
        #[test]
        fn dominance_and_k_monotonicity(chs in channels(), k1 in 0u32..100, dk in 1u32..100) {
            let inputs = as_inputs(&chs);
            let k2 = k1 + dk;
            let score = |out: &[Fused], id: &str| out.iter().find(|f| f.id == id).map_or(0.0, |f| f.score);
            let out1 = rrf(&inputs, k1, usize::MAX);
            let out2 = rrf(&inputs, k2, usize::MAX);
            for a in ["a", "b", "c", "d", "e"] {
                for b in ["f", "g", "h", "i", "j", "a", "b"] {
                    if a == b {
                        continue;
                    }
                    let dominates = chs.iter().all(|(_, _, h)| match (rank_of(h, a), rank_of(h, b)) {
                        (Some(ra), Some(rb)) => ra < rb,
                        (Some(_) | None, None) => true,
                        (None, Some(_)) => false,
                    });
                    if dominates {
                        let (d1, d2) = (score(&out1, a) - score(&out1, b), score(&out2, a) - score(&out2, b));
                        prop_assert!(d1 >= -1e-12, "{a} should not score below {b}");
                        prop_assert!(d2 >= -1e-12);
                        // Larger k: every term w/(k+ra) - w/(k+rb) (or w/(k+ra)
                        // where b is absent) shrinks, so the gap does too.
                        prop_assert!(d2 <= d1 + 1e-12, "gap grew from {d1} to {d2}");
                    }
                }
            }
        }

        #[test]
        fn scores_are_bounded_by_weights(chs in channels(), k in 0u32..200) {
            let inputs = as_inputs(&chs);
            let max: f64 = chs.iter().map(|c| c.1).sum::<f64>() / (f64::from(k) + 1.0);
            for f in rrf(&inputs, k, usize::MAX) {
                prop_assert!(f.score >= 0.0 && f.score <= max + 1e-12);
            }
        }
    }
}
