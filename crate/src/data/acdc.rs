//! ACDC (cardiac cine-MRI) by its public layout, and the SSL4MIS split that semi-supervised
//! papers use on it.
//!
//! Layout: `DIR/patientNNN/patientNNN_frameFF.nii.gz` with the annotation beside it as
//! `patientNNN_frameFF_gt.nii.gz` (`.nii` works too); `DIR` may instead hold ACDC's
//! `training/` and `testing/` folders of patients. The 4-D cine (`_4d`) is ignored. `sss
//! phantom --task cardiac` writes this layout.
//!
//! Split ([`split_acdc`]): when every SSL4MIS validation and test patient is present, their
//! lists are used (patients 1–100 only; ACDC's patients 101–150 are left out), and the N
//! labeled patients are the first N of SSL4MIS's `train.list` order, which reproduces its
//! published subsets (3 patients → 099, 038, 050; 7 → also 100, 058, 021, 049). Otherwise
//! (phantoms with other counts, partial copies) the fraction rule of
//! [`fraction_split`](super::dataset::fraction_split) applies to the sorted patient ids and
//! the labeled patients are the first N training patients by id.

use super::dataset::{Case, Split, SplitRule, cases_of, check_labeled_count, fraction_split};
use crate::{Result, SssError};

/// SSL4MIS's ACDC test patients (`data/ACDC/test.list`).
pub const SSL4MIS_TEST: [u32; 20] = [
    1, 7, 8, 11, 13, 22, 24, 33, 52, 59, 64, 65, 66, 68, 75, 80, 81, 83, 84, 93,
];
/// SSL4MIS's ACDC validation patients (`data/ACDC/val.list`).
pub const SSL4MIS_VAL: [u32; 10] = [2, 19, 28, 30, 39, 45, 78, 82, 85, 87];
/// SSL4MIS's ACDC training patients in the order of its `train.list`; its labeled subsets are
/// prefixes of this order.
pub const SSL4MIS_TRAIN_ORDER: [u32; 70] = [
    99, 38, 50, 100, 58, 21, 49, 20, 72, 40, 60, 89, 4, 56, 98, 96, 31, 18, 94, 47, 48, 55, 97, 74,
    43, 41, 63, 37, 95, 54, 26, 88, 32, 69, 6, 71, 12, 73, 61, 17, 25, 10, 57, 29, 51, 5, 36, 46,
    62, 34, 76, 92, 70, 77, 67, 3, 91, 16, 14, 44, 42, 90, 53, 27, 35, 86, 23, 9, 79, 15,
];

