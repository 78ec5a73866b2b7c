//! Loading SAM-2 weights: official PyTorch checkpoints (`sam2_hiera_*.pt`,
//! `sam2.1_hiera_*.pt`: a zip with the state dict under the top-level key `"model"`) and the
//! project's own burnpack (`.bpk`) files.
//!
//! The model's fields carry the official state-dict names, so the official keys load by name.
//! What is remapped:
//! - `nn.Sequential` gaps where weightless activations sit
//!   (`sam_prompt_encoder.mask_downscaling.{0,1,3,4,6}`,
//!   `sam_mask_decoder.output_upscaling.{0,1,3}`,
//!   `memory_encoder.mask_downsampler.encoder.{0,1,3,…,12}`) are made contiguous by burn-store's
//!   contiguous index mapping (on by default for `PytorchStore`), matching the tuples and the
//!   layer list of the Rust modules;
//! - a plain `nn.Linear` where an official flag turns an `MLP` off (`pred_obj_score_head`,
//!   `obj_ptr_proj`) loads into the one-layer MLP that stands for it (`….layers.0.…`);
//! - PyTorch `Linear` weights are transposed and `LayerNorm` `weight/bias` become
//!   `gamma/beta` by burn-store's `PyTorchToBurnAdapter`.
//!
//! A checkpoint that does not match the configuration is refused, naming the missing and
//! unexpected keys and the shape mismatches.

use burn::store::{ApplyResult, BurnpackStore, ModuleSnapshot};
use burn::tensor::{Bytes, Device};

use super::config::Sam2Config;
use super::sam2_base::Sam2Base;
use crate::{Result, SssError};

/// Metadata key under which a burnpack file records its `Sam2Config` (JSON).
pub const CONFIG_METADATA_KEY: &str = "sss.sam2_config";

const LIST_LIMIT: usize = 25;

fn list(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(LIST_LIMIT)
        .map(|k| format!("  {k}"))
        .collect::<Vec<_>>()
        .join("\n");
    if items.len() > LIST_LIMIT {
        s.push_str(&format!("\n  … and {} more", items.len() - LIST_LIMIT));
    }
    s
}

/// Turns an incomplete or inconsistent load into an error that names what is wrong.
fn check_applied(result: &ApplyResult, source: &str, config: &Sam2Config) -> Result<()> {
    let missing: Vec<String> = result.missing.iter().map(|(p, _)| p.clone()).collect();
    let errors: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
    if missing.is_empty() && result.unused.is_empty() && errors.is_empty() {
        return Ok(());
    }
    let mut msg = format!(
        "{source} does not match the SAM-2 `{}` configuration",
        config.name
    );
    if !missing.is_empty() {
        msg.push_str(&format!(
            "\nmissing keys ({}):\n{}",
            missing.len(),
            list(&missing)
        ));
    }
    if !result.unused.is_empty() {
        msg.push_str(&format!(
            "\nunexpected keys ({}):\n{}",
            result.unused.len(),
            list(&result.unused)
        ));
    }
    if !errors.is_empty() {
        msg.push_str(&format!(
            "\nmismatches ({}):\n{}",
            errors.len(),
            list(&errors)
        ));
    }
    Err(SssError::Weights(msg))
}

/// The key remapping rules an official checkpoint needs for `config`.
pub fn checkpoint_remap_rules(config: &Sam2Config) -> Vec<(&'static str, &'static str)> {
    let mut rules = Vec::new();
    if config.pred_obj_scores && !config.pred_obj_scores_mlp {
        rules.push((
            r"^sam_mask_decoder\.pred_obj_score_head\.(weight|bias)$",
            "sam_mask_decoder.pred_obj_score_head.layers.0.$1",
        ));
    }
    if config.use_obj_ptrs_in_encoder && !config.use_mlp_for_obj_ptr_proj {
        rules.push((r"^obj_ptr_proj\.(weight|bias)$", "obj_ptr_proj.layers.0.$1"));
    }
    rules
}

/// Reads an official SAM-2 / SAM-2.1 PyTorch checkpoint into a model of `config`.
#[cfg(feature = "native")]
pub fn load_sam2_checkpoint(
    path: &std::path::Path,
    config: &Sam2Config,
    device: &Device,
) -> Result<Sam2Base> {
    use burn::store::{KeyRemapper, PytorchStore};

    if !path.is_file() {
        return Err(SssError::Weights(format!(
            "checkpoint {} does not exist or is not a file",
            path.display()
        )));
    }
    let mut model = Sam2Base::new(config, device)?;
    let remapper = KeyRemapper::from_patterns(checkpoint_remap_rules(config))
        .map_err(|e| SssError::Weights(format!("bad remap rule: {e}")))?;
    let mut store = PytorchStore::from_file(path)
        .with_top_level_key("model")
        .remap(remapper)
        .allow_partial(true)
        .validate(false);
    let result = model.load_from(&mut store).map_err(|e| {
        SssError::Weights(format!(
            "cannot read {} as a SAM-2 checkpoint (a PyTorch file whose state dict is under \
             the key \"model\"): {e}",
            path.display()
        ))
    })?;
    check_applied(&result, &path.display().to_string(), config)?;
    Ok(model)
}

