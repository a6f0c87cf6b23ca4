//! The DuckDB catalog on real database files: round trips through a reopen,
//! replacement and deletion, ordering guarantees, symbol ranking,
//! concurrent readers, read-only mode, and the duckdb metric.

use std::sync::Arc;
use std::time::Instant;

use codeintel_server::observability::metrics::{Metrics, meter_provider_with_registry};
use codeintel_server::store::catalog::{
    Catalog, CatalogError, CatalogStats, ChunkRecord, FileRecord, FileRows, SymbolRecord,
};

fn file(path: &str, hash: &str) -> FileRecord {
    FileRecord {
        path: path.to_owned(),
        hash: hash.to_owned(),
        size: 1234,
        mtime_ns: 1_700_000_000_123_456_789,
        language: "rust".to_owned(),
    }
}

fn chunk(id: &str, path: &str, start: u32, symbol: Option<&str>) -> ChunkRecord {
    ChunkRecord {
        id: id.to_owned(),
        path: path.to_owned(),
        start_line: start,
        end_line: start + 9,
        language: "rust".to_owned(),
        kind: "function".to_owned(),
        symbol: symbol.map(str::to_owned),
        text: format!("fn body_of_{id}() {{\n    // ünïcode ok\n}}"),
    }
}

fn symbol(name: &str, path: &str, line: u32) -> SymbolRecord {
    SymbolRecord {
        name: name.to_owned(),
        kind: "function".to_owned(),
        path: path.to_owned(),
        start_line: line,
        end_line: line + 3,
    }
}

fn sorted(mut v: Vec<ChunkRecord>) -> Vec<ChunkRecord> {
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

#[test]
fn rows_survive_a_reopen_in_a_new_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1").join("catalog.duckdb");
    let a = file("src/a.rs", "h-a");
    let b = file("src/b.rs", "h-b");
    let a_chunks = vec![
        chunk("a1", "src/a.rs", 1, Some("alpha")),
        chunk("a2", "src/a.rs", 20, None),
    ];
    let b_chunks = vec![chunk("b1", "src/b.rs", 5, Some("beta"))];
    let a_syms = vec![symbol("alpha", "src/a.rs", 1)];
    let b_syms = vec![
        symbol("beta", "src/b.rs", 5),
        symbol("Beta2", "src/b.rs", 30),
    ];
    {
        let cat = Catalog::create(&path, Metrics::noop()).unwrap();
        cat.replace_file(&a, &a_chunks, &a_syms).unwrap();
        cat.replace_file(&b, &b_chunks, &b_syms).unwrap();
        cat.set_meta("embed.model", "test-model").unwrap();
        cat.set_meta("embed.model", "test-model-2").unwrap();
        cat.set_meta("dense.dim", "384").unwrap();
    }

    let cat = Catalog::open(&path, Metrics::noop()).unwrap();
    let files = cat.files().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files["src/a.rs"], a);
    assert_eq!(files["src/b.rs"], b);
    assert_eq!(cat.chunks_for_path("src/a.rs").unwrap(), a_chunks);
    assert_eq!(cat.chunks_for_path("src/b.rs").unwrap(), b_chunks);
    assert!(cat.chunks_for_path("src/none.rs").unwrap().is_empty());
    let mut all = a_chunks.clone();
    all.extend(b_chunks.clone());
    assert_eq!(cat.all_chunks().unwrap(), all);
    assert_eq!(
        cat.get_meta("embed.model").unwrap().as_deref(),
        Some("test-model-2")
    );
    assert_eq!(cat.get_meta("dense.dim").unwrap().as_deref(), Some("384"));
    assert_eq!(cat.get_meta("nope").unwrap(), None);
    assert!(
        cat.all_meta()
            .unwrap()
            .contains_key("catalog.schema_version")
    );
    assert_eq!(
        cat.stats().unwrap(),
        CatalogStats {
            files: 2,
            chunks: 3,
            symbols: 3
        }
    );
    drop(cat);

    // Read-only: same rows, and writes are refused with a clear error.
    let ro = Catalog::open_read_only(&path, Metrics::noop()).unwrap();
    assert!(ro.is_read_only());
    assert_eq!(ro.chunks_by_ids(&["b1".into()]).unwrap(), b_chunks);
    let err = ro.delete_path("src/a.rs").unwrap_err();
    assert!(matches!(err, CatalogError::ReadOnly { .. }), "{err}");
    assert!(err.to_string().contains("catalog.duckdb"), "{err}");
    let err = ro.set_meta("k", "v").unwrap_err();
    assert!(matches!(err, CatalogError::ReadOnly { .. }), "{err}");
}

