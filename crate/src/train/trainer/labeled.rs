//! The labeled half of an SSS step: the coarse head's `(CE + Dice)/2` on every slice of a
//! labeled clip, and SAM-2 trained on the same clip as official SAM-2 trains video
//! (simulated prompts and correction clicks on the first slice, memory tracking through the
//! rest, the official loss on every decoder step; `docs/sam2-training.md`).

use burn::tensor::{Int, Tensor, TensorData};
use rand::RngExt;
use rand::rngs::SmallRng;

use super::SssTrainer;
use super::clip::{
    ClipOutput, Corrections, DecoderStep, IGNORE, TrainVolume, WeakClip, clip_forward, clip_slices,
    downsample_labels, mask_tensor, step_rng, weak_clip,
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

/// A labeled clip's labels per SAM-2 object, as the SAM-2 losses and correction clicks read
/// them.
struct ClipTargets<'a> {
    /// Per frame and object, the target at the image size.
    objects: Vec<Vec<Vec<bool>>>,
    /// Per frame, the valid pixels at the image size.
    valid: Vec<Vec<bool>>,
    /// The clip's labels at the decoder's resolution, `[frames][low][low]`.
    low_labels: &'a [u8],
    /// The objects' classes.
    classes: &'a [u8],
    /// The image size and the decoder's resolution.
    size: usize,
    low: usize,
}

/// One frame's targets for the official loss, `[n][size²]` each.
struct FrameTargets {
    objects: usize,
    targets: Vec<f32>,
    valid: Vec<f32>,
    size: usize,
}

impl<'a> ClipTargets<'a> {
    /// The targets of the objects of `classes` in `labels` (`[frames][size][size]`).
    fn new(
        labels: &[u8],
        low_labels: &'a [u8],
        classes: &'a [u8],
        size: usize,
        low: usize,
    ) -> Self {
        let plane = size * size;
        let frames = labels.len() / plane;
        let objects = (0..frames)
            .map(|f| {
                let frame = &labels[f * plane..(f + 1) * plane];
                classes
                    .iter()
                    .map(|&c| frame.iter().map(|&l| l == c).collect())
                    .collect()
            })
            .collect();
        let valid = (0..frames)
            .map(|f| {
                labels[f * plane..(f + 1) * plane]
                    .iter()
                    .map(|&l| l != IGNORE)
                    .collect()
            })
            .collect();
        Self {
            objects,
            valid,
            low_labels,
            classes,
            size,
            low,
        }
    }

