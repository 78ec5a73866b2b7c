//! Fuzz targets for every reader of data that comes from outside the program: NIfTI scans
//! (`.nii`, `.nii.gz`, header and data, as `sss segment` and the page open them), DICOM
//! series, PNG and JPEG images, the weights manifest, burnpack weights files, prompts JSON (the page's and `sss
//! segment --use-prompts`'s) and training checkpoints' `state.json`.
//!
//! Each target takes arbitrary bytes and must return, never panic, abort or allocate without
//! bound: a refusal is an `Err` with a sentence. Where a reader accepts its input the target
//! also checks what the rest of the product then relies on (a volume's voxel count equals its
//! dims; a scan the page opens can also have its label map saved in its geometry; a manifest
//! that parses writes back and parses again). Two drivers run them:
//! - `scripts/fuzz.sh`: libFuzzer binaries (`fuzz_targets/`, feature `libfuzzer`), built on the
//!   stable toolchain with LLVM's coverage instrumentation (long runs; RELIABILITY.md);
//! - `tests/replay.rs`: the generated seeds ([`seeds`]) and every input under `regressions/`
//!   (crashes found, kept as tests), in the test command.

use burn::module::Module;
use burn::tensor::{DType, Device};
use sss::data::dicom_series::read_dicom_series;
use sss::data::label_export::{header_for_volume, header_of, labels_like_input};
use sss::data::nifti_io::read_nifti_bytes;
use sss::data::raster::read_raster_bytes;
use sss::model::coarse_head::{CoarseHead, CoarseHeadConfig};
use sss::prompt::check::check_class_prompts;
use sss::prompt::pcsw::ClassPrompt;
use sss::train::checkpoint::TrainState;
use sss::weights::{Manifest, ModelSpec, decode_into};

pub mod heap_limit;
pub mod seeds;
pub use heap_limit::HeapLimit;
pub use seeds::seeds;

/// A fuzz target: takes any bytes, panics only on a bug.
pub type Target = fn(&[u8]);

/// Every target by name, as `scripts/fuzz.sh` and the replay test call them.
pub const TARGETS: &[(&str, Target)] = &[
    ("nifti", nifti),
    ("dicom", dicom),
    ("manifest", manifest),
    ("burnpack", burnpack),
    ("prompts", prompts),
    ("checkpoint", checkpoint),
    ("raster", raster),
];

/// A NIfTI file as the page and `sss segment` open it. When it reads, the label map of the
/// same size must be writable in its geometry (the page's "Save labels", `sss segment`) and
/// read back with the same grid and affine.
pub fn nifti(data: &[u8]) {
    let Ok(volume) = read_nifti_bytes(data) else {
        return;
    };
    let [nx, ny, nz] = volume.dims;
    assert_eq!(volume.data.len(), nx * ny * nz, "voxel count ≠ dims");
    let header = header_of(data).expect("a scan that reads has a header to save labels in");
    let labels = vec![1u8; volume.data.len()];
    let out = labels_like_input(&header, &labels)
        .expect("a scan that reads can have its label map saved in its geometry");
    let back = read_nifti_bytes(&out).expect("the saved label map reads back");
    assert_eq!(back.dims, volume.dims, "label map dims");
    assert!(
        back.affine.iter().flatten().all(|v| v.is_finite()),
        "a finite affine"
    );
    assert_eq!(back.affine, volume.affine, "label map affine");
    assert!(back.data.iter().all(|&v| v == 1.0), "label values");
}

/// Prefix of an input that [`dicom`] reads as two files: `TWO!`, the first file's length as
/// a little-endian `u32`, the first file, the second.
pub const TWO_FILES: &[u8; 4] = b"TWO!";

/// One DICOM file, or two (see [`TWO_FILES`]), as a series.
pub fn dicom(data: &[u8]) {
    let files: Vec<(String, &[u8])> = match data.strip_prefix(TWO_FILES) {
        Some(rest) if rest.len() >= 4 => {
            let n = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
            let rest = &rest[4..];
            let n = n.min(rest.len());
            vec![("a.dcm".into(), &rest[..n]), ("b.dcm".into(), &rest[n..])]
        }
        _ => vec![("a.dcm".into(), data)],
    };
    if let Ok(series) = read_dicom_series(&files) {
        let [nx, ny, nz] = series.volume.dims;
        assert_eq!(series.volume.data.len(), nx * ny * nz, "voxel count ≠ dims");
    }
}

