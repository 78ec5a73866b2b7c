//! Correcting prompts at interactive speed (the page's clicks and boxes): SAM-2 as an image
//! predictor on the slice being corrected, with that slice's image embedding kept, so each new
//! click or box on it runs only the prompt encoder and the mask decoder again (as official
//! SAM-2's `SAM2ImagePredictor`: `set_image` once, then `predict` per prompt change).
//! Propagating the corrected prompts through the other slices is the longer step that follows
//! ([`SssSegmenter::propagate`]).

use burn::tensor::Tensor;

use super::image::{ImagePredictor, ImagePrompt};
use super::label_fusion::SliceLabeler;
use super::pipeline::{PreparedVolume, SssSegmenter, read_back, read_back_async};
use crate::Result;
use crate::model::sam2_base::NO_OBJ_SCORE;
use crate::prompt::pcsw::ClassPrompt;

/// SAM-2's image predictor holding the embedding of one slice of one prepared volume.
pub struct SlicePreview {
    predictor: ImagePredictor,
    /// The slice whose embedding the predictor holds.
    slice: Option<usize>,
    /// How many times the image encoder ran (each slice change), for tests and the page's
    /// counters.
    pub encodes: usize,
}

impl SssSegmenter {
    /// A preview holding no slice yet; it serves one prepared volume (make a new one for
    /// another).
    pub fn slice_preview(&self) -> SlicePreview {
        SlicePreview {
            predictor: ImagePredictor::new(self.net().sam.clone()),
            slice: None,
            encodes: 0,
        }
    }

    /// The prompts on slice `z` (non-empty ones), checked, and the slice's embedding in
    /// `preview` (the image encoder runs only when `z` is not the slice it holds).
    fn prepare_preview(
        &self,
        preview: &mut SlicePreview,
        prepared: &PreparedVolume,
        z: usize,
        prompts: &[ClassPrompt],
    ) -> Result<Vec<ClassPrompt>> {
        let on_slice: Vec<ClassPrompt> = prompts
            .iter()
            .filter(|p| p.prompt.slice == z && !p.prompt.is_empty())
            .cloned()
            .collect();
        self.check_prompts(&on_slice, prepared.dims)?;
        let input = prepared.inputs.get(z).ok_or_else(|| {
            crate::SssError::InvalidInput(format!(
                "slice {z} does not exist; the scan has {} slices",
                prepared.inputs.len()
            ))
        })?;
        if preview.slice != Some(z) {
            preview.predictor.set_image(input.clone(), prepared.hw())?;
            preview.slice = Some(z);
            preview.encodes += 1;
        }
        Ok(on_slice)
    }

    /// SAM-2's mask logits `[N, h, w]` of each prompt on the held slice (one mask each, as
    /// `predict(multimask_output=False)`, then gated by the object score as propagation
    /// gates them), `None` without prompts.
    fn preview_logits(
        preview: &SlicePreview,
        on_slice: &[ClassPrompt],
    ) -> Result<Option<Tensor<3>>> {
        let masks = on_slice
            .iter()
            .map(|p| {
                let (points, labels) = p.sam2_points();
                let prompt = ImagePrompt {
                    points,
                    labels,
                    box_xyxy: Some(p.prompt.box_xyxy),
                    mask_input: None,
                };
                let out = preview.predictor.predict(&prompt, false)?;
                // As in propagation (SAM-2's `_forward_sam_heads`): an object SAM-2 scores as
                // absent draws nothing.
                let absent = out
                    .object_score_logits
                    .lower_equal_elem(0.0)
                    .reshape([1, 1, 1, 1])
                    .expand(out.masks.dims());
                Ok(out.masks.mask_fill(absent, NO_OBJ_SCORE))
            })
            .collect::<Result<Vec<Tensor<4>>>>()?;
        Ok((!masks.is_empty()).then(|| Tensor::cat(masks, 1).squeeze_dim(0)))
    }

    /// Slice `z`'s label map (`[y][x]`) from the prompts on it (`prompts` may hold others:
    /// only those on `z` count), from SAM-2's masks alone (the highest logit above the mask
    /// threshold); every class prompted elsewhere is background here. Blocking read-back.
    pub fn preview_slice(
        &self,
        preview: &mut SlicePreview,
        prepared: &PreparedVolume,
        z: usize,
        prompts: &[ClassPrompt],
    ) -> Result<Vec<u8>> {
        let on_slice = self.prepare_preview(preview, prepared, z, prompts)?;
        let logits = match Self::preview_logits(preview, &on_slice)? {
            Some(t) => read_back(t)?,
            None => Vec::new(),
        };
        Ok(label_slice(
            prepared,
            &on_slice,
            &logits,
            self.mask_threshold(),
        ))
    }

