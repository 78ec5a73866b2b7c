//! Weights on disk and over the wire: a burnpack file (`.bpk`, f16 or f32) and a JSON manifest
//! that says which model it is, its classes, how intensities were normalised and the file's
//! sha256. The page and the CLI load weights through the same functions here.

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use burn::{
    module::{ModuleMapper, Param},
    tensor::{DType, Tensor},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::Sam2Config;
use crate::model::coarse_head::CoarseHeadConfig;
use crate::model::slice_net::SliceNetConfig;
use crate::model::sss_net::SssNet;
use crate::prompt::pcsw::PcswConfig;
use crate::{Result, SssError};

/// The manifest format this build reads and writes.
pub const MANIFEST_VERSION: u32 = 1;

/// Which architecture the weights are for, with its configuration.
// One per loaded model, so the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSpec {
    /// The small convolutional slice segmenter.
    SliceNet { config: SliceNetConfig },
    /// SSS: SAM-2 (any config; the image size is `sam2.image_size`) with the trained coarse
    /// head; at inference the coarse head's masks give PCSW prompts and SAM-2 propagates them
    /// (`predictor::pipeline`). The intensity rule is the manifest's [`IntensityRule::Channels`].
    Sss {
        sam2: Sam2Config,
        coarse_head: CoarseHeadConfig,
        pcsw: PcswConfig,
        /// How the label map is made from SAM-2's masks (absent in manifests older than the
        /// setting: SAM-2's masks alone).
        #[serde(default)]
        label_fusion: LabelFusion,
        /// What is done to the full pipeline's label map once propagation ends (absent in
        /// manifests older than the setting: nothing).
        #[serde(default)]
        post_process: PostProcess,
        /// SAM-2's mask threshold (official `SAM2ImagePredictor`'s `mask_threshold`, 0): a pixel
        /// belongs to an object where its mask logit is above it; fused with the coarse head,
        /// it is the background's logit in SAM-2's class distribution ([`LabelFusion`]). Only
        /// the label map reads it; SAM-2's memories do not. Absent in manifests older than the
        /// setting: 0.
        #[serde(default)]
        mask_threshold: f32,
    },
}

/// Clean-up of the full pipeline's label map after propagation (`docs/DESIGN.md`, "Label
/// fusion").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PostProcess {
    /// The map as propagated.
    #[default]
    None,
    /// Each class cut to its largest 3-D connected component (26-connectivity): the usual
    /// clean-up for organs that come as one piece (the heart's chambers), which removes the
    /// stray blobs fusion inherits from the coarse head. Wrong for objects that come in
    /// several pieces (multifocal bleeds).
    LargestComponent,
    /// Deviation for lesions (brain CT): the foreground, whatever its class, cut into 3-D
    /// connected components (26-connectivity), and each component given the class most of its
    /// voxels have. A bleed is of one type; the coarse head, which names the type, often
    /// names it differently across one bleed. Removes nothing.
    ComponentVote,
}

/// How the label map is made from SAM-2's per-object mask logits (`docs/DESIGN.md`, "Label
/// fusion").
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelFusion {
    /// SAM-2's masks alone, as in the paper: each pixel takes the class of the highest object
    /// logit above the mask threshold (0 unless the manifest's `mask_threshold` says), else
    /// background.
    #[default]
    Sam2,
    /// Deviation: per pixel, `w · softmax([t, l_1, …, l_K]) + (1 − w) · p_coarse`, then the
    /// argmax. The first term is SAM-2's masks read as a class distribution (background logit
    /// the mask threshold t, 0 by default, so `w = 1` is [`LabelFusion::Sam2`]); classes without a SAM-2 object get 0 there.
    /// The coarse head sees every class at once and so settles the boundaries between
    /// touching objects (the myocardium ring against the LV cavity) that independent binary
    /// masks leave to the larger logit.
    WithCoarse {
        /// `w` in [0, 1].
        sam2_weight: f32,
    },
}

impl LabelFusion {
    /// What `sss train` records in a new run's manifest (chosen on the validation split:
    /// RESULTS.md, "Label fusion").
    pub const NEW_RUNS: LabelFusion = LabelFusion::WithCoarse { sam2_weight: 0.25 };

