//! Diagnostic of trained SSS weights (RESULTS.md): SAM-2 prompted with one ground-truth prompt
//! per class (PCSW on the labels, as `sss eval --gt-prompts`) and propagated both ways through
//! one volume; for every slice and object, its own mask before the label map's argmax: pixels
//! predicted and true, Dice against its class, which class the predicted pixels really are,
//! and the object score. Shows where and how propagation loses an object.
//!
//! ```sh
//! cargo run --release -p sss --example inspect_propagation -- WEIGHTS IMAGE.nii.gz LABELS.nii.gz
//! ```
use burn::tensor::Device;
use sss::data::nifti_io::read_nifti;
use sss::predictor::sss::SssSegmenter;
use sss::predictor::volume::{PreparedSlices, VolumePredictor, VolumePredictorOptions};
use sss::prompt::pcsw::pcsw_prompts_from_labels;
use sss::weights::read_export;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let device = Device::flex();
    let manifest_path = std::path::PathBuf::from(&args[1]).join("model.json");
    let (manifest, bytes) = read_export(&manifest_path).unwrap();
    let segmenter = SssSegmenter::load(&manifest, bytes, &device).unwrap();
    let image = read_nifti(&args[2]).unwrap();
    let gt = read_nifti(&args[3]).unwrap();
    let labels = image
        .with_data(gt.data.iter().map(|v| v.round() as u8).collect())
        .unwrap();
    let prepared = segmenter.prepare(&image).unwrap();
    let classes: Vec<u8> = (1..segmenter.num_classes() as u8).collect();
    let prompts = pcsw_prompts_from_labels(&labels, &classes, segmenter.pcsw_config()).unwrap();
    let [nx, ny, _] = image.dims;
    let source = PreparedSlices {
        inputs: prepared.inputs.clone(),
        slice_size: [ny, nx],
    };
    let mut predictor = VolumePredictor::new(
        segmenter.net().sam.clone(),
        source,
        VolumePredictorOptions::default(),
    )
    .unwrap();
    for p in prompts.iter().filter(|p| !p.prompt.is_empty()) {
        println!(
            "prompt class {} on slice {}: box {:?} point {:?}",
            p.class, p.prompt.slice, p.prompt.box_xyxy, p.prompt.point
        );
        predictor
            .add_points_or_box(
                p.prompt.slice,
                u32::from(p.class),
                &[p.prompt.point],
                &[1],
                Some(p.prompt.box_xyxy),
                true,
            )
            .unwrap();
    }
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