#[test]
fn replace_file_drops_the_old_rows_of_that_path_only() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::create(&dir.path().join("catalog.duckdb"), Metrics::noop()).unwrap();
    cat.replace_file(
        &file("a.rs", "h1"),
        &[chunk("a1", "a.rs", 1, None), chunk("a2", "a.rs", 11, None)],
        &[symbol("old_fn", "a.rs", 1)],
    )
    .unwrap();
    cat.replace_file(
        &file("b.rs", "hb"),
        &[chunk("b1", "b.rs", 1, None)],
        &[symbol("keep", "b.rs", 1)],
    )
    .unwrap();
    // Same path again: one chunk id reused (same content), one new.
    let new_chunks = vec![
        chunk("a1", "a.rs", 1, None),
        chunk("a3", "a.rs", 30, Some("new_fn")),
    ];
    cat.replace_file(
        &file("a.rs", "h2"),
        &new_chunks,
        &[symbol("new_fn", "a.rs", 30)],
    )
    .unwrap();

    assert_eq!(cat.files().unwrap()["a.rs"].hash, "h2");
    assert_eq!(cat.chunks_for_path("a.rs").unwrap(), new_chunks);
    assert!(cat.chunks_by_ids(&["a2".into()]).unwrap().is_empty());
    assert!(cat.symbol_search("old_fn", 10).unwrap().is_empty());
    assert_eq!(cat.symbol_search("new_fn", 10).unwrap().len(), 1);
    assert_eq!(cat.chunks_for_path("b.rs").unwrap().len(), 1);
    assert_eq!(
        cat.stats().unwrap(),
        CatalogStats {
            files: 2,
            chunks: 3,
            symbols: 2
        }
    );
}

#[test]
fn a_failed_replace_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::create(&dir.path().join("catalog.duckdb"), Metrics::noop()).unwrap();
    cat.replace_file(&file("a.rs", "h1"), &[chunk("a1", "a.rs", 1, None)], &[])
        .unwrap();
    // Two chunks with one id: the primary key rejects the insert, and the
    // deletion of a.rs's old rows is rolled back with it.
    let dup = vec![chunk("x", "a.rs", 1, None), chunk("x", "a.rs", 5, None)];
    let err = cat
        .replace_file(&file("a.rs", "h2"), &dup, &[])
        .unwrap_err();
    assert!(err.to_string().contains("catalog.duckdb"), "{err}");
    assert_eq!(cat.files().unwrap()["a.rs"].hash, "h1");
    assert_eq!(
        cat.chunks_for_path("a.rs").unwrap(),
        vec![chunk("a1", "a.rs", 1, None)]
    );
}

#[test]
fn chunks_by_ids_keeps_the_order_given_and_skips_unknown_ids() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::create(&dir.path().join("catalog.duckdb"), Metrics::noop()).unwrap();
    let chunks: Vec<_> = (0..1200)
        .map(|i| chunk(&format!("c{i:04}"), "big.rs", i + 1, None))
        .collect();
    cat.replace_file(&file("big.rs", "h"), &chunks, &[])
        .unwrap();

    let ids: Vec<String> = ["c0042", "nope", "c0001", "c0999", "c0042", "c0500"]
        .map(String::from)
        .to_vec();
    let got: Vec<String> = cat
        .chunks_by_ids(&ids)
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(got, ["c0042", "c0001", "c0999", "c0500"]);

    // More ids than one IN batch, in reverse order.
    let many: Vec<String> = (0..1200).rev().map(|i| format!("c{i:04}")).collect();
    let got = cat.chunks_by_ids(&many).unwrap();
    assert_eq!(got.len(), 1200);
    assert!(got.iter().zip(&many).all(|(c, id)| &c.id == id));
    assert!(cat.chunks_by_ids(&[]).unwrap().is_empty());
}

#[test]
fn delete_path_removes_file_chunks_and_symbols() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::create(&dir.path().join("catalog.duckdb"), Metrics::noop()).unwrap();
    cat.replace_file(
        &file("a.rs", "h"),
        &[chunk("a1", "a.rs", 1, None)],
        &[symbol("fa", "a.rs", 1)],
    )
    .unwrap();
    cat.replace_file(
        &file("b.rs", "h"),
        &[chunk("b1", "b.rs", 1, None)],
        &[symbol("fb", "b.rs", 1)],
    )
    .unwrap();
    cat.delete_path("a.rs").unwrap();
    cat.delete_path("never-indexed.rs").unwrap();
    assert!(!cat.files().unwrap().contains_key("a.rs"));
    assert!(cat.chunks_for_path("a.rs").unwrap().is_empty());
    assert!(cat.symbol_search("fa", 5).unwrap().is_empty());
    assert_eq!(
        cat.stats().unwrap(),
        CatalogStats {
            files: 1,
            chunks: 1,
            symbols: 1
        }
    );
    assert_eq!(
        sorted(cat.all_chunks().unwrap()),
        vec![chunk("b1", "b.rs", 1, None)]
    );
}

