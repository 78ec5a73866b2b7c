//! NIfTI-1/2 reading and writing (`.nii`, `.nii.gz`) through the `nifti` crate, for the CLI
//! and the page alike. Any datatype the format allows is read, scaled by `scl_slope`/`scl_inter`
//! into `f32`; geometry (spacing, sform/qform affine) is kept so outputs line up with inputs.

use std::io::{Cursor, Read};
use std::path::Path;

use flate2::read::GzDecoder;
use nifti::affine::Affine4;
use nifti::{Endianness, InMemNiftiObject, IntoNdArray, NiftiHeader, NiftiObject};

use super::nifti2::{nifti2_as_nifti1, nifti2_byte_order};
use crate::{Result, SssError, Volume};

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The most bytes a `.nii.gz` may inflate to: the largest allocation wasm32 makes (2 GiB) in
/// the page, 16 GiB natively. A gzip stream inflates up to ~1,000-fold, so without a bound a
/// small crafted file would take all the memory there is.
#[cfg(target_arch = "wasm32")]
pub const MAX_INFLATED_BYTES: u64 = (1 << 31) - 1;
/// The most bytes a `.nii.gz` may inflate to (see the wasm32 value).
#[cfg(not(target_arch = "wasm32"))]
pub const MAX_INFLATED_BYTES: u64 = 1 << 34;

/// Reads a NIfTI file from memory (plain or gzip-compressed, detected from its first bytes).
///
/// 2-D images become one-slice volumes; 4-D images are accepted only with a single frame.
pub fn read_nifti_bytes(bytes: &[u8]) -> Result<Volume<f32>> {
    if bytes.len() < 4 {
        return Err(SssError::Scan(format!(
            "the file has {} bytes; a NIfTI file has at least a 348-byte header",
            bytes.len()
        )));
    }
    let object = if bytes[..2] == GZIP_MAGIC {
        let mut raw = Vec::new();
        GzDecoder::new(bytes)
            .take(MAX_INFLATED_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(|e| {
                SssError::Scan(format!("the gzip stream is corrupt or truncated ({e})"))
            })?;
        if raw.len() as u64 > MAX_INFLATED_BYTES {
            return Err(SssError::Scan(format!(
                "it decompresses to more than {:.1} GB, more than this reader takes here",
                MAX_INFLATED_BYTES as f64 / 1e9
            )));
        }
        parse(&raw)?
    } else {
        parse(bytes)?
    };
    into_volume(object)
}

/// Parses an uncompressed NIfTI-1 or NIfTI-2 file (the latter rewritten as NIfTI-1 first:
/// [`super::nifti2`]).
fn parse(raw: &[u8]) -> Result<InMemNiftiObject> {
    if nifti2_byte_order(raw).is_some() {
        return check_and_parse_nifti1(&nifti2_as_nifti1(raw)?);
    }
    check_and_parse_nifti1(raw)
}

/// Checks what the nifti crate would take but should not, then parses a NIfTI-1 file.
fn check_and_parse_nifti1(raw: &[u8]) -> Result<InMemNiftiObject> {
    // The nifti crate takes some other header sizes too (found by fuzzing: 16 777 564);
    // what it reads must also be writable back (`label_export` takes 348 and 540 only).
    let first: [u8; 4] = match raw.get(..4) {
        Some(b) => b.try_into().expect("4 bytes"),
        None => {
            return Err(SssError::Scan(format!(
                "the file holds {} bytes once decompressed; a NIfTI file has at least a \
                 348-byte header",
                raw.len()
            )));
        }
    };
    let size = i32::from_le_bytes(first);
    let big_endian = i32::from_be_bytes(first) == 348;
    if size != 348 && !big_endian {
        return Err(SssError::Scan(format!(
            "not a NIfTI-1/2 image (its header size is {size}, not 348 or 540); expected a \
             .nii or .nii.gz file"
        )));
    }
    // dim[0] in the byte order the header size gives: the nifti crate guesses the byte order
    // from dim[0] instead, so a header whose two disagree would read one way and be written
    // back the other (found by fuzzing).
    if let Some(d) = raw.get(40..42) {
        let pair = [d[0], d[1]];
        let rank = if big_endian {
            i16::from_be_bytes(pair)
        } else {
            i16::from_le_bytes(pair)
        };
        if !(1..=7).contains(&rank) {
            return Err(SssError::Scan(format!(
                "its header gives {rank} dimensions (dim[0]), not 1 to 7: the file is corrupt"
            )));
        }
    }
    check_declared_size(raw)?;
    parse_nifti1(raw)
}

/// Refuses a header whose voxels (dims × bits a voxel, from its offset on) need more bytes than
/// the file holds: the nifti crate reserves what the header declares before reading any of it,
/// so an 832-byte file declaring 5 × 52,484 × 19,660 voxels cost 1 GB at once (found by
/// fuzzing with `sss_fuzz::HeapLimit`, 2026-12-01).
fn check_declared_size(raw: &[u8]) -> Result<()> {
    let Ok(header) = NiftiHeader::from_reader(Cursor::new(raw)) else {
        return Ok(()); // The parse that follows refuses it in words.
    };
    // The crate reads the extensions before it looks at the dims.
    check_extensions(raw, &header)?;
    let Ok(dim) = header.dim() else {
        return Ok(());
    };
    // The nifti crate takes `bitpix as usize / 8` bytes a voxel: a negative one wraps to
    // exabytes natively and to half a gigabyte in wasm32 (found by fuzzing).
    let bits = header.bitpix;
    if bits <= 0 || bits % 8 != 0 {
        return Err(SssError::Scan(format!(
            "its header gives {bits} bits a voxel (bitpix), not a positive multiple of 8: the \
             file is corrupt"
        )));
    }
    let declared = dim
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(u64::from(d)))
        .and_then(|n| n.checked_mul(bits as u64))
        .map(|b| b.div_ceil(8));
    let offset = if header.vox_offset.is_finite() && header.vox_offset > 0.0 {
        header.vox_offset as u64
    } else {
        348
    };
    let left = (raw.len() as u64).saturating_sub(offset);
    match declared {
        Some(need) if need <= left => Ok(()),
        _ => Err(SssError::Scan(format!(
            "its header declares {dim:?} voxels of {bits} bits ({}) but only {left} bytes follow \
             its header: the file is truncated or its header is corrupt",
            declared.map_or("more bytes than can be counted".to_string(), |n| format!(
                "{n} bytes"
            ))
        ))),
    }
}

