//! Index builds end to end on real files: the fixture repository through a
//! wiremock embeddings server into a DuckDB catalog, a FAISS index and a
//! tantivy index, reopened from disk; incremental re-indexing, rollback, a
//! build that dies mid-way, a dead embeddings server, and awkward files.
#![cfg(test)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod embed_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use codeintel_server::embed::stub::{FailingEmbedder, HashEmbedder};
use codeintel_server::embed::{EmbedError, Embedder, OpenAiEmbedder};
use codeintel_server::index::build::{self, BuildError, BuildOptions};
use codeintel_server::index::loaded::load_current;
use codeintel_server::index::publish::DataDir;
use codeintel_server::observability::metrics::Metrics;
use embed_support::{Echo, embeddings};
use wiremock::MockServer;

const DIM: usize = 32;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn sample_repo() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/repos/sample");
    copy_dir(&fixture, &repo);
    (tmp, repo)
}

async fn mock_server() -> MockServer {
    let server = MockServer::start().await;
    embeddings()
        .respond_with(Echo::new(DIM))
        .mount(&server)
        .await;
    server
}

fn openai(server: &MockServer) -> Arc<dyn Embedder> {
    let cfg = embed_support::config(&server.uri());
    Arc::new(OpenAiEmbedder::new(cfg, Metrics::noop()).unwrap())
}

