//! The volume predictor: the official video predictor's semantics (`sam2_video_predictor.py`)
//! over the slices of a volume. Prompts (points, a box, or a mask) for an object id can be
//! added on any slice; propagation runs forward and backward from the prompted slices with
//! the memory bank, giving a mask, an object score and the mask decoder's predicted IoU per
//! slice per object.
//!
//! As officially: prompted slices become conditioning memories (encoded from their low-res
//! masks before propagation), other slices are tracked with `track_step` and stored as
//! non-conditioning memories, memories are kept rounded to bfloat16 (a switch), and only the
//! features of the most recent slice are cached.
//!
//! Nothing is read back from the device; [`VolumePredictor::propagate_slice`] lets a caller
//! (the page) drive propagation one slice at a time and read results asynchronously.

use std::collections::BTreeMap;

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Int, Tensor, TensorData};

use crate::model::Sam2Base;
use crate::model::common::{Resample, resize};
use crate::model::prompt_encoder::PointPrompt;
use crate::model::sam2_base::{
    BackboneFeatures, FrameOutput, MemoryBank, TrackStepInput, round_to_bf16,
};
use crate::{Result, SssError};

/// Where the predictor gets the model input of each slice.
pub trait SliceSource {
    /// Number of slices.
    fn num_slices(&self) -> usize;
    /// Size (h, w) of the original slices; prompts are given in these pixel coordinates.
    fn slice_size(&self) -> [usize; 2];
    /// The normalised model input `[1, 3, S, S]` of slice `z`.
    fn model_input(&self, z: usize) -> Result<Tensor<4>>;
}

/// Slices already turned into model inputs.
pub struct PreparedSlices {
    pub inputs: Vec<Tensor<4>>,
    pub slice_size: [usize; 2],
}

impl SliceSource for PreparedSlices {
    fn num_slices(&self) -> usize {
        self.inputs.len()
    }
    fn slice_size(&self) -> [usize; 2] {
        self.slice_size
    }
    fn model_input(&self, z: usize) -> Result<Tensor<4>> {
        self.inputs
            .get(z)
            .cloned()
            .ok_or_else(|| SssError::InvalidInput(format!("no slice {z}")))
    }
}

/// Options of the video predictor that are not model flags.
#[derive(Clone, Copy, Debug)]
pub struct VolumePredictorOptions {
    /// Store memories rounded to bfloat16, as the official predictor does.
    pub store_memory_bf16: bool,
    /// `add_all_frames_to_correct_as_cond`: corrections on tracked slices become
    /// conditioning memories.
    pub add_all_frames_to_correct_as_cond: bool,
}

impl Default for VolumePredictorOptions {
    fn default() -> Self {
        Self {
            store_memory_bf16: true,
            add_all_frames_to_correct_as_cond: false,
        }
    }
}

/// One object's mask on one slice.
#[derive(Clone, Debug)]
pub struct ObjectMask {
    pub obj_id: u32,
    /// Low-resolution mask logits `[1, 1, 4h, 4w]` (`pred_masks`).
    pub low_res_logits: Tensor<4>,
    /// Object score logit `[1, 1]`.
    pub object_score_logits: Tensor<2>,
    /// The mask decoder's predicted IoU of this mask `[1, 1]` (of the mask chosen, the highest,
    /// when it gave several; 1 for a mask prompt taken as the output without the decoder).
    pub iou: Tensor<2>,
}

/// The result of a slice: every object's mask.
#[derive(Clone, Debug)]
pub struct SliceOutput {
    pub slice: usize,
    pub objects: Vec<ObjectMask>,
}

impl SliceOutput {
    /// All objects' logits at the original slice size `[N, 1, h, w]` (bilinear, as
    /// `_get_orig_video_res_output`).
    pub fn masks_at(&self, hw: [usize; 2]) -> Tensor<4> {
        let logits: Vec<Tensor<4>> = self
            .objects
            .iter()
            .map(|o| o.low_res_logits.clone())
            .collect();
        interpolate(
            Tensor::cat(logits, 0),
            InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_output_size(hw)
                .with_align_corners(false),
        )
    }
}

