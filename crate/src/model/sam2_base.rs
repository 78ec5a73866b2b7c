//! `SAM2Base` (`sam2/modeling/sam2_base.py`): the whole model and its per-frame step.
//!
//! - `forward_image`: image encoder, with `conv_s0`/`conv_s1` of the mask decoder applied
//!   once to the two high-resolution levels.
//! - `forward_sam_heads`: prompt encoder + mask decoder, object-score gating of the masks
//!   (`NO_OBJ_SCORE`), upsampling to the input size, the best multimask output, and the
//!   object pointer (`obj_ptr_proj`, `no_obj_ptr`).
//! - `use_mask_as_output`: a mask prompt taken as the output (`use_mask_input_as_output_without_sam`).
//! - `prepare_memory_conditioned_features`: the memory bank (conditioning frames, the last
//!   `num_maskmem − 1` frames with temporal encodings, object pointers with their temporal
//!   sine encodings) fused into the current features by the memory attention, and
//!   `encode_new_memory`: in `sam2_base/memory.rs`, with the bank itself.
//! - `track_step` with the official semantics.
//!
//! Which frames enter the memory is decided on the host from frame indices; every tensor
//! decision (object present, best IoU) stays on the device, so nothing is read back.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Int, Tensor, activation};

use super::common::{ActivationKind, Mlp, Resample, resize};
use super::config::Sam2Config;
use super::image_encoder::ImageEncoder;
use super::mask_decoder::{MaskDecoder, argmax_one_hot};
use super::memory_attention::MemoryAttention;
use super::memory_encoder::MemoryEncoder;
use super::prompt_encoder::{PointPrompt, PromptEncoder};
use crate::Result;

mod memory;

pub use memory::{
    MemoryBank, MemoryConditioningInput, get_1d_sine_pe, round_to_bf16, select_closest_cond_frames,
};

/// Placeholder logit for masks of absent objects (`NO_OBJ_SCORE`).
pub const NO_OBJ_SCORE: f32 = -1024.0;

/// The backbone features of one image as the heads use them (`forward_image` +
/// `_prepare_backbone_features`): the last `num_feature_levels` FPN levels, finest first,
/// NCHW, the two high-resolution ones already through `conv_s0`/`conv_s1`.
#[derive(Clone, Debug)]
pub struct BackboneFeatures {
    pub vision_feats: Vec<Tensor<4>>,
    pub vision_pos_embeds: Vec<Tensor<4>>,
}

impl BackboneFeatures {
    /// The lowest-resolution level (the image embedding).
    pub fn top(&self) -> &Tensor<4> {
        self.vision_feats
            .last()
            .expect("at least one feature level")
    }

    /// The high-resolution features for the decoder, if the model uses them.
    pub fn high_res(&self) -> Option<(Tensor<4>, Tensor<4>)> {
        (self.vision_feats.len() > 1)
            .then(|| (self.vision_feats[0].clone(), self.vision_feats[1].clone()))
    }

    /// The same features repeated along the batch (several objects on one image).
    pub fn expand_batch(&self, batch: usize) -> Self {
        let rep = |v: &Vec<Tensor<4>>| v.iter().map(|t| t.clone().repeat_dim(0, batch)).collect();
        Self {
            vision_feats: rep(&self.vision_feats),
            vision_pos_embeds: rep(&self.vision_pos_embeds),
        }
    }
}

/// The outputs of `_forward_sam_heads` / `_use_mask_as_output`.
#[derive(Clone, Debug)]
pub struct SamHeadsOutput {
    pub low_res_multimasks: Tensor<4>,
    /// `low_res_multimasks` before the object-score gating (training supervises these when
    /// told to: the gated ones carry no mask gradient where the object score is ≤ 0).
    pub ungated_low_res_multimasks: Tensor<4>,
    pub high_res_multimasks: Tensor<4>,
    pub ious: Tensor<2>,
    pub low_res_masks: Tensor<4>,
    pub high_res_masks: Tensor<4>,
    pub obj_ptr: Tensor<2>,
    pub object_score_logits: Tensor<2>,
}

