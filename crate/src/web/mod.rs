//! The wasm bindings the page's worker calls: parse a scan, start a device (WebGPU, else the
//! flex CPU backend), load weights, and segment. Slice-network weights segment one slice at a
//! time (`segmentSlice`); SSS weights segment the volume: `autoPrompts` runs the coarse head
//! and PCSW, `segmentVolume` propagates prompts (PCSW's or corrected ones) with SAM-2. Every
//! entry point returns a `Result` so an error reaches JavaScript as an exception with a
//! message; nothing panics across the boundary.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::backend::ComputeDevice;
use crate::data::dicom_series::read_dicom_series;
use crate::data::label_export::{gzip, header_for_volume, header_of, labels_like_input};
use crate::data::nifti_io::read_nifti_bytes;
use crate::data::raster::read_raster_bytes;
use crate::predictor::correction::SlicePreview;
use crate::predictor::fit::check_fit;
use crate::predictor::pipeline::{CoarseOutput, LabelFusion, PreparedVolume, SssSegmenter};
use crate::predictor::slice::{IntensityRange, SliceSegmenter};
use crate::prompt::pcsw::ClassPrompt;
use crate::stage_timing::StageBench;
use crate::weights::{Manifest, ModelSpec};
use crate::{SssError, Volume};

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

fn js_error(e: SssError) -> JsError {
    JsError::new(&e.to_string())
}

/// A scan parsed by the crate's readers (NIfTI, DICOM series, PNG / JPEG), kept in wasm memory.
#[wasm_bindgen]
pub struct Scan {
    volume: Rc<Volume<f32>>,
    /// The opened file's header (decompressed, `label_export::header_of`): label maps are
    /// written with it. Only the header is kept, so a large scan is not held twice.
    header: Rc<Vec<u8>>,
    /// Tells scans apart, so a prepared volume is reused only for its own scan.
    id: u64,
    /// What reading left out or assumed (a DICOM series' other files), in words.
    notes: Vec<String>,
    /// Whether the affine places the voxels in the patient (false for PNG and JPEG images).
    oriented: bool,
}

/// A fresh scan id.
fn next_scan_id() -> u64 {
    NEXT_SCAN_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    })
}

thread_local! {
    static NEXT_SCAN_ID: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
}

