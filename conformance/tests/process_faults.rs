//! Faults never crash or hang the harness: stand-in SUTs (fixtures/suts/standins)
//! that exit at start, never listen, hang mid-request, serve garbage metrics
//! or send malformed OTLP are driven through the whole scenario, and each
//! leaves clear errors in the observations within a bounded time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use codeintel_conformance::drive::{DriveConfig, drive, workspace_root};
use codeintel_conformance::observe::{Observations, steps};
use codeintel_conformance::sut::manifest::SutManifest;
use codeintel_conformance::sut::process::ProcessSut;

fn standins() -> PathBuf {
    workspace_root().join("fixtures/suts/standins")
}

fn standin(name: &str) -> SutManifest {
    SutManifest::load(&standins().join(format!("{name}.toml"))).unwrap()
}

/// Short deadlines: these SUTs are tiny and local.
fn quick_config() -> DriveConfig {
    let mut c = DriveConfig::new(&workspace_root());
    c.ready_timeout = Duration::from_secs(5);
    c.request_timeout = Duration::from_secs(1);
    c.span_wait = Duration::from_millis(300);
    c.not_ready_wait = Duration::from_millis(200);
    c.embed_fault_delay = Duration::from_millis(200);
    c.gate_fallback = Duration::from_secs(1);
    c.cardinality_searches = 3;
    c.promtool = false;
    c
}

async fn run(manifest: SutManifest, start_timeout: Option<Duration>) -> (Observations, Duration) {
    let mut sut = ProcessSut::new(manifest);
    if let Some(t) = start_timeout {
        sut = sut.with_start_timeout(t);
    }
    let started = Instant::now();
    let obs = drive(&mut sut, &quick_config()).await;
    (obs, started.elapsed())
}

fn phases(obs: &Observations) -> Vec<&str> {
    obs.phases.iter().map(|p| p.phase.as_str()).collect()
}

#[tokio::test]
async fn exit_at_start_is_a_startup_error_with_status_and_output_tail() {
    let (obs, elapsed) = run(standin("exits-at-start"), None).await;
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    assert!(!obs.startup.ready);
    let error = obs.startup.error.as_deref().unwrap();
    assert!(
        error.contains("exited during start-up (exit status 3)"),
        "{error}"
    );
    assert!(error.contains("cannot open the index"), "{error}");
    assert!(obs.startup.output_tail.contains("cannot open the index"));
    assert!(obs.startup.output_tail.contains("reading the index from"));
    assert!(obs.http.is_empty() && obs.scrapes.is_empty());
    assert_eq!(
        phases(&obs),
        ["start_peers", "start_sut", "drive", "collect"]
    );
    assert_eq!(obs.sut.name, "standin-exits-at-start");
    assert_eq!(obs.sut.kind, "process");
}

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie is as good as dead.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test]
async fn never_listening_hits_the_deadline_and_its_process_group_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let mut manifest = standin("never-ready");
    manifest
        .env
        .insert("STANDIN_PID_FILE".into(), pid_file.display().to_string());
    let (obs, elapsed) = run(manifest, Some(Duration::from_secs(2))).await;
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    let error = obs.startup.error.as_deref().unwrap();
    assert!(
        error.contains("did not answer http://127.0.0.1:"),
        "{error}"
    );
    assert!(error.contains("/healthz within 2."), "{error}");
    assert!(error.contains("never listening"), "{error}");
    assert!(!obs.startup.ready);

    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "the SUT's child {pid} outlived the run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn hanging_search_is_recorded_and_the_run_finishes() {
    let (obs, elapsed) = run(standin("hang-search"), None).await;
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert!(obs.startup.ready, "{:?}", obs.startup);
    let searches: Vec<_> = obs.http.iter().filter(|h| h.path == "/v1/search").collect();
    assert!(!searches.is_empty());
    let first = searches[0];
    assert_eq!(first.status, None);
    assert!(
        first.error.as_deref().unwrap().contains("timed out"),
        "{first:?}"
    );
    let last = searches.last().unwrap();
    assert!(
        last.error
            .as_deref()
            .unwrap()
            .contains("not sent: the application port left 3 requests in a row unanswered"),
        "{last:?}"
    );
    // Everything else still happened: scrapes of the (working) metrics port.
    let final_scrape = obs.last_scrape_at(steps::SCRAPE_FINAL).unwrap();
    assert_eq!(final_scrape.status, Some(200));
    assert!(final_scrape.body.contains("standin_up 1"));
    assert!(obs.startup.output_tail.contains("hanging on /v1/search"));
}

