//! `sss phantom`: writes a seeded phantom dataset in a real dataset's public layout, so every
//! reader, trainer and evaluator runs unchanged on phantoms and on the real data.
//!
//! - `--task cardiac` → ACDC: `OUT/patientNNN/patientNNN_frame01.nii.gz` (end-diastole) and
//!   `…_frame01_gt.nii.gz`, with `--both-phases` also the end-systolic frame, and an `Info.cfg`
//!   per patient. Patient `NNN` is phantom case `NNN` (1-based).
//! - `--task brain-ct` → BHSD (nnU-Net layout): `OUT/imagesTr/ID_NNN.nii.gz`,
//!   `OUT/labelsTr/ID_NNN.nii.gz`, the last `--test-fraction` of the cases in `imagesTs` /
//!   `labelsTs`, and a `dataset.json` with BHSD's label names.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::data::nifti_io::write_nifti;
use crate::data::phantom::brain_ct::{BRAIN_CT_CLASS_NAMES, brain_ct_case};
use crate::data::phantom::cardiac::{Phase, cardiac_frame, cardiac_info};

/// Which dataset the phantom stands in for.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhantomTask {
    /// Short-axis cardiac cine-MRI in ACDC's layout (labels 0 bg, 1 RV, 2 Myo, 3 LV).
    Cardiac,
    /// Non-contrast head CT in BHSD's layout (labels 0 bg, 1 EDH, 2 IPH, 3 IVH, 4 SAH, 5 SDH).
    BrainCt,
}

/// Arguments of `sss phantom`.
#[derive(Args, Debug)]
pub struct PhantomArgs {
    /// The dataset to imitate.
    #[arg(long, value_enum)]
    pub task: PhantomTask,
    /// Number of patients (cardiac) or scans (brain CT).
    #[arg(long, default_value_t = 100)]
    pub cases: usize,
    /// Seed of the whole dataset: the same seed writes the same files.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (created if missing; files of the same names are overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// Cardiac: also write each patient's end-systolic frame, as ACDC does.
    #[arg(long)]
    pub both_phases: bool,
    /// Brain CT: fraction of the scans put in `imagesTs`/`labelsTs` (the last ones).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f32,
}

/// Writes the dataset.
pub fn run(args: &PhantomArgs) -> anyhow::Result<()> {
    if args.cases == 0 || args.cases > 999 {
        bail!(
            "--cases must be between 1 and 999 (got {}): ids are three digits",
            args.cases
        );
    }
    if !(0.0..1.0).contains(&args.test_fraction) {
        bail!(
            "--test-fraction must be in [0, 1) (got {})",
            args.test_fraction
        );
    }
    create_dir(&args.out)?;
    let progress = ProgressBar::new(args.cases as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    match args.task {
        PhantomTask::Cardiac => {
            progress.set_message("cardiac phantoms");
            write_cardiac(args, &progress)?
        }
        PhantomTask::BrainCt => {
            progress.set_message("brain-CT phantoms");
            write_brain_ct(args, &progress)?
        }
    }
    progress.finish_and_clear();
    log::info!(
        "wrote {} {:?} phantom case(s), seed {}, to {}",
        args.cases,
        args.task,
        args.seed,
        args.out.display()
    );
    Ok(())
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

fn write_cardiac(args: &PhantomArgs, progress: &ProgressBar) -> anyhow::Result<()> {
    for case in 1..=args.cases {
        let patient = format!("patient{case:03}");
        let dir = args.out.join(&patient);
        create_dir(&dir)?;
        let info = cardiac_info(case, args.seed);
        let mut frames = vec![(1, Phase::EndDiastole)];
        if args.both_phases {
            frames.push((info.es_frame, Phase::EndSystole));
        }
        for (frame, phase) in frames {
            let (image, labels) = cardiac_frame(case, args.seed, phase);
            let stem = format!("{patient}_frame{frame:02}");
            write_nifti(&image, dir.join(format!("{stem}.nii.gz")))?;
            write_nifti(&labels, dir.join(format!("{stem}_gt.nii.gz")))?;
        }
        let cfg = format!(
            "ED: 1\nES: {}\nGroup: {}\nHeight: {:.1}\nNbFrame: {}\nWeight: {:.1}\n",
            info.es_frame,
            info.group.acdc_name(),
            info.height_cm,
            info.frames,
            info.weight_kg
        );
        let cfg_path = dir.join("Info.cfg");
        std::fs::write(&cfg_path, cfg)
            .with_context(|| format!("cannot write {}", cfg_path.display()))?;
        progress.inc(1);
    }
    Ok(())
}

/// Number of brain-CT scans that go to the test folders: the `fraction` rounded, at least one
/// when there are two scans or more and the fraction is positive, never all of them.
fn brain_ct_test_count(cases: usize, fraction: f32) -> usize {
    if fraction <= 0.0 || cases < 2 {
        return 0;
    }
    ((cases as f32 * fraction).round() as usize).clamp(1, cases - 1)
}

fn write_brain_ct(args: &PhantomArgs, progress: &ProgressBar) -> anyhow::Result<()> {
    let test_count = brain_ct_test_count(args.cases, args.test_fraction);
    let train_count = args.cases - test_count;
    for folder in ["imagesTr", "labelsTr", "imagesTs", "labelsTs"] {
        create_dir(&args.out.join(folder))?;
    }
    let mut training = Vec::new();
    let mut test = Vec::new();
    for case in 1..=args.cases {
        let (image, labels) = brain_ct_case(case, args.seed);
        let name = format!("ID_{case:03}.nii.gz");
        let (images, label_dir) = if case <= train_count {
            ("imagesTr", "labelsTr")
        } else {
            ("imagesTs", "labelsTs")
        };
        write_nifti(&image, args.out.join(images).join(&name))?;
        write_nifti(&labels, args.out.join(label_dir).join(&name))?;
        if case <= train_count {
            training.push(serde_json::json!({
                "image": format!("./imagesTr/{name}"),
                "label": format!("./labelsTr/{name}"),
            }));
        } else {
            test.push(format!("./imagesTs/{name}"));
        }
        progress.inc(1);
    }
    let labels: serde_json::Map<String, serde_json::Value> = BRAIN_CT_CLASS_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| (i.to_string(), (*name).into()))
        .collect();
    let dataset = serde_json::json!({
        "name": "BHSD phantom",
        "description": format!(
            "Seeded brain-CT phantoms standing in for BHSD (sss phantom --task brain-ct --seed {})",
            args.seed
        ),
        "tensorImageSize": "3D",
        "modality": { "0": "CT" },
        "labels": labels,
        "numTraining": train_count,
        "numTest": test_count,
        "training": training,
        "test": test,
    });
    let path = args.out.join("dataset.json");
    std::fs::write(&path, serde_json::to_string_pretty(&dataset)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::brain_ct_test_count;

    #[test]
    fn test_split_keeps_both_sides_non_empty() {
        assert_eq!(brain_ct_test_count(1, 0.2), 0);
        assert_eq!(brain_ct_test_count(2, 0.2), 1);
        assert_eq!(brain_ct_test_count(10, 0.2), 2);
        assert_eq!(brain_ct_test_count(100, 0.25), 25);
        assert_eq!(brain_ct_test_count(3, 0.9), 2);
        assert_eq!(brain_ct_test_count(50, 0.0), 0);
    }
}
