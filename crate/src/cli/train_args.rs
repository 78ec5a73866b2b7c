//! The arguments of `sss train` and the training configuration they make: every flag, its
//! default (some by the data set's modality, [`ModalityDefaults`]) and [`config_of`], which
//! turns them into an [`SssTrainConfig`]. The command itself (data, trainer, checkpoints,
//! progress) is `super::train`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::DeviceArg;
use super::recipe_args::RecipeArgs;
use super::sss_data::DatasetKind;
use crate::data::intensity::Modality;
use crate::model::Sam2Config;
use crate::prompt::pcsw::{Connectivity, WindowRule};
use crate::train::foundation;
use crate::train::losses::DiceOver;
use crate::train::pseudo_labels::{
    ConfidenceRule, EmptyTargetDice, PseudoLabelConfig, UnlabeledCoarse,
};
use crate::train::trainer::{
    CoarseLossAt, LabeledSlices, LossWeighting, SssTrainConfig, UnlabeledMaskTarget, defaults,
};

/// Where the coarse head's labeled loss is taken (`SssTrainConfig::coarse_loss_at`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoarseLossAtArg {
    Low,
    Image,
}

/// Which classes the coarse head's labeled Dice averages over (`SssTrainConfig::coarse_dice`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoarseDiceArg {
    All,
    Present,
}

/// How a labeled clip's slice is drawn (`SssTrainConfig::labeled_slices`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabeledSlicesArg {
    AnyForeground,
    ClassBalanced,
}

/// What SAM-2's unlabeled mask term is taught (`SssTrainConfig::unlabeled_mask_target`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnlabeledMaskTargetArg {
    Sam2,
    Coarse,
}

/// Which teacher pixels become pseudo-labels (`PseudoLabelConfig::confidence`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfidenceArg {
    Global,
    ClassBalanced,
}

/// A switch given as a value.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOffArg {
    On,
    Off,
}

/// The training settings whose default depends on the scans' modality, measured on each
/// (RESULTS.md, "Brain CT: why semi-supervision hurts", "Pseudo-labels that carry signal" and
/// "Without DFE, SAM-2 learns from the coarse head's pseudo-labels"): what suits cardiac MRI
/// (UniMatch-V2's photometric jitter, class-balanced pseudo-labels) broke semi-supervision on
/// head CT; DFE off with SAM-2 taught by the coarse head was measured on cardiac MRI only, so
/// CT keeps the method's DFE and SAM-2 target until it is measured there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModalityDefaults {
    pub confidence: ConfidenceArg,
    pub strong_photometric: bool,
    /// DFE on the strong views' features (`SssTrainConfig::dfe`).
    pub dfe: bool,
    pub unlabeled_mask_target: UnlabeledMaskTargetArg,
}

impl ModalityDefaults {
    pub fn of(modality: Modality) -> Self {
        match modality {
            Modality::Mri => Self {
                confidence: ConfidenceArg::ClassBalanced,
                strong_photometric: true,
                dfe: false,
                unlabeled_mask_target: UnlabeledMaskTargetArg::Coarse,
            },
            Modality::Ct => Self {
                confidence: ConfidenceArg::Global,
                strong_photometric: false,
                dfe: true,
                unlabeled_mask_target: UnlabeledMaskTargetArg::Sam2,
            },
        }
    }
}

/// Whether the unlabeled Dice counts empty kept targets (`PseudoLabelConfig::empty_dice`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmptyDiceArg {
    Count,
    Skip,
}

/// What the coarse head's unlabeled term teaches (`PseudoLabelConfig::coarse`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnlabeledCoarseArg {
    Classes,
    Foreground,
}

fn parse_scale_range(text: &str) -> Result<[f32; 2], String> {
    let v: Vec<f32> = text
        .split(',')
        .map(|p| p.trim().parse::<f32>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match v[..] {
        [lo, hi] if lo > 0.0 && lo <= hi && hi.is_finite() => Ok([lo, hi]),
        _ => Err("two scales LO,HI with 0 < LO <= HI, e.g. 0.5,2.0".into()),
    }
}

/// PCSW's connected-component neighbourhood.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectivityArg {
    #[value(name = "6")]
    Six,
    #[value(name = "26")]
    TwentySix,
}

