//! Parity of the Rust SAM-2 with the official PyTorch implementation, stage by stage.
//!
//! The fixtures (`tests/parity/fixtures/<config>/`, see `tests/parity/FIXTURES.md`) hold an
//! official checkpoint of fixed random weights (`weights.pt`), the inputs and every
//! intermediate output of the official code. The weights load through the same path as
//! `sss import-sam2`. Each test prints its measured error and passes when the maximum absolute
//! error is at most 1e-4, relative to the stage's largest magnitude where that exceeds 1.
//! `micro` fixtures are committed; `tiny` (1024², git-ignored) runs when present.

use std::collections::HashMap;
use std::path::PathBuf;

use burn::tensor::{Device, Int, Tensor, TensorData};
use sss::model::common::{Resample, resize};
use sss::model::import::load_sam2_checkpoint;
use sss::model::mask_decoder::MaskDecoderInput;
use sss::model::prompt_encoder::PointPrompt;
use sss::model::sam2_base::round_to_bf16;
use sss::model::{Sam2Base, Sam2Config};

const TOLERANCE: f32 = 1e-4;

struct Fixture {
    name: String,
    model: Sam2Base,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    meta: serde_json::Value,
    device: Device,
}

fn fixture_dir(config: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/parity/fixtures")
        .join(config)
}

impl Fixture {
    fn load(config: &str) -> Option<Fixture> {
        Self::load_set(config, config)
    }

    /// The fixture set in directory `set`, run with the weights of the set `weights_from`
    /// (a set without a `weights.pt` of its own borrows one; its meta.json names which).
    fn load_set(set: &str, weights_from: &str) -> Option<Fixture> {
        let dir = fixture_dir(set);
        let weights = fixture_dir(weights_from).join("weights.pt");
        let files = [
            weights.clone(),
            dir.join("tensors.safetensors"),
            dir.join("meta.json"),
        ];
        if let Some(missing) = files.iter().find(|f| !f.is_file()) {
            println!(
                "[{set}] skipped: {} not found (make it with tests/parity/make_fixtures.sh)",
                missing.display()
            );
            return None;
        }
        let device = Device::flex();
        let cfg = Sam2Config::by_name(weights_from).unwrap();
        let model = load_sam2_checkpoint(&weights, &cfg, &device)
            .unwrap_or_else(|e| panic!("[{set}] the fixture checkpoint must import: {e}"));
        let bytes = std::fs::read(dir.join("tensors.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let data: Vec<f32> = match view.dtype() {
                safetensors::Dtype::F32 => view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                safetensors::Dtype::I32 => view
                    .data()
                    .chunks_exact(4)
                    .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32)
                    .collect(),
                safetensors::Dtype::U8 => view.data().iter().map(|&v| v as f32).collect(),
                other => panic!("unexpected dtype {other:?} for {name}"),
            };
            tensors.insert(name, (view.shape().to_vec(), data));
        }
        let meta =
            serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
        Some(Fixture {
            name: set.to_string(),
            model,
            tensors,
            meta,
            device,
        })
    }

    fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn t<const D: usize>(&self, name: &str) -> Tensor<D> {
        let (shape, data) = self
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("fixture tensor {name} missing"));
        assert_eq!(shape.len(), D, "{name} has shape {shape:?}");
        Tensor::from_data(TensorData::new(data.clone(), shape.clone()), &self.device)
    }

    fn int<const D: usize>(&self, name: &str) -> Tensor<D, Int> {
        self.t::<D>(name).int()
    }

    fn meta_usize(&self, key: &str) -> usize {
        self.meta[key]
            .as_u64()
            .unwrap_or_else(|| panic!("meta.json has no integer {key}")) as usize
    }

    /// Slice `z` preprocessed as the official loader does: `(u8/255 - mean)/std`.
    fn image(&self, z: usize) -> Tensor<4> {
        let (shape, data) = &self.tensors["input.images_u8"];
        let (c, h, w) = (shape[1], shape[2], shape[3]);
        let mean = [0.485f32, 0.456, 0.406];
        let std = [0.229f32, 0.224, 0.225];
        let plane = h * w;
        let start = z * c * plane;
        let img: Vec<f32> = data[start..start + c * plane]
            .iter()
            .enumerate()
            .map(|(i, v)| (v / 255.0 - mean[i / plane]) / std[i / plane])
            .collect();
        Tensor::from_data(TensorData::new(img, [1, c, h, w]), &self.device)
    }

    fn point_prompt(&self, case: &str) -> PointPrompt {
        let box_pts = || -> (Tensor<3>, Tensor<2, Int>) {
            let b: Tensor<2> = self.t("input.box");
            (
                b.reshape([1, 2, 2]),
                Tensor::from_data(TensorData::new(vec![2i64, 3], [1, 2]), &self.device),
            )
        };
        let (coords, labels) = match case {
            "point1" | "points" => (
                self.t(&format!("input.{case}.coords")),
                self.int(&format!("input.{case}.labels")),
            ),
            "points_mask" => (
                self.t("input.points.coords"),
                self.int("input.points.labels"),
            ),
            "box" => box_pts(),
            "box_point" => {
                let (bc, bl) = box_pts();
                (
                    Tensor::cat(vec![bc, self.t("input.point1.coords")], 1),
                    Tensor::cat(vec![bl, self.int("input.point1.labels")], 1),
                )
            }
            other => panic!("unknown prompt case {other}"),
        };
        PointPrompt { coords, labels }
    }

    /// Compares and prints; returns the error relative to the scale.
    fn check<const D: usize>(&self, name: &str, actual: Tensor<D>, expected: Tensor<D>) -> f32 {
        assert_eq!(actual.dims(), expected.dims(), "{name}: shape");
        let scale = expected.clone().abs().max().into_scalar::<f32>().max(1.0);
        let err = (actual - expected).abs().max().into_scalar::<f32>();
        let ok = err <= TOLERANCE * scale;
        println!(
            "[{}] {name:<40} max abs err {err:.3e} (scale {scale:.3}, limit {:.1e}) {}",
            self.name,
            TOLERANCE * scale,
            if ok { "ok" } else { "FAIL" }
        );
        assert!(
            ok,
            "[{}] {name}: max abs error {err} > {}",
            self.name,
            TOLERANCE * scale
        );
        err / scale
    }

    fn check_named<const D: usize>(&self, name: &str, actual: Tensor<D>) -> f32 {
        self.check(name, actual, self.t(name))
    }
}

