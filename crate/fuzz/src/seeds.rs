//! Seed inputs for each fuzz target, generated here rather than committed: small valid files
//! of every kind the readers take (NIfTI-1 in each datatype the standard lists, scaled, gzip,
//! big-endian NIfTI-2, one-frame 4-D, 2-D; DICOM slices from the project's writer, alone and
//! in pairs; PNG and JPEG images; the shipped weights' manifests; burnpack files in f32 and
//! f16; prompts and training states as the program writes them). libFuzzer mutates from these;
//! the replay test runs each once.

use burn::tensor::Device;
use sss::Volume;
use sss::data::dicom_writer::write_dicom_series;
use sss::data::label_export::gzip;
use sss::data::nifti_io::write_nifti;
use sss::model::Sam2Config;
use sss::prompt::pcsw::{ClassPrompt, Click, PcswPrompt, PromptSource};
use sss::train::checkpoint::TrainState;
use sss::train::trainer::{PromptCache, SssTrainConfig};
use sss::weights::encode_module;

use crate::{SEED_DTYPES, TWO_FILES, burnpack_module};

/// The seeds of target `name` (see [`crate::TARGETS`]) as `(file name, bytes)`.
pub fn seeds(name: &str) -> Vec<(String, Vec<u8>)> {
    match name {
        "nifti" => nifti_seeds(),
        "dicom" => dicom_seeds(),
        "manifest" => manifest_seeds(),
        "burnpack" => burnpack_seeds(),
        "prompts" => prompt_seeds(),
        "checkpoint" => checkpoint_seeds(),
        "raster" => raster_seeds(),
        other => panic!("no fuzz target {other:?}"),
    }
}

/// Small images of each kind the raster reader takes: 8- and 16-bit grey PNG, RGBA PNG, a
/// grey and a colour JPEG.
fn raster_seeds() -> Vec<(String, Vec<u8>)> {
    use image::codecs::jpeg::JpegEncoder;
    use image::codecs::png::PngEncoder;
    use image::{ExtendedColorType as C, ImageEncoder};
    let (w, h) = (6u32, 4u32);
    let grey: Vec<u8> = (0..w * h).map(|i| (i * 10) as u8).collect();
    let grey16: Vec<u8> = (0..w * h)
        .flat_map(|i| (i as u16 * 2500).to_ne_bytes())
        .collect();
    let rgba: Vec<u8> = (0..w * h * 4).map(|i| (i * 7) as u8).collect();
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 5) as u8).collect();
    let png = |pixels: &[u8], colour| {
        let mut out = Vec::new();
        let encoder = PngEncoder::new(&mut out);
        encoder
            .write_image(pixels, w, h, colour)
            .expect("a PNG seed");
        out
    };
    let jpeg = |pixels: &[u8], colour| {
        let mut out = Vec::new();
        let encoder = JpegEncoder::new_with_quality(&mut out, 90);
        encoder
            .write_image(pixels, w, h, colour)
            .expect("a JPEG seed");
        out
    };
    vec![
        ("grey8.png".into(), png(&grey, C::L8)),
        ("grey16.png".into(), png(&grey16, C::L16)),
        ("rgba8.png".into(), png(&rgba, C::Rgba8)),
        ("grey.jpg".into(), jpeg(&grey, C::L8)),
        ("rgb.jpg".into(), jpeg(&rgb, C::Rgb8)),
    ]
}