/// Arguments of `sss train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset directory (ACDC or BHSD layout).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, value_enum)]
    pub dataset: DatasetKind,
    /// Labeled subjects (ACDC patients, BHSD scans); the rest of the training set is unlabeled.
    #[arg(long)]
    pub labeled: usize,
    /// SAM-2 configuration (micro-wide, micro, tiny, small, base_plus, large).
    #[arg(long, default_value = "micro-wide")]
    pub config: String,
    /// Image size (default: the config's; micro 256).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Initial SAM-2 weights: an official SAM-2 / SAM-2.1 checkpoint (`.pt`, converted on the
    /// fly; --config names its size), or a burnpack of `sss import-sam2` or `sss pretrain`
    /// with its `.config.json` beside it (which replaces --config). Freezes the image and
    /// prompt encoders unless --train-encoders. Without it, SAM-2 starts from the built-in
    /// foundation weights (micro-wide, `crate/assets/foundation/`) when the config is
    /// theirs, every part trained; other configs start from a fresh model.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Start SAM-2 from a fresh (seeded random) model instead of the foundation weights.
    #[arg(long, conflicts_with = "init")]
    pub from_scratch: bool,
    /// Width of SAM-2's heads and memory attention (`neck.d_model`; default: the config's,
    /// micro 32); the mask decoder reads `N / 8` feature channels per pixel.
    #[arg(long)]
    pub sam2_width: Option<usize>,
    /// Train the encoders even with --init.
    #[arg(long)]
    pub train_encoders: bool,
    /// Whether DFE (the method's dual feature enhancement) replaces the strong views'
    /// features fed to SAM-2's decoder in the unlabeled term. Default by the data set's
    /// modality ([`ModalityDefaults`]): off for MRI, where with DFE the decoder fitted its
    /// unlabeled targets in DFE's feature space and not in the plain features inference uses
    /// (SAM-2 alone 0.26 against 0.66 mean Dice on the cardiac test split at 1 labeled, with
    /// `--unlabeled-mask-target coarse`; RESULTS.md), on for CT (the method; not measured there).
    #[arg(long, value_enum, conflicts_with = "no_dfe")]
    pub dfe: Option<OnOffArg>,
    /// The same as `--dfe off`.
    #[arg(long)]
    pub no_dfe: bool,
    /// No PCSW: unlabeled prompts from the teacher's coarse mask (largest component) per slice.
    #[arg(long)]
    pub no_pcsw: bool,
    /// Labeled data only.
    #[arg(long)]
    pub supervised_only: bool,
    /// Teacher = student (the released code) instead of the EMA teacher.
    #[arg(long)]
    pub no_ema: bool,
    /// Confidence threshold of the pseudo-labels.
    #[arg(long, default_value_t = defaults::TAU)]
    pub tau: f64,
    /// Which teacher pixels become pseudo-labels: `class-balanced` (class c's threshold
    /// τ·m_c / max m, m the teacher's mean confidence per class in the batch; for SAM-2
    /// objects, foreground and background) or `global` (one τ for every class, UniMatch-V2 and
    /// the SSS code), for the coarse head and SAM-2 alike. Default by the data set's modality
    /// ([`ModalityDefaults`]): class-balanced for MRI (with one τ the teacher kept a quarter of
    /// the right ventricle's pixels, class-balanced 0.6), global for CT (class-balanced drove
    /// a false-bleed confirmation loop; RESULTS.md).
    #[arg(long, value_enum)]
    pub confidence: Option<ConfidenceArg>,
    /// Whether the unlabeled Dice leaves out classes whose kept pseudo-label is empty (`skip`,
    /// the default; their background still teaches via CE/BCE) or counts them (`count`, the
    /// SSS code: a Dice of ≈ 1 that only says "predict nothing").
    #[arg(long, value_enum, default_value_t = EmptyDiceArg::Skip)]
    pub empty_dice: EmptyDiceArg,
    /// What the coarse head learns from the teacher on unlabeled scans: every class
    /// (`classes`, the default, UniMatch-V2) or only foreground against background
    /// (`foreground`: both sides' probabilities merged into bleed / no bleed, so the class
    /// of an object is learnt from the labeled scans alone; RESULTS.md, brain CT).
    #[arg(long, value_enum, default_value_t = UnlabeledCoarseArg::Classes)]
    pub unlabeled_coarse: UnlabeledCoarseArg,
    /// Supervised-only steps before the unlabeled term enters.
    #[arg(long)]
    pub supervised_warmup: Option<usize>,
    /// Sigmoid ramp-up steps of the unlabeled weight after the supervised warm-up.
    #[arg(long)]
    pub ramp_up: Option<usize>,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = defaults::LEARNING_RATE)]
    pub lr: f64,
    /// SAM-2's own parts (prompt encoder, mask decoder, memory) learn at this multiple of --lr
    /// (at the coarse head's 1e-3 SAM-2's decoder learns to ignore its prompt; RESULTS.md).
    #[arg(long, default_value_t = defaults::SAM2_LR_SCALE)]
    pub sam2_lr_scale: f64,
    /// The image encoder (shared with the coarse head) learns at this multiple of --lr.
    #[arg(long, default_value_t = defaults::IMAGE_ENCODER_LR_SCALE)]
    pub encoder_lr_scale: f64,
    /// Linear learning-rate warm-up steps (then poly decay 0.9).
    #[arg(long, default_value_t = defaults::LR_WARMUP)]
    pub lr_warmup: usize,
    #[arg(long, default_value_t = defaults::WEIGHT_DECAY)]
    pub weight_decay: f64,
    /// Steps after which cached PCSW prompts of a volume are recomputed by the teacher.
    #[arg(long, default_value_t = defaults::PROMPT_REFRESH)]
    pub prompt_refresh: usize,
    /// PCSW's 3-D connectivity (26 as the released comment, 6 as its scipy call).
    #[arg(long, value_enum, default_value_t = ConnectivityArg::TwentySix)]
    pub connectivity: ConnectivityArg,
    /// PCSW: the best passing window instead of the first (released rule).
    #[arg(long)]
    pub pcsw_best_window: bool,
    /// PCSW's prompt slice, for unlabeled clips and in the run's weights: `component-median`
    /// (the default, chosen on the validation split, RESULTS.md) or `max-area` (released).
    #[arg(long, value_enum, default_value_t = super::eval::SliceArg::ComponentMedian)]
    pub pcsw_slice: super::eval::SliceArg,
    /// PCSW's minimum object size in voxels, for the teacher's prompts on unlabeled scans and
    /// in the run's weights (`PcswConfig::min_object_voxels`; default 0, none): a class whose
    /// largest 3-D coarse component is smaller gets no prompt, so the teacher's stray voxels
    /// do not become SAM-2 objects to learn from.
    #[arg(long, default_value_t = 0)]
    pub pcsw_min_object: usize,
    /// `L_l + λ·L_u` (the released code) instead of `(L_l + λ·L_u)/2`.
    #[arg(long)]
    pub loss_sum: bool,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    #[arg(long, value_enum, default_value_t = DeviceArg::Flex)]
    pub device: DeviceArg,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The weak view's random scale range `LO,HI` (UniMatch-V2's 0.5,2.0; `1,1` keeps the
    /// fitted size, only crop, flip and rot90 remain).
    #[arg(long, value_parser = parse_scale_range, default_value = "0.5,2.0")]
    pub weak_scale: [f32; 2],
    /// No weak view at all: no rescaling, crop jitter, flips or quarter turns (for the
    /// fitting check; the labeled slices are only resized to the model's input).
    #[arg(long)]
    pub no_weak_aug: bool,
    /// Weight of the coarse head's labeled loss.
    #[arg(long, default_value_t = defaults::COARSE_WEIGHT)]
    pub coarse_weight: f64,
    /// Weight of SAM-2's unlabeled mask term in the unlabeled loss (1, the method; 0 leaves
    /// the unlabeled scans to the coarse head).
    #[arg(long, default_value_t = 1.0)]
    pub unlabeled_mask_weight: f64,
    /// What SAM-2's unlabeled mask term is taught: `sam2` (the teacher's own SAM-2 masks, the
    /// method) or `coarse` (the teacher's coarse-head probability of each prompted class: a
    /// deviation, measured in RESULTS.md). Default by the data set's modality
    /// ([`ModalityDefaults`]): `coarse` for MRI (with one labeled scan the teacher's SAM-2
    /// masks score ~0.3 and teach nothing new, its coarse head ~0.73), `sam2` for CT.
    #[arg(long, value_enum)]
    pub unlabeled_mask_target: Option<UnlabeledMaskTargetArg>,
    /// Whether the strong views get UniMatch's photometric changes (±50 % brightness and
    /// contrast, grayscale, blur; CutMix either way). Default by the data set's modality
    /// ([`ModalityDefaults`]): on for MRI, off for CT, whose fixed HU windows tell blood from
    /// brain by intensity alone (the jitter halved the coarse head's fit of its own labeled
    /// scans; RESULTS.md).
    #[arg(long, value_enum, conflicts_with = "no_strong_photometric")]
    pub strong_photometric: Option<OnOffArg>,
    /// The same as `--strong-photometric off`.
    #[arg(long)]
    pub no_strong_photometric: bool,
    /// Diagnostic, not the method: the coarse head's pseudo-labels on the unlabeled scans are
    /// their ground truth (the data set must have their labels), to measure the unlabeled path
    /// with a perfect teacher.
    #[arg(long)]
    pub oracle_pseudo_labels: bool,
    /// Where the coarse head's labeled loss is taken: `image` (logits upsampled to the image
    /// size; the default, +0.010 mean Dice on validation over 3 seeds, RESULTS.md) or `low`
    /// (its own quarter resolution against labels sampled there, as before 2026-11-30).
    #[arg(long, value_enum)]
    pub coarse_loss_at: Option<CoarseLossAtArg>,
    /// Which classes the coarse head's labeled Dice averages over: `all` (background
    /// included, UniMatch's recipe; the default) or `present` (those in the clip's labels:
    /// an absent class adds a constant and no gradient to the Dice).
    #[arg(long, value_enum)]
    pub coarse_dice: Option<CoarseDiceArg>,
    /// The coarse head also reads the neck's stride-16 level (after Hiera's global attention)
    /// upsampled to its own, instead of level 0 alone, whose view is one 32-pixel attention
    /// window (`CoarseHeadConfig::top_down`; recorded in the weights' manifest).
    #[arg(long)]
    pub coarse_top_down: bool,
    /// `Conv3×3 → norm → ReLU` blocks of the coarse head before its classifier (1: the
    /// released head; more: a head that can learn a rule over a wider neighbourhood;
    /// `CoarseHeadConfig::depth`, recorded in the weights' manifest).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub coarse_depth: u16,
    /// How a labeled clip's first slice is drawn: `any-foreground` (uniformly among slices
    /// with foreground; the default) or `class-balanced` (a class the volume holds, then a
    /// slice holding it: rare classes such as small bleeds are seen as often as large ones).
    #[arg(long, value_enum)]
    pub labeled_slices: Option<LabeledSlicesArg>,
    /// Labeled slices per step for the coarse head alone, besides the SAM-2 clip's frames
    /// (0, the default: the clip's frames only). With every scan labeled a two-slice clip a
    /// step shows the head each slice about once in 2,000 steps (RESULTS.md).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=64))]
    pub coarse_extra_slices: u16,
    /// Total optimisation steps.
    #[arg(long, default_value_t = defaults::STEPS)]
    pub steps: usize,
    /// Checkpoint every K steps (and at the end).
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
    /// Continue the run in --out from its last checkpoint (its saved settings apply).
    #[arg(long)]
    pub resume: bool,
    /// Stop this invocation after N steps without a final checkpoint, as an interruption
    /// would (for testing --resume).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
    /// Plain log line every N steps when stdout is not a terminal.
    #[arg(long, default_value_t = 10)]
    pub log_every: usize,
    /// Run directory.
    #[arg(long)]
    pub out: PathBuf,
}

