//! The unlabeled half of an SSS step (UniMatch-V2 weak-to-strong): the teacher's PCSW prompts
//! (cached per volume), its coarse and SAM-2 pseudo-labels on the weak view of a two-slice
//! clip, two strong views with CutMix, and the confidence-masked student losses on them.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData, activation};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::clip::{
    IGNORE, TrainVolume, WeakClip, clip_forward, clip_slices, downsample_labels, step_rng,
    weak_clip,
};
use super::config::SssTrainConfig;
use super::prompts::{ObjectPrompts, coarse_component_prompt};
use super::{SssTrainer, read, read1};
use crate::Result;
use crate::data::intensity::IntensityRule;
use crate::model::image_encoder::normalise_input;
use crate::model::sam2_base::BackboneFeatures;
use crate::model::sss_net::{SssNet, select_slices};
use crate::predictor::pipeline::SssSegmenter;
use crate::prompt::pcsw::ClassPrompt;
use crate::train::augment::apply_photometric;
use crate::train::losses::{bce_with_logits, mean_of_views};
use crate::train::pseudo_labels::{
    UnlabeledCoarse, binary_pseudo_labels, masked_bce_dice_loss, masked_ce_dice_loss,
    merge_foreground_logits, merge_foreground_probs, multiclass_pseudo_labels,
};

/// Mask logits are clamped to this in the unlabeled BCE + Dice (absent objects carry SAM-2's
/// −1024).
const LOGIT_CLAMP: f32 = 32.0;

/// PCSW prompts of one unlabeled volume and the step they were computed at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CachedPrompts {
    pub computed_at: usize,
    pub prompts: Vec<ClassPrompt>,
}

/// The PCSW prompts of unlabeled volumes, recomputed by the teacher every `refresh` steps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptCache {
    pub entries: BTreeMap<usize, CachedPrompts>,
}

impl PromptCache {
    /// Whether volume `volume`'s prompts must be (re)computed at `step`.
    pub fn needs_refresh(&self, volume: usize, step: usize, refresh: usize) -> bool {
        self.entries
            .get(&volume)
            .is_none_or(|e| step >= e.computed_at + refresh)
    }

    /// The prompts of `volume` at `step`, computed by `compute` when missing or stale.
    pub fn get_or_refresh(
        &mut self,
        volume: usize,
        step: usize,
        refresh: usize,
        compute: impl FnOnce() -> Result<Vec<ClassPrompt>>,
    ) -> Result<&[ClassPrompt]> {
        if self.needs_refresh(volume, step, refresh) {
            let prompts = compute()?;
            self.entries.insert(
                volume,
                CachedPrompts {
                    computed_at: step,
                    prompts,
                },
            );
        }
        Ok(&self.entries[&volume].prompts)
    }
}

