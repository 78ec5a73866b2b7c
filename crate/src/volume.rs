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

impl Volume<f32> {
    /// The `low` and `high` percentiles (in %, e.g. 0.5 and 99.5) of all voxels, interpolated
    /// linearly between ranks as numpy's `percentile` does. Used for MRI normalisation and the viewer's default window.
    pub fn percentiles(&self, low: f32, high: f32) -> (f32, f32) {
        percentile_range(&self.data, low, high)
    }
}

/// The `low` and `high` percentiles of `values` (in %), interpolated linearly between ranks
/// (numpy's default); `(0, 1)` when empty. Linear time and no copy of `values` (a radix
/// select: the page takes the window of a 512 × 512 × 400 CT's 105 million voxels with this).
pub fn percentile_range(values: &[f32], low: f32, high: f32) -> (f32, f32) {
    if values.is_empty() {
        return (0.0, 1.0);
    }
    let last = (values.len() - 1) as f64;
    let at = |p: f32| {
        let position = f64::from(p.clamp(0.0, 100.0)) / 100.0 * last;
        crate::data::intensity::value_at_rank(values, |_| true, position)
    };
    (at(low), at(high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_contiguous_runs_in_x_fastest_order() {
        let data: Vec<u16> = (0..24).collect();
        let v = Volume::new(data, [4, 3, 2], [1.0, 1.0, 2.0]).unwrap();
        assert_eq!(v.slice(1), &(12..24).collect::<Vec<_>>()[..]);
        assert_eq!(v.get(3, 2, 1), 23);
        assert_eq!(v.get(1, 0, 0), 1);
        assert_eq!(v.affine[2][2], 2.0);
    }

    #[test]
    fn a_volume_refuses_data_of_the_wrong_length() {
        assert!(Volume::new(vec![0u8; 5], [2, 2, 2], [1.0; 3]).is_err());
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let values: Vec<f32> = (0..=100).rev().map(|v| v as f32).collect();
        assert_eq!(percentile_range(&values, 0.5, 99.5), (0.5, 99.5));
        // numpy.percentile([1, 2, 4], [25, 90]) == [1.5, 3.6]
        let (lo, hi) = percentile_range(&[4.0, 1.0, 2.0], 25.0, 90.0);
        assert!(
            (lo - 1.5).abs() < 1e-6 && (hi - 3.6).abs() < 1e-6,
            "{lo} {hi}"
        );
        assert_eq!(percentile_range(&values, 0.0, 100.0), (0.0, 100.0));
    }

    /// Selection gives what a full sort gives, non-finite values (ordered by `total_cmp`)
    /// and repeated values included.
    #[test]
    fn percentiles_by_selection_equal_those_of_a_sort() {
        let mut state = 12345u32;
        let mut values: Vec<f32> = (0..5_001)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                match i % 3 {
                    0 => (state >> 20) as f32 - 800.0,
                    1 => (state >> 8) as f32 * 1e-3 - 8_000.0,
                    _ => f32::from_bits(state >> 9) * if state & 1 == 0 { 1.0 } else { -1.0 },
                }
            })
            .collect();
        values.extend([
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -f32::NAN,
            0.0,
            -0.0,
        ]);
        let mut sorted = values.clone();
        sorted.sort_unstable_by(f32::total_cmp);
        for (low, high) in [(0.5, 99.5), (0.0, 100.0), (1.0, 99.0), (37.3, 62.9)] {
            let by_sort = |p: f32| {
                let position = f64::from(p) / 100.0 * (sorted.len() - 1) as f64;
                let below = position.floor() as usize;
                let above = (below + 1).min(sorted.len() - 1);
                let fraction = (position - below as f64) as f32;
                sorted[below] + (sorted[above] - sorted[below]) * fraction
            };
            let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
            let (lo, hi) = percentile_range(&values, low, high);
            assert!(same(lo, by_sort(low)), "{low}: {lo} vs {}", by_sort(low));
            assert!(same(hi, by_sort(high)), "{high}: {hi} vs {}", by_sort(high));
        }
    }
}
