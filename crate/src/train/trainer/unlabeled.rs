//! The unlabeled half of an SSS step (UniMatch-V2 weak-to-strong): the teacher's PCSW prompts
//! (cached per volume), its coarse and SAM-2 pseudo-labels on the weak view of a two-slice
//! clip, two strong views with CutMix, and the confidence-masked student losses on them.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData, activation};
use rand::RngExt;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

use super::clip::{
    IGNORE, TrainVolume, WeakClip, clip_forward, clip_slices, downsample_labels, step_rng,
    weak_clip,
};
use super::config::{SssTrainConfig, UnlabeledMaskTarget};
use super::prompts::{ObjectPrompts, coarse_component_prompt};
use super::{SssTrainer, read};
use crate::Result;
use crate::data::intensity::IntensityRule;
use crate::model::image_encoder::normalise_input;
use crate::model::sam2_base::BackboneFeatures;
use crate::model::sss_net::{SssEncoded, SssNet, select_slices};
use crate::predictor::pipeline::SssSegmenter;
use crate::prompt::pcsw::ClassPrompt;
use crate::train::augment::{CutMixBox, apply_photometric};
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

/// The teacher's reading of the weak view: its prompts and pseudo-labels.
struct TeacherView {
    /// The objects prompted on the clip's first slice.
    prompts: ObjectPrompts,
    /// Coarse class probabilities `[2, K, low, low]`.
    probs: Vec<f32>,
    /// SAM-2 mask probabilities `[2, n, low, low]` (empty without objects).
    mask_probs: Vec<f32>,
    /// Object present (score > 0) as 0 / 1, `[2, n]` (empty without objects).
    present: Vec<f32>,
}

/// One strong view of the weak clip and the teacher's pseudo-labels pasted alike.
struct StrongView {
    /// `[2][3][s][s]` in [0, 1].
    images: Vec<f32>,
    /// Coarse class probabilities `[2, K, low, low]`.
    probs: Vec<f32>,
    /// SAM-2 mask probabilities `[2, n, low, low]`.
    masks: Vec<f32>,
    /// Valid pixels `[2, low, low]` as 0 / 1.
    valid: Vec<f32>,
}

/// The student's coarse term on one strong view.
struct CoarseViewTerms {
    loss: Tensor<1>,
    /// The counts behind the logged statistics, read back with the losses: pixels whose
    /// pseudo-label passed the confidence rule `[1]`, valid pixels `[1]`, and per taught class
    /// the fraction of its pixels kept `[K']`.
    kept: Tensor<1>,
    valid: Tensor<1>,
    kept_by_class: Tensor<1>,
}

/// The student's SAM-2 term on one strong view.
struct MaskViewTerms {
    loss: Tensor<1>,
    /// Mask elements kept `[1]`, valid `[1]`, and kept foreground `[1]`, read back with the
    /// losses.
    kept: Tensor<1>,
    valid: Tensor<1>,
    kept_foreground: Tensor<1>,
}

impl SssTrainer {
    /// Unlabeled loss terms (already averaged over the two strong views).
    pub(super) fn unlabeled_loss(&mut self, step: usize) -> Result<UnlabeledTerms> {
        let cfg = self.cfg.clone();
        let (s, low) = (cfg.sam2.image_size, cfg.low_res());
        let factor = s / low;

        // Step 1: a volume, its PCSW prompts (the teacher's, cached) and the clip's first slice:
        // the PCSW slice of a random prompted class, or any slice.
        let mut rng = step_rng(cfg.seed, step, 2);
        let u = rng.random_range(0..self.data.unlabeled.len());
        let nz = self.data.unlabeled[u].image.num_slices();
        let pcsw_prompts = self.cached_pcsw_prompts(u, step)?;
        let active: Vec<&ClassPrompt> = pcsw_prompts
            .iter()
            .filter(|p| !p.prompt.is_empty())
            .collect();
        let z = if active.is_empty() {
            rng.random_range(0..nz)
        } else {
            active[rng.random_range(0..active.len())].prompt.slice
        };

        // Step 2: the weak view of a two-slice clip; its valid pixels at the coarse resolution.
        let vol = &self.data.unlabeled[u];
        let clip = weak_clip(vol, clip_slices(z, nz, 2, false), &cfg.weak, &mut rng)?;
        let plane = s * s;
        // [2][s][s] labels -> [2][low][low] as 0 / 1
        let valid: Vec<f32> = (0..2)
            .flat_map(|f| downsample_labels(&clip.labels[f * plane..(f + 1) * plane], s, factor))
            .map(|l| if l == IGNORE { 0.0 } else { 1.0 })
            .collect();

        // Step 3: the teacher on the weak view: prompts and pseudo-labels.
        let teacher = self.teach_weak_view(&clip, &valid, &active)?;

        // Step 4: two strong views of the weak view, CutMix with the clip's other slice.
        let mut views = Vec::with_capacity(2);
        for _ in 0..2 {
            views.push(strong_view(&cfg, &clip, &teacher, &valid, &mut rng)?);
        }

        // Step 5: the student on the weak and strong views; the losses.
        self.student_terms(&clip, views, &teacher)
    }