impl SssTrainer {
    /// Unlabeled loss terms (already averaged over the two strong views).
    pub(super) fn unlabeled_loss(&mut self, step: usize) -> Result<UnlabeledTerms> {
        let cfg = self.cfg.clone();
        let (s, low) = (cfg.sam2.image_size, cfg.low_res());
        let factor = s / low;
        let k = cfg.num_classes;
        let mut rng = step_rng(cfg.seed, step, 2);
        let u = rng.random_range(0..self.data.unlabeled.len());
        let nz = self.data.unlabeled[u].image.num_slices();

        // Prompts: PCSW on the teacher's coarse masks of the whole volume (cached).
        let pcsw_prompts: Vec<ClassPrompt> = if cfg.pcsw {
            let teacher = &self.teacher;
            let vol = &self.data.unlabeled[u];
            let rule = self.data.rule;
            let device = self.device.clone().without_autodiff();
            self.prompt_cache
                .get_or_refresh(u, step, cfg.prompt_refresh, || {
                    teacher_pcsw_prompts(teacher, vol, rule, &cfg, &device)
                })?
                .to_vec()
        } else {
            Vec::new()
        };
        let active: Vec<&ClassPrompt> = pcsw_prompts
            .iter()
            .filter(|p| !p.prompt.is_empty())
            .collect();
        let z = if active.is_empty() {
            rng.random_range(0..nz)
        } else {
            active[rng.random_range(0..active.len())].prompt.slice
        };
        let vol = &self.data.unlabeled[u];
        let clip = weak_clip(vol, clip_slices(z, nz, 2, false), &cfg.weak, &mut rng)?;
        let plane = s * s;
        let lp = low * low;
        let valid: Vec<f32> = (0..2)
            .flat_map(|f| downsample_labels(&clip.labels[f * plane..(f + 1) * plane], s, factor))
            .map(|l| if l == IGNORE { 0.0 } else { 1.0 })
            .collect();

        // Teacher on the weak view.
        let plain = self.device.clone().without_autodiff();
        let weak_input: Tensor<4> = normalise_input(Tensor::from_data(
            TensorData::new(clip.images.clone(), [2, 3, s, s]),
            &plain,
        ));
        let t_enc = self.teacher.encode(weak_input);
        let t_probs = if cfg.oracle_pseudo_labels {
            oracle_probabilities(&clip, s, factor, k)?
        } else {
            read(activation::softmax(t_enc.coarse_logits.clone(), 1))?
        };
        let t_map: Vec<u8> = (0..2 * lp)
            .map(|i| {
                let (f, p) = (i / lp, i % lp);
                let mut best = (0usize, f32::MIN);
                for c in 0..k {
                    let v = t_probs[(f * k + c) * lp + p];
                    if v > best.1 {
                        best = (c, v);
                    }
                }
                if valid[i] > 0.0 { best.0 as u8 } else { 0 }
            })
            .collect();
        let prompts = unlabeled_prompts(&cfg, &clip, &active, &t_map[..lp], low, factor);
        let n = prompts.len();
        let (t_mask_probs, t_present) = if n > 0 {
            let out = clip_forward(&self.teacher.sam, &t_enc.features, &prompts, false, None)?;
            (
                read(activation::sigmoid(out.mask_logits))?,
                read(out.object_scores.greater_elem(0.0).float())?,
            )
        } else {
            (Vec::new(), Vec::new())
        };

        // Two strong views of the weak view; CutMix with the clip's other slice.
        let mut strong_images = Vec::with_capacity(2);
        let mut pseudo = Vec::with_capacity(2);
        for _ in 0..2 {
            let params = [
                cfg.strong.sample([low, low], &mut rng),
                cfg.strong.sample([low, low], &mut rng),
            ];
            let mut images = clip.images.clone();
            for (f, p) in params.iter().enumerate() {
                apply_photometric(
                    &mut images[f * 3 * plane..(f + 1) * 3 * plane],
                    3,
                    [s, s],
                    p,
                )?;
            }
            let photometric = images.clone();
            let mut probs = t_probs.clone();
            let mut masks = t_mask_probs.clone();
            let mut valid_k = valid.clone();
            for (f, p) in params.iter().enumerate() {
                let Some(b) = p.cutmix else { continue };
                let o = 1 - f;
                let big = crate::train::augment::CutMixBox {
                    x: b.x * factor,
                    y: b.y * factor,
                    w: b.w * factor,
                    h: b.h * factor,
                };
                let fi = f * 3 * plane..(f + 1) * 3 * plane;
                let oi = o * 3 * plane..(o + 1) * 3 * plane;
                big.paste(&mut images[fi], &photometric[oi], [s, s])?;
                let source = t_probs[o * k * lp..(o + 1) * k * lp].to_vec();
                b.paste(
                    &mut probs[f * k * lp..(f + 1) * k * lp],
                    &source,
                    [low, low],
                )?;
                if n > 0 {
                    let source = t_mask_probs[o * n * lp..(o + 1) * n * lp].to_vec();
                    b.paste(
                        &mut masks[f * n * lp..(f + 1) * n * lp],
                        &source,
                        [low, low],
                    )?;
                }
                let source = valid[o * lp..(o + 1) * lp].to_vec();
                b.paste(&mut valid_k[f * lp..(f + 1) * lp], &source, [low, low])?;
            }
            strong_images.push(images);
            pseudo.push((probs, masks, valid_k));
        }

        // Student on the weak (for DFE) and strong views.
        let mut batch = Vec::new();
        if cfg.dfe {
            batch.extend(clip.images.iter().copied());
        }
        for images in &strong_images {
            batch.extend(images.iter().copied());
        }
        let views = batch.len() / (2 * 3 * plane);
        let enc = self
            .student
            .net
            .encode(normalise_input(self.tensor4(batch, [2 * views, 3, s, s])));
        let first_strong = if cfg.dfe { 2 } else { 0 };
        let mut coarse_terms = Vec::new();
        let mut mask_terms = Vec::new();
        let mut kept = 0.0f32;
        let taught_classes = match cfg.pseudo_labels.coarse {
            UnlabeledCoarse::Classes => k,
            UnlabeledCoarse::Foreground => 2,
        };
        let mut kept_by_class = vec![0.0f32; taught_classes];
        let (mut mask_kept, mut mask_kept_fg) = (0.0f32, 0.0f32);
        for (view, (probs, masks, valid_k)) in pseudo.into_iter().enumerate() {
            let start = first_strong + 2 * view;
            let logits = enc.coarse_logits.clone().narrow(0, start, 2);
            let valid_t: Tensor<3> = Tensor::from_data(
                TensorData::new(valid_k.clone(), [2, low, low]),
                &self.device,
            );
            let (teacher, logits) = match cfg.pseudo_labels.coarse {
                UnlabeledCoarse::Classes => (self.tensor4(probs, [2, k, low, low]), logits),
                UnlabeledCoarse::Foreground => (
                    merge_foreground_probs(self.tensor4(probs, [2, k, low, low])),
                    merge_foreground_logits(logits),
                ),
            };
            let labels = multiclass_pseudo_labels(
                teacher,
                cfg.tau,
                Some(valid_t.clone()),
                cfg.pseudo_labels,
            );
            kept += read1(labels.keep.clone().sum())? / read1(labels.valid_count.clone())?.max(1.0);
            for (sum, v) in kept_by_class
                .iter_mut()
                .zip(read(labels.kept_by_class(valid_t.clone()))?)
            {
                *sum += v / 2.0;
            }
            coarse_terms.push(masked_ce_dice_loss(logits, &labels));
            if n > 0 {
                let strong = select_slices(&enc.features, start, 2);
                let features = match &self.student.dfe {
                    Some(dfe) => {
                        let weak = select_slices(&enc.features, 0, 2);
                        BackboneFeatures {
                            vision_feats: dfe.forward(weak.vision_feats, strong.vision_feats)?,
                            vision_pos_embeds: strong.vision_pos_embeds,
                        }
                    }
                    None => strong,
                };
                let out = clip_forward(&self.student.net.sam, &features, &prompts, false, None)?;
                let pseudo_masks = binary_pseudo_labels(
                    self.tensor4(masks, [2, n, low, low]),
                    cfg.tau,
                    Some(valid_t),
                    cfg.pseudo_labels,
                );
                let kept_count = read1(pseudo_masks.keep.clone().sum())?;
                mask_kept += kept_count / read1(pseudo_masks.valid_count.clone())?.max(1.0);
                mask_kept_fg +=
                    read1((pseudo_masks.keep.clone() * pseudo_masks.targets.clone()).sum())?
                        / kept_count.max(1.0);
                let present = self.tensor4(t_present.clone(), [2, n, 1, 1]);
                let logits = out.mask_logits.clamp(-LOGIT_CLAMP, LOGIT_CLAMP);
                let scores = out.object_scores.reshape([2, n, 1, 1]);
                mask_terms
                    .push(masked_bce_dice_loss(logits, &pseudo_masks) + bce_mean(scores, present));
            }
        }
        let mut views = coarse_terms.into_iter();
        let coarse = mean_of_views(
            views.next().expect("two views"),
            views.next().expect("two views"),
        );
        let mask = if mask_terms.len() == 2 {
            let mut m = mask_terms.into_iter();
            mean_of_views(m.next().expect("two"), m.next().expect("two"))
        } else {
            Tensor::zeros([1], &self.device)
        };
        Ok(UnlabeledTerms {
            coarse,
            mask,
            objects: n,
            kept: kept / 2.0,
            mask_kept: mask_kept / 2.0,
            mask_kept_foreground: mask_kept_fg / 2.0,
            kept_by_class,
        })
    }
}

