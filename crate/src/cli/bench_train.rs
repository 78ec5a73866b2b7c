//! `sss bench --train`: the time of one SAM-2 training step, forward, backward and optimiser,
//! on a chosen device, for comparison with official SAM-2 in PyTorch
//! (`tests/parity/bench_torch_train.py` times the same step with the PyPI `sam2` code).
//!
//! The step is the two-slice clip that `sss train` runs for SAM-2 (its default recipe): both
//! slices through the image encoder as one batch; slice 0 prompted with a box and a positive
//! click per object (prompt encoder, mask decoder, memory encoder); slice 1 tracked from slice
//! 0's memory (memory attention, mask decoder); BCE + Dice of both slices' low-resolution mask
//! logits against fixed targets; backward; one AdamW update of every parameter. Inputs and
//! weights are seeded random (the time does not depend on them).

use std::time::Instant;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Distribution, Tensor, TensorData};
use serde::Serialize;

use crate::backend::ComputeDevice;
use crate::model::{Sam2Base, Sam2Config};
use crate::train::losses::bce_dice_loss;
use crate::train::trainer::{ObjectPrompts, clip_forward};

/// Objects per clip: one per cardiac class, as `sss train` on ACDC.
pub const OBJECTS: usize = 3;
/// Slices per clip (the default recipe).
pub const FRAMES: usize = 2;

/// The median time of one training step of one config.
#[derive(Debug, Serialize)]
pub struct TrainBenchResult {
    pub config: String,
    pub image_size: usize,
    pub backend: &'static str,
    pub frames: usize,
    pub objects: usize,
    pub iters: usize,
    pub step_ms: f64,
    /// Slices per second (`frames / step`).
    pub slices_per_s: f64,
}

/// Parses `config@size` (`micro@128`, `tiny@1024`); a bare name keeps the config's size.
pub fn parse_spec(spec: &str) -> anyhow::Result<(Sam2Config, String)> {
    let (name, size) = match spec.split_once('@') {
        Some((n, s)) => (
            n,
            Some(s.parse::<usize>().map_err(|e| {
                anyhow::anyhow!("`{spec}`: the size after @ must be a number ({e})")
            })?),
        ),
        None => (spec, None),
    };
    let mut cfg = Sam2Config::by_name(name)?;
    if let Some(s) = size {
        cfg.image_size = s;
    }
    cfg.validate()?;
    Ok((cfg, name.to_string()))
}

/// The clip's prompts: three boxes side by side with a click at each centre (model pixels).
fn prompts(size: usize) -> ObjectPrompts {
    let s = size as f32;
    let mut prompts = ObjectPrompts::default();
    for i in 0..OBJECTS {
        let x0 = s * (0.15 + 0.25 * i as f32);
        let b = [x0, 0.3 * s, x0 + 0.2 * s, 0.7 * s];
        prompts.push_box_and_point(i as u8 + 1, b, [(b[0] + b[2]) / 2.0, 0.5 * s]);
    }
    prompts
}

/// Targets `[FRAMES, OBJECTS, low, low]`: each object's box, filled.
fn targets(low: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; FRAMES * OBJECTS * low * low];
    for f in 0..FRAMES {
        for o in 0..OBJECTS {
            let x0 = (low as f32 * (0.15 + 0.25 * o as f32)) as usize;
            let (x1, y0, y1) = (x0 + low / 5, 3 * low / 10, 7 * low / 10);
            for y in y0..y1 {
                for x in x0..x1 {
                    t[((f * OBJECTS + o) * low + y) * low + x] = 1.0;
                }
            }
        }
    }
    t
}

/// Times `iters` training steps after `warmup` untimed ones; the median.
pub fn bench_train_step(
    spec: &str,
    device: &ComputeDevice,
    iters: usize,
    warmup: usize,
) -> anyhow::Result<TrainBenchResult> {
    let (cfg, name) = parse_spec(spec)?;
    let ad = device.device.clone().autodiff();
    let mut model = crate::backend::seeded(&ad, 0, || {
        Sam2Base::new(&cfg, &ad).map(crate::backend::materialised)
    })?;
    let mut optim = AdamWConfig::new().with_weight_decay(0.01).init();
    let s = cfg.image_size;
    let low = cfg.low_res_mask_size();
    let images = Tensor::<4>::random([FRAMES, 3, s, s], Distribution::Normal(0.0, 1.0), &ad);
    let targets: Tensor<4> = Tensor::from_data(
        TensorData::new(targets(low), [FRAMES, OBJECTS, low, low]),
        &ad,
    );
    let prompts = prompts(s);
    let mut step = |model: Sam2Base| -> anyhow::Result<Sam2Base> {
        let features = model.forward_image(images.clone());
        let out = clip_forward(&model, &features, &prompts, true, None)?;
        let loss = bce_dice_loss(out.mask_logits.clamp(-32.0, 32.0), targets.clone());
        let grads = GradientsParams::from_grads(loss.clone().backward(), &model);
        let model = optim.step(1e-4, model, grads);
        // Reading the loss and an updated weight waits for the forward, the backward and the
        // update (the GPU backends queue work until something is read).
        let loss = loss.into_scalar::<f32>();
        let w = model.sam_mask_decoder.mask_tokens.weight.val().sum();
        let _ = w.into_scalar::<f32>();
        if !loss.is_finite() {
            anyhow::bail!("the loss is not finite ({loss})");
        }
        Ok(model)
    };
    for _ in 0..warmup {
        model = step(model)?;
    }
    let mut times = Vec::with_capacity(iters.max(1));
    for _ in 0..iters.max(1) {
        let t0 = Instant::now();
        model = step(model)?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    drop(model);
    times.sort_by(f64::total_cmp);
    let step_ms = times[times.len() / 2];
    Ok(TrainBenchResult {
        config: name,
        image_size: s,
        backend: device.kind.name(),
        frames: FRAMES,
        objects: OBJECTS,
        iters: times.len(),
        step_ms,
        slices_per_s: FRAMES as f64 / (step_ms / 1e3),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_are_refused() {
        let (cfg, name) = parse_spec("micro@128").unwrap();
        assert_eq!((name.as_str(), cfg.image_size), ("micro", 128));
        assert!(parse_spec("micro@abc").is_err());
        assert!(parse_spec("nonesuch@128").is_err());
    }

    /// One timed step of micro at 64² on flex runs, and it trains: the loss of a second
    /// measurement run is finite and the result says what it timed.
    #[test]
    fn a_micro_training_step_is_timed_on_flex() {
        let r = bench_train_step("micro@64", &ComputeDevice::flex(), 1, 1).unwrap();
        assert_eq!((r.image_size, r.frames, r.objects, r.iters), (64, 2, 3, 1));
        assert!(r.step_ms > 0.0 && r.slices_per_s > 0.0);
    }
}
