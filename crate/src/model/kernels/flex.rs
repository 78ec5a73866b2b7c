//! The flex (CPU) implementations of [`super::Sam2Kernels`] on `f32`: GELU, linear layers,
//! scaled dot-product attention, channels-last max-pooling and the rotary encoding. Each splits
//! its output into blocks that run on all cores with rayon (natively) and is written so the
//! compiler vectorises the inner loops; on x86-64 the GELU and softmax loops are compiled a
//! second time for AVX-512 and picked at run time. Other dtypes fall back to burn's operations.

use burn::backend::ops::{ActivationOps, FloatTensorOps, ModuleOps};
use burn::backend::{Flex, flex::FlexTensor, flex::Layout};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bytes, DType, Shape};

use super::Sam2Kernels;

/// Query rows per attention task. Tuned on Hiera-tiny's global attention (4 × 4096 tokens):
/// 64 → 127 ms, 128 → 111 ms, 256 → 98 ms (2 cores, BENCHMARKS.md).
const Q_BLOCK: usize = 256;
/// Keys per attention tile: the score tile is `Q_BLOCK × K_TILE` floats (512 KB, in L2).
const K_TILE: usize = 512;
/// Elements per GELU task.
const GELU_CHUNK: usize = 16 * 1024;

/// The exact GELU in place (a copy first only if the storage is shared or strided).
pub fn gelu(x: FlexTensor) -> FlexTensor {
    if x.dtype() != DType::F32 {
        return Flex::gelu(x);
    }
    let dense = x.is_contiguous() && x.layout().start_offset() == 0;
    let mut x = if dense { x } else { x.to_contiguous() };
    let n = x.layout().num_elements();
    let values: &mut [f32] = &mut x.storage_mut::<f32>()[..n];
    if n > 0 {
        for_each_block(values, n, GELU_CHUNK, |_, _, chunk| {
            dispatch_simd!(gelu_in_place(chunk))
        });
    }
    x
}

/// `softmax(q·kᵀ/√d)·v` on `[B, H, L, d]` tensors, flash-style: each task takes a block of
/// query rows of one head and walks the keys tile by tile with an online softmax, so the score
/// matrix is never materialised. Falls back to burn-flex's kernel for other dtypes and for
/// grouped heads.
pub fn attention(q: FlexTensor, k: FlexTensor, v: FlexTensor) -> FlexTensor {
    let (qs, ks, vs) = (
        q.layout().shape().clone(),
        k.layout().shape().clone(),
        v.layout().shape().clone(),
    );
    let same_heads = qs[0] == ks[0] && qs[1] == ks[1] && ks[..3] == vs[..3] && qs[3] == ks[3];
    if q.dtype() != DType::F32 || k.dtype() != DType::F32 || v.dtype() != DType::F32 || !same_heads
    {
        return Flex::attention(q, k, v, None, None, AttentionModuleOptions::default());
    }
    let (heads, lq, d, lk, dv) = (qs[0] * qs[1], qs[2], qs[3], ks[2], vs[3]);
    let (q, k, v) = (contiguous(q), contiguous(k), contiguous(v));
    let (q, k, v) = (values(&q), values(&k), values(&v));
    let mut out = vec![0f32; heads * lq * dv];
    let scale = 1.0 / (d as f32).sqrt();
    if lq > 0 && lk > 0 && dv > 0 {
        let task = |head: usize, block: usize, o: &mut [f32]| {
            let rows = o.len() / dv;
            let q0 = block * Q_BLOCK;
            attention_block(
                &q[(head * lq + q0) * d..(head * lq + q0 + rows) * d],
                &k[head * lk * d..(head + 1) * lk * d],
                &v[head * lk * dv..(head + 1) * lk * dv],
                o,
                [rows, d, lk, dv],
                scale,
            );
        };
        for_each_block(&mut out, lq * dv, Q_BLOCK * dv, task);
    }
    let shape = Shape::from(vec![qs[0], qs[1], lq, dv]);
    FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(shape),
        DType::F32,
    )
}