/// Refuses header extensions (between the 352nd byte and the voxel offset) whose declared size
/// is negative, under 8 or past the end of the file: the nifti crate reserves each extension's
/// declared size (`esize as usize`, so a negative one wraps) before reading it (found by
/// fuzzing: 431 bytes declaring a 1 GB extension).
fn check_extensions(raw: &[u8], header: &NiftiHeader) -> Result<()> {
    if raw.get(348).is_none_or(|&b| b == 0) {
        return Ok(()); // No extensions; or no extender, which the parse refuses.
    }
    // The crate reads extensions while fewer than `vox_offset − 352` bytes of them are read.
    let end = 352 + (header.vox_offset as usize).saturating_sub(352);
    let mut at = 352usize;
    while at < end {
        let Some(b) = raw.get(at..at + 4) else {
            return Ok(()); // Cut short: the parse says so.
        };
        let b: [u8; 4] = b.try_into().expect("4 bytes");
        let size = match header.endianness {
            Endianness::Little => i32::from_le_bytes(b),
            Endianness::Big => i32::from_be_bytes(b),
        };
        if size < 8 || at as u64 + size as u64 > raw.len() as u64 {
            return Err(SssError::Scan(format!(
                "its header extension at byte {at} declares {size} bytes, but an extension has \
                 at least 8 and only {} follow: the file is truncated or corrupt",
                raw.len().saturating_sub(at)
            )));
        }
        at += size as usize;
    }
    Ok(())
}

/// Reads a NIfTI file from disk.
pub fn read_nifti(path: impl AsRef<Path>) -> Result<Volume<f32>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| SssError::io(path.display().to_string(), e))?;
    read_nifti_bytes(&bytes).map_err(|e| match e {
        SssError::Scan(msg) => SssError::Scan(format!("{}: {msg}", path.display())),
        other => other,
    })
}