    /// [`Self::preview_slice`] with an asynchronous read-back (WebGPU in the page).
    pub async fn preview_slice_async(
        &self,
        preview: &mut SlicePreview,
        prepared: &PreparedVolume,
        z: usize,
        prompts: &[ClassPrompt],
    ) -> Result<Vec<u8>> {
        let on_slice = self.prepare_preview(preview, prepared, z, prompts)?;
        let logits = match Self::preview_logits(preview, &on_slice)? {
            Some(t) => read_back_async(t).await?,
            None => Vec::new(),
        };
        Ok(label_slice(
            prepared,
            &on_slice,
            &logits,
            self.mask_threshold(),
        ))
    }
}

/// The label map of one slice from its prompts' logits `[N][h][w]` (SAM-2's masks alone,
/// above `threshold`).
fn label_slice(
    prepared: &PreparedVolume,
    on_slice: &[ClassPrompt],
    logits: &[f32],
    threshold: f32,
) -> Vec<u8> {
    let hw = prepared.hw();
    let mut plane = vec![0u8; hw[0] * hw[1]];
    if !on_slice.is_empty() {
        let classes = on_slice.iter().map(|p| p.class).collect();
        SliceLabeler::new(hw, classes, on_slice, None)
            .with_mask_threshold(threshold)
            .write(&mut plane, 0, logits);
    }
    plane
}

#[cfg(test)]
mod tests {
    use super::super::pipeline::test_fixtures::{prompt, segmenter};
    use crate::prompt::pcsw::Click;

    /// The preview of a prompt's slice is what propagation draws there (the prompted slice of
    /// a person's prompts is SAM-2's mask alone in both), with clicks or without; the image
    /// encoder runs once per slice, not once per correction.
    #[test]
    fn the_preview_is_the_propagated_prompt_slice_and_encodes_once() {
        let (s, prepared) = segmenter();
        let plane = 32 * 32;
        let mut preview = s.slice_preview();
        let mut prompts = vec![prompt(1, 2), prompt(2, 2)];
        prompts[1].prompt.box_xyxy = [10.0, 2.0, 30.0, 18.0];
        prompts[1].prompt.point = [20.0, 9.0];
        let first = s
            .preview_slice(&mut preview, &prepared, 2, &prompts)
            .unwrap();
        let propagated = s.propagate(&prepared, &prompts, None).unwrap();
        assert_eq!(first.len(), plane);
        assert!(
            first.iter().any(|&l| l > 0),
            "the seeded weights draw the objects"
        );
        assert_eq!(first, propagated[2 * plane..3 * plane]);
        assert_eq!(preview.encodes, 1);

        // Clicks: a negative one inside the first box, a positive one outside it.
        prompts[0].clicks = vec![
            Click {
                point: [6.0, 8.0],
                positive: false,
            },
            Click {
                point: [26.0, 28.0],
                positive: true,
            },
        ];
        let clicked = s
            .preview_slice(&mut preview, &prepared, 2, &prompts)
            .unwrap();
        assert_eq!(
            preview.encodes, 1,
            "the same slice: prompt encoder and decoder only"
        );
        let propagated = s.propagate(&prepared, &prompts, None).unwrap();
        assert_eq!(clicked, propagated[2 * plane..3 * plane]);
        assert_ne!(clicked, first, "the clicks changed the mask");

        // Prompts on other slices do not count; a new slice is encoded once.
        let other = s
            .preview_slice(&mut preview, &prepared, 0, &prompts)
            .unwrap();
        assert!(other.iter().all(|&l| l == 0));
        assert_eq!(preview.encodes, 2);
    }

    #[test]
    fn bad_corrections_are_refused_in_words() {
        let (s, prepared) = segmenter();
        let mut preview = s.slice_preview();
        let mut p = prompt(1, 1);
        p.clicks = vec![Click {
            point: [40.0, 3.0],
            positive: true,
        }];
        let err = s
            .preview_slice(&mut preview, &prepared, 1, &[p])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("click [40.0, 3.0] is outside the 32×32 slice"),
            "{err}"
        );
        let err = s
            .preview_slice(&mut preview, &prepared, 9, &[prompt(1, 9)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("slice 9 does not exist"), "{err}");
    }
}
