//! The SAM prompt encoder (`sam2/modeling/sam/prompt_encoder.py`): points and box corners to
//! sparse tokens (random-Fourier position + learned type embeddings), a mask to a dense
//! embedding (`mask_downscaling`), or the learned `no_mask_embed` everywhere.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::{Device, Int, Tensor};

use super::common::LayerNorm2d;
use super::kernels;
use super::position_encoding::PositionEmbeddingRandom;

/// Point prompts: pixel coordinates `[B, N, 2]` (x, y) in the model input and labels
/// `[B, N]` (1 positive, 0 negative, 2/3 box corners, -1 padding).
#[derive(Clone, Debug)]
pub struct PointPrompt {
    pub coords: Tensor<3>,
    pub labels: Tensor<2, Int>,
}

/// `mask_downscaling`, an `nn.Sequential` (conv, LayerNorm2d, GELU, conv, LayerNorm2d, GELU,
/// conv). Its GELUs hold no weights, so the weighted layers are a tuple whose indices are the
/// official ones made contiguous (0, 1, 3, 4, 6 → 0..4; see `model::import`).
pub type MaskDownscaling = (Conv2d, LayerNorm2d, Conv2d, LayerNorm2d, Conv2d);

#[derive(Module, Debug)]
pub struct PromptEncoder {
    pub pe_layer: PositionEmbeddingRandom,
    /// Negative, positive, box top-left, box bottom-right.
    pub point_embeddings: Vec<Embedding>,
    pub not_a_point_embed: Embedding,
    pub mask_downscaling: MaskDownscaling,
    pub no_mask_embed: Embedding,
    embed_dim: usize,
    image_embedding_size: [usize; 2],
    input_image_size: [usize; 2],
}

impl PromptEncoder {
    pub fn new(
        embed_dim: usize,
        image_embedding_size: [usize; 2],
        input_image_size: [usize; 2],
        mask_in_chans: usize,
        device: &Device,
    ) -> Self {
        let emb = || EmbeddingConfig::new(1, embed_dim).init(device);
        let quarter = mask_in_chans / 4;
        Self {
            pe_layer: PositionEmbeddingRandom::new(embed_dim / 2, device),
            point_embeddings: (0..4).map(|_| emb()).collect(),
            not_a_point_embed: emb(),
            mask_downscaling: (
                Conv2dConfig::new([1, quarter], [2, 2])
                    .with_stride([2, 2])
                    .init(device),
                LayerNorm2d::new(quarter, 1e-6, device),
                Conv2dConfig::new([quarter, mask_in_chans], [2, 2])
                    .with_stride([2, 2])
                    .init(device),
                LayerNorm2d::new(mask_in_chans, 1e-6, device),
                Conv2dConfig::new([mask_in_chans, embed_dim], [1, 1]).init(device),
            ),
            no_mask_embed: emb(),
            embed_dim,
            image_embedding_size,
            input_image_size,
        }
    }

    /// The side of the mask prompts this encoder takes (4 × the embedding).
    pub fn mask_input_size(&self) -> [usize; 2] {
        [
            4 * self.image_embedding_size[0],
            4 * self.image_embedding_size[1],
        ]
    }

    /// `get_dense_pe`: `[1, C, h, w]`.
    pub fn get_dense_pe(&self) -> Tensor<4> {
        let [h, w] = self.image_embedding_size;
        self.pe_layer.forward(h, w).unsqueeze::<4>()
    }

    fn type_embedding(emb: &Embedding) -> Tensor<3> {
        emb.weight.val().unsqueeze::<3>()
    }

    /// `_embed_points`: `[B, N(+1), C]`.
    fn embed_points(&self, points: &PointPrompt, pad: bool) -> Tensor<3> {
        let mut coords = points.coords.clone() + 0.5;
        let mut labels = points.labels.clone().float();
        if pad {
            let [b, _, _] = coords.dims();
            let device = coords.device();
            coords = Tensor::cat(vec![coords, Tensor::zeros([b, 1, 2], &device)], 1);
            labels = Tensor::cat(vec![labels, Tensor::ones([b, 1], &device).neg()], 1);
        }
        let pe = self
            .pe_layer
            .forward_with_coords(coords, self.input_image_size);
        let is = |v: f32| labels.clone().equal_elem(v).float().unsqueeze_dim::<3>(2);
        let not_a_point = is(-1.0);
        let mut out = pe * (not_a_point.clone().neg() + 1.0)
            + not_a_point * Self::type_embedding(&self.not_a_point_embed);
        for (k, emb) in self.point_embeddings.iter().enumerate() {
            out = out + is(k as f32) * Self::type_embedding(emb);
        }
        out
    }

