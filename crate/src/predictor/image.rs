//! The image predictor (`sam2_image_predictor.py`): `set_image` runs the image encoder once
//! and caches the features; `predict` turns point, box and mask prompts into masks, predicted
//! IoUs and object scores with the prompt encoder and mask decoder only.
//!
//! Everything stays on the device: the results are tensors, and reading them back (async on
//! the page) is the caller's job.

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::model::Sam2Base;
use crate::model::common::{Resample, resize};
use crate::model::image_encoder::normalise_input;
use crate::model::prompt_encoder::PointPrompt;
use crate::{Result, SssError};

/// The model input `[1, 3, S, S]` from an interleaved RGB image (`h × w × 3`, 0–255), as
/// `SAM2Transforms` does: to [0, 1], resize to `S × S` (bilinear with antialias, torchvision's
/// tensor default), then normalise.
pub fn sam2_input_from_rgb(
    rgb: &[u8],
    hw: [usize; 2],
    image_size: usize,
    device: &Device,
) -> Result<Tensor<4>> {
    let [h, w] = hw;
    if h == 0 || w == 0 || rgb.len() != h * w * 3 {
        return Err(SssError::InvalidInput(format!(
            "an RGB image of {h}×{w} needs {} bytes, got {}",
            h * w * 3,
            rgb.len()
        )));
    }
    let planar: Vec<f32> = (0..3)
        .flat_map(|c| (0..h * w).map(move |i| (c, i)))
        .map(|(c, i)| rgb[i * 3 + c] as f32 / 255.0)
        .collect();
    let x: Tensor<4> = Tensor::from_data(TensorData::new(planar, [1, 3, h, w]), device);
    let x = resize(x, [image_size, image_size], Resample::BilinearAntialias);
    Ok(normalise_input(x))
}

/// Prompts for one prediction, in pixel coordinates of the original image.
#[derive(Clone, Debug, Default)]
pub struct ImagePrompt {
    /// Points (x, y).
    pub points: Vec<[f32; 2]>,
    /// Labels: 1 foreground, 0 background.
    pub labels: Vec<i32>,
    /// A box (x0, y0, x1, y1).
    pub box_xyxy: Option<[f32; 4]>,
    /// Low-resolution mask logits `[1, 1, 4h, 4w]` from an earlier prediction.
    pub mask_input: Option<Tensor<4>>,
}

/// What `predict` returns.
#[derive(Clone, Debug)]
pub struct ImagePrediction {
    /// Mask logits at the original image size `[1, M, H, W]` (foreground where > 0).
    pub masks: Tensor<4>,
    /// Predicted IoU per mask `[1, M]`.
    pub iou: Tensor<2>,
    /// Object score logit `[1, 1]` (object present where > 0).
    pub object_score_logits: Tensor<2>,
    /// Low-resolution logits `[1, M, 4h, 4w]` clamped to ±32, to feed back as `mask_input`.
    pub low_res_logits: Tensor<4>,
}

struct CachedImage {
    image_embed: Tensor<4>,
    high_res: Option<(Tensor<4>, Tensor<4>)>,
    orig_hw: [usize; 2],
}

/// Image predictor over a loaded model.
pub struct ImagePredictor {
    model: Sam2Base,
    image: Option<CachedImage>,
}

impl ImagePredictor {
    pub fn new(model: Sam2Base) -> Self {
        Self { model, image: None }
    }

    pub fn model(&self) -> &Sam2Base {
        &self.model
    }

    /// Encodes a normalised model input `[1, 3, S, S]` of an image whose original size is
    /// `orig_hw` and caches its features (`set_image`).
    pub fn set_image(&mut self, input: Tensor<4>, orig_hw: [usize; 2]) -> Result<()> {
        let s = self.model.config().image_size;
        if input.dims() != [1, 3, s, s] {
            return Err(SssError::InvalidInput(format!(
                "the image predictor takes a [1, 3, {s}, {s}] input, got {:?}",
                input.dims()
            )));
        }
        if orig_hw[0] == 0 || orig_hw[1] == 0 {
            return Err(SssError::InvalidInput(
                "the original image size is empty".into(),
            ));
        }
        let features = self.model.forward_image(input);
        self.image = Some(CachedImage {
            image_embed: self.model.image_embedding_without_memory(&features),
            high_res: features.high_res(),
            orig_hw,
        });
        Ok(())
    }

    /// Encodes an interleaved RGB image (see [`sam2_input_from_rgb`]) and caches it.
    pub fn set_image_rgb(&mut self, rgb: &[u8], hw: [usize; 2]) -> Result<()> {
        let device = self.model.device();
        let input = sam2_input_from_rgb(rgb, hw, self.model.config().image_size, &device)?;
        self.set_image(input, hw)
    }

