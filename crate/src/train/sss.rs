//! SSS training: UniMatch-V2's single-stream weak-to-strong scheme around SAM-2 with the
//! trained coarse head, DFE and PCSW prompts (DESIGN.md §3, `docs/sss-method.md` §2–§5).
//!
//! One step:
//!
//! - **Labeled**: a clip of two consecutive slices of a labeled volume (the first holding
//!   foreground), one weak view for both. Coarse head: `(CE + Dice)/2` against the labels.
//!   SAM-2: one object per class present on the first slice, prompted with the box of that
//!   class in the ground truth and the box centre as a positive point (the PCSW prompt form),
//!   tracked to the second slice with the memory bank (`Sam2Base::track_step`); BCE + Dice of
//!   the per-class mask logits plus BCE of the object scores against presence.
//! - **Unlabeled** (after the supervised warm-up, weighted by a sigmoid ramp-up): a clip of
//!   an unlabeled volume starting on the PCSW slice of a random class. PCSW prompts come from
//!   the teacher's coarse masks of the whole un-augmented volume, cached per volume and
//!   refreshed every `prompt_refresh` steps; they are mapped through the weak view. The
//!   teacher (EMA of the student, momentum `min(1 − 1/(t+1), 0.996)`) predicts the weak view:
//!   coarse softmax and per-class SAM-2 mask probabilities. Two strong views are made from the
//!   weak view (photometric jitter, blur, grayscale, CutMix with the other slice of the clip —
//!   UniMatch's CutMix with the batch flipped — the pseudo-labels pasted alike). The student
//!   encodes the weak and both strong views; DFE(weak, strong_k) replaces the strong features
//!   fed to the mask decoder. Losses: confidence-masked (τ) CE+Dice of the coarse head and
//!   BCE+Dice of the masks, plus object-score BCE against the teacher's; mean over the views.
//! - **Total** `(L_l + λ·L_u)/2` (or `L_l + λ·L_u`), AdamW with linear warm-up and poly decay
//!   0.9, then the EMA update of the teacher.
//!
//! Clips: two slices, the prompted one and the next, as MedSAM-2 trains 3-D data
//! (`video_length 2`): every SAM-2 path of inference (prompted frame, memory encoding,
//! memory-conditioned tracking) is trained, at the cost of two slices per view.
//!
//! Choices where the sources are silent, each a field of [`SssTrainConfig`]:
//! - losses are computed at the mask decoder's resolution (a quarter of the image size) with
//!   labels taken by nearest neighbour, which needs no interpolation backward (burn's GPU
//!   backends lack bilinear backward);
//! - mask logits are clamped to ±32 in the losses (absent objects carry SAM-2's −1024);
//! - classes of an unlabeled clip whose PCSW slice is not the clip's first slice are prompted
//!   with the box of the largest component of the teacher's coarse mask on that slice (the
//!   `--no-pcsw` rule); with `pcsw = false` every class is.
//!
//! Determinism: every random draw of step `t` comes from an RNG seeded by `(seed, t)`, and the
//! prompt cache is part of the checkpoint, so a resumed run repeats an uninterrupted one.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData, activation};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::augment::{StrongConfig, WeakConfig, WeakTransform, apply_photometric};
use super::dfe::{Dfe, DfeConfig};
use super::ema::{ema_momentum, ema_update};
use super::losses::{
    bce_dice_loss, bce_with_logits, binary_pseudo_labels, ce_dice_loss, masked_bce_dice_loss,
    masked_ce_dice_loss, mean_of_views, multiclass_pseudo_labels, sigmoid_rampup, warmup_poly_lr,
};
use crate::data::intensity::{ChannelMap, IntensityRule};
use crate::model::Sam2Config;
use crate::model::prompt_encoder::PointPrompt;
use crate::model::sam2_base::{BackboneFeatures, MemoryBank, Sam2Base, TrackStepInput};
use crate::model::sss::{SssNet, select_slice, select_slices};
use crate::predictor::sss::{SssSegmenter, normalise};
use crate::prompt::pcsw::{ClassPrompt, Connectivity, PcswConfig, connected_components};
use crate::{Result, SssError, Volume};

/// Label value of pixels outside the weak view's crop.
const IGNORE: u8 = 255;
/// Mask logits are clamped to this in the losses.
const LOGIT_CLAMP: f32 = 32.0;

/// How the labeled and unlabeled terms combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossWeighting {
    /// `(L_l + λ·L_u)/2` (UniMatch-V2).
    Half,
    /// `L_l + λ·L_u` (the released SSS code).
    Sum,
}

