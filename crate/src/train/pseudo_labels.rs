//! The teacher's pseudo-labels on unlabeled data and the confidence-masked losses the student
//! learns from them (UniMatch-V2's weak-to-strong term, `docs/sss-method.md` §2.3), for the
//! multi-class coarse head and for SAM-2's per-object masks.
//!
//! A teacher pixel becomes a pseudo-label where its confidence passes a threshold; the masked
//! CE/BCE is summed over kept pixels and divided by all valid pixels (UniMatch's
//! normalisation); the masked Dice counts only kept pixels. Two switches
//! ([`PseudoLabelConfig`]) decide which pixels teach and what Dice sees:
//! - [`ConfidenceRule::Global`] (UniMatch, the SSS code): one τ for every class. A teacher is
//!   surest of the background, so the rarest, least certain class keeps the fewest pixels
//!   and the consistency term pulls it towards the confident classes.
//! - [`ConfidenceRule::ClassBalanced`]: class c's threshold is `τ · m_c / max_c' m_c'`, where
//!   `m_c` is the teacher's mean confidence on the pixels it assigns to c in this batch
//!   (FreeMatch's self-adaptive class thresholds with its "MaxNorm", computed per batch
//!   instead of as a running average, so no state enters the checkpoint). For a SAM-2 object
//!   the classes are its foreground and its background.
//! - [`EmptyTargetDice`]: the soft Dice of a class whose kept target is empty is
//!   `ε/(Σp + ε)`, which is ≈ 1 for any prediction at all and only tells the student to
//!   predict nothing; `Skip` leaves such classes out of the Dice mean (the BCE/CE still
//!   teaches their background).
//! - [`UnlabeledCoarse`]: what the coarse head's unlabeled term teaches: every class
//!   (UniMatch), or only foreground against background (`Foreground`: the teacher's merged
//!   foreground probability `1 − p(bg)` and the student's, so the unlabeled scans teach where
//!   an object is and the labeled ones alone teach which class it is; for the brain-CT bleeds,
//!   whose types a teacher trained on 9 scans confuses, RESULTS.md).
//!
//! Shapes: probabilities and logits `[B, K, H, W]`, class maps and masks `[B, H, W]`.

use burn::tensor::{Int, Tensor, activation};
use serde::{Deserialize, Serialize};

use super::losses::{DICE_SMOOTH, bce_with_logits, one_hot, per_pixel, weighted_cross_entropy};

/// Which teacher pixels become pseudo-labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfidenceRule {
    /// Confidence ≥ τ, one τ for every class (UniMatch-V2, the SSS code).
    Global,
    /// Confidence ≥ τ scaled by the class's mean confidence relative to the surest class's.
    ClassBalanced,
}

/// Whether the masked Dice counts classes whose kept target is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmptyTargetDice {
    /// Every class (the SSS code).
    Count,
    /// Only classes with a kept target pixel; 0 when there is none.
    Skip,
}

/// What the coarse head's unlabeled term teaches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnlabeledCoarse {
    /// Every class: the teacher's argmax class (UniMatch-V2, the SSS code).
    #[default]
    Classes,
    /// Foreground against background: both the teacher's and the student's class
    /// probabilities merged into `[p(bg), 1 − p(bg)]` ([`merge_foreground_probs`],
    /// [`merge_foreground_logits`]).
    Foreground,
}

/// How the teacher's pseudo-labels teach; saved with the training config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PseudoLabelConfig {
    pub confidence: ConfidenceRule,
    pub empty_dice: EmptyTargetDice,
    /// Runs saved before this switch existed taught every class.
    #[serde(default)]
    pub coarse: UnlabeledCoarse,
}

impl PseudoLabelConfig {
    /// UniMatch-V2 / the SSS code: one τ, Dice on every class.
    pub const ORIGINAL: Self = Self {
        confidence: ConfidenceRule::Global,
        empty_dice: EmptyTargetDice::Count,
        coarse: UnlabeledCoarse::Classes,
    };
    /// Class-balanced thresholds and no Dice on empty kept targets.
    pub const BALANCED: Self = Self {
        confidence: ConfidenceRule::ClassBalanced,
        empty_dice: EmptyTargetDice::Skip,
        coarse: UnlabeledCoarse::Classes,
    };