/// Every text the mock received, across all requests so far.
async fn texts_received(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .flat_map(|r| {
            let body: serde_json::Value = r.body_json().unwrap();
            body["input"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn opts() -> BuildOptions {
    BuildOptions::default()
}

#[tokio::test]
async fn fixture_repo_builds_and_reopens_from_disk() {
    let (tmp, repo) = sample_repo();
    let server = mock_server().await;
    let data = DataDir::open(&tmp.path().join("data")).unwrap();
    let outcome = build::build(
        &repo,
        &data,
        Some(openai(&server)),
        &Metrics::noop(),
        &opts(),
    )
    .await
    .unwrap();
    let m = &outcome.manifest;
    // Counts of the fixture (see tests/snapshots/chunk_fixtures__sample_summary.snap).
    assert_eq!(m.files, 34, "{m:#?}");
    assert_eq!(m.chunks, 154);
    assert_eq!(m.symbols, 110);
    assert!(m.dense.present);
    assert_eq!(m.dense.vectors, m.chunks);
    assert_eq!(m.dense.dimension, Some(DIM));
    // A new engine instance reopens the same contents from disk.
    let loaded = load_current(&data, &Metrics::noop()).unwrap().unwrap();
    let unique: std::collections::HashSet<String> = loaded
        .catalog
        .all_chunks()
        .unwrap()
        .into_iter()
        .map(|c| c.text)
        .collect();
    assert!(
        unique.len() < m.chunks,
        "the fixture repeats a chunk's text"
    );
    assert_eq!(
        texts_received(&server).await.len(),
        unique.len(),
        "each distinct text embedded once (vectors are keyed by content)"
    );
    assert_eq!(m.stats.chunks_embedded, unique.len());
    assert_eq!(loaded.version, m.version);
    let stats = loaded.catalog.stats().unwrap();
    assert_eq!((stats.files, stats.chunks, stats.symbols), (34, 154, 110));
    assert_eq!(loaded.dense.as_ref().unwrap().len(), 154);
    assert_eq!(loaded.sparse.len(), 154);
    let hits = loaded.sparse.search("StockLedger reserve", 5).unwrap();
    let top = loaded.catalog.chunks_by_ids(&[hits[0].0.clone()]).unwrap();
    assert_eq!(top[0].path, "inventory/src/stock.rs");
}

#[tokio::test]
async fn incremental_reindex_embeds_only_what_changed_and_rolls_back() {
    let (tmp, repo) = sample_repo();
    let server = mock_server().await;
    let data = DataDir::open(&tmp.path().join("data")).unwrap();
    let emb = openai(&server);
    let v1 = build::build(&repo, &data, Some(emb.clone()), &Metrics::noop(), &opts())
        .await
        .unwrap();
    let first_texts = texts_received(&server).await.len();

    // Edit one file (append a function), delete another.
    let edited = repo.join("payments/currency.py");
    let mut text = std::fs::read_to_string(&edited).unwrap();
    text.push_str("\n\ndef round_to_cents(amount):\n    \"\"\"Round an amount to whole cents.\"\"\"\n    return round(amount, 2)\n");
    std::fs::write(&edited, &text).unwrap();
    std::fs::remove_file(repo.join("payments/fraud.py")).unwrap();

    let v2 = build::build(&repo, &data, Some(emb.clone()), &Metrics::noop(), &opts())
        .await
        .unwrap();
    assert_ne!(v1.manifest.version, v2.manifest.version);
    assert_eq!(v2.manifest.stats.files_changed, 1);
    assert_eq!(v2.manifest.stats.files_deleted, 1);
    let loaded = load_current(&data, &Metrics::noop()).unwrap().unwrap();
    let changed_chunks = loaded
        .catalog
        .chunks_for_path("payments/currency.py")
        .unwrap();
    let new_texts: Vec<String> = texts_received(&server).await[first_texts..].to_vec();
    assert!(!new_texts.is_empty());
    for t in &new_texts {
        assert!(
            changed_chunks.iter().any(|c| &c.text == t),
            "re-embedded a chunk that is not from the edited file: {t:?}"
        );
    }
    assert!(new_texts.iter().any(|t| t.contains("round_to_cents")));
    assert!(
        loaded
            .catalog
            .chunks_for_path("payments/fraud.py")
            .unwrap()
            .is_empty()
    );
    assert_eq!(loaded.dense.as_ref().unwrap().len(), loaded.manifest.chunks);
    drop(loaded);

    let lock = data.lock().unwrap();
    let back = data.rollback(&lock, None).unwrap();
    assert_eq!(back.name, v1.manifest.version);
    drop(lock);
    let loaded = load_current(&data, &Metrics::noop()).unwrap().unwrap();
    assert_eq!(loaded.manifest.chunks, v1.manifest.chunks);
    assert!(
        !loaded
            .catalog
            .chunks_for_path("payments/fraud.py")
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_build_that_dies_midway_leaves_the_previous_version_served() {
    let (tmp, repo) = sample_repo();
    let data = DataDir::open(&tmp.path().join("data")).unwrap();
    let ok: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(DIM));
    let v1 = build::build(&repo, &data, Some(ok), &Metrics::noop(), &opts())
        .await
        .unwrap();

    // Change every file so the next build must embed a lot, and fail hard
    // after the first call (not "unavailable": a broken server).
    for f in [
        "payments/currency.py",
        "auth/token/jwt.go",
        "web/src/cart/discount.ts",
    ] {
        let p = repo.join(f);
        let mut t = std::fs::read_to_string(&p).unwrap();
        t.push_str("\n// changed\n");
        std::fs::write(&p, t).unwrap();
    }
    let failing =
        FailingEmbedder::after_calls(0, Arc::new(HashEmbedder::new(DIM))).with_error(|_| {
            EmbedError::Malformed {
                url: "http://embed.test/v1/embeddings".into(),
                what: "missing data[0].embedding".into(),
            }
        });
    let mut small = opts();
    small.embed_slice = 2;
    let err = build::build(
        &repo,
        &data,
        Some(Arc::new(failing)),
        &Metrics::noop(),
        &small,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, BuildError::Embed { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("previous version is still served"), "{msg}");
    assert_eq!(
        data.current_name().unwrap().as_deref(),
        Some(v1.manifest.version.as_str())
    );
    assert_eq!(data.versions().unwrap().len(), 1);
    let loaded = load_current(&data, &Metrics::noop()).unwrap().unwrap();
    assert_eq!(loaded.version, v1.manifest.version);
}

#[tokio::test]
async fn without_embeddings_the_sparse_part_is_built_and_the_next_run_fills_dense() {
    let (tmp, repo) = sample_repo();
    let data = DataDir::open(&tmp.path().join("data")).unwrap();
    // Nothing listens on this port: connection refused, "unavailable".
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let down: Arc<dyn Embedder> =
        Arc::new(OpenAiEmbedder::new(embed_support::config(&url), Metrics::noop()).unwrap());
    let v1 = build::build(&repo, &data, Some(down), &Metrics::noop(), &opts())
        .await
        .unwrap();
    assert!(!v1.manifest.dense.present);
    let reason = v1.manifest.dense.reason.clone().unwrap();
    assert!(reason.contains(&url), "the reason names the URL: {reason}");
    assert!(build::summary(&v1).contains("dense: MISSING"));
    let loaded = load_current(&data, &Metrics::noop()).unwrap().unwrap();
    assert!(loaded.dense.is_none());
    assert_eq!(loaded.sparse.len(), v1.manifest.chunks);
    drop(loaded);

    let server = mock_server().await;
    let v2 = build::build(
        &repo,
        &data,
        Some(openai(&server)),
        &Metrics::noop(),
        &opts(),
    )
    .await
    .unwrap();
    assert!(v2.manifest.dense.present);
    assert_eq!(v2.manifest.dense.vectors, v2.manifest.chunks);
    assert_eq!(
        v2.manifest.stats.files_changed, 0,
        "no file changed, only dense was missing"
    );
}

#[tokio::test]
async fn awkward_files_are_reported_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("ok.py"), "def fine():\n    return 1\n").unwrap();
    std::fs::write(repo.join("blob.bin"), [0u8, 1, 2, 0, 255]).unwrap();
    std::fs::write(repo.join("latin1.txt"), [0x63, 0x61, 0x66, 0xe9, b'\n']).unwrap();
    let outside = tmp.path().join("secret.txt");
    std::fs::write(&outside, "do not index\n").unwrap();
    std::os::unix::fs::symlink(&outside, repo.join("link.txt")).unwrap();
    let data = DataDir::open(&tmp.path().join("data")).unwrap();
    let out = build::build(&repo, &data, None, &Metrics::noop(), &opts())
        .await
        .unwrap();
    let s = &out.manifest.stats;
    assert_eq!(out.manifest.files, 1, "{s:#?}");
    assert_eq!(s.skipped_by_reason.get("binary"), Some(&1), "{s:#?}");
    assert_eq!(s.skipped_by_reason.get("not_utf8"), Some(&1), "{s:#?}");
    assert_eq!(
        s.skipped_by_reason.get("symlink_outside_repo"),
        Some(&1),
        "{s:#?}"
    );
    let loaded = load_current(&data, &Metrics::noop()).unwrap().unwrap();
    let all = loaded.catalog.all_chunks().unwrap();
    assert!(all.iter().all(|c| !c.text.contains("do not index")));

    // An empty repository builds an empty version.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let data2 = DataDir::open(&tmp.path().join("data2")).unwrap();
    let out = build::build(&empty, &data2, None, &Metrics::noop(), &opts())
        .await
        .unwrap();
    assert_eq!(out.manifest.chunks, 0);

    // A repository that does not exist is an error naming it.
    let missing = tmp.path().join("no-such-repo");
    let err = build::build(&missing, &data2, None, &Metrics::noop(), &opts())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no-such-repo"), "{err}");
}

#[tokio::test]
async fn a_second_concurrent_build_fails_clearly() {
    let (tmp, repo) = sample_repo();
    let data = DataDir::open(&tmp.path().join("data")).unwrap();
    let _held = data.lock().unwrap();
    let err = build::build(&repo, &data, None, &Metrics::noop(), &opts())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("another `codeintel-server index` is running"),
        "{err}"
    );
}

/// Chunk texts of the current version, by id.
fn chunk_texts(data: &DataDir) -> std::collections::HashMap<String, (String, u32)> {
    let loaded = load_current(data, &Metrics::noop()).unwrap().unwrap();
    loaded
        .catalog
        .all_chunks()
        .unwrap()
        .into_iter()
        .map(|c| (c.id, (c.text, c.start_line)))
        .collect()
}

fn linked_files(dir: &Path) -> usize {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().metadata().unwrap().nlink() > 1)
        .count()
}

#[tokio::test]
async fn a_one_line_edit_embeds_one_chunk_and_updates_both_indexes_in_place() {
    let (tmp, repo) = sample_repo();
    let server = mock_server().await;
    let data = DataDir::open(&tmp.path().join("data")).unwrap();
    let emb = openai(&server);
    let v1 = build::build(&repo, &data, Some(emb.clone()), &Metrics::noop(), &opts())
        .await
        .unwrap();
    assert!(v1.manifest.stats.dense_rebuilt && v1.manifest.stats.sparse_rebuilt);
    let before = chunk_texts(&data);
    let requests_before = server.received_requests().await.unwrap().len();
    let texts_before = texts_received(&server).await.len();

    // One line of one function.
    let edited = repo.join("payments/currency.py");
    let text = std::fs::read_to_string(&edited).unwrap();
    let new = text.replace(
        "symbol = SYMBOLS.get(currency, currency + \" \")",
        "symbol = SYMBOLS.get(currency, currency)",
    );
    assert_ne!(text, new);
    std::fs::write(&edited, new).unwrap();
    let v2 = build::build(&repo, &data, Some(emb.clone()), &Metrics::noop(), &opts())
        .await
        .unwrap();
    let after = chunk_texts(&data);
    let old_texts: std::collections::HashSet<&String> = before.values().map(|(t, _)| t).collect();
    let fresh: Vec<&String> = after
        .values()
        .map(|(t, _)| t)
        .filter(|t| !old_texts.contains(t))
        .collect();
    assert_eq!(fresh.len(), 1, "the edit changes one chunk: {fresh:?}");
    assert!(fresh[0].contains("def format_amount"));
    let sent = texts_received(&server).await[texts_before..].to_vec();
    assert_eq!(
        sent,
        vec![fresh[0].clone()],
        "only the edited chunk's text is embedded"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        requests_before + 1,
        "one embeddings request"
    );
    let s = &v2.manifest.stats;
    assert_eq!(s.files_changed, 1, "{s:#?}");
    assert_eq!((s.chunks_embedded, s.embed_calls), (1, 1), "{s:#?}");
    assert_eq!((s.dense_added, s.dense_removed), (1, 1), "{s:#?}");
    assert_eq!((s.sparse_added, s.sparse_removed), (1, 1), "{s:#?}");
    assert!(
        !s.dense_rebuilt,
        "FAISS updated in place, not rebuilt: {s:#?}"
    );
    assert!(
        !s.sparse_rebuilt,
        "tantivy updated in place, not rebuilt: {s:#?}"
    );
    let v2_sparse = v2.version.dir.join("sparse");
    assert!(
        linked_files(&v2_sparse) > 0,
        "the previous tantivy segments are shared by hard link"
    );
    let loaded = load_current(&data, &Metrics::noop()).unwrap().unwrap();
    assert_eq!(loaded.manifest.chunks, v1.manifest.chunks);
    assert_eq!(loaded.dense.as_ref().unwrap().len(), loaded.manifest.chunks);
    assert_eq!(loaded.dense.as_ref().unwrap().tombstones(), 1);
    assert_eq!(loaded.sparse.len(), loaded.manifest.chunks);
    let hits = loaded.sparse.search("format_amount", 3).unwrap();
    let top = loaded.catalog.chunks_by_ids(&[hits[0].0.clone()]).unwrap();
    assert!(
        top[0].text.contains("currency)"),
        "the new text is searchable"
    );
    drop(loaded);

    // A line inserted at the top of a file moves every chunk of it but
    // re-embeds only the chunk that holds the new line.
    let moved = repo.join("payments/fraud.py");
    let text = std::fs::read_to_string(&moved).unwrap();
    std::fs::write(&moved, format!("# Fraud checks.\n{text}")).unwrap();
    let texts_before = texts_received(&server).await.len();
    let v3 = build::build(&repo, &data, Some(emb.clone()), &Metrics::noop(), &opts())
        .await
        .unwrap();
    let after3 = chunk_texts(&data);
    let old_texts: std::collections::HashSet<&String> = after.values().map(|(t, _)| t).collect();
    let fresh: Vec<String> = after3
        .values()
        .map(|(t, _)| t)
        .filter(|t| !old_texts.contains(t))
        .cloned()
        .collect();
    let sent = texts_received(&server).await[texts_before..].to_vec();
    assert_eq!(sent, fresh, "only the top chunk is embedded again");
    let moved_ids = after3
        .iter()
        .filter(|(id, (_, line))| after.get(*id).is_some_and(|(_, old)| old != line))
        .count();
    assert!(
        moved_ids >= 2,
        "chunks moved and kept their ids: {moved_ids}"
    );
    let s = &v3.manifest.stats;
    assert_eq!(s.dense_added, fresh.len(), "{s:#?}");
    assert!(!s.dense_rebuilt && !s.sparse_rebuilt, "{s:#?}");
}

#[tokio::test]
async fn an_embedder_outage_keeps_known_vectors_and_the_next_build_finishes() {
    let (tmp, repo) = sample_repo();
    let server = mock_server().await;
    let data = DataDir::open(&tmp.path().join("data")).unwrap();
    let v1 = build::build(
        &repo,
        &data,
        Some(openai(&server)),
        &Metrics::noop(),
        &opts(),
    )
    .await
    .unwrap();
    let edited = repo.join("payments/currency.py");
    let mut text = std::fs::read_to_string(&edited).unwrap();
    text.push_str("\n\ndef round_to_cents(amount):\n    return round(amount, 2)\n");
    std::fs::write(&edited, &text).unwrap();

    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let cfg = embed_support::config(&url);
    let down: Arc<dyn Embedder> = Arc::new(OpenAiEmbedder::new(cfg, Metrics::noop()).unwrap());
    let v2 = build::build(&repo, &data, Some(down), &Metrics::noop(), &opts())
        .await
        .unwrap();
    let m = &v2.manifest;
    assert!(m.dense.present, "known vectors are published: {m:#?}");
    assert!(m.dense.unembedded >= 1, "{m:#?}");
    assert_eq!(m.dense.vectors + m.dense.unembedded, m.chunks, "{m:#?}");
    assert!(m.dense.vectors >= v1.manifest.dense.vectors - 2, "{m:#?}");
    assert_eq!(m.stats.chunks_unembedded, m.dense.unembedded);
    assert!(
        m.stats
            .unembedded
            .iter()
            .all(|u| u.path == "payments/currency.py" && u.reason.contains("unavailable")),
        "{:#?}",
        m.stats.unembedded
    );
    let summary = build::summary(&v2);
    assert!(summary.contains("not embedded"), "{summary}");

    let v3 = build::build(
        &repo,
        &data,
        Some(openai(&server)),
        &Metrics::noop(),
        &opts(),
    )
    .await
    .unwrap();
    let m3 = &v3.manifest;
    assert_eq!(m3.stats.files_changed, 0);
    assert_eq!(m3.stats.chunks_embedded, m.dense.unembedded, "{m3:#?}");
    assert_eq!((m3.dense.vectors, m3.dense.unembedded), (m3.chunks, 0));
    assert!(!m3.stats.dense_rebuilt, "{m3:#?}");
}

/// Refuses (HTTP 400) any batch holding a text with `REFUSE_ME`.
struct RefusingEmbedder(HashEmbedder);

impl Embedder for RefusingEmbedder {
    fn model(&self) -> &str {
        self.0.model()
    }
    fn client_name(&self) -> &'static str {
        "refusing"
    }
    fn dimension(&self) -> Option<usize> {
        self.0.dimension()
    }
    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> futures::future::BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        if texts.iter().any(|t| t.contains("REFUSE_ME")) {
            return Box::pin(async {
                Err(EmbedError::Status {
                    url: "http://embed.test/v1/embeddings".into(),
                    status: 400,
                    body_excerpt: "input too long".into(),
                })
            });
        }
        self.0.embed(texts)
    }
}