fn parse_nifti1(raw: &[u8]) -> Result<InMemNiftiObject> {
    InMemNiftiObject::from_reader(Cursor::new(raw)).map_err(|e| {
        SssError::Scan(format!(
            "not a readable NIfTI-1/2 image ({e}); expected a .nii or .nii.gz file"
        ))
    })
}

fn into_volume(object: InMemNiftiObject) -> Result<Volume<f32>> {
    let header = object.header().clone();
    let dim = header
        .dim()
        .map_err(|e| SssError::Scan(format!("invalid dimensions in the header ({e})")))?
        .to_vec();
    let extra: usize = dim.iter().skip(3).map(|&d| d as usize).product();
    if dim.is_empty() || extra > 1 {
        return Err(SssError::Scan(format!(
            "the image has dimensions {dim:?}; SSS segments 2-D or 3-D images (a 4-D series \
             must have a single frame: extract one first)"
        )));
    }
    let dims = [
        dim[0] as usize,
        dim.get(1).copied().unwrap_or(1) as usize,
        dim.get(2).copied().unwrap_or(1) as usize,
    ];
    // The nifti crate reads `bitpix` bits a voxel and converts by `datatype`: when they
    // disagree it panics (found by fuzzing), so the header must agree with itself first.
    let datatype = header
        .data_type()
        .map_err(|e| SssError::Scan(format!("unsupported datatype in the header ({e})")))?;
    // Scalar voxels only: complex, RGB and 128-bit floats have no single grey value (and the
    // nifti crate panics converting complex voxels to f32, found by fuzzing).
    use nifti::NiftiType as T;
    if !matches!(
        datatype,
        T::Uint8
            | T::Int8
            | T::Uint16
            | T::Int16
            | T::Uint32
            | T::Int32
            | T::Uint64
            | T::Int64
            | T::Float32
            | T::Float64
    ) {
        return Err(SssError::Scan(format!(
            "its voxels are {datatype:?}, not one grey value each; SSS reads 8- to 64-bit \
             integers and 32- or 64-bit floats: convert the image first"
        )));
    }
    let bits = datatype.size_of() * 8;
    if i64::from(header.bitpix) != bits as i64 {
        return Err(SssError::Scan(format!(
            "the header says {} bits a voxel but its datatype ({datatype:?}) has {bits}: the \
             file is corrupt",
            header.bitpix
        )));
    }
    let array = object
        .into_volume()
        .into_ndarray::<f32>()
        .map_err(|e| SssError::Scan(format!("unsupported voxel data ({e})")))?;
    // ndarray indexes [x, y, z]; the nifti crate lays it out in Fortran order, so its buffer
    // (and the reversed array's standard layout) already runs x fastest, as `Volume` stores
    // it: taken without a copy (for a 512 × 512 × 400 CT the copy was 420 MB more in the page).
    let reversed = array.reversed_axes();
    let voxels = reversed.len();
    let data: Vec<f32> = if reversed.is_standard_layout() {
        let (mut buffer, offset) = reversed.into_raw_vec_and_offset();
        let offset = offset.unwrap_or(0);
        if offset != 0 || buffer.len() != voxels {
            buffer = buffer[offset..offset + voxels].to_vec();
        }
        buffer
    } else {
        reversed.iter().copied().collect()
    };
    if let Some(bad) = data.iter().find(|v| !v.is_finite()) {
        return Err(SssError::Scan(format!(
            "the image holds a non-finite value ({bad}); clean the file before segmenting it"
        )));
    }
    let spacing = [1, 2, 3].map(|i| {
        let s = header.pixdim[i].abs();
        if s.is_finite() && s > 0.0 { s } else { 1.0 }
    });
    let mut volume = Volume::new(data, dims, spacing)?;
    let affine = affine_of(&header);
    volume.affine = affine;
    Ok(volume)
}

