//! `sss import-sam2` end to end: it converts a checkpoint written by the official PyTorch code
//! (the parity fixture, `torch.save({"model": state_dict})`), the result loads and predicts like
//! the checkpoint, and a checkpoint of another size is refused with the keys named.

use std::path::PathBuf;
use std::process::Command;

use burn::tensor::Device;
use sss::model::Sam2Config;
use sss::model::import::{load_sam2_burnpack, load_sam2_checkpoint};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/parity/fixtures/micro/weights.pt")
}

fn out_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sss-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn import_sam2_converts_an_official_checkpoint() {
    let out = out_dir().join("micro");
    let status = Command::new(env!("CARGO_BIN_EXE_sss"))
        .args([
            "import-sam2",
            fixture().to_str().unwrap(),
            "--config",
            "micro",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let bpk = out.with_extension("bpk");
    assert!(bpk.exists(), "{} was not written", bpk.display());

    let device = Device::flex();
    let config = Sam2Config::micro();
    let converted = load_sam2_burnpack(&bpk, &config, &device).unwrap();
    let original = load_sam2_checkpoint(&fixture(), &config, &device).unwrap();
    let image = burn::tensor::Tensor::<4>::random(
        [1, 3, config.image_size, config.image_size],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let a = converted.forward_image(image.clone());
    let b = original.forward_image(image);
    let diff = (a.top().clone() - b.top().clone())
        .abs()
        .max()
        .into_scalar::<f32>();
    println!("converted vs checkpoint image embedding: max abs difference {diff:e}");
    assert_eq!(diff, 0.0);
}

#[test]
fn import_sam2_refuses_a_checkpoint_of_another_size() {
    let out = out_dir().join("wrong");
    let result = Command::new(env!("CARGO_BIN_EXE_sss"))
        .args([
            "import-sam2",
            fixture().to_str().unwrap(),
            "--config",
            "tiny",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("missing") || stderr.contains("unexpected"),
        "{stderr}"
    );
    assert!(!out.with_extension("bpk").exists());
}