#[tokio::test]
async fn an_input_the_embedder_refuses_is_skipped_and_recorded() {
    let (tmp, repo) = sample_repo();
    std::fs::write(
        repo.join("payments/huge.py"),
        "def refused():\n    return 'REFUSE_ME'\n",
    )
    .unwrap();
    let data = DataDir::open(&tmp.path().join("data")).unwrap();
    let mut small = opts();
    small.embed_slice = 16;
    let out = build::build(
        &repo,
        &data,
        Some(Arc::new(RefusingEmbedder(HashEmbedder::new(DIM)))),
        &Metrics::noop(),
        &small,
    )
    .await
    .unwrap();
    let m = &out.manifest;
    assert!(m.dense.present);
    assert_eq!(m.stats.chunks_unembedded, 1, "{:#?}", m.stats);
    assert_eq!(m.dense.vectors, m.chunks - 1);
    let u = &m.stats.unembedded[0];
    assert_eq!(u.path, "payments/huge.py");
    assert!(u.reason.contains("400"), "{u:?}");
    assert!(
        m.stats.embed_calls > m.chunks.div_ceil(16),
        "the refused batch was split to find the input"
    );
}

#[tokio::test]
async fn a_previous_version_in_the_old_format_is_rebuilt_from_scratch() {
    let (tmp, repo) = sample_repo();
    let data = DataDir::open(&tmp.path().join("data")).unwrap();
    let emb: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(DIM));
    let v1 = build::build(&repo, &data, Some(emb.clone()), &Metrics::noop(), &opts())
        .await
        .unwrap();
    {
        let cat = codeintel_server::store::catalog::Catalog::open(
            &v1.version.dir.join("catalog.duckdb"),
            Metrics::noop(),
        )
        .unwrap();
        cat.set_meta("catalog.schema_version", "1").unwrap();
    }
    let v2 = build::build(&repo, &data, Some(emb), &Metrics::noop(), &opts())
        .await
        .unwrap();
    let s = &v2.manifest.stats;
    assert_eq!(s.files_changed, v1.manifest.files, "{s:#?}");
    assert!(s.dense_rebuilt && s.sparse_rebuilt, "{s:#?}");
    assert_eq!(v2.manifest.chunks, v1.manifest.chunks);
}

