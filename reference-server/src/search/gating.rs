//! Query gating (pure): decide, per query, how the channels are fused.
//!
//! [`decide`] looks only at the query text and returns a [`GatingDecision`]:
//! a [`QueryClass`], an ambiguity score in `[0, 1]`, the RRF `k`, the channel
//! weights and whether RM3-style query expansion should run. It is
//! deterministic and allocation-light; recording the decision
//! (`gating_decisions_total{class,rm3}`, `gating_rrf_k`, `query_ambiguity`)
//! is the caller's job.
//!
//! # Heuristics
//! The query is split on whitespace into tokens; each token is looked at
//! alone:
//! - *identifier-like*: `camelCase` / `PascalCase` with an inner capital,
//!   `snake_case`, `SCREAMING_CASE`, a path with `::`, `.`, `/` or `->`
//!   between word characters (`PaymentService.refund`, `std::fs::read`), or
//!   a call `name(`…;
//! - *code syntax*: operator and bracket characters (`(){}[]<>=;&|!*+`…) or a
//!   strong code keyword (`fn`, `def`, `func`, `impl`, `struct`, `return`,
//!   `const`, `let`, `var`, `import`, `pub`, …) when the query also has code
//!   punctuation;
//! - *stopword*: common English function words and question words.
//!
//! The word lists and the identifier classifier live in [`crate::text`].
//!
//! Classes:
//! - one token, or every token identifier-like → [`QueryClass::Identifier`]:
//!   lexical matching is what finds a name, so the sparse channel weighs more
//!   and `k` is low (top ranks dominate);
//! - code syntax and no more than a third of stopwords → [`QueryClass::Code`];
//! - no identifier-like token and no code syntax → [`QueryClass::NaturalLanguage`]:
//!   the dense channel weighs more and `k` is high (flatter fusion, more
//!   agreement needed), RM3 when the query is short and ambiguous;
//! - anything else (words plus identifiers) → [`QueryClass::Mixed`]: equal
//!   weights, middle `k`.
//!
//! Ambiguity: `(0.6·brevity + 0.4·stopword_ratio) · (1 − specificity)`, where
//! `brevity = 1 − min(content_terms, 6)/6` (few content words → vague),
//! `stopword_ratio` is the share of stopwords among tokens, and
//! `specificity` is the share of identifier-like or code tokens (a name is
//! specific, whatever its length). RM3 expansion applies when enabled, the
//! class is natural language (or mixed with no identifier), the query has at
//! most [`GatingConfig::rm3_max_terms`] content terms and the ambiguity is at
//! least [`GatingConfig::rm3_min_ambiguity`].

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

pub use crate::text::is_stopword;
use crate::text::{is_code_keyword, is_identifier_like, word_core as core};

/// What kind of query this is. Its [`QueryClass::as_str`] is a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryClass {
    Identifier,
    Code,
    NaturalLanguage,
    Mixed,
}

impl QueryClass {
    /// Every class, in a fixed order (the bounded label set).
    pub const ALL: [Self; 4] = [
        Self::Identifier,
        Self::Code,
        Self::NaturalLanguage,
        Self::Mixed,
    ];

    /// `"identifier"`, `"code"`, `"nl"` or `"mixed"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Identifier => "identifier",
            Self::Code => "code",
            Self::NaturalLanguage => "nl",
            Self::Mixed => "mixed",
        }
    }
}

/// Dense / sparse weights in weighted RRF.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChannelWeights {
    pub dense: f64,
    pub sparse: f64,
}

/// Gating knobs. The RRF `k` values are the seed's (40 / 60 / 90 for
/// identifier / mixed / natural language; code sits between identifier and
/// mixed); the weights and RM3 thresholds are starting points to tune on the
/// golden queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatingConfig {
    pub rrf_k_identifier: u32,
    pub rrf_k_code: u32,
    pub rrf_k_mixed: u32,
    pub rrf_k_nl: u32,
    pub weights_identifier: ChannelWeights,
    pub weights_code: ChannelWeights,
    pub weights_mixed: ChannelWeights,
    pub weights_nl: ChannelWeights,
    /// Turn query expansion off entirely.
    pub rm3_enabled: bool,
    /// Expand only queries with at most this many content terms.
    pub rm3_max_terms: usize,
    /// Expand only queries at least this ambiguous.
    pub rm3_min_ambiguity: f64,
}