    /// [`LabelFusion::Sam2`] for `w = 1`, else [`LabelFusion::WithCoarse`].
    pub fn from_sam2_weight(w: f32) -> Self {
        if w == 1.0 {
            LabelFusion::Sam2
        } else {
            LabelFusion::WithCoarse { sam2_weight: w }
        }
    }
}

/// One output class.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ClassInfo {
    /// Value in the label map.
    pub label: u8,
    /// Human-readable name.
    pub name: String,
    /// Overlay colour, RGB.
    pub color: [u8; 3],
    /// The class's volumes in the labeled training scans, for the fit check
    /// (`predictor::fit`); absent in older manifests and for the background.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_ml: Option<crate::predictor::fit::VolumeRange>,
}

/// How raw scan intensities become the network's input, recorded so the page does exactly what
/// training did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IntensityRule {
    /// Per-volume percentiles `low..high` (in %) map linearly to `[0, 1]`, clamped (MRI).
    Percentile { low: f32, high: f32 },
    /// SAM-2's three input channels by `data::intensity`'s rule (CT windows or MRI
    /// percentiles), then SAM-2's mean/std normalisation.
    Channels {
        rule: crate::data::intensity::IntensityRule,
    },
}

/// Everything needed to use a weights file, stored beside it as JSON.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    /// Short name shown in the page.
    pub name: String,
    pub model: ModelSpec,
    /// Classes, background (label 0) first.
    pub classes: Vec<ClassInfo>,
    /// "mri" or "ct".
    pub modality: String,
    pub intensity: IntensityRule,
    /// Slices are resized to this `[height, width]` before the network.
    pub input_size: [usize; 2],
    /// The burnpack file, relative to the manifest.
    pub weights_file: String,
    /// Lower-case hex sha256 of the weights file.
    pub weights_sha256: String,
    /// "f16" or "f32": the dtype on disk (parameters are always f32 in memory).
    pub weights_dtype: String,
    /// The command that produced the weights.
    pub provenance: String,
}

impl Manifest {
    /// Parses and checks a manifest.
    pub fn from_json(text: &str) -> Result<Self> {
        let invalid = |e: String| SssError::Weights(format!("the manifest is not valid ({e})"));
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        // Settings are f32: a number beyond f32's range would become infinite (found by
        // fuzzing: a window centre of 8e94).
        if let Some(path) = number_out_of_f32_range(&value, String::new()) {
            return Err(invalid(format!(
                "{path} is a number too large for the model's settings"
            )));
        }
        let manifest: Manifest =
            serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
        if manifest.format_version != MANIFEST_VERSION {
            return Err(SssError::Weights(format!(
                "manifest format {} is not supported by this build (it reads format \
                 {MANIFEST_VERSION}); export the weights again with this version of sss",
                manifest.format_version
            )));
        }
        if manifest.classes.is_empty() || manifest.input_size.contains(&0) {
            return Err(SssError::Weights(
                "the manifest lists no classes or a zero input size".into(),
            ));
        }
        Ok(manifest)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest always serialises")
    }

    /// Fails unless `bytes` are the weights file this manifest names.
    pub fn verify(&self, bytes: &[u8]) -> Result<()> {
        let actual = sha256_hex(bytes);
        if actual != self.weights_sha256 {
            return Err(SssError::Weights(format!(
                "{} does not match its manifest (sha256 {actual}, expected {}); the download is \
                 incomplete or the files are from different exports",
                self.weights_file, self.weights_sha256
            )));
        }
        Ok(())
    }
}

/// Where in `value` a number lies beyond ±`f32::MAX`, as a path like `a.b[2]`: settings read
/// as `f32` would become infinite there (manifests, checkpoints' states).
pub fn number_out_of_f32_range(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::Number(n) => n
            .as_f64()
            .is_some_and(|x| x.abs() > f64::from(f32::MAX))
            .then_some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| number_out_of_f32_range(v, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let sub = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            number_out_of_f32_range(v, sub)
        }),
        _ => None,
    }
}

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Casts every float parameter of a module to `dtype`.
struct CastFloats(DType);

impl ModuleMapper for CastFloats {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|t| t.cast(dtype))
    }
}

