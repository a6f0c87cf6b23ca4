//! Run diagnostics: per-request timelines, runpacks and run reports.
//!
//! - [`timeline`]: the events of one request and the bounded store of
//!   recent runs keyed by trace id;
//! - [`report`]: the run report (`report.md`), naming the stage a failed
//!   run stopped at and why;
//! - [`runpack`]: a run's timeline, stage records, redacted configuration
//!   and report as one gzip tar archive.

pub mod report;
pub mod runpack;
pub mod timeline;
