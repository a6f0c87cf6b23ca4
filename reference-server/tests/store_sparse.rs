//! The tantivy sparse store on real index directories: the code tokenizer
//! as queries see it, identifier queries, query text that looks like query
//! syntax, reopening from disk, and RM3 feedback terms.

use std::sync::Arc;

use codeintel_server::store::sparse::{SparseDoc, SparseError, SparseIndex, code_tokens};

fn doc(id: &str, path: &str, symbol: Option<&str>, text: &str) -> SparseDoc {
    SparseDoc {
        id: id.to_owned(),
        path: path.to_owned(),
        symbol: symbol.map(str::to_owned),
        text: text.to_owned(),
    }
}

fn corpus() -> Vec<SparseDoc> {
    vec![
        doc(
            "def",
            "src/http/request.rs",
            Some("parseHTTPRequest"),
            "pub fn parseHTTPRequest(raw: &[u8]) -> Result<Request, Error> {\n    let head = split_head(raw)?;\n    Request::from_head(head)\n}",
        ),
        doc(
            "caller1",
            "src/server.rs",
            Some("handle_connection"),
            "fn handle_connection(stream: TcpStream) {\n    let req = parseHTTPRequest(&buf).unwrap();\n    // parse the request and route it\n    route(req)\n}",
        ),
        doc(
            "caller2",
            "src/proxy.rs",
            Some("forward"),
            "fn forward(buf: &[u8]) {\n    // parse http request, then forward the request upstream\n    let r = parseHTTPRequest(buf);\n    send(r)\n}",
        ),
        doc(
            "catalog",
            "src/store/catalog.rs",
            Some("Catalog"),
            "pub struct Catalog { path: PathBuf }\nimpl Catalog { pub fn open(path: &Path) -> Self { todo!() } }",
        ),
        doc(
            "readme",
            "README.md",
            None,
            "# codeintel\nIndex a repository and search it: dense embeddings plus BM25.",
        ),
        doc(
            "snake",
            "py/tokenize.py",
            Some("split_camel_case"),
            "def split_camel_case(word):\n    return re.findall('[A-Z][a-z]*', word)",
        ),
    ]
}

fn ids(hits: &[(String, f32)]) -> Vec<&str> {
    hits.iter().map(|(id, _)| id.as_str()).collect()
}

#[test]
fn tokenizer_splits_identifiers_and_keeps_them_whole() {
    assert_eq!(
        code_tokens("parseHTTPRequest"),
        ["parsehttprequest", "parse", "http", "request"]
    );
    assert_eq!(
        code_tokens("snake_case_name"),
        ["snake_case_name", "snake", "case", "name"]
    );
    assert_eq!(code_tokens("a/b.c"), ["a", "b", "c"]);
    assert_eq!(
        code_tokens("crate::store::Catalog"),
        ["crate", "store", "catalog"]
    );
    assert_eq!(
        code_tokens("base64Encode"),
        ["base64encode", "base", "64", "encode"]
    );
    assert_eq!(
        code_tokens("kebab-case-flag"),
        ["kebab-case-flag", "kebab", "case", "flag"]
    );
}

#[test]
fn an_identifier_query_finds_the_defining_chunk_first() {
    let dir = tempfile::tempdir().unwrap();
    let index = SparseIndex::build(dir.path(), corpus()).unwrap();
    assert_eq!(index.len(), 6);

    for query in ["parseHTTPRequest", "parse_http_request", "ParseHttpRequest"] {
        let hits = index.search(query, 5).unwrap();
        assert_eq!(hits[0].0, "def", "{query}: {hits:?}");
        assert!(
            ids(&hits).contains(&"caller1") && ids(&hits).contains(&"caller2"),
            "{query}: {hits:?}"
        );
        assert!(!ids(&hits).contains(&"readme"), "{query}: {hits:?}");
        assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1), "{hits:?}");
    }
    // A path component and a symbol.
    assert_eq!(index.search("catalog", 3).unwrap()[0].0, "catalog");
    assert_eq!(index.search("splitCamelCase", 3).unwrap()[0].0, "snake");
    // k bounds the result.
    assert_eq!(index.search("parse request", 2).unwrap().len(), 2);
}

#[test]
fn queries_without_tokens_and_query_syntax_are_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let index = SparseIndex::build(dir.path(), corpus()).unwrap();
    assert!(index.search("", 10).unwrap().is_empty());
    assert!(index.search("  +-*/ ()[]{} ", 10).unwrap().is_empty());
    assert!(index.search("catalog", 0).unwrap().is_empty());
    assert!(index.search_terms(&[], 10).unwrap().is_empty());
    // Would be a syntax error (or a field query) for tantivy's QueryParser.
    let hits = index
        .search("text:catalog AND (path:\"unterminated OR ^2 ~", 10)
        .unwrap();
    assert_eq!(hits[0].0, "catalog", "{hits:?}");
    assert!(index.search("zzzznotthere", 10).unwrap().is_empty());
}