impl SamHeadsOutput {
    /// The predicted IoU of the mask chosen (`low_res_masks`) `[B, 1]`: with several outputs
    /// the highest (the chosen mask is their argmax), with one its own, and 1 for a mask input
    /// taken as the output (`ious` are ones there).
    pub fn chosen_iou(&self) -> Tensor<2> {
        self.ious.clone().max_dim(1)
    }
}

/// One frame's entry in the memory bank (`current_out`).
#[derive(Clone, Debug)]
pub struct FrameOutput {
    /// Low-resolution mask logits `[B, 1, 4h, 4w]`.
    pub pred_masks: Tensor<4>,
    /// Mask logits at the input size `[B, 1, S, S]`.
    pub pred_masks_high_res: Tensor<4>,
    pub obj_ptr: Tensor<2>,
    pub object_score_logits: Tensor<2>,
    /// The mask decoder's predicted IoU of the mask chosen `[B, 1]`
    /// ([`SamHeadsOutput::chosen_iou`]; official `current_out` drops it, the page's strip shows
    /// it).
    pub iou: Tensor<2>,
    pub maskmem_features: Option<Tensor<4>>,
    pub maskmem_pos_enc: Option<Tensor<4>>,
}

/// Inputs of one `track_step`.
pub struct TrackStepInput<'a> {
    pub frame_idx: usize,
    pub is_init_cond_frame: bool,
    pub features: &'a BackboneFeatures,
    pub point_inputs: Option<&'a PointPrompt>,
    pub mask_inputs: Option<Tensor<4>>,
    pub num_frames: usize,
    pub track_in_reverse: bool,
    pub run_mem_encoder: bool,
    pub prev_sam_mask_logits: Option<Tensor<4>>,
}

#[derive(Module, Debug)]
pub struct Sam2Base {
    pub image_encoder: ImageEncoder,
    pub memory_attention: MemoryAttention,
    pub memory_encoder: MemoryEncoder,
    pub sam_prompt_encoder: PromptEncoder,
    pub sam_mask_decoder: MaskDecoder,
    /// 3-layer MLP (`use_mlp_for_obj_ptr_proj`), or a linear layer as a 1-layer MLP; absent
    /// (identity) without object pointers.
    pub obj_ptr_proj: Option<Mlp>,
    pub obj_ptr_tpos_proj: Option<Linear>,
    pub mask_downsample: Option<Conv2d>,
    pub maskmem_tpos_enc: Param<Tensor<4>>,
    pub no_mem_embed: Param<Tensor<3>>,
    pub no_mem_pos_enc: Param<Tensor<3>>,
    pub no_obj_ptr: Option<Param<Tensor<2>>>,
    pub no_obj_embed_spatial: Option<Param<Tensor<2>>>,
    #[module(skip)]
    config: Sam2Config,
}

