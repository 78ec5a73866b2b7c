//! `sss phantom` end to end: the binary writes datasets in ACDC's and BHSD's layouts, and what
//! it writes reads back as exactly the phantom the library generates.

mod common;

use std::path::Path;
use std::process::Command;

use common::ScratchDir;
use sss::data::nifti_io::read_nifti;
use sss::data::phantom::cardiac::Phase;
use sss::data::phantom::{brain_ct_case, cardiac_frame, cardiac_info};

fn sss(args: &[&str], out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sss"))
        .args(["phantom"])
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("the sss binary runs")
}

#[test]
fn cardiac_dataset_in_acdc_layout() {
    let scratch = ScratchDir::new("cli-phantom", "cardiac");
    let out = sss(
        &[
            "--task",
            "cardiac",
            "--cases",
            "2",
            "--seed",
            "5",
            "--both-phases",
        ],
        &scratch.0,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for case in 1..=2usize {
        let dir = scratch.0.join(format!("patient{case:03}"));
        let info = cardiac_info(case, 5);
        for (frame, phase) in [(1, Phase::EndDiastole), (info.es_frame, Phase::EndSystole)] {
            let stem = format!("patient{case:03}_frame{frame:02}");
            let image = read_nifti(dir.join(format!("{stem}.nii.gz"))).unwrap();
            let labels = read_nifti(dir.join(format!("{stem}_gt.nii.gz"))).unwrap();
            let (expected_image, expected_labels) = cardiac_frame(case, 5, phase);
            assert_eq!(image.dims, expected_image.dims);
            assert_eq!(image.spacing, expected_image.spacing);
            assert_eq!(image.data, expected_image.data);
            let labels: Vec<u8> = labels.data.iter().map(|&v| v as u8).collect();
            assert_eq!(labels, expected_labels.data);
        }
        let cfg = std::fs::read_to_string(dir.join("Info.cfg")).unwrap();
        assert!(cfg.contains("ED: 1\n"), "{cfg}");
        assert!(
            cfg.contains(&format!("Group: {}\n", info.group.acdc_name())),
            "{cfg}"
        );
    }
    assert!(!scratch.0.join("patient003").exists());
}

#[test]
fn brain_ct_dataset_in_bhsd_layout() {
    let scratch = ScratchDir::new("cli-phantom", "brain");
    let out = sss(
        &["--task", "brain-ct", "--cases", "2", "--seed", "3"],
        &scratch.0,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two scans: one for training, one for testing.
    for (case, images, labels) in [
        (1usize, "imagesTr", "labelsTr"),
        (2, "imagesTs", "labelsTs"),
    ] {
        let name = format!("ID_{case:03}.nii.gz");
        let image = read_nifti(scratch.0.join(images).join(&name)).unwrap();
        let label = read_nifti(scratch.0.join(labels).join(&name)).unwrap();
        let (expected_image, expected_labels) = brain_ct_case(case, 3);
        assert_eq!(image.data, expected_image.data);
        assert_eq!(label.dims, expected_labels.dims);
        assert_eq!(label.data.len(), expected_labels.data.len());
        assert!(
            label
                .data
                .iter()
                .zip(&expected_labels.data)
                .all(|(a, b)| *a == *b as f32)
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scratch.0.join("dataset.json")).unwrap())
            .unwrap();
    assert_eq!(json["labels"]["0"], "background");
    assert_eq!(json["labels"]["1"], "epidural");
    assert_eq!(json["labels"]["5"], "subdural");
    assert_eq!(json["numTraining"], 1);
    assert_eq!(json["numTest"], 1);
    assert_eq!(json["training"][0]["label"], "./labelsTr/ID_001.nii.gz");
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let scratch = ScratchDir::new("cli-phantom", "bad");
    let out = sss(&["--task", "cardiac", "--cases", "0"], &scratch.0);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--cases"), "{stderr}");
    let out = sss(&["--task", "liver", "--cases", "1"], &scratch.0);
    assert!(!out.status.success());
}