#[derive(Default)]
struct ObjectState {
    obj_id: u32,
    point_inputs: BTreeMap<usize, PointPrompt>,
    mask_inputs: BTreeMap<usize, Tensor<4>>,
    bank: MemoryBank,
    temp: MemoryBank,
    /// Tracked slices and whether they were tracked in reverse.
    frames_tracked: BTreeMap<usize, bool>,
}

/// The volume (video) predictor.
pub struct VolumePredictor<S: SliceSource> {
    model: Sam2Base,
    source: S,
    options: VolumePredictorOptions,
    objects: Vec<ObjectState>,
    cached: Option<(usize, BackboneFeatures)>,
    maskmem_pos_enc: Option<Tensor<4>>,
}

/// One `_run_single_frame_inference` call: the slice, whether it starts the object, its
/// prompt (points or a mask), the direction, and the previous logits fed back with a
/// correction click.
struct SingleFrame<'a> {
    z: usize,
    is_init_cond_frame: bool,
    point_inputs: Option<&'a PointPrompt>,
    mask_inputs: Option<Tensor<4>>,
    reverse: bool,
    run_mem_encoder: bool,
    prev_sam_mask_logits: Option<Tensor<4>>,
}

impl SingleFrame<'_> {
    /// A slice tracked from memory, without a prompt (propagation).
    fn tracked(z: usize, reverse: bool) -> Self {
        Self {
            z,
            is_init_cond_frame: false,
            point_inputs: None,
            mask_inputs: None,
            reverse,
            run_mem_encoder: true,
            prev_sam_mask_logits: None,
        }
    }
}

/// Where a prompt on a slice goes: whether it starts the object, the direction the slice was
/// tracked in, and whether its output is stored as a conditioning frame.
struct PromptTarget {
    is_init_cond_frame: bool,
    reverse: bool,
    is_cond: bool,
}

impl<S: SliceSource> VolumePredictor<S> {
    pub fn new(model: Sam2Base, source: S, options: VolumePredictorOptions) -> Result<Self> {
        if source.num_slices() == 0 {
            return Err(SssError::InvalidInput("the volume has no slices".into()));
        }
        Ok(Self {
            model,
            source,
            options,
            objects: Vec::new(),
            cached: None,
            maskmem_pos_enc: None,
        })
    }

    pub fn model(&self) -> &Sam2Base {
        &self.model
    }

    pub fn num_slices(&self) -> usize {
        self.source.num_slices()
    }

    /// Object ids in the order they were added.
    pub fn obj_ids(&self) -> Vec<u32> {
        self.objects.iter().map(|o| o.obj_id).collect()
    }

    /// The stored output (memory-bank entry) of object `obj_id` on slice `z`, if any.
    pub fn frame_output(&self, obj_id: u32, z: usize) -> Option<&FrameOutput> {
        let state = self.objects.iter().find(|o| o.obj_id == obj_id)?;
        state
            .bank
            .cond_frame_outputs
            .get(&z)
            .or_else(|| state.bank.non_cond_frame_outputs.get(&z))
    }

    /// Removes every prompt, memory and object (`reset_state`).
    pub fn reset(&mut self) {
        self.objects.clear();
    }

    fn check_slice(&self, z: usize) -> Result<()> {
        if z >= self.num_slices() {
            return Err(SssError::InvalidInput(format!(
                "slice {z} is outside the volume (0..{})",
                self.num_slices()
            )));
        }
        Ok(())
    }

    fn object_index(&mut self, obj_id: u32) -> usize {
        match self.objects.iter().position(|o| o.obj_id == obj_id) {
            Some(i) => i,
            None => {
                self.objects.push(ObjectState {
                    obj_id,
                    ..Default::default()
                });
                self.objects.len() - 1
            }
        }
    }

    /// The features of slice `z` (`_get_image_feature`: only the last slice is cached).
    fn features(&mut self, z: usize) -> Result<BackboneFeatures> {
        if let Some((cz, f)) = &self.cached
            && *cz == z
        {
            return Ok(f.clone());
        }
        let input = self.source.model_input(z)?;
        let s = self.model.config().image_size;
        if input.dims() != [1, 3, s, s] {
            return Err(SssError::InvalidInput(format!(
                "slice {z}: model input must be [1, 3, {s}, {s}], got {:?}",
                input.dims()
            )));
        }
        let f = self.model.forward_image(input);
        self.cached = Some((z, f.clone()));
        Ok(f)
    }

