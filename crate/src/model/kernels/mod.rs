//! Fast CPU kernels for the operations where burn-flex's generic paths are SAM-2's bottleneck
//! on the CPU, written as a burn backend extension.
//!
//! - **GELU.** burn-flex applies an activation with one scalar call per element on one thread:
//!   the exact GELU (`libm::erff`) took 181 ms for the 25 M activations of one Hiera-tiny
//!   stage-1 MLP, where PyTorch takes 30 ms (`scripts/bench-sam2.sh --ops`, BENCHMARKS.md).
//!   The flex kernel runs on every core and vectorises, with a rational approximation of erf
//!   (max abs error 4.5e-7 in f32, the accuracy class of PyTorch's own vectorised GELU).
//! - **Linear layers.** burn runs one matrix product and adds the bias in a second pass; the
//!   flex kernel runs blocks of rows as parallel tasks, each accumulated onto the bias (2× on
//!   Hiera's narrow stage-1 layers).
//! - **Attention.** burn-flex's flash attention runs its online softmax one scalar `expf` at a
//!   time, 2.3× PyTorch's time on Hiera-tiny's global attention. The flex kernel tiles queries
//!   and keys the same way but with a vectorised exp and reductions, and one task per block of
//!   query rows instead of per head.
//! - **Query pooling.** Hiera max-pools channels-last maps; through burn that is two permutes
//!   (full copies) around `max_pool2d`. The flex kernel pools channels-last directly.
//! - **Rotary encoding.** Memory attention rotates 28 672 keys per layer; through burn that is
//!   ten passes (repeat, slices, products, concatenations), in the flex kernel one.
//!
//! Every other backend (wgpu, WebGPU) and autodiff (training) keep burn's own operations, so
//! gradients and the GPU paths are unchanged; `f16` and grouped-head inputs fall back too.
//!
//! The switch: [`set_fast_kernels`] (per thread; `sss bench --reference-kernels` turns it
//! off) runs burn's reference operations everywhere, to measure the difference or rule these
//! kernels out.

mod flex;

use std::cell::Cell;

