//! Does a scan fit the weights? Weights trained on hearts still draw "three classes" on a brain;
//! what gives it away is their size. Training records, per class, the range of volumes (ml) the
//! labeled training scans hold ([`VolumeRange`], in the manifest's classes); after a scan is
//! segmented, each class drawn far outside its range (more than [`FAR_FACTOR`] below the
//! smallest or above the largest) is named, and when at least half the classes with a range
//! are drawn far outside it, the scan as a whole is said not to fit: its masks are likely
//! meaningless. `sss segment`, `sss eval` and the page share this check and its sentences.
//!
//! Measured (RESULTS.md, "A scan that does not fit the weights"): the page's cardiac weights
//! on brain MRI-like scans draw 0.1–22 ml per class, at least 3× below the smallest class on
//! unseen hearts (57–261 ml).

use serde::{Deserialize, Serialize};

use crate::weights::ClassInfo;

/// How far outside the training range a class must be drawn to be named.
pub const FAR_FACTOR: f64 = 4.0;

/// The volumes one class takes in the labeled training scans that hold it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct VolumeRange {
    /// The smallest, in ml.
    pub min_ml: f64,
    /// The largest, in ml.
    pub max_ml: f64,
    /// How many labeled scans hold the class.
    pub scans: usize,
}

/// Each of `classes`' volume in ml in a label map (`labels`, one value per voxel) of voxel size
/// `spacing` (mm).
pub fn class_volumes_ml(labels: &[u8], spacing: [f32; 3], classes: &[u8]) -> Vec<f64> {
    let mut counts = [0usize; 256];
    for &l in labels {
        counts[l as usize] += 1;
    }
    let voxel_ml = spacing.iter().map(|&s| f64::from(s)).product::<f64>() / 1000.0;
    classes
        .iter()
        .map(|&c| counts[c as usize] as f64 * voxel_ml)
        .collect()
}

/// Per class, the range of its volumes over the scans where it is present (`None` for a class
/// no scan holds). `scans[i][k]` is class `k`'s volume in scan `i`.
pub fn volume_ranges(scans: &[Vec<f64>]) -> Vec<Option<VolumeRange>> {
    let classes = scans.iter().map(Vec::len).max().unwrap_or(0);
    (0..classes)
        .map(|k| {
            let present: Vec<f64> = scans
                .iter()
                .filter_map(|s| s.get(k).copied())
                .filter(|&v| v > 0.0)
                .collect();
            (!present.is_empty()).then(|| VolumeRange {
                min_ml: present.iter().copied().fold(f64::INFINITY, f64::min),
                max_ml: present.iter().copied().fold(0.0, f64::max),
                scans: present.len(),
            })
        })
        .collect()
}

/// Where one class's drawn volume lies against its training range.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Not drawn.
    Absent,
    /// Within [`FAR_FACTOR`] of the range.
    Within,
    /// More than [`FAR_FACTOR`] below the smallest training volume.
    FarBelow,
    /// More than [`FAR_FACTOR`] above the largest.
    FarAbove,
    /// The weights record no range for the class.
    Unknown,
}

/// One class of a [`FitReport`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ClassFit {
    pub label: u8,
    pub name: String,
    /// Its volume in the label map, ml.
    pub volume_ml: f64,
    pub range: Option<VolumeRange>,
    pub verdict: Verdict,
}

/// What the drawn class volumes say about a scan against the weights' training scans.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FitReport {
    /// Foreground classes, in the manifest's order.
    pub classes: Vec<ClassFit>,
    /// False when at least half the classes with a range are drawn far outside it.
    pub fits: bool,
    /// What to tell the user (empty when every drawn class is within its range, or the weights
    /// record no ranges).
    pub message: String,
}

/// Checks a label map (`labels`, one value per voxel, voxel size `spacing` in mm) against the
/// volume ranges in `classes` (the manifest's, background first).
pub fn check_fit(classes: &[ClassInfo], labels: &[u8], spacing: [f32; 3]) -> FitReport {
    let foreground: Vec<&ClassInfo> = classes.iter().filter(|c| c.label != 0).collect();
    let labels_of: Vec<u8> = foreground.iter().map(|c| c.label).collect();
    let volumes = class_volumes_ml(labels, spacing, &labels_of);
    let classes: Vec<ClassFit> = foreground
        .iter()
        .zip(volumes)
        .map(|(c, volume_ml)| ClassFit {
            label: c.label,
            name: c.name.clone(),
            volume_ml,
            range: c.volume_ml,
            verdict: verdict(volume_ml, c.volume_ml),
        })
        .collect();
    let with_range = classes.iter().filter(|c| c.range.is_some()).count();
    let far: Vec<&ClassFit> = classes
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::FarBelow | Verdict::FarAbove))
        .collect();
    let fits = with_range == 0 || 2 * far.len() < with_range;
    let message = message(&far, fits);
    FitReport {
        classes,
        fits,
        message,
    }
}

fn verdict(volume_ml: f64, range: Option<VolumeRange>) -> Verdict {
    match range {
        None => Verdict::Unknown,
        Some(_) if volume_ml <= 0.0 => Verdict::Absent,
        Some(r) if volume_ml * FAR_FACTOR < r.min_ml => Verdict::FarBelow,
        Some(r) if volume_ml > r.max_ml * FAR_FACTOR => Verdict::FarAbove,
        Some(_) => Verdict::Within,
    }
}