    /// Runs saved before these switches existed used the original rule.
    pub fn original() -> Self {
        Self::ORIGINAL
    }
}

/// Per-class soft Dice loss `[1]` over the pixels `weight` keeps, averaged over classes; with
/// [`EmptyTargetDice::Skip`] over the classes whose kept target is not empty.
fn masked_dice(
    probs: Tensor<4>,
    targets: Tensor<4>,
    weight: Tensor<4>,
    empty: EmptyTargetDice,
) -> Tensor<1> {
    let (probs, targets) = (probs * weight.clone(), targets * weight);
    let dims = [0usize, 2, 3];
    let intersection = (probs.clone() * targets.clone()).sum_dims(&dims);
    let target_sum = targets.sum_dims(&dims);
    let denominator = probs.sum_dims(&dims) + target_sum.clone();
    let loss = ((intersection * 2.0 + DICE_SMOOTH) / (denominator + DICE_SMOOTH)).neg() + 1.0;
    match empty {
        EmptyTargetDice::Count => loss.mean(),
        EmptyTargetDice::Skip => {
            let present = target_sum.greater_elem(0.0).float();
            (loss * present.clone()).sum() / present.sum().clamp_min(1.0)
        }
    }
}

/// Per-pixel thresholds `[B, 1, H, W]` of the class-balanced rule: `members` `[B, C, H, W]`
/// marks (1/0) which class each valid pixel belongs to, `confidence` `[B, 1, H, W]` the
/// teacher's confidence in it. Class c's threshold is `τ · m_c / max m`, `m_c` the mean
/// confidence of its members (0 for a class without members, which no pixel then uses).
fn class_balanced_thresholds(members: Tensor<4>, confidence: Tensor<4>, tau: f64) -> Tensor<4> {
    let dims = [0usize, 2, 3];
    let count = members.clone().sum_dims(&dims);
    let mean = (members.clone() * confidence).sum_dims(&dims) / count.clamp_min(1.0);
    let [_, c, _, _] = mean.dims();
    let surest = mean.clone().max_dim(1).clamp_min(1e-6).repeat_dim(1, c);
    let thresholds = mean / surest * tau;
    (members * thresholds).sum_dim(1)
}

/// Multi-class pseudo-labels of the teacher: argmax classes, and where they are kept.
#[derive(Clone, Debug)]
pub struct MulticlassPseudoLabels {
    /// `[B, H, W]` argmax of the teacher's probabilities.
    pub labels: Tensor<3, Int>,
    /// `[B, H, W]` 1 where the teacher's max probability passes its class's threshold and the
    /// pixel is valid.
    pub keep: Tensor<3>,
    /// Valid pixels (the loss normaliser).
    pub valid_count: Tensor<1>,
    /// Classes including background (`K`).
    pub classes: usize,
    /// How the Dice treats classes without kept pixels.
    pub empty_dice: EmptyTargetDice,
}

impl MulticlassPseudoLabels {
    /// Per class `[K]`: the fraction of the valid pixels the teacher assigns to it that are
    /// kept (what the consistency term sees of each class).
    pub fn kept_by_class(&self, valid: Tensor<3>) -> Tensor<1> {
        let classes = self.classes;
        let assigned = one_hot(self.labels.clone(), classes) * per_pixel(valid);
        let kept = assigned.clone() * per_pixel(self.keep.clone());
        let dims = [0usize, 2, 3];
        let ratio = kept.sum_dims(&dims) / assigned.sum_dims(&dims).clamp_min(1.0);
        ratio.reshape([classes])
    }
}

