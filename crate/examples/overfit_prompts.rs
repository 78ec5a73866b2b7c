//! Diagnostic of the SAM-2 branch (RESULTS.md, "the fitting check"): micro SAM-2 at 128²,
//! from scratch, trained on fixed (slice, class) cases of one cardiac phantom volume with its
//! ground-truth box + box-centre prompt, no augmentation, no memory. It separates "the model
//! cannot fit" from "the model ignores its prompt": with one case it fits in < 100 steps; with
//! two prompts on the same slice (`pair=1,3`) a decoder that ignores its prompt predicts the
//! same mask for both (printed per case at the end).
//!
//! ```sh
//! cargo run --release -p sss --example overfit_prompts -- DATA_DIR CLASS STEPS [FLAG ...]
//! ```
//! DATA_DIR: an ACDC-layout phantom (`sss phantom --task cardiac`); its patient001 frame 01
//! is used, on the slice with the most of CLASS. Flags: `multi` (every slice and class with
//! foreground), `pair=A,B` (classes A and B of that slice), `freeze-encoder`, `focal` (the
//! official SAM-2 loss instead of BCE + Dice), `lr=X` (Adam, default 1e-3), `heads=N`,
//! `mlp=N` (the mask decoder's transformer), `dmodel=N` (the SAM heads' width, `neck.d_model`;
//! the mask features the hypernetwork reads have `N / 8` channels).
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData, activation};
use sss::data::intensity::IntensityRule;
use sss::data::nifti_io::read_nifti;
use sss::model::Sam2Config;
use sss::model::sam2_base::Sam2Base;
use sss::predictor::pipeline::model_input;
use sss::train::trainer::{box_and_centre, downsample_labels};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let class: u8 = args[2].parse().unwrap();
    let steps: usize = args[3].parse().unwrap();
    let flags: Vec<String> = args[4..].to_vec();
    let freeze = flags.iter().any(|a| a == "freeze-encoder");
    let multi = flags.iter().any(|a| a == "multi");
    let focal = flags.iter().any(|a| a == "focal");
    let img = read_nifti(dir.join("patient001/patient001_frame01.nii.gz")).unwrap();
    let gt = read_nifti(dir.join("patient001/patient001_frame01_gt.nii.gz")).unwrap();
    let [nx, ny, nz] = img.dims;
    // the slice with the most of the class
    let zbest = (0..nz)
        .max_by_key(|&z| {
            gt.slice(z)
                .iter()
                .filter(|&&v| v.round() as u8 == class)
                .count()
        })
        .unwrap();
    let map = IntensityRule::Percentiles {
        low: 0.5,
        high: 99.5,
    }
    .fit(&img.data)
    .unwrap();
    let device = Device::flex().autodiff();
    device.seed(1);
    let mut cfg = Sam2Config::micro();
    cfg.image_size = 128;
    for f in &flags {
        if let Some(h) = f.strip_prefix("heads=") {
            cfg.sam_heads.transformer_num_heads = h.parse().unwrap();
        }
        if let Some(d) = f.strip_prefix("dmodel=") {
            let d: usize = d.parse().unwrap();
            cfg.neck.d_model = d;
            cfg.neck.num_pos_feats = d;
            cfg.memory_attention.d_model = d;
            cfg.memory_encoder.in_dim = d;
        }
        if let Some(h) = f.strip_prefix("mlp=") {
            cfg.sam_heads.transformer_mlp_dim = h.parse().unwrap();
        }
    }
    let pair: Option<Vec<u8>> = flags
        .iter()
        .find_map(|f| f.strip_prefix("pair="))
        .map(|v| v.split(',').map(|x| x.parse().unwrap()).collect());
    let lr: f64 = flags
        .iter()
        .find_map(|f| f.strip_prefix("lr="))
        .map_or(1e-3, |v| v.parse().unwrap());
    eprintln!(
        "decoder heads {} mlp {}",
        cfg.sam_heads.transformer_num_heads, cfg.sam_heads.transformer_mlp_dim
    );
    let s = 128;
    let low = s / 4;
    let make = |z: usize, class: u8| {
        let input = model_input(&map.map_slice(img.slice(z)), [ny, nx], s, &device);
        // labels resized nearest to s×s
        let lab: Vec<u8> = (0..s * s)
            .map(|i| {
                let (x, y) = (i % s, i / s);
                let sx = x * nx / s;
                let sy = y * ny / s;
                gt.slice(z)[sy * nx + sx].round() as u8
            })
            .collect();
        let mask: Vec<bool> = lab.iter().map(|&l| l == class).collect();
        let (b, c) = box_and_centre(&mask, s).unwrap();
        let low_lab = downsample_labels(&lab, s, 4);
        let target: Vec<f32> = low_lab
            .iter()
            .map(|&l| if l == class { 1.0 } else { 0.0 })
            .collect();
        eprintln!(
            "slice {z}, class {class}: {} px at {s}², {} at {low}², box {b:?}",
            mask.iter().filter(|&&m| m).count(),
            target.iter().sum::<f32>()
        );
        let target: Tensor<4> =
            Tensor::from_data(TensorData::new(target, [1, 1, low, low]), &device);
        let points = sss::model::prompt_encoder::PointPrompt {
            coords: Tensor::from_data(
                TensorData::new(vec![b[0], b[1], b[2], b[3], c[0], c[1]], [1, 3, 2]),
                &device,
            ),
            labels: Tensor::from_data(TensorData::new(vec![2i64, 3, 1], [1, 3]), &device),
        };
        (input, target, points)
    };
    let mut cases = Vec::new();
    for z in 0..nz {
        for c in 1..=3u8 {
            let in_pair = pair.as_ref().is_some_and(|p| z == zbest && p.contains(&c));
            if (multi || in_pair || (pair.is_none() && z == zbest && c == class))
                && gt.slice(z).iter().any(|&v| v.round() as u8 == c)
            {
                cases.push(make(z, c));
            }
        }
    }
    eprintln!("{} cases", cases.len());
    let mut sam = Sam2Base::new(&cfg, &device).unwrap();
    if freeze {
        sam.image_encoder = sam.image_encoder.no_grad();
    }
    let mut optim = AdamConfig::new().init();
    let mut rng = 12345u64;
    let mut hard_sum = 0.0f32;
    let mut hard_n = 0;
    for step in 0..steps {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let (input, target, points) = &cases[(rng >> 33) as usize % cases.len()];
        let (input, target) = (input.clone(), target.clone());
        let feats = sam.forward_image(input.clone());
        let top = sam.image_embedding_without_memory(&feats);
        let out = sam.forward_sam_heads(top, Some(points), None, feats.high_res(), false);
        let logits = out.ungated_low_res_multimasks.clone();
        let p = activation::sigmoid(logits.clone());
        let bce = (logits.clone().clamp_min(0.0) - logits.clone() * target.clone()
            + logits.clone().abs().neg().exp().log1p())
        .mean();
        let inter = (p.clone() * target.clone()).sum();
        let dice = (inter * 2.0 + 1.0) / (p.clone().sum() + target.clone().sum() + 1.0);
        let loss = if focal {
            use sss::train::sam2_loss::*;
            let t = sam2_step_loss(
                Sam2StepInputs {
                    logits: logits.clone(),
                    pred_ious: out.ious.clone(),
                    object_scores: out.object_score_logits.clone(),
                    targets: target.clone(),
                    valid: target.clone().ones_like(),
                    present: Tensor::ones([1, 1], &device),
                },
                &Sam2LossConfig::default(),
            );
            t.weighted(&Sam2LossConfig::default())
        } else {
            bce + dice.neg() + 1.0
        };
        {
            let pb = p.clone().greater_elem(0.5).float();
            hard_sum += ((pb.clone() * target.clone()).sum() * 2.0
                / (pb.sum() + target.clone().sum() + 1e-6))
                .into_scalar::<f32>();
            hard_n += 1;
        }
        if (step + 1) % 50 == 0 {
            println!(
                "step {step}: loss {:.4} mean hard dice (last 50) {:.3}",
                loss.clone().into_scalar::<f32>(),
                hard_sum / hard_n as f32
            );
            hard_sum = 0.0;
            hard_n = 0;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &sam);
        sam = optim.step(lr, sam, grads);
    }
    for (i, (input, target, points)) in cases.iter().enumerate() {
        let feats = sam.forward_image(input.clone());
        let top = sam.image_embedding_without_memory(&feats);
        let out = sam.forward_sam_heads(top, Some(points), None, feats.high_res(), false);
        let pb = out.ungated_low_res_multimasks.greater_elem(0.0).float();
        let px = target.clone().sum().into_scalar::<f32>();
        let hard = ((pb.clone() * target.clone()).sum() * 2.0
            / (pb.clone().sum() + target.clone().sum() + 1e-6))
            .into_scalar::<f32>();
        println!(
            "case {i}: {px} px, predicted {} px, dice {hard:.3}",
            pb.sum().into_scalar::<f32>()
        );
    }
}
