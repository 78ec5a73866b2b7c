//! The official SAM-2 training loss (`training/loss_fns.py::MultiStepMultiMasksAndIous`,
//! `docs/sam2-training.md` §2), for one decoder step of one frame:
//!
//! - `loss_mask`: sigmoid focal loss (α = 0.25 on foreground, γ = 2) averaged over pixels;
//! - `loss_dice`: `1 − (2Σpt + 1)/(Σp + Σt + 1)` on sigmoid probabilities;
//! - `loss_iou`: L1 between the IoU head and the actual IoU of `logits > 0` (no gradient into
//!   the actual IoU), over all multimask outputs (`supervise_all_iou`);
//! - `loss_class`: BCE of the object-score logit against "the object is present".
//!
//! With several multimask outputs, focal and Dice are taken from the output with the lowest
//! `20·focal + Dice` only. Focal, Dice and IoU are zero for absent objects (only the object
//! score teaches absence). Each term is a mean over objects. The prediction is compared at the
//! target's resolution: low-resolution logits are upsampled bilinearly
//! (`align_corners = false`) by [`upsample_bilinear`], which is two matrix products and so
//! differentiable on every backend (burn's GPU backends have no bilinear interpolation
//! backward).

use burn::tensor::{Tensor, TensorData, activation};
use serde::{Deserialize, Serialize};

use super::losses::bce_with_logits;
use crate::model::common::bilinear_matrix;
use crate::model::mask_decoder::argmax_one_hot;

/// Weights and focal settings of the SAM-2 loss (official MOSE fine-tuning config).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sam2LossConfig {
    pub weight_mask: f64,
    pub weight_dice: f64,
    pub weight_iou: f64,
    pub weight_class: f64,
    pub focal_alpha: f64,
    pub focal_gamma: f64,
    /// IoU loss on every multimask output (official) rather than the selected one.
    pub supervise_all_iou: bool,
}

impl Sam2LossConfig {
    /// Official SAM-2 training's weights and focal parameters (`docs/sam2-training.md`).
    pub const OFFICIAL: Self = Self {
        weight_mask: 20.0,
        weight_dice: 1.0,
        weight_iou: 1.0,
        weight_class: 1.0,
        focal_alpha: 0.25,
        focal_gamma: 2.0,
        supervise_all_iou: true,
    };
}

impl Default for Sam2LossConfig {
    fn default() -> Self {
        Self::OFFICIAL
    }
}

/// The four named terms of the SAM-2 loss (each a scalar `[1]`).
#[derive(Clone, Debug)]
pub struct Sam2LossTerms {
    pub loss_mask: Tensor<1>,
    pub loss_dice: Tensor<1>,
    pub loss_iou: Tensor<1>,
    pub loss_class: Tensor<1>,
}

impl Sam2LossTerms {
    /// `Σ weight · term` (official `reduce_loss`).
    pub fn weighted(&self, cfg: &Sam2LossConfig) -> Tensor<1> {
        self.loss_mask.clone() * cfg.weight_mask
            + self.loss_dice.clone() * cfg.weight_dice
            + self.loss_iou.clone() * cfg.weight_iou
            + self.loss_class.clone() * cfg.weight_class
    }

    /// Term-wise sum.
    pub fn plus(self, other: Self) -> Self {
        Self {
            loss_mask: self.loss_mask + other.loss_mask,
            loss_dice: self.loss_dice + other.loss_dice,
            loss_iou: self.loss_iou + other.loss_iou,
            loss_class: self.loss_class + other.loss_class,
        }
    }

    /// Every term divided by `d`.
    pub fn divided_by(self, d: f64) -> Self {
        Self {
            loss_mask: self.loss_mask / d,
            loss_dice: self.loss_dice / d,
            loss_iou: self.loss_iou / d,
            loss_class: self.loss_class / d,
        }
    }
}

/// The inputs of one decoder step: `logits` `[n, M, H, W]` (M multimask outputs, already at
/// the target's resolution), `pred_ious` `[n, M]`, `object_scores` `[n, 1]`, `targets`
/// `[n, 1, H, W]` in {0, 1}, `valid` `[n, 1, H, W]` (0 drops a pixel, e.g. the padding of a
/// crop) and `present` `[n, 1]` (1 where the object's target has any pixel).
pub struct Sam2StepInputs {
    pub logits: Tensor<4>,
    pub pred_ious: Tensor<2>,
    pub object_scores: Tensor<2>,
    pub targets: Tensor<4>,
    pub valid: Tensor<4>,
    pub present: Tensor<2>,
}

