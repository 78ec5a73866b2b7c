//! `sss eval`: segments the test (or validation) volumes of a dataset with SSS weights and
//! reports per volume, per class Dice, Jaccard, HD95 and ASD (`metrics`, medpy's
//! definitions; voxels, or mm with `--spacing`), then the means over volumes and classes
//! (SSL4MIS/ABD protocol). Full pipeline (coarse head → PCSW → SAM-2 propagation), whose
//! report also holds the coarse head's metrics on the same volumes, or `--coarse-only`;
//! `--gt-prompts` prompts SAM-2 from the ground truth (a diagnostic). A table on screen;
//! `--json` and `--csv` write everything.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::DeviceArg;
use super::sss_data::{DatasetKind, read_case};
use super::sss_weights::load_segmenter;
use crate::Volume;
use crate::data::dataset::Case;
use crate::metrics::{ClassMetrics, MetricsConfig, MetricsSummary, aggregate, evaluate_volume};
use crate::predictor::fit::{FitReport, check_fit};
use crate::predictor::label_fusion::largest_components;
use crate::predictor::pipeline::{LabelFusion, PostProcess, SegmentMode, SssSegmenter};
use crate::prompt::pcsw::{
    ClassPrompt, PointRule, SliceRule, pcsw_prompts_from_labels, slice_prompts_from_labels,
};
use crate::weights::Manifest;

/// Which part of the split to evaluate.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitPart {
    Test,
    Val,
    /// The labeled training volumes of `--labeled N` (the fitting check: how well a run
    /// segments the volumes it was trained on).
    Labeled,
}

/// A PCSW point rule.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointArg {
    Interior,
    Released,
}

/// A PCSW slice rule (`SliceRule`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SliceArg {
    /// Released: the largest area in the first passing window.
    MaxArea,
    /// The area-weighted median slice of the largest 3-D component.
    ComponentMedian,
}

impl SliceArg {
    pub fn rule(self) -> SliceRule {
        match self {
            SliceArg::MaxArea => SliceRule::MaxArea,
            SliceArg::ComponentMedian => SliceRule::ComponentMedian,
        }
    }
}

/// A clean-up of the full pipeline's label map (`PostProcess`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostProcessArg {
    None,
    LargestComponent,
    ComponentVote,
}

impl From<PostProcessArg> for PostProcess {
    fn from(arg: PostProcessArg) -> Self {
        match arg {
            PostProcessArg::None => PostProcess::None,
            PostProcessArg::LargestComponent => PostProcess::LargestComponent,
            PostProcessArg::ComponentVote => PostProcess::ComponentVote,
        }
    }
}

/// `--tracked-memories N` of `sss eval` and `sss export`: how many tracked slices' memories
/// tracking attends to (`Sam2Config::tracked_memories`); `-1` or `all`: every one (official).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackedMemories(pub Option<usize>);

pub fn parse_tracked_memories(text: &str) -> Result<TrackedMemories, String> {
    match text.trim() {
        "-1" | "all" => Ok(TrackedMemories(None)),
        n => n
            .parse::<usize>()
            .map(|n| TrackedMemories(Some(n)))
            .map_err(|_| format!("{n:?}: a count of tracked slices, or -1 / all for every one")),
    }
}