/// Every setting of an SSS run; saved in checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SssTrainConfig {
    pub sam2: Sam2Config,
    /// Classes including background.
    pub num_classes: usize,
    pub steps: usize,
    pub seed: u64,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Linear learning-rate warm-up steps (then poly decay 0.9).
    pub lr_warmup: usize,
    /// Supervised-only steps before the unlabeled term enters.
    pub supervised_warmup: usize,
    /// Length of the sigmoid ramp-up of the unlabeled weight after the warm-up.
    pub ramp_up: usize,
    /// Confidence threshold of the pseudo-labels.
    pub tau: f64,
    /// EMA teacher (false: the teacher is the student, as the released code).
    pub ema: bool,
    pub ema_max_momentum: f64,
    /// DFE on the strong views' features.
    pub dfe: bool,
    /// DFE's pixel-MLP hidden widths.
    pub dfe_hidden: Vec<usize>,
    /// PCSW prompts for unlabeled clips (false: the coarse mask's largest component per slice).
    pub pcsw: bool,
    pub pcsw_config: PcswConfig,
    /// Steps after which a volume's cached PCSW prompts are recomputed by the teacher.
    pub prompt_refresh: usize,
    /// No unlabeled term at all.
    pub supervised_only: bool,
    pub loss_weighting: LossWeighting,
    pub weak: WeakConfig,
    pub strong: StrongConfig,
    /// Freeze SAM-2's image and prompt encoders (used with official initial weights).
    pub freeze_encoders: bool,
}

impl SssTrainConfig {
    /// The defaults of DESIGN.md §3 for a SAM-2 config and class count.
    pub fn new(sam2: Sam2Config, num_classes: usize) -> Self {
        let size = sam2.image_size;
        Self {
            sam2,
            num_classes,
            steps: 1000,
            seed: 0,
            learning_rate: 1e-3,
            weight_decay: 0.01,
            lr_warmup: 20,
            supervised_warmup: 100,
            ramp_up: 200,
            tau: 0.95,
            ema: true,
            ema_max_momentum: 0.996,
            dfe: true,
            dfe_hidden: vec![64, 64, 32],
            pcsw: true,
            pcsw_config: PcswConfig::default(),
            prompt_refresh: 50,
            supervised_only: false,
            loss_weighting: LossWeighting::Half,
            weak: WeakConfig {
                out_size: [size, size],
                ..WeakConfig::default()
            },
            strong: StrongConfig::default(),
            freeze_encoders: false,
        }
    }

    /// Side of the masks and coarse logits (a quarter of the image).
    pub fn low_res(&self) -> usize {
        self.sam2.low_res_mask_size()
    }

    /// The unlabeled weight λ at `step`.
    pub fn unlabeled_weight(&self, step: usize) -> f64 {
        if self.supervised_only || step < self.supervised_warmup {
            0.0
        } else {
            sigmoid_rampup(step - self.supervised_warmup, self.ramp_up)
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.sam2.validate()?;
        let bad = |m: &str| Err(SssError::InvalidInput(format!("training config: {m}")));
        if self.num_classes < 2 {
            return bad("at least one foreground class is needed");
        }
        if self.steps == 0 {
            return bad("--steps must be positive");
        }
        if !(0.0..=1.0).contains(&self.tau) {
            return bad("--tau must be in [0, 1]");
        }
        if self.weak.out_size != [self.sam2.image_size, self.sam2.image_size] {
            return bad("the weak view must produce the model's image size");
        }
        if self.prompt_refresh == 0 {
            return bad("--prompt-refresh must be positive");
        }
        Ok(())
    }
}

/// One training volume: the scan, its fitted intensity map and (labeled) its labels.
pub struct TrainVolume {
    pub id: String,
    pub image: Volume<f32>,
    pub map: ChannelMap,
    pub labels: Option<Volume<u8>>,
}

impl TrainVolume {
    pub fn new(
        id: String,
        image: Volume<f32>,
        labels: Option<Volume<u8>>,
        rule: &IntensityRule,
    ) -> Result<Self> {
        if let Some(l) = &labels
            && l.dims != image.dims
        {
            return Err(SssError::InvalidInput(format!(
                "{id}: labels {:?} differ from the image {:?}",
                l.dims, image.dims
            )));
        }
        let map = rule.fit(&image.data)?;
        Ok(Self {
            id,
            image,
            map,
            labels,
        })
    }

    fn hw(&self) -> [usize; 2] {
        [self.image.dims[1], self.image.dims[0]]
    }

