//! A SUT run as a process from a [`SutManifest`].
//!
//! The process gets a cleared environment holding only the allow-list
//! [`super::INHERITED_VARS`] (and the manifest's `inherit_env`) of the
//! harness's own, the contract's variables, then the manifest's `env` (whose
//! values may use `${VAR}` of the contract; it may not override one), runs in its own process
//! group, and has its stdout/stderr kept in a bounded ring buffer. Start-up
//! polls the ready URL against a deadline and notices an early exit. Stop
//! sends SIGTERM to the whole group, waits a short grace, then SIGKILL.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::manifest::{ReadyUrl, SutManifest, substitute};
use super::{StartInfo, Sut, SutEnv, SutError, Telemetry};
use crate::observe::SutInfo;

/// Lines kept from the SUT's output.
const TAIL_LINES: usize = 200;
/// Longest line kept (longer lines are cut).
const MAX_LINE: usize = 4000;
/// Time between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Time between two readiness polls.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The last lines a process wrote (stdout and stderr interleaved).
#[derive(Debug, Clone, Default)]
pub struct OutputTail {
    lines: Arc<Mutex<TailState>>,
}

#[derive(Debug, Default)]
struct TailState {
    lines: VecDeque<String>,
    /// Lines dropped from the front (only the last [`TAIL_LINES`] are kept).
    dropped: u64,
    /// Lines cut at [`MAX_LINE`].
    cut: u64,
}

impl OutputTail {
    fn push(&self, line: String) {
        let mut t = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if t.lines.len() == TAIL_LINES {
            t.lines.pop_front();
            t.dropped += 1;
        }
        t.lines.push_back(line);
    }

    fn note_cut(&self) {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cut += 1;
    }

    /// What was not kept, for the report (empty when everything was).
    pub fn truncations(&self) -> Vec<String> {
        let t = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        if t.dropped > 0 {
            out.push(format!(
                "SUT output: kept the last {TAIL_LINES} lines, dropped {} earlier",
                t.dropped
            ));
        }
        if t.cut > 0 {
            out.push(format!(
                "SUT output: {} line(s) cut at {MAX_LINE} bytes",
                t.cut
            ));
        }
        out
    }

    /// The kept lines joined with newlines.
    pub fn text(&self) -> String {
        let t = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        t.lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn clear(&self) {
        *self.lines.lock().unwrap_or_else(PoisonError::into_inner) = TailState::default();
    }
}

/// Copy `stream` into `tail` line by line until EOF.
fn spawn_reader<R>(stream: R, tail: OutputTail, prefix: &'static str) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let mut line = strip_ansi(String::from_utf8_lossy(&buf).trim_end());
                    if line.len() > MAX_LINE {
                        let mut cut = MAX_LINE;
                        while !line.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        line.truncate(cut);
                        line.push_str(" …");
                        tail.note_cut();
                    }
                    tail.push(format!("{prefix}{line}"));
                }
            }
        }
    })
}

/// `text` without ANSI escape sequences (colours of a logger that does not
/// check for a terminal), so tails read cleanly in reports.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            // CSI: ESC [ parameters… final byte in @..~
            Some('[') => {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: ESC ] … BEL or ESC \
            Some(']') => {
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            // Two-character escapes (ESC c, ESC =, …).
            Some(_) => {
                chars.next();
            }
            None => {}
        }
    }
    out
}

