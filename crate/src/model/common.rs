//! Building blocks shared by the SAM-2 modules: `LayerNorm2d`, the `MLP` of `sam2_utils.py`,
//! activations, and PyTorch-exact resampling (bicubic, bilinear with and without antialias)
//! written as two small interpolation matrices, so it is differentiable and gives the same
//! numbers on every backend.

use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData, activation};

pub use super::config::ActivationKind;

/// Applies an activation by kind (GELU is the exact erf form, as `nn.GELU()`).
pub fn activate<const D: usize>(x: Tensor<D>, kind: ActivationKind) -> Tensor<D> {
    match kind {
        ActivationKind::Relu => activation::relu(x),
        ActivationKind::Gelu => super::kernels::gelu(x),
    }
}

/// Channel-first layer norm over dim 1 of `[B, C, H, W]` (`sam2_utils.LayerNorm2d`).
#[derive(Module, Debug)]
pub struct LayerNorm2d {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    eps: f64,
}

impl LayerNorm2d {
    /// A new norm over `num_channels` with unit weight and zero bias.
    pub fn new(num_channels: usize, eps: f64, device: &Device) -> Self {
        Self {
            weight: Initializer::Ones.init([num_channels], device),
            bias: Initializer::Zeros.init([num_channels], device),
            eps,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let c = x.dims()[1];
        let u = x.clone().mean_dim(1);
        let centered = x - u;
        let s = centered.clone().powi_scalar(2).mean_dim(1);
        let normed = centered / (s + self.eps).sqrt();
        normed * self.weight.val().reshape([1, c, 1, 1]) + self.bias.val().reshape([1, c, 1, 1])
    }
}

/// `sam2_utils.MLP`: `num_layers` linear layers with an activation between them and an
/// optional sigmoid on the output.
#[derive(Module, Debug)]
pub struct Mlp {
    pub layers: Vec<Linear>,
    #[module(skip)]
    activation: ActivationKind,
    sigmoid_output: bool,
}

impl Mlp {
    pub fn new(
        input_dim: usize,
        hidden_dim: usize,
        output_dim: usize,
        num_layers: usize,
        activation: ActivationKind,
        sigmoid_output: bool,
        device: &Device,
    ) -> Self {
        let layers = (0..num_layers)
            .map(|i| {
                let d_in = if i == 0 { input_dim } else { hidden_dim };
                let d_out = if i + 1 == num_layers {
                    output_dim
                } else {
                    hidden_dim
                };
                LinearConfig::new(d_in, d_out).init(device)
            })
            .collect();
        Self {
            layers,
            activation,
            sigmoid_output,
        }
    }

    pub fn forward<const D: usize>(&self, mut x: Tensor<D>) -> Tensor<D> {
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            x = super::kernels::linear(layer, x);
            if i + 1 < n {
                x = activate(x, self.activation);
            }
        }
        if self.sigmoid_output {
            x = activation::sigmoid(x);
        }
        x
    }
}

/// A row-major `[out, in]` resampling matrix built on the host.
pub struct ResizeMatrix {
    pub out_size: usize,
    pub in_size: usize,
    pub weights: Vec<f32>,
}

impl ResizeMatrix {
    /// The matrix as a tensor `[out, in]`.
    pub fn to_tensor(&self, device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(self.weights.clone(), [self.out_size, self.in_size]),
            device,
        )
    }
}

/// PyTorch's cubic convolution kernel with A = -0.75.
fn cubic_weight(t: f64) -> f64 {
    const A: f64 = -0.75;
    let t = t.abs();
    if t <= 1.0 {
        ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0
    } else if t < 2.0 {
        ((A * t - 5.0 * A) * t + 8.0 * A) * t - 4.0 * A
    } else {
        0.0
    }
}

/// `F.interpolate(mode="bicubic", align_corners=False)` along one axis: source coordinate
/// `(o + 0.5)·in/out − 0.5` (not clamped), four taps with clamped indices.
pub fn bicubic_matrix(in_size: usize, out_size: usize) -> ResizeMatrix {
    let scale = in_size as f64 / out_size as f64;
    let mut weights = vec![0f32; out_size * in_size];
    for o in 0..out_size {
        let real = scale * (o as f64 + 0.5) - 0.5;
        let base = real.floor();
        let t = real - base;
        for k in -1..=2_i64 {
            let idx = (base as i64 + k).clamp(0, in_size as i64 - 1) as usize;
            weights[o * in_size + idx] += cubic_weight(t - k as f64) as f32;
        }
    }
    ResizeMatrix {
        out_size,
        in_size,
        weights,
    }
}