/// Rows of the input per linear-layer task: enough tasks to keep every core busy, each large
/// enough for an efficient product. Measured on 2 cores (BENCHMARKS.md): 65 536 × 96 → 288
/// takes 52 ms through burn, 25 ms in 128-row blocks, 18 ms in 2048-row blocks.
fn linear_block_rows(rows: usize) -> usize {
    (rows / (4 * threads())).clamp(256, 2048)
}

fn threads() -> usize {
    #[cfg(not(target_family = "wasm"))]
    return rayon::current_num_threads();
    #[cfg(target_family = "wasm")]
    return 1;
}

/// `x·w + b` for `x [.., d_in]`, `w [d_in, d_out]`, `b [d_out]`: blocks of rows in parallel,
/// each one matrix product accumulated onto the bias, so the bias costs no pass of its own.
pub fn linear(x: FlexTensor, w: FlexTensor, b: FlexTensor) -> FlexTensor {
    let f32_only = [&x, &w, &b].iter().all(|t| t.dtype() == DType::F32);
    if !f32_only || w.layout().shape().num_dims() != 2 {
        return Flex::linear(x, w, Some(b));
    }
    let mut out_dims: Vec<usize> = x.layout().shape().iter().copied().collect();
    let [d_in, d_out] = [w.layout().shape()[0], w.layout().shape()[1]];
    let Some(last) = out_dims.last_mut() else {
        return Flex::linear(x, w, Some(b));
    };
    *last = d_out;
    let (x, w, b) = (contiguous(x), contiguous(w), contiguous(b));
    let (xs, ws, bias) = (values(&x), values(&w), values(&b));
    let rows = xs.len() / d_in.max(1);
    let mut out = vec![0f32; rows * d_out];
    if rows > 0 && d_out > 0 {
        let block_rows = linear_block_rows(rows);
        // Too few rows to split: one product, parallel inside (as burn does).
        let parallelism = if rows < 2 * block_rows {
            gemm_parallelism()
        } else {
            gemm::Parallelism::None
        };
        let task = |_: usize, block: usize, o: &mut [f32]| {
            let n = o.len() / d_out;
            let r0 = block * block_rows;
            o.chunks_exact_mut(d_out)
                .for_each(|row| row.copy_from_slice(bias));
            // SAFETY: x block [n, d_in], w [d_in, d_out], o [n, d_out], row-major, in bounds.
            unsafe {
                gemm::gemm(
                    n,
                    d_out,
                    d_in,
                    o.as_mut_ptr(),
                    1,
                    d_out as isize,
                    true,
                    xs.as_ptr().add(r0 * d_in),
                    1,
                    d_in as isize,
                    ws.as_ptr(),
                    1,
                    d_out as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    parallelism,
                );
            }
        };
        for_each_block(&mut out, rows * d_out, block_rows * d_out, task);
    }
    FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(Shape::from(out_dims)),
        DType::F32,
    )
}

/// Max-pooling of `[B, H, W, C]` with kernel = stride `sh × sw` (floor mode), channels-last:
/// each output row is the element-wise max of `sh × sw` runs of `C` contiguous values, one task
/// per output row.
pub fn max_pool_channels_last(x: FlexTensor, sh: usize, sw: usize) -> FlexTensor {
    let dims = x.layout().shape().clone();
    if x.dtype() != DType::F32 || dims.num_dims() != 4 || sh == 0 || sw == 0 {
        let x = Flex::float_permute(x, &[0, 3, 1, 2]);
        let x = Flex::max_pool2d(x, [sh, sw], [sh, sw], [0, 0], [1, 1], false);
        return Flex::float_permute(x, &[0, 2, 3, 1]);
    }
    let [b, h, w, c] = [dims[0], dims[1], dims[2], dims[3]];
    let (ho, wo) = (h / sh, w / sw);
    let x = contiguous(x);
    let input = values(&x);
    let mut out = vec![f32::NEG_INFINITY; b * ho * wo * c];
    if !out.is_empty() {
        let task = |_: usize, row: usize, o: &mut [f32]| {
            let (batch, i) = (row / ho, row % ho);
            for (j, pixel) in o.chunks_exact_mut(c).enumerate() {
                for di in 0..sh {
                    let start = ((batch * h + i * sh + di) * w + j * sw) * c;
                    for src in input[start..start + sw * c].chunks_exact(c) {
                        for (m, &v) in pixel.iter_mut().zip(src) {
                            *m = if v > *m || v.is_nan() { v } else { *m };
                        }
                    }
                }
            }
        };
        for_each_block(&mut out, b * ho * wo * c, wo * c, task);
    }
    FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(Shape::from(vec![b, ho, wo, c])),
        DType::F32,
    )
}

