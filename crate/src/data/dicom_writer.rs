//! A volume as a DICOM series, one uncompressed file per slice, in the volume's geometry: what
//! a scanner would export, for tests and demos (`sss to-dicom`; the page's DICOM demo). Written
//! with dicom-rs, read back by [`super::dicom_series`].

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::dicom_series::dot;
use crate::{Result, SssError, Volume};

/// `x` as a DICOM decimal string (DS: at most 16 characters).
fn decimal_string(x: f64) -> String {
    let plain = format!("{x}");
    if plain.len() <= 16 {
        return plain;
    }
    (0..=10)
        .rev()
        .map(|p| format!("{x:.p$e}"))
        .find(|s| s.len() <= 16)
        .unwrap_or_else(|| "0".into())
}

fn decimals(values: &[f64]) -> dicom_core::PrimitiveValue {
    dicom_core::PrimitiveValue::Strs(values.iter().map(|&v| decimal_string(v)).collect())
}

/// A volume as the files of a DICOM series (one per slice, explicit VR little endian, signed
/// 16-bit values with a rescale slope and intercept; integral values in range are stored
/// exactly, others to 1/65 000 of their range), in the volume's geometry: what a scanner
/// would export, for tests and demos (`sss to-dicom`). `modality` is "CT" or "MR".
pub fn write_dicom_series(volume: &Volume<f32>, modality: &str) -> Result<Vec<Vec<u8>>> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::uids;
    use dicom_object::FileMetaTableBuilder;

    let [nx, ny, nz] = volume.dims;
    if nx > 65_535 || ny > 65_535 {
        return Err(SssError::InvalidInput(format!(
            "a {nx}×{ny} slice does not fit DICOM's 16-bit rows and columns"
        )));
    }
    let (lo, hi) = volume
        .data
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let integral = volume
        .data
        .iter()
        .all(|&v| v.fract() == 0.0 && (-32768.0..=32767.0).contains(&v));
    let (slope, intercept) = if integral {
        (1.0, 0.0)
    } else {
        let slope: f64 = decimal_string(f64::from(hi - lo).max(1e-6) / 65_000.0)
            .parse()
            .unwrap_or(1.0);
        let intercept: f64 = decimal_string(f64::from(lo) + 32_768.0 * slope)
            .parse()
            .unwrap_or(0.0);
        (slope, intercept)
    };
    // Voxel → LPS: the RAS+ affine with its first two rows negated.
    let a = &volume.affine;
    let lps = |r: usize, c: usize| f64::from(if r < 2 { -a[r][c] } else { a[r][c] });
    let axis = |c: usize| [lps(0, c), lps(1, c), lps(2, c)];
    let length = |v: [f64; 3]| dot(v, v).sqrt();
    let (ai, aj, ak) = (axis(0), axis(1), axis(2));
    let (d_col, d_row) = (length(ai), length(aj));
    let orientation = [
        ai[0] / d_col,
        ai[1] / d_col,
        ai[2] / d_col,
        aj[0] / d_row,
        aj[1] / d_row,
        aj[2] / d_row,
    ];
    // Deterministic identifiers from the voxels (2.25: a UID from a number).
    let digest =
        <sha2::Sha256 as sha2::Digest>::digest(bytemuck::cast_slice::<f32, u8>(&volume.data));
    let root = u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]));
    let uid = |part: u64| format!("2.25.{}{part:04}", root % 1_000_000_000_000_000);
    let sop_class = if modality == "CT" {
        uids::CT_IMAGE_STORAGE
    } else {
        uids::MR_IMAGE_STORAGE
    };
    let plane = nx * ny;
    (0..nz)
        .map(|k| {
            let position = [0, 1, 2].map(|r| lps(r, 3) + k as f64 * ak[r]);
            let stored: Vec<u16> = volume.data[k * plane..(k + 1) * plane]
                .iter()
                .map(|&v| {
                    let s = ((f64::from(v) - intercept) / slope).round();
                    s.clamp(-32_768.0, 32_767.0) as i16 as u16
                })
                .collect();
            let obj = InMemDicomObject::from_element_iter([
                DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from(sop_class)),
                DataElement::new(
                    tags::SOP_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from(uid(k as u64 + 10)),
                ),
                DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from(modality)),
                DataElement::new(
                    tags::STUDY_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from(uid(1)),
                ),
                DataElement::new(
                    tags::SERIES_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from(uid(2)),
                ),
                DataElement::new(
                    tags::INSTANCE_NUMBER,
                    VR::IS,
                    PrimitiveValue::from((k + 1).to_string()),
                ),
                DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, decimals(&position)),
                DataElement::new(
                    tags::IMAGE_ORIENTATION_PATIENT,
                    VR::DS,
                    decimals(&orientation),
                ),
                DataElement::new(tags::SLICE_THICKNESS, VR::DS, decimals(&[length(ak)])),
                DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
                DataElement::new(
                    tags::PHOTOMETRIC_INTERPRETATION,
                    VR::CS,
                    PrimitiveValue::from("MONOCHROME2"),
                ),
                DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(ny as u16)),
                DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(nx as u16)),
                DataElement::new(tags::PIXEL_SPACING, VR::DS, decimals(&[d_row, d_col])),
                DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
                DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16)),
                DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16)),
                DataElement::new(
                    tags::PIXEL_REPRESENTATION,
                    VR::US,
                    PrimitiveValue::from(1u16),
                ),
                DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, decimals(&[intercept])),
                DataElement::new(tags::RESCALE_SLOPE, VR::DS, decimals(&[slope])),
                DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(stored.into())),
            ]);
            let file = obj
                .with_meta(
                    FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN),
                )
                .map_err(|e| {
                    SssError::InvalidInput(format!("cannot make DICOM slice {k} ({e})"))
                })?;
            let mut bytes = Vec::new();
            file.write_all(&mut bytes).map_err(|e| {
                SssError::InvalidInput(format!("cannot write DICOM slice {k} ({e})"))
            })?;
            Ok(bytes)
        })
        .collect()
}
