//! Slice segmentation with a [`SliceNet`]: raw slice in, label map out, the same on every
//! device. Normalisation and resizing follow the weights' manifest; the label map is computed
//! on the device and read back once (asynchronously on the page).

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::model::slice_net::{SliceNet, SliceNetConfig};
use crate::weights::{IntensityRule, Manifest, ModelSpec, decode_into};
use crate::{Result, SssError};

/// A loaded slice segmenter: network, manifest and device.
#[derive(Clone, Debug)]
pub struct SliceSegmenter {
    net: SliceNet,
    manifest: Manifest,
    device: Device,
}

/// Intensity bounds of the scan a slice comes from (the manifest's percentiles of the volume).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IntensityRange {
    pub low: f32,
    pub high: f32,
}

impl SliceSegmenter {
    /// Builds the network the manifest describes on `device` and loads `weights` into it, after
    /// checking the weights against the manifest's sha256.
    pub fn load(manifest: Manifest, weights: Vec<u8>, device: &Device) -> Result<Self> {
        manifest.verify(&weights)?;
        let ModelSpec::SliceNet { config } = &manifest.model else {
            return Err(SssError::Weights(
                "these weights are not SliceNet weights".into(),
            ));
        };
        if !matches!(manifest.intensity, IntensityRule::Percentile { .. }) {
            return Err(SssError::Weights(
                "SliceNet weights need a percentile intensity rule".into(),
            ));
        }
        check_config(config, &manifest)?;
        let net = decode_into(config.init(device), weights)?;
        Ok(Self {
            net,
            manifest,
            device: device.clone(),
        })
    }

    /// Wraps an in-memory network (training, tests).
    pub fn from_parts(net: SliceNet, manifest: Manifest, device: &Device) -> Self {
        Self {
            net,
            manifest,
            device: device.clone(),
        }
    }

    /// The weights' manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The intensity range the manifest's rule gives for a whole volume's voxels.
    pub fn intensity_range(&self, volume_voxels: &[f32]) -> IntensityRange {
        // `load` admits only percentile rules; the fallback is ACDC's usual 0.5–99.5 %.
        let (low, high) = match self.manifest.intensity {
            IntensityRule::Percentile { low, high } => (low, high),
            IntensityRule::Channels { .. } => (0.5, 99.5),
        };
        let (low, high) = crate::volume::percentile_range(volume_voxels, low, high);
        IntensityRange { low, high }
    }

    /// The label map of one slice (`height` rows of `width`), lazily on the device.
    pub fn labels(
        &self,
        slice: &[f32],
        width: usize,
        height: usize,
        range: IntensityRange,
    ) -> Result<Tensor<2, Int>> {
        if width == 0 || height == 0 || slice.len() != width * height {
            return Err(SssError::InvalidInput(format!(
                "a {width}×{height} slice needs {} values, got {}",
                width * height,
                slice.len()
            )));
        }
        let scale = if range.high > range.low {
            1.0 / (range.high - range.low)
        } else {
            1.0
        };
        let normalised: Vec<f32> = slice
            .iter()
            .map(|v| ((v - range.low) * scale).clamp(0.0, 1.0))
            .collect();
        let x = Tensor::<4>::from_data(
            TensorData::new(normalised, [1, 1, height, width]),
            &self.device,
        );
        let [in_h, in_w] = self.manifest.input_size;
        let resize = |t: Tensor<4>, size: [usize; 2]| {
            interpolate(
                t,
                InterpolateOptions::new(InterpolateMode::Bilinear)
                    .with_align_corners(false)
                    .with_output_size(size),
            )
        };
        let x = if [height, width] == [in_h, in_w] {
            x
        } else {
            resize(x, [in_h, in_w])
        };
        let logits = self.net.forward(x);
        let logits = if [height, width] == [in_h, in_w] {
            logits
        } else {
            resize(logits, [height, width])
        };
        Ok(logits.argmax(1).reshape([height, width]))
    }

    /// The label map of one slice, row-major `u8`, read back synchronously (native only).
    #[cfg(not(target_family = "wasm"))]
    pub fn segment(
        &self,
        slice: &[f32],
        width: usize,
        height: usize,
        range: IntensityRange,
    ) -> Result<Vec<u8>> {
        labels_to_u8(self.labels(slice, width, height, range)?.into_data())
    }

    /// The label map of one slice, read back asynchronously (required on WebGPU).
    pub async fn segment_async(
        &self,
        slice: &[f32],
        width: usize,
        height: usize,
        range: IntensityRange,
    ) -> Result<Vec<u8>> {
        let data = self
            .labels(slice, width, height, range)?
            .into_data_async()
            .await
            .map_err(|e| SssError::Device(format!("reading the mask back failed ({e:?})")))?;
        labels_to_u8(data)
    }
}

fn labels_to_u8(data: TensorData) -> Result<Vec<u8>> {
    Ok(data.iter::<i64>().map(|v| v.clamp(0, 255) as u8).collect())
}

fn check_config(config: &SliceNetConfig, manifest: &Manifest) -> Result<()> {
    if config.num_classes != manifest.classes.len() {
        return Err(SssError::Weights(format!(
            "the network has {} classes but the manifest names {}",
            config.num_classes,
            manifest.classes.len()
        )));
    }
    if manifest.input_size.iter().any(|s| s % 4 != 0) {
        return Err(SssError::Weights(format!(
            "input size {:?} must be a multiple of 4",
            manifest.input_size
        )));
    }
    Ok(())
}