    fn store_memory(&mut self, features: Tensor<4>, pos: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let features = if self.options.store_memory_bf16 {
            round_to_bf16(features)
        } else {
            features
        };
        let pos = self.maskmem_pos_enc.get_or_insert(pos).clone();
        (features, pos)
    }

    /// `_run_single_frame_inference` for one object.
    fn run_single_frame(&mut self, obj: usize, step: SingleFrame<'_>) -> Result<FrameOutput> {
        let SingleFrame {
            z,
            is_init_cond_frame,
            point_inputs,
            mask_inputs,
            reverse,
            run_mem_encoder,
            prev_sam_mask_logits,
        } = step;
        let features = self.features(z)?;
        let mut out = self.model.track_step(
            TrackStepInput {
                frame_idx: z,
                is_init_cond_frame,
                features: &features,
                point_inputs,
                mask_inputs,
                num_frames: self.num_slices(),
                track_in_reverse: reverse,
                run_mem_encoder,
                prev_sam_mask_logits,
            },
            &self.objects[obj].bank,
        )?;
        if let (Some(f), Some(p)) = (out.maskmem_features.take(), out.maskmem_pos_enc.take()) {
            let (f, p) = self.store_memory(f, p);
            out.maskmem_features = Some(f);
            out.maskmem_pos_enc = Some(p);
        }
        Ok(out)
    }

    /// How a prompt on slice `z` of object `obj` is run and stored.
    fn prompt_target(&self, obj: usize, z: usize) -> PromptTarget {
        let state = &self.objects[obj];
        let is_init_cond_frame = !state.frames_tracked.contains_key(&z);
        let reverse = if is_init_cond_frame {
            false
        } else {
            state.frames_tracked[&z]
        };
        PromptTarget {
            is_init_cond_frame,
            reverse,
            is_cond: is_init_cond_frame || self.options.add_all_frames_to_correct_as_cond,
        }
    }

    fn store_temp(&mut self, obj: usize, z: usize, is_cond: bool, out: FrameOutput) -> ObjectMask {
        let state = &mut self.objects[obj];
        let mask = ObjectMask {
            obj_id: state.obj_id,
            low_res_logits: out.pred_masks.clone(),
            object_score_logits: out.object_score_logits.clone(),
            iou: out.iou.clone(),
        };
        let target = if is_cond {
            &mut state.temp.cond_frame_outputs
        } else {
            &mut state.temp.non_cond_frame_outputs
        };
        target.insert(z, out);
        mask
    }

    /// `add_new_points_or_box`: points (x, y) in slice pixels with labels 1/0, and/or a box
    /// (x0, y0, x1, y1), for object `obj_id` on slice `z`. Returns the object's mask there.
    pub fn add_points_or_box(
        &mut self,
        z: usize,
        obj_id: u32,
        points: &[[f32; 2]],
        labels: &[i32],
        box_xyxy: Option<[f32; 4]>,
        clear_old_points: bool,
    ) -> Result<ObjectMask> {
        self.check_slice(z)?;
        if points.len() != labels.len() {
            return Err(SssError::InvalidInput(format!(
                "{} points but {} labels",
                points.len(),
                labels.len()
            )));
        }
        if points.is_empty() && box_xyxy.is_none() {
            return Err(SssError::InvalidInput(
                "at least one of points or box must be given".into(),
            ));
        }
        if box_xyxy.is_some() && !clear_old_points {
            return Err(SssError::InvalidInput(
                "a box must come before any point prompt: use clear_old_points".into(),
            ));
        }
        let device = self.model.device();
        let s = self.model.config().image_size as f32;
        let [h, w] = self.source.slice_size();
        let (sx, sy) = (s / w as f32, s / h as f32);
        let mut coords = Vec::new();
        let mut labs: Vec<i64> = Vec::new();
        if let Some([x0, y0, x1, y1]) = box_xyxy {
            coords.extend([x0 * sx, y0 * sy, x1 * sx, y1 * sy]);
            labs.extend([2, 3]);
        }
        for (p, &l) in points.iter().zip(labels) {
            coords.extend([p[0] * sx, p[1] * sy]);
            labs.push(l as i64);
        }
        let n = labs.len();
        let mut prompt = PointPrompt {
            coords: Tensor::from_data(TensorData::new(coords, [1, n, 2]), &device),
            labels: Tensor::<2, Int>::from_data(TensorData::new(labs, [1, n]), &device),
        };
        let obj = self.object_index(obj_id);
        if !clear_old_points && let Some(old) = self.objects[obj].point_inputs.get(&z) {
            prompt = PointPrompt {
                coords: Tensor::cat(vec![old.coords.clone(), prompt.coords], 1),
                labels: Tensor::cat(vec![old.labels.clone(), prompt.labels], 1),
            };
        }
        self.objects[obj].point_inputs.insert(z, prompt.clone());
        self.objects[obj].mask_inputs.remove(&z);
        let target = self.prompt_target(obj, z);
        let state = &self.objects[obj];
        let temp = if target.is_cond {
            &state.temp.cond_frame_outputs
        } else {
            &state.temp.non_cond_frame_outputs
        };
        let prev = temp
            .get(&z)
            .or_else(|| state.bank.cond_frame_outputs.get(&z))
            .or_else(|| state.bank.non_cond_frame_outputs.get(&z))
            .map(|o| o.pred_masks.clone().clamp(-32.0, 32.0));
        let out = self.run_single_frame(
            obj,
            SingleFrame {
                z,
                is_init_cond_frame: target.is_init_cond_frame,
                point_inputs: Some(&prompt),
                mask_inputs: None,
                reverse: target.reverse,
                run_mem_encoder: false,
                prev_sam_mask_logits: prev,
            },
        )?;
        Ok(self.store_temp(obj, z, target.is_cond, out))
    }

