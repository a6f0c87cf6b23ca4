//! codeintel conformance: start peers → start SUT → drive → official MCP suite → observe →
//! check → report.

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
pub mod sut;
pub mod text;
