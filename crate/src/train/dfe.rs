//! DFE (discriminative feature enhancement): fuses the features of two views of the same
//! image (the weak view and one strong view) per FPN level, by their similarity and
//! difference; the output replaces the strong view's features fed to the mask decoder.
//!
//! Exactly the released formulation (`models/dfe.py` of AIGeeksGroup/SSS at `a01f346`,
//! `docs/sss-method.md` §3.2), per level:
//!
//! ```text
//! F̃a = Conv3×3(Fa), F̃b = Conv3×3(Fb)           one conv C→C, pad 1, bias, shared by both
//! s  = cos(GAP(F̃a), GAP(F̃b))                  one scalar per sample
//! w  = σ(s)
//! out = w·MLP(F̃a) + (1 − w)·MLP(F̃b) + (1 − s)·(F̃b − F̃a)
//! ```
//!
//! The pixel MLP is `C→h0→h1→h2→C` with LayerNorm + ReLU after each hidden layer (default
//! 256→512→512→256→256). The cosine follows PyTorch's `F.cosine_similarity` (eps 1e-8 on each
//! norm).
//!
//! Where a level's input has `C_in ≠ C` channels, a shared 1×1 projection `C_in→C` comes
//! first, as released; unlike the release, a second 1×1 projection `C→C_in` follows, so that
//! the output can replace the level's features (the released code returned `C` channels,
//! which no decoder consumes). Levels can be switched off: their strong features pass
//! through unchanged.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor, activation};
use serde::{Deserialize, Serialize};

use crate::SssError;

/// DFE settings: channels, MLP widths and which FPN levels are enhanced (a plain serde struct,
/// as every configuration in the crate: `docs/DESIGN.md`, "Configuration"). The defaults are
/// the released code's (SAM-2 base+: 256 channels on three levels).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DfeConfig {
    /// Working channels `C` (the SAM-2 neck's `d_model`).
    pub channels: usize,
    /// Hidden widths of the pixel MLP (`C→h0→…→C`).
    pub hidden: Vec<usize>,
    /// Input channels of each FPN level.
    pub in_channels: Vec<usize>,
    /// Which levels are enhanced (same length as `in_channels`).
    pub levels_enabled: Vec<bool>,
    pub layer_norm_eps: f64,
}

impl Default for DfeConfig {
    fn default() -> Self {
        Self {
            channels: 256,
            hidden: vec![512, 512, 256],
            in_channels: vec![256, 256, 256],
            levels_enabled: vec![true, true, true],
            layer_norm_eps: 1e-5,
        }
    }
}

/// PyTorch's `F.cosine_similarity` eps.
const COSINE_EPS: f64 = 1e-8;

/// The per-pixel MLP over channels.
#[derive(Module, Debug)]
pub struct PixelMlp {
    pub linears: Vec<Linear>,
    /// One per hidden layer (`linears.len() − 1`).
    pub norms: Vec<LayerNorm>,
}

impl PixelMlp {
    pub fn new(channels: usize, hidden: &[usize], eps: f64, device: &Device) -> Self {
        let widths: Vec<usize> = std::iter::once(channels)
            .chain(hidden.iter().copied())
            .chain(std::iter::once(channels))
            .collect();
        let linears = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(device))
            .collect();
        let norms = hidden
            .iter()
            .map(|&h| LayerNormConfig::new(h).with_epsilon(eps).init(device))
            .collect();
        Self { linears, norms }
    }

    /// `[B, C, H, W] → [B, C, H, W]`, the MLP applied to every pixel's channel vector.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = x.permute([0, 2, 3, 1]);
        let last = self.linears.len() - 1;
        for (i, linear) in self.linears.iter().enumerate() {
            h = linear.forward(h);
            if i < last {
                h = activation::relu(self.norms[i].forward(h));
            }
        }
        h.permute([0, 3, 1, 2])
    }
}

/// DFE of one FPN level.
#[derive(Module, Debug)]
pub struct DfeLevel {
    /// 1×1 `C_in→C`, shared by both views, when `C_in ≠ C`.
    pub proj_in: Option<Conv2d>,
    /// The shared 3×3 alignment conv.
    pub conv: Conv2d,
    pub mlp: PixelMlp,
    /// 1×1 `C→C_in` back to the level's channels, when `C_in ≠ C`.
    pub proj_out: Option<Conv2d>,
}