    /// `_embed_boxes`: boxes `[B, 4]` (x0, y0, x1, y1) → `[B, 2, C]`.
    fn embed_boxes(&self, boxes: Tensor<2>) -> Tensor<3> {
        let [b, _] = boxes.dims();
        let coords = (boxes + 0.5).reshape([b, 2, 2]);
        let pe = self
            .pe_layer
            .forward_with_coords(coords, self.input_image_size);
        let corners = Tensor::cat(
            vec![
                Self::type_embedding(&self.point_embeddings[2]),
                Self::type_embedding(&self.point_embeddings[3]),
            ],
            1,
        );
        pe + corners
    }

    /// `_embed_masks`: `[B, 1, 4h, 4w]` → `[B, C, h, w]`.
    pub fn embed_masks(&self, masks: Tensor<4>) -> Tensor<4> {
        let (c1, n1, c2, n2, c3) = &self.mask_downscaling;
        let x = kernels::gelu(n1.forward(c1.forward(masks)));
        let x = kernels::gelu(n2.forward(c2.forward(x)));
        c3.forward(x)
    }

    /// Sparse `[B, N, C]` and dense `[B, C, h, w]` embeddings. With no prompt at all the
    /// batch is 1 and the sparse tensor has no tokens.
    pub fn forward(
        &self,
        points: Option<&PointPrompt>,
        boxes: Option<Tensor<2>>,
        masks: Option<Tensor<4>>,
    ) -> (Tensor<3>, Tensor<4>) {
        let device = self.no_mask_embed.weight.device();
        let bs = points
            .map(|p| p.coords.dims()[0])
            .or_else(|| boxes.as_ref().map(|b| b.dims()[0]))
            .or_else(|| masks.as_ref().map(|m| m.dims()[0]))
            .unwrap_or(1);
        let mut sparse: Vec<Tensor<3>> = Vec::new();
        if let Some(p) = points {
            sparse.push(self.embed_points(p, boxes.is_none()));
        }
        if let Some(b) = boxes {
            sparse.push(self.embed_boxes(b));
        }
        let sparse = if sparse.is_empty() {
            Tensor::zeros([bs, 0, self.embed_dim], &device)
        } else {
            Tensor::cat(sparse, 1)
        };
        let dense = match masks {
            Some(m) => self.embed_masks(m),
            None => {
                let [h, w] = self.image_embedding_size;
                self.no_mask_embed
                    .weight
                    .val()
                    .reshape([1, self.embed_dim, 1, 1])
                    .expand([bs, self.embed_dim, h, w])
            }
        };
        (sparse, dense)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_prompts_are_padded_and_typed() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 119, || {
            let device = Device::flex();
            let pe = PromptEncoder::new(32, [16, 16], [256, 256], 16, &device);
            let points = PointPrompt {
                coords: Tensor::from_data([[[10.0f32, 20.0], [100.0, 50.0]]], &device),
                labels: Tensor::from_data([[1i64, 0]], &device),
            };
            let (sparse, dense) = pe.forward(Some(&points), None, None);
            assert_eq!(sparse.dims(), [1, 3, 32]);
            assert_eq!(dense.dims(), [1, 32, 16, 16]);
            // The padding token is exactly `not_a_point_embed`.
            let pad = sparse.narrow(1, 2, 1).reshape([32]);
            let expected = pe.not_a_point_embed.weight.val().reshape([32]);
            assert_eq!((pad - expected).abs().max().into_scalar::<f32>(), 0.0);
            let masks = Tensor::<4>::zeros([1, 1, 64, 64], &device);
            let (_, dense) = pe.forward(Some(&points), None, Some(masks));
            assert_eq!(dense.dims(), [1, 32, 16, 16]);
            assert_eq!(pe.get_dense_pe().dims(), [1, 32, 16, 16]);
        })
    }
}
