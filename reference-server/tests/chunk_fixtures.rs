//! Walk + chunk over the committed fixture repositories: what gets indexed,
//! what is skipped and why, and the symbols the golden queries rely on.
#![cfg(test)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use codeintel_server::index::chunk::{ChunkOptions, ChunkOutput, Language, chunk_file};
use codeintel_server::index::walk::{WalkOptions, read_text, walk};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn sample() -> PathBuf {
    fixtures().join("repos/sample")
}

/// Walks and chunks a repository: (rel_path → output).
fn index(repo: &Path) -> BTreeMap<String, ChunkOutput> {
    let outcome = walk(repo, &WalkOptions::default()).expect("walk the fixture repo");
    outcome
        .files
        .iter()
        .map(|f| {
            let text = read_text(f).expect("fixture files are UTF-8 text");
            (
                f.rel_path.clone(),
                chunk_file(&f.rel_path, &text, &ChunkOptions::default()),
            )
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn sample_repo_walk_lists_sources_and_skips_vendored_and_generated() {
    let outcome = walk(&sample(), &WalkOptions::default()).unwrap();
    let paths: Vec<&str> = outcome.files.iter().map(|f| f.rel_path.as_str()).collect();
    assert_eq!(paths.len(), 34, "{paths:#?}");
    assert!(outcome.skipped.is_empty(), "{:?}", outcome.skipped);
    for absent in [
        "vendor/leftpad/leftpad.js",
        "web/dist/bundle.js",
        ".gitignore",
    ] {
        assert!(!paths.contains(&absent), "{absent} must not be indexed");
    }
    let mut by_language: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &outcome.files {
        *by_language.entry(f.language.as_str()).or_default() += 1;
    }
    assert_eq!(
        by_language,
        BTreeMap::from([
            ("go", 4),
            ("java", 2),
            ("javascript", 2),
            ("markdown", 3),
            ("other", 6),
            ("python", 6),
            ("rust", 5),
            ("typescript", 6),
        ])
    );
}

#[test]
fn sample_repo_gitignore_and_symlinks_are_honoured_in_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("sample");
    copy_dir(&sample(), &repo);
    fs::create_dir_all(repo.join("build")).unwrap();
    fs::write(
        repo.join("build/generated.py"),
        "def generated():\n    pass\n",
    )
    .unwrap();
    fs::write(repo.join("payments/debug.log"), "refund failed\n").unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.py"), "API_KEY = 'x'\n").unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.py"),
        repo.join("payments/secret.py"),
    )
    .unwrap();

    let outcome = walk(&repo, &WalkOptions::default()).unwrap();
    let paths: Vec<&str> = outcome.files.iter().map(|f| f.rel_path.as_str()).collect();
    assert_eq!(paths.len(), 34);
    assert!(
        !paths
            .iter()
            .any(|p| p.starts_with("build/") || p.ends_with("debug.log"))
    );
    assert_eq!(outcome.skipped.len(), 1);
    assert_eq!(outcome.skipped[0].rel_path, "payments/secret.py");
    assert_eq!(outcome.skipped[0].reason.as_str(), "symlink_outside_repo");
}