/// Send `signal` to every process of group `pgid`. Errors (the group is
/// gone: `ESRCH`) are ignored.
#[allow(unsafe_code)]
pub(crate) fn signal_group(pgid: u32, signal: libc::c_int) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; a
    // negative pid addresses the process group the harness created for its
    // child with `process_group(0)` (pgid == the child's pid, > 1 checked).
    unsafe {
        libc::kill(-pgid, signal);
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// A SUT started from a manifest.
#[derive(Debug)]
pub struct ProcessSut {
    manifest: SutManifest,
    start_timeout: Duration,
    child: Option<Child>,
    pgid: Option<u32>,
    exit: Option<ExitStatus>,
    tail: OutputTail,
    readers: Vec<JoinHandle<()>>,
    client: reqwest::Client,
}

impl ProcessSut {
    /// An adapter for `manifest` (not started).
    pub fn new(manifest: SutManifest) -> Self {
        let start_timeout = manifest.start_timeout;
        Self {
            manifest,
            start_timeout,
            child: None,
            pgid: None,
            exit: None,
            tail: OutputTail::default(),
            readers: Vec::new(),
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
        }
    }

    /// Override the manifest's `start_timeout_secs`.
    #[must_use]
    pub fn with_start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// The manifest this adapter runs.
    pub fn manifest(&self) -> &SutManifest {
        &self.manifest
    }

    fn ready_url(&self, env: &SutEnv, vars: &[(String, String)]) -> String {
        match &self.manifest.ready_url {
            ReadyUrl::Path(p) => format!("{}{p}", env.http_base()),
            ReadyUrl::Url(u) => substitute(u, vars),
        }
    }

    /// Wait (bounded) for the output readers to reach EOF, so the tail holds
    /// the last words of a process that exited.
    async fn drain_readers(&mut self, within: Duration) {
        let readers = std::mem::take(&mut self.readers);
        let deadline = tokio::time::Instant::now() + within;
        for mut r in readers {
            if tokio::time::timeout_at(deadline, &mut r).await.is_err() {
                r.abort();
            }
        }
    }

    fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none()
            && let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            self.exit = Some(status);
        }
        self.exit
    }

    async fn start_inner(&mut self, env: &SutEnv) -> Result<StartInfo, SutError> {
        // A retry starts from scratch.
        self.stop_inner().await;
        self.exit = None;
        self.tail.clear();

        let vars = env.vars();
        let m = &self.manifest;
        if !m.working_dir.is_dir() {
            return Err(SutError::WorkingDir(m.working_dir.clone()));
        }
        let mut cmd = Command::new(substitute(&m.program, &vars));
        // Hermetic: only the allow-list of the harness's own environment, then
        // the contract, then the manifest's `[env]` (which cannot name a
        // contract variable: the manifest refuses it).
        cmd.args(m.args.iter().map(|a| substitute(a, &vars)))
            .current_dir(&m.working_dir)
            .env_clear()
            .envs(super::inherited_env(std::env::vars(), &m.inherit_env))
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(m.env.iter().map(|(k, v)| (k.clone(), substitute(v, &vars))))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| SutError::Spawn {
            program: m.program.clone(),
            source,
        })?;
        let pid = child.id();
        self.pgid = pid;
        if let Some(out) = child.stdout.take() {
            self.readers.push(spawn_reader(out, self.tail.clone(), ""));
        }
        if let Some(err) = child.stderr.take() {
            self.readers.push(spawn_reader(err, self.tail.clone(), ""));
        }
        self.child = Some(child);

        let url = self.ready_url(env, &vars);
        let deadline = started + self.start_timeout;
        let mut last = "no attempt yet".to_owned();
        loop {
            if let Some(status) = self.poll_exit() {
                self.drain_readers(Duration::from_secs(1)).await;
                // Whatever the leader left behind in its group goes too.
                if let Some(pgid) = self.pgid.take() {
                    signal_group(pgid, libc::SIGKILL);
                }
                return Err(SutError::Exited {
                    status: describe(status),
                    after_ms: started.elapsed().as_millis() as u64,
                    output_tail: self.tail.text(),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SutError::NotListening {
                    url,
                    waited_secs: started.elapsed().as_secs_f64(),
                    last,
                    output_tail: self.tail.text(),
                });
            }
            let attempt = (deadline - now).min(Duration::from_secs(1));
            match self.client.get(&url).timeout(attempt).send().await {
                // Any HTTP answer means the process listens; the drive phase
                // judges health and readiness itself.
                Ok(_) => {
                    return Ok(StartInfo {
                        listening_after: started.elapsed(),
                        pid,
                    });
                }
                Err(e) => last = error_chain(&e),
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn stop_inner(&mut self) {
        let Some(mut child) = self.child.take() else {
            self.drain_readers(Duration::from_millis(100)).await;
            return;
        };
        if let Some(pgid) = self.pgid.take() {
            if self.exit.is_none() {
                signal_group(pgid, libc::SIGTERM);
                if let Ok(Ok(status)) = tokio::time::timeout(STOP_GRACE, child.wait()).await {
                    self.exit = Some(status);
                }
            }
            // Stragglers of the group (and a leader that ignored SIGTERM).
            signal_group(pgid, libc::SIGKILL);
        }
        if self.exit.is_none()
            && let Ok(Ok(status)) = tokio::time::timeout(Duration::from_secs(2), child.wait()).await
        {
            self.exit = Some(status);
        }
        self.drain_readers(Duration::from_secs(1)).await;
    }
}

/// An error with its sources, on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

impl Sut for ProcessSut {
    fn info(&self) -> SutInfo {
        SutInfo {
            name: self.manifest.name.clone(),
            kind: "process".to_owned(),
            service_name: String::new(),
            source_dir: self.manifest.source_dir.clone(),
            embed_model: String::new(),
        }
    }

    fn start_timeout(&self) -> Duration {
        self.start_timeout
    }

    fn otlp_protocol(&self) -> super::OtlpProtocol {
        self.manifest.otlp_protocol
    }

    fn start<'a>(&'a mut self, env: &'a SutEnv) -> BoxFuture<'a, Result<StartInfo, SutError>> {
        Box::pin(self.start_inner(env))
    }

    fn exited(&mut self) -> Option<String> {
        self.child.as_ref()?;
        self.poll_exit().map(describe)
    }

    fn telemetry(&self) -> Option<Telemetry> {
        None
    }

    fn output_tail(&self) -> String {
        self.tail.text()
    }

    fn truncations(&self) -> Vec<String> {
        self.tail.truncations()
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(self.stop_inner())
    }
}

impl Drop for ProcessSut {
    fn drop(&mut self) {
        // `kill_on_drop` only reaches the leader; take the whole group.
        if let Some(pgid) = self.pgid.take() {
            signal_group(pgid, libc::SIGKILL);
        }
        for r in &self.readers {
            r.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        let tail = OutputTail::default();
        for i in 0..(TAIL_LINES + 5) {
            tail.push(format!("line {i}"));
        }
        let text = tail.text();
        assert!(text.starts_with("line 5\n"), "{}", &text[..20]);
        assert!(text.ends_with(&format!("line {}", TAIL_LINES + 4)));
        assert_eq!(
            tail.truncations(),
            [format!(
                "SUT output: kept the last {TAIL_LINES} lines, dropped 5 earlier"
            )]
        );
        tail.clear();
        assert!(tail.truncations().is_empty());
    }

    #[test]
    fn ansi_escapes_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m ready"),
            "2026  INFO ready"
        );
        assert_eq!(strip_ansi("\u{1b}]0;title\u{7}plain"), "plain");
        assert_eq!(strip_ansi("no escapes: [x]"), "no escapes: [x]");
        assert_eq!(strip_ansi("cut \u{1b}"), "cut ");
    }

    #[test]
    fn exit_statuses_are_described() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(describe(ExitStatus::from_raw(3 << 8)), "exit status 3");
        assert_eq!(describe(ExitStatus::from_raw(9)), "killed by signal 9");
    }
}