#[wasm_bindgen]
impl Scan {
    /// Parses a `.nii` or `.nii.gz` file's bytes.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Scan, JsError> {
        Ok(Scan {
            volume: Rc::new(read_nifti_bytes(bytes).map_err(js_error)?),
            header: Rc::new(header_of(bytes).map_err(js_error)?),
            id: next_scan_id(),
            notes: Vec::new(),
            oriented: true,
        })
    }

    /// Parses a PNG or JPEG image's bytes as a one-slice volume (`data::raster`: grey levels,
    /// 1 mm pixels, no patient orientation). Its label maps are written as a NIfTI-1 file
    /// with the affine diag(−1, −1, 1).
    #[wasm_bindgen(js_name = fromImage)]
    pub fn from_image(bytes: &[u8]) -> Result<Scan, JsError> {
        let volume = read_raster_bytes(bytes).map_err(js_error)?;
        Ok(Scan {
            header: Rc::new(header_for_volume(&volume)),
            volume: Rc::new(volume),
            id: next_scan_id(),
            notes: Vec::new(),
            oriented: false,
        })
    }

    /// Reads the DICOM series among `files` (`Uint8Array`s, any order, other files allowed),
    /// named by `names` (`data::dicom_series`). Its label maps are written in the geometry
    /// the series defines.
    #[wasm_bindgen(js_name = fromDicomFiles)]
    pub fn from_dicom_files(names: Vec<String>, files: js_sys::Array) -> Result<Scan, JsError> {
        if names.len() != files.length() as usize {
            return Err(JsError::new(&format!(
                "{} names for {} files",
                names.len(),
                files.length()
            )));
        }
        let bytes: Vec<Vec<u8>> = files
            .iter()
            .map(|f| js_sys::Uint8Array::new(&f).to_vec())
            .collect();
        let named: Vec<(String, &[u8])> = names
            .into_iter()
            .zip(bytes.iter().map(Vec::as_slice))
            .collect();
        let series = read_dicom_series(&named).map_err(js_error)?;
        Ok(Scan {
            header: Rc::new(header_for_volume(&series.volume)),
            volume: Rc::new(series.volume),
            id: next_scan_id(),
            notes: series.notes,
            oriented: true,
        })
    }

    /// What reading the scan left out or assumed, in words (empty for most files).
    pub fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    /// The label map `labels` (`Uint8Array`, x fastest, one value per voxel) as a `.nii.gz`
    /// file in this scan's exact geometry: the opened file's own header, with uint8 values
    /// (`data::label_export`).
    #[wasm_bindgen(js_name = labelsAsNifti)]
    pub fn labels_as_nifti(&self, labels: &[u8]) -> Result<Vec<u8>, JsError> {
        let nifti = labels_like_input(&self.header, labels).map_err(js_error)?;
        gzip(&nifti).map_err(js_error)
    }

    /// `[nx, ny, nz]`.
    pub fn dims(&self) -> Vec<u32> {
        self.volume.dims.iter().map(|&d| d as u32).collect()
    }

    /// The voxel-to-world affine (RAS+, mm), row-major 4×4, or `undefined` for an image that
    /// has no patient orientation (PNG, JPEG): the page orients its display by it.
    pub fn affine(&self) -> Option<Vec<f32>> {
        self.oriented
            .then(|| self.volume.affine.iter().flatten().copied().collect())
    }

    /// Voxel size in mm, `[x, y, z]`.
    pub fn spacing(&self) -> Vec<f32> {
        self.volume.spacing.to_vec()
    }

    /// A copy of the voxels, x fastest (each axial slice is a contiguous run), in a
    /// `Float32Array` of its own, copied straight out of wasm memory (a `Vec` clone would
    /// first grow wasm memory by the scan's size, for good: wasm memory never shrinks).
    pub fn voxels(&self) -> js_sys::Float32Array {
        js_sys::Float32Array::from(self.volume.data.as_slice())
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

    /// What the intensities say about the modality: `{modality: "ct"|"mri", reason}`, or
    /// `undefined` when no voxel is finite ([`crate::data::intensity::guess_modality`]).
    pub fn modality(&self) -> Result<JsValue, JsError> {
        match crate::data::intensity::guess_modality(&self.volume.data) {
            None => Ok(JsValue::UNDEFINED),
            Some(guess) => serde_wasm_bindgen::to_value(&guess)
                .map_err(|e| JsError::new(&format!("the modality guess: {e}"))),
        }
    }

    /// The `low` and `high` intensity percentiles (in %), `[lo, hi]`.
    pub fn percentiles(&self, low: f32, high: f32) -> Vec<f32> {
        let (lo, hi) = self.volume.percentiles(low, high);
        vec![lo, hi]
    }
}

/// The loaded weights.
#[derive(Clone)]
enum Model {
    SliceNet(Box<SliceSegmenter>),
    Sss {
        manifest: Box<Manifest>,
        segmenter: Rc<SssSegmenter>,
    },
}

impl Model {
    fn manifest(&self) -> &Manifest {
        match self {
            Self::SliceNet(m) => m.manifest(),
            Self::Sss { manifest, .. } => manifest,
        }
    }
}

/// The last scan prepared for SSS: its id, its model inputs, and the coarse head's output
/// when the weights' label fusion needs it in `segmentVolume`.
struct ScanCache {
    id: u64,
    prepared: Rc<PreparedVolume>,
    coarse: Option<Rc<CoarseOutput>>,
}

type PreparedCache = Rc<RefCell<Option<ScanCache>>>;

/// The model runner: one device, one loaded model, the last scan prepared for SSS.
#[wasm_bindgen]
pub struct Segmenter {
    device: ComputeDevice,
    fallback_reason: Option<String>,
    model: Option<Model>,
    /// The scan id and model inputs of the last scan given to `autoPrompts`.
    prepared: PreparedCache,
    /// Set by `stop`: the running `segmentVolume` ends after its current slice.
    stop: Rc<std::cell::Cell<bool>>,
    /// SAM-2's image predictor holding the last previewed slice's embedding, with the id of
    /// its scan (`previewSlice`).
    preview: Rc<RefCell<Option<(u64, SlicePreview)>>>,
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
            model: None,
            prepared: Rc::new(RefCell::new(None)),
            stop: Rc::new(std::cell::Cell::new(false)),
            preview: Rc::new(RefCell::new(None)),
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

    /// Loads weights described by `manifest_json` (slice network or SSS); the previous model
    /// stays if this fails.
    #[wasm_bindgen(js_name = loadWeights)]
    pub fn load_weights(&mut self, manifest_json: &str, weights: Vec<u8>) -> Result<(), JsError> {
        let manifest = Manifest::from_json(manifest_json).map_err(js_error)?;
        let device = &self.device.device;
        let model = match manifest.model {
            ModelSpec::SliceNet { .. } => {
                let segmenter =
                    SliceSegmenter::load(manifest, weights, device).map_err(js_error)?;
                Model::SliceNet(Box::new(segmenter))
            }
            ModelSpec::Sss { .. } => Model::Sss {
                segmenter: Rc::new(
                    SssSegmenter::load(&manifest, weights, device).map_err(js_error)?,
                ),
                manifest: Box::new(manifest),
            },
        };
        self.model = Some(model);
        *self.prepared.borrow_mut() = None;
        *self.preview.borrow_mut() = None;
        Ok(())
    }

