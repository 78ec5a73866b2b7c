//! Every setting of an SSS training run ([`SssTrainConfig`], saved in checkpoints), with the
//! SAM-2 branch's own recipe in [`Sam2TrainConfig`]: clip length, prompt simulation,
//! correction clicks and the official SAM-2 loss (`docs/sam2-training.md`).

use serde::{Deserialize, Serialize};

use crate::model::Sam2Config;
use crate::model::coarse_head::CoarseHeadConfig;
use crate::model::sss_net::SssNet;
use crate::prompt::pcsw::PcswConfig;
use crate::train::augment::{StrongConfig, WeakConfig};
use crate::train::losses::{DiceOver, sigmoid_rampup};
use crate::train::pseudo_labels::PseudoLabelConfig;
use crate::train::sam2_loss::Sam2LossConfig;
use crate::{Result, SssError};

/// The defaults of a training run that `sss train`'s flags also show, written once: both
/// [`SssTrainConfig::new`] and the CLI read them.
pub mod defaults {
    pub const STEPS: usize = 1000;
    pub const LEARNING_RATE: f64 = 1e-3;
    pub const WEIGHT_DECAY: f64 = 0.01;
    /// Linear warm-up steps of the learning rate.
    pub const LR_WARMUP: usize = 20;
    /// Pseudo-label confidence threshold τ.
    pub const TAU: f64 = 0.95;
    /// Steps between recomputations of an unlabeled volume's PCSW prompts.
    pub const PROMPT_REFRESH: usize = 50;
    /// SAM-2's own parts learn at this multiple of the learning rate.
    pub const SAM2_LR_SCALE: f64 = 0.2;
    /// The image encoder learns at this multiple of the learning rate.
    pub const IMAGE_ENCODER_LR_SCALE: f64 = 0.2;
    pub const COARSE_WEIGHT: f64 = 1.0;
}

/// How the labeled and unlabeled terms combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossWeighting {
    /// `(L_l + λ·L_u)/2` (UniMatch-V2).
    Half,
    /// `L_l + λ·L_u` (the released SSS code).
    Sum,
}

/// Which mask logits the SAM-2 losses see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaskSupervision {
    /// The official recipe: the multimask logits after object-score gating (a present object
    /// whose score is ≤ 0 gets a large constant loss and no mask gradient) and the full SAM-2
    /// loss (focal ×20 + Dice + IoU + object score, best of the multimask outputs).
    OfficialGated,
    /// The same loss on the logits before gating, so a present object keeps its mask gradient
    /// while the object-score head is still wrong (a model trained from scratch starts there).
    OfficialUngated,
    /// The earlier recipe of this project: BCE + Dice of the selected (gated) mask clamped to
    /// ±32 at the decoder's resolution, plus the object-score BCE; no IoU loss.
    LegacyBceDice,
}

/// The prompt a labeled clip's first frame gets; one kind per clip, shared by its objects
/// (official SAM-2 draws once per batch).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptMix {
    /// A noisy box plus one positive click inside the object (the form PCSW gives at
    /// inference).
    pub box_and_point: f64,
    /// A noisy box alone.
    pub box_only: f64,
    /// One positive click inside the object (official: a quarter of the batches).
    pub click: f64,
}

impl PromptMix {
    /// The product's prompt form only: the exact box and its box centre (the earlier recipe).
    pub const LEGACY: Self = Self {
        box_and_point: 1.0,
        box_only: 0.0,
        click: 0.0,
    };
}

impl Default for PromptMix {
    fn default() -> Self {
        Self {
            box_and_point: 0.5,
            box_only: 0.25,
            click: 0.25,
        }
    }
}

/// Where a simulated positive click lands inside its object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainPoint {
    /// The centre of the object's box (the earlier recipe): for a ring or a crescent it lies
    /// outside the object, often inside a neighbour, so the prompt cannot tell them apart.
    BoxCentre,
    /// The interior point farthest from the object's edge: the point PCSW gives at inference.
    Interior,
    /// A pixel drawn uniformly from the object (official SAM-2).
    Uniform,
}

/// Runs saved before the point rule existed clicked the box centre.
fn box_centre() -> TrainPoint {
    TrainPoint::BoxCentre
}

