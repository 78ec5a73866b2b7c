//! The SSS volume pipeline, as evaluation, `sss segment` and the page run it: every slice
//! through the image encoder and the coarse head → PCSW prompts per class on the coarse
//! probabilities of the whole volume → one SAM-2 object per class, prompted with its PCSW box
//! and box-centre point, propagated through the volume with memory ([`VolumePredictor`]) →
//! label = the class with the highest mask logit above 0, else background.
//!
//! Slices are resized to the model's image size and the results back to the slice size, so
//! the label map has the input's geometry. The steps are public so that a caller can stop
//! after the prompts, correct them and propagate again ([`SssSegmenter::prepare`],
//! [`SssSegmenter::coarse`], [`SssSegmenter::auto_prompts`], [`SssSegmenter::propagate`]).
//! Every step that reads the device has a blocking form (native) and an `_async` form (the
//! page: WebGPU can only be read back asynchronously); both share everything but the read.

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData, activation};
use serde::Serialize;

use crate::data::intensity::IntensityRule;
use crate::model::common::{Resample, resize};
use crate::model::sss::SssNet;
use crate::predictor::image::{IMG_MEAN, IMG_STD, ImagePredictor, ImagePrompt};
use crate::predictor::volume::{PreparedSlices, VolumePredictor, VolumePredictorOptions};
use crate::prompt::pcsw::{ClassPrompt, PcswConfig, pcsw_prompts_from_probabilities};
use crate::weights::{self, Manifest, ModelSpec};
use crate::{Result, SssError, Volume};

/// Slices encoded per batch.
const ENCODE_BATCH: usize = 4;

/// How far the pipeline goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegmentMode {
    /// Coarse head → PCSW → SAM-2 propagation.
    Full,
    /// The coarse head's argmax alone.
    CoarseOnly,
}

/// A volume turned into model inputs, kept between prompt corrections.
#[derive(Clone, Debug)]
pub struct PreparedVolume {
    /// `[1, 3, S, S]` per slice.
    pub inputs: Vec<Tensor<4>>,
    /// `[nx, ny, nz]` of the scan.
    pub dims: [usize; 3],
}

impl PreparedVolume {
    /// `[h, w]` of a slice.
    pub fn hw(&self) -> [usize; 2] {
        [self.dims[1], self.dims[0]]
    }
    fn voxels(&self) -> usize {
        self.dims.iter().product()
    }
}

/// The coarse head's output over a volume.
#[derive(Clone, Debug)]
pub struct CoarseOutput {
    /// Softmax probabilities `[class][z][y][x]` at the slice size.
    pub probabilities: Vec<f32>,
    /// Argmax label map, x fastest.
    pub labels: Vec<u8>,
}

/// A segmented volume.
#[derive(Clone, Debug)]
pub struct SssSegmentation {
    /// The label map in the input's geometry.
    pub labels: Volume<u8>,
    /// The coarse head's label map.
    pub coarse: Volume<u8>,
    /// The PCSW prompt of every foreground class (empty ones included, flagged).
    pub prompts: Vec<ClassPrompt>,
}

/// SSS weights ready to segment volumes.
pub struct SssSegmenter {
    net: SssNet,
    rule: IntensityRule,
    pcsw: PcswConfig,
    device: Device,
}

/// The normalised model input `[1, 3, S, S]` of a channel-major `[3][h][w]` slice in [0, 1].
pub fn model_input(channels: &[f32], hw: [usize; 2], size: usize, device: &Device) -> Tensor<4> {
    let [h, w] = hw;
    let x: Tensor<4> = Tensor::from_data(TensorData::new(channels.to_vec(), [1, 3, h, w]), device);
    let x = if hw == [size, size] {
        x
    } else {
        resize(x, [size, size], Resample::BilinearAntialias)
    };
    normalise(x)
}

/// SAM-2's mean/std normalisation of `[B, 3, H, W]` values in [0, 1].
pub fn normalise(x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let mean: Tensor<4> =
        Tensor::from_data(TensorData::new(IMG_MEAN.to_vec(), [1, 3, 1, 1]), &device);
    let std: Tensor<4> =
        Tensor::from_data(TensorData::new(IMG_STD.to_vec(), [1, 3, 1, 1]), &device);
    (x - mean) / std
}

impl SssSegmenter {
    /// Loads exported or run weights through the shared loader ([`weights::load_sss`]).
    pub fn load(manifest: &Manifest, weights: Vec<u8>, device: &Device) -> Result<Self> {
        let net = weights::load_sss(manifest, weights, device)?;
        let (ModelSpec::Sss { pcsw, .. }, weights::IntensityRule::Channels { rule }) =
            (&manifest.model, &manifest.intensity)
        else {
            return Err(SssError::Weights("not SSS weights".into()));
        };
        Ok(Self::from_parts(net, *rule, *pcsw, device))
    }

