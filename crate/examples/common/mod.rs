//! What the inspection examples share: SSS weights (a run directory or a manifest) and labeled
//! volumes, by default from the command line `WEIGHTS IMAGE.nii.gz LABELS.nii.gz`.
#![allow(
    dead_code,
    reason = "every example compiles this module and uses part of it"
)]

use burn::tensor::Device;
use sss::Volume;
use sss::cli::sss_weights::load_segmenter;
use sss::data::nifti_io::read_nifti;
use sss::predictor::pipeline::SssSegmenter;

/// The segmenter, the scan and its labels named by the first three arguments.
pub fn segmenter_and_case() -> (SssSegmenter, Volume<f32>, Volume<u8>) {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() >= 4,
        "usage: {} WEIGHTS IMAGE.nii.gz LABELS.nii.gz",
        args[0]
    );
    let (image, labels) = case(&args[2], &args[3]);
    (segmenter(&args[1]), image, labels)
}

/// The segmenter of SSS weights (a run directory or a manifest), on flex.
pub fn segmenter(weights: &str) -> SssSegmenter {
    load_segmenter(weights.as_ref(), &Device::flex()).unwrap().1
}

/// A scan and its label map (rounded to classes).
pub fn case(image: &str, labels: &str) -> (Volume<f32>, Volume<u8>) {
    let image = read_nifti(image).unwrap();
    let gt = read_nifti(labels).unwrap();
    let labels = image
        .with_data(gt.data.iter().map(|v| v.round() as u8).collect())
        .unwrap();
    (image, labels)
}
