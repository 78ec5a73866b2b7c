//! Augmentations of the weak-to-strong scheme, on CPU slices so that they are exact and
//! testable: the weak view (random scale, crop, flip, rot90) as one geometric transform that
//! also maps labels and prompt boxes, and strong views made from the weak view
//! (brightness/contrast jitter, grayscale where channels differ, Gaussian blur, CutMix).
//!
//! Images are `[C, H, W]` row-major `f32` slices with intensities in `[0, 1]` (before SAM-2's
//! mean/std normalisation); label maps are `[H, W]` `u8`. Everything is drawn from a caller's
//! RNG, so a seeded RNG gives identical views on the same platform.
//!
//! Sources (`docs/sss-method.md` §2.2, `docs/DESIGN.md` §3):
//! - weak: UniMatch-V2's random scale (0.5–2.0 of the fitted size), crop with padding and
//!   horizontal flip (p 0.5), plus UniMatch-V1's ACDC rot90 (p 0.5, k ∈ {1,2,3});
//! - strong, per view: brightness/contrast jitter 0.5 with p 0.8, grayscale p 0.2, Gaussian
//!   blur σ ~ U(0.1, 2.0) with p 0.5, CutMix with p 0.5 and a box of area U(0.02, 0.4)·HW and
//!   aspect ratio U(0.3, 1/0.3) (UniMatch-V2 `dataset/semi.py`, `transform.py`). Saturation
//!   and hue jitter are left out: on replicated grayscale scans they do nothing.
//!
//! Coordinates: a pixel `(x, y)` covers `[x, x+1) × [y, y+1)`; its centre is `(x+0.5, y+0.5)`.
//! The weak transform is an affine map of these continuous coordinates; images are sampled
//! bilinearly at the mapped output-pixel centres, labels by nearest neighbour (the pixel the
//! centre falls in), so image and label stay aligned. Outside the input: image 0, label
//! [`WeakConfig::label_fill`] (255, the usual ignore index).

use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::{Result, SssError};

fn check_len(what: &str, len: usize, expected: usize) -> Result<()> {
    if len != expected {
        return Err(SssError::InvalidInput(format!(
            "{what} has {len} values, expected {expected}"
        )));
    }
    Ok(())
}

/// Settings of the weak view.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WeakConfig {
    /// Output `[height, width]` (the model's input size).
    pub out_size: [usize; 2],
    /// Random factor on the size that makes the (rotated) input cover the output.
    pub scale_range: [f32; 2],
    pub flip_p: f64,
    /// Probability of a rot90 by k ∈ {1, 2, 3} quarter turns.
    pub rot90_p: f64,
    /// Label value where the crop leaves the input.
    pub label_fill: u8,
}

impl Default for WeakConfig {
    fn default() -> Self {
        Self {
            out_size: [256, 256],
            scale_range: [0.5, 2.0],
            flip_p: 0.5,
            rot90_p: 0.5,
            label_fill: 255,
        }
    }
}

/// A sampled weak view: `p_out = A · p_in + b` in continuous pixel coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeakTransform {
    /// Input `[height, width]`.
    pub in_size: [usize; 2],
    /// Output `[height, width]`.
    pub out_size: [usize; 2],
    /// Quarter turns applied first (0–3).
    pub rot90: u8,
    /// Horizontal flip, after the rotation.
    pub flip: bool,
    /// Scale from the rotated input to the output frame.
    pub scale: f32,
    /// Crop origin in the scaled frame (negative: the output is padded there).
    pub crop_origin: [f32; 2],
    /// Row-major 2×2 linear part `A`.
    pub a: [[f64; 2]; 2],
    /// Translation `b`.
    pub b: [f64; 2],
    pub label_fill: u8,
}

impl WeakConfig {
    /// Draws a weak view of an input of `[height, width]`.
    pub fn sample<R: RngExt + ?Sized>(&self, in_size: [usize; 2], rng: &mut R) -> WeakTransform {
        let rot90 = if rng.random_bool(self.rot90_p) {
            rng.random_range(1..=3u8)
        } else {
            0
        };
        let flip = rng.random_bool(self.flip_p);
        let [lo, hi] = self.scale_range;
        let factor = if hi > lo {
            rng.random_range(lo..hi)
        } else {
            lo
        };
        let [h, w] = in_size;
        let (rw, rh) = if rot90 % 2 == 1 { (h, w) } else { (w, h) };
        let [oh, ow] = self.out_size;
        let fit = (ow as f32 / rw as f32).max(oh as f32 / rh as f32);
        let scale = fit * factor;
        let (sw, sh) = (rw as f32 * scale, rh as f32 * scale);
        let mut origin = |scaled: f32, out: usize| {
            let slack = scaled - out as f32;
            if slack.abs() < 1e-6 {
                0.0
            } else {
                // Crop inside a larger frame, or place a smaller one anywhere in the output.
                let (a, b) = (slack.min(0.0), slack.max(0.0));
                rng.random_range(a..b).round()
            }
        };
        let crop_origin = [origin(sw, ow), origin(sh, oh)];
        WeakTransform::new(
            in_size,
            self.out_size,
            rot90,
            flip,
            scale,
            crop_origin,
            self.label_fill,
        )
    }
}

