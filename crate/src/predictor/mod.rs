//! The two front doors to the model, shared by the CLI and the page: image (one slice,
//! prompts in, masks out) and volume (prompts on any slice, propagation through the stack).

pub mod image;
pub mod volume;

pub use image::{ImagePrediction, ImagePredictor, ImagePrompt};
pub use volume::{SliceOutput, SliceSource, VolumePredictor, VolumePredictorOptions};