impl Default for GatingConfig {
    fn default() -> Self {
        Self {
            rrf_k_identifier: 40,
            rrf_k_code: 50,
            rrf_k_mixed: 60,
            rrf_k_nl: 90,
            weights_identifier: ChannelWeights {
                dense: 0.5,
                sparse: 1.0,
            },
            weights_code: ChannelWeights {
                dense: 0.7,
                sparse: 1.0,
            },
            weights_mixed: ChannelWeights {
                dense: 1.0,
                sparse: 1.0,
            },
            weights_nl: ChannelWeights {
                dense: 1.0,
                sparse: 0.7,
            },
            rm3_enabled: true,
            rm3_max_terms: 4,
            rm3_min_ambiguity: 0.35,
        }
    }
}

/// The outcome of gating one query.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GatingDecision {
    pub class: QueryClass,
    /// In `[0, 1]`; higher is vaguer.
    pub ambiguity: f64,
    pub rrf_k: u32,
    pub dense_weight: f64,
    pub sparse_weight: f64,
    /// Whether RM3-style expansion ([`expansion_terms`]) should run.
    pub rm3: bool,
}

const CODE_PUNCT: &[char] = &[
    '(', ')', '{', '}', '[', ']', '<', '>', '=', ';', '&', '|', '!', '*', '+', '%', '^', '~', '$',
    '#', '@', '`', '\\',
];

fn has_code_syntax(token: &str) -> bool {
    token.contains(CODE_PUNCT) || token.contains("=>") || token.contains("->")
}

/// Features of a query, computed once.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Features {
    tokens: usize,
    identifiers: usize,
    code_tokens: usize,
    stopwords: usize,
    content_terms: usize,
    code_keywords: usize,
}

fn features(query: &str) -> Features {
    let mut f = Features {
        tokens: 0,
        identifiers: 0,
        code_tokens: 0,
        stopwords: 0,
        content_terms: 0,
        code_keywords: 0,
    };
    for token in query.split_whitespace() {
        f.tokens += 1;
        let word = core(token);
        let ident = is_identifier_like(token);
        let code = has_code_syntax(token);
        if ident {
            f.identifiers += 1;
        }
        if code && !ident {
            f.code_tokens += 1;
        }
        if is_code_keyword(word) {
            f.code_keywords += 1;
        }
        if is_stopword(word) {
            f.stopwords += 1;
        } else if !word.is_empty() {
            f.content_terms += 1;
        }
    }
    f
}

fn classify(f: &Features) -> QueryClass {
    if f.tokens == 0 {
        return QueryClass::NaturalLanguage;
    }
    let has_syntax = f.code_tokens > 0;
    let code_evidence = has_syntax || (f.code_keywords > 0 && f.identifiers > 0);
    let few_stopwords = f.stopwords * 3 <= f.tokens;
    if f.tokens == 1 && f.code_tokens == 0 {
        return QueryClass::Identifier;
    }
    if f.identifiers == f.tokens {
        return QueryClass::Identifier;
    }
    if code_evidence && few_stopwords {
        return QueryClass::Code;
    }
    if f.identifiers == 0 && !has_syntax {
        return QueryClass::NaturalLanguage;
    }
    QueryClass::Mixed
}

fn ambiguity(f: &Features) -> f64 {
    if f.tokens == 0 {
        return 1.0;
    }
    let tokens = f.tokens as f64;
    let brevity = 1.0 - (f.content_terms.min(6) as f64 / 6.0);
    let stop_ratio = f.stopwords as f64 / tokens;
    let specificity = ((f.identifiers + f.code_tokens) as f64 / tokens).min(1.0);
    ((0.6 * brevity + 0.4 * stop_ratio) * (1.0 - specificity)).clamp(0.0, 1.0)
}