    /// `add_new_mask`: a binary mask `[h, w]` (slice size, row-major, true = object) for
    /// object `obj_id` on slice `z`. An empty mask says the object is absent there.
    pub fn add_mask(&mut self, z: usize, obj_id: u32, mask: &[bool]) -> Result<ObjectMask> {
        self.check_slice(z)?;
        let [h, w] = self.source.slice_size();
        if mask.len() != h * w {
            return Err(SssError::InvalidInput(format!(
                "a mask of slice size {h}×{w} needs {} values, got {}",
                h * w,
                mask.len()
            )));
        }
        let device = self.model.device();
        let s = self.model.config().image_size;
        let values: Vec<f32> = mask.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect();
        let m: Tensor<4> = Tensor::from_data(TensorData::new(values, [1, 1, h, w]), &device);
        let mask_inputs = if [h, w] != [s, s] {
            resize(m, [s, s], Resample::BilinearAntialias)
                .greater_equal_elem(0.5)
                .float()
        } else {
            m
        };
        let obj = self.object_index(obj_id);
        self.objects[obj].mask_inputs.insert(z, mask_inputs.clone());
        self.objects[obj].point_inputs.remove(&z);
        let target = self.prompt_target(obj, z);
        let out = self.run_single_frame(
            obj,
            SingleFrame {
                z,
                is_init_cond_frame: target.is_init_cond_frame,
                point_inputs: None,
                mask_inputs: Some(mask_inputs),
                reverse: target.reverse,
                run_mem_encoder: false,
                prev_sam_mask_logits: None,
            },
        )?;
        Ok(self.store_temp(obj, z, target.is_cond, out))
    }

