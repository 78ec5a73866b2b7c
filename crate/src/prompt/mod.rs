//! Prompt generation: PCSW (physical constraints + sliding window) turns coarse per-slice
//! masks of a whole volume into a box and a point on one slice, per class.

pub mod check;
pub mod components;
pub mod pcsw;
pub mod point;