pub(super) struct UnlabeledTerms {
    pub coarse: Tensor<1>,
    pub mask: Tensor<1>,
    pub objects: usize,
    pub kept: f32,
    pub mask_kept: f32,
    pub mask_kept_foreground: f32,
    /// Per class: the fraction of the pixels the teacher's coarse head assigns to it that
    /// pass the confidence rule (mean of the two strong views); background and foreground
    /// only with [`UnlabeledCoarse::Foreground`].
    pub kept_by_class: Vec<f32>,
}

/// Mean BCE-with-logits.
pub(super) fn bce_mean(logits: Tensor<4>, targets: Tensor<4>) -> Tensor<1> {
    bce_with_logits(logits, targets).mean()
}

/// One-hot class probabilities `[2, K, low, low]` of the clip's own labels at the coarse
/// resolution (the oracle teacher of [`SssTrainConfig::oracle_pseudo_labels`]); ignored
/// pixels get background, and the validity mask leaves them out.
fn oracle_probabilities(clip: &WeakClip, s: usize, factor: usize, k: usize) -> Result<Vec<f32>> {
    let plane = s * s;
    let low = s / factor;
    let lp = low * low;
    let mut probs = vec![0f32; 2 * k * lp];
    for f in 0..2 {
        let labels = downsample_labels(&clip.labels[f * plane..(f + 1) * plane], s, factor);
        for (p, &l) in labels.iter().enumerate() {
            let class = if l == IGNORE { 0 } else { l as usize };
            if class >= k {
                return Err(crate::SssError::InvalidInput(format!(
                    "an unlabeled scan's label {class} is outside the task's {k} classes"
                )));
            }
            probs[(f * k + class) * lp + p] = 1.0;
        }
    }
    Ok(probs)
}

