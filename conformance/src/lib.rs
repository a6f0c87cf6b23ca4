//! codeintel conformance: start peers → start SUT → drive → observe → check → report.

pub mod catalog;
pub mod checks;
pub mod drive;
pub mod observe;
pub mod peers;
pub mod report;
pub mod scrape;
pub mod sut;
