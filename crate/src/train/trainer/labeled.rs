//! The labeled half of an SSS step: the coarse head's `(CE + Dice)/2` on every slice of a
//! labeled clip, and SAM-2 trained on the same clip as official SAM-2 trains video
//! (simulated prompts and correction clicks on the first slice, memory tracking through the
//! rest, the official loss on every decoder step; `docs/sam2-training.md`).

use burn::tensor::{Int, Tensor, TensorData};
use rand::RngExt;

use super::SssTrainer;
use super::clip::{
    ClipOutput, Corrections, IGNORE, clip_forward, clip_slices, downsample_labels, mask_tensor,
    step_rng, weak_clip,
};
use super::config::{CoarseLossAt, LabeledSlices, MaskSupervision};
use super::prompts::sample_labeled_prompts;
use super::unlabeled::bce_mean;
use crate::model::image_encoder::normalise_input;
use crate::train::losses::{bce_dice_loss, ce_dice_loss_over};
use crate::train::sam2_loss::{Sam2LossTerms, Sam2StepInputs, sam2_step_loss, upsample_bilinear};
use crate::{Result, SssError};

/// Mask logits are clamped to this in the legacy BCE + Dice (absent objects carry SAM-2's
/// −1024).
const LOGIT_CLAMP: f32 = 32.0;

/// The labeled loss of one step.
pub(super) struct LabeledTerms {
    /// The coarse head's `(CE + Dice)/2`, times `coarse_weight`.
    pub coarse: Tensor<1>,
    /// The SAM-2 loss as optimised (weighted sum of its terms, averaged over frames).
    pub mask: Tensor<1>,
    /// Its named terms, unweighted and averaged over frames (official recipes).
    pub sam2: Option<Sam2LossTerms>,
    /// The weighted SAM-2 loss of each frame.
    pub per_frame: Vec<Tensor<1>>,
    pub objects: usize,
    pub frames: usize,
}

/// The slice a labeled clip starts from, drawn from the volume's label slices as `rule`
/// says; every slice when none holds foreground.
fn labeled_start_slice<'a>(
    slices: impl Iterator<Item = &'a [u8]>,
    rule: LabeledSlices,
    rng: &mut impl rand::Rng,
) -> usize {
    let classes_on: Vec<Vec<u8>> = slices
        .map(|s| {
            let mut present: Vec<u8> = s
                .iter()
                .copied()
                .filter(|&l| l > 0 && l != IGNORE)
                .collect();
            present.sort_unstable();
            present.dedup();
            present
        })
        .collect();
    let nz = classes_on.len();
    let with_fg: Vec<usize> = (0..nz).filter(|&z| !classes_on[z].is_empty()).collect();
    if with_fg.is_empty() {
        return rng.random_range(0..nz);
    }
    match rule {
        LabeledSlices::AnyForeground => with_fg[rng.random_range(0..with_fg.len())],
        LabeledSlices::ClassBalanced => {
            let mut classes: Vec<u8> = classes_on.iter().flatten().copied().collect();
            classes.sort_unstable();
            classes.dedup();
            let class = classes[rng.random_range(0..classes.len())];
            let holding: Vec<usize> = (0..nz)
                .filter(|&z| classes_on[z].contains(&class))
                .collect();
            holding[rng.random_range(0..holding.len())]
        }
    }
}