use burn::backend::TensorMetadata;
#[cfg(feature = "native")]
use burn::backend::{Autodiff, autodiff::checkpoint::strategy::CheckpointStrategy};
use burn::backend::{Backend, Cube, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::Linear;
use burn::tensor::{Shape, Slice};

use burn::tensor::ops::{AttentionModuleOptions, MaxPoolOptions};
use burn::tensor::{Tensor, activation, module};

thread_local! {
    /// Per thread, so that a test turning the kernels off cannot change what tests running
    /// beside it on other threads compare (the model's operations are dispatched from the
    /// calling thread; the kernels' own worker threads never read it).
    static FAST_KERNELS: Cell<bool> = const { Cell::new(true) };
}

/// Turns the fast flex kernels on (the default) or off (burn's reference operations) for
/// the calling thread.
pub fn set_fast_kernels(on: bool) {
    FAST_KERNELS.with(|f| f.set(on));
}

/// Whether the fast flex kernels are on for the calling thread.
pub fn fast_kernels() -> bool {
    FAST_KERNELS.with(Cell::get)
}

/// Operations with a backend-specific fast path. The default bodies are burn's reference
/// operations; backends without an override (GPU, autodiff) use them.
#[backend_extension(Flex, Cube, Autodiff: cfg(feature = "native"))]
pub trait Sam2Kernels: Backend {
    /// The exact (erf) GELU, `nn.GELU()`.
    fn gelu_erf(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu(x)
    }

    /// `x·w + b` with `w [d_in, d_out]` (burn's `Linear` layout).
    fn linear_with_bias(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::linear(x, w, Some(b))
    }

    /// Max-pooling of a channels-last map `[B, H, W, C]` with kernel = stride `sh × sw`
    /// (floor mode), Hiera's query pooling.
    fn max_pool_channels_last(x: FloatTensor<Self>, sh: usize, sw: usize) -> FloatTensor<Self> {
        let x = Self::float_permute(x, &[0, 3, 1, 2]);
        let x = Self::max_pool2d(x, [sh, sw], [sh, sw], [0, 0], [1, 1], false);
        Self::float_permute(x, &[0, 2, 3, 1])
    }

    /// 2-D rotary encoding of `x [B, H, L, d]` with tables `cos`, `sin` `[Lt, d/2]`: row `r`
    /// of the first `rotated` rows turns each pair `(x₂ᵢ, x₂ᵢ₊₁)` by the angle of table row
    /// `r mod Lt`; the remaining rows pass unchanged (SAM-2's object-pointer keys).
    fn rotary(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
        rotated: usize,
    ) -> FloatTensor<Self> {
        Self::rotary_reference(x, cos, sin, rotated)
    }

    /// [`Self::rotary`] with burn's operations on every backend (never overridden).
    fn rotary_reference(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
        rotated: usize,
    ) -> FloatTensor<Self> {
        let dims = x.shape();
        let [b, h, l, d] = [dims[0], dims[1], dims[2], dims[3]];
        let [lt, half] = [cos.shape()[0], cos.shape()[1]];
        let rows = |t: FloatTensor<Self>, range: std::ops::Range<usize>| {
            Self::float_slice(
                t,
                &[(0..b).into(), (0..h).into(), range.into(), (0..d).into()],
            )
        };
        let kept = (rotated < l).then(|| rows(x.clone(), rotated..l));
        let x = rows(x, 0..rotated);
        let table = |t: FloatTensor<Self>| {
            let t = Self::float_repeat_dim(t, 0, rotated / lt);
            Self::float_reshape(t, Shape::new([1, 1, rotated, half, 1]))
        };
        let (cos, sin) = (table(cos), table(sin));
        let pairs = Self::float_reshape(x, Shape::new([b, h, rotated, half, 2]));
        let part = |i: usize| {
            let all = |n: usize| Slice::from(0..n);
            Self::float_slice(
                pairs.clone(),
                &[all(b), all(h), all(rotated), all(half), (i..i + 1).into()],
            )
        };
        let (re, im) = (part(0), part(1));
        let out_re = Self::float_sub(
            Self::float_mul(re.clone(), cos.clone()),
            Self::float_mul(im.clone(), sin.clone()),
        );
        let out_im = Self::float_add(Self::float_mul(re, sin), Self::float_mul(im, cos));
        let out = Self::float_cat(vec![out_re, out_im], 4);
        let out = Self::float_reshape(out, Shape::new([b, h, rotated, d]));
        match kept {
            Some(kept) => Self::float_cat(vec![out, kept], 2),
            None => out,
        }
    }

    /// `softmax(q·kᵀ/√d)·v` on `[B, H, L, d]`, no mask.
    fn sdpa(q: FloatTensor<Self>, k: FloatTensor<Self>, v: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::attention(q, k, v, None, None, AttentionModuleOptions::default())
    }
}

impl Sam2Kernels for Cube {}

#[cfg(feature = "native")]
impl<B: Backend, C: CheckpointStrategy> Sam2Kernels for Autodiff<B, C> {}

impl Sam2Kernels for Flex {
    fn gelu_erf(x: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::gelu(x)
    }

    fn sdpa(q: FloatTensor<Self>, k: FloatTensor<Self>, v: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::attention(q, k, v)
    }

    fn linear_with_bias(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        flex::linear(x, w, b)
    }

    fn max_pool_channels_last(x: FloatTensor<Self>, sh: usize, sw: usize) -> FloatTensor<Self> {
        flex::max_pool_channels_last(x, sh, sw)
    }

    fn rotary(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
        rotated: usize,
    ) -> FloatTensor<Self> {
        flex::rotary(x, cos, sin, rotated)
    }
}

/// The exact GELU: the fast flex kernel when it is on, burn's `gelu` otherwise (and always
/// off flex or under autodiff).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !fast_kernels() {
        return activation::gelu(x);
    }
    Tensor::from_dispatch(<Dispatch as Sam2Kernels>::gelu_erf(x.into_dispatch()))
}