#[test]
fn edge_repo_reports_binary_and_non_utf8() {
    let outcome = walk(&fixtures().join("repos/edge"), &WalkOptions::default()).unwrap();
    let paths: Vec<&str> = outcome.files.iter().map(|f| f.rel_path.as_str()).collect();
    assert_eq!(paths, vec!["README.md", "ok.py"]);
    let skipped: Vec<(&str, &str)> = outcome
        .skipped
        .iter()
        .map(|s| (s.rel_path.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        vec![("archive.bin", "binary"), ("latin1.txt", "not_utf8")]
    );
}

#[test]
fn sample_repo_chunks_and_symbols() {
    let indexed = index(&sample());
    let chunks: usize = indexed.values().map(|o| o.chunks.len()).sum();
    let symbols: usize = indexed.values().map(|o| o.symbols.len()).sum();

    // A per-file summary, reviewed once and kept as a snapshot.
    let mut summary = String::new();
    for (path, out) in &indexed {
        writeln!(
            summary,
            "{path}: {} chunks, {} symbols",
            out.chunks.len(),
            out.symbols.len()
        )
        .unwrap();
    }
    writeln!(
        summary,
        "total: {} files, {chunks} chunks, {symbols} symbols",
        indexed.len()
    )
    .unwrap();
    insta::assert_snapshot!("sample_summary", summary);

    // Every file with text has chunks; ids are unique across the repository.
    let mut ids = std::collections::HashSet::new();
    for (path, out) in &indexed {
        assert!(!out.chunks.is_empty(), "{path} has no chunks");
        for c in &out.chunks {
            assert!(ids.insert(c.id.clone()), "duplicate chunk id in {path}");
            assert_eq!(&c.path, path);
            assert!(c.start_line <= c.end_line);
        }
    }

    let find = |name: &str| {
        indexed
            .values()
            .flat_map(|o| o.symbols.iter())
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("symbol {name} not found"))
    };
    let refund = find("PaymentService.refund");
    assert_eq!(refund.path, "payments/service.py");
    assert_eq!((refund.start_line, refund.end_line), (66, 85));
    assert_eq!(refund.language, Language::Python);
    assert_eq!(find("StockLedger::reserve").path, "inventory/src/stock.rs");
    assert_eq!(
        find("ApiClient.requestWithRetry").path,
        "web/src/api/client.ts"
    );
    assert_eq!(
        find("RateLimiter.Allow").path,
        "auth/ratelimit/ratelimit.go"
    );
    assert_eq!(
        find("CheckoutForm").path,
        "web/src/components/CheckoutForm.tsx"
    );
    assert_eq!(find("trackEvent").path, "web/src/legacy/analytics.js");
    assert_eq!(
        find("EmailNotifier.MailTransport.send").path,
        "notifications/src/main/java/com/shopfront/notify/EmailNotifier.java"
    );

    // The refund method's chunk holds its docstring and nothing of the next method.
    let chunk = indexed["payments/service.py"]
        .chunks
        .iter()
        .find(|c| c.symbol.as_deref() == Some("PaymentService.refund"))
        .unwrap();
    assert!(chunk.text.contains("Refund a captured payment"));
    assert!(!chunk.text.contains("def void"));
}

#[derive(serde::Deserialize)]
struct Golden {
    query: Vec<GoldenQuery>,
}

#[derive(serde::Deserialize)]
struct GoldenQuery {
    id: String,
    text: String,
    kind: String,
    expect_path: String,
    expect_symbol: Option<String>,
}

#[test]
fn golden_queries_point_at_real_files_and_symbols() {
    let raw = fs::read_to_string(fixtures().join("golden/queries.toml")).unwrap();
    let golden: Golden = toml::from_str(&raw).unwrap();
    assert!((12..=16).contains(&golden.query.len()));
    let indexed = index(&sample());
    let mut ids = std::collections::HashSet::new();
    for q in &golden.query {
        assert!(ids.insert(q.id.as_str()), "duplicate id {}", q.id);
        assert!(
            ["nl", "identifier"].contains(&q.kind.as_str()),
            "{}: kind {}",
            q.id,
            q.kind
        );
        assert!(!q.text.trim().is_empty());
        let out = indexed
            .get(&q.expect_path)
            .unwrap_or_else(|| panic!("{}: {} is not indexed", q.id, q.expect_path));
        if let Some(symbol) = &q.expect_symbol {
            assert!(
                out.symbols.iter().any(|s| &s.name == symbol),
                "{}: no symbol {symbol} in {}",
                q.id,
                q.expect_path
            );
            assert!(
                out.chunks.iter().any(|c| c.symbol.as_ref() == Some(symbol)),
                "{}: no chunk for {symbol}",
                q.id
            );
        }
        // NL queries share at least two words with their target file (the
        // test embedder only sees tokens).
        if q.kind == "nl" {
            let text = out
                .chunks
                .iter()
                .map(|c| c.text.to_lowercase())
                .collect::<String>();
            let shared = q
                .text
                .split_whitespace()
                .filter(|w| w.len() > 3 && text.contains(&w.to_lowercase()))
                .count();
            assert!(
                shared >= 2,
                "{}: only {shared} words shared with {}",
                q.id,
                q.expect_path
            );
        }
    }
}

