//! Diagnostic of trained SSS weights (RESULTS.md): SAM-2 prompted with one ground-truth prompt
//! per class (PCSW on the labels, as `sss eval --gt-prompts`) and propagated both ways through
//! one volume; for every slice and object, its own mask before the label map's argmax: pixels
//! predicted and true, Dice against its class, which class the predicted pixels really are,
//! and the object score. Shows where and how propagation loses an object.
//!
//! ```sh
//! cargo run --release -p sss --example inspect_propagation -- WEIGHTS IMAGE.nii.gz LABELS.nii.gz
//! ```
use sss::prompt::pcsw::pcsw_prompts_from_labels;

mod common;

fn main() {
    let (segmenter, image, labels) = common::segmenter_and_case();
    let prepared = segmenter.prepare(&image).unwrap();
    let classes: Vec<u8> = (1..segmenter.num_classes() as u8).collect();
    let prompts = pcsw_prompts_from_labels(&labels, &classes, segmenter.pcsw_config()).unwrap();
    for p in prompts.iter().filter(|p| !p.prompt.is_empty()) {
        println!(
            "prompt class {} on slice {}: box {:?} point {:?}",
            p.class, p.prompt.slice, p.prompt.box_xyxy, p.prompt.point
        );
    }
    let mut predictor = segmenter
        .prompted_predictor(&prepared, &prompts)
        .unwrap()
        .expect("the labels hold at least one class");
    let [nx, ny, _] = image.dims;
    let plane = nx * ny;
    let mut outputs = predictor.propagate_both_ways().unwrap();
    outputs.sort_by_key(|o| o.slice);
    for out in outputs {
        let z = out.slice;
        let logits = out
            .masks_at([ny, nx])
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let truth = &labels.data[z * plane..(z + 1) * plane];
        for (o, object) in out.objects.iter().enumerate() {
            let class = object.obj_id as u8;
            let mine = &logits[o * plane..(o + 1) * plane];
            let mut by_class = vec![0usize; classes.len() + 1];
            let (mut pred, mut inter) = (0, 0);
            for (l, &t) in mine.iter().zip(truth) {
                if *l > 0.0 {
                    pred += 1;
                    by_class[t as usize] += 1;
                    inter += usize::from(t == class);
                }
            }
            let area = truth.iter().filter(|&&t| t == class).count();
            println!(
                "slice {z:2} class {class}: true {area:4} px, predicted {pred:4} px {by_class:?}, \
                 Dice {:.3}, object score {:6.2}",
                2.0 * inter as f64 / (pred + area).max(1) as f64,
                object.object_score_logits.clone().into_scalar::<f32>(),
            );
        }
    }
}
