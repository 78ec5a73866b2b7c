//! Training losses and schedules of SSS: soft Dice, CE+Dice for the multi-class coarse head,
//! BCE+Dice for the per-class SAM-2 masks, the sigmoid ramp-up of the unlabeled weight, and
//! the poly learning rate with warm-up.
//!
//! Shapes: logits and probabilities `[B, K, H, W]`; class maps `[B, H, W]` (`Int`); weight
//! and confidence masks `[B, H, W]` (broadcast over classes) or `[B, K, H, W]`.
//!
//! Sources (`docs/sss-method.md` §2.3, §5; `docs/DESIGN.md` §3):
//! - Dice `1 − (2Σpt + ε)/(Σp + Σt + ε)`, ε = 1e-5, as `compute_supervised_loss` of the SSS
//!   code; here per class (over batch and pixels) and averaged over classes, which equals the
//!   code's global form for one class.
//! - Labeled coarse head: `(CE + Dice)/2` as UniMatch's ACDC recipe (Dice over all classes,
//!   background included, as SSL4MIS' `DiceLoss`), CE averaged over non-ignored pixels.
//! - Labeled per-class masks: `BCE-with-logits + Dice` (SSS code).
//! - Unlabeled: the teacher's pseudo-labels and their confidence-masked losses live in
//!   [`super::pseudo_labels`]; the two strong views are averaged with [`mean_of_views`].

use burn::tensor::{Int, Tensor, activation};
use serde::{Deserialize, Serialize};

/// Dice smoothing of the SSS code.
pub const DICE_SMOOTH: f64 = 1e-5;

/// Broadcasts a `[B, H, W]` mask to `[B, 1, H, W]`.
pub(crate) fn per_pixel(mask: Tensor<3>) -> Tensor<4> {
    mask.unsqueeze_dim(1)
}

/// Soft Dice loss per class, averaged over classes: `probs` and `targets` `[B, K, H, W]`,
/// optional `weight` `[B, 1, H, W]` or `[B, K, H, W]` (0 removes a pixel). A scalar `[1]`.
pub fn soft_dice_loss(
    probs: Tensor<4>,
    targets: Tensor<4>,
    weight: Option<Tensor<4>>,
) -> Tensor<1> {
    soft_dice_per_class(probs, targets, weight).mean()
}

/// The soft Dice loss of each class `[K]` (over batch and pixels), as [`soft_dice_loss`].
fn soft_dice_per_class(
    probs: Tensor<4>,
    targets: Tensor<4>,
    weight: Option<Tensor<4>>,
) -> Tensor<1> {
    let classes = probs.dims()[1];
    let (probs, targets) = match weight {
        Some(w) => (probs * w.clone(), targets * w),
        None => (probs, targets),
    };
    let dims = [0usize, 2, 3];
    let intersection = (probs.clone() * targets.clone()).sum_dims(&dims);
    let denominator = probs.sum_dims(&dims) + targets.sum_dims(&dims);
    let dice = (intersection * 2.0 + DICE_SMOOTH) / (denominator + DICE_SMOOTH);
    (dice.neg() + 1.0).reshape([classes])
}

/// Cross-entropy summed over pixels with per-pixel `weight` `[B, H, W]`, divided by
/// `max(normaliser, 1)`. `labels` must be valid class indices everywhere (give ignored pixels
/// weight 0 and any class).
pub fn weighted_cross_entropy(
    logits: Tensor<4>,
    labels: Tensor<3, Int>,
    weight: Tensor<3>,
    normaliser: Tensor<1>,
) -> Tensor<1> {
    let log_probs = activation::log_softmax(logits, 1);
    let picked = log_probs
        .gather(1, labels.unsqueeze_dim(1))
        .squeeze_dim::<3>(1);
    (picked.neg() * weight).sum() / normaliser.clamp_min(1.0)
}

/// One-hot `[B, K, H, W]` of a class map.
pub(crate) fn one_hot(labels: Tensor<3, Int>, classes: usize) -> Tensor<4> {
    labels.one_hot_fill::<4>(classes, 1.0, 0.0, 1).float()
}

