//! The image encoder (`sam2/modeling/backbones/image_encoder.py`): the Hiera trunk, the FPN
//! neck (1×1 lateral convs, top-down fusion on chosen levels, sine position encodings) and
//! `scalp`, which drops the coarsest levels; and the input normalisation every caller of the
//! encoder applies first ([`normalise_input`]).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData};

use super::common::{Resample, resize};
use super::config::{FpnInterp, FpnNeckConfig, FuseType, Sam2Config};
use super::hiera::Hiera;
use super::position_encoding::PositionEmbeddingSine;

/// SAM-2's input normalisation (ImageNet mean and std, `sam2/utils/misc.py`).
pub const IMG_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMG_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// SAM-2's mean/std normalisation of images `[B, 3, H, W]` with values in [0, 1], before the
/// image encoder (inference and training alike).
pub fn normalise_input(x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let mean: Tensor<4> =
        Tensor::from_data(TensorData::new(IMG_MEAN.to_vec(), [1, 3, 1, 1]), &device);
    let std: Tensor<4> =
        Tensor::from_data(TensorData::new(IMG_STD.to_vec(), [1, 3, 1, 1]), &device);
    (x - mean) / std
}

/// One lateral branch of the neck (`nn.Sequential` holding a conv named `conv`).
#[derive(Module, Debug)]
pub struct FpnLateral {
    pub conv: Conv2d,
}

/// `FpnNeck`: lateral 1×1 convs, top-down nearest/bilinear upsampling, sine position encodings.
#[derive(Module, Debug)]
pub struct FpnNeck {
    /// One per trunk level, coarsest first (as `backbone_channel_list`).
    pub convs: Vec<FpnLateral>,
    pub position_encoding: PositionEmbeddingSine,
    fpn_top_down_levels: Vec<usize>,
    #[module(skip)]
    fpn_interp_model: FpnInterp,
    #[module(skip)]
    fuse_type: FuseType,
}

impl FpnNeck {
    pub fn new(cfg: &FpnNeckConfig, device: &Device) -> Self {
        Self {
            convs: cfg
                .backbone_channel_list
                .iter()
                .map(|&dim| FpnLateral {
                    conv: Conv2dConfig::new([dim, cfg.d_model], [1, 1]).init(device),
                })
                .collect(),
            position_encoding: PositionEmbeddingSine::new(cfg.num_pos_feats, cfg.temperature),
            fpn_top_down_levels: cfg.fpn_top_down_levels.clone(),
            fpn_interp_model: cfg.fpn_interp_model,
            fuse_type: cfg.fuse_type,
        }
    }

    fn upsample2(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        match self.fpn_interp_model {
            FpnInterp::Nearest => interpolate(
                x,
                InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([2 * h, 2 * w]),
            ),
            FpnInterp::Bilinear => resize(x, [2 * h, 2 * w], Resample::Bilinear),
        }
    }

    /// Trunk levels (finest first) → (features, position encodings), finest first.
    pub fn forward(&self, xs: Vec<Tensor<4>>) -> (Vec<Tensor<4>>, Vec<Tensor<4>>) {
        let n = self.convs.len() - 1;
        let mut out: Vec<Option<Tensor<4>>> = vec![None; n + 1];
        let mut pos: Vec<Option<Tensor<4>>> = vec![None; n + 1];
        let mut prev: Option<Tensor<4>> = None;
        for i in (0..=n).rev() {
            let lateral = self.convs[n - i].conv.forward(xs[i].clone());
            let fused = match prev.take() {
                Some(p) if self.fpn_top_down_levels.contains(&i) => {
                    let sum = lateral + self.upsample2(p);
                    match self.fuse_type {
                        FuseType::Sum => sum,
                        FuseType::Avg => sum / 2.0,
                    }
                }
                _ => lateral,
            };
            let [b, _, h, w] = fused.dims();
            pos[i] = Some(self.position_encoding.forward(b, h, w, &fused.device()));
            out[i] = Some(fused.clone());
            prev = Some(fused);
        }
        (
            out.into_iter().flatten().collect(),
            pos.into_iter().flatten().collect(),
        )
    }
}

/// What the image encoder returns (`vision_features` = the coarsest kept level).
#[derive(Clone, Debug)]
pub struct ImageEncoderOutput {
    pub vision_features: Tensor<4>,
    pub vision_pos_enc: Vec<Tensor<4>>,
    pub backbone_fpn: Vec<Tensor<4>>,
}

/// `ImageEncoder`: trunk + neck, dropping the `scalp` coarsest levels.
#[derive(Module, Debug)]
pub struct ImageEncoder {
    pub trunk: Hiera,
    pub neck: FpnNeck,
    scalp: usize,
}

impl ImageEncoder {
    pub fn new(cfg: &Sam2Config, device: &Device) -> Self {
        Self {
            trunk: Hiera::new(&cfg.trunk, device),
            neck: FpnNeck::new(&cfg.neck, device),
            scalp: cfg.scalp,
        }
    }

    pub fn forward(&self, sample: Tensor<4>) -> ImageEncoderOutput {
        let (mut features, mut pos) = self.neck.forward(self.trunk.forward(sample));
        let keep = features.len() - self.scalp;
        features.truncate(keep);
        pos.truncate(keep);
        ImageEncoderOutput {
            vision_features: features[keep - 1].clone(),
            vision_pos_enc: pos,
            backbone_fpn: features,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn micro_encoder_gives_three_levels_after_scalp() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 109, || {
            let device = Device::flex();
            let cfg = Sam2Config::micro();
            let enc = ImageEncoder::new(&cfg, &device);
            let x = Tensor::<4>::random([1, 3, 256, 256], Distribution::Normal(0.0, 1.0), &device);
            let out = enc.forward(x);
            let dims: Vec<[usize; 4]> = out.backbone_fpn.iter().map(|t| t.dims()).collect();
            assert_eq!(
                dims,
                vec![[1, 32, 64, 64], [1, 32, 32, 32], [1, 32, 16, 16]]
            );
            assert_eq!(out.vision_features.dims(), [1, 32, 16, 16]);
            assert_eq!(out.vision_pos_enc[2].dims(), [1, 32, 16, 16]);
        })
    }
}
