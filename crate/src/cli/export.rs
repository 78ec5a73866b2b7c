//! `sss export RUN_DIR -o STEM`: the run's network as page weights — `STEM.bpk` (f16 on disk,
//! f32 once loaded) and `STEM.json` (the manifest) — checked by loading them back through the
//! loader the page uses (`weights::load_sss`).

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::{DType, Device};
use clap::Args;

use super::sss_weights::read_weights;
use crate::weights::{self, decode_into, load_sss, write_export};

/// Arguments of `sss export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Run directory (or a manifest .json of SSS weights).
    pub run: PathBuf,
    /// Output stem: writes STEM.bpk and STEM.json.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Keep f32 on disk.
    #[arg(long)]
    pub f32: bool,
}

/// Runs the command.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let device = Device::flex();
    let (manifest, bytes) = read_weights(&args.run)?;
    let net = load_sss(&manifest, bytes, &device)?;
    let dtype = if args.f32 { DType::F32 } else { DType::F16 };
    let encoded = weights::encode_module(net.clone(), dtype)?;
    let mut manifest = manifest;
    manifest.provenance = format!(
        "{} (exported from: {})",
        std::env::args().collect::<Vec<_>>().join(" "),
        manifest.provenance
    );
    let path = write_export(&args.out, manifest, &encoded, dtype)?;
    let (reread, bytes) = weights::read_export(&path)?;
    let reloaded = load_sss(&reread, bytes, &device).context("reloading the export")?;
    // The reloaded network equals the f16-rounded original.
    let rounded = decode_into(net, encoded)?;
    let a = weights::encode_module(rounded, DType::F32)?;
    let b = weights::encode_module(reloaded, DType::F32)?;
    anyhow::ensure!(a == b, "the export does not load back to the same weights");
    println!(
        "wrote {} ({} on disk, {:.1} MB)",
        path.display(),
        reread.weights_dtype,
        std::fs::metadata(args.out.with_extension("bpk"))?.len() as f64 / 1e6
    );
    Ok(())
}
