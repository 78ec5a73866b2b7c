//! Segmentation metrics with medpy's definitions: Dice, Jaccard, HD95, ASD.
//!
//! The functions reproduce `medpy.metric.binary` (`dc`, `jc`, `hd95`, `asd`) on 3-D arrays with
//! the default `connectivity=1`:
//!
//! - **Dice** `2|A∩B| / (|A|+|B|)`, 1 when both masks are empty (medpy's `ZeroDivisionError`
//!   branch). **Jaccard** `|A∩B| / |A∪B|`, likewise 1 when both are empty.
//! - **Surface** of a mask: its voxels removed by one binary erosion with the face-neighbour
//!   (6-connected) structuring element, voxels outside the volume counting as background
//!   (scipy's `border_value=0`). A mask one voxel thick along some axis is therefore all
//!   surface, and so is every foreground voxel of a single-slice volume.
//! - **Directed surface distances** `A→B`: for every surface voxel of `A`, the Euclidean
//!   distance (scaled by the voxel spacing) to the nearest surface voxel of `B`. medpy gets it
//!   from `distance_transform_edt(~surface(B))`; here an exact separable Euclidean distance
//!   transform (Felzenszwalb–Huttenlocher, anisotropic) does the same in O(voxels).
//! - **HD95**: `np.percentile(concat(A→B, B→A), 95)`, linear interpolation between order
//!   statistics (numpy's default).
//! - **ASD**: the mean of the *directed* distances prediction → ground truth
//!   (`medpy.metric.binary.asd(result, reference)` is not symmetric; [`assd`] is).
//!
//! Axis order: volumes are in NIfTI voxel order (x fastest, `dims = [nx, ny, nz]`) and the
//! spacing is given in the same order `[sx, sy, sz]`; medpy on a `[z][y][x]` numpy array with
//! spacing `(sz, sy, sx)` gives identical numbers. Without spacing, distances are in voxels
//! (the ACDC protocol of SSL4MIS/ABD passes none).
//!
//! # Empty masks
//! medpy raises for HD95/ASD when either mask is empty. What [`evaluate_volume_with`] reports
//! then is a documented choice, [`EmptyMaskRule`], recorded in every [`ClassMetrics`] as its
//! [`EmptyCase`]:
//!
//! | case | `Exclude` (default) | `DiagonalPenalty` | `AbdZero` (ABD's test script) |
//! |---|---|---|---|
//! | both empty | Dice 1, Jaccard 1, HD95 0, ASD 0 | same | all four 0 |
//! | prediction empty, GT not | Dice 0, Jaccard 0, HD95/ASD NaN | HD95/ASD = volume diagonal | all four 0 |
//! | GT empty, prediction not | Dice 0, Jaccard 0, HD95/ASD NaN | HD95/ASD = volume diagonal | Dice 0, Jaccard 0, HD95/ASD NaN |
//!
//! NaN values are left out of the means and counted ([`ClassSummary::distance_excluded`]).
//! With [`MetricsConfig::skip_both_empty`] a class absent from both masks of a volume is left
//! out of that class's means altogether (useful for BHSD, where most hemorrhage types are
//! absent from most scans); it is counted in [`ClassSummary::both_empty`] either way. The
//! volume diagonal is `sqrt(Σ (n_i · s_i)²)` in the units of the spacing.
//!
//! Aggregation ([`aggregate`]) follows the SSL4MIS/ABD protocol: mean over volumes per class,
//! then mean over classes.

use serde::{Deserialize, Serialize};

use crate::{Result, SssError, Volume};

/// Checks that two masks and their dims agree; every public metric starts here.
fn check_masks(result: &[bool], reference: &[bool], dims: [usize; 3]) -> Result<()> {
    let n = dims.iter().product::<usize>();
    if result.len() != n || reference.len() != n || n == 0 {
        return Err(SssError::InvalidInput(format!(
            "metrics need two masks of {}×{}×{} = {n} voxels, got {} and {}",
            dims[0],
            dims[1],
            dims[2],
            result.len(),
            reference.len()
        )));
    }
    Ok(())
}

fn spacing_or_unit(spacing: Option<[f32; 3]>) -> Result<[f64; 3]> {
    let s = spacing.unwrap_or([1.0; 3]);
    if !s.iter().all(|v| v.is_finite() && *v > 0.0) {
        return Err(SssError::InvalidInput(format!(
            "voxel spacing must be positive and finite, got {s:?}"
        )));
    }
    Ok([s[0] as f64, s[1] as f64, s[2] as f64])
}

/// The binary mask of voxels equal to `class` in a label map.
pub fn class_mask(labels: &[u8], class: u8) -> Vec<bool> {
    labels.iter().map(|&l| l == class).collect()
}

