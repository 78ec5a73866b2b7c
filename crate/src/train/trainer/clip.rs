//! Training clips: consecutive slices of a volume under one weak view, and SAM-2 run over them
//! as the official `SAM2Train.forward_tracking` does — the first frame prompted (with optional
//! correction rounds, the previous logits fed back as the mask prompt), the others tracked
//! with the memory bank, every decoder step kept for the loss.

use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::prompts::{ObjectPrompts, correction_click};
use crate::data::intensity::ChannelMap;
use crate::model::sam2_base::{
    BackboneFeatures, FrameOutput, MemoryBank, MemoryConditioningInput, Sam2Base, SamHeadsOutput,
};
use crate::model::sss_net::select_slice;
use crate::train::augment::{WeakConfig, WeakTransform};
use crate::{Result, SssError, Volume};

/// One training volume: the scan, its fitted intensity map and (labeled) its labels.
pub struct TrainVolume {
    pub id: String,
    pub image: Volume<f32>,
    pub map: ChannelMap,
    pub labels: Option<Volume<u8>>,
}

impl TrainVolume {
    pub fn new(
        id: String,
        image: Volume<f32>,
        labels: Option<Volume<u8>>,
        rule: &crate::data::intensity::IntensityRule,
    ) -> Result<Self> {
        if let Some(l) = &labels
            && l.dims != image.dims
        {
            return Err(SssError::InvalidInput(format!(
                "{id}: labels {:?} differ from the image {:?}",
                l.dims, image.dims
            )));
        }
        let map = rule.fit(&image.data)?;
        Ok(Self {
            id,
            image,
            map,
            labels,
        })
    }

    pub(super) fn hw(&self) -> [usize; 2] {
        [self.image.dims[1], self.image.dims[0]]
    }

    fn channels(&self, z: usize) -> Vec<f32> {
        self.map.map_slice(self.image.slice(z))
    }
}

/// Label value of pixels outside the weak view's crop.
pub const IGNORE: u8 = 255;

/// A sampled clip of slices under one weak view.
pub struct WeakClip {
    pub slices: Vec<usize>,
    pub transform: WeakTransform,
    /// `[frames][3][s][s]` in [0, 1].
    pub images: Vec<f32>,
    /// `[frames][s][s]` (labeled) or the valid mask as labels 0 / 255 (unlabeled).
    pub labels: Vec<u8>,
}

impl WeakClip {
    pub fn frames(&self) -> usize {
        self.slices.len()
    }
}

/// Up to `frames` consecutive slices from `z`, towards higher indices or (`reverse`) lower
/// ones; at least two when the volume has two (the other direction when `z` is at an end).
pub fn clip_slices(z: usize, nz: usize, frames: usize, reverse: bool) -> Vec<usize> {
    let forward: Vec<usize> = (z..nz).take(frames).collect();
    let backward: Vec<usize> = (0..=z).rev().take(frames).collect();
    let (first, second) = if reverse {
        (backward, forward)
    } else {
        (forward, backward)
    };
    if first.len() >= 2 || second.len() < 2 {
        first
    } else {
        second
    }
}

pub fn weak_clip(
    vol: &TrainVolume,
    slices: Vec<usize>,
    weak: &WeakConfig,
    rng: &mut SmallRng,
) -> Result<WeakClip> {
    let hw = vol.hw();
    let transform = weak.sample(hw, rng);
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for &z in &slices {
        images.extend(transform.apply_image(&vol.channels(z), 3)?);
        let source: Vec<u8> = match &vol.labels {
            Some(l) => l.slice(z).to_vec(),
            None => vec![0; hw[0] * hw[1]],
        };
        labels.extend(transform.apply_labels(&source)?);
    }
    Ok(WeakClip {
        slices,
        transform,
        images,
        labels,
    })
}

/// Nearest-neighbour downsampling of a `[s][s]` label map by `factor` (each output pixel
/// takes the input pixel its centre falls in).
pub fn downsample_labels(labels: &[u8], size: usize, factor: usize) -> Vec<u8> {
    let out = size / factor;
    let mut v = Vec::with_capacity(out * out);
    for y in 0..out {
        for x in 0..out {
            v.push(labels[(y * factor + factor / 2) * size + x * factor + factor / 2]);
        }
    }
    v
}

/// An RNG that depends only on the run's seed, the step and a stream number.
pub fn step_rng(seed: u64, step: usize, stream: u64) -> SmallRng {
    let mut z = seed
        ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
    // splitmix64 finaliser.
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    SmallRng::seed_from_u64(z ^ (z >> 31))
}

/// One decoder call's outputs, for the loss: all multimask logits `[n, M, h, w]` (gated or
/// not, as asked), their predicted IoUs `[n, M]` and the object-score logits `[n, 1]`.
pub struct DecoderStep {
    pub multimasks: Tensor<4>,
    pub ious: Tensor<2>,
    pub object_scores: Tensor<2>,
}