    fn model(&self) -> Result<&Model, JsError> {
        self.model
            .as_ref()
            .ok_or_else(|| JsError::new("no weights are loaded"))
    }

    /// "slice-net" (segments one slice at a time) or "sss" (segments the volume from prompts).
    pub fn kind(&self) -> Result<String, JsError> {
        Ok(match self.model()? {
            Model::SliceNet(_) => "slice-net",
            Model::Sss { .. } => "sss",
        }
        .to_string())
    }

    /// The loaded manifest as JSON (classes, names, colours), or an error if none is loaded.
    pub fn manifest(&self) -> Result<String, JsError> {
        Ok(self.model()?.manifest().to_json())
    }

    /// The fit check (`predictor::fit`) of a finished label map `labels` of `scan` (x fastest)
    /// against the loaded weights' training scans: `{classes: [{label, name, volume_ml, range,
    /// verdict}], fits, message}`; `message` is empty when there is nothing to say.
    #[wasm_bindgen(js_name = fitReport)]
    pub fn fit_report(&self, scan: &Scan, labels: &[u8]) -> Result<JsValue, JsError> {
        if labels.len() != scan.volume.data.len() {
            return Err(JsError::new(&format!(
                "the label map has {} voxels but the scan {}",
                labels.len(),
                scan.volume.data.len()
            )));
        }
        let report = check_fit(
            &self.model()?.manifest().classes,
            labels,
            scan.volume.spacing,
        );
        serde_wasm_bindgen::to_value(&report).map_err(|e| JsError::new(&e.to_string()))
    }

    fn slice_net(&self) -> Result<SliceSegmenter, JsError> {
        match self.model()? {
            Model::SliceNet(m) => Ok((**m).clone()),
            Model::Sss { .. } => Err(JsError::new(
                "these are SSS weights: they segment the whole volume (autoPrompts, segmentVolume)",
            )),
        }
    }

    fn sss(&self) -> Result<Rc<SssSegmenter>, JsError> {
        match self.model()? {
            Model::Sss { segmenter, .. } => Ok(segmenter.clone()),
            Model::SliceNet(_) => Err(JsError::new(
                "these are slice-network weights: they segment one slice at a time (segmentSlice)",
            )),
        }
    }

    /// `[low, high]` intensity bounds of `scan` under the slice network's normalisation rule.
    #[wasm_bindgen(js_name = intensityRange)]
    pub fn intensity_range(&self, scan: &Scan) -> Result<Vec<f32>, JsError> {
        let range = self.slice_net()?.intensity_range(&scan.volume.data);
        Ok(vec![range.low, range.high])
    }