/// Gates one query. Deterministic: the same query and config always give
/// the same decision. See the module docs for the heuristics.
pub fn decide(query: &str, cfg: &GatingConfig) -> GatingDecision {
    let f = features(query);
    let class = classify(&f);
    let ambiguity = ambiguity(&f);
    let (rrf_k, weights) = match class {
        QueryClass::Identifier => (cfg.rrf_k_identifier, cfg.weights_identifier),
        QueryClass::Code => (cfg.rrf_k_code, cfg.weights_code),
        QueryClass::Mixed => (cfg.rrf_k_mixed, cfg.weights_mixed),
        QueryClass::NaturalLanguage => (cfg.rrf_k_nl, cfg.weights_nl),
    };
    let expandable = match class {
        QueryClass::NaturalLanguage => true,
        QueryClass::Mixed => f.identifiers == 0,
        QueryClass::Identifier | QueryClass::Code => false,
    };
    let rm3 = cfg.rm3_enabled
        && expandable
        && f.content_terms > 0
        && f.content_terms <= cfg.rm3_max_terms
        && ambiguity >= cfg.rm3_min_ambiguity;
    GatingDecision {
        class,
        ambiguity,
        rrf_k,
        dense_weight: weights.dense,
        sparse_weight: weights.sparse,
        rm3,
    }
}

/// RM3-style pseudo-relevance feedback: the `n` best expansion terms from
/// the top-ranked documents' tokens.
///
/// A term's weight is `Σ_d (1 / rank_d) · tf(t, d) / |d|` over the feedback
/// documents (`rank_d` 1-based, in the order given — best first), i.e. the
/// relevance model `P(t | R)` with rank-based document weights instead of
/// query likelihoods. Terms are lowercased; query terms, stopwords, code
/// keywords, tokens shorter than 3 characters and tokens with no letter are
/// excluded. Ties are broken by the term, ascending, so the result is
/// deterministic. Pure: no I/O.
pub fn expansion_terms(
    query_tokens: &[String],
    feedback_docs: &[Vec<String>],
    n: usize,
) -> Vec<String> {
    expansion_weights(query_tokens, feedback_docs, n)
        .into_iter()
        .map(|(t, _)| t)
        .collect()
}

/// [`expansion_terms`] with each term's relevance-model weight `P(t | R)`
/// (unnormalised), best first.
pub fn expansion_weights(
    query_tokens: &[String],
    feedback_docs: &[Vec<String>],
    n: usize,
) -> Vec<(String, f64)> {
    if n == 0 {
        return Vec::new();
    }
    let query: HashSet<String> = query_tokens.iter().map(|t| t.to_lowercase()).collect();
    let mut weights: BTreeMap<String, f64> = BTreeMap::new();
    for (rank, doc) in feedback_docs.iter().enumerate() {
        if doc.is_empty() {
            continue;
        }
        let doc_weight = 1.0 / (rank as f64 + 1.0);
        let len = doc.len() as f64;
        let mut tf: BTreeMap<String, u32> = BTreeMap::new();
        for token in doc {
            let t = token.to_lowercase();
            if t.chars().count() < 3
                || !t.chars().any(char::is_alphabetic)
                || query.contains(&t)
                || is_stopword(&t)
                || is_code_keyword(&t)
            {
                continue;
            }
            *tf.entry(t).or_default() += 1;
        }
        for (term, count) in tf {
            *weights.entry(term).or_default() += doc_weight * f64::from(count) / len;
        }
    }
    let mut ranked: Vec<(String, f64)> = weights.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(n);
    ranked
}

/// Share of the expanded query's weight kept by the original terms (RM3's
/// interpolation `λ`): high, so expansion re-ranks rather than drifts.
pub const RM3_ORIGINAL_WEIGHT: f64 = 0.7;

