//! The coarse head's output over a volume, kept at the head's own resolution: its softmax
//! probabilities per class and slice on the head's grid (a quarter of the model's image size),
//! brought to the slice size one plane at a time, when PCSW or label fusion reads them, by the
//! bilinear interpolation (`align_corners = false`) the pipeline used to run on the device over
//! the whole volume.
//!
//! Kept at full resolution, the probabilities of every class took `classes × voxels × 4` bytes:
//! 2.3 GB for a 512 × 512 × 400 CT with six classes, past what a browser tab can hold. On the
//! head's grid they take `classes × slices × grid` values (6 × 400 × 32 × 32 × 4 bytes = 9.8 MB
//! there), and the full-resolution label map is the only per-voxel buffer left.

use crate::model::common::{BilinearTap, bilinear_taps};
use crate::{Result, SssError};

/// The coarse head's output over a volume.
#[derive(Clone, Debug)]
pub struct CoarseOutput {
    /// Softmax probabilities `[class][z][gy][gx]` on the head's grid.
    probabilities: Vec<f32>,
    classes: usize,
    slices: usize,
    /// `[h, w]` of the head's grid.
    grid: [usize; 2],
    /// `[h, w]` of a slice.
    slice_hw: [usize; 2],
    rows: Vec<BilinearTap>,
    cols: Vec<BilinearTap>,
    /// Argmax label map at the slice size, x fastest (of the upsampled probabilities).
    pub labels: Vec<u8>,
}

impl CoarseOutput {
    /// The output of `probabilities` (`[class][z][gy][gx]` on a `grid` of `[h, w]`) for
    /// `slices` slices of `slice_hw` (`[h, w]`); the label map is computed here.
    pub fn new(
        probabilities: Vec<f32>,
        classes: usize,
        slices: usize,
        grid: [usize; 2],
        slice_hw: [usize; 2],
    ) -> Result<Self> {
        let cells = grid[0] * grid[1];
        if classes == 0 || cells == 0 || probabilities.len() != classes * slices * cells {
            return Err(SssError::InvalidInput(format!(
                "coarse probabilities of {} values are not {classes} classes × {slices} slices × \
                 a {grid:?} grid",
                probabilities.len()
            )));
        }
        let mut out = Self {
            probabilities,
            classes,
            slices,
            grid,
            slice_hw,
            rows: bilinear_taps(grid[0], slice_hw[0]),
            cols: bilinear_taps(grid[1], slice_hw[1]),
            labels: Vec::new(),
        };
        out.labels = out.label_map();
        Ok(out)
    }

    /// Output classes, background included.
    pub fn num_classes(&self) -> usize {
        self.classes
    }

    /// `[nx, ny, nz]` of the volume.
    pub fn dims(&self) -> [usize; 3] {
        [self.slice_hw[1], self.slice_hw[0], self.slices]
    }

    /// Class `class`'s probability on slice `z` at the slice size, row-major, into `out`
    /// (`h × w` values).
    pub fn class_plane_into(&self, class: usize, z: usize, out: &mut [f32]) {
        let [gh, gw] = self.grid;
        let [h, w] = self.slice_hw;
        let cells = gh * gw;
        let src = &self.probabilities[(class * self.slices + z) * cells..][..cells];
        if self.grid == self.slice_hw {
            out.copy_from_slice(src);
            return;
        }
        // Along x for every grid row, then along y: the same sum as 2-D bilinear.
        let mut along_x = vec![0f32; gh * w];
        for (gy, row) in along_x.chunks_exact_mut(w).enumerate() {
            let line = &src[gy * gw..(gy + 1) * gw];
            for (v, t) in row.iter_mut().zip(&self.cols) {
                *v = t.w0 * line[t.i0] + t.w1 * line[t.i1];
            }
        }
        for (row, t) in out.chunks_exact_mut(w).zip(&self.rows).take(h) {
            let (a, b) = (&along_x[t.i0 * w..][..w], &along_x[t.i1 * w..][..w]);
            for ((v, &p0), &p1) in row.iter_mut().zip(a).zip(b) {
                *v = t.w0 * p0 + t.w1 * p1;
            }
        }
    }

    /// Every class's probability on slice `z` at the slice size: `[class][y][x]`.
    pub fn slice_planes(&self, z: usize) -> Vec<f32> {
        let plane = self.slice_hw[0] * self.slice_hw[1];
        let mut planes = vec![0f32; self.classes * plane];
        for (c, out) in planes.chunks_exact_mut(plane).enumerate() {
            self.class_plane_into(c, z, out);
        }
        planes
    }

