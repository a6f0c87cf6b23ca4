//! The FAISS dense store on real indexes: exact flat results, ANN recall
//! against flat, exact refine, save/load round trips through real files,
//! errors, concurrency, and the telemetry each search produces.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use codeintel_server::observability::metrics::Metrics;
use codeintel_server::observability::testing;
use codeintel_server::store::dense::{DenseError, DenseIndex, DenseKind, DenseOptions, normalize};

/// SplitMix64: deterministic test data without a `rand` dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    fn vectors(&mut self, n: usize, dim: usize) -> Vec<f32> {
        (0..n * dim).map(|_| self.next_f32()).collect()
    }
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("chunk-{i:05}")).collect()
}

fn recall(truth: &[(String, f32)], got: &[(String, f32)]) -> f64 {
    let truth: HashSet<&str> = truth.iter().map(|(id, _)| id.as_str()).collect();
    let hit = got
        .iter()
        .filter(|(id, _)| truth.contains(id.as_str()))
        .count();
    hit as f64 / truth.len() as f64
}

fn mean_recall(
    exact: &DenseIndex,
    ann: &DenseIndex,
    queries: &[f32],
    dim: usize,
    k: usize,
) -> Result<f64, DenseError> {
    let n = queries.len() / dim;
    let mut total = 0.0;
    for q in queries.chunks_exact(dim) {
        total += recall(&exact.search(q, k)?, &ann.search(q, k)?);
    }
    Ok(total / n as f64)
}

#[test]
fn flat_gives_exact_cosine_results_on_a_tiny_set() {
    let vectors = vec![
        1.0, 0.0, 0.0, 0.0, // a
        0.0, 2.0, 0.0, 0.0, // b (not unit length: normalised on build)
        1.0, 1.0, 0.0, 0.0, // c
        0.0, 0.0, 0.0, 5.0, // d
    ];
    let idx = DenseIndex::build(
        4,
        ["a", "b", "c", "d"].map(String::from).to_vec(),
        vectors,
        DenseKind::Flat,
        Metrics::noop(),
    )
    .unwrap();
    assert_eq!(idx.kind(), DenseKind::Flat);
    assert_eq!(idx.len(), 4);
    assert_eq!(idx.dim(), 4);

    // Query along x+0.2y (normalised inside search): a, then c, then b.
    let hits = idx.search(&[1.0, 0.2, 0.0, 0.0], 3).unwrap();
    let order: Vec<&str> = hits.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(order, ["a", "c", "b"]);
    let norm = (1.0f32 + 0.04).sqrt();
    assert!((hits[0].1 - 1.0 / norm).abs() < 1e-5, "{hits:?}");
    assert!(
        (hits[1].1 - 1.2 / norm / 2f32.sqrt()).abs() < 1e-5,
        "{hits:?}"
    );

    // k larger than the index: every vector once, no padding.
    assert_eq!(idx.search(&[0.0, 0.0, 0.0, 1.0], 10).unwrap().len(), 4);
    assert!(idx.search(&[0.0, 0.0, 0.0, 1.0], 0).unwrap().is_empty());

    // Stored vectors are normalised and reachable by id.
    let b = idx.vector("b").unwrap();
    assert!((b[1] - 1.0).abs() < 1e-6);
    assert!(idx.vector("missing").is_none());
    assert_eq!(idx.vectors_by_id().len(), 4);
    assert_eq!(idx.ids(), ["a", "b", "c", "d"]);
}

#[test]
fn an_empty_index_returns_no_hits_and_round_trips() {
    let idx =
        DenseIndex::build(8, Vec::new(), Vec::new(), DenseKind::Auto, Metrics::noop()).unwrap();
    assert!(idx.is_empty());
    assert!(idx.search(&[1.0; 8], 5).unwrap().is_empty());
    assert!(idx.search_with_refine(&[1.0; 8], 5, 4).unwrap().is_empty());
    let dir = tempfile::tempdir().unwrap();
    idx.save(dir.path()).unwrap();
    let back = DenseIndex::load(dir.path(), Metrics::noop()).unwrap();
    assert!(back.is_empty());
    assert_eq!(back.dim(), 8);
    assert!(back.search(&[1.0; 8], 5).unwrap().is_empty());

    // No vector ever seen (empty repository): dimension 0 is allowed, and
    // any query answers nothing.
    let unknown =
        DenseIndex::build(0, Vec::new(), Vec::new(), DenseKind::Auto, Metrics::noop()).unwrap();
    assert_eq!(unknown.dim(), 0);
    assert!(unknown.search(&[1.0; 384], 5).unwrap().is_empty());
    assert!(unknown.vectors_by_id().is_empty());
    let dir0 = tempfile::tempdir().unwrap();
    unknown.save(dir0.path()).unwrap();
    let back0 = DenseIndex::load(dir0.path(), Metrics::noop()).unwrap();
    assert!(back0.is_empty() && back0.dim() == 0);
    assert!(back0.search(&[0.5; 3], 5).unwrap().is_empty());
    // …but vectors need a dimension.
    let err =
        DenseIndex::build(0, ids(1), Vec::new(), DenseKind::Flat, Metrics::noop()).unwrap_err();
    assert!(
        matches!(err, DenseError::ZeroDimension { vectors: 1 }),
        "{err}"
    );
}

