//! The front doors to the models, shared by the CLI and the page: slice (one slice in, a label
//! map out), and for SAM-2 image (one slice, prompts in, masks out) and volume (prompts on any
//! slice, propagation through the stack).

pub mod coarse;
pub mod correction;
pub mod fit;
pub mod image;
pub mod label_fusion;
pub mod pipeline;
pub mod slice;
pub mod volume;

pub use image::{ImagePrediction, ImagePredictor, ImagePrompt};
pub use volume::{SliceOutput, SliceSource, VolumePredictor, VolumePredictorOptions};
