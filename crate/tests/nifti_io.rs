//! NIfTI reading and writing: round trips, scaling, geometry, and clear errors for bad files.

use std::io::Write;

use nifti::Endianness;
use sss::Volume;
use sss::data::nifti_io::{read_nifti, read_nifti_bytes, write_nifti};

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sss-nifti-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ramp_volume() -> Volume<f32> {
    let dims = [5, 4, 3];
    let data = (0..60).map(|i| i as f32 * 0.5 - 7.0).collect();
    let mut v = Volume::new(data, dims, [0.8, 0.9, 2.5]).unwrap();
    v.affine[0][3] = -12.0;
    v.affine[1][3] = 30.5;
    v.affine[2][3] = 4.0;
    v
}

#[test]
fn f32_and_u8_volumes_round_trip_with_their_geometry() {
    let dir = temp_dir();
    let v = ramp_volume();
    for name in ["scan.nii", "scan.nii.gz"] {
        let path = dir.join(name);
        write_nifti(&v, &path).unwrap();
        let back = read_nifti(&path).unwrap();
        assert_eq!(back.dims, v.dims, "{name}");
        assert_eq!(back.data, v.data, "{name}");
        assert_eq!(back.spacing, v.spacing, "{name}");
        assert_eq!(back.affine, v.affine, "{name}");
    }
    let labels = v.map(|x| (x.max(0.0) as u8) % 4);
    let path = dir.join("labels.nii.gz");
    write_nifti(&labels, &path).unwrap();
    let back = read_nifti(&path).unwrap();
    assert_eq!(
        back.data,
        labels.data.iter().map(|&l| l as f32).collect::<Vec<_>>()
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A NIfTI-1 header written field by field (little-endian), as another tool would.
fn header(dims: [u16; 3], datatype: i16, bitpix: i16, slope: f32, inter: f32) -> Vec<u8> {
    header_in(Endianness::Little, dims, datatype, bitpix, slope, inter)
}

/// A field's bytes in `order`, from its little-endian bytes.
fn in_order(order: Endianness, le: &[u8]) -> Vec<u8> {
    let mut bytes = le.to_vec();
    if order == Endianness::Big {
        bytes.reverse();
    }
    bytes
}

/// [`header`] in either byte order.
fn header_in(
    order: Endianness,
    dims: [u16; 3],
    datatype: i16,
    bitpix: i16,
    slope: f32,
    inter: f32,
) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    let mut put = |at: usize, le: &[u8]| {
        let bytes = in_order(order, le);
        h[at..at + bytes.len()].copy_from_slice(&bytes);
    };
    put(0, &348i32.to_le_bytes());
    let dim = [3u16, dims[0], dims[1], dims[2], 1, 1, 1, 1];
    for (i, d) in dim.iter().enumerate() {
        put(40 + 2 * i, &d.to_le_bytes());
    }
    put(70, &datatype.to_le_bytes());
    put(72, &bitpix.to_le_bytes());
    let pixdim = [1.0f32, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0];
    for (i, p) in pixdim.iter().enumerate() {
        put(76 + 4 * i, &p.to_le_bytes());
    }
    put(108, &352f32.to_le_bytes()); // vox_offset
    put(112, &slope.to_le_bytes());
    put(116, &inter.to_le_bytes());
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

/// A header extension is read in the file's byte order: one of 16 bytes before the voxels
/// reads in either order, one declaring more bytes than follow is refused in words.
#[test]
fn header_extensions_are_checked_in_the_files_byte_order() {
    for order in [Endianness::Little, Endianness::Big] {
        let with_extension = |esize: i32| {
            let mut bytes = header_in(order, [1, 1, 2], 2, 8, 0.0, 0.0); // DT_UINT8
            // vox_offset after the extension.
            bytes[108..112].copy_from_slice(&in_order(order, &368f32.to_le_bytes()));
            bytes[348] = 1; // the extender: extensions follow
            bytes.extend_from_slice(&in_order(order, &esize.to_le_bytes()));
            bytes.extend_from_slice(&[0; 12]); // ecode 0 and 8 bytes of content
            bytes.extend_from_slice(&[7, 9]);
            bytes
        };
        let v = read_nifti_bytes(&with_extension(16)).unwrap_or_else(|e| panic!("{order:?}: {e}"));
        assert_eq!(v.data, vec![7.0, 9.0], "{order:?}");
        let err = read_nifti_bytes(&with_extension(4096))
            .expect_err("an extension past the end")
            .to_string();
        assert!(
            err.contains("header extension at byte 352 declares 4096 bytes"),
            "{order:?}: {err}"
        );
    }
}

#[test]
fn int16_data_is_scaled_by_slope_and_intercept() {
    let mut bytes = header([2, 2, 2], 4, 16, 0.5, -100.0); // DT_INT16
    let raw: [i16; 8] = [0, 1, 2, 3, -4, 100, 2000, -32768];
    for v in raw {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let v = read_nifti_bytes(&bytes).unwrap();
    assert_eq!(v.dims, [2, 2, 2]);
    assert_eq!(v.spacing, [2.0, 3.0, 4.0]);
    let expected: Vec<f32> = raw.iter().map(|&r| r as f32 * 0.5 - 100.0).collect();
    assert_eq!(v.data, expected);
    // No sform/qform: the affine is the scaled diagonal.
    assert_eq!(v.affine[0][0].abs(), 2.0);
    assert_eq!(v.affine[2][2].abs(), 4.0);
}

#[test]
fn gzip_is_detected_from_the_content_not_the_name() {
    let mut bytes = header([1, 1, 2], 2, 8, 0.0, 0.0); // DT_UINT8, slope 0 = no scaling
    bytes.extend_from_slice(&[7, 9]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    let gz = gz.finish().unwrap();
    assert_eq!(read_nifti_bytes(&gz).unwrap().data, vec![7.0, 9.0]);
    assert_eq!(read_nifti_bytes(&bytes).unwrap().data, vec![7.0, 9.0]);
}

#[test]
fn bad_files_give_messages_not_panics() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        (
            "text",
            b"this is not an image at all, just some text".to_vec(),
        ),
        (
            "truncated header",
            header([4, 4, 4], 16, 32, 1.0, 0.0)[..200].to_vec(),
        ),
        ("truncated data", header([4, 4, 4], 16, 32, 1.0, 0.0)),
        ("corrupt gzip", vec![0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]),
    ];
    for (what, bytes) in cases {
        let err = read_nifti_bytes(&bytes).expect_err(what).to_string();
        assert!(err.starts_with("cannot read the scan"), "{what}: {err}");
    }
    // Refused from the header before the voxels are reserved, saying what was declared.
    let err = read_nifti_bytes(&header([4, 4, 4], 16, 32, 1.0, 0.0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("declares [4, 4, 4] voxels of 32 bits (256 bytes) but only"),
        "{err}"
    );
    let mut four_d = header([2, 2, 1], 2, 8, 0.0, 0.0);
    four_d[40..42].copy_from_slice(&4u16.to_le_bytes());
    four_d[48..50].copy_from_slice(&3u16.to_le_bytes()); // three frames
    four_d.extend_from_slice(&[0; 12]);
    let err = read_nifti_bytes(&four_d).unwrap_err().to_string();
    assert!(err.contains("4-D"), "{err}");
    let missing = read_nifti("/nonexistent/scan.nii.gz")
        .unwrap_err()
        .to_string();
    assert!(missing.contains("/nonexistent/scan.nii.gz"), "{missing}");
}