#[test]
fn auto_picks_flat_below_the_threshold_and_hnsw_above() {
    let mut rng = Rng(7);
    let opts = DenseOptions {
        auto_hnsw_threshold: 300,
        ..DenseOptions::default()
    };
    let small = DenseIndex::build_with(
        8,
        ids(299),
        rng.vectors(299, 8),
        DenseKind::Auto,
        &opts,
        Metrics::noop(),
    )
    .unwrap();
    assert_eq!(small.kind(), DenseKind::Flat);
    let large = DenseIndex::build_with(
        8,
        ids(300),
        rng.vectors(300, 8),
        DenseKind::Auto,
        &opts,
        Metrics::noop(),
    )
    .unwrap();
    assert!(
        matches!(large.kind(), DenseKind::Hnsw { .. }),
        "{:?}",
        large.kind()
    );
}

#[test]
fn hnsw_and_ivf_recall_against_flat_is_at_least_0_9() {
    let (n, dim, k) = (5_000, 32, 10);
    let mut rng = Rng(42);
    let data = rng.vectors(n, dim);
    let queries = rng.vectors(50, dim);
    let flat =
        DenseIndex::build(dim, ids(n), data.clone(), DenseKind::Flat, Metrics::noop()).unwrap();
    let hnsw = DenseIndex::build(
        dim,
        ids(n),
        data.clone(),
        DenseKind::Hnsw {
            m: 32,
            ef_search: 128,
        },
        Metrics::noop(),
    )
    .unwrap();
    let ivf = DenseIndex::build(
        dim,
        ids(n),
        data,
        DenseKind::Ivf {
            nlist: 64,
            nprobe: 24,
        },
        Metrics::noop(),
    )
    .unwrap();
    assert_eq!(
        ivf.kind(),
        DenseKind::Ivf {
            nlist: 64,
            nprobe: 24
        }
    );

    let r_hnsw = mean_recall(&flat, &hnsw, &queries, dim, k).unwrap();
    let r_ivf = mean_recall(&flat, &ivf, &queries, dim, k).unwrap();
    eprintln!(
        "recall@{k} on {n}x{dim} random vectors: hnsw(m=32,ef=128)={r_hnsw:.3} ivf(nlist=64,nprobe=24)={r_ivf:.3}"
    );
    assert!(r_hnsw >= 0.9, "HNSW recall {r_hnsw}");
    assert!(r_ivf >= 0.9, "IVF recall {r_ivf}");
}

