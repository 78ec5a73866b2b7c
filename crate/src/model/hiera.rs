//! The Hiera trunk (`sam2/modeling/backbones/hieradet.py` and `backbones/utils.py`):
//! 7×7 stride-4 patch embedding, windowed or global multi-scale attention blocks with query
//! max-pooling at stage transitions, and the windowed positional embedding
//! (`pos_embed` interpolated bicubically + `pos_embed_window` tiled).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor};

use super::common::{ActivationKind, Mlp, Resample, resize};
use super::config::HieraConfig;
use super::kernels;

/// `PatchEmbed`: a 7×7 stride-4 padding-3 convolution, output channels-last `[B, H, W, C]`.
#[derive(Module, Debug)]
pub struct PatchEmbed {
    pub proj: Conv2d,
}

impl PatchEmbed {
    pub fn new(in_chans: usize, embed_dim: usize, device: &Device) -> Self {
        Self {
            proj: Conv2dConfig::new([in_chans, embed_dim], [7, 7])
                .with_stride([4, 4])
                .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
                .init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.proj.forward(x).permute([0, 2, 3, 1])
    }
}

/// Max-pools a channels-last map `[B, H, W, C]` with kernel = stride (`do_pool`, floor mode).
fn pool_channels_last(x: Tensor<4>, stride: [usize; 2]) -> Tensor<4> {
    kernels::max_pool_channels_last(x, stride)
}

/// `window_partition`: `[B, H, W, C]` → `[B·nW, ws, ws, C]`, zero-padding H and W up to a
/// multiple of `ws`. Returns the padded size too.
pub fn window_partition(x: Tensor<4>, ws: usize) -> (Tensor<4>, [usize; 2]) {
    let [b, h, w, c] = x.dims();
    let pad_h = (ws - h % ws) % ws;
    let pad_w = (ws - w % ws) % ws;
    let x = if pad_h > 0 || pad_w > 0 {
        x.pad(
            [(0, 0), (0, pad_h), (0, pad_w), (0, 0)],
            PadMode::Constant(0.0),
        )
    } else {
        x
    };
    let (hp, wp) = (h + pad_h, w + pad_w);
    let x: Tensor<6> = x.reshape([b, hp / ws, ws, wp / ws, ws, c]);
    let windows = x
        .permute([0, 1, 3, 2, 4, 5])
        .reshape([b * (hp / ws) * (wp / ws), ws, ws, c]);
    (windows, [hp, wp])
}

/// `window_unpartition`: the inverse of [`window_partition`], cropping the padding.
pub fn window_unpartition(
    windows: Tensor<4>,
    ws: usize,
    pad_hw: [usize; 2],
    hw: [usize; 2],
) -> Tensor<4> {
    let [hp, wp] = pad_hw;
    let [h, w] = hw;
    let c = windows.dims()[3];
    let b = windows.dims()[0] / (hp * wp / ws / ws);
    let x: Tensor<6> = windows.reshape([b, hp / ws, wp / ws, ws, ws, c]);
    let x: Tensor<4> = x.permute([0, 1, 3, 2, 4, 5]).reshape([b, hp, wp, c]);
    if hp > h || wp > w {
        x.slice([0..b, 0..h, 0..w, 0..c])
    } else {
        x
    }
}

/// `MultiScaleAttention`: fused qkv, optional query pooling, scaled dot-product attention.
#[derive(Module, Debug)]
pub struct MultiScaleAttention {
    pub qkv: Linear,
    pub proj: Linear,
    num_heads: usize,
    q_stride: Option<[usize; 2]>,
}

impl MultiScaleAttention {
    pub fn new(
        dim: usize,
        dim_out: usize,
        num_heads: usize,
        q_stride: Option<[usize; 2]>,
        device: &Device,
    ) -> Self {
        Self {
            qkv: LinearConfig::new(dim, dim_out * 3).init(device),
            proj: LinearConfig::new(dim_out, dim_out).init(device),
            num_heads,
            q_stride,
        }
    }

    /// `[B, H, W, C]` → `[B, H', W', C_out]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, mut h, mut w, _] = x.dims();
        let heads = self.num_heads;
        let qkv = kernels::linear(&self.qkv, x);
        let dim_out = qkv.dims()[3] / 3;
        let head_dim = dim_out / heads;
        let qkv: Tensor<5> = qkv.reshape([b, h * w, 3, heads, head_dim]);
        let take = |i: usize| -> Tensor<4> {
            qkv.clone()
                .narrow(2, i, 1)
                .reshape([b, h * w, heads, head_dim])
        };
        let (mut q, k, v) = (take(0), take(1), take(2));
        if let Some(stride) = self.q_stride {
            let pooled = pool_channels_last(q.reshape([b, h, w, dim_out]), stride);
            [_, h, w, _] = pooled.dims();
            q = pooled.reshape([b, h * w, heads, head_dim]);
        }
        let out = kernels::attention(q.swap_dims(1, 2), k.swap_dims(1, 2), v.swap_dims(1, 2));
        let out = out.swap_dims(1, 2).reshape([b, h, w, dim_out]);
        kernels::linear(&self.proj, out)
    }
}