/// The voxel-to-world affine the header describes: its sform when `sform_code` is set, else
/// its qform when `qform_code` is, else the voxel sizes alone (NIfTI-1's methods 3, 2, 1).
/// The qform is computed as the reference library (nifti1_io's `quatern_to_mat44`) does it,
/// not by the nifti crate, which panics on what the reference tolerates (found by fuzzing):
/// a quaternion longer than 1 is normalised to a 180° rotation, a qfac other than ±1 counts
/// as 1, a zero or negative voxel size as its absolute value or 1; and a 2-D image without
/// sform or qform gets its method-1 affine (the crate indexed a third dimension there). A form
/// with a non-finite entry is skipped for the next one.
pub fn affine_of(header: &NiftiHeader) -> [[f32; 4]; 4] {
    let finite = |m: &[[f32; 4]; 4]| m.iter().flatten().all(|v| v.is_finite());
    let mut sform = [
        [0.0, 0.0, 0.0, 0.0],
        [0.0; 4],
        [0.0; 4],
        [0.0, 0.0, 0.0, 1.0],
    ];
    sform[..3].copy_from_slice(&[header.srow_x, header.srow_y, header.srow_z]);
    // A form with a non-finite entry is taken as absent: the next method applies.
    if header.sform_code != 0 && finite(&sform) {
        return sform;
    }
    if header.qform_code != 0 {
        let qform = qform_affine(header);
        if finite(&qform) {
            return qform;
        }
    }
    // NIfTI-1 method 1 (ANALYZE): voxel sizes on the diagonal, x flipped, the volume's centre
    // at the origin (as nibabel and the nifti crate place it).
    let mut out = [[0.0f32; 4]; 4];
    out[3][3] = 1.0;
    for (i, row) in out.iter_mut().take(3).enumerate() {
        // Axes past dim[0] have one voxel whatever their dim entry says.
        let n = if i < usize::from(header.dim[0]) {
            f64::from(header.dim[i + 1].max(1))
        } else {
            1.0
        };
        let step = if i == 0 {
            -voxel_size(header, 1)
        } else {
            voxel_size(header, i + 1)
        };
        row[i] = step as f32;
        row[3] = (-(n - 1.0) / 2.0 * step) as f32;
    }
    out
}

/// `pixdim[i]` made usable: its absolute value, or 1 when it is zero, not finite or more than
/// a kilometre (an affine built from it would overflow `f32`).
fn voxel_size(header: &NiftiHeader, i: usize) -> f64 {
    let s = f64::from(header.pixdim[i]).abs();
    if s.is_finite() && s > 0.0 && s <= 1e6 {
        s
    } else {
        1.0
    }
}

/// The qform's affine as nifti1_io's `quatern_to_mat44` computes it.
fn qform_affine(header: &NiftiHeader) -> [[f32; 4]; 4] {
    let [mut b, mut c, mut d] =
        [header.quatern_b, header.quatern_c, header.quatern_d].map(f64::from);
    let mut a = 1.0 - (b * b + c * c + d * d);
    if a < 1e-7 {
        // Not a unit quaternion: a 180° rotation about the normalised (b, c, d).
        let norm = (b * b + c * c + d * d).sqrt();
        if norm > 0.0 && norm.is_finite() {
            (b, c, d) = (b / norm, c / norm, d / norm);
        }
        a = 0.0;
    } else {
        a = a.sqrt();
    }
    let qfac = if header.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
    let size = [
        voxel_size(header, 1),
        voxel_size(header, 2),
        voxel_size(header, 3) * qfac,
    ];
    let rotation = [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
        ],
        [
            2.0 * (b * c + a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d - a * b),
        ],
        [
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a + d * d - c * c - b * b,
        ],
    ];
    let offset = [header.quatern_x, header.quatern_y, header.quatern_z];
    let mut out = [[0.0f32; 4]; 4];
    out[3][3] = 1.0;
    for r in 0..3 {
        for c in 0..3 {
            out[r][c] = (rotation[r][c] * size[c]) as f32;
        }
        out[r][3] = offset[r];
    }
    out
}

/// Voxel types SSS writes: `f32` scans and `u8` label maps.
pub trait NiftiElement: Copy + nifti::DataElement + bytemuck::Pod {}
impl NiftiElement for f32 {}
impl NiftiElement for u8 {}