#[test]
fn refine_rescored_exactly_and_recalls_at_least_as_well_as_ann() {
    let (n, dim, k) = (5_000, 32, 10);
    let mut rng = Rng(1234);
    let data = rng.vectors(n, dim);
    let queries = rng.vectors(40, dim);
    let flat =
        DenseIndex::build(dim, ids(n), data.clone(), DenseKind::Flat, Metrics::noop()).unwrap();
    // A deliberately weak search (small graph degree, tiny efSearch), so
    // that plain ANN misses neighbours. The refined search asks FAISS for
    // k x 4 candidates with efSearch raised to match, then re-scores them
    // exactly. (HNSWFlat stores full vectors, so re-scoring alone does not
    // reorder; the gain comes from the wider candidate set.)
    let hnsw = DenseIndex::build(
        dim,
        ids(n),
        data,
        DenseKind::Hnsw { m: 8, ef_search: 4 },
        Metrics::noop(),
    )
    .unwrap();
    let (mut r_ann, mut r_refine) = (0.0, 0.0);
    for q in queries.chunks_exact(dim) {
        let truth = flat.search(q, k).unwrap();
        let ann = hnsw.search(q, k).unwrap();
        let refined = hnsw.search_with_refine(q, k, 4).unwrap();
        assert_eq!(refined.len(), k);
        // Scores are exact inner products with the normalised query, sorted.
        let mut qn = q.to_vec();
        normalize(&mut qn);
        for (id, score) in &refined {
            let v = hnsw.vector(id).unwrap();
            let exact: f32 = v.iter().zip(&qn).map(|(a, b)| a * b).sum();
            assert!((exact - score).abs() < 1e-4, "{id}: {score} vs {exact}");
        }
        assert!(refined.windows(2).all(|w| w[0].1 >= w[1].1), "{refined:?}");
        r_ann += recall(&truth, &ann);
        r_refine += recall(&truth, &refined);
    }
    let m = queries.len() as f64 / dim as f64;
    eprintln!(
        "weak HNSW recall@{k}: ann={:.3} ann+refine(x4)={:.3}",
        r_ann / m,
        r_refine / m
    );
    assert!(r_refine > r_ann, "refine {r_refine} <= ann {r_ann}");
}

/// A flat index is exact: refine has nothing to improve, so it changes
/// nothing (same ids, same scores) and no longer searches `k × factor`
/// candidates to recompute the same numbers; approximate kinds say refine
/// widens their search.
#[test]
fn refine_is_a_no_op_on_exact_indexes_and_says_what_it_does() {
    let (n, dim, k) = (2_000, 16, 10);
    let mut rng = Rng(77);
    let data = rng.vectors(n, dim);
    let flat =
        DenseIndex::build(dim, ids(n), data.clone(), DenseKind::Flat, Metrics::noop()).unwrap();
    assert_eq!(flat.refine_effect(), "none");
    for q in rng.vectors(10, dim).chunks_exact(dim) {
        assert_eq!(
            flat.search_with_refine(q, k, 4).unwrap(),
            flat.search(q, k).unwrap()
        );
    }
    let hnsw = DenseIndex::build(
        dim,
        ids(n),
        data,
        DenseKind::Hnsw { m: 8, ef_search: 8 },
        Metrics::noop(),
    )
    .unwrap();
    assert_eq!(hnsw.refine_effect(), "wider_search");
}

