//! PCSW (physical constraints + sliding window): from the coarse masks of a whole volume, one
//! box and one point on one slice, per class — the prompt SAM-2 needs for an unlabeled scan.
//!
//! The algorithm is the released one (`models/pcsw.py` of AIGeeksGroup/SSS at `a01f346`,
//! described in `docs/sss-method.md` §4.2), re-implemented in plain Rust on CPU masks:
//!
//! 1. Binarize the coarse probabilities (`p > 0.5`).
//! 2. Window lengths over the `S` slices: `N_min = max(2, ⌊S/3⌋)`, `N_max = max(3, ⌊S/2⌋)`,
//!    `N_init = ⌊(N_min + N_max)/2⌋`; try `N = N_init ..= N_max` (lengths above `S` have no
//!    window), and for each `N` the starts `0 ..= S − N`, stride 1.
//! 3. In each window, 3-D connected components; continuity `C = |largest| / |foreground|`.
//!    The **first** window with `C ≥ τ_C` (0.8) wins (the "Judging" step).
//! 4. On the winning window's largest component: the slice where it has the largest area;
//!    the component's bounding box on that slice `[x_min, y_min, x_max, y_max]` (inclusive
//!    pixel indices) and the box centre as the point (default here: the component's pixel
//!    farthest from its edge on that slice, [`PointRule::Interior`]; the box centre of a
//!    ring or a crescent lies outside it).
//! 5. Fallback when no window passes: the slice with the most foreground in the whole volume,
//!    its bounding box and the foreground's centroid (default here: the interior point). An empty volume gives the box
//!    `[0, 0, W, H]` and point `(W/2, H/2)` as released, flagged [`PromptSource::Empty`] so
//!    callers can skip an absent class.
//!
//! Ties break as numpy does (`argmax` takes the first): the largest component is the one
//! whose first voxel comes first in raster order (scipy's `label` numbering), the slice is the
//! first one with the maximal area.
//!
//! Options (see [`PcswConfig`]), with the released behaviour as default: 26-connectivity (the
//! code's comment; scipy's default structure it actually used is 6-connectivity), the best
//! window instead of the first, a minimum size for the largest component.

use serde::{Deserialize, Serialize};

pub use super::components::{Components, Connectivity, connected_components};
pub use super::point::PointRule;
use super::point::point_of;
use crate::{Result, SssError, Volume};

/// Which slice carries the prompt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SliceRule {
    /// Released: the winning window's largest component, on the slice where it is largest.
    /// The first window that passes starts at the lowest slice, so the prompt sits in the
    /// volume's first `N` slices, and a false blob at the volume's end can win on area.
    #[default]
    MaxArea,
    /// Not in the release (a documented switch): the largest 3-D connected component of the
    /// whole mask (the physical constraint without windows), on its area-weighted median
    /// slice. Its middle is what the coarse head is surest of, and propagation from there
    /// runs half as far each way.
    ComponentMedian,
}

/// Which passing window supplies the prompt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowRule {
    /// The released rule: smallest `N` first, then the lowest start; the first that passes.
    #[default]
    FirstPassing,
    /// The passing window with the highest continuity `C`; ties go to the larger largest
    /// component, then to scan order.
    Best,
}

/// PCSW settings; the defaults are the released ones (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PcswConfig {
    /// Coarse probabilities strictly above this are foreground.
    pub threshold: f32,
    /// Continuity threshold τ_C on `|largest component| / |foreground|` in a window.
    pub tau_c: f32,
    pub connectivity: Connectivity,
    pub rule: WindowRule,
    /// A window passes only if its largest component has at least this many voxels
    /// (0: no minimum, as released).
    pub min_component_voxels: usize,
    /// A class whose largest 3-D component of the whole mask has fewer voxels than this is
    /// taken as absent: its prompt is [`PromptSource::Empty`], as for an empty mask, so no
    /// object is tracked for it (0: no minimum, as released). Not in the release: a few
    /// stray coarse voxels otherwise become a prompt, and SAM-2 draws a confident object in
    /// a scan without that class (the brain-CT phantoms, where a scan holds one or two of
    /// five bleed types). Counted in the scan's own voxels (PCSW sees the coarse map at the
    /// scan's slice size), so on a finer grid the same setting is a smaller object.
    pub min_object_voxels: usize,
    /// The prompt's point: inside the object (default) or the released box centre.
    pub point: PointRule,
    /// The prompt's slice (released: the largest area in the winning window).
    pub slice: SliceRule,
}

