//! The SAM-2 mask decoder (`sam2/modeling/sam/mask_decoder.py`): output tokens (object score,
//! IoU, mask tokens) through the two-way transformer, upscaling with the high-resolution
//! features (`conv_s0`, `conv_s1`), hypernetwork MLPs, the IoU head, the object-score head,
//! and the dynamic choice between single and multimask output by mask stability.
//!
//! Selections by score (best IoU, stability) are done on the device with one-hot weights,
//! never by reading values back.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::{Device, Int, Tensor};

use super::common::{ActivationKind, LayerNorm2d, Mlp};
use super::config::{Sam2Config, SamHeadsConfig};
use super::kernels;
use super::transformer::TwoWayTransformer;

/// `output_upscaling`, an `nn.Sequential` (ConvTranspose2d, LayerNorm2d, GELU,
/// ConvTranspose2d, GELU): official indices 0, 1, 3 become the tuple's 0, 1, 2.
pub type OutputUpscaling = (ConvTranspose2d, LayerNorm2d, ConvTranspose2d);

/// What the decoder returns (`forward`'s four outputs).
#[derive(Clone, Debug)]
pub struct MaskDecoderOutput {
    /// Mask logits `[B, M, 4h, 4w]`.
    pub masks: Tensor<4>,
    /// Predicted IoU `[B, M]`.
    pub iou_pred: Tensor<2>,
    /// SAM output tokens for the object pointer `[B, M', C]`.
    pub sam_tokens_out: Tensor<3>,
    /// Object score logits `[B, 1]`.
    pub object_score_logits: Tensor<2>,
}

#[derive(Clone, Copy, Debug)]
struct DynamicMultimask {
    enabled: bool,
    delta: f64,
    thresh: f64,
}

#[derive(Module, Debug)]
pub struct MaskDecoder {
    pub transformer: TwoWayTransformer,
    pub iou_token: Embedding,
    pub mask_tokens: Embedding,
    pub obj_score_token: Option<Embedding>,
    pub output_upscaling: OutputUpscaling,
    pub conv_s0: Option<Conv2d>,
    pub conv_s1: Option<Conv2d>,
    pub output_hypernetworks_mlps: Vec<Mlp>,
    pub iou_prediction_head: Mlp,
    /// A 3-layer MLP (`pred_obj_scores_mlp`) or a single linear layer stored as a 1-layer MLP.
    pub pred_obj_score_head: Option<Mlp>,
    num_mask_tokens: usize,
    use_multimask_token_for_obj_ptr: bool,
    #[module(skip)]
    dynamic: DynamicMultimask,
}

/// The inputs of [`MaskDecoder::forward`], named as official `MaskDecoder.forward`'s: the image
/// embedding `[B, C, h, w]` and its position encoding, the prompt encoder's sparse `[B, N, C]`
/// and dense `[B, C, h, w]` embeddings, whether to return the multimask outputs, whether to
/// repeat the image embedding per prompt, and the projected high-resolution features.
pub struct MaskDecoderInput {
    pub image_embeddings: Tensor<4>,
    pub image_pe: Tensor<4>,
    pub sparse_prompt_embeddings: Tensor<3>,
    pub dense_prompt_embeddings: Tensor<4>,
    pub multimask_output: bool,
    pub repeat_image: bool,
    pub high_res_features: Option<(Tensor<4>, Tensor<4>)>,
}

