//! `sss train / eval / export / segment` end to end on a tiny cardiac phantom dataset
//! (micro SAM-2 at a 64-pixel image size so that it runs in seconds):
//!
//! - a run interrupted after 3 of 6 steps (checkpoints every 2) and resumed ends with the same
//!   weights as an uninterrupted run: every parameter equal within 1e-6 (absolute); so does a
//!   run killed with SIGKILL while its step-4 checkpoint is half-written (a test-only hook
//!   holds the writer there);
//! - `eval` writes JSON and a CSV row per volume and class; the JSON's per-class Dice and
//!   Jaccard (full pipeline and coarse head) equal an independent recomputation to 1e-9, and
//!   its summaries their means;
//! - `export` writes f16 weights that load through the page's loader (`weights::load_sss`);
//! - `eval --gt-prompts` prompts from the labels (every prompt on a slice holding its class);
//! - `segment` writes a label map with the input's shape and affine, and the prompts; with
//!   `--use-prompts` it segments only the classes of a corrected prompts file, and refuses a
//!   prompt off the scan, saying why.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use burn::tensor::Device;
use common::{ScratchDir, cardiac_phantom, float_params, max_abs_diff, path, sss};
use sss::data::nifti_io::read_nifti;
use sss::metrics::{class_mask, dc, jc};
use sss::predictor::pipeline::{SegmentMode, SssSegmenter};
use sss::weights::{load_sss, read_export};

fn parameters(manifest: &Path) -> Vec<Vec<f32>> {
    let (manifest, bytes) = read_export(manifest).unwrap();
    float_params(&load_sss(&manifest, bytes, &Device::flex()).unwrap())
}

/// `sss eval`'s report recomputed without it: every volume it lists segmented through the
/// library (`SssSegmenter::segment`, full pipeline and coarse head) and scored with medpy's
/// Dice and Jaccard (`metrics::dc`, `jc`); each class must match to 1e-9, and the summaries
/// must be the means over volumes and classes.
fn recompute_eval(report: &serde_json::Value, run: &Path, data: &Path) {
    let (manifest, bytes) = read_export(&run.join("model.json")).unwrap();
    let segmenter = SssSegmenter::load(&manifest, bytes, &Device::flex()).unwrap();
    let volumes = report["volumes"].as_array().unwrap();
    let (mut full_sum, mut coarse_sum) = (0.0f64, 0.0f64);
    for v in volumes {
        let id = v["id"].as_str().unwrap();
        let patient = id.split('_').next().unwrap();
        let image = read_nifti(data.join(format!("{patient}/{id}.nii.gz"))).unwrap();
        let gt = read_nifti(data.join(format!("{patient}/{id}_gt.nii.gz"))).unwrap();
        let truth: Vec<u8> = gt.data.iter().map(|&x| x.round() as u8).collect();
        let seg = segmenter.segment(&image, SegmentMode::Full).unwrap();
        for (key, labels, sum) in [
            ("classes", &seg.labels.data, &mut full_sum),
            ("coarse_classes", &seg.coarse.data, &mut coarse_sum),
        ] {
            let reported = v[key].as_array().unwrap();
            assert_eq!(reported.len(), 3, "{id} {key}");
            for (c, class) in reported.iter().zip(1u8..) {
                assert_eq!(c["class"].as_u64(), Some(u64::from(class)), "{id} {key}");
                let (p, g) = (class_mask(labels, class), class_mask(&truth, class));
                let (dice, jaccard) = (dc(&p, &g).unwrap(), jc(&p, &g).unwrap());
                for (name, value) in [("dice", dice), ("jaccard", jaccard)] {
                    let got = c[name].as_f64().unwrap();
                    assert!(
                        (got - value).abs() <= 1e-9,
                        "{id} {key} class {class} {name}: reported {got}, recomputed {value}"
                    );
                }
                *sum += dice;
            }
        }
    }
    let n = 3.0 * volumes.len() as f64;
    for (key, sum) in [("summary", full_sum), ("coarse_summary", coarse_sum)] {
        let got = report[key]["dice"].as_f64().unwrap();
        assert!(
            (got - sum / n).abs() <= 1e-9,
            "{key} Dice {got}, mean of the volumes' {}",
            sum / n
        );
    }
}