    /// Wraps an in-memory network (training, tests).
    pub fn from_parts(net: SssNet, rule: IntensityRule, pcsw: PcswConfig, device: &Device) -> Self {
        Self {
            net,
            rule,
            pcsw,
            device: device.clone(),
        }
    }

    pub fn net(&self) -> &SssNet {
        &self.net
    }

    /// Overrides the weights' [`crate::model::Sam2Config::tracked_memories`] (evaluation).
    pub fn set_tracked_memories(&mut self, tracked: Option<usize>) {
        self.net.sam.set_tracked_memories(tracked);
    }

    /// The PCSW settings of these weights.
    pub fn pcsw_config(&self) -> &PcswConfig {
        &self.pcsw
    }

    /// Replaces the PCSW settings (e.g. the point rule, to compare prompt forms).
    pub fn set_pcsw_config(&mut self, pcsw: PcswConfig) {
        self.pcsw = pcsw;
    }

    fn image_size(&self) -> usize {
        self.net.sam.config().image_size
    }

    /// Output classes, background included.
    pub fn num_classes(&self) -> usize {
        self.net.coarse_head.classifier.weight.dims()[0]
    }

    /// The model input of every slice of `volume` (intensity rule, resize, normalisation).
    pub fn prepare(&self, volume: &Volume<f32>) -> Result<PreparedVolume> {
        let map = self.rule.fit(&volume.data)?;
        let [nx, ny, nz] = volume.dims;
        let size = self.image_size();
        let inputs = (0..nz)
            .map(|z| {
                model_input(
                    &map.map_slice(volume.slice(z)),
                    [ny, nx],
                    size,
                    &self.device,
                )
            })
            .collect();
        Ok(PreparedVolume {
            inputs,
            dims: volume.dims,
        })
    }

    /// Coarse softmax probabilities of every batch of slices `[b, K, h, w]`, on the device.
    fn coarse_tensors(&self, prepared: &PreparedVolume) -> Vec<Tensor<4>> {
        prepared
            .inputs
            .chunks(ENCODE_BATCH)
            .map(|chunk| {
                let logits = self
                    .net
                    .encode(Tensor::cat(chunk.to_vec(), 0))
                    .coarse_logits;
                interpolate(
                    activation::softmax(logits, 1),
                    InterpolateOptions::new(InterpolateMode::Bilinear)
                        .with_output_size(prepared.hw())
                        .with_align_corners(false),
                )
            })
            .collect()
    }

    /// Lays the batches read back (`[b][K][h][w]` each) out as [`CoarseOutput`].
    fn coarse_output(&self, prepared: &PreparedVolume, batches: Vec<Vec<f32>>) -> CoarseOutput {
        let k = self.num_classes();
        let nz = prepared.inputs.len();
        let [h, w] = prepared.hw();
        let plane = h * w;
        let mut probabilities = vec![0f32; k * nz * plane];
        for (batch_index, values) in batches.iter().enumerate() {
            for (i, slice) in values.chunks(k * plane).enumerate() {
                let z = batch_index * ENCODE_BATCH + i;
                for c in 0..k {
                    probabilities[(c * nz + z) * plane..(c * nz + z + 1) * plane]
                        .copy_from_slice(&slice[c * plane..(c + 1) * plane]);
                }
            }
        }
        let v = prepared.voxels();
        let labels = (0..v)
            .map(|i| {
                (0..k)
                    .max_by(|&a, &b| probabilities[a * v + i].total_cmp(&probabilities[b * v + i]))
                    .unwrap_or(0) as u8
            })
            .collect();
        CoarseOutput {
            probabilities,
            labels,
        }
    }

    /// The coarse head over the volume (blocking read-back).
    pub fn coarse(&self, prepared: &PreparedVolume) -> Result<CoarseOutput> {
        let batches = self
            .coarse_tensors(prepared)
            .into_iter()
            .map(read_back)
            .collect::<Result<_>>()?;
        Ok(self.coarse_output(prepared, batches))
    }

    /// The coarse head over the volume (asynchronous read-back, for WebGPU).
    pub async fn coarse_async(&self, prepared: &PreparedVolume) -> Result<CoarseOutput> {
        let mut batches = Vec::new();
        for t in self.coarse_tensors(prepared) {
            batches.push(read_back_async(t).await?);
        }
        Ok(self.coarse_output(prepared, batches))
    }

