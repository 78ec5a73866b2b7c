//! `sss segment scan.nii.gz|DICOM_DIR|image.png --weights W -o seg.nii.gz`: coarse head → PCSW
//! prompts → SAM-2 propagation over the slices → a label map in the input's own header, so in its
//! exact geometry (`data::label_export`; a DICOM series' geometry, and for a PNG or JPEG image
//! (`data::raster`, one slice) 1 mm pixels with the affine diag(−1, −1, 1); slices are
//! resized to the model's image size and the masks back). The prompts are written beside it
//! as JSON (`seg.prompts.json` unless `--prompts` says otherwise); `--use-prompts` propagates
//! a corrected prompts file instead of PCSW's.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

use super::DeviceArg;
use super::sss_weights::load_segmenter;
use crate::data::dicom_series::read_dicom_dir;
use crate::data::label_export::{gzip, header_for_volume, header_of, labels_like_input};
use crate::data::nifti_io::read_nifti;
use crate::data::raster::{is_raster, read_raster_bytes};
use crate::predictor::fit::{FitReport, check_fit};
use crate::predictor::pipeline::SegmentMode;
use crate::prompt::pcsw::ClassPrompt;

/// Arguments of `sss segment`.
#[derive(Args, Debug)]
pub struct SegmentArgs {
    /// The scan: a NIfTI file, a directory holding a DICOM series, or a PNG or JPEG image (one
    /// slice).
    pub scan: PathBuf,
    /// A run directory or an export's manifest (.json).
    #[arg(long)]
    pub weights: PathBuf,
    /// The label map to write (NIfTI, u8).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Where to write the prompts (default: beside the label map, `.prompts.json`).
    #[arg(long)]
    pub prompts: Option<PathBuf>,
    /// The coarse head alone.
    #[arg(long)]
    pub coarse_only: bool,
    /// Propagate these prompts instead of PCSW's: a prompts file as this command writes it
    /// (edit a box, a point or a slice, then run again).
    #[arg(long, conflicts_with = "coarse_only")]
    pub use_prompts: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Flex)]
    pub device: DeviceArg,
}

#[derive(Serialize, Deserialize)]
struct PromptFile {
    scan: String,
    /// Prompts in slice pixel coordinates (x along a row, y down the rows), slice = z index.
    prompts: Vec<ClassPrompt>,
    class_names: Vec<String>,
    /// What the drawn class volumes say about the scan against the weights' training scans
    /// (`predictor::fit`; absent in files written before the check, ignored when read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fit: Option<FitReport>,
}

/// Reads a prompts file written by this command (possibly edited).
fn read_prompts(path: &std::path::Path) -> anyhow::Result<Vec<ClassPrompt>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: PromptFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a prompts file as `sss segment` writes it",
            path.display()
        )
    })?;
    Ok(file.prompts)
}

/// The default prompts path: `seg.nii.gz` → `seg.prompts.json`.
fn prompts_path(out: &std::path::Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".nii.gz")
        .or_else(|| name.strip_suffix(".nii"))
        .unwrap_or(&name);
    out.with_file_name(format!("{stem}.prompts.json"))
}

/// Runs the command.
pub fn run(args: &SegmentArgs) -> anyhow::Result<()> {
    let device = args.device.open()?;
    let (manifest, segmenter) = load_segmenter(&args.weights, &device.device)?;
    // A directory is a DICOM series; its label map takes the geometry the series defines.
    let (scan, header) = if args.scan.is_dir() {
        let series = read_dicom_dir(&args.scan)?;
        for note in &series.notes {
            eprintln!("note: {note}");
        }
        let header = header_for_volume(&series.volume);
        (series.volume, header)
    } else {
        let input = std::fs::read(&args.scan)
            .with_context(|| format!("reading {}", args.scan.display()))?;
        if is_raster(&args.scan.to_string_lossy(), &input) {
            // An image has no header: its label map gets one made for its grid.
            let scan = read_raster_bytes(&input)
                .with_context(|| format!("reading {}", args.scan.display()))?;
            let header = header_for_volume(&scan);
            (scan, header)
        } else {
            let scan = read_nifti(&args.scan)
                .with_context(|| format!("reading {}", args.scan.display()))?;
            (scan, header_of(&input)?)
        }
    };
    let start = Instant::now();
    let mode = if args.coarse_only {
        SegmentMode::CoarseOnly
    } else {
        SegmentMode::Full
    };
    // A corrected prompts file needs no coarse head: only SAM-2 propagates it.
    let (labels, prompts) = match &args.use_prompts {
        None => {
            let seg = segmenter.segment(&scan, mode)?;
            (seg.labels, seg.prompts)
        }
        Some(path) => {
            let prompts = read_prompts(path)?;
            let prepared = segmenter.prepare(&scan)?;
            let labels = segmenter
                .propagate(&prepared, &prompts, None)
                .with_context(|| format!("the prompts of {}", path.display()))?;
            (scan.with_data(labels)?, prompts)
        }
    };
    let fit = check_fit(&manifest.classes, &labels.data, scan.spacing);
    if !fit.message.is_empty() {
        eprintln!("warning: {}", fit.message);
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // The label map in the input's own header (its geometry exactly: qform, sform, codes).
    let nifti = labels_like_input(&header, &labels.data)?;
    let gz = args.out.to_string_lossy().ends_with(".gz");
    let bytes = if gz { gzip(&nifti)? } else { nifti };
    std::fs::write(&args.out, bytes).with_context(|| format!("writing {}", args.out.display()))?;
    let path = args
        .prompts
        .clone()
        .unwrap_or_else(|| prompts_path(&args.out));
    let file = PromptFile {
        scan: args.scan.display().to_string(),
        prompts,
        class_names: manifest.classes.iter().map(|c| c.name.clone()).collect(),
        fit: Some(fit),
    };
    std::fs::write(&path, serde_json::to_string_pretty(&file)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "wrote {} and {} ({:.1} s)",
        args.out.display(),
        path.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
