//! NIfTI-2 input: the `nifti` crate reads NIfTI-1 only, so a NIfTI-2 file (540-byte header,
//! 64-bit dims and offsets, `f64` geometry) is rewritten in memory as the equivalent NIfTI-1
//! file, in the same byte order, before it is read. Every field has a NIfTI-1 counterpart; the
//! only limits are NIfTI-1's 16-bit dims (at most 32 767 voxels along an axis: larger is
//! refused in words) and `f32` geometry (the volume's affine is `f32` anyway). Label maps are
//! still written in the input's own NIfTI-2 header (`label_export`), so nothing of the
//! geometry is rounded on the way out.

use super::nifti_header::{HeaderBytes, NIFTI2, layout_of};
use crate::{Result, SssError};

const NIFTI2_HEADER: usize = 540;
const NIFTI1_HEADER: usize = 348;
/// NIfTI-1 data offset of the rewritten file: the header, then 4 bytes of "no extensions".
const NIFTI1_OFFSET: usize = NIFTI1_HEADER + 4;

/// Whether `raw` (uncompressed) starts with a NIfTI-2 header, and in which byte order.
pub fn nifti2_byte_order(raw: &[u8]) -> Option<bool> {
    match layout_of(raw)? {
        Ok((layout, big_endian)) if layout.size == NIFTI2.size => Some(big_endian),
        _ => None,
    }
}

