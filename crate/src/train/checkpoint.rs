//! Checkpoints of an SSS run, so that `sss train --resume` continues an interrupted run and
//! ends where the uninterrupted run ends: `RUN_DIR/checkpoint/` holds the student (network
//! and DFE), the EMA teacher and the AdamW state as f32 burnpack files, and `state.json`
//! with the next step, the whole training configuration, the PCSW prompt cache and the ids of
//! the training volumes. Random draws depend only on (seed, step), so nothing else is needed.
//!
//! A checkpoint is written to `checkpoint.tmp/` (`state.json` last, so a folder with it is
//! complete); the previous one is renamed to `checkpoint.old/`, the new one into place, and the
//! old one removed. A process killed at any point (SIGKILL, power cut after the data reached
//! the disk) leaves at least one complete checkpoint, and `--resume` takes the newest complete
//! one ([`resume_dir`]).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::AdamWConfig;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};

use super::trainer::{PromptCache, SssStudent, SssTrainConfig, SssTrainer, TrainData};
use crate::model::sss_net::SssNet;
use crate::weights::decode_into;
use crate::{Result, SssError};

/// The host-side state of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// The next step to run (= steps completed).
    pub step: usize,
    pub config: SssTrainConfig,
    pub prompt_cache: PromptCache,
    pub labeled: Vec<String>,
    pub unlabeled: Vec<String>,
}

impl TrainState {
    /// Parses a `state.json`, refusing numbers beyond `f32` (found by fuzzing: they became
    /// infinite settings).
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if let Some(path) = crate::weights::number_out_of_f32_range(&value, String::new()) {
            return Err(format!("{path} is a number too large for a setting"));
        }
        serde_json::from_value(value).map_err(|e| e.to_string())
    }
}

/// The checkpoint folder of a run directory.
pub fn checkpoint_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint")
}

/// The newest complete checkpoint of a run: `checkpoint/`, else (a process killed while
/// swapping) the finished `checkpoint.tmp/`, else the previous `checkpoint.old/`.
pub fn resume_dir(run_dir: &Path) -> Result<PathBuf> {
    ["checkpoint", "checkpoint.tmp", "checkpoint.old"]
        .iter()
        .map(|name| run_dir.join(name))
        .find(|dir| dir.join("state.json").is_file())
        .ok_or_else(|| {
            SssError::InvalidInput(format!(
                "{} holds no checkpoint to resume from (checkpoint/state.json)",
                run_dir.display()
            ))
        })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SssError + '_ {
    move |e| SssError::io(path.display().to_string(), e)
}

fn module_bytes<M: Module>(module: M) -> Result<Vec<u8>> {
    Ok(module
        .into_record()
        .into_bytes()
        .map_err(|e| SssError::Weights(format!("cannot serialise a checkpoint ({e})")))?
        .to_vec())
}

fn ids(volumes: &[super::trainer::TrainVolume]) -> Vec<String> {
    volumes.iter().map(|v| v.id.clone()).collect()
}

impl SssTrainer {
    /// The state saved with the weights.
    pub fn state(&self) -> TrainState {
        TrainState {
            step: self.step,
            config: self.cfg.clone(),
            prompt_cache: self.prompt_cache.clone(),
            labeled: ids(&self.data().labeled),
            unlabeled: ids(&self.data().unlabeled),
        }
    }

    /// Writes `RUN_DIR/checkpoint/`, replacing the previous checkpoint.
    pub fn save_checkpoint(&self, run_dir: &Path) -> Result<()> {
        let dir = checkpoint_dir(run_dir);
        let tmp = run_dir.join("checkpoint.tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        if let Err(e) = self.write_checkpoint_files(&tmp, dir.exists()) {
            // A full disk (or any failed write) leaves the previous checkpoint as it was;
            // the half-written one goes, to give the space back.
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let old = run_dir.join("checkpoint.old");
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        if dir.exists() {
            std::fs::rename(&dir, &old).map_err(io(&dir))?;
        }
        std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        Ok(())
    }

    /// Writes the checkpoint's files into `tmp`, `state.json` last.
    fn write_checkpoint_files(&self, tmp: &Path, previous_exists: bool) -> Result<()> {
        let write = |name: &str, bytes: &[u8]| -> Result<()> {
            let path = tmp.join(name);
            fail_for_full_disk_test(previous_exists).map_err(io(&path))?;
            std::fs::write(&path, bytes).map_err(io(&path))
        };
        write("student.bpk", &module_bytes(self.student.clone())?)?;
        hold_for_kill_test(previous_exists);
        write("teacher.bpk", &module_bytes(self.teacher.clone())?)?;
        let optim = self
            .optim
            .into_bytes()
            .map_err(|e| SssError::Weights(format!("cannot serialise the optimiser ({e})")))?;
        write("optimizer.bpk", &optim)?;
        let state = serde_json::to_string_pretty(&self.state())
            .map_err(|e| SssError::InvalidInput(format!("training state ({e})")))?;
        write("state.json", state.as_bytes())
    }

    /// Reads the state of the checkpoint `--resume` would continue ([`resume_dir`]).
    pub fn read_state(run_dir: &Path) -> Result<TrainState> {
        let path = resume_dir(run_dir)?.join("state.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        TrainState::from_json(&text).map_err(|e| {
            SssError::InvalidInput(format!("{} is not a training state ({e})", path.display()))
        })
    }

