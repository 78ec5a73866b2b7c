//! DICOM series as scans: the files of one series (as a scanner or PACS exports them, in any
//! order, mixed with other files) become one [`Volume`] in the same world frame as NIfTI
//! (RAS+, mm), read with the `dicom-object` crate (dicom-rs), natively and in the page.
//!
//! The rules, after what DICOM viewers (dcm2niix, ITK, Cornerstone3D) do:
//! - Files that are not DICOM images (no pixel data, a DICOMDIR, a text file) are left out and
//!   named in [`DicomSeries::notes`]. With several series, the one with the most slices is read
//!   and the others are named.
//! - Slices are sorted by their position along the slice normal (the cross product of the two
//!   direction cosines of Image Orientation (Patient)), not by file name; without positions,
//!   by Instance Number.
//! - Values are the stored ones (Bits Stored, signed or not) times Rescale Slope plus Rescale
//!   Intercept, per slice (CT gives Hounsfield units).
//! - Voxel (i = column, j = row, k = slice) maps to the patient (LPS) point
//!   `P₀ + i·Δc·r + j·Δr·c + k·s`, with `r`, `c` the row and column direction cosines, `Δr`,
//!   `Δc` Pixel Spacing (between rows, between columns) and `s` the step from the first slice
//!   to the next; RAS+ flips the first two axes. The label map a segmentation writes carries
//!   this geometry ([`crate::data::label_export::header_for_volume`]); `super::dicom_writer`
//!   writes a volume as such a series.
//! - Compressed pixel data (JPEG, JPEG 2000, RLE, deflate), multi-frame (enhanced) files and
//!   colour images are refused with a sentence that says what to do.

use std::io::Cursor;

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, OpenFileOptions};

use super::dicom_bounds::declared_lengths_overrun;
use crate::{Result, SssError, Volume};

/// The most voxels a series may hold (as many as a 1024 × 1024 × 1024 volume): checked from the
/// headers before the voxels are allocated.
pub const MAX_VOXELS: usize = 1 << 30;

/// The uncompressed transfer syntaxes read: implicit and explicit VR little endian.
const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

/// A DICOM series read as a volume.
#[derive(Clone, Debug)]
pub struct DicomSeries {
    pub volume: Volume<f32>,
    /// The series' Modality (0008,0060), e.g. "CT", "MR".
    pub modality: Option<String>,
    /// What was left out or assumed, in words (files not read, other series, uneven spacing).
    pub notes: Vec<String>,
}

/// Whether a file is a NIfTI scan by its name (`.nii`, `.nii.gz`) or its first bytes (gzip,
/// or a NIfTI-1/2 header size in either byte order).
fn looks_like_nifti(name: &str, bytes: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    let sized = bytes.get(..4).is_some_and(|b| {
        let b: [u8; 4] = b.try_into().expect("4 bytes");
        [348, 540].contains(&i32::from_le_bytes(b)) || [348, 540].contains(&i32::from_be_bytes(b))
    });
    lower.ends_with(".nii")
        || lower.ends_with(".nii.gz")
        || bytes.starts_with(&[0x1f, 0x8b])
        || sized
}

/// Whether `bytes` start like a DICOM file (Part 10: 128-byte preamble, then "DICM").
pub fn looks_like_dicom(bytes: &[u8]) -> bool {
    bytes.len() > 132 && &bytes[128..132] == b"DICM"
}

/// One image slice of a file.
struct Slice {
    name: String,
    series: String,
    instance: Option<i64>,
    rows: usize,
    cols: usize,
    /// Row and column direction cosines (LPS).
    orientation: Option<[f64; 6]>,
    position: Option<[f64; 3]>,
    /// Between rows, between columns (mm).
    pixel_spacing: Option<[f64; 2]>,
    thickness: Option<f64>,
    modality: Option<String>,
    values: Vec<f32>,
}

fn refuse(name: &str, why: impl std::fmt::Display) -> SssError {
    SssError::Scan(format!("{name}: {why}"))
}