/// The rotary encoding of `x [B, H, L, d]` in one pass: one task per block of rows; row `r`
/// below `rotated` turns its pairs by table row `r mod Lt`, the rest are copied.
pub fn rotary(x: FlexTensor, cos: FlexTensor, sin: FlexTensor, rotated: usize) -> FlexTensor {
    let dims = x.layout().shape().clone();
    if [&x, &cos, &sin].iter().any(|t| t.dtype() != DType::F32) {
        return Flex::rotary_reference(x, cos, sin, rotated);
    }
    let (l, d) = (dims[2], dims[3]);
    let lt = cos.layout().shape()[0];
    let (x, cos, sin) = (contiguous(x), contiguous(cos), contiguous(sin));
    let (input, cos, sin) = (values(&x), values(&cos), values(&sin));
    let half = d / 2;
    let mut out = vec![0f32; input.len()];
    if !out.is_empty() {
        const ROWS: usize = 64;
        let task = |head: usize, block: usize, o: &mut [f32]| {
            let r0 = block * ROWS;
            for (i, row) in o.chunks_exact_mut(d).enumerate() {
                let r = r0 + i;
                let src = &input[(head * l + r) * d..(head * l + r + 1) * d];
                if r >= rotated {
                    row.copy_from_slice(src);
                    continue;
                }
                let t = (r % lt) * half;
                let (c, s) = (&cos[t..t + half], &sin[t..t + half]);
                for (((dst, pair), &c), &s) in row
                    .chunks_exact_mut(2)
                    .zip(src.chunks_exact(2))
                    .zip(c)
                    .zip(s)
                {
                    dst[0] = pair[0] * c - pair[1] * s;
                    dst[1] = pair[0] * s + pair[1] * c;
                }
            }
        };
        for_each_block(&mut out, l * d, ROWS * d, task);
    }
    FlexTensor::new(Bytes::from_elems(out), Layout::contiguous(dims), DType::F32)
}

fn gemm_parallelism() -> gemm::Parallelism {
    #[cfg(not(target_family = "wasm"))]
    return gemm::Parallelism::Rayon(0);
    #[cfg(target_family = "wasm")]
    return gemm::Parallelism::None;
}

fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.is_contiguous() && t.layout().start_offset() == 0 {
        t
    } else {
        t.to_contiguous()
    }
}

fn values(t: &FlexTensor) -> &[f32] {
    &t.storage::<f32>()[..t.layout().num_elements()]
}