#[test]
fn symbol_search_ranks_exact_then_prefix_then_substring() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::create(&dir.path().join("catalog.duckdb"), Metrics::noop()).unwrap();
    let names = [
        "reparse_all",
        "parse_args",
        "Parse",
        "do_parse",
        "parser",
        "parse",
        "unrelated",
    ];
    let syms: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| symbol(n, "p.rs", i as u32 * 10 + 1))
        .collect();
    cat.replace_file(&file("p.rs", "h"), &[], &syms).unwrap();

    let got: Vec<String> = cat
        .symbol_search("parse", 10)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(
        got,
        [
            "parse",
            "Parse",
            "parser",
            "parse_args",
            "do_parse",
            "reparse_all"
        ]
    );
    // Case-insensitive: an upper-case pattern finds the same set, `Parse`
    // (same case) first.
    let got: Vec<String> = cat
        .symbol_search("PARSE", 3)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(got, ["Parse", "parse", "parser"]);
    let got: Vec<String> = cat
        .symbol_search("Parse", 2)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(got, ["Parse", "parse"]);
    assert!(cat.symbol_search("   ", 10).unwrap().is_empty());
    assert!(cat.symbol_search("parse", 0).unwrap().is_empty());
    // Pattern characters are data, not SQL LIKE wildcards.
    assert!(cat.symbol_search("%", 10).unwrap().is_empty());
    assert!(
        cat.symbol_search("_", 10)
            .unwrap()
            .iter()
            .all(|s| s.name.contains('_'))
    );
}