impl DfeLevel {
    pub fn new(
        in_channels: usize,
        channels: usize,
        hidden: &[usize],
        eps: f64,
        device: &Device,
    ) -> Self {
        let projections = in_channels != channels;
        Self {
            proj_in: projections
                .then(|| Conv2dConfig::new([in_channels, channels], [1, 1]).init(device)),
            conv: Conv2dConfig::new([channels, channels], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            mlp: PixelMlp::new(channels, hidden, eps, device),
            proj_out: projections
                .then(|| Conv2dConfig::new([channels, in_channels], [1, 1]).init(device)),
        }
    }

    /// Enhanced features of view `b` given view `a`, and the per-sample similarity `s` `[B]`.
    pub fn forward_with_similarity(&self, a: Tensor<4>, b: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let (a, b) = match &self.proj_in {
            Some(p) => (p.forward(a), p.forward(b)),
            None => (a, b),
        };
        let ta = self.conv.forward(a);
        let tb = self.conv.forward(b);
        let [batch, c, _, _] = ta.dims();
        let va: Tensor<2> = ta.clone().mean_dims(&[2, 3]).reshape([batch, c]);
        let vb: Tensor<2> = tb.clone().mean_dims(&[2, 3]).reshape([batch, c]);
        let dot = (va.clone() * vb.clone()).sum_dim(1);
        let na = va.powi_scalar(2).sum_dim(1).sqrt().clamp_min(COSINE_EPS);
        let nb = vb.powi_scalar(2).sum_dim(1).sqrt().clamp_min(COSINE_EPS);
        let s: Tensor<4> = (dot / (na * nb)).reshape([batch, 1, 1, 1]);
        let w = activation::sigmoid(s.clone());
        let fused = w.clone() * self.mlp.forward(ta.clone())
            + (w.neg() + 1.0) * self.mlp.forward(tb.clone());
        let delta = (s.clone().neg() + 1.0) * (tb - ta);
        let mut out = fused + delta;
        if let Some(p) = &self.proj_out {
            out = p.forward(out);
        }
        (out, s.reshape([batch]))
    }

    /// Enhanced features of view `b` (the strong view) given view `a` (the weak view).
    pub fn forward(&self, a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
        self.forward_with_similarity(a, b).0
    }
}

/// DFE over the FPN levels.
#[derive(Module, Debug)]
pub struct Dfe {
    /// One module per enabled level, in level order.
    pub levels: Vec<DfeLevel>,
    /// Per FPN level: the index into `levels`, or `None` when switched off.
    #[module(skip)]
    slots: Vec<Option<usize>>,
}

impl DfeConfig {
    /// Builds the DFE; fails when the level lists disagree or a width is 0.
    pub fn init(&self, device: &Device) -> crate::Result<Dfe> {
        if self.in_channels.len() != self.levels_enabled.len() {
            return Err(SssError::InvalidInput(format!(
                "DFE: {} level channel counts but {} level switches",
                self.in_channels.len(),
                self.levels_enabled.len()
            )));
        }
        if self.channels == 0 || self.hidden.contains(&0) || self.in_channels.contains(&0) {
            return Err(SssError::InvalidInput(
                "DFE: channel counts and MLP widths must be positive".into(),
            ));
        }
        let mut levels = Vec::new();
        let mut slots = Vec::new();
        for (&c_in, &on) in self.in_channels.iter().zip(&self.levels_enabled) {
            if on {
                slots.push(Some(levels.len()));
                levels.push(DfeLevel::new(
                    c_in,
                    self.channels,
                    &self.hidden,
                    self.layer_norm_eps,
                    device,
                ));
            } else {
                slots.push(None);
            }
        }
        Ok(Dfe { levels, slots })
    }
}

impl Dfe {
    /// The strong view's features with DFE applied on every enabled level (pairs
    /// `(weak[l], strong[l])`); switched-off levels return `strong[l]` unchanged.
    pub fn forward(
        &self,
        weak: Vec<Tensor<4>>,
        strong: Vec<Tensor<4>>,
    ) -> crate::Result<Vec<Tensor<4>>> {
        if weak.len() != self.slots.len() || strong.len() != self.slots.len() {
            return Err(SssError::InvalidInput(format!(
                "DFE expects {} FPN levels, got {} weak and {} strong",
                self.slots.len(),
                weak.len(),
                strong.len()
            )));
        }
        Ok(weak
            .into_iter()
            .zip(strong)
            .zip(&self.slots)
            .map(|((a, b), slot)| match slot {
                Some(i) => self.levels[*i].forward(a, b),
                None => b,
            })
            .collect())
    }