    /// PCSW's prompt for every foreground class (empty ones included, flagged).
    pub fn auto_prompts(
        &self,
        coarse: &CoarseOutput,
        dims: [usize; 3],
    ) -> Result<Vec<ClassPrompt>> {
        let classes: Vec<u8> = (1..self.num_classes() as u8).collect();
        pcsw_prompts_from_probabilities(&coarse.probabilities, dims, &classes, &self.pcsw)
    }

    /// Refuses prompts that do not fit the volume or the model's classes, naming the problem.
    pub fn check_prompts(&self, prompts: &[ClassPrompt], dims: [usize; 3]) -> Result<()> {
        let [nx, ny, nz] = dims;
        let k = self.num_classes();
        for (i, p) in prompts.iter().enumerate() {
            let c = p.class as usize;
            if c == 0 || c >= k {
                return Err(SssError::InvalidInput(format!(
                    "prompt {i}: class {c} is not a foreground class of these weights (1..{})",
                    k - 1
                )));
            }
            if prompts[..i].iter().any(|q| q.class == p.class) {
                return Err(SssError::InvalidInput(format!(
                    "prompt {i}: class {c} is prompted twice; give one prompt per class"
                )));
            }
            if p.prompt.is_empty() {
                continue;
            }
            if p.prompt.slice >= nz {
                return Err(SssError::InvalidInput(format!(
                    "prompt {i} (class {c}): slice {} does not exist; the scan has {nz} slices",
                    p.prompt.slice
                )));
            }
            let [x0, y0, x1, y1] = p.prompt.box_xyxy;
            let [px, py] = p.prompt.point;
            let inside = |x: f32, y: f32| {
                x.is_finite()
                    && y.is_finite()
                    && x >= 0.0
                    && y >= 0.0
                    && x <= (nx - 1) as f32
                    && y <= (ny - 1) as f32
            };
            if !(inside(x0, y0) && inside(x1, y1) && x0 <= x1 && y0 <= y1) {
                return Err(SssError::InvalidInput(format!(
                    "prompt {i} (class {c}): box {:?} is not [x_min, y_min, x_max, y_max] \
                     inside the {nx}×{ny} slice",
                    p.prompt.box_xyxy
                )));
            }
            if !inside(px, py) {
                return Err(SssError::InvalidInput(format!(
                    "prompt {i} (class {c}): point {:?} is outside the {nx}×{ny} slice",
                    p.prompt.point
                )));
            }
        }
        Ok(())
    }

    /// Segments a volume (blocking), with PCSW prompts from the coarse head.
    pub fn segment(&self, volume: &Volume<f32>, mode: SegmentMode) -> Result<SssSegmentation> {
        let prepared = self.prepare(volume)?;
        let coarse = self.coarse(&prepared)?;
        let prompts = self.auto_prompts(&coarse, volume.dims)?;
        let labels = match mode {
            SegmentMode::CoarseOnly => coarse.labels.clone(),
            SegmentMode::Full => self.propagate(&prepared, &prompts)?,
        };
        Ok(SssSegmentation {
            labels: volume.with_data(labels)?,
            coarse: volume.with_data(coarse.labels)?,
            prompts,
        })
    }

    /// Starts a volume predictor with one SAM-2 object per non-empty prompt (its class as the
    /// object id); `None` without any. [`Self::propagate`] runs it; diagnostics read its
    /// objects one by one.
    pub fn prompted_predictor(
        &self,
        prepared: &PreparedVolume,
        prompts: &[ClassPrompt],
    ) -> Result<Option<VolumePredictor<PreparedSlices>>> {
        self.check_prompts(prompts, prepared.dims)?;
        let active: Vec<&ClassPrompt> = prompts.iter().filter(|p| !p.prompt.is_empty()).collect();
        if active.is_empty() {
            return Ok(None);
        }
        let source = PreparedSlices {
            inputs: prepared.inputs.clone(),
            slice_size: prepared.hw(),
        };
        let mut predictor = VolumePredictor::new(
            self.net.sam.clone(),
            source,
            VolumePredictorOptions::default(),
        )?;
        for p in active {
            predictor.add_points_or_box(
                p.prompt.slice,
                u32::from(p.class),
                &[p.prompt.point],
                &[1],
                Some(p.prompt.box_xyxy),
                true,
            )?;
        }
        Ok(Some(predictor))
    }