/// The module with every float parameter cast to `dtype` (f16 rounds them).
pub fn cast_floats<M: Module>(module: M, dtype: DType) -> M {
    module.map(&mut CastFloats(dtype))
}

/// Serialises a module's parameters to burnpack bytes in `dtype` (f16 halves the download).
///
/// Reads tensors back synchronously: native only, never from the page.
#[cfg(feature = "native")]
pub fn encode_module<M: Module>(module: M, dtype: DType) -> Result<Vec<u8>> {
    let bytes = cast_floats(module, dtype)
        .into_record()
        .into_bytes()
        .map_err(|e| SssError::Weights(format!("cannot serialise the weights ({e})")))?;
    Ok(bytes.to_vec())
}

/// Loads burnpack bytes into `module` (whose parameters decide the in-memory dtype, f32),
/// refusing files whose tensors do not match the architecture.
pub fn decode_into<M: Module>(module: M, bytes: Vec<u8>) -> Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| SssError::Weights(format!("not a burnpack weights file ({e})")))?
        .cast_to_module_dtype();
    module.try_load_record(record).map_err(|e| {
        SssError::Weights(format!(
            "the weights do not fit this model ({e}); check that the manifest and the weights \
             file come from the same export"
        ))
    })
}

/// Builds the SSS network a manifest describes and loads `weights` into it, after checking
/// them against the manifest's sha256 and that the classes and sizes agree. The loader the
/// CLI and the page share.
pub fn load_sss(
    manifest: &Manifest,
    weights: Vec<u8>,
    device: &burn::tensor::Device,
) -> Result<SssNet> {
    manifest.verify(&weights)?;
    let ModelSpec::Sss {
        sam2, coarse_head, ..
    } = &manifest.model
    else {
        return Err(SssError::Weights(
            "these weights are not SSS (SAM-2) weights".into(),
        ));
    };
    if !matches!(manifest.intensity, IntensityRule::Channels { .. }) {
        return Err(SssError::Weights(
            "SSS weights need a `channels` intensity rule in their manifest".into(),
        ));
    }
    if coarse_head.num_classes != manifest.classes.len() {
        return Err(SssError::Weights(format!(
            "the coarse head has {} classes but the manifest lists {}",
            coarse_head.num_classes,
            manifest.classes.len()
        )));
    }
    if manifest.input_size != [sam2.image_size, sam2.image_size] {
        return Err(SssError::Weights(format!(
            "input size {:?} differs from the SAM-2 image size {}",
            manifest.input_size, sam2.image_size
        )));
    }
    decode_into(SssNet::new(sam2, coarse_head, device)?, weights)
}

/// Writes `<stem>.bpk` and `<stem>.json` (the manifest, with the file name, dtype and sha256
/// filled in) and returns the manifest's path.
#[cfg(feature = "native")]
pub fn write_export(
    stem: &std::path::Path,
    mut manifest: Manifest,
    weights: &[u8],
    dtype: DType,
) -> Result<std::path::PathBuf> {
    let bpk = stem.with_extension("bpk");
    let json = stem.with_extension("json");
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| SssError::io(dir.display().to_string(), e))?;
    }
    manifest.weights_file = bpk
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    manifest.weights_sha256 = sha256_hex(weights);
    manifest.weights_dtype = match dtype {
        DType::F16 => "f16",
        _ => "f32",
    }
    .into();
    std::fs::write(&bpk, weights).map_err(|e| SssError::io(bpk.display().to_string(), e))?;
    std::fs::write(&json, manifest.to_json())
        .map_err(|e| SssError::io(json.display().to_string(), e))?;
    Ok(json)
}

/// Reads a manifest and the weights file it names (native).
#[cfg(feature = "native")]
pub fn read_export(manifest_path: &std::path::Path) -> Result<(Manifest, Vec<u8>)> {
    let text = std::fs::read_to_string(manifest_path)
        .map_err(|e| SssError::io(manifest_path.display().to_string(), e))?;
    let manifest = Manifest::from_json(&text)?;
    let bpk = manifest_path
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join(&manifest.weights_file);
    let bytes = std::fs::read(&bpk).map_err(|e| SssError::io(bpk.display().to_string(), e))?;
    Ok((manifest, bytes))
}
