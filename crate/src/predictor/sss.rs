//! The SSS volume pipeline, as evaluation, `sss segment` and the page run it: every slice
//! through the image encoder and the coarse head → PCSW prompts per class on the coarse
//! probabilities of the whole volume → one SAM-2 object per class, prompted with its PCSW box
//! and box-centre point, propagated through the volume with memory ([`VolumePredictor`]) →
//! label = the class with the highest mask logit above 0, else background.
//!
//! Slices are resized to the model's image size and the results back to the slice size, so
//! the label map has the input's geometry. Results are read back synchronously: this front
//! door is for native callers (the page needs the async readback path).

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData, activation};
use serde::Serialize;

use crate::data::intensity::IntensityRule;
use crate::model::common::{Resample, resize};
use crate::model::sss::SssNet;
use crate::predictor::image::{IMG_MEAN, IMG_STD};
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

    fn image_size(&self) -> usize {
        self.net.sam.config().image_size
    }

    fn num_classes(&self) -> usize {
        self.net.coarse_head.classifier.weight.dims()[0]
    }

    /// The model input of every slice of `volume`.
    pub fn model_inputs(&self, volume: &Volume<f32>) -> Result<Vec<Tensor<4>>> {
        let map = self.rule.fit(&volume.data)?;
        let [nx, ny, nz] = volume.dims;
        let size = self.image_size();
        Ok((0..nz)
            .map(|z| {
                model_input(
                    &map.map_slice(volume.slice(z)),
                    [ny, nx],
                    size,
                    &self.device,
                )
            })
            .collect())
    }

    /// Coarse softmax probabilities laid out `[class][z][y][x]` at the slice size.
    pub fn coarse_probabilities(&self, inputs: &[Tensor<4>], hw: [usize; 2]) -> Result<Vec<f32>> {
        let k = self.num_classes();
        let nz = inputs.len();
        let plane = hw[0] * hw[1];
        let mut out = vec![0f32; k * nz * plane];
        for (chunk_index, chunk) in inputs.chunks(ENCODE_BATCH).enumerate() {
            let logits = self
                .net
                .encode(Tensor::cat(chunk.to_vec(), 0))
                .coarse_logits;
            let probs = interpolate(
                activation::softmax(logits, 1),
                InterpolateOptions::new(InterpolateMode::Bilinear)
                    .with_output_size(hw)
                    .with_align_corners(false),
            );
            let values = probs
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| SssError::Device(format!("reading coarse masks ({e:?})")))?;
            for (i, slice) in values.chunks(k * plane).enumerate() {
                let z = chunk_index * ENCODE_BATCH + i;
                for c in 0..k {
                    out[(c * nz + z) * plane..(c * nz + z + 1) * plane]
                        .copy_from_slice(&slice[c * plane..(c + 1) * plane]);
                }
            }
        }
        Ok(out)
    }

    /// Segments a volume.
    pub fn segment(&self, volume: &Volume<f32>, mode: SegmentMode) -> Result<SssSegmentation> {
        let [nx, ny, nz] = volume.dims;
        let inputs = self.model_inputs(volume)?;
        let probs = self.coarse_probabilities(&inputs, [ny, nx])?;
        let k = self.num_classes();
        let v = nx * ny * nz;
        let coarse: Vec<u8> = (0..v)
            .map(|i| {
                (0..k)
                    .max_by(|&a, &b| probs[a * v + i].total_cmp(&probs[b * v + i]))
                    .unwrap_or(0) as u8
            })
            .collect();
        let coarse = volume.with_data(coarse)?;
        let classes: Vec<u8> = (1..k as u8).collect();
        let prompts = pcsw_prompts_from_probabilities(&probs, volume.dims, &classes, &self.pcsw)?;
        let labels = match mode {
            SegmentMode::CoarseOnly => coarse.clone(),
            SegmentMode::Full => {
                volume.with_data(self.propagate(inputs, [ny, nx], &prompts, nz)?)?
            }
        };
        Ok(SssSegmentation {
            labels,
            coarse,
            prompts,
        })
    }

    /// SAM-2 objects per non-empty prompt, propagated both ways; the label map `[z][y][x]`.
    fn propagate(
        &self,
        inputs: Vec<Tensor<4>>,
        hw: [usize; 2],
        prompts: &[ClassPrompt],
        nz: usize,
    ) -> Result<Vec<u8>> {
        let plane = hw[0] * hw[1];
        let mut labels = vec![0u8; nz * plane];
        let active: Vec<&ClassPrompt> = prompts.iter().filter(|p| !p.prompt.is_empty()).collect();
        if active.is_empty() {
            return Ok(labels);
        }
        let source = PreparedSlices {
            inputs,
            slice_size: hw,
        };
        let mut predictor = VolumePredictor::new(
            self.net.sam.clone(),
            source,
            VolumePredictorOptions::default(),
        )?;
        for p in &active {
            predictor.add_points_or_box(
                p.prompt.slice,
                u32::from(p.class),
                &[p.prompt.point],
                &[1],
                Some(p.prompt.box_xyxy),
                true,
            )?;
        }
        let class_of: Vec<u8> = predictor.obj_ids().iter().map(|&id| id as u8).collect();
        for out in predictor.propagate_both_ways()? {
            let logits = out
                .masks_at(hw)
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| SssError::Device(format!("reading masks ({e:?})")))?;
            let slice = &mut labels[out.slice * plane..(out.slice + 1) * plane];
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
        Ok(labels)
    }
}
