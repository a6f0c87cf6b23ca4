//! Per-request timelines: what happened, stage by stage, kept in a bounded
//! in-memory store keyed by trace id (for runpacks).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One event of a request's timeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// Milliseconds since the request started.
    pub at_ms: f64,
    /// Wall-clock time, Unix milliseconds.
    pub unix_ms: u128,
    /// The pipeline stage (`gate`, `gather_channels`, `dense`, `sparse`,
    /// `fuse`, `refine`, `hydrate`, `request`).
    pub stage: String,
    /// `start`, `end`, `decision`, `error`, `note`.
    pub kind: String,
    /// Stage duration for `end` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// Free-form details (channel sizes, gating decision, error text).
    #[serde(skip_serializing_if = "serde_json::Value::is_null", default)]
    pub detail: serde_json::Value,
}

/// A request's timeline under construction. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Timeline {
    started: Instant,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave an event list invalid.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

impl Timeline {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            events: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn push(&self, stage: &str, kind: &str, duration_ms: Option<f64>, detail: serde_json::Value) {
        let event = Event {
            at_ms: self.started.elapsed().as_secs_f64() * 1e3,
            unix_ms: unix_ms(),
            stage: stage.to_owned(),
            kind: kind.to_owned(),
            duration_ms,
            detail,
        };
        lock(&self.events).push(event);
    }

    /// Marks the start of `stage`; the returned guard records its end.
    pub fn stage(&self, stage: &'static str) -> StageGuard {
        self.push(stage, "start", None, serde_json::Value::Null);
        StageGuard {
            timeline: self.clone(),
            stage,
            started: Instant::now(),
            detail: serde_json::Value::Null,
            failed: None,
        }
    }

    /// Records a decision or a note.
    pub fn note(&self, stage: &str, kind: &str, detail: serde_json::Value) {
        self.push(stage, kind, None, detail);
    }

    /// Records an error in `stage`.
    pub fn error(&self, stage: &str, message: &str) {
        self.push(
            stage,
            "error",
            None,
            serde_json::json!({ "message": message }),
        );
    }

    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.events).clone()
    }
}

/// Records the end of a stage when dropped.
#[derive(Debug)]
pub struct StageGuard {
    timeline: Timeline,
    stage: &'static str,
    started: Instant,
    detail: serde_json::Value,
    failed: Option<String>,
}

impl StageGuard {
    /// Details recorded with the stage's `end` event.
    pub fn detail(&mut self, detail: serde_json::Value) {
        self.detail = detail;
    }

    /// Marks the stage failed; its `end` event carries the message.
    pub fn fail(&mut self, message: impl Into<String>) {
        self.failed = Some(message.into());
    }
}

impl Drop for StageGuard {
    fn drop(&mut self) {
        let ms = self.started.elapsed().as_secs_f64() * 1e3;
        if let Some(message) = self.failed.take() {
            self.timeline.error(self.stage, &message);
        }
        let detail = std::mem::take(&mut self.detail);
        self.timeline.push(self.stage, "end", Some(ms), detail);
    }
}

/// A finished request as kept for diagnostics.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    pub trace_id: String,
    /// `search`, `tools/call semantic_search`, …
    pub operation: String,
    /// Unix milliseconds at start.
    pub started_unix_ms: u128,
    /// `ok` or `error`.
    pub outcome: String,
    /// The error, when the run failed.
    pub error: Option<String>,
    /// Degradations reported to the caller (`limits`).
    pub limits: Vec<String>,
    pub events: Vec<Event>,
}

/// Bounded store of recent runs keyed by trace id (oldest evicted first).
#[derive(Debug, Clone)]
pub struct RunStore {
    inner: Arc<Mutex<StoreInner>>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct StoreInner {
    order: VecDeque<String>,
    runs: HashMap<String, RunRecord>,
}

impl RunStore {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(StoreInner::default())),
            capacity: capacity.max(1),
        }
    }

    /// Keeps `run`, evicting the oldest beyond capacity.
    pub fn insert(&self, run: RunRecord) {
        let mut inner = lock(&self.inner);
        if inner
            .runs
            .insert(run.trace_id.clone(), run.clone())
            .is_none()
        {
            inner.order.push_back(run.trace_id);
        }
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.runs.remove(&old);
            }
        }
    }

    pub fn get(&self, trace_id: &str) -> Option<RunRecord> {
        lock(&self.inner).runs.get(trace_id).cloned()
    }

    pub fn len(&self) -> usize {
        lock(&self.inner).runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_record_start_end_and_errors() {
        let t = Timeline::new();
        {
            let mut g = t.stage("fuse");
            g.detail(serde_json::json!({"n": 3}));
        }
        {
            let mut g = t.stage("hydrate");
            g.fail("catalog gone");
        }
        let ev = t.events();
        let kinds: Vec<_> = ev
            .iter()
            .map(|e| format!("{}:{}", e.stage, e.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                "fuse:start",
                "fuse:end",
                "hydrate:start",
                "hydrate:error",
                "hydrate:end"
            ]
        );
        assert_eq!(ev[1].detail["n"], 3);
        assert!(ev[1].duration_ms.is_some());
    }

    #[test]
    fn store_is_bounded_and_evicts_oldest() {
        let s = RunStore::new(2);
        for id in ["a", "b", "c"] {
            s.insert(RunRecord {
                trace_id: id.into(),
                operation: "search".into(),
                started_unix_ms: 0,
                outcome: "ok".into(),
                error: None,
                limits: vec![],
                events: vec![],
            });
        }
        assert_eq!(s.len(), 2);
        assert!(s.get("a").is_none());
        assert!(s.get("c").is_some());
    }
}
