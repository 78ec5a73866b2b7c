//! The SAM two-way transformer (`sam2/modeling/sam/transformer.py`): `Attention` with an
//! internal downsampling of the width and a separate key/value input width, `RoPEAttention`
//! (2-D axial rotary encoding of queries and keys, with keys repeated over memory frames and
//! the trailing object-pointer keys left unrotated), `TwoWayAttentionBlock` and
//! `TwoWayTransformer`.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::common::{ActivationKind, Mlp};
use super::kernels;
use super::position_encoding::{RopeTables, apply_rotary};

/// Scaled dot-product attention on `[B, heads, L, d]`.
pub fn sdpa(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    kernels::attention(q, k, v)
}

/// `Attention`: q/k/v/out projections, `embedding_dim / downsample_rate` internal width.
#[derive(Module, Debug)]
pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub out_proj: Linear,
    num_heads: usize,
}

impl Attention {
    pub fn new(
        embedding_dim: usize,
        num_heads: usize,
        downsample_rate: usize,
        kv_in_dim: Option<usize>,
        device: &Device,
    ) -> Self {
        let internal = embedding_dim / downsample_rate;
        let kv = kv_in_dim.unwrap_or(embedding_dim);
        Self {
            q_proj: LinearConfig::new(embedding_dim, internal).init(device),
            k_proj: LinearConfig::new(kv, internal).init(device),
            v_proj: LinearConfig::new(kv, internal).init(device),
            out_proj: LinearConfig::new(internal, embedding_dim).init(device),
            num_heads,
        }
    }

    fn separate_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [b, n, c] = x.dims();
        x.reshape([b, n, self.num_heads, c / self.num_heads])
            .swap_dims(1, 2)
    }

    fn recombine_heads(x: Tensor<4>) -> Tensor<3> {
        let [b, h, n, d] = x.dims();
        x.swap_dims(1, 2).reshape([b, n, h * d])
    }

    fn project(&self, q: Tensor<3>, k: Tensor<3>, v: Tensor<3>) -> [Tensor<4>; 3] {
        [
            self.separate_heads(kernels::linear(&self.q_proj, q)),
            self.separate_heads(kernels::linear(&self.k_proj, k)),
            self.separate_heads(kernels::linear(&self.v_proj, v)),
        ]
    }

    /// `[B, Nq, C]`, `[B, Nk, Ckv]`, `[B, Nk, Ckv]` → `[B, Nq, C]`.
    pub fn forward(&self, q: Tensor<3>, k: Tensor<3>, v: Tensor<3>) -> Tensor<3> {
        let [q, k, v] = self.project(q, k, v);
        kernels::linear(&self.out_proj, Self::recombine_heads(sdpa(q, k, v)))
    }

    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.q_proj.weight.dims()[1] / self.num_heads
    }
}

/// `RoPEAttention`: [`Attention`] with 2-D axial rotary encoding of queries and keys.
#[derive(Module, Debug)]
pub struct RoPEAttention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub out_proj: Linear,
    num_heads: usize,
    rope_theta: f64,
    rope_k_repeat: bool,
}

impl RoPEAttention {
    pub fn new(
        embedding_dim: usize,
        num_heads: usize,
        downsample_rate: usize,
        kv_in_dim: Option<usize>,
        rope_theta: f64,
        rope_k_repeat: bool,
        device: &Device,
    ) -> Self {
        let Attention {
            q_proj,
            k_proj,
            v_proj,
            out_proj,
            num_heads,
        } = Attention::new(embedding_dim, num_heads, downsample_rate, kv_in_dim, device);
        Self {
            q_proj,
            k_proj,
            v_proj,
            out_proj,
            num_heads,
            rope_theta,
            rope_k_repeat,
        }
    }

    fn separate_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [b, n, c] = x.dims();
        x.reshape([b, n, self.num_heads, c / self.num_heads])
            .swap_dims(1, 2)
    }

    /// The rotary tables this layer uses for `seq_len` query tokens (a square map).
    pub fn tables(&self, seq_len: usize, device: &Device) -> RopeTables {
        let head_dim = self.q_proj.weight.dims()[1] / self.num_heads;
        RopeTables::square(head_dim, seq_len, self.rope_theta, device)
    }

    /// Like [`Attention::forward`]; the last `num_k_exclude_rope` keys are not rotated.
    /// `tables` must be [`Self::tables`] for the query length (pass `None` to build them).
    pub fn forward(
        &self,
        q: Tensor<3>,
        k: Tensor<3>,
        v: Tensor<3>,
        num_k_exclude_rope: usize,
        tables: Option<&RopeTables>,
    ) -> Tensor<3> {
        let q = self.separate_heads(kernels::linear(&self.q_proj, q));
        let k = self.separate_heads(kernels::linear(&self.k_proj, k));
        let v = self.separate_heads(kernels::linear(&self.v_proj, v));
        let [_, _, lq, _] = q.dims();
        let [b, h, lk, d] = k.dims();
        let owned;
        let tables = match tables {
            Some(t) => t,
            None => {
                owned = self.tables(lq, &q.device());
                &owned
            }
        };
        let q = apply_rotary(q, tables);
        let num_k_rope = lk - num_k_exclude_rope;
        assert!(
            num_k_rope == lq || (self.rope_k_repeat && num_k_rope.is_multiple_of(lq)),
            "RoPEAttention: {num_k_rope} rotated keys for {lq} queries"
        );
        let k = kernels::rotary(k, tables.cos.clone(), tables.sin.clone(), num_k_rope);
        let out = sdpa(q, k, v);
        let out = out.swap_dims(1, 2).reshape([b, lq, h * d]);
        kernels::linear(&self.out_proj, out)
    }
}

