//! RUN-*: run diagnostics (runpacks and run reports).

use std::io::Read;

use super::{CheckResult, excerpt};
use crate::observe::{HttpExchange, Observations, steps};

/// The files of an archive: `(path, bytes)`.
pub type Files = Vec<(String, Vec<u8>)>;

/// Largest archive content read (a guard against decompression bombs).
const MAX_ARCHIVE_BYTES: u64 = 64 << 20;

/// Decodes standard or URL-safe base64, padded or not, ignoring whitespace.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let unpadded = compact.trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(unpadded)
        .or_else(|_| URL_SAFE_NO_PAD.decode(unpadded))
        .map_err(|e| format!("the body is not base64 ({e})"))
}

/// The files of a gzip-compressed (or plain) tar archive: `(path, bytes)`.
pub fn archive_files(bytes: &[u8]) -> Result<Files, String> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_ARCHIVE_BYTES)
            .read_to_end(&mut raw)
            .map_err(|e| format!("the gzip stream does not decode: {e}"))?;
        tar_files(&raw)
    } else {
        tar_files(bytes)
    }
}

fn tar_files(bytes: &[u8]) -> Result<Files, String> {
    let mut archive = tar::Archive::new(bytes);
    let entries = archive
        .entries()
        .map_err(|e| format!("not a tar archive: {e}"))?;
    let mut out = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("a tar entry does not read: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| format!("a tar entry has a bad path: {e}"))?
            .to_string_lossy()
            .into_owned();
        let mut data = Vec::new();
        (&mut entry)
            .take(MAX_ARCHIVE_BYTES)
            .read_to_end(&mut data)
            .map_err(|e| format!("tar entry `{path}` does not read: {e}"))?;
        out.push((path, data));
    }
    if out.is_empty() {
        return Err("the archive holds no file (is it a tar archive?)".to_owned());
    }
    Ok(out)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The runpack answer of `step`, as its files; or the result to report.
fn runpack<'a>(
    id: &str,
    obs: &'a Observations,
    step: &'a str,
) -> Result<(&'a HttpExchange, Files), CheckResult> {
    let Some(x) = obs.http_at(step).next() else {
        return Err(CheckResult::error(
            id,
            format!("the drive did not request a runpack (step `{step}`)"),
        ));
    };
    let answer = || format!("{} {}", x.method, x.path);
    match x.status {
        None => {
            return Err(CheckResult::fail(
                id,
                format!(
                    "{} got no answer ({})",
                    answer(),
                    x.error.as_deref().unwrap_or("no status")
                ),
            ));
        }
        Some(200) => {}
        Some(status) => {
            return Err(CheckResult::fail(
                id,
                format!(
                    "{} answered {status} ({}): serve runpacks at GET /v1/runpack/{{trace_id}}",
                    answer(),
                    excerpt(&x.body, 120)
                ),
            ));
        }
    }
    let Some(b64) = &x.body_base64 else {
        return Err(CheckResult::fail(
            id,
            format!(
                "{} answered 200 without an archive body ({}): answer a gzip-compressed tar",
                answer(),
                excerpt(&x.body, 120)
            ),
        ));
    };
    let files = decode_base64(b64)
        .and_then(|bytes| archive_files(&bytes))
        .map_err(|e| CheckResult::fail(id, format!("{} answered 200 but {e}", answer())))?;
    Ok((x, files))
}

fn listing(files: &[(String, Vec<u8>)]) -> Vec<String> {
    files
        .iter()
        .map(|(p, d)| format!("{p} ({} bytes)", d.len()))
        .collect()
}

