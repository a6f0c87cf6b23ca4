//! Sparse store: a tantivy BM25 index over chunks, tokenized by a
//! code-aware tokenizer.
//!
//! The tokenizer is [`crate::text::code_tokens`] (the identifier whole,
//! then its `snake_case` / `kebab-case` / `camelCase` / digit parts; paths
//! split into components), registered in tantivy as [`CODE_TOKENIZER`]:
//! `parseHTTPRequest` → `parsehttprequest`, `parse`, `http`, `request`.
//!
//! Queries are never parsed with tantivy's query language: they go through
//! the same tokenizer and become a boolean OR of term queries over the
//! `symbol`, `path` and `text` fields, each with its boost (BM25 scores,
//! tantivy's default similarity).
//!
//! An index is built once into a directory (a published index version is
//! immutable) and read through an `IndexReader`, which is `Sync`: concurrent
//! searches need no lock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tantivy::collector::TopDocs;
use tantivy::columnar::StrColumn;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

/// Name under which the code tokenizer is registered on every index.
pub const CODE_TOKENIZER: &str = "codeintel_code";
/// Version of the tokenizer's behaviour ([`crate::text::code_tokens`]),
/// recorded next to the index: an index built by another version is refused
/// at open (terms would not match), asking for a rebuild.
pub const TOKENIZER_VERSION: u32 = 1;
/// Score multiplier of matches in the chunk's symbol name.
pub const SYMBOL_BOOST: f32 = 3.0;
/// Score multiplier of matches in the chunk's file path.
pub const PATH_BOOST: f32 = 1.5;
/// Score multiplier of matches in the chunk's text.
pub const TEXT_BOOST: f32 = 1.0;

const MARKER_FILE: &str = "codeintel-sparse.json";
const WRITER_THREADS_MAX: usize = 4;
const WRITER_BUDGET_PER_THREAD: usize = 48 * 1024 * 1024;

// ---------------------------------------------------------------------------
// Tokenizer (pure)

pub use crate::text::{MAX_TOKEN_BYTES, Token as CodeToken, code_token_spans, code_tokens};

/// The code tokenizer as a tantivy [`Tokenizer`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CodeTokenizer;

/// Token stream of [`CodeTokenizer`] (tokens computed up front).
#[derive(Debug)]
pub struct CodeTokenStream {
    /// Remaining tokens, in reverse order (popped from the end).
    pending: Vec<Token>,
    current: Token,
}

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream {
        let mut pending: Vec<Token> = code_token_spans(text)
            .into_iter()
            .enumerate()
            .map(|(position, t)| Token {
                offset_from: t.from,
                offset_to: t.to,
                position,
                text: t.text,
                position_length: 1,
            })
            .collect();
        pending.reverse();
        CodeTokenStream {
            pending,
            current: Token::default(),
        }
    }
}

impl TokenStream for CodeTokenStream {
    fn advance(&mut self) -> bool {
        if let Some(t) = self.pending.pop() {
            self.current = t;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

// ---------------------------------------------------------------------------
// Index

/// One chunk as the sparse index sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseDoc {
    pub id: String,
    pub path: String,
    pub symbol: Option<String>,
    pub text: String,
}

/// Errors of the sparse store.
#[derive(Debug, thiserror::Error)]
pub enum SparseError {
    #[error("sparse index {}: no index there (missing meta.json); re-run `codeintel-server index`", dir.display())]
    Missing { dir: PathBuf },
    #[error(
        "sparse index {}: the directory already holds files; build into a fresh (empty) version directory",
        dir.display()
    )]
    NotEmpty { dir: PathBuf },
    #[error("sparse index {}: cannot {op}: {source}; check the path and its permissions", dir.display())]
    Io {
        dir: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("sparse index {}: tantivy failed to {op}: {source}; re-run `codeintel-server index` if the index is damaged", dir.display())]
    Tantivy {
        dir: PathBuf,
        op: &'static str,
        #[source]
        source: tantivy::TantivyError,
    },
    #[error("sparse index {}: {reason}; re-run `codeintel-server index` to rebuild it", dir.display())]
    Incompatible { dir: PathBuf, reason: String },
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    path: Field,
    symbol: Field,
    text: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let code = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(CODE_TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    // Nothing is stored: the chunk id is a fast (columnar) field read per
    // hit without touching the document store, and the text lives once, in
    // the catalog.
    let id = builder.add_text_field("id", STRING | FAST);
    let path = builder.add_text_field("path", code.clone());
    let symbol = builder.add_text_field("symbol", code.clone());
    let text = builder.add_text_field("text", code);
    (
        builder.build(),
        Fields {
            id,
            path,
            symbol,
            text,
        },
    )
}

fn sparse_document(fields: Fields, d: &SparseDoc) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_text(fields.id, &d.id);
    doc.add_text(fields.path, &d.path);
    if let Some(symbol) = &d.symbol {
        doc.add_text(fields.symbol, symbol);
    }
    doc.add_text(fields.text, &d.text);
    doc
}