    /// `f(p)` of class `class`'s probability `p` over the volume at the slice size, x fastest.
    fn map_class<T>(&self, class: usize, f: impl Fn(f32) -> T) -> Vec<T> {
        let plane = self.slice_hw[0] * self.slice_hw[1];
        let mut values = vec![0f32; plane];
        let mut out = Vec::with_capacity(plane * self.slices);
        for z in 0..self.slices {
            self.class_plane_into(class, z, &mut values);
            out.extend(values.iter().map(|&p| f(p)));
        }
        out
    }

    /// Class `class`'s probability over the volume at the slice size, x fastest (diagnostics:
    /// `classes` of these are what the pipeline no longer holds at once).
    pub fn class_volume(&self, class: usize) -> Vec<f32> {
        self.map_class(class, |p| p)
    }

    /// Where class `class`'s probability passes `threshold` (strictly), over the volume at the
    /// slice size, x fastest.
    pub fn class_mask(&self, class: usize, threshold: f32) -> Vec<bool> {
        self.map_class(class, |p| p > threshold)
    }

    /// The argmax of the upsampled probabilities per voxel (the last class on a tie, as
    /// `Iterator::max_by` picks).
    fn label_map(&self) -> Vec<u8> {
        let plane = self.slice_hw[0] * self.slice_hw[1];
        let mut labels = Vec::with_capacity(plane * self.slices);
        for z in 0..self.slices {
            let planes = self.slice_planes(z);
            labels.extend((0..plane).map(|i| {
                (0..self.classes)
                    .max_by(|&a, &b| planes[a * plane + i].total_cmp(&planes[b * plane + i]))
                    .unwrap_or(0) as u8
            }));
        }
        labels
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::interpolate;
    use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;

    /// Upsampled on the CPU plane by plane, the probabilities equal burn's bilinear
    /// `interpolate` of the whole `[slices, classes, h, w]` batch (what the pipeline ran on the
    /// device before), for a square and a non-square slice, up and down.
    #[test]
    fn planes_equal_burns_bilinear_interpolation() {
        let device = Device::default();
        for (grid, slice_hw) in [([8, 8], [37, 37]), ([8, 8], [20, 29]), ([8, 6], [5, 3])] {
            let (k, nz) = (3, 2);
            let x = Tensor::<4>::random(
                [nz, k, grid[0], grid[1]],
                Distribution::Uniform(0.0, 1.0),
                &device,
            );
            let expected: Vec<f32> = interpolate(
                x.clone(),
                InterpolateOptions::new(InterpolateMode::Bilinear)
                    .with_output_size(slice_hw)
                    .with_align_corners(false),
            )
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
            // [z][class] → [class][z].
            let batch: Vec<f32> = x.swap_dims(0, 1).into_data().try_to_vec::<f32>().unwrap();
            let coarse = CoarseOutput::new(batch, k, nz, grid, slice_hw).unwrap();
            let plane = slice_hw[0] * slice_hw[1];
            for z in 0..nz {
                let planes = coarse.slice_planes(z);
                for c in 0..k {
                    let want = &expected[(z * k + c) * plane..][..plane];
                    let got = &planes[c * plane..][..plane];
                    let worst = want
                        .iter()
                        .zip(got)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0f32, f32::max);
                    assert!(worst < 1e-5, "{grid:?} → {slice_hw:?}: off by {worst}");
                }
            }
        }
    }

    /// The label map is the argmax of the upsampled planes, and a class mask their threshold.
    #[test]
    fn labels_and_masks_come_from_the_upsampled_planes() {
        // Two classes on a 1 × 2 grid, one slice, upsampled to 1 × 4: class 1 rises from 0.2
        // to 0.9 left to right, class 0 the rest.
        let probs = vec![0.8, 0.1, 0.2, 0.9];
        let coarse = CoarseOutput::new(probs, 2, 1, [1, 2], [1, 4]).unwrap();
        // Source x of output o: (o + 0.5) / 2 − 0.5, clamped: 0, 0.25, 0.75, 1 (the edge).
        let mut plane = vec![0f32; 4];
        coarse.class_plane_into(1, 0, &mut plane);
        let want = [0.2, 0.375, 0.725, 0.9];
        for (a, b) in plane.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{plane:?}");
        }
        assert_eq!(coarse.labels, vec![0, 0, 1, 1]);
        assert_eq!(coarse.class_mask(1, 0.5), vec![false, false, true, true]);
        assert_eq!(coarse.class_volume(1), plane);
        assert_eq!(coarse.dims(), [4, 1, 1]);
    }

    #[test]
    fn probabilities_of_the_wrong_size_are_refused() {
        assert!(CoarseOutput::new(vec![0.0; 7], 2, 1, [2, 2], [4, 4]).is_err());
        assert!(CoarseOutput::new(vec![], 0, 1, [2, 2], [4, 4]).is_err());
    }
}