    /// SAM-2 propagation of `prompts` (one object per non-empty class prompt) both ways
    /// through the volume; the label map, x fastest (blocking).
    pub fn propagate(&self, prepared: &PreparedVolume, prompts: &[ClassPrompt]) -> Result<Vec<u8>> {
        let mut labels = vec![0u8; prepared.voxels()];
        if let Some(mut predictor) = self.prompted_predictor(prepared, prompts)? {
            let class_of = classes_of(&predictor);
            for out in predictor.propagate_both_ways()? {
                let logits = read_back(out.masks_at(prepared.hw()))?;
                write_slice_labels(&mut labels, prepared.hw(), out.slice, &logits, &class_of);
            }
        }
        Ok(labels)
    }

    /// SAM-2 on each prompted slice alone, as an image predictor (no memory, no propagation):
    /// every prompt's slice gets its class from that prompt's single mask, the label map's
    /// other slices stay background. Several prompts may share a slice (one per class).
    /// `sss eval --gt-prompts-every-slice` scores the mask decoder this way, apart from
    /// memory propagation.
    pub fn prompted_slices(
        &self,
        prepared: &PreparedVolume,
        prompts: &[ClassPrompt],
    ) -> Result<Vec<u8>> {
        let mut labels = vec![0u8; prepared.voxels()];
        let mut predictor = ImagePredictor::new(self.net.sam.clone());
        let hw = prepared.hw();
        let mut slices: Vec<usize> = prompts.iter().map(|p| p.prompt.slice).collect();
        slices.sort_unstable();
        slices.dedup();
        for z in slices {
            let on_slice: Vec<ClassPrompt> = prompts
                .iter()
                .filter(|p| p.prompt.slice == z)
                .copied()
                .collect();
            self.check_prompts(&on_slice, prepared.dims)?;
            predictor.set_image(prepared.inputs[z].clone(), hw)?;
            let mut class_of = Vec::new();
            let mut logits = Vec::new();
            for p in on_slice.iter().filter(|p| !p.prompt.is_empty()) {
                let prompt = ImagePrompt {
                    points: vec![p.prompt.point],
                    labels: vec![1],
                    box_xyxy: Some(p.prompt.box_xyxy),
                    mask_input: None,
                };
                let out = predictor.predict(&prompt, false)?;
                logits.extend(read_back(out.masks)?);
                class_of.push(p.class);
            }
            write_slice_labels(&mut labels, hw, z, &logits, &class_of);
        }
        Ok(labels)
    }

    /// [`Self::propagate`] with asynchronous read-back, one slice at a time. After each slice,
    /// `on_slice` gets (slices done, slices in all, the slice, its labels `[y][x]`), then
    /// `pause()` is awaited (the page yields to its event loop there, so that a stop request
    /// can arrive even when the read-back is synchronous, as on the CPU), then `stop()` is
    /// asked whether to go on; when it says stop, the result is [`SssError::Stopped`].
    pub async fn propagate_async<P: std::future::Future<Output = ()>>(
        &self,
        prepared: &PreparedVolume,
        prompts: &[ClassPrompt],
        mut on_slice: impl FnMut(usize, usize, usize, &[u8]),
        pause: impl Fn() -> P,
        stop: impl Fn() -> bool,
    ) -> Result<Vec<u8>> {
        let mut labels = vec![0u8; prepared.voxels()];
        let Some(mut predictor) = self.prompted_predictor(prepared, prompts)? else {
            return Ok(labels);
        };
        let class_of = classes_of(&predictor);
        predictor.preflight()?;
        let forward = predictor.propagation_order(None, None, false)?;
        let first = forward[0];
        let backward = predictor.propagation_order(Some(first), None, true)?;
        let total = prepared.inputs.len();
        let plane = prepared.hw()[0] * prepared.hw()[1];
        let mut done = std::collections::BTreeSet::new();
        for (z, reverse) in forward
            .into_iter()
            .map(|z| (z, false))
            .chain(backward.into_iter().map(|z| (z, true)))
        {
            let out = predictor.propagate_slice(z, reverse)?;
            if done.insert(z) {
                let logits = read_back_async(out.masks_at(prepared.hw())).await?;
                write_slice_labels(&mut labels, prepared.hw(), z, &logits, &class_of);
                on_slice(done.len(), total, z, &labels[z * plane..(z + 1) * plane]);
            }
            pause().await;
            if stop() {
                return Err(SssError::Stopped(format!(
                    "{} of {total} slices propagated",
                    done.len()
                )));
            }
        }
        Ok(labels)
    }
}

/// The class of each of the predictor's objects (object id = class).
fn classes_of(predictor: &VolumePredictor<PreparedSlices>) -> Vec<u8> {
    predictor.obj_ids().iter().map(|&id| id as u8).collect()
}

