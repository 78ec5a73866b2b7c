//! The wasm bindings the page's worker calls: parse a scan, start a device (WebGPU, else the
//! flex CPU backend), load weights, segment slices. Every entry point returns a `Result` so an
//! error reaches JavaScript as an exception with a message; nothing panics across the boundary.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::backend::ComputeDevice;
use crate::data::nifti_io::read_nifti_bytes;
use crate::predictor::slice::{IntensityRange, SliceSegmenter};
use crate::weights::Manifest;
use crate::{SssError, Volume};

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn js_error(e: SssError) -> JsError {
    JsError::new(&e.to_string())
}

/// A scan parsed by the crate's NIfTI reader, kept in wasm memory.
#[wasm_bindgen]
pub struct Scan {
    volume: Volume<f32>,
}

#[wasm_bindgen]
impl Scan {
    /// Parses a `.nii` or `.nii.gz` file's bytes.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Scan, JsError> {
        Ok(Scan {
            volume: read_nifti_bytes(bytes).map_err(js_error)?,
        })
    }

    /// `[nx, ny, nz]`.
    pub fn dims(&self) -> Vec<u32> {
        self.volume.dims.iter().map(|&d| d as u32).collect()
    }

    /// Voxel size in mm, `[x, y, z]`.
    pub fn spacing(&self) -> Vec<f32> {
        self.volume.spacing.to_vec()
    }

    /// A copy of the voxels, x fastest (each axial slice is a contiguous run).
    pub fn voxels(&self) -> Vec<f32> {
        self.volume.data.clone()
    }

    /// Axial slice `z`, row-major.
    pub fn slice(&self, z: u32) -> Result<Vec<f32>, JsError> {
        let z = z as usize;
        if z >= self.volume.num_slices() {
            return Err(JsError::new(&format!(
                "slice {z} does not exist; the scan has {} slices",
                self.volume.num_slices()
            )));
        }
        Ok(self.volume.slice(z).to_vec())
    }

    /// The `low` and `high` intensity percentiles (in %), `[lo, hi]`.
    pub fn percentiles(&self, low: f32, high: f32) -> Vec<f32> {
        let (lo, hi) = self.volume.percentiles(low, high);
        vec![lo, hi]
    }
}

/// The model runner: one device, one loaded model.
#[wasm_bindgen]
pub struct Segmenter {
    device: ComputeDevice,
    fallback_reason: Option<String>,
    model: Rc<RefCell<Option<SliceSegmenter>>>,
}

#[wasm_bindgen]
impl Segmenter {
    /// Starts a device: WebGPU when `prefer_webgpu` and it initialises, else flex (CPU), with
    /// the reason kept in `fallbackReason`.
    pub async fn create(prefer_webgpu: bool) -> Segmenter {
        let (device, fallback_reason) = if prefer_webgpu {
            match ComputeDevice::webgpu().await {
                Ok(device) => (device, None),
                Err(e) => (ComputeDevice::flex(), Some(e.to_string())),
            }
        } else {
            (
                ComputeDevice::flex(),
                Some("WebGPU was not requested".to_string()),
            )
        };
        Segmenter {
            device,
            fallback_reason,
            model: Rc::new(RefCell::new(None)),
        }
    }

    /// The backend in use: "WebGPU" or "flex (CPU)".
    pub fn backend(&self) -> String {
        self.device.kind.name().to_string()
    }

    /// Why the CPU backend is used, when it is.
    #[wasm_bindgen(js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        self.fallback_reason.clone()
    }

    /// Loads weights described by `manifest_json`; the previous model stays if this fails.
    #[wasm_bindgen(js_name = loadWeights)]
    pub fn load_weights(&self, manifest_json: &str, weights: Vec<u8>) -> Result<(), JsError> {
        let manifest = Manifest::from_json(manifest_json).map_err(js_error)?;
        let segmenter =
            SliceSegmenter::load(manifest, weights, &self.device.device).map_err(js_error)?;
        *self.model.borrow_mut() = Some(segmenter);
        Ok(())
    }

    /// The loaded manifest as JSON (classes, names, colours), or an error if none is loaded.
    pub fn manifest(&self) -> Result<String, JsError> {
        self.model
            .borrow()
            .as_ref()
            .map(|m| m.manifest().to_json())
            .ok_or_else(|| JsError::new("no weights are loaded"))
    }

    /// `[low, high]` intensity bounds of `scan` under the loaded weights' normalisation rule.
    #[wasm_bindgen(js_name = intensityRange)]
    pub fn intensity_range(&self, scan: &Scan) -> Result<Vec<f32>, JsError> {
        let model = self.model.borrow();
        let model = model
            .as_ref()
            .ok_or_else(|| JsError::new("no weights are loaded"))?;
        let range = model.intensity_range(&scan.volume.data);
        Ok(vec![range.low, range.high])
    }

    /// Segments one slice (`height` rows of `width`) whose scan has intensity bounds
    /// `low`..`high`; resolves to a `Uint8Array` label map.
    #[wasm_bindgen(js_name = segmentSlice)]
    pub fn segment_slice(
        &self,
        slice: Vec<f32>,
        width: u32,
        height: u32,
        low: f32,
        high: f32,
    ) -> Promise {
        let model = self.model.borrow().clone();
        future_to_promise(async move {
            let model = model.ok_or_else(|| JsError::new("no weights are loaded"))?;
            let labels = model
                .segment_async(
                    &slice,
                    width as usize,
                    height as usize,
                    IntensityRange { low, high },
                )
                .await
                .map_err(js_error)?;
            Ok(js_sys::Uint8Array::from(labels.as_slice()).into())
        })
    }
}
