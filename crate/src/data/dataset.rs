//! Cases and splits shared by the dataset readers (`acdc`, `bhsd`): what a case is, how a
//! split into labeled / unlabeled / validation / test is reported, and the fraction rule used
//! where a dataset has no published split.

use std::path::PathBuf;

use serde::Serialize;

use crate::{Result, SssError};

/// One volume of a dataset: its image file and, if annotated, its label file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Case {
    /// The volume's id, e.g. `patient001_frame01` (ACDC) or `ID_001` (BHSD).
    pub id: String,
    /// The subject the volume belongs to (a split never separates one subject's volumes),
    /// e.g. `patient001`; for BHSD the volume id itself.
    pub subject: String,
    pub image: PathBuf,
    pub label: Option<PathBuf>,
}

/// How a split was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitRule {
    /// ACDC with all of SSL4MIS's validation and test patients present: SSL4MIS's patient lists,
    /// labeled = the first N patients of its `train.list` order.
    Ssl4mis,
    /// Subjects sorted by id: the last 20 % test, the 10 % before them validation, labeled = the
    /// first N of the rest (see [`fraction_split`]).
    SortedFractions,
    /// BHSD with annotated `imagesTs`: those are the test set; validation = the last 10 % of the
    /// sorted annotated training scans, labeled = the first N of the rest.
    TestFolder,
}

/// A dataset split into the four groups semi-supervised training and evaluation use.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Split {
    /// Training volumes whose labels are used.
    pub labeled: Vec<Case>,
    /// Training volumes used without labels (their labels, if any, are ignored).
    pub unlabeled: Vec<Case>,
    pub val: Vec<Case>,
    pub test: Vec<Case>,
    pub rule: SplitRule,
}

impl Split {
    /// Fails, naming the case, if a labeled, validation or test volume has no label file.
    pub(crate) fn check_labels(&self) -> Result<()> {
        for (group, cases) in [
            ("labeled", &self.labeled),
            ("validation", &self.val),
            ("test", &self.test),
        ] {
            if let Some(case) = cases.iter().find(|c| c.label.is_none()) {
                return Err(SssError::InvalidInput(format!(
                    "{} is in the {group} set but has no label file next to {}",
                    case.id,
                    case.image.display()
                )));
            }
        }
        Ok(())
    }
}

/// Sizes of the `(train, validation, test)` groups for `n` subjects under the fraction rule:
/// test = round(20 %), validation = round(10 %), each at least one while enough subjects remain
/// that training keeps at least one.
pub fn fraction_split(n: usize) -> (usize, usize, usize) {
    let test = if n >= 2 {
        ((n as f32 * 0.2).round() as usize).max(1)
    } else {
        0
    };
    let val = if n - test >= 2 {
        ((n as f32 * 0.1).round() as usize).max(1)
    } else {
        0
    };
    (n - test - val, val, test)
}

/// The cases of the given subjects, in subject order, each subject's volumes by id.
pub(crate) fn cases_of(cases: &[Case], subjects: &[&str]) -> Vec<Case> {
    subjects
        .iter()
        .flat_map(|s| cases.iter().filter(move |c| c.subject == *s))
        .cloned()
        .collect()
}

/// Fails unless `labeled` is at most `available`.
pub(crate) fn check_labeled_count(labeled: usize, available: usize, what: &str) -> Result<()> {
    if labeled > available {
        return Err(SssError::InvalidInput(format!(
            "asked for {labeled} labeled {what}, but the training set has only {available}"
        )));
    }
    Ok(())
}

/// File name endings of NIfTI files, longest first.
pub const NIFTI_EXTENSIONS: [&str; 2] = [".nii.gz", ".nii"];

/// The entries of `dir`, sorted by path; an error names the directory.
#[cfg(feature = "native")]
pub fn sorted_entries(dir: &std::path::Path) -> crate::Result<Vec<std::path::PathBuf>> {
    let cannot_list = |e| crate::SssError::io(format!("cannot list {}", dir.display()), e);
    let mut paths = std::fs::read_dir(dir)
        .map_err(cannot_list)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(cannot_list)?;
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_split_sizes() {
        assert_eq!(fraction_split(100), (70, 10, 20));
        assert_eq!(fraction_split(20), (14, 2, 4));
        assert_eq!(fraction_split(5), (3, 1, 1));
        assert_eq!(fraction_split(3), (1, 1, 1));
        assert_eq!(fraction_split(2), (1, 0, 1));
        assert_eq!(fraction_split(1), (1, 0, 0));
        for n in 1..200 {
            let (train, val, test) = fraction_split(n);
            assert_eq!(train + val + test, n);
            assert!(train >= 1);
        }
    }
}