/// A `tracing` subscriber writing plain text into a shared buffer.
fn log_capture() -> (
    impl tracing::Subscriber + Send + Sync,
    Arc<std::sync::Mutex<Vec<u8>>>,
) {
    #[derive(Clone)]
    struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writer = Buf(buf.clone());
    let sub = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    (sub, buf)
}

#[tokio::test]
async fn a_corrupt_manifest_of_the_current_version_means_a_full_build_and_a_warning() {
    let (tmp, repo) = sample_repo();
    let data = DataDir::open(&tmp.path().join("data")).unwrap();
    let emb: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(DIM));
    let v1 = build::build(&repo, &data, Some(emb.clone()), &Metrics::noop(), &opts())
        .await
        .unwrap();
    let manifest = v1.version.dir.join("manifest.json");
    std::fs::write(&manifest, "{ torn").unwrap();

    let (sub, logs) = log_capture();
    let v2 = {
        let _guard = tracing::subscriber::set_default(sub);
        tracing::callsite::rebuild_interest_cache();
        build::build(&repo, &data, Some(emb), &Metrics::noop(), &opts())
            .await
            .expect("a corrupt current manifest must not fail the build")
    };
    let s = &v2.manifest.stats;
    // Nothing of the previous version was reused: every file is new.
    assert_eq!(s.files_changed, v1.manifest.files, "{s:#?}");
    assert_eq!(s.files_unchanged, 0, "{s:#?}");
    assert!(s.dense_rebuilt && s.sparse_rebuilt, "{s:#?}");
    assert_eq!(v2.manifest.parent, None);
    assert_eq!(v2.manifest.chunks, v1.manifest.chunks);
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let warning = logs
        .lines()
        .find(|l| l.contains("WARN") && l.contains("building from scratch"))
        .unwrap_or_else(|| panic!("no warning in {logs:?}"));
    assert!(
        warning.contains(&manifest.display().to_string()),
        "{warning}"
    );
    // The new version is served and readable.
    let loaded = load_current(&data, &Metrics::noop()).unwrap().unwrap();
    assert_eq!(loaded.version, v2.manifest.version);
}