/// SAM-2 over a clip.
pub struct ClipOutput {
    /// Per frame, its decoder steps (the prompted frame: 1 + correction rounds).
    pub steps: Vec<Vec<DecoderStep>>,
    /// The forward path's selected mask logits `[frames, n, h, w]` (what inference shows).
    pub mask_logits: Tensor<4>,
    /// Object-score logits `[frames, n]`.
    pub object_scores: Tensor<2>,
}

/// What correction rounds need: the first frame's per-object targets and valid pixels at the
/// image size, `[n][s·s]`.
pub struct Corrections<'a> {
    pub rounds: usize,
    pub targets: &'a [Vec<bool>],
    pub valid: &'a [bool],
    pub from_gt_prob: f64,
    pub rng: &'a mut SmallRng,
}

/// What every frame of a clip run shares.
struct ClipRun<'a> {
    sam: &'a Sam2Base,
    prompts: &'a ObjectPrompts,
    /// Keep the logits before object-score gating in the decoder steps.
    ungated: bool,
    frames: usize,
    device: Device,
}

/// One frame's features for the heads, its objects as the batch.
struct FrameFeatures {
    /// The top level before memory conditioning, `[n, C, H, W]` (for the memory encoder).
    top: Tensor<4>,
    /// The top level conditioned on the memory bank, `[n, C, H, W]`.
    pix_feat: Tensor<4>,
    /// The two high-resolution levels, if the model uses them.
    high_res: Option<(Tensor<4>, Tensor<4>)>,
}

/// A frame's last decoder output and every decoder step of it.
struct DecodedFrame {
    out: SamHeadsOutput,
    steps: Vec<DecoderStep>,
}

/// Runs the objects of a clip: frame 0 prompted (conditioning memory, then the correction
/// rounds), the other frames tracked with the memory bank. `features` has the clip's frames
/// as its batch. `ungated` keeps the logits before object-score gating in the decoder steps.
pub fn clip_forward(
    sam: &Sam2Base,
    features: &BackboneFeatures,
    prompts: &ObjectPrompts,
    ungated: bool,
    mut corrections: Option<Corrections<'_>>,
) -> Result<ClipOutput> {
    let n = prompts.len();
    if n == 0 {
        return Err(SssError::InvalidInput(
            "a clip needs at least one object".into(),
        ));
    }
    let frames = features.vision_feats[0].dims()[0];
    let run = ClipRun {
        sam,
        prompts,
        ungated,
        frames,
        device: features.vision_feats[0].device(),
    };
    let mut bank = MemoryBank::default();
    let mut steps = Vec::with_capacity(frames);
    let mut masks = Vec::with_capacity(frames);
    let mut scores = Vec::with_capacity(frames);
    for f in 0..frames {
        let first = f == 0;
        // Step 1: the frame's features, one copy per object, conditioned on the memory bank.
        let feats = run.frame_features(features, f, &bank)?;
        // Step 2: the decoder, prompted on the first frame (then the correction rounds),
        // from the memory alone on the others.
        let decoded = run.decode_frame(&feats, first, corrections.as_mut().filter(|_| first))?;
        let out = decoded.out;
        // Step 3: the frame's memory (not needed after the last frame).
        let (maskmem_features, maskmem_pos_enc) = if f + 1 < frames && sam.config().num_maskmem > 0
        {
            let (feat, pos) = sam.encode_new_memory(
                feats.top,
                out.high_res_masks.clone(),
                out.object_score_logits.clone(),
                first,
            );
            (Some(feat), Some(pos))
        } else {
            (None, None)
        };
        // Step 4: the outputs, [n, 1, h, w] -> [1, n, h, w] and [n, 1] -> [1, n].
        let [_, _, h, w] = out.low_res_masks.dims();
        masks.push(out.low_res_masks.clone().reshape([1, n, h, w]));
        scores.push(out.object_score_logits.clone().reshape([1, n]));
        steps.push(decoded.steps);
        // Step 5: into the memory bank, as a conditioning frame or a tracked one.
        let entry = FrameOutput {
            iou: out.chosen_iou(),
            pred_masks: out.low_res_masks,
            pred_masks_high_res: out.high_res_masks,
            obj_ptr: out.obj_ptr,
            object_score_logits: out.object_score_logits,
            maskmem_features,
            maskmem_pos_enc,
        };
        if first {
            bank.cond_frame_outputs.insert(f, entry);
        } else {
            bank.non_cond_frame_outputs.insert(f, entry);
        }
    }
    // [1, n, h, w] per frame -> [frames, n, h, w]; [1, n] -> [frames, n]
    Ok(ClipOutput {
        steps,
        mask_logits: Tensor::cat(masks, 0),
        object_scores: Tensor::cat(scores, 0),
    })
}

