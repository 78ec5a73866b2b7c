//! What the inspection examples share: SSS weights (a run directory or a manifest) and one
//! labeled volume, read from the command line `WEIGHTS IMAGE.nii.gz LABELS.nii.gz`.

use burn::tensor::Device;
use sss::Volume;
use sss::cli::sss_weights::load_segmenter;
use sss::data::nifti_io::read_nifti;
use sss::predictor::sss::SssSegmenter;

/// The segmenter, the scan and its labels named by the first three arguments.
pub fn segmenter_and_case() -> (SssSegmenter, Volume<f32>, Volume<u8>) {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() >= 4,
        "usage: {} WEIGHTS IMAGE.nii.gz LABELS.nii.gz",
        args[0]
    );
    let (_, segmenter) = load_segmenter(args[1].as_ref(), &Device::flex()).unwrap();
    let image = read_nifti(&args[2]).unwrap();
    let gt = read_nifti(&args[3]).unwrap();
    let labels = image
        .with_data(gt.data.iter().map(|v| v.round() as u8).collect())
        .unwrap();
    (segmenter, image, labels)
}