impl SssTrainer {
    /// The labeled loss of `step` (its clip, view and prompts drawn from the step's RNG).
    pub(super) fn labeled_loss(&self, step: usize) -> Result<LabeledTerms> {
        let cfg = &self.cfg;
        let t = &cfg.sam2_training;
        let (s, low) = (cfg.sam2.image_size, cfg.low_res());
        let factor = s / low;
        let mut rng = step_rng(cfg.seed, step, 1);
        let v = rng.random_range(0..self.data.labeled.len());
        let vol = &self.data.labeled[v];
        let labels = vol
            .labels
            .as_ref()
            .ok_or_else(|| SssError::InvalidInput(format!("{} has no labels", vol.id)))?;
        let nz = vol.image.num_slices();
        let z = labeled_start_slice(
            (0..nz).map(|z| labels.slice(z)),
            cfg.labeled_slices,
            &mut rng,
        );
        let reverse = t.reverse_prob > 0.0 && rng.random::<f64>() < t.reverse_prob;
        let slices = clip_slices(z, nz, t.clip_frames, reverse);
        let clip = weak_clip(vol, slices, &cfg.weak, &mut rng)?;
        let frames = clip.frames();
        let images = normalise_input(self.tensor4(clip.images.clone(), [frames, 3, s, s]));
        let enc = self.student.net.encode(images);
        let plane = s * s;
        let low_labels: Vec<u8> = (0..frames)
            .flat_map(|f| downsample_labels(&clip.labels[f * plane..(f + 1) * plane], s, factor))
            .collect();
        let (coarse_logits, labels, side) = match cfg.coarse_loss_at {
            CoarseLossAt::Low => (enc.coarse_logits, &low_labels, low),
            CoarseLossAt::Image => (
                upsample_bilinear(enc.coarse_logits, [s, s]),
                &clip.labels,
                s,
            ),
        };
        let label_tensor: Tensor<3, Int> = Tensor::from_data(
            TensorData::new(
                labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>(),
                [frames, side, side],
            ),
            &self.device,
        );
        let coarse = ce_dice_loss_over(
            coarse_logits,
            label_tensor,
            Some(i64::from(IGNORE)),
            cfg.coarse_dice,
        ) * cfg.coarse_weight;
        let prompts =
            sample_labeled_prompts(&clip.labels[..plane], s, cfg.num_classes, t, &mut rng);
        let n = prompts.len();
        let mut terms = LabeledTerms {
            coarse,
            mask: Tensor::zeros([1], &self.device),
            sam2: None,
            per_frame: Vec::new(),
            objects: n,
            frames,
        };
        if n == 0 {
            return Ok(terms);
        }
        // Per frame and object, the target at the image size; per frame the valid pixels.
        let targets: Vec<Vec<Vec<bool>>> = (0..frames)
            .map(|f| {
                let frame = &clip.labels[f * plane..(f + 1) * plane];
                prompts
                    .classes
                    .iter()
                    .map(|&c| frame.iter().map(|&l| l == c).collect())
                    .collect()
            })
            .collect();
        let valid: Vec<Vec<bool>> = (0..frames)
            .map(|f| {
                clip.labels[f * plane..(f + 1) * plane]
                    .iter()
                    .map(|&l| l != IGNORE)
                    .collect()
            })
            .collect();
        let legacy = t.supervision == MaskSupervision::LegacyBceDice;
        let corrections = (!legacy && t.correction_rounds > 0).then(|| Corrections {
            rounds: t.correction_rounds,
            targets: &targets[0],
            valid: &valid[0],
            from_gt_prob: t.correction_from_gt_prob,
            rng: &mut rng,
        });
        let ungated = t.supervision == MaskSupervision::OfficialUngated;
        let out = clip_forward(
            &self.student.net.sam,
            &enc.features,
            &prompts,
            ungated,
            corrections,
        )?;
        if legacy {
            terms.mask = if t.full_resolution_loss {
                self.legacy_mask_loss(out, &clip.labels, &prompts.classes, s)
            } else {
                self.legacy_mask_loss(out, &low_labels, &prompts.classes, low)
            };
            return Ok(terms);
        }
        let mut total: Option<Sam2LossTerms> = None;
        for (f, steps) in out.steps.into_iter().enumerate() {
            let (target, valid, size) = if t.full_resolution_loss {
                let tg: Vec<f32> = targets[f]
                    .iter()
                    .flat_map(|o| o.iter().map(|&b| f32::from(u8::from(b))))
                    .collect();
                let va: Vec<f32> = (0..n)
                    .flat_map(|_| valid[f].iter().map(|&b| f32::from(u8::from(b))))
                    .collect();
                (tg, va, s)
            } else {
                let frame = &low_labels[f * low * low..(f + 1) * low * low];
                let tg: Vec<f32> = prompts
                    .classes
                    .iter()
                    .flat_map(|&c| frame.iter().map(move |&l| f32::from(u8::from(l == c))))
                    .collect();
                let va: Vec<f32> = (0..n)
                    .flat_map(|_| frame.iter().map(|&l| f32::from(u8::from(l != IGNORE))))
                    .collect();
                (tg, va, low)
            };
            let present: Vec<f32> = target
                .chunks(size * size)
                .map(|o| f32::from(u8::from(o.iter().any(|&v| v > 0.0))))
                .collect();
            let target = mask_tensor(target, n, [size, size], &self.device);
            let valid = mask_tensor(valid, n, [size, size], &self.device);
            let present: Tensor<2> =
                Tensor::from_data(TensorData::new(present, [n, 1]), &self.device);
            let mut frame_terms: Option<Sam2LossTerms> = None;
            for step in steps {
                let logits = upsample_bilinear(step.multimasks, [size, size]);
                let step_terms = sam2_step_loss(
                    Sam2StepInputs {
                        logits,
                        pred_ious: step.ious,
                        object_scores: step.object_scores,
                        targets: target.clone(),
                        valid: valid.clone(),
                        present: present.clone(),
                    },
                    &t.loss,
                );
                frame_terms = Some(match frame_terms {
                    None => step_terms,
                    Some(acc) => acc.plus(step_terms),
                });
            }
            let frame_terms = frame_terms.expect("every frame has a decoder step");
            terms.per_frame.push(frame_terms.weighted(&t.loss));
            total = Some(match total {
                None => frame_terms,
                Some(acc) => acc.plus(frame_terms),
            });
        }
        let total = total.expect("a clip has frames").divided_by(frames as f64);
        terms.mask = total.weighted(&t.loss);
        terms.sam2 = Some(total);
        Ok(terms)
    }

