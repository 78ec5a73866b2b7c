//! SSS training (native only): augmentations, DFE, losses, the weak-to-strong loop, and the
//! supervised slice network.

pub mod augment;
pub mod dfe;
pub mod losses;
pub mod slice_net;
