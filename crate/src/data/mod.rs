//! Data: scan readers and writers, intensity normalisation, dataset layouts, phantoms.

pub mod acdc;
pub mod bhsd;
pub mod dataset;
pub mod dicom_bounds;
pub mod dicom_series;
pub mod dicom_writer;
pub mod intensity;
pub mod label_export;
pub mod nifti2;
mod nifti_header;
pub mod nifti_io;
pub mod phantom;
pub mod raster;