/// `MultiScaleBlock`: pre-norm attention (windowed unless global) and MLP, with a pooled
/// projection shortcut where the width changes.
#[derive(Module, Debug)]
pub struct MultiScaleBlock {
    pub norm1: LayerNorm,
    pub attn: MultiScaleAttention,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
    pub proj: Option<Linear>,
    window_size: usize,
    q_stride: Option<[usize; 2]>,
}

/// The shape of one Hiera block: input and output width, heads, MLP ratio, query pooling
/// stride (the first block of a stage) and attention window (0: global attention).
#[derive(Clone, Copy, Debug)]
pub struct MultiScaleBlockSpec {
    pub dim: usize,
    pub dim_out: usize,
    pub num_heads: usize,
    pub mlp_ratio: f64,
    pub q_stride: Option<[usize; 2]>,
    pub window_size: usize,
}

impl MultiScaleBlock {
    pub fn new(spec: MultiScaleBlockSpec, device: &Device) -> Self {
        let MultiScaleBlockSpec {
            dim,
            dim_out,
            num_heads,
            mlp_ratio,
            q_stride,
            window_size,
        } = spec;
        let hidden = (dim_out as f64 * mlp_ratio) as usize;
        Self {
            norm1: LayerNormConfig::new(dim).with_epsilon(1e-6).init(device),
            attn: MultiScaleAttention::new(dim, dim_out, num_heads, q_stride, device),
            norm2: LayerNormConfig::new(dim_out)
                .with_epsilon(1e-6)
                .init(device),
            mlp: Mlp::new(
                dim_out,
                hidden,
                dim_out,
                2,
                ActivationKind::Gelu,
                false,
                device,
            ),
            proj: (dim != dim_out).then(|| LinearConfig::new(dim, dim_out).init(device)),
            window_size,
            q_stride,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = x.clone();
        let x = self.norm1.forward(x);
        let shortcut = match (&self.proj, self.q_stride) {
            (Some(proj), Some(stride)) => {
                pool_channels_last(kernels::linear(proj, x.clone()), stride)
            }
            (Some(proj), None) => kernels::linear(proj, x.clone()),
            (None, _) => shortcut,
        };
        let [_, h, w, _] = x.dims();
        let mut window_size = self.window_size;
        let (x, mut pad_hw) = if window_size > 0 {
            window_partition(x, window_size)
        } else {
            (x, [h, w])
        };
        let x = self.attn.forward(x);
        let x = if window_size > 0 {
            let mut hw = [h, w];
            if let Some(stride) = self.q_stride {
                // Query pooling shrank the windows and the map.
                window_size /= stride[0];
                let [_, sh, sw, _] = shortcut.dims();
                hw = [sh, sw];
                let pad = |n: usize| (window_size - n % window_size) % window_size;
                pad_hw = [sh + pad(sh), sw + pad(sw)];
            }
            window_unpartition(x, window_size, pad_hw, hw)
        } else {
            x
        };
        let x = shortcut + x;
        x.clone() + self.mlp.forward(self.norm2.forward(x))
    }
}

/// The Hiera trunk. `forward` returns the last block of every stage, finest first, NCHW.
#[derive(Module, Debug)]
pub struct Hiera {
    pub patch_embed: PatchEmbed,
    pub pos_embed: Param<Tensor<4>>,
    pub pos_embed_window: Param<Tensor<4>>,
    pub blocks: Vec<MultiScaleBlock>,
    stage_ends: Vec<usize>,
}

impl Hiera {
    pub fn new(cfg: &HieraConfig, device: &Device) -> Self {
        let depth: usize = cfg.stages.iter().sum();
        let stage_ends: Vec<usize> = (1..=cfg.stages.len())
            .map(|i| cfg.stages[..i].iter().sum::<usize>() - 1)
            .collect();
        let q_pool_blocks: Vec<usize> = stage_ends[..stage_ends.len() - 1]
            .iter()
            .map(|e| e + 1)
            .take(cfg.q_pool)
            .collect();
        let mut embed_dim = cfg.embed_dim;
        let mut num_heads = cfg.num_heads;
        let mut cur_stage = 1;
        let mut blocks = Vec::with_capacity(depth);
        for i in 0..depth {
            let mut dim_out = embed_dim;
            // The window size lags by a block: the first block of a stage uses the previous
            // stage's window.
            let mut window_size = cfg.window_spec[cur_stage - 1];
            if cfg.global_att_blocks.contains(&i) {
                window_size = 0;
            }
            if i > 0 && stage_ends.contains(&(i - 1)) {
                dim_out = (embed_dim as f64 * cfg.dim_mul) as usize;
                num_heads = (num_heads as f64 * cfg.head_mul) as usize;
                cur_stage += 1;
            }
            let q_stride = q_pool_blocks.contains(&i).then_some(cfg.q_stride);
            let spec = MultiScaleBlockSpec {
                dim: embed_dim,
                dim_out,
                num_heads,
                mlp_ratio: cfg.mlp_ratio,
                q_stride,
                window_size,
            };
            blocks.push(MultiScaleBlock::new(spec, device));
            embed_dim = dim_out;
        }
        let [bh, bw] = cfg.window_pos_embed_bkg_spatial_size;
        let ws = cfg.window_spec[0];
        Self {
            patch_embed: PatchEmbed::new(3, cfg.embed_dim, device),
            pos_embed: Initializer::Zeros.init([1, cfg.embed_dim, bh, bw], device),
            pos_embed_window: Initializer::Zeros.init([1, cfg.embed_dim, ws, ws], device),
            blocks,
            stage_ends,
        }
    }