#[tokio::test]
async fn skipped_folders_are_counted_apart_from_skipped_files() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    for (rel, body) in [
        ("src/app.py", &b"def app():\n    return 1\n"[..]),
        ("vendor/lib/a.py", b"def a():\n    pass\n"),
        ("vendor/lib/b.py", b"def b():\n    pass\n"),
        ("web/node_modules/x/index.js", b"module.exports = 1;\n"),
        ("target/debug/gen.rs", b"fn gen() {}\n"),
        ("pkg/target/out.rs", b"fn out() {}\n"),
        ("blob.bin", &[0u8, 1, 2, 0][..]),
    ] {
        let path = repo.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let data = DataDir::open(&tmp.path().join("data")).unwrap();
    let out = build::build(&repo, &data, None, &Metrics::noop(), &opts())
        .await
        .unwrap();
    let s = &out.manifest.stats;
    assert_eq!(out.manifest.files, 1, "{s:#?}");
    // The binary file is the only skipped *file*.
    assert_eq!(s.files_skipped, 1, "{s:#?}");
    assert_eq!(s.dirs_skipped, 4, "{s:#?}");
    assert_eq!(
        s.dirs_skipped_by_name.iter().collect::<Vec<_>>(),
        [
            (&"node_modules".to_owned(), &1),
            (&"target".to_owned(), &2),
            (&"vendor".to_owned(), &1)
        ]
    );
    let summary = build::summary(&out);
    assert!(
        summary.contains(
            "folders: 4 skipped, not descended into (node_modules 1, target 2, vendor 1)"
        ),
        "{summary}"
    );
    assert!(summary.contains("1 skipped\n"), "{summary}");
    // The manifest on disk keeps the counts.
    let on_disk = codeintel_server::index::publish::read_manifest(&out.version.dir).unwrap();
    assert_eq!(on_disk.stats.dirs_skipped, 4);
}