/// Voxels of `class` inside a prompt's box (inclusive pixel indices) on its slice.
fn voxels_in_box(labels: &sss::Volume<f32>, prompt: &serde_json::Value, class: f32) -> usize {
    let [nx, ny, _] = labels.dims;
    let z = prompt["slice"].as_u64().unwrap() as usize;
    let b: Vec<usize> = prompt["box_xyxy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as usize)
        .collect();
    let plane = &labels.data[z * nx * ny..(z + 1) * nx * ny];
    (b[1]..=b[3].min(ny - 1))
        .flat_map(|y| (b[0]..=b[2].min(nx - 1)).map(move |x| plane[y * nx + x]))
        .filter(|&l| l == class)
        .count()
}

#[test]
fn train_resume_eval_export_segment() {
    let scratch = ScratchDir::new("cli-sss", "all");
    let data = scratch.0.join("data");
    cardiac_phantom(&data, 6);
    let train_args = |out: &Path, extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "train",
            "--data",
            path(&data),
            "--dataset",
            "acdc",
            "--labeled",
            "1",
            "--config",
            "micro",
            "--image-size",
            "64",
            "--steps",
            "6",
            "--checkpoint-every",
            "2",
            "--supervised-warmup",
            "1",
            "--ramp-up",
            "2",
            "--prompt-refresh",
            "2",
            "--tau",
            "0.6",
            "--seed",
            "11",
            "--log-every",
            "1",
            "--out",
            path(out),
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect()
    };
    let train = |out: &Path, extra: &[&str]| {
        let args = train_args(out, extra);
        sss(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let full = scratch.0.join("full");
    let log = train(&full, &[]);
    assert!(log.contains("step 6/6"), "{log}");
    assert!(full.join("train.log").exists());
    assert!(full.join("checkpoint/state.json").exists());

    let resumed = scratch.0.join("resumed");
    train(&resumed, &["--stop-after", "3"]);
    assert!(!resumed.join("model.json").exists(), "stopped early");
    let state = std::fs::read_to_string(resumed.join("checkpoint/state.json")).unwrap();
    assert!(state.contains("\"step\": 2"), "{state}");
    train(&resumed, &["--resume"]);

    let (a, b) = (
        parameters(&full.join("model.json")),
        parameters(&resumed.join("model.json")),
    );
    let max_diff = max_abs_diff(&a, &b);
    assert!(max_diff <= 1e-6, "resumed run differs by {max_diff}");

    // Killed with SIGKILL while the step-4 checkpoint is half-written (the step-2 one is
    // complete), then resumed: the test hook holds the writer and says so in a marker file.
    let killed = scratch.0.join("killed");
    let marker = scratch.0.join("held");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sss"))
        .args(train_args(&killed, &[]))
        .env("SSS_TEST_HOLD_CHECKPOINT", &marker)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while !marker.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended without holding in a checkpoint write"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        killed.join("checkpoint.tmp/student.bpk").exists()
            && !killed.join("checkpoint.tmp/state.json").exists(),
        "held mid-write"
    );
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "killed, not finished: {status:?}");
    }
    assert!(!killed.join("model.json").exists(), "killed before the end");
    train(&killed, &["--resume"]);
    let max_diff = max_abs_diff(&a, &parameters(&killed.join("model.json")));
    println!("run killed with SIGKILL and resumed: max parameter difference {max_diff}");
    assert!(
        max_diff <= 1e-6,
        "killed and resumed run differs by {max_diff}"
    );

    let json = scratch.0.join("eval.json");
    let csv = scratch.0.join("eval.csv");
    sss(&[
        "eval",
        "--weights",
        path(&full),
        "--data",
        path(&data),
        "--dataset",
        "acdc",
        "--json",
        path(&json),
        "--csv",
        path(&csv),
    ]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let dice = report["summary"]["dice"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&dice), "mean Dice {dice}");
    let volumes = report["volumes"].as_array().unwrap();
    assert!(!volumes.is_empty());
    for v in volumes {
        for c in v["classes"].as_array().unwrap() {
            let d = c["dice"].as_f64().unwrap();
            assert!(d.is_finite() && (0.0..=1.0).contains(&d), "{c}");
        }
    }
    let rows = std::fs::read_to_string(&csv).unwrap().lines().count();
    assert_eq!(rows, 1 + 3 * volumes.len());
    let coarse_dice = report["coarse_summary"]["dice"].as_f64().unwrap();
    assert!(
        (0.0..=1.0).contains(&coarse_dice),
        "coarse mean Dice {coarse_dice}"
    );
    recompute_eval(&report, &full, &data);
    assert_eq!(report["gt_prompts"], false);

    // The diagnostic with ground-truth prompts: the prompts are PCSW's on the labels.
    let gt_json = scratch.0.join("eval-gt.json");
    sss(&[
        "eval",
        "--weights",
        path(&full),
        "--data",
        path(&data),
        "--dataset",
        "acdc",
        "--gt-prompts",
        "--limit",
        "1",
        "--json",
        path(&gt_json),
    ]);
    let gt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&gt_json).unwrap()).unwrap();
    assert_eq!(gt["gt_prompts"], true);
    let case = gt["volumes"][0]["id"].as_str().unwrap().to_string();
    let patient = case.split('_').next().unwrap();
    let labels = read_nifti(data.join(format!("{patient}/{case}_gt.nii.gz"))).unwrap();
    for p in gt["volumes"][0]["prompts"].as_array().unwrap() {
        let class = p["class"].as_f64().unwrap() as f32;
        let z = p["prompt"]["slice"].as_u64().unwrap() as usize;
        let [x, y] = [0, 1].map(|i| p["prompt"]["point"][i].as_f64().unwrap());
        let on_slice = labels.slice(z).iter().filter(|&&v| v == class).count();
        assert!(
            on_slice > 0,
            "GT prompt of class {class} on slice {z} without it"
        );
        let [nx, ny] = [labels.dims[0] as f64, labels.dims[1] as f64];
        assert!((0.0..nx).contains(&x) && (0.0..ny).contains(&y), "{p}");
        // The point is the object's interior point: on the class itself, also for the
        // myocardium ring, whose box centre lies in the LV cavity.
        let at = labels.slice(z)[y as usize * labels.dims[0] + x as usize];
        assert_eq!(at, class, "GT prompt point {p} is not on class {class}");
    }

    let stem = scratch.0.join("export/sss-micro");
    sss(&["export", path(&full), "-o", path(&stem)]);
    let manifest = stem.with_extension("json");
    let (m, bytes) = read_export(&manifest).unwrap();
    assert_eq!(m.weights_dtype, "f16");
    assert!(load_sss(&m, bytes, &Device::flex()).is_ok());
    // f16 on disk: the exported parameters are the run's rounded to f16.
    let (run, exported) = (parameters(&full.join("model.json")), parameters(&manifest));
    let sizes = |p: &[Vec<f32>]| p.iter().map(Vec::len).collect::<Vec<_>>();
    assert_eq!(sizes(&run), sizes(&exported), "exported parameter shapes");
    for (x, y) in run.iter().flatten().zip(exported.iter().flatten()) {
        assert!((x - y).abs() <= 1e-3 * x.abs().max(1e-2), "{x} vs {y}");
    }

    let scan = data.join("patient006/patient006_frame01.nii.gz");
    let seg = scratch.0.join("seg/seg.nii.gz");
    std::fs::create_dir_all(seg.parent().unwrap()).unwrap();
    sss(&[
        "segment",
        path(&scan),
        "--weights",
        path(&manifest),
        "-o",
        path(&seg),
    ]);
    let (input, output) = (read_nifti(&scan).unwrap(), read_nifti(&seg).unwrap());
    assert_eq!(output.dims, input.dims);
    assert_eq!(output.affine, input.affine);
    // Written in the scan's own header: every byte but the value fields (datatype, bitpix,
    // data offset, scaling, calibration) is the scan's.
    let header = |p: &Path| {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&std::fs::read(p).unwrap()[..])
            .read_to_end(&mut raw)
            .unwrap();
        raw[..348].to_vec()
    };
    let (scan_header, seg_header) = (header(&scan), header(&seg));
    let changed: Vec<usize> = (0..348)
        .filter(|&i| scan_header[i] != seg_header[i])
        .collect();
    assert!(
        changed
            .iter()
            .all(|&i| (70..74).contains(&i) || (108..120).contains(&i) || (124..132).contains(&i)),
        "header bytes {changed:?} changed"
    );
    assert!(output.data.iter().all(|&v| (0.0..=3.0).contains(&v)));
    let prompts_path = scratch.0.join("seg/seg.prompts.json");
    let prompts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&prompts_path).unwrap()).unwrap();
    assert_eq!(prompts["prompts"].as_array().unwrap().len(), 3);
    // The fit check's verdict is beside the prompts, one entry per class.
    assert!(prompts["fit"]["fits"].is_boolean(), "{}", prompts["fit"]);
    assert_eq!(prompts["fit"]["classes"].as_array().unwrap().len(), 3);
    // Each automatic prompt's class is drawn inside its box on its slice.
    for p in prompts["prompts"].as_array().unwrap() {
        if p["prompt"]["source"] == "empty" {
            continue;
        }
        let class = p["class"].as_u64().unwrap() as f32;
        let inside = voxels_in_box(&output, &p["prompt"], class);
        assert!(
            inside > 0,
            "class {class} is not inside its prompt's box: {p}"
        );
    }

    // The same scan as a DICOM series (`sss to-dicom`), segmented from its directory: the
    // label map has the series' geometry (the scan's) and nearly the same labels (the
    // series stores the values in 16 bits).
    let dicom = scratch.0.join("dicom");
    sss(&["to-dicom", path(&scan), path(&dicom)]);
    let seg_dicom = scratch.0.join("seg/seg-dicom.nii.gz");
    sss(&[
        "segment",
        path(&dicom),
        "--weights",
        path(&manifest),
        "-o",
        path(&seg_dicom),
    ]);
    let from_dicom = read_nifti(&seg_dicom).unwrap();
    assert_eq!(from_dicom.dims, output.dims);
    for (a, b) in from_dicom
        .affine
        .iter()
        .flatten()
        .zip(output.affine.iter().flatten())
    {
        assert!(
            (a - b).abs() < 1e-4,
            "{:?} vs {:?}",
            from_dicom.affine,
            output.affine
        );
    }
    let same = from_dicom
        .data
        .iter()
        .zip(&output.data)
        .filter(|(a, b)| a == b)
        .count();
    assert!(
        same as f64 >= 0.99 * output.data.len() as f64,
        "{same} of {} voxels as from the NIfTI file",
        output.data.len()
    );
    let empty = scratch.0.join("empty-dir");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("readme.txt"), "no scan here").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sss"))
        .args([
            "segment",
            path(&empty),
            "--weights",
            path(&manifest),
            "-o",
            path(&seg_dicom),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("none of the 1 files is a DICOM image"),
        "{stderr}"
    );

    // Corrected prompts: class 2 only, with a box of our own on slice 1.
    let mut edited = prompts.clone();
    edited["prompts"] = serde_json::json!([{
        "class": 2,
        "prompt": {"slice": 1, "box_xyxy": [40.0, 40.0, 90.0, 90.0], "point": [65.0, 65.0],
                   "source": "user"}
    }]);
    let edited_path = scratch.0.join("seg/edited.json");
    let seg2 = scratch.0.join("seg/seg2.nii.gz");
    // `sss segment --use-prompts` with `prompts` written to the edited file: its stderr, and
    // whether it succeeded.
    let use_prompts = |prompts: &serde_json::Value| {
        std::fs::write(&edited_path, prompts.to_string()).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_sss"))
            .args(["segment", path(&scan), "--weights", path(&manifest)])
            .args(["--use-prompts", path(&edited_path), "-o", path(&seg2)])
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.success(),
        )
    };
    let (stderr, ok) = use_prompts(&edited);
    assert!(ok, "{stderr}");
    let labels2 = read_nifti(&seg2).unwrap();
    assert!(
        labels2.data.iter().all(|&v| v == 0.0 || v == 2.0),
        "only the prompted class can appear"
    );
    let inside = voxels_in_box(&labels2, &edited["prompts"][0]["prompt"], 2.0);
    assert!(
        inside > 0,
        "the prompted class is not inside the user's box"
    );
    // The page's correction clicks are read; one off the slice is refused with the reason.
    edited["prompts"][0]["clicks"] =
        serde_json::json!([{"point": [45.0, 45.0], "positive": false}]);
    let (stderr, ok) = use_prompts(&edited);
    assert!(ok, "{stderr}");
    edited["prompts"][0]["clicks"][0]["point"] = serde_json::json!([999.0, 5.0]);
    let (stderr, ok) = use_prompts(&edited);
    assert!(
        !ok && stderr.contains("click [999.0, 5.0] is outside"),
        "{stderr}"
    );
    // A prompt off the scan is refused with the reason.
    edited["prompts"][0]["clicks"] = serde_json::json!([]);
    edited["prompts"][0]["prompt"]["slice"] = serde_json::json!(99);
    let (stderr, ok) = use_prompts(&edited);
    assert!(
        !ok && stderr.contains("slice 99 does not exist"),
        "{stderr}"
    );
}
