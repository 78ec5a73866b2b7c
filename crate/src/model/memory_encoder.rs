//! The memory encoder (`sam2/modeling/memory_encoder.py`): the mask is downsampled to the
//! feature stride (`MaskDownSampler`), added to the projected pixel features, fused by
//! ConvNeXt blocks (`Fuser` of `CXBlock`s), projected to the memory width (`out_proj`) and
//! given a sine position encoding.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor, activation};

use super::common::LayerNorm2d;
use super::config::MemoryEncoderConfig;
use super::kernels;
use super::position_encoding::PositionEmbeddingSine;

/// One weighted layer of the downsampler's `nn.Sequential`. Its GELUs hold no weights, so the
/// official indices (0, 1, 3, 4, …, 12) are made contiguous on import (see `model::import`).
#[derive(Module, Debug)]
pub enum MaskDownSamplerLayer {
    Conv(Conv2d),
    /// A `LayerNorm2d`, always followed by GELU.
    Norm(LayerNorm2d),
}

/// `MaskDownSampler`: (conv stride s, LayerNorm2d, GELU) × log_s(total_stride), then 1×1 conv.
#[derive(Module, Debug)]
pub struct MaskDownSampler {
    pub encoder: Vec<MaskDownSamplerLayer>,
}

impl MaskDownSampler {
    pub fn new(cfg: &MemoryEncoderConfig, embed_dim: usize, device: &Device) -> Self {
        let s = cfg.mask_downsampler_stride.max(2);
        let mut num_layers = 0;
        let mut total = 1;
        while total < cfg.mask_downsampler_total_stride {
            total *= s;
            num_layers += 1;
        }
        let (k, p) = (
            cfg.mask_downsampler_kernel_size,
            cfg.mask_downsampler_padding,
        );
        let mut encoder = Vec::with_capacity(2 * num_layers + 1);
        let mut in_chans = 1;
        for _ in 0..num_layers {
            let out_chans = in_chans * s * s;
            encoder.push(MaskDownSamplerLayer::Conv(
                Conv2dConfig::new([in_chans, out_chans], [k, k])
                    .with_stride([s, s])
                    .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                    .init(device),
            ));
            encoder.push(MaskDownSamplerLayer::Norm(LayerNorm2d::new(
                out_chans, 1e-6, device,
            )));
            in_chans = out_chans;
        }
        encoder.push(MaskDownSamplerLayer::Conv(
            Conv2dConfig::new([in_chans, embed_dim], [1, 1]).init(device),
        ));
        Self { encoder }
    }

    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        for layer in &self.encoder {
            x = match layer {
                MaskDownSamplerLayer::Conv(conv) => conv.forward(x),
                MaskDownSamplerLayer::Norm(norm) => kernels::gelu(norm.forward(x)),
            };
        }
        x
    }
}

/// `CXBlock`: depthwise conv, LayerNorm2d, pointwise MLP (as linears), layer scale, residual.
#[derive(Module, Debug)]
pub struct CXBlock {
    pub dwconv: Conv2d,
    pub norm: LayerNorm2d,
    pub pwconv1: Linear,
    pub pwconv2: Linear,
    pub gamma: Option<Param<Tensor<1>>>,
}

impl CXBlock {
    pub fn new(cfg: &MemoryEncoderConfig, dim: usize, device: &Device) -> Self {
        let (k, p) = (cfg.fuser_kernel_size, cfg.fuser_padding);
        Self {
            dwconv: Conv2dConfig::new([dim, dim], [k, k])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_groups(if cfg.fuser_use_dwconv { dim } else { 1 })
                .init(device),
            norm: LayerNorm2d::new(dim, 1e-6, device),
            pwconv1: LinearConfig::new(dim, 4 * dim).init(device),
            pwconv2: LinearConfig::new(4 * dim, dim).init(device),
            gamma: (cfg.fuser_layer_scale_init_value > 0.0).then(|| {
                Initializer::Constant {
                    value: cfg.fuser_layer_scale_init_value,
                }
                .init([dim], device)
            }),
        }
    }

    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = self.norm.forward(self.dwconv.forward(input.clone()));
        let x = x.permute([0, 2, 3, 1]);
        let hidden = kernels::gelu(kernels::linear(&self.pwconv1, x));
        let x = kernels::linear(&self.pwconv2, hidden);
        let x = match &self.gamma {
            Some(g) => {
                let c = g.dims()[0];
                x * g.val().reshape([1, 1, 1, c])
            }
            None => x,
        };
        input + x.permute([0, 3, 1, 2])
    }
}