/// The patient number of an id like `patient042` or `patient042_frame01`.
pub fn patient_number(id: &str) -> Option<u32> {
    let digits: String = id
        .strip_prefix("patient")?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Splits ACDC cases into labeled / unlabeled / validation / test by patient, with
/// `labeled` labeled patients (both frames of each). See the module docs for the rule.
pub fn split_acdc(cases: &[Case], labeled: usize) -> Result<Split> {
    let mut subjects: Vec<&str> = cases.iter().map(|c| c.subject.as_str()).collect();
    subjects.sort_unstable();
    subjects.dedup();
    if subjects.is_empty() {
        return Err(SssError::InvalidInput("no ACDC cases to split".to_string()));
    }
    let by_number = |n: u32| {
        subjects
            .iter()
            .copied()
            .find(|s| patient_number(s) == Some(n))
    };
    let published: Option<Vec<&str>> = SSL4MIS_TEST
        .iter()
        .chain(&SSL4MIS_VAL)
        .map(|&n| by_number(n))
        .collect();
    let split = if published.is_some() {
        let pick = |numbers: &[u32]| -> Vec<&str> {
            numbers.iter().filter_map(|&n| by_number(n)).collect()
        };
        let train = pick(&SSL4MIS_TRAIN_ORDER);
        check_labeled_count(labeled, train.len(), "patients")?;
        Split {
            labeled: cases_of(cases, &train[..labeled]),
            unlabeled: cases_of(cases, &train[labeled..]),
            val: cases_of(cases, &pick(&SSL4MIS_VAL)),
            test: cases_of(cases, &pick(&SSL4MIS_TEST)),
            rule: SplitRule::Ssl4mis,
        }
    } else {
        let (train, val, _) = fraction_split(subjects.len());
        check_labeled_count(labeled, train, "patients")?;
        Split {
            labeled: cases_of(cases, &subjects[..labeled]),
            unlabeled: cases_of(cases, &subjects[labeled..train]),
            val: cases_of(cases, &subjects[train..train + val]),
            test: cases_of(cases, &subjects[train + val..]),
            rule: SplitRule::SortedFractions,
        }
    };
    split.check_labels()?;
    Ok(split)
}

#[cfg(feature = "native")]
pub use listing::list_acdc;

#[cfg(feature = "native")]
mod listing {
    use std::path::Path;

    use super::super::dataset::{Case, NIFTI_EXTENSIONS as EXTENSIONS, sorted_entries as entries};
    use crate::{Result, SssError};

    fn file_name(path: &Path) -> &str {
        path.file_name().and_then(|n| n.to_str()).unwrap_or("")
    }

    /// `patientNNN_frameFF` if `name` is such an image (not its `_gt`), without extension.
    fn frame_stem<'a>(name: &'a str, patient: &str) -> Option<&'a str> {
        let stem = EXTENSIONS.iter().find_map(|ext| name.strip_suffix(ext))?;
        let frame = stem.strip_prefix(patient)?.strip_prefix("_frame")?;
        (!frame.is_empty() && frame.chars().all(|c| c.is_ascii_digit())).then_some(stem)
    }

    /// Lists every annotated or unannotated frame under an ACDC directory, sorted by id.
    pub fn list_acdc(dir: impl AsRef<Path>) -> Result<Vec<Case>> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(SssError::InvalidInput(format!(
                "{} is not a directory; expected ACDC's layout \
                 (patientNNN/patientNNN_frameFF.nii.gz with _gt labels)",
                dir.display()
            )));
        }
        let mut patient_dirs = Vec::new();
        for root in [dir.to_path_buf(), dir.join("training"), dir.join("testing")] {
            if !root.is_dir() {
                continue;
            }
            for path in entries(&root)? {
                if path.is_dir() && super::patient_number(file_name(&path)).is_some() {
                    patient_dirs.push(path);
                }
            }
        }
        if patient_dirs.is_empty() {
            return Err(SssError::InvalidInput(format!(
                "{} holds no patientNNN folders (nor training/ or testing/ with them); \
                 expected ACDC's layout",
                dir.display()
            )));
        }
        let mut cases = Vec::new();
        for patient_dir in patient_dirs {
            let patient = file_name(&patient_dir).to_string();
            let files = entries(&patient_dir)?;
            let before = cases.len();
            for image in &files {
                let Some(stem) = frame_stem(file_name(image), &patient) else {
                    continue;
                };
                let label = EXTENSIONS
                    .iter()
                    .map(|ext| patient_dir.join(format!("{stem}_gt{ext}")))
                    .find(|p| p.is_file());
                cases.push(Case {
                    id: stem.to_string(),
                    subject: patient.clone(),
                    image: image.clone(),
                    label,
                });
            }
            if cases.len() == before {
                return Err(SssError::InvalidInput(format!(
                    "{} holds no {patient}_frameFF.nii.gz image",
                    patient_dir.display()
                )));
            }
        }
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(pair) = cases.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(SssError::InvalidInput(format!(
                "{} appears twice: {} and {}",
                pair[0].id,
                pair[0].image.display(),
                pair[1].image.display()
            )));
        }
        Ok(cases)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn case(patient: u32, frame: u32, labeled: bool) -> Case {
        let subject = format!("patient{patient:03}");
        let id = format!("{subject}_frame{frame:02}");
        Case {
            image: PathBuf::from(format!("{subject}/{id}.nii.gz")),
            label: labeled.then(|| PathBuf::from(format!("{subject}/{id}_gt.nii.gz"))),
            id,
            subject,
        }
    }

    fn subjects(cases: &[Case]) -> Vec<u32> {
        let mut numbers: Vec<u32> = cases
            .iter()
            .filter_map(|c| patient_number(&c.subject))
            .collect();
        numbers.dedup();
        numbers
    }

    #[test]
    fn parses_patient_numbers() {
        assert_eq!(patient_number("patient042"), Some(42));
        assert_eq!(patient_number("patient100_frame12"), Some(100));
        assert_eq!(patient_number("patientX"), None);
        assert_eq!(patient_number("ID_001"), None);
    }

    #[test]
    fn the_published_lists_partition_the_hundred_patients() {
        let mut all: Vec<u32> = SSL4MIS_TEST
            .iter()
            .chain(&SSL4MIS_VAL)
            .chain(&SSL4MIS_TRAIN_ORDER)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (1..=100).collect::<Vec<_>>());
    }

    #[test]
    fn full_acdc_uses_the_ssl4mis_split() {
        let cases: Vec<Case> = (1..=150)
            .flat_map(|p| [case(p, 1, true), case(p, 12, true)])
            .collect();
        let split = split_acdc(&cases, 3).unwrap();
        assert_eq!(split.rule, SplitRule::Ssl4mis);
        assert_eq!(subjects(&split.labeled), vec![99, 38, 50]);
        assert_eq!(split.labeled.len(), 6);
        let mut test = subjects(&split.test);
        test.sort_unstable();
        assert_eq!(test, SSL4MIS_TEST.to_vec());
        assert_eq!(split.val.len(), 20);
        assert_eq!(split.unlabeled.len(), 2 * 67);
        let seven = split_acdc(&cases, 7).unwrap();
        assert_eq!(subjects(&seven.labeled), vec![99, 38, 50, 100, 58, 21, 49]);
        // Patients 101–150 are outside the protocol.
        let all = [&split.labeled, &split.unlabeled, &split.val, &split.test];
        assert!(all.iter().all(|g| subjects(g).iter().all(|&p| p <= 100)));
    }

    #[test]
    fn phantom_sized_datasets_use_sorted_fractions() {
        // Ten patients, listed out of order, one frame each.
        let cases: Vec<Case> = [7, 3, 10, 1, 2, 9, 4, 8, 6, 5]
            .iter()
            .map(|&p| case(p, 1, true))
            .collect();
        let split = split_acdc(&cases, 2).unwrap();
        assert_eq!(split.rule, SplitRule::SortedFractions);
        assert_eq!(subjects(&split.labeled), vec![1, 2]);
        assert_eq!(subjects(&split.unlabeled), vec![3, 4, 5, 6, 7]);
        assert_eq!(subjects(&split.val), vec![8]);
        assert_eq!(subjects(&split.test), vec![9, 10]);
        let err = split_acdc(&cases, 8).unwrap_err().to_string();
        assert!(err.contains("only 7"), "{err}");
    }

    #[test]
    fn unannotated_cases_may_only_be_unlabeled() {
        let mut cases: Vec<Case> = (1..=10).map(|p| case(p, 1, true)).collect();
        cases[4] = case(5, 1, false);
        assert!(split_acdc(&cases, 2).is_ok());
        let err = split_acdc(&cases, 5).unwrap_err().to_string();
        assert!(err.contains("patient005_frame01"), "{err}");
    }
}