    /// `_get_pos_embed`: bicubic `pos_embed` to `h × w` plus the tiled window embedding,
    /// channels-last `[1, h, w, C]`.
    pub fn get_pos_embed(&self, h: usize, w: usize) -> Tensor<4> {
        let pos = resize(self.pos_embed.val(), [h, w], Resample::Bicubic);
        let window = self.pos_embed_window.val();
        let [_, _, wh, ww] = window.dims();
        let pos = pos + window.repeat(&[1, 1, h / wh, w / ww]);
        pos.permute([0, 2, 3, 1])
    }

    /// Stage outputs, finest first, each `[B, C_stage, H_stage, W_stage]`.
    pub fn forward(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let x = self.patch_embed.forward(x);
        let [_, h, w, _] = x.dims();
        let mut x = x + self.get_pos_embed(h, w);
        let mut outputs = Vec::with_capacity(self.stage_ends.len());
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            if self.stage_ends.contains(&i) {
                outputs.push(x.clone().permute([0, 3, 1, 2]));
            }
        }
        outputs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sam2Config;
    use burn::tensor::Distribution;

    #[test]
    fn window_partition_round_trips_with_padding() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 107, || {
            let device = Device::flex();
            let x = Tensor::<4>::random([2, 10, 7, 3], Distribution::Normal(0.0, 1.0), &device);
            let (windows, pad) = window_partition(x.clone(), 4);
            assert_eq!(pad, [12, 8]);
            assert_eq!(windows.dims(), [2 * 3 * 2, 4, 4, 3]);
            let back = window_unpartition(windows, 4, pad, [10, 7]);
            let err = (back - x).abs().max().into_scalar::<f32>();
            assert_eq!(err, 0.0);
        })
    }

    #[test]
    fn micro_trunk_has_official_blocks_and_stage_shapes() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 108, || {
            let device = Device::flex();
            let cfg = Sam2Config::micro();
            let trunk = Hiera::new(&cfg.trunk, &device);
            assert_eq!(trunk.blocks.len(), 6);
            // Stage transitions widen the block and pool the queries.
            assert!(trunk.blocks[1].proj.is_some() && trunk.blocks[1].q_stride.is_some());
            assert!(trunk.blocks[2].proj.is_none());
            // Global attention in block 4, window lag: block 1 keeps stage 1's window 8.
            assert_eq!(trunk.blocks[4].window_size, 0);
            assert_eq!(trunk.blocks[1].window_size, 8);
            assert_eq!(trunk.blocks[3].window_size, 4);
            let x = Tensor::<4>::random([1, 3, 256, 256], Distribution::Normal(0.0, 1.0), &device);
            let outs = trunk.forward(x);
            let dims: Vec<[usize; 4]> = outs.iter().map(|t| t.dims()).collect();
            assert_eq!(
                dims,
                vec![
                    [1, 16, 64, 64],
                    [1, 32, 32, 32],
                    [1, 64, 16, 16],
                    [1, 128, 8, 8]
                ]
            );
        })
    }
}