/// Arguments of `sss eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run directory or an export's manifest (.json).
    #[arg(long)]
    pub weights: PathBuf,
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, value_enum)]
    pub dataset: DatasetKind,
    #[arg(long, value_enum, default_value_t = SplitPart::Test)]
    pub split: SplitPart,
    /// With `--split labeled`: the `--labeled` of the training run.
    #[arg(long, default_value_t = 0)]
    pub labeled: usize,
    /// Distances in mm from the voxel spacing (default: voxels, as the ACDC protocol).
    #[arg(long)]
    pub spacing: bool,
    /// The coarse head alone (no PCSW, no SAM-2).
    #[arg(long)]
    pub coarse_only: bool,
    /// Diagnostic: PCSW prompts from the ground-truth labels instead of the coarse head
    /// (how good SAM-2 propagation is when the prompts are right).
    #[arg(long, conflicts_with = "coarse_only")]
    pub gt_prompts: bool,
    /// Diagnostic: SAM-2 alone on every slice, each prompted with its ground-truth box and
    /// point per class, no memory or propagation (how good the mask decoder is by itself).
    #[arg(long, conflicts_with_all = ["coarse_only", "gt_prompts"])]
    pub gt_prompts_every_slice: bool,
    /// Diagnostic: SAM-2 alone on every slice, each prompted with the box and point of the
    /// coarse head's largest 3-D component per class on that slice, no memory.
    #[arg(long, conflicts_with_all = ["coarse_only", "gt_prompts", "gt_prompts_every_slice"])]
    pub coarse_prompts_every_slice: bool,
    /// The prompt point rule (default: the weights' own): `interior`, or `released` (the box
    /// centre, which the legacy training recipe prompts with).
    #[arg(long, value_enum)]
    pub pcsw_point: Option<PointArg>,
    /// The prompt slice rule (default: the weights' own): `max-area` (released) or
    /// `component-median`.
    #[arg(long, value_enum)]
    pub pcsw_slice: Option<SliceArg>,
    /// PCSW's minimum object size (default: the weights' own): a class whose largest 3-D
    /// coarse component has fewer voxels (the scan's own) is taken as absent.
    #[arg(long)]
    pub pcsw_min_object: Option<usize>,
    /// Track with the memories of at most the last N tracked slices (default: the weights'
    /// own, `Sam2Config::tracked_memories`; `-1`: all, as official SAM-2).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_tracked_memories)]
    pub tracked_memories: Option<TrackedMemories>,
    /// Label fusion: SAM-2's weight w in [0, 1] against the coarse head's probabilities
    /// (`LabelFusion`; 1: SAM-2's masks alone, as the paper; default: the weights' own).
    #[arg(long)]
    pub sam2_weight: Option<f32>,
    /// SAM-2's mask threshold: the logit an object's mask must exceed in the label map (with
    /// fusion, the background's logit; default: the weights' own, 0 as official SAM-2).
    #[arg(long, allow_negative_numbers = true)]
    pub mask_threshold: Option<f32>,
    /// Clean-up of the full pipeline's label map after propagation (default: the weights'
    /// own): `none`, `largest-component` (each class cut to its largest 3-D component), or
    /// `component-vote` (each 3-D component of the foreground given its majority class).
    #[arg(long, value_enum)]
    pub post_process: Option<PostProcessArg>,
    /// Leave a class absent from both masks of a volume out of its means (BHSD).
    #[arg(long)]
    pub skip_both_empty: bool,
    /// Evaluate at most N volumes.
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Flex)]
    pub device: DeviceArg,
    /// Write per-volume and summary metrics as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write per-volume, per-class metrics as CSV.
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

/// One volume's results.
#[derive(Serialize)]
pub struct VolumeResult {
    pub id: String,
    pub classes: Vec<ClassMetrics>,
    /// The coarse head alone on the same volume.
    pub coarse_classes: Vec<ClassMetrics>,
    /// The coarse head alone, each class cut to its largest 3-D component (the usual
    /// post-processing; a baseline for what SAM-2 adds beyond removing stray blobs).
    pub coarse_component_classes: Vec<ClassMetrics>,
    /// Every foreground class merged into one (class 1): where the segmentation found
    /// something against where anything is, whatever its class (a detector's view; for
    /// brain CT, bleed against no bleed).
    pub foreground: Vec<ClassMetrics>,
    /// The fit check on the segmentation (`predictor::fit`): what `sss segment` and the page
    /// would say about this scan.
    pub fit: FitReport,
    pub prompts: Vec<ClassPrompt>,
    pub seconds: f64,
}