/// What a new version's sparse index took from the previous one: what
/// [`SparseIndex::update`] did, or [`SparseDiff::rebuilt`] for an index
/// built from scratch (the counterpart of the dense store's `DenseDiff`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SparseDiff {
    pub added: usize,
    /// Ids whose documents were deleted (an id not in the index deletes
    /// nothing but is counted).
    pub removed: usize,
    /// Files of the previous index shared by hard link (not copied).
    pub files_linked: usize,
    /// Whether the index was built from scratch rather than from the
    /// previous version's segments.
    pub rebuilt: bool,
}

impl SparseDiff {
    /// An index built from scratch with `added` documents.
    pub fn rebuilt(added: usize) -> Self {
        Self {
            added,
            removed: 0,
            files_linked: 0,
            rebuilt: true,
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Marker {
    tokenizer_version: u32,
    docs: u64,
}

/// A BM25 index over chunks in a directory. `Send + Sync`.
pub struct SparseIndex {
    dir: PathBuf,
    reader: IndexReader,
    fields: Fields,
    /// The `id` fast-field column of each segment, by segment ordinal (the
    /// reader never reloads: a published index is immutable).
    id_columns: Vec<StrColumn>,
}

impl std::fmt::Debug for SparseIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseIndex")
            .field("dir", &self.dir)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// Creates `dir` (and its parents) if missing and refuses it unless it is
/// empty: an index is only ever written into a fresh folder.
fn create_empty_dir(dir: &Path) -> Result<(), SparseError> {
    let io = |op: &'static str| {
        let dir = dir.to_path_buf();
        move |source: std::io::Error| SparseError::Io { dir, op, source }
    };
    std::fs::create_dir_all(dir).map_err(io("create the directory"))?;
    if std::fs::read_dir(dir)
        .map_err(io("list the directory"))?
        .next()
        .is_some()
    {
        return Err(SparseError::NotEmpty {
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

impl SparseIndex {
    /// Builds an index of `docs` in `dir` (created if missing; must be
    /// empty), commits it and opens it for search.
    pub fn build(
        dir: &Path,
        docs: impl IntoIterator<Item = SparseDoc>,
    ) -> Result<SparseIndex, SparseError> {
        create_empty_dir(dir)?;
        let io = |op: &'static str| {
            let dir = dir.to_path_buf();
            move |source: std::io::Error| SparseError::Io { dir, op, source }
        };
        let tv = |op: &'static str| {
            let dir = dir.to_path_buf();
            move |source: tantivy::TantivyError| SparseError::Tantivy { dir, op, source }
        };
        let (schema, fields) = schema();
        let index = Index::create_in_dir(dir, schema).map_err(tv("create the index"))?;
        index.tokenizers().register(CODE_TOKENIZER, CodeTokenizer);
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, WRITER_THREADS_MAX);
        let mut writer: tantivy::IndexWriter = index
            .writer_with_num_threads(threads, threads * WRITER_BUDGET_PER_THREAD)
            .map_err(tv("open an index writer"))?;
        let mut count: u64 = 0;
        for d in docs {
            writer
                .add_document(sparse_document(fields, &d))
                .map_err(tv("add a document"))?;
            count += 1;
        }
        writer.commit().map_err(tv("commit"))?;
        writer
            .wait_merging_threads()
            .map_err(tv("finish merging segments"))?;
        let marker = Marker {
            tokenizer_version: TOKENIZER_VERSION,
            docs: count,
        };
        let json = serde_json::to_vec(&marker).map_err(|e| SparseError::Incompatible {
            dir: dir.to_path_buf(),
            reason: format!("cannot serialise {MARKER_FILE}: {e}"),
        })?;
        std::fs::write(dir.join(MARKER_FILE), json).map_err(io("write the marker file"))?;
        Self::from_index(dir, &index, fields)
    }

    /// Builds the index of a new version in `dir` (created if missing; must
    /// be empty) from the previous version's index in `prev`, without
    /// re-indexing what did not change: the previous segment files are
    /// hard-linked (tantivy never modifies a segment file; it writes new
    /// ones and deletes unreferenced ones, which only unlinks this
    /// version's name), `meta.json` and the marker are copied, then the
    /// documents of `remove` are deleted by id and `add` appended in one
    /// commit. Falls back to copying a file when hard links are refused
    /// (another filesystem). Fails like [`SparseIndex::open`] if `prev` is
    /// not an index this server can read (callers then rebuild).
    pub fn update(
        prev: &Path,
        dir: &Path,
        remove: &[String],
        add: impl IntoIterator<Item = SparseDoc>,
    ) -> Result<(SparseIndex, SparseDiff), SparseError> {
        // Refuses an old tokenizer or schema before anything is linked.
        drop(Self::open(prev)?);
        create_empty_dir(dir)?;
        let io = |op: &'static str| {
            let dir = dir.to_path_buf();
            move |source: std::io::Error| SparseError::Io { dir, op, source }
        };
        let mut linked = 0_usize;
        for entry in std::fs::read_dir(prev).map_err(io("list the previous index"))? {
            let entry = entry.map_err(io("list the previous index"))?;
            let name = entry.file_name();
            let name_str = name.to_string_lossy();
            if name_str.starts_with(".tantivy-") && name_str.ends_with(".lock") {
                continue;
            }
            let from = entry.path();
            let to = dir.join(&name);
            let mutable =
                name_str == "meta.json" || name_str == ".managed.json" || name_str == MARKER_FILE;
            if mutable || std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).map_err(io("copy a file of the previous index"))?;
            } else {
                linked += 1;
            }
        }
        let tv = |op: &'static str| {
            let dir = dir.to_path_buf();
            move |source: tantivy::TantivyError| SparseError::Tantivy { dir, op, source }
        };
        let index = Index::open_in_dir(dir).map_err(tv("open the linked index"))?;
        index.tokenizers().register(CODE_TOKENIZER, CodeTokenizer);
        let (_, fields) = schema();
        let mut writer: tantivy::IndexWriter = index
            .writer_with_num_threads(1, WRITER_BUDGET_PER_THREAD)
            .map_err(tv("open an index writer"))?;
        for id in remove {
            writer.delete_term(Term::from_field_text(fields.id, id));
        }
        let mut added = 0_usize;
        for d in add {
            writer
                .add_document(sparse_document(fields, &d))
                .map_err(tv("add a document"))?;
            added += 1;
        }
        writer.commit().map_err(tv("commit"))?;
        writer
            .wait_merging_threads()
            .map_err(tv("finish merging segments"))?;
        let opened = Self::from_index(dir, &index, fields)?;
        let marker = Marker {
            tokenizer_version: TOKENIZER_VERSION,
            docs: opened.len() as u64,
        };
        let json = serde_json::to_vec(&marker).map_err(|e| SparseError::Incompatible {
            dir: dir.to_path_buf(),
            reason: format!("cannot serialise {MARKER_FILE}: {e}"),
        })?;
        std::fs::write(dir.join(MARKER_FILE), json).map_err(io("write the marker file"))?;
        Ok((
            opened,
            SparseDiff {
                added,
                removed: remove.len(),
                files_linked: linked,
                rebuilt: false,
            },
        ))
    }

    /// Opens an index built by [`SparseIndex::build`].
    pub fn open(dir: &Path) -> Result<SparseIndex, SparseError> {
        if !dir.join("meta.json").is_file() {
            return Err(SparseError::Missing {
                dir: dir.to_path_buf(),
            });
        }
        let marker_path = dir.join(MARKER_FILE);
        let marker: Marker = std::fs::read(&marker_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| SparseError::Incompatible {
                dir: dir.to_path_buf(),
                reason: format!("{MARKER_FILE} is missing or unreadable"),
            })?;
        if marker.tokenizer_version != TOKENIZER_VERSION {
            return Err(SparseError::Incompatible {
                dir: dir.to_path_buf(),
                reason: format!(
                    "built with tokenizer version {}, this server uses version {TOKENIZER_VERSION}",
                    marker.tokenizer_version
                ),
            });
        }
        let index = Index::open_in_dir(dir).map_err(|source| SparseError::Tantivy {
            dir: dir.to_path_buf(),
            op: "open the index",
            source,
        })?;
        index.tokenizers().register(CODE_TOKENIZER, CodeTokenizer);
        let (expected, fields) = schema();
        if index.schema() != expected {
            return Err(SparseError::Incompatible {
                dir: dir.to_path_buf(),
                reason: "its schema differs from this server's (fast id; indexed path, symbol, \
                         text; nothing stored): built by an older version"
                    .to_owned(),
            });
        }
        Self::from_index(dir, &index, fields)
    }

    fn from_index(dir: &Path, index: &Index, fields: Fields) -> Result<SparseIndex, SparseError> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|source| SparseError::Tantivy {
                dir: dir.to_path_buf(),
                op: "open a reader",
                source,
            })?;
        let searcher = reader.searcher();
        let mut id_columns = Vec::with_capacity(searcher.segment_readers().len());
        for segment in searcher.segment_readers() {
            let column = segment
                .fast_fields()
                .str("id")
                .map_err(|source| SparseError::Tantivy {
                    dir: dir.to_path_buf(),
                    op: "open the id column",
                    source,
                })?
                .ok_or_else(|| SparseError::Incompatible {
                    dir: dir.to_path_buf(),
                    reason: "a segment has no `id` fast field".to_owned(),
                })?;
            id_columns.push(column);
        }
        Ok(SparseIndex {
            dir: dir.to_path_buf(),
            reader,
            fields,
            id_columns,
        })
    }

    /// Number of documents (chunks).
    pub fn len(&self) -> usize {
        usize::try_from(self.reader.searcher().num_docs()).unwrap_or(usize::MAX)
    }

    /// True when no chunk is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The directory the index lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Top `k` chunk ids for a free-text query, best first (BM25 score).
    /// The query is tokenized with [`code_tokens`]; a query without tokens
    /// (or `k == 0`) gives no hits.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<(String, f32)>, SparseError> {
        self.search_weighted(&count_terms(code_tokens(query)), k)
    }

    /// Top `k` chunk ids for a bag of terms (e.g. an expanded query); each
    /// term goes through [`code_tokens`] first, so raw identifiers work.
    pub fn search_terms(
        &self,
        terms: &[String],
        k: usize,
    ) -> Result<Vec<(String, f32)>, SparseError> {
        self.search_weighted(&count_terms(terms.iter().flat_map(|t| code_tokens(t))), k)
    }

    /// Top `k` chunk ids for already-tokenized terms with weights (RM3
    /// expansion weights); terms are used as given (they must be
    /// [`code_tokens`] output to match), non-positive weights are skipped.
    pub fn search_weighted(
        &self,
        terms: &[(String, f32)],
        k: usize,
    ) -> Result<Vec<(String, f32)>, SparseError> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (term, weight) in terms {
            if term.is_empty() || !(weight.is_finite() && *weight > 0.0) {
                continue;
            }
            for (field, boost) in [
                (self.fields.symbol, SYMBOL_BOOST),
                (self.fields.path, PATH_BOOST),
                (self.fields.text, TEXT_BOOST),
            ] {
                let q = TermQuery::new(
                    Term::from_field_text(field, term),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(q), boost * weight)),
                ));
            }
        }
        if clauses.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(&query, &TopDocs::with_limit(k).order_by_score())
            .map_err(|source| self.tantivy_err("search", source))?;
        let mut hits = Vec::with_capacity(top.len());
        let mut id = String::new();
        for (score, addr) in top {
            let Some(column) = self.id_columns.get(addr.segment_ord as usize) else {
                continue;
            };
            let Some(ord) = column.term_ords(addr.doc_id).next() else {
                continue;
            };
            id.clear();
            let found = column
                .ord_to_str(ord, &mut id)
                .map_err(|e| self.tantivy_err("read a chunk id", tantivy::TantivyError::from(e)))?;
            if found {
                hits.push((id.clone(), score));
            }
        }
        // Deterministic order for equal scores, whatever the segment layout.
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(hits)
    }

    fn tantivy_err(&self, op: &'static str, source: tantivy::TantivyError) -> SparseError {
        SparseError::Tantivy {
            dir: self.dir.clone(),
            op,
            source,
        }
    }
}