/// A PNG or JPEG image as the page and `sss segment` open it: one slice, its voxel count its
/// dims, and its label map writable in a header made for it and read back with its grid.
pub fn raster(data: &[u8]) {
    let Ok(volume) = read_raster_bytes(data) else {
        return;
    };
    let [nx, ny, nz] = volume.dims;
    assert_eq!(nz, 1, "an image is one slice");
    assert_eq!(volume.data.len(), nx * ny, "voxel count ≠ dims");
    assert!(
        volume.data.iter().all(|v| v.is_finite()),
        "finite grey levels"
    );
    let labels = vec![1u8; volume.data.len()];
    let out = labels_like_input(&header_for_volume(&volume), &labels)
        .expect("an image that reads can have its label map saved");
    let back = read_nifti_bytes(&out).expect("the saved label map reads back");
    assert_eq!(back.dims, volume.dims, "label map dims");
    assert_eq!(back.affine, volume.affine, "label map affine");
}

/// A weights manifest. One that parses names a model whose configuration checks out or is
/// refused, and writes back to JSON that parses again.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = Manifest::from_json(text) else {
        return;
    };
    if let ModelSpec::Sss { sam2, .. } = &manifest.model {
        let _ = sam2.validate();
    }
    Manifest::from_json(&manifest.to_json()).expect("a manifest that parses writes back");
    assert!(manifest.verify(b"").is_err() || manifest.weights_sha256 == EMPTY_SHA256);
}

/// sha256 of no bytes.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The small module burnpack inputs are loaded into: a coarse head (convolutions, a group
/// norm), so that nested records, shapes and dtypes are all checked.
pub fn burnpack_module(device: &Device) -> CoarseHead {
    CoarseHeadConfig {
        hidden: 8,
        groups: 2,
        ..CoarseHeadConfig::new(4, 3)
    }
    .init(device)
    .expect("a valid coarse head")
}

/// A burnpack weights file loaded into a module (the loader the page and the CLI share, after
/// the manifest's sha256 has matched; checkpoints' `.bpk` files go the same way).
pub fn burnpack(data: &[u8]) {
    thread_local! {
        static MODULE: CoarseHead = burnpack_module(&Device::flex());
    }
    let module = MODULE.with(|m| m.clone());
    if let Ok(loaded) = decode_into(module, data.to_vec()) {
        assert_eq!(loaded.num_params(), MODULE.with(|m| m.num_params()));
    }
}

/// The grid and classes prompts are checked against in [`prompts`].
pub const PROMPT_DIMS: [usize; 3] = [64, 48, 10];
pub const PROMPT_CLASSES: usize = 4;

/// Prompts JSON: the page's list of class prompts, or a prompts file as `sss segment` writes
/// it (`{"prompts": [...], ...}`), then checked against a volume and the weights' classes.
pub fn prompts(data: &[u8]) {
    let list: Vec<ClassPrompt> = match serde_json::from_slice(data) {
        Ok(list) => list,
        Err(_) => match serde_json::from_slice::<serde_json::Value>(data)
            .ok()
            .and_then(|v| v.get("prompts").cloned())
            .and_then(|v| serde_json::from_value(v).ok())
        {
            Some(list) => list,
            None => return,
        },
    };
    let _ = check_class_prompts(&list, PROMPT_DIMS, PROMPT_CLASSES);
}

/// A checkpoint's `state.json` (what `sss train --resume` reads first): parsed, and its
/// training configuration validated as resuming does before building a model from it.
pub fn checkpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(state) = TrainState::from_json(text) else {
        return;
    };
    let _ = state.config.validate();
    let text = serde_json::to_string(&state).expect("a state serialises");
    let again: TrainState = serde_json::from_str(&text).expect("a state that parses writes back");
    assert_eq!(again.step, state.step);
}

/// The dtype burnpack seeds are written in.
pub const SEED_DTYPES: [DType; 2] = [DType::F32, DType::F16];