    /// The student's terms on the strong views (the weak view encoded too, for DFE), each
    /// against the teacher's pseudo-labels pasted with it, averaged over the two views.
    fn student_terms(
        &self,
        clip: &WeakClip,
        views: Vec<StrongView>,
        teacher: &TeacherView,
    ) -> Result<UnlabeledTerms> {
        let cfg = &self.cfg;
        let low = cfg.low_res();
        let n = teacher.prompts.len();
        // Step 1: one encoder pass over the weak view (with DFE) and both strong views.
        let enc = self.encode_views(clip, &views);

        // Step 2: the confidence-masked losses of each strong view.
        let first_strong = if cfg.dfe { 2 } else { 0 };
        let mut coarse_terms = Vec::new();
        let mut mask_terms = Vec::new();
        let taught_classes = match cfg.pseudo_labels.coarse {
            UnlabeledCoarse::Classes => cfg.num_classes,
            UnlabeledCoarse::Foreground => 2,
        };
        let mut counts = Vec::new();
        for (view, strong) in views.into_iter().enumerate() {
            let start = first_strong + 2 * view;
            // [slices, K, low, low] -> [2, K, low, low]
            let logits = enc.coarse_logits.clone().narrow(0, start, 2);
            let valid_t: Tensor<3> =
                Tensor::from_data(TensorData::new(strong.valid, [2, low, low]), &self.device);
            let coarse = self.coarse_view_terms(logits, strong.probs, &valid_t)?;
            counts.extend([coarse.kept, coarse.valid, coarse.kept_by_class]);
            coarse_terms.push(coarse.loss);
            if n > 0 {
                let features = self.student_view_features(&enc.features, start)?;
                let mask = self.mask_view_terms(&features, teacher, strong.masks, valid_t)?;
                counts.extend([mask.kept, mask.valid, mask.kept_foreground]);
                mask_terms.push(mask.loss);
            }
        }

        // Step 3: the mean over the two views.
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
            stats: UnlabeledStats {
                counts,
                taught_classes,
                with_masks: n > 0,
            },
        })
    }

    /// The student's image encoder and coarse head on the weak clip (with DFE, which needs its
    /// features) and the strong views, in that order along the batch.
    fn encode_views(&self, clip: &WeakClip, views: &[StrongView]) -> SssEncoded {
        let s = self.cfg.sam2.image_size;
        let plane = s * s;
        let mut batch = Vec::new();
        if self.cfg.dfe {
            batch.extend(clip.images.iter().copied());
        }
        for view in views {
            batch.extend(view.images.iter().copied());
        }
        let slices = batch.len() / (3 * plane);
        // [slices·3·s·s] -> [slices, 3, s, s]
        self.student
            .net
            .encode(normalise_input(self.tensor4(batch, [slices, 3, s, s])))
    }

    /// The PCSW prompts of unlabeled volume `u` at `step`: from the teacher's coarse masks of
    /// the whole volume, cached for `prompt_refresh` steps; none without PCSW.
    fn cached_pcsw_prompts(&mut self, u: usize, step: usize) -> Result<Vec<ClassPrompt>> {
        let cfg = &self.cfg;
        if !cfg.pcsw {
            return Ok(Vec::new());
        }
        let teacher = &self.teacher;
        let vol = &self.data.unlabeled[u];
        let rule = self.data.rule;
        let device = self.device.clone().without_autodiff();
        Ok(self
            .prompt_cache
            .get_or_refresh(u, step, cfg.prompt_refresh, || {
                teacher_pcsw_prompts(teacher, vol, rule, cfg, &device)
            })?
            .to_vec())
    }

    /// The teacher on the weak view (no gradient): coarse class probabilities (or the oracle's),
    /// the prompts of the clip's objects, and SAM-2's mask probabilities and presence for them.
    fn teach_weak_view(
        &self,
        clip: &WeakClip,
        valid: &[f32],
        active: &[&ClassPrompt],
    ) -> Result<TeacherView> {
        let cfg = &self.cfg;
        let (s, low) = (cfg.sam2.image_size, cfg.low_res());
        let factor = s / low;
        let k = cfg.num_classes;
        let lp = low * low;
        let plain = self.device.clone().without_autodiff();
        // [2·3·s·s] -> [2, 3, s, s]
        let weak_input: Tensor<4> = normalise_input(Tensor::from_data(
            TensorData::new(clip.images.clone(), [2, 3, s, s]),
            &plain,
        ));
        let t_enc = self.teacher.encode(weak_input);
        // [2, K, low, low] -> [2·K·low·low]
        let probs = if cfg.oracle_pseudo_labels {
            oracle_probabilities(clip, s, factor, k)?
        } else {
            read(activation::softmax(t_enc.coarse_logits.clone(), 1))?
        };
        let t_map = argmax_classes(&probs, valid, k, lp);
        let prompts = unlabeled_prompts(cfg, clip, active, &t_map[..lp], low, factor);
        let n = prompts.len();
        let (mask_probs, present) = match cfg.unlabeled_mask_target {
            _ if n == 0 => (Vec::new(), Vec::new()),
            UnlabeledMaskTarget::TeacherSam2 => {
                let out = clip_forward(&self.teacher.sam, &t_enc.features, &prompts, false, None)?;
                (
                    read(activation::sigmoid(out.mask_logits))?,
                    read(out.object_scores.greater_elem(0.0).float())?,
                )
            }
            UnlabeledMaskTarget::Coarse => coarse_mask_targets(&probs, &t_map, &prompts.classes, k),
        };
        Ok(TeacherView {
            prompts,
            probs,
            mask_probs,
            present,
        })
    }

    /// The student's coarse term on one strong view: confidence-masked CE + Dice of `logits`
    /// `[2, K, low, low]` against the teacher's pasted probabilities (merged into background
    /// and foreground with [`UnlabeledCoarse::Foreground`]).
    fn coarse_view_terms(
        &self,
        logits: Tensor<4>,
        probs: Vec<f32>,
        valid: &Tensor<3>,
    ) -> Result<CoarseViewTerms> {
        let cfg = &self.cfg;
        let (k, low) = (cfg.num_classes, cfg.low_res());
        let (teacher, logits) = match cfg.pseudo_labels.coarse {
            UnlabeledCoarse::Classes => (self.tensor4(probs, [2, k, low, low]), logits),
            // [2, K, low, low] -> [2, 2, low, low]
            UnlabeledCoarse::Foreground => (
                merge_foreground_probs(self.tensor4(probs, [2, k, low, low])),
                merge_foreground_logits(logits),
            ),
        };
        let labels =
            multiclass_pseudo_labels(teacher, cfg.tau, Some(valid.clone()), cfg.pseudo_labels);
        Ok(CoarseViewTerms {
            kept: labels.keep.clone().sum(),
            valid: labels.valid_count.clone(),
            kept_by_class: labels.kept_by_class(valid.clone()),
            loss: masked_ce_dice_loss(logits, &labels),
        })
    }

    /// The features the student's mask decoder sees for the strong view at batch `start`:
    /// DFE(weak, strong) with DFE on, else the strong view's own.
    fn student_view_features(
        &self,
        features: &BackboneFeatures,
        start: usize,
    ) -> Result<BackboneFeatures> {
        // [slices, C, H, W] -> [2, C, H, W] per level
        let strong = select_slices(features, start, 2);
        Ok(match &self.student.dfe {
            Some(dfe) => {
                let weak = select_slices(features, 0, 2);
                BackboneFeatures {
                    vision_feats: dfe.forward(weak.vision_feats, strong.vision_feats)?,
                    vision_pos_embeds: strong.vision_pos_embeds,
                }
            }
            None => strong,
        })
    }

    /// The student's SAM-2 term on one strong view: its clip run on `features` with the
    /// teacher's prompts, confidence-masked BCE + Dice of the clamped mask logits against the
    /// teacher's pasted mask probabilities, plus the object-score BCE against its presence.
    fn mask_view_terms(
        &self,
        features: &BackboneFeatures,
        teacher: &TeacherView,
        masks: Vec<f32>,
        valid: Tensor<3>,
    ) -> Result<MaskViewTerms> {
        let cfg = &self.cfg;
        let low = cfg.low_res();
        let n = teacher.prompts.len();
        let out = clip_forward(
            &self.student.net.sam,
            features,
            &teacher.prompts,
            false,
            None,
        )?;
        let pseudo_masks = binary_pseudo_labels(
            self.tensor4(masks, [2, n, low, low]),
            cfg.tau,
            Some(valid),
            cfg.pseudo_labels,
        );
        let kept = pseudo_masks.keep.clone().sum();
        let kept_foreground = (pseudo_masks.keep.clone() * pseudo_masks.targets.clone()).sum();
        let valid = pseudo_masks.valid_count.clone();
        // [2·n] -> [2, n, 1, 1]
        let present = self.tensor4(teacher.present.clone(), [2, n, 1, 1]);
        let logits = out.mask_logits.clamp(-LOGIT_CLAMP, LOGIT_CLAMP);
        // [2, n] -> [2, n, 1, 1]
        let scores = out.object_scores.reshape([2, n, 1, 1]);
        Ok(MaskViewTerms {
            loss: masked_bce_dice_loss(logits, &pseudo_masks) + bce_mean(scores, present),
            kept,
            valid,
            kept_foreground,
        })
    }
}