#[test]
fn search_terms_and_weighted_terms_use_the_same_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let index = SparseIndex::build(dir.path(), corpus()).unwrap();
    let hits = index
        .search_terms(&["Catalog".to_owned(), "open".to_owned()], 3)
        .unwrap();
    assert_eq!(hits[0].0, "catalog");
    let by_terms = index
        .search_terms(&["parseHTTPRequest".to_owned()], 5)
        .unwrap();
    assert_eq!(by_terms, index.search("parseHTTPRequest", 5).unwrap());
    // A heavy weight on "bm25" (only the README has it) puts the README
    // above the chunks that match "request" in symbol, path and text.
    let weighted = index
        .search_weighted(&[("request".to_owned(), 1.0), ("bm25".to_owned(), 20.0)], 3)
        .unwrap();
    assert_eq!(weighted[0].0, "readme", "{weighted:?}");
    // Non-positive weights are ignored.
    assert!(
        index
            .search_weighted(&[("catalog".to_owned(), 0.0)], 3)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_index_stores_no_text_and_reads_ids_from_the_fast_field() {
    // The chunk text lives once, in the catalog: the document store holds
    // nothing, so the index on disk is smaller than the text it indexes.
    let dir = tempfile::tempdir().unwrap();
    let big = "lorem ipsum dolor sit amet consectetur adipiscing elit ".repeat(2_000);
    let docs = vec![SparseDoc {
        id: "big".to_owned(),
        path: "big.txt".to_owned(),
        symbol: None,
        text: big.clone(),
    }];
    let index = SparseIndex::build(dir.path(), docs).unwrap();
    let stores: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().extension().is_some_and(|x| x == "store"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(stores < 1_000, "document store holds {stores} bytes");
    assert_eq!(index.search("lorem", 5).unwrap()[0].0, "big");
}

#[test]
fn a_reopened_index_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse");
    let before = {
        let index = SparseIndex::build(&path, corpus()).unwrap();
        index.search("parse request catalog", 10).unwrap()
    };
    let index = SparseIndex::open(&path).unwrap();
    assert_eq!(index.len(), 6);
    assert_eq!(index.search("parse request catalog", 10).unwrap(), before);
    assert_eq!(index.dir(), path);

    // Concurrent searches share the reader without a lock.
    let index = Arc::new(index);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let index = index.clone();
            let before = before.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    assert_eq!(index.search("parse request catalog", 10).unwrap(), before);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn build_and_open_errors_name_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = SparseIndex::open(&dir.path().join("none")).unwrap_err();
    assert!(matches!(err, SparseError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("codeintel-server index"), "{err}");

    std::fs::write(dir.path().join("stray.txt"), "x").unwrap();
    let err = SparseIndex::build(dir.path(), corpus()).unwrap_err();
    assert!(matches!(err, SparseError::NotEmpty { .. }), "{err}");
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );

    // An empty corpus is a valid (empty) index.
    let empty = SparseIndex::build(&dir.path().join("empty"), Vec::new()).unwrap();
    assert!(empty.is_empty());
    assert!(empty.search("anything", 5).unwrap().is_empty());
}

/// Figures for the report (dev profile):
/// `cargo test -p codeintel-server --test store_sparse -- --ignored --nocapture`.
#[test]
#[ignore = "timing figures, run explicitly"]
fn figures_build_and_search_100k_chunks() {
    let words = [
        "parse", "request", "catalog", "index", "vector", "search", "token", "stream", "buffer",
        "config", "handler", "server", "client", "query", "result", "error", "cache", "store",
        "batch", "embed",
    ];
    let docs = (0..100_000usize).map(|i| {
        let w = |j: usize| words[(i * 31 + j * 17) % words.len()];
        let symbol = format!("{}_{}{}", w(0), w(1), i);
        let text = (0..40)
            .map(|j| format!("let {}{} = {}.{}();", w(j), j, w(j + 3), w(j + 5)))
            .collect::<Vec<_>>()
            .join("\n");
        doc(
            &format!("c{i:06}"),
            &format!("src/{}/{}.rs", w(2), w(4)),
            Some(&symbol),
            &text,
        )
    });
    let docs: Vec<SparseDoc> = docs.collect();
    let start = std::time::Instant::now();
    let tokens: usize = docs.iter().map(|d| code_tokens(&d.text).len()).sum();
    eprintln!(
        "code_tokens over 100k chunk texts: {:?} ({tokens} tokens)",
        start.elapsed()
    );
    let dir = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let index = SparseIndex::build(dir.path(), docs).unwrap();
    let build = start.elapsed();
    assert_eq!(index.len(), 100_000);
    let queries = [
        "parseRequest",
        "catalog index vector",
        "store_batch42",
        "how does the server handle errors",
    ];
    let start = std::time::Instant::now();
    for _ in 0..25 {
        for q in queries {
            assert!(!index.search(q, 50).unwrap().is_empty());
        }
    }
    let per_query = start.elapsed() / 100;
    let start = std::time::Instant::now();
    for _ in 0..25 {
        for q in queries {
            assert_eq!(index.search(q, 1).unwrap().len(), 1);
        }
    }
    let per_query_k1 = start.elapsed() / 100;
    eprintln!(
        "sparse 100k chunks: build {build:?}, search k=50 {per_query:?}/query, k=1 {per_query_k1:?}/query"
    );
}