impl ClipRun<'_> {
    /// Frame `f`'s features repeated for the objects (`[frames, C, H, W]` ->
    /// `[n, C, H, W]` per level), the top level conditioned on the memory bank.
    fn frame_features(
        &self,
        features: &BackboneFeatures,
        f: usize,
        bank: &MemoryBank,
    ) -> Result<FrameFeatures> {
        let feats = select_slice(features, f).expand_batch(self.prompts.len());
        let top = feats.top().clone();
        let high_res = feats.high_res();
        let pix_feat = self
            .sam
            .prepare_memory_conditioned_features(MemoryConditioningInput {
                frame_idx: f,
                is_init_cond_frame: f == 0,
                current_vision_feat: top.clone(),
                current_vision_pos_embed: feats
                    .vision_pos_embeds
                    .last()
                    .expect("position encodings")
                    .clone(),
                bank,
                num_frames: self.frames,
                track_in_reverse: false,
            })?;
        Ok(FrameFeatures {
            top,
            pix_feat,
            high_res,
        })
    }

    /// The decoder on one frame: with the prompts on the first frame, then each correction
    /// round (a click per object from the last prediction's errors, the last low-resolution
    /// logits as the mask prompt); without prompts on the others.
    fn decode_frame(
        &self,
        feats: &FrameFeatures,
        first: bool,
        corrections: Option<&mut Corrections<'_>>,
    ) -> Result<DecodedFrame> {
        let sam = self.sam;
        let mut frame_prompts = self.prompts.clone();
        let points = first.then(|| frame_prompts.to_point_prompt(&self.device));
        let num_points = if first {
            frame_prompts.points_per_object()
        } else {
            0
        };
        let mut out = sam.forward_sam_heads(
            feats.pix_feat.clone(),
            points.as_ref(),
            None,
            feats.high_res.clone(),
            sam.use_multimask(first, num_points),
        );
        let mut steps = vec![self.decoder_step(&out)];
        if let Some(c) = corrections {
            for _ in 0..c.rounds {
                correction_clicks(&out, c, &mut frame_prompts, sam.config().image_size)?;
                let points = frame_prompts.to_point_prompt(&self.device);
                let k = frame_prompts.points_per_object();
                out = sam.forward_sam_heads(
                    feats.pix_feat.clone(),
                    Some(&points),
                    Some(out.low_res_masks.clone()),
                    feats.high_res.clone(),
                    sam.use_multimask(true, k),
                );
                steps.push(self.decoder_step(&out));
            }
        }
        Ok(DecodedFrame { out, steps })
    }

    /// A decoder call's outputs as the loss reads them.
    fn decoder_step(&self, o: &SamHeadsOutput) -> DecoderStep {
        DecoderStep {
            multimasks: if self.ungated {
                o.ungated_low_res_multimasks.clone()
            } else {
                o.low_res_multimasks.clone()
            },
            ious: o.ious.clone(),
            object_scores: o.object_score_logits.clone(),
        }
    }
}

/// One correction click per object, added to its prompts: from the errors of the prediction
/// in `out` (its high-resolution masks `[n, 1, size, size]` read back and thresholded at 0).
fn correction_clicks(
    out: &SamHeadsOutput,
    c: &mut Corrections<'_>,
    prompts: &mut ObjectPrompts,
    size: usize,
) -> Result<()> {
    let pred = out
        .high_res_masks
        .clone()
        .detach()
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| SssError::Device(format!("reading a mask back ({e:?})")))?;
    let pred: Vec<bool> = pred.into_iter().map(|v| v > 0.0).collect();
    let plane = size * size;
    for (o, object) in prompts.points.iter_mut().enumerate() {
        let click = correction_click(
            &pred[o * plane..(o + 1) * plane],
            &c.targets[o],
            c.valid,
            size,
            c.from_gt_prob,
            c.rng,
        );
        object.push(click);
    }
    Ok(())
}

/// `[n, 1, h, w]` float tensor of per-object masks.
pub fn mask_tensor(
    values: Vec<f32>,
    n: usize,
    hw: [usize; 2],
    device: &burn::tensor::Device,
) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, [n, 1, hw[0], hw[1]]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn clips_run_from_the_slice_either_way_and_turn_at_the_ends() {
        assert_eq!(clip_slices(2, 10, 4, false), vec![2, 3, 4, 5]);
        assert_eq!(clip_slices(2, 10, 4, true), vec![2, 1, 0]);
        assert_eq!(clip_slices(9, 10, 4, false), vec![9, 8, 7, 6]);
        assert_eq!(clip_slices(0, 10, 2, true), vec![0, 1]);
        assert_eq!(clip_slices(0, 1, 8, false), vec![0]);
    }

    #[test]
    fn step_rngs_depend_only_on_seed_step_and_stream() {
        let draw = |seed, step, stream| step_rng(seed, step, stream).random::<u64>();
        assert_eq!(draw(1, 5, 1), draw(1, 5, 1));
        assert_ne!(draw(1, 5, 1), draw(1, 6, 1));
        assert_ne!(draw(1, 5, 1), draw(2, 5, 1));
        assert_ne!(draw(1, 5, 1), draw(1, 5, 2));
    }

    #[test]
    fn downsampling_takes_the_pixel_under_each_centre() {
        let labels: Vec<u8> = (0..16).collect();
        assert_eq!(downsample_labels(&labels, 4, 2), vec![5, 7, 13, 15]);
    }
}