pub(super) struct UnlabeledTerms {
    pub coarse: Tensor<1>,
    pub mask: Tensor<1>,
    pub objects: usize,
    pub stats: UnlabeledStats,
}

/// The counts behind the unlabeled term's logged statistics, still on the device: they are read
/// back with the step's losses, in one read, not one read per statistic.
pub(super) struct UnlabeledStats {
    /// Per strong view: coarse kept `[1]`, coarse valid `[1]`, kept by class `[K']`, then with
    /// SAM-2 objects mask kept `[1]`, mask valid `[1]`, mask kept foreground `[1]`.
    pub counts: Vec<Tensor<1>>,
    pub taught_classes: usize,
    pub with_masks: bool,
}

/// The unlabeled statistics of a step, as logged.
#[derive(Debug, Default, PartialEq)]
pub(super) struct UnlabeledReport {
    pub kept: f32,
    pub mask_kept: f32,
    pub mask_kept_foreground: f32,
    /// Per class: the fraction of the pixels the teacher's coarse head assigns to it that
    /// pass the confidence rule (mean of the two strong views); background and foreground
    /// only with [`UnlabeledCoarse::Foreground`].
    pub kept_by_class: Vec<f32>,
}

impl UnlabeledStats {
    /// Values read back from `counts` (concatenated) into the logged means over the two views.
    pub fn report(&self, values: &[f32]) -> UnlabeledReport {
        let k = self.taught_classes;
        let per_view = 2 + k + if self.with_masks { 3 } else { 0 };
        debug_assert_eq!(values.len(), 2 * per_view);
        let mut r = UnlabeledReport {
            kept_by_class: vec![0.0; k],
            ..Default::default()
        };
        let (mut kept, mut mask_kept, mut mask_kept_fg) = (0.0f32, 0.0f32, 0.0f32);
        for view in values.chunks_exact(per_view) {
            kept += view[0] / view[1].max(1.0);
            for (sum, v) in r.kept_by_class.iter_mut().zip(&view[2..2 + k]) {
                *sum += v / 2.0;
            }
            if let [kept_count, valid, foreground] = view[2 + k..] {
                mask_kept += kept_count / valid.max(1.0);
                mask_kept_fg += foreground / kept_count.max(1.0);
            }
        }
        r.kept = kept / 2.0;
        r.mask_kept = mask_kept / 2.0;
        r.mask_kept_foreground = mask_kept_fg / 2.0;
        r
    }
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

/// SAM-2 pseudo-labels from the teacher's coarse head ([`UnlabeledMaskTarget::Coarse`]): per
/// slice and object, the probability of the object's class `[2, n, low, low]`, and "present"
/// `[2, n]` (0 / 1) where the teacher's class map `[2, low, low]` holds the class.
fn coarse_mask_targets(
    probs: &[f32],
    class_map: &[u8],
    classes: &[u8],
    k: usize,
) -> (Vec<f32>, Vec<f32>) {
    let lp = class_map.len() / 2;
    let n = classes.len();
    let mut masks = Vec::with_capacity(2 * n * lp);
    let mut present = Vec::with_capacity(2 * n);
    for f in 0..2 {
        let map = &class_map[f * lp..(f + 1) * lp];
        for &class in classes {
            let c = class as usize;
            masks.extend_from_slice(&probs[(f * k + c) * lp..(f * k + c + 1) * lp]);
            present.push(if map.contains(&class) { 1.0 } else { 0.0 });
        }
    }
    (masks, present)
}

/// Per coarse pixel of the two slices, the teacher's most probable class (0 where not
/// valid): `[2, K, low, low]` probabilities -> `[2, low, low]` classes.
fn argmax_classes(probs: &[f32], valid: &[f32], k: usize, lp: usize) -> Vec<u8> {
    (0..2 * lp)
        .map(|i| {
            let (f, p) = (i / lp, i % lp);
            let mut best = (0usize, f32::MIN);
            for c in 0..k {
                let v = probs[(f * k + c) * lp + p];
                if v > best.1 {
                    best = (c, v);
                }
            }
            if valid[i] > 0.0 { best.0 as u8 } else { 0 }
        })
        .collect()
}

/// One strong view of the weak clip: photometric jitter per slice, then CutMix with the
/// clip's other slice, the teacher's pseudo-labels and the valid pixels pasted alike (the
/// boxes are drawn at the coarse resolution and scaled up for the images).
fn strong_view(
    cfg: &SssTrainConfig,
    clip: &WeakClip,
    teacher: &TeacherView,
    valid: &[f32],
    rng: &mut SmallRng,
) -> Result<StrongView> {
    let (s, low) = (cfg.sam2.image_size, cfg.low_res());
    let factor = s / low;
    let (k, n) = (cfg.num_classes, teacher.prompts.len());
    let (plane, lp) = (s * s, low * low);
    // Step 1: each slice's parameters, and its photometric jitter.
    let params = [
        cfg.strong.sample([low, low], rng),
        cfg.strong.sample([low, low], rng),
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
    // Step 2: CutMix: each slice's box from the other slice, images and pseudo-labels alike.
    let photometric = images.clone();
    let mut probs = teacher.probs.clone();
    let mut masks = teacher.mask_probs.clone();
    let mut valid_k = valid.to_vec();
    for (f, p) in params.iter().enumerate() {
        let Some(b) = p.cutmix else { continue };
        let o = 1 - f;
        let big = CutMixBox {
            x: b.x * factor,
            y: b.y * factor,
            w: b.w * factor,
            h: b.h * factor,
        };
        let fi = f * 3 * plane..(f + 1) * 3 * plane;
        let oi = o * 3 * plane..(o + 1) * 3 * plane;
        big.paste(&mut images[fi], &photometric[oi], [s, s])?;
        // The sources are the teacher's own buffers, never the ones pasted into: no copies.
        b.paste(
            &mut probs[f * k * lp..(f + 1) * k * lp],
            &teacher.probs[o * k * lp..(o + 1) * k * lp],
            [low, low],
        )?;
        if n > 0 {
            b.paste(
                &mut masks[f * n * lp..(f + 1) * n * lp],
                &teacher.mask_probs[o * n * lp..(o + 1) * n * lp],
                [low, low],
            )?;
        }
        b.paste(
            &mut valid_k[f * lp..(f + 1) * lp],
            &valid[o * lp..(o + 1) * lp],
            [low, low],
        )?;
    }
    Ok(StrongView {
        images,
        probs,
        masks,
        valid: valid_k,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each object's target is its class's probability plane, slice by slice, and it is
    /// present on a slice only where the class map holds its class.
    #[test]
    fn coarse_mask_targets_pick_each_objects_class() {
        // K = 3 classes, 2 slices of 2 pixels: probs [2, 3, 2].
        let probs = [
            0.8, 0.1, 0.1, 0.7, 0.1, 0.2, // slice 0: classes 0, 1, 2
            0.2, 0.3, 0.6, 0.3, 0.2, 0.4, // slice 1
        ];
        let class_map = [0, 2, 2, 2];
        let (masks, present) = coarse_mask_targets(&probs, &class_map, &[2, 1], 3);
        assert_eq!(masks, [0.1, 0.2, 0.1, 0.7, 0.2, 0.4, 0.6, 0.3]);
        assert_eq!(present, [1.0, 0.0, 1.0, 0.0]);
    }
}
