//! SSS training (native only): augmentations, DFE, losses, the weak-to-strong loop, and the
//! supervised slice network.

pub mod slice_net;