/// Builds the configuration from the arguments.
pub(super) fn config_of(args: &TrainArgs) -> anyhow::Result<SssTrainConfig> {
    let mut sam2 = match &args.init {
        Some(init) if !is_checkpoint(init) => {
            // `sss import-sam2` and `sss pretrain` write the model's configuration beside its
            // weights.
            let path = init.with_extension("config.json");
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading {} (written beside the weights by sss import-sam2 or sss pretrain)",
                    path.display()
                )
            })?;
            serde_json::from_str::<Sam2Config>(&text)
                .with_context(|| format!("{} is not a SAM-2 config", path.display()))?
        }
        _ => Sam2Config::by_name(&args.config)?,
    };
    if let Some(size) = args.image_size {
        sam2.image_size = size;
    }
    if let Some(width) = args.sam2_width {
        sam2 = sam2.with_hidden_dim(width);
    }
    sam2.validate()?;
    let classes = args.dataset.classes().len();
    let mut cfg = SssTrainConfig::new(sam2, classes);
    cfg.steps = args.steps;
    cfg.seed = args.seed;
    cfg.learning_rate = args.lr;
    cfg.weight_decay = args.weight_decay;
    cfg.sam2_lr_scale = args.sam2_lr_scale;
    cfg.image_encoder_lr_scale = args.encoder_lr_scale;
    cfg.lr_warmup = args.lr_warmup;
    cfg.weak.scale_range = args.weak_scale;
    if args.no_weak_aug {
        cfg.weak.scale_range = [1.0, 1.0];
        cfg.weak.flip_p = 0.0;
        cfg.weak.rot90_p = 0.0;
    }
    cfg.coarse_weight = args.coarse_weight;
    cfg.unlabeled_mask_weight = args.unlabeled_mask_weight;
    cfg.oracle_pseudo_labels = args.oracle_pseudo_labels;
    let by_modality = ModalityDefaults::of(args.dataset.modality());
    let mask_target = args
        .unlabeled_mask_target
        .unwrap_or(by_modality.unlabeled_mask_target);
    cfg.unlabeled_mask_target = match mask_target {
        UnlabeledMaskTargetArg::Sam2 => UnlabeledMaskTarget::TeacherSam2,
        UnlabeledMaskTargetArg::Coarse => UnlabeledMaskTarget::Coarse,
    };
    cfg.dfe = match (args.dfe, args.no_dfe) {
        (_, true) | (Some(OnOffArg::Off), _) => false,
        (Some(OnOffArg::On), _) => true,
        (None, false) => by_modality.dfe,
    };
    let photometric = match (args.strong_photometric, args.no_strong_photometric) {
        (_, true) | (Some(OnOffArg::Off), _) => false,
        (Some(OnOffArg::On), _) => true,
        (None, false) => by_modality.strong_photometric,
    };
    if !photometric {
        cfg.strong = crate::train::augment::StrongConfig::without_photometric();
    }
    if args.confidence.is_none()
        || (args.strong_photometric.is_none() && !args.no_strong_photometric)
        || (args.dfe.is_none() && !args.no_dfe)
        || args.unlabeled_mask_target.is_none()
    {
        log::info!(
            "{:?} defaults where not given: {:?} pseudo-label confidence, strong views {} \
             photometric jitter, DFE {}, SAM-2's unlabeled target from the teacher's {} \
             (--confidence, --strong-photometric, --dfe, --unlabeled-mask-target)",
            args.dataset.modality(),
            args.confidence.unwrap_or(by_modality.confidence),
            if photometric { "with" } else { "without" },
            if cfg.dfe { "on" } else { "off" },
            match mask_target {
                UnlabeledMaskTargetArg::Sam2 => "SAM-2 masks",
                UnlabeledMaskTargetArg::Coarse => "coarse head",
            }
        );
    }
    cfg.coarse_top_down = args.coarse_top_down;
    cfg.coarse_depth = usize::from(args.coarse_depth);
    cfg.coarse_extra_slices = usize::from(args.coarse_extra_slices);
    if let Some(at) = args.coarse_loss_at {
        cfg.coarse_loss_at = match at {
            CoarseLossAtArg::Low => CoarseLossAt::Low,
            CoarseLossAtArg::Image => CoarseLossAt::Image,
        };
    }
    if let Some(over) = args.coarse_dice {
        cfg.coarse_dice = match over {
            CoarseDiceArg::All => DiceOver::AllClasses,
            CoarseDiceArg::Present => DiceOver::PresentClasses,
        };
    }
    if let Some(rule) = args.labeled_slices {
        cfg.labeled_slices = match rule {
            LabeledSlicesArg::AnyForeground => LabeledSlices::AnyForeground,
            LabeledSlicesArg::ClassBalanced => LabeledSlices::ClassBalanced,
        };
    }
    cfg.supervised_warmup = args
        .supervised_warmup
        .unwrap_or(cfg.supervised_warmup.min(args.steps / 5));
    cfg.ramp_up = args.ramp_up.unwrap_or(cfg.ramp_up.min(args.steps / 5));
    cfg.tau = args.tau;
    cfg.pseudo_labels = PseudoLabelConfig {
        confidence: match args.confidence.unwrap_or(by_modality.confidence) {
            ConfidenceArg::Global => ConfidenceRule::Global,
            ConfidenceArg::ClassBalanced => ConfidenceRule::ClassBalanced,
        },
        empty_dice: match args.empty_dice {
            EmptyDiceArg::Count => EmptyTargetDice::Count,
            EmptyDiceArg::Skip => EmptyTargetDice::Skip,
        },
        coarse: match args.unlabeled_coarse {
            UnlabeledCoarseArg::Classes => UnlabeledCoarse::Classes,
            UnlabeledCoarseArg::Foreground => UnlabeledCoarse::Foreground,
        },
    };
    cfg.ema = !args.no_ema;
    cfg.pcsw = !args.no_pcsw;
    cfg.pcsw_config.connectivity = match args.connectivity {
        ConnectivityArg::Six => Connectivity::Six,
        ConnectivityArg::TwentySix => Connectivity::TwentySix,
    };
    cfg.pcsw_config.slice = args.pcsw_slice.rule();
    cfg.pcsw_config.min_object_voxels = args.pcsw_min_object;
    if args.pcsw_best_window {
        cfg.pcsw_config.rule = WindowRule::Best;
    }
    cfg.prompt_refresh = args.prompt_refresh;
    cfg.supervised_only = args.supervised_only;
    cfg.loss_weighting = if args.loss_sum {
        LossWeighting::Sum
    } else {
        LossWeighting::Half
    };
    cfg.freeze_encoders = args.init.is_some() && !args.train_encoders;
    cfg.start = match &args.init {
        Some(path) => Some(format!("--init {}", path.display())),
        None if !args.from_scratch && foundation::fits(&cfg.sam2) => Some(format!(
            "foundation {} (sha256 {})",
            foundation::NAME,
            foundation::sha256()
        )),
        None => None,
    };
    cfg.sam2_training = args.recipe.sam2_training();
    cfg.track_as_trained();
    cfg.validate()?;
    Ok(cfg)
}