/// Which classes a multi-class soft Dice averages over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiceOver {
    /// Every class, background included (SSL4MIS' `DiceLoss`, UniMatch's ACDC recipe). A
    /// class absent from the batch has the loss `1 − ε/(Σp + ε)` (ε = 1e-5): near 1 until
    /// its probabilities, summed over every pixel of the batch, fall below ε, so the term
    /// drives a class to p ≈ 1e-10 on every pixel of every clip without it (with five rare
    /// bleed classes of which a clip holds one or two, that is most clips), which works
    /// against predicting it where it is.
    #[default]
    AllClasses,
    /// Only the classes present in the batch's valid labels (background almost always is):
    /// the absent ones are left to the cross-entropy.
    PresentClasses,
}

/// Labeled loss of the multi-class coarse head, `(CE + Dice)/2` with the Dice over every
/// class. Pixels labelled `ignore_index` (e.g. the weak view's padding, 255) count in
/// neither term.
pub fn ce_dice_loss(
    logits: Tensor<4>,
    labels: Tensor<3, Int>,
    ignore_index: Option<i64>,
) -> Tensor<1> {
    ce_dice_loss_over(logits, labels, ignore_index, DiceOver::AllClasses)
}

/// [`ce_dice_loss`] with the Dice averaged over the classes `over` names.
pub fn ce_dice_loss_over(
    logits: Tensor<4>,
    labels: Tensor<3, Int>,
    ignore_index: Option<i64>,
    over: DiceOver,
) -> Tensor<1> {
    let classes = logits.dims()[1];
    let valid = match ignore_index {
        Some(ignore) => labels.clone().not_equal_elem(ignore),
        None => labels.clone().greater_equal_elem(0),
    };
    let labels = labels.mask_fill(valid.clone().bool_not(), 0);
    let valid = valid.float();
    let ce = weighted_cross_entropy(
        logits.clone(),
        labels.clone(),
        valid.clone(),
        valid.clone().sum(),
    );
    let probs = activation::softmax(logits, 1);
    let targets = one_hot(labels, classes);
    let dice = match over {
        DiceOver::AllClasses => soft_dice_loss(probs, targets, Some(per_pixel(valid))),
        DiceOver::PresentClasses => {
            let per_class =
                soft_dice_per_class(probs, targets.clone(), Some(per_pixel(valid.clone())));
            let present = (targets * per_pixel(valid))
                .sum_dims(&[0, 2, 3])
                .greater_elem(0.0)
                .float()
                .reshape([classes]);
            (per_class * present.clone()).sum() / present.sum().clamp_min(1.0)
        }
    };
    (ce + dice) / 2.0
}

/// Binary cross-entropy with logits per element, numerically stable:
/// `max(x, 0) − x·t + log(1 + e^{−|x|})`.
pub fn bce_with_logits(logits: Tensor<4>, targets: Tensor<4>) -> Tensor<4> {
    logits.clone().clamp_min(0.0) - logits.clone() * targets + logits.abs().neg().exp().log1p()
}

/// Labeled loss of per-class mask logits `[B, K, H, W]` against 0/1 targets: mean BCE plus
/// per-class soft Dice (the SSS code's `compute_supervised_loss`).
pub fn bce_dice_loss(logits: Tensor<4>, targets: Tensor<4>) -> Tensor<1> {
    let bce = bce_with_logits(logits.clone(), targets.clone()).mean();
    bce + soft_dice_loss(activation::sigmoid(logits), targets, None)
}

/// The unlabeled loss over the two strong views: their mean.
pub fn mean_of_views(view1: Tensor<1>, view2: Tensor<1>) -> Tensor<1> {
    (view1 + view2) / 2.0
}

/// Sigmoid-shaped ramp-up `exp(−5 (1 − t/T)²)` (Laine & Aila 2017, as in mean-teacher
/// codebases), 1 from `step ≥ length`; 1 when `length` is 0.
pub fn sigmoid_rampup(step: usize, length: usize) -> f64 {
    if length == 0 || step >= length {
        return 1.0;
    }
    let phase = 1.0 - step as f64 / length as f64;
    (-5.0 * phase * phase).exp()
}

/// Poly decay `base · (1 − step/max_steps)^power` (0 at and after `max_steps`).
pub fn poly_lr(base: f64, step: usize, max_steps: usize, power: f64) -> f64 {
    if step >= max_steps {
        return 0.0;
    }
    base * (1.0 - step as f64 / max_steps as f64).powf(power)
}