    /// Continues the run saved in `RUN_DIR/checkpoint/` on `data` (which must hold the same
    /// volumes).
    pub fn resume(run_dir: &Path, data: TrainData, device: &Device) -> Result<Self> {
        let state = Self::read_state(run_dir)?;
        if ids(&data.labeled) != state.labeled || ids(&data.unlabeled) != state.unlabeled {
            return Err(SssError::InvalidInput(
                "the data differ from the checkpoint's: resume with the same --data, \
                 --dataset and --labeled"
                    .into(),
            ));
        }
        let dir = resume_dir(run_dir)?;
        let read = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            std::fs::read(&path).map_err(io(&path))
        };
        let mut trainer = Self::new(state.config.clone(), data, device, None)?;
        let plain = trainer.device().clone().without_autodiff();
        let mut student = decode_into(
            SssStudent::new(&state.config, trainer.device())?,
            read("student.bpk")?,
        )?;
        if state.config.freeze_encoders {
            student.net.sam.image_encoder = student.net.sam.image_encoder.no_grad();
            student.net.sam.sam_prompt_encoder = student.net.sam.sam_prompt_encoder.no_grad();
        }
        let head = state.config.coarse_head();
        let teacher = decode_into(
            SssNet::new(&state.config.sam2, &head, &plain)?,
            read("teacher.bpk")?,
        )?;
        let optim = AdamWConfig::new()
            .with_weight_decay(state.config.weight_decay as f32)
            .init()
            .from_bytes(Bytes::from_bytes_vec(read("optimizer.bpk")?))
            .map_err(|e| SssError::Weights(format!("cannot read the optimiser state ({e})")))?;
        trainer.student = student;
        trainer.teacher = teacher;
        trainer.optim = optim;
        trainer.step = state.step;
        trainer.prompt_cache = state.prompt_cache;
        Ok(trainer)
    }
}

/// Test-only hook for the CLI tests' SIGKILL case: with `SSS_TEST_HOLD_CHECKPOINT=MARKER`
/// in the environment, a checkpoint written while a previous one exists stops half-written
/// (its student saved, nothing else), creates `MARKER` and waits there to be killed, so that
/// the test kills the process mid-write without racing it. Unset, it does nothing.
fn hold_for_kill_test(previous_exists: bool) {
    if let Some(marker) = std::env::var_os("SSS_TEST_HOLD_CHECKPOINT")
        && previous_exists
    {
        let _ = std::fs::write(marker, b"checkpoint half-written\n");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}

/// Test-only hook for the CLI tests' full-disk case: with `SSS_TEST_FULL_DISK` in the
/// environment, every checkpoint file written while a previous checkpoint exists fails as a
/// full disk does (`ENOSPC`), so the test sees what a user with a full disk sees. Unset, it
/// does nothing.
fn fail_for_full_disk_test(previous_exists: bool) -> std::io::Result<()> {
    if std::env::var_os("SSS_TEST_FULL_DISK").is_some() && previous_exists {
        return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::trainer::tiny_run;

    fn floats(net: &SssNet) -> Vec<f32> {
        crate::train::float_values(net)
    }

    /// Two steps, a checkpoint, a fresh trainer resumed from it and two more steps end with the
    /// same weights, teacher and prompt cache as four uninterrupted steps. Both runs start
    /// from one step-0 checkpoint: burn's parameter initialisation draws from a process-wide
    /// RNG that tests running in parallel share (the CLI runs one training per process).
    #[test]
    fn resumed_run_matches_the_uninterrupted_one() {
        let root = std::env::temp_dir().join(format!("sss-resume-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (start, dir) = (root.join("start"), root.join("run"));
        let device = Device::flex();
        let (cfg, data) = tiny_run(1, 1, 4);
        SssTrainer::new(cfg, data, &device, None)
            .unwrap()
            .save_checkpoint(&start)
            .unwrap();
        let (_, data) = tiny_run(1, 1, 4);
        let mut full = SssTrainer::resume(&start, data, &device).unwrap();
        for _ in 0..4 {
            full.train_step().unwrap();
        }
        let (_, data) = tiny_run(1, 1, 4);
        let mut first = SssTrainer::resume(&start, data, &device).unwrap();
        first.train_step().unwrap();
        first.train_step().unwrap();
        first.save_checkpoint(&dir).unwrap();
        drop(first);
        let (_, data) = tiny_run(1, 1, 4);
        let mut resumed = SssTrainer::resume(&dir, data, &device).unwrap();
        assert_eq!(resumed.step, 2);
        resumed.train_step().unwrap();
        resumed.train_step().unwrap();
        assert_eq!(floats(&resumed.teacher), floats(&full.teacher));
        assert_eq!(
            floats(&resumed.student.net.valid()),
            floats(&full.student.net.valid())
        );
        assert_eq!(resumed.prompt_cache, full.prompt_cache);
        let (_, other) = tiny_run(2, 1, 4);
        assert!(
            SssTrainer::resume(&dir, other, &device).is_err(),
            "other data"
        );
        // Killed between the two renames of the swap: the finished new checkpoint is found.
        std::fs::rename(dir.join("checkpoint"), dir.join("checkpoint.tmp")).unwrap();
        assert_eq!(resume_dir(&dir).unwrap(), dir.join("checkpoint.tmp"));
        let (_, data) = tiny_run(1, 1, 4);
        assert_eq!(SssTrainer::resume(&dir, data, &device).unwrap().step, 2);
        // Killed while writing the new one (no state.json yet), with the old one set aside.
        std::fs::remove_file(dir.join("checkpoint.tmp/state.json")).unwrap();
        std::fs::create_dir_all(dir.join("checkpoint.old")).unwrap();
        assert!(resume_dir(&dir).is_err(), "no complete checkpoint");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
