//! Models: SAM-2 (one file per official module, fields named like the official state-dict
//! keys so official checkpoints load by name) and the small slice network.

pub mod coarse_head;
pub mod common;
pub mod config;
pub mod hiera;
pub mod image_encoder;
pub mod import;
pub mod kernels;
pub mod mask_decoder;
pub mod memory_attention;
pub mod memory_encoder;
pub mod position_encoding;
pub mod prompt_encoder;
pub mod sam2_base;
pub mod slice_net;
pub mod sss_net;
pub mod transformer;

pub use config::Sam2Config;
pub use sam2_base::Sam2Base;