impl WeakTransform {
    /// Composes rot90 → flip → scale → crop into one affine map.
    pub fn new(
        in_size: [usize; 2],
        out_size: [usize; 2],
        rot90: u8,
        flip: bool,
        scale: f32,
        crop_origin: [f32; 2],
        label_fill: u8,
    ) -> Self {
        let (mut w, mut h) = (in_size[1] as f64, in_size[0] as f64);
        let mut a = [[1.0, 0.0], [0.0, 1.0]];
        let mut b = [0.0, 0.0];
        // One quarter turn: (x, y) → (y, W − x) in a frame that becomes H wide and W tall.
        for _ in 0..rot90 % 4 {
            a = [[a[1][0], a[1][1]], [-a[0][0], -a[0][1]]];
            b = [b[1], w - b[0]];
            std::mem::swap(&mut w, &mut h);
        }
        if flip {
            a[0] = [-a[0][0], -a[0][1]];
            b[0] = w - b[0];
        }
        let s = scale as f64;
        for row in a.iter_mut() {
            row[0] *= s;
            row[1] *= s;
        }
        b = [
            b[0] * s - crop_origin[0] as f64,
            b[1] * s - crop_origin[1] as f64,
        ];
        Self {
            in_size,
            out_size,
            rot90: rot90 % 4,
            flip,
            scale,
            crop_origin,
            a,
            b,
            label_fill,
        }
    }

    /// Maps a continuous input coordinate to the output.
    pub fn forward(&self, p: [f64; 2]) -> [f64; 2] {
        [
            self.a[0][0] * p[0] + self.a[0][1] * p[1] + self.b[0],
            self.a[1][0] * p[0] + self.a[1][1] * p[1] + self.b[1],
        ]
    }

    /// Maps a continuous output coordinate back to the input.
    pub fn inverse(&self, q: [f64; 2]) -> [f64; 2] {
        let [[a, b], [c, d]] = self.a;
        let det = a * d - b * c;
        let (x, y) = (q[0] - self.b[0], q[1] - self.b[1]);
        [(d * x - b * y) / det, (-c * x + a * y) / det]
    }

    /// Maps a point given in pixel-index coordinates (pixel `i`'s centre at `i`, as PCSW's
    /// points) to the output's pixel-index coordinates.
    pub fn map_point(&self, p: [f32; 2]) -> [f32; 2] {
        let q = self.forward([p[0] as f64 + 0.5, p[1] as f64 + 0.5]);
        [(q[0] - 0.5) as f32, (q[1] - 0.5) as f32]
    }

    /// Maps a box `[x_min, y_min, x_max, y_max]` of inclusive pixel indices (as PCSW's): the
    /// region its pixels cover, `[x_min, x_max+1) × [y_min, y_max+1)`, is mapped, bounded and
    /// turned back into inclusive indices (`[X0, Y0, X1−1, Y1−1]`), then clipped to the
    /// output. It is within half an output pixel of the bounding box of the mapped mask, and
    /// exact for quarter turns, flips and whole-pixel crops. `None` when the box falls
    /// entirely outside the crop.
    pub fn map_box(&self, bx: [f32; 4]) -> Option<[f32; 4]> {
        let (x0, y0, x1, y1) = (
            bx[0] as f64,
            bx[1] as f64,
            bx[2] as f64 + 1.0,
            bx[3] as f64 + 1.0,
        );
        let corners = [[x0, y0], [x1, y0], [x0, y1], [x1, y1]].map(|c| self.forward(c));
        let min = |i: usize| corners.iter().map(|c| c[i]).fold(f64::INFINITY, f64::min);
        let max = |i: usize| {
            corners
                .iter()
                .map(|c| c[i])
                .fold(f64::NEG_INFINITY, f64::max)
        };
        let (w, h) = (self.out_size[1] as f64, self.out_size[0] as f64);
        let (lo_x, lo_y, hi_x, hi_y) = (min(0), min(1), max(0), max(1));
        if hi_x <= 0.0 || hi_y <= 0.0 || lo_x >= w || lo_y >= h {
            return None;
        }
        let (lo_x, lo_y) = (lo_x.max(0.0), lo_y.max(0.0));
        // A box thinner than an output pixel keeps zero width rather than inverting.
        let hi_x = (hi_x.min(w) - 1.0).max(lo_x);
        let hi_y = (hi_y.min(h) - 1.0).max(lo_y);
        Some([lo_x as f32, lo_y as f32, hi_x as f32, hi_y as f32])
    }

