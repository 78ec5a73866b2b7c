//! The memory attention (`sam2/modeling/memory_attention.py`): layers of RoPE self-attention
//! over the current frame's tokens and RoPE cross-attention to the memory (spatial memories
//! of past frames, then object-pointer tokens that are not rotated), with a ReLU feed-forward,
//! all pre-norm, and a final LayerNorm. Dropout is a no-op at inference.
//!
//! Tokens are batch-first here (`[B, L, C]`); the official module transposes from
//! sequence-first to the same layout internally.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::common::{ActivationKind, activate};
use super::config::MemoryAttentionConfig;
use super::kernels;
use super::position_encoding::RopeTables;
use super::transformer::RoPEAttention;

/// `MemoryAttentionLayer`.
#[derive(Module, Debug)]
pub struct MemoryAttentionLayer {
    pub self_attn: RoPEAttention,
    pub cross_attn_image: RoPEAttention,
    pub linear1: Linear,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    pub norm3: LayerNorm,
    #[module(skip)]
    activation: ActivationKind,
    pos_enc_at_attn: bool,
    pos_enc_at_cross_attn_queries: bool,
    pos_enc_at_cross_attn_keys: bool,
}

/// Rotary tables shared by all layers of one call.
struct LayerTables {
    self_attn: RopeTables,
    cross_attn: RopeTables,
}

impl MemoryAttentionLayer {
    pub fn new(cfg: &MemoryAttentionConfig, device: &Device) -> Self {
        let d = cfg.d_model;
        Self {
            self_attn: RoPEAttention::new(
                d,
                cfg.num_heads,
                cfg.downsample_rate,
                None,
                cfg.rope_theta,
                false,
                device,
            ),
            cross_attn_image: RoPEAttention::new(
                d,
                cfg.num_heads,
                cfg.downsample_rate,
                Some(cfg.kv_in_dim),
                cfg.rope_theta,
                cfg.cross_rope_k_repeat,
                device,
            ),
            linear1: LinearConfig::new(d, cfg.dim_feedforward).init(device),
            linear2: LinearConfig::new(cfg.dim_feedforward, d).init(device),
            norm1: LayerNormConfig::new(d).init(device),
            norm2: LayerNormConfig::new(d).init(device),
            norm3: LayerNormConfig::new(d).init(device),
            activation: cfg.activation,
            pos_enc_at_attn: cfg.pos_enc_at_attn,
            pos_enc_at_cross_attn_queries: cfg.pos_enc_at_cross_attn_queries,
            pos_enc_at_cross_attn_keys: cfg.pos_enc_at_cross_attn_keys,
        }
    }

    fn forward(
        &self,
        tgt: Tensor<3>,
        memory: Tensor<3>,
        pos: Tensor<3>,
        query_pos: Tensor<3>,
        num_k_exclude_rope: usize,
        tables: &LayerTables,
    ) -> Tensor<3> {
        // Self-attention.
        let tgt2 = self.norm1.forward(tgt.clone());
        let qk = if self.pos_enc_at_attn {
            tgt2.clone() + query_pos.clone()
        } else {
            tgt2.clone()
        };
        let tgt = tgt
            + self
                .self_attn
                .forward(qk.clone(), qk, tgt2, 0, Some(&tables.self_attn));
        // Cross-attention to the memory.
        let tgt2 = self.norm2.forward(tgt.clone());
        let q = if self.pos_enc_at_cross_attn_queries {
            tgt2 + query_pos
        } else {
            tgt2
        };
        let k = if self.pos_enc_at_cross_attn_keys {
            memory.clone() + pos
        } else {
            memory.clone()
        };
        let tgt = tgt
            + self.cross_attn_image.forward(
                q,
                k,
                memory,
                num_k_exclude_rope,
                Some(&tables.cross_attn),
            );
        // Feed-forward.
        let tgt2 = self.norm3.forward(tgt.clone());
        let hidden = activate(kernels::linear(&self.linear1, tgt2), self.activation);
        let tgt2 = kernels::linear(&self.linear2, hidden);
        tgt + tgt2
    }
}

/// `MemoryAttention`.
#[derive(Module, Debug)]
pub struct MemoryAttention {
    pub layers: Vec<MemoryAttentionLayer>,
    pub norm: LayerNorm,
    pos_enc_at_input: bool,
}

impl MemoryAttention {
    pub fn new(cfg: &MemoryAttentionConfig, device: &Device) -> Self {
        Self {
            layers: (0..cfg.num_layers)
                .map(|_| MemoryAttentionLayer::new(cfg, device))
                .collect(),
            norm: LayerNormConfig::new(cfg.d_model).init(device),
            pos_enc_at_input: cfg.pos_enc_at_input,
        }
    }

    /// Current tokens `[B, L, C]` with their encoding, memory `[B, M, C_mem]` with its
    /// encoding, of which the last `num_obj_ptr_tokens` are object pointers → `[B, L, C]`.
    pub fn forward(
        &self,
        curr: Tensor<3>,
        memory: Tensor<3>,
        curr_pos: Tensor<3>,
        memory_pos: Tensor<3>,
        num_obj_ptr_tokens: usize,
    ) -> Tensor<3> {
        let mut output = if self.pos_enc_at_input {
            curr + curr_pos.clone() * 0.1
        } else {
            curr
        };
        let Some(first) = self.layers.first() else {
            return self.norm.forward(output);
        };
        let [_, l, _] = output.dims();
        let device = output.device();
        let tables = LayerTables {
            self_attn: first.self_attn.tables(l, &device),
            cross_attn: first.cross_attn_image.tables(l, &device),
        };
        for layer in &self.layers {
            output = layer.forward(
                output,
                memory.clone(),
                memory_pos.clone(),
                curr_pos.clone(),
                num_obj_ptr_tokens,
                &tables,
            );
        }
        self.norm.forward(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sam2Config;
    use burn::tensor::Distribution;

    #[test]
    fn micro_memory_attention_keeps_the_query_shape() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 116, || {
            let device = Device::flex();
            let cfg = Sam2Config::micro();
            let attn = MemoryAttention::new(&cfg.memory_attention, &device);
            let r = |s: [usize; 3]| Tensor::<3>::random(s, Distribution::Normal(0.0, 1.0), &device);
            let out = attn.forward(
                r([1, 256, 32]),
                r([1, 2 * 256 + 4, 16]),
                r([1, 256, 32]),
                r([1, 2 * 256 + 4, 16]),
                4,
            );
            assert_eq!(out.dims(), [1, 256, 32]);
        })
    }
}