#[test]
fn eight_threads_read_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let cat =
        Arc::new(Catalog::create(&dir.path().join("catalog.duckdb"), Metrics::noop()).unwrap());
    for f in 0..20 {
        let path = format!("src/f{f}.rs");
        let chunks: Vec<_> = (0..10)
            .map(|c| chunk(&format!("f{f}c{c}"), &path, c * 10 + 1, None))
            .collect();
        cat.replace_file(
            &file(&path, "h"),
            &chunks,
            &[symbol(&format!("func_{f}"), &path, 1)],
        )
        .unwrap();
    }
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let cat = cat.clone();
            std::thread::spawn(move || {
                for round in 0..40 {
                    let f = (t * 7 + round) % 20;
                    let ids = vec![format!("f{f}c3"), format!("f{f}c1")];
                    let got = cat.chunks_by_ids(&ids).unwrap();
                    assert_eq!(got.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), ids);
                    let syms = cat.symbol_search(&format!("func_{f}"), 5).unwrap();
                    assert_eq!(syms[0].name, format!("func_{f}"));
                    assert_eq!(
                        cat.chunks_for_path(&format!("src/f{f}.rs")).unwrap().len(),
                        10
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(cat.stats().unwrap().chunks, 200);
}

/// The count of `codeintel_duckdb_execute_seconds_count` in a scrape.
fn duckdb_count(scrape: &str) -> f64 {
    scrape
        .lines()
        .find(|l| l.starts_with("codeintel_duckdb_execute_seconds_count"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn every_statement_is_timed_into_duckdb_execute_seconds() {
    let (provider, registry, metrics) =
        meter_provider_with_registry(opentelemetry_sdk::Resource::builder().build()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::create(&dir.path().join("catalog.duckdb"), metrics).unwrap();
    let after_create = duckdb_count(&registry.render());
    assert!(after_create > 0.0, "{}", registry.render());

    cat.replace_file(&file("a.rs", "h"), &[chunk("a1", "a.rs", 1, None)], &[])
        .unwrap();
    let after_write = duckdb_count(&registry.render());
    assert!(after_write > after_create);

    cat.chunks_by_ids(&["a1".into()]).unwrap();
    let after_read = duckdb_count(&registry.render());
    assert!(
        (after_read - after_write - 1.0).abs() < f64::EPSILON,
        "{after_write} -> {after_read}"
    );
    drop(provider);
}

#[test]
fn opening_what_is_not_a_catalog_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.duckdb");
    let err = Catalog::open(&missing, Metrics::noop()).unwrap_err();
    assert!(matches!(err, CatalogError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("nope.duckdb"), "{err}");
    assert!(err.to_string().contains("codeintel-server index"), "{err}");

    let garbage = dir.path().join("garbage.duckdb");
    std::fs::write(&garbage, b"this is not a database").unwrap();
    let err = Catalog::open(&garbage, Metrics::noop()).unwrap_err();
    assert!(err.to_string().contains("garbage.duckdb"), "{err}");
}

fn bulk_rows(
    files: usize,
    chunks_per_file: usize,
) -> (
    Vec<FileRecord>,
    Vec<Vec<ChunkRecord>>,
    Vec<Vec<SymbolRecord>>,
) {
    let text = "fn example(x: u32) -> u32 {\n    let y = x * 2;\n    y + 1\n}\n".repeat(4);
    let mut fs = Vec::with_capacity(files);
    let mut cs = Vec::with_capacity(files);
    let mut ss = Vec::with_capacity(files);
    for f in 0..files {
        let path = format!("src/mod{}/file{f}.rs", f % 97);
        fs.push(file(&path, &format!("{f:064x}")));
        cs.push(
            (0..chunks_per_file)
                .map(|c| ChunkRecord {
                    text: text.clone(),
                    ..chunk(
                        &format!("{f:06}-{c:03}"),
                        &path,
                        c as u32 * 20 + 1,
                        Some("example"),
                    )
                })
                .collect(),
        );
        ss.push(
            (0..chunks_per_file)
                .map(|c| symbol(&format!("example_{f}_{c}"), &path, c as u32 * 20 + 1))
                .collect(),
        );
    }
    (fs, cs, ss)
}

fn bulk_insert(
    cat: &Catalog,
    files: usize,
    chunks_per_file: usize,
    batch: usize,
) -> Result<f64, CatalogError> {
    let (fs, cs, ss) = bulk_rows(files, chunks_per_file);
    let start = Instant::now();
    for range in (0..files).collect::<Vec<_>>().chunks(batch) {
        let rows: Vec<FileRows<'_>> = range
            .iter()
            .map(|&i| FileRows {
                file: &fs[i],
                chunks: &cs[i],
                symbols: &ss[i],
            })
            .collect();
        cat.replace_files(&rows)?;
    }
    Ok(start.elapsed().as_secs_f64())
}

#[test]
fn bulk_replace_files_inserts_everything() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::create(&dir.path().join("catalog.duckdb"), Metrics::noop()).unwrap();
    let secs = bulk_insert(&cat, 1_000, 10, 250).unwrap();
    eprintln!(
        "bulk: 1000 files / 10000 chunks in {secs:.2}s ({:.0} chunks/s)",
        10_000.0 / secs
    );
    assert_eq!(
        cat.stats().unwrap(),
        CatalogStats {
            files: 1_000,
            chunks: 10_000,
            symbols: 10_000
        }
    );
    // Re-replacing the same files (the incremental path) leaves the counts.
    bulk_insert(&cat, 1_000, 10, 500).unwrap();
    assert_eq!(cat.stats().unwrap().chunks, 10_000);
}

/// Figures for the report (dev profile, DuckDB built at -O1):
/// `cargo test -p codeintel-server --test store_catalog -- --ignored --nocapture`.
#[test]
#[ignore = "timing figures, run explicitly"]
fn figures_bulk_insert_10k_files_100k_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::create(&dir.path().join("catalog.duckdb"), Metrics::noop()).unwrap();
    let secs = bulk_insert(&cat, 10_000, 10, 1_000).unwrap();
    eprintln!(
        "replace_files, batches of 1000 files: 10000 files / 100000 chunks / 100000 symbols in {secs:.2}s ({:.0} chunks/s)",
        100_000.0 / secs
    );
    assert_eq!(cat.stats().unwrap().chunks, 100_000);

    let dir2 = tempfile::tempdir().unwrap();
    let cat2 = Catalog::create(&dir2.path().join("catalog.duckdb"), Metrics::noop()).unwrap();
    let secs = bulk_insert(&cat2, 1_000, 10, 1).unwrap();
    eprintln!(
        "replace_file one file at a time: 1000 files / 10000 chunks in {secs:.2}s ({:.0} chunks/s)",
        10_000.0 / secs
    );

    let start = Instant::now();
    let all = cat.all_chunks().unwrap();
    eprintln!("all_chunks over 100000 chunks: {:?}", start.elapsed());
    assert_eq!(all.len(), 100_000);
    let ids: Vec<String> = all
        .iter()
        .step_by(9973)
        .take(10)
        .map(|c| c.id.clone())
        .collect();
    let start = Instant::now();
    for _ in 0..100 {
        cat.chunks_by_ids(&ids).unwrap();
    }
    eprintln!(
        "chunks_by_ids(10 ids) at 100k chunks: {:?}/call",
        start.elapsed() / 100
    );
    let start = Instant::now();
    for _ in 0..100 {
        cat.symbol_search("example_123", 10).unwrap();
    }
    eprintln!(
        "symbol_search at 100k symbols: {:?}/call",
        start.elapsed() / 100
    );
}
