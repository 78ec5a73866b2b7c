//! BHSD (head-CT hemorrhage) by its public nnU-Net layout, and a deterministic split.
//!
//! Layout: `DIR/imagesTr/X.nii.gz` with labels `DIR/labelsTr/X.nii.gz` (labels 0 background,
//! 1 epidural, 2 intraparenchymal, 3 intraventricular, 4 subarachnoid, 5 subdural), and
//! optionally `DIR/imagesTs` with `DIR/labelsTs`. nnU-Net's channel suffix (`X_0000.nii.gz`)
//! is accepted on images. Training images without a label file are unlabeled volumes (where
//! BHSD's extra unannotated scans go). `sss phantom --task brain-ct` writes this layout.
//!
//! Split ([`split_bhsd`]): the SSS paper does not publish its BHSD split, so the rule is ours:
//! annotated `imagesTs` scans are the test set (rule `TestFolder`); without them the last 20 %
//! of the sorted annotated training scans are (rule `SortedFractions`). Of the remaining
//! annotated scans, sorted by id, the last 10 % validate and the first N are labeled; the rest
//! and all unannotated training scans are unlabeled.

use super::dataset::{Case, Split, SplitRule, check_labeled_count, fraction_split};
use crate::{Result, SssError};

/// BHSD's class names (its `dataset.json`), indexed by label.
pub const BHSD_CLASS_NAMES: [&str; 6] = [
    "background",
    "epidural",
    "intraparenchymal",
    "intraventricular",
    "subarachnoid",
    "subdural",
];

/// The scans of a BHSD directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BhsdCases {
    /// `imagesTr`, sorted by id.
    pub training: Vec<Case>,
    /// `imagesTs`, sorted by id (empty if the folder is missing).
    pub testing: Vec<Case>,
}

/// Splits BHSD scans with `labeled` labeled training scans. See the module docs for the rule.
pub fn split_bhsd(cases: &BhsdCases, labeled: usize) -> Result<Split> {
    let mut annotated: Vec<Case> = cases
        .training
        .iter()
        .filter(|c| c.label.is_some())
        .cloned()
        .collect();
    annotated.sort_by(|a, b| a.id.cmp(&b.id));
    let unannotated = cases.training.iter().filter(|c| c.label.is_none()).cloned();
    let test_folder: Vec<Case> = cases
        .testing
        .iter()
        .filter(|c| c.label.is_some())
        .cloned()
        .collect();
    if annotated.is_empty() {
        return Err(SssError::InvalidInput(
            "no annotated training scan (imagesTr with labelsTr) to split".to_string(),
        ));
    }
    let (rule, test, pool) = if test_folder.is_empty() {
        let (train, val, _) = fraction_split(annotated.len());
        let test = annotated.split_off(train + val);
        (SplitRule::SortedFractions, test, annotated)
    } else {
        (SplitRule::TestFolder, test_folder, annotated)
    };
    // Validation: the last 10 % of the pool (at least one while two or more scans remain).
    let val_count = if pool.len() >= 2 {
        ((pool.len() as f32 * 0.1).round() as usize).max(1)
    } else {
        0
    };
    let train_count = pool.len() - val_count;
    check_labeled_count(labeled, train_count, "scans")?;
    let mut pool = pool;
    let val = pool.split_off(train_count);
    let unlabeled_annotated = pool.split_off(labeled);
    let split = Split {
        labeled: pool,
        unlabeled: unlabeled_annotated.into_iter().chain(unannotated).collect(),
        val,
        test,
        rule,
    };
    split.check_labels()?;
    Ok(split)
}

#[cfg(feature = "native")]
pub use listing::list_bhsd;

#[cfg(feature = "native")]
mod listing {
    use std::path::{Path, PathBuf};

    use super::super::dataset::{Case, NIFTI_EXTENSIONS as EXTENSIONS, sorted_entries};
    use super::BhsdCases;
    use crate::{Result, SssError};

    /// `(id, extension)` of an image file name, without nnU-Net's `_0000` channel suffix.
    fn image_id(name: &str) -> Option<(&str, &'static str)> {
        let (stem, ext) = EXTENSIONS
            .iter()
            .find_map(|ext| name.strip_suffix(ext).map(|s| (s, *ext)))?;
        Some((stem.strip_suffix("_0000").unwrap_or(stem), ext))
    }

