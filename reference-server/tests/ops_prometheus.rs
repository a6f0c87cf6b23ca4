//! End to end against a real Prometheus server (Debian's `prometheus`): the
//! reference in-process with its real scrape listener, Prometheus started
//! on a loopback port with deploy/prometheus/prometheus.yml and rules.yml
//! (scrape and rule evaluation every second), searches, then Prometheus's
//! HTTP API: the target is up, every recording rule evaluates to numbers,
//! the embed p95 lies in the bucket this test predicts from its own timing,
//! no rule has an evaluation error, no alert is pending, and every
//! dashboard expression runs.
//!
//! Without `/usr/bin/prometheus` (or `prometheus` on PATH) the test skips,
//! saying so, unless `CODEINTEL_REQUIRE_PROMETHEUS=1` (scripts/test.sh and CI
//! set it): then it fails. `CODEINTEL_OPS_KEEP_PROMETHEUS_SECS=N` keeps
//! Prometheus and the reference up N more seconds, with searches every
//! second at a changing embed latency, for a look at the graph page.

// Test helpers outside `#[test]` functions unwrap too (a failure is the test failing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ops_support;
mod serve_support;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use codeintel_server::observability::metrics::LATENCY_BUCKETS;
use ops_support::*;
use serde_yaml_ng::Value;
use serve_support::sample_sum;

const REQUIRE: &str = "CODEINTEL_REQUIRE_PROMETHEUS";
const KEEP: &str = "CODEINTEL_OPS_KEEP_PROMETHEUS_SECS";
/// Every wait on Prometheus is bounded by this.
const DEADLINE: Duration = Duration::from_secs(60);
/// The embeddings mock answers after this long.
const EMBED_DELAY: Duration = Duration::from_millis(150);
const SEARCHES: usize = 24;

fn prometheus_or_skip() -> Option<PathBuf> {
    let found = which("prometheus").or_else(|| {
        let p = PathBuf::from("/usr/bin/prometheus");
        p.is_file().then_some(p)
    });
    match skip_or_fail(found, std::env::var(REQUIRE).ok().as_deref()) {
        Ok(Some(bin)) => Some(bin),
        Ok(None) => {
            eprintln!(
                "SKIPPED: no prometheus binary on PATH or at /usr/bin/prometheus; install \
                 Debian's `prometheus` package (scripts/setup.sh does), or set {REQUIRE}=1 to \
                 make this a failure"
            );
            None
        }
        Err(why) => panic!("{why}"),
    }
}

/// Run with the binary when found; skip without it, unless `require` is
/// `1`: then it is a failure.
fn skip_or_fail(found: Option<PathBuf>, require: Option<&str>) -> Result<Option<PathBuf>, String> {
    match (found, require) {
        (Some(bin), _) => Ok(Some(bin)),
        (None, Some("1")) => Err(format!(
            "the prometheus binary is not installed and {REQUIRE}=1: install Debian's \
             `prometheus` package (scripts/setup.sh does)"
        )),
        (None, _) => Ok(None),
    }
}

#[test]
fn a_missing_binary_skips_unless_required() {
    let bin = PathBuf::from("/usr/bin/prometheus");
    assert_eq!(
        skip_or_fail(Some(bin.clone()), Some("1")),
        Ok(Some(bin.clone()))
    );
    assert_eq!(skip_or_fail(Some(bin.clone()), None), Ok(Some(bin)));
    assert_eq!(skip_or_fail(None, None), Ok(None));
    assert_eq!(skip_or_fail(None, Some("0")), Ok(None));
    let err = skip_or_fail(None, Some("1")).unwrap_err();
    assert!(err.contains(REQUIRE) && err.contains("prometheus"), "{err}");
}

