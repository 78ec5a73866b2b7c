//! SAM-2 model configurations: the four official SAM-2.1 sizes (tiny, small, base_plus, large)
//! with the numbers of `configs/sam2.1/sam2.1_hiera_*.yaml`, the legacy SAM-2.0 flags, and the
//! small `micro` config used by tests, CI and the default demo weights.
//!
//! Every structural or behavioural choice of the official `SAM2Base` is a field here, named like
//! its YAML key, so a deviation is always an explicit, documented switch.

use serde::{Deserialize, Serialize};

use crate::{Result, SssError};

/// The Hiera trunk (`image_encoder.trunk`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HieraConfig {
    /// Channels after the patch embedding (stage 1).
    pub embed_dim: usize,
    /// Attention heads in stage 1.
    pub num_heads: usize,
    /// Blocks per stage.
    pub stages: Vec<usize>,
    /// Blocks (global index) that attend globally instead of in windows.
    pub global_att_blocks: Vec<usize>,
    /// Window size per stage.
    pub window_spec: Vec<usize>,
    /// Spatial size of the background positional embedding `pos_embed`.
    pub window_pos_embed_bkg_spatial_size: [usize; 2],
    /// Number of stage transitions that pool the queries.
    pub q_pool: usize,
    /// Stride of the query pooling.
    pub q_stride: [usize; 2],
    /// Channel multiplier at each stage transition.
    pub dim_mul: f64,
    /// Head multiplier at each stage transition.
    pub head_mul: f64,
    /// MLP hidden size as a multiple of the block width.
    pub mlp_ratio: f64,
}

/// How the FPN neck upsamples the coarser level (`fpn_interp_model`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FpnInterp {
    Nearest,
    Bilinear,
}

/// How the FPN neck fuses lateral and top-down features (`fuse_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FuseType {
    Sum,
    Avg,
}

/// The FPN neck (`image_encoder.neck`) and its sine position encoding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FpnNeckConfig {
    pub d_model: usize,
    /// Trunk channels, coarsest level first (the trunk's `channel_list`).
    pub backbone_channel_list: Vec<usize>,
    /// Levels (0 = finest) that receive top-down features.
    pub fpn_top_down_levels: Vec<usize>,
    pub fpn_interp_model: FpnInterp,
    pub fuse_type: FuseType,
    /// `PositionEmbeddingSine.num_pos_feats` (the full channel count).
    pub num_pos_feats: usize,
    pub temperature: f64,
}

/// Activation of the memory-attention feed-forward block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivationKind {
    Relu,
    Gelu,
}

/// The memory attention (`memory_attention`), with RoPE self- and cross-attention.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryAttentionConfig {
    pub d_model: usize,
    pub pos_enc_at_input: bool,
    pub num_layers: usize,
    pub activation: ActivationKind,
    pub dim_feedforward: usize,
    pub pos_enc_at_attn: bool,
    pub pos_enc_at_cross_attn_keys: bool,
    pub pos_enc_at_cross_attn_queries: bool,
    /// Heads of both RoPE attentions.
    pub num_heads: usize,
    pub downsample_rate: usize,
    pub rope_theta: f64,
    /// Key/value input width of the cross-attention (the memory width).
    pub kv_in_dim: usize,
    /// `rope_k_repeat` of the cross-attention.
    pub cross_rope_k_repeat: bool,
}

/// The memory encoder (`memory_encoder`): mask downsampler, fuser, projections.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryEncoderConfig {
    pub out_dim: usize,
    pub in_dim: usize,
    /// `PositionEmbeddingSine.num_pos_feats` of the memory.
    pub num_pos_feats: usize,
    pub temperature: f64,
    pub mask_downsampler_kernel_size: usize,
    pub mask_downsampler_stride: usize,
    pub mask_downsampler_padding: usize,
    pub mask_downsampler_total_stride: usize,
    pub fuser_num_layers: usize,
    pub fuser_kernel_size: usize,
    pub fuser_padding: usize,
    pub fuser_layer_scale_init_value: f64,
    pub fuser_use_dwconv: bool,
    /// `Fuser(input_projection=...)`; false in every official config.
    pub fuser_input_projection: bool,
}