    fn channels(&self, z: usize) -> Vec<f32> {
        self.map.map_slice(self.image.slice(z))
    }
}

/// The volumes of a run.
pub struct TrainData {
    pub labeled: Vec<TrainVolume>,
    pub unlabeled: Vec<TrainVolume>,
    pub rule: IntensityRule,
}

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

/// What the optimiser trains: the SSS network and, with DFE on, the DFE.
#[derive(Module, Debug)]
pub struct SssStudent {
    pub net: SssNet,
    pub dfe: Option<Dfe>,
}

impl SssStudent {
    pub fn new(cfg: &SssTrainConfig, device: &Device) -> Result<Self> {
        let head = SssNet::coarse_head_config(&cfg.sam2, cfg.num_classes);
        let net = SssNet::new(&cfg.sam2, &head, device)?;
        let dfe = if cfg.dfe {
            let levels = net_level_channels(&cfg.sam2);
            Some(
                DfeConfig::new()
                    .with_channels(cfg.sam2.hidden_dim())
                    .with_hidden(cfg.dfe_hidden.clone())
                    .with_levels_enabled(vec![true; levels.len()])
                    .with_in_channels(levels)
                    .init(device)?,
            )
        } else {
            None
        };
        Ok(Self { net, dfe })
    }
}

/// Channels of the feature levels the mask decoder consumes (after `conv_s0`/`conv_s1`).
fn net_level_channels(cfg: &Sam2Config) -> Vec<usize> {
    let c = cfg.hidden_dim();
    if cfg.use_high_res_features_in_sam {
        vec![c / 8, c / 4, c]
    } else {
        vec![c]
    }
}

/// The loss terms and settings of one step, as logged.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StepReport {
    pub step: usize,
    pub lr: f64,
    pub lambda: f64,
    pub loss: f32,
    pub labeled_coarse: f32,
    pub labeled_mask: f32,
    pub unlabeled_coarse: f32,
    pub unlabeled_mask: f32,
    /// SAM-2 objects in the labeled and unlabeled clip.
    pub objects: [usize; 2],
    /// Fraction of unlabeled coarse pixels whose pseudo-label passed τ.
    pub kept: f32,
    /// Fraction of the unlabeled SAM-2 mask elements (pixels × objects) whose pseudo-label
    /// passed τ, and the fraction of those that are foreground: a teacher confident only about
    /// background gives a near-zero mask loss that teaches nothing.
    pub mask_kept: f32,
    pub mask_kept_foreground: f32,
}

/// Prompts of the SAM-2 objects of a clip, in model-input pixel coordinates.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectPrompts {
    pub classes: Vec<u8>,
    /// Per object: box `[x0, y0, x1, y1]` (inclusive pixel indices) and point `[x, y]`.
    pub boxes: Vec<[f32; 4]>,
    pub points: Vec<[f32; 2]>,
}

impl ObjectPrompts {
    fn push(&mut self, class: u8, box_xyxy: [f32; 4], point: [f32; 2]) {
        self.classes.push(class);
        self.boxes.push(box_xyxy);
        self.points.push(point);
    }

    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Box corners (labels 2, 3) then the point (label 1), `[n, 3, 2]`.
    fn to_point_prompt(&self, device: &Device) -> PointPrompt {
        let n = self.len();
        let coords: Vec<f32> = self
            .boxes
            .iter()
            .zip(&self.points)
            .flat_map(|(b, p)| [b[0], b[1], b[2], b[3], p[0], p[1]])
            .collect();
        let labels: Vec<i64> = (0..n).flat_map(|_| [2, 3, 1]).collect();
        PointPrompt {
            coords: Tensor::from_data(TensorData::new(coords, [n, 3, 2]), device),
            labels: Tensor::from_data(TensorData::new(labels, [n, 3]), device),
        }
    }
}

/// The bounding box (inclusive indices) and its centre of the `true` pixels of a `[h][w]`
/// mask.
pub fn box_and_centre(mask: &[bool], w: usize) -> Option<([f32; 4], [f32; 2])> {
    let mut b = [usize::MAX, usize::MAX, 0, 0];
    let mut any = false;
    for (i, _) in mask.iter().enumerate().filter(|(_, m)| **m) {
        let (x, y) = (i % w, i / w);
        any = true;
        b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
    }
    any.then(|| {
        let bx = b.map(|v| v as f32);
        (bx, [(bx[0] + bx[2]) / 2.0, (bx[1] + bx[3]) / 2.0])
    })
}

/// Ground-truth prompts: every class present in a `[s][s]` label map (255 ignored).
pub fn ground_truth_prompts(labels: &[u8], size: usize, num_classes: usize) -> ObjectPrompts {
    let mut prompts = ObjectPrompts::default();
    for class in 1..num_classes as u8 {
        let mask: Vec<bool> = labels.iter().map(|&l| l == class).collect();
        if let Some((b, p)) = box_and_centre(&mask, size) {
            prompts.push(class, b, p);
        }
    }
    prompts
}