impl Default for PcswConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            tau_c: 0.8,
            connectivity: Connectivity::TwentySix,
            rule: WindowRule::FirstPassing,
            min_component_voxels: 0,
            min_object_voxels: 0,
            point: PointRule::Interior,
            slice: SliceRule::MaxArea,
        }
    }
}

/// Where a prompt came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptSource {
    /// A window of `n` slices starting at slice `start` passed the continuity test.
    Window { n: usize, start: usize },
    /// No window passed: the slice with the largest foreground area.
    Fallback,
    /// No foreground anywhere: the released full-slice box; the class is probably absent.
    Empty,
    /// [`SliceRule::ComponentMedian`]: the median slice of the volume's largest component.
    Component,
    /// Given or corrected by a person (the page, `sss segment --use-prompts`).
    User,
}

/// One PCSW prompt: a slice, a box and a point on it, in pixel coordinates of the slice
/// (`x` along the row, `y` down the rows).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PcswPrompt {
    pub slice: usize,
    /// `[x_min, y_min, x_max, y_max]`, inclusive pixel indices.
    pub box_xyxy: [f32; 4],
    /// `[x, y]`.
    pub point: [f32; 2],
    pub source: PromptSource,
}

impl PcswPrompt {
    /// True when the mask held no foreground (the prompt is the released placeholder).
    pub fn is_empty(&self) -> bool {
        self.source == PromptSource::Empty
    }
}

/// A correction click on a prompt's slice (`x`, `y` in slice pixels): a point the object
/// includes (`positive`) or must leave out. SAM-2 takes it as a point prompt with label 1 or 0.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Click {
    pub point: [f32; 2],
    pub positive: bool,
}

/// The most correction clicks one prompt takes.
pub const MAX_CLICKS: usize = 64;

/// A class label, its prompt and a person's correction clicks on the prompt's slice (none
/// from PCSW; absent in prompts files older than clicks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassPrompt {
    pub class: u8,
    pub prompt: PcswPrompt,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clicks: Vec<Click>,
}

impl ClassPrompt {
    /// A prompt without clicks.
    pub fn new(class: u8, prompt: PcswPrompt) -> Self {
        Self {
            class,
            prompt,
            clicks: Vec::new(),
        }
    }

    /// SAM-2's point prompts: the prompt's point (positive), then the clicks, with their labels
    /// (1 include, 0 leave out).
    pub fn sam2_points(&self) -> (Vec<[f32; 2]>, Vec<i32>) {
        std::iter::once((self.prompt.point, 1))
            .chain(self.clicks.iter().map(|c| (c.point, i32::from(c.positive))))
            .unzip()
    }
}

/// The window lengths PCSW tries for `s` slices: `N_init ..= N_max`, without lengths above `s`.
pub fn window_lengths(s: usize) -> std::ops::RangeInclusive<usize> {
    let n_min = (s / 3).max(2);
    let n_max = (s / 2).max(3);
    let n_init = (n_min + n_max) / 2;
    n_init..=n_max.min(s)
}

/// Bounding box `[x_min, y_min, x_max, y_max]` of the set pixels of a `[ny][nx]` slice.
pub fn bounding_box(pixels: impl Iterator<Item = bool>, nx: usize) -> Option<[usize; 4]> {
    let mut b: Option<[usize; 4]> = None;
    for (i, on) in pixels.enumerate() {
        if !on {
            continue;
        }
        let (x, y) = (i % nx, i / nx);
        b = Some(match b {
            None => [x, y, x, y],
            Some([x0, y0, x1, y1]) => [x0.min(x), y0.min(y), x1.max(x), y1.max(y)],
        });
    }
    b
}