/// The SAM prompt encoder and mask decoder that `SAM2Base._build_sam_heads` builds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamHeadsConfig {
    pub transformer_depth: usize,
    pub transformer_mlp_dim: usize,
    pub transformer_num_heads: usize,
    pub attention_downsample_rate: usize,
    pub mask_in_chans: usize,
    pub num_multimask_outputs: usize,
    pub iou_head_depth: usize,
    pub iou_head_hidden_dim: usize,
    /// `sam_mask_decoder_extra_args.dynamic_multimask_via_stability`: false in the YAML files,
    /// turned on by the official predictor builders' postprocessing (see
    /// [`Sam2Config::with_postprocessing`]).
    pub dynamic_multimask_via_stability: bool,
    pub dynamic_multimask_stability_delta: f64,
    pub dynamic_multimask_stability_thresh: f64,
}

/// A whole SAM-2 model (`SAM2Base`) with the flags of its YAML file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sam2Config {
    /// Short name (`tiny`, `small`, `base_plus`, `large`, `micro`).
    pub name: String,
    /// Side of the square model input in pixels (1024 for the official models).
    pub image_size: usize,
    pub backbone_stride: usize,
    /// Lowest-resolution FPN levels dropped by the image encoder.
    pub scalp: usize,
    pub trunk: HieraConfig,
    pub neck: FpnNeckConfig,
    pub memory_attention: MemoryAttentionConfig,
    pub memory_encoder: MemoryEncoderConfig,
    pub sam_heads: SamHeadsConfig,
    pub num_maskmem: usize,
    pub sigmoid_scale_for_mem_enc: f64,
    pub sigmoid_bias_for_mem_enc: f64,
    pub binarize_mask_from_pts_for_mem_enc: bool,
    pub use_mask_input_as_output_without_sam: bool,
    /// Maximum conditioning frames in memory attention (`None` = no limit, YAML -1).
    pub max_cond_frames_in_attn: Option<usize>,
    pub directly_add_no_mem_embed: bool,
    pub use_high_res_features_in_sam: bool,
    pub multimask_output_in_sam: bool,
    pub multimask_min_pt_num: usize,
    pub multimask_max_pt_num: usize,
    pub multimask_output_for_tracking: bool,
    pub use_multimask_token_for_obj_ptr: bool,
    pub iou_prediction_use_sigmoid: bool,
    pub memory_temporal_stride_for_eval: usize,
    pub non_overlap_masks_for_mem_enc: bool,
    pub use_obj_ptrs_in_encoder: bool,
    pub max_obj_ptrs_in_encoder: usize,
    pub add_tpos_enc_to_obj_ptrs: bool,
    pub proj_tpos_enc_in_obj_ptrs: bool,
    pub use_signed_tpos_enc_to_obj_ptrs: bool,
    pub only_obj_ptrs_in_the_past_for_eval: bool,
    pub pred_obj_scores: bool,
    pub pred_obj_scores_mlp: bool,
    pub fixed_no_obj_ptr: bool,
    pub soft_no_obj_ptr: bool,
    pub use_mlp_for_obj_ptr_proj: bool,
    pub no_obj_embed_spatial: bool,
    /// Not in official SAM-2 (a switch of this project): when tracking, only the memories
    /// and object pointers of the last `N` tracked (non-conditioning) frames are attended to,
    /// besides the conditioning frames. `None` (official, and weights saved before it
    /// existed): up to `num_maskmem − 1` memories and `max_obj_ptrs_in_encoder` pointers.
    /// Training clips of `F` slices train only the temporal encodings of the last `F − 2`
    /// tracked frames; `sss train` sets this to that so the untrained ones are never used.
    #[serde(default)]
    pub tracked_memories: Option<usize>,
}