/// Dice coefficient, medpy `dc`: `2|A∩B| / (|A|+|B|)`, 1 when both are empty.
pub fn dc(result: &[bool], reference: &[bool]) -> Result<f64> {
    if result.len() != reference.len() {
        return Err(SssError::InvalidInput(format!(
            "Dice needs masks of equal size, got {} and {}",
            result.len(),
            reference.len()
        )));
    }
    let (mut inter, mut a, mut b) = (0usize, 0usize, 0usize);
    for (&r, &g) in result.iter().zip(reference) {
        inter += (r && g) as usize;
        a += r as usize;
        b += g as usize;
    }
    Ok(if a + b == 0 {
        1.0
    } else {
        2.0 * inter as f64 / (a + b) as f64
    })
}

/// Jaccard index, medpy `jc`: `|A∩B| / |A∪B|`, 1 when both are empty.
pub fn jc(result: &[bool], reference: &[bool]) -> Result<f64> {
    if result.len() != reference.len() {
        return Err(SssError::InvalidInput(format!(
            "Jaccard needs masks of equal size, got {} and {}",
            result.len(),
            reference.len()
        )));
    }
    let (mut inter, mut union) = (0usize, 0usize);
    for (&r, &g) in result.iter().zip(reference) {
        inter += (r && g) as usize;
        union += (r || g) as usize;
    }
    Ok(if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    })
}

/// The surface of a mask: foreground voxels with at least one face neighbour that is
/// background or outside the volume (`mask XOR erosion(mask)` with connectivity 1).
pub fn surface(mask: &[bool], dims: [usize; 3]) -> Vec<bool> {
    let [nx, ny, nz] = dims;
    let mut out = vec![false; mask.len()];
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = (z * ny + y) * nx + x;
                if !mask[i] {
                    continue;
                }
                let interior = x > 0
                    && x + 1 < nx
                    && y > 0
                    && y + 1 < ny
                    && z > 0
                    && z + 1 < nz
                    && mask[i - 1]
                    && mask[i + 1]
                    && mask[i - nx]
                    && mask[i + nx]
                    && mask[i - nx * ny]
                    && mask[i + nx * ny];
                out[i] = !interior;
            }
        }
    }
    out
}