/// RUN-001: a runpack holds the trace's timeline.
pub fn run_001(obs: &Observations) -> CheckResult {
    const ID: &str = "RUN-001";
    let (x, files) = match runpack(ID, obs, steps::RUNPACK) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let evidence = listing(&files);
    let Some((path, data)) = files.iter().find(|(p, _)| file_name(p) == "timeline.jsonl") else {
        return CheckResult::fail(
            ID,
            format!("the runpack of {} holds no timeline.jsonl", x.path),
        )
        .with_evidence(evidence);
    };
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return CheckResult::fail(
            ID,
            format!("`{path}` in the runpack is empty: write the trace's timeline events"),
        )
        .with_evidence(evidence);
    }
    if let Some((n, bad)) = lines
        .iter()
        .enumerate()
        .find(|(_, l)| serde_json::from_str::<serde_json::Value>(l).is_err())
    {
        return CheckResult::fail(
            ID,
            format!(
                "line {} of `{path}` is not JSON: {}",
                n + 1,
                excerpt(bad, 80)
            ),
        )
        .with_evidence(evidence);
    }
    let requested = requested_trace(&x.path);
    let mentions = |hay: &str| hay.to_ascii_lowercase().contains(&requested);
    if requested.is_empty()
        || !files
            .iter()
            .any(|(p, d)| mentions(p) || mentions(&String::from_utf8_lossy(d)))
    {
        return CheckResult::fail(
            ID,
            format!(
                "the runpack of {} never names the trace id asked for ({requested}): nothing ties \
                 it to that trace (a canned or another run's archive); write the trace id into \
                 the timeline events or the archive's files",
                x.path
            ),
        )
        .with_evidence(evidence);
    }
    let known = known_trace_ids(obs);
    let foreign: Vec<String> = hex_words(&text, 32)
        .into_iter()
        .filter(|t| *t != requested && known.contains(t))
        .collect();
    if let Some(other) = foreign.first() {
        return CheckResult::fail(
            ID,
            format!(
                "`{path}` of the runpack for trace {requested} holds events of another request's \
                 trace {other}: a runpack holds that trace's timeline only"
            ),
        )
        .with_evidence(evidence);
    }
    let unknown = match unknown_probe(obs) {
        Ok(line) => line,
        Err(msg) => return CheckResult::fail(ID, msg).with_evidence(evidence),
    };
    CheckResult::pass(
        ID,
        format!(
            "{} file(s) naming trace {requested}; `{path}` has {} event(s); {unknown}",
            files.len(),
            lines.len()
        ),
    )
    .with_evidence(evidence)
}

/// The trace id a runpack request asked for: the last path segment, lower-case.
fn requested_trace(path: &str) -> String {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Runs of exactly `len` hex digits in `text` (lower-cased), whole words.
fn hex_words(text: &str, len: usize) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == len)
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Trace ids of this run's requests: sent by the harness, or seen on spans.
fn known_trace_ids(obs: &Observations) -> std::collections::HashSet<String> {
    obs.http
        .iter()
        .filter_map(|h| h.trace_id_sent.clone())
        .chain(obs.mcp.iter().filter_map(|m| m.trace_id_sent.clone()))
        .chain(obs.spans.iter().map(|s| s.trace_id.clone()))
        .map(|t| t.to_ascii_lowercase())
        .collect()
}

/// The runpack asked for a trace id no request had must not be an archive.
fn unknown_probe(obs: &Observations) -> Result<String, String> {
    let Some(x) = obs.http_at(steps::RUNPACK_UNKNOWN).next() else {
        return Err(format!(
            "the drive did not ask for the runpack of an unknown trace id (step `{}`), so a \
             canned archive cannot be told from a real one",
            steps::RUNPACK_UNKNOWN
        ));
    };
    match x.status {
        Some(s) if (400..500).contains(&s) => Ok(format!(
            "{} {} (a trace id no request had) answered {s}",
            x.method, x.path
        )),
        Some(s) => Err(format!(
            "{} {} asks for a trace id no request had, and answered {s}{}: answer 404 for an \
             unknown trace id, not a canned runpack",
            x.method,
            x.path,
            if x.body_base64.is_some() {
                " with an archive"
            } else {
                ""
            }
        )),
        None => Err(format!(
            "{} {} (a trace id no request had) got no answer ({}): answer 404",
            x.method,
            x.path,
            x.error.as_deref().unwrap_or("no status")
        )),
    }
}