/// The names `Sam2Config::by_name` accepts.
pub const CONFIG_NAMES: [&str; 6] = ["tiny", "small", "base_plus", "large", "micro", "micro-wide"];

impl Sam2Config {
    /// The official configuration by name (`tiny`, `small`, `base_plus`/`b+`, `large`),
    /// `micro` or `micro-wide`.
    pub fn by_name(name: &str) -> Result<Self> {
        match name {
            "tiny" | "t" => Ok(Self::tiny()),
            "small" | "s" => Ok(Self::small()),
            "base_plus" | "b+" | "base-plus" => Ok(Self::base_plus()),
            "large" | "l" => Ok(Self::large()),
            "micro" => Ok(Self::micro()),
            "micro-wide" => Ok(Self::micro_wide()),
            other => Err(SssError::InvalidInput(format!(
                "unknown SAM-2 config `{other}`; expected one of {}",
                CONFIG_NAMES.join(", ")
            ))),
        }
    }

    /// `sam2.1_hiera_t.yaml`.
    pub fn tiny() -> Self {
        Self::sam2_1(
            "tiny",
            HieraConfig {
                embed_dim: 96,
                num_heads: 1,
                stages: vec![1, 2, 7, 2],
                global_att_blocks: vec![5, 7, 9],
                window_spec: vec![8, 4, 14, 7],
                window_pos_embed_bkg_spatial_size: [7, 7],
                ..Self::hiera_defaults()
            },
        )
    }

    /// `sam2.1_hiera_s.yaml`.
    pub fn small() -> Self {
        Self::sam2_1(
            "small",
            HieraConfig {
                embed_dim: 96,
                num_heads: 1,
                stages: vec![1, 2, 11, 2],
                global_att_blocks: vec![7, 10, 13],
                window_spec: vec![8, 4, 14, 7],
                window_pos_embed_bkg_spatial_size: [7, 7],
                ..Self::hiera_defaults()
            },
        )
    }

    /// `sam2.1_hiera_b+.yaml` (Hiera defaults apart from width and heads).
    pub fn base_plus() -> Self {
        Self::sam2_1(
            "base_plus",
            HieraConfig {
                embed_dim: 112,
                num_heads: 2,
                ..Self::hiera_defaults()
            },
        )
    }

    /// `sam2.1_hiera_l.yaml`.
    pub fn large() -> Self {
        Self::sam2_1(
            "large",
            HieraConfig {
                embed_dim: 144,
                num_heads: 2,
                stages: vec![2, 6, 36, 4],
                global_att_blocks: vec![23, 33, 43],
                window_spec: vec![8, 4, 16, 8],
                window_pos_embed_bkg_spatial_size: [7, 7],
                ..Self::hiera_defaults()
            },
        )
    }

    /// The `micro` config (see `tests/parity/MICRO.md`): the structure and flags of
    /// `sam2.1_hiera_t.yaml` at toy sizes, image 256.
    pub fn micro() -> Self {
        let mut cfg = Self::sam2_1(
            "micro",
            HieraConfig {
                embed_dim: 16,
                num_heads: 1,
                stages: vec![1, 2, 2, 1],
                global_att_blocks: vec![4],
                window_spec: vec![8, 4, 4, 2],
                window_pos_embed_bkg_spatial_size: [8, 8],
                ..Self::hiera_defaults()
            },
        );
        cfg.image_size = 256;
        cfg.neck.d_model = 32;
        cfg.neck.num_pos_feats = 32;
        cfg.memory_attention = MemoryAttentionConfig {
            d_model: 32,
            num_layers: 2,
            dim_feedforward: 64,
            kv_in_dim: 16,
            ..cfg.memory_attention
        };
        cfg.memory_encoder = MemoryEncoderConfig {
            out_dim: 16,
            in_dim: 32,
            num_pos_feats: 16,
            ..cfg.memory_encoder
        };
        cfg
    }