/// Squared distance transform of one line (Felzenszwalb & Huttenlocher 2012), in place.
///
/// `f[q]` is the squared distance already known at sample `q` (`INFINITY` where none), samples
/// are `step` apart; afterwards `f[p] = min_q (step·(p−q))² + f[q]`. `v`, `z` and `d` are
/// scratch buffers of at least `f.len()`, `f.len() + 1` and `f.len()`.
fn edt_line(f: &mut [f64], step: f64, v: &mut [usize], z: &mut [f64], d: &mut [f64]) {
    let n = f.len();
    let s2 = step * step;
    // Lower envelope of the parabolas rooted at finite samples.
    let mut k: usize = 0;
    let mut found = false;
    for (q, &fq) in f.iter().enumerate() {
        if !fq.is_finite() {
            continue;
        }
        if !found {
            v[0] = q;
            z[0] = f64::NEG_INFINITY;
            z[1] = f64::INFINITY;
            found = true;
            continue;
        }
        // z[0] = −∞, so the loop stops at k = 0 at the latest.
        let mut s;
        loop {
            let p = v[k];
            // Where the parabola at q overtakes the one at p (in sample units).
            s = ((fq + s2 * (q * q) as f64) - (f[p] + s2 * (p * p) as f64))
                / (2.0 * s2 * (q as f64 - p as f64));
            if s <= z[k] {
                k -= 1;
            } else {
                break;
            }
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f64::INFINITY;
    }
    if !found {
        return;
    }
    let mut k = 0;
    for (p, dp) in d.iter_mut().enumerate().take(n) {
        while z[k + 1] < p as f64 {
            k += 1;
        }
        let dq = p as f64 - v[k] as f64;
        *dp = s2 * dq * dq + f[v[k]];
    }
    f.copy_from_slice(&d[..n]);
}

/// Exact Euclidean distance from every voxel to the nearest `site` voxel, scaled by the
/// spacing `[sx, sy, sz]`; `INFINITY` everywhere when there is no site. This is scipy's
/// `distance_transform_edt(~sites, sampling=(sz, sy, sx))` in NIfTI axis order.
pub fn distance_to_sites(sites: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f64> {
    let [nx, ny, nz] = dims;
    let mut dist: Vec<f64> = sites
        .iter()
        .map(|&s| if s { 0.0 } else { f64::INFINITY })
        .collect();
    let longest = nx.max(ny).max(nz);
    let mut line = vec![0.0; longest];
    let mut v = vec![0usize; longest];
    let mut zb = vec![0.0; longest + 1];
    let mut d = vec![0.0; longest];
    // Pass along x (contiguous).
    for row in dist.chunks_mut(nx) {
        edt_line(row, spacing[0], &mut v, &mut zb, &mut d);
    }
    // Pass along y.
    for z in 0..nz {
        for x in 0..nx {
            let base = z * nx * ny + x;
            for (y, l) in line[..ny].iter_mut().enumerate() {
                *l = dist[base + y * nx];
            }
            edt_line(&mut line[..ny], spacing[1], &mut v, &mut zb, &mut d);
            for (y, l) in line[..ny].iter().enumerate() {
                dist[base + y * nx] = *l;
            }
        }
    }
    // Pass along z.
    let plane = nx * ny;
    for i in 0..plane {
        for (z, l) in line[..nz].iter_mut().enumerate() {
            *l = dist[i + z * plane];
        }
        edt_line(&mut line[..nz], spacing[2], &mut v, &mut zb, &mut d);
        for (z, l) in line[..nz].iter().enumerate() {
            dist[i + z * plane] = *l;
        }
    }
    dist.iter_mut().for_each(|d| *d = d.sqrt());
    dist
}

/// medpy's `__surface_distances(result, reference)`: for each surface voxel of `result` (in
/// memory order), the distance to the nearest surface voxel of `reference`. `None` when either
/// mask is empty (medpy raises).
pub fn surface_distances(
    result: &[bool],
    reference: &[bool],
    dims: [usize; 3],
    spacing: Option<[f32; 3]>,
) -> Result<Option<Vec<f64>>> {
    check_masks(result, reference, dims)?;
    let spacing = spacing_or_unit(spacing)?;
    if !result.contains(&true) || !reference.contains(&true) {
        return Ok(None);
    }
    Ok(Some(directed_distances(result, reference, dims, spacing)))
}

fn directed_distances(
    result: &[bool],
    reference: &[bool],
    dims: [usize; 3],
    spacing: [f64; 3],
) -> Vec<f64> {
    let dt = distance_to_sites(&surface(reference, dims), dims, spacing);
    surface(result, dims)
        .iter()
        .zip(&dt)
        .filter_map(|(&s, &d)| s.then_some(d))
        .collect()
}

/// numpy's `percentile(values, q)` with the default linear interpolation; NaN if empty.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// HD95, medpy `hd95`: the 95th percentile of both directed surface-distance sets together.
/// `None` when either mask is empty.
pub fn hd95(
    result: &[bool],
    reference: &[bool],
    dims: [usize; 3],
    spacing: Option<[f32; 3]>,
) -> Result<Option<f64>> {
    Ok(
        symmetric_surface_distances(result, reference, dims, spacing)?
            .map(|both| percentile(&both, 95.0)),
    )
}

/// Both directed surface-distance sets concatenated (result → reference, then reference →
/// result); `None` when either mask is empty.
fn symmetric_surface_distances(
    result: &[bool],
    reference: &[bool],
    dims: [usize; 3],
    spacing: Option<[f32; 3]>,
) -> Result<Option<Vec<f64>>> {
    let Some(mut both) = surface_distances(result, reference, dims, spacing)? else {
        return Ok(None);
    };
    both.extend(directed_distances(
        reference,
        result,
        dims,
        spacing_or_unit(spacing)?,
    ));
    Ok(Some(both))
}

/// ASD, medpy `asd(result, reference)`: the mean distance from `result`'s surface to
/// `reference`'s (directed). `None` when either mask is empty.
pub fn asd(
    result: &[bool],
    reference: &[bool],
    dims: [usize; 3],
    spacing: Option<[f32; 3]>,
) -> Result<Option<f64>> {
    Ok(surface_distances(result, reference, dims, spacing)?.map(|d| mean(&d)))
}

/// ASSD, medpy `assd`: the mean of both directed surface-distance sets concatenated (so the
/// larger surface weighs more; medpy 0.5 does not average the two ASDs).
pub fn assd(
    result: &[bool],
    reference: &[bool],
    dims: [usize; 3],
    spacing: Option<[f32; 3]>,
) -> Result<Option<f64>> {
    Ok(symmetric_surface_distances(result, reference, dims, spacing)?.map(|both| mean(&both)))
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// What to report when a class is empty in the prediction, the ground truth or both (see the
/// module documentation for the full table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyMaskRule {
    /// medpy's Dice/Jaccard; HD95/ASD NaN (left out of the means, counted) when one mask is
    /// empty; 0 when both are.
    #[default]
    Exclude,
    /// As `Exclude`, but HD95/ASD of a one-sided miss are the volume diagonal, so misses
    /// are penalised instead of ignored.
    DiagonalPenalty,
    /// ABD's `test_ACDC.py`: an empty prediction gives 0 for all four metrics; an empty
    /// ground truth with a non-empty prediction (where medpy raises) is as in `Exclude`.
    AbdZero,
}

/// Metric options: the empty-mask rule and whether doubly-empty classes count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsConfig {
    pub empty_rule: EmptyMaskRule,
    /// Leave a class out of a volume's contribution when both masks lack it.
    pub skip_both_empty: bool,
}

/// Which of the two masks hold the class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyCase {
    BothPresent,
    BothEmpty,
    PredictionEmpty,
    GroundTruthEmpty,
}