/// The SAM-2 loss of one decoder step (see the module documentation).
pub fn sam2_step_loss(x: Sam2StepInputs, cfg: &Sam2LossConfig) -> Sam2LossTerms {
    let [n, m, h, w] = x.logits.dims();
    let t = x.targets.expand([n, m, h, w]);
    let valid = x.valid.expand([n, m, h, w]);
    let count = valid.clone().sum_dims(&[2, 3]).clamp_min(1.0); // [n, m, 1, 1]
    let p = activation::sigmoid(x.logits.clone());

    // Focal: BCE · (1 − p_t)^γ · α_t, averaged over valid pixels.
    let ce = bce_with_logits(x.logits.clone(), t.clone());
    let p_t = p.clone() * t.clone() + (p.clone().neg() + 1.0) * (t.clone().neg() + 1.0);
    let mut focal = ce * (p_t.neg() + 1.0).powf_scalar(cfg.focal_gamma as f32);
    if cfg.focal_alpha >= 0.0 {
        let a = cfg.focal_alpha as f32;
        focal = focal * (t.clone() * (2.0 * a - 1.0) + (1.0 - a));
    }
    let focal = ((focal * valid.clone()).sum_dims(&[2, 3]) / count).reshape([n, m]);

    // Dice with +1 smoothing.
    let pv = p * valid.clone();
    let tv = t.clone() * valid.clone();
    let inter = (pv.clone() * tv.clone()).sum_dims(&[2, 3]);
    let dice = ((inter * 2.0 + 1.0) / (pv.sum_dims(&[2, 3]) + tv.clone().sum_dims(&[2, 3]) + 1.0))
        .neg()
        .add_scalar(1.0)
        .reshape([n, m]);

    // Actual IoU of the binarised prediction (no gradient).
    let pred = x.logits.detach().greater_elem(0.0).float() * valid;
    let inter = (pred.clone() * tv.clone().detach()).sum_dims(&[2, 3]);
    let union = pred.sum_dims(&[2, 3]) + tv.detach().sum_dims(&[2, 3]) - inter.clone();
    let actual_iou = (inter / union.clamp_min(1.0)).reshape([n, m]);
    let iou_l1 = (x.pred_ious - actual_iou).abs(); // [n, m]

    // Best of the multimask outputs by 20·focal + Dice (selection without gradient).
    let (focal, dice, iou) = if m > 1 {
        let combined = (focal.clone() * cfg.weight_mask + dice.clone() * cfg.weight_dice).detach();
        let best = argmax_one_hot(combined.neg());
        let iou = if cfg.supervise_all_iou {
            iou_l1.mean_dim(1)
        } else {
            (iou_l1 * best.clone()).sum_dim(1)
        };
        (
            (focal * best.clone()).sum_dim(1),
            (dice * best).sum_dim(1),
            iou,
        )
    } else {
        (focal, dice, iou_l1)
    };
    let present = x.present;
    let class = bce_with_logits(
        x.object_scores.reshape([n, 1, 1, 1]),
        present.clone().reshape([n, 1, 1, 1]),
    )
    .reshape([n, 1]);
    let per_object = |v: Tensor<2>| v.sum().div_scalar(n.max(1) as f32);
    Sam2LossTerms {
        loss_mask: per_object(focal * present.clone()),
        loss_dice: per_object(dice * present.clone()),
        loss_iou: per_object(iou * present),
        loss_class: per_object(class),
    }
}

