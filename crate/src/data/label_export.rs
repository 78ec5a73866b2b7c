//! A label map written in the exact geometry of the NIfTI file it was segmented from: the
//! input's own header (NIfTI-1 or NIfTI-2, either byte order) with only what describes the
//! voxel values changed (uint8 labels, no scaling, one frame, the data right after the
//! header), so dimensions, voxel sizes, qform and sform with their codes, units and
//! orientation stay as the scanner wrote them. `sss segment` and the page's export use it.
//!
//! The voxels of a [`crate::Volume`] read by [`super::nifti_io`] are in the file's own order
//! (x fastest), so the labels are written as they are.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::nifti_header::{HeaderBytes, layout_of};
use crate::{Result, SssError};

/// NIfTI's code of unsigned 8-bit voxels.
const DT_UINT8: i16 = 2;

/// A NIfTI-1 header (348 bytes, little endian) describing `volume`'s grid and geometry: its
/// dimensions, voxel sizes (mm) and affine as the sform (code 1, scanner anatomical), no qform.
/// Label maps of scans that came without a NIfTI header of their own (DICOM series) are written
/// into it by [`labels_like_input`].
pub fn header_for_volume<T>(volume: &crate::Volume<T>) -> Vec<u8> {
    let mut h = vec![0u8; 348];
    let mut put = |at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &348i32.to_le_bytes());
    let [nx, ny, nz] = volume.dims.map(|d| d.min(i16::MAX as usize) as i16);
    for (i, d) in [3, nx, ny, nz, 1, 1, 1, 1].iter().enumerate() {
        put(40 + 2 * i, &d.to_le_bytes());
    }
    put(70, &16i16.to_le_bytes()); // float32, replaced by the labels' type
    put(72, &32i16.to_le_bytes());
    let pixdim = [
        1.0,
        volume.spacing[0],
        volume.spacing[1],
        volume.spacing[2],
        1.0,
        1.0,
        1.0,
        1.0,
    ];
    for (i, p) in pixdim.iter().enumerate() {
        put(76 + 4 * i, &p.to_le_bytes());
    }
    put(108, &352f32.to_le_bytes());
    put(112, &1f32.to_le_bytes());
    put(123, &[2]); // millimetres
    put(252, &0i16.to_le_bytes()); // no qform
    put(254, &1i16.to_le_bytes()); // sform: scanner anatomical
    for (r, row) in volume.affine.iter().take(3).enumerate() {
        for (c, v) in row.iter().enumerate() {
            put(280 + 16 * r + 4 * c, &v.to_le_bytes());
        }
    }
    put(344, b"n+1\0");
    h
}

/// The largest NIfTI header (NIfTI-2's), in bytes.
pub const MAX_HEADER_BYTES: usize = 540;

/// The first [`MAX_HEADER_BYTES`] bytes of a `.nii` or `.nii.gz` file, decompressed (fewer if
/// the file is shorter): all [`labels_like_input`] reads of it. The page keeps these instead
/// of the opened file, so a large scan is not held twice.
pub fn header_of(input: &[u8]) -> Result<Vec<u8>> {
    if !input.starts_with(&[0x1f, 0x8b]) {
        return Ok(input[..input.len().min(MAX_HEADER_BYTES)].to_vec());
    }
    let mut out = Vec::with_capacity(MAX_HEADER_BYTES);
    GzDecoder::new(input)
        .take(MAX_HEADER_BYTES as u64)
        .read_to_end(&mut out)
        .map_err(|e| SssError::Scan(format!("its gzip stream is corrupt ({e})")))?;
    Ok(out)
}