/// A Prometheus server of ours, killed (and reaped) on drop.
struct Prometheus {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// deploy/prometheus/prometheus.yml, pointed at `target`, scraping and
/// evaluating every second, with the rules file by absolute path.
fn config_for(target: SocketAddr) -> String {
    let mut cfg = yaml(&deploy("prometheus/prometheus.yml"));
    cfg["global"]["scrape_interval"] = Value::from("1s");
    cfg["global"]["evaluation_interval"] = Value::from("1s");
    let rule_files = cfg["rule_files"].as_sequence_mut().expect("rule_files");
    assert_eq!(rule_files.len(), 1, "{rule_files:?}");
    rule_files[0] = Value::from(deploy("prometheus/rules.yml").display().to_string());
    let job = &mut cfg["scrape_configs"][0];
    assert_eq!(job["job_name"].as_str(), Some("codeintel"));
    assert_eq!(
        job["static_configs"][0]["targets"][0].as_str(),
        Some("127.0.0.1:9464"),
        "the shipped config scrapes the default listener"
    );
    job["static_configs"][0]["targets"] = Value::Sequence(vec![Value::from(target.to_string())]);
    serde_yaml_ng::to_string(&cfg).unwrap()
}

impl Prometheus {
    async fn start(bin: &Path, target: SocketAddr, http: &reqwest::Client) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_for(target)).unwrap();
        let log = dir.path().join("prometheus.log");
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut prom = Self {
            child,
            url,
            log,
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            if let Some(status) = prom.child.try_wait().unwrap() {
                panic!("prometheus exited ({status}) before ready:\n{}", prom.log());
            }
            let ready = http.get(format!("{}/-/ready", prom.url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return prom;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "prometheus not ready after {DEADLINE:?}:\n{}",
                prom.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn api(&self, http: &reqwest::Client, path_and_query: &str) -> serde_json::Value {
        let resp = http
            .get(format!("{}{path_and_query}", self.url))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "success", "{path_and_query}: {body}");
        body["data"].clone()
    }

    /// An instant query: each sample's labels and value.
    async fn query(&self, http: &reqwest::Client, q: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let data = self
            .api(http, &format!("/api/v1/query?query={}", encode(q)))
            .await;
        assert_eq!(data["resultType"], "vector", "{q}: {data}");
        data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect();
                let value = s["value"][1].as_str().unwrap();
                let value = match value {
                    "NaN" => f64::NAN,
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    v => v.parse().unwrap(),
                };
                (labels, value)
            })
            .collect()
    }

