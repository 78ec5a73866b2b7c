//! SSS training (native only): augmentations, DFE, losses, the weak-to-strong loop.

pub mod augment;
pub mod dfe;
pub mod losses;
