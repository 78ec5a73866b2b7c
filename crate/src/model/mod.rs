//! Models: SAM-2 (one file per official module, fields named like the official state-dict
//! keys so official checkpoints load by name) and the small slice network.

pub mod common;
pub mod config;
pub mod position_encoding;

pub use config::Sam2Config;
