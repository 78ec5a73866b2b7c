//! `sss pretrain`: promptable pretraining of SAM-2 on procedural, task-agnostic 3-D scenes
//! (`data::phantom::scenes`), the stand-in for the SA-1B / SA-V pretraining that official
//! SAM-2 checkpoints carry and that cannot be downloaded here.
//!
//! The scenes' instance labels go through the same labeled SAM-2 recipe as `sss train`
//! (simulated prompts on a clip's first slice, memory tracking through the rest); the coarse
//! head is not trained (its loss weight is 0: instance ids are not classes). The run directory
//! holds `train.log`, checkpoints (`--resume` continues, with the scene settings saved in
//! `pretrain.json`) and, at the end, the foundation weights: `foundation.bpk` (SAM-2 only,
//! f16), `foundation.config.json` (its `Sam2Config`, which `sss train --init` reads) and
//! `foundation.json` (how they were made).

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::DType;
use clap::Args;
use serde::{Deserialize, Serialize};

use super::DeviceArg;
use super::recipe_args::RecipeArgs;
use super::train::{LoopOptions, run_steps};
use crate::data::intensity::IntensityRule;
use crate::data::phantom::scenes::{MAX_OBJECTS, SceneSize, scene};
use crate::model::Sam2Config;
use crate::model::import::load_sam2_burnpack;
use crate::train::trainer::{SssTrainConfig, SssTrainer, TrainData, TrainVolume};
use crate::weights;

/// Arguments of `sss pretrain`.
#[derive(Args, Debug)]
pub struct PretrainArgs {
    /// Run directory (checkpoints, log, foundation weights).
    #[arg(long)]
    pub out: PathBuf,
    /// SAM-2 configuration (micro-wide, micro, tiny, small, base_plus, large).
    #[arg(long, default_value = "micro-wide")]
    pub config: String,
    /// Image size, also the scenes' side.
    #[arg(long, default_value_t = 128)]
    pub image_size: usize,
    /// Scenes in the training pool (generated at start, deterministic).
    #[arg(long, default_value_t = 400)]
    pub scenes: usize,
    /// Seed of the scenes (training runs on `--seed`).
    #[arg(long, default_value_t = 0)]
    pub scene_seed: u64,
    /// Slices per scene `LO,HI`.
    #[arg(long, default_value = "8,14", value_parser = parse_slices)]
    pub slices: [usize; 2],
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 20_000)]
    pub steps: usize,
    /// Peak learning rate of every part (AdamW, warm-up then poly decay).
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f64,
    /// Start SAM-2 from these weights (a burnpack of `sss pretrain`, e.g. an earlier
    /// `foundation.bpk`, in --config) instead of a fresh model: a longer pretraining with a
    /// fresh schedule.
    #[arg(long, conflicts_with = "resume")]
    pub init: Option<PathBuf>,
    #[arg(long, default_value_t = 200)]
    pub lr_warmup: usize,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    #[arg(long, value_enum, default_value_t = DeviceArg::Flex)]
    pub device: DeviceArg,
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: usize,
    #[arg(long, default_value_t = 50)]
    pub log_every: usize,
    /// Continue the run in --out from its last checkpoint (its saved settings apply).
    #[arg(long)]
    pub resume: bool,
    /// Stop this invocation after N steps without a final checkpoint (for testing --resume).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

fn parse_slices(text: &str) -> Result<[usize; 2], String> {
    let v: Vec<usize> = text
        .split(',')
        .map(|p| p.trim().parse::<usize>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match v[..] {
        [lo, hi] if lo >= 2 && lo <= hi => Ok([lo, hi]),
        _ => Err("two slice counts LO,HI with 2 <= LO <= HI".into()),
    }
}

/// The scene pool's settings, saved beside the checkpoints so that `--resume` rebuilds the
/// same pool.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct PoolSettings {
    scenes: usize,
    scene_seed: u64,
    side: usize,
    slices: [usize; 2],
    /// Every invocation of the run (the first, then each `--resume`), for the provenance.
    #[serde(default)]
    commands: Vec<String>,
}

/// What `foundation.json` says about the weights.
#[derive(Serialize, Deserialize, Debug)]
pub struct FoundationInfo {
    pub what: String,
    pub config: String,
    pub image_size: usize,
    pub steps: usize,
    pub scenes: usize,
    pub scene_seed: u64,
    pub seed: u64,
    /// Mean labeled SAM-2 loss over the last 10 % of the steps.
    pub final_mask_loss: f64,
    /// Every invocation that made the weights (the first, then each `--resume`).
    pub command: String,
    pub weights_sha256: String,
    pub weights_dtype: String,
}