/// The JSON report.
#[derive(Serialize)]
pub struct EvalReport {
    pub weights: String,
    pub mode: SegmentMode,
    /// Prompts from the ground truth (`--gt-prompts`) rather than the coarse head.
    pub gt_prompts: bool,
    /// Every slice prompted from the ground truth, SAM-2 without memory
    /// (`--gt-prompts-every-slice`).
    pub gt_prompts_every_slice: bool,
    pub split: SplitPart,
    pub units: &'static str,
    pub class_names: Vec<String>,
    pub volumes: Vec<VolumeResult>,
    pub summary: MetricsSummary,
    /// The coarse head alone (equal to `summary` with `--coarse-only`).
    pub coarse_summary: MetricsSummary,
    /// The coarse head alone, each class cut to its largest 3-D component.
    pub coarse_component_summary: MetricsSummary,
    /// `summary`'s segmentation with every foreground class merged ([`VolumeResult::foreground`]).
    pub foreground_summary: MetricsSummary,
    /// Volumes the fit check says do not fit the weights.
    pub not_fitting: usize,
    /// Volumes with at least one class named as drawn far outside its training range.
    pub with_classes_named: usize,
}

/// Metrics of `pred` against `truth` with every foreground class merged into class 1.
fn foreground_metrics(
    pred: &Volume<u8>,
    truth: &Volume<u8>,
    spacing: Option<[f32; 3]>,
) -> anyhow::Result<Vec<ClassMetrics>> {
    let merged = |v: &Volume<u8>| v.with_data(v.data.iter().map(|&l| u8::from(l > 0)).collect());
    Ok(evaluate_volume(
        &merged(pred)?,
        &merged(truth)?,
        &[1],
        spacing,
    )?)
}

