//! Position encodings of `sam2/modeling/position_encoding.py`: the sine encoding of feature
//! maps (`PositionEmbeddingSine`), the random-Fourier encoding of prompts
//! (`PositionEmbeddingRandom`, whose Gaussian matrix is a loaded buffer), and the 2-D axial
//! rotary encoding (`compute_axial_cis`, `apply_rotary_enc`) written with real arithmetic.
//!
//! Tables that depend only on shapes are computed on the host in f64 and uploaded once per
//! call; they never read anything back from the device.

use std::f64::consts::PI;

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor, TensorData};

/// `PositionEmbeddingSine` with `normalize=True` and the default scale 2π.
#[derive(Module, Debug)]
pub struct PositionEmbeddingSine {
    /// Half the output channels (the official `self.num_pos_feats`).
    num_pos_feats: usize,
    temperature: f64,
}

impl PositionEmbeddingSine {
    /// `num_pos_feats` is the full channel count, as in the YAML files.
    pub fn new(num_pos_feats: usize, temperature: f64) -> Self {
        Self {
            num_pos_feats: num_pos_feats / 2,
            temperature,
        }
    }

    /// Output channels.
    pub fn channels(&self) -> usize {
        2 * self.num_pos_feats
    }

    /// The encoding of an `h × w` map as `[C, h, w]` values (row-major), y channels first.
    pub fn table(&self, h: usize, w: usize) -> Vec<f32> {
        let npf = self.num_pos_feats;
        let scale = 2.0 * PI;
        let eps = 1e-6;
        let dim_t: Vec<f64> = (0..npf)
            .map(|i| self.temperature.powf(2.0 * ((i / 2) as f64) / npf as f64))
            .collect();
        let encode = |pos: f64, c: usize| -> f32 {
            let v = pos / dim_t[c];
            (if c.is_multiple_of(2) {
                v.sin()
            } else {
                v.cos()
            }) as f32
        };
        // The y channels depend on the row only and the x channels on the column only: one
        // sin/cos per (channel, row) and per (channel, column), then broadcast.
        let embed = |i: usize, n: usize| (i + 1) as f64 / (n as f64 + eps) * scale;
        let mut out = vec![0f32; 2 * npf * h * w];
        let (y_part, x_part) = out.split_at_mut(npf * h * w);
        for c in 0..npf {
            let rows = y_part[c * h * w..(c + 1) * h * w].chunks_exact_mut(w);
            for (y, row) in rows.enumerate() {
                row.fill(encode(embed(y, h), c));
            }
            let by_column: Vec<f32> = (0..w).map(|x| encode(embed(x, w), c)).collect();
            for row in x_part[c * h * w..(c + 1) * h * w].chunks_exact_mut(w) {
                row.copy_from_slice(&by_column);
            }
        }
        out
    }

    /// The encoding for a feature map `[B, C, h, w]` (only its shape is used).
    pub fn forward(&self, batch: usize, h: usize, w: usize, device: &Device) -> Tensor<4> {
        let c = self.channels();
        let t: Tensor<3> = Tensor::from_data(TensorData::new(self.table(h, w), [c, h, w]), device);
        t.unsqueeze::<4>().expand([batch, c, h, w])
    }
}

/// `PositionEmbeddingRandom`: random spatial frequencies, kept as the loaded buffer
/// `positional_encoding_gaussian_matrix` `[2, num_pos_feats]`.
#[derive(Module, Debug)]
pub struct PositionEmbeddingRandom {
    pub positional_encoding_gaussian_matrix: Param<Tensor<2>>,
}

impl PositionEmbeddingRandom {
    pub fn new(num_pos_feats: usize, device: &Device) -> Self {
        let matrix: Param<Tensor<2>> = Initializer::Normal {
            mean: 0.0,
            std: 1.0,
        }
        .init([2, num_pos_feats], device);
        Self {
            positional_encoding_gaussian_matrix: matrix.set_require_grad(false),
        }
    }

    /// Encodes coordinates in [0, 1]² of shape `[..., 2]` to `[..., 2·num_pos_feats]`.
    fn pe_encoding<const D: usize>(&self, coords: Tensor<D>) -> Tensor<D> {
        let coords = coords * 2.0 - 1.0;
        let dims = coords.dims();
        let n: usize = dims[..D - 1].iter().product();
        let g = self.positional_encoding_gaussian_matrix.val();
        let f = g.dims()[1];
        let proj = coords.reshape([n, 2]).matmul(g) * (2.0 * PI);
        let out = Tensor::cat(vec![proj.clone().sin(), proj.cos()], 1);
        let mut out_dims = dims;
        out_dims[D - 1] = 2 * f;
        out.reshape(out_dims)
    }

    /// Dense encoding of an `h × w` grid of pixel centres, `[C, h, w]`.
    pub fn forward(&self, h: usize, w: usize) -> Tensor<3> {
        let device = self.positional_encoding_gaussian_matrix.device();
        let mut grid = Vec::with_capacity(h * w * 2);
        for y in 0..h {
            for x in 0..w {
                grid.push(((x as f64 + 0.5) / w as f64) as f32);
                grid.push(((y as f64 + 0.5) / h as f64) as f32);
            }
        }
        let coords: Tensor<3> = Tensor::from_data(TensorData::new(grid, [h, w, 2]), &device);
        self.pe_encoding(coords).permute([2, 0, 1])
    }

    /// Encodes pixel coordinates `[B, N, 2]` (x, y) of an image of `image_size` (h, w).
    pub fn forward_with_coords(&self, coords: Tensor<3>, image_size: [usize; 2]) -> Tensor<3> {
        let device = coords.device();
        let size: Tensor<3> = Tensor::from_data(
            TensorData::new(vec![image_size[1] as f32, image_size[0] as f32], [1, 1, 2]),
            &device,
        );
        self.pe_encoding(coords / size)
    }
}

