//! The page's default weights (`web/assets/weights/`) load through the loaders the wasm build
//! uses (`SssSegmenter::load` → `weights::load_sss`, `SliceSegmenter::load`), their sha256
//! matches the manifest, and they segment the page's demo scan (`web/assets/demo/demo.nii.gz`,
//! a cardiac phantom no training saw) as well as measured, less a stated margin: each
//! prompted class appears inside its prompt's box on the prompted slice, and each class's
//! Dice of the full pipeline and the coarse head against `demo_gt.nii.gz` stays within the
//! margin of `tests/demo-dice.json`, the values measured for these weights (their sha256 is in
//! the file, so new weights must come with new values). The browser tests hold the page's
//! masks of the same scan to the same file.

use std::path::PathBuf;

use burn::tensor::Device;
use sss::data::nifti_io::read_nifti;
use sss::metrics::evaluate_volume;
use sss::predictor::fit::{Verdict, check_fit};
use sss::predictor::pipeline::{SegmentMode, SssSegmenter};
use sss::predictor::slice::SliceSegmenter;
use sss::weights::read_export;

fn weights(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../web/assets/weights/{name}.json"))
}

/// The demo scan and its labels, as the page loads them.
fn demo() -> (sss::Volume<f32>, sss::Volume<u8>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/assets/demo");
    assert!(
        dir.join("demo_gt.nii.gz").is_file(),
        "{} has no demo scan: run scripts/demo-data.sh (scripts/test.sh does)",
        dir.display()
    );
    let image = read_nifti(dir.join("demo.nii.gz")).unwrap();
    let gt = read_nifti(dir.join("demo_gt.nii.gz")).unwrap();
    let labels = gt.with_data(gt.data.iter().map(|&v| v.round() as u8).collect());
    (image, labels.unwrap())
}

/// Per-class Dice of the default weights on the demo scan and the margin the tests allow
/// (`tests/demo-dice.json`, shared with the browser tests).
struct Expected {
    json: serde_json::Value,
    full: Vec<f64>,
    coarse: Vec<f64>,
    margin: f64,
}

fn expected() -> Expected {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/demo-dice.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dice = |key: &str| -> Vec<f64> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_f64().unwrap())
            .collect()
    };
    Expected {
        full: dice("full"),
        coarse: dice("coarse"),
        margin: v["margin"].as_f64().unwrap(),
        json: v,
    }
}

/// The settings of a manifest that decide what the weights draw besides the weights
/// themselves: PCSW's rule, the label fusion, the clean-up and SAM-2's mask threshold.
const MEASURED_SETTINGS: [&str; 4] = ["pcsw", "label_fusion", "post_process", "mask_threshold"];

/// Fails unless `expected` (a `tests/demo*-dice.json`) was measured with exactly these weights
/// (`weights_sha256`) and these manifest settings (`measured_with`): a new burnpack or a changed
/// fusion weight, PCSW rule, clean-up or mask threshold must be measured on the demo scan
/// before the Dice values in `file` guard anything.
fn assert_measured_with(manifest_name: &str, expected: &serde_json::Value, file: &str) {
    // Both sides read as the crate reads a manifest (typed, then written back), so that a
    // setting an older manifest leaves out compares as its default and an f32 as itself.
    let (manifest, _) = read_export(&weights(manifest_name)).unwrap();
    let typed = |m: &sss::weights::Manifest| serde_json::to_value(m).unwrap();
    let actual = typed(&manifest);
    assert_eq!(
        actual["weights_sha256"], expected["weights_sha256"],
        "the weights of {manifest_name} changed: measure them on the demo scan and update {file}"
    );
    let mut measured = actual.clone();
    for key in MEASURED_SETTINGS {
        let value = &expected["measured_with"][key];
        assert!(
            !value.is_null(),
            "{file} does not say which `{key}` it was measured with"
        );
        measured["model"][key] = value.clone();
    }
    let measured = typed(&serde_json::from_value(measured).unwrap());
    for key in MEASURED_SETTINGS {
        assert_eq!(
            actual["model"][key], measured["model"][key],
            "{manifest_name}'s `{key}` differs from the one {file} was measured with: \
             measure the weights on the demo scan and update {file}"
        );
    }
}

/// Dice of classes 1, 2, 3.
fn class_dice(pred: &sss::Volume<u8>, gt: &sss::Volume<u8>) -> Vec<f64> {
    class_dice_of(pred, gt, &[1, 2, 3])
}

