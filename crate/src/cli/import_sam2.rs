//! `sss import-sam2`: converts an official SAM-2 / SAM-2.1 PyTorch checkpoint into the
//! project's burnpack format (`.bpk`, the configuration in its metadata) plus the
//! configuration as JSON beside it.

use std::path::PathBuf;

use anyhow::Context;
use burn::module::Module;
use burn::tensor::Device;

use crate::model::Sam2Config;
use crate::model::import::{load_sam2_checkpoint, save_sam2_burnpack};

/// Arguments of `sss import-sam2`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The official checkpoint (`sam2.1_hiera_tiny.pt`, `sam2_hiera_small.pt`, …).
    pub checkpoint: PathBuf,
    /// Model size: tiny, small, base_plus, large or micro.
    #[arg(long, default_value = "tiny")]
    pub config: String,
    /// Output path; `.bpk` is added when it has no extension.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Read a SAM-2.0 checkpoint (`configs/sam2/` flags). Without it a checkpoint that does
    /// not fit SAM-2.1 is retried as SAM-2.0.
    #[arg(long)]
    pub sam2_0: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let device = Device::flex();
    let base = Sam2Config::by_name(&args.config)?;
    let (model, config) = if args.sam2_0 {
        let cfg = base.into_sam2_0();
        (load_sam2_checkpoint(&args.checkpoint, &cfg, &device)?, cfg)
    } else {
        match load_sam2_checkpoint(&args.checkpoint, &base, &device) {
            Ok(model) => (model, base),
            Err(first) => {
                let legacy = base.clone().into_sam2_0();
                match load_sam2_checkpoint(&args.checkpoint, &legacy, &device) {
                    Ok(model) => {
                        log::info!(
                            "the checkpoint is a SAM-2.0 model; imported with the SAM-2.0 flags"
                        );
                        (model, legacy)
                    }
                    Err(_) => return Err(first.into()),
                }
            }
        }
    };
    let written = save_sam2_burnpack(&model, &args.output)?;
    let config_path = written.with_extension("config.json");
    std::fs::write(&config_path, serde_json::to_string_pretty(&config)?)
        .with_context(|| format!("writing {}", config_path.display()))?;
    println!(
        "imported SAM-2 `{}` ({} parameters) from {}\n  weights: {}\n  config:  {}",
        config.name,
        model.num_params(),
        args.checkpoint.display(),
        written.display(),
        config_path.display()
    );
    Ok(())
}