impl MaskDecoder {
    pub fn new(cfg: &Sam2Config, device: &Device) -> Self {
        let d = cfg.hidden_dim();
        let h: &SamHeadsConfig = &cfg.sam_heads;
        let num_mask_tokens = h.num_multimask_outputs + 1;
        let emb = |n: usize| EmbeddingConfig::new(n, d).init(device);
        Self {
            transformer: TwoWayTransformer::new(
                h.transformer_depth,
                d,
                h.transformer_num_heads,
                h.transformer_mlp_dim,
                h.attention_downsample_rate,
                device,
            ),
            iou_token: emb(1),
            mask_tokens: emb(num_mask_tokens),
            obj_score_token: cfg.pred_obj_scores.then(|| emb(1)),
            output_upscaling: (
                ConvTranspose2dConfig::new([d, d / 4], [2, 2])
                    .with_stride([2, 2])
                    .init(device),
                LayerNorm2d::new(d / 4, 1e-6, device),
                ConvTranspose2dConfig::new([d / 4, d / 8], [2, 2])
                    .with_stride([2, 2])
                    .init(device),
            ),
            conv_s0: cfg
                .use_high_res_features_in_sam
                .then(|| Conv2dConfig::new([d, d / 8], [1, 1]).init(device)),
            conv_s1: cfg
                .use_high_res_features_in_sam
                .then(|| Conv2dConfig::new([d, d / 4], [1, 1]).init(device)),
            output_hypernetworks_mlps: (0..num_mask_tokens)
                .map(|_| Mlp::new(d, d, d / 8, 3, ActivationKind::Relu, false, device))
                .collect(),
            iou_prediction_head: Mlp::new(
                d,
                h.iou_head_hidden_dim,
                num_mask_tokens,
                h.iou_head_depth,
                ActivationKind::Relu,
                cfg.iou_prediction_use_sigmoid,
                device,
            ),
            pred_obj_score_head: cfg.pred_obj_scores.then(|| {
                let layers = if cfg.pred_obj_scores_mlp { 3 } else { 1 };
                Mlp::new(d, d, 1, layers, ActivationKind::Relu, false, device)
            }),
            num_mask_tokens,
            use_multimask_token_for_obj_ptr: cfg.use_multimask_token_for_obj_ptr,
            dynamic: DynamicMultimask {
                enabled: h.dynamic_multimask_via_stability,
                delta: h.dynamic_multimask_stability_delta,
                thresh: h.dynamic_multimask_stability_thresh,
            },
        }
    }

    /// Turns `dynamic_multimask_via_stability` on or off (the predictors' postprocessing).
    pub fn set_dynamic_multimask_via_stability(&mut self, enabled: bool) {
        self.dynamic.enabled = enabled;
    }

    /// `forward`. `high_res_features` are the already projected `(feat_s0, feat_s1)`
    /// (`conv_s0`/`conv_s1` run once in `SAM2Base.forward_image`).
    pub fn forward(&self, input: MaskDecoderInput) -> MaskDecoderOutput {
        let MaskDecoderInput {
            image_embeddings,
            image_pe,
            sparse_prompt_embeddings,
            dense_prompt_embeddings,
            multimask_output,
            repeat_image,
            high_res_features,
        } = input;
        let (masks, iou_pred, mask_tokens_out, object_score_logits) = self.predict_masks(
            image_embeddings,
            image_pe,
            sparse_prompt_embeddings,
            dense_prompt_embeddings,
            repeat_image,
            high_res_features,
        );
        let m = masks.dims()[1];
        let (masks, iou_pred) = if multimask_output {
            (masks.narrow(1, 1, m - 1), iou_pred.narrow(1, 1, m - 1))
        } else if self.dynamic.enabled {
            self.dynamic_multimask_via_stability(masks, iou_pred)
        } else {
            (masks.narrow(1, 0, 1), iou_pred.narrow(1, 0, 1))
        };
        let sam_tokens_out = if multimask_output && self.use_multimask_token_for_obj_ptr {
            mask_tokens_out.narrow(1, 1, self.num_mask_tokens - 1)
        } else {
            mask_tokens_out.narrow(1, 0, 1)
        };
        MaskDecoderOutput {
            masks,
            iou_pred,
            sam_tokens_out,
            object_score_logits,
        }
    }