#[tokio::test]
async fn garbage_metrics_are_recorded_as_served() {
    let (obs, elapsed) = run(standin("garbage-metrics"), None).await;
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    let scrape = obs.last_scrape_at(steps::SCRAPE_BASELINE).unwrap();
    assert_eq!(scrape.status, Some(200));
    assert!(scrape.body.contains("oops {{ not metrics"), "{scrape:?}");
    // baseline, after searches, after cardinality, after the fault, final,
    // and the one asking for OpenMetrics.
    assert_eq!(obs.scrapes.len(), 6);
}

#[tokio::test]
async fn malformed_otlp_is_refused_and_recorded() {
    let (obs, elapsed) = run(standin("malformed-otlp"), None).await;
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert_eq!(obs.peer_errors.len(), 2, "{:?}", obs.peer_errors);
    assert!(obs.peer_errors[0].contains("/v1/traces"));
    assert!(obs.peer_errors[0].contains("ExportTraceServiceRequest"));
    assert!(obs.peer_errors[1].contains("/v1/logs"));
    assert!(obs.startup.output_tail.contains("POST /v1/traces -> 400"));
    assert!(obs.spans.is_empty());
}

fn plain_manifest() -> SutManifest {
    let dir = standins();
    SutManifest::parse(
        "name = \"standin-plain\"\ncommand = [\"python3\", \"standin.py\", \"plain\"]\n",
        &dir.join("plain.toml"),
    )
    .unwrap()
}