/// The `--no-pcsw` rule on one slice: the box of the largest 2-D component of class `class`
/// in a `[h][w]` low-resolution class map, scaled by `scale` to model-input pixels.
pub fn coarse_component_prompt(
    class_map: &[u8],
    hw: [usize; 2],
    class: u8,
    scale: f32,
) -> Option<([f32; 4], [f32; 2])> {
    let [h, w] = hw;
    let mask: Vec<bool> = class_map.iter().map(|&c| c == class).collect();
    let comps = connected_components(&mask, [w, h, 1], Connectivity::Six).ok()?;
    let largest = comps.largest()?;
    let keep: Vec<bool> = comps.labels.iter().map(|&l| l == largest).collect();
    let (b, _) = box_and_centre(&keep, w)?;
    let s = scale;
    let bx = [
        b[0] * s,
        b[1] * s,
        (b[2] + 1.0) * s - 1.0,
        (b[3] + 1.0) * s - 1.0,
    ];
    Some((bx, [(bx[0] + bx[2]) / 2.0, (bx[1] + bx[3]) / 2.0]))
}

/// Per-frame SAM-2 outputs of a clip: mask logits `[frames, n, h, w]` and object score
/// logits `[frames, n]`.
pub struct ClipOutput {
    pub mask_logits: Tensor<4>,
    pub object_scores: Tensor<2>,
}

/// Runs the SAM-2 objects of a clip: frame 0 prompted (conditioning memory), the other
/// frames tracked with the memory bank. `features` has the clip's frames as its batch.
pub fn clip_forward(
    sam: &Sam2Base,
    features: &BackboneFeatures,
    prompts: &ObjectPrompts,
) -> Result<ClipOutput> {
    let n = prompts.len();
    if n == 0 {
        return Err(SssError::InvalidInput(
            "a clip needs at least one object".into(),
        ));
    }
    let frames = features.vision_feats[0].dims()[0];
    let device = features.vision_feats[0].device();
    let points = prompts.to_point_prompt(&device);
    let mut bank = MemoryBank::default();
    let mut masks = Vec::with_capacity(frames);
    let mut scores = Vec::with_capacity(frames);
    for f in 0..frames {
        let feats = select_slice(features, f).expand_batch(n);
        let first = f == 0;
        let out = sam.track_step(
            TrackStepInput {
                frame_idx: f,
                is_init_cond_frame: first,
                features: &feats,
                point_inputs: first.then_some(&points),
                mask_inputs: None,
                num_frames: frames,
                track_in_reverse: false,
                run_mem_encoder: f + 1 < frames,
                prev_sam_mask_logits: None,
            },
            &bank,
        )?;
        let [_, _, h, w] = out.pred_masks.dims();
        masks.push(out.pred_masks.clone().reshape([1, n, h, w]));
        scores.push(out.object_score_logits.clone().reshape([1, n]));
        if first {
            bank.cond_frame_outputs.insert(f, out);
        } else {
            bank.non_cond_frame_outputs.insert(f, out);
        }
    }
    Ok(ClipOutput {
        mask_logits: Tensor::cat(masks, 0),
        object_scores: Tensor::cat(scores, 0),
    })
}

/// Nearest-neighbour downsampling of a `[s][s]` label map by `factor` (each output pixel
/// takes the input pixel its centre falls in).
pub fn downsample_labels(labels: &[u8], size: usize, factor: usize) -> Vec<u8> {
    let out = size / factor;
    let mut v = Vec::with_capacity(out * out);
    for y in 0..out {
        for x in 0..out {
            v.push(labels[(y * factor + factor / 2) * size + x * factor + factor / 2]);
        }
    }
    v
}

/// An RNG that depends only on the run's seed, the step and a stream number.
pub fn step_rng(seed: u64, step: usize, stream: u64) -> SmallRng {
    let mut z = seed
        ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
    // splitmix64 finaliser.
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    SmallRng::seed_from_u64(z ^ (z >> 31))
}

/// A sampled clip of two slices under one weak view.
struct WeakClip {
    slices: [usize; 2],
    transform: WeakTransform,
    /// `[2][3][s][s]` in [0, 1].
    images: Vec<f32>,
    /// `[2][s][s]` (labeled) or the valid mask as labels 0 / 255 (unlabeled).
    labels: Vec<u8>,
}

/// The other slice of a clip starting at `z`: the next one, or the previous at the end.
fn clip_slices(z: usize, nz: usize) -> [usize; 2] {
    if z + 1 < nz {
        [z, z + 1]
    } else {
        [z, z.saturating_sub(1)]
    }
}

fn weak_clip(
    vol: &TrainVolume,
    slices: [usize; 2],
    weak: &WeakConfig,
    rng: &mut SmallRng,
) -> Result<WeakClip> {
    let hw = vol.hw();
    let transform = weak.sample(hw, rng);
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for &z in &slices {
        images.extend(transform.apply_image(&vol.channels(z), 3)?);
        let source: Vec<u8> = match &vol.labels {
            Some(l) => l.slice(z).to_vec(),
            None => vec![0; hw[0] * hw[1]],
        };
        labels.extend(transform.apply_labels(&source)?);
    }
    Ok(WeakClip {
        slices,
        transform,
        images,
        labels,
    })
}

