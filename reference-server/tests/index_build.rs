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
    assert_eq!(
        texts_received(&server).await.len(),
        m.chunks,
        "each chunk embedded once"
    );

    // A new engine instance reopens the same contents from disk.
    let loaded = load_current(&data, &Metrics::noop()).unwrap().unwrap();
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