    /// Segments one slice (`height` rows of `width`) whose scan has intensity bounds
    /// `low`..`high` with slice-network weights; resolves to a `Uint8Array` label map.
    #[wasm_bindgen(js_name = segmentSlice)]
    pub fn segment_slice(
        &self,
        slice: Vec<f32>,
        width: u32,
        height: u32,
        low: f32,
        high: f32,
    ) -> Promise {
        let model = self.slice_net();
        future_to_promise(async move {
            let labels = model?
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

    /// Asks a running `segmentVolume` to stop after the slice it is on (it then rejects). The
    /// propagation yields to the event loop after every slice, so a worker can call this from
    /// a message handler while it runs.
    pub fn stop(&self) {
        self.stop.set(true);
    }

    /// SSS: the coarse head over every slice of `scan`, then PCSW. Resolves to
    /// `{prompts, coarse}`: `prompts` a JSON array of `{class, prompt: {slice, box_xyxy,
    /// point, source}}` (pixel coordinates of the slice; `source` is `{"window": {n, start}}`,
    /// "fallback", "user" for corrected prompts, or "empty" for a class the
    /// coarse head did not find), `coarse` the coarse label map (`Uint8Array`, x fastest).
    /// The scan's model inputs are kept for `segmentVolume`.
    #[wasm_bindgen(js_name = autoPrompts)]
    pub fn auto_prompts(&self, scan: &Scan) -> Promise {
        let sss = self.sss();
        let (volume, id, cache) = (scan.volume.clone(), scan.id, self.prepared.clone());
        future_to_promise(async move {
            let sss = sss?;
            let prepared = prepared_for(&sss, &volume, id, &cache)?;
            let coarse = sss.coarse_async(&prepared).await.map_err(js_error)?;
            let prompts = sss.auto_prompts(&coarse, volume.dims).map_err(js_error)?;
            let labels = js_sys::Uint8Array::from(coarse.labels.as_slice());
            if sss.fusion() != LabelFusion::Sam2
                && let Some(entry) = cache.borrow_mut().as_mut().filter(|e| e.id == id)
            {
                entry.coarse = Some(Rc::new(coarse));
            }
            let out = js_sys::Object::new();
            let json = serde_json::to_string(&prompts).map_err(|e| JsError::new(&e.to_string()))?;
            js_sys::Reflect::set(&out, &"prompts".into(), &json.into())?;
            js_sys::Reflect::set(&out, &"coarse".into(), &labels.into())?;
            Ok(out.into())
        })
    }

    /// SSS: SAM-2 propagation of `prompts_json` (the array `autoPrompts` gives, possibly
    /// corrected; a class left out or with source "empty" is not segmented) through `scan`.
    /// `on_slice(done, total, z, labels, classes, scores, ious)` is called after each slice with
    /// that slice's label map (`Uint8Array`, row-major), so masks can be shown as they come, and
    /// per tracked class there (`Uint8Array` of classes) SAM-2's object score logit
    /// (`Float32Array`; above 0: the object is there) and the mask decoder's predicted IoU of
    /// the mask it chose (`Float32Array`, in [0, 1]; 1 for a mask prompt). Resolves to the
    /// label map of the volume (`Uint8Array`, x fastest); rejects with "stopped before the
    /// end" after [`Segmenter::stop`].
    #[wasm_bindgen(js_name = segmentVolume)]
    pub fn segment_volume(
        &self,
        scan: &Scan,
        prompts_json: &str,
        on_slice: Option<js_sys::Function>,
    ) -> Promise {
        let sss = self.sss();
        let stop = self.stop.clone();
        stop.set(false);
        let prompts: Result<Vec<ClassPrompt>, JsError> = serde_json::from_str(prompts_json)
            .map_err(|e| JsError::new(&format!("the prompts are not valid: {e}")));
        let (volume, id, cache) = (scan.volume.clone(), scan.id, self.prepared.clone());
        future_to_promise(async move {
            let (sss, prompts) = (sss?, prompts?);
            let prepared = prepared_for(&sss, &volume, id, &cache)?;
            let coarse = cache
                .borrow()
                .as_ref()
                .filter(|e| e.id == id)
                .and_then(|e| e.coarse.clone());
            let labels = sss
                .propagate_async(
                    &prepared,
                    &prompts,
                    coarse.as_deref(),
                    |u| {
                        if let Some(f) = &on_slice {
                            let classes: Vec<u8> = u.scores.iter().map(|s| s.class).collect();
                            let scores: Vec<f32> = u.scores.iter().map(|s| s.score).collect();
                            let ious: Vec<f32> = u.scores.iter().map(|s| s.iou).collect();
                            let args = js_sys::Array::of4(
                                &u.done.into(),
                                &u.total.into(),
                                &u.z.into(),
                                &js_sys::Uint8Array::from(u.labels).into(),
                            );
                            args.push(&js_sys::Uint8Array::from(classes.as_slice()).into());
                            args.push(&js_sys::Float32Array::from(scores.as_slice()).into());
                            args.push(&js_sys::Float32Array::from(ious.as_slice()).into());
                            // A failing callback must not stop the segmentation.
                            let _ = f.apply(&JsValue::NULL, &args);
                        }
                    },
                    next_task,
                    || stop.get(),
                )
                .await
                .map_err(js_error)?;
            Ok(js_sys::Uint8Array::from(labels.as_slice()).into())
        })
    }
}

#[wasm_bindgen]
impl Segmenter {
    /// SSS: slice `z`'s label map (`Uint8Array`, row-major) from SAM-2's masks of the prompts
    /// on that slice (`prompts_json` as for `segmentVolume`; prompts on other slices are
    /// ignored), at interactive speed: the slice's image embedding is kept, so further clicks
    /// or boxes on the same slice run only the prompt encoder and mask decoder
    /// (`predictor::correction`). Resolves to `{labels, encoded}`, `encoded` telling whether
    /// the image encoder ran for this call.
    #[wasm_bindgen(js_name = previewSlice)]
    pub fn preview_slice(&self, scan: &Scan, z: u32, prompts_json: &str) -> Promise {
        let sss = self.sss();
        let prompts: Result<Vec<ClassPrompt>, JsError> = serde_json::from_str(prompts_json)
            .map_err(|e| JsError::new(&format!("the prompts are not valid: {e}")));
        let (volume, id, cache) = (scan.volume.clone(), scan.id, self.prepared.clone());
        let previews = self.preview.clone();
        future_to_promise(async move {
            let (sss, prompts) = (sss?, prompts?);
            let prepared = prepared_for(&sss, &volume, id, &cache)?;
            let held = previews.borrow_mut().take().filter(|(scan, _)| *scan == id);
            let mut preview = held.map_or_else(|| sss.slice_preview(), |(_, p)| p);
            let before = preview.encodes;
            let labels = sss
                .preview_slice_async(&mut preview, &prepared, z as usize, &prompts)
                .await;
            let encoded = preview.encodes != before;
            *previews.borrow_mut() = Some((id, preview));
            let labels = labels.map_err(js_error)?;
            let out = js_sys::Object::new();
            js_sys::Reflect::set(
                &out,
                &"labels".into(),
                &js_sys::Uint8Array::from(labels.as_slice()).into(),
            )?;
            js_sys::Reflect::set(&out, &"encoded".into(), &encoded.into())?;
            Ok(out.into())
        })
    }
}

#[wasm_bindgen]
impl Segmenter {
    /// SSS: times SAM-2's stages (`stage_timing`: image encoder, prompt encoder + mask
    /// decoder, one propagation step) on this device for the loaded weights' SAM-2 config,
    /// with a randomly initialised model of that config (the timings depend on the config, not
    /// the weights' values): each stage's first run, then the median of `iters` after `warmup`
    /// untimed ones. Resolves to the timings as JSON. For `scripts/bench-page.sh`.
    #[wasm_bindgen(js_name = benchSam2Stages)]
    pub fn bench_sam2_stages(&self, iters: u32, warmup: u32) -> Promise {
        let cfg = match self.model().map(|m| match m {
            Model::Sss { manifest, .. } => match &manifest.model {
                ModelSpec::Sss { sam2, .. } => Some(sam2.clone()),
                ModelSpec::SliceNet { .. } => None,
            },
            Model::SliceNet(_) => None,
        }) {
            Ok(Some(cfg)) => Ok(cfg),
            Ok(None) => Err(JsError::new(
                "these are slice-network weights: they have no SAM-2 stages to time",
            )),
            Err(e) => Err(e),
        };
        let device = self.device.device.clone();
        future_to_promise(async move {
            let cfg = cfg?;
            let bench = StageBench::new(&cfg, &device).map_err(js_error)?;
            let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into())?;
            let now: js_sys::Function =
                js_sys::Reflect::get(&performance, &"now".into())?.dyn_into()?;
            let clock = || {
                now.call0(&performance)
                    .ok()
                    .and_then(|v| v.as_f64())
                    .unwrap_or(f64::NAN)
            };
            let read = |t: burn::tensor::Tensor<1>| async move {
                crate::predictor::pipeline::read_back_async(t)
                    .await
                    .map(drop)
            };
            let timings = bench
                .time(iters as usize, warmup as usize, &clock, read)
                .await
                .map_err(js_error)?;
            let json = serde_json::to_string(&timings).map_err(|e| JsError::new(&e.to_string()))?;
            Ok(json.into())
        })
    }
}

/// Resolves on the event loop's next task (`setTimeout(0)`), so that messages waiting for the
/// worker (a stop request) are handled between slices; resolves at once where there is no
/// `setTimeout`.
fn next_task() -> impl std::future::Future<Output = ()> {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let set_timeout = js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        let scheduled = set_timeout
            .map(|f| f.call2(&JsValue::NULL, &resolve, &0.into()).is_ok())
            .unwrap_or(false);
        if !scheduled {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    async move {
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }
}

/// The model inputs of scan `id`, from the cache or prepared now (and cached).
fn prepared_for(
    sss: &SssSegmenter,
    volume: &Volume<f32>,
    id: u64,
    cache: &RefCell<Option<ScanCache>>,
) -> Result<Rc<PreparedVolume>, JsError> {
    if let Some(entry) = cache.borrow().as_ref()
        && entry.id == id
    {
        return Ok(entry.prepared.clone());
    }
    let prepared = Rc::new(sss.prepare(volume).map_err(js_error)?);
    *cache.borrow_mut() = Some(ScanCache {
        id,
        prepared: prepared.clone(),
        coarse: None,
    });
    Ok(prepared)
}
