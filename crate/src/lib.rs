//! SSS: semi-supervised SAM-2 with efficient prompting for medical image segmentation.
//!
//! One crate, two front doors: the native `sss` CLI (training, evaluation, import, export) and
//! the wasm bindings the page loads (`web` feature). Data flows one way:
//! reader (`data`) → slices → predictor (`predictor`, `model`) → masks → writer or viewer.

pub mod backend;
pub mod data;
pub mod error;
pub mod metrics;
pub mod model;
pub mod predictor;
pub mod prompt;
pub mod stage_timing;
pub mod volume;
pub mod weights;

#[cfg(feature = "native")]
pub mod cli;
#[cfg(feature = "native")]
pub mod train;
#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub mod web;

pub use error::{Result, SssError};
pub use volume::Volume;
