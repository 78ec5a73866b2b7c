//! Diagnostic: the same trained weights and ground-truth prompts as `inspect_prompted`, but
//! through the training forward (`clip_forward`, all objects of a slice in one batch, one
//! frame). Per object: pixels predicted at the decoder's resolution and which classes they
//! cover. Agreement with `inspect_prompted` rules out a train/inference mismatch.
//!
//! ```sh
//! cargo run --release -p sss --example inspect_clip -- RUN_DIR IMAGE.nii.gz LABELS.nii.gz
//! ```
use burn::tensor::Device;
use sss::data::nifti_io::read_nifti;
use sss::predictor::sss::SssSegmenter;
use sss::train::sss::{clip_forward, ground_truth_prompts};
use sss::weights::read_export;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let device = Device::flex();
    let (manifest, bytes) =
        read_export(&std::path::PathBuf::from(&args[1]).join("model.json")).unwrap();
    let segmenter = SssSegmenter::load(&manifest, bytes, &device).unwrap();
    let image = read_nifti(&args[2]).unwrap();
    let gt = read_nifti(&args[3]).unwrap();
    let prepared = segmenter.prepare(&image).unwrap();
    let [nx, ny, nz] = image.dims;
    assert_eq!([nx, ny], [128, 128], "this diagnostic wants 128² slices");
    let s = 128;
    let low = s / 4;
    for z in 0..nz {
        let labels: Vec<u8> = gt.slice(z).iter().map(|v| v.round() as u8).collect();
        let prompts = ground_truth_prompts(&labels, s, segmenter.num_classes());
        if prompts.classes.is_empty() {
            continue;
        }
        let enc = segmenter.net().encode(prepared.inputs[z].clone());
        let out = clip_forward(&segmenter.net().sam, &enc.features, &prompts, false, None).unwrap();
        let logits = out.mask_logits.into_data().try_to_vec::<f32>().unwrap();
        for (o, class) in prompts.classes.iter().enumerate() {
            let mut by_class = [0usize; 4];
            for i in 0..low * low {
                if logits[o * low * low + i] > 0.0 {
                    let (x, y) = ((i % low) * 4 + 2, (i / low) * 4 + 2);
                    by_class[labels[y * s + x] as usize] += 1;
                }
            }
            let truth = (0..low * low)
                .filter(|i| labels[((i / low) * 4 + 2) * s + (i % low) * 4 + 2] == *class)
                .count();
            println!(
                "slice {z} class {class}: true {truth} px at {low}², predicted by true class {by_class:?}"
            );
        }
    }
}