    /// `propagate_in_video_preflight`: encodes the memories of newly prompted slices and
    /// moves them into the memory bank. Called by the propagation methods; idempotent.
    pub fn preflight(&mut self) -> Result<()> {
        if self.objects.is_empty() {
            return Err(SssError::InvalidInput(
                "no prompt yet: add points, a box or a mask first".into(),
            ));
        }
        let s = self.model.config().image_size;
        for obj in 0..self.objects.len() {
            for is_cond in [false, true] {
                let temp = {
                    let t = &mut self.objects[obj].temp;
                    std::mem::take(if is_cond {
                        &mut t.cond_frame_outputs
                    } else {
                        &mut t.non_cond_frame_outputs
                    })
                };
                for (z, mut out) in temp {
                    if out.maskmem_features.is_none() {
                        let high_res = interpolate(
                            out.pred_masks.clone(),
                            InterpolateOptions::new(InterpolateMode::Bilinear)
                                .with_output_size([s, s])
                                .with_align_corners(false),
                        );
                        let features = self.features(z)?;
                        let (f, p) = self.model.encode_new_memory(
                            features.top().clone(),
                            high_res,
                            out.object_score_logits.clone(),
                            true,
                        );
                        let (f, p) = self.store_memory(f, p);
                        out.maskmem_features = Some(f);
                        out.maskmem_pos_enc = Some(p);
                    }
                    let bank = &mut self.objects[obj].bank;
                    if is_cond {
                        bank.cond_frame_outputs.insert(z, out);
                    } else {
                        bank.non_cond_frame_outputs.insert(z, out);
                    }
                }
            }
            let state = &mut self.objects[obj];
            if state.bank.cond_frame_outputs.is_empty() {
                return Err(SssError::InvalidInput(format!(
                    "object {} has no prompt on any slice",
                    state.obj_id
                )));
            }
            let cond: Vec<usize> = state.bank.cond_frame_outputs.keys().copied().collect();
            for z in cond {
                state.bank.non_cond_frame_outputs.remove(&z);
            }
        }
        Ok(())
    }

    /// The slices `propagate` visits, in order (`propagate_in_video`'s processing order).
    pub fn propagation_order(
        &self,
        start: Option<usize>,
        max_slices: Option<usize>,
        reverse: bool,
    ) -> Result<Vec<usize>> {
        let start = match start {
            Some(s) => {
                self.check_slice(s)?;
                s
            }
            None => self
                .objects
                .iter()
                .flat_map(|o| {
                    o.bank
                        .cond_frame_outputs
                        .keys()
                        .chain(o.temp.cond_frame_outputs.keys())
                })
                .copied()
                .min()
                .ok_or_else(|| SssError::InvalidInput("no prompted slice".into()))?,
        };
        let n = self.num_slices();
        let max = max_slices.unwrap_or(n);
        Ok(if reverse {
            let end = start.saturating_sub(max);
            if start > 0 {
                (end..=start).rev().collect()
            } else {
                Vec::new()
            }
        } else {
            let end = (start + max).min(n - 1);
            (start..=end).collect()
        })
    }

    /// Tracks (or returns the stored result of) every object on slice `z`. Call
    /// [`Self::preflight`] first and visit slices in a [`Self::propagation_order`].
    pub fn propagate_slice(&mut self, z: usize, reverse: bool) -> Result<SliceOutput> {
        self.check_slice(z)?;
        let mut objects = Vec::with_capacity(self.objects.len());
        for obj in 0..self.objects.len() {
            let stored = self.objects[obj].bank.cond_frame_outputs.get(&z).cloned();
            let out = match stored {
                Some(out) => out,
                None => {
                    let out = self.run_single_frame(obj, SingleFrame::tracked(z, reverse))?;
                    self.objects[obj]
                        .bank
                        .non_cond_frame_outputs
                        .insert(z, out.clone());
                    out
                }
            };
            let state = &mut self.objects[obj];
            state.frames_tracked.insert(z, reverse);
            objects.push(ObjectMask {
                obj_id: state.obj_id,
                low_res_logits: out.pred_masks,
                object_score_logits: out.object_score_logits,
                iou: out.iou,
            });
        }
        Ok(SliceOutput { slice: z, objects })
    }

    /// `propagate_in_video`: preflight, then every slice in order from `start` (default: the
    /// first prompted slice), forward or in reverse, at most `max_slices` + 1 slices.
    pub fn propagate(
        &mut self,
        start: Option<usize>,
        max_slices: Option<usize>,
        reverse: bool,
    ) -> Result<Vec<SliceOutput>> {
        self.preflight()?;
        let order = self.propagation_order(start, max_slices, reverse)?;
        order
            .into_iter()
            .map(|z| self.propagate_slice(z, reverse))
            .collect()
    }

