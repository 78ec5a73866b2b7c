//! `sss pretrain` and `sss train --init` end to end, at a 64-pixel image size so that they run
//! in seconds:
//!
//! - a pretraining run stopped after 2 of 4 steps and resumed finishes, logs every step once
//!   and writes the foundation weights (f16 burnpack, config, provenance) whose weights load
//!   and differ from a fresh model's;
//! - `sss pretrain --init` continues from those weights with a fresh schedule;
//! - `sss train --init` starts from those foundation weights, and from an official SAM-2
//!   checkpoint (the seeded micro parity fixture, converted on the fly);
//! - `sss train` without `--init` starts from the built-in foundation weights (at learning
//!   rate 0 its SAM-2 equals them exactly) and says so in the manifest; `--from-scratch`
//!   starts from a fresh model.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use common::{ScratchDir, cardiac_phantom, float_params, max_abs_diff, path, sss};
use sss::model::Sam2Config;
use sss::model::import::load_sam2_burnpack;
use sss::model::sam2_base::Sam2Base;
use sss::train::foundation;
use sss::weights::{load_sss, read_export};

fn pretrain_args<'a>(out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "pretrain",
        "--out",
        path(out),
        "--image-size",
        "64",
        "--scenes",
        "3",
        "--slices",
        "3,4",
        "--steps",
        "4",
        "--checkpoint-every",
        "2",
        "--log-every",
        "1",
        "--lr-warmup",
        "1",
    ];
    args.extend_from_slice(extra);
    args
}

fn train_on_phantom(data: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "train",
        "--data",
        path(data),
        "--dataset",
        "acdc",
        "--labeled",
        "1",
        "--image-size",
        "64",
        "--steps",
        "2",
        "--checkpoint-every",
        "2",
        "--supervised-only",
        "--no-dfe",
        "--out",
        path(out),
    ];
    args.extend_from_slice(extra);
    sss(&args);
    assert!(
        out.join("model.json").exists(),
        "no model in {}",
        out.display()
    );
}

#[test]
fn pretrain_resumes_and_its_foundation_starts_a_training_run() {
    let scratch = ScratchDir::new("cli-pretrain", "all");
    let run = scratch.0.join("pretrain");
    sss(&pretrain_args(&run, &["--stop-after", "2"]));
    assert!(
        !run.join("foundation.bpk").exists(),
        "an interrupted run must not write foundation weights"
    );
    sss(&pretrain_args(&run, &["--resume"]));
    let log = std::fs::read_to_string(run.join("train.log")).unwrap();
    let steps: Vec<u64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        steps,
        [0, 1, 2, 3],
        "each step logged once across the resume"
    );
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["labeled_coarse"].as_f64().unwrap(), 0.0, "no coarse loss");
        let mask = v["labeled_mask"].as_f64().unwrap();
        assert!(mask.is_finite() && mask > 0.0, "mask loss {mask}");
    }

    let bpk = run.join("foundation.bpk");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("foundation.json")).unwrap())
            .unwrap();
    assert_eq!(info["weights_dtype"], "f16");
    assert_eq!(info["steps"], 4);
    let command = info["command"].as_str().unwrap();
    assert!(
        command.contains("--stop-after 2")
            && command.contains(", then ")
            && command.contains("--resume"),
        "the provenance names both invocations: {command}"
    );
    let bytes = std::fs::read(&bpk).unwrap();
    assert_eq!(
        info["weights_sha256"].as_str().unwrap(),
        sss::weights::sha256_hex(&bytes)
    );
    let config: Sam2Config =
        serde_json::from_str(&std::fs::read_to_string(run.join("foundation.config.json")).unwrap())
            .unwrap();
    assert_eq!(config.image_size, 64);
    let device = Device::flex();
    let loaded = load_sam2_burnpack(&bpk, &config, &device).unwrap();
    let fresh = sss::backend::seeded(&device, 0, || {
        Sam2Base::new(&config, &device).map(sss::backend::materialised)
    })
    .unwrap();
    let a: Tensor<2> = loaded.sam_mask_decoder.iou_token.weight.val();
    let b: Tensor<2> = fresh.sam_mask_decoder.iou_token.weight.val();
    assert!(
        (a - b).abs().max().into_scalar::<f32>() > 0.0,
        "the foundation weights are trained, not a fresh model"
    );

    // A longer pretraining from these weights (`--init`, a fresh schedule): at learning rate 0
    // its foundation equals the one it started from, and its state names the start.
    let longer = scratch.0.join("longer");
    sss(&pretrain_args(
        &longer,
        &["--init", path(&bpk), "--lr", "0"],
    ));
    let continued = load_sam2_burnpack(&longer.join("foundation.bpk"), &config, &device).unwrap();
    assert_eq!(
        max_abs_diff(&float_params(&continued), &float_params(&loaded)),
        0.0,
        "--init starts from the given weights"
    );
    let state = std::fs::read_to_string(longer.join("checkpoint/state.json")).unwrap();
    assert!(state.contains("--init"), "the start is recorded");

    let data = scratch.0.join("data");
    cardiac_phantom(&data, 5);
    train_on_phantom(
        &data,
        &scratch.0.join("from-foundation"),
        &["--init", path(&bpk), "--train-encoders"],
    );
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/parity/fixtures/micro/weights.pt");
    train_on_phantom(
        &data,
        &scratch.0.join("from-checkpoint"),
        &["--init", path(&fixture), "--config", "micro"],
    );
}

#[test]
fn train_starts_from_the_built_in_foundation_unless_from_scratch() {
    let scratch = ScratchDir::new("cli-pretrain", "default-start");
    let data = scratch.0.join("data");
    cardiac_phantom(&data, 5);
    let (default, fresh) = (scratch.0.join("default"), scratch.0.join("fresh"));
    train_on_phantom(&data, &default, &["--lr", "0"]);
    train_on_phantom(&data, &fresh, &["--lr", "0", "--from-scratch"]);
    let device = Device::flex();
    let mut config = foundation::config().unwrap();
    config.image_size = 64;
    let expected = float_params(&foundation::load(&config, &device).unwrap());
    let sam2_of = |run: &Path, start: &str| {
        let (manifest, bytes) = read_export(&run.join("model.json")).unwrap();
        assert!(
            manifest.provenance.contains(start),
            "{}: {}",
            run.display(),
            manifest.provenance
        );
        float_params(&load_sss(&manifest, bytes, &device).unwrap().sam)
    };
    let from_default = sam2_of(&default, "SAM-2 started from foundation micro-wide-128");
    assert_eq!(
        max_abs_diff(&from_default, &expected),
        0.0,
        "SAM-2 of a default run at lr 0 is the foundation"
    );
    let from_scratch = sam2_of(&fresh, "SAM-2 started from a fresh model");
    assert!(max_abs_diff(&from_scratch, &expected) > 0.01);
}