/// Pseudo-labels from teacher softmax probabilities `[B, K, H, W]`; `valid` `[B, H, W]` (1
/// inside the image, 0 on padding), all valid when `None`.
pub fn multiclass_pseudo_labels(
    teacher_probs: Tensor<4>,
    tau: f64,
    valid: Option<Tensor<3>>,
    config: PseudoLabelConfig,
) -> MulticlassPseudoLabels {
    let [b, k, h, w] = teacher_probs.dims();
    let device = teacher_probs.device();
    let teacher_probs = teacher_probs.detach();
    let confidence = teacher_probs.clone().max_dim(1);
    let labels = teacher_probs.argmax(1).squeeze_dim::<3>(1);
    let valid = valid.unwrap_or_else(|| Tensor::ones([b, h, w], &device));
    let threshold = match config.confidence {
        ConfidenceRule::Global => Tensor::full([b, 1, h, w], tau, &device),
        ConfidenceRule::ClassBalanced => {
            let members = one_hot(labels.clone(), k) * per_pixel(valid.clone());
            class_balanced_thresholds(members, confidence.clone(), tau)
        }
    };
    let keep = confidence
        .greater_equal(threshold)
        .float()
        .squeeze_dim::<3>(1)
        * valid.clone();
    MulticlassPseudoLabels {
        labels,
        keep,
        valid_count: valid.sum(),
        classes: k,
        empty_dice: config.empty_dice,
    }
}

/// Class probabilities `[B, K, H, W]` merged into `[B, 2, H, W]`: background and every
/// foreground class together.
pub fn merge_foreground_probs(probs: Tensor<4>) -> Tensor<4> {
    let background = probs.narrow(1, 0, 1);
    let foreground = background.clone().neg() + 1.0;
    Tensor::cat(vec![background, foreground], 1)
}

/// Class logits `[B, K, H, W]` merged into `[B, 2, H, W]` whose softmax is
/// `[p(bg), Σ_c≥1 p(c)]` of the original: the background logit and the log-sum-exp of the
/// foreground logits (stable: the largest is taken out before the exponential).
pub fn merge_foreground_logits(logits: Tensor<4>) -> Tensor<4> {
    let k = logits.dims()[1];
    let background = logits.clone().narrow(1, 0, 1);
    let foreground = logits.narrow(1, 1, k - 1);
    let largest = foreground.clone().max_dim(1).detach();
    let spread = foreground - largest.clone().repeat_dim(1, k - 1);
    let merged = spread.exp().sum_dim(1).log() + largest;
    Tensor::cat(vec![background, merged], 1)
}

/// Unlabeled loss of one strong view's coarse logits: confidence-masked `(CE + Dice)/2`.
pub fn masked_ce_dice_loss(logits: Tensor<4>, pseudo: &MulticlassPseudoLabels) -> Tensor<1> {
    let classes = logits.dims()[1];
    let ce = weighted_cross_entropy(
        logits.clone(),
        pseudo.labels.clone(),
        pseudo.keep.clone(),
        pseudo.valid_count.clone(),
    );
    let dice = masked_dice(
        activation::softmax(logits, 1),
        one_hot(pseudo.labels.clone(), classes),
        per_pixel(pseudo.keep.clone()),
        pseudo.empty_dice,
    );
    (ce + dice) / 2.0
}

/// Per-object binary pseudo-labels of the teacher.
#[derive(Clone, Debug)]
pub struct BinaryPseudoLabels {
    /// `[B, K, H, W]` hard 0/1 targets (`p > 0.5`).
    pub targets: Tensor<4>,
    /// `[B, K, H, W]` 1 where `max(p, 1−p)` passes the threshold and the pixel is valid.
    pub keep: Tensor<4>,
    /// Valid elements (pixels × objects), the BCE normaliser.
    pub valid_count: Tensor<1>,
    /// How the Dice treats objects without kept foreground.
    pub empty_dice: EmptyTargetDice,
}