    /// Whether FPN level `level` is enhanced.
    pub fn is_enabled(&self, level: usize) -> bool {
        self.slots.get(level).is_some_and(Option::is_some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::TensorData;

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn micro(dev: &Device) -> Dfe {
        DfeConfig {
            channels: 4,
            hidden: vec![6, 5, 3],
            in_channels: vec![4, 2, 4],
            levels_enabled: vec![true, true, false],
            ..Default::default()
        }
        .init(dev)
        .unwrap()
    }

    #[test]
    fn shapes_and_switched_off_levels() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 130, || {
            let dev = Device::flex();
            let dfe = micro(&dev);
            assert_eq!(dfe.levels.len(), 2);
            assert!(dfe.is_enabled(1) && !dfe.is_enabled(2));
            let weak = vec![
                Tensor::<4>::random([2, 4, 5, 5], burn::tensor::Distribution::Default, &dev),
                Tensor::<4>::random([2, 2, 3, 3], burn::tensor::Distribution::Default, &dev),
                Tensor::<4>::random([2, 4, 2, 2], burn::tensor::Distribution::Default, &dev),
            ];
            let strong: Vec<Tensor<4>> = weak.iter().map(|t| t.clone() * 0.5 + 0.1).collect();
            let out = dfe.forward(weak.clone(), strong.clone()).unwrap();
            assert_eq!(out[0].dims(), [2, 4, 5, 5]);
            assert_eq!(out[1].dims(), [2, 2, 3, 3]);
            assert_eq!(values(out[2].clone()), values(strong[2].clone()));
            assert!(dfe.forward(weak[..2].to_vec(), strong).is_err());
            let bad = DfeConfig {
                levels_enabled: vec![true],
                ..Default::default()
            }
            .init(&dev);
            assert!(bad.is_err());
        })
    }