#[tokio::test]
async fn the_scenario_runs_every_step_in_order() {
    let (obs, elapsed) = run(plain_manifest(), None).await;
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert!(obs.startup.ready);
    assert!(obs.startup.ready_after_ms.is_some());

    let mut http_steps: Vec<&str> = obs.http.iter().map(|h| h.step.as_str()).collect();
    http_steps.dedup();
    let mut expected = vec![
        steps::PROBE_NOT_READY,
        steps::PROBE_READY,
        steps::APP_METRICS,
        steps::SEARCH_PLAIN,
        steps::SEARCH_REFINE,
        steps::SEARCH_TRACEPARENT,
        steps::SEARCH_CARDINALITY,
    ];
    if obs.http_at(steps::SEARCH_GOLDEN).next().is_some() {
        expected.push(steps::SEARCH_GOLDEN);
    }
    expected.extend([steps::PROBE_EMBED_DOWN, steps::SEARCH_EMBED_FAULT]);
    // The stand-in reports no trace id; the harness asks with the one it
    // sent, then for one no request had.
    expected.extend([
        steps::RUNPACK,
        steps::RUNPACK_FAILED,
        steps::RUNPACK_UNKNOWN,
    ]);
    assert_eq!(http_steps, expected);

    // While loading is held open the harness probes both, in turn, again and
    // again (a readiness on a timer is caught).
    let probes: Vec<(&str, &str)> = obs
        .http_at(steps::PROBE_NOT_READY)
        .map(|h| (h.method.as_str(), h.path.as_str()))
        .collect();
    assert!(probes.len() >= 4, "{probes:?}");
    for pair in probes.chunks(2) {
        assert_eq!(pair.first(), Some(&("GET", "/healthz")), "{probes:?}");
        if let Some(second) = pair.get(1) {
            assert_eq!(*second, ("GET", "/readyz"), "{probes:?}");
        }
    }
    assert_eq!(obs.http_at(steps::SEARCH_PLAIN).count(), 3);
    assert_eq!(obs.http_at(steps::SEARCH_REFINE).count(), 2);
    assert_eq!(obs.http_at(steps::SEARCH_EMBED_FAULT).count(), 3);
    let tp = obs.http_at(steps::SEARCH_TRACEPARENT).next().unwrap();
    assert_eq!(tp.trace_id_sent.as_ref().map(String::len), Some(32));
    assert_eq!(tp.parent_span_id_sent.as_ref().map(String::len), Some(16));
    let refine = obs.http_at(steps::SEARCH_REFINE).next().unwrap();
    assert!(
        refine
            .request_body
            .as_deref()
            .unwrap()
            .contains("\"refine\":true")
    );

    let scrape_steps: Vec<&str> = obs.scrapes.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(
        scrape_steps,
        [
            steps::SCRAPE_BASELINE,
            steps::SCRAPE_AFTER_SEARCHES,
            steps::SCRAPE_AFTER_CARDINALITY,
            steps::SCRAPE_AFTER_FAULT,
            steps::SCRAPE_FINAL,
            steps::SCRAPE_OPENMETRICS
        ]
    );
    let done: Vec<u32> = obs.scrapes.iter().map(|s| s.searches_done).collect();
    // MCP is absent (404), so only HTTP searches count: 3 + 2 + 1, then +3.
    assert_eq!(done[0], 0);
    assert_eq!(done[1], 6);
    assert_eq!(done[2], 9);
    assert!(done[3] >= done[2] + 3);
    assert!(obs.scrapes[2].distinct_queries > obs.scrapes[1].distinct_queries);

    // MCP: initialize failed clearly, the calls that depend on it say so.
    let init = &obs.mcp[0];
    assert_eq!(init.method, "initialize");
    assert!(init.error.as_deref().unwrap().contains("/mcp"), "{init:?}");
    assert!(
        obs.mcp_at(steps::MCP_SEARCH).all(|m| m
            .error
            .as_deref()
            .unwrap()
            .contains("no MCP session"))
    );
    // The stand-in never embeds: the harness noted it could not see the load.
    assert!(
        obs.startup
            .notes
            .iter()
            .any(|n| n.contains("no embeddings request reached the harness")),
        "{:?}",
        obs.startup.notes
    );
    assert!(obs.embed_requests.is_empty());
    assert!(obs.sut.source_dir.is_none());
    assert_eq!(obs.sut.service_name, quick_config().service_name);
}

fn standin_mode(mode: &str) -> SutManifest {
    SutManifest::parse(
        &format!(
            "name = \"standin-{mode}\"\ncommand = [\"python3\", \"standin.py\", \"{mode}\"]\n"
        ),
        &standins().join(format!("{mode}.toml")),
    )
    .unwrap()
}

#[tokio::test]
async fn a_sut_that_embeds_before_listening_gets_the_gate_opened_and_a_note() {
    let (obs, elapsed) = run(standin_mode("embed-first"), None).await;
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert!(obs.startup.ready, "{:?}", obs.startup);
    assert!(
        obs.startup
            .notes
            .iter()
            .any(|n| n.contains("the gate was opened early")),
        "{:?}",
        obs.startup.notes
    );
    assert_eq!(obs.embed_requests[0].answered, "ok");
    assert!(
        obs.startup
            .output_tail
            .contains("embedded before listening -> 200")
    );
}

#[tokio::test]
async fn a_start_that_lost_its_port_is_retried_once_on_new_ports() {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = standin_mode("addr-in-use-once");
    manifest.env.insert(
        "STANDIN_MARKER".into(),
        dir.path().join("marker").display().to_string(),
    );
    let (obs, elapsed) = run(manifest, None).await;
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert!(obs.startup.ready, "{:?}", obs.startup);
    assert!(
        obs.startup
            .notes
            .iter()
            .any(|n| n.contains("start retried on new ports")
                && n.contains("Address already in use")),
        "{:?}",
        obs.startup.notes
    );
}