/// The trainer: student, teacher, optimiser, step counter and prompt cache.
pub struct SssTrainer {
    pub cfg: SssTrainConfig,
    data: TrainData,
    device: Device,
    pub student: SssStudent,
    pub teacher: SssNet,
    pub optim: ModuleOptimizer,
    pub step: usize,
    pub prompt_cache: PromptCache,
}

impl SssTrainer {
    /// A fresh run on flex (or `device`, made autodiff here). `init` optionally gives SAM-2
    /// weights to start from.
    pub fn new(
        cfg: SssTrainConfig,
        data: TrainData,
        device: &Device,
        init: Option<Sam2Base>,
    ) -> Result<Self> {
        cfg.validate()?;
        if data.labeled.is_empty() {
            return Err(SssError::InvalidInput(
                "no labeled volumes to train on".into(),
            ));
        }
        if let Some(v) = data.labeled.iter().find(|v| v.labels.is_none()) {
            return Err(SssError::InvalidInput(format!(
                "labeled volume {} has no labels",
                v.id
            )));
        }
        let device = device.clone().autodiff();
        device.seed(cfg.seed);
        let mut student = SssStudent::new(&cfg, &device)?;
        if let Some(sam) = init {
            student.net.sam = sam.to_device(&device);
        }
        if cfg.freeze_encoders {
            student.net.sam.image_encoder = student.net.sam.image_encoder.no_grad();
            student.net.sam.sam_prompt_encoder = student.net.sam.sam_prompt_encoder.no_grad();
        }
        let teacher = student.net.valid();
        let optim = AdamWConfig::new()
            .with_weight_decay(cfg.weight_decay as f32)
            .init();
        Ok(Self {
            cfg,
            data,
            device,
            student,
            teacher,
            optim,
            step: 0,
            prompt_cache: PromptCache::default(),
        })
    }

    /// The run's volumes.
    pub fn data(&self) -> &TrainData {
        &self.data
    }

    /// The (autodiff) device training runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The network to evaluate and export: the EMA teacher, or the student without EMA.
    pub fn final_net(&self) -> SssNet {
        if self.cfg.ema {
            self.teacher.clone()
        } else {
            self.student.net.valid()
        }
    }