    /// The input coordinate sampled by output pixel `(x, y)` (its centre, mapped back).
    fn source_of(&self, x: usize, y: usize) -> [f64; 2] {
        self.inverse([x as f64 + 0.5, y as f64 + 0.5])
    }

    /// Applies the view to a `[C, H, W]` image (bilinear, 0 outside the input).
    pub fn apply_image(&self, image: &[f32], channels: usize) -> Result<Vec<f32>> {
        let [h, w] = self.in_size;
        check_len("image", image.len(), channels * h * w)?;
        let [oh, ow] = self.out_size;
        let mut out = vec![0.0f32; channels * oh * ow];
        for y in 0..oh {
            for x in 0..ow {
                let [sx, sy] = self.source_of(x, y);
                if sx < 0.0 || sy < 0.0 || sx >= w as f64 || sy >= h as f64 {
                    continue;
                }
                // Bilinear between the four nearest pixel centres, edges replicated.
                let (fx, fy) = (sx - 0.5, sy - 0.5);
                let (x0, y0) = (fx.floor(), fy.floor());
                let (tx, ty) = ((fx - x0) as f32, (fy - y0) as f32);
                let clamp = |v: f64, n: usize| v.clamp(0.0, (n - 1) as f64) as usize;
                let (xa, xb) = (clamp(x0, w), clamp(x0 + 1.0, w));
                let (ya, yb) = (clamp(y0, h), clamp(y0 + 1.0, h));
                for c in 0..channels {
                    let plane = &image[c * h * w..(c + 1) * h * w];
                    let top = plane[ya * w + xa] * (1.0 - tx) + plane[ya * w + xb] * tx;
                    let bottom = plane[yb * w + xa] * (1.0 - tx) + plane[yb * w + xb] * tx;
                    out[(c * oh + y) * ow + x] = top * (1.0 - ty) + bottom * ty;
                }
            }
        }
        Ok(out)
    }

    /// Applies the view to a `[H, W]` label map (nearest, `label_fill` outside the input).
    pub fn apply_labels(&self, labels: &[u8]) -> Result<Vec<u8>> {
        let [h, w] = self.in_size;
        check_len("label map", labels.len(), h * w)?;
        let [oh, ow] = self.out_size;
        let mut out = vec![self.label_fill; oh * ow];
        for y in 0..oh {
            for x in 0..ow {
                let [sx, sy] = self.source_of(x, y);
                if sx < 0.0 || sy < 0.0 || sx >= w as f64 || sy >= h as f64 {
                    continue;
                }
                out[y * ow + x] = labels[sy as usize * w + sx as usize];
            }
        }
        Ok(out)
    }
}

/// Settings of a strong view (applied to the weak view).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StrongConfig {
    /// Probability of the brightness/contrast jitter.
    pub jitter_p: f64,
    /// Brightness factor ~ U(1 − b, 1 + b).
    pub brightness: f32,
    /// Contrast factor ~ U(1 − c, 1 + c).
    pub contrast: f32,
    /// Probability of grayscale (only acts where the channels differ).
    pub grayscale_p: f64,
    pub blur_p: f64,
    pub blur_sigma: [f32; 2],
    pub cutmix_p: f64,
    /// Box area as a fraction of the slice.
    pub cutmix_area: [f32; 2],
    /// Box aspect ratio h/w range.
    pub cutmix_ratio: [f32; 2],
}

impl Default for StrongConfig {
    fn default() -> Self {
        Self {
            jitter_p: 0.8,
            brightness: 0.5,
            contrast: 0.5,
            grayscale_p: 0.2,
            blur_p: 0.5,
            blur_sigma: [0.1, 2.0],
            cutmix_p: 0.5,
            cutmix_area: [0.02, 0.4],
            cutmix_ratio: [0.3, 1.0 / 0.3],
        }
    }
}

