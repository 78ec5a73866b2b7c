//! Finding and loading SSS weights for `eval`, `segment` and `export`: a run directory (its
//! `model.json`) or a manifest written by `sss export`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::Device;

use crate::predictor::pipeline::SssSegmenter;
use crate::weights::{Manifest, read_export};

/// The manifest path `--weights` means: `DIR/model.json` for a run directory, else the path.
pub fn manifest_path(weights: &Path) -> PathBuf {
    if weights.is_dir() {
        weights.join("model.json")
    } else {
        weights.to_path_buf()
    }
}

/// Reads the manifest and weights `--weights` names.
pub fn read_weights(weights: &Path) -> anyhow::Result<(Manifest, Vec<u8>)> {
    let path = manifest_path(weights);
    read_export(&path).with_context(|| {
        format!(
            "reading SSS weights from {} (a run directory with model.json, or an export's .json)",
            path.display()
        )
    })
}

/// Loads a segmenter through the shared loader.
pub fn load_segmenter(weights: &Path, device: &Device) -> anyhow::Result<(Manifest, SssSegmenter)> {
    let (manifest, bytes) = read_weights(weights)?;
    let segmenter = SssSegmenter::load(&manifest, bytes, device)?;
    Ok((manifest, segmenter))
}