/// The label map `labels` (x fastest, one byte per voxel) as the bytes of an uncompressed NIfTI
/// file (`.nii`; [`gzip`] it for `.nii.gz`) in the geometry of `input`, the bytes of the `.nii`
/// or `.nii.gz` file it was segmented from. Refused, in words, when `input` is not a
/// single-file NIfTI-1/2 image or `labels` does not have its voxel count.
pub fn labels_like_input(input: &[u8], labels: &[u8]) -> Result<Vec<u8>> {
    let bad = |m: String| SssError::Scan(format!("cannot write labels like the input: {m}"));
    let raw;
    let input = if input.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(input)
            .read_to_end(&mut out)
            .map_err(|e| bad(format!("its gzip stream is corrupt ({e})")))?;
        raw = out;
        &raw[..]
    } else {
        input
    };
    if input.len() < 4 {
        return Err(bad(format!("it has {} bytes, not a header", input.len())));
    }
    let (layout, big_endian) = match layout_of(input) {
        Some(Ok(found)) => found,
        Some(Err(other)) => {
            return Err(bad(format!("its header size is {other}, not 348 or 540")));
        }
        None => return Err(bad(format!("it has {} bytes, not a header", input.len()))),
    };
    if input.len() < layout.size {
        return Err(bad(format!(
            "it has {} bytes, less than its {}-byte header",
            input.len(),
            layout.size
        )));
    }
    let mut bytes = input[..layout.size].to_vec();
    let mut header = HeaderBytes {
        bytes: &mut bytes[..],
        big_endian,
    };
    let rank = header.dim(layout, 0);
    if !(1..=7).contains(&rank) {
        return Err(bad(format!("its dim[0] is {rank}")));
    }
    let dims: Vec<i64> = (1..=rank as usize).map(|i| header.dim(layout, i)).collect();
    if dims.iter().any(|&d| d < 1) {
        return Err(bad(format!("its dimensions {dims:?} are not all positive")));
    }
    let spatial: i64 = dims.iter().take(3).product();
    if spatial as usize != labels.len() {
        return Err(bad(format!(
            "its {:?} voxels are {spatial}, the label map has {}",
            &dims[..dims.len().min(3)],
            labels.len()
        )));
    }
    // One 3-D (or 2-D) frame of uint8 labels, unscaled, right after the header.
    let out_rank = rank.min(3);
    header.set_dim(layout, 0, out_rank);
    for i in (out_rank as usize + 1)..=7 {
        header.set_dim(layout, i, 1);
    }
    header.put_i16(layout.datatype, DT_UINT8);
    header.put_i16(layout.bitpix, 8);
    header.set_float(layout, layout.scl_slope, 1.0);
    header.set_float(layout, layout.scl_inter, 0.0);
    let max = labels.iter().copied().max().unwrap_or(0);
    header.set_float(layout, layout.cal_max, f64::from(max));
    header.set_float(layout, layout.cal_min, 0.0);
    // The header, 4 bytes of "no extensions", the labels.
    let offset = layout.size + 4;
    header.set_offset(layout, offset);
    let mut file = Vec::with_capacity(offset + labels.len());
    file.extend_from_slice(&bytes);
    file.extend_from_slice(&[0; 4]);
    file.extend_from_slice(labels);
    Ok(file)
}