/// Prompts of an unlabeled clip's objects on its first slice (model-input pixels).
fn unlabeled_prompts(
    cfg: &SssTrainConfig,
    clip: &WeakClip,
    active: &[&ClassPrompt],
    teacher_map: &[u8],
    low: usize,
    factor: usize,
) -> ObjectPrompts {
    let mut prompts = ObjectPrompts::default();
    for class in 1..cfg.num_classes as u8 {
        let pcsw = active
            .iter()
            .find(|p| p.class == class && p.prompt.slice == clip.slices[0]);
        let mapped = pcsw.and_then(|p| {
            let b = clip.transform.map_box(p.prompt.box_xyxy)?;
            Some((b, clip.transform.map_point(p.prompt.point)))
        });
        let mapped = match mapped {
            Some(m) => Some(m),
            None if cfg.pcsw && !active.iter().any(|p| p.class == class) => None,
            None => coarse_component_prompt(teacher_map, [low, low], class, factor as f32),
        };
        if let Some((b, p)) = mapped {
            prompts.push_box_and_point(class, b, p);
        }
    }
    prompts
}

/// PCSW prompts of one volume from the teacher's coarse masks (the inference path).
fn teacher_pcsw_prompts(
    teacher: &SssNet,
    vol: &TrainVolume,
    rule: IntensityRule,
    cfg: &SssTrainConfig,
    device: &Device,
) -> Result<Vec<ClassPrompt>> {
    let segmenter = SssSegmenter::from_parts(teacher.clone(), rule, cfg.pcsw_config, device);
    let prepared = segmenter.prepare(&vol.image)?;
    let coarse = segmenter.coarse(&prepared)?;
    segmenter.auto_prompts(&coarse, vol.image.dims)
}
