//! codeintel conformance: start peers → start SUT → drive → official MCP suite → observe →
//! check → report.
//!
//! [`session`] strings these together for one implementation (the binary's
//! subcommands loop over it); [`report`] renders the verdicts (one run, or
//! the [`report::matrix`] of several) and owns the exit codes; [`gate`] is
//! the telemetry regression gate; [`mutate`] the mutating proxy and the
//! mutation score.

pub mod catalog;
pub mod checks;
pub mod contract;
pub mod drive;
pub mod fixtures;
pub mod gate;
pub mod mcp_scenarios;
pub mod mcp_suite;
pub mod mutate;
pub mod observe;
pub mod peers;
pub mod report;
pub mod scrape;
pub mod session;
pub mod sut;
pub mod text;