    /// `micro`'s Hiera trunk with SAM heads and memory attention 128 wide (official 256):
    /// the size the product trains. At micro's 32 the mask decoder's hypernetwork reads 4
    /// channels per pixel, too few to carve a ring and a crescent out of one neighbourhood
    /// (RESULTS.md, "the fitting check": the masks nest instead).
    pub fn micro_wide() -> Self {
        let mut cfg = Self::micro().with_hidden_dim(128);
        cfg.name = "micro-wide".into();
        cfg
    }

    /// The same model with the SAM heads and memory attention `d` wide (`neck.d_model`, the
    /// official 256); the mask decoder's hypernetwork then reads `d / 8` channels per pixel.
    pub fn with_hidden_dim(mut self, d: usize) -> Self {
        self.neck.d_model = d;
        self.neck.num_pos_feats = d;
        self.memory_attention.d_model = d;
        self.memory_encoder.in_dim = d;
        self
    }

    /// The same model with the flags of the original SAM-2.0 YAML files (`configs/sam2/`):
    /// no temporal encoding of object pointers and no spatial no-object embedding.
    pub fn into_sam2_0(mut self) -> Self {
        self.add_tpos_enc_to_obj_ptrs = false;
        self.proj_tpos_enc_in_obj_ptrs = false;
        self.use_signed_tpos_enc_to_obj_ptrs = false;
        self.no_obj_embed_spatial = false;
        self
    }

    /// The flags `build_sam2_video_predictor(..., apply_postprocessing=True)` (the official
    /// default) adds: dynamic multimask via stability (delta 0.05, thresh 0.98) and binarized
    /// masks from points for the memory encoder. Its `fill_hole_area=8` needs a CUDA extension
    /// and is skipped by the official code without it; it is not implemented here.
    pub fn with_postprocessing(mut self) -> Self {
        self.sam_heads.dynamic_multimask_via_stability = true;
        self.binarize_mask_from_pts_for_mem_enc = true;
        self
    }

    fn hiera_defaults() -> HieraConfig {
        HieraConfig {
            embed_dim: 96,
            num_heads: 1,
            stages: vec![2, 3, 16, 3],
            global_att_blocks: vec![12, 16, 20],
            window_spec: vec![8, 4, 14, 7],
            window_pos_embed_bkg_spatial_size: [14, 14],
            q_pool: 3,
            q_stride: [2, 2],
            dim_mul: 2.0,
            head_mul: 2.0,
            mlp_ratio: 4.0,
        }
    }