impl StrongConfig {
    /// CutMix alone: no brightness/contrast jitter, grayscale or blur.
    pub fn without_photometric() -> Self {
        Self {
            jitter_p: 0.0,
            grayscale_p: 0.0,
            blur_p: 0.0,
            ..Self::default()
        }
    }
}

/// A CutMix box: `[x, x+w) × [y, y+h)` of the slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutMixBox {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

impl CutMixBox {
    /// True when pixel `(x, y)` lies in the box.
    pub fn contains(&self, x: usize, y: usize) -> bool {
        x >= self.x && x < self.x + self.w && y >= self.y && y < self.y + self.h
    }

    /// Copies the box of every plane of `source` into `target`; both are `[planes, H, W]`
    /// of the same size (images, label maps, pseudo-labels, confidence maps alike).
    pub fn paste<T: Copy>(&self, target: &mut [T], source: &[T], size: [usize; 2]) -> Result<()> {
        let [h, w] = size;
        let plane = h * w;
        if plane == 0 || target.len() != source.len() || !target.len().is_multiple_of(plane) {
            return Err(SssError::InvalidInput(format!(
                "CutMix needs two equal stacks of {h}×{w} planes, got {} and {} values",
                target.len(),
                source.len()
            )));
        }
        if self.x + self.w > w || self.y + self.h > h {
            return Err(SssError::InvalidInput(format!(
                "CutMix box {self:?} does not fit a {h}×{w} slice"
            )));
        }
        for p in 0..target.len() / plane {
            for y in self.y..self.y + self.h {
                let row = p * plane + y * w;
                target[row + self.x..row + self.x + self.w]
                    .copy_from_slice(&source[row + self.x..row + self.x + self.w]);
            }
        }
        Ok(())
    }
}

/// The drawn parameters of one strong view.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StrongParams {
    pub brightness: Option<f32>,
    pub contrast: Option<f32>,
    pub grayscale: bool,
    pub blur_sigma: Option<f32>,
    pub cutmix: Option<CutMixBox>,
}

impl StrongConfig {
    /// Draws a strong view's parameters for an `[H, W]` slice.
    pub fn sample<R: RngExt + ?Sized>(&self, size: [usize; 2], rng: &mut R) -> StrongParams {
        let factor = |rng: &mut R, amount: f32| {
            if amount > 0.0 {
                rng.random_range((1.0 - amount).max(0.0)..1.0 + amount)
            } else {
                1.0
            }
        };
        let (brightness, contrast) = if rng.random_bool(self.jitter_p) {
            (
                Some(factor(rng, self.brightness)),
                Some(factor(rng, self.contrast)),
            )
        } else {
            (None, None)
        };
        let grayscale = rng.random_bool(self.grayscale_p);
        let blur_sigma = rng
            .random_bool(self.blur_p)
            .then(|| uniform(rng, self.blur_sigma));
        let cutmix = if rng.random_bool(self.cutmix_p) {
            self.cutmix_box(size, rng)
        } else {
            None
        };
        StrongParams {
            brightness,
            contrast,
            grayscale,
            blur_sigma,
            cutmix,
        }
    }

    /// UniMatch's `obtain_cutmix_box`: area U(area)·HW, ratio U(ratio), `w = ⌊√(area/ratio)⌋`,
    /// `h = ⌊√(area·ratio)⌋`, the ratio redrawn until the box fits; position uniform.
    pub fn cutmix_box<R: RngExt + ?Sized>(
        &self,
        size: [usize; 2],
        rng: &mut R,
    ) -> Option<CutMixBox> {
        let [h, w] = size;
        let area = uniform(rng, self.cutmix_area) * (h * w) as f32;
        for _ in 0..100 {
            let ratio = uniform(rng, self.cutmix_ratio);
            let bw = (area / ratio).sqrt() as usize;
            let bh = (area * ratio).sqrt() as usize;
            if bw >= 1 && bh >= 1 && bw <= w && bh <= h {
                return Some(CutMixBox {
                    x: rng.random_range(0..=w - bw),
                    y: rng.random_range(0..=h - bh),
                    w: bw,
                    h: bh,
                });
            }
        }
        None
    }
}

fn uniform<R: RngExt + ?Sized>(rng: &mut R, [lo, hi]: [f32; 2]) -> f32 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