/// Stage words a run report may name.
const STAGES: [&str; 14] = [
    "gate",
    "gather_channels",
    "embed",
    "dense",
    "sparse",
    "fuse",
    "refine",
    "hydrate",
    "walk",
    "chunk",
    "write",
    "publish",
    "index",
    "search",
];

/// Words that say what failed.
const FAILURE_WORDS: [&str; 9] = [
    "fail",
    "error",
    "timeout",
    "timed out",
    "500",
    "unavailable",
    "refused",
    "abort",
    "stopped",
];

/// Whether `word` (a lower-case word of a line) is the failure word `w`:
/// numbers exactly (`500`, not `1500`), words and their inflections
/// (`fail` → `failed`, `failure`; `error` → `errors`).
fn is_failure_word(word: &str, w: &str) -> bool {
    if w.bytes().all(|b| b.is_ascii_digit()) {
        word == w
    } else {
        word.starts_with(w)
    }
}

/// The failure word on `lower` (a lower-cased line), matched as whole words.
fn failure_word(lower: &str) -> Option<&'static str> {
    // A `.` inside a word stays (`0.500` is not `500`); one ending a
    // sentence does not (`500.` is).
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
        .collect();
    FAILURE_WORDS.iter().copied().find(|fw| {
        let parts: Vec<&str> = fw.split(' ').collect();
        words.windows(parts.len()).any(|win| {
            win.iter()
                .zip(&parts)
                .all(|(word, part)| is_failure_word(word, part))
        })
    })
}

/// The first line of `text` that names a stage (as a whole word, in any case)
/// and, on the same line, what failed (as a whole word): `(line, stage,
/// failure word)`, the stage being the first one the line names.
///
/// One line must say both, so a report whose stage table says `ok` and whose
/// text says "no error" elsewhere does not pass as naming a failure, and
/// `1500 ms` is not the failure `500`.
fn failed_stage_line(text: &str) -> Option<(&str, &'static str, &'static str)> {
    text.lines().find_map(|line| {
        let lower = line.to_ascii_lowercase();
        let stage = lower
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .find_map(|w| STAGES.iter().find(|s| **s == w))?;
        let word = failure_word(&lower)?;
        Some((line.trim(), *stage, word))
    })
}