/// `TwoWayAttentionBlock`: token self-attention, token→image, MLP, image→token.
#[derive(Module, Debug)]
pub struct TwoWayAttentionBlock {
    pub self_attn: Attention,
    pub norm1: LayerNorm,
    pub cross_attn_token_to_image: Attention,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
    pub norm3: LayerNorm,
    pub norm4: LayerNorm,
    pub cross_attn_image_to_token: Attention,
    skip_first_layer_pe: bool,
}

impl TwoWayAttentionBlock {
    pub fn new(
        embedding_dim: usize,
        num_heads: usize,
        mlp_dim: usize,
        attention_downsample_rate: usize,
        skip_first_layer_pe: bool,
        device: &Device,
    ) -> Self {
        let ln = || LayerNormConfig::new(embedding_dim).init(device);
        Self {
            self_attn: Attention::new(embedding_dim, num_heads, 1, None, device),
            norm1: ln(),
            cross_attn_token_to_image: Attention::new(
                embedding_dim,
                num_heads,
                attention_downsample_rate,
                None,
                device,
            ),
            norm2: ln(),
            mlp: Mlp::new(
                embedding_dim,
                mlp_dim,
                embedding_dim,
                2,
                ActivationKind::Relu,
                false,
                device,
            ),
            norm3: ln(),
            norm4: ln(),
            cross_attn_image_to_token: Attention::new(
                embedding_dim,
                num_heads,
                attention_downsample_rate,
                None,
                device,
            ),
            skip_first_layer_pe,
        }
    }

    pub fn forward(
        &self,
        queries: Tensor<3>,
        keys: Tensor<3>,
        query_pe: Tensor<3>,
        key_pe: Tensor<3>,
    ) -> (Tensor<3>, Tensor<3>) {
        let queries = if self.skip_first_layer_pe {
            self.self_attn
                .forward(queries.clone(), queries.clone(), queries)
        } else {
            let q = queries.clone() + query_pe.clone();
            queries.clone() + self.self_attn.forward(q.clone(), q, queries)
        };
        let queries = self.norm1.forward(queries);

        let q = queries.clone() + query_pe.clone();
        let k = keys.clone() + key_pe.clone();
        let queries = queries + self.cross_attn_token_to_image.forward(q, k, keys.clone());
        let queries = self.norm2.forward(queries);

        let queries = queries.clone() + self.mlp.forward(queries);
        let queries = self.norm3.forward(queries);

        let q = queries.clone() + query_pe;
        let k = keys.clone() + key_pe;
        let keys = keys
            + self
                .cross_attn_image_to_token
                .forward(k, q, queries.clone());
        let keys = self.norm4.forward(keys);
        (queries, keys)
    }
}

/// `TwoWayTransformer`: `depth` two-way blocks and a final token→image attention.
#[derive(Module, Debug)]
pub struct TwoWayTransformer {
    pub layers: Vec<TwoWayAttentionBlock>,
    pub final_attn_token_to_image: Attention,
    pub norm_final_attn: LayerNorm,
}

impl TwoWayTransformer {
    pub fn new(
        depth: usize,
        embedding_dim: usize,
        num_heads: usize,
        mlp_dim: usize,
        attention_downsample_rate: usize,
        device: &Device,
    ) -> Self {
        Self {
            layers: (0..depth)
                .map(|i| {
                    TwoWayAttentionBlock::new(
                        embedding_dim,
                        num_heads,
                        mlp_dim,
                        attention_downsample_rate,
                        i == 0,
                        device,
                    )
                })
                .collect(),
            final_attn_token_to_image: Attention::new(
                embedding_dim,
                num_heads,
                attention_downsample_rate,
                None,
                device,
            ),
            norm_final_attn: LayerNormConfig::new(embedding_dim).init(device),
        }
    }