/// One task: `rows` query rows of one head against all `lk` keys. `o` is `[rows, dv]`, zeroed.
fn attention_block(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o: &mut [f32],
    [rows, d, lk, dv]: [usize; 4],
    scale: f32,
) {
    let mut scores = vec![0f32; rows * K_TILE.min(lk)];
    let mut row_max = vec![f32::NEG_INFINITY; rows];
    let mut row_sum = vec![0f32; rows];
    for k0 in (0..lk).step_by(K_TILE) {
        let n = K_TILE.min(lk - k0);
        let s = &mut scores[..rows * n];
        // s = scale · q · k_tileᵀ
        // SAFETY: the pointers and strides describe in-bounds row-major matrices:
        // q [rows, d], k tile [n, d] read transposed, s [rows, n].
        unsafe {
            gemm::gemm(
                rows,
                n,
                d,
                s.as_mut_ptr(),
                1,
                n as isize,
                false,
                q.as_ptr(),
                1,
                d as isize,
                k.as_ptr().add(k0 * d),
                d as isize,
                1,
                0.0,
                scale,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        for (i, row) in s.chunks_exact_mut(n).enumerate() {
            let tile_max = dispatch_simd!(max_of(row));
            let new_max = row_max[i].max(tile_max);
            let tile_sum = dispatch_simd!(exp_shifted_in_place(row, new_max));
            let correction = (row_max[i] - new_max).exp();
            if correction != 1.0 {
                o[i * dv..(i + 1) * dv]
                    .iter_mut()
                    .for_each(|x| *x *= correction);
            }
            row_sum[i] = row_sum[i] * correction + tile_sum;
            row_max[i] = new_max;
        }
        // o += p · v_tile
        // SAFETY: p [rows, n], v tile [n, dv], o [rows, dv], all row-major and in bounds.
        unsafe {
            gemm::gemm(
                rows,
                dv,
                n,
                o.as_mut_ptr(),
                1,
                dv as isize,
                true,
                s.as_ptr(),
                1,
                n as isize,
                v.as_ptr().add(k0 * dv),
                1,
                dv as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
    for (row, sum) in o.chunks_exact_mut(dv).zip(row_sum) {
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|x| *x *= inv);
    }
}

/// Runs `f(outer, inner, block)` over `out` cut into `outer_len` pieces, each cut into blocks
/// of `block_len`: in parallel natively, in order in wasm.
fn for_each_block(
    out: &mut [f32],
    outer_len: usize,
    block_len: usize,
    f: impl Fn(usize, usize, &mut [f32]) + Send + Sync,
) {
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(outer_len)
            .enumerate()
            .for_each(|(i, head)| {
                head.par_chunks_mut(block_len)
                    .enumerate()
                    .for_each(|(j, block)| f(i, j, block))
            });
    }
    #[cfg(target_family = "wasm")]
    for (i, head) in out.chunks_mut(outer_len).enumerate() {
        for (j, block) in head.chunks_mut(block_len).enumerate() {
            f(i, j, block);
        }
    }
}

/// Calls `$f(args)` from [`simd`] compiled for AVX-512 where the CPU has it, else the baseline
/// build of the same code.
macro_rules! dispatch_simd {
    ($f:ident($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F, checked just above.
                unsafe { simd::avx512::$f($($arg),*) }
            } else {
                simd::$f($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            simd::$f($($arg),*)
        }
    }};
}
use dispatch_simd;

/// Loops written so LLVM vectorises them: independent lanes, no branches, no library calls.
mod simd {
    /// Lanes of the manual reductions (one AVX-512 register).
    const LANES: usize = 16;

    macro_rules! kernels {
        ($($attr:meta)?) => {
            #[allow(dead_code)]
            $(#[$attr])?
            pub fn gelu_in_place(x: &mut [f32]) {
                x.iter_mut().for_each(|v| *v = crate::model::kernels::gelu_f32(*v));
            }

            /// The largest element (−∞ for an empty slice).
            $(#[$attr])?
            pub fn max_of(x: &[f32]) -> f32 {
                let mut lanes = [f32::NEG_INFINITY; LANES];
                let mut chunks = x.chunks_exact(LANES);
                for c in &mut chunks {
                    for (l, &v) in lanes.iter_mut().zip(c) {
                        *l = if v > *l { v } else { *l };
                    }
                }
                let rest = chunks.remainder().iter().copied();
                lanes.into_iter().chain(rest).fold(f32::NEG_INFINITY, f32::max)
            }

            /// `x ← exp(x − shift)`, returning the sum of the new values.
            $(#[$attr])?
            pub fn exp_shifted_in_place(x: &mut [f32], shift: f32) -> f32 {
                let mut lanes = [0f32; LANES];
                let mut chunks = x.chunks_exact_mut(LANES);
                for c in &mut chunks {
                    for (l, v) in lanes.iter_mut().zip(c.iter_mut()) {
                        *v = crate::model::kernels::exp_f32(*v - shift);
                        *l += *v;
                    }
                }
                let mut sum: f32 = lanes.iter().sum();
                for v in chunks.into_remainder() {
                    *v = crate::model::kernels::exp_f32(*v - shift);
                    sum += *v;
                }
                sum
            }
        };
    }

    kernels!();

    #[cfg(target_arch = "x86_64")]
    pub mod avx512 {
        use super::LANES;
        kernels!(target_feature(enable = "avx512f,avx2,fma"));
    }
}