    /// Identity alignment conv (centre tap 1, no bias) and a zero last MLP layer make the
    /// output exactly ΔF = (1 − s)(Fb − Fa). With every pixel of Fa = (1, 0) and of
    /// Fb = (1, 1): s = 1/√2, so the output is (0, 1 − 1/√2) everywhere; with Fb = (0, 1)
    /// (orthogonal) s = 0 and the output is Fb − Fa = (−1, 1).
    #[test]
    fn hand_worked_difference_term() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 131, || {
            let dev = Device::flex();
            let mut level = DfeLevel::new(2, 2, &[3], 1e-5, &dev);
            let mut kernel = vec![0.0f32; 2 * 2 * 9];
            kernel[4] = 1.0; // out 0 ← in 0, centre
            kernel[(2 + 1) * 9 + 4] = 1.0; // out 1 ← in 1, centre
            level.conv.weight = Param::from_tensor(Tensor::from_data(
                TensorData::new(kernel, [2, 2, 3, 3]),
                &dev,
            ));
            level.conv.bias = Some(Param::from_tensor(Tensor::zeros([2], &dev)));
            let last = level.mlp.linears.last_mut().unwrap();
            last.weight = Param::from_tensor(Tensor::zeros([3, 2], &dev));
            last.bias = Some(Param::from_tensor(Tensor::zeros([2], &dev)));
            let plane = |c0: f32, c1: f32| {
                let mut v = vec![c0; 9];
                v.extend(vec![c1; 9]);
                Tensor::<4>::from_data(TensorData::new(v, [1, 2, 3, 3]), &dev)
            };
            let (out, s) = level.forward_with_similarity(plane(1.0, 0.0), plane(1.0, 1.0));
            let r = 1.0 - 1.0 / 2f32.sqrt();
            assert!((s.into_scalar::<f32>() - 1.0 / 2f32.sqrt()).abs() < 1e-6);
            for (i, v) in values(out).iter().enumerate() {
                let expect = if i < 9 { 0.0 } else { r };
                assert!((v - expect).abs() < 1e-6, "{i}: {v}");
            }
            let (out, s) = level.forward_with_similarity(plane(1.0, 0.0), plane(0.0, 1.0));
            assert!(s.into_scalar::<f32>().abs() < 1e-7);
            for (i, v) in values(out).iter().enumerate() {
                let expect = if i < 9 { -1.0 } else { 1.0 };
                assert!((v - expect).abs() < 1e-6, "{i}: {v}");
            }
        })
    }

    /// Identical views: s = 1, w = σ(1), ΔF = 0, so the output is MLP(conv(F)).
    #[test]
    fn identical_views_give_the_mlp_of_the_aligned_features() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 132, || {
            let dev = Device::flex();
            let level = DfeLevel::new(3, 3, &[5, 4], 1e-5, &dev);
            let f = Tensor::<4>::random([2, 3, 4, 4], burn::tensor::Distribution::Default, &dev);
            let (out, s) = level.forward_with_similarity(f.clone(), f.clone());
            for v in s.into_data().try_to_vec::<f32>().unwrap() {
                assert!((v - 1.0).abs() < 1e-6);
            }
            let expected = level.mlp.forward(level.conv.forward(f));
            for (a, b) in values(out).iter().zip(values(expected)) {
                assert!((a - b).abs() < 1e-5);
            }
        })
    }

    /// The level against a direct scalar re-implementation from its own random weights, on a
    /// 2-channel 3×3 input with two samples.
    #[test]
    fn matches_a_scalar_reimplementation() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 133, || {
            let dev = Device::flex();
            let level = DfeLevel::new(2, 2, &[3, 4, 2], 1e-5, &dev);
            let a: Vec<f32> = (0..36).map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0).collect();
            let b: Vec<f32> = (0..36).map(|i| ((i * 5 % 13) as f32 - 6.0) / 5.0).collect();
            let ta = Tensor::<4>::from_data(TensorData::new(a.clone(), [2, 2, 3, 3]), &dev);
            let tb = Tensor::<4>::from_data(TensorData::new(b.clone(), [2, 2, 3, 3]), &dev);
            let got = values(level.forward(ta, tb));

            let w = values(level.conv.weight.val());
            let bias = level
                .conv
                .bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let lin: Vec<(Vec<f32>, Vec<f32>, usize, usize)> = level
                .mlp
                .linears
                .iter()
                .map(|l| {
                    let [i, o] = l.weight.dims();
                    (
                        l.weight.val().into_data().try_to_vec::<f32>().unwrap(),
                        l.bias
                            .as_ref()
                            .unwrap()
                            .val()
                            .into_data()
                            .try_to_vec::<f32>()
                            .unwrap(),
                        i,
                        o,
                    )
                })
                .collect();
            let norms: Vec<(Vec<f32>, Vec<f32>)> = level
                .mlp
                .norms
                .iter()
                .map(|n| {
                    (
                        n.gamma.val().into_data().try_to_vec::<f32>().unwrap(),
                        n.beta
                            .as_ref()
                            .unwrap()
                            .val()
                            .into_data()
                            .try_to_vec::<f32>()
                            .unwrap(),
                    )
                })
                .collect();
            // conv3×3, pad 1: [2][3][3] per sample.
            let conv = |x: &[f32]| -> Vec<f64> {
                let mut out = vec![0.0f64; 18];
                for o in 0..2 {
                    for y in 0..3i32 {
                        for xx in 0..3i32 {
                            let mut acc = bias[o] as f64;
                            for i in 0..2 {
                                for ky in 0..3i32 {
                                    for kx in 0..3i32 {
                                        let (sy, sx) = (y + ky - 1, xx + kx - 1);
                                        if (0..3).contains(&sy) && (0..3).contains(&sx) {
                                            acc += w
                                                [((o * 2 + i) * 3 + ky as usize) * 3 + kx as usize]
                                                as f64
                                                * x[(i * 3 + sy as usize) * 3 + sx as usize] as f64;
                                        }
                                    }
                                }
                            }
                            out[(o * 3 + y as usize) * 3 + xx as usize] = acc;
                        }
                    }
                }
                out
            };
            let mlp = |v: Vec<f64>| -> Vec<f64> {
                let mut h = v;
                for (k, (wt, bs, i, o)) in lin.iter().enumerate() {
                    let mut y: Vec<f64> = (0..*o)
                        .map(|j| {
                            bs[j] as f64 + (0..*i).map(|q| h[q] * wt[q * o + j] as f64).sum::<f64>()
                        })
                        .collect();
                    if k + 1 < lin.len() {
                        let mean = y.iter().sum::<f64>() / y.len() as f64;
                        let var =
                            y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / y.len() as f64;
                        let (g, be) = &norms[k];
                        for (j, v) in y.iter_mut().enumerate() {
                            let n = (*v - mean) / (var + 1e-5).sqrt() * g[j] as f64 + be[j] as f64;
                            *v = n.max(0.0);
                        }
                    }
                    h = y;
                }
                h
            };
            for n in 0..2 {
                let fa = conv(&a[n * 18..(n + 1) * 18]);
                let fb = conv(&b[n * 18..(n + 1) * 18]);
                let gap = |f: &[f64]| {
                    [
                        f[..9].iter().sum::<f64>() / 9.0,
                        f[9..].iter().sum::<f64>() / 9.0,
                    ]
                };
                let (va, vb) = (gap(&fa), gap(&fb));
                let s =
                    (va[0] * vb[0] + va[1] * vb[1]) / ((va[0].hypot(va[1])) * (vb[0].hypot(vb[1])));
                let wgt = 1.0 / (1.0 + (-s).exp());
                for p in 0..9 {
                    let ma = mlp(vec![fa[p], fa[9 + p]]);
                    let mb = mlp(vec![fb[p], fb[9 + p]]);
                    for c in 0..2 {
                        let expect = wgt * ma[c]
                            + (1.0 - wgt) * mb[c]
                            + (1.0 - s) * (fb[c * 9 + p] - fa[c * 9 + p]);
                        let v = got[n * 18 + c * 9 + p] as f64;
                        assert!(
                            (v - expect).abs() < 1e-4,
                            "sample {n} ch {c} px {p}: {v} vs {expect}"
                        );
                    }
                }
            }
        })
    }

    #[test]
    fn gradients_reach_the_alignment_conv() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 134, || {
            let dev = Device::flex().autodiff();
            let dfe = micro(&dev);
            let weak = vec![
                Tensor::<4>::random([2, 4, 4, 4], burn::tensor::Distribution::Default, &dev),
                Tensor::<4>::random([2, 2, 3, 3], burn::tensor::Distribution::Default, &dev),
                Tensor::<4>::random([2, 4, 2, 2], burn::tensor::Distribution::Default, &dev),
            ];
            let strong: Vec<Tensor<4>> = weak.iter().map(|t| t.clone().flip([3]) * 0.7).collect();
            let out = dfe.forward(weak, strong).unwrap();
            let loss = out
                .into_iter()
                .map(|t| t.powi_scalar(2).sum())
                .reduce(|a, b| a + b)
                .unwrap();
            let grads = loss.backward();
            for level in &dfe.levels {
                let g = level
                    .conv
                    .weight
                    .val()
                    .grad(&grads)
                    .expect("conv weight has a gradient");
                let g = g.into_data().try_to_vec::<f32>().unwrap();
                assert!(g.iter().any(|v| v.abs() > 1e-8));
                assert!(level.mlp.linears[0].weight.val().grad(&grads).is_some());
            }
            assert!(
                dfe.levels[1]
                    .proj_in
                    .as_ref()
                    .unwrap()
                    .weight
                    .val()
                    .grad(&grads)
                    .is_some()
            );
        })
    }
}