    fn sam2_1(name: &str, trunk: HieraConfig) -> Self {
        let stage_dims = stage_dims(&trunk);
        let backbone_channel_list: Vec<usize> = stage_dims.iter().rev().copied().collect();
        Self {
            name: name.to_string(),
            image_size: 1024,
            backbone_stride: 16,
            scalp: 1,
            neck: FpnNeckConfig {
                d_model: 256,
                backbone_channel_list,
                fpn_top_down_levels: vec![2, 3],
                fpn_interp_model: FpnInterp::Nearest,
                fuse_type: FuseType::Sum,
                num_pos_feats: 256,
                temperature: 10000.0,
            },
            trunk,
            memory_attention: MemoryAttentionConfig {
                d_model: 256,
                pos_enc_at_input: true,
                num_layers: 4,
                activation: ActivationKind::Relu,
                dim_feedforward: 2048,
                pos_enc_at_attn: false,
                pos_enc_at_cross_attn_keys: true,
                pos_enc_at_cross_attn_queries: false,
                num_heads: 1,
                downsample_rate: 1,
                rope_theta: 10000.0,
                kv_in_dim: 64,
                cross_rope_k_repeat: true,
            },
            memory_encoder: MemoryEncoderConfig {
                out_dim: 64,
                in_dim: 256,
                num_pos_feats: 64,
                temperature: 10000.0,
                mask_downsampler_kernel_size: 3,
                mask_downsampler_stride: 2,
                mask_downsampler_padding: 1,
                mask_downsampler_total_stride: 16,
                fuser_num_layers: 2,
                fuser_kernel_size: 7,
                fuser_padding: 3,
                fuser_layer_scale_init_value: 1e-6,
                fuser_use_dwconv: true,
                fuser_input_projection: false,
            },
            sam_heads: SamHeadsConfig {
                transformer_depth: 2,
                transformer_mlp_dim: 2048,
                transformer_num_heads: 8,
                attention_downsample_rate: 2,
                mask_in_chans: 16,
                num_multimask_outputs: 3,
                iou_head_depth: 3,
                iou_head_hidden_dim: 256,
                dynamic_multimask_via_stability: false,
                dynamic_multimask_stability_delta: 0.05,
                dynamic_multimask_stability_thresh: 0.98,
            },
            num_maskmem: 7,
            sigmoid_scale_for_mem_enc: 20.0,
            sigmoid_bias_for_mem_enc: -10.0,
            binarize_mask_from_pts_for_mem_enc: false,
            use_mask_input_as_output_without_sam: true,
            max_cond_frames_in_attn: None,
            directly_add_no_mem_embed: true,
            use_high_res_features_in_sam: true,
            multimask_output_in_sam: true,
            multimask_min_pt_num: 0,
            multimask_max_pt_num: 1,
            multimask_output_for_tracking: true,
            use_multimask_token_for_obj_ptr: true,
            iou_prediction_use_sigmoid: true,
            memory_temporal_stride_for_eval: 1,
            tracked_memories: None,
            non_overlap_masks_for_mem_enc: false,
            use_obj_ptrs_in_encoder: true,
            max_obj_ptrs_in_encoder: 16,
            add_tpos_enc_to_obj_ptrs: true,
            proj_tpos_enc_in_obj_ptrs: true,
            use_signed_tpos_enc_to_obj_ptrs: true,
            only_obj_ptrs_in_the_past_for_eval: true,
            pred_obj_scores: true,
            pred_obj_scores_mlp: true,
            fixed_no_obj_ptr: true,
            soft_no_obj_ptr: false,
            use_mlp_for_obj_ptr_proj: true,
            no_obj_embed_spatial: true,
        }
    }

    /// Width of the SAM heads and of the memory-conditioned features (`hidden_dim`).
    pub fn hidden_dim(&self) -> usize {
        self.neck.d_model
    }

    /// Width of the memory features (`mem_dim`).
    pub fn mem_dim(&self) -> usize {
        self.memory_encoder.out_dim
    }

    /// Side of the stride-16 image embedding (`sam_image_embedding_size`).
    pub fn image_embedding_size(&self) -> usize {
        self.image_size / self.backbone_stride
    }

    /// Side of the low-resolution masks the decoder predicts (4 × the embedding).
    pub fn low_res_mask_size(&self) -> usize {
        4 * self.image_embedding_size()
    }