/// How the SAM-2 branch is trained on labeled clips.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sam2TrainConfig {
    /// Slices per labeled clip (official SAM-2: 8 frames); the prompted slice first, the rest
    /// tracked with memory. Near the end of a volume the clip is shorter.
    pub clip_frames: usize,
    /// Probability of running a clip towards lower slice indices (the product propagates
    /// both ways from the prompted slice).
    pub reverse_prob: f64,
    pub prompts: PromptMix,
    /// Where the positive click of a box + point or click prompt lands.
    #[serde(default = "box_centre")]
    pub point: TrainPoint,
    /// Box noise: each corner moves by up to `box_noise` of the box side, at most
    /// `box_noise_bound_px` pixels of a 1024² image scaled to the model's size (official
    /// `sample_box_points`: 0.1 and 20).
    pub box_noise: f64,
    pub box_noise_bound_px: f64,
    /// Correction rounds on the prompted frame: a click sampled from the error of the current
    /// mask, the previous logits fed back as the mask prompt (official: 7).
    pub correction_rounds: usize,
    /// Probability that a correction click is sampled from the ground truth alone (0.1).
    pub correction_from_gt_prob: f64,
    pub supervision: MaskSupervision,
    pub loss: Sam2LossConfig,
    /// Losses on logits upsampled bilinearly to the image size (official) instead of at the
    /// decoder's quarter resolution against nearest-downsampled labels.
    pub full_resolution_loss: bool,
    /// At most this many objects per clip, drawn at random from those on its first frame
    /// (official `max_num_objects`: 3); 0 takes them all (one per class).
    pub max_objects: usize,
}

impl Sam2TrainConfig {
    /// The recipe before this config existed: two-slice clips, exact box + box centre,
    /// BCE + Dice at the decoder's resolution.
    pub fn legacy() -> Self {
        Self {
            clip_frames: 2,
            reverse_prob: 0.0,
            prompts: PromptMix::LEGACY,
            point: TrainPoint::BoxCentre,
            box_noise: 0.0,
            box_noise_bound_px: 0.0,
            correction_rounds: 0,
            correction_from_gt_prob: 0.0,
            supervision: MaskSupervision::LegacyBceDice,
            loss: Sam2LossConfig::default(),
            full_resolution_loss: false,
            max_objects: 0,
        }
    }
}

impl Sam2TrainConfig {
    /// The default recipe: the legacy two-slice clips (a prompted slice and one tracked from
    /// its memory) and exact box, with the click at the interior point PCSW gives at
    /// inference (the box centre of a ring or crescent lies in its neighbour), and BCE + Dice
    /// on logits upsampled to the image size (at the decoder's quarter resolution a thin
    /// ring's nearest-downsampled target is aliased). Two-slice clips train tracking from the
    /// prompted slice's memory alone, so weights trained with them track that way
    /// ([`SssTrainConfig::track_as_trained`]); longer clips (`--clip-frames`) measured worse
    /// on validation. Each choice measured (RESULTS.md: the fitting check; propagation).
    pub fn simple() -> Self {
        Self {
            point: TrainPoint::Interior,
            full_resolution_loss: true,
            ..Self::legacy()
        }
    }
}

impl Default for Sam2TrainConfig {
    /// [`Self::simple`]: it fits where [`Self::official`] does not yet from scratch
    /// (RESULTS.md, the fitting check).
    fn default() -> Self {
        Self::simple()
    }
}