/// The fixture sets compared when present. `micro` is committed and required; `tiny` is made
/// on demand (`tests/parity/make_fixtures.sh --config tiny`, official tiny-sized weights).
const FIXTURE_SETS: [(&str, bool); 2] = [("micro", true), ("tiny", false)];

/// Runs `f` on every available fixture set; a missing required set fails the test.
fn for_each_fixture(stage: &str, f: impl Fn(&Fixture)) {
    for (config, required) in FIXTURE_SETS {
        match Fixture::load(config) {
            Some(fx) => f(&fx),
            None if required => panic!("parity_{stage}: the {config} fixture set is missing"),
            None => {}
        }
    }
}

/// Says which fixture sets the parity tests compare (`scripts/test.sh` prints it).
#[test]
fn parity_fixture_sets() {
    for (config, required) in FIXTURE_SETS {
        let present = Fixture::load(config).is_some();
        println!(
            "parity fixture set {config}: {}",
            if present {
                "present, compared by every parity test"
            } else {
                "absent, not compared"
            }
        );
        assert!(present || !required, "the {config} fixture set is required");
    }
    let long = Fixture::load_set(LONG_SET, "micro").is_some();
    println!(
        "parity fixture set {LONG_SET} (12 slices, 3 objects, micro weights): {}",
        if long {
            "present, compared by parity_long_multi_object_propagation"
        } else {
            "absent"
        }
    );
    assert!(long, "the {LONG_SET} fixture set is required");
    let preprocess = Fixture::load_set(PREPROCESS_SET, "micro").is_some();
    println!(
        "parity fixture set {PREPROCESS_SET} (a 160 × 288 image, micro weights): {}",
        if preprocess {
            "present, compared by parity_image_predictor_preprocessing"
        } else {
            "absent"
        }
    );
    assert!(preprocess, "the {PREPROCESS_SET} fixture set is required");
}

