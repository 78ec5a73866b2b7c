//! Byte-level access to a NIfTI-1 or NIfTI-2 header in its own byte order, and where each of
//! the two formats keeps the fields the project rewrites. Shared by the NIfTI-2 → NIfTI-1
//! rewrite on reading (`nifti2`) and the label map written in the input's header
//! (`label_export`); everything else is read by the `nifti` crate.

/// A header's bytes (`&[u8]` to read, `&mut [u8]` or `Vec<u8>` to write) and their byte
/// order. Values are given and returned in native form; offsets are the standard's.
pub(crate) struct HeaderBytes<B> {
    pub bytes: B,
    pub big_endian: bool,
}

impl<B: AsRef<[u8]>> HeaderBytes<B> {
    /// The `N` bytes at `at`, little endian whatever the file's order.
    fn raw<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut b: [u8; N] = self.bytes.as_ref()[at..at + N]
            .try_into()
            .expect("inside the header");
        if self.big_endian {
            b.reverse();
        }
        b
    }

    pub fn i16(&self, at: usize) -> i16 {
        i16::from_le_bytes(self.raw(at))
    }

    pub fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.raw(at))
    }

    pub fn i64(&self, at: usize) -> i64 {
        i64::from_le_bytes(self.raw(at))
    }

    pub fn f64(&self, at: usize) -> f64 {
        f64::from_le_bytes(self.raw(at))
    }

    /// `dim[i]` (an `i16` in NIfTI-1, an `i64` in NIfTI-2).
    pub fn dim(&self, layout: &Layout, i: usize) -> i64 {
        let at = layout.dim + i * layout.dim_bytes;
        match layout.dim_bytes {
            2 => i64::from(self.i16(at)),
            _ => self.i64(at),
        }
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> HeaderBytes<B> {
    /// Writes `le` (little-endian bytes of one value) at `at` in the header's byte order.
    pub fn put(&mut self, at: usize, le: &[u8]) {
        let dst = &mut self.bytes.as_mut()[at..at + le.len()];
        dst.copy_from_slice(le);
        if self.big_endian {
            dst.reverse();
        }
    }

    pub fn put_i16(&mut self, at: usize, v: i16) {
        self.put(at, &v.to_le_bytes());
    }

    pub fn put_f32(&mut self, at: usize, v: f64) {
        self.put(at, &(v as f32).to_le_bytes());
    }

    /// Bytes copied as they are (text fields have no byte order).
    pub fn text(&mut self, at: usize, s: &[u8]) {
        self.bytes.as_mut()[at..at + s.len()].copy_from_slice(s);
    }

    pub fn set_dim(&mut self, layout: &Layout, i: usize, value: i64) {
        let at = layout.dim + i * layout.dim_bytes;
        match layout.dim_bytes {
            2 => self.put_i16(at, value as i16),
            _ => self.put(at, &value.to_le_bytes()),
        }
    }

    /// A float field: `f32` in NIfTI-1, `f64` in NIfTI-2.
    pub fn set_float(&mut self, layout: &Layout, at: usize, value: f64) {
        match layout.dim_bytes {
            2 => self.put_f32(at, value),
            _ => self.put(at, &value.to_le_bytes()),
        }
    }

    /// The data offset: `f32` in NIfTI-1, `i64` in NIfTI-2.
    pub fn set_offset(&mut self, layout: &Layout, value: usize) {
        match layout.dim_bytes {
            2 => self.put_f32(layout.vox_offset, value as f64),
            _ => self.put(layout.vox_offset, &(value as i64).to_le_bytes()),
        }
    }
}

/// Where a header keeps the fields rewritten here (byte offsets).
pub(crate) struct Layout {
    /// Header size, also its first field (`sizeof_hdr`).
    pub size: usize,
    pub datatype: usize,
    pub bitpix: usize,
    pub dim: usize,
    /// Bytes of one `dim` entry (2 in NIfTI-1, 8 in NIfTI-2).
    pub dim_bytes: usize,
    pub vox_offset: usize,
    pub scl_slope: usize,
    pub scl_inter: usize,
    pub cal_max: usize,
    pub cal_min: usize,
}

pub(crate) const NIFTI1: Layout = Layout {
    size: 348,
    datatype: 70,
    bitpix: 72,
    dim: 40,
    dim_bytes: 2,
    vox_offset: 108,
    scl_slope: 112,
    scl_inter: 116,
    cal_max: 124,
    cal_min: 128,
};

pub(crate) const NIFTI2: Layout = Layout {
    size: 540,
    datatype: 12,
    bitpix: 14,
    dim: 16,
    dim_bytes: 8,
    vox_offset: 168,
    scl_slope: 176,
    scl_inter: 184,
    cal_max: 192,
    cal_min: 200,
};

/// The format and byte order a file's first four bytes (`sizeof_hdr`: 348 or 540, in either
/// byte order) announce, or the value they hold when it is neither.
pub(crate) fn layout_of(raw: &[u8]) -> Option<std::result::Result<(&'static Layout, bool), i32>> {
    let first: [u8; 4] = raw.get(..4)?.try_into().ok()?;
    Some(
        match (i32::from_le_bytes(first), i32::from_be_bytes(first)) {
            (348, _) => Ok((&NIFTI1, false)),
            (_, 348) => Ok((&NIFTI1, true)),
            (540, _) => Ok((&NIFTI2, false)),
            (_, 540) => Ok((&NIFTI2, true)),
            (other, _) => Err(other),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_in_either_byte_order() {
        for big_endian in [false, true] {
            let mut h = HeaderBytes {
                bytes: vec![0u8; NIFTI2.size],
                big_endian,
            };
            h.put(0, &540i32.to_le_bytes());
            h.set_dim(&NIFTI2, 3, 70_000);
            h.put_i16(NIFTI2.datatype, 4);
            h.set_float(&NIFTI2, NIFTI2.scl_slope, 0.25);
            assert_eq!(h.dim(&NIFTI2, 3), 70_000);
            assert_eq!(h.i16(NIFTI2.datatype), 4);
            assert_eq!(h.f64(NIFTI2.scl_slope), 0.25);
            let (layout, order) = layout_of(&h.bytes).unwrap().unwrap();
            assert_eq!((layout.size, order), (540, big_endian));
            // The bytes really are in the stated order.
            assert_eq!(
                h.bytes[..4],
                if big_endian {
                    [0, 0, 2, 28]
                } else {
                    [28, 2, 0, 0]
                }
            );
        }
        assert_eq!(layout_of(&[1, 0, 0, 0]).unwrap().err(), Some(1));
        assert!(layout_of(&[1, 0]).is_none());
    }
}