/// Applies the photometric part of a strong view in place to a `[C, H, W]` image in
/// `[0, 1]`: brightness (`x·b`), contrast (blend with the mean gray level, torchvision's
/// rule), grayscale (ITU-R 601 luma replicated, only when the channels differ), Gaussian
/// blur; values are clamped to `[0, 1]` after the jitter. CutMix needs a partner image and
/// is [`CutMixBox::paste`].
pub fn apply_photometric(
    image: &mut [f32],
    channels: usize,
    size: [usize; 2],
    params: &StrongParams,
) -> Result<()> {
    let plane = size[0] * size[1];
    check_len("image", image.len(), channels * plane)?;
    if let Some(b) = params.brightness {
        image.iter_mut().for_each(|v| *v = (*v * b).clamp(0.0, 1.0));
    }
    if let Some(c) = params.contrast {
        let mean = gray(image, channels, plane).iter().sum::<f32>() / plane as f32;
        image
            .iter_mut()
            .for_each(|v| *v = (c * *v + (1.0 - c) * mean).clamp(0.0, 1.0));
    }
    if params.grayscale && channels > 1 {
        let first = &image[..plane];
        let differ = (1..channels).any(|c| image[c * plane..(c + 1) * plane] != *first);
        if differ {
            let g = gray(image, channels, plane);
            for c in 0..channels {
                image[c * plane..(c + 1) * plane].copy_from_slice(&g);
            }
        }
    }
    if let Some(sigma) = params.blur_sigma {
        for c in 0..channels {
            gaussian_blur(&mut image[c * plane..(c + 1) * plane], size, sigma);
        }
    }
    Ok(())
}

/// Gray level per pixel: luma for 3 channels, the channel mean otherwise.
fn gray(image: &[f32], channels: usize, plane: usize) -> Vec<f32> {
    (0..plane)
        .map(|i| {
            if channels == 3 {
                0.299 * image[i] + 0.587 * image[plane + i] + 0.114 * image[2 * plane + i]
            } else {
                (0..channels).map(|c| image[c * plane + i]).sum::<f32>() / channels as f32
            }
        })
        .collect()
}

/// Mirror index (`d c b | a b c d | c b a`), as torchvision's reflect padding.
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - m }) as usize
}