/// A `Linear` layer applied to `x`: the fast flex kernel when it is on (and the layer has a
/// bias, as all of SAM-2's do), `Linear::forward` otherwise.
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    match &layer.bias {
        Some(bias) if fast_kernels() => {
            Tensor::from_dispatch(<Dispatch as Sam2Kernels>::linear_with_bias(
                x.into_dispatch(),
                layer.weight.val().into_dispatch(),
                bias.val().into_dispatch(),
            ))
        }
        _ => layer.forward(x),
    }
}

/// Max-pools a channels-last map `[B, H, W, C]` with kernel = stride (floor mode): the fast
/// flex kernel when it is on (no permutes to channels-first and back), burn's `max_pool2d`
/// between two permutes otherwise.
pub fn max_pool_channels_last(x: Tensor<4>, stride: [usize; 2]) -> Tensor<4> {
    if !fast_kernels() {
        let x = module::max_pool2d(x.permute([0, 3, 1, 2]), MaxPoolOptions::new(stride));
        return x.permute([0, 2, 3, 1]);
    }
    Tensor::from_dispatch(<Dispatch as Sam2Kernels>::max_pool_channels_last(
        x.into_dispatch(),
        stride[0],
        stride[1],
    ))
}

/// The 2-D rotary encoding of the first `rotated` rows of `x [B, H, L, d]` (the rest pass
/// unchanged), with the tables `cos`, `sin` `[Lt, d/2]` for `Lt` rows repeated over the rows
/// (SAM-2's memory keys repeat the image's table per memory frame). The fast flex kernel when
/// it is on: one pass instead of the reference's repeat, slices, four products and two
/// concatenations.
pub fn rotary(x: Tensor<4>, cos: Tensor<2>, sin: Tensor<2>, rotated: usize) -> Tensor<4> {
    let [_, _, l, d] = x.dims();
    let [lt, half] = cos.dims();
    assert!(
        rotated <= l && lt > 0 && rotated.is_multiple_of(lt) && d == 2 * half,
        "rotary: {rotated} of {l} rows, width {d}, with tables for {lt} rows of {half} pairs"
    );
    if rotated == 0 {
        return x;
    }
    let (x, cos, sin) = (x.into_dispatch(), cos.into_dispatch(), sin.into_dispatch());
    Tensor::from_dispatch(if fast_kernels() {
        <Dispatch as Sam2Kernels>::rotary(x, cos, sin, rotated)
    } else {
        <Dispatch as Sam2Kernels>::rotary_reference(x, cos, sin, rotated)
    })
}

/// Scaled dot-product attention on `[B, heads, L, d]`: the fast flex kernel when it is on,
/// burn's `attention` otherwise.
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    if !fast_kernels() {
        return module::attention(q, k, v, None, None, AttentionModuleOptions::default());
    }
    Tensor::from_dispatch(<Dispatch as Sam2Kernels>::sdpa(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
    ))
}