/// True for an official PyTorch checkpoint (`.pt` / `.pth`), false for a burnpack.
pub(super) fn is_checkpoint(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pt") || e.eq_ignore_ascii_case("pth"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::augment::StrongConfig;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TrainArgs,
    }

    fn config(extra: &[&str]) -> SssTrainConfig {
        let mut argv = vec!["sss", "--data", "d", "--labeled", "3", "--out", "o"];
        argv.extend_from_slice(extra);
        config_of(&Cli::try_parse_from(argv).unwrap().args).unwrap()
    }

    /// CT defaults to one τ and strong views without photometric jitter, MRI to class-balanced
    /// thresholds with the jitter; either is overridden by its flag.
    #[test]
    fn the_modality_sets_the_confidence_rule_and_the_jitter_unless_given() {
        let mri = config(&["--dataset", "acdc"]);
        assert_eq!(mri.pseudo_labels.confidence, ConfidenceRule::ClassBalanced);
        assert_ne!(mri.strong, StrongConfig::without_photometric());
        let ct = config(&["--dataset", "bhsd"]);
        assert_eq!(ct.pseudo_labels.confidence, ConfidenceRule::Global);
        assert_eq!(ct.strong, StrongConfig::without_photometric());
        let ct_as_mri = config(&[
            "--dataset",
            "bhsd",
            "--confidence",
            "class-balanced",
            "--strong-photometric",
            "on",
        ]);
        assert_eq!(
            ct_as_mri.pseudo_labels.confidence,
            ConfidenceRule::ClassBalanced
        );
        assert_eq!(ct_as_mri.strong, mri.strong);
        let mri_plain = config(&["--dataset", "acdc", "--no-strong-photometric"]);
        assert_eq!(mri_plain.strong, StrongConfig::without_photometric());
    }

    /// MRI defaults to DFE off with SAM-2's unlabeled target from the coarse head (measured on
    /// cardiac MRI), CT to the method's DFE and teacher SAM-2 target; each flag overrides.
    #[test]
    fn the_modality_sets_dfe_and_the_sam2_target_unless_given() {
        let mri = config(&["--dataset", "acdc"]);
        assert!(!mri.dfe);
        assert_eq!(mri.unlabeled_mask_target, UnlabeledMaskTarget::Coarse);
        let ct = config(&["--dataset", "bhsd"]);
        assert!(ct.dfe);
        assert_eq!(ct.unlabeled_mask_target, UnlabeledMaskTarget::TeacherSam2);
        let mri_as_method = config(&[
            "--dataset",
            "acdc",
            "--dfe",
            "on",
            "--unlabeled-mask-target",
            "sam2",
        ]);
        assert!(mri_as_method.dfe);
        assert_eq!(
            mri_as_method.unlabeled_mask_target,
            UnlabeledMaskTarget::TeacherSam2
        );
        for off in [&["--dfe", "off"][..], &["--no-dfe"][..]] {
            let ct_plain = config(&[&["--dataset", "bhsd"][..], off].concat());
            assert!(!ct_plain.dfe, "{off:?}");
        }
    }
}
