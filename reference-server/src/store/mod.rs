//! Storage: the DuckDB catalog, the FAISS dense index and the tantivy sparse index.

pub mod catalog;
pub mod dense;
pub mod sparse;
