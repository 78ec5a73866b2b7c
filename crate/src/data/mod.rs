//! Data: scan readers and writers, intensity normalisation, dataset layouts, phantoms.

pub mod nifti_io;
pub mod phantom;