/// First index of the maximum (numpy's `argmax`).
fn argmax(values: &[usize]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// A passing window and what the prompt needs from it.
struct Candidate {
    n: usize,
    start: usize,
    continuity: f64,
    largest_size: usize,
    /// Labels of the window, and the largest component's number.
    components: Components,
    largest: u32,
}

/// The PCSW prompt of one binary volume (`dims = [nx, ny, nz]`, slices along z).
pub fn pcsw_prompt(mask: &[bool], dims: [usize; 3], cfg: &PcswConfig) -> Result<PcswPrompt> {
    let [nx, ny, s] = dims;
    let plane = nx * ny;
    if mask.len() != plane * s || plane * s == 0 {
        return Err(SssError::InvalidInput(format!(
            "PCSW needs a non-empty {nx}×{ny}×{s} mask ({} voxels), got {}",
            plane * s,
            mask.len()
        )));
    }
    let empty = PcswPrompt {
        slice: 0,
        box_xyxy: [0.0, 0.0, nx as f32, ny as f32],
        point: [nx as f32 / 2.0, ny as f32 / 2.0],
        source: PromptSource::Empty,
    };
    if !mask.contains(&true) {
        return Ok(empty);
    }
    if cfg.min_object_voxels > 0 {
        let components = connected_components(mask, dims, cfg.connectivity)?;
        let largest = components
            .largest()
            .map_or(0, |l| components.sizes[l as usize - 1]);
        if largest < cfg.min_object_voxels {
            return Ok(empty);
        }
    }
    if cfg.slice == SliceRule::ComponentMedian {
        return component_median_prompt(mask, dims, cfg);
    }
    let mut chosen: Option<Candidate> = None;
    'search: for n in window_lengths(s) {
        for start in 0..=s - n {
            let window = &mask[start * plane..(start + n) * plane];
            let total = window.iter().filter(|&&v| v).count();
            if total == 0 {
                continue;
            }
            let components = connected_components(window, [nx, ny, n], cfg.connectivity)?;
            let Some(largest) = components.largest() else {
                continue;
            };
            let largest_size = components.sizes[largest as usize - 1];
            let continuity = largest_size as f64 / total as f64;
            if continuity < cfg.tau_c as f64 || largest_size < cfg.min_component_voxels {
                continue;
            }
            let candidate = Candidate {
                n,
                start,
                continuity,
                largest_size,
                components,
                largest,
            };
            match cfg.rule {
                WindowRule::FirstPassing => {
                    chosen = Some(candidate);
                    break 'search;
                }
                WindowRule::Best => {
                    let better = chosen.as_ref().is_none_or(|c| {
                        (candidate.continuity, candidate.largest_size)
                            > (c.continuity, c.largest_size)
                    });
                    if better {
                        chosen = Some(candidate);
                    }
                }
            }
        }
    }
    if let Some(c) = chosen {
        let areas: Vec<usize> = c
            .components
            .labels
            .chunks(plane)
            .map(|sl| sl.iter().filter(|&&l| l == c.largest).count())
            .collect();
        let k = argmax(&areas);
        let on_slice = &c.components.labels[k * plane..(k + 1) * plane];
        let object: Vec<bool> = on_slice.iter().map(|&l| l == c.largest).collect();
        let [x0, y0, x1, y1] = bounding_box(object.iter().copied(), nx)
            .expect("the largest component has voxels on its largest slice");
        return Ok(PcswPrompt {
            slice: c.start + k,
            box_xyxy: [x0 as f32, y0 as f32, x1 as f32, y1 as f32],
            point: point_of(cfg.point, &object, nx, ny, [x0, y0, x1, y1]),
            source: PromptSource::Window {
                n: c.n,
                start: c.start,
            },
        });
    }
    // Fallback: the slice with the most foreground, its box and its centroid.
    let areas: Vec<usize> = mask
        .chunks(plane)
        .map(|sl| sl.iter().filter(|&&v| v).count())
        .collect();
    let k = argmax(&areas);
    let slice = &mask[k * plane..(k + 1) * plane];
    let [x0, y0, x1, y1] = bounding_box(slice.iter().copied(), nx)
        .expect("a non-empty mask has foreground on its fullest slice");
    let (mut sx, mut sy) = (0.0f64, 0.0f64);
    for (i, _) in slice.iter().enumerate().filter(|(_, v)| **v) {
        sx += (i % nx) as f64;
        sy += (i / nx) as f64;
    }
    let count = areas[k] as f64;
    let point = match cfg.point {
        PointRule::Released => [(sx / count) as f32, (sy / count) as f32],
        PointRule::Interior => point_of(cfg.point, slice, nx, ny, [x0, y0, x1, y1]),
    };
    Ok(PcswPrompt {
        slice: k,
        box_xyxy: [x0 as f32, y0 as f32, x1 as f32, y1 as f32],
        point,
        source: PromptSource::Fallback,
    })
}

