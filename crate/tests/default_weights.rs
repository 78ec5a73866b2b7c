//! The page's default weights (`web/assets/weights/`) load through the loaders the wasm build
//! uses (`SssSegmenter::load` → `weights::load_sss`, `SliceSegmenter::load`), their sha256
//! matches the manifest, and they segment a cardiac phantom the training never saw (the page's
//! demo scan: seed 2026, patient 1) clearly better than chance. The thresholds sit well below
//! what was measured (printed) and far above what wrong or untrained weights give (≈ 0).

use std::path::PathBuf;

use burn::tensor::Device;
use sss::data::phantom::cardiac::cardiac_case;
use sss::metrics::evaluate_volume;
use sss::predictor::slice::SliceSegmenter;
use sss::predictor::sss::{SegmentMode, SssSegmenter};
use sss::weights::read_export;

fn weights(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../web/assets/weights/{name}.json"))
}

fn mean_dice(pred: &sss::Volume<u8>, gt: &sss::Volume<u8>) -> f64 {
    let m = evaluate_volume(pred, gt, &[1, 2, 3], None).unwrap();
    m.iter().map(|c| c.dice).sum::<f64>() / m.len() as f64
}

#[test]
fn default_sss_weights_load_and_segment_the_demo_phantom() {
    let (manifest, bytes) = read_export(&weights("sss-cardiac")).unwrap();
    manifest.verify(&bytes).unwrap();
    let device = Device::flex();
    let segmenter = SssSegmenter::load(&manifest, bytes, &device).unwrap();
    let (image, gt) = cardiac_case(0, 2026);
    let seg = segmenter.segment(&image, SegmentMode::Full).unwrap();
    assert_eq!(seg.labels.dims, image.dims);
    assert_eq!(seg.prompts.len(), 3, "one PCSW prompt per class");
    let (full, coarse) = (mean_dice(&seg.labels, &gt), mean_dice(&seg.coarse, &gt));
    println!(
        "default SSS weights on the demo phantom: mean Dice full {full:.3}, coarse {coarse:.3}"
    );
    assert!(coarse > 0.3, "coarse head mean Dice {coarse}");
    assert!(full > 0.1, "full pipeline mean Dice {full}");
}

#[test]
fn slice_net_weights_still_load() {
    let (manifest, bytes) = read_export(&weights("slice-net-cardiac")).unwrap();
    assert!(SliceSegmenter::load(manifest, bytes, &Device::flex()).is_ok());
}