/// An optional element's text, trimmed.
fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok()??;
    let s = e.to_str().ok()?.trim().trim_end_matches('\0').to_string();
    (!s.is_empty()).then_some(s)
}

fn floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    obj.element_opt(tag).ok()??.to_multi_float64().ok()
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    obj.element_opt(tag).ok()??.to_int::<i64>().ok()
}

/// Parses one file: `Ok(None)` when it is DICOM but holds no image (a DICOMDIR, a report).
fn read_slice(name: &str, bytes: &[u8]) -> Result<Option<Slice>> {
    // Step 1: refuse a file whose elements declare more bytes than it holds (crafted or truncated)
    // before dicom-object allocates for them.
    if let Some(why) = declared_lengths_overrun(bytes) {
        return Err(refuse(name, why));
    }
    // Step 2: open the data set past the 128-byte preamble, if any, and note its transfer syntax.
    let start = if looks_like_dicom(bytes) { 128 } else { 0 };
    let file = OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Never)
        .from_reader(Cursor::new(&bytes[start..]))
        .map_err(|e| refuse(name, format!("not a readable DICOM file ({e})")))?;
    let syntax = file
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    // Step 3: no Pixel Data means no image (a DICOMDIR, a report); pixels stored in a syntax other
    // than uncompressed little endian are refused.
    let obj: &InMemDicomObject = &file;
    let Some(pixels) = obj.element_opt(tags::PIXEL_DATA).ok().flatten() else {
        return Ok(None);
    };
    if syntax != IMPLICIT_VR_LE && syntax != EXPLICIT_VR_LE {
        return Err(refuse(
            name,
            format!(
                "its pixel data is stored with transfer syntax {syntax} (compressed or big \
                 endian), which is not read yet: export the series uncompressed (for example \
                 `gdcmconv --raw` or `dcmdjpeg`) and open it again"
            ),
        ));
    }
    // Step 4: the image header: size and bits allocated are required; colour, multi-frame and
    // impossible sizes are refused.
    let need = |tag: Tag, what: &str| {
        int(obj, tag).ok_or_else(|| refuse(name, format!("it has no {what}")))
    };
    let rows = need(tags::ROWS, "Rows (0028,0010)")?;
    let cols = need(tags::COLUMNS, "Columns (0028,0011)")?;
    let bits = need(tags::BITS_ALLOCATED, "Bits Allocated (0028,0100)")?;
    let samples = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    let frames = int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1);
    if samples != 1 {
        return Err(refuse(
            name,
            format!(
                "it is a colour image ({samples} samples per pixel); SSS reads greyscale scans"
            ),
        ));
    }
    if frames != 1 {
        return Err(refuse(
            name,
            format!(
                "it holds {frames} frames (a multi-frame or enhanced DICOM file), which is not \
                 read yet: export the series as one file per slice, or convert it to NIfTI \
                 (dcm2niix)"
            ),
        ));
    }
    if rows <= 0 || cols <= 0 || rows > 65_535 || cols > 65_535 {
        return Err(refuse(
            name,
            format!("its size {cols}×{rows} is not an image"),
        ));
    }
    let (rows, cols) = (rows as usize, cols as usize);
    // Step 5: how stored values become real ones: Bits Stored, sign, Rescale Slope and Intercept (a
    // zero or non-finite slope counts as 1).
    let stored = int(obj, tags::BITS_STORED).unwrap_or(bits);
    let signed = int(obj, tags::PIXEL_REPRESENTATION).unwrap_or(0) == 1;
    let slope = floats(obj, tags::RESCALE_SLOPE)
        .and_then(|v| v.first().copied())
        .unwrap_or(1.0);
    let intercept = floats(obj, tags::RESCALE_INTERCEPT)
        .and_then(|v| v.first().copied())
        .unwrap_or(0.0);
    let slope = if slope.is_finite() && slope != 0.0 {
        slope
    } else {
        1.0
    };
    // Step 6: the raw pixel bytes: 1, 2 or 4 bytes a pixel, and at least rows × cols of them.
    let bytes = pixels
        .to_bytes()
        .map_err(|e| refuse(name, format!("its pixel data cannot be read ({e})")))?;
    let n = rows * cols;
    let width = match bits {
        8 => 1,
        16 => 2,
        32 => 4,
        other => {
            return Err(refuse(
                name,
                format!("it has {other} bits allocated per pixel; 8, 16 and 32 are read"),
            ));
        }
    };
    if bytes.len() < n * width {
        return Err(refuse(
            name,
            format!(
                "its pixel data has {} bytes, less than {cols}×{rows} pixels of {bits} bits \
                 ({} bytes): the file is truncated",
                bytes.len(),
                n * width
            ),
        ));
    }
    // Step 7: decode each little-endian pixel: keep the low `stored` bits, sign-extend if signed,
    // rescale. Row-major: values[j * cols + i], j = row, i = column.
    let stored = stored.clamp(1, bits) as u32;
    let mask: u64 = if stored >= 64 {
        u64::MAX
    } else {
        (1u64 << stored) - 1
    };
    let values = bytes[..n * width]
        .chunks_exact(width)
        .map(|b| {
            let raw = match width {
                1 => u64::from(b[0]),
                2 => u64::from(u16::from_le_bytes([b[0], b[1]])),
                _ => u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            } & mask;
            let v = if signed && raw >> (stored - 1) & 1 == 1 {
                raw as i64 - (1i64 << stored)
            } else {
                raw as i64
            };
            (v as f64 * slope + intercept) as f32
        })
        .collect();
    // Step 8: the identity and geometry tags that `assemble` needs; a tag with too few values (or a
    // non-positive spacing or thickness) counts as absent.
    let fixed = |v: Option<Vec<f64>>, len: usize| v.filter(|v| v.len() >= len);
    Ok(Some(Slice {
        name: name.to_string(),
        series: text(obj, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
        instance: int(obj, tags::INSTANCE_NUMBER),
        rows,
        cols,
        orientation: fixed(floats(obj, tags::IMAGE_ORIENTATION_PATIENT), 6)
            .map(|v| [v[0], v[1], v[2], v[3], v[4], v[5]]),
        position: fixed(floats(obj, tags::IMAGE_POSITION_PATIENT), 3).map(|v| [v[0], v[1], v[2]]),
        pixel_spacing: fixed(floats(obj, tags::PIXEL_SPACING), 2)
            .map(|v| [v[0], v[1]])
            .filter(|s| s.iter().all(|&x| x.is_finite() && x > 0.0)),
        thickness: floats(obj, tags::SLICE_THICKNESS)
            .and_then(|v| v.first().copied())
            .filter(|&t| t.is_finite() && t > 0.0),
        modality: text(obj, tags::MODALITY),
        values,
    }))
}