/// The RM3 query: the original terms with their counts as weights, plus the
/// expansion terms sharing `(1 − λ) / λ` of the original terms' total weight
/// in proportion to their `P(t | R)` (so the original part keeps share `λ`).
/// Terms already in the query are not added twice. Pure.
pub fn rm3_query(
    query_tokens: &[String],
    expansion: &[(String, f64)],
    lambda: f64,
) -> Vec<(String, f32)> {
    let mut out: Vec<(String, f32)> = Vec::new();
    for t in query_tokens {
        let t = t.to_lowercase();
        match out.iter_mut().find(|(u, _)| *u == t) {
            Some(entry) => entry.1 += 1.0,
            None => out.push((t, 1.0)),
        }
    }
    let original: f64 = out.iter().map(|(_, w)| f64::from(*w)).sum();
    let fresh = |t: &str| !out.iter().any(|(u, _)| u == t);
    let mass: f64 = expansion
        .iter()
        .filter(|(t, w)| *w > 0.0 && fresh(t))
        .map(|(_, w)| *w)
        .sum();
    let lambda = lambda.clamp(0.05, 1.0);
    if original <= 0.0 || mass <= 0.0 || lambda >= 1.0 {
        return out;
    }
    let budget = original * (1.0 - lambda) / lambda;
    let added: Vec<(String, f32)> = expansion
        .iter()
        .filter(|(t, w)| *w > 0.0 && fresh(t))
        .map(|(t, w)| (t.clone(), (budget * w / mass) as f32))
        .collect();
    out.extend(added);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn class(q: &str) -> &'static str {
        decide(q, &GatingConfig::default()).class.as_str()
    }

    #[test]
    fn identifiers() {
        for q in [
            "PaymentService",
            "applyCouponCode",
            "verify_webhook_signature",
            "StockLedger::reserve",
            "SessionStore.refreshToken",
            "MAX_RETRIES",
            "refund",
            "ParseToken HashPassword",
            "std::fs::read_to_string",
            "sha256",
            "reserve()",
        ] {
            assert_eq!(class(q), "identifier", "{q}");
        }
    }

    #[test]
    fn code() {
        for q in [
            "fn reserve(&mut self, sku: &str)",
            "def refund(self, payment_id):",
            "items.filter(i => i.qty > 0)",
            "if err != nil { return err }",
        ] {
            assert_eq!(class(q), "code", "{q}");
        }
    }

    #[test]
    fn natural_language() {
        for q in [
            "refund a captured payment",
            "how are inventory reservations released when an order is cancelled",
            "find the nearest warehouse",
            "retry failed requests with exponential backoff",
            "what is e.g. the fee?",
        ] {
            assert_eq!(class(q), "nl", "{q}");
        }
    }

    #[test]
    fn mixed() {
        for q in [
            "where does PaymentService handle refunds",
            "how is verify_webhook_signature used",
            "what calls StockLedger::reserve when an order is placed",
        ] {
            assert_eq!(class(q), "mixed", "{q}");
        }
    }

    #[test]
    fn decisions_follow_the_class() {
        let cfg = GatingConfig::default();
        let id = decide("StockLedger", &cfg);
        assert_eq!((id.rrf_k, id.rm3), (40, false));
        assert!(id.sparse_weight > id.dense_weight);
        assert!(id.ambiguity.abs() < 1e-12, "{}", id.ambiguity);

        let nl = decide("refund a payment", &cfg);
        assert_eq!(nl.class, QueryClass::NaturalLanguage);
        assert_eq!(nl.rrf_k, 90);
        assert!(nl.dense_weight > nl.sparse_weight);
        assert!(nl.rm3, "short vague NL query is expanded: {nl:?}");

        let long = decide(
            "how are inventory reservations released when an order is cancelled",
            &cfg,
        );
        assert!(!long.rm3, "long specific query is not expanded: {long:?}");
        assert!(long.ambiguity < nl.ambiguity);

        let mixed = decide("where does PaymentService handle refunds", &cfg);
        assert_eq!((mixed.rrf_k, mixed.rm3), (60, false));

        let code = decide("fn reserve(&mut self)", &cfg);
        assert_eq!(
            (code.class, code.rrf_k, code.rm3),
            (QueryClass::Code, 50, false)
        );

        let off = GatingConfig {
            rm3_enabled: false,
            ..GatingConfig::default()
        };
        assert!(!decide("refund a payment", &off).rm3);
    }

    #[test]
    fn empty_query_is_nl_and_maximally_ambiguous_without_rm3() {
        let d = decide("   ", &GatingConfig::default());
        assert_eq!(d.class, QueryClass::NaturalLanguage);
        assert!((d.ambiguity - 1.0).abs() < 1e-12);
        assert!(!d.rm3);
    }

    #[test]
    fn labels_are_the_contract_values() {
        let labels: Vec<_> = QueryClass::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(labels, ["identifier", "code", "nl", "mixed"]);
    }

    #[test]
    fn expansion_prefers_top_ranked_frequent_terms() {
        let docs = vec![
            "refund payment ledger ledger the gateway"
                .split(' ')
                .map(String::from)
                .collect::<Vec<_>>(),
            "ledger gateway gateway self fn xy 42"
                .split(' ')
                .map(String::from)
                .collect(),
            "capture".split(' ').map(String::from).collect(),
        ];
        let q = vec!["Refund".to_owned(), "payment".to_owned()];
        let terms = expansion_terms(&q, &docs, 3);
        // ledger: 2/6 + 1/7/2; gateway: 1/6 + 2/7/2; capture: 1/3.
        assert_eq!(terms, vec!["ledger", "capture", "gateway"]);
        assert!(expansion_terms(&q, &docs, 0).is_empty());
        assert!(expansion_terms(&q, &[], 5).is_empty());
        let all = expansion_terms(&q, &docs, 100);
        assert!(
            !all.iter()
                .any(|t| ["refund", "payment", "the", "self", "fn", "xy", "42"]
                    .contains(&t.as_str()))
        );
    }

    #[test]
    fn rm3_keeps_the_original_share() {
        let q: Vec<String> = ["refund", "payment", "payment"].map(String::from).to_vec();
        let exp = vec![
            ("gateway".to_owned(), 0.3),
            ("ledger".to_owned(), 0.1),
            ("refund".to_owned(), 0.5),
        ];
        let terms = rm3_query(&q, &exp, 0.7);
        let w = |t: &str| {
            terms
                .iter()
                .find(|(u, _)| u == t)
                .map(|(_, w)| f64::from(*w))
        };
        assert_eq!(w("refund"), Some(1.0), "query terms keep their counts");
        assert_eq!(w("payment"), Some(2.0));
        let original = 3.0;
        let expansion: f64 = w("gateway").unwrap() + w("ledger").unwrap();
        assert!((original / (original + expansion) - 0.7).abs() < 1e-6);
        assert!((w("gateway").unwrap() / w("ledger").unwrap() - 3.0).abs() < 1e-5);
        assert_eq!(terms.len(), 4, "a query term is not added twice: {terms:?}");
        assert_eq!(rm3_query(&q, &[], 0.7).len(), 2);
    }

    #[test]
    fn expansion_ties_break_by_term() {
        let docs = vec![vec![
            "zeta".to_owned(),
            "alpha".to_owned(),
            "mid".to_owned(),
        ]];
        assert_eq!(expansion_terms(&[], &docs, 3), vec!["alpha", "mid", "zeta"]);
    }

    proptest! {
        #[test]
        fn decide_is_total_and_bounded(q in "\\PC{0,80}") {
            let cfg = GatingConfig::default();
            let d = decide(&q, &cfg);
            prop_assert!((0.0..=1.0).contains(&d.ambiguity));
            prop_assert!([40, 50, 60, 90].contains(&d.rrf_k));
            prop_assert_eq!(d, decide(&q, &cfg));
            if d.rm3 {
                prop_assert!(matches!(d.class, QueryClass::NaturalLanguage | QueryClass::Mixed));
            }
        }

        #[test]
        fn expansion_never_returns_query_terms(
            q in proptest::collection::vec("[a-z]{3,6}", 0..4),
            docs in proptest::collection::vec(proptest::collection::vec("[a-z]{1,6}", 0..12), 0..5),
            n in 0usize..8,
        ) {
            let terms = expansion_terms(&q, &docs, n);
            prop_assert!(terms.len() <= n);
            for t in &terms {
                prop_assert!(!q.contains(t));
                prop_assert!(!is_stopword(t));
            }
            let unique: HashSet<_> = terms.iter().collect();
            prop_assert_eq!(unique.len(), terms.len());
            prop_assert_eq!(terms.clone(), expansion_terms(&q, &docs, n));
        }
    }
}