/// [`SliceRule::ComponentMedian`]: the largest 3-D component of a non-empty mask, its
/// area-weighted median slice (the first slice where the cumulative area reaches half), and
/// its box and point there.
fn component_median_prompt(
    mask: &[bool],
    dims: [usize; 3],
    cfg: &PcswConfig,
) -> Result<PcswPrompt> {
    let [nx, ny, _] = dims;
    let plane = nx * ny;
    let components = connected_components(mask, dims, cfg.connectivity)?;
    let largest = components
        .largest()
        .ok_or_else(|| SssError::InvalidInput("PCSW: a non-empty mask has a component".into()))?;
    let areas: Vec<usize> = components
        .labels
        .chunks(plane)
        .map(|sl| sl.iter().filter(|&&l| l == largest).count())
        .collect();
    let total: usize = areas.iter().sum();
    let mut cumulative = 0;
    let k = areas
        .iter()
        .position(|&a| {
            cumulative += a;
            2 * cumulative >= total
        })
        .expect("the cumulative area reaches the total");
    let object: Vec<bool> = components.labels[k * plane..(k + 1) * plane]
        .iter()
        .map(|&l| l == largest)
        .collect();
    let [x0, y0, x1, y1] = bounding_box(object.iter().copied(), nx)
        .expect("the median slice of a component holds some of it");
    Ok(PcswPrompt {
        slice: k,
        box_xyxy: [x0 as f32, y0 as f32, x1 as f32, y1 as f32],
        point: point_of(cfg.point, &object, nx, ny, [x0, y0, x1, y1]),
        source: PromptSource::Component,
    })
}

/// One prompt per class from a label map (class `c` = voxels equal to `c`).
pub fn pcsw_prompts_from_labels(
    labels: &Volume<u8>,
    classes: &[u8],
    cfg: &PcswConfig,
) -> Result<Vec<ClassPrompt>> {
    classes
        .iter()
        .map(|&class| {
            let mask: Vec<bool> = labels.data.iter().map(|&l| l == class).collect();
            Ok(ClassPrompt::new(
                class,
                pcsw_prompt(&mask, labels.dims, cfg)?,
            ))
        })
        .collect()
}

/// A prompt for every (slice, class) of a label map where the class is present: the slice's
/// box of the class and its point by `cfg.point` (source [`PromptSource::User`]). Not PCSW
/// (which picks one slice per class): the diagnostic "SAM-2 prompted on every slice, no
/// memory" of `sss eval --gt-prompts-every-slice`, and the shape of a user who boxes each slice.
pub fn slice_prompts_from_labels(
    labels: &Volume<u8>,
    classes: &[u8],
    cfg: &PcswConfig,
) -> Vec<ClassPrompt> {
    let [nx, ny, nz] = labels.dims;
    let plane = nx * ny;
    let mut prompts = Vec::new();
    for z in 0..nz {
        let slice = &labels.data[z * plane..(z + 1) * plane];
        for &class in classes {
            let object: Vec<bool> = slice.iter().map(|&l| l == class).collect();
            if let Some(b) = bounding_box(object.iter().copied(), nx) {
                prompts.push(ClassPrompt::new(
                    class,
                    PcswPrompt {
                        slice: z,
                        box_xyxy: b.map(|v| v as f32),
                        point: point_of(cfg.point, &object, nx, ny, b),
                        source: PromptSource::User,
                    },
                ));
            }
        }
    }
    prompts
}

/// One prompt per class from coarse probabilities laid out `[class][z][y][x]` (class `c`'s
/// volume is `probs[c·V .. (c+1)·V]`, `V = nx·ny·nz`); class `c` is foreground where its
/// probability is above `cfg.threshold`. `classes` picks the channels (usually all but
/// background).
pub fn pcsw_prompts_from_probabilities(
    probs: &[f32],
    dims: [usize; 3],
    classes: &[u8],
    cfg: &PcswConfig,
) -> Result<Vec<ClassPrompt>> {
    let v = dims.iter().product::<usize>();
    if v == 0 || !probs.len().is_multiple_of(v) {
        return Err(SssError::InvalidInput(format!(
            "coarse probabilities of {} values are not whole {dims:?} volumes",
            probs.len()
        )));
    }
    let channels = probs.len() / v;
    pcsw_class_prompts(classes, channels, dims, cfg, |c| {
        probs[c * v..(c + 1) * v]
            .iter()
            .map(|&p| p > cfg.threshold)
            .collect()
    })
}