/// Dice of `classes`.
fn class_dice_of(pred: &sss::Volume<u8>, gt: &sss::Volume<u8>, classes: &[u8]) -> Vec<f64> {
    let m = evaluate_volume(pred, gt, classes, None).unwrap();
    m.iter().map(|c| c.dice).collect()
}

#[test]
fn default_sss_weights_load_and_segment_the_demo_phantom() {
    let (manifest, bytes) = read_export(&weights("sss-cardiac")).unwrap();
    manifest.verify(&bytes).unwrap();
    let device = Device::flex();
    let segmenter = SssSegmenter::load(&manifest, bytes, &device).unwrap();
    let (image, gt) = demo();
    let seg = segmenter.segment(&image, SegmentMode::Full).unwrap();
    assert_eq!(seg.labels.dims, image.dims);
    assert_eq!(seg.prompts.len(), 3, "one PCSW prompt per class");
    let [nx, ny, _] = image.dims;
    for p in seg.prompts.iter().filter(|p| !p.prompt.is_empty()) {
        let [x0, y0, x1, y1] = p.prompt.box_xyxy.map(|v| v as usize);
        let plane = &seg.labels.data[p.prompt.slice * nx * ny..(p.prompt.slice + 1) * nx * ny];
        let inside = (y0..=y1.min(ny - 1))
            .flat_map(|y| (x0..=x1.min(nx - 1)).map(move |x| plane[y * nx + x]))
            .filter(|&l| l == p.class)
            .count();
        assert!(
            inside > 0,
            "class {} absent from its prompt's box {p:?}",
            p.class
        );
    }
    // The heart is within every class's training range: nothing to say.
    let fit = check_fit(&manifest.classes, &seg.labels.data, image.spacing);
    let verdicts: Vec<Verdict> = fit.classes.iter().map(|c| c.verdict).collect();
    assert_eq!(verdicts, [Verdict::Within; 3], "{fit:?}");
    assert!(fit.fits && fit.message.is_empty(), "{fit:?}");
    let expected = expected();
    assert_measured_with("sss-cardiac", &expected.json, "tests/demo-dice.json");
    for (mode, labels, want) in [
        ("full pipeline", &seg.labels, &expected.full),
        ("coarse head", &seg.coarse, &expected.coarse),
    ] {
        let dice = class_dice(labels, &gt);
        println!(
            "default SSS weights on the demo scan, {mode}: Dice per class {dice:.4?} \
             (expected {want:?}, margin {})",
            expected.margin
        );
        assert_eq!(dice.len(), want.len());
        for (class, (d, w)) in dice.iter().zip(want).enumerate() {
            assert!(
                *d >= w - expected.margin,
                "{mode}, class {}: Dice {d:.4}, expected {w} - {}",
                class + 1,
                expected.margin
            );
        }
    }
}