impl Sam2Base {
    /// A model with freshly initialised weights.
    pub fn new(config: &Sam2Config, device: &Device) -> Result<Self> {
        config.validate()?;
        let c = config.hidden_dim();
        let mem = config.mem_dim();
        let trunc = Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        };
        let emb = config.image_embedding_size();
        Ok(Self {
            image_encoder: ImageEncoder::new(config, device),
            memory_attention: MemoryAttention::new(&config.memory_attention, device),
            memory_encoder: MemoryEncoder::new(&config.memory_encoder, device),
            sam_prompt_encoder: PromptEncoder::new(
                c,
                [emb, emb],
                [config.image_size, config.image_size],
                config.sam_heads.mask_in_chans,
                device,
            ),
            sam_mask_decoder: MaskDecoder::new(config, device),
            obj_ptr_proj: config.use_obj_ptrs_in_encoder.then(|| {
                let layers = if config.use_mlp_for_obj_ptr_proj {
                    3
                } else {
                    1
                };
                Mlp::new(c, c, c, layers, ActivationKind::Relu, false, device)
            }),
            obj_ptr_tpos_proj: config
                .proj_tpos_enc_in_obj_ptrs
                .then(|| LinearConfig::new(c, mem).init(device)),
            mask_downsample: config.use_obj_ptrs_in_encoder.then(|| {
                Conv2dConfig::new([1, 1], [4, 4])
                    .with_stride([4, 4])
                    .init(device)
            }),
            maskmem_tpos_enc: trunc.init([config.num_maskmem, 1, 1, mem], device),
            no_mem_embed: trunc.init([1, 1, c], device),
            no_mem_pos_enc: trunc.init([1, 1, c], device),
            no_obj_ptr: (config.pred_obj_scores && config.use_obj_ptrs_in_encoder)
                .then(|| trunc.init([1, c], device)),
            no_obj_embed_spatial: config
                .no_obj_embed_spatial
                .then(|| trunc.init([1, mem], device)),
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &Sam2Config {
        &self.config
    }

    pub fn device(&self) -> Device {
        self.no_mem_embed.device()
    }

    /// Sets how many tracked frames' memories tracking attends to
    /// ([`Sam2Config::tracked_memories`]; `None`: all, as official).
    pub fn set_tracked_memories(&mut self, tracked: Option<usize>) {
        self.config.tracked_memories = tracked;
    }

    /// Turns the official predictor builders' postprocessing on or off: dynamic multimask
    /// via stability and binarized point masks for the memory encoder.
    pub fn set_postprocessing(&mut self, enabled: bool) {
        self.config.sam_heads.dynamic_multimask_via_stability = enabled;
        self.config.binarize_mask_from_pts_for_mem_enc = enabled;
        self.sam_mask_decoder
            .set_dynamic_multimask_via_stability(enabled);
    }

    fn num_feature_levels(&self) -> usize {
        if self.config.use_high_res_features_in_sam {
            3
        } else {
            1
        }
    }

    /// `forward_image` + `_prepare_backbone_features` for a batch of normalised images
    /// `[B, 3, S, S]`.
    pub fn forward_image(&self, img_batch: Tensor<4>) -> BackboneFeatures {
        let out = self.image_encoder.forward(img_batch);
        let mut fpn = out.backbone_fpn;
        if self.config.use_high_res_features_in_sam
            && let (Some(s0), Some(s1)) = (
                &self.sam_mask_decoder.conv_s0,
                &self.sam_mask_decoder.conv_s1,
            )
        {
            fpn[0] = s0.forward(fpn[0].clone());
            fpn[1] = s1.forward(fpn[1].clone());
        }
        let n = self.num_feature_levels().min(fpn.len());
        let skip = fpn.len() - n;
        BackboneFeatures {
            vision_feats: fpn.into_iter().skip(skip).collect(),
            vision_pos_embeds: out.vision_pos_enc.into_iter().skip(skip).collect(),
        }
    }

    /// The image embedding the image predictor caches: the top level plus `no_mem_embed`
    /// when `directly_add_no_mem_embed`.
    pub fn image_embedding_without_memory(&self, features: &BackboneFeatures) -> Tensor<4> {
        let top = features.top().clone();
        if self.config.directly_add_no_mem_embed {
            let c = self.config.hidden_dim();
            top + self.no_mem_embed.val().reshape([1, c, 1, 1])
        } else {
            top
        }
    }

    fn upsample_to_image(&self, masks: Tensor<4>) -> Tensor<4> {
        let s = self.config.image_size;
        interpolate(
            masks,
            InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_output_size([s, s])
                .with_align_corners(false),
        )
    }

    /// `_forward_sam_heads`.
    pub fn forward_sam_heads(
        &self,
        backbone_features: Tensor<4>,
        point_inputs: Option<&PointPrompt>,
        mask_inputs: Option<Tensor<4>>,
        high_res_features: Option<(Tensor<4>, Tensor<4>)>,
        multimask_output: bool,
    ) -> SamHeadsOutput {
        let [b, _, _, _] = backbone_features.dims(); // [B, C, H, W]
        let device = backbone_features.device();
        // Step 1: the prompts: the points, padded with one empty point (label −1) when there
        // are none, and the mask prompt resized to the prompt encoder's input when needed.
        let padded;
        let points = match point_inputs {
            Some(p) => p,
            None => {
                padded = PointPrompt {
                    // [B, 1, 2] and labels [B, 1]
                    coords: Tensor::zeros([b, 1, 2], &device),
                    labels: Tensor::<2, Int>::ones([b, 1], &device).neg(),
                };
                &padded
            }
        };
        let pe = &self.sam_prompt_encoder;
        let sam_mask_prompt = mask_inputs.map(|m| {
            let [_, _, h, w] = m.dims();
            if [h, w] != pe.mask_input_size() {
                // [B, 1, h, w] -> [B, 1, 4H, 4W]
                resize(m, pe.mask_input_size(), Resample::BilinearAntialias)
            } else {
                m
            }
        });
        // Step 2: the prompt encoder and the mask decoder: masks [B, M, 4H, 4W], IoUs [B, M],
        // output tokens [B, T, C], object-score logits [B, 1].
        let (sparse, dense) = pe.forward(Some(points), None, sam_mask_prompt);
        let dec = self
            .sam_mask_decoder
            .forward(super::mask_decoder::MaskDecoderInput {
                image_embeddings: backbone_features,
                image_pe: pe.get_dense_pe(),
                sparse_prompt_embeddings: sparse,
                dense_prompt_embeddings: dense,
                multimask_output,
                repeat_image: false,
                high_res_features,
            });
        // Step 3: the masks of absent objects set to NO_OBJ_SCORE (a hard choice, as the masks
        // for the memory), then upsampled to the image.
        let object_score_logits = dec.object_score_logits;
        let is_obj_appearing = object_score_logits.clone().greater_elem(0.0); // [B, 1]
        let ungated_low_res_multimasks = dec.masks;
        let mut low_res_multimasks = ungated_low_res_multimasks.clone();
        let [_, m, h, w] = low_res_multimasks.dims();
        if self.config.pred_obj_scores {
            let absent = is_obj_appearing
                .clone()
                .bool_not()
                .reshape([b, 1, 1, 1]) // [B, 1] -> [B, 1, 1, 1] -> [B, M, h, w]
                .expand([b, m, h, w]);
            low_res_multimasks = low_res_multimasks.mask_fill(absent, NO_OBJ_SCORE);
        }
        // [B, M, h, w] -> [B, M, S, S]
        let high_res_multimasks = self.upsample_to_image(low_res_multimasks.clone());
        // Step 4: with several outputs, the mask (and token) of the highest predicted IoU.
        let ious = dec.iou_pred;
        let tokens = dec.sam_tokens_out;
        let (low_res_masks, high_res_masks, sam_output_token) = if multimask_output {
            let onehot = argmax_one_hot(ious.clone()); // [B, M]
            // [B, M, h, w] -> [B, 1, h, w]
            let pick4 = |x: Tensor<4>| -> Tensor<4> {
                (x * onehot.clone().reshape([b, m, 1, 1])).sum_dim(1)
            };
            let token = if tokens.dims()[1] > 1 {
                // [B, M, C] -> [B, 1, C]
                (tokens * onehot.clone().reshape([b, m, 1])).sum_dim(1)
            } else {
                tokens
            };
            (
                pick4(low_res_multimasks.clone()),
                pick4(high_res_multimasks.clone()),
                token,
            )
        } else {
            (
                low_res_multimasks.clone(),
                high_res_multimasks.clone(),
                tokens.narrow(1, 0, 1), // [B, T, C] -> [B, 1, C]
            )
        };
        // Step 5: the object pointer from the output token, [B, 1, C] -> [B, C], blended
        // towards `no_obj_ptr` as the object is absent (softly with `soft_no_obj_ptr`).
        let c = sam_output_token.dims()[2];
        let sam_output_token = sam_output_token.reshape([b, c]);
        let obj_ptr = match &self.obj_ptr_proj {
            Some(p) => p.forward(sam_output_token),
            None => sam_output_token,
        };
        let obj_ptr = if self.config.pred_obj_scores {
            let lambda = if self.config.soft_no_obj_ptr {
                activation::sigmoid(object_score_logits.clone())
            } else {
                is_obj_appearing.float()
            };
            self.apply_no_obj_ptr(obj_ptr, lambda)
        } else {
            obj_ptr
        };
        SamHeadsOutput {
            low_res_multimasks,
            ungated_low_res_multimasks,
            high_res_multimasks,
            ious,
            low_res_masks,
            high_res_masks,
            obj_ptr,
            object_score_logits,
        }
    }

    fn apply_no_obj_ptr(&self, obj_ptr: Tensor<2>, lambda: Tensor<2>) -> Tensor<2> {
        let obj_ptr = if self.config.fixed_no_obj_ptr {
            obj_ptr * lambda.clone()
        } else {
            obj_ptr
        };
        match &self.no_obj_ptr {
            Some(no_obj) => obj_ptr + (lambda.neg() + 1.0) * no_obj.val(),
            None => obj_ptr,
        }
    }

    /// `_use_mask_as_output`: binary masks `[B, 1, S, S]` taken as the output (logits ±10).
    pub fn use_mask_as_output(
        &self,
        backbone_features: Tensor<4>,
        high_res_features: Option<(Tensor<4>, Tensor<4>)>,
        mask_inputs: Tensor<4>,
    ) -> SamHeadsOutput {
        let (out_scale, out_bias) = (20.0f32, -10.0f32);
        let [b, _, h, w] = mask_inputs.dims();
        let high_res_masks = mask_inputs.clone() * out_scale + out_bias;
        let low_res_masks = resize(
            high_res_masks.clone(),
            [h / 4, w / 4],
            Resample::BilinearAntialias,
        );
        let device = mask_inputs.device();
        let ious = Tensor::ones([b, 1], &device);
        let obj_ptr = match &self.mask_downsample {
            Some(down) if self.config.use_obj_ptrs_in_encoder => {
                self.forward_sam_heads(
                    backbone_features,
                    None,
                    Some(down.forward(mask_inputs.clone())),
                    high_res_features,
                    false,
                )
                .obj_ptr
            }
            _ => Tensor::zeros([b, self.config.hidden_dim()], &device),
        };
        let lambda = mask_inputs
            .reshape([b, h * w])
            .greater_elem(0.0)
            .any_dim(1)
            .float(); // [b, 1]
        let object_score_logits = lambda.clone() * out_scale + out_bias;
        let obj_ptr = if self.config.pred_obj_scores {
            self.apply_no_obj_ptr(obj_ptr, lambda)
        } else {
            obj_ptr
        };
        SamHeadsOutput {
            low_res_multimasks: low_res_masks.clone(),
            ungated_low_res_multimasks: low_res_masks.clone(),
            high_res_multimasks: high_res_masks.clone(),
            ious,
            low_res_masks,
            high_res_masks,
            obj_ptr,
            object_score_logits,
        }
    }

    /// `_use_multimask`.
    pub fn use_multimask(&self, is_init_cond_frame: bool, num_points: usize) -> bool {
        let cfg = &self.config;
        cfg.multimask_output_in_sam
            && (is_init_cond_frame || cfg.multimask_output_for_tracking)
            && (cfg.multimask_min_pt_num <= num_points && num_points <= cfg.multimask_max_pt_num)
    }

    /// `track_step`: one frame, with the memory of the object in `bank`.
    pub fn track_step(&self, input: TrackStepInput<'_>, bank: &MemoryBank) -> Result<FrameOutput> {
        let features = input.features;
        let high_res = features.high_res();
        let top = features.top().clone();
        let sam = match input.mask_inputs {
            Some(mask) if self.config.use_mask_input_as_output_without_sam => {
                self.use_mask_as_output(top.clone(), high_res, mask)
            }
            mask_inputs => {
                let pix_feat =
                    self.prepare_memory_conditioned_features(MemoryConditioningInput {
                        frame_idx: input.frame_idx,
                        is_init_cond_frame: input.is_init_cond_frame,
                        current_vision_feat: top.clone(),
                        current_vision_pos_embed: features
                            .vision_pos_embeds
                            .last()
                            .expect("position encodings")
                            .clone(),
                        bank,
                        num_frames: input.num_frames,
                        track_in_reverse: input.track_in_reverse,
                    })?;
                let mask_inputs = match input.prev_sam_mask_logits {
                    Some(prev) if input.point_inputs.is_some() && mask_inputs.is_none() => {
                        Some(prev)
                    }
                    _ => mask_inputs,
                };
                let num_points = input.point_inputs.map_or(0, |p| p.labels.dims()[1]);
                let multimask = self.use_multimask(input.is_init_cond_frame, num_points);
                self.forward_sam_heads(
                    pix_feat,
                    input.point_inputs,
                    mask_inputs,
                    high_res,
                    multimask,
                )
            }
        };
        let (maskmem_features, maskmem_pos_enc) =
            if input.run_mem_encoder && self.config.num_maskmem > 0 {
                let (f, p) = self.encode_new_memory(
                    top,
                    sam.high_res_masks.clone(),
                    sam.object_score_logits.clone(),
                    input.point_inputs.is_some(),
                );
                (Some(f), Some(p))
            } else {
                (None, None)
            };
        Ok(FrameOutput {
            iou: sam.chosen_iou(),
            pred_masks: sam.low_res_masks,
            pred_masks_high_res: sam.high_res_masks,
            obj_ptr: sam.obj_ptr,
            object_score_logits: sam.object_score_logits,
            maskmem_features,
            maskmem_pos_enc,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn micro_track_step_runs_prompted_then_tracked() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 120, || {
            let device = Device::flex();
            let cfg = Sam2Config::micro();
            let model = Sam2Base::new(&cfg, &device).unwrap();
            let img =
                Tensor::<4>::random([1, 3, 256, 256], Distribution::Normal(0.0, 1.0), &device);
            let feats = model.forward_image(img);
            assert_eq!(feats.vision_feats[0].dims(), [1, 4, 64, 64]);
            let points = PointPrompt {
                coords: Tensor::from_data([[[100.0f32, 120.0]]], &device),
                labels: Tensor::from_data([[1i64]], &device),
            };
            let mut bank = MemoryBank::default();
            let out = model
                .track_step(
                    TrackStepInput {
                        frame_idx: 0,
                        is_init_cond_frame: true,
                        features: &feats,
                        point_inputs: Some(&points),
                        mask_inputs: None,
                        num_frames: 3,
                        track_in_reverse: false,
                        run_mem_encoder: true,
                        prev_sam_mask_logits: None,
                    },
                    &bank,
                )
                .unwrap();
            assert_eq!(out.pred_masks.dims(), [1, 1, 64, 64]);
            assert_eq!(out.obj_ptr.dims(), [1, 32]);
            bank.cond_frame_outputs.insert(0, out);
            let out = model
                .track_step(
                    TrackStepInput {
                        frame_idx: 1,
                        is_init_cond_frame: false,
                        features: &feats,
                        point_inputs: None,
                        mask_inputs: None,
                        num_frames: 3,
                        track_in_reverse: false,
                        run_mem_encoder: true,
                        prev_sam_mask_logits: None,
                    },
                    &bank,
                )
                .unwrap();
            assert_eq!(out.maskmem_features.unwrap().dims(), [1, 16, 16, 16]);
        })
    }

    /// The micro model at 128² with every parameter drawn from seed 3, and a random image.
    fn seeded_micro_128(device: &Device) -> (Sam2Base, Tensor<4>) {
        let mut cfg = Sam2Config::micro();
        cfg.image_size = 128;
        crate::backend::seeded(device, 3, || {
            let model = crate::backend::materialised(Sam2Base::new(&cfg, device).unwrap());
            let img = Tensor::<4>::random([1, 3, 128, 128], Distribution::Normal(0.0, 1.0), device);
            (model, img)
        })
    }

    /// The predicted IoU kept for a mask is that of the mask chosen: with multimask output
    /// the mask of the highest IoU is the one taken; a mask input taken as the output has 1.
    #[test]
    fn the_chosen_iou_is_the_chosen_masks() {
        let device = Device::flex();
        let (model, img) = seeded_micro_128(&device);
        let feats = model.forward_image(img);
        let top = model.image_embedding_without_memory(&feats);
        // One object per batch row, each prompted with one point (multimask output).
        let n = 4;
        let coords: Vec<f32> = (0..n)
            .flat_map(|i| [8.0 + 30.0 * i as f32, 120.0 - 25.0 * i as f32])
            .collect();
        let points = PointPrompt {
            coords: Tensor::from_data(TensorData::new(coords, [n, 1, 2]), &device),
            labels: Tensor::<2, Int>::ones([n, 1], &device),
        };
        let high_res = feats.expand_batch(n).high_res();
        let sam =
            model.forward_sam_heads(top.repeat_dim(0, n), Some(&points), None, high_res, true);
        let read = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
        let ious = sam.ious.clone().into_data().try_to_vec::<f32>().unwrap();
        let m = ious.len() / n;
        assert_eq!(m, 3, "three masks per object");
        let chosen = sam.chosen_iou();
        assert_eq!(chosen.dims(), [n, 1]);
        let chosen = chosen.into_data().try_to_vec::<f32>().unwrap();
        for (o, row) in ious.chunks(m).enumerate() {
            let best = (0..m).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
            let mask = |t: &Tensor<4>| t.clone().narrow(0, o, 1);
            assert_eq!(
                read(mask(&sam.low_res_masks)),
                read(mask(&sam.low_res_multimasks).narrow(1, best, 1)),
                "object {o}: the mask of the highest IoU is chosen"
            );
            assert_eq!(chosen[o], row[best], "object {o}: IoUs {row:?}");
        }
        // These random weights rank the first mask highest for every object (a choice of
        // the first would pass above): the IoUs set by hand, the best elsewhere than first.
        let ranked = SamHeadsOutput {
            ious: Tensor::from_data([[0.2f32, 0.9, 0.5], [0.7, 0.1, 0.3]], &device),
            ..sam
        };
        let chosen = ranked.chosen_iou().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(chosen, [0.9, 0.7]);
        let mask = Tensor::<4>::ones([1, 1, 128, 128], &device);
        let as_output = model.use_mask_as_output(feats.top().clone(), feats.high_res(), mask);
        assert_eq!(
            as_output
                .chosen_iou()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
            [1.0]
        );
    }

    #[test]
    fn objects_in_a_batch_do_not_see_each_other() {
        // Training and propagation put one object per batch row; each row's masks must be
        // what that object alone gets (the image predictor runs objects one at a time).
        let device = Device::flex();
        let (model, img) = seeded_micro_128(&device);
        let feats = model.forward_image(img);
        let top = model.image_embedding_without_memory(&feats);
        let prompts: [[f32; 6]; 3] = [
            [10.0, 12.0, 60.0, 70.0, 30.0, 40.0],
            [50.0, 20.0, 90.0, 50.0, 70.0, 35.0],
            [20.0, 80.0, 120.0, 120.0, 64.0, 100.0],
        ];
        let point_prompt = |rows: &[[f32; 6]]| PointPrompt {
            coords: Tensor::from_data(
                TensorData::new(
                    rows.iter().flatten().copied().collect::<Vec<_>>(),
                    [rows.len(), 3, 2],
                ),
                &device,
            ),
            labels: Tensor::from_data(
                TensorData::new([2i64, 3, 1].repeat(rows.len()), [rows.len(), 3]),
                &device,
            ),
        };
        let n = prompts.len();
        let high_res = feats.expand_batch(n).high_res();
        let together = model.forward_sam_heads(
            top.clone().repeat_dim(0, n),
            Some(&point_prompt(&prompts)),
            None,
            high_res,
            false,
        );
        for (o, row) in prompts.iter().enumerate() {
            let alone = model.forward_sam_heads(
                top.clone(),
                Some(&point_prompt(std::slice::from_ref(row))),
                None,
                feats.high_res(),
                false,
            );
            let batched = together.low_res_multimasks.clone().narrow(0, o, 1);
            let diff = (batched - alone.low_res_multimasks.clone())
                .abs()
                .max()
                .into_scalar::<f32>();
            assert!(
                diff < 1e-4,
                "object {o}: batched and alone differ by {diff}"
            );
        }
    }
}