/// Pseudo-labels from teacher sigmoid probabilities `[B, K, H, W]`; `valid` `[B, H, W]`. With
/// [`ConfidenceRule::ClassBalanced`] each object's foreground and background get their own
/// threshold.
pub fn binary_pseudo_labels(
    teacher_probs: Tensor<4>,
    tau: f64,
    valid: Option<Tensor<3>>,
    config: PseudoLabelConfig,
) -> BinaryPseudoLabels {
    let [b, k, h, w] = teacher_probs.dims();
    let device = teacher_probs.device();
    let p = teacher_probs.detach();
    let targets = p.clone().greater_elem(0.5).float();
    let confidence = p.clone().max_pair(p.neg() + 1.0);
    let valid = match valid {
        Some(v) => per_pixel(v).repeat_dim(1, k),
        None => Tensor::ones([b, k, h, w], &device),
    };
    let threshold = match config.confidence {
        ConfidenceRule::Global => Tensor::full([b, k, h, w], tau, &device),
        ConfidenceRule::ClassBalanced => {
            // Each object alone: its pixels as a batch of two classes (foreground, background).
            let per_object = |t: Tensor<4>| t.swap_dims(0, 1).reshape([k, 1, b * h, w]);
            let fg = per_object(targets.clone() * valid.clone());
            let bg = per_object((targets.clone().neg() + 1.0) * valid.clone());
            let conf = per_object(confidence.clone());
            let dims = [2usize, 3];
            let mean_of = |members: Tensor<4>| {
                (members.clone() * conf.clone()).sum_dims(&dims)
                    / members.sum_dims(&dims).clamp_min(1.0)
            };
            let (m_fg, m_bg) = (mean_of(fg), mean_of(bg));
            let surest = m_fg.clone().max_pair(m_bg.clone()).clamp_min(1e-6);
            let tau_fg = (m_fg / surest.clone() * tau).reshape([1, k, 1, 1]);
            let tau_bg = (m_bg / surest * tau).reshape([1, k, 1, 1]);
            targets.clone() * tau_fg + (targets.clone().neg() + 1.0) * tau_bg
        }
    };
    let keep = confidence.greater_equal(threshold).float() * valid.clone();
    BinaryPseudoLabels {
        targets,
        keep,
        valid_count: valid.sum(),
        empty_dice: config.empty_dice,
    }
}

