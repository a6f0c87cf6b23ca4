//! What the receiver keeps: bounded records, errors and counts, shared by the
//! HTTP and gRPC endpoints (one decode-and-keep path for both).

use std::sync::{Arc, Mutex, PoisonError};

use crate::observe::{LogRecord, SpanRecord};

use super::{Encoding, OtlpDecodeError, Signal, decode_logs, decode_traces};

/// Everything received so far.
/// How much the receiver keeps of one run: records beyond these are
/// counted and dropped (see [`OtlpReceiver::truncations`]), so a SUT that
/// floods the receiver cannot exhaust the harness's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveLimits {
    /// Span records kept.
    pub max_spans: usize,
    /// Log records kept.
    pub max_logs: usize,
    /// Decoded payload bytes accepted in total (all signals).
    pub max_bytes: usize,
    /// Refusal messages kept.
    pub max_errors: usize,
}

impl Default for ReceiveLimits {
    fn default() -> Self {
        Self {
            max_spans: 50_000,
            max_logs: 50_000,
            max_bytes: 256 * 1024 * 1024,
            max_errors: 100,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub(super) struct Received {
    pub(super) limits: ReceiveLimits,
    pub(super) spans: Vec<SpanRecord>,
    pub(super) logs: Vec<LogRecord>,
    pub(super) errors: Vec<String>,
    pub(super) exports: u32,
    pub(super) bytes: usize,
    pub(super) dropped_spans: usize,
    pub(super) dropped_logs: usize,
    pub(super) dropped_payloads: usize,
    pub(super) dropped_errors: usize,
}

impl Received {
    pub(super) fn keep<T>(kept: &mut Vec<T>, max: usize, dropped: &mut usize, new: Vec<T>) {
        let room = max.saturating_sub(kept.len());
        *dropped += new.len().saturating_sub(room);
        kept.extend(new.into_iter().take(room));
    }

    pub(super) fn truncations(&self) -> Vec<String> {
        let l = &self.limits;
        let mut out = Vec::new();
        if self.dropped_spans > 0 {
            out.push(format!(
                "OTLP receiver: kept the first {} spans, dropped {} more",
                l.max_spans, self.dropped_spans
            ));
        }
        if self.dropped_logs > 0 {
            out.push(format!(
                "OTLP receiver: kept the first {} log records, dropped {} more",
                l.max_logs, self.dropped_logs
            ));
        }
        if self.dropped_payloads > 0 {
            out.push(format!(
                "OTLP receiver: {} payload(s) dropped undecoded after {} bytes were received",
                self.dropped_payloads, l.max_bytes
            ));
        }
        if self.dropped_errors > 0 {
            out.push(format!(
                "OTLP receiver: kept the first {} refusal messages, dropped {} more",
                l.max_errors, self.dropped_errors
            ));
        }
        out
    }
}

pub(super) type Shared = Arc<Mutex<Received>>;

pub(super) fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Received> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Decode one export of `signal` (already decompressed) and keep what it
/// holds within the limits. Shared by OTLP/HTTP and OTLP/gRPC; the caller
/// counts the export and records a refusal.
pub(super) fn ingest(
    shared: &Shared,
    signal: Signal,
    encoding: Encoding,
    raw: &[u8],
) -> Result<(), OtlpDecodeError> {
    {
        let mut r = lock(shared);
        if r.bytes.saturating_add(raw.len()) > r.limits.max_bytes {
            r.dropped_payloads += 1;
            return Ok(());
        }
        r.bytes += raw.len();
    }
    match signal {
        Signal::Traces => decode_traces(encoding, raw).map(|spans| {
            let r = &mut *lock(shared);
            Received::keep(
                &mut r.spans,
                r.limits.max_spans,
                &mut r.dropped_spans,
                spans,
            );
        }),
        Signal::Logs => decode_logs(encoding, raw).map(|logs| {
            let r = &mut *lock(shared);
            Received::keep(&mut r.logs, r.limits.max_logs, &mut r.dropped_logs, logs);
        }),
        Signal::Metrics => Ok(()),
    }
}

/// Keep a refusal message (within [`ReceiveLimits::max_errors`]).
pub(super) fn refuse(shared: &Shared, message: String) {
    let r = &mut *lock(shared);
    Received::keep(
        &mut r.errors,
        r.limits.max_errors,
        &mut r.dropped_errors,
        vec![message],
    );
}