    /// Forgets the cached image.
    pub fn reset(&mut self) {
        self.image = None;
    }

    /// Predicts masks for the prompts (`predict` with `return_logits=True`).
    pub fn predict(&self, prompt: &ImagePrompt, multimask_output: bool) -> Result<ImagePrediction> {
        let image = self
            .image
            .as_ref()
            .ok_or_else(|| SssError::InvalidInput("set an image before predicting".into()))?;
        if prompt.points.len() != prompt.labels.len() {
            return Err(SssError::InvalidInput(format!(
                "{} points but {} labels",
                prompt.points.len(),
                prompt.labels.len()
            )));
        }
        if let Some(l) = prompt.labels.iter().find(|l| !(0..=1).contains(*l)) {
            return Err(SssError::InvalidInput(format!(
                "point label {l}: use 1 (foreground) or 0 (background)"
            )));
        }
        let device = self.model.device();
        let s = self.model.config().image_size as f32;
        let [oh, ow] = image.orig_hw;
        let (sx, sy) = (s / ow as f32, s / oh as f32);
        let mut coords: Vec<f32> = Vec::new();
        let mut labels: Vec<i64> = Vec::new();
        if let Some([x0, y0, x1, y1]) = prompt.box_xyxy {
            coords.extend([x0 * sx, y0 * sy, x1 * sx, y1 * sy]);
            labels.extend([2, 3]);
        }
        for (p, &l) in prompt.points.iter().zip(&prompt.labels) {
            coords.extend([p[0] * sx, p[1] * sy]);
            labels.push(l as i64);
        }
        let n = labels.len();
        let points = (n > 0).then(|| PointPrompt {
            coords: Tensor::from_data(TensorData::new(coords, [1, n, 2]), &device),
            labels: Tensor::<2, Int>::from_data(TensorData::new(labels, [1, n]), &device),
        });
        let mask_input = match &prompt.mask_input {
            Some(m) => {
                let expected = self.model.sam_prompt_encoder.mask_input_size();
                let [_, _, h, w] = m.dims();
                if m.dims()[..2] != [1, 1] || [h, w] != expected {
                    return Err(SssError::InvalidInput(format!(
                        "mask_input must be [1, 1, {}, {}], got {:?}",
                        expected[0],
                        expected[1],
                        m.dims()
                    )));
                }
                Some(m.clone())
            }
            None => None,
        };
        let pe = &self.model.sam_prompt_encoder;
        let (sparse, dense) = pe.forward(points.as_ref(), None, mask_input);
        let out =
            self.model
                .sam_mask_decoder
                .forward(crate::model::mask_decoder::MaskDecoderInput {
                    image_embeddings: image.image_embed.clone(),
                    image_pe: pe.get_dense_pe(),
                    sparse_prompt_embeddings: sparse,
                    dense_prompt_embeddings: dense,
                    multimask_output,
                    repeat_image: false,
                    high_res_features: image.high_res.clone(),
                });
        let masks = interpolate(
            out.masks.clone(),
            InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_output_size([oh, ow])
                .with_align_corners(false),
        );
        Ok(ImagePrediction {
            masks,
            iou: out.iou_pred,
            object_score_logits: out.object_score_logits,
            low_res_logits: out.masks.clamp(-32.0, 32.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sam2Config;

    #[test]
    fn predict_needs_an_image_and_valid_prompts() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 128, || {
            let device = Device::flex();
            let model = Sam2Base::new(&Sam2Config::micro(), &device).unwrap();
            let mut p = ImagePredictor::new(model);
            let prompt = ImagePrompt {
                points: vec![[10.0, 20.0]],
                labels: vec![1],
                ..Default::default()
            };
            assert!(p.predict(&prompt, true).is_err());
            let rgb = vec![128u8; 40 * 30 * 3];
            p.set_image_rgb(&rgb, [40, 30]).unwrap();
            let out = p.predict(&prompt, true).unwrap();
            assert_eq!(out.masks.dims(), [1, 3, 40, 30]);
            assert_eq!(out.iou.dims(), [1, 3]);
            assert_eq!(out.low_res_logits.dims(), [1, 3, 64, 64]);
            let boxed = ImagePrompt {
                box_xyxy: Some([2.0, 3.0, 20.0, 25.0]),
                ..Default::default()
            };
            assert_eq!(
                p.predict(&boxed, false).unwrap().masks.dims(),
                [1, 1, 40, 30]
            );
            let bad = ImagePrompt {
                points: vec![[1.0, 1.0]],
                labels: vec![7],
                ..Default::default()
            };
            assert!(p.predict(&bad, false).is_err());
            assert!(p.set_image_rgb(&rgb[1..], [40, 30]).is_err());
        })
    }
}
