//! `sss train`: SSS training on an ACDC- or BHSD-layout dataset (real or phantom).
//!
//! Shows a progress bar with the loss terms, learning rate, it/s and ETA when stdout is a
//! terminal, plain log lines otherwise; every step's report goes to `RUN_DIR/train.log` (JSON
//! lines). Checkpoints (`RUN_DIR/checkpoint/`) every `--checkpoint-every` steps and at the
//! end; `--resume` continues from the last one. The final network (EMA teacher, or the student
//! with `--no-ema`) is written as `RUN_DIR/model.bpk` + `RUN_DIR/model.json` (f32, the export
//! format), which `sss eval`, `sss segment` and `sss export` read. The flags and the
//! configuration they make are `super::train_args`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use burn::tensor::DType;
use indicatif::{ProgressBar, ProgressStyle};

use super::sss_data::{DatasetKind, classes_with_training_volumes, read_case};
pub use super::train_args::TrainArgs;
use super::train_args::{config_of, is_checkpoint};
use crate::data::intensity::Modality;
use crate::model::Sam2Config;
use crate::model::import::{load_sam2_burnpack, load_sam2_checkpoint};
use crate::train::foundation;
use crate::train::trainer::{SssTrainConfig, SssTrainer, StepReport, TrainData, TrainVolume};
use crate::weights::{self, MANIFEST_VERSION, Manifest, ModelSpec};

/// The SAM-2 weights `--init` names, in a model of `config` (whose image size may differ
/// from the weights': position embeddings are resized).
fn load_init(
    path: &Path,
    config: &Sam2Config,
    device: &burn::tensor::Device,
) -> anyhow::Result<crate::model::sam2_base::Sam2Base> {
    let model = if is_checkpoint(path) {
        load_sam2_checkpoint(path, config, device)
    } else {
        load_sam2_burnpack(path, config, device)
    };
    model.with_context(|| format!("loading --init {}", path.display()))
}

/// Reads the labeled and unlabeled training volumes of the split.
fn load_data(args: &TrainArgs) -> anyhow::Result<TrainData> {
    let split = args.dataset.split(&args.data, args.labeled)?;
    let rule = args.dataset.intensity_rule();
    let read = |cases: &[crate::data::dataset::Case], labeled: bool| {
        cases
            .iter()
            .map(|case| {
                let (image, labels) = read_case(case)?;
                let labels = if labeled || args.oracle_pseudo_labels {
                    labels
                } else {
                    None
                };
                if args.oracle_pseudo_labels && labels.is_none() {
                    anyhow::bail!(
                        "--oracle-pseudo-labels needs the labels of every training scan; {} has none",
                        case.id
                    );
                }
                Ok(TrainVolume::new(case.id.clone(), image, labels, &rule)?)
            })
            .collect::<anyhow::Result<Vec<_>>>()
    };
    Ok(TrainData {
        labeled: read(&split.labeled, true)?,
        unlabeled: read(&split.unlabeled, false)?,
        rule,
    })
}

/// The manifest of a run's network.
pub fn run_manifest(cfg: &SssTrainConfig, dataset: DatasetKind, name: String) -> Manifest {
    let sam2 = cfg.sam2.clone();
    let size = sam2.image_size;
    Manifest {
        format_version: MANIFEST_VERSION,
        name,
        model: ModelSpec::Sss {
            coarse_head: cfg.coarse_head(),
            sam2,
            pcsw: cfg.pcsw_config,
            label_fusion: crate::weights::LabelFusion::NEW_RUNS,
            post_process: crate::weights::PostProcess::None,
            mask_threshold: 0.0,
        },
        classes: dataset.classes(),
        modality: match dataset.modality() {
            Modality::Ct => "ct",
            Modality::Mri => "mri",
        }
        .into(),
        intensity: weights::IntensityRule::Channels {
            rule: dataset.intensity_rule(),
        },
        input_size: [size, size],
        weights_file: String::new(),
        weights_sha256: String::new(),
        weights_dtype: String::new(),
        provenance: format!(
            "{}; SAM-2 started from {}",
            super::command_line(),
            cfg.start.as_deref().unwrap_or("a fresh model")
        ),
    }
}

