//! NIfTI-1/2 reading and writing (`.nii`, `.nii.gz`) through the `nifti` crate, for the CLI
//! and the page alike. Any datatype the format allows is read, scaled by `scl_slope`/`scl_inter`
//! into `f32`; geometry (spacing, sform/qform affine) is kept so outputs line up with inputs.

use std::io::{Cursor, Read};
use std::path::Path;

use flate2::read::GzDecoder;
use nifti::affine::Affine4;
use nifti::{InMemNiftiObject, IntoNdArray, NiftiHeader, NiftiObject};

use crate::{Result, SssError, Volume};

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

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
        GzDecoder::new(bytes).read_to_end(&mut raw).map_err(|e| {
            SssError::Scan(format!("the gzip stream is corrupt or truncated ({e})"))
        })?;
        parse(&raw)?
    } else {
        parse(bytes)?
    };
    into_volume(object)
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

fn parse(raw: &[u8]) -> Result<InMemNiftiObject> {
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
    let array = object
        .into_volume()
        .into_ndarray::<f32>()
        .map_err(|e| SssError::Scan(format!("unsupported voxel data ({e})")))?;
    // ndarray indexes [x, y, z]; the reversed view iterates x fastest, as `Volume` stores it.
    let data: Vec<f32> = array.t().iter().copied().collect();
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
    let affine = header.affine::<f32>();
    for (r, row) in volume.affine.iter_mut().enumerate() {
        for (c, value) in row.iter_mut().enumerate() {
            *value = affine[(r, c)];
        }
    }
    Ok(volume)
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