    /// Forward from the first prompted slice to the end, then backward to slice 0: the whole
    /// volume, one output per slice in slice order.
    pub fn propagate_both_ways(&mut self) -> Result<Vec<SliceOutput>> {
        let forward = self.propagate(None, None, false)?;
        let start = forward.first().map(|o| o.slice);
        let backward = self.propagate(start, None, true)?;
        let mut by_slice: BTreeMap<usize, SliceOutput> = BTreeMap::new();
        for out in forward.into_iter().chain(backward) {
            by_slice.entry(out.slice).or_insert(out);
        }
        Ok(by_slice.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sam2Config;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn propagates_forward_and_backward_with_official_order() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 129, || {
            let device = Device::flex();
            let model = Sam2Base::new(&Sam2Config::micro(), &device).unwrap();
            let inputs = (0..4)
                .map(|_| {
                    Tensor::<4>::random([1, 3, 256, 256], Distribution::Normal(0.0, 1.0), &device)
                })
                .collect();
            let source = PreparedSlices {
                inputs,
                slice_size: [128, 128],
            };
            let mut p =
                VolumePredictor::new(model, source, VolumePredictorOptions::default()).unwrap();
            assert!(p.propagate(None, None, false).is_err(), "no prompt yet");
            let m = p
                .add_points_or_box(1, 7, &[[60.0, 50.0]], &[1], None, true)
                .unwrap();
            assert_eq!(m.low_res_logits.dims(), [1, 1, 64, 64]);
            p.add_mask(1, 9, &vec![false; 128 * 128]).unwrap();
            assert_eq!(p.obj_ids(), vec![7, 9]);
            let fwd = p.propagate(None, None, false).unwrap();
            assert_eq!(
                fwd.iter().map(|o| o.slice).collect::<Vec<_>>(),
                vec![1, 2, 3]
            );
            let bwd = p.propagate(Some(1), None, true).unwrap();
            assert_eq!(bwd.iter().map(|o| o.slice).collect::<Vec<_>>(), vec![1, 0]);
            assert_eq!(bwd[1].masks_at([128, 128]).dims(), [2, 1, 128, 128]);
            assert!(
                p.add_points_or_box(9, 7, &[[1.0, 1.0]], &[1], None, true)
                    .is_err()
            );
        })
    }

    /// `tracked_memories = Some(0)`: a slice is tracked from the prompted slice's memory
    /// alone, so changing the slice between them leaves it unchanged; with every memory
    /// (official) it changes.
    #[test]
    fn tracked_memories_limit_what_tracking_attends_to() {
        let device = Device::flex();
        let (model, slices) = crate::backend::seeded(&device, 5, || {
            let model =
                crate::backend::materialised(Sam2Base::new(&Sam2Config::micro(), &device).unwrap());
            let slices: Vec<Tensor<4>> = (0..4)
                .map(|_| {
                    Tensor::<4>::random([1, 3, 256, 256], Distribution::Normal(0.0, 1.0), &device)
                })
                .collect();
            (model, slices)
        });
        let slice3 = |tracked: Option<usize>, changed: bool| -> Vec<f32> {
            let mut model = model.clone();
            model.set_tracked_memories(tracked);
            let mut inputs = slices.clone();
            if changed {
                inputs[2] = inputs[2].clone() * 0.5 + 1.0;
            }
            let source = PreparedSlices {
                inputs,
                slice_size: [128, 128],
            };
            let mut p =
                VolumePredictor::new(model, source, VolumePredictorOptions::default()).unwrap();
            p.add_points_or_box(
                1,
                1,
                &[[60.0, 50.0]],
                &[1],
                Some([40.0, 30.0, 80.0, 70.0]),
                true,
            )
            .unwrap();
            let out = p.propagate(None, None, false).unwrap();
            assert_eq!(out[2].slice, 3);
            // The object score too: a fresh model's object may be gated to "absent", whose
            // logits are the same constant whatever the memory.
            let object = &out[2].objects[0];
            let read = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
            let mut v = read(object.low_res_logits.clone());
            v.extend(read(object.object_score_logits.clone().unsqueeze::<4>()));
            v
        };
        let diff = |a: &[f32], b: &[f32]| {
            assert_eq!(a.len(), b.len());
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max)
        };
        let (own, own_changed) = (slice3(Some(0), false), slice3(Some(0), true));
        assert_eq!(diff(&own, &own_changed), 0.0, "slice 2 must not matter");
        let (all, all_changed) = (slice3(None, false), slice3(None, true));
        assert!(
            diff(&all, &all_changed) > 1e-4,
            "with every memory slice 2 matters"
        );
    }
}