/// One output sample of a 1-D bilinear resize: its two source indices and their weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BilinearTap {
    pub i0: usize,
    pub i1: usize,
    pub w0: f32,
    pub w1: f32,
}

/// The taps of `F.interpolate(mode="bilinear", align_corners=False, antialias=False)` along
/// one axis (PyTorch's `area_pixel_compute_source_index`: source `(o + ½)·in/out − ½`,
/// clamped at 0), one per output sample. Every bilinear resize in the crate reads these:
/// [`bilinear_matrix`] (the model, the training loss) and the coarse head's planes
/// (`predictor::coarse`).
pub fn bilinear_taps(in_size: usize, out_size: usize) -> Vec<BilinearTap> {
    let scale = in_size as f64 / out_size as f64;
    (0..out_size)
        .map(|o| {
            let real = (scale * (o as f64 + 0.5) - 0.5).max(0.0);
            let i0 = (real.floor() as usize).min(in_size - 1);
            let i1 = (i0 + 1).min(in_size - 1);
            let l1 = real - i0 as f64;
            BilinearTap {
                i0,
                i1,
                w0: (1.0 - l1) as f32,
                w1: l1 as f32,
            }
        })
        .collect()
}

/// `F.interpolate(mode="bilinear", align_corners=False, antialias=False)` along one axis.
pub fn bilinear_matrix(in_size: usize, out_size: usize) -> ResizeMatrix {
    let mut weights = vec![0f32; out_size * in_size];
    for (row, t) in weights
        .chunks_exact_mut(in_size)
        .zip(bilinear_taps(in_size, out_size))
    {
        row[t.i0] += t.w0;
        row[t.i1] += t.w1;
    }
    ResizeMatrix {
        out_size,
        in_size,
        weights,
    }
}

/// `F.interpolate(mode="bilinear", align_corners=False, antialias=True)` along one axis:
/// the triangle filter widened by the downscale factor, normalised per output sample.
pub fn bilinear_antialias_matrix(in_size: usize, out_size: usize) -> ResizeMatrix {
    let scale = in_size as f64 / out_size as f64;
    let support = if scale >= 1.0 { scale } else { 1.0 };
    let invscale = if scale >= 1.0 { 1.0 / scale } else { 1.0 };
    let mut weights = vec![0f32; out_size * in_size];
    for o in 0..out_size {
        let center = scale * (o as f64 + 0.5);
        let xmin = ((center - support + 0.5).trunc().max(0.0)) as usize;
        let xmax = ((center + support + 0.5).trunc() as usize).min(in_size);
        let taps: Vec<f64> = (xmin..xmax)
            .map(|j| {
                let x = (j as f64 - center + 0.5) * invscale;
                (1.0 - x.abs()).max(0.0)
            })
            .collect();
        let total: f64 = taps.iter().sum();
        for (j, w) in (xmin..xmax).zip(taps) {
            let w = if total != 0.0 { w / total } else { 0.0 };
            weights[o * in_size + j] = w as f32;
        }
    }
    ResizeMatrix {
        out_size,
        in_size,
        weights,
    }
}

/// The resampling kinds SAM-2 uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resample {
    Bicubic,
    Bilinear,
    BilinearAntialias,
}

fn matrix(kind: Resample, in_size: usize, out_size: usize) -> ResizeMatrix {
    match kind {
        Resample::Bicubic => bicubic_matrix(in_size, out_size),
        Resample::Bilinear => bilinear_matrix(in_size, out_size),
        Resample::BilinearAntialias => bilinear_antialias_matrix(in_size, out_size),
    }
}