/// One prompt per class of `classes` from `foreground(c)`, class `c`'s foreground mask over the
/// volume (x fastest; its probability above `cfg.threshold`), for probabilities with
/// `channels` classes; one mask is held at a time.
pub fn pcsw_class_prompts(
    classes: &[u8],
    channels: usize,
    dims: [usize; 3],
    cfg: &PcswConfig,
    mut foreground: impl FnMut(usize) -> Vec<bool>,
) -> Result<Vec<ClassPrompt>> {
    classes
        .iter()
        .map(|&class| {
            let c = class as usize;
            if c >= channels {
                return Err(SssError::InvalidInput(format!(
                    "class {class} asked for, but the probabilities have {channels} channels"
                )));
            }
            Ok(ClassPrompt::new(
                class,
                pcsw_prompt(&foreground(c), dims, cfg)?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::components::mask_of;
    use super::*;

    /// The released settings, point rule included (the reference values use it).
    fn released() -> PcswConfig {
        PcswConfig {
            point: PointRule::Released,
            ..PcswConfig::default()
        }
    }

    fn square(x0: usize, y0: usize, x1: usize, y1: usize, z: usize) -> Vec<(usize, usize, usize)> {
        let mut v = Vec::new();
        for y in y0..=y1 {
            for x in x0..=x1 {
                v.push((x, y, z));
            }
        }
        v
    }

    /// An object through slices 2–8 (largest on slice 5) with a large false blob on slice 1
    /// touching it, as a coarse head smears at the end of an organ: the released rule
    /// prompts the blob's slice (largest area in the first passing window), the
    /// component-median rule the slice where the component's cumulative area passes half.
    #[test]
    fn component_median_prompts_the_middle_of_the_largest_component() {
        let dims = [20, 20, 10];
        let mut voxels = square(6, 6, 14, 14, 1);
        for (z, half) in [(2, 1), (3, 2), (4, 2), (5, 3), (6, 2), (7, 1), (8, 1)] {
            voxels.extend(square(12 - half, 12 - half, 12 + half, 12 + half, z));
        }
        // A separate small blob elsewhere: not the largest component.
        voxels.extend(square(0, 0, 1, 1, 9));
        let mask = mask_of(dims, &voxels);
        let released = pcsw_prompt(&mask, dims, &PcswConfig::default()).unwrap();
        assert_eq!(released.slice, 1, "{released:?}");
        let cfg = PcswConfig {
            slice: SliceRule::ComponentMedian,
            ..PcswConfig::default()
        };
        let p = pcsw_prompt(&mask, dims, &cfg).unwrap();
        // Areas 81, 9, 25, 25, 49, 25, 9, 9 on slices 1-8 (232): the cumulative area reaches
        // half (116) on slice 4 (81 + 9 + 25 + 25 = 140).
        assert_eq!(p.slice, 4, "{p:?}");
        assert_eq!(p.box_xyxy, [10.0, 10.0, 14.0, 14.0]);
        assert_eq!(p.source, PromptSource::Component);
        let [x, y] = p.point;
        assert!(
            (10.0..=14.0).contains(&x) && (10.0..=14.0).contains(&y),
            "{p:?}"
        );
    }

    #[test]
    fn window_lengths_follow_the_released_formula() {
        // S=10: N_min 3, N_max 5, N_init 4. S=30: 10, 15, 12. S=4: 2, 3, 2. S=1: none.
        assert_eq!(window_lengths(10), 4..=5);
        assert_eq!(window_lengths(30), 12..=15);
        assert_eq!(window_lengths(4), 2..=3);
        assert_eq!(window_lengths(2), 2..=2);
        assert!(window_lengths(1).is_empty());
    }

    /// S = 10 slices of 8×8, windows N = 4, 5. A distractor (a 5-voxel row on each of slices
    /// 0 and 1) and a tube on slices 3–8: 2×2 squares, 3×3 on slice 4.
    /// N=4: start 0 has C = 10/14, start 1 has C = 13/18 (both < 0.8); start 2 (slices 2–5)
    /// holds only the tube, C = 1 → the released rule stops there. Inside, slice 4 has the
    /// largest area: box [2,4,4,6], point [3,5].
    fn tube_volume() -> (Vec<bool>, [usize; 3]) {
        let dims = [8, 8, 10];
        let mut v = Vec::new();
        for z in 0..2 {
            v.extend(square(3, 7, 7, 7, z));
        }
        for z in 3..=8 {
            if z == 4 {
                v.extend(square(2, 4, 4, 6, z));
            } else {
                v.extend(square(2, 4, 3, 5, z));
            }
        }
        (mask_of(dims, &v), dims)
    }

    #[test]
    fn tube_is_found_by_the_first_passing_window() {
        let (m, dims) = tube_volume();
        let p = pcsw_prompt(&m, dims, &released()).unwrap();
        assert_eq!(p.source, PromptSource::Window { n: 4, start: 2 });
        assert_eq!(p.slice, 4);
        assert_eq!(p.box_xyxy, [2.0, 4.0, 4.0, 6.0]);
        assert_eq!(p.point, [3.0, 5.0]);
        assert!(!p.is_empty());
    }

    /// Every tube-only window has C = 1, so the best window is the one with the largest
    /// component: N = 5 at start 3 (4+9+4+4+4 = 25 voxels; start 4 ties and comes later).
    #[test]
    fn best_window_differs_from_first_passing() {
        let (m, dims) = tube_volume();
        let cfg = PcswConfig {
            rule: WindowRule::Best,
            ..released()
        };
        let p = pcsw_prompt(&m, dims, &cfg).unwrap();
        assert_eq!(p.source, PromptSource::Window { n: 5, start: 3 });
        assert_eq!(p.slice, 4);
        assert_eq!(p.box_xyxy, [2.0, 4.0, 4.0, 6.0]);
    }

    /// Two equal blobs on every slice (C ≤ 5/9 in every window) → fallback to the fullest
    /// slice (slice 2, where blob A has a third pixel): box over both blobs, centroid
    /// ((0+1+0+6+7)/5, (0+0+1+6+6)/5) = (2.8, 2.6).
    #[test]
    fn disjoint_blobs_fail_continuity_and_fall_back() {
        let dims = [8, 8, 6];
        let mut v = Vec::new();
        for z in 0..6 {
            v.extend([(0, 0, z), (1, 0, z), (6, 6, z), (7, 6, z)]);
        }
        v.push((0, 1, 2));
        let p = pcsw_prompt(&mask_of(dims, &v), dims, &released()).unwrap();
        assert_eq!(p.source, PromptSource::Fallback);
        assert_eq!(p.slice, 2);
        assert_eq!(p.box_xyxy, [0.0, 0.0, 7.0, 6.0]);
        assert!((p.point[0] - 2.8).abs() < 1e-6 && (p.point[1] - 2.6).abs() < 1e-6);
    }

    /// A staircase (1,1,0), (2,2,1), (3,3,2), (4,4,3): corner-touching only. With 26-
    /// connectivity the first window (N=2, start 0) is one component; with 6 every voxel
    /// is alone, C = 1/2 or 1/3, and PCSW falls back to slice 0 (all areas tie).
    #[test]
    fn connectivity_six_vs_twenty_six() {
        let dims = [6, 6, 4];
        let m = mask_of(dims, &[(1, 1, 0), (2, 2, 1), (3, 3, 2), (4, 4, 3)]);
        let p26 = pcsw_prompt(&m, dims, &released()).unwrap();
        assert_eq!(p26.source, PromptSource::Window { n: 2, start: 0 });
        assert_eq!((p26.slice, p26.box_xyxy), (0, [1.0, 1.0, 1.0, 1.0]));
        let six = PcswConfig {
            connectivity: Connectivity::Six,
            ..released()
        };
        let p6 = pcsw_prompt(&m, dims, &six).unwrap();
        assert_eq!(p6.source, PromptSource::Fallback);
        assert_eq!((p6.slice, p6.point), (0, [1.0, 1.0]));
        // A minimum component size turns the 26-connected pass into a fallback too.
        let min = PcswConfig {
            min_component_voxels: 3,
            ..released()
        };
        assert_eq!(
            pcsw_prompt(&m, dims, &min).unwrap().source,
            PromptSource::Window { n: 3, start: 0 }
        );
        let min4 = PcswConfig {
            min_component_voxels: 4,
            ..released()
        };
        assert_eq!(
            pcsw_prompt(&m, dims, &min4).unwrap().source,
            PromptSource::Fallback
        );
    }

    /// A minimum object size turns a class whose largest 3-D component is smaller into an
    /// absent one; one voxel more in that component keeps it.
    #[test]
    fn small_objects_count_as_absent() {
        let dims = [8, 8, 4];
        // A 2×2×2 cube (8 voxels) and a lone voxel far away.
        let mut v = Vec::new();
        for z in 1..3 {
            v.extend(square(2, 2, 3, 3, z));
        }
        v.push((7, 7, 0));
        let m = mask_of(dims, &v);
        for rule in [SliceRule::MaxArea, SliceRule::ComponentMedian] {
            let at = |min| {
                let cfg = PcswConfig {
                    min_object_voxels: min,
                    slice: rule,
                    ..released()
                };
                pcsw_prompt(&m, dims, &cfg).unwrap()
            };
            assert!(!at(0).is_empty());
            assert!(!at(8).is_empty(), "the 8-voxel cube is kept at 8");
            let absent = at(9);
            assert!(absent.is_empty());
            assert_eq!(absent.box_xyxy, [0.0, 0.0, 8.0, 8.0]);
        }
    }

    /// The released `generate_prompts` selection (run in Python with `scipy.ndimage.label`,
    /// structure `ones((3,3,3))` for 26 and the default for 6) on seeded random blob volumes
    /// (`default_rng(7)`, Gaussian-smoothed noise thresholded at a quantile; C-order bits of
    /// the `[z][y][x]` array, i.e. x fastest as here). Expected: (source, slice, box, point).
    /// `tests/reference/released_pcsw.sh` reruns the released code on these volumes and
    /// checks every expectation here against it.
    #[test]
    fn matches_the_released_python_on_random_volumes() {
        type Expected = (PromptSource, usize, [f32; 4], [f32; 2]);
        let w = |n, start| PromptSource::Window { n, start };
        let cases: [([usize; 3], &str, Expected, Expected); 4] = [
            (
                [8, 7, 9],
                "000000010000000100000000000000000000000000000001010000110010000000100000000000000000000000000001000000110000001100000000000000000000000100000000000000000000000000000000000000000000000000110000001111000001100000000000000000000000000000000000000010000000100000000000110000001110000000011111000111100001110000000000000000001110000011100000001111100011100000110000111000001100000010000000111000000001100000010000100100001110000000000000000000000000000000000000000000001000000010000000000000000000000000000000",
                (w(3, 4), 6, [0.0, 0.0, 6.0, 6.0], [3.0, 3.0]),
                (w(3, 4), 6, [0.0, 0.0, 6.0, 6.0], [3.0, 3.0]),
            ),
            (
                [6, 6, 12],
                "000000000000000000000000000000000000000000000000000000000000000000000000000001000000000000000000000000000000000000011000011100011000000000000000000000000001000111000000000000000000000000000001100001100011100000000000000000000000000000000000100000000000000000000000000000000000000000000000000000000000000000000000000000000000100000000000000000000000000000000110111000111000011000000000000000000000111100111111000111000000000000000000",
                (w(5, 0), 3, [1.0, 1.0, 3.0, 3.0], [2.0, 2.0]),
                (w(5, 0), 3, [1.0, 1.0, 3.0, 3.0], [2.0, 2.0]),
            ),
            (
                [7, 8, 10],
                "01111100111111011111100111000001100100000010000111000111000111100011110000111000000000000000000001110000011001100001100000011000000000000000000000000000001100100110111000000000000000000000100000010000011000001100110110011101000000000000000000000000000000000010000011000001100000110000001000000001110000111000011100000110010000011000011100111110100111111000101111000011100000000100000110000111011111000111100000000000000000000000000000000000000000001111000011100100000010000000000000010000011100000110000001100000111000001100100000111000001100001110000111000000",
                (w(4, 0), 0, [0.0, 0.0, 6.0, 7.0], [3.0, 3.5]),
                (
                    PromptSource::Fallback,
                    0,
                    [0.0, 0.0, 6.0, 7.0],
                    [3.3, 2.866_666_7],
                ),
            ),
            (
                [6, 6, 7],
                "110001111101111100100000000000000000110000100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000100000000000000000000000000000000100",
                (w(2, 0), 0, [0.0, 0.0, 3.0, 3.0], [1.5, 1.5]),
                (w(2, 0), 0, [0.0, 0.0, 3.0, 3.0], [1.5, 1.5]),
            ),
        ];
        for (dims, bits, e26, e6) in cases {
            let m: Vec<bool> = bits.bytes().map(|b| b == b'1').collect();
            for (conn, e) in [(Connectivity::TwentySix, e26), (Connectivity::Six, e6)] {
                let cfg = PcswConfig {
                    connectivity: conn,
                    ..released()
                };
                let p = pcsw_prompt(&m, dims, &cfg).unwrap();
                assert_eq!(
                    (p.source, p.slice, p.box_xyxy),
                    (e.0, e.1, e.2),
                    "{dims:?} {conn:?}"
                );
                assert!((p.point[0] - e.3[0]).abs() < 1e-5 && (p.point[1] - e.3[1]).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn empty_volume_gives_the_released_placeholder_flagged() {
        let dims = [10, 6, 5];
        let p = pcsw_prompt(&vec![false; 300], dims, &released()).unwrap();
        assert_eq!(p.source, PromptSource::Empty);
        assert!(p.is_empty());
        assert_eq!(p.slice, 0);
        assert_eq!(p.box_xyxy, [0.0, 0.0, 10.0, 6.0]);
        assert_eq!(p.point, [5.0, 3.0]);
    }

    #[test]
    fn single_slice_volume_falls_back() {
        // S = 1: no window length fits, as in the released code.
        let dims = [4, 4, 1];
        let m = mask_of(dims, &square(1, 1, 2, 3, 0));
        let p = pcsw_prompt(&m, dims, &released()).unwrap();
        assert_eq!(p.source, PromptSource::Fallback);
        assert_eq!(p.box_xyxy, [1.0, 1.0, 2.0, 3.0]);
        assert_eq!(p.point, [1.5, 2.0]);
    }

    #[test]
    fn per_class_wrappers() {
        let (tube, dims) = tube_volume();
        let v = dims.iter().product::<usize>();
        // Label map: the tube is class 2, class 1 absent.
        let labels = Volume::new(
            tube.iter().map(|&t| if t { 2u8 } else { 0 }).collect(),
            dims,
            [1.0; 3],
        )
        .unwrap();
        let ps = pcsw_prompts_from_labels(&labels, &[1, 2], &released()).unwrap();
        assert_eq!(ps[0].class, 1);
        assert!(ps[0].prompt.is_empty());
        assert_eq!(ps[1].prompt.source, PromptSource::Window { n: 4, start: 2 });
        // Probabilities [class][z][y][x]: class 1 = 0.7 on the tube, class 0 the rest;
        // exactly 0.5 is not foreground (strict `>`).
        let mut probs = vec![0.0f32; 2 * v];
        for (i, &t) in tube.iter().enumerate() {
            probs[i] = if t { 0.3 } else { 0.5 };
            probs[v + i] = if t { 0.7 } else { 0.5 };
        }
        let ps = pcsw_prompts_from_probabilities(&probs, dims, &[0, 1], &released()).unwrap();
        assert!(ps[0].prompt.is_empty());
        assert_eq!(ps[1].prompt.slice, 4);
        assert!(pcsw_prompts_from_probabilities(&probs, dims, &[2], &released()).is_err());
    }

    #[test]
    fn bad_input_is_an_error() {
        let cfg = released();
        assert!(pcsw_prompt(&[true; 5], [2, 2, 2], &cfg).is_err());
        assert!(pcsw_prompt(&[], [0, 2, 2], &cfg).is_err());
        assert!(connected_components(&[true; 3], [2, 2, 1], Connectivity::Six).is_err());
        assert!(pcsw_prompts_from_probabilities(&[0.0; 7], [2, 2, 2], &[0], &cfg).is_err());
    }

    #[test]
    fn config_round_trips_through_json() {
        let cfg = PcswConfig {
            connectivity: Connectivity::Six,
            rule: WindowRule::Best,
            min_component_voxels: 12,
            ..released()
        };
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(json.contains("\"six\"") && json.contains("\"best\""));
        assert_eq!(serde_json::from_str::<PcswConfig>(&json).unwrap(), cfg);
        // Missing fields take the defaults: the released ones, but for the interior point
        // (so weights saved before the point rule existed are prompted inside the object).
        assert_eq!(
            serde_json::from_str::<PcswConfig>("{}").unwrap(),
            PcswConfig::default()
        );
        assert_eq!(PcswConfig::default().point, PointRule::Interior);
    }
    /// The worst case at ACDC scale (128×128×20): two equal tubes, so every window is scanned
    /// and fails, then the fallback (timings belong in benchmarks, not in tests).
    #[test]
    fn acdc_sized_worst_case_falls_back() {
        let dims = [128, 128, 20];
        let mut v = Vec::new();
        for z in 0..20 {
            v.extend(square(10, 10, 40, 40, z));
            v.extend(square(80, 80, 110, 110, z));
        }
        let m = mask_of(dims, &v);
        let p = pcsw_prompt(&m, dims, &released()).unwrap();
        assert_eq!(p.source, PromptSource::Fallback);
    }
}