    /// Image `[B, C, h, w]`, its encoding (same shape) and the tokens `[B, N, C]` →
    /// (tokens `[B, N, C]`, image tokens `[B, h·w, C]`).
    pub fn forward(
        &self,
        image_embedding: Tensor<4>,
        image_pe: Tensor<4>,
        point_embedding: Tensor<3>,
    ) -> (Tensor<3>, Tensor<3>) {
        let flat = |x: Tensor<4>| -> Tensor<3> { x.flatten::<3>(2, 3).swap_dims(1, 2) };
        let image_embedding = flat(image_embedding);
        let image_pe = flat(image_pe);
        let mut queries = point_embedding.clone();
        let mut keys = image_embedding;
        for layer in &self.layers {
            (queries, keys) =
                layer.forward(queries, keys, point_embedding.clone(), image_pe.clone());
        }
        let q = queries.clone() + point_embedding;
        let k = keys.clone() + image_pe;
        let queries = queries + self.final_attn_token_to_image.forward(q, k, keys.clone());
        (self.norm_final_attn.forward(queries), keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn explicit_attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
        let d = q.dims()[3] as f64;
        let scores = q.matmul(k.swap_dims(2, 3)) / d.sqrt();
        burn::tensor::activation::softmax(scores, 3).matmul(v)
    }

    #[test]
    fn sdpa_equals_explicit_softmax_attention() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 123, || {
            let device = Device::flex();
            let r = |s: [usize; 4]| Tensor::<4>::random(s, Distribution::Normal(0.0, 1.0), &device);
            let (q, k, v) = (r([2, 3, 5, 8]), r([2, 3, 7, 8]), r([2, 3, 7, 8]));
            let err = (sdpa(q.clone(), k.clone(), v.clone()) - explicit_attention(q, k, v))
                .abs()
                .max()
                .into_scalar::<f32>();
            assert!(err < 1e-5, "{err}");
        })
    }

    /// Training differentiates through `sdpa` (burn's attention on the autodiff backend): its
    /// gradients equal those of the explicit softmax attention (checked while looking for why
    /// SAM-2's decoder ignored its prompts; it was not this).
    #[test]
    fn sdpa_gradients_equal_explicit_attention() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 124, || {
            let device = Device::flex().autodiff();
            let r = |s: [usize; 4]| {
                Tensor::<4>::random(s, Distribution::Normal(0.0, 1.0), &device).require_grad()
            };
            let (q, k, v) = (r([1, 2, 5, 8]), r([1, 2, 7, 8]), r([1, 2, 7, 8]));
            let w = Tensor::<4>::random([1, 2, 5, 8], Distribution::Normal(0.0, 1.0), &device);
            let g1 = (sdpa(q.clone(), k.clone(), v.clone()) * w.clone())
                .sum()
                .backward();
            let g2 = (explicit_attention(q.clone(), k.clone(), v.clone()) * w)
                .sum()
                .backward();
            for (name, x) in [("q", &q), ("k", &k), ("v", &v)] {
                let (a, b) = (x.grad(&g1).unwrap(), x.grad(&g2).unwrap());
                let scale = b.clone().abs().max().into_scalar::<f32>();
                let err = (a - b).abs().max().into_scalar::<f32>() / scale;
                assert!(scale > 0.0 && err < 1e-4, "d{name}: relative error {err}");
            }
        })
    }

    #[test]
    fn attention_downsamples_and_takes_other_kv_width() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 125, || {
            let device = Device::flex();
            let attn = Attention::new(32, 4, 2, Some(16), &device);
            assert_eq!(attn.q_proj.weight.dims(), [32, 16]);
            assert_eq!(attn.k_proj.weight.dims(), [16, 16]);
            let q = Tensor::<3>::zeros([1, 5, 32], &device);
            let kv = Tensor::<3>::zeros([1, 9, 16], &device);
            assert_eq!(attn.forward(q, kv.clone(), kv).dims(), [1, 5, 32]);
        })
    }

    #[test]
    fn rope_attention_repeats_keys_and_skips_pointer_tokens() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 126, || {
            let device = Device::flex();
            let attn = RoPEAttention::new(32, 1, 1, Some(16), 10000.0, true, &device);
            let q = Tensor::<3>::random([1, 16, 32], Distribution::Normal(0.0, 1.0), &device);
            let kv =
                Tensor::<3>::random([1, 2 * 16 + 4, 16], Distribution::Normal(0.0, 1.0), &device);
            assert_eq!(attn.forward(q, kv.clone(), kv, 4, None).dims(), [1, 16, 32]);
        })
    }

    #[test]
    fn two_way_transformer_keeps_shapes() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 127, || {
            let device = Device::flex();
            let t = TwoWayTransformer::new(2, 32, 8, 64, 2, &device);
            let img = Tensor::<4>::random([1, 32, 4, 4], Distribution::Normal(0.0, 1.0), &device);
            let pe = Tensor::<4>::random([1, 32, 4, 4], Distribution::Normal(0.0, 1.0), &device);
            let tokens = Tensor::<3>::random([1, 7, 32], Distribution::Normal(0.0, 1.0), &device);
            let (q, k) = t.forward(img, pe, tokens);
            assert_eq!(q.dims(), [1, 7, 32]);
            assert_eq!(k.dims(), [1, 16, 32]);
        })
    }
}