/// The scene pool as training volumes (instance labels, MRI-style percentile intensities).
fn scene_pool(pool: &PoolSettings) -> anyhow::Result<TrainData> {
    anyhow::ensure!(pool.scenes > 0, "--scenes must be at least 1");
    let rule = IntensityRule::Percentiles {
        low: 0.5,
        high: 99.5,
    };
    let size = SceneSize {
        side: pool.side,
        slices: pool.slices,
    };
    // Scenes are independent and seeded by their index: generated in parallel, in order.
    use rayon::prelude::*;
    let labeled = (0..pool.scenes)
        .into_par_iter()
        .map(|i| {
            let (image, labels) = scene(i, pool.scene_seed, size);
            Ok(TrainVolume::new(
                format!("scene{i:05}"),
                image,
                Some(labels),
                &rule,
            )?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(TrainData {
        labeled,
        unlabeled: Vec::new(),
        rule,
    })
}

/// The training configuration of a pretraining run.
fn config_of(args: &PretrainArgs) -> anyhow::Result<SssTrainConfig> {
    let mut sam2 = Sam2Config::by_name(&args.config)?;
    sam2.image_size = args.image_size;
    sam2.validate()?;
    let mut cfg = SssTrainConfig::new(sam2, MAX_OBJECTS + 1);
    cfg.steps = args.steps;
    cfg.seed = args.seed;
    cfg.learning_rate = args.lr;
    // No coarse head to keep at a higher rate: every part learns at --lr.
    cfg.sam2_lr_scale = 1.0;
    cfg.image_encoder_lr_scale = 1.0;
    cfg.lr_warmup = args.lr_warmup;
    cfg.supervised_only = true;
    cfg.dfe = false;
    cfg.start = args
        .init
        .as_ref()
        .map(|path| format!("--init {}", path.display()));
    cfg.coarse_weight = 0.0;
    cfg.sam2_training = args.recipe.sam2_training();
    if cfg.sam2_training.max_objects == 0 {
        // Official SAM-2's `max_num_objects`; a scene holds up to MAX_OBJECTS.
        cfg.sam2_training.max_objects = 3;
    }
    // Generic scenes have no preferred orientation: the weak view's flips and quarter turns
    // stay; its rescaling would shrink thin objects below the decoder's resolution.
    cfg.weak.scale_range = [0.8, 1.25];
    cfg.track_as_trained();
    cfg.validate()?;
    Ok(cfg)
}

/// Runs the command.
pub fn run(args: &PretrainArgs) -> anyhow::Result<()> {
    let device = args.device.open()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let pool_path = args.out.join("pretrain.json");
    let mut pool = if args.resume {
        let text = std::fs::read_to_string(&pool_path)
            .with_context(|| format!("reading {} to resume", pool_path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged", pool_path.display()))?
    } else {
        PoolSettings {
            scenes: args.scenes,
            scene_seed: args.scene_seed,
            side: args.image_size,
            slices: args.slices,
            commands: Vec::new(),
        }
    };
    pool.commands.push(super::command_line());
    std::fs::write(&pool_path, serde_json::to_string_pretty(&pool)?)
        .with_context(|| format!("writing {}", pool_path.display()))?;
    let started = std::time::Instant::now();
    let data = scene_pool(&pool)?;
    log::info!(
        "{} scenes of {}² × {}–{} slices generated in {:.1} s",
        pool.scenes,
        pool.side,
        pool.slices[0],
        pool.slices[1],
        started.elapsed().as_secs_f64()
    );
    let mut trainer = if args.resume {
        let t = SssTrainer::resume(&args.out, data, &device.device)?;
        log::info!("resuming {} at step {}", args.out.display(), t.step);
        t
    } else {
        let cfg = config_of(args)?;
        let init = match &args.init {
            Some(path) => Some(
                load_sam2_burnpack(path, &cfg.sam2, &device.device)
                    .with_context(|| format!("loading --init {}", path.display()))?,
            ),
            None => None,
        };
        SssTrainer::new(cfg, data, &device.device, init)?
    };
    let finished = run_steps(
        &mut trainer,
        &args.out,
        &LoopOptions {
            checkpoint_every: args.checkpoint_every,
            log_every: args.log_every,
            stop_after: args.stop_after,
        },
    )?;
    if !finished {
        return Ok(());
    }
    let path = write_foundation(&trainer, &pool, &args.out)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Writes `foundation.bpk` (f16), `foundation.config.json` and `foundation.json` into `out`.
fn write_foundation(
    trainer: &SssTrainer,
    pool: &PoolSettings,
    out: &Path,
) -> anyhow::Result<PathBuf> {
    let sam = trainer.final_net().sam;
    let bytes = weights::encode_module(sam, DType::F16)?;
    let bpk = out.join("foundation.bpk");
    std::fs::write(&bpk, &bytes).with_context(|| format!("writing {}", bpk.display()))?;
    let cfg = &trainer.cfg;
    std::fs::write(
        out.join("foundation.config.json"),
        serde_json::to_string_pretty(&cfg.sam2)?,
    )?;
    let info = FoundationInfo {
        what: "SAM-2 pretrained by `sss pretrain` on procedural task-agnostic 3-D scenes \
               (data::phantom::scenes), not on any medical data"
            .into(),
        config: cfg.sam2.name.clone(),
        image_size: cfg.sam2.image_size,
        steps: cfg.steps,
        scenes: pool.scenes,
        scene_seed: pool.scene_seed,
        seed: cfg.seed,
        final_mask_loss: final_mask_loss(&out.join("train.log"), cfg.steps)?,
        command: pool.commands.join(", then "),
        weights_sha256: weights::sha256_hex(&bytes),
        weights_dtype: "f16".into(),
    };
    std::fs::write(
        out.join("foundation.json"),
        serde_json::to_string_pretty(&info)?,
    )?;
    Ok(bpk)
}

/// Mean `labeled_mask` of the last 10 % of the steps in `train.log`.
fn final_mask_loss(log: &Path, steps: usize) -> anyhow::Result<f64> {
    let text = std::fs::read_to_string(log)?;
    let from = steps - steps.div_ceil(10);
    let values: Vec<f64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["step"].as_u64().is_some_and(|s| s as usize >= from))
        .filter_map(|v| v["labeled_mask"].as_f64())
        .collect();
    Ok(values.iter().sum::<f64>() / values.len().max(1) as f64)
}