/// `0.5·x·(1 + erf(x/√2))`.
#[inline(always)]
pub fn gelu_f32(x: f32) -> f32 {
    0.5 * x * (1.0 + erf_f32(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf as `x·P(x²)/Q(x²)` on `[-4, 4]` (outside, erf is ±1 in f32): a minimax rational
/// approximation, branch-free so the loop vectorises. Max abs error 4.5e-7 (test below).
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    const P: [f32; 7] = [
        -2.726_142_3e-10,
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ];
    const Q: [f32; 5] = [
        -1.456_607_2e-5,
        -2.133_740_6e-4,
        -1.682_827e-3,
        -7.373_329e-3,
        -1.426_474e-2,
    ];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = P[1..].iter().fold(P[0], |acc, &c| acc * x2 + c) * x;
    let q = Q[1..].iter().fold(Q[0], |acc, &c| acc * x2 + c);
    p / q
}

/// `eˣ` by range reduction (`x = n·ln2 + r`, `|r| ≤ ln2/2`), a degree-6 polynomial for `eʳ`
/// and `2ⁿ` built from the exponent bits; branch-free so loops over it vectorise. Relative
/// error below 3e-7 for `x ≥ −87`; smaller `x` give `e⁻⁸⁷ ≈ 1.6e-38` (softmax weights that
/// small vanish in any sum).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer without a rounding instruction.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let rounded = x * std::f32::consts::LOG2_E + ROUND;
    let n = rounded - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // n sits in the low mantissa bits of `rounded`: integer arithmetic only (a float-to-int
    // `as` cast would not vectorise).
    let biased = rounded
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    let two_n = f32::from_bits(biased << 23);
    p * two_n
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn erf_matches_libm_within_half_a_micro() {
        let mut worst = 0f64;
        for i in -600_000..=600_000 {
            let x = i as f32 * 1e-5;
            let exact = libm_erf(x as f64);
            worst = worst.max((erf_f32(x) as f64 - exact).abs());
        }
        println!("erf max abs error on [-6, 6]: {worst:.3e}");
        assert!(worst < 5e-7, "erf max abs error {worst:e}");
    }

    /// erf in f64 from its Taylor series (|x| < 3) and the continued fraction of erfc beyond:
    /// an independent reference for the test.
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let r = if a < 3.0 {
            let (mut term, mut sum, mut k) = (a, a, 0.0);
            while term.abs() > 1e-17 * sum.abs() {
                k += 1.0;
                term *= -a * a / k;
                sum += term / (2.0 * k + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = k as f64 / 2.0 / (a + f);
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + f)
        };
        r.copysign(x)
    }

    #[test]
    fn exp_matches_f64_within_3e7_relative() {
        let mut worst = 0f64;
        for i in -870_000..=880_000 {
            let x = i as f32 * 1e-4;
            let exact = (x as f64).exp();
            worst = worst.max(((exp_f32(x) as f64 - exact) / exact).abs());
        }
        println!("exp max relative error on [-87, 88]: {worst:.3e}");
        assert!(worst < 3e-7, "exp max relative error {worst:e}");
        assert!(exp_f32(-1e4) < 1e-37 && exp_f32(f32::NEG_INFINITY) < 1e-37);
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    }

    #[test]
    fn fast_attention_matches_burn_attention_on_flex() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 110, || {
            let device = Device::flex();
            let normal = Distribution::Normal(0.0, 2.0);
            // Several heads, a query count that is no multiple of the query block, keys spanning
            // several tiles, a value width unlike the key width; then strided (swapped) inputs.
            let q = Tensor::<4>::random([2, 3, 70, 16], normal, &device);
            let k = Tensor::<4>::random([2, 3, 1100, 16], normal, &device);
            let v = Tensor::<4>::random([2, 3, 1100, 24], normal, &device);
            let reference = module::attention(
                q.clone(),
                k.clone(),
                v.clone(),
                None,
                None,
                AttentionModuleOptions::default(),
            );
            let fast = attention(q.clone(), k.clone(), v.clone());
            assert_eq!(fast.dims(), [2, 3, 70, 24]);
            let reference_values = values(reference.clone());
            let largest = reference_values.iter().fold(1f32, |m, v| m.max(v.abs()));
            let err = max_abs_diff(&reference_values, &values(fast)) / largest;
            println!("attention max difference relative to the largest output: {err:.3e}");
            assert!(err < 1e-5, "attention differs by {err} (relative)");
            let strided = attention(
                q.swap_dims(1, 2).swap_dims(1, 2),
                k.swap_dims(1, 2).swap_dims(1, 2),
                v.swap_dims(2, 3).swap_dims(2, 3),
            );
            assert!(max_abs_diff(&reference_values, &values(strided)) / largest < 1e-5);
        })
    }

    #[test]
    fn fast_channels_last_pooling_matches_burn_max_pool() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 111, || {
            let device = Device::flex();
            // Odd sizes (floor mode drops the last row and column), a strided input.
            let x = Tensor::<4>::random([2, 7, 9, 5], Distribution::Normal(0.0, 1.0), &device);
            let reference =
                module::max_pool2d(x.clone().permute([0, 3, 1, 2]), MaxPoolOptions::new([2, 2]))
                    .permute([0, 2, 3, 1]);
            let fast = max_pool_channels_last(x.clone(), [2, 2]);
            assert_eq!(fast.dims(), [2, 3, 4, 5]);
            assert_eq!(values(reference.clone()), values(fast));
            let strided = max_pool_channels_last(x.swap_dims(1, 2).swap_dims(1, 2), [2, 2]);
            assert_eq!(values(reference), values(strided));
        })
    }

    #[test]
    fn fast_rotary_matches_the_reference_with_repeated_tables_and_kept_rows() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 112, || {
            let device = Device::flex();
            let tables =
                crate::model::position_encoding::RopeTables::square(8, 16, 10000.0, &device);
            // 3 memory frames of 16 rotated rows, then 5 rows left as they are.
            let x = Tensor::<4>::random([2, 2, 53, 8], Distribution::Normal(0.0, 1.0), &device);
            let (x_d, cos, sin) = (
                x.clone().into_dispatch(),
                tables.cos.clone().into_dispatch(),
                tables.sin.clone().into_dispatch(),
            );
            let reference = Tensor::<4>::from_dispatch(
                <Dispatch as Sam2Kernels>::rotary_reference(x_d, cos, sin, 48),
            );
            let fast = rotary(x.clone(), tables.cos.clone(), tables.sin.clone(), 48);
            assert_eq!(values(reference.clone()), values(fast.clone()));
            assert_eq!(
                values(fast.narrow(2, 48, 5)),
                values(x.clone().narrow(2, 48, 5))
            );
            // Rotation keeps each pair's length.
            let norm = |t: Tensor<4>| values((t.clone() * t).sum_dim(3));
            let (a, b) = (norm(reference.narrow(2, 0, 48)), norm(x.narrow(2, 0, 48)));
            assert!(a.iter().zip(&b).all(|(a, b)| (a - b).abs() < 1e-4));
        })
    }

    #[test]
    fn switching_the_kernels_off_gives_burn_operations() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 113, || {
            let device = Device::flex();
            let x = Tensor::<4>::random([1, 2, 9, 8], Distribution::Normal(0.0, 1.0), &device);
            set_fast_kernels(false);
            let reference = values(attention(x.clone(), x.clone(), x.clone()));
            let gelu_reference = values(gelu(x.clone()));
            set_fast_kernels(true);
            let burn_attention = module::attention(
                x.clone(),
                x.clone(),
                x.clone(),
                None,
                None,
                AttentionModuleOptions::default(),
            );
            assert_eq!(reference, values(burn_attention));
            assert_eq!(gelu_reference, values(activation::gelu(x)));
        })
    }

    #[test]
    fn fast_gelu_matches_burn_gelu_on_flex_for_views_and_shared_tensors() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 114, || {
            let device = Device::flex();
            let x = Tensor::<3>::random([3, 50, 70], Distribution::Normal(0.0, 3.0), &device);
            let before = values(x.clone());
            let reference = values(activation::gelu(x.clone()));
            // Shared storage (x is used again below), a transposed view, and a unique tensor.
            let shared = values(gelu(x.clone()));
            let view = values(gelu(x.clone().swap_dims(1, 2)).swap_dims(1, 2));
            let unique = values(gelu(x.clone() * 1.0));
            for got in [&shared, &view, &unique] {
                let worst = reference
                    .iter()
                    .zip(got.iter())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(worst < 2e-6, "gelu max abs difference {worst}");
            }
            // The input is left untouched.
            assert_eq!(before, values(x));
            // An empty tensor stays empty.
            let empty = Tensor::<2>::zeros([0, 4], &device);
            assert_eq!(gelu(empty).dims(), [0, 4]);
        })
    }

    #[test]
    fn gelu_keeps_gradients_under_autodiff() {
        let device = Device::flex().autodiff();
        let x = Tensor::<1>::from_floats([-1.0, 0.0, 2.0], &device).require_grad();
        let grads = gelu(x.clone()).sum().backward();
        let g = values(x.grad(&grads).expect("gelu passes gradients"));
        // d/dx gelu at 0 is 0.5; at 2 it is about 1.0852.
        assert!(
            (g[1] - 0.5).abs() < 1e-5 && (g[2] - 1.0852).abs() < 1e-3,
            "{g:?}"
        );
    }
}
