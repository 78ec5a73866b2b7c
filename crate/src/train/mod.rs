//! SSS training (native only): augmentations, DFE, losses, the weak-to-strong loop, and the
//! supervised slice network;
//! `sss` is the SSS loop, `ema` its teacher, `checkpoint` its resumable state.

pub mod augment;
pub mod checkpoint;
pub mod dfe;
pub mod ema;
pub mod losses;
pub mod slice_net;
pub mod sss;