fn small_volume(dims: [usize; 3]) -> Volume<f32> {
    let n = dims.iter().product::<usize>();
    let mut v = Volume::new(
        (0..n).map(|i| (i % 17) as f32 * 3.5 - 20.0).collect(),
        dims,
        [0.8, 0.9, 2.5],
    )
    .expect("a valid volume");
    // Oblique and flipped, so that geometry is part of every seed.
    v.affine = [
        [-0.8, 0.0, 0.1, 10.0],
        [0.0, 0.9, 0.0, -20.0],
        [0.0, 0.05, 2.5, 30.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    v
}

/// `volume` written as a `.nii` file by the project's writer.
fn nii_bytes(volume: &Volume<f32>) -> Vec<u8> {
    let path = std::env::temp_dir().join(format!(
        "sss-fuzz-seed-{}-{:?}.nii",
        std::process::id(),
        std::thread::current().id()
    ));
    write_nifti(volume, &path).expect("writing a seed");
    let bytes = std::fs::read(&path).expect("reading a seed back");
    let _ = std::fs::remove_file(&path);
    bytes
}

/// NIfTI-1 datatype codes with their sizes in bytes, every one the standard lists for
/// scalar data.
const DATATYPES: [(i16, usize); 10] = [
    (2, 1),    // uint8
    (4, 2),    // int16
    (8, 4),    // int32
    (16, 4),   // float32
    (64, 8),   // float64
    (256, 1),  // int8
    (512, 2),  // uint16
    (768, 4),  // uint32
    (1024, 8), // int64
    (1280, 8), // uint64
];

/// `value` in NIfTI datatype `code`, little-endian.
fn encode(code: i16, value: i64) -> Vec<u8> {
    match code {
        2 => vec![value.rem_euclid(256) as u8],
        256 => (value as i8).to_le_bytes().to_vec(),
        4 => (value as i16).to_le_bytes().to_vec(),
        512 => (value.unsigned_abs() as u16).to_le_bytes().to_vec(),
        8 => (value as i32).to_le_bytes().to_vec(),
        768 => (value.unsigned_abs() as u32).to_le_bytes().to_vec(),
        1024 => value.to_le_bytes().to_vec(),
        1280 => value.unsigned_abs().to_le_bytes().to_vec(),
        16 => (value as f32 * 0.5).to_le_bytes().to_vec(),
        64 => (value as f64 * 0.5).to_le_bytes().to_vec(),
        _ => unreachable!("datatype {code}"),
    }
}

fn nifti_seeds() -> Vec<(String, Vec<u8>)> {
    let dims = [5, 4, 3];
    let base = nii_bytes(&small_volume(dims));
    let offset = f32::from_le_bytes(base[108..112].try_into().unwrap()) as usize;
    let header = &base[..offset];
    let mut out = vec![
        ("f32.nii".to_string(), base.clone()),
        ("f32.nii.gz".to_string(), gzip(&base).unwrap()),
    ];
    for (code, bits) in DATATYPES {
        let mut file = header.to_vec();
        file[70..72].copy_from_slice(&code.to_le_bytes());
        file[72..74].copy_from_slice(&(bits as i16 * 8).to_le_bytes());
        // scl_slope 2, scl_inter -1.
        file[112..116].copy_from_slice(&2.0f32.to_le_bytes());
        file[116..120].copy_from_slice(&(-1.0f32).to_le_bytes());
        file.extend((0..60).flat_map(|i| encode(code, (i % 13) as i64 - 4)));
        out.push((format!("dt{code}.nii"), file));
    }
    // 4-D with one frame, and with two; 2-D.
    let mut four = base.clone();
    four[40..42].copy_from_slice(&4i16.to_le_bytes());
    four[48..50].copy_from_slice(&1i16.to_le_bytes());
    out.push(("4d-one-frame.nii".into(), four.clone()));
    four[48..50].copy_from_slice(&2i16.to_le_bytes());
    four.extend_from_slice(&base[offset..]);
    out.push(("4d-two-frames.nii".into(), four));
    let mut flat = header.to_vec();
    flat[40..42].copy_from_slice(&2i16.to_le_bytes());
    flat.extend_from_slice(&base[offset..offset + 20 * 4]);
    out.push(("2d.nii".into(), flat));
    out.push(("nifti2-le.nii".into(), nifti2(false)));
    out.push(("nifti2-be.nii".into(), nifti2(true)));
    out
}

/// A NIfTI-2 file, little- or big-endian: 5 × 4 × 3 float32 with a scaling.
fn nifti2(big_endian: bool) -> Vec<u8> {
    macro_rules! bytes {
        ($v:expr) => {
            if big_endian {
                $v.to_be_bytes()
            } else {
                $v.to_le_bytes()
            }
        };
    }
    let mut h = vec![0u8; 540];
    h[0..4].copy_from_slice(&bytes!(540i32));
    h[4..12].copy_from_slice(b"n+2\0\r\n\x1a\n");
    h[12..14].copy_from_slice(&bytes!(16i16));
    h[14..16].copy_from_slice(&bytes!(32i16));
    for (i, d) in [3i64, 5, 4, 3, 1, 1, 1, 1].iter().enumerate() {
        h[16 + 8 * i..24 + 8 * i].copy_from_slice(&bytes!(d));
    }
    for (i, p) in [1.0f64, 0.8, 0.9, 2.5].iter().enumerate() {
        h[104 + 8 * i..112 + 8 * i].copy_from_slice(&bytes!(p));
    }
    h[168..176].copy_from_slice(&bytes!(544i64));
    h[176..184].copy_from_slice(&bytes!(2.0f64));
    h.extend_from_slice(&[0; 4]);
    h.extend((0..60).flat_map(|i| bytes!(i as f32)));
    h
}

fn dicom_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (modality, dims) in [("CT", [6, 5, 3]), ("MR", [4, 4, 2])] {
        let files = write_dicom_series(&small_volume(dims), modality).expect("a seed series");
        for (i, f) in files.iter().enumerate() {
            out.push((format!("{modality}-{i}.dcm"), f.clone()));
        }
        let mut pair = TWO_FILES.to_vec();
        pair.extend_from_slice(&(files[0].len() as u32).to_le_bytes());
        pair.extend_from_slice(&files[0]);
        pair.extend_from_slice(&files[1]);
        out.push((format!("{modality}-pair.bin"), pair));
    }
    out
}

fn manifest_seeds() -> Vec<(String, Vec<u8>)> {
    [
        (
            "sss-cardiac.json",
            include_str!("../../../web/assets/weights/sss-cardiac.json"),
        ),
        (
            "sss-brain-ct.json",
            include_str!("../../../web/assets/weights/sss-brain-ct.json"),
        ),
    ]
    .into_iter()
    .map(|(name, text)| (name.to_string(), text.as_bytes().to_vec()))
    .collect()
}

fn burnpack_seeds() -> Vec<(String, Vec<u8>)> {
    let device = Device::flex();
    SEED_DTYPES
        .iter()
        .map(|&dtype| {
            let bytes = encode_module(burnpack_module(&device), dtype).expect("encoding a seed");
            (format!("coarse-head-{dtype:?}.bpk"), bytes)
        })
        .collect()
}

fn prompt_seeds() -> Vec<(String, Vec<u8>)> {
    let prompt = |class: u8, slice: usize, source: PromptSource| ClassPrompt {
        class,
        prompt: PcswPrompt {
            slice,
            box_xyxy: [3.0, 4.0, 30.5, 20.0],
            point: [10.0, 12.0],
            source,
        },
        clicks: vec![Click {
            point: [11.0, 13.0],
            positive: class.is_multiple_of(2),
        }],
    };
    let list = vec![
        prompt(1, 2, PromptSource::Window { n: 3, start: 1 }),
        prompt(2, 5, PromptSource::Component),
        prompt(3, 0, PromptSource::Empty),
    ];
    let file = serde_json::json!({
        "scan": "patient001_frame01.nii.gz",
        "prompts": list,
        "class_names": ["background", "RV", "Myo", "LV"],
    });
    vec![
        ("page.json".into(), serde_json::to_vec(&list).unwrap()),
        (
            "segment.prompts.json".into(),
            serde_json::to_vec(&file).unwrap(),
        ),
    ]
}

fn checkpoint_seeds() -> Vec<(String, Vec<u8>)> {
    let state = TrainState {
        step: 500,
        config: SssTrainConfig::new(Sam2Config::micro_wide(), 4),
        prompt_cache: PromptCache::default(),
        labeled: vec!["patient001".into(), "patient002".into()],
        unlabeled: vec!["patient003".into()],
    };
    vec![(
        "state.json".into(),
        serde_json::to_vec_pretty(&state).unwrap(),
    )]
}