impl Sam2TrainConfig {
    /// Official SAM-2 training as `docs/sam2-training.md` describes it, with the logits before
    /// object-score gating supervised: 8-slice clips either way, the prompt mix, box noise,
    /// two correction rounds, the focal + Dice + IoU + object-score loss at the image size.
    pub fn official() -> Self {
        Self {
            clip_frames: 8,
            reverse_prob: 0.5,
            prompts: PromptMix::default(),
            point: TrainPoint::Uniform,
            box_noise: 0.1,
            box_noise_bound_px: 20.0,
            correction_rounds: 2,
            correction_from_gt_prob: 0.1,
            supervision: MaskSupervision::OfficialUngated,
            loss: Sam2LossConfig::default(),
            full_resolution_loss: true,
            max_objects: 0,
        }
    }
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
    /// Which teacher pixels teach and what the unlabeled Dice sees (runs saved before these
    /// switches existed read as the original rule).
    #[serde(default = "PseudoLabelConfig::original")]
    pub pseudo_labels: PseudoLabelConfig,
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
    /// The SAM-2 branch's labeled recipe (runs saved before it existed read as legacy).
    #[serde(default = "Sam2TrainConfig::legacy")]
    pub sam2_training: Sam2TrainConfig,
    /// Learning rate of SAM-2's own parts (prompt encoder, mask decoder, memory) as a
    /// multiple of `learning_rate` (official SAM-2 trains its parts at their own rates).
    #[serde(default = "one")]
    pub sam2_lr_scale: f64,
    /// Learning rate of the image encoder (shared by the coarse head and SAM-2) as a multiple
    /// of `learning_rate` (official: `vision_lr` 0.6 × `base_lr`).
    #[serde(default = "one")]
    pub image_encoder_lr_scale: f64,
    /// Weight of the coarse head's labeled loss (0 in promptable pretraining, whose labels
    /// are instances, not classes).
    #[serde(default = "one")]
    pub coarse_weight: f64,
    /// Where the coarse head's labeled loss is taken (runs saved before the switch read as
    /// `Low`, what they did).
    #[serde(default)]
    pub coarse_loss_at: CoarseLossAt,
    /// Which classes the coarse head's labeled Dice averages over (runs saved before the
    /// switch read as `AllClasses`, what they did).
    #[serde(default)]
    pub coarse_dice: DiceOver,
    /// How a labeled clip's slice is drawn (runs saved before the switch read as
    /// `AnyForeground`, what they did).
    #[serde(default)]
    pub labeled_slices: LabeledSlices,
    /// Labeled slices per step that only the image encoder and the coarse head see, besides
    /// the clip's frames (drawn as `labeled_slices` says, each from a random labeled volume
    /// under its own weak view); the coarse loss averages over all of them. 0 (runs saved
    /// before the switch read so, what they did): the released recipe, the clip's frames only.
    #[serde(default)]
    pub coarse_extra_slices: usize,
    /// The coarse head also reads the neck's stride-16 level (`CoarseHeadConfig::top_down`;
    /// runs saved before the switch read as off, what they did).
    #[serde(default)]
    pub coarse_top_down: bool,
    /// `Conv3×3 → norm → ReLU` blocks of the coarse head (`CoarseHeadConfig::depth`; 1, the
    /// released head, for runs saved before the switch, what they did).
    #[serde(default = "one_block")]
    pub coarse_depth: usize,
    /// Weight of SAM-2's unlabeled mask term in `L_u` (1: the method; 0 leaves the unlabeled
    /// scans to the coarse head). Runs saved before the switch read as 1, what they did.
    #[serde(default = "one")]
    pub unlabeled_mask_weight: f64,
    /// What SAM-2's unlabeled mask term is taught: the teacher's own SAM-2 masks (the method)
    /// or its coarse head's class probabilities. Runs saved before the switch read as the
    /// teacher's SAM-2 masks, what they did.
    #[serde(default)]
    pub unlabeled_mask_target: UnlabeledMaskTarget,
    /// Diagnostic, not the method: the coarse head's pseudo-labels on unlabeled scans are
    /// their ground truth (one-hot, every pixel kept), so the unlabeled path (strong views,
    /// CutMix, the masked loss) is measured with a perfect teacher. Needs labeled "unlabeled"
    /// scans.
    #[serde(default)]
    pub oracle_pseudo_labels: bool,
    /// Where SAM-2's weights started (provenance only): the built-in foundation with its
    /// sha256, the `--init` file, or `None` for a fresh model.
    #[serde(default)]
    pub start: Option<String>,
}

/// Where the coarse head's labeled `(CE + Dice)/2` is taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoarseLossAt {
    /// At the head's own resolution (a quarter of the image), against the labels sampled at
    /// each low-resolution pixel's centre: an object narrower than four pixels can vanish
    /// from the target (the brain-CT phantoms' subarachnoid bleeds do).
    #[default]
    Low,
    /// On the logits upsampled bilinearly to the image size (as inference reads them),
    /// against the labels at the image size, as the SAM-2 branch's `simple` recipe does.
    Image,
}

/// How the labeled step picks the slice its clip starts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabeledSlices {
    /// Uniformly among the volume's slices with any foreground (every slice when none has).
    #[default]
    AnyForeground,
    /// A class drawn uniformly among those the volume holds, then a slice holding it: a
    /// class on few slices (a small bleed) is seen as often as one on many.
    ClassBalanced,
}