    /// Runs one step and returns its report.
    pub fn train_step(&mut self) -> Result<StepReport> {
        let cfg = self.cfg.clone();
        let step = self.step;
        if !cfg.ema {
            self.teacher = self.student.net.valid();
        }
        let lr = warmup_poly_lr(cfg.learning_rate, step, cfg.steps, cfg.lr_warmup, 0.9);
        let lambda = cfg.unlabeled_weight(step);
        let mut report = StepReport {
            step,
            lr,
            lambda,
            ..Default::default()
        };

        let (l_coarse, l_mask, n_l) = self.labeled_loss(step)?;
        report.objects[0] = n_l;
        let labeled = l_coarse.clone() + l_mask.clone();
        let mut parts = vec![l_coarse, l_mask];
        let total = if lambda > 0.0 && !self.data.unlabeled.is_empty() {
            let u = self.unlabeled_loss(step)?;
            report.objects[1] = u.objects;
            report.kept = u.kept;
            report.mask_kept = u.mask_kept;
            report.mask_kept_foreground = u.mask_kept_foreground;
            let unlabeled = u.coarse.clone() + u.mask.clone();
            parts.push(u.coarse);
            parts.push(u.mask);
            match cfg.loss_weighting {
                LossWeighting::Half => (labeled + unlabeled * lambda) / 2.0,
                LossWeighting::Sum => labeled + unlabeled * lambda,
            }
        } else {
            match cfg.loss_weighting {
                LossWeighting::Half => labeled / 2.0,
                LossWeighting::Sum => labeled,
            }
        };
        parts.insert(0, total.clone());
        let values = Tensor::cat(parts.iter().map(|p| p.clone().detach()).collect(), 0)
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| SssError::Device(format!("reading the loss ({e:?})")))?;
        report.loss = values[0];
        report.labeled_coarse = values[1];
        report.labeled_mask = values[2];
        if values.len() > 3 {
            report.unlabeled_coarse = values[3];
            report.unlabeled_mask = values[4];
        }
        if !report.loss.is_finite() {
            return Err(SssError::Device(format!(
                "the loss is not finite at step {step} ({report:?})"
            )));
        }
        let grads = GradientsParams::from_grads(total.backward(), &self.student);
        self.student = self.optim.step(lr, self.student.clone(), grads);
        self.teacher = if cfg.ema {
            ema_update(
                self.teacher.clone(),
                &self.student.net,
                ema_momentum(step, cfg.ema_max_momentum),
            )
        } else {
            self.student.net.valid()
        };
        self.step += 1;
        Ok(report)
    }

    fn tensor4(&self, values: Vec<f32>, shape: [usize; 4]) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values, shape), &self.device)
    }

    /// Labeled loss: (coarse CE+Dice, masks BCE+Dice + object BCE, objects).
    fn labeled_loss(&self, step: usize) -> Result<(Tensor<1>, Tensor<1>, usize)> {
        let cfg = &self.cfg;
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
        let with_fg: Vec<usize> = (0..nz)
            .filter(|&z| labels.slice(z).iter().any(|&l| l > 0))
            .collect();
        let z = if with_fg.is_empty() {
            rng.random_range(0..nz)
        } else {
            with_fg[rng.random_range(0..with_fg.len())]
        };
        let clip = weak_clip(vol, clip_slices(z, nz), &cfg.weak, &mut rng)?;
        let images = normalise(self.tensor4(clip.images.clone(), [2, 3, s, s]));
        let enc = self.student.net.encode(images);
        let plane = s * s;
        let low_labels: Vec<u8> = (0..2)
            .flat_map(|f| downsample_labels(&clip.labels[f * plane..(f + 1) * plane], s, factor))
            .collect();
        let label_tensor: Tensor<3, Int> = Tensor::from_data(
            TensorData::new(
                low_labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>(),
                [2, low, low],
            ),
            &self.device,
        );
        let coarse = ce_dice_loss(enc.coarse_logits, label_tensor, Some(i64::from(IGNORE)));
        let prompts = ground_truth_prompts(&clip.labels[..plane], s, cfg.num_classes);
        let n = prompts.len();
        if n == 0 {
            return Ok((coarse, Tensor::zeros([1], &self.device), 0));
        }
        let out = clip_forward(&self.student.net.sam, &enc.features, &prompts)?;
        let lp = low * low;
        let mut targets = vec![0f32; 2 * n * lp];
        let mut present = vec![0f32; 2 * n];
        for f in 0..2 {
            for (o, &class) in prompts.classes.iter().enumerate() {
                let dst = &mut targets[(f * n + o) * lp..(f * n + o + 1) * lp];
                for (t, &l) in dst.iter_mut().zip(&low_labels[f * lp..(f + 1) * lp]) {
                    if l == class {
                        *t = 1.0;
                        present[f * n + o] = 1.0;
                    }
                }
            }
        }
        let targets = self.tensor4(targets, [2, n, low, low]);
        let present = self.tensor4(present, [2, n, 1, 1]);
        let mask = mask_loss(out, targets, present);
        Ok((coarse, mask, n))
    }

    /// Unlabeled loss terms (already averaged over the two strong views).
    fn unlabeled_loss(&mut self, step: usize) -> Result<UnlabeledTerms> {
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
        let clip = weak_clip(vol, clip_slices(z, nz), &cfg.weak, &mut rng)?;
        let plane = s * s;
        let lp = low * low;
        let valid: Vec<f32> = (0..2)
            .flat_map(|f| downsample_labels(&clip.labels[f * plane..(f + 1) * plane], s, factor))
            .map(|l| if l == IGNORE { 0.0 } else { 1.0 })
            .collect();

        // Teacher on the weak view.
        let plain = self.device.clone().without_autodiff();
        let weak_input: Tensor<4> = normalise(Tensor::from_data(
            TensorData::new(clip.images.clone(), [2, 3, s, s]),
            &plain,
        ));
        let t_enc = self.teacher.encode(weak_input);
        let t_probs = read(activation::softmax(t_enc.coarse_logits.clone(), 1))?;
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
            let out = clip_forward(&self.teacher.sam, &t_enc.features, &prompts)?;
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
                let big = super::augment::CutMixBox {
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
            .encode(normalise(self.tensor4(batch, [2 * views, 3, s, s])));
        let first_strong = if cfg.dfe { 2 } else { 0 };
        let mut coarse_terms = Vec::new();
        let mut mask_terms = Vec::new();
        let mut kept = 0.0f32;
        let (mut mask_kept, mut mask_kept_fg) = (0.0f32, 0.0f32);
        for (view, (probs, masks, valid_k)) in pseudo.into_iter().enumerate() {
            let start = first_strong + 2 * view;
            let logits = enc.coarse_logits.clone().narrow(0, start, 2);
            let valid_t: Tensor<3> = Tensor::from_data(
                TensorData::new(valid_k.clone(), [2, low, low]),
                &self.device,
            );
            let labels = multiclass_pseudo_labels(
                self.tensor4(probs, [2, k, low, low]),
                cfg.tau,
                Some(valid_t.clone()),
            );
            kept += read1(labels.keep.clone().sum())? / read1(labels.valid_count.clone())?.max(1.0);
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
                let out = clip_forward(&self.student.net.sam, &features, &prompts)?;
                let pseudo_masks = binary_pseudo_labels(
                    self.tensor4(masks, [2, n, low, low]),
                    cfg.tau,
                    Some(valid_t),
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
        })
    }
}