/// `Fuser`: an optional 1×1 input projection, then the CX blocks.
#[derive(Module, Debug)]
pub struct Fuser {
    pub proj: Option<Conv2d>,
    pub layers: Vec<CXBlock>,
}

impl Fuser {
    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        if let Some(proj) = &self.proj {
            x = proj.forward(x);
        }
        for layer in &self.layers {
            x = layer.forward(x);
        }
        x
    }
}

/// `MemoryEncoder`.
#[derive(Module, Debug)]
pub struct MemoryEncoder {
    pub mask_downsampler: MaskDownSampler,
    pub pix_feat_proj: Conv2d,
    pub fuser: Fuser,
    pub position_encoding: PositionEmbeddingSine,
    pub out_proj: Option<Conv2d>,
}

impl MemoryEncoder {
    pub fn new(cfg: &MemoryEncoderConfig, device: &Device) -> Self {
        let d = cfg.in_dim;
        Self {
            mask_downsampler: MaskDownSampler::new(cfg, d, device),
            pix_feat_proj: Conv2dConfig::new([d, d], [1, 1]).init(device),
            fuser: Fuser {
                proj: cfg
                    .fuser_input_projection
                    .then(|| Conv2dConfig::new([d, d], [1, 1]).init(device)),
                layers: (0..cfg.fuser_num_layers)
                    .map(|_| CXBlock::new(cfg, d, device))
                    .collect(),
            },
            position_encoding: PositionEmbeddingSine::new(cfg.num_pos_feats, cfg.temperature),
            out_proj: (cfg.out_dim != d)
                .then(|| Conv2dConfig::new([d, cfg.out_dim], [1, 1]).init(device)),
        }
    }

    /// `forward`: pixel features `[B, C, H, W]` and masks `[B, 1, 16H, 16W]` →
    /// (memory features `[B, C_mem, H, W]`, position encoding `[B, C_mem, H, W]`).
    pub fn forward(
        &self,
        pix_feat: Tensor<4>,
        masks: Tensor<4>,
        skip_mask_sigmoid: bool,
    ) -> (Tensor<4>, Tensor<4>) {
        let masks = if skip_mask_sigmoid {
            masks
        } else {
            activation::sigmoid(masks)
        };
        let masks = self.mask_downsampler.forward(masks);
        let x = self.pix_feat_proj.forward(pix_feat) + masks;
        let x = self.fuser.forward(x);
        let x = match &self.out_proj {
            Some(p) => p.forward(x),
            None => x,
        };
        let [b, _, h, w] = x.dims();
        let pos = self.position_encoding.forward(b, h, w, &x.device());
        (x, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sam2Config;
    use burn::tensor::Distribution;

    #[test]
    fn micro_memory_encoder_has_the_official_layers_and_shapes() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 117, || {
            let device = Device::flex();
            let cfg = Sam2Config::micro();
            let enc = MemoryEncoder::new(&cfg.memory_encoder, &device);
            assert_eq!(enc.mask_downsampler.encoder.len(), 9);
            match &enc.mask_downsampler.encoder[6] {
                MaskDownSamplerLayer::Conv(c) => assert_eq!(c.weight.dims(), [256, 64, 3, 3]),
                MaskDownSamplerLayer::Norm(_) => panic!("layer 6 must be a conv"),
            }
            let pix = Tensor::<4>::random([1, 32, 16, 16], Distribution::Normal(0.0, 1.0), &device);
            let mask =
                Tensor::<4>::random([1, 1, 256, 256], Distribution::Normal(0.0, 1.0), &device);
            let (feat, pos) = enc.forward(pix, mask, false);
            assert_eq!(feat.dims(), [1, 16, 16, 16]);
            assert_eq!(pos.dims(), [1, 16, 16, 16]);
        })
    }
}
