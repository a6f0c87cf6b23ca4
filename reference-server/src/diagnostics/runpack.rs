//! Runpacks: one request's diagnostics as a gzip-compressed tar archive.
//!
//! Entries, under the folder `runpack-{trace_id}/`:
//! - `timeline.jsonl`: the timeline events, one JSON object per line;
//! - `stages.json`: per-stage start, duration, outcome and error
//!   ([`super::report::stage_records`]);
//! - `run.json`: the run record without its events (operation, outcome,
//!   error, limits);
//! - `config.toml`: the server's configuration with secrets redacted;
//! - `report.md`: the run report ([`super::report::render`]).
//!
//! Building one is a pure function of the run record and the configuration
//! text (deterministic: entry times are the run's start).

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};

use super::report;
use super::timeline::RunRecord;

/// The entry names of a runpack, in archive order.
pub const ENTRIES: [&str; 5] = [
    "report.md",
    "timeline.jsonl",
    "stages.json",
    "run.json",
    "config.toml",
];

/// Why a runpack could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum RunpackError {
    #[error("cannot write the runpack archive: {0}")]
    Write(std::io::Error),
    #[error("cannot encode {entry} of the runpack: {source}")]
    Encode {
        entry: &'static str,
        source: serde_json::Error,
    },
    #[error("not a runpack archive (gzip tar expected): {0}")]
    Read(std::io::Error),
    #[error(
        "the runpack is larger than {MAX_UNPACKED} bytes once unpacked (a runpack is a few KiB): refused"
    )]
    TooLarge,
}

/// Most bytes [`unpack`] reads out of an archive (all entries together): a
/// guard against decompression bombs.
pub const MAX_UNPACKED: usize = 64 << 20;

/// The archive's top folder for a trace id.
pub fn folder(trace_id: &str) -> String {
    let safe: String = trace_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    format!("runpack-{safe}")
}

fn json<T: serde::Serialize>(entry: &'static str, value: &T) -> Result<Vec<u8>, RunpackError> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|source| RunpackError::Encode { entry, source })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The files of a runpack, name → content (before archiving).
pub fn files(
    run: &RunRecord,
    config_toml: &str,
) -> Result<Vec<(&'static str, Vec<u8>)>, RunpackError> {
    let mut timeline = Vec::new();
    for event in &run.events {
        let line = serde_json::to_vec(event).map_err(|source| RunpackError::Encode {
            entry: "timeline.jsonl",
            source,
        })?;
        timeline.extend_from_slice(&line);
        timeline.push(b'\n');
    }
    let summary = serde_json::json!({
        "trace_id": run.trace_id,
        "operation": run.operation,
        "started_unix_ms": run.started_unix_ms,
        "outcome": run.outcome,
        "error": run.error,
        "stopped_at": report::stopped_at(run).map(|(stage, _)| stage),
        "limits": run.limits,
        "events": run.events.len(),
    });
    Ok(vec![
        ("report.md", report::render(run).into_bytes()),
        ("timeline.jsonl", timeline),
        (
            "stages.json",
            json("stages.json", &report::stage_records(run))?,
        ),
        ("run.json", json("run.json", &summary)?),
        ("config.toml", config_toml.as_bytes().to_vec()),
    ])
}

/// Builds the gzip tar archive of `run`.
pub fn build(run: &RunRecord, config_toml: &str) -> Result<Vec<u8>, RunpackError> {
    let dir = folder(&run.trace_id);
    let mtime = u64::try_from(run.started_unix_ms / 1000).unwrap_or(0);
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(encoder);
    tar.mode(tar::HeaderMode::Deterministic);
    for (name, content) in files(run, config_toml)? {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{dir}/{name}"), content.as_slice())
            .map_err(RunpackError::Write)?;
    }
    let encoder = tar.into_inner().map_err(RunpackError::Write)?;
    let mut bytes = encoder.finish().map_err(RunpackError::Write)?;
    bytes.flush().map_err(RunpackError::Write)?;
    Ok(bytes)
}

/// Reads a runpack back: entry path (with its folder) → content.
pub fn unpack(archive: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, RunpackError> {
    let decoder = flate2::read::GzDecoder::new(archive);
    let mut tar = tar::Archive::new(decoder);
    let mut out = BTreeMap::new();
    let mut total = 0usize;
    for entry in tar.entries().map_err(RunpackError::Read)? {
        let mut entry = entry.map_err(RunpackError::Read)?;
        let path = entry
            .path()
            .map_err(RunpackError::Read)?
            .to_string_lossy()
            .into_owned();
        let mut content = Vec::new();
        let left = MAX_UNPACKED - total;
        (&mut entry)
            .take(left as u64 + 1)
            .read_to_end(&mut content)
            .map_err(RunpackError::Read)?;
        if content.len() > left {
            return Err(RunpackError::TooLarge);
        }
        total += content.len();
        out.insert(path, content);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::report::tests::{degraded_run, failed_run};

    #[test]
    fn archive_round_trips_every_entry() {
        let run = degraded_run();
        let bytes = build(&run, "repo = \"/r\"\n# token = \"<redacted>\"\n").unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
        let entries = unpack(&bytes).unwrap();
        let dir = folder(&run.trace_id);
        let names: Vec<&str> = entries.keys().map(String::as_str).collect();
        for name in ENTRIES {
            assert!(
                names.contains(&format!("{dir}/{name}").as_str()),
                "{name} missing from {names:?}"
            );
        }
        let timeline =
            String::from_utf8(entries[&format!("{dir}/timeline.jsonl")].clone()).unwrap();
        assert_eq!(timeline.lines().count(), run.events.len());
        for line in timeline.lines() {
            let event: crate::diagnostics::timeline::Event = serde_json::from_str(line).unwrap();
            assert!(!event.stage.is_empty());
        }
        let stages: serde_json::Value =
            serde_json::from_slice(&entries[&format!("{dir}/stages.json")]).unwrap();
        assert_eq!(stages.as_array().unwrap().len(), 5);
        assert_eq!(stages[1]["stage"], "dense");
        assert_eq!(stages[1]["outcome"], "error");
        let config = String::from_utf8(entries[&format!("{dir}/config.toml")].clone()).unwrap();
        assert!(config.contains("<redacted>"));
    }

    #[test]
    fn failed_run_pack_names_the_stage() {
        let run = failed_run();
        let entries = unpack(&build(&run, "").unwrap()).unwrap();
        let dir = folder(&run.trace_id);
        let summary: serde_json::Value =
            serde_json::from_slice(&entries[&format!("{dir}/run.json")]).unwrap();
        assert_eq!(summary["stopped_at"], "hydrate");
        assert_eq!(summary["outcome"], "error");
        let report = String::from_utf8(entries[&format!("{dir}/report.md")].clone()).unwrap();
        assert!(report.contains("stopped at stage `hydrate`"), "{report}");
    }

    #[test]
    fn build_is_deterministic_and_folder_is_sanitised() {
        let run = degraded_run();
        assert_eq!(build(&run, "x").unwrap(), build(&run, "x").unwrap());
        assert_eq!(folder("../../etc"), "runpack-etc");
        assert!(unpack(b"not a gzip").is_err());
    }
}