/// Resizes `[B, C, H, W]` to `[B, C, out_h, out_w]` as `F.interpolate` would, as
/// `Ry · X · Rxᵀ` (two matmuls).
pub fn resize(x: Tensor<4>, out_hw: [usize; 2], kind: Resample) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let [oh, ow] = out_hw;
    if [h, w] == out_hw {
        return x;
    }
    let device = x.device();
    let rx = matrix(kind, w, ow).to_tensor(&device); // [ow, w]
    let ry = matrix(kind, h, oh).to_tensor(&device); // [oh, h]
    // Along x: [B*C*H, W] @ [W, OW].
    let x = x.reshape([b * c * h, w]).matmul(rx.transpose());
    // Along y: [B*C, OW, H] @ [H, OH].
    let x = x
        .reshape([b * c, h, ow])
        .swap_dims(1, 2)
        .reshape([b * c * ow, h]);
    let x = x.matmul(ry.transpose());
    x.reshape([b * c, ow, oh])
        .swap_dims(1, 2)
        .reshape([b, c, oh, ow])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn layer_norm_2d_normalises_each_pixel_over_channels() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 103, || {
            let device = Device::flex();
            let ln = LayerNorm2d::new(3, 1e-6, &device);
            let x = Tensor::<4>::from_data([[[[1.0f32]], [[2.0]], [[6.0]]]], &device);
            let y = to_vec(ln.forward(x));
            let mean = 3.0f32;
            let var = ((4.0 + 1.0 + 9.0) / 3.0f32 + 1e-6).sqrt();
            let expected = [(1.0 - mean) / var, (2.0 - mean) / var, (6.0 - mean) / var];
            for (a, b) in y.iter().zip(expected) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        })
    }

    #[test]
    fn mlp_has_the_official_layer_shapes_and_sigmoid() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 104, || {
            let device = Device::flex();
            let mlp = Mlp::new(8, 16, 4, 3, ActivationKind::Relu, true, &device);
            assert_eq!(mlp.layers.len(), 3);
            assert_eq!(mlp.layers[0].weight.dims(), [8, 16]);
            assert_eq!(mlp.layers[2].weight.dims(), [16, 4]);
            let y = to_vec(mlp.forward(Tensor::<2>::ones([2, 8], &device)));
            assert_eq!(y.len(), 8);
            assert!(y.iter().all(|v| *v > 0.0 && *v < 1.0));
        })
    }

    #[test]
    fn resampling_rows_sum_to_one_and_identity_is_identity() {
        for kind in [
            Resample::Bicubic,
            Resample::Bilinear,
            Resample::BilinearAntialias,
        ] {
            for (i, o) in [(7, 64), (8, 8), (64, 16), (16, 256), (5, 3)] {
                let m = matrix(kind, i, o);
                for r in 0..o {
                    let s: f32 = m.weights[r * i..(r + 1) * i].iter().sum();
                    assert!(
                        (s - 1.0).abs() < 1e-5,
                        "{kind:?} {i}->{o} row {r} sums to {s}"
                    );
                }
            }
            let m = matrix(kind, 6, 6);
            for r in 0..6 {
                for c in 0..6 {
                    let expect = if r == c { 1.0 } else { 0.0 };
                    assert!((m.weights[r * 6 + c] - expect).abs() < 1e-6);
                }
            }
        }
    }

    #[test]
    fn bilinear_matrix_matches_burn_interpolate() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 105, || {
            use burn::tensor::module::interpolate;
            use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
            let device = Device::flex();
            let x = Tensor::<4>::random(
                [1, 2, 5, 7],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let ours = resize(x.clone(), [12, 9], Resample::Bilinear);
            let burn = interpolate(
                x,
                InterpolateOptions::new(InterpolateMode::Bilinear)
                    .with_output_size([12, 9])
                    .with_align_corners(false),
            );
            let err = (ours - burn).abs().max().into_scalar::<f32>();
            assert!(err < 1e-5, "bilinear differs by {err}");
        })
    }

    #[test]
    fn bicubic_matrix_matches_burn_interpolate_on_flex() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 106, || {
            use burn::tensor::module::interpolate;
            use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
            let device = Device::flex();
            let x = Tensor::<4>::random(
                [1, 3, 7, 7],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let ours = resize(x.clone(), [64, 64], Resample::Bicubic);
            let burn = interpolate(
                x,
                InterpolateOptions::new(InterpolateMode::Bicubic)
                    .with_output_size([64, 64])
                    .with_align_corners(false),
            );
            let err = (ours - burn).abs().max().into_scalar::<f32>();
            assert!(err < 1e-5, "bicubic differs by {err}");
        })
    }

    #[test]
    fn antialias_downsample_by_four_averages_with_a_triangle() {
        // For an exact 4x downscale, PyTorch's antialiased bilinear uses the triangle
        // filter of support 4: taps at distances 0.5..3.5 with weights (1 - d/4).
        let m = bilinear_antialias_matrix(16, 4);
        let row1 = &m.weights[16..32];
        let raw: Vec<f64> = (0..16)
            .map(|j| {
                let d = (j as f64 + 0.5 - 6.0).abs() / 4.0;
                (1.0 - d).max(0.0)
            })
            .collect();
        let total: f64 = raw.iter().sum();
        for j in 0..16 {
            assert!((row1[j] as f64 - raw[j] / total).abs() < 1e-6);
        }
    }
}