/// Unique terms with their number of occurrences as weight, in first-seen
/// order.
fn count_terms(terms: impl IntoIterator<Item = String>) -> Vec<(String, f32)> {
    let mut out: Vec<(String, f32)> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in terms {
        if let Some(&i) = seen.get(&t) {
            if let Some(entry) = out.get_mut(i) {
                entry.1 += 1.0;
            }
        } else {
            seen.insert(t.clone(), out.len());
            out.push((t, 1.0));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SparseIndex>();
    }

    #[test]
    fn create_empty_dir_creates_accepts_empty_and_refuses_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let nested = tmp.path().join("a/b");
        create_empty_dir(&nested).unwrap();
        assert!(nested.is_dir());
        // An existing empty folder is fine.
        create_empty_dir(&nested).unwrap();
        std::fs::write(nested.join("stray"), "x").unwrap();
        let err = create_empty_dir(&nested).unwrap_err();
        assert!(matches!(err, SparseError::NotEmpty { .. }), "{err}");
        assert!(err.to_string().contains("a/b"), "{err}");
        // A file where the folder should be: an I/O error naming it.
        let file = tmp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = create_empty_dir(&file).unwrap_err();
        assert!(matches!(err, SparseError::Io { .. }), "{err}");
    }

    #[test]
    fn update_refuses_a_non_empty_target() {
        let tmp = tempfile::tempdir().unwrap();
        let prev = tmp.path().join("prev");
        let doc = SparseDoc {
            id: "c1".into(),
            path: "a.py".into(),
            symbol: None,
            text: "def parse(): pass".into(),
        };
        drop(SparseIndex::build(&prev, [doc]).unwrap());
        let next = tmp.path().join("next");
        std::fs::create_dir(&next).unwrap();
        std::fs::write(next.join("stray"), "x").unwrap();
        let err = SparseIndex::update(&prev, &next, &[], Vec::new()).unwrap_err();
        assert!(matches!(err, SparseError::NotEmpty { .. }), "{err}");
        // Nothing was linked into the refused folder.
        assert_eq!(std::fs::read_dir(&next).unwrap().count(), 1);
    }

    #[test]
    fn tantivy_stream_matches_the_pure_function() {
        let mut tokenizer = CodeTokenizer;
        let mut stream = tokenizer.token_stream("getUser id");
        let mut seen = Vec::new();
        while stream.advance() {
            seen.push((stream.token().text.clone(), stream.token().position));
        }
        assert_eq!(
            seen,
            [
                ("getuser".to_owned(), 0),
                ("get".to_owned(), 1),
                ("user".to_owned(), 2),
                ("id".to_owned(), 3)
            ]
        );
    }

    #[test]
    fn count_terms_weights_repeats() {
        let t = count_terms(["a", "b", "a"].map(str::to_owned));
        assert_eq!(t, [("a".to_owned(), 2.0), ("b".to_owned(), 1.0)]);
    }
}