    /// Polls `q` until `ok` holds of its result, at most [`DEADLINE`].
    async fn wait_for(
        &self,
        http: &reqwest::Client,
        q: &str,
        ok: impl Fn(&[(BTreeMap<String, String>, f64)]) -> bool,
    ) -> Vec<(BTreeMap<String, String>, f64)> {
        let started = Instant::now();
        loop {
            let r = self.query(http, q).await;
            if ok(&r) {
                return r;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "after {DEADLINE:?}, {q} gives {r:?}\n--- prometheus log ---\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Percent-encodes a query parameter value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn all_finite(r: &[(BTreeMap<String, String>, f64)]) -> bool {
    !r.is_empty() && r.iter().all(|(_, v)| v.is_finite())
}

/// The bucket bounds around `[low, high]`: the largest bound below `low` (0
/// for the first bucket) and the smallest bound at or above `high`.
fn predicted_bucket(low: f64, high: f64) -> (f64, f64) {
    let lo = LATENCY_BUCKETS
        .iter()
        .copied()
        .filter(|b| *b < low)
        .fold(0.0, f64::max);
    let hi = LATENCY_BUCKETS
        .iter()
        .copied()
        .find(|b| *b >= high)
        .unwrap_or(f64::INFINITY);
    (lo, hi)
}

#[test]
fn the_predicted_bucket_is_the_one_around_the_timings() {
    assert_eq!(predicted_bucket(0.15, 0.2), (0.1, 0.25));
    assert_eq!(predicted_bucket(0.15, 0.3), (0.1, 0.5));
    assert_eq!(predicted_bucket(0.0005, 0.0009), (0.0, 0.001));
    assert_eq!(predicted_bucket(0.1, 0.1), (0.05, 0.1));
    assert_eq!(predicted_bucket(2.0, 3.0), (1.0, f64::INFINITY));
}

#[test]
fn the_temp_config_is_the_shipped_one_pointed_at_the_target() {
    let cfg = config_for("127.0.0.1:4242".parse().unwrap());
    let v: Value = serde_yaml_ng::from_str(&cfg).unwrap();
    assert_eq!(v["global"]["scrape_interval"].as_str(), Some("1s"));
    assert_eq!(
        v["scrape_configs"][0]["static_configs"][0]["targets"][0].as_str(),
        Some("127.0.0.1:4242")
    );
    assert!(
        Path::new(v["rule_files"][0].as_str().unwrap()).is_absolute(),
        "{cfg}"
    );
    assert_eq!(
        v["scrape_configs"][0]["metrics_path"].as_str(),
        Some(codeintel_server::observability::metrics::SCRAPE_PATH)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_real_prometheus_scrapes_the_reference_and_evaluates_the_rules() {
    let Some(bin) = prometheus_or_skip() else {
        return;
    };
    let t0 = Instant::now();
    let reference = Reference::start("codeintel-ops-e2e", EMBED_DELAY).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let prom = Prometheus::start(&bin, reference.scrape_addr(), &http).await;
    let t_ready = t0.elapsed();

    // The target is up, and a first scrape holds the series (with what the
    // index build recorded), so rates cover only the searches below.
    prom.wait_for(&http, r#"up{job="codeintel"} == 1"#, |r| r.len() == 1)
        .await;
    prom.wait_for(
        &http,
        r#"count(codeintel_embed_latency_seconds_count{job="codeintel"})"#,
        all_finite,
    )
    .await;

    // Searches, timed: each one embeds its query once, so each embed took
    // at least the mock's delay and at most the whole search.
    let mut slowest = Duration::ZERO;
    let mut classes = std::collections::BTreeSet::new();
    for n in 0..SEARCHES {
        let (body, took) = reference.search(&query(n), n % 2 == 1).await;
        assert!(
            body["limits"].as_array().is_none_or(Vec::is_empty),
            "the dense channel ran: {body}"
        );
        classes.insert(body["gating"]["class"].as_str().unwrap().to_owned());
        slowest = slowest.max(took);
    }
    let searches = sample_sum(
        &reference.scrape().await,
        "codeintel_gating_decisions_total",
        &[],
    );
    assert_eq!(searches.round() as usize, SEARCHES);

    // Prometheus has scraped every search ...
    prom.wait_for(
        &http,
        r#"sum(codeintel_gating_decisions_total{job="codeintel"})"#,
        |r| {
            r.first()
                .is_some_and(|(_, v)| v.round() as usize == SEARCHES)
        },
    )
    .await;
    // ... and evaluated every recording rule on it: numbers, not NaN.
    let mut recorded = BTreeMap::new();
    for rule in rules() {
        let Some(name) = rule.get("record").and_then(Value::as_str) else {
            continue;
        };
        let r = prom.wait_for(&http, name, all_finite).await;
        recorded.insert(name.to_owned(), r);
    }
    let one = |name: &str| -> f64 {
        let r = &recorded[name];
        assert_eq!(r.len(), 1, "{name}: {r:?}");
        assert_eq!(r[0].0.get("job").map(String::as_str), Some("codeintel"));
        r[0].1
    };
    let errors = one("job:codeintel_embed_errors:ratio_5m");
    assert!(errors.abs() < f64::EPSILON, "no embed failed: {errors}");
    assert!(one("job:codeintel_searches:rate5m") > 0.0);
    assert!(one("job:codeintel_faiss_searches:rate5m") > 0.0);
    let impls: Vec<&str> = recorded["job_impl:codeintel_faiss_search_latency_seconds:p95_5m"]
        .iter()
        .map(|(l, _)| l["impl"].as_str())
        .collect();
    assert_eq!(impls.len(), 2, "ann and ann+refine: {impls:?}");
    let seen_classes: std::collections::BTreeSet<String> =
        recorded["job_class:codeintel_gating_decisions:rate5m"]
            .iter()
            .map(|(l, _)| l["class"].clone())
            .collect();
    assert_eq!(
        seen_classes, classes,
        "one series per class the searches had"
    );

    // The embed p95 lies in the bucket predicted from this test's timing.
    let (lo, hi) = predicted_bucket(EMBED_DELAY.as_secs_f64(), slowest.as_secs_f64());
    let direct = prom
        .wait_for(
            &http,
            r#"histogram_quantile(0.95, sum by (le) (rate(codeintel_embed_latency_seconds_bucket{job="codeintel"}[5m])))"#,
            all_finite,
        )
        .await[0]
        .1;
    let rule = one("job:codeintel_embed_latency_seconds:p95_5m");
    for (what, p95) in [("histogram_quantile", direct), ("recording rule", rule)] {
        assert!(
            lo <= p95 && p95 <= hi,
            "{what}: embed p95 {p95} s outside the predicted bucket ({lo}, {hi}] \
             (mock delay {EMBED_DELAY:?}, slowest search {slowest:?})"
        );
    }

    // Every rule evaluates without error; no alert is pending or firing.
    let groups = prom.api(&http, "/api/v1/rules").await;
    let mut evaluated = 0;
    for g in groups["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            evaluated += 1;
            assert_eq!(r["health"], "ok", "{r}");
        }
    }
    assert_eq!(
        evaluated,
        rules().len(),
        "every rule of rules.yml is loaded"
    );
    let alerts = prom.api(&http, "/api/v1/alerts").await;
    assert_eq!(
        alerts["alerts"].as_array().map(Vec::len),
        Some(0),
        "a healthy reference raises no alert: {alerts}"
    );

    // Every dashboard expression runs, and those about what the searches
    // recorded answer something.
    let mut empty = Vec::new();
    for (at, expr) in dashboard_exprs() {
        let r = prom.query(&http, &expr).await;
        if r.is_empty() {
            empty.push(format!("{at}: {expr}"));
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard panels with no data:\n{}",
        empty.join("\n")
    );

    let t_done = t0.elapsed();
    eprintln!(
        "e2e: reference + prometheus ready in {t_ready:.1?}, all checks in {t_done:.1?}; \
         embed p95 {direct:.4} s (rule {rule:.4} s) in predicted ({lo}, {hi}], slowest search {slowest:.1?}"
    );

    if let Some(secs) = std::env::var(KEEP).ok().and_then(|s| s.parse::<u64>().ok()) {
        keep_alive(&reference, &prom, Duration::from_secs(secs)).await;
    }
    reference.server.shutdown().await.unwrap();
}

/// Keeps serving for a look at Prometheus's graph page: one search a
/// second, the embed latency stepping 40 ms → 300 ms → 120 ms.
async fn keep_alive(reference: &Reference, prom: &Prometheus, for_: Duration) {
    eprintln!(
        "keeping prometheus up for {for_:?}: {}/classic/graph?g0.expr={}&g0.tab=0&g0.range_input=5m",
        prom.url,
        encode("job:codeintel_embed_latency_seconds:p95_5m")
    );
    let started = Instant::now();
    let mut n = SEARCHES;
    while started.elapsed() < for_ {
        let third = started.elapsed().as_secs_f64() / for_.as_secs_f64();
        let ms = if third < 1.0 / 3.0 {
            40
        } else if third < 2.0 / 3.0 {
            300
        } else {
            120
        };
        reference.set_embed_delay(Duration::from_millis(ms));
        reference.search(&query(n), n % 2 == 1).await;
        n += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