/// Writes `volume` as NIfTI-1 (gzip-compressed when the path ends in `.gz`), with its spacing
/// and affine (sform, aligned-anatomical).
pub fn write_nifti<T: NiftiElement>(volume: &Volume<T>, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut header = NiftiHeader::default();
    header.pixdim[1..4].copy_from_slice(&volume.spacing);
    header.xyzt_units = 2; // millimetres
    let affine = Affine4::from_fn(|r, c| volume.affine[r][c]);
    header.set_affine(&affine);
    header.qform_code = 0;
    let [nx, ny, nz] = volume.dims;
    // `Volume` is x fastest; the C-order array [z, y, x] reversed is the [x, y, z] the writer wants.
    let array = ndarray::Array3::from_shape_vec((nz, ny, nx), volume.data.clone())
        .map_err(|e| SssError::InvalidInput(format!("volume shape mismatch ({e})")))?;
    nifti::writer::WriterOptions::new(path)
        .reference_header(&header)
        .write_nifti(&array.reversed_axes())
        .map_err(|e| SssError::Scan(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [[f32; 4]; 4], b: Affine4) -> bool {
        (0..4).all(|r| (0..4).all(|c| (a[r][c] - b[(r, c)]).abs() < 1e-5))
    }

    /// Where the nifti crate computes a qform (valid quaternion, qfac ±1, positive sizes) and
    /// a method-1 affine (3-D), `affine_of` agrees with it; where the crate panics, it gives
    /// what the reference library gives.
    #[test]
    fn affines_agree_with_the_nifti_crate_where_it_works() {
        let mut h = NiftiHeader {
            dim: [3, 5, 4, 3, 1, 1, 1, 1],
            pixdim: [1.0, 0.8, 0.9, 2.5, 1.0, 1.0, 1.0, 1.0],
            sform_code: 0,
            qform_code: 1,
            quatern_x: 10.0,
            quatern_y: -20.0,
            quatern_z: 30.0,
            ..NiftiHeader::default()
        };
        for (b, c, d, qfac) in [
            (0.0, 0.0, 0.0, 1.0),
            (0.0, 0.0, std::f32::consts::FRAC_1_SQRT_2, 1.0),
            (0.1, -0.2, 0.3, -1.0),
            (0.5, 0.5, 0.5, 1.0),
        ] {
            (h.quatern_b, h.quatern_c, h.quatern_d, h.pixdim[0]) = (b, c, d, qfac);
            assert!(
                close(affine_of(&h), h.affine::<f32>()),
                "{b} {c} {d} {qfac}"
            );
        }
        h.qform_code = 0;
        assert!(close(affine_of(&h), h.affine::<f32>()), "method 1");
        h.sform_code = 2;
        h.srow_x = [-0.8, 0.0, 0.1, 10.0];
        assert!(close(affine_of(&h), h.affine::<f32>()), "sform");

        // What the crate panics on: qfac 0 counts as 1, a quaternion longer than 1 becomes a
        // 180° rotation about its direction, a 2-D image gets a method-1 affine.
        h.sform_code = 0;
        h.qform_code = 1;
        (h.quatern_b, h.quatern_c, h.quatern_d, h.pixdim[0]) = (0.0, 0.0, 0.6, 0.0);
        let mut one = h.clone();
        one.pixdim[0] = 1.0;
        assert_eq!(affine_of(&h), affine_of(&one));
        (h.quatern_b, h.quatern_c, h.quatern_d) = (0.0, 0.0, 2.0);
        let a = affine_of(&h);
        assert!(
            (a[0][0] + 0.8).abs() < 1e-6 && (a[1][1] + 0.9).abs() < 1e-6,
            "{a:?}"
        );
        assert!((a[2][2] - 2.5).abs() < 1e-6, "{a:?}");
        h.qform_code = 0;
        h.dim = [2, 5, 4, 0, 1, 1, 1, 1];
        let a = affine_of(&h);
        assert_eq!(a[2][2], 2.5);
        assert_eq!(a[0][3], 2.0 * 0.8);
    }
}