    fn list_folder(images: &Path, labels: &Path) -> Result<Vec<Case>> {
        let mut cases = Vec::new();
        for path in sorted_entries(images)? {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.starts_with('.') || !path.is_file() {
                continue;
            }
            let Some((id, _)) = image_id(name) else {
                continue;
            };
            let label = EXTENSIONS
                .iter()
                .map(|ext| labels.join(format!("{id}{ext}")))
                .find(|p| p.is_file());
            cases.push(Case {
                id: id.to_string(),
                subject: id.to_string(),
                image: path.clone(),
                label,
            });
        }
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(pair) = cases.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(SssError::InvalidInput(format!(
                "{} appears twice in {}",
                pair[0].id,
                images.display()
            )));
        }
        Ok(cases)
    }

    /// Lists the scans of a BHSD directory (`imagesTr` required, `imagesTs` optional).
    pub fn list_bhsd(dir: impl AsRef<Path>) -> Result<BhsdCases> {
        let dir = dir.as_ref();
        let images_tr: PathBuf = dir.join("imagesTr");
        if !images_tr.is_dir() {
            return Err(SssError::InvalidInput(format!(
                "{} is missing; expected BHSD's layout (imagesTr/, labelsTr/, imagesTs/)",
                images_tr.display()
            )));
        }
        let training = list_folder(&images_tr, &dir.join("labelsTr"))?;
        if training.is_empty() {
            return Err(SssError::InvalidInput(format!(
                "{} holds no .nii.gz image",
                images_tr.display()
            )));
        }
        let images_ts = dir.join("imagesTs");
        let testing = if images_ts.is_dir() {
            list_folder(&images_ts, &dir.join("labelsTs"))?
        } else {
            Vec::new()
        };
        Ok(BhsdCases { training, testing })
    }

    #[cfg(test)]
    mod tests {
        use super::image_id;

        #[test]
        fn image_ids_drop_extension_and_channel() {
            assert_eq!(image_id("ID_001.nii.gz"), Some(("ID_001", ".nii.gz")));
            assert_eq!(
                image_id("ID_a_ID_b_0000.nii.gz"),
                Some(("ID_a_ID_b", ".nii.gz"))
            );
            assert_eq!(image_id("ID_002.nii"), Some(("ID_002", ".nii")));
            assert_eq!(image_id("notes.txt"), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn case(id: &str, labeled: bool) -> Case {
        Case {
            id: id.to_string(),
            subject: id.to_string(),
            image: PathBuf::from(format!("imagesTr/{id}.nii.gz")),
            label: labeled.then(|| PathBuf::from(format!("labelsTr/{id}.nii.gz"))),
        }
    }

    fn ids(cases: &[Case]) -> Vec<&str> {
        cases.iter().map(|c| c.id.as_str()).collect()
    }

    #[test]
    fn annotated_test_folder_is_the_test_set() {
        let cases = BhsdCases {
            training: (1..=10)
                .rev()
                .map(|i| case(&format!("ID_{i:03}"), i != 4))
                .collect(),
            testing: vec![case("ID_101", true), case("ID_102", false)],
        };
        let split = split_bhsd(&cases, 2).unwrap();
        assert_eq!(split.rule, SplitRule::TestFolder);
        assert_eq!(ids(&split.test), ["ID_101"]);
        // Nine annotated training scans: one validates, the first two are labeled.
        assert_eq!(ids(&split.val), ["ID_010"]);
        assert_eq!(ids(&split.labeled), ["ID_001", "ID_002"]);
        assert_eq!(
            ids(&split.unlabeled),
            [
                "ID_003", "ID_005", "ID_006", "ID_007", "ID_008", "ID_009", "ID_004"
            ]
        );
    }

    #[test]
    fn without_test_labels_the_training_scans_are_carved() {
        let cases = BhsdCases {
            training: (1..=10)
                .map(|i| case(&format!("ID_{i:03}"), true))
                .collect(),
            testing: vec![],
        };
        let split = split_bhsd(&cases, 3).unwrap();
        assert_eq!(split.rule, SplitRule::SortedFractions);
        assert_eq!(ids(&split.test), ["ID_009", "ID_010"]);
        assert_eq!(ids(&split.val), ["ID_008"]);
        assert_eq!(ids(&split.labeled), ["ID_001", "ID_002", "ID_003"]);
        assert_eq!(split.unlabeled.len(), 4);
        let err = split_bhsd(&cases, 8).unwrap_err().to_string();
        assert!(err.contains("only 7"), "{err}");
    }

    #[test]
    fn nothing_annotated_is_an_error() {
        let cases = BhsdCases {
            training: vec![case("ID_001", false)],
            testing: vec![],
        };
        assert!(split_bhsd(&cases, 0).is_err());
    }
}