/// Separable Gaussian blur of one `[H, W]` plane, kernel radius ⌈3σ⌉, reflected borders.
pub fn gaussian_blur(plane: &mut [f32], size: [usize; 2], sigma: f32) {
    let [h, w] = size;
    let radius = (3.0 * sigma).ceil().max(1.0) as isize;
    let mut kernel: Vec<f32> = (-radius..=radius)
        .map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= total);
    let mut tmp = vec![0.0f32; plane.len()];
    for y in 0..h {
        for x in 0..w {
            tmp[y * w + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, &wk)| wk * plane[y * w + reflect(x as isize + k as isize - radius, w)])
                .sum();
        }
    }
    for y in 0..h {
        for x in 0..w {
            plane[y * w + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, &wk)| wk * tmp[reflect(y as isize + k as isize - radius, h) * w + x])
                .sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::SmallRng};

    /// A 2-channel image whose first channel is the label as a float and whose second is a
    /// smooth ramp, with a `[H, W]` label map of rectangles.
    fn sample_slice(h: usize, w: usize) -> (Vec<f32>, Vec<u8>) {
        let mut labels = vec![0u8; h * w];
        for y in 0..h {
            for x in 0..w {
                if (3..9).contains(&x) && (2..6).contains(&y) {
                    labels[y * w + x] = 1;
                }
                if (10..14).contains(&x) && (7..11).contains(&y) {
                    labels[y * w + x] = 2;
                }
            }
        }
        let mut image: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
        image.extend((0..h * w).map(|i| i as f32 / (h * w) as f32));
        (image, labels)
    }

    fn bbox_of(labels: &[u8], w: usize, class: u8) -> [f32; 4] {
        let mut b = [f32::INFINITY, f32::INFINITY, -1.0, -1.0];
        for (i, _) in labels.iter().enumerate().filter(|(_, l)| **l == class) {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
        }
        b
    }

    #[test]
    fn flip_and_rotation_move_pixels_by_hand() {
        // 2×3 image [[0,1,2],[3,4,5]].
        let img: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let flip = WeakTransform::new([2, 3], [2, 3], 0, true, 1.0, [0.0, 0.0], 255);
        assert_eq!(
            flip.apply_image(&img, 1).unwrap(),
            vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]
        );
        // One quarter turn, (x, y) → (y, W − x): a 3×2 output [[2,5],[1,4],[0,3]].
        let rot = WeakTransform::new([2, 3], [3, 2], 1, false, 1.0, [0.0, 0.0], 255);
        assert_eq!(
            rot.apply_image(&img, 1).unwrap(),
            vec![2.0, 5.0, 1.0, 4.0, 0.0, 3.0]
        );
        // Pixel (2, 0) (value 2) lands at (0, 0); the box of pixels (1..2, 0..1) at
        // x 0..1, y 0..1.
        assert_eq!(rot.map_point([2.0, 0.0]), [0.0, 0.0]);
        assert_eq!(
            rot.map_box([1.0, 0.0, 2.0, 1.0]),
            Some([0.0, 0.0, 1.0, 1.0])
        );
        assert_eq!(
            rot.map_box([0.0, 0.0, 0.0, 0.0]),
            Some([0.0, 2.0, 0.0, 2.0])
        );
        // Four quarter turns are the identity; the inverse undoes the forward map.
        let full = WeakTransform::new([2, 3], [2, 3], 2, false, 1.0, [0.0, 0.0], 255);
        let twice = full
            .apply_image(&full.apply_image(&img, 1).unwrap(), 1)
            .unwrap();
        assert_eq!(twice, img);
        let t = WeakTransform::new([5, 7], [9, 9], 3, true, 1.7, [-2.0, 3.0], 255);
        let p = [1.25, 4.5];
        let back = t.inverse(t.forward(p));
        assert!((back[0] - p[0]).abs() < 1e-12 && (back[1] - p[1]).abs() < 1e-12);
    }

    /// Scale 2 with crop origin (2, 4): pixel (x, y) covers output [2x−2, 2x) × [2y−4, 2y−2),
    /// so label pixel (3, 2) lands on output pixels x 4..=5, y 0..=1.
    #[test]
    fn scale_and_crop_by_hand() {
        let (_, labels) = sample_slice(12, 16);
        let t = WeakTransform::new([12, 16], [8, 10], 0, false, 2.0, [2.0, 4.0], 255);
        let out = t.apply_labels(&labels).unwrap();
        for (x, y) in [(4, 0), (5, 0), (4, 1), (5, 1)] {
            assert_eq!(out[y * 10 + x], 1);
        }
        assert_eq!(out[3], 0);
        // Pixels 3..=8 × 2..=5 cover [3, 9) × [2, 6) → [4, 16) × [0, 8) → clipped to the 10×8
        // output: [4, 0, 9, 7].
        assert_eq!(t.map_box([3.0, 2.0, 8.0, 5.0]), Some([4.0, 0.0, 9.0, 7.0]));
        // Padding: a shrunk input leaves label_fill and zeros around it.
        let pad = WeakTransform::new([12, 16], [20, 20], 0, false, 1.0, [-2.0, -3.0], 255);
        let out = pad.apply_labels(&labels).unwrap();
        assert_eq!(out[0], 255);
        assert_eq!(out[(3 + 2) * 20 + (2 + 3)], 1);
        assert!(pad.map_box([100.0, 100.0, 120.0, 130.0]).is_none());
    }

    /// Wherever the bilinear neighbourhood of a sample is one label, the image's label
    /// channel equals the label map's value: image and labels move together.
    #[test]
    fn image_and_labels_stay_aligned_under_random_views() {
        let (image, labels) = sample_slice(12, 16);
        let cfg = WeakConfig {
            out_size: [20, 18],
            ..Default::default()
        };
        let mut rng = SmallRng::seed_from_u64(3);
        let mut checked = 0;
        for _ in 0..50 {
            let t = cfg.sample([12, 16], &mut rng);
            let img = t.apply_image(&image, 2).unwrap();
            let lab = t.apply_labels(&labels).unwrap();
            for (i, &l) in lab.iter().enumerate() {
                if l == 255 {
                    assert_eq!(img[i], 0.0);
                    continue;
                }
                let v = img[i];
                // A value equal to a label means all neighbours agreed (labels are 0, 1, 2
                // and blends of different labels are never integers here, except 1 as the
                // mean of 0 and 2 — excluded by also asking the neighbours to agree).
                let [sx, sy] = t.source_of(i % 18, i / 18);
                let (fx, fy) = (sx - 0.5, sy - 0.5);
                let around: Vec<u8> = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]
                    .iter()
                    .map(|(dx, dy)| {
                        let x = (fx.floor() + dx).clamp(0.0, 15.0) as usize;
                        let y = (fy.floor() + dy).clamp(0.0, 11.0) as usize;
                        labels[y * 16 + x]
                    })
                    .collect();
                if around.iter().all(|&a| a == around[0]) {
                    assert_eq!(v, l as f32, "output pixel {i}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 5000, "only {checked} pixels checked");
    }

    #[test]
    fn flipped_view_labels_are_the_mirror_of_the_view() {
        let (image, labels) = sample_slice(12, 16);
        let a = WeakTransform::new([12, 16], [12, 16], 0, false, 1.0, [0.0, 0.0], 255);
        let b = WeakTransform::new([12, 16], [12, 16], 0, true, 1.0, [0.0, 0.0], 255);
        let (la, lb) = (
            a.apply_labels(&labels).unwrap(),
            b.apply_labels(&labels).unwrap(),
        );
        let (ia, ib) = (
            a.apply_image(&image, 2).unwrap(),
            b.apply_image(&image, 2).unwrap(),
        );
        for y in 0..12 {
            for x in 0..16 {
                assert_eq!(la[y * 16 + x], lb[y * 16 + 15 - x]);
                assert_eq!(ia[y * 16 + x], ib[y * 16 + 15 - x]);
                assert_eq!(ib[y * 16 + x], lb[y * 16 + x] as f32);
            }
        }
    }

    /// Boxes map like the labels they bound: exactly for quarter turns and flips, to within
    /// half an output pixel otherwise.
    #[test]
    fn map_box_tracks_the_transformed_labels() {
        let (_, labels) = sample_slice(12, 16);
        let original = bbox_of(&labels, 16, 1);
        for rot in 0..4 {
            for flip in [false, true] {
                let out = if rot % 2 == 1 { [16, 12] } else { [12, 16] };
                let t = WeakTransform::new([12, 16], out, rot, flip, 1.0, [0.0, 0.0], 255);
                let moved = t.apply_labels(&labels).unwrap();
                assert_eq!(
                    t.map_box(original),
                    Some(bbox_of(&moved, out[1], 1)),
                    "rot {rot} flip {flip}"
                );
            }
        }
        let cfg = WeakConfig {
            out_size: [32, 32],
            scale_range: [1.0, 2.0],
            ..Default::default()
        };
        let mut rng = SmallRng::seed_from_u64(11);
        for _ in 0..30 {
            let t = cfg.sample([12, 16], &mut rng);
            let moved = t.apply_labels(&labels).unwrap();
            let truth = bbox_of(&moved, 32, 1);
            let Some(mapped) = t.map_box(original) else {
                assert!(truth[2] < 0.0, "box lost but labels remain");
                continue;
            };
            if truth[2] < 0.0 {
                continue; // cropped away between pixel centres
            }
            let tol = 0.5 + 1e-4;
            for (m, t) in mapped.iter().zip(&truth) {
                assert!((m - t).abs() <= tol, "{mapped:?} vs {truth:?}");
            }
        }
    }

    #[test]
    fn views_are_deterministic_by_seed() {
        let (image, labels) = sample_slice(12, 16);
        let weak = WeakConfig {
            out_size: [16, 16],
            ..Default::default()
        };
        let strong = StrongConfig::default();
        let run = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            let t = weak.sample([12, 16], &mut rng);
            let mut img = t.apply_image(&image, 2).unwrap();
            let p = strong.sample([16, 16], &mut rng);
            apply_photometric(&mut img, 2, [16, 16], &p).unwrap();
            (t, p, img, t.apply_labels(&labels).unwrap())
        };
        assert_eq!(run(5), run(5));
        let differs = (6..10).any(|s| run(s).0 != run(5).0);
        assert!(differs);
    }

    #[test]
    fn photometric_ops_by_hand() {
        // Brightness 0.5 then contrast 2 on a 1-channel [0.2, 0.6]: 0.1, 0.3 → mean 0.2 →
        // 2·v − 0.2 = 0.0, 0.4.
        let mut img = vec![0.2, 0.6];
        let p = StrongParams {
            brightness: Some(0.5),
            contrast: Some(2.0),
            grayscale: false,
            blur_sigma: None,
            cutmix: None,
        };
        apply_photometric(&mut img, 1, [1, 2], &p).unwrap();
        assert!((img[0] - 0.0).abs() < 1e-6 && (img[1] - 0.4).abs() < 1e-6);
        // Grayscale: replicated channels are left alone; differing ones become luma.
        let gray_only = StrongParams {
            brightness: None,
            contrast: None,
            grayscale: true,
            blur_sigma: None,
            cutmix: None,
        };
        let mut same = vec![0.3, 0.3, 0.3];
        apply_photometric(&mut same, 3, [1, 1], &gray_only).unwrap();
        assert_eq!(same, vec![0.3, 0.3, 0.3]);
        let mut rgb = vec![1.0, 0.0, 0.0];
        apply_photometric(&mut rgb, 3, [1, 1], &gray_only).unwrap();
        assert!(rgb.iter().all(|&v| (v - 0.299).abs() < 1e-6));
    }

    #[test]
    fn gaussian_blur_by_hand() {
        // σ = 0.1 is a delta (neighbour weight e^-50); a constant stays constant.
        let mut img: Vec<f32> = (0..20).map(|v| v as f32 / 20.0).collect();
        let orig = img.clone();
        gaussian_blur(&mut img, [4, 5], 0.1);
        assert!(img.iter().zip(&orig).all(|(a, b)| (a - b).abs() < 1e-6));
        let mut flat = vec![0.7f32; 30];
        gaussian_blur(&mut flat, [5, 6], 1.7);
        assert!(flat.iter().all(|v| (v - 0.7).abs() < 1e-5));
        // σ = 1 on a 1×9 row with a centred impulse: radius 3, weights e^{-d²/2} normalised.
        let mut row = vec![0.0f32; 9];
        row[4] = 1.0;
        gaussian_blur(&mut row, [1, 9], 1.0);
        let z: f32 = (-3..=3).map(|d: i32| (-(d * d) as f32 / 2.0).exp()).sum();
        for d in 0..=3i32 {
            let expect = (-(d * d) as f32 / 2.0).exp() / z;
            assert!((row[(4 + d) as usize] - expect).abs() < 1e-6);
            assert!((row[(4 - d) as usize] - expect).abs() < 1e-6);
        }
        assert_eq!(reflect(-1, 5), 1);
        assert_eq!(reflect(5, 5), 3);
    }

    #[test]
    fn cutmix_box_respects_area_and_ratio_bounds() {
        let cfg = StrongConfig::default();
        let mut rng = SmallRng::seed_from_u64(17);
        let (h, w) = (64usize, 48usize);
        let area = (h * w) as f32;
        let mut drawn = 0;
        for _ in 0..2000 {
            let Some(b) = cfg.cutmix_box([h, w], &mut rng) else {
                continue;
            };
            drawn += 1;
            assert!(b.x + b.w <= w && b.y + b.h <= h);
            // Truncation to whole pixels only shrinks the box.
            assert!((b.w * b.h) as f32 <= 0.4 * area);
            assert!(((b.w + 1) * (b.h + 1)) as f32 >= 0.02 * area);
            // The drawn ratio h/w lies in (h/(w+1), (h+1)/w) after truncation; that interval
            // must meet [0.3, 1/0.3].
            assert!(b.h as f32 / (b.w as f32 + 1.0) <= 1.0 / 0.3);
            assert!((b.h as f32 + 1.0) / b.w as f32 >= 0.3);
        }
        assert!(drawn > 1900);
    }

    #[test]
    fn cutmix_pastes_images_and_labels_with_the_same_box() {
        let b = CutMixBox {
            x: 1,
            y: 2,
            w: 2,
            h: 1,
        };
        let mut img = vec![0.0f32; 2 * 4 * 3];
        let partner = vec![1.0f32; 2 * 4 * 3];
        b.paste(&mut img, &partner, [4, 3]).unwrap();
        let mut labels = vec![0u8; 12];
        b.paste(&mut labels, &[9u8; 12], [4, 3]).unwrap();
        for c in 0..2 {
            for y in 0..4 {
                for x in 0..3 {
                    let inside = b.contains(x, y);
                    assert_eq!(img[c * 12 + y * 3 + x], if inside { 1.0 } else { 0.0 });
                    assert_eq!(labels[y * 3 + x], if inside { 9 } else { 0 });
                }
            }
        }
        assert_eq!(img.iter().filter(|&&v| v == 1.0).count(), 4);
        let too_big = CutMixBox {
            x: 2,
            y: 0,
            w: 2,
            h: 1,
        };
        assert!(too_big.paste(&mut labels, &[1u8; 12], [4, 3]).is_err());
        assert!(b.paste(&mut labels, &[1u8; 11], [4, 3]).is_err());
    }

    #[test]
    fn bad_sizes_are_errors() {
        let t = WeakTransform::new([4, 4], [4, 4], 0, false, 1.0, [0.0, 0.0], 255);
        assert!(t.apply_image(&[0.0; 15], 1).is_err());
        assert!(t.apply_labels(&[0; 17]).is_err());
        assert!(
            apply_photometric(
                &mut [0.0; 5],
                2,
                [1, 2],
                &StrongConfig::default().sample([1, 2], &mut SmallRng::seed_from_u64(0))
            )
            .is_err()
        );
    }
}