#[test]
fn save_and_load_give_identical_results_for_every_kind() {
    let (n, dim) = (600, 16);
    let mut rng = Rng(99);
    let data = rng.vectors(n, dim);
    let queries = rng.vectors(10, dim);
    for kind in [
        DenseKind::Flat,
        DenseKind::Hnsw {
            m: 16,
            ef_search: 32,
        },
        DenseKind::Ivf {
            nlist: 16,
            nprobe: 4,
        },
    ] {
        let built = DenseIndex::build(dim, ids(n), data.clone(), kind, Metrics::noop()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("dense");
        built.save(&sub).unwrap();
        for f in ["index.faiss", "vectors.f32", "ids.json", "meta.json"] {
            assert!(sub.join(f).is_file(), "{f} missing for {kind:?}");
        }
        assert_eq!(
            std::fs::metadata(sub.join("vectors.f32")).unwrap().len(),
            (n * dim * 4) as u64
        );
        let loaded = DenseIndex::load(&sub, Metrics::noop()).unwrap();
        assert_eq!(loaded.kind(), built.kind());
        assert_eq!(loaded.ids(), built.ids());
        assert_eq!(loaded.vector("chunk-00007"), built.vector("chunk-00007"));
        for q in queries.chunks_exact(dim) {
            assert_eq!(
                loaded.search(q, 10).unwrap(),
                built.search(q, 10).unwrap(),
                "{kind:?}"
            );
            assert_eq!(
                loaded.search_with_refine(q, 5, 3).unwrap(),
                built.search_with_refine(q, 5, 3).unwrap(),
                "{kind:?}"
            );
        }
    }
}

#[test]
fn load_reports_missing_and_damaged_files() {
    let dir = tempfile::tempdir().unwrap();
    let err = DenseIndex::load(dir.path(), Metrics::noop()).unwrap_err();
    assert!(matches!(err, DenseError::Missing { .. }), "{err}");
    assert!(
        err.to_string().contains("re-run `codeintel-server index`"),
        "{err}"
    );

    let idx =
        DenseIndex::build(4, ids(3), vec![1.0; 12], DenseKind::Flat, Metrics::noop()).unwrap();
    idx.save(dir.path()).unwrap();
    std::fs::write(dir.path().join("vectors.f32"), [0u8; 7]).unwrap();
    let err = DenseIndex::load(dir.path(), Metrics::noop()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("vectors.f32") && text.contains("7 bytes, expected 48"),
        "{text}"
    );
}

#[test]
fn dimension_and_input_errors_name_what_was_wrong() {
    let idx =
        DenseIndex::build(8, ids(2), vec![0.5; 16], DenseKind::Flat, Metrics::noop()).unwrap();
    let err = idx.search(&[1.0; 5], 3).unwrap_err();
    assert!(matches!(
        err,
        DenseError::DimensionMismatch {
            expected: 8,
            got: 5,
            ..
        }
    ));
    let text = err.to_string();
    assert!(text.contains("expected 8, got 5"), "{text}");
    assert!(text.contains("query vector"), "{text}");
    let err = idx.search_with_refine(&[1.0; 9], 3, 2).unwrap_err();
    assert!(err.to_string().contains("expected 8, got 9"), "{err}");

    let err =
        DenseIndex::build(8, ids(3), vec![0.5; 16], DenseKind::Flat, Metrics::noop()).unwrap_err();
    assert!(
        err.to_string()
            .contains("3 ids but the vector buffer holds 16 floats"),
        "{err}"
    );

    let err = DenseIndex::build(
        2,
        vec!["x".into(), "x".into()],
        vec![1.0; 4],
        DenseKind::Flat,
        Metrics::noop(),
    )
    .unwrap_err();
    assert!(matches!(err, DenseError::DuplicateId { .. }), "{err}");

    let err = DenseIndex::build(
        2,
        ids(1),
        vec![f32::NAN, 1.0],
        DenseKind::Flat,
        Metrics::noop(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("chunk-00000"), "{err}");

    assert!(matches!(
        idx.search(&[f32::INFINITY; 8], 1),
        Err(DenseError::NonFiniteQuery)
    ));
}

#[test]
fn eight_threads_search_one_hnsw_index_concurrently() {
    let (n, dim) = (2_000, 16);
    let mut rng = Rng(5);
    let data = rng.vectors(n, dim);
    let queries = rng.vectors(20, dim);
    // One shared index, eight threads searching it at once.
    let opts = DenseOptions::default();
    for kind in [
        DenseKind::Hnsw {
            m: 16,
            ef_search: 64,
        },
        DenseKind::Flat,
    ] {
        let idx = Arc::new(
            DenseIndex::build_with(dim, ids(n), data.clone(), kind, &opts, Metrics::noop())
                .unwrap(),
        );
        let expected: Vec<_> = queries
            .chunks_exact(dim)
            .map(|q| idx.search(q, 10).unwrap())
            .collect();
        let expected = Arc::new(expected);
        let queries = Arc::new(queries.clone());
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (idx, expected, queries) = (idx.clone(), expected.clone(), queries.clone());
                std::thread::spawn(move || {
                    for round in 0..25 {
                        let i = (t + round) % expected.len();
                        let q = &queries[i * dim..(i + 1) * dim];
                        assert_eq!(idx.search(q, 10).unwrap(), expected[i]);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}

/// `impl` label value of each `faiss_search_latency_seconds_count` series
/// with its count.
fn faiss_counts(scrape: &str) -> Vec<(String, f64)> {
    scrape
        .lines()
        .filter(|l| l.starts_with("codeintel_faiss_search_latency_seconds_count{"))
        .filter_map(|l| {
            let imp = l.split("impl=\"").nth(1)?.split('"').next()?.to_owned();
            let count = l.rsplit(' ').next()?.parse().ok()?;
            Some((imp, count))
        })
        .collect()
}

#[test]
fn searches_record_both_impl_labels_and_a_span_each() {
    let t = testing::in_memory("dense-test");
    let mut rng = Rng(11);
    let idx = DenseIndex::build(
        8,
        ids(50),
        rng.vectors(50, 8),
        DenseKind::Flat,
        t.metrics.clone(),
    )
    .unwrap();
    let q = rng.vectors(1, 8);
    tracing::subscriber::with_default(t.subscriber(), || {
        // Other tests of this binary search without a subscriber at the same
        // time; make `faiss.search`'s cached interest see this one.
        tracing::callsite::rebuild_interest_cache();
        idx.search(&q, 5).unwrap();
        idx.search(&q, 5).unwrap();
        idx.search_with_refine(&q, 5, 3).unwrap();
    });

    let counts = faiss_counts(&t.registry.render());
    assert!(counts.contains(&("ann".to_owned(), 2.0)), "{counts:?}");
    assert!(
        counts.contains(&("ann+refine".to_owned(), 1.0)),
        "{counts:?}"
    );

    let spans: Vec<_> = testing::finished_spans(&t)
        .into_iter()
        .filter(|s| s.name == "faiss.search")
        .collect();
    assert_eq!(spans.len(), 3);
    let attr = |s: &opentelemetry_sdk::trace::SpanData, key: &str| {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    let impls: Vec<_> = spans.iter().map(|s| attr(s, "impl").unwrap()).collect();
    assert_eq!(impls, ["ann", "ann", "ann+refine"]);
    for s in &spans {
        assert_eq!(attr(s, "faiss.index_type").as_deref(), Some("flat"));
        assert_eq!(attr(s, "k").as_deref(), Some("5"));
        assert_eq!(attr(s, "hits").as_deref(), Some("5"));
    }
}

/// Figures for the report (dev profile; FAISS itself is built with -O3):
/// `cargo test -p codeintel-server --test store_dense -- --ignored --nocapture`.
#[test]
#[ignore = "timing figures, run explicitly"]
fn figures_flat_and_hnsw_on_10k_by_384() {
    let (n, dim, k) = (10_000, 384, 10);
    let mut rng = Rng(2024);
    let data = rng.vectors(n, dim);
    let queries = rng.vectors(200, dim);
    let nq = queries.len() / dim;
    let mut flat: Option<DenseIndex> = None;
    for (kind, ef_construction) in [
        (DenseKind::Flat, 0),
        (
            DenseKind::Hnsw {
                m: 32,
                ef_search: 64,
            },
            40,
        ),
        (
            DenseKind::Hnsw {
                m: 32,
                ef_search: 64,
            },
            80,
        ),
    ] {
        let opts = DenseOptions {
            hnsw_ef_construction: ef_construction,
            ..DenseOptions::default()
        };
        let start = Instant::now();
        let idx = DenseIndex::build_with(dim, ids(n), data.clone(), kind, &opts, Metrics::noop())
            .unwrap();
        let build = start.elapsed();
        let start = Instant::now();
        for q in queries.chunks_exact(dim) {
            idx.search(q, k).unwrap();
        }
        let per_query = start.elapsed() / nq as u32;
        let start = Instant::now();
        for q in queries.chunks_exact(dim) {
            idx.search_with_refine(q, k, 4).unwrap();
        }
        let per_refined = start.elapsed() / nq as u32;
        // What refine cost before it became a no-op on exact kinds: a
        // k x 4 search (then re-scoring 40 vectors to the same numbers).
        let start = Instant::now();
        for q in queries.chunks_exact(dim) {
            idx.search(q, k * 4).unwrap();
        }
        let per_wide = start.elapsed() / nq as u32;
        let refined_recall = flat.as_ref().map_or(1.0, |f| {
            let mut total = 0.0;
            for q in queries.chunks_exact(dim) {
                let truth = f.search(q, k).unwrap();
                total += recall(&truth, &idx.search_with_refine(q, k, 4).unwrap());
            }
            total / nq as f64
        });
        eprintln!(
            "{:?}: search k x 4 (the old flat refine's FAISS call) {per_wide:?}/query; \
             ann+refine recall@{k} vs flat {refined_recall:.3}",
            idx.kind()
        );
        let recall = flat
            .as_ref()
            .map_or(1.0, |f| mean_recall(f, &idx, &queries, dim, k).unwrap());
        eprintln!(
            "{:?} (efConstruction {ef_construction}) {n}x{dim}: build {build:?}, search k={k} {per_query:?}/query, \
             refine x4 {per_refined:?}/query, recall@{k} vs flat {recall:.3}",
            idx.kind()
        );
        if flat.is_none() {
            flat = Some(idx);
        }
    }

    // Embedding-like data: 200 clusters with noise around each centre.
    let centres = rng.vectors(200, dim);
    let clustered: Vec<f32> = (0..n)
        .flat_map(|i| {
            let c = (i * 7919) % 200;
            centres[c * dim..(c + 1) * dim].to_vec()
        })
        .map(|x| x + 0.35 * rng.next_f32())
        .collect();
    let cq: Vec<f32> = (0..nq)
        .flat_map(|i| centres[(i % 200) * dim..(i % 200 + 1) * dim].to_vec())
        .map(|x| x + 0.35 * rng.next_f32())
        .collect();
    let flat = DenseIndex::build(
        dim,
        ids(n),
        clustered.clone(),
        DenseKind::Flat,
        Metrics::noop(),
    )
    .unwrap();
    let hnsw = DenseIndex::build(
        dim,
        ids(n),
        clustered,
        DenseKind::Hnsw {
            m: 32,
            ef_search: 64,
        },
        Metrics::noop(),
    )
    .unwrap();
    let r = mean_recall(&flat, &hnsw, &cq, dim, k).unwrap();
    eprintln!("clustered {n}x{dim}: HNSW(m=32, ef=64) recall@{k} vs flat {r:.3}");
}

#[test]
fn a_batch_search_gives_what_single_searches_give() {
    let (n, dim) = (3_000, 16);
    let mut rng = Rng(11);
    let data = rng.vectors(n, dim);
    let queries: Vec<Vec<f32>> = rng
        .vectors(7, dim)
        .chunks(dim)
        .map(<[f32]>::to_vec)
        .collect();
    for kind in [
        DenseKind::Flat,
        DenseKind::Hnsw {
            m: 16,
            ef_search: 64,
        },
        DenseKind::Ivf {
            nlist: 16,
            nprobe: 4,
        },
    ] {
        let idx = DenseIndex::build_with(
            dim,
            ids(n),
            data.clone(),
            kind,
            &DenseOptions::default(),
            Metrics::noop(),
        )
        .unwrap();
        let batch = idx.search_batch(&queries, 10).unwrap();
        assert_eq!(batch.len(), queries.len());
        for (q, got) in queries.iter().zip(&batch) {
            let single = idx.search(q, 10).unwrap();
            let ids_of = |v: &[(String, f32)]| v.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
            assert_eq!(ids_of(got), ids_of(&single), "{kind:?}");
        }
    }
}

/// In-place updates: removed rows are skipped by every search (even when
/// they are the query's nearest), added rows are found, the tombstones
/// survive a save/load round trip, and passing the tombstone threshold
/// rebuilds a compact index.
#[test]
fn apply_diff_tombstones_and_adds_in_place_for_every_kind() {
    let dim = 16;
    let n = 400;
    let mut rng = Rng(7);
    let vectors = rng.vectors(n, dim);
    for kind in [
        DenseKind::Flat,
        DenseKind::Hnsw {
            m: 16,
            ef_search: 32,
        },
        DenseKind::Ivf {
            nlist: 8,
            nprobe: 8,
        },
    ] {
        let mut idx =
            DenseIndex::build(dim, ids(n), vectors.clone(), kind, Metrics::noop()).unwrap();
        let q0 = vectors[..dim].to_vec();
        assert_eq!(idx.search(&q0, 1).unwrap()[0].0, "chunk-00000");

        let extra = rng.vectors(2, dim);
        let diff = idx
            .apply_diff(
                &["chunk-00000".to_owned(), "chunk-00001".to_owned()],
                vec!["new-a".to_owned(), "new-b".to_owned()],
                extra.clone(),
                kind,
                &DenseOptions::default(),
            )
            .unwrap();
        assert_eq!(
            (diff.added, diff.removed, diff.rebuilt),
            (2, 2, false),
            "{kind:?}"
        );
        assert_eq!((idx.len(), idx.tombstones()), (n, 2));
        let hits = idx.search(&q0, 10).unwrap();
        assert_eq!(hits.len(), 10, "{kind:?}: k live hits despite tombstones");
        assert!(
            hits.iter()
                .all(|(id, _)| id != "chunk-00000" && id != "chunk-00001")
        );
        assert_eq!(
            idx.search(&extra[..dim], 1).unwrap()[0].0,
            "new-a",
            "{kind:?}"
        );
        let refined = idx.search_with_refine(&q0, 5, 4).unwrap();
        assert!(
            refined.iter().all(|(id, _)| id != "chunk-00000"),
            "{kind:?}"
        );
        let batch = idx.search_batch(std::slice::from_ref(&q0), 5).unwrap();
        assert!(
            batch[0].iter().all(|(id, _)| id != "chunk-00000"),
            "{kind:?}"
        );
        assert!(idx.vector("chunk-00000").is_none());

        // A removed id may come back (a reverted edit).
        idx.apply_diff(
            &[],
            vec!["chunk-00000".to_owned()],
            q0.clone(),
            kind,
            &DenseOptions::default(),
        )
        .unwrap();
        assert_eq!(idx.search(&q0, 1).unwrap()[0].0, "chunk-00000");

        let dir = tempfile::tempdir().unwrap();
        idx.save(dir.path()).unwrap();
        let loaded = DenseIndex::load(dir.path(), Metrics::noop()).unwrap();
        assert_eq!((loaded.len(), loaded.tombstones()), (idx.len(), 2));
        assert!(loaded.vector("chunk-00001").is_none());
        assert_eq!(loaded.search(&q0, 1).unwrap()[0].0, "chunk-00000");

        // Removing more than the threshold rebuilds without tombstones.
        let mut loaded = loaded;
        let many: Vec<String> = (2..100).map(|i| format!("chunk-{i:05}")).collect();
        let diff = loaded
            .apply_diff(
                &many,
                Vec::new(),
                Vec::new(),
                kind,
                &DenseOptions::default(),
            )
            .unwrap();
        assert!(diff.rebuilt, "{kind:?}");
        assert_eq!(loaded.tombstones(), 0);
        assert_eq!(loaded.len(), idx.len() - 98);
        assert_eq!(loaded.search(&q0, 1).unwrap()[0].0, "chunk-00000");
    }
}

#[test]
fn save_after_a_diff_copies_the_loaded_vectors_and_appends_only_the_new_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let (dim, n) = (8, 20);
    let mut rng = Rng(23);
    let built = DenseIndex::build(
        dim,
        ids(n),
        rng.vectors(n, dim),
        DenseKind::Flat,
        Metrics::noop(),
    )
    .unwrap();
    let v1 = tmp.path().join("v1");
    built.save(&v1).unwrap();
    let v1_bytes = std::fs::read(v1.join("vectors.f32")).unwrap();
    assert_eq!(v1_bytes.len(), n * dim * 4);

    let mut idx = DenseIndex::load(&v1, Metrics::noop()).unwrap();
    let added = vec!["new-a".to_owned(), "new-b".to_owned(), "new-c".to_owned()];
    let diff = idx
        .apply_diff(
            &["chunk-00003".to_owned()],
            added.clone(),
            rng.vectors(3, dim),
            DenseKind::Flat,
            &DenseOptions::default(),
        )
        .unwrap();
    assert!(!diff.rebuilt);
    // Mark the first float of the loaded file: if the save copies the file
    // (rather than writing every vector from memory), the mark shows.
    let mut marked = v1_bytes.clone();
    marked[..4].copy_from_slice(&0.5_f32.to_le_bytes());
    std::fs::write(v1.join("vectors.f32"), &marked).unwrap();

    let v2 = tmp.path().join("v2");
    idx.save(&v2).unwrap();
    let v2_bytes = std::fs::read(v2.join("vectors.f32")).unwrap();
    assert_eq!(v2_bytes.len(), (n + 3) * dim * 4);
    assert_eq!(&v2_bytes[..n * dim * 4], &marked[..], "rows copied from v1");
    // The appended rows are the new (normalised) vectors, in order.
    for (k, id) in added.iter().enumerate() {
        let start = (n + k) * dim * 4;
        let row: Vec<f32> = v2_bytes[start..start + dim * 4]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(row.as_slice(), idx.vector(id).unwrap(), "{id}");
    }
    // Restore v1; the new version reloads whole, tombstone included.
    std::fs::write(v1.join("vectors.f32"), &v1_bytes).unwrap();
    let reloaded = DenseIndex::load(&v2, Metrics::noop()).unwrap();
    assert_eq!(reloaded.len(), n + 3 - 1);
    assert!(reloaded.vector("chunk-00003").is_none());
    assert_eq!(reloaded.vector("new-b"), idx.vector("new-b"));

    // A freshly built index (nothing on disk) writes every row.
    let v3 = tmp.path().join("v3");
    built.save(&v3).unwrap();
    assert_eq!(std::fs::read(v3.join("vectors.f32")).unwrap(), v1_bytes);
}