/// Unlabeled loss of one strong view's per-object mask logits: confidence-masked BCE (summed
/// over kept elements, divided by valid ones) plus masked per-object Dice.
pub fn masked_bce_dice_loss(logits: Tensor<4>, pseudo: &BinaryPseudoLabels) -> Tensor<1> {
    let bce = (bce_with_logits(logits.clone(), pseudo.targets.clone()) * pseudo.keep.clone()).sum()
        / pseudo.valid_count.clone().clamp_min(1.0);
    let dice = masked_dice(
        activation::sigmoid(logits),
        pseudo.targets.clone(),
        pseudo.keep.clone(),
        pseudo.empty_dice,
    );
    bce + dice
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    const EPS: f64 = DICE_SMOOTH;
    const ORIGINAL: PseudoLabelConfig = PseudoLabelConfig::ORIGINAL;

    fn t4(values: &[f32], shape: [usize; 4], dev: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values.to_vec(), shape), dev)
    }

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    /// Teacher (0.97, 0.03) → class 0 kept; (0.4, 0.6) → class 1 dropped (τ = 0.95).
    /// Student logits (ln 3, 0) and (0, 0): CE = −ln 0.75 / 2 (two valid pixels); Dice only
    /// on pixel 0: class 0 (0.75·1)·2/(0.75 + 1), class 1 0/(0.25 + 0).
    #[test]
    fn confidence_masked_multiclass_by_hand() {
        let dev = Device::flex();
        let teacher = t4(&[0.97, 0.4, 0.03, 0.6], [1, 2, 1, 2], &dev);
        let pseudo = multiclass_pseudo_labels(teacher, 0.95, None, ORIGINAL);
        assert_eq!(
            pseudo
                .labels
                .clone()
                .into_data()
                .iter::<i64>()
                .collect::<Vec<_>>(),
            vec![0, 1]
        );
        assert_eq!(
            pseudo.keep.clone().into_data().try_to_vec::<f32>().unwrap(),
            vec![1.0, 0.0]
        );
        let ln3 = 3f32.ln();
        let logits = t4(&[ln3, 0.0, 0.0, 0.0], [1, 2, 1, 2], &dev);
        let ce = -(0.75f64.ln()) / 2.0;
        let d0 = (1.5 + EPS) / (1.75 + EPS);
        let d1 = EPS / (0.25 + EPS);
        let expected = (ce + (1.0 - (d0 + d1) / 2.0)) / 2.0;
        close(scalar(masked_ce_dice_loss(logits, &pseudo)), expected, 1e-5);
        // A padded pixel (valid 0) is neither kept nor counted: CE = −ln 0.75 / 1.
        let valid = Tensor::<3>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 1, 2]), &dev);
        let teacher = t4(&[0.97, 0.99, 0.03, 0.01], [1, 2, 1, 2], &dev);
        let pseudo = multiclass_pseudo_labels(teacher, 0.95, Some(valid), ORIGINAL);
        assert_eq!(
            pseudo.keep.clone().into_data().try_to_vec::<f32>().unwrap(),
            vec![1.0, 0.0]
        );
        close(scalar(pseudo.valid_count.clone()), 1.0, 0.0);
    }

    /// The masked-out pixel gets no gradient; the kept one does.
    #[test]
    fn masked_pixels_get_no_gradient() {
        let dev = Device::flex().autodiff();
        let teacher = t4(&[0.97, 0.4, 0.03, 0.6], [1, 2, 1, 2], &dev);
        let pseudo = multiclass_pseudo_labels(teacher, 0.95, None, ORIGINAL);
        let logits = t4(&[0.3, -0.2, 0.1, 0.5], [1, 2, 1, 2], &dev).require_grad();
        let loss = masked_ce_dice_loss(logits.clone(), &pseudo);
        let grads = loss.backward();
        let g = logits
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // Layout [k][w]: pixel 1 is indices 1 and 3.
        assert_eq!((g[1], g[3]), (0.0, 0.0));
        assert!(g[0].abs() > 1e-4 && g[2].abs() > 1e-4);
    }

    /// Merging keeps the softmax: `softmax(merge(logits))` equals `[p0, p1 + p2 + p3]` of
    /// `softmax(logits)`, also with logits large enough to overflow a naive `exp`.
    #[test]
    fn merged_foreground_logits_keep_the_probabilities() {
        let device = Device::flex();
        let values = [0.5f32, 2.0, -1.0, 0.3, 90.0, 95.0, 91.0, 89.0];
        let logits =
            Tensor::<4>::from_data(TensorData::new(values.to_vec(), [2, 4, 1, 1]), &device);
        let merged = activation::softmax(merge_foreground_logits(logits.clone()), 1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let direct = merge_foreground_probs(activation::softmax(logits, 1))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (pixel, expected_bg) in [0.1533f32, 0.0066].iter().enumerate() {
            // Background first: p0 of the first pixel by hand, e^0.5 / (e^0.5 + e^2 + e^-1 + e^0.3).
            let [m, d] = [merged[pixel * 2], direct[pixel * 2]];
            assert!((m - d).abs() < 1e-5, "pixel {pixel}: {m} vs {d}");
            assert!((m + merged[pixel * 2 + 1] - 1.0).abs() < 1e-5);
            assert!(
                m.is_finite() && (m - expected_bg).abs() < 2e-3,
                "pixel {pixel}: {m}"
            );
        }
    }

    /// p = (0.98, 0.3, 0.02): targets (1, 0, 0), confidence (0.98, 0.7, 0.98) → kept (1, 0, 1).
    /// Student logits (0, 0, 0): BCE = 2·ln 2 / 3; Dice over kept: p·t = 0.5, Σ = 1 + 1.
    #[test]
    fn confidence_masked_binary_by_hand() {
        let dev = Device::flex();
        let pseudo = binary_pseudo_labels(
            t4(&[0.98, 0.3, 0.02], [1, 1, 1, 3], &dev),
            0.95,
            None,
            ORIGINAL,
        );
        assert_eq!(
            pseudo
                .targets
                .clone()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
            vec![1.0, 0.0, 0.0]
        );
        assert_eq!(
            pseudo.keep.clone().into_data().try_to_vec::<f32>().unwrap(),
            vec![1.0, 0.0, 1.0]
        );
        let l = masked_bce_dice_loss(t4(&[0.0; 3], [1, 1, 1, 3], &dev), &pseudo);
        let expected = 2.0 * 2f64.ln() / 3.0 + (1.0 - (1.0 + EPS) / (2.0 + EPS));
        close(scalar(l), expected, 1e-5);
    }

    /// Class-balanced, multi-class, by hand. Four pixels: teacher confidences 0.99 and 0.97 on
    /// class 0 (mean 0.98), 0.90 and 0.70 on class 1 (mean 0.80). τ = 0.95: class 0's
    /// threshold 0.95, class 1's 0.95 · 0.80 / 0.98 = 0.7755. The global rule keeps pixels 0
    /// and 1; the balanced one also keeps pixel 2 (0.90) but not pixel 3 (0.70).
    #[test]
    fn class_balanced_multiclass_keeps_the_unsure_class_by_hand() {
        let dev = Device::flex();
        // [B=1, K=2, H=1, W=4], channel-major.
        let teacher = t4(
            &[0.99, 0.97, 0.10, 0.30, 0.01, 0.03, 0.90, 0.70],
            [1, 2, 1, 4],
            &dev,
        );
        let global = multiclass_pseudo_labels(teacher.clone(), 0.95, None, ORIGINAL);
        assert_eq!(values(global.keep.clone()), vec![1.0, 1.0, 0.0, 0.0]);
        let balanced = multiclass_pseudo_labels(teacher, 0.95, None, PseudoLabelConfig::BALANCED);
        assert_eq!(values(balanced.keep.clone()), vec![1.0, 1.0, 1.0, 0.0]);
        let valid = Tensor::<3>::ones([1, 1, 4], &dev);
        let by_class = values(balanced.kept_by_class(valid.clone()));
        assert_eq!(by_class, vec![1.0, 0.5]);
        assert_eq!(values(global.kept_by_class(valid)), vec![1.0, 0.0]);
    }

    /// Class-balanced, binary, by hand: one object, p = (0.99, 0.97, 0.8, 0.6, 0.02, 0.1).
    /// Foreground (p > 0.5) confidences 0.99, 0.97, 0.8, 0.6: mean 0.84; background 0.98,
    /// 0.9: mean 0.94. τ = 0.95: foreground threshold 0.95 · 0.84 / 0.94 = 0.8489, background
    /// 0.95. Kept: 1, 1, 0, 0, 1, 0; the global rule keeps 1, 1, 0, 0, 1, 0 too, so a second
    /// object with a surer foreground checks that the objects are thresholded apart.
    #[test]
    fn class_balanced_binary_thresholds_each_object_by_hand() {
        let dev = Device::flex();
        // [B=1, K=2, H=1, W=6]: object 0 as above; object 1 p = (0.9, 0.88, 0.86, 0.01, 0.01,
        // 0.03): fg mean 0.88, bg mean 0.9833, fg threshold 0.95 · 0.88 / 0.9833 = 0.8502.
        let teacher = t4(
            &[
                0.99, 0.97, 0.8, 0.6, 0.02, 0.1, //
                0.9, 0.88, 0.86, 0.01, 0.01, 0.03,
            ],
            [1, 2, 1, 6],
            &dev,
        );
        let global = binary_pseudo_labels(teacher.clone(), 0.95, None, ORIGINAL);
        assert_eq!(
            values(global.keep),
            vec![1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
        );
        let balanced = binary_pseudo_labels(teacher, 0.95, None, PseudoLabelConfig::BALANCED);
        assert_eq!(
            values(balanced.keep),
            vec![1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
        );
    }

    /// An object the teacher calls absent everywhere (every p < 0.5, all kept): its Dice is
    /// `1 − ε/(Σσ + ε)` ≈ 1 when counted and absent when skipped; a present object's Dice is
    /// the same either way.
    #[test]
    fn empty_kept_targets_leave_the_dice_when_skipped() {
        let dev = Device::flex();
        let teacher = t4(&[0.01, 0.02, 0.99, 0.01], [1, 2, 1, 2], &dev);
        let logits = t4(&[0.0, 0.0, 0.0, 0.0], [1, 2, 1, 2], &dev);
        let counted = binary_pseudo_labels(teacher.clone(), 0.95, None, ORIGINAL);
        let skip = PseudoLabelConfig {
            empty_dice: EmptyTargetDice::Skip,
            ..ORIGINAL
        };
        let skipped = binary_pseudo_labels(teacher, 0.95, None, skip);
        let bce = 4.0 * 2f64.ln() / 4.0;
        let present = 1.0 - (1.0 + EPS) / (1.0 + 1.0 + EPS);
        let empty = 1.0 - EPS / (1.0 + EPS);
        close(
            scalar(masked_bce_dice_loss(logits.clone(), &counted)),
            bce + (present + empty) / 2.0,
            1e-5,
        );
        close(
            scalar(masked_bce_dice_loss(logits, &skipped)),
            bce + present,
            1e-5,
        );
    }
}
