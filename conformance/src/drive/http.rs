//! HTTP requests to the SUT: bounded bodies, timeouts, the breaker that stops
//! sending after unanswered requests, and the exchanges recorded.

use std::time::Instant;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::observe::{HttpExchange, Scrape};
use crate::peers::embeddings::Mode;
use crate::sut::process::error_chain;

use super::{Answer, Driver, GoldenQuery, Target, Traceparent};

impl Driver<'_> {
    /// `Some(reason)` when requests to the app should no longer be sent.
    pub(super) fn gone(&mut self) -> Option<String> {
        if self.sut_gone.is_none()
            && let Some(status) = self.sut.exited()
        {
            self.sut_gone = Some(format!("the SUT exited during the run ({status})"));
        }
        self.sut_gone.clone()
    }

    pub(super) fn skip_reason(&mut self, target: Target) -> Option<String> {
        if let Some(gone) = self.gone() {
            return Some(format!("not sent: {gone}"));
        }
        let (count, what) = match target {
            Target::App => (self.app_timeouts, "the application port"),
            Target::Metrics => (self.metrics_timeouts, "the metrics endpoint"),
        };
        (count >= self.cfg.max_consecutive_timeouts).then(|| {
            format!(
                "not sent: {what} left {count} requests in a row unanswered within {:.1} s",
                self.cfg.request_timeout.as_secs_f64()
            )
        })
    }

    /// One request with a timeout, not recorded.
    pub(super) async fn raw(
        &self,
        method: reqwest::Method,
        path_or_url: &str,
        body: Option<&Value>,
        traceparent: Option<&Traceparent>,
    ) -> Answer {
        self.send(self.request(method, path_or_url, body, traceparent))
            .await
    }

    pub(super) fn request(
        &self,
        method: reqwest::Method,
        path_or_url: &str,
        body: Option<&Value>,
        traceparent: Option<&Traceparent>,
    ) -> reqwest::RequestBuilder {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        let mut req = self
            .client
            .request(method, &url)
            .timeout(self.cfg.request_timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(tp) = traceparent {
            req = req.header("traceparent", tp.header());
        }
        req
    }

    /// Sends one request and reads the whole answer, not recorded.
    pub(super) async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let started = Instant::now();
        let result = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let url = resp.url().path().to_owned();
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let (bytes, cut) = read_bounded(resp, self.cfg.max_body).await?;
            Ok::<_, reqwest::Error>((status, url, content_type, bytes, cut))
        }
        .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok((status, url, content_type, bytes, cut)) => Answer {
                status: Some(status),
                content_type,
                bytes,
                truncated: cut.then(|| {
                    format!(
                        "{url}: kept the first {} bytes of the response body",
                        self.cfg.max_body
                    )
                }),
                error: None,
                timed_out: false,
                elapsed_ms,
            },
            Err(e) => {
                let timed_out = e.is_timeout();
                let what = if timed_out {
                    format!(
                        "no answer within {:.1} s (timed out): {}",
                        self.cfg.request_timeout.as_secs_f64(),
                        error_chain(&e)
                    )
                } else {
                    error_chain(&e)
                };
                Answer {
                    status: None,
                    content_type: None,
                    bytes: Vec::new(),
                    truncated: None,
                    error: Some(what),
                    timed_out,
                    elapsed_ms,
                }
            }
        }
    }

    pub(super) fn note_answer(&mut self, target: Target, answer: &Answer) {
        if let Some(cut) = &answer.truncated {
            self.obs.truncations.push(cut.clone());
        }
        let counter = match target {
            Target::App => &mut self.app_timeouts,
            Target::Metrics => &mut self.metrics_timeouts,
        };
        if answer.status.is_some() {
            *counter = 0;
        } else if answer.timed_out {
            *counter += 1;
        }
    }

    /// One recorded request to the application port; returns the index of
    /// its exchange in `obs.http`.
    pub(super) async fn exchange(
        &mut self,
        step: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        traceparent: Option<Traceparent>,
    ) -> usize {
        let mut ex = HttpExchange {
            step: step.to_owned(),
            method: method.as_str().to_owned(),
            path: path.to_owned(),
            request_body: body.as_ref().map(Value::to_string),
            trace_id_sent: traceparent.as_ref().map(|t| t.trace_id.clone()),
            parent_span_id_sent: traceparent.as_ref().map(|t| t.span_id.clone()),
            ..HttpExchange::default()
        };
        if let Some(reason) = self.skip_reason(Target::App) {
            ex.error = Some(reason);
        } else {
            let a = self
                .raw(method, path, body.as_ref(), traceparent.as_ref())
                .await;
            self.note_answer(Target::App, &a);
            if a.status.is_none() {
                let _ = self.gone();
            }
            ex.status = a.status;
            ex.elapsed_ms = a.elapsed_ms;
            ex.error = a.error;
            let binary = !is_text(a.content_type.as_deref(), &a.bytes);
            if binary || (path.starts_with("/v1/runpack/") && a.status.is_some_and(|s| s < 300)) {
                ex.body_base64 = Some(base64::engine::general_purpose::STANDARD.encode(&a.bytes));
            }
            if !binary {
                ex.body = String::from_utf8_lossy(&a.bytes).into_owned();
            }
            ex.content_type = a.content_type;
        }
        self.obs.http.push(ex);
        self.obs.http.len() - 1
    }

    pub(super) async fn get(&mut self, step: &str, path: &str) -> (Option<u16>, usize) {
        let i = self
            .exchange(step, reqwest::Method::GET, path, None, None)
            .await;
        (self.obs.http[i].status, i)
    }

    pub(super) async fn search(
        &mut self,
        step: &str,
        query: &str,
        refine: bool,
        traceparent: Option<Traceparent>,
        golden: Option<&GoldenQuery>,
    ) {
        self.queries.insert(query.to_owned());
        let body = json!({"query": query, "k": 10, "refine": refine});
        let i = self
            .exchange(
                step,
                reqwest::Method::POST,
                "/v1/search",
                Some(body),
                traceparent,
            )
            .await;
        let ex = &mut self.obs.http[i];
        if ex
            .error
            .as_deref()
            .is_none_or(|e| !e.starts_with("not sent"))
        {
            self.searches_sent += 1;
            self.search_wall_ms += ex.elapsed_ms;
        }
        if ex.status.is_some_and(|s| (200..300).contains(&s)) {
            self.searches_done += 1;
            if refine {
                self.refine_searches_done += 1;
            }
        }
        if let Some(g) = golden {
            ex.expected_path.clone_from(&g.expect_path);
            ex.expected_symbol.clone_from(&g.expect_symbol);
        }
        ex.embed_fault = match self.peers.embeddings.mode() {
            Mode::Ok => None,
            Mode::Delay(d) => Some(format!("delay:{}", d.as_millis())),
            other => Some(other.answered().to_owned()),
        };
    }

    /// The trace id of the first exchange of `step`: the one the SUT reported
    /// (`trace_id` in the body), else the one the harness sent.
    pub(super) fn trace_of(&self, step: &str) -> Option<String> {
        self.obs.http_at(step).find_map(|ex| {
            let reported = serde_json::from_str::<Value>(&ex.body)
                .ok()
                .and_then(|v| v.get("trace_id").and_then(Value::as_str).map(str::to_owned))
                .filter(|t| !t.is_empty());
            reported.or_else(|| ex.trace_id_sent.clone().filter(|_| ex.status.is_some()))
        })
    }

    pub(super) async fn scrape(&mut self, step: &str) {
        self.scrape_accepting(step, None).await;
    }

    /// One scrape, sending `accept` as the `Accept` header when given.
    pub(super) async fn scrape_accepting(&mut self, step: &str, accept: Option<&str>) {
        let mut s = Scrape {
            step: step.to_owned(),
            searches_done: self.searches_done,
            refine_searches_done: self.refine_searches_done,
            searches_sent: self.searches_sent,
            search_wall_ms: self.search_wall_ms,
            accept: accept.map(str::to_owned),
            distinct_queries: u32::try_from(self.queries.len()).unwrap_or(u32::MAX),
            embed_requests_seen: u32::try_from(self.peers.embeddings.request_count())
                .unwrap_or(u32::MAX),
            embed_texts_seen: u32::try_from(self.peers.embeddings.texts_received())
                .unwrap_or(u32::MAX),
            ..Scrape::default()
        };
        if let Some(reason) = self.skip_reason(Target::Metrics) {
            s.error = Some(reason);
        } else {
            let url = self.env.metrics_url();
            let mut req = self.request(reqwest::Method::GET, &url, None, None);
            if let Some(accept) = accept {
                req = req.header(reqwest::header::ACCEPT, accept);
            }
            let a = self.send(req).await;
            self.note_answer(Target::Metrics, &a);
            s.status = a.status;
            s.content_type = a.content_type;
            s.body = String::from_utf8_lossy(&a.bytes).into_owned();
            s.error = a.error;
        }
        self.obs.scrapes.push(s);
    }
}

/// Default of [`DriveConfig::max_body`]: far above any honest answer (a
/// scrape of the reference is a few tens of KiB, a runpack a few KiB).
pub const DEFAULT_MAX_BODY: usize = 8 * 1024 * 1024;

/// The body of `resp`, at most `max` bytes of it; `true` when more came (the
/// rest is read and dropped, so the connection stays usable).
pub(super) async fn read_bounded(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut out = Vec::new();
    let mut cut = false;
    while let Some(chunk) = resp.chunk().await? {
        let room = max.saturating_sub(out.len());
        if chunk.len() > room {
            cut = true;
        }
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok((out, cut))
}

/// Whether a response body is text (kept as `body`) or binary (base64).
pub(super) fn is_text(content_type: Option<&str>, bytes: &[u8]) -> bool {
    if let Some(ct) = content_type {
        let ct = ct.to_ascii_lowercase();
        if ct.starts_with("text/")
            || ct.contains("json")
            || ct.contains("xml")
            || ct.contains("openmetrics")
        {
            return true;
        }
        if ct.starts_with("application/") || ct.starts_with("image/") {
            return false;
        }
    }
    std::str::from_utf8(bytes).is_ok() && !bytes.contains(&0)
}

pub(super) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{} …", &text[..cut])
}
