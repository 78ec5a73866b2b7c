//! Diagnostic of trained SSS weights (RESULTS.md, "the fitting check"): SAM-2 prompted on
//! every slice of one labeled volume with each class's ground-truth box and interior point,
//! no memory, and each object's own mask scored against its class before the label map's
//! argmax: pixels predicted and true, Dice, and which class the predicted pixels really are.
//!
//! ```sh
//! cargo run --release -p sss --example inspect_prompted -- WEIGHTS IMAGE.nii.gz LABELS.nii.gz
//! ```
use sss::predictor::image::{ImagePredictor, ImagePrompt};
use sss::prompt::pcsw::slice_prompts_from_labels;

mod common;

fn main() {
    let (segmenter, image, labels) = common::segmenter_and_case();
    let prepared = segmenter.prepare(&image).unwrap();
    let classes: Vec<u8> = (1..segmenter.num_classes() as u8).collect();
    let prompts = slice_prompts_from_labels(&labels, &classes, segmenter.pcsw_config());
    let mut predictor = ImagePredictor::new(segmenter.net().sam.clone());
    let [nx, ny, _] = image.dims;
    let plane = nx * ny;
    let mut current = usize::MAX;
    for p in &prompts {
        let z = p.prompt.slice;
        if z != current {
            predictor
                .set_image(prepared.inputs[z].clone(), [ny, nx])
                .unwrap();
            current = z;
        }
        let out = predictor
            .predict(
                &ImagePrompt {
                    points: vec![p.prompt.point],
                    labels: vec![1],
                    box_xyxy: Some(p.prompt.box_xyxy),
                    mask_input: None,
                },
                false,
            )
            .unwrap();
        let logits = out.masks.into_data().try_to_vec::<f32>().unwrap();
        let truth = &labels.data[z * plane..(z + 1) * plane];
        let mut by_class = vec![0usize; classes.len() + 1];
        let (mut pred, mut inter) = (0, 0);
        for (l, &t) in logits.iter().zip(truth) {
            if *l > 0.0 {
                pred += 1;
                by_class[t as usize] += 1;
                if t == p.class {
                    inter += 1;
                }
            }
        }
        let area = truth.iter().filter(|&&t| t == p.class).count();
        println!(
            "slice {z} class {}: true {area} px, predicted {pred} px (by true class {:?}), \
             Dice {:.3}, object score {:.2}, IoU {:.2}",
            p.class,
            by_class,
            2.0 * inter as f64 / (pred + area).max(1) as f64,
            out.object_score_logits.into_scalar::<f32>(),
            out.iou.into_data().try_to_vec::<f32>().unwrap()[0],
        );
    }
}