    /// Frame `f`'s targets and valid pixels as 0 / 1, at the image size or (not
    /// `full_resolution`) at the decoder's resolution.
    fn frame(&self, f: usize, full_resolution: bool) -> FrameTargets {
        let n = self.classes.len();
        if full_resolution {
            let targets: Vec<f32> = self.objects[f]
                .iter()
                .flat_map(|o| o.iter().map(|&b| f32::from(u8::from(b))))
                .collect();
            let valid: Vec<f32> = (0..n)
                .flat_map(|_| self.valid[f].iter().map(|&b| f32::from(u8::from(b))))
                .collect();
            FrameTargets {
                objects: n,
                targets,
                valid,
                size: self.size,
            }
        } else {
            let low = self.low;
            let frame = &self.low_labels[f * low * low..(f + 1) * low * low];
            let targets: Vec<f32> = self
                .classes
                .iter()
                .flat_map(|&c| frame.iter().map(move |&l| f32::from(u8::from(l == c))))
                .collect();
            let valid: Vec<f32> = (0..n)
                .flat_map(|_| frame.iter().map(|&l| f32::from(u8::from(l != IGNORE))))
                .collect();
            FrameTargets {
                objects: n,
                targets,
                valid,
                size: low,
            }
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

        // Step 1: a clip of a labeled volume under one weak view, from the step's RNG.
        let mut rng = step_rng(cfg.seed, step, 1);
        let clip = self.labeled_clip(&mut rng)?;
        let frames = clip.frames();

        // Step 2: the image encoder and coarse head on every frame; the coarse loss.
        // [frames·3·s·s] -> [frames, 3, s, s]
        let images = normalise_input(self.tensor4(clip.images.clone(), [frames, 3, s, s]));
        let enc = self.student.net.encode(images);
        let plane = s * s;
        // [frames][s][s] -> [frames][low][low]
        let low_labels: Vec<u8> = (0..frames)
            .flat_map(|f| downsample_labels(&clip.labels[f * plane..(f + 1) * plane], s, factor))
            .collect();
        let coarse =
            self.labeled_coarse_loss(step, enc.coarse_logits, &clip.labels, &low_labels)?;

        // Step 3: SAM-2's prompts on the first slice: one object per class present there.
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

        // Step 4: SAM-2 over the clip: the first slice prompted (with correction rounds, whose
        // clicks come from its targets), the others tracked with the memory bank.
        let targets = ClipTargets::new(&clip.labels, &low_labels, &prompts.classes, s, low);
        let legacy = t.supervision == MaskSupervision::LegacyBceDice;
        let corrections = (!legacy && t.correction_rounds > 0).then(|| Corrections {
            rounds: t.correction_rounds,
            targets: &targets.objects[0],
            valid: &targets.valid[0],
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

        // Step 5: the SAM-2 loss, legacy or official.
        if legacy {
            terms.mask = if t.full_resolution_loss {
                self.legacy_mask_loss(out, &clip.labels, &prompts.classes, s)
            } else {
                self.legacy_mask_loss(out, &low_labels, &prompts.classes, low)
            };
            return Ok(terms);
        }
        self.official_mask_loss(out.steps, &targets, &mut terms);
        Ok(terms)
    }

    /// A clip of a random labeled volume under one weak view: its first slice drawn as
    /// `labeled_slices` says, tracked forwards or (with `reverse_prob`) backwards.
    fn labeled_clip(&self, rng: &mut SmallRng) -> Result<WeakClip> {
        let cfg = &self.cfg;
        let t = &cfg.sam2_training;
        let (vol, z) = self.random_labeled_slice(rng)?;
        let nz = vol.image.num_slices();
        let reverse = t.reverse_prob > 0.0 && rng.random::<f64>() < t.reverse_prob;
        let slices = clip_slices(z, nz, t.clip_frames, reverse);
        weak_clip(vol, slices, &cfg.weak, rng)
    }

    /// A random labeled volume and one of its slices, drawn as `labeled_slices` says.
    fn random_labeled_slice(&self, rng: &mut SmallRng) -> Result<(&TrainVolume, usize)> {
        let v = rng.random_range(0..self.data.labeled.len());
        let vol = &self.data.labeled[v];
        let labels = vol
            .labels
            .as_ref()
            .ok_or_else(|| SssError::InvalidInput(format!("{} has no labels", vol.id)))?;
        let nz = vol.image.num_slices();
        let z = labeled_start_slice(
            (0..nz).map(|z| labels.slice(z)),
            self.cfg.labeled_slices,
            rng,
        );
        Ok((vol, z))
    }

    /// `coarse_extra_slices` labeled slices for the coarse head alone, each from a random
    /// labeled volume under its own weak view (the step's RNG stream 3, so the clip's draws
    /// do not change with the switch): their coarse logits `[n, K, low, low]`, labels
    /// `[n][s][s]` and labels at the decoder's resolution `[n][low][low]`.
    fn coarse_extra_slices(&self, step: usize) -> Result<(Tensor<4>, Vec<u8>, Vec<u8>)> {
        let cfg = &self.cfg;
        let (s, low) = (cfg.sam2.image_size, cfg.low_res());
        let n = cfg.coarse_extra_slices;
        let mut rng = step_rng(cfg.seed, step, 3);
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let (vol, z) = self.random_labeled_slice(&mut rng)?;
            let view = weak_clip(vol, vec![z], &cfg.weak, &mut rng)?;
            images.extend(view.images);
            labels.extend(view.labels);
        }
        // [n·3·s·s] -> [n, 3, s, s]
        let images = normalise_input(self.tensor4(images, [n, 3, s, s]));
        let logits = self.student.net.encode(images).coarse_logits;
        let low_labels = labels
            .chunks(s * s)
            .flat_map(|plane| downsample_labels(plane, s, s / low))
            .collect();
        Ok((logits, labels, low_labels))
    }

    /// The coarse head's `(CE + Dice)/2` on every frame and on `coarse_extra_slices` more
    /// labeled slices, times `coarse_weight`: its logits `[frames, K, low, low]` against
    /// `low_labels`, or upsampled to the image size against `labels` (`coarse_loss_at`).
    fn labeled_coarse_loss(
        &self,
        step: usize,
        coarse_logits: Tensor<4>,
        labels: &[u8],
        low_labels: &[u8],
    ) -> Result<Tensor<1>> {
        let cfg = &self.cfg;
        let (s, low) = (cfg.sam2.image_size, cfg.low_res());
        let (coarse_logits, labels, low_labels) = if cfg.coarse_extra_slices > 0 {
            let (extra_logits, extra_labels, extra_low) = self.coarse_extra_slices(step)?;
            (
                Tensor::cat(vec![coarse_logits, extra_logits], 0),
                [labels, &extra_labels].concat(),
                [low_labels, &extra_low].concat(),
            )
        } else {
            (coarse_logits, labels.to_vec(), low_labels.to_vec())
        };
        let (labels, low_labels) = (labels.as_slice(), low_labels.as_slice());
        let frames = coarse_logits.dims()[0];
        let (coarse_logits, labels, side) = match cfg.coarse_loss_at {
            CoarseLossAt::Low => (coarse_logits, low_labels, low),
            // [frames, K, low, low] -> [frames, K, s, s]
            CoarseLossAt::Image => (upsample_bilinear(coarse_logits, [s, s]), labels, s),
        };
        let label_tensor: Tensor<3, Int> = Tensor::from_data(
            TensorData::new(
                labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>(),
                [frames, side, side],
            ),
            &self.device,
        );
        Ok(ce_dice_loss_over(
            coarse_logits,
            label_tensor,
            Some(i64::from(IGNORE)),
            cfg.coarse_dice,
        ) * cfg.coarse_weight)
    }

    /// The official SAM-2 loss of a clip into `terms`: per frame the sum over its decoder
    /// steps (weighted into `per_frame`), averaged over frames (`sam2`, and weighted `mask`).
    fn official_mask_loss(
        &self,
        steps: Vec<Vec<DecoderStep>>,
        targets: &ClipTargets<'_>,
        terms: &mut LabeledTerms,
    ) {
        let t = &self.cfg.sam2_training;
        let mut total: Option<Sam2LossTerms> = None;
        for (f, steps) in steps.into_iter().enumerate() {
            let frame = targets.frame(f, t.full_resolution_loss);
            let frame_terms = self.frame_loss(steps, frame);
            terms.per_frame.push(frame_terms.weighted(&t.loss));
            total = Some(match total {
                None => frame_terms,
                Some(acc) => acc.plus(frame_terms),
            });
        }
        let total = total
            .expect("a clip has frames")
            .divided_by(terms.frames as f64);
        terms.mask = total.weighted(&t.loss);
        terms.sam2 = Some(total);
    }

    /// The official loss of one frame, summed over its decoder steps; the mask logits
    /// `[n, M, low, low]` upsampled to the targets' size.
    fn frame_loss(&self, steps: Vec<DecoderStep>, frame: FrameTargets) -> Sam2LossTerms {
        let t = &self.cfg.sam2_training;
        let FrameTargets {
            objects: n,
            targets,
            valid,
            size,
        } = frame;
        // [n·size²] -> [n]: whether each object is on this frame.
        let present: Vec<f32> = targets
            .chunks(size * size)
            .map(|o| f32::from(u8::from(o.iter().any(|&v| v > 0.0))))
            .collect();
        // [n·size²] -> [n, 1, size, size]
        let target = mask_tensor(targets, n, [size, size], &self.device);
        let valid = mask_tensor(valid, n, [size, size], &self.device);
        let present: Tensor<2> = Tensor::from_data(TensorData::new(present, [n, 1]), &self.device);
        let mut frame_terms: Option<Sam2LossTerms> = None;
        for step in steps {
            // [n, M, h, w] -> [n, M, size, size]
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
        frame_terms.expect("every frame has a decoder step")
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
