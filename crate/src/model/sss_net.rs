//! The SSS network: SAM-2 (`Sam2Base`) plus the trained coarse head on FPN level 0.
//!
//! One encoder pass gives both what SAM-2's heads need ([`BackboneFeatures`], exactly as
//! `Sam2Base::forward_image`) and the coarse class logits PCSW reads. The coarse head sees the
//! neck's level 0 before `conv_s0` (`d_model` channels at a quarter of the image size), the
//! features the released PCSW head was written for (`docs/sss-method.md` §1.2).
//!
//! DFE is not part of this module: it is only used in training (`train::trainer`), so exported
//! weights and the page carry SAM-2 and the coarse head only.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::coarse_head::{CoarseHead, CoarseHeadConfig};
use super::config::Sam2Config;
use super::sam2_base::{BackboneFeatures, Sam2Base};
use crate::Result;

/// An encoded batch of slices.
#[derive(Clone, Debug)]
pub struct SssEncoded {
    /// What SAM-2's heads consume (batch = slices).
    pub features: BackboneFeatures,
    /// Coarse class logits `[B, K, S/4, S/4]`.
    pub coarse_logits: Tensor<4>,
}

/// SAM-2 and the coarse head.
#[derive(Module, Debug)]
pub struct SssNet {
    pub sam: Sam2Base,
    pub coarse_head: CoarseHead,
}

impl SssNet {
    /// Fresh weights: `num_classes` includes the background.
    pub fn new(sam2: &Sam2Config, coarse_head: &CoarseHeadConfig, device: &Device) -> Result<Self> {
        if coarse_head.in_channels != sam2.hidden_dim() {
            return Err(crate::SssError::InvalidInput(format!(
                "coarse head expects {} input channels but the SAM-2 neck gives {}",
                coarse_head.in_channels,
                sam2.hidden_dim()
            )));
        }
        Ok(Self {
            sam: Sam2Base::new(sam2, device)?,
            coarse_head: coarse_head.init(device)?,
        })
    }

    /// The coarse head's configuration for a SAM-2 config and a class count (defaults else).
    pub fn coarse_head_config(sam2: &Sam2Config, num_classes: usize) -> CoarseHeadConfig {
        CoarseHeadConfig::new(sam2.hidden_dim(), num_classes)
    }

    /// Encodes normalised slices `[B, 3, S, S]`.
    pub fn encode(&self, images: Tensor<4>) -> SssEncoded {
        let cfg = self.sam.config();
        let out = self.sam.image_encoder.forward(images);
        let mut fpn = out.backbone_fpn;
        let coarse_logits = self.coarse_head.forward_fpn(&fpn);
        if cfg.use_high_res_features_in_sam
            && let (Some(s0), Some(s1)) = (
                &self.sam.sam_mask_decoder.conv_s0,
                &self.sam.sam_mask_decoder.conv_s1,
            )
        {
            fpn[0] = s0.forward(fpn[0].clone());
            fpn[1] = s1.forward(fpn[1].clone());
        }
        let levels = if cfg.use_high_res_features_in_sam {
            3
        } else {
            1
        };
        let skip = fpn.len() - levels.min(fpn.len());
        SssEncoded {
            features: BackboneFeatures {
                vision_feats: fpn.into_iter().skip(skip).collect(),
                vision_pos_embeds: out.vision_pos_enc.into_iter().skip(skip).collect(),
            },
            coarse_logits,
        }
    }
}

/// The features of slice `index` of an encoded batch (batch 1).
pub fn select_slice(features: &BackboneFeatures, index: usize) -> BackboneFeatures {
    let pick = |v: &Vec<Tensor<4>>| v.iter().map(|t| t.clone().narrow(0, index, 1)).collect();
    BackboneFeatures {
        vision_feats: pick(&features.vision_feats),
        vision_pos_embeds: pick(&features.vision_pos_embeds),
    }
}

/// Slices `start..start+len` of an encoded batch.
pub fn select_slices(features: &BackboneFeatures, start: usize, len: usize) -> BackboneFeatures {
    let pick = |v: &Vec<Tensor<4>>| v.iter().map(|t| t.clone().narrow(0, start, len)).collect();
    BackboneFeatures {
        vision_feats: pick(&features.vision_feats),
        vision_pos_embeds: pick(&features.vision_pos_embeds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn encode_matches_forward_image_and_gives_coarse_logits() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 122, || {
            let device = Device::flex();
            let cfg = Sam2Config::micro();
            let net = SssNet::new(&cfg, &SssNet::coarse_head_config(&cfg, 4), &device).unwrap();
            let x = Tensor::<4>::random([2, 3, 256, 256], Distribution::Normal(0.0, 1.0), &device);
            let enc = net.encode(x.clone());
            let reference = net.sam.forward_image(x);
            assert_eq!(enc.coarse_logits.dims(), [2, 4, 64, 64]);
            for (a, b) in enc
                .features
                .vision_feats
                .iter()
                .zip(&reference.vision_feats)
            {
                let d = (a.clone() - b.clone()).abs().max().into_scalar::<f32>();
                assert!(d == 0.0, "level differs by {d}");
            }
            let one = select_slice(&enc.features, 1);
            assert_eq!(one.vision_feats[0].dims()[0], 1);
        })
    }
}
