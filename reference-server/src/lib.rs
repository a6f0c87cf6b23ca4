//! codeintel reference server.
//!
//! index: walk → chunk → embed → write (catalog, dense, sparse) → publish.
//! search: gate → gather_channels (dense ‖ sparse) → fuse → [refine] → hydrate.
//!
//! See `ARCHITECTURE.md` at the repository root for the code map.

pub mod config;
pub mod diagnostics;
pub mod embed;
pub mod eval;
pub mod index;
pub mod observability;
pub mod search;
pub mod serve;
pub mod store;
pub mod text;