/// Code-aware tokens: words split on non-alphanumerics, then on camelCase
/// and letter/digit boundaries, lowercased; the whole identifier is kept too.
fn code_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let chars: Vec<char> = word.chars().collect();
        let mut start = 0;
        let mut parts = Vec::new();
        for i in 1..chars.len() {
            let (a, b) = (chars[i - 1], chars[i]);
            if (a.is_lowercase() && b.is_uppercase()) || (a.is_alphabetic() != b.is_alphabetic()) {
                parts.push(chars[start..i].iter().collect::<String>().to_lowercase());
                start = i;
            }
        }
        parts.push(chars[start..].iter().collect::<String>().to_lowercase());
        if parts.len() > 1 {
            out.push(word.to_lowercase());
        }
        out.extend(parts);
    }
    out
}

/// The golden queries are answerable lexically: a plain BM25 over the
/// chunks (code tokens, k1 = 1.2, b = 0.75) puts the expected file in the
/// top 5 for every query, NL ones included.
#[test]
fn golden_queries_are_found_by_bm25_over_chunks() {
    let raw = fs::read_to_string(fixtures().join("golden/queries.toml")).unwrap();
    let golden: Golden = toml::from_str(&raw).unwrap();
    let indexed = index(&sample());
    let docs: Vec<(&str, Vec<String>)> = indexed
        .values()
        .flat_map(|o| o.chunks.iter())
        .map(|c| (c.path.as_str(), code_tokens(&c.text)))
        .collect();
    let n = docs.len() as f64;
    let avg_len = docs.iter().map(|d| d.1.len()).sum::<usize>() as f64 / n;
    let mut df: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (_, tokens) in &docs {
        let unique: std::collections::HashSet<&str> = tokens.iter().map(String::as_str).collect();
        for t in unique {
            *df.entry(t).or_default() += 1;
        }
    }
    let mut reciprocal_ranks = Vec::new();
    for q in &golden.query {
        let terms: std::collections::HashSet<String> = code_tokens(&q.text).into_iter().collect();
        let mut scored: Vec<(f64, &str)> = docs
            .iter()
            .map(|(path, tokens)| {
                let len = tokens.len() as f64;
                let score: f64 = terms
                    .iter()
                    .map(|t| {
                        let tf = tokens.iter().filter(|x| *x == t).count() as f64;
                        let d = df.get(t.as_str()).copied().unwrap_or(0) as f64;
                        let idf = ((n - d + 0.5) / (d + 0.5) + 1.0).ln();
                        idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len / avg_len))
                    })
                    .sum();
                (score, *path)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let rank = scored
            .iter()
            .position(|(_, p)| *p == q.expect_path)
            .map(|r| r + 1);
        let top5: Vec<&str> = scored.iter().take(5).map(|s| s.1).collect();
        assert!(
            rank.is_some_and(|r| r <= 5),
            "{}: {} ranked {rank:?}; top 5: {top5:?}",
            q.id,
            q.expect_path
        );
        println!("{}: rank {}", q.id, rank.unwrap_or(0));
        reciprocal_ranks.push(1.0 / rank.unwrap_or(usize::MAX) as f64);
    }
    let mrr = reciprocal_ranks.iter().sum::<f64>() / reciprocal_ranks.len() as f64;
    assert!(
        mrr >= 0.8,
        "BM25 MRR over the golden queries is only {mrr:.3}"
    );
    println!("golden BM25 MRR (chunk level) = {mrr:.3}");
}