/// Writes slice `z` of the label map from every object's logits `[N][h][w]`: the class with
/// the highest logit above 0, else background.
fn write_slice_labels(
    labels: &mut [u8],
    hw: [usize; 2],
    z: usize,
    logits: &[f32],
    class_of: &[u8],
) {
    let plane = hw[0] * hw[1];
    let slice = &mut labels[z * plane..(z + 1) * plane];
    for (i, label) in slice.iter_mut().enumerate() {
        let mut best = 0.0f32;
        for (o, &class) in class_of.iter().enumerate() {
            let l = logits[o * plane + i];
            if l > best {
                best = l;
                *label = class;
            }
        }
    }
}

fn read_back<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| SssError::Device(format!("reading results back ({e:?})")))
}

async fn read_back_async<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data_async()
        .await
        .map_err(|e| SssError::Device(format!("reading results back ({e:?})")))?
        .try_to_vec::<f32>()
        .map_err(|e| SssError::Device(format!("reading results back ({e:?})")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sam2Config;
    use crate::prompt::pcsw::{PcswPrompt, PromptSource};
    use std::cell::Cell;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    /// Polls a future to the end; flex's read-back is ready at once.
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    fn segmenter() -> (SssSegmenter, PreparedVolume) {
        let device = Device::flex();
        let mut sam2 = Sam2Config::micro();
        sam2.image_size = 64;
        let head = SssNet::coarse_head_config(&sam2, 3);
        let net = SssNet::new(&sam2, &head, &device).unwrap();
        let rule = IntensityRule::Percentiles {
            low: 0.5,
            high: 99.5,
        };
        let s = SssSegmenter::from_parts(net, rule, PcswConfig::default(), &device);
        let data: Vec<f32> = (0..32 * 32 * 4).map(|i| ((i * 37) % 101) as f32).collect();
        let volume = Volume::new(data, [32, 32, 4], [1.0; 3]).unwrap();
        let prepared = s.prepare(&volume).unwrap();
        (s, prepared)
    }

    fn prompt(class: u8, slice: usize) -> ClassPrompt {
        ClassPrompt {
            class,
            prompt: PcswPrompt {
                slice,
                box_xyxy: [4.0, 6.0, 20.0, 24.0],
                point: [12.0, 15.0],
                source: PromptSource::User,
            },
        }
    }

    #[test]
    fn async_propagation_equals_the_blocking_one_slice_by_slice_and_stops() {
        let (s, prepared) = segmenter();
        let prompts = [prompt(1, 1), prompt(2, 2)];
        let blocking = s.propagate(&prepared, &prompts).unwrap();
        let mut seen = Vec::new();
        let asynchronous = block_on(s.propagate_async(
            &prepared,
            &prompts,
            |done, total, z, slice| {
                assert_eq!(total, 4);
                assert_eq!(slice, &blocking[z * 1024..(z + 1) * 1024]);
                seen.push((done, z));
            },
            || std::future::ready(()),
            || false,
        ))
        .unwrap();
        assert_eq!(asynchronous, blocking);
        // Forward from the first prompted slice, then backward to slice 0.
        assert_eq!(seen, vec![(1, 1), (2, 2), (3, 3), (4, 0)]);

        let calls = Cell::new(0);
        let stopped = block_on(s.propagate_async(
            &prepared,
            &prompts,
            |_, _, _, _| calls.set(calls.get() + 1),
            || std::future::ready(()),
            || true,
        ));
        assert!(matches!(stopped, Err(SssError::Stopped(_))), "{stopped:?}");
        assert_eq!(calls.get(), 1, "stops after the first slice");
    }

    #[test]
    fn prompts_that_do_not_fit_are_refused_with_the_reason() {
        let (s, prepared) = segmenter();
        let refuse = |prompts: &[ClassPrompt], needle: &str| {
            let e = s.propagate(&prepared, prompts).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        };
        refuse(&[prompt(3, 0)], "class 3 is not a foreground class");
        refuse(&[prompt(1, 0), prompt(1, 2)], "prompted twice");
        refuse(&[prompt(1, 4)], "slice 4 does not exist");
        let mut outside = prompt(1, 0);
        outside.prompt.box_xyxy = [4.0, 6.0, 40.0, 24.0];
        refuse(&[outside], "inside the 32×32 slice");
        let mut flipped = prompt(2, 0);
        flipped.prompt.box_xyxy = [20.0, 6.0, 4.0, 24.0];
        refuse(&[flipped], "is not [x_min, y_min, x_max, y_max]");
        let mut point = prompt(2, 0);
        point.prompt.point = [f32::NAN, 3.0];
        refuse(&[point], "point");
        // No prompt at all: an empty label map, not an error.
        assert!(s.propagate(&prepared, &[]).unwrap().iter().all(|&l| l == 0));
    }
}
