//! Deterministic, seeded phantom datasets that stand in for ACDC (cardiac cine-MRI) and
//! BHSD (non-contrast head CT with hemorrhage) so the whole method trains and is measured here.
//!
//! Every generator is a pure function of `(case, seed)`: the same pair gives bit-identical
//! volumes on the same target (transcendental functions may differ in the last bit between
//! targets' maths libraries). Both share the image-formation helpers below.

pub mod brain_ct;
pub mod cardiac;
mod random;
pub mod scenes;

pub use brain_ct::{brain_ct_case, brain_ct_lesion_types};
pub use cardiac::{cardiac_case, cardiac_frame, cardiac_info};
pub use scenes::{SceneSize, scene};

use crate::Volume;

/// Sub-voxel sample offsets `(dx, dy, dz)` in voxels (dz in slices) for partial volume: the
/// voxel centre first (it also gives the label), then four diagonal samples spread through
/// the slab, so thick slices mix what lies above and below.
pub(crate) const PARTIAL_VOLUME_OFFSETS: [[f32; 3]; 5] = [
    [0.0, 0.0, 0.0],
    [-0.3, -0.3, -0.25],
    [0.3, -0.3, 0.25],
    [-0.3, 0.3, 0.25],
    [0.3, 0.3, -0.25],
];

/// A volume from data whose length matches `dims` by construction, with a diagonal affine.
pub(crate) fn assemble<T: Copy>(data: Vec<T>, dims: [usize; 3], spacing: [f32; 3]) -> Volume<T> {
    debug_assert_eq!(data.len(), dims.iter().product::<usize>());
    let mut affine = [[0.0; 4]; 4];
    for (i, s) in spacing.iter().enumerate() {
        affine[i][i] = *s;
    }
    affine[3][3] = 1.0;
    Volume {
        data,
        dims,
        spacing,
        affine,
    }
}

/// Blurs a row-major `ny × nx` slice with the separable kernel `[1, 2, 1] / 4` (edges clamped):
/// the scanner's point-spread function.
pub(crate) fn blur_in_plane(slice: &mut [f32], nx: usize, ny: usize) {
    let mut rows = vec![0.0f32; slice.len()];
    for y in 0..ny {
        let row = &slice[y * nx..(y + 1) * nx];
        for x in 0..nx {
            let left = row[x.saturating_sub(1)];
            let right = row[(x + 1).min(nx - 1)];
            rows[y * nx + x] = 0.25 * left + 0.5 * row[x] + 0.25 * right;
        }
    }
    for y in 0..ny {
        let up = y.saturating_sub(1);
        let down = (y + 1).min(ny - 1);
        for x in 0..nx {
            slice[y * nx + x] =
                0.25 * rows[up * nx + x] + 0.5 * rows[y * nx + x] + 0.25 * rows[down * nx + x];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_constants_and_spreads_a_point() {
        let mut flat = vec![3.0f32; 12];
        blur_in_plane(&mut flat, 4, 3);
        assert!(flat.iter().all(|v| (v - 3.0).abs() < 1e-6));
        let mut point = vec![0.0f32; 25];
        point[12] = 16.0;
        blur_in_plane(&mut point, 5, 5);
        assert_eq!(point[12], 4.0);
        assert_eq!(point[11], 2.0);
        assert_eq!(point[6], 1.0);
        assert!((point.iter().sum::<f32>() - 16.0).abs() < 1e-5);
    }
}