struct UnlabeledTerms {
    coarse: Tensor<1>,
    mask: Tensor<1>,
    objects: usize,
    kept: f32,
    mask_kept: f32,
    mask_kept_foreground: f32,
}

/// Mean BCE-with-logits.
fn bce_mean(logits: Tensor<4>, targets: Tensor<4>) -> Tensor<1> {
    bce_with_logits(logits, targets).mean()
}

/// BCE + Dice of clamped mask logits plus BCE of the object scores against presence.
fn mask_loss(out: ClipOutput, targets: Tensor<4>, present: Tensor<4>) -> Tensor<1> {
    let [f, n] = out.object_scores.dims();
    let logits = out.mask_logits.clamp(-LOGIT_CLAMP, LOGIT_CLAMP);
    bce_dice_loss(logits, targets) + bce_mean(out.object_scores.reshape([f, n, 1, 1]), present)
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
            prompts.push(class, b, p);
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

fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| SssError::Device(format!("reading back ({e:?})")))
}

fn read1(t: Tensor<1>) -> Result<f32> {
    Ok(read(t)?[0])
}

/// A tiny synthetic run for tests: `labeled` + `unlabeled` 32×32×3 volumes with two
/// squares (classes 1 and 2), micro SAM-2 at image size 64.
#[cfg(test)]
pub(crate) fn tiny_run(
    labeled: usize,
    unlabeled: usize,
    steps: usize,
) -> (SssTrainConfig, TrainData) {
    let rule = IntensityRule::Percentiles {
        low: 0.0,
        high: 100.0,
    };
    let volume = |i: usize, with_labels: bool| {
        let (n, nz) = (32, 3);
        let mut image = vec![0.1f32; n * n * nz];
        let mut labels = vec![0u8; n * n * nz];
        for z in 0..nz {
            for y in 0..n {
                for x in 0..n {
                    let v = (z * n + y) * n + x;
                    if (6 + i..16 + i).contains(&x) && (8..18).contains(&y) {
                        (image[v], labels[v]) = (0.9, 1);
                    } else if (20..28).contains(&x) && (18 + i..26 + i).contains(&y) {
                        (image[v], labels[v]) = (0.5, 2);
                    }
                }
            }
        }
        let image = Volume::new(image, [n, n, nz], [1.0; 3]).unwrap();
        let labels = with_labels.then(|| Volume::new(labels, [n, n, nz], [1.0; 3]).unwrap());
        TrainVolume::new(format!("v{i}"), image, labels, &rule).unwrap()
    };
    let mut sam2 = Sam2Config::micro();
    sam2.image_size = 64;
    let mut cfg = SssTrainConfig::new(sam2, 3);
    cfg.steps = steps;
    cfg.seed = 5;
    cfg.supervised_warmup = 1;
    cfg.ramp_up = 0;
    cfg.prompt_refresh = 2;
    let data = TrainData {
        labeled: (0..labeled).map(|i| volume(i, true)).collect(),
        unlabeled: (0..unlabeled).map(|i| volume(labeled + i, false)).collect(),
        rule,
    };
    (cfg, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every part of SAM-2 that the labeled loss reaches gets a gradient step: a part that
    /// never moved would show as a flat mask loss.
    #[test]
    fn a_labeled_step_moves_every_sam2_part() {
        use crate::train::float_values as floats;
        let parts = |sam: &crate::model::Sam2Base| {
            [
                floats(&sam.sam_mask_decoder),
                floats(&sam.sam_prompt_encoder),
                floats(&sam.memory_attention),
                floats(&sam.memory_encoder),
                floats(&sam.image_encoder),
            ]
        };
        let device = Device::flex();
        let (mut cfg, data) = tiny_run(1, 0, 2);
        cfg.supervised_only = true;
        let mut trainer = SssTrainer::new(cfg, data, &device, None).unwrap();
        let before = parts(&trainer.student.net.sam.valid());
        let report = trainer.train_step().unwrap();
        assert!(report.objects[0] > 0, "the labeled clip has objects");
        let after = parts(&trainer.student.net.sam.valid());
        let names = [
            "mask decoder",
            "prompt encoder",
            "memory attention",
            "memory encoder",
            "image encoder",
        ];
        for ((b, a), name) in before.iter().zip(&after).zip(names) {
            let moved = b.iter().zip(a).filter(|(x, y)| x != y).count();
            println!("{name}: {moved} of {} parameters moved", b.len());
            // The prompt encoder's mask-input convolutions are unused with box prompts.
            let needed = if name == "prompt encoder" {
                1
            } else {
                b.len() / 2 + 1
            };
            assert!(
                moved >= needed,
                "{name}: only {moved} of {} parameters moved",
                b.len()
            );
        }
    }
    use crate::prompt::pcsw::{PcswPrompt, PromptSource};

    /// τ decides which teacher pixels supervise the strong views: τ = 1 keeps none (a
    /// softmax never reaches 1 over 3 classes here), τ = 0 keeps every valid pixel.
    #[test]
    fn pseudo_labels_are_confidence_masked_by_tau() {
        for (tau, expect_all) in [(1.0, false), (0.0, true)] {
            let (mut cfg, data) = tiny_run(1, 1, 3);
            cfg.tau = tau;
            cfg.pcsw = false;
            let mut trainer = SssTrainer::new(cfg, data, &Device::flex(), None).unwrap();
            let first = trainer.train_step().unwrap();
            assert_eq!(first.lambda, 0.0, "supervised warm-up");
            assert_eq!(first.unlabeled_coarse, 0.0);
            let r = trainer.train_step().unwrap();
            assert_eq!(r.lambda, 1.0);
            if expect_all {
                assert!((r.kept - 1.0).abs() < 1e-6, "kept {}", r.kept);
                assert!(r.unlabeled_coarse > 0.0);
            } else {
                assert_eq!(r.kept, 0.0);
                assert_eq!(r.unlabeled_coarse, 0.0);
            }
        }
    }

    fn prompt(slice: usize) -> Vec<ClassPrompt> {
        vec![ClassPrompt {
            class: 1,
            prompt: PcswPrompt {
                slice,
                box_xyxy: [0.0, 0.0, 1.0, 1.0],
                point: [0.5, 0.5],
                source: PromptSource::Fallback,
            },
        }]
    }

    #[test]
    fn prompt_cache_refreshes_every_k_steps_per_volume() {
        let mut cache = PromptCache::default();
        let mut computed = Vec::new();
        for step in 0..12 {
            for volume in [0usize, 1] {
                if (step + volume).is_multiple_of(2) {
                    let p = cache
                        .get_or_refresh(volume, step, 5, || {
                            computed.push((volume, step));
                            Ok(prompt(step))
                        })
                        .unwrap();
                    let slice = p[0].prompt.slice;
                    assert_eq!(slice, cache.entries[&volume].computed_at);
                }
            }
        }
        // Volume 0 is seen at even steps: computed at 0, 6 (≥ 5), then at 12 would be next.
        // Volume 1 at odd steps: 1, then 7 (≥ 6).
        assert_eq!(computed, vec![(0, 0), (1, 1), (0, 6), (1, 7)]);
        assert!(cache.needs_refresh(0, 11, 5));
        assert!(!cache.needs_refresh(0, 10, 5));
        assert!(cache.needs_refresh(2, 0, 5));
    }

    #[test]
    fn ground_truth_prompts_box_each_present_class() {
        let s = 8;
        let mut labels = vec![0u8; s * s];
        for y in 2..5 {
            for x in 1..4 {
                labels[y * s + x] = 2;
            }
        }
        labels[7 * s + 7] = IGNORE;
        let p = ground_truth_prompts(&labels, s, 4);
        assert_eq!(p.classes, vec![2]);
        assert_eq!(p.boxes[0], [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(p.points[0], [2.0, 3.0]);
    }

    #[test]
    fn coarse_component_prompt_takes_the_largest_component_scaled() {
        let (h, w) = (4, 6);
        let mut map = vec![0u8; h * w];
        map[0] = 1; // a single pixel
        for x in 3..6 {
            map[2 * w + x] = 1; // three pixels: the largest
        }
        let (b, p) = coarse_component_prompt(&map, [h, w], 1, 4.0).unwrap();
        assert_eq!(b, [12.0, 8.0, 23.0, 11.0]);
        assert_eq!(p, [17.5, 9.5]);
        assert!(coarse_component_prompt(&map, [h, w], 2, 4.0).is_none());
    }

    #[test]
    fn step_rngs_depend_only_on_seed_step_and_stream() {
        let draw = |seed, step, stream| step_rng(seed, step, stream).random::<u64>();
        assert_eq!(draw(1, 5, 1), draw(1, 5, 1));
        assert_ne!(draw(1, 5, 1), draw(1, 6, 1));
        assert_ne!(draw(1, 5, 1), draw(2, 5, 1));
        assert_ne!(draw(1, 5, 1), draw(1, 5, 2));
    }

    #[test]
    fn downsampling_takes_the_pixel_under_each_centre() {
        let labels: Vec<u8> = (0..16).collect();
        assert_eq!(downsample_labels(&labels, 4, 2), vec![5, 7, 13, 15]);
    }
}