    /// `predict_masks`: all `num_mask_tokens` masks and IoUs, the mask tokens and the object
    /// score logits.
    pub fn predict_masks(
        &self,
        image_embeddings: Tensor<4>,
        image_pe: Tensor<4>,
        sparse_prompt_embeddings: Tensor<3>,
        dense_prompt_embeddings: Tensor<4>,
        repeat_image: bool,
        high_res_features: Option<(Tensor<4>, Tensor<4>)>,
    ) -> (Tensor<4>, Tensor<2>, Tensor<3>, Tensor<2>) {
        let [bs, _, _] = sparse_prompt_embeddings.dims();
        let mut output_tokens = Vec::with_capacity(3);
        let s = match &self.obj_score_token {
            Some(t) => {
                output_tokens.push(t.weight.val());
                1
            }
            None => 0,
        };
        output_tokens.push(self.iou_token.weight.val());
        output_tokens.push(self.mask_tokens.weight.val());
        let output_tokens: Tensor<2> = Tensor::cat(output_tokens, 0);
        let [nt, c] = output_tokens.dims();
        let output_tokens = output_tokens.unsqueeze::<3>().expand([bs, nt, c]);
        let tokens = Tensor::cat(vec![output_tokens, sparse_prompt_embeddings], 1);

        let src = if repeat_image {
            image_embeddings.repeat_dim(0, bs)
        } else {
            image_embeddings
        };
        let src = src + dense_prompt_embeddings;
        let pos_src = image_pe.repeat_dim(0, bs);
        let [b, c, h, w] = src.dims();

        let (hs, src) = self.transformer.forward(src, pos_src, tokens);
        let iou_token_out = hs.clone().narrow(1, s, 1).reshape([b, c]);
        let mask_tokens_out = hs.clone().narrow(1, s + 1, self.num_mask_tokens);

        let src = src.swap_dims(1, 2).reshape([b, c, h, w]);
        let (dc1, ln1, dc2) = &self.output_upscaling;
        let upscaled = match high_res_features {
            None => kernels::gelu(dc2.forward(kernels::gelu(ln1.forward(dc1.forward(src))))),
            Some((feat_s0, feat_s1)) => {
                let x = kernels::gelu(ln1.forward(dc1.forward(src) + feat_s1));
                kernels::gelu(dc2.forward(x) + feat_s0)
            }
        };

        let hyper_in: Vec<Tensor<3>> = self
            .output_hypernetworks_mlps
            .iter()
            .enumerate()
            .map(|(i, mlp)| mlp.forward(mask_tokens_out.clone().narrow(1, i, 1)))
            .collect();
        let hyper_in = Tensor::cat(hyper_in, 1); // [b, n, c/8]
        let [b, cu, hu, wu] = upscaled.dims();
        let masks = hyper_in
            .matmul(upscaled.reshape([b, cu, hu * wu]))
            .reshape([b, self.num_mask_tokens, hu, wu]);

        let iou_pred = self.iou_prediction_head.forward(iou_token_out);
        let object_score_logits = match &self.pred_obj_score_head {
            Some(head) => head.forward(hs.narrow(1, 0, 1).reshape([b, c])),
            None => Tensor::ones([b, 1], &iou_pred.device()) * 10.0,
        };
        (masks, iou_pred, mask_tokens_out, object_score_logits)
    }

    /// `_get_stability_scores` of masks `[B, 1, h, w]` → `[B, 1]`.
    fn stability_scores(&self, mask_logits: Tensor<4>) -> Tensor<2> {
        let [b, m, h, w] = mask_logits.dims();
        let flat = mask_logits.reshape([b, m, h * w]);
        let delta = self.dynamic.delta;
        let area_i = flat
            .clone()
            .greater_elem(delta)
            .float()
            .sum_dim(2)
            .reshape([b, m]);
        let area_u = flat.greater_elem(-delta).float().sum_dim(2).reshape([b, m]);
        let has_union = area_u.clone().greater_elem(0.0);
        let ratio = area_i / area_u.clamp_min(1.0);
        ratio.mask_where(has_union.bool_not(), Tensor::ones([b, m], &self.device()))
    }

    fn device(&self) -> Device {
        self.iou_token.weight.device()
    }

