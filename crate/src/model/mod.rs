//! Models: SAM-2 (one file per official module) and the small slice network.

pub mod slice_net;