/// The four metrics of one class in one volume. NaN marks a value left out of the means.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: u8,
    pub dice: f64,
    pub jaccard: f64,
    pub hd95: f64,
    pub asd: f64,
    pub case: EmptyCase,
}

/// Per-class metrics of one volume with the default [`MetricsConfig`].
pub fn evaluate_volume(
    pred: &Volume<u8>,
    gt: &Volume<u8>,
    classes: &[u8],
    spacing: Option<[f32; 3]>,
) -> Result<Vec<ClassMetrics>> {
    evaluate_volume_with(pred, gt, classes, spacing, &MetricsConfig::default())
}

/// Per-class metrics of one volume: each class's binary masks through [`dc`], [`jc`],
/// [`hd95`] and [`asd`], with the empty-mask rule of `cfg`. `spacing` `None` = voxels.
pub fn evaluate_volume_with(
    pred: &Volume<u8>,
    gt: &Volume<u8>,
    classes: &[u8],
    spacing: Option<[f32; 3]>,
    cfg: &MetricsConfig,
) -> Result<Vec<ClassMetrics>> {
    if pred.dims != gt.dims {
        return Err(SssError::InvalidInput(format!(
            "prediction is {:?} voxels but the ground truth is {:?}",
            pred.dims, gt.dims
        )));
    }
    let dims = gt.dims;
    let unit = spacing_or_unit(spacing)?;
    let diagonal = (0..3)
        .map(|i| (dims[i] as f64 * unit[i]).powi(2))
        .sum::<f64>()
        .sqrt();
    classes
        .iter()
        .map(|&class| {
            let p = class_mask(&pred.data, class);
            let g = class_mask(&gt.data, class);
            let (has_p, has_g) = (p.contains(&true), g.contains(&true));
            let case = match (has_p, has_g) {
                (true, true) => EmptyCase::BothPresent,
                (false, false) => EmptyCase::BothEmpty,
                (false, true) => EmptyCase::PredictionEmpty,
                (true, false) => EmptyCase::GroundTruthEmpty,
            };
            let (dice, jaccard) = (dc(&p, &g)?, jc(&p, &g)?);
            let (hd95, asd) = match case {
                EmptyCase::BothPresent => (
                    hd95(&p, &g, dims, spacing)?.unwrap_or(f64::NAN),
                    asd(&p, &g, dims, spacing)?.unwrap_or(f64::NAN),
                ),
                EmptyCase::BothEmpty => (0.0, 0.0),
                _ if cfg.empty_rule == EmptyMaskRule::DiagonalPenalty => (diagonal, diagonal),
                _ => (f64::NAN, f64::NAN),
            };
            let mut m = ClassMetrics {
                class,
                dice,
                jaccard,
                hd95,
                asd,
                case,
            };
            if cfg.empty_rule == EmptyMaskRule::AbdZero && !has_p {
                m.dice = 0.0;
                m.jaccard = 0.0;
                m.hd95 = 0.0;
                m.asd = 0.0;
            }
            Ok(m)
        })
        .collect()
}

/// One class's metrics averaged over volumes, with how many values each mean left out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassSummary {
    pub class: u8,
    pub dice: f64,
    pub jaccard: f64,
    pub hd95: f64,
    pub asd: f64,
    /// Volumes that contributed (after `skip_both_empty`).
    pub volumes: usize,
    /// Volumes whose HD95/ASD were NaN and left out of the distance means.
    pub distance_excluded: usize,
    pub both_empty: usize,
    pub prediction_empty: usize,
    pub ground_truth_empty: usize,
}

/// Mean over volumes per class, then the mean of those over classes (NaN class means are
/// left out of the class mean).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsSummary {
    pub per_class: Vec<ClassSummary>,
    pub dice: f64,
    pub jaccard: f64,
    pub hd95: f64,
    pub asd: f64,
}

/// Mean of the non-NaN values; NaN when there are none.
fn nan_mean(values: impl Iterator<Item = f64>) -> (f64, usize) {
    let (mut sum, mut n, mut skipped) = (0.0, 0usize, 0usize);
    for v in values {
        if v.is_nan() {
            skipped += 1;
        } else {
            sum += v;
            n += 1;
        }
    }
    (if n == 0 { f64::NAN } else { sum / n as f64 }, skipped)
}