/// Writes the model as burnpack to `path` (`.bpk` is appended when missing), recording the
/// configuration in the metadata. Returns the path written.
#[cfg(feature = "native")]
pub fn save_sam2_burnpack(model: &Sam2Base, path: &std::path::Path) -> Result<std::path::PathBuf> {
    let config_json = serde_json::to_string(model.config())
        .map_err(|e| SssError::Weights(format!("cannot serialise the config: {e}")))?;
    let mut store = BurnpackStore::from_file(path)
        .overwrite(true)
        .metadata(CONFIG_METADATA_KEY, config_json);
    model
        .save_into(&mut store)
        .map_err(|e| SssError::Weights(format!("cannot write {}: {e}", path.display())))?;
    let written = if path.extension().is_some() {
        path.to_path_buf()
    } else {
        path.with_extension("bpk")
    };
    Ok(written)
}

/// Loads burnpack bytes (a file written by [`save_sam2_burnpack`]) into a model of `config`.
/// Works on every target; the bytes are consumed.
pub fn load_sam2_burnpack_bytes(
    bytes: Vec<u8>,
    config: &Sam2Config,
    device: &Device,
) -> Result<Sam2Base> {
    let mut model = Sam2Base::new(config, device)?;
    let mut store = BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(bytes)))
        .allow_partial(true)
        .validate(false);
    let result = model
        .load_from(&mut store)
        .map_err(|e| SssError::Weights(format!("cannot read the burnpack weights: {e}")))?;
    check_applied(&result, "the burnpack weights", config)?;
    // A burnpack keeps its tensors' dtype (f16 for `sss pretrain`'s foundation weights);
    // parameters are f32 in memory.
    Ok(crate::weights::cast_floats(model, burn::tensor::DType::F32))
}

/// Loads a burnpack file into a model of `config`.
#[cfg(feature = "native")]
pub fn load_sam2_burnpack(
    path: &std::path::Path,
    config: &Sam2Config,
    device: &Device,
) -> Result<Sam2Base> {
    let bytes =
        std::fs::read(path).map_err(|e| SssError::io(format!("reading {}", path.display()), e))?;
    load_sam2_burnpack_bytes(bytes, config, device)
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use burn::tensor::Tensor;

    #[test]
    fn f16_burnpack_loads_into_an_f32_model() {
        use burn::tensor::DType;
        let device = Device::flex();
        let cfg = Sam2Config::micro();
        let model = Sam2Base::new(&cfg, &device).unwrap();
        let half = crate::weights::cast_floats(model.clone(), DType::F16);
        let dir = std::env::temp_dir().join(format!("sss-import-f16-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = save_sam2_burnpack(&half, &dir.join("micro-f16")).unwrap();
        let f32_size = save_sam2_burnpack(&model, &dir.join("micro-f32")).unwrap();
        let (small, large) = (
            std::fs::metadata(&path).unwrap().len(),
            std::fs::metadata(&f32_size).unwrap().len(),
        );
        assert!(small * 10 < large * 6, "f16 {small} bytes vs f32 {large}");
        let loaded = load_sam2_burnpack(&path, &cfg, &device).unwrap();
        let a: Tensor<2> = model.sam_mask_decoder.iou_token.weight.val();
        let b: Tensor<2> = loaded.sam_mask_decoder.iou_token.weight.val();
        assert_eq!(b.dtype(), DType::F32);
        let rounded = a.clone().cast(DType::F16).cast(DType::F32);
        assert_eq!((rounded - b.clone()).abs().max().into_scalar::<f32>(), 0.0);
        assert!(
            (a - b).abs().max().into_scalar::<f32>() > 0.0,
            "f16 must round something"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn burnpack_round_trip_restores_every_weight() {
        let device = Device::flex();
        let cfg = Sam2Config::micro();
        let model = Sam2Base::new(&cfg, &device).unwrap();
        let dir = std::env::temp_dir().join(format!("sss-import-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = save_sam2_burnpack(&model, &dir.join("micro")).unwrap();
        let loaded = load_sam2_burnpack(&path, &cfg, &device).unwrap();
        let a: Tensor<4> = model.image_encoder.trunk.pos_embed.val();
        let b: Tensor<4> = loaded.image_encoder.trunk.pos_embed.val();
        assert_eq!((a - b).abs().max().into_scalar::<f32>(), 0.0);
        let a = model
            .sam_prompt_encoder
            .pe_layer
            .positional_encoding_gaussian_matrix
            .val();
        let b = loaded
            .sam_prompt_encoder
            .pe_layer
            .positional_encoding_gaussian_matrix
            .val();
        assert_eq!((a - b).abs().max().into_scalar::<f32>(), 0.0);
        // A different configuration is refused with the offending keys named.
        let err = load_sam2_burnpack(&path, &Sam2Config::micro().into_sam2_0(), &device)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("unexpected keys"), "{err}");
        assert!(err.contains("no_obj_embed_spatial"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