/// The stages a report may name for the failed run: the harness made the
/// embeddings server fail, so the embedding path (`embed`, `dense`,
/// `gather_channels`), plus the stage words of the spans the implementation
/// itself marked ERROR in that trace.
fn failed_stages(obs: &Observations, trace: &str) -> Vec<String> {
    let mut out: Vec<String> = ["embed", "dense", "gather_channels"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for s in obs.trace(trace) {
        if s.status == crate::observe::StatusCode::Error {
            for w in s
                .name
                .to_ascii_lowercase()
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            {
                if STAGES.contains(&w) && !out.iter().any(|o| o == w) {
                    out.push(w.to_owned());
                }
            }
        }
    }
    out
}

/// RUN-002: a run report names the failed stage and why.
pub fn run_002(obs: &Observations) -> CheckResult {
    const ID: &str = "RUN-002";
    let (x, files) = match runpack(ID, obs, steps::RUNPACK_FAILED) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let evidence = listing(&files);
    let Some((_, data)) = files.iter().find(|(p, _)| file_name(p) == "report.md") else {
        return CheckResult::fail(ID, format!("the runpack of {} holds no report.md", x.path))
            .with_evidence(evidence);
    };
    let text = String::from_utf8_lossy(data);
    let mut evidence = evidence;
    evidence.push(format!("report.md: {}", excerpt(&text, 300)));
    let expected = failed_stages(obs, &requested_trace(&x.path));
    if let Some((line, stage, _)) = failed_stage_line(&text)
        && !expected.iter().any(|e| e == stage)
    {
        return CheckResult::fail(
            ID,
            format!(
                "report.md says stage `{stage}` failed (\"{}\"), but the run failed in its \
                 embedding (the harness's embeddings server answered 500): name the stage that \
                 failed ({})",
                excerpt(line, 160),
                expected.join(", ")
            ),
        )
        .with_evidence(evidence);
    }
    if let Some((line, stage, word)) = failed_stage_line(&text) {
        return CheckResult::pass(
            ID,
            format!(
                "report.md names stage `{stage}` and the failure (`{word}`): \"{}\"",
                excerpt(line, 160)
            ),
        )
        .with_evidence(evidence);
    }
    let lower = text.to_ascii_lowercase();
    if STAGES.iter().any(|s| lower.contains(s)) {
        CheckResult::fail(
            ID,
            "report.md names no stage together with what failed: say on one line where the run \
             stopped and why (e.g. \"Stage `embed` failed: the embeddings server answered 500\")",
        )
        .with_evidence(evidence)
    } else {
        CheckResult::fail(
            ID,
            "report.md names no stage (gate, gather_channels, embed, fuse, hydrate, …): say where \
             the run stopped",
        )
        .with_evidence(evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_known_vectors() {
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(decode_base64("Zg==").unwrap(), b"f");
        assert_eq!(decode_base64("Zm8=").unwrap(), b"fo");
        assert_eq!(decode_base64("Zm9v").unwrap(), b"foo");
        assert_eq!(decode_base64("Zm9vYmFy\n").unwrap(), b"foobar");
        assert_eq!(decode_base64("Zm9vYg").unwrap(), b"foob", "unpadded");
        assert_eq!(decode_base64("_-8=").unwrap(), vec![0xff, 0xef], "url-safe");
        assert_eq!(decode_base64("/+8=").unwrap(), vec![0xff, 0xef], "standard");
        assert!(decode_base64("Zm9v!").is_err());
        assert!(decode_base64("Zg==Zg").is_err());
        assert!(decode_base64("Z").is_err());
    }

    #[test]
    fn the_failed_stage_and_why_must_share_a_line() {
        let (line, stage, word) =
            failed_stage_line("# Run\n\nStage `embed` failed: HTTP 500.\n").unwrap();
        assert_eq!((stage, word), ("embed", "fail"));
        assert_eq!(line, "Stage `embed` failed: HTTP 500.");
        assert_eq!(
            failed_stage_line("The run stopped at stage `hydrate`: catalog gone").map(|t| t.1),
            Some("hydrate")
        );
        assert_eq!(
            failed_stage_line("| embed | error | 12 |").map(|t| t.1),
            Some("embed")
        );
        // A success report: a stage table that says ok, and "no error" elsewhere.
        assert!(failed_stage_line("| gate | ok |\n| embed | ok |\n\nNo error.\n").is_none());
        // Stage words count only as whole words.
        assert!(failed_stage_line("embeddings failed").is_none());
    }

    #[test]
    fn failure_words_are_whole_words() {
        // `1500 ms` is not the failure `500`; `errorless` would be, by design.
        assert!(failed_stage_line("| embed | ok | 1500 |").is_none());
        assert!(failed_stage_line("| fuse | ok | 0.500 |").is_none());
        assert_eq!(
            failed_stage_line("Stage `embed` failed: HTTP 500.").map(|t| t.1),
            Some("embed")
        );
        assert!(failed_stage_line("stage embed: terrorist").is_none());
        assert_eq!(
            failed_stage_line("embed: timed out after 2 s").map(|t| t.2),
            Some("timed out")
        );
        assert_eq!(
            failed_stage_line("embed answered HTTP 500").map(|t| t.2),
            Some("500")
        );
    }

    #[test]
    fn hex_words_and_requested_trace() {
        assert_eq!(requested_trace("/v1/runpack/ABCdef"), "abcdef");
        let t = "a".repeat(32);
        assert_eq!(
            hex_words(
                &format!("{{\"trace_id\":\"{t}\",\"x\":\"{}\"}}", "b".repeat(33)),
                32
            ),
            vec![t]
        );
    }

    #[test]
    fn garbage_is_not_an_archive() {
        assert!(archive_files(b"hello").is_err());
        assert!(archive_files(&[0x1f, 0x8b, 0, 1, 2]).is_err());
    }
}
