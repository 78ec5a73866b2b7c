//! The foundation weights `sss train` starts from by default: SAM-2 `micro-wide` pretrained by
//! `sss pretrain` on procedural, task-agnostic 3-D scenes (never on medical data), built into
//! the binary from `crate/assets/foundation/` together with their configuration and the
//! provenance file that says how they were made.

use crate::model::Sam2Config;
use crate::model::import::load_sam2_burnpack_bytes;
use crate::model::sam2_base::Sam2Base;
use crate::{Result, SssError};
use burn::tensor::Device;

/// The weights' name (their file stem in `crate/assets/foundation/`).
pub const NAME: &str = "micro-wide-128";
/// The f16 burnpack.
const WEIGHTS: &[u8] = include_bytes!("../../assets/foundation/micro-wide-128.bpk");
/// The SAM-2 configuration they were trained in.
const CONFIG: &str = include_str!("../../assets/foundation/micro-wide-128.config.json");
/// How they were made (command, steps, sha256 of the weights).
pub const PROVENANCE: &str = include_str!("../../assets/foundation/micro-wide-128.json");

/// The configuration the foundation weights were trained in.
pub fn config() -> Result<Sam2Config> {
    serde_json::from_str(CONFIG)
        .map_err(|e| SssError::Weights(format!("the built-in foundation config: {e}")))
}

/// sha256 of the built-in weights, as their provenance file records it.
pub fn sha256() -> String {
    crate::weights::sha256_hex(WEIGHTS)
}

/// True when a model of `config` can start from the foundation weights: the same
/// architecture, at any image size (position embeddings are resized) and with any
/// tracking-time setting.
pub fn fits(model: &Sam2Config) -> bool {
    config().is_ok_and(|mut f| {
        f.image_size = model.image_size;
        f.tracked_memories = model.tracked_memories;
        f == *model
    })
}

/// The foundation weights in a model of `config` (which must [`fits`]).
pub fn load(config: &Sam2Config, device: &Device) -> Result<Sam2Base> {
    if !fits(config) {
        return Err(SssError::InvalidInput(format!(
            "the built-in foundation weights ({NAME}) do not fit SAM-2 config {}: give --init \
             or --from-scratch",
            config.name
        )));
    }
    load_sam2_burnpack_bytes(WEIGHTS.to_vec(), config, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_names_the_weights_that_are_built_in() {
        let info: serde_json::Value = serde_json::from_str(PROVENANCE).unwrap();
        assert_eq!(info["weights_sha256"].as_str().unwrap(), sha256());
        assert_eq!(info["config"].as_str().unwrap(), config().unwrap().name);
        assert!(WEIGHTS.len() <= 10 << 20, "{} bytes", WEIGHTS.len());
    }

    #[test]
    fn fits_micro_wide_at_any_size_and_nothing_else() {
        let mut wide = Sam2Config::micro_wide();
        assert!(fits(&wide));
        wide.image_size = 64;
        assert!(fits(&wide));
        assert!(!fits(&Sam2Config::micro()));
        assert!(!fits(&Sam2Config::micro_wide().with_hidden_dim(64)));
        assert!(load(&Sam2Config::micro(), &Device::flex()).is_err());
    }
}
