//! Indexing: walk → chunk → embed → write (catalog, dense, sparse) → publish.

pub mod build;
pub mod chunk;
pub mod loaded;
pub mod publish;
pub mod walk;