/// Bilinear upsampling (`align_corners = false`) of `[B, C, h, w]` to `[B, C, H, W]` as
/// `A_h · X · A_wᵀ`: equal to `interpolate(…, Bilinear)`, with a backward on every backend.
pub fn upsample_bilinear(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let [oh, ow] = size;
    if [h, w] == size {
        return x;
    }
    let device = x.device();
    let aw: Tensor<2> = Tensor::from_data(
        TensorData::new(bilinear_matrix(w, ow).weights, [ow, w]),
        &device,
    );
    let ah: Tensor<2> = Tensor::from_data(
        TensorData::new(bilinear_matrix(h, oh).weights, [oh, h]),
        &device,
    );
    let rows = x.reshape([b * c * h, w]).matmul(aw.transpose()); // [bch, ow]
    let cols = rows
        .reshape([b * c, h, ow])
        .swap_dims(1, 2)
        .reshape([b * c * ow, h])
        .matmul(ah.transpose()); // [bc·ow, oh]
    cols.reshape([b * c, ow, oh])
        .swap_dims(1, 2)
        .reshape([b, c, oh, ow])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module::interpolate;
    use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
    use burn::tensor::{Device, Distribution};

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn matrix_upsampling_equals_burns_bilinear_interpolation() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 137, || {
            let dev = Device::flex();
            for (h, w, oh, ow) in [(4, 4, 16, 16), (3, 5, 12, 7), (8, 8, 8, 8)] {
                let x: Tensor<4> =
                    Tensor::random([2, 3, h, w], Distribution::Normal(0.0, 1.0), &dev);
                let ours = values(upsample_bilinear(x.clone(), [oh, ow]));
                let burn = values(interpolate(
                    x,
                    InterpolateOptions::new(InterpolateMode::Bilinear)
                        .with_output_size([oh, ow])
                        .with_align_corners(false),
                ));
                assert_eq!(ours.len(), burn.len());
                let worst = ours
                    .iter()
                    .zip(&burn)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(worst < 1e-5, "{h}x{w} -> {oh}x{ow}: max diff {worst}");
            }
        })
    }

    fn t4(v: &[f32], shape: [usize; 4]) -> Tensor<4> {
        Tensor::from_data(TensorData::new(v.to_vec(), shape), &Device::flex())
    }

    fn t2(v: &[f32], shape: [usize; 2]) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v.to_vec(), shape), &Device::flex())
    }

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    /// One object, two pixels (logits 0 and ln 3, targets 1 and 0), one output.
    /// p = (½, ¾). Focal: pixel 1 BCE ln 2 · (½)² · 0.25; pixel 2 BCE ln 4 · (¾)² · 0.75;
    /// mean of both. Dice: 1 − (2·½ + 1)/(1.25 + 1 + 1). IoU: prediction (0, 1) vs (1, 0)
    /// → 0, predicted 0.4 → 0.4. Class: BCE(2, 1) = ln(1 + e⁻²).
    #[test]
    fn one_output_by_hand() {
        let ln3 = 3f32.ln();
        let terms = sam2_step_loss(
            Sam2StepInputs {
                logits: t4(&[0.0, ln3], [1, 1, 1, 2]),
                pred_ious: t2(&[0.4], [1, 1]),
                object_scores: t2(&[2.0], [1, 1]),
                targets: t4(&[1.0, 0.0], [1, 1, 1, 2]),
                valid: t4(&[1.0, 1.0], [1, 1, 1, 2]),
                present: t2(&[1.0], [1, 1]),
            },
            &Sam2LossConfig::default(),
        );
        let focal = (2f64.ln() * 0.25 * 0.25 + 4f64.ln() * 0.5625 * 0.75) / 2.0;
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        close(scalar(terms.loss_mask), focal);
        close(scalar(terms.loss_dice), 1.0 - 2.0 / 3.25);
        close(scalar(terms.loss_iou), 0.4);
        close(scalar(terms.loss_class), (1.0 + (-2f64).exp()).ln());
    }

    /// Two outputs: the better one (matching the target) is the one whose focal and Dice
    /// count; the IoU loss averages both; an absent object adds only its class term.
    #[test]
    fn best_of_multimask_and_absent_objects() {
        // Object 0 present (target 1, 0); output 0 wrong (-5, 5), output 1 right (5, -5).
        // Object 1 absent: its mask terms are zero whatever the logits.
        let logits = t4(&[-5.0, 5.0, 5.0, -5.0, 5.0, 5.0, 5.0, 5.0], [2, 2, 1, 2]);
        let terms = sam2_step_loss(
            Sam2StepInputs {
                logits,
                pred_ious: t2(&[0.0, 1.0, 0.5, 0.5], [2, 2]),
                object_scores: t2(&[0.0, 0.0], [2, 1]),
                targets: t4(&[1.0, 0.0, 0.0, 0.0], [2, 1, 1, 2]),
                valid: t4(&[1.0; 4], [2, 1, 1, 2]),
                present: t2(&[1.0, 0.0], [2, 1]),
            },
            &Sam2LossConfig::default(),
        );
        // Output 1 of object 0: p = σ(5) on the right pixels, focal tiny, Dice ≈ 0.
        assert!(scalar(terms.loss_mask) < 1e-4);
        let p = 1.0 / (1.0 + (-5f64).exp());
        let dice = 1.0 - (2.0 * p + 1.0) / (p + (1.0 - p) + 1.0 + 1.0);
        assert!((scalar(terms.loss_dice) - dice / 2.0).abs() < 1e-5);
        // Actual IoUs of object 0: 0 and 1, predicted 0 and 1 → L1 mean 0 … but output 0
        // predicts 0 for actual 0: both exact; object 1 absent → 0.
        assert!(scalar(terms.loss_iou).abs() < 1e-6);
        // Class: both scores 0 → ln 2 each, mean ln 2.
        assert!((scalar(terms.loss_class) - 2f64.ln()).abs() < 1e-5);
    }
}
