//! `sss to-dicom scan.nii.gz OUT_DIR`: writes a NIfTI scan as a DICOM series (one file per
//! slice, uncompressed, its geometry kept: `data::dicom_writer::write_dicom_series`), as a
//! scanner would export it. For trying the DICOM path of `sss segment` and the page with scans
//! that exist as NIfTI (`scripts/demo-data.sh` makes the page's DICOM demo with it).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::data::dicom_writer::write_dicom_series;
use crate::data::nifti_io::read_nifti;

/// The modality written in the series.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum DicomModality {
    Ct,
    Mr,
}

/// Arguments of `sss to-dicom`.
#[derive(Args, Debug)]
pub struct ToDicomArgs {
    /// The scan (NIfTI).
    pub scan: PathBuf,
    /// The directory to write the series into (`IM0001.dcm`, …).
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = DicomModality::Mr)]
    pub modality: DicomModality,
}

/// Runs the command.
pub fn run(args: &ToDicomArgs) -> anyhow::Result<()> {
    let scan =
        read_nifti(&args.scan).with_context(|| format!("reading {}", args.scan.display()))?;
    let modality = match args.modality {
        DicomModality::Ct => "CT",
        DicomModality::Mr => "MR",
    };
    let files = write_dicom_series(&scan, modality)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (k, bytes) in files.iter().enumerate() {
        let path = args.out.join(format!("IM{:04}.dcm", k + 1));
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("wrote {} slices to {}", files.len(), args.out.display());
    Ok(())
}
