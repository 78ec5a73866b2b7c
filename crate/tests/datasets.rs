//! Dataset readers on real directory trees: ACDC's and BHSD's layouts built here by hand and
//! by the phantom writer, listed, split, and read back.

use std::path::{Path, PathBuf};

use sss::data::acdc::{list_acdc, split_acdc};
use sss::data::bhsd::{list_bhsd, split_bhsd};
use sss::data::dataset::SplitRule;
use sss::data::nifti_io::{read_nifti, write_nifti};
use sss::data::phantom::{brain_ct_case, cardiac_case};

/// A fresh scratch directory for one test, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sss-datasets-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Creates an (empty) file at `relative`, with its folders.
    fn touch(&self, relative: &str) -> PathBuf {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"").unwrap();
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ids(cases: &[sss::data::dataset::Case]) -> Vec<&str> {
    cases.iter().map(|c| c.id.as_str()).collect()
}

#[test]
fn acdc_listing_pairs_frames_with_annotations() {
    let d = ScratchDir::new("acdc-layout");
    d.touch("training/patient002/patient002_frame01.nii.gz");
    d.touch("training/patient002/patient002_frame01_gt.nii.gz");
    d.touch("training/patient002/patient002_frame12.nii.gz");
    d.touch("training/patient002/patient002_frame12_gt.nii.gz");
    d.touch("training/patient002/patient002_4d.nii.gz");
    d.touch("training/patient002/Info.cfg");
    d.touch("training/patient001/patient001_frame01.nii");
    d.touch("training/patient001/patient001_frame01_gt.nii");
    d.touch("testing/patient101/patient101_frame01.nii.gz");
    d.touch("README.txt");
    let cases = list_acdc(&d.0).unwrap();
    assert_eq!(
        ids(&cases),
        [
            "patient001_frame01",
            "patient002_frame01",
            "patient002_frame12",
            "patient101_frame01"
        ]
    );
    assert_eq!(cases[1].subject, "patient002");
    assert_eq!(
        cases[1].label.as_deref(),
        Some(
            d.0.join("training/patient002/patient002_frame01_gt.nii.gz")
                .as_path()
        )
    );
    assert!(
        cases[0]
            .label
            .as_ref()
            .unwrap()
            .ends_with("patient001_frame01_gt.nii")
    );
    assert_eq!(cases[3].label, None);
}

#[test]
fn acdc_listing_errors_name_the_problem() {
    let d = ScratchDir::new("acdc-errors");
    let missing = d.0.join("nowhere");
    let err = list_acdc(&missing).unwrap_err().to_string();
    assert!(err.contains("nowhere"), "{err}");
    let err = list_acdc(&d.0).unwrap_err().to_string();
    assert!(err.contains("no patientNNN"), "{err}");
    d.touch("patient007/patient007_4d.nii.gz");
    let err = list_acdc(&d.0).unwrap_err().to_string();
    assert!(err.contains("patient007") && err.contains("frame"), "{err}");
}

#[test]
fn bhsd_listing_reads_the_nnunet_layout() {
    let d = ScratchDir::new("bhsd-layout");
    d.touch("imagesTr/ID_b_0000.nii.gz");
    d.touch("imagesTr/ID_a.nii.gz");
    d.touch("imagesTr/ID_c.nii.gz");
    d.touch("labelsTr/ID_a.nii.gz");
    d.touch("labelsTr/ID_b.nii.gz");
    d.touch("imagesTs/ID_z.nii.gz");
    d.touch("labelsTs/ID_z.nii.gz");
    d.touch("dataset.json");
    let cases = list_bhsd(&d.0).unwrap();
    assert_eq!(ids(&cases.training), ["ID_a", "ID_b", "ID_c"]);
    assert!(
        cases.training[1]
            .label
            .as_ref()
            .unwrap()
            .ends_with("labelsTr/ID_b.nii.gz")
    );
    assert_eq!(cases.training[2].label, None);
    assert_eq!(ids(&cases.testing), ["ID_z"]);
    let err = list_bhsd(d.0.join("imagesTr")).unwrap_err().to_string();
    assert!(err.contains("imagesTr"), "{err}");
}

fn write_pair(
    image: &sss::Volume<f32>,
    labels: &sss::Volume<u8>,
    image_path: &Path,
    label_path: &Path,
) {
    std::fs::create_dir_all(image_path.parent().unwrap()).unwrap();
    std::fs::create_dir_all(label_path.parent().unwrap()).unwrap();
    write_nifti(image, image_path).unwrap();
    write_nifti(labels, label_path).unwrap();
}

#[test]
fn phantom_datasets_list_split_and_read_back() {
    let d = ScratchDir::new("phantoms");
    for case in 1..=5usize {
        let (image, labels) = cardiac_case(case, 1);
        let dir = d.0.join(format!("acdc/patient{case:03}"));
        write_pair(
            &image,
            &labels,
            &dir.join(format!("patient{case:03}_frame01.nii.gz")),
            &dir.join(format!("patient{case:03}_frame01_gt.nii.gz")),
        );
        let (image, labels) = brain_ct_case(case, 1);
        let (images, label_dir) = if case <= 4 {
            ("imagesTr", "labelsTr")
        } else {
            ("imagesTs", "labelsTs")
        };
        let name = format!("ID_{case:03}.nii.gz");
        write_pair(
            &image,
            &labels,
            &d.0.join("bhsd").join(images).join(&name),
            &d.0.join("bhsd").join(label_dir).join(&name),
        );
    }
    let acdc = list_acdc(d.0.join("acdc")).unwrap();
    let split = split_acdc(&acdc, 1).unwrap();
    assert_eq!(split.rule, SplitRule::SortedFractions);
    assert_eq!(ids(&split.labeled), ["patient001_frame01"]);
    assert_eq!(
        ids(&split.unlabeled),
        ["patient002_frame01", "patient003_frame01"]
    );
    assert_eq!(ids(&split.val), ["patient004_frame01"]);
    assert_eq!(ids(&split.test), ["patient005_frame01"]);
    let labels = read_nifti(split.test[0].label.as_ref().unwrap()).unwrap();
    assert_eq!(labels.dims, cardiac_case(5, 1).1.dims);

    let bhsd = list_bhsd(d.0.join("bhsd")).unwrap();
    let split = split_bhsd(&bhsd, 2).unwrap();
    assert_eq!(split.rule, SplitRule::TestFolder);
    assert_eq!(ids(&split.test), ["ID_005"]);
    assert_eq!(ids(&split.val), ["ID_004"]);
    assert_eq!(ids(&split.labeled), ["ID_001", "ID_002"]);
    assert_eq!(ids(&split.unlabeled), ["ID_003"]);
    let image = read_nifti(&split.labeled[1].image).unwrap();
    assert_eq!(image.data, brain_ct_case(2, 1).0.data);
}
