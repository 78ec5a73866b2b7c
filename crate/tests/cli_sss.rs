//! `sss train / eval / export / segment` end to end on a tiny cardiac phantom dataset
//! (micro SAM-2 at a 64-pixel image size so that it runs in seconds):
//!
//! - a run interrupted after 3 of 6 steps (checkpoints every 2) and resumed ends with the same
//!   weights as an uninterrupted run: every parameter equal within 1e-6 (absolute);
//! - `eval` writes JSON with finite Dice in [0, 1] and a CSV row per volume and class;
//! - `export` writes f16 weights that load through the page's loader (`weights::load_sss`);
//! - `segment` writes a label map with the input's shape and affine, and the prompts.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use sss::data::nifti_io::read_nifti;
use sss::weights::{load_sss, read_export};

struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sss-cli-sss-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sss(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sss"))
        .args(args)
        .output()
        .expect("the sss binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "sss {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every float parameter, flattened, in visiting order.
struct Floats(Vec<Vec<f32>>);

impl ModuleVisitor for Floats {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(
            param
                .val()
                .into_data()
                .convert::<f32>()
                .try_to_vec()
                .unwrap(),
        );
    }
}

fn parameters(manifest: &Path) -> Vec<Vec<f32>> {
    let (manifest, bytes) = read_export(manifest).unwrap();
    let net = load_sss(&manifest, bytes, &Device::flex()).unwrap();
    let mut floats = Floats(Vec::new());
    net.visit(&mut floats);
    floats.0
}

#[test]
fn train_resume_eval_export_segment() {
    let scratch = ScratchDir::new("all");
    let data = scratch.0.join("data");
    sss(&[
        "phantom",
        "--task",
        "cardiac",
        "--cases",
        "6",
        "--seed",
        "3",
        "--out",
        path(&data),
    ]);
    let train = |out: &Path, extra: &[&str]| {
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
        sss(&args)
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
    assert_eq!(a.len(), b.len());
    let max_diff = a
        .iter()
        .zip(&b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0f32, f32::max);
    assert!(max_diff <= 1e-6, "resumed run differs by {max_diff}");

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

    let stem = scratch.0.join("export/sss-micro");
    sss(&["export", path(&full), "-o", path(&stem)]);
    let manifest = stem.with_extension("json");
    let (m, bytes) = read_export(&manifest).unwrap();
    assert_eq!(m.weights_dtype, "f16");
    assert!(load_sss(&m, bytes, &Device::flex()).is_ok());
    // f16 on disk: the exported parameters are the run's rounded to f16.
    let (run, exported) = (parameters(&full.join("model.json")), parameters(&manifest));
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
    assert!(output.data.iter().all(|&v| (0.0..=3.0).contains(&v)));
    let prompts = std::fs::read_to_string(scratch.0.join("seg/seg.prompts.json")).unwrap();
    assert!(prompts.contains("\"prompts\""));
}