/// The experimental brain-CT weights load, match their sha256 and their manifest's settings
/// (CT, the PCSW minimum object size they were chosen with), and find the CT demo scan's bleed
/// and name its type as measured (`tests/demo-ct-dice.json`: bleed against no bleed, and the
/// subdural class, less a margin).
#[test]
fn brain_ct_weights_find_the_demo_bleed() {
    let (manifest, bytes) = read_export(&weights("sss-brain-ct")).unwrap();
    manifest.verify(&bytes).unwrap();
    assert_eq!(manifest.modality, "ct");
    let sss::weights::ModelSpec::Sss { pcsw, .. } = &manifest.model else {
        panic!("the brain-CT weights are SSS weights");
    };
    assert_eq!(
        pcsw.min_object_voxels, 20,
        "chosen on the validation split (RESULTS.md)"
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/demo-ct-dice.json");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_measured_with("sss-brain-ct", &expected, "tests/demo-ct-dice.json");
    let segmenter = SssSegmenter::load(&manifest, bytes, &Device::flex()).unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/assets/demo");
    let image = read_nifti(dir.join("demo-ct.nii.gz")).unwrap();
    let gt = read_nifti(dir.join("demo-ct_gt.nii.gz")).unwrap();
    let seg = segmenter.segment(&image, SegmentMode::Full).unwrap();
    let merged_gt = gt.with_data(gt.data.iter().map(|&v| u8::from(v > 0.5)).collect());
    let merged = seg
        .labels
        .with_data(seg.labels.data.iter().map(|&l| u8::from(l > 0)).collect());
    let dice = class_dice_of(&merged.unwrap(), &merged_gt.unwrap(), &[1])[0];
    let margin = expected["margin"].as_f64().unwrap();
    let want = expected["any_bleed"].as_f64().unwrap();
    println!(
        "brain-CT weights on the CT demo scan: bleed Dice {dice:.4} (expected {want}, margin {margin})"
    );
    assert!(
        dice >= want - margin,
        "bleed Dice {dice:.4}, expected {want} - {margin}"
    );
    // The bleed's type: subdural (label 5). The weights draw part of it as another type
    // (no clean-up merges a component's types), hence a lower value than the bleed's.
    let gt_labels = gt.with_data(gt.data.iter().map(|&v| v.round() as u8).collect());
    let subdural = class_dice_of(&seg.labels, &gt_labels.unwrap(), &[5])[0];
    let want = expected["subdural"].as_f64().unwrap();
    println!("  subdural Dice {subdural:.4} (expected {want}, margin {margin})");
    assert!(
        subdural >= want - margin,
        "subdural Dice {subdural:.4}, expected {want} - {margin}"
    );
    let fit = check_fit(&manifest.classes, &seg.labels.data, image.spacing);
    assert!(fit.fits, "the CT demo fits the brain-CT weights: {fit:?}");
}

/// The case: a brain (the CT demo's head with MRI-like intensities, as
/// `scripts/wrong-anatomy-volumes.py make` writes it, so the modality check cannot tell) through
/// the cardiac weights. They draw classes on it, and the fit check says the scan does not fit
/// them (RESULTS.md, "A scan that does not fit the weights").
#[test]
fn the_cardiac_weights_say_a_brain_does_not_fit_them() {
    let (manifest, bytes) = read_export(&weights("sss-cardiac")).unwrap();
    assert!(
        manifest.classes[1..].iter().all(|c| c.volume_ml.is_some()),
        "the default weights record their training scans' class volumes"
    );
    let segmenter = SssSegmenter::load(&manifest, bytes, &Device::flex()).unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/assets/demo");
    let ct = read_nifti(dir.join("demo-ct.nii.gz")).unwrap();
    let mri_like: Vec<f32> = ct
        .data
        .iter()
        .map(|&hu| match hu {
            hu if hu < -200.0 => 0.0,
            hu if hu > 300.0 => 40.0,
            hu => 3.0 * (hu + 40.0).clamp(0.0, 150.0),
        })
        .collect();
    let brain = ct.with_data(mri_like).unwrap();
    let seg = segmenter.segment(&brain, SegmentMode::Full).unwrap();
    let fit = check_fit(&manifest.classes, &seg.labels.data, brain.spacing);
    println!("cardiac weights on a brain: {}", fit.message);
    assert!(
        fit.classes.iter().any(|c| c.volume_ml > 0.0),
        "the weights draw something on the brain: {fit:?}"
    );
    assert!(!fit.fits, "{fit:?}");
    assert!(
        fit.message
            .starts_with("This scan does not look like the scans these weights learned from"),
        "{}",
        fit.message
    );
}

#[test]
fn slice_net_weights_still_load() {
    let (manifest, bytes) = read_export(&weights("slice-net-cardiac")).unwrap();
    assert!(SliceSegmenter::load(manifest, bytes, &Device::flex()).is_ok());
}

/// One flipped byte in the weights file: `sss segment` refuses the weights in words (the
/// sha256 check), writes nothing, and the unflipped copy still segments.
#[test]
fn a_flipped_byte_in_the_weights_is_refused_by_its_sha256() {
    let dir = std::env::temp_dir().join(format!("sss-flipped-weights-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for ext in ["json", "bpk"] {
        std::fs::copy(
            weights("sss-cardiac").with_extension(ext),
            dir.join(format!("sss-cardiac.{ext}")),
        )
        .unwrap();
    }
    let scan = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/assets/demo/demo.nii.gz");
    let segment = |out: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sss"))
            .arg("segment")
            .arg(&scan)
            .arg("--weights")
            .arg(dir.join("sss-cardiac.json"))
            .arg("-o")
            .arg(dir.join(out))
            .output()
            .unwrap()
    };
    assert!(segment("intact.nii.gz").status.success());
    let bpk = dir.join("sss-cardiac.bpk");
    let mut bytes = std::fs::read(&bpk).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&bpk, bytes).unwrap();
    let out = segment("flipped.nii.gz");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "flipped weights were accepted");
    assert!(
        stderr.contains("does not match its manifest (sha256"),
        "{stderr}"
    );
    assert!(!dir.join("flipped.nii.gz").exists(), "nothing is written");
    let _ = std::fs::remove_dir_all(&dir);
}
