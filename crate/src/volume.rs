//! `Volume`: a 3-D scan or label map held in NIfTI voxel order, with its geometry.

use crate::{Result, SssError};

/// A 3-D image in NIfTI voxel order: x fastest, then y, then z. Axial slice `z` is the
/// contiguous run `data[z * nx * ny .. (z + 1) * nx * ny]`, row-major with `ny` rows of `nx`.
#[derive(Clone, Debug, PartialEq)]
pub struct Volume<T> {
    /// Voxel values, x fastest.
    pub data: Vec<T>,
    /// `[nx, ny, nz]`.
    pub dims: [usize; 3],
    /// Voxel size in mm along x, y, z.
    pub spacing: [f32; 3],
    /// Voxel-to-world (RAS+, mm) affine, row-major.
    pub affine: [[f32; 4]; 4],
}

impl<T: Copy> Volume<T> {
    /// Builds a volume with a diagonal affine from its spacing; fails if `data` does not fit `dims`.
    pub fn new(data: Vec<T>, dims: [usize; 3], spacing: [f32; 3]) -> Result<Self> {
        let expected = dims.iter().product::<usize>();
        if data.len() != expected || expected == 0 {
            return Err(SssError::InvalidInput(format!(
                "a {}×{}×{} volume needs {expected} voxels, got {}",
                dims[0],
                dims[1],
                dims[2],
                data.len()
            )));
        }
        let mut affine = [[0.0; 4]; 4];
        for (i, s) in spacing.iter().enumerate() {
            affine[i][i] = *s;
        }
        affine[3][3] = 1.0;
        Ok(Self {
            data,
            dims,
            spacing,
            affine,
        })
    }

    /// Voxels in one axial slice (`nx * ny`).
    pub fn slice_len(&self) -> usize {
        self.dims[0] * self.dims[1]
    }

    /// Number of axial slices (`nz`).
    pub fn num_slices(&self) -> usize {
        self.dims[2]
    }

    /// Axial slice `z`, row-major `[ny][nx]`.
    pub fn slice(&self, z: usize) -> &[T] {
        let n = self.slice_len();
        &self.data[z * n..(z + 1) * n]
    }

    /// Mutable axial slice `z`.
    pub fn slice_mut(&mut self, z: usize) -> &mut [T] {
        let n = self.slice_len();
        &mut self.data[z * n..(z + 1) * n]
    }

    /// Voxel at `(x, y, z)`.
    pub fn get(&self, x: usize, y: usize, z: usize) -> T {
        self.data[(z * self.dims[1] + y) * self.dims[0] + x]
    }

    /// A volume of the same geometry with every voxel mapped through `f`.
    pub fn map<U: Copy>(&self, f: impl FnMut(T) -> U) -> Volume<U> {
        Volume {
            data: self.data.iter().copied().map(f).collect(),
            dims: self.dims,
            spacing: self.spacing,
            affine: self.affine,
        }
    }

    /// A volume of the same geometry holding `data` instead.
    pub fn with_data<U: Copy>(&self, data: Vec<U>) -> Result<Volume<U>> {
        let mut v = Volume::new(data, self.dims, self.spacing)?;
        v.affine = self.affine;
        Ok(v)
    }
}
