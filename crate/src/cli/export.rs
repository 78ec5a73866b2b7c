//! `sss export RUN_DIR -o STEM`: the run's network as page weights — `STEM.bpk` (f16 on disk,
//! f32 once loaded) and `STEM.json` (the manifest) — checked by loading them back through the
//! loader the page uses (`weights::load_sss`). Inference settings that are not weights (PCSW's
//! slice rule, the tracked memories, the label fusion) can be set on the way, for runs made
//! before they existed; the manifest's provenance records the command.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::{DType, Device};
use clap::Args;

use super::sss_weights::read_weights;
use crate::weights::{self, decode_into, load_sss, write_export};

/// Arguments of `sss export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Run directory (or a manifest .json of SSS weights).
    pub run: PathBuf,
    /// Output stem: writes STEM.bpk and STEM.json.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Keep f32 on disk.
    #[arg(long)]
    pub f32: bool,
    /// Set PCSW's prompt slice rule in the manifest (default: the run's own).
    #[arg(long, value_enum)]
    pub pcsw_slice: Option<super::eval::SliceArg>,
    /// Set PCSW's minimum object size in voxels (`PcswConfig::min_object_voxels`; default:
    /// the run's own).
    #[arg(long)]
    pub pcsw_min_object: Option<usize>,
    /// Set how many tracked slices' memories tracking attends to (`Sam2Config::
    /// tracked_memories`; `-1`: all; default: the run's own).
    #[arg(long, allow_negative_numbers = true, value_parser = super::eval::parse_tracked_memories)]
    pub tracked_memories: Option<super::eval::TrackedMemories>,
    /// Set the label fusion: SAM-2's weight in [0, 1] against the coarse head (`LabelFusion`;
    /// 1: SAM-2's masks alone; default: the run's own).
    #[arg(long)]
    pub sam2_weight: Option<f32>,
    /// Set SAM-2's mask threshold in the manifest (`mask_threshold`: the logit an object's
    /// mask must exceed; default: the run's own).
    #[arg(long, allow_negative_numbers = true)]
    pub mask_threshold: Option<f32>,
    /// Set the clean-up after propagation (`PostProcess`; default: the run's own).
    #[arg(long, value_enum)]
    pub post_process: Option<super::eval::PostProcessArg>,
    /// Record each class's volume range over the run's labeled training scans in this data
    /// directory, for the fit check (`predictor::fit`; runs made before `sss train` recorded
    /// it). Needs `--dataset` and `--labeled` as the run was trained.
    #[arg(long, requires_all = ["dataset", "labeled"])]
    pub volumes_from: Option<PathBuf>,
    /// The dataset layout of `--volumes-from`.
    #[arg(long, value_enum, requires = "volumes_from")]
    pub dataset: Option<super::sss_data::DatasetKind>,
    /// The run's labeled subjects (`sss train --labeled`), for `--volumes-from`.
    #[arg(long, requires = "volumes_from")]
    pub labeled: Option<usize>,
}

/// Runs the command.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let device = Device::flex();
    let (manifest, bytes) = read_weights(&args.run)?;
    let net = load_sss(&manifest, bytes, &device)?;
    let dtype = if args.f32 { DType::F32 } else { DType::F16 };
    let encoded = weights::encode_module(net.clone(), dtype)?;
    let mut manifest = manifest;
    if let weights::ModelSpec::Sss {
        sam2,
        pcsw,
        label_fusion,
        post_process,
        mask_threshold,
        ..
    } = &mut manifest.model
    {
        if let Some(rule) = args.pcsw_slice {
            pcsw.slice = rule.rule();
        }
        if let Some(min) = args.pcsw_min_object {
            pcsw.min_object_voxels = min;
        }
        if let Some(super::eval::TrackedMemories(n)) = args.tracked_memories {
            sam2.tracked_memories = n;
        }
        if let Some(w) = args.sam2_weight {
            anyhow::ensure!(
                (0.0..=1.0).contains(&w),
                "--sam2-weight {w}: SAM-2's weight must be in [0, 1]"
            );
            *label_fusion = weights::LabelFusion::from_sam2_weight(w);
        }
        if let Some(post) = args.post_process {
            *post_process = post.into();
        }
        if let Some(t) = args.mask_threshold {
            anyhow::ensure!(t.is_finite(), "--mask-threshold {t}: not a finite number");
            *mask_threshold = t;
        }
    } else if args.pcsw_slice.is_some()
        || args.pcsw_min_object.is_some()
        || args.tracked_memories.is_some()
        || args.sam2_weight.is_some()
        || args.post_process.is_some()
        || args.mask_threshold.is_some()
    {
        anyhow::bail!(
            "--pcsw-slice, --pcsw-min-object, --tracked-memories, --sam2-weight, \
             --post-process and --mask-threshold apply to SSS weights only"
        );
    }
    if let (Some(dir), Some(dataset), Some(labeled)) =
        (&args.volumes_from, args.dataset, args.labeled)
    {
        let classes = super::sss_data::classes_with_training_volumes(dataset, dir, labeled)?;
        anyhow::ensure!(
            classes.len() == manifest.classes.len(),
            "--dataset {dataset:?} has {} classes but the weights have {}",
            classes.len(),
            manifest.classes.len()
        );
        for (mine, theirs) in manifest.classes.iter_mut().zip(classes) {
            mine.volume_ml = theirs.volume_ml;
        }
    }
    manifest.provenance = format!(
        "{} (exported from: {})",
        super::command_line(),
        manifest.provenance
    );
    let path = write_export(&args.out, manifest, &encoded, dtype)?;
    let (reread, bytes) = weights::read_export(&path)?;
    let reloaded = load_sss(&reread, bytes, &device).context("reloading the export")?;
    // The reloaded network equals the f16-rounded original.
    let rounded = decode_into(net, encoded)?;
    let a = weights::encode_module(rounded, DType::F32)?;
    let b = weights::encode_module(reloaded, DType::F32)?;
    anyhow::ensure!(a == b, "the export does not load back to the same weights");
    println!(
        "wrote {} ({} on disk, {:.1} MB)",
        path.display(),
        reread.weights_dtype,
        std::fs::metadata(args.out.with_extension("bpk"))?.len() as f64 / 1e6
    );
    Ok(())
}