/// The pseudo-labels SAM-2's unlabeled mask term is taught from, for each object the teacher's
/// prompts name (the confidence rule and CutMix apply to either alike).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnlabeledMaskTarget {
    /// The EMA teacher's SAM-2 mask probabilities and object scores on the weak view, from the
    /// same prompts (UniMatch-V2 applied to SAM-2, as the paper describes).
    #[default]
    TeacherSam2,
    /// The teacher's coarse-head probability of the object's class, and "present" where its
    /// coarse map holds the class on the slice; the teacher's SAM-2 is not run. A deviation
    /// from the method: with one labeled scan SAM-2 learns that scan alone (0.26-0.35 mean
    /// Dice on validation, from ground-truth prompts too), so its own masks teach it nothing
    /// new, while the coarse head reaches 0.73 (RESULTS.md).
    Coarse,
}

fn one() -> f64 {
    1.0
}

fn one_block() -> usize {
    1
}

impl SssTrainConfig {
    /// The defaults of `docs/DESIGN.md` §3 for a SAM-2 config and class count.
    pub fn new(sam2: Sam2Config, num_classes: usize) -> Self {
        let size = sam2.image_size;
        Self {
            sam2,
            num_classes,
            steps: defaults::STEPS,
            seed: 0,
            learning_rate: defaults::LEARNING_RATE,
            weight_decay: defaults::WEIGHT_DECAY,
            lr_warmup: defaults::LR_WARMUP,
            supervised_warmup: 100,
            ramp_up: 200,
            tau: defaults::TAU,
            pseudo_labels: PseudoLabelConfig::BALANCED,
            ema: true,
            ema_max_momentum: 0.996,
            dfe: true,
            dfe_hidden: vec![64, 64, 32],
            pcsw: true,
            pcsw_config: PcswConfig::default(),
            prompt_refresh: defaults::PROMPT_REFRESH,
            supervised_only: false,
            loss_weighting: LossWeighting::Half,
            weak: WeakConfig {
                out_size: [size, size],
                ..WeakConfig::default()
            },
            strong: StrongConfig::default(),
            freeze_encoders: false,
            sam2_training: Sam2TrainConfig::default(),
            sam2_lr_scale: defaults::SAM2_LR_SCALE,
            image_encoder_lr_scale: defaults::IMAGE_ENCODER_LR_SCALE,
            coarse_weight: defaults::COARSE_WEIGHT,
            coarse_loss_at: CoarseLossAt::Image,
            coarse_dice: DiceOver::AllClasses,
            labeled_slices: LabeledSlices::AnyForeground,
            coarse_extra_slices: 0,
            coarse_top_down: false,
            coarse_depth: 1,
            unlabeled_mask_weight: 1.0,
            unlabeled_mask_target: UnlabeledMaskTarget::TeacherSam2,
            oracle_pseudo_labels: false,
            start: None,
        }
    }

    /// Makes the run's weights track as its clips trained them: clips of `F` slices train
    /// the memories of the last `F − 2` tracked slices only (two-slice clips: none, the
    /// prompted slice's memory alone), so tracking attends to no others
    /// ([`crate::model::Sam2Config::tracked_memories`]). Memories whose temporal encodings
    /// were never trained made propagation jump between neighbouring objects (RESULTS.md).
    pub fn track_as_trained(&mut self) {
        self.sam2.tracked_memories = Some(self.sam2_training.clip_frames.saturating_sub(2));
    }

    /// The coarse head this run trains.
    pub fn coarse_head(&self) -> CoarseHeadConfig {
        CoarseHeadConfig {
            top_down: self.coarse_top_down.then_some(true),
            depth: (self.coarse_depth != 1).then_some(self.coarse_depth),
            ..SssNet::coarse_head_config(&self.sam2, self.num_classes)
        }
    }

    /// Side of the masks and coarse logits (a quarter of the image size).
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
        if [self.sam2_lr_scale, self.image_encoder_lr_scale]
            .iter()
            .any(|s| !s.is_finite() || *s < 0.0)
        {
            return bad("learning-rate scales must be finite and non-negative");
        }
        let t = &self.sam2_training;
        if t.clip_frames < 2 {
            return bad("--clip-frames must be at least 2 (a prompted and a tracked slice)");
        }
        if !(0.0..=1.0).contains(&t.reverse_prob) {
            return bad("--reverse-prob must be in [0, 1]");
        }
        let m = t.prompts;
        if [m.box_and_point, m.box_only, m.click]
            .iter()
            .any(|p| !p.is_finite() || *p < 0.0)
            || m.box_and_point + m.box_only + m.click <= 0.0
        {
            return bad("the prompt mix needs non-negative weights, not all zero");
        }
        Ok(())
    }
}
