//! Training never loses work (issue 11, item 5), end to end through `sss train` on a tiny
//! cardiac phantom dataset (micro SAM-2 at 64², a few steps):
//!
//! - a full disk while a checkpoint is written (`SSS_TEST_FULL_DISK`: every write of a
//!   checkpoint after the first fails with `ENOSPC`, as a full disk does) stops the run with a
//!   message that names the step, says the previous checkpoint is kept and to free space; that
//!   checkpoint is intact and `--resume` finishes the run from it;
//! - a loss that turns non-finite (a learning rate of 1e30 makes the weights overflow) stops the
//!   run with the step named, before any checkpoint holds the diverged weights;
//! - `--resume` with settings other than the run's is refused, naming each difference.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ScratchDir, cardiac_phantom, path, sss, sss_fails};

fn train_args<'a>(data: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        "--data",
        path(data),
        "--dataset",
        "acdc",
        "--labeled",
        "1",
        "--config",
        "micro",
        "--image-size",
        "64",
        "--steps",
        "4",
        "--checkpoint-every",
        "2",
        "--supervised-only",
        "--seed",
        "5",
        "--out",
        path(out),
    ];
    args.extend_from_slice(extra);
    args
}

fn state_step(run: &Path) -> String {
    let text = std::fs::read_to_string(run.join("checkpoint/state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    state["step"].to_string()
}

#[test]
fn a_full_disk_a_diverged_loss_and_changed_settings_lose_nothing() {
    let scratch = ScratchDir::new("cli-train-failures", "all");
    let data = scratch.0.join("data");
    cardiac_phantom(&data, 3);

    // A full disk at the step-4 checkpoint: the step-2 one stays, the run says what to do.
    let full = scratch.0.join("full-disk");
    let out = Command::new(env!("CARGO_BIN_EXE_sss"))
        .args(train_args(&data, &full, &[]))
        .env("SSS_TEST_FULL_DISK", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a full disk went unnoticed");
    assert!(
        stderr.contains("checkpoint of step 4 could not be written")
            && stderr.contains("checkpoint of step 2 is kept")
            && stderr.contains("disk is full")
            && stderr.contains("--resume"),
        "{stderr}"
    );
    assert_eq!(state_step(&full), "2", "the previous checkpoint is intact");
    assert!(
        !full.join("checkpoint.tmp").exists(),
        "the half-written one was removed"
    );
    assert!(!full.join("model.json").exists());
    sss(&train_args(&data, &full, &["--resume"]));
    assert!(full.join("model.json").exists(), "resumed to the end");
    assert_eq!(state_step(&full), "4");

    // A diverging learning rate: the loss turns non-finite and the run stops there, naming
    // the step, with no checkpoint written after it.
    let diverged = scratch.0.join("diverged");
    let stderr = sss_fails(&train_args(
        &data,
        &diverged,
        &["--lr", "1e30", "--lr-warmup", "0"],
    ));
    let step: usize = stderr
        .split("step ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no step named: {stderr}"));
    assert!(
        stderr.contains("training diverged") && stderr.contains("not finite"),
        "{stderr}"
    );
    assert!(!diverged.join("model.json").exists());
    // The newest checkpoint is the one written before the failed step, untouched.
    match stderr.split("The checkpoint of step ").nth(1) {
        Some(rest) => {
            let kept: usize = rest.split_whitespace().next().unwrap().parse().unwrap();
            assert!(kept <= step, "{stderr}");
            assert_eq!(state_step(&diverged), kept.to_string());
        }
        None => {
            assert!(
                stderr.contains("No checkpoint had been written"),
                "{stderr}"
            );
            assert!(!diverged.join("checkpoint/state.json").exists());
        }
    }

    // Resuming with other settings is refused, naming them; with the run's own it works.
    let changed = scratch.0.join("changed");
    let stopped = train_args(&data, &changed, &["--stop-after", "2"]);
    sss(&stopped);
    let stderr = sss_fails(&train_args(
        &data,
        &changed,
        &["--resume", "--lr", "5e-4", "--tau", "0.5"],
    ));
    assert!(
        stderr.contains("2 of them differ")
            && stderr.contains("learning_rate: ")
            && stderr.contains("tau: "),
        "{stderr}"
    );
    assert_eq!(
        state_step(&changed),
        "2",
        "the refused resume changed nothing"
    );
    sss(&train_args(&data, &changed, &["--resume"]));
    assert!(changed.join("model.json").exists());
}