/// Linear warm-up to `base` over `warmup` steps (`base·(step+1)/warmup`), then poly decay
/// over the remaining `max_steps − warmup` steps.
pub fn warmup_poly_lr(base: f64, step: usize, max_steps: usize, warmup: usize, power: f64) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    poly_lr(base, step - warmup, max_steps.saturating_sub(warmup), power)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    const EPS: f64 = DICE_SMOOTH;

    fn t4(values: &[f32], shape: [usize; 4], dev: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values.to_vec(), shape), dev)
    }

    fn labels(values: &[i64], shape: [usize; 3], dev: &Device) -> Tensor<3, Int> {
        Tensor::from_data(TensorData::new(values.to_vec(), shape), dev)
    }

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn soft_dice_by_hand() {
        let dev = Device::flex();
        // One class, two pixels: p = [0.5, 1], t = [1, 0]: 1 − (2·0.5 + ε)/(1.5 + 1 + ε).
        let l = soft_dice_loss(
            t4(&[0.5, 1.0], [1, 1, 1, 2], &dev),
            t4(&[1.0, 0.0], [1, 1, 1, 2], &dev),
            None,
        );
        close(scalar(l), 1.0 - (1.0 + EPS) / (2.5 + EPS), 1e-6);
        // Two classes, averaged: class 1 has p = [0.5, 0], t = [0, 1] → 1 − ε/(1.5 + ε).
        let l = soft_dice_loss(
            t4(&[0.5, 1.0, 0.5, 0.0], [1, 2, 1, 2], &dev),
            t4(&[1.0, 0.0, 0.0, 1.0], [1, 2, 1, 2], &dev),
            None,
        );
        let expected = ((1.0 - (1.0 + EPS) / (2.5 + EPS)) + (1.0 - EPS / (1.5 + EPS))) / 2.0;
        close(scalar(l), expected, 1e-6);
        // A weight of 0 on the second pixel leaves p = [0.5], t = [1]: 1 − (1 + ε)/(1.5 + ε).
        let l = soft_dice_loss(
            t4(&[0.5, 1.0], [1, 1, 1, 2], &dev),
            t4(&[1.0, 0.0], [1, 1, 1, 2], &dev),
            Some(t4(&[1.0, 0.0], [1, 1, 1, 2], &dev)),
        );
        close(scalar(l), 1.0 - (1.0 + EPS) / (1.5 + EPS), 1e-6);
    }

    /// Two pixels, two classes: logits (0, 0) labelled 1 and (ln 3, 0) labelled 0.
    /// CE = (ln 2 − ln 0.75)/2. Softmax: (0.5, 0.5), (0.75, 0.25). Dice class 0: p·t = 0.75,
    /// Σp + Σt = 1.25 + 1; class 1: p·t = 0.5, Σ = 0.75 + 1.
    #[test]
    fn ce_dice_by_hand_with_ignored_pixels() {
        let dev = Device::flex();
        let ln3 = 3f32.ln();
        let ce = (2f64.ln() - 0.75f64.ln()) / 2.0;
        let d0 = (1.5 + EPS) / (2.25 + EPS);
        let d1 = (1.0 + EPS) / (1.75 + EPS);
        let expected = (ce + (1.0 - (d0 + d1) / 2.0)) / 2.0;
        // [B=1, K=2, H=1, W=2]: channel-major.
        let logits = t4(&[0.0, ln3, 0.0, 0.0], [1, 2, 1, 2], &dev);
        let l = ce_dice_loss(logits, labels(&[1, 0], [1, 1, 2], &dev), None);
        close(scalar(l), expected, 1e-5);
        // A third pixel labelled 255 changes nothing.
        let logits = t4(&[0.0, ln3, 5.0, 0.0, 0.0, -3.0], [1, 2, 1, 3], &dev);
        let l = ce_dice_loss(logits, labels(&[1, 0, 255], [1, 1, 3], &dev), Some(255));
        close(scalar(l), expected, 1e-5);
    }

    /// Dice over the present classes: a third class that no label holds leaves the loss of
    /// the two-class example of `ce_dice_by_hand_with_ignored_pixels` as it was (its logit
    /// −30 leaves the other probabilities unchanged to 1e-6). Over all classes the absent
    /// class adds its Dice `1 − ε/(Σp + ε)`: near 0 once `Σp ≪ ε` (logit −30), near 1 when its
    /// probabilities are small but not that small (logit −5, p ≈ 0.005).
    #[test]
    fn ce_dice_over_present_classes_skips_absent_ones() {
        let dev = Device::flex();
        let ln3 = 3f32.ln();
        let two = scalar(ce_dice_loss(
            t4(&[0.0, ln3, 0.0, 0.0], [1, 2, 1, 2], &dev),
            labels(&[1, 0], [1, 1, 2], &dev),
            None,
        ));
        let three = |absent: f32| t4(&[0.0, ln3, 0.0, 0.0, absent, absent], [1, 3, 1, 2], &dev);
        let lab = || labels(&[1, 0], [1, 1, 2], &dev);
        let present = ce_dice_loss_over(three(-30.0), lab(), None, DiceOver::PresentClasses);
        close(scalar(present), two, 1e-5);
        let present = ce_dice_loss_over(three(-5.0), lab(), None, DiceOver::PresentClasses);
        close(scalar(present), two, 0.02);
        // Over all three: (d0 + d1 + d2)/3 instead of (d0 + d1)/2.
        let all_tiny = scalar(ce_dice_loss(three(-30.0), lab(), None));
        assert!(
            all_tiny < two,
            "Σp ≪ ε: the absent class scores ~0 ({all_tiny} vs {two})"
        );
        let all_small = scalar(ce_dice_loss(three(-5.0), lab(), None));
        assert!(
            all_small > two + 0.05,
            "Σp ≫ ε: the absent class scores ~1 ({all_small} vs {two})"
        );
    }

    /// Logits (0, 2), targets (1, 0): BCE = (ln 2 + ln(1 + e²))/2; σ = (0.5, σ(2)), Dice
    /// 1 − (1 + ε)/(0.5 + σ(2) + 1 + ε).
    #[test]
    fn bce_dice_by_hand_and_stable() {
        let dev = Device::flex();
        let sig2 = 1.0 / (1.0 + (-2f64).exp());
        let expected =
            (2f64.ln() + (1.0 + 2f64.exp()).ln()) / 2.0 + (1.0 - (1.0 + EPS) / (1.5 + sig2 + EPS));
        let l = bce_dice_loss(
            t4(&[0.0, 2.0], [1, 1, 1, 2], &dev),
            t4(&[1.0, 0.0], [1, 1, 1, 2], &dev),
        );
        close(scalar(l), expected, 1e-5);
        let e = bce_with_logits(
            t4(&[100.0, -100.0], [1, 1, 1, 2], &dev),
            t4(&[1.0, 1.0], [1, 1, 1, 2], &dev),
        )
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
        close(e[0] as f64, 0.0, 1e-6);
        close(e[1] as f64, 100.0, 1e-3);
    }

    #[test]
    fn views_are_averaged() {
        let dev = Device::flex();
        let a = Tensor::<1>::from_floats([1.0], &dev);
        let b = Tensor::<1>::from_floats([3.0], &dev);
        close(scalar(mean_of_views(a, b)), 2.0, 0.0);
    }

    #[test]
    fn schedules_by_hand() {
        close(sigmoid_rampup(0, 10), (-5f64).exp(), 1e-12);
        close(sigmoid_rampup(5, 10), (-1.25f64).exp(), 1e-12);
        close(sigmoid_rampup(10, 10), 1.0, 0.0);
        close(sigmoid_rampup(3, 0), 1.0, 0.0);
        close(poly_lr(0.01, 0, 100, 0.9), 0.01, 1e-15);
        close(poly_lr(0.01, 50, 100, 0.9), 0.01 * 0.5f64.powf(0.9), 1e-15);
        close(poly_lr(0.01, 100, 100, 0.9), 0.0, 0.0);
        // Warm-up of 10 steps: 0.1·base at step 0, base at step 9, then poly over 90 steps.
        close(warmup_poly_lr(0.01, 0, 100, 10, 0.9), 0.001, 1e-15);
        close(warmup_poly_lr(0.01, 9, 100, 10, 0.9), 0.01, 1e-15);
        close(warmup_poly_lr(0.01, 10, 100, 10, 0.9), 0.01, 1e-15);
        close(
            warmup_poly_lr(0.01, 55, 100, 10, 0.9),
            0.01 * 0.5f64.powf(0.9),
            1e-15,
        );
    }
}