/// Aggregates per-volume results ("mean over volumes, then over classes"). Classes are
/// matched by label and reported in order of first appearance.
pub fn aggregate(per_volume: &[Vec<ClassMetrics>], cfg: &MetricsConfig) -> MetricsSummary {
    let mut classes: Vec<u8> = Vec::new();
    for m in per_volume.iter().flatten() {
        if !classes.contains(&m.class) {
            classes.push(m.class);
        }
    }
    let per_class: Vec<ClassSummary> = classes
        .iter()
        .map(|&class| {
            let all: Vec<&ClassMetrics> = per_volume
                .iter()
                .flatten()
                .filter(|m| m.class == class)
                .collect();
            let count = |case| all.iter().filter(|m| m.case == case).count();
            let used: Vec<&ClassMetrics> = all
                .iter()
                .copied()
                .filter(|m| !(cfg.skip_both_empty && m.case == EmptyCase::BothEmpty))
                .collect();
            let (dice, _) = nan_mean(used.iter().map(|m| m.dice));
            let (jaccard, _) = nan_mean(used.iter().map(|m| m.jaccard));
            let (hd95, excluded) = nan_mean(used.iter().map(|m| m.hd95));
            let (asd, _) = nan_mean(used.iter().map(|m| m.asd));
            ClassSummary {
                class,
                dice,
                jaccard,
                hd95,
                asd,
                volumes: used.len(),
                distance_excluded: excluded,
                both_empty: count(EmptyCase::BothEmpty),
                prediction_empty: count(EmptyCase::PredictionEmpty),
                ground_truth_empty: count(EmptyCase::GroundTruthEmpty),
            }
        })
        .collect();
    let over_classes = |f: fn(&ClassSummary) -> f64| nan_mean(per_class.iter().map(f)).0;
    MetricsSummary {
        dice: over_classes(|c| c.dice),
        jaccard: over_classes(|c| c.jaccard),
        hd95: over_classes(|c| c.hd95),
        asd: over_classes(|c| c.asd),
        per_class,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(s: &str) -> Vec<bool> {
        s.bytes().map(|b| b == b'1').collect()
    }

    /// A `dims` mask with the voxels of the box `lo..=hi` set.
    fn cuboid(dims: [usize; 3], lo: [usize; 3], hi: [usize; 3]) -> Vec<bool> {
        let mut m = vec![false; dims.iter().product()];
        for z in lo[2]..=hi[2] {
            for y in lo[1]..=hi[1] {
                for x in lo[0]..=hi[0] {
                    m[(z * dims[1] + y) * dims[0] + x] = true;
                }
            }
        }
        m
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn cube_surface_is_all_but_the_centre() {
        let dims = [5, 5, 5];
        let cube = cuboid(dims, [1, 1, 1], [3, 3, 3]);
        let s = surface(&cube, dims);
        assert_eq!(s.iter().filter(|&&v| v).count(), 26);
        assert!(!s[(2 * 5 + 2) * 5 + 2]);
        // A mask touching the volume's edge: the edge counts as background.
        let full = vec![true; 27];
        assert_eq!(surface(&full, [3, 3, 3]).iter().filter(|&&v| v).count(), 26);
        // A single slice is all surface (no neighbours above or below).
        assert!(surface(&[true; 9], [3, 3, 1]).iter().all(|&v| v));
    }

    /// Two 3×3×3 cubes, one shifted by a voxel along x (worked by hand):
    /// |A∩B| = 18, |A| = |B| = 27 → Dice 36/54, Jaccard 18/36. Of the 26 surface voxels of
    /// the shifted cube, 16 lie on the other cube's surface (distance 0) and 10 are one voxel
    /// off (its far face, 9 voxels, and (2,2,2), the other cube's centre); the same holds the
    /// other way by symmetry, so ASD = 10/26 and the 95th percentile of the 52 distances
    /// (32 zeros, 20 ones; position 48.45) is 1. With x spacing 2 the far face is 2 away but
    /// (2,2,2) stays 1 away (along y): ASD = (9·2 + 1)/26 and HD95 = 2.
    #[test]
    fn shifted_cubes_by_hand() {
        let dims = [5, 5, 5];
        let gt = cuboid(dims, [1, 1, 1], [3, 3, 3]);
        let pred = cuboid(dims, [2, 1, 1], [4, 3, 3]);
        assert!(close(dc(&pred, &gt).unwrap(), 2.0 / 3.0));
        assert!(close(jc(&pred, &gt).unwrap(), 0.5));
        let d = surface_distances(&pred, &gt, dims, None).unwrap().unwrap();
        assert_eq!(d.len(), 26);
        assert_eq!(d.iter().filter(|&&v| v == 0.0).count(), 16);
        assert!(close(
            asd(&pred, &gt, dims, None).unwrap().unwrap(),
            10.0 / 26.0
        ));
        assert!(close(hd95(&pred, &gt, dims, None).unwrap().unwrap(), 1.0));
        let sp = Some([2.0, 1.0, 1.0]);
        assert!(close(
            asd(&pred, &gt, dims, sp).unwrap().unwrap(),
            19.0 / 26.0
        ));
        assert!(close(hd95(&pred, &gt, dims, sp).unwrap().unwrap(), 2.0));
        // A shift along y with y spacing 0.5 gives half-voxel distances instead.
        let pred_y = cuboid(dims, [1, 2, 1], [3, 4, 3]);
        let sp_y = Some([1.0, 0.5, 3.0]);
        assert!(close(
            asd(&pred_y, &gt, dims, sp_y).unwrap().unwrap(),
            5.0 / 26.0
        ));
    }

    /// A row of voxels: GT {x=0}, prediction {x=2,3,4} (all surface, being one voxel thick).
    /// pred→GT = [2,3,4], GT→pred = [2]; ASD(pred,GT) = 3 but ASD(GT,pred) = 2 (medpy's asd is
    /// directed), ASSD = mean([2,3,4,2]) = 2.75; HD95 of [2,2,3,4] at position 0.95·3 = 2.85
    /// is 3 + 0.85 = 3.85.
    #[test]
    fn directed_asd_and_interpolated_hd95_by_hand() {
        let dims = [6, 1, 1];
        let gt = bits("100000");
        let pred = bits("001110");
        assert!(close(asd(&pred, &gt, dims, None).unwrap().unwrap(), 3.0));
        assert!(close(asd(&gt, &pred, dims, None).unwrap().unwrap(), 2.0));
        assert!(close(assd(&pred, &gt, dims, None).unwrap().unwrap(), 2.75));
        assert!(close(hd95(&pred, &gt, dims, None).unwrap().unwrap(), 3.85));
        assert!(close(hd95(&gt, &pred, dims, None).unwrap().unwrap(), 3.85));
        let half = Some([0.5, 9.0, 9.0]);
        assert!(close(hd95(&pred, &gt, dims, half).unwrap().unwrap(), 1.925));
        assert!(close(asd(&pred, &gt, dims, half).unwrap().unwrap(), 1.5));
        assert_eq!(dc(&pred, &gt).unwrap(), 0.0);
    }

    #[test]
    fn diagonal_distance_uses_anisotropic_spacing() {
        // Single voxels at (0,0,0) and (3,4,0): 5 voxels apart; with sx = 2, sqrt(36 + 16).
        let dims = [5, 5, 1];
        let mut a = vec![false; 25];
        let mut b = vec![false; 25];
        a[0] = true;
        b[4 * 5 + 3] = true;
        assert!(close(hd95(&a, &b, dims, None).unwrap().unwrap(), 5.0));
        assert!(close(
            asd(&a, &b, dims, Some([2.0, 1.0, 1.0])).unwrap().unwrap(),
            52f64.sqrt()
        ));
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        assert!(close(percentile(&[4.0, 1.0, 3.0, 2.0], 95.0), 3.85));
        assert!(close(percentile(&[7.0], 95.0), 7.0));
        assert!(close(percentile(&[0.0, 10.0], 50.0), 5.0));
        assert!(percentile(&[], 95.0).is_nan());
    }

    /// The separable transform against brute force on random sparse sites.
    #[test]
    fn distance_transform_is_exact() {
        let dims = [7, 5, 6];
        let spacing = [0.7, 1.9, 2.5];
        let mut state = 12345u64;
        for density in [1u64, 5, 40] {
            let sites: Vec<bool> = (0..dims.iter().product::<usize>())
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (state >> 33) % 100 < density
                })
                .collect();
            let fast = distance_to_sites(&sites, dims, spacing);
            for (i, &d) in fast.iter().enumerate() {
                let (x, y, z) = (i % 7, (i / 7) % 5, i / 35);
                let brute = sites
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| **s)
                    .map(|(j, _)| {
                        let (u, v, w) = (j % 7, (j / 7) % 5, j / 35);
                        let dx = (x as f64 - u as f64) * spacing[0];
                        let dy = (y as f64 - v as f64) * spacing[1];
                        let dz = (z as f64 - w as f64) * spacing[2];
                        (dx * dx + dy * dy + dz * dz).sqrt()
                    })
                    .fold(f64::INFINITY, f64::min);
                assert!(
                    (d - brute).abs() < 1e-9 || (d.is_infinite() && brute.is_infinite()),
                    "voxel {i}: {d} vs {brute}"
                );
            }
        }
    }

    /// medpy 0.5.2 (numpy 2.4.6, scipy 1.17.1) on seeded random blobs (thresholded
    /// Gaussian-smoothed noise, `default_rng(20250610)`, `gaussian_filter(sigma=1)`), each
    /// `[z][y][x]` array in C order (x fastest, as here), with `dc, jc, hd95, asd(a,b),
    /// asd(b,a), assd` and `voxelspacing=(sz,sy,sx)`. `tests/reference/medpy_metrics.sh`
    /// recomputes every expected value below from these masks with medpy (largest difference
    /// 5e-13 on 2026-11-29).
    #[test]
    fn matches_medpy_fixtures() {
        struct Case {
            dims: [usize; 3],
            spacing: Option<[f32; 3]>,
            pred: &'static str,
            gt: &'static str,
            expected: [f64; 6],
        }
        let cases = [
            Case {
                dims: [7, 6, 5],
                spacing: None,
                pred: "100000000000000000110000011110001111100011000000000000000000110000011111111111111001000000000000000000000000010011111001111101000000100000001000000110000101111110011111011111111110011100001011001101111110111111",
                gt: "000000001000000110000001100000110000011000010000011100001111000011000000000000010000011101111111001111000111000000000000000010001111101110001110000011000000000100000011000111100000010000000000000000000100000000",
                expected: [
                    0.174496644295,
                    0.095588235294,
                    2.236067977500,
                    1.208178222790,
                    0.979851109885,
                    1.122957539804,
                ],
            },
            Case {
                dims: [7, 6, 5],
                spacing: Some([1.3, 0.7, 2.5]),
                pred: "110000010000001000000100110010111001000000100000011000001000000100010010000001000000000110000111001011000000000010000001000000001111100111110011100001110000000000000000001111101111110111110001110000000000000000",
                gt: "100000010000001100001110011111001111111101110000010001111100111110011110011111101100000011110001111000111000011000011101000100000001100000110000011000001000001100000100011001100000110000001000001100000110000110",
                expected: [
                    0.368421052632,
                    0.225806451613,
                    2.600000000000,
                    0.817496771525,
                    1.018506056694,
                    0.931960392246,
                ],
            },
            Case {
                dims: [8, 9, 4],
                spacing: Some([1.0, 1.0, 3.0]),
                pred: "100011001000110010001000110000001011100000011000000000010000000100000000000010000000110010001100110000000111000000110000000100110000001100000001001100000110000011100011011000010110000101100011011100110010011100000000101100001110000011100011111000010110000101100011111000111110000001100000",
                gt: "100000111100001111100000111000001110000011000000110000000000000100000001100000111111101111111000111100001110000011000000110000000000000000000000100000111111111101111000001110000010000011000000110000000100000001000000110001110001111100111000000110000000000011000000110000000000000000000000",
                expected: [
                    0.296296296296,
                    0.173913043478,
                    3.293472720827,
                    1.352792376888,
                    0.961824904379,
                    1.167932756734,
                ],
            },
            Case {
                dims: [6, 6, 6],
                spacing: None,
                pred: "100000000000000000001100001110000110111000011000001000011100011111000111111000011000011000011000110000110010000000000000001000000000110000110000000000000000000000000000000000100000100000000000000000000000000000100000",
                gt: "011000111000111000111000111000011000111000111000111100111000011000011000111000111000111100000000000000000000110001110011100011000001000000000000100001000011000011000001000000000000001110001110001000000000000000000000",
                expected: [
                    0.330434782609,
                    0.197916666667,
                    3.162277660168,
                    1.068106241687,
                    1.330880233218,
                    1.220992927669,
                ],
            },
        ];
        for c in &cases {
            let (p, g) = (bits(c.pred), bits(c.gt));
            let got = [
                dc(&p, &g).unwrap(),
                jc(&p, &g).unwrap(),
                hd95(&p, &g, c.dims, c.spacing).unwrap().unwrap(),
                asd(&p, &g, c.dims, c.spacing).unwrap().unwrap(),
                asd(&g, &p, c.dims, c.spacing).unwrap().unwrap(),
                assd(&p, &g, c.dims, c.spacing).unwrap().unwrap(),
            ];
            for (k, (a, e)) in got.iter().zip(&c.expected).enumerate() {
                // Spacing is f32 here and f64 in medpy, hence 1e-6 rather than 1e-12.
                assert!((a - e).abs() < 1e-6, "{:?} metric {k}: {a} vs {e}", c.dims);
            }
        }
    }

    #[test]
    fn empty_mask_rules_and_aggregation() {
        let dims = [4, 4, 2];
        let n = 32;
        // Volume 1: class 1 matches exactly, class 2 only in the GT, class 3 nowhere.
        let mut gt1 = vec![0u8; n];
        let mut pr1 = vec![0u8; n];
        gt1[5] = 1;
        pr1[5] = 1;
        gt1[10] = 2;
        // Volume 2: class 1 shifted by one voxel, class 2 only in the prediction.
        let mut gt2 = vec![0u8; n];
        let mut pr2 = vec![0u8; n];
        gt2[0] = 1;
        pr2[1] = 1;
        pr2[20] = 2;
        let v = |d: Vec<u8>| Volume::new(d, dims, [1.0; 3]).unwrap();
        let (gt1, pr1, gt2, pr2) = (v(gt1), v(pr1), v(gt2), v(pr2));
        let classes = [1, 2, 3];

        let r1 = evaluate_volume(&pr1, &gt1, &classes, None).unwrap();
        let r2 = evaluate_volume(&pr2, &gt2, &classes, None).unwrap();
        assert_eq!(r1[0].case, EmptyCase::BothPresent);
        assert_eq!((r1[0].dice, r1[0].hd95, r1[0].asd), (1.0, 0.0, 0.0));
        assert_eq!(r1[1].case, EmptyCase::PredictionEmpty);
        assert_eq!(r1[1].dice, 0.0);
        assert!(r1[1].hd95.is_nan() && r1[1].asd.is_nan());
        assert_eq!(r1[2].case, EmptyCase::BothEmpty);
        assert_eq!((r1[2].dice, r1[2].jaccard, r1[2].hd95), (1.0, 1.0, 0.0));
        assert_eq!(r2[1].case, EmptyCase::GroundTruthEmpty);
        assert_eq!((r2[0].dice, r2[0].hd95, r2[0].asd), (0.0, 1.0, 1.0));

        let cfg = MetricsConfig::default();
        let s = aggregate(&[r1.clone(), r2.clone()], &cfg);
        let c1 = &s.per_class[0];
        assert_eq!((c1.dice, c1.hd95, c1.volumes), (0.5, 0.5, 2));
        let c2 = &s.per_class[1];
        assert_eq!((c2.dice, c2.distance_excluded), (0.0, 2));
        assert!(c2.hd95.is_nan());
        assert_eq!((c2.prediction_empty, c2.ground_truth_empty), (1, 1));
        let c3 = &s.per_class[2];
        assert_eq!((c3.dice, c3.both_empty, c3.volumes), (1.0, 2, 2));
        assert!(close(s.dice, 1.5 / 3.0));
        // Class 2's distance mean is NaN and left out of the class mean.
        assert!(close(s.hd95, 0.25));

        let skip = MetricsConfig {
            skip_both_empty: true,
            ..cfg
        };
        let s = aggregate(&[r1, r2], &skip);
        assert_eq!(s.per_class[2].volumes, 0);
        assert!(s.per_class[2].dice.is_nan());
        assert!(close(s.dice, 0.25));

        let penalty = MetricsConfig {
            empty_rule: EmptyMaskRule::DiagonalPenalty,
            ..cfg
        };
        let sp = Some([2.0, 1.0, 1.0]);
        let r = evaluate_volume_with(&pr1, &gt1, &classes, sp, &penalty).unwrap();
        let diag = (64.0f64 + 16.0 + 4.0).sqrt();
        assert!(close(r[1].hd95, diag) && close(r[1].asd, diag));

        let abd = MetricsConfig {
            empty_rule: EmptyMaskRule::AbdZero,
            ..cfg
        };
        let r = evaluate_volume_with(&pr1, &gt1, &classes, None, &abd).unwrap();
        assert_eq!((r[1].dice, r[1].hd95), (0.0, 0.0));
        assert_eq!((r[2].dice, r[2].jaccard, r[2].asd), (0.0, 0.0, 0.0));
        let r = evaluate_volume_with(&pr2, &gt2, &classes, None, &abd).unwrap();
        assert!(r[1].hd95.is_nan());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let dims = [2, 2, 2];
        assert!(hd95(&[true; 8], &[true; 7], dims, None).is_err());
        assert!(asd(&[true; 8], &[true; 8], [3, 2, 2], None).is_err());
        assert!(asd(&[true; 8], &[true; 8], dims, Some([1.0, 0.0, 1.0])).is_err());
        assert!(dc(&[true; 3], &[true; 2]).is_err());
        assert_eq!(hd95(&[false; 8], &[true; 8], dims, None).unwrap(), None);
        let a = Volume::new(vec![0u8; 8], dims, [1.0; 3]).unwrap();
        let b = Volume::new(vec![0u8; 12], [3, 2, 2], [1.0; 3]).unwrap();
        assert!(evaluate_volume(&a, &b, &[1], None).is_err());
    }

    /// A 128×128×20 pair (the ACDC scale) against medpy's values (timings belong in
    /// benchmarks, not in tests).
    #[test]
    fn acdc_sized_volume_matches_medpy() {
        let dims = [128, 128, 20];
        let gt = cuboid(dims, [30, 40, 2], [90, 100, 17]);
        let pred = cuboid(dims, [35, 38, 3], [95, 97, 18]);
        let h = hd95(&pred, &gt, dims, Some([1.5, 1.5, 5.0]))
            .unwrap()
            .unwrap();
        let a = asd(&pred, &gt, dims, Some([1.5, 1.5, 5.0]))
            .unwrap()
            .unwrap();
        // medpy 0.5.2 on the same boxes (`[z][y][x]` slices 2:18, 40:101, 30:91 and 3:19,
        // 38:98, 35:96, voxelspacing (5, 1.5, 1.5)): hd95 7.5, asd 4.973809855021971.
        assert!(close(h, 7.5));
        assert!((a - 4.973809855021971).abs() < 1e-9);
    }
}
