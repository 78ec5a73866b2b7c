//! The memory side of `SAM2Base` (`sam2/modeling/sam2_base.py`): one object's memory bank
//! (`output_dict`), which conditioning frames a frame attends to
//! (`select_closest_cond_frames`), the temporal sine encodings of object pointers
//! (`get_1d_sine_pe`), `_prepare_memory_conditioned_features` (the bank fused into the current
//! frame's features by the memory attention) and `_encode_new_memory` (a frame's mask and
//! features into a memory). The per-frame step that uses them, `track_step`, is in
//! `sam2_base.rs`.

use std::collections::BTreeMap;

use burn::tensor::{Tensor, TensorData, activation};

use super::{FrameOutput, Sam2Base};
use crate::{Result, SssError};

/// The memory bank of one object (`output_dict`).
#[derive(Clone, Debug, Default)]
pub struct MemoryBank {
    pub cond_frame_outputs: BTreeMap<usize, FrameOutput>,
    pub non_cond_frame_outputs: BTreeMap<usize, FrameOutput>,
}

/// `select_closest_cond_frames`: up to `max` conditioning frames nearest to `frame_idx`
/// (the closest before, the closest at or after, then by distance). Returns (selected,
/// unselected) frame indices.
pub fn select_closest_cond_frames(
    frame_idx: usize,
    cond_frames: &[usize],
    max: Option<usize>,
) -> (Vec<usize>, Vec<usize>) {
    match max {
        Some(max) if cond_frames.len() > max => {
            let mut selected: Vec<usize> = Vec::new();
            if let Some(&before) = cond_frames.iter().filter(|&&t| t < frame_idx).max() {
                selected.push(before);
            }
            if let Some(&after) = cond_frames.iter().filter(|&&t| t >= frame_idx).min() {
                selected.push(after);
            }
            let mut rest: Vec<usize> = cond_frames
                .iter()
                .copied()
                .filter(|t| !selected.contains(t))
                .collect();
            rest.sort_by_key(|&t| t.abs_diff(frame_idx));
            let remain = max.saturating_sub(selected.len());
            selected.extend(rest.into_iter().take(remain));
            selected.sort_unstable();
            let unselected = cond_frames
                .iter()
                .copied()
                .filter(|t| !selected.contains(t))
                .collect();
            (selected, unselected)
        }
        _ => (cond_frames.to_vec(), Vec::new()),
    }
}

/// `get_1d_sine_pe` of host positions: `[n, dim]`, sines then cosines.
pub fn get_1d_sine_pe(pos: &[f32], dim: usize, temperature: f64) -> (Vec<f32>, [usize; 2]) {
    let pe_dim = dim / 2;
    let mut out = vec![0f32; pos.len() * dim];
    for (r, &p) in pos.iter().enumerate() {
        for i in 0..pe_dim {
            let dim_t = temperature.powf(2.0 * ((i / 2) as f64) / pe_dim as f64);
            let v = p as f64 / dim_t;
            out[r * dim + i] = v.sin() as f32;
            out[r * dim + pe_dim + i] = v.cos() as f32;
        }
    }
    (out, [pos.len(), dim])
}

/// Rounds every value to the nearest bfloat16 (8 significant bits) with f32 arithmetic only
/// (Veltkamp splitting), as the official video predictor stores memories in bf16.
pub fn round_to_bf16(x: Tensor<4>) -> Tensor<4> {
    let c = x.clone() * 65537.0;
    c.clone() - (c - x)
}

/// Inputs of `prepare_memory_conditioned_features`: the frame, its top-level features and
/// their position encoding `[B, C, H, W]`, and the memory bank it attends to.
pub struct MemoryConditioningInput<'a> {
    pub frame_idx: usize,
    pub is_init_cond_frame: bool,
    pub current_vision_feat: Tensor<4>,
    pub current_vision_pos_embed: Tensor<4>,
    pub bank: &'a MemoryBank,
    pub num_frames: usize,
    pub track_in_reverse: bool,
}

