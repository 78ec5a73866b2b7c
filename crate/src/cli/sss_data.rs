//! What the SSS subcommands (`train`, `eval`) share about datasets: which reader and split a
//! `--dataset` means, its classes, modality and intensity rule, and reading a split's volumes.

use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;

use crate::data::acdc::{list_acdc, split_acdc};
use crate::data::bhsd::{BHSD_CLASS_NAMES, list_bhsd, split_bhsd};
use crate::data::dataset::{Case, Split};
use crate::data::intensity::{IntensityRule, Modality};
use crate::data::nifti_io::read_nifti;
use crate::predictor::fit::{class_volumes_ml, volume_ranges};
use crate::weights::ClassInfo;
use crate::{Result, SssError, Volume};

/// A dataset layout.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetKind {
    /// ACDC cardiac cine-MRI (or `sss phantom --task cardiac`).
    Acdc,
    /// BHSD head-CT hemorrhage (or `sss phantom --task brain-ct`).
    Bhsd,
}

const ACDC_CLASSES: [&str; 4] = ["background", "RV", "Myo", "LV"];
const ACDC_COLORS: [[u8; 3]; 4] = [[0, 0, 0], [66, 135, 245], [245, 190, 60], [235, 64, 52]];
const BHSD_COLORS: [[u8; 3]; 6] = [
    [0, 0, 0],
    [230, 25, 75],
    [245, 130, 48],
    [255, 225, 25],
    [60, 180, 75],
    [0, 130, 200],
];

impl DatasetKind {
    pub fn modality(self) -> Modality {
        match self {
            Self::Acdc => Modality::Mri,
            Self::Bhsd => Modality::Ct,
        }
    }

    pub fn intensity_rule(self) -> IntensityRule {
        IntensityRule::for_modality(self.modality())
    }

    /// Classes, background first.
    pub fn classes(self) -> Vec<ClassInfo> {
        let (names, colors): (&[&str], &[[u8; 3]]) = match self {
            Self::Acdc => (&ACDC_CLASSES, &ACDC_COLORS),
            Self::Bhsd => (&BHSD_CLASS_NAMES, &BHSD_COLORS),
        };
        names
            .iter()
            .zip(colors)
            .enumerate()
            .map(|(label, (name, color))| ClassInfo {
                label: label as u8,
                name: (*name).into(),
                color: *color,
                volume_ml: None,
            })
            .collect()
    }

    /// Lists `dir` and splits it with `labeled` labeled subjects.
    pub fn split(self, dir: &Path, labeled: usize) -> Result<Split> {
        match self {
            Self::Acdc => split_acdc(&list_acdc(dir)?, labeled),
            Self::Bhsd => split_bhsd(&list_bhsd(dir)?, labeled),
        }
    }
}

/// The dataset's classes with each foreground class's volume range over the first `labeled`
/// labeled training scans of `dir` (what `sss train` trains on): the manifest's record for the
/// fit check (`predictor::fit`).
pub fn classes_with_training_volumes(
    dataset: DatasetKind,
    dir: &Path,
    labeled: usize,
) -> anyhow::Result<Vec<ClassInfo>> {
    let split = dataset.split(dir, labeled)?;
    let mut classes = dataset.classes();
    let labels: Vec<u8> = classes.iter().skip(1).map(|c| c.label).collect();
    let volumes = split
        .labeled
        .iter()
        .map(|case| {
            let path = case
                .label
                .as_ref()
                .with_context(|| format!("{} has no labels", case.id))?;
            let l = read_nifti(path).with_context(|| format!("reading labels of {}", case.id))?;
            let values: Vec<u8> = l
                .data
                .iter()
                .map(|v| v.round().clamp(0.0, 255.0) as u8)
                .collect();
            Ok(class_volumes_ml(&values, l.spacing, &labels))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (class, range) in classes.iter_mut().skip(1).zip(volume_ranges(&volumes)) {
        class.volume_ml = range;
    }
    Ok(classes)
}

/// Reads a case's image and (if any) its label map.
pub fn read_case(case: &Case) -> anyhow::Result<(Volume<f32>, Option<Volume<u8>>)> {
    let image = read_nifti(&case.image).with_context(|| format!("reading {}", case.id))?;
    let labels = match &case.label {
        Some(path) => {
            let l = read_nifti(path).with_context(|| format!("reading labels of {}", case.id))?;
            if l.dims != image.dims {
                return Err(SssError::Scan(format!(
                    "{}: labels {:?} differ from the image {:?}",
                    case.id, l.dims, image.dims
                ))
                .into());
            }
            Some(l.map(|v| v.round().clamp(0.0, 255.0) as u8))
        }
        None => None,
    };
    Ok((image, labels))
}
