//! Search: gate → gather_channels (dense ‖ sparse) → fuse → [refine] → hydrate.

pub mod engine;
pub mod fusion;
pub mod gating;