impl Sam2Base {
    /// `_prepare_memory_conditioned_features` on the top-level features `[B, C, H, W]`.
    pub fn prepare_memory_conditioned_features(
        &self,
        input: MemoryConditioningInput<'_>,
    ) -> Result<Tensor<4>> {
        let MemoryConditioningInput {
            frame_idx,
            is_init_cond_frame,
            current_vision_feat,
            current_vision_pos_embed,
            bank,
            num_frames,
            track_in_reverse,
        } = input;
        let cfg = &self.config;
        let [b, c, h, w] = current_vision_feat.dims();
        if cfg.num_maskmem == 0 {
            return Ok(current_vision_feat);
        }
        let device = current_vision_feat.device();
        let mem_dim = cfg.mem_dim(); // Cm
        // [B, C, H, W] -> [B, HW, C]
        let flat = |x: Tensor<4>| -> Tensor<3> { x.flatten::<3>(2, 3).swap_dims(1, 2) };
        let mut memory: Vec<Tensor<3>> = Vec::new();
        let mut memory_pos: Vec<Tensor<3>> = Vec::new();
        let mut num_obj_ptr_tokens = 0;
        if !is_init_cond_frame {
            if bank.cond_frame_outputs.is_empty() {
                return Err(SssError::InvalidInput(
                    "tracking a frame needs at least one conditioning (prompted) frame".into(),
                ));
            }
            // Step 1: the frames to attend to: the closest conditioning frames (t_pos 0), then
            // the last num_maskmem − 1 frames (t_pos 1.., every stride-th beyond the last one).
            let cond_frames: Vec<usize> = bank.cond_frame_outputs.keys().copied().collect();
            let (selected, unselected) =
                select_closest_cond_frames(frame_idx, &cond_frames, cfg.max_cond_frames_in_attn);
            let mut t_pos_and_prevs: Vec<(usize, &FrameOutput)> = selected
                .iter()
                .map(|t| (0, &bank.cond_frame_outputs[t]))
                .collect();
            let stride = cfg.memory_temporal_stride_for_eval.max(1) as i64;
            let fi = frame_idx as i64;
            let tracked_cap = cfg.tracked_memories.map_or(i64::MAX, |n| n as i64);
            for t_pos in 1..cfg.num_maskmem {
                let t_rel = (cfg.num_maskmem - t_pos) as i64;
                if t_rel > tracked_cap {
                    continue;
                }
                let prev = if t_rel == 1 {
                    if track_in_reverse { fi + 1 } else { fi - 1 }
                } else if !track_in_reverse {
                    (fi - 2).div_euclid(stride) * stride - (t_rel - 2) * stride
                } else {
                    -(-(fi + 2)).div_euclid(stride) * stride + (t_rel - 2) * stride
                };
                if prev < 0 {
                    continue;
                }
                let prev = prev as usize;
                let out = bank.non_cond_frame_outputs.get(&prev).or_else(|| {
                    unselected
                        .contains(&prev)
                        .then(|| &bank.cond_frame_outputs[&prev])
                });
                if let Some(out) = out {
                    t_pos_and_prevs.push((t_pos, out));
                }
            }
            // Step 2: their memories, [B, Cm, H, W] -> [B, HW, Cm], with spatial and temporal
            // position encodings.
            let tpos = self.maskmem_tpos_enc.val();
            for (t_pos, prev) in t_pos_and_prevs {
                let (Some(feats), Some(pos)) = (&prev.maskmem_features, &prev.maskmem_pos_enc)
                else {
                    return Err(SssError::InvalidInput(format!(
                        "frame in memory has no encoded memory (t_pos {t_pos})"
                    )));
                };
                memory.push(flat(feats.clone()));
                let enc = tpos
                    .clone()
                    .narrow(0, cfg.num_maskmem - t_pos - 1, 1)
                    .reshape([1, 1, mem_dim]);
                memory_pos.push(flat(pos.clone()) + enc);
            }

            // Step 3: the object pointers of the conditioning frames and of up to
            // max_obj_ptrs − 1 previous frames, with temporal sine encodings of their distance.
            if cfg.use_obj_ptrs_in_encoder {
                let max_obj_ptrs = num_frames.min(cfg.max_obj_ptrs_in_encoder);
                let sign: i64 = if track_in_reverse { -1 } else { 1 };
                let ptr_cond: Vec<usize> = if cfg.only_obj_ptrs_in_the_past_for_eval {
                    selected
                        .iter()
                        .copied()
                        .filter(|&t| {
                            if track_in_reverse {
                                t >= frame_idx
                            } else {
                                t <= frame_idx
                            }
                        })
                        .collect()
                } else {
                    selected.clone()
                };
                let mut pos_and_ptrs: Vec<(i64, Tensor<2>)> = ptr_cond
                    .iter()
                    .map(|&t| {
                        let d = (fi - t as i64) * sign;
                        let p = if cfg.use_signed_tpos_enc_to_obj_ptrs {
                            d
                        } else {
                            d.abs()
                        };
                        (p, bank.cond_frame_outputs[&t].obj_ptr.clone())
                    })
                    .collect();
                for t_diff in 1..(max_obj_ptrs as i64).min(tracked_cap.saturating_add(1)) {
                    let t = if track_in_reverse {
                        fi + t_diff
                    } else {
                        fi - t_diff
                    };
                    if t < 0 || t >= num_frames as i64 {
                        break;
                    }
                    let t = t as usize;
                    let out = bank.non_cond_frame_outputs.get(&t).or_else(|| {
                        unselected
                            .contains(&t)
                            .then(|| &bank.cond_frame_outputs[&t])
                    });
                    if let Some(out) = out {
                        pos_and_ptrs.push((t_diff, out.obj_ptr.clone()));
                    }
                }
                if !pos_and_ptrs.is_empty() {
                    let n = pos_and_ptrs.len();
                    let ptrs: Vec<Tensor<3>> = pos_and_ptrs
                        .iter()
                        .map(|(_, p)| p.clone().unsqueeze_dim::<3>(1))
                        .collect();
                    let obj_ptrs = Tensor::cat(ptrs, 1); // [B, C] each -> [B, P, C]
                    let obj_pos: Tensor<2> = if cfg.add_tpos_enc_to_obj_ptrs {
                        let t_diff_max = (max_obj_ptrs.max(2) - 1) as f32;
                        let pos: Vec<f32> = pos_and_ptrs
                            .iter()
                            .map(|(p, _)| *p as f32 / t_diff_max)
                            .collect();
                        let tpos_dim = if cfg.proj_tpos_enc_in_obj_ptrs {
                            c
                        } else {
                            mem_dim
                        };
                        let (data, shape) = get_1d_sine_pe(&pos, tpos_dim, 10000.0);
                        let pe: Tensor<2> =
                            Tensor::from_data(TensorData::new(data, shape), &device); // [P, tpos]
                        match &self.obj_ptr_tpos_proj {
                            Some(proj) => proj.forward(pe),
                            None => pe,
                        }
                    } else {
                        Tensor::zeros([n, mem_dim], &device)
                    };
                    // Cm < C: each pointer split into C/Cm tokens, [B, P, C] -> [B, P·C/Cm, Cm].
                    let (obj_ptrs, obj_pos) = if mem_dim < c {
                        let k = c / mem_dim;
                        (
                            obj_ptrs.reshape([b, n * k, mem_dim]),
                            obj_pos
                                .unsqueeze_dim::<3>(1)
                                .repeat_dim(1, k)
                                .reshape([n * k, mem_dim]),
                        )
                    } else {
                        (obj_ptrs, obj_pos)
                    };
                    num_obj_ptr_tokens = obj_ptrs.dims()[1];
                    let obj_pos = obj_pos // [tokens, Cm] -> [B, tokens, Cm]
                        .unsqueeze::<3>()
                        .expand([b, num_obj_ptr_tokens, mem_dim]);
                    memory.push(obj_ptrs);
                    memory_pos.push(obj_pos);
                }
            }
        } else {
            // Steps 1–3 on an initial conditioning frame: no memory; `no_mem_embed` added
            // directly, or one dummy memory token [B, 1, Cm].
            if cfg.directly_add_no_mem_embed {
                return Ok(current_vision_feat + self.no_mem_embed.val().reshape([1, c, 1, 1]));
            }
            memory.push(self.no_mem_embed.val().expand([b, 1, mem_dim]));
            memory_pos.push(self.no_mem_pos_enc.val().expand([b, 1, mem_dim]));
        }
        // Step 4: the memories concatenated, [B, tokens, Cm] each -> [B, Σ tokens, Cm], and
        // fused into the current features by the memory attention.
        let memory = Tensor::cat(memory, 1);
        let memory_pos = Tensor::cat(memory_pos, 1);
        let out = self.memory_attention.forward(
            flat(current_vision_feat),
            memory,
            flat(current_vision_pos_embed),
            memory_pos,
            num_obj_ptr_tokens,
        );
        Ok(out.swap_dims(1, 2).reshape([b, c, h, w])) // [B, HW, C] -> [B, C, H, W]
    }