    /// `_dynamic_multimask_via_stability`: keep the single-mask output where it is stable,
    /// else the multimask output with the highest predicted IoU.
    fn dynamic_multimask_via_stability(
        &self,
        all_mask_logits: Tensor<4>,
        all_iou_scores: Tensor<2>,
    ) -> (Tensor<4>, Tensor<2>) {
        let [b, m, h, w] = all_mask_logits.dims();
        let multimask_logits = all_mask_logits.clone().narrow(1, 1, m - 1);
        let multimask_iou = all_iou_scores.clone().narrow(1, 1, m - 1);
        let onehot = argmax_one_hot(multimask_iou.clone());
        let best_logits = (multimask_logits * onehot.clone().reshape([b, m - 1, 1, 1])).sum_dim(1);
        let best_iou = (multimask_iou * onehot).sum_dim(1);
        let single_logits = all_mask_logits.narrow(1, 0, 1);
        let single_iou = all_iou_scores.narrow(1, 0, 1);
        let stable = self
            .stability_scores(single_logits.clone())
            .greater_equal_elem(self.dynamic.thresh)
            .float(); // [b, 1]
        let unstable = stable.clone().neg() + 1.0;
        let logits = single_logits * stable.clone().reshape([b, 1, 1, 1])
            + best_logits * unstable.clone().reshape([b, 1, 1, 1]);
        let iou = single_iou * stable + best_iou * unstable;
        debug_assert_eq!(logits.dims(), [b, 1, h, w]);
        (logits, iou)
    }
}

/// One-hot `[B, N]` of the first maximum along dim 1 (as `torch.argmax`), on the device.
pub fn argmax_one_hot(scores: Tensor<2>) -> Tensor<2> {
    let [b, n] = scores.dims();
    let idx: Tensor<2, Int> = scores.argmax(1); // [b, 1]
    let range = Tensor::<1, Int>::arange(0..n as i64, &idx.device())
        .reshape([1, n])
        .expand([b, n]);
    idx.expand([b, n]).equal(range).float()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn argmax_one_hot_picks_the_first_maximum() {
        let device = Device::flex();
        let s = Tensor::<2>::from_data([[0.1f32, 0.7, 0.7], [0.9, 0.2, 0.3]], &device);
        let v = argmax_one_hot(s).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(v, vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn micro_decoder_shapes_single_multi_and_dynamic() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 115, || {
            let device = Device::flex();
            let cfg = Sam2Config::micro();
            let mut dec = MaskDecoder::new(&cfg, &device);
            let r = |s: [usize; 4]| Tensor::<4>::random(s, Distribution::Normal(0.0, 1.0), &device);
            let sparse = Tensor::<3>::random([1, 2, 32], Distribution::Normal(0.0, 1.0), &device);
            let hr = Some((r([1, 4, 64, 64]), r([1, 8, 32, 32])));
            let out = dec.forward(MaskDecoderInput {
                image_embeddings: r([1, 32, 16, 16]),
                image_pe: r([1, 32, 16, 16]),
                sparse_prompt_embeddings: sparse.clone(),
                dense_prompt_embeddings: r([1, 32, 16, 16]),
                multimask_output: true,
                repeat_image: false,
                high_res_features: hr.clone(),
            });
            assert_eq!(out.masks.dims(), [1, 3, 64, 64]);
            assert_eq!(out.iou_pred.dims(), [1, 3]);
            assert_eq!(out.sam_tokens_out.dims(), [1, 3, 32]);
            assert_eq!(out.object_score_logits.dims(), [1, 1]);
            dec.set_dynamic_multimask_via_stability(true);
            let out = dec.forward(MaskDecoderInput {
                image_embeddings: r([1, 32, 16, 16]),
                image_pe: r([1, 32, 16, 16]),
                sparse_prompt_embeddings: sparse,
                dense_prompt_embeddings: r([1, 32, 16, 16]),
                multimask_output: false,
                repeat_image: false,
                high_res_features: hr,
            });
            assert_eq!(out.masks.dims(), [1, 1, 64, 64]);
            assert_eq!(out.sam_tokens_out.dims(), [1, 1, 32]);
        })
    }
}
