//! Diagnostic: the same trained weights and ground-truth prompts as `inspect_prompted`, but
//! through the training forward (`clip_forward`, all objects of a slice in one batch, one
//! frame). Per object: pixels predicted at the decoder's resolution and which classes they
//! cover. Agreement with `inspect_prompted` rules out a train/inference mismatch.
//!
//! ```sh
//! cargo run --release -p sss --example inspect_clip -- WEIGHTS IMAGE.nii.gz LABELS.nii.gz
//! ```
use sss::train::trainer::{clip_forward, ground_truth_prompts};

mod common;

fn main() {
    let (segmenter, image, gt) = common::segmenter_and_case();
    let prepared = segmenter.prepare(&image).unwrap();
    let [nx, ny, nz] = image.dims;
    assert_eq!([nx, ny], [128, 128], "this diagnostic wants 128² slices");
    let s = 128;
    let low = s / 4;
    for z in 0..nz {
        let labels: Vec<u8> = gt.slice(z).to_vec();
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