    /// Checks that the sizes fit together, so that model code can rely on them.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(SssError::InvalidInput(format!("SAM-2 config: {msg}")));
        let t = &self.trunk;
        if t.stages.len() != t.window_spec.len() || t.stages.is_empty() {
            return bad(
                "trunk.stages and trunk.window_spec must be non-empty and equally long".into(),
            );
        }
        if t.q_pool >= t.stages.len() {
            return bad("trunk.q_pool must be smaller than the number of stages".into());
        }
        let dims: Vec<usize> = stage_dims(t).into_iter().rev().collect();
        if dims != self.neck.backbone_channel_list {
            return bad(format!(
                "trunk channels {dims:?} differ from neck.backbone_channel_list {:?}",
                self.neck.backbone_channel_list
            ));
        }
        if self.backbone_stride == 0 || !self.image_size.is_multiple_of(self.backbone_stride * 2) {
            return bad(format!(
                "image_size {} must be a multiple of 2 × backbone_stride",
                self.image_size
            ));
        }
        let patch_side = self.image_size / 4;
        if !patch_side.is_multiple_of(t.window_spec[0]) {
            return bad(format!(
                "image_size/4 = {patch_side} must be a multiple of window_spec[0] = {}",
                t.window_spec[0]
            ));
        }
        if self.scalp >= self.neck.backbone_channel_list.len() {
            return bad("scalp removes every FPN level".into());
        }
        if !self.neck.num_pos_feats.is_multiple_of(2)
            || !self.memory_encoder.num_pos_feats.is_multiple_of(2)
        {
            return bad("position encodings need an even num_pos_feats".into());
        }
        if self.memory_attention.d_model != self.hidden_dim() {
            return bad("memory_attention.d_model must equal neck.d_model".into());
        }
        if self.memory_encoder.in_dim != self.hidden_dim() {
            return bad("memory_encoder.in_dim must equal neck.d_model".into());
        }
        if self.memory_attention.kv_in_dim != self.mem_dim() {
            return bad("memory_attention.kv_in_dim must equal memory_encoder.out_dim".into());
        }
        if !self.hidden_dim().is_multiple_of(self.mem_dim()) {
            return bad("neck.d_model must be a multiple of memory_encoder.out_dim".into());
        }
        let ms = &self.memory_encoder;
        if ms.mask_downsampler_stride < 2 {
            return bad("mask_downsampler stride must be at least 2".into());
        }
        let mut total = 1;
        while total < ms.mask_downsampler_total_stride {
            total *= ms.mask_downsampler_stride;
        }
        if total != ms.mask_downsampler_total_stride {
            return bad("mask_downsampler total_stride must be a power of its stride".into());
        }
        if self.proj_tpos_enc_in_obj_ptrs && !self.add_tpos_enc_to_obj_ptrs {
            return bad("proj_tpos_enc_in_obj_ptrs needs add_tpos_enc_to_obj_ptrs".into());
        }
        if self.fixed_no_obj_ptr && !(self.pred_obj_scores && self.use_obj_ptrs_in_encoder) {
            return bad(
                "fixed_no_obj_ptr needs pred_obj_scores and use_obj_ptrs_in_encoder".into(),
            );
        }
        Ok(())
    }
}

/// Channels of each Hiera stage, finest first.
pub fn stage_dims(trunk: &HieraConfig) -> Vec<usize> {
    let mut dim = trunk.embed_dim;
    (0..trunk.stages.len())
        .map(|i| {
            if i > 0 {
                dim = (dim as f64 * trunk.dim_mul) as usize;
            }
            dim
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_config_validates_and_has_the_official_channels() {
        for name in CONFIG_NAMES {
            let cfg = Sam2Config::by_name(name).unwrap();
            cfg.validate().unwrap();
        }
        assert_eq!(
            Sam2Config::tiny().neck.backbone_channel_list,
            vec![768, 384, 192, 96]
        );
        assert_eq!(
            Sam2Config::base_plus().neck.backbone_channel_list,
            vec![896, 448, 224, 112]
        );
        assert_eq!(
            Sam2Config::large().neck.backbone_channel_list,
            vec![1152, 576, 288, 144]
        );
        assert_eq!(
            Sam2Config::micro().neck.backbone_channel_list,
            vec![128, 64, 32, 16]
        );
        assert!(Sam2Config::by_name("huge").is_err());
    }

    #[test]
    fn config_round_trips_through_json() {
        let cfg = Sam2Config::micro();
        let json = serde_json::to_string(&cfg).unwrap();
        let back: Sam2Config = serde_json::from_str(&json).unwrap();
        assert_eq!(cfg, back);
    }
}