/// Cosines and sines of the 2-D axial rotary encoding for an `end_x × end_y` grid
/// (`compute_axial_cis`): `[end_x·end_y, dim/2]` each, x frequencies then y frequencies.
pub fn axial_rope_tables(
    dim: usize,
    end_x: usize,
    end_y: usize,
    theta: f64,
) -> (Vec<f32>, Vec<f32>) {
    let quarter = dim / 4;
    let freqs: Vec<f32> = (0..quarter)
        .map(|i| (1.0 / theta.powf((4 * i) as f64 / dim as f64)) as f32)
        .collect();
    let n = end_x * end_y;
    let half = 2 * quarter;
    let mut cos = vec![0f32; n * half];
    let mut sin = vec![0f32; n * half];
    for t in 0..n {
        let tx = (t % end_x) as f32;
        let ty = (t / end_x) as f32;
        for (i, f) in freqs.iter().enumerate() {
            // The angle is an f32 product in PyTorch (torch.outer on float32).
            let ax = (tx * f) as f64;
            let ay = (ty * f) as f64;
            cos[t * half + i] = ax.cos() as f32;
            sin[t * half + i] = ax.sin() as f32;
            cos[t * half + quarter + i] = ay.cos() as f32;
            sin[t * half + quarter + i] = ay.sin() as f32;
        }
    }
    (cos, sin)
}

/// The rotary tables on a device, `[L, dim/2]` each, for a square map of `L` tokens.
#[derive(Clone, Debug)]
pub struct RopeTables {
    pub cos: Tensor<2>,
    pub sin: Tensor<2>,
}

impl RopeTables {
    /// Tables for `seq_len` tokens laid out as a square (`w = h = sqrt(seq_len)`).
    pub fn square(dim: usize, seq_len: usize, theta: f64, device: &Device) -> Self {
        let side = (seq_len as f64).sqrt().round() as usize;
        let (cos, sin) = axial_rope_tables(dim, side, side, theta);
        let half = 2 * (dim / 4);
        Self {
            cos: Tensor::from_data(TensorData::new(cos, [side * side, half]), device),
            sin: Tensor::from_data(TensorData::new(sin, [side * side, half]), device),
        }
    }
}

/// Rotates `x` `[B, H, L, D]` by the tables (`apply_rotary_enc` for one tensor): each pair
/// `(x[2i], x[2i+1])` is multiplied by `cos + i·sin`. When `L` is a multiple `r` of the table
/// length, the tables are tiled `r` times (`repeat_freqs_k`).
pub fn apply_rotary(x: Tensor<4>, tables: &RopeTables) -> Tensor<4> {
    let rows = x.dims()[2];
    super::kernels::rotary(x, tables.cos.clone(), tables.sin.clone(), rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_table_matches_hand_computed_values() {
        let pe = PositionEmbeddingSine::new(4, 10000.0);
        let (h, w) = (2, 3);
        let t = pe.table(h, w);
        assert_eq!(t.len(), 4 * h * w);
        // channel 0 = sin(y_embed / 1), channel 1 = cos(y_embed / 1) at (y=1, x=2)
        let y_embed = 2.0 / (2.0 + 1e-6) * 2.0 * PI;
        let x_embed = 3.0 / (3.0 + 1e-6) * 2.0 * PI;
        let at = |c: usize| t[(c * h + 1) * w + 2] as f64;
        assert!((at(0) - y_embed.sin()).abs() < 1e-6);
        assert!((at(1) - y_embed.cos()).abs() < 1e-6);
        assert!((at(2) - x_embed.sin()).abs() < 1e-6);
        assert!((at(3) - x_embed.cos()).abs() < 1e-6);
    }

    #[test]
    fn random_encoding_has_the_official_shapes() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 118, || {
            let device = Device::flex();
            let pe = PositionEmbeddingRandom::new(8, &device);
            assert_eq!(pe.forward(4, 5).dims(), [16, 4, 5]);
            let coords = Tensor::<3>::zeros([2, 3, 2], &device);
            let e = pe.forward_with_coords(coords, [32, 32]);
            assert_eq!(e.dims(), [2, 3, 16]);
            // (0, 0) maps to -1 in both coordinates: sin/cos of -2π·(g0 + g1).
            let g = pe
                .positional_encoding_gaussian_matrix
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let a = -2.0 * PI * (g[0] + g[8]) as f64;
            let v = e.into_data().try_to_vec::<f32>().unwrap();
            assert!((v[0] as f64 - a.sin()).abs() < 1e-4);
            assert!((v[8] as f64 - a.cos()).abs() < 1e-4);
        })
    }

    #[test]
    fn rotary_preserves_pair_norms_and_rotates_by_position() {
        let device = Device::flex();
        let tables = RopeTables::square(8, 16, 10000.0, &device);
        let x = Tensor::<4>::ones([1, 1, 16, 8], &device);
        let y = apply_rotary(x, &tables)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // Token 0 sits at (0, 0): no rotation.
        assert!(y[..8].iter().all(|v| (v - 1.0).abs() < 1e-6));
        // Token 5 = (x 1, y 1): first pair rotated by angle 1 (frequency 1).
        let (c, s) = (1f64.cos() as f32, 1f64.sin() as f32);
        assert!((y[5 * 8] - (c - s)).abs() < 1e-6);
        assert!((y[5 * 8 + 1] - (s + c)).abs() < 1e-6);
        for p in y.chunks(2) {
            assert!(((p[0] * p[0] + p[1] * p[1]) - 2.0).abs() < 1e-5);
        }
    }
}