/// "RV 0.4 ml (training scans: 57–153 ml)", joined by "; ".
fn describe(far: &[&ClassFit]) -> String {
    far.iter()
        .filter_map(|c| {
            let r = c.range?;
            Some(format!(
                "{} {} ml (training scans: {}–{} ml)",
                c.name,
                ml(c.volume_ml),
                ml(r.min_ml),
                ml(r.max_ml)
            ))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn message(far: &[&ClassFit], fits: bool) -> String {
    if far.is_empty() {
        String::new()
    } else if !fits {
        format!(
            "This scan does not look like the scans these weights learned from, by the sizes \
             of what they drew: {}. Its masks are likely meaningless: check that these weights \
             are made for this anatomy.",
            describe(far)
        )
    } else {
        format!(
            "Drawn far from the sizes the training scans hold, so check it before trusting it: \
             {}.",
            describe(far)
        )
    }
}

/// A volume in ml, to two significant figures below 10 ml.
fn ml(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(ranges: &[Option<(f64, f64)>]) -> Vec<ClassInfo> {
        let mut out = vec![ClassInfo {
            label: 0,
            name: "background".into(),
            color: [0, 0, 0],
            volume_ml: None,
        }];
        for (i, r) in ranges.iter().enumerate() {
            out.push(ClassInfo {
                label: i as u8 + 1,
                name: format!("C{}", i + 1),
                color: [0, 0, 0],
                volume_ml: r.map(|(min_ml, max_ml)| VolumeRange {
                    min_ml,
                    max_ml,
                    scans: 3,
                }),
            });
        }
        out
    }

    /// Voxel counts per class as a label map with 1 ml voxels (10 mm cubes).
    fn labels(counts: &[usize]) -> Vec<u8> {
        counts
            .iter()
            .enumerate()
            .flat_map(|(k, &n)| std::iter::repeat_n(k as u8 + 1, n))
            .chain(std::iter::repeat_n(0, 5))
            .collect()
    }

    const CM: [f32; 3] = [10.0, 10.0, 10.0];

    #[test]
    fn volumes_and_ranges() {
        let v = class_volumes_ml(&[0, 1, 1, 2, 3, 3, 3], [2.0, 2.0, 2.5], &[1, 2, 3, 4]);
        let want = [0.02, 0.01, 0.03, 0.0];
        assert_eq!(v.len(), want.len());
        assert!(
            v.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12),
            "{v:?}"
        );
        let r = volume_ranges(&[vec![1.0, 0.0, 5.0], vec![3.0, 0.0, 2.0]]);
        assert_eq!(
            r[0],
            Some(VolumeRange {
                min_ml: 1.0,
                max_ml: 3.0,
                scans: 2
            })
        );
        assert_eq!(r[1], None);
        assert_eq!(r[2].unwrap().min_ml, 2.0);
    }

    #[test]
    fn a_scan_within_the_ranges_fits_quietly() {
        let c = classes(&[
            Some((50.0, 150.0)),
            Some((70.0, 100.0)),
            Some((90.0, 260.0)),
        ]);
        let report = check_fit(&c, &labels(&[60, 80, 30]), CM);
        assert!(report.fits);
        assert_eq!(report.message, "");
        let v: Vec<Verdict> = report.classes.iter().map(|c| c.verdict).collect();
        assert_eq!(v, [Verdict::Within; 3]);
        // Nothing drawn: nothing to say.
        assert!(check_fit(&c, &labels(&[0, 0, 0]), CM).fits);
    }

    /// The case: heart weights on a brain draw three tiny classes.
    #[test]
    fn tiny_classes_everywhere_do_not_fit() {
        let c = classes(&[
            Some((57.0, 153.0)),
            Some((70.0, 104.0)),
            Some((92.0, 261.0)),
        ]);
        let report = check_fit(&c, &labels(&[1, 14, 5]), CM);
        assert!(!report.fits);
        assert!(report.message.starts_with("This scan does not look like"));
        assert!(
            report
                .message
                .contains("C1 1 ml (training scans: 57–153 ml)")
        );
        let v: Vec<Verdict> = report.classes.iter().map(|c| c.verdict).collect();
        assert_eq!(v, [Verdict::FarBelow; 3]);
    }

    /// One class off is named, but the scan is not refused; far above counts too.
    #[test]
    fn one_class_off_is_named() {
        let c = classes(&[
            Some((57.0, 153.0)),
            Some((70.0, 104.0)),
            Some((92.0, 261.0)),
        ]);
        let report = check_fit(&c, &labels(&[100, 90, 1100]), CM);
        assert!(report.fits);
        assert_eq!(report.classes[2].verdict, Verdict::FarAbove);
        assert!(report.message.starts_with("Drawn far from"));
        assert!(report.message.contains("C3 1100 ml"));
        // Two of three far off: at least half, so not fitting.
        assert!(!check_fit(&c, &labels(&[1, 90, 1100]), CM).fits);
    }

    /// Weights without ranges (older manifests) never complain.
    #[test]
    fn no_ranges_no_verdict() {
        let c = classes(&[None, None]);
        let report = check_fit(&c, &labels(&[1, 1000]), CM);
        assert!(report.fits);
        assert_eq!(report.message, "");
        assert_eq!(report.classes[0].verdict, Verdict::Unknown);
    }
}