    /// `_encode_new_memory`: (memory features, memory position encoding).
    pub fn encode_new_memory(
        &self,
        current_vision_feat: Tensor<4>,
        pred_masks_high_res: Tensor<4>,
        object_score_logits: Tensor<2>,
        is_mask_from_pts: bool,
    ) -> (Tensor<4>, Tensor<4>) {
        let cfg = &self.config;
        let mask_for_mem = if cfg.binarize_mask_from_pts_for_mem_enc && is_mask_from_pts {
            pred_masks_high_res.greater_elem(0.0).float()
        } else {
            activation::sigmoid(pred_masks_high_res)
        };
        let mut mask_for_mem = mask_for_mem;
        if cfg.sigmoid_scale_for_mem_enc != 1.0 {
            mask_for_mem = mask_for_mem * cfg.sigmoid_scale_for_mem_enc;
        }
        if cfg.sigmoid_bias_for_mem_enc != 0.0 {
            mask_for_mem = mask_for_mem + cfg.sigmoid_bias_for_mem_enc;
        }
        let (mut features, pos) =
            self.memory_encoder
                .forward(current_vision_feat, mask_for_mem, true);
        if let Some(no_obj) = &self.no_obj_embed_spatial {
            let [b, m, _, _] = features.dims();
            let absent = object_score_logits.greater_elem(0.0).float().neg() + 1.0; // [b, 1]
            features = features + absent.reshape([b, 1, 1, 1]) * no_obj.val().reshape([1, m, 1, 1]);
        }
        (features, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn closest_cond_frames_follow_the_official_rule() {
        let (sel, unsel) = select_closest_cond_frames(5, &[0, 2, 4, 7, 9], Some(3));
        assert_eq!(sel, vec![2, 4, 7]);
        assert_eq!(unsel, vec![0, 9]);
        let (sel, unsel) = select_closest_cond_frames(5, &[0, 9], None);
        assert_eq!((sel, unsel), (vec![0, 9], vec![]));
    }

    #[test]
    fn bf16_rounding_keeps_eight_significant_bits() {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(
            [[[[1.0f32 + 1.0 / 512.0, 3.1425, -1234.567, 1e-3]]]],
            &device,
        );
        let y = round_to_bf16(x).into_data().try_to_vec::<f32>().unwrap();
        // 1 + 2^-9 is a tie between 1 and 1 + 2^-7: round to even gives 1.
        assert_eq!(y[0], 1.0);
        assert_eq!(y[1], 3.140625);
        assert_eq!(y[2], -1232.0);
        assert_eq!(y[3].to_bits() & 0xffff, 0);
    }
}