/// A non-square image through the official `SAM2ImagePredictor`: preprocessing, prompt
/// rescaling, masks at the original size (`tests/parity/make_preprocess_fixture.py`).
const PREPROCESS_SET: &str = "micro-preprocess";

/// The crate's image predictor on a 160 × 288 RGB image, as the official one: the model input
/// (to [0, 1], antialiased resize to S × S, normalisation), the prompts rescaled from the
/// original image, and the mask logits (back at 160 × 288), IoU predictions and low-resolution
/// logits of a box + click (one mask) and of one click (three masks).
#[test]
fn parity_image_predictor_preprocessing() {
    use sss::predictor::image::{ImagePredictor, ImagePrompt, sam2_input_from_rgb};
    let fx = Fixture::load_set(PREPROCESS_SET, "micro")
        .unwrap_or_else(|| panic!("the {PREPROCESS_SET} fixture set is missing"));
    let (h, w, s) = (
        fx.meta_usize("height"),
        fx.meta_usize("width"),
        fx.meta_usize("image_size"),
    );
    assert_ne!(h, w, "the image must not be square");
    let (shape, values) = &fx.tensors["input.image_u8"];
    assert_eq!(shape, &vec![h, w, 3]);
    let rgb: Vec<u8> = values.iter().map(|&v| v as u8).collect();
    let input = sam2_input_from_rgb(&rgb, [h, w], s, &fx.device).unwrap();
    fx.check_named("model_input", input);
    let mut predictor = ImagePredictor::new(fx.model.clone());
    predictor.set_image_rgb(&rgb, [h, w]).unwrap();
    let coords = |key: &str| -> Vec<f32> {
        fx.meta[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    let (b, p) = (coords("box"), coords("point"));
    let point = ImagePrompt {
        points: vec![[p[0], p[1]]],
        labels: vec![1],
        box_xyxy: None,
        mask_input: None,
    };
    let box_point = ImagePrompt {
        box_xyxy: Some([b[0], b[1], b[2], b[3]]),
        ..point.clone()
    };
    for (case, prompt, multimask, masks) in [
        ("box_point", box_point, false, 1),
        ("point", point, true, 3),
    ] {
        let out = predictor.predict(&prompt, multimask).unwrap();
        assert_eq!(
            out.masks.dims(),
            [1, masks, h, w],
            "{case}: masks at the image size"
        );
        fx.check_named(&format!("{case}.masks"), out.masks);
        fx.check_named(&format!("{case}.ious"), out.iou);
        fx.check_named(&format!("{case}.low_res"), out.low_res_logits);
    }
}

/// 12 slices, three objects prompted three ways on slice 2, propagated past the memory bank
/// (`tests/parity/make_long_fixture.py`; the micro set's weights).
const LONG_SET: &str = "micro-long";

const PROMPT_CASES: [&str; 5] = ["point1", "points", "box", "box_point", "points_mask"];

fn prompt_embeddings(fx: &Fixture, case: &str) -> (Tensor<3>, Tensor<4>) {
    let points = fx.point_prompt(case);
    let mask = (case == "points_mask").then(|| fx.t::<4>("input.mask_lowres"));
    fx.model
        .sam_prompt_encoder
        .forward(Some(&points), None, mask)
}

fn decode(
    model: &Sam2Base,
    fx: &Fixture,
    case: &str,
    multimask: bool,
) -> sss::model::mask_decoder::MaskDecoderOutput {
    let (sparse, dense) = prompt_embeddings(fx, case);
    model.sam_mask_decoder.forward(MaskDecoderInput {
        image_embeddings: fx.t("dec.in.image_embeddings"),
        image_pe: model.sam_prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings: sparse,
        dense_prompt_embeddings: dense,
        multimask_output: multimask,
        repeat_image: false,
        high_res_features: Some((fx.t("s1.highres.s0"), fx.t("s1.highres.s1"))),
    })
}

/// The decoder cases present in the fixture: (case, mode, multimask).
fn decoder_cases(fx: &Fixture) -> Vec<(&'static str, &'static str, bool)> {
    let mut cases = Vec::new();
    for case in PROMPT_CASES {
        for (mode, multi) in [("multi", true), ("single", false)] {
            if fx.has(&format!("dec.{case}.{mode}.masks")) {
                cases.push((case, mode, multi));
            }
        }
    }
    assert!(!cases.is_empty());
    cases
}

#[test]
fn parity_trunk() {
    for_each_fixture("trunk", |fx| {
        let img = fx.image(1);
        let rows = fx.meta["image_norm_rows"].as_array().unwrap();
        let (r0, r1) = (
            rows[0].as_u64().unwrap() as usize,
            rows[1].as_u64().unwrap() as usize,
        );
        let [_, c, _, w] = img.dims();
        let img_rows: Tensor<3> =
            img.clone()
                .slice([0..1, 0..c, r0..r1, 0..w])
                .reshape([c, r1 - r0, w]);
        fx.check_named("input.s1.image_norm_rows", img_rows);
        let levels = fx.model.image_encoder.trunk.forward(img);
        for (i, level) in levels.into_iter().enumerate() {
            let name = format!("s1.trunk.l{i}");
            if fx.has(&name) {
                fx.check_named(&name, level);
            }
        }
    });
}

#[test]
fn parity_neck() {
    for_each_fixture("neck", |fx| {
        let out = fx.model.image_encoder.forward(fx.image(1));
        for (i, (feat, pos)) in out.backbone_fpn.iter().zip(&out.vision_pos_enc).enumerate() {
            for (name, t) in [
                (format!("s1.neck.fpn{i}"), feat),
                (format!("s1.neck.pos{i}"), pos),
            ] {
                if fx.has(&name) {
                    fx.check_named(&name, t.clone());
                }
            }
        }
        let feats = fx.model.forward_image(fx.image(1));
        fx.check_named("s1.highres.s0", feats.vision_feats[0].clone());
        fx.check_named("s1.highres.s1", feats.vision_feats[1].clone());
        fx.check_named(
            "dec.in.image_embeddings",
            fx.model.image_embedding_without_memory(&feats),
        );
    });
}

#[test]
fn parity_prompt() {
    for_each_fixture("prompt", |fx| {
        fx.check_named(
            "prompt.image_pe",
            fx.model.sam_prompt_encoder.get_dense_pe(),
        );
        for case in PROMPT_CASES {
            let (sparse, dense) = prompt_embeddings(fx, case);
            fx.check_named(&format!("prompt.{case}.sparse"), sparse);
            let dense_name = format!("prompt.{case}.dense");
            if fx.has(&dense_name) {
                fx.check_named(&dense_name, dense);
            }
        }
    });
}

#[test]
fn parity_mask() {
    for_each_fixture("mask", |fx| {
        for (case, mode, multi) in decoder_cases(fx) {
            let out = decode(&fx.model, fx, case, multi);
            fx.check_named(&format!("dec.{case}.{mode}.masks"), out.masks);
        }
        // Dynamic multimask via stability (the predictors' postprocessing).
        let mut model = fx.model.clone();
        model.set_postprocessing(true);
        let out = decode(&model, fx, "points", false);
        fx.check_named("dec.points.single_dyn.masks", out.masks);
        fx.check_named("dec.points.single_dyn.iou", out.iou_pred);
    });
}

#[test]
fn parity_iou() {
    for_each_fixture("iou", |fx| {
        for (case, mode, multi) in decoder_cases(fx) {
            let out = decode(&fx.model, fx, case, multi);
            fx.check_named(&format!("dec.{case}.{mode}.iou"), out.iou_pred);
        }
        let (sparse, dense) = prompt_embeddings(fx, "points");
        let (_, iou, _, _) = fx.model.sam_mask_decoder.predict_masks(
            fx.t("dec.in.image_embeddings"),
            fx.model.sam_prompt_encoder.get_dense_pe(),
            sparse,
            dense,
            false,
            Some((fx.t("s1.highres.s0"), fx.t("s1.highres.s1"))),
        );
        fx.check_named("dec.points.all.iou", iou);
    });
}

#[test]
fn parity_object_score() {
    for_each_fixture("object_score", |fx| {
        for (case, mode, multi) in decoder_cases(fx) {
            let out = decode(&fx.model, fx, case, multi);
            fx.check_named(
                &format!("dec.{case}.{mode}.object_score_logits"),
                out.object_score_logits,
            );
            fx.check_named(
                &format!("dec.{case}.{mode}.sam_tokens_out"),
                out.sam_tokens_out,
            );
        }
    });
}

#[test]
fn parity_memory() {
    use burn::tensor::activation::sigmoid;
    use burn::tensor::module::interpolate;
    use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
    for_each_fixture("memory", |fx| {
        let s = fx.meta_usize("image_size");
        let pred: Tensor<4> = fx.t("prop.s1.pred_masks");
        let up = interpolate(
            pred,
            InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_output_size([s, s])
                .with_align_corners(false),
        );
        let masks = sigmoid(up) * 20.0 - 10.0;
        let (feat, pos) = fx
            .model
            .memory_encoder
            .forward(fx.t("s1.neck.fpn2"), masks, true);
        fx.check_named("memenc.out.vision_features", feat);
        fx.check_named("memenc.out.vision_pos_enc", pos);

        let seq = |name: &str| -> Tensor<3> { fx.t::<3>(name).swap_dims(0, 1) };
        let curr_pos: Tensor<4> = fx.t("s1.neck.pos2");
        let curr_pos: Tensor<3> = curr_pos.flatten::<3>(2, 3).swap_dims(1, 2);
        let n_ptr = fx.meta_usize("memattn.num_obj_ptr_tokens");
        let out = fx.model.memory_attention.forward(
            seq("memattn.in.curr"),
            seq("memattn.in.memory"),
            curr_pos,
            seq("memattn.in.memory_pos"),
            n_ptr,
        );
        let slice = fx.meta_usize("memattn.slice");
        fx.check(
            "memattn.out",
            out,
            seq(&format!("prop.s{slice}.memattn.out")),
        );
    });
}

/// Compares bf16-rounded values: each element within the f32 tolerance or one bf16 ulp of
/// the expected value (an ulp of x is at most 2⁻⁷·|x|), where f32 noise landed on a rounding
/// tie.
fn check_bf16(fx: &Fixture, name: &str, actual: Tensor<4>, expected: Tensor<4>) {
    let scale = expected.clone().abs().max().into_scalar::<f32>().max(1.0);
    let diff = (actual - expected.clone()).abs();
    let err = diff.clone().max().into_scalar::<f32>();
    let limit = expected.abs() * (1.0 / 128.0) + TOLERANCE * scale;
    let over = diff.clone().greater(limit).int().sum().into_scalar::<i64>();
    let beyond_f32 = diff
        .greater_elem(TOLERANCE * scale)
        .int()
        .sum()
        .into_scalar::<i64>();
    println!(
        "[{}] {name:<40} max abs err {err:.3e} (scale {scale:.3}); {beyond_f32} values one bf16 ulp off, {over} beyond {}",
        fx.name,
        if over == 0 { "ok" } else { "FAIL" }
    );
    assert_eq!(
        over, 0,
        "[{}] {name}: {over} values beyond one bf16 ulp",
        fx.name
    );
}

/// With postprocessing, a prompted slice's memory is encoded from its mask binarized at 0.
/// Logits that agree to about 1e-5 still flip the pixels that lie within that distance of 0
/// (2 of 1 048 576 with the tiny fixture, as this test prints), and each flipped pixel moves
/// the memory features around it far beyond the tolerance. So that slice's memory is checked by
/// encoding the reference's own mask through our memory encoder, and the flips are printed.
fn binarized_slice_memory(
    fx: &Fixture,
    model: &Sam2Base,
    z: usize,
    ours_low_res: Tensor<4>,
    name: &dyn Fn(&str) -> String,
) -> Tensor<4> {
    let s = fx.meta_usize("image_size");
    let to_high = |m: Tensor<4>| resize(m, [s, s], Resample::Bilinear);
    let reference_high = to_high(fx.t(&name("pred_masks")));
    let flips = (to_high(ours_low_res).greater_elem(0.0).int()
        - reference_high.clone().greater_elem(0.0).int())
    .abs()
    .sum()
    .into_scalar::<i64>();
    println!(
        "[{}] {:<40} {flips} of {} binarized mask pixels differ from the reference's",
        fx.name,
        name("pred_masks_high_res > 0"),
        s * s
    );
    let features = model.forward_image(fx.image(z));
    let (memory, _) = model.encode_new_memory(
        features.top().clone(),
        reference_high,
        fx.t(&name("object_score_logits")),
        true,
    );
    // Stored in bf16, as the predictor stores every memory.
    round_to_bf16(memory)
}

/// Propagates forward from `prompt_slice`, then backward, as the official predictor did, and
/// checks the slice order against the fixture's `order`.
fn propagate_as_the_fixture<S: sss::predictor::volume::SliceSource>(
    p: &mut sss::predictor::volume::VolumePredictor<S>,
    prompt_slice: usize,
    expected: &serde_json::Value,
) {
    let mut order: Vec<usize> = Vec::new();
    for reverse in [false, true] {
        let outputs = p.propagate(Some(prompt_slice), None, reverse).unwrap();
        order.extend(outputs.iter().map(|o| o.slice));
    }
    let expected: Vec<usize> = expected
        .as_array()
        .expect("the fixture's propagation order")
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(order, expected, "propagation order");
}

#[test]
fn parity_propagation() {
    use sss::predictor::volume::{PreparedSlices, VolumePredictor, VolumePredictorOptions};
    for_each_fixture("propagation", |fx| {
        let s = fx.meta_usize("image_size");
        let num_slices = fx.meta_usize("num_slices");
        let prompt_slice = fx.meta_usize("prompt_slice");
        let point: Vec<f32> = fx.tensors["input.point1.coords"].1.clone();
        let box_: Vec<f32> = fx.tensors["input.box"].1.clone();
        for run in ["prop", "prop_empty", "prop_pp"] {
            let prefix = format!("{run}.s0.pred_masks");
            if !fx.has(&prefix) {
                continue;
            }
            let mut model = fx.model.clone();
            model.set_postprocessing(run == "prop_pp");
            let source = PreparedSlices {
                inputs: (0..num_slices).map(|z| fx.image(z)).collect(),
                slice_size: [s, s],
            };
            let mut p =
                VolumePredictor::new(model, source, VolumePredictorOptions::default()).unwrap();
            match run {
                "prop" => {
                    p.add_points_or_box(prompt_slice, 1, &[[point[0], point[1]]], &[1], None, true)
                }
                "prop_empty" => p.add_mask(prompt_slice, 1, &vec![false; s * s]),
                _ => p.add_points_or_box(
                    prompt_slice,
                    1,
                    &[[point[0], point[1]]],
                    &[1],
                    Some([box_[0], box_[1], box_[2], box_[3]]),
                    true,
                ),
            }
            .unwrap();
            propagate_as_the_fixture(&mut p, prompt_slice, &fx.meta[&format!("{run}.order")]);
            for z in 0..num_slices {
                let out = p
                    .frame_output(1, z)
                    .unwrap_or_else(|| panic!("{run}: slice {z} has no output"));
                let name = |k: &str| format!("{run}.s{z}.{k}");
                fx.check_named(&name("pred_masks"), out.pred_masks.clone());
                fx.check_named(
                    &name("object_score_logits"),
                    out.object_score_logits.clone(),
                );
                fx.check_named(&name("obj_ptr"), out.obj_ptr.clone());
                let memory = if run == "prop_pp" && z == prompt_slice {
                    binarized_slice_memory(fx, p.model(), z, out.pred_masks.clone(), &name)
                } else {
                    out.maskmem_features.clone().unwrap()
                };
                check_bf16(
                    fx,
                    &name("maskmem_features"),
                    memory,
                    fx.t(&name("maskmem_features")),
                );
            }
        }
    });
}

/// Where the product lives: one object per class, through more slices than the memory bank
/// holds. The official predictor's masks, object scores and object pointers of every object on
/// every slice, in its propagation order (forward from the prompted slice, then backward).
#[test]
fn parity_long_multi_object_propagation() {
    use sss::predictor::volume::{PreparedSlices, VolumePredictor, VolumePredictorOptions};
    let fx = Fixture::load_set(LONG_SET, "micro")
        .unwrap_or_else(|| panic!("the {LONG_SET} fixture set is missing"));
    let s = fx.meta_usize("image_size");
    let num_slices = fx.meta_usize("num_slices");
    let prompt_slice = fx.meta_usize("prompt_slice");
    assert!(
        num_slices >= 10,
        "the long fixture must pass the 7-slot memory bank"
    );
    let source = PreparedSlices {
        inputs: (0..num_slices).map(|z| fx.image(z)).collect(),
        slice_size: [s, s],
    };
    let mut p =
        VolumePredictor::new(fx.model.clone(), source, VolumePredictorOptions::default()).unwrap();
    let objects = fx.meta["objects"].as_object().expect("meta.json: objects");
    assert!(
        objects.len() >= 3,
        "the long fixture must have several objects"
    );
    let mut ids = Vec::new();
    for (id, prompt) in objects {
        let id: u32 = id.parse().unwrap();
        let points: Vec<[f32; 2]> = prompt["points"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| [p[0].as_f64().unwrap() as f32, p[1].as_f64().unwrap() as f32])
                    .collect()
            })
            .unwrap_or_default();
        let labels: Vec<i32> = prompt["labels"]
            .as_array()
            .map(|a| a.iter().map(|l| l.as_i64().unwrap() as i32).collect())
            .unwrap_or_default();
        let box_xyxy = prompt["box"].as_array().map(|b| {
            let v: Vec<f32> = b.iter().map(|x| x.as_f64().unwrap() as f32).collect();
            [v[0], v[1], v[2], v[3]]
        });
        p.add_points_or_box(prompt_slice, id, &points, &labels, box_xyxy, true)
            .unwrap();
        ids.push(id);
    }
    propagate_as_the_fixture(&mut p, prompt_slice, &fx.meta["order"]);
    let mut compared = 0;
    for id in ids {
        for z in 0..num_slices {
            let out = p
                .frame_output(id, z)
                .unwrap_or_else(|| panic!("object {id}: slice {z} has no output"));
            let name = |k: &str| format!("o{id}.s{z}.{k}");
            fx.check_named(&name("pred_masks"), out.pred_masks.clone());
            fx.check_named(
                &name("object_score_logits"),
                out.object_score_logits.clone(),
            );
            fx.check_named(&name("obj_ptr"), out.obj_ptr.clone());
            compared += 3;
        }
    }
    assert_eq!(
        compared,
        fx.tensors.len() - 1,
        "every saved output was compared"
    );
}

#[test]
fn import_refuses_a_mismatching_checkpoint() {
    let path = fixture_dir("micro").join("weights.pt");
    let err = load_sam2_checkpoint(&path, &Sam2Config::tiny(), &Device::flex())
        .expect_err("a micro checkpoint must not load as tiny")
        .to_string();
    println!("{}", err.lines().take(3).collect::<Vec<_>>().join("\n"));
    assert!(err.contains("missing keys"), "{err}");
    assert!(err.contains("mismatches"), "{err}");
    let err = load_sam2_checkpoint(&path, &Sam2Config::micro().into_sam2_0(), &Device::flex())
        .expect_err("a SAM-2.1 checkpoint has keys SAM-2.0 lacks")
        .to_string();
    assert!(
        err.contains("unexpected keys") && err.contains("no_obj_embed_spatial"),
        "{err}"
    );
}