/// Runs the command.
pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    // Step 1: the weights, with the command line's overrides of their recorded settings.
    let device = args.device.open()?;
    let (manifest, mut segmenter) = load_segmenter(&args.weights, &device.device)?;
    apply_overrides(&mut segmenter, args)?;
    // Step 2: the volumes of the chosen part of the split.
    let cases = cases_to_evaluate(args)?;
    let mode = if args.coarse_only {
        SegmentMode::CoarseOnly
    } else {
        SegmentMode::Full
    };
    let classes: Vec<u8> = manifest.classes.iter().skip(1).map(|c| c.label).collect();
    // Step 3: segment and score each volume.
    let mut volumes = Vec::new();
    for case in &cases {
        let result = evaluate_case(&mut segmenter, &manifest, case, &classes, mode, args)?;
        let dice: Vec<String> = result
            .classes
            .iter()
            .map(|m| format!("{:.3}", m.dice))
            .collect();
        println!(
            "{:<24} Dice {} ({:.1} s)",
            case.id,
            dice.join(" "),
            result.seconds
        );
        volumes.push(result);
    }
    // Step 4: means over volumes, on screen, then the files asked for.
    let config = MetricsConfig {
        skip_both_empty: args.skip_both_empty,
        ..MetricsConfig::default()
    };
    let summarise = |part: fn(&VolumeResult) -> &Vec<ClassMetrics>| {
        let per_volume: Vec<Vec<ClassMetrics>> = volumes.iter().map(|v| part(v).clone()).collect();
        aggregate(&per_volume, &config)
    };
    let summary = summarise(|v| &v.classes);
    let coarse_summary = summarise(|v| &v.coarse_classes);
    let coarse_component_summary = summarise(|v| &v.coarse_component_classes);
    let foreground_summary = summarise(|v| &v.foreground);
    let units = if args.spacing { "mm" } else { "voxels" };
    let names: Vec<String> = manifest.classes.iter().map(|c| c.name.clone()).collect();
    let not_fitting = volumes.iter().filter(|v| !v.fit.fits).count();
    let with_classes_named = volumes.iter().filter(|v| !v.fit.message.is_empty()).count();
    let report = EvalReport {
        weights: args.weights.display().to_string(),
        mode,
        gt_prompts: args.gt_prompts,
        gt_prompts_every_slice: args.gt_prompts_every_slice,
        split: args.split,
        units,
        class_names: names,
        volumes,
        summary,
        coarse_summary,
        coarse_component_summary,
        foreground_summary,
        not_fitting,
        with_classes_named,
    };
    print_summary(&report);
    if let Some(path) = &args.csv {
        std::fs::write(path, report_csv(&report))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The command line's overrides of the settings the weights recorded (PCSW's rules, tracked
/// memories, post-processing, label fusion).
fn apply_overrides(segmenter: &mut SssSegmenter, args: &EvalArgs) -> anyhow::Result<()> {
    let mut pcsw = *segmenter.pcsw_config();
    if let Some(point) = args.pcsw_point {
        pcsw.point = match point {
            PointArg::Interior => PointRule::Interior,
            PointArg::Released => PointRule::Released,
        };
    }
    if let Some(slice) = args.pcsw_slice {
        pcsw.slice = slice.rule();
    }
    if let Some(min) = args.pcsw_min_object {
        pcsw.min_object_voxels = min;
    }
    segmenter.set_pcsw_config(pcsw);
    if let Some(TrackedMemories(n)) = args.tracked_memories {
        segmenter.set_tracked_memories(n);
    }
    if let Some(post) = args.post_process {
        segmenter.set_post_process(post.into());
    }
    if let Some(w) = args.sam2_weight {
        segmenter.set_fusion(LabelFusion::from_sam2_weight(w))?;
    }
    if let Some(t) = args.mask_threshold {
        segmenter.set_mask_threshold(t)?;
    }
    Ok(())
}

/// The volumes of `--split` (at most `--limit`), refusing an empty list.
fn cases_to_evaluate(args: &EvalArgs) -> anyhow::Result<Vec<Case>> {
    anyhow::ensure!(
        args.split != SplitPart::Labeled || args.labeled > 0,
        "--split labeled needs --labeled N (the training run's)"
    );
    let split = args.dataset.split(&args.data, args.labeled)?;
    let cases = match args.split {
        SplitPart::Test => split.test,
        SplitPart::Val => split.val,
        SplitPart::Labeled => split.labeled,
    };
    let cases: Vec<Case> = cases
        .into_iter()
        .take(args.limit.unwrap_or(usize::MAX))
        .collect();
    anyhow::ensure!(!cases.is_empty(), "the {:?} split is empty", args.split);
    Ok(cases)
}

/// Segments one volume as `mode` and the prompt flags say, and scores the segmentation, the
/// coarse head alone (also cut to its largest components) and every class merged against the
/// volume's labels.
fn evaluate_case(
    segmenter: &mut SssSegmenter,
    manifest: &Manifest,
    case: &Case,
    classes: &[u8],
    mode: SegmentMode,
    args: &EvalArgs,
) -> anyhow::Result<VolumeResult> {
    let (image, labels) = read_case(case)?;
    let labels = labels.with_context(|| format!("{} has no labels", case.id))?;
    let start = Instant::now();
    // Step 1: the coarse head, and the prompts (PCSW's from it, or a diagnostic's).
    let prepared = segmenter.prepare(&image)?;
    let coarse = segmenter.coarse(&prepared)?;
    let every_slice = args.gt_prompts_every_slice || args.coarse_prompts_every_slice;
    let prompts = if args.coarse_prompts_every_slice {
        let kept = largest_components(&coarse.labels, image.dims, classes)?;
        slice_prompts_from_labels(&image.with_data(kept)?, classes, segmenter.pcsw_config())
    } else if args.gt_prompts_every_slice {
        slice_prompts_from_labels(&labels, classes, segmenter.pcsw_config())
    } else if args.gt_prompts {
        pcsw_prompts_from_labels(&labels, classes, segmenter.pcsw_config())?
    } else {
        segmenter.auto_prompts(&coarse, image.dims)?
    };
    // Step 2: the coarse head's own scores.
    let coarse_labels = image.with_data(coarse.labels.clone())?;
    let spacing = args.spacing.then_some(image.spacing);
    let coarse_metrics = evaluate_volume(&coarse_labels, &labels, classes, spacing)?;
    let coarse_component =
        image.with_data(largest_components(&coarse.labels, image.dims, classes)?)?;
    let coarse_component_metrics = evaluate_volume(&coarse_component, &labels, classes, spacing)?;
    // Step 3: the segmentation scored (the coarse head's again with --coarse-only).
    let (metrics, foreground, fit) = match mode {
        SegmentMode::CoarseOnly => (
            coarse_metrics.clone(),
            foreground_metrics(&coarse_labels, &labels, spacing)?,
            check_fit(&manifest.classes, &coarse_labels.data, image.spacing),
        ),
        SegmentMode::Full => {
            // `propagate` post-processes; the every-slice diagnostics do it here.
            let full = if every_slice {
                let full = segmenter.prompted_slices(&prepared, &prompts)?;
                segmenter.post_processed(full, image.dims)?
            } else {
                segmenter.propagate(&prepared, &prompts, Some(&coarse))?
            };
            let full = image.with_data(full)?;
            (
                evaluate_volume(&full, &labels, classes, spacing)?,
                foreground_metrics(&full, &labels, spacing)?,
                check_fit(&manifest.classes, &full.data, image.spacing),
            )
        }
    };
    Ok(VolumeResult {
        id: case.id.clone(),
        classes: metrics,
        coarse_classes: coarse_metrics,
        coarse_component_classes: coarse_component_metrics,
        foreground,
        fit,
        prompts,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The means over volumes as a table on screen.
fn print_summary(report: &EvalReport) {
    let name = |class: u8| {
        report
            .class_names
            .get(class as usize)
            .map_or("?", String::as_str)
    };
    let row = |label: &str, s: &MetricsSummary| {
        println!(
            "{label:<18} {:>7.4} {:>8.4} {:>8.2} {:>8.2}",
            s.dice, s.jaccard, s.hd95, s.asd
        );
    };
    println!(
        "\n{} volumes ({:?}, {:?}), HD95/ASD in {}",
        report.volumes.len(),
        report.split,
        report.mode,
        report.units
    );
    println!(
        "{:<18} {:>7} {:>8} {:>8} {:>8}",
        "class", "Dice", "Jaccard", "HD95", "ASD"
    );
    for c in &report.summary.per_class {
        println!(
            "{:<18} {:>7.4} {:>8.4} {:>8.2} {:>8.2}",
            name(c.class),
            c.dice,
            c.jaccard,
            c.hd95,
            c.asd
        );
    }
    row("mean", &report.summary);
    if report.mode == SegmentMode::Full {
        row("mean, coarse head", &report.coarse_summary);
    }
    row("any foreground", &report.foreground_summary);
    row("mean, coarse, LCC", &report.coarse_component_summary);
    println!(
        "fit check: {} of {} volumes do not fit the weights; {} have a class drawn far outside \
         its training range",
        report.not_fitting,
        report.volumes.len(),
        report.with_classes_named
    );
}

/// Per volume, per class metrics as CSV (`volume,class,name,dice,jaccard,hd95,asd`).
fn report_csv(report: &EvalReport) -> String {
    let mut csv = String::from("volume,class,name,dice,jaccard,hd95,asd\n");
    for v in &report.volumes {
        for m in &v.classes {
            csv.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                v.id,
                m.class,
                report
                    .class_names
                    .get(m.class as usize)
                    .map_or("?", String::as_str),
                m.dice,
                m.jaccard,
                m.hd95,
                m.asd
            ));
        }
    }
    csv
}