/// The NIfTI-1 file equivalent to the NIfTI-2 file `raw` (uncompressed), or a refusal that
/// says what is wrong with it.
pub fn nifti2_as_nifti1(raw: &[u8]) -> Result<Vec<u8>> {
    let bad = |m: String| SssError::Scan(format!("this NIfTI-2 file {m}"));
    let big_endian = nifti2_byte_order(raw)
        .ok_or_else(|| bad("does not start with a 540-byte header size".into()))?;
    if raw.len() < NIFTI2_HEADER {
        return Err(bad(format!(
            "has {} bytes, less than its 540-byte header",
            raw.len()
        )));
    }
    let r = HeaderBytes {
        bytes: &raw[..NIFTI2_HEADER],
        big_endian,
    };
    match &raw[4..8] {
        b"n+2\0" => {}
        b"ni2\0" => {
            return Err(bad(
                "is a header without its data (a .hdr/.img pair); convert it to a single \
                 .nii file first"
                    .into(),
            ));
        }
        other => {
            return Err(bad(format!(
                "has the magic {:?}, not \"n+2\"",
                String::from_utf8_lossy(other)
            )));
        }
    }
    let offset = r.i64(168);
    if offset < NIFTI2_HEADER as i64 || offset as u64 > raw.len() as u64 {
        return Err(bad(format!(
            "says its voxels start at byte {offset}, outside the file's {} bytes \
             (truncated or corrupt)",
            raw.len()
        )));
    }
    let mut w = HeaderBytes {
        bytes: vec![0; NIFTI1_HEADER],
        big_endian,
    };
    w.put(0, &(NIFTI1_HEADER as i32).to_le_bytes());
    w.bytes[39] = raw[524]; // dim_info
    for i in 0..8 {
        let d = r.i64(16 + 8 * i);
        let d = i16::try_from(d).map_err(|_| {
            bad(format!(
                "has dim[{i}] = {d}, more than the 32 767 this reader takes along an axis"
            ))
        })?;
        w.put_i16(40 + 2 * i, d);
    }
    for i in 0..3 {
        w.put_f32(56 + 4 * i, r.f64(80 + 8 * i)); // intent_p1..p3
    }
    w.put_i16(
        68,
        r.i32(504).clamp(i16::MIN.into(), i16::MAX.into()) as i16,
    ); // intent_code
    w.put_i16(70, r.i16(12)); // datatype
    w.put_i16(72, r.i16(14)); // bitpix
    w.put_i16(74, r.i64(224).clamp(0, i16::MAX.into()) as i16); // slice_start
    for i in 0..8 {
        w.put_f32(76 + 4 * i, r.f64(104 + 8 * i)); // pixdim
    }
    w.put_f32(108, NIFTI1_OFFSET as f64);
    w.put_f32(112, r.f64(176)); // scl_slope
    w.put_f32(116, r.f64(184)); // scl_inter
    w.put_i16(120, r.i64(232).clamp(0, i16::MAX.into()) as i16); // slice_end
    w.bytes[122] = r.i32(496).clamp(0, 255) as u8; // slice_code
    w.bytes[123] = r.i32(500).clamp(0, 255) as u8; // xyzt_units
    for (to, from) in [(124, 192), (128, 200), (132, 208), (136, 216)] {
        w.put_f32(to, r.f64(from)); // cal_max, cal_min, slice_duration, toffset
    }
    w.text(148, &raw[240..320]); // descrip
    w.text(228, &raw[320..344]); // aux_file
    for (to, from) in [(252, 344), (254, 348)] {
        w.put_i16(
            to,
            r.i32(from).clamp(i16::MIN.into(), i16::MAX.into()) as i16,
        ); // qform/sform codes
    }
    for i in 0..6 {
        w.put_f32(256 + 4 * i, r.f64(352 + 8 * i)); // quatern_b..d, qoffset_x..z
    }
    for i in 0..12 {
        w.put_f32(280 + 4 * i, r.f64(400 + 8 * i)); // srow_x, srow_y, srow_z
    }
    w.text(328, &raw[508..524]); // intent_name
    w.text(344, b"n+1\0");
    let data = &raw[offset as usize..];
    let mut file = Vec::with_capacity(NIFTI1_OFFSET + data.len());
    file.extend_from_slice(&w.bytes);
    file.extend_from_slice(&[0; 4]);
    file.extend_from_slice(data);
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::nifti_io::read_nifti_bytes;

    /// A NIfTI-2 file written by hand: 5 × 4 × 3 int16 with a scaling, an oblique sform
    /// (code 2) and a qform (code 1), an extension before the data.
    fn nifti2_file(big_endian: bool) -> Vec<u8> {
        let mut w = HeaderBytes {
            bytes: vec![0; 560],
            big_endian,
        };
        w.put(0, &540i32.to_le_bytes());
        w.text(4, b"n+2\0\r\n\x1a\n");
        w.put_i16(12, 4); // int16
        w.put_i16(14, 16);
        for (i, d) in [3i64, 5, 4, 3, 1, 1, 1, 1].iter().enumerate() {
            w.put(16 + 8 * i, &d.to_le_bytes());
        }
        for (i, p) in [1.0f64, 0.8, 0.9, 2.5].iter().enumerate() {
            w.put(104 + 8 * i, &p.to_le_bytes());
        }
        w.put(168, &560i64.to_le_bytes()); // data after a 16-byte extension block
        w.put(176, &2.0f64.to_le_bytes());
        w.put(184, &(-1.0f64).to_le_bytes());
        w.put(344, &1i32.to_le_bytes());
        w.put(348, &2i32.to_le_bytes());
        let srow = [
            [-0.8, 0.0, 0.1, 10.0],
            [0.0, 0.9, 0.0, -20.0],
            [0.0, 0.05, 2.5, 30.0f64],
        ];
        for (r, row) in srow.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                w.put(400 + 32 * r + 8 * c, &v.to_le_bytes());
            }
        }
        w.put(500, &2i32.to_le_bytes()); // millimetres
        w.bytes[540] = 1; // "there are extensions": its 16 bytes are skipped by the offset
        let mut file = w.bytes;
        for i in 0..60i16 {
            let v = i * 3 - 7;
            file.extend(if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            });
        }
        file
    }

    #[test]
    fn nifti2_reads_like_its_nifti1_twin_in_either_byte_order() {
        for big_endian in [false, true] {
            let v = read_nifti_bytes(&nifti2_file(big_endian)).unwrap();
            assert_eq!(v.dims, [5, 4, 3]);
            assert_eq!(v.spacing, [0.8, 0.9, 2.5]);
            let values: Vec<f32> = (0..60).map(|i| ((i * 3 - 7) as f32) * 2.0 - 1.0).collect();
            assert_eq!(
                v.data, values,
                "scaled int16 voxels, big endian {big_endian}"
            );
            assert_eq!(v.affine[0], [-0.8, 0.0, 0.1, 10.0]);
            assert_eq!(v.affine[2], [0.0, 0.05, 2.5, 30.0]);
        }
    }

    #[test]
    fn broken_nifti2_files_are_refused_in_words() {
        let file = nifti2_file(false);
        let err = nifti2_as_nifti1(&file[..300]).unwrap_err().to_string();
        assert!(err.contains("less than its 540-byte header"), "{err}");
        let mut far = file.clone();
        far[168..176].copy_from_slice(&100_000i64.to_le_bytes());
        let err = read_nifti_bytes(&far).unwrap_err().to_string();
        assert!(err.contains("outside the file"), "{err}");
        let mut huge = file.clone();
        huge[16 + 8..16 + 16].copy_from_slice(&40_000i64.to_le_bytes());
        let err = read_nifti_bytes(&huge).unwrap_err().to_string();
        assert!(err.contains("dim[1] = 40000"), "{err}");
        let mut pair = file;
        pair[4..8].copy_from_slice(b"ni2\0");
        let err = read_nifti_bytes(&pair).unwrap_err().to_string();
        assert!(err.contains(".hdr/.img pair"), "{err}");
    }
}