fn format_report(r: &StepReport) -> String {
    let terms = match &r.sam2 {
        Some(t) => format!(
            " [focal {:.4} dice {:.3} iou {:.3} obj {:.3}]",
            t.loss_mask, t.loss_dice, t.loss_iou, t.loss_class
        ),
        None => String::new(),
    };
    let by_class = if r.kept_by_class.is_empty() {
        String::new()
    } else {
        let v: Vec<String> = r.kept_by_class.iter().map(|v| format!("{v:.2}")).collect();
        format!(" [by class {}]", v.join(" "))
    };
    format!(
        "loss {:.4} (l: coarse {:.3} mask {:.3}{terms} | u: coarse {:.3} mask {:.3} λ {:.2} \
         kept {:.2}{by_class}, masks {:.2} of which fg {:.2}) lr {:.2e}",
        r.loss,
        r.labeled_coarse,
        r.labeled_mask,
        r.unlabeled_coarse,
        r.unlabeled_mask,
        r.lambda,
        r.kept,
        r.mask_kept,
        r.mask_kept_foreground,
        r.lr
    )
}

/// Runs the command.
pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    check(args)?;
    let device = args.device.open()?;
    let data = load_data(args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut trainer = if args.resume {
        refuse_changed_settings(args)?;
        let t = SssTrainer::resume(&args.out, data, &device.device)?;
        log::info!(
            "resuming {} at step {} of {} (its saved settings apply)",
            args.out.display(),
            t.step,
            t.cfg.steps
        );
        t
    } else {
        let cfg = config_of(args)?;
        let init = match &args.init {
            Some(path) => Some(load_init(path, &cfg.sam2, &device.device)?),
            None if cfg.start.is_some() => Some(foundation::load(&cfg.sam2, &device.device)?),
            None => None,
        };
        match &cfg.start {
            Some(start) => log::info!("SAM-2 starts from {start}"),
            None if args.from_scratch => log::info!("SAM-2 starts from a fresh model"),
            None => log::info!(
                "SAM-2 starts from a fresh model: the built-in foundation weights ({}) are \
                 micro-wide and do not fit config {} (give --init for official weights)",
                foundation::NAME,
                cfg.sam2.name
            ),
        }
        SssTrainer::new(cfg, data, &device.device, init)?
    };
    let cfg = trainer.cfg.clone();
    log::info!(
        "{} labeled and {} unlabeled volumes, {} steps on {}, image {}, DFE {}, PCSW {}, EMA {}, \
         supervised only {}",
        trainer.data().labeled.len(),
        trainer.data().unlabeled.len(),
        cfg.steps,
        device.kind.name(),
        cfg.sam2.image_size,
        cfg.dfe,
        cfg.pcsw,
        cfg.ema,
        cfg.supervised_only
    );
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
    let mut manifest = run_manifest(
        &cfg,
        args.dataset,
        format!("SSS run {}", run_name(&args.out)),
    );
    manifest.classes = classes_with_training_volumes(args.dataset, &args.data, args.labeled)?;
    let bytes = weights::encode_module(trainer.final_net(), DType::F32)?;
    let path = weights::write_export(&args.out.join("model"), manifest, &bytes, DType::F32)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// How [`run_steps`] logs and checkpoints.
pub(super) struct LoopOptions {
    pub checkpoint_every: usize,
    pub log_every: usize,
    /// Stop after this many steps of this invocation, without a final checkpoint.
    pub stop_after: Option<usize>,
}

/// Runs the trainer to its last step: every report to `OUT/train.log`, a progress bar on a
/// terminal (log lines otherwise), checkpoints in `OUT/checkpoint/`. False when
/// `stop_after` ended it early.
pub(super) fn run_steps(
    trainer: &mut SssTrainer,
    out: &Path,
    opts: &LoopOptions,
) -> anyhow::Result<bool> {
    let steps = trainer.cfg.steps;
    let log_path = out.join("train.log");
    let mut log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let interactive = std::io::stdout().is_terminal();
    let bar = interactive.then(|| {
        let bar = ProgressBar::new(steps as u64).with_style(
            ProgressStyle::with_template("{bar:25} {pos}/{len} · {per_sec} · ETA {eta} · {msg}")
                .expect("a valid template"),
        );
        bar.set_position(trainer.step as u64);
        bar
    });
    let started = Instant::now();
    let first = trainer.step;
    // The newest checkpoint on disk: the one this run resumed from, if any.
    let mut last_saved = (first > 0).then_some(first);
    let mut run_steps = 0usize;
    while trainer.step < steps {
        if opts.stop_after.is_some_and(|n| run_steps >= n) {
            log::info!("stopping after {run_steps} steps (--stop-after)");
            return Ok(false);
        }
        // A failed step (a non-finite loss is caught before the weights change) stops the run
        // with the newest checkpoint untouched.
        let step = trainer.step;
        let report = trainer
            .train_step()
            .map_err(|e| anyhow::anyhow!("step {step} failed: {e}. {}", kept(last_saved)))?;
        run_steps += 1;
        writeln!(
            log_file,
            "{}",
            serde_json::to_string(&report).expect("reports serialise")
        )?;
        let done = trainer.step - first;
        let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
        match &bar {
            Some(bar) => {
                bar.set_message(format_report(&report));
                bar.inc(1);
            }
            None if report.step.is_multiple_of(opts.log_every.max(1)) || trainer.step == steps => {
                let eta = (steps - trainer.step) as f64 / rate.max(1e-9);
                println!(
                    "step {}/{} {} · {:.3} it/s · ETA {:.0} s",
                    trainer.step,
                    steps,
                    format_report(&report),
                    rate,
                    eta
                );
            }
            None => {}
        }
        if trainer.step.is_multiple_of(opts.checkpoint_every.max(1)) || trainer.step == steps {
            trainer
                .save_checkpoint(out)
                .map_err(|e| checkpoint_failed(e, trainer.step, last_saved))?;
            last_saved = Some(trainer.step);
        }
    }
    if let Some(bar) = &bar {
        bar.finish();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ran = trainer.step - first;
    println!(
        "trained {ran} steps in {elapsed:.1} s ({:.2} s/step)",
        elapsed / ran.max(1) as f64
    );
    Ok(true)
}

/// Refuses `--resume` with settings other than the run's own (a resumed run must end where
/// the uninterrupted one would), naming each difference.
fn refuse_changed_settings(args: &TrainArgs) -> anyhow::Result<()> {
    let saved = SssTrainer::read_state(&args.out)?.config;
    let given = config_of(args)?;
    let mut differences = Vec::new();
    json_differences(
        "",
        &serde_json::to_value(&saved)?,
        &serde_json::to_value(&given)?,
        &mut differences,
    );
    if differences.is_empty() {
        return Ok(());
    }
    let shown = differences.len().min(8);
    bail!(
        "--resume continues {} with the settings it was started with, and {} of them differ \
         here (the run's → this command's): {}{}. Give the run's settings again (they are in \
         its checkpoint/state.json), or start a new run with another --out",
        args.out.display(),
        differences.len(),
        differences[..shown].join("; "),
        if differences.len() > shown {
            "; …"
        } else {
            ""
        }
    )
}

/// The leaves where two JSON values differ, as `path: a → b`.
fn json_differences(
    path: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let null = Value::Null;
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                json_differences(
                    &sub,
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        _ if a != b => out.push(format!("{path}: {a} → {b}")),
        _ => {}
    }
}

/// What is kept on disk when a run stops: the last checkpoint, in words.
fn kept(last_saved: Option<usize>) -> String {
    match last_saved {
        Some(step) => format!("The checkpoint of step {step} is kept (--resume continues from it)"),
        None => "No checkpoint had been written yet".into(),
    }
}

/// A checkpoint that could not be written, in words: what happened, that the previous
/// checkpoint is intact, and what to do (free space, for a full disk).
fn checkpoint_failed(e: crate::SssError, step: usize, last_saved: Option<usize>) -> anyhow::Error {
    let full = matches!(&e, crate::SssError::Io { source, .. }
        if source.kind() == std::io::ErrorKind::StorageFull);
    anyhow::anyhow!(
        "the checkpoint of step {step} could not be written ({e}). {}{}",
        kept(last_saved),
        if full {
            "; the disk is full: free some space, then run the same command with --resume"
        } else {
            ""
        }
    )
}

fn run_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Refuses arguments no run can use.
fn check(args: &TrainArgs) -> anyhow::Result<()> {
    if args.labeled == 0 {
        bail!("--labeled must be at least 1");
    }
    Ok(())
}