/// `bytes` gzip-compressed (a `.nii.gz` file of a `.nii` one).
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes)
        .and_then(|()| gz.finish())
        .map_err(|e| SssError::Scan(format!("compressing the label map failed ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Volume;
    use crate::data::nifti_io::{read_nifti_bytes, write_nifti};

    /// A NIfTI-1 file of `dims` with a qform and an sform that differ, made by the project's
    /// writer and then given a qform of its own (the writer leaves it unset).
    fn input_file(dims: [usize; 3]) -> Vec<u8> {
        let n: usize = dims.iter().product();
        let mut v = Volume::new(
            (0..n).map(|i| i as f32 * 0.5).collect(),
            dims,
            [0.7, 0.8, 2.5],
        )
        .unwrap();
        v.affine = [
            [-0.7, 0.0, 0.1, 10.0],
            [0.0, 0.8, 0.0, -20.0],
            [0.0, 0.0, 2.5, 30.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        // A path per call: tests run in parallel in one process.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "sss-label-export-{}-{call}.nii",
            std::process::id()
        ));
        write_nifti(&v, &path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        // qform_code 1 (scanner) with quaternion b = 0.1 and offsets of its own.
        bytes[252..254].copy_from_slice(&1i16.to_le_bytes());
        bytes[256..260].copy_from_slice(&0.1f32.to_le_bytes());
        bytes[268..272].copy_from_slice(&5.0f32.to_le_bytes());
        bytes
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    /// Every header byte but those describing the values (datatype, bitpix, offset, scaling,
    /// calibration) is the input's; the labels read back as written, in the same geometry.
    #[test]
    fn labels_keep_the_input_header() {
        let dims = [5, 4, 3];
        let input = input_file(dims);
        let labels: Vec<u8> = (0..60).map(|i| (i % 4) as u8).collect();
        let raw = labels_like_input(&input, &labels).unwrap();
        let out = gzip(&raw).unwrap();
        assert_eq!(gunzip(&out), raw);
        let changed: Vec<usize> = (0..348).filter(|&i| raw[i] != input[i]).collect();
        let allowed =
            |i: usize| (70..74).contains(&i) || (108..120).contains(&i) || (124..132).contains(&i);
        assert!(
            changed.iter().all(|&i| allowed(i)),
            "bytes {changed:?} changed"
        );
        assert_eq!(raw.len(), 352 + 60);
        assert_eq!(&raw[352..], &labels[..]);
        let back = read_nifti_bytes(&out).unwrap();
        let original = read_nifti_bytes(&input).unwrap();
        assert_eq!(back.dims, dims);
        assert_eq!(back.spacing, original.spacing);
        assert_eq!(back.affine, original.affine);
        let values: Vec<u8> = back.data.iter().map(|&v| v as u8).collect();
        assert_eq!(values, labels);
        // Gzip-compressed input gives the same file, and so does its header alone.
        let gz_input = gzip(&input).unwrap();
        assert_eq!(labels_like_input(&gz_input, &labels).unwrap(), raw);
        for file in [&input, &gz_input] {
            let header = header_of(file).unwrap();
            assert_eq!(header.len(), MAX_HEADER_BYTES.min(input.len()));
            assert_eq!(labels_like_input(&header, &labels).unwrap(), raw);
        }
    }

    /// A scan without a NIfTI header of its own (a DICOM series): its label map in a header
    /// made from the volume reads back with the volume's grid, voxel sizes and oblique affine.
    #[test]
    fn labels_in_a_header_made_for_the_volume() {
        let mut v = crate::Volume::new(vec![0f32; 60], [5, 4, 3], [0.7, 1.5, 2.5]).unwrap();
        v.affine = [
            [-0.42, 0.0, 2.0, -10.0],
            [-0.56, 0.0, -1.5, 20.0],
            [0.0, -1.5, 0.0, 30.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let labels: Vec<u8> = (0..60).map(|i| (i % 3) as u8).collect();
        let header = header_for_volume(&v);
        assert_eq!(header.len(), 348);
        let back = read_nifti_bytes(&gzip(&labels_like_input(&header, &labels).unwrap()).unwrap())
            .unwrap();
        assert_eq!(back.dims, v.dims);
        assert_eq!(back.spacing, v.spacing);
        assert_eq!(back.affine, v.affine);
        let values: Vec<u8> = back.data.iter().map(|&x| x as u8).collect();
        assert_eq!(values, labels);
    }

    /// The same file in big-endian byte order, and as NIfTI-2, comes back patched alike.
    #[test]
    fn big_endian_and_nifti2_headers() {
        let labels: Vec<u8> = (0..60).map(|i| (i % 3) as u8).collect();
        // A hand-made NIfTI-2 header, big-endian: 540 bytes, dims [3, 5, 4, 3, 1, ...], f32
        // data (16) with a scaling, then 4 extension bytes and the data.
        let mut h = vec![0u8; 540];
        h[0..4].copy_from_slice(&540i32.to_be_bytes());
        h[4..12].copy_from_slice(b"n+2\0\r\n\x1a\n");
        h[12..14].copy_from_slice(&16i16.to_be_bytes());
        h[14..16].copy_from_slice(&32i16.to_be_bytes());
        for (i, d) in [3i64, 5, 4, 3, 1, 1, 1, 1].iter().enumerate() {
            h[16 + 8 * i..24 + 8 * i].copy_from_slice(&d.to_be_bytes());
        }
        h[176..184].copy_from_slice(&2.0f64.to_be_bytes());
        let mut file = h.clone();
        file.extend_from_slice(&[0; 4]);
        file.extend(std::iter::repeat_n(0u8, 60 * 4));
        let raw = labels_like_input(&file, &labels).unwrap();
        assert_eq!(raw.len(), 544 + 60);
        assert_eq!(i16::from_be_bytes([raw[12], raw[13]]), DT_UINT8);
        assert_eq!(i16::from_be_bytes([raw[14], raw[15]]), 8);
        assert_eq!(i64::from_be_bytes(raw[168..176].try_into().unwrap()), 544);
        assert_eq!(f64::from_be_bytes(raw[176..184].try_into().unwrap()), 1.0);
        assert_eq!(f64::from_be_bytes(raw[192..200].try_into().unwrap()), 2.0);
        assert_eq!(&raw[544..], &labels[..]);
        assert_eq!(&raw[16..48], &h[16..48], "dims kept");
    }

    #[test]
    fn refusals_say_why() {
        let input = input_file([5, 4, 3]);
        let err = labels_like_input(&input, &[0; 59]).unwrap_err().to_string();
        assert!(err.contains("60, the label map has 59"), "{err}");
        let err = labels_like_input(b"not a nifti file", &[0; 4])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not 348 or 540"), "{err}");
        let err = labels_like_input(&input[..100], &[0; 60])
            .unwrap_err()
            .to_string();
        assert!(err.contains("less than its 348-byte header"), "{err}");
        let err = labels_like_input(&[0x1f, 0x8b, 1, 2], &[0; 60])
            .unwrap_err()
            .to_string();
        assert!(err.contains("gzip"), "{err}");
    }

    /// A 4-D input of one frame becomes a 3-D label map.
    #[test]
    fn a_single_frame_series_becomes_3d() {
        let mut input = input_file([5, 4, 3]);
        input[40..42].copy_from_slice(&4i16.to_le_bytes());
        input[48..50].copy_from_slice(&1i16.to_le_bytes());
        let raw = labels_like_input(&input, &[1; 60]).unwrap();
        assert_eq!(i16::from_le_bytes([raw[40], raw[41]]), 3);
        assert_eq!(i16::from_le_bytes([raw[48], raw[49]]), 1);
    }
}