    /// The earlier recipe: BCE + Dice of the selected mask logits clamped to ±32 against
    /// `labels` of `size`² per frame (the decoder's resolution and nearest-downsampled labels,
    /// or the image size with the logits upsampled bilinearly), plus the object-score BCE.
    fn legacy_mask_loss(
        &self,
        out: ClipOutput,
        labels: &[u8],
        classes: &[u8],
        size: usize,
    ) -> Tensor<1> {
        let [frames, n] = out.object_scores.dims();
        let plane = size * size;
        let mut targets = vec![0f32; frames * n * plane];
        let mut present = vec![0f32; frames * n];
        for f in 0..frames {
            for (o, &class) in classes.iter().enumerate() {
                let dst = &mut targets[(f * n + o) * plane..(f * n + o + 1) * plane];
                for (t, &l) in dst.iter_mut().zip(&labels[f * plane..(f + 1) * plane]) {
                    if l == class {
                        *t = 1.0;
                        present[f * n + o] = 1.0;
                    }
                }
            }
        }
        let targets = self.tensor4(targets, [frames, n, size, size]);
        let present = self.tensor4(present, [frames, n, 1, 1]);
        let logits = out.mask_logits.clamp(-LOGIT_CLAMP, LOGIT_CLAMP);
        let logits = upsample_bilinear(logits, [size, size]);
        bce_dice_loss(logits, targets)
            + bce_mean(out.object_scores.reshape([frames, n, 1, 1]), present)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Class 1 fills 9 of 10 slices, class 2 only slice 7: drawn by slice, class 2's slice
    /// comes about 1 time in 9; class-balanced, about half the time.
    #[test]
    fn class_balanced_slices_reach_a_rare_class() {
        let slices: Vec<Vec<u8>> = (0..10)
            .map(|z| match z {
                0 => vec![0, 0],
                7 => vec![1, 2],
                _ => vec![1, 0],
            })
            .collect();
        let share_of_slice_7 = |rule| {
            let mut rng = step_rng(3, 0, 0);
            let draws = 4000;
            let hits = (0..draws)
                .filter(|_| {
                    labeled_start_slice(slices.iter().map(Vec::as_slice), rule, &mut rng) == 7
                })
                .count();
            hits as f64 / draws as f64
        };
        let by_slice = share_of_slice_7(LabeledSlices::AnyForeground);
        let balanced = share_of_slice_7(LabeledSlices::ClassBalanced);
        assert!((by_slice - 1.0 / 9.0).abs() < 0.03, "{by_slice}");
        // Class 2 (1/2) plus class 1's draw landing on slice 7 (1/2 · 1/9).
        assert!((balanced - (0.5 + 0.5 / 9.0)).abs() < 0.03, "{balanced}");
        // Never an empty slice while one holds foreground.
        let mut rng = step_rng(4, 0, 0);
        for rule in [LabeledSlices::AnyForeground, LabeledSlices::ClassBalanced] {
            for _ in 0..200 {
                let z = labeled_start_slice(slices.iter().map(Vec::as_slice), rule, &mut rng);
                assert_ne!(z, 0);
            }
        }
    }
}