pub(super) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(super) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Reads the DICOM series among `files` (name, bytes), in any order (see the module's rules).
pub fn read_dicom_series(files: &[(String, &[u8])]) -> Result<DicomSeries> {
    if files.is_empty() {
        return Err(SssError::Scan("no files were given".into()));
    }
    // Step 1: parse every file into a slice, a DICOM file without an image, or an unreadable file;
    // the first refusal of a real DICOM file is kept to explain itself.
    let mut notes = Vec::new();
    let mut slices = Vec::new();
    let mut unreadable = Vec::new();
    let mut not_images = Vec::new();
    let mut first_error = None;
    for (name, bytes) in files {
        match read_slice(name, bytes) {
            Ok(Some(s)) => slices.push(s),
            Ok(None) => not_images.push(name.clone()),
            Err(e) => {
                // A file that is DICOM but refused (compressed, multi-frame) explains itself.
                if looks_like_dicom(bytes) && first_error.is_none() {
                    first_error = Some(e);
                } else {
                    unreadable.push(name.clone());
                }
            }
        }
    }
    // Step 2: no slice at all: refuse in words that fit what was given (several NIfTI files,
    // several images, or nothing DICOM).
    if slices.is_empty() {
        let nifti = files.iter().filter(|(n, b)| looks_like_nifti(n, b)).count();
        let images = files
            .iter()
            .filter(|(n, b)| super::raster::is_raster(n, b))
            .count();
        return Err(first_error.unwrap_or_else(|| {
            SssError::Scan(if nifti > 0 && files.len() > 1 {
                format!(
                    "{nifti} of these {} files are NIfTI scans, and several files are read as \
                     the slices of one DICOM series; open one NIfTI file at a time",
                    files.len()
                )
            } else if images > 0 && files.len() > 1 {
                format!(
                    "{images} of these {} files are PNG or JPEG images, and several files are \
                     read as the slices of one DICOM series; open one image at a time",
                    files.len()
                )
            } else {
                format!(
                    "none of the {} files is a DICOM image{}",
                    files.len(),
                    if not_images.is_empty() {
                        String::new()
                    } else {
                        format!(" ({} hold no pixel data)", not_images.len())
                    }
                )
            })
        }));
    }
    // Step 3: some slices were read: what was left out becomes notes (at most three names each).
    if let Some(e) = first_error {
        notes.push(format!("some files were refused: {e}"));
    }
    let list = |names: &[String]| {
        let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
        let more = names.len().saturating_sub(3);
        format!(
            "{}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    };
    if !unreadable.is_empty() {
        notes.push(format!(
            "{} file(s) are not DICOM and were left out: {}",
            unreadable.len(),
            list(&unreadable)
        ));
    }
    if !not_images.is_empty() {
        notes.push(format!(
            "{} DICOM file(s) hold no image and were left out: {}",
            not_images.len(),
            list(&not_images)
        ));
    }
    // Step 4: the series with the most slices (counted per Series Instance UID) is read; the others
    // are only named in the notes.
    let mut series: Vec<(String, usize)> = Vec::new();
    for s in &slices {
        match series.iter_mut().find(|(uid, _)| *uid == s.series) {
            Some((_, n)) => *n += 1,
            None => series.push((s.series.clone(), 1)),
        }
    }
    series.sort_by_key(|s| std::cmp::Reverse(s.1));
    let chosen = series[0].0.clone();
    if series.len() > 1 {
        notes.push(format!(
            "the files hold {} series; the one with the most slices ({}) is shown, the others \
             ({} slices) are left out",
            series.len(),
            series[0].1,
            series[1..]
                .iter()
                .map(|s| s.1.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // Step 5: drop the other series' slices; `assemble` sorts and stacks the rest.
    slices.retain(|s| s.series == chosen);
    assemble(slices, notes)
}

/// Sorts one series' slices and stacks them into a volume with its geometry.
fn assemble(mut slices: Vec<Slice>, mut notes: Vec<String>) -> Result<DicomSeries> {
    // Step 1: every slice must have the first one's size, and the stack must fit in MAX_VOXELS.
    let (rows, cols) = (slices[0].rows, slices[0].cols);
    if let Some(s) = slices.iter().find(|s| (s.rows, s.cols) != (rows, cols)) {
        return Err(SssError::Scan(format!(
            "the slices differ in size ({} is {}×{}, {} is {cols}×{rows}): the series is not \
             one volume",
            s.name, s.cols, s.rows, slices[0].name
        )));
    }
    let nz = slices.len();
    if rows * cols * nz > MAX_VOXELS {
        return Err(SssError::Scan(format!(
            "the series holds {cols}×{rows}×{nz} voxels, more than the {MAX_VOXELS} this reader \
             takes"
        )));
    }
    // Step 2: every slice must share one orientation (parallel planes); its row and column cosines
    // give the slice normal (the identity when absent).
    let orientation = slices[0].orientation;
    let same_orientation = slices.iter().all(|s| match (s.orientation, orientation) {
        (Some(a), Some(b)) => a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4),
        (None, None) => true,
        _ => false,
    });
    if !same_orientation {
        return Err(SssError::Scan(
            "the slices are not parallel (Image Orientation (Patient) differs between them): \
             the series is not one volume (a localizer, or several stacks)"
                .into(),
        ));
    }
    let (row_dir, col_dir) = match orientation {
        Some(o) => ([o[0], o[1], o[2]], [o[3], o[4], o[5]]),
        None => ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
    };
    let normal = cross(row_dir, col_dir);
    // Step 3: sort along the normal by position, refusing two slices at one position (time points,
    // echoes); without positions, by Instance Number.
    let positioned = slices.iter().all(|s| s.position.is_some()) && orientation.is_some();
    if positioned {
        slices.sort_by(|a, b| {
            let (pa, pb) = (
                a.position.unwrap_or_default(),
                b.position.unwrap_or_default(),
            );
            dot(pa, normal).total_cmp(&dot(pb, normal))
        });
        for w in slices.windows(2) {
            let d = dot(w[1].position.unwrap_or_default(), normal)
                - dot(w[0].position.unwrap_or_default(), normal);
            if d.abs() < 1e-3 {
                return Err(SssError::Scan(format!(
                    "{} and {} lie at the same position: the series holds several images per \
                     position (time points or echoes); export one of them",
                    w[0].name, w[1].name
                )));
            }
        }
    } else {
        slices.sort_by_key(|s| s.instance.unwrap_or(i64::MAX));
        notes.push(
            "the slices have no position and orientation: sorted by instance number, spaced by \
             their slice thickness"
                .into(),
        );
    }
    // Step 4: in-plane spacing from Pixel Spacing (between rows, between columns); 1 mm if absent.
    let [d_row, d_col] = slices[0].pixel_spacing.unwrap_or_else(|| {
        notes.push("the slices have no pixel spacing: 1 mm is assumed".into());
        [1.0, 1.0]
    });
    // Step 5: the step from one slice to the next, in the patient frame: first to last position
    // over nz − 1 (uneven gaps are noted), else the normal times Slice Thickness.
    let step: [f64; 3] = if positioned && nz > 1 {
        let first = slices[0].position.unwrap_or_default();
        let last = slices[nz - 1].position.unwrap_or_default();
        let gaps: Vec<f64> = slices
            .windows(2)
            .map(|w| {
                dot(w[1].position.unwrap_or_default(), normal)
                    - dot(w[0].position.unwrap_or_default(), normal)
            })
            .collect();
        let (lo, hi) = gaps
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(l, h), &g| (l.min(g), h.max(g)));
        if hi - lo > 0.01 * hi + 0.01 {
            notes.push(format!(
                "the slices are unevenly spaced ({lo:.2}–{hi:.2} mm): shown evenly, at the mean"
            ));
        }
        [0, 1, 2].map(|i| (last[i] - first[i]) / (nz - 1) as f64)
    } else {
        let t = slices[0].thickness.unwrap_or(1.0);
        normal.map(|n| n * t)
    };
    // Step 6: the voxel-to-RAS affine: columns i, j, k scaled by the spacings, origin at the first
    // slice's position, LPS flipped to RAS.
    let dz = dot(step, step).sqrt();
    let origin = slices[0].position.unwrap_or_default();
    // Columns of the voxel-to-LPS matrix: along i (a row's columns), j (rows), k (slices).
    let axes = [row_dir.map(|v| v * d_col), col_dir.map(|v| v * d_row), step];
    let mut affine = [[0.0f32; 4]; 4];
    for r in 0..3 {
        let flip = if r < 2 { -1.0 } else { 1.0 }; // LPS → RAS
        for (c, axis) in axes.iter().enumerate() {
            affine[r][c] = (flip * axis[r]) as f32;
        }
        affine[r][3] = (flip * origin[r]) as f32;
    }
    affine[3][3] = 1.0;
    // Step 7: stack the sorted slices: each is [row j][column i], so the data is [k][j][i], NIfTI
    // order (x = column fastest) with dims [cols, rows, nz].
    let modality = slices[0].modality.clone();
    let mut data = Vec::with_capacity(rows * cols * nz);
    for s in slices {
        data.extend(s.values);
    }
    let spacing = [d_col as f32, d_row as f32, dz as f32];
    let mut volume = Volume::new(data, [cols, rows, nz], spacing)?;
    volume.affine = affine;
    Ok(DicomSeries {
        volume,
        modality,
        notes,
    })
}

/// Reads the DICOM series in a directory (its files, not its subdirectories).
#[cfg(feature = "native")]
pub fn read_dicom_dir(dir: &std::path::Path) -> Result<DicomSeries> {
    let mut entries: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| SssError::io(dir.display().to_string(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let files = entries
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).map_err(|e| SssError::io(p.display().to_string(), e))?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok((name, bytes))
        })
        .collect::<Result<Vec<_>>>()?;
    let borrowed: Vec<(String, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.clone(), b.as_slice()))
        .collect();
    read_dicom_series(&borrowed).map_err(|e| match e {
        SssError::Scan(m) => SssError::Scan(format!("{}: {m}", dir.display())),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::super::dicom_writer::write_dicom_series;
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::uids;
    use dicom_object::FileMetaTableBuilder;

    /// One slice file made by hand with dicom-object (not with [`write_dicom_series`]).
    struct Hand {
        series: &'static str,
        instance: i32,
        position: [f64; 3],
        orientation: [f64; 6],
        rows: u16,
        cols: u16,
        frames: Option<&'static str>,
        stored: Vec<u16>,
    }

    fn ds(v: &[f64]) -> PrimitiveValue {
        PrimitiveValue::Strs(v.iter().map(|x| x.to_string()).collect())
    }

    fn file(h: &Hand) -> Vec<u8> {
        // Step 1: the elements of one CT slice: identity, geometry, image pixel module (signed,
        // 12 of 16 bits), rescale and pixel data.
        let mut elements = vec![
            DataElement::new(
                tags::SOP_CLASS_UID,
                VR::UI,
                PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
            ),
            DataElement::new(
                tags::SOP_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(format!("1.2.3.{}", h.instance)),
            ),
            DataElement::new(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(h.series),
            ),
            DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("CT")),
            DataElement::new(
                tags::INSTANCE_NUMBER,
                VR::IS,
                PrimitiveValue::from(h.instance.to_string()),
            ),
            DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&h.position)),
            DataElement::new(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&h.orientation)),
            DataElement::new(tags::PIXEL_SPACING, VR::DS, ds(&[1.5, 0.7])),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(h.rows)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(h.cols)),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
            DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(12u16)),
            DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(11u16)),
            DataElement::new(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(1u16),
            ),
            DataElement::new(tags::RESCALE_SLOPE, VR::DS, ds(&[2.0])),
            DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, ds(&[-1000.0])),
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U16(h.stored.clone().into()),
            ),
        ];
        // Step 2: a Number of Frames only when asked, for the multi-frame refusal.
        if let Some(n) = h.frames {
            elements.push(DataElement::new(
                tags::NUMBER_OF_FRAMES,
                VR::IS,
                PrimitiveValue::from(n),
            ));
        }
        // Step 3: add the file meta group (explicit VR little endian) and write a Part 10 file.
        let obj = InMemDicomObject::from_element_iter(elements)
            .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
            .unwrap();
        let mut bytes = Vec::new();
        obj.write_all(&mut bytes).unwrap();
        bytes
    }

    const ROW: [f64; 3] = [0.6, 0.8, 0.0];
    const COL: [f64; 3] = [0.0, 0.0, -1.0];
    /// ROW × COL.
    const NORMAL: [f64; 3] = [-0.8, 0.6, 0.0];

    /// Slice `k` of an oblique 3 × 2 × 4 series 2.5 mm apart; the stored value of pixel
    /// (i, j) is `100k + 10j + i - 50` as signed 12 bits, with garbage in the top 4 bits.
    fn oblique(k: usize) -> Hand {
        let p0 = [10.0, -20.0, 30.0];
        Hand {
            series: "1.2.3",
            instance: k as i32 + 1,
            position: [0, 1, 2].map(|r| p0[r] + 2.5 * k as f64 * NORMAL[r]),
            orientation: [ROW[0], ROW[1], ROW[2], COL[0], COL[1], COL[2]],
            rows: 2,
            cols: 3,
            frames: None,
            stored: (0..6)
                .map(|p: usize| {
                    let v = (100 * k + 10 * (p / 3) + p % 3) as i32 - 50;
                    (v as u16 & 0x0fff) | 0xf000
                })
                .collect(),
        }
    }

    fn named(files: &[(String, Vec<u8>)]) -> Vec<(String, &[u8])> {
        files
            .iter()
            .map(|(n, b)| (n.clone(), b.as_slice()))
            .collect()
    }

    #[test]
    fn an_oblique_series_in_any_order_keeps_its_geometry_and_values() {
        // Files in a shuffled order, names that sort wrongly, a text file among them.
        let files: Vec<(String, Vec<u8>)> = [2, 0, 3, 1]
            .iter()
            .map(|&k| (format!("IM{}", 9 - k), file(&oblique(k))))
            .chain([("notes.txt".to_string(), b"not DICOM".to_vec())])
            .collect();
        let series = read_dicom_series(&named(&files)).unwrap();
        let v = &series.volume;
        assert_eq!(v.dims, [3, 2, 4]);
        assert_eq!(v.spacing, [0.7, 1.5, 2.5]);
        assert_eq!(series.modality.as_deref(), Some("CT"));
        // Columns: i along ROW·0.7, j along COL·1.5, k along NORMAL·2.5, origin P0; LPS → RAS.
        let want = [
            [-0.42, 0.0, 2.0, -10.0],
            [-0.56, 0.0, -1.5, 20.0],
            [0.0, -1.5, 0.0, 30.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let close = v.affine.iter().flatten().zip(want.iter().flatten());
        for (got, want) in close {
            assert!((got - want).abs() < 1e-5, "{:?}", v.affine);
        }
        for k in 0..4usize {
            for p in 0..6usize {
                let stored = (100 * k + 10 * (p / 3) + p % 3) as i32 - 50;
                assert_eq!(
                    v.data[k * 6 + p],
                    (2 * stored - 1000) as f32,
                    "slice {k} pixel {p}"
                );
            }
        }
        assert_eq!(series.notes.len(), 1, "{:?}", series.notes);
        assert!(series.notes[0].contains("notes.txt"), "{:?}", series.notes);
    }

    #[test]
    fn the_largest_series_is_read_and_the_others_named() {
        let mut files: Vec<(String, Vec<u8>)> = (0..4)
            .map(|k| (format!("a{k}"), file(&oblique(k))))
            .collect();
        let mut other = oblique(0);
        other.series = "9.9";
        files.push(("b0".into(), file(&other)));
        let series = read_dicom_series(&named(&files)).unwrap();
        assert_eq!(series.volume.dims[2], 4);
        assert!(
            series.notes.iter().any(|n| n.contains("2 series")),
            "{:?}",
            series.notes
        );
    }

    fn refusal(files: &[(String, Vec<u8>)]) -> String {
        read_dicom_series(&named(files)).unwrap_err().to_string()
    }

    #[test]
    fn what_is_not_one_volume_is_refused_in_words() {
        let text = refusal(&[("a".into(), b"hello".to_vec()), ("b".into(), vec![0; 300])]);
        assert!(
            text.contains("none of the 2 files is a DICOM image"),
            "{text}"
        );
        // Several NIfTI files at once: the refusal says to open one at a time.
        let mut nifti = vec![0u8; 400];
        nifti[..4].copy_from_slice(&348i32.to_le_bytes());
        let text = refusal(&[
            ("a.nii".into(), nifti.clone()),
            ("b.nii.gz".into(), vec![0x1f, 0x8b, 8, 0]),
        ]);
        assert!(
            text.contains("2 of these 2 files are NIfTI scans, and several files are read as the")
                && text.contains("one NIfTI file"),
            "{text}"
        );
        // Several images at once: the same.
        let text = refusal(&[
            ("a.png".into(), b"\x89PNG\r\n\x1a\n".to_vec()),
            ("b.jpg".into(), vec![0xff, 0xd8, 0xff, 0xe0]),
        ]);
        assert!(
            text.contains("2 of these 2 files are PNG or JPEG images")
                && text.contains("one image"),
            "{text}"
        );

        let twice = [
            (String::from("a"), file(&oblique(1))),
            ("b".into(), file(&oblique(1))),
        ];
        assert!(
            refusal(&twice).contains("lie at the same position"),
            "{}",
            refusal(&twice)
        );

        let mut small = oblique(1);
        small.cols = 2;
        small.stored.truncate(4);
        let sizes = [
            (String::from("a"), file(&oblique(0))),
            ("b".into(), file(&small)),
        ];
        assert!(
            refusal(&sizes).contains("the slices differ in size"),
            "{}",
            refusal(&sizes)
        );

        let mut tilted = oblique(1);
        tilted.orientation = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        let tilt = [
            (String::from("a"), file(&oblique(0))),
            ("b".into(), file(&tilted)),
        ];
        assert!(
            refusal(&tilt).contains("not parallel"),
            "{}",
            refusal(&tilt)
        );

        let mut frames = oblique(0);
        frames.frames = Some("3");
        let multi = [(String::from("m"), file(&frames))];
        assert!(
            refusal(&multi).contains("holds 3 frames"),
            "{}",
            refusal(&multi)
        );

        let mut short = oblique(0);
        short.stored.truncate(2);
        let cut = [(String::from("s"), file(&short))];
        assert!(refusal(&cut).contains("truncated"), "{}", refusal(&cut));
    }

    /// The writer's files read back to the volume: geometry exactly (to DS precision), values
    /// to half a quantisation step.
    #[test]
    fn written_series_read_back() {
        let data: Vec<f32> = (0..5 * 4 * 3)
            .map(|i| (i as f32 * 0.37).sin() * 300.0 + 20.0)
            .collect();
        let mut volume = Volume::new(data, [5, 4, 3], [0.8, 0.9, 3.0]).unwrap();
        // Oblique: rotated about z by 30°, origin elsewhere.
        let (c, s) = (30f32.to_radians().cos(), 30f32.to_radians().sin());
        volume.affine = [
            [0.8 * c, -0.9 * s, 0.0, 12.5],
            [0.8 * s, 0.9 * c, 0.0, -7.0],
            [0.0, 0.0, 3.0, 40.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let files = write_dicom_series(&volume, "MR").unwrap();
        assert_eq!(files.len(), 3);
        assert!(files.iter().all(|f| looks_like_dicom(f)));
        let named: Vec<(String, &[u8])> = files
            .iter()
            .enumerate()
            .rev()
            .map(|(i, f)| (format!("{i}"), f.as_slice()))
            .collect();
        let back = read_dicom_series(&named).unwrap();
        assert_eq!(back.volume.dims, volume.dims);
        assert_eq!(back.modality.as_deref(), Some("MR"));
        for r in 0..4 {
            for c in 0..4 {
                assert!((back.volume.affine[r][c] - volume.affine[r][c]).abs() < 1e-4);
            }
        }
        let step = 600.0 / 65_000.0;
        for (a, b) in back.volume.data.iter().zip(&volume.data) {
            assert!((a - b).abs() <= step, "{a} vs {b}");
        }
        // Integral values (CT) are stored exactly.
        let ct = Volume::new(
            (0..60).map(|i| i as f32 * 7.0 - 1000.0).collect(),
            [5, 4, 3],
            [1.0; 3],
        )
        .unwrap();
        let files = write_dicom_series(&ct, "CT").unwrap();
        let named: Vec<(String, &[u8])> = files
            .iter()
            .map(|f| (String::new(), f.as_slice()))
            .collect();
        assert_eq!(read_dicom_series(&named).unwrap().volume.data, ct.data);
    }
}
