//! `sss train-slice-net`: trains the SliceNet on seeded cardiac phantoms, measures it on
//! held-out phantoms (Dice, HD95, ASD per class) and exports page weights (f16 burnpack +
//! manifest). The page's default weights come from this command (see README).

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::{DType, Device};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::data::phantom::cardiac::{CARDIAC_CLASS_NAMES, cardiac_case};
use crate::metrics::{MetricsConfig, aggregate, evaluate_volume};
use crate::model::slice_net::SliceNetConfig;
use crate::predictor::slice::SliceSegmenter;
use crate::train::slice_net::{LabeledVolume, SliceTrainOptions, train_slice_net};
use crate::weights::{
    ClassInfo, IntensityRule, MANIFEST_VERSION, Manifest, ModelSpec, encode_module, write_export,
};
use crate::{Result, Volume};

/// Overlay colours of the cardiac classes (background, RV, Myo, LV).
const CARDIAC_COLORS: [[u8; 3]; 4] = [[0, 0, 0], [66, 135, 245], [245, 190, 60], [235, 64, 52]];

/// Arguments of `sss train-slice-net`.
#[derive(Args, Debug)]
pub struct TrainSliceNetArgs {
    /// Phantom cases to train on (cases 0..N).
    #[arg(long, default_value_t = 16)]
    pub cases: usize,
    /// Held-out phantom cases to measure on (cases N..N+E).
    #[arg(long, default_value_t = 4)]
    pub eval_cases: usize,
    /// Phantom and training seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Optimisation steps.
    #[arg(long, default_value_t = 600)]
    pub steps: usize,
    /// Slices per step.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Channels of the network's first level.
    #[arg(long, default_value_t = 16)]
    pub width: usize,
    /// Peak learning rate (AdamW, poly decay).
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Store f32 weights instead of f16.
    #[arg(long)]
    pub f32: bool,
    /// Output stem: writes STEM.bpk and STEM.json.
    #[arg(short, long)]
    pub out: PathBuf,
}

/// Runs the command.
pub fn run(args: &TrainSliceNetArgs) -> anyhow::Result<()> {
    let cases = |range: std::ops::Range<usize>| -> Vec<LabeledVolume> {
        range
            .map(|c| {
                let (image, label) = cardiac_case(c, args.seed);
                LabeledVolume { image, label }
            })
            .collect()
    };
    let train = cases(0..args.cases);
    let held_out = cases(args.cases..args.cases + args.eval_cases);
    let config = SliceNetConfig {
        num_classes: CARDIAC_CLASS_NAMES.len(),
        width: args.width,
        ..Default::default()
    };
    let options = SliceTrainOptions {
        steps: args.steps,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        seed: args.seed,
        percentiles: (0.5, 99.5),
    };
    let bar = ProgressBar::new(args.steps as u64).with_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps · {per_sec} · ETA {eta} · loss {msg}",
        )
        .expect("a valid template"),
    );
    let mut smoothed = None::<f32>;
    let net = train_slice_net(&config, &train, &options, |_, loss| {
        let s = smoothed.map_or(loss, |s| 0.95 * s + 0.05 * loss);
        smoothed = Some(s);
        bar.set_message(format!("{s:.4}"));
        bar.inc(1);
    })?;
    bar.finish();

    let [h, w] = [train[0].image.dims[1], train[0].image.dims[0]];
    let manifest = Manifest {
        format_version: MANIFEST_VERSION,
        name: "SliceNet, cardiac phantom".into(),
        model: ModelSpec::SliceNet { config },
        classes: CARDIAC_CLASS_NAMES
            .iter()
            .zip(CARDIAC_COLORS)
            .enumerate()
            .map(|(label, (name, color))| ClassInfo {
                label: label as u8,
                name: (*name).into(),
                color,
                volume_ml: None,
            })
            .collect(),
        modality: "mri".into(),
        intensity: IntensityRule::Percentile {
            low: options.percentiles.0,
            high: options.percentiles.1,
        },
        input_size: [h, w],
        weights_file: String::new(),
        weights_sha256: String::new(),
        weights_dtype: String::new(),
        provenance: super::command_line(),
    };
    let dtype = if args.f32 { DType::F32 } else { DType::F16 };
    let bytes = encode_module(net, dtype)?;
    let manifest_path = write_export(&args.out, manifest, &bytes, dtype)?;
    println!("wrote {}", manifest_path.display());

    // Measure what was written, through the loader the page uses.
    let (manifest, bytes) = crate::weights::read_export(&manifest_path)?;
    let segmenter = SliceSegmenter::load(manifest, bytes, &Device::flex())
        .context("reloading the exported weights")?;
    let per_volume = held_out
        .iter()
        .map(|v| {
            let pred = segment_volume(&segmenter, &v.image)?;
            evaluate_volume(&pred, &v.label, &[1, 2, 3], None)
        })
        .collect::<Result<Vec<_>>>()?;
    let summary = aggregate(&per_volume, &MetricsConfig::default());
    println!(
        "held-out phantoms (cases {}..{}, seed {}): mean Dice {:.4}, HD95 {:.2} vox, ASD {:.2} vox",
        args.cases,
        args.cases + args.eval_cases,
        args.seed,
        summary.dice,
        summary.hd95,
        summary.asd
    );
    for c in &summary.per_class {
        println!(
            "  {:<4} Dice {:.4}  HD95 {:.2}  ASD {:.2}",
            CARDIAC_CLASS_NAMES[c.class as usize], c.dice, c.hd95, c.asd
        );
    }
    Ok(())
}

/// Segments every slice of a volume and stacks the label maps.
pub fn segment_volume(segmenter: &SliceSegmenter, image: &Volume<f32>) -> Result<Volume<u8>> {
    let range = segmenter.intensity_range(&image.data);
    let [nx, ny, nz] = image.dims;
    let mut labels = Vec::with_capacity(nx * ny * nz);
    for z in 0..nz {
        labels.extend(segmenter.segment(image.slice(z), nx, ny, range)?);
    }
    image.with_data(labels)
}
