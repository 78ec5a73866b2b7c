//! Scan intensities → SAM-2's three input channels in [0, 1]: the one rule (`docs/DESIGN.md` §4) that
//! training and the page share. It is serialisable so the weights' manifest records it and the
//! page maps intensities exactly as training did. SAM-2's own mean/std normalisation comes
//! after this, in the model's preprocessing.
//!
//! - CT (Hounsfield units): three windows, one per channel — brain 40/80, subdural 75/215,
//!   bone 600/2800 (centre/width), a common practice for hemorrhage CT. Each maps
//!   `[centre − width/2, centre + width/2]` linearly to [0, 1] and clamps.
//! - MRI (arbitrary units): the volume's 0.5th and 99.5th percentiles (linear interpolation,
//!   as numpy's default) map to 0 and 1, clamped, replicated to the three channels. A constant
//!   volume maps to 0.
//!
//! Usage: `rule.fit(&volume.data)?` once per volume gives a [`ChannelMap`]; its `map_slice`
//! turns each slice into a channel-major `[3][ny][nx]` buffer.

use serde::{Deserialize, Serialize};

use crate::{Result, SssError, Volume};

/// The kind of scan, which picks the intensity rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Ct,
    Mri,
}

/// A display window in the scan's units.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub center: f32,
    pub width: f32,
}

impl Window {
    /// Brain window (40/80 HU).
    pub const BRAIN: Self = Self {
        center: 40.0,
        width: 80.0,
    };
    /// Subdural window (75/215 HU).
    pub const SUBDURAL: Self = Self {
        center: 75.0,
        width: 215.0,
    };
    /// Bone window (600/2800 HU).
    pub const BONE: Self = Self {
        center: 600.0,
        width: 2800.0,
    };

    /// `value` mapped linearly from the window to [0, 1], clamped.
    pub fn apply(&self, value: f32) -> f32 {
        ((value - (self.center - 0.5 * self.width)) / self.width).clamp(0.0, 1.0)
    }
}

/// How a modality's intensities become three channels; recorded in the weights' manifest.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum IntensityRule {
    /// One window per channel (CT in HU).
    CtWindows { windows: [Window; 3] },
    /// Per-volume percentiles `low`..`high` (in percent) to [0, 1], replicated (MRI).
    Percentiles { low: f32, high: f32 },
}

impl IntensityRule {
    /// The rule `docs/DESIGN.md` §4 fixes for each modality.
    pub fn for_modality(modality: Modality) -> Self {
        match modality {
            Modality::Ct => Self::CtWindows {
                windows: [Window::BRAIN, Window::SUBDURAL, Window::BONE],
            },
            Modality::Mri => Self::Percentiles {
                low: 0.5,
                high: 99.5,
            },
        }
    }

    /// Fits the rule to one volume's voxels: percentile rules measure them, window rules need
    /// nothing from them. Fails on an empty volume, a non-finite voxel or invalid parameters.
    pub fn fit(&self, values: &[f32]) -> Result<ChannelMap> {
        match *self {
            Self::CtWindows { windows } => {
                if let Some(w) = windows
                    .iter()
                    .find(|w| !w.center.is_finite() || !w.width.is_finite() || w.width <= 0.0)
                {
                    return Err(SssError::InvalidInput(format!(
                        "window {}/{} needs a finite centre and a positive width",
                        w.center, w.width
                    )));
                }
                Ok(ChannelMap::Windows(windows))
            }
            Self::Percentiles { low, high } => {
                if !(0.0..=100.0).contains(&low) || !(0.0..=100.0).contains(&high) || low >= high {
                    return Err(SssError::InvalidInput(format!(
                        "percentiles {low}–{high} must satisfy 0 ≤ low < high ≤ 100"
                    )));
                }
                let [lo, hi] = percentiles(values, [low, high])?;
                Ok(ChannelMap::Range { lo, hi })
            }
        }
    }
}

/// A rule fitted to one volume: maps any voxel value to its three channels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChannelMap {
    /// One window per channel.
    Windows([Window; 3]),
    /// `lo`..`hi` to [0, 1], clamped, in all three channels (all zero if `hi <= lo`).
    Range { lo: f32, hi: f32 },
}

impl ChannelMap {
    /// The three channel values of `value`, each in [0, 1].
    pub fn channels(&self, value: f32) -> [f32; 3] {
        match self {
            Self::Windows(windows) => windows.map(|w| w.apply(value)),
            Self::Range { lo, hi } => {
                let v = if hi > lo {
                    ((value - lo) / (hi - lo)).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                [v; 3]
            }
        }
    }

    /// Maps a row-major slice of `n` voxels to a channel-major `[3][n]` buffer.
    pub fn map_slice(&self, slice: &[f32]) -> Vec<f32> {
        let n = slice.len();
        let mut out = vec![0.0; 3 * n];
        for (i, &value) in slice.iter().enumerate() {
            let [a, b, c] = self.channels(value);
            out[i] = a;
            out[n + i] = b;
            out[2 * n + i] = c;
        }
        out
    }
}

/// Every slice of `volume` mapped by `rule` (fitted to the whole volume): `[nz][3][ny][nx]`.
pub fn volume_channels(volume: &Volume<f32>, rule: &IntensityRule) -> Result<Vec<f32>> {
    let map = rule.fit(&volume.data)?;
    Ok((0..volume.num_slices())
        .flat_map(|z| map.map_slice(volume.slice(z)))
        .collect())
}

/// The `qs` percentiles (in percent) of `values`, interpolating linearly between order
/// statistics like numpy's default. Linear time (selection, no full sort).
pub fn percentiles<const N: usize>(values: &[f32], qs: [f32; N]) -> Result<[f32; N]> {
    if values.is_empty() {
        return Err(SssError::InvalidInput(
            "cannot take percentiles of an empty volume".to_string(),
        ));
    }
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(SssError::InvalidInput(format!(
            "the volume holds a non-finite value ({bad})"
        )));
    }
    let last = values.len() - 1;
    Ok(qs.map(|q| {
        let position = (q / 100.0).clamp(0.0, 1.0) as f64 * last as f64;
        value_at_rank(values, |_| true, position)
    }))
}

/// The value at fractional rank `position` (0 ≤ position ≤ n − 1) among the `n` values of
/// `values` that `keep` admits, in [`f32::total_cmp`]'s order (the order a sort by it gives:
/// non-finite values at the ends), interpolated linearly between the order statistics at
/// `⌊position⌋` and the next rank, as numpy's `percentile` does. `values` is not copied (a
/// 512 × 512 × 400 CT's f32 copy is 420 MB in the page): each order statistic is found by a
/// radix select over the values' 32-bit order keys, two passes of 2¹⁶ buckets.
/// `n` must be at least 1.
pub(crate) fn value_at_rank(
    values: &[f32],
    keep: impl Fn(f32) -> bool + Copy,
    position: f64,
) -> f32 {
    let below = position.floor().max(0.0) as usize;
    let fraction = (position - below as f64) as f32;
    let lower = kth_smallest(values, keep, below);
    if fraction > 0.0 {
        let upper = kth_smallest(values, keep, below + 1);
        lower + fraction * (upper - lower)
    } else {
        lower
    }
}

/// `x`'s key in [`f32::total_cmp`]'s order as an unsigned integer: negative values (sign bit
/// set) count down from the middle, positive ones up from it.
fn order_key(x: f32) -> u32 {
    let bits = x.to_bits();
    if bits >> 31 == 1 {
        !bits
    } else {
        bits | 1 << 31
    }
}

fn from_order_key(key: u32) -> f32 {
    f32::from_bits(if key >> 31 == 1 {
        key & !(1 << 31)
    } else {
        !key
    })
}

/// The `k`-th smallest (0-based, clamped to the last) of the values `keep` admits, in
/// [`f32::total_cmp`]'s order: the bucket of the key's high 16 bits that holds rank `k`,
/// then within it the bucket of the low 16 bits.
fn kth_smallest(values: &[f32], keep: impl Fn(f32) -> bool, k: usize) -> f32 {
    /// The bucket holding rank `k` and the rank within it (the last non-empty one past the end).
    fn bucket_of(counts: &[usize], mut k: usize) -> (u32, usize) {
        let mut last = (0, 0);
        for (bucket, &count) in counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            if k < count {
                return (bucket as u32, k);
            }
            k -= count;
            last = (bucket as u32, count - 1);
        }
        last
    }
    let mut counts = vec![0usize; 1 << 16];
    for &v in values.iter().filter(|&&v| keep(v)) {
        counts[(order_key(v) >> 16) as usize] += 1;
    }
    let (high, k) = bucket_of(&counts, k);
    counts.fill(0);
    for &v in values.iter().filter(|&&v| keep(v)) {
        let key = order_key(v);
        if key >> 16 == high {
            counts[(key & 0xffff) as usize] += 1;
        }
    }
    let (low, _) = bucket_of(&counts, k);
    from_order_key(high << 16 | low)
}

/// What the intensities of a scan say about its modality, for matching it to weights.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModalityGuess {
    pub modality: Modality,
    /// The evidence, in words (for the page).
    pub reason: String,
}

/// CT in Hounsfield units has air at −1000: a scan whose 1st percentile is at or below −500
/// (and whose 99th is above 0) is taken for CT; anything else (MRI, or CT stored without its
/// rescale to HU) for MRI. Non-finite voxels are left out; `None` when no voxel is finite.
pub fn guess_modality(values: &[f32]) -> Option<ModalityGuess> {
    let finite = values.iter().filter(|v| v.is_finite()).count();
    if finite == 0 {
        return None;
    }
    let [p1, p99] = [1.0f32, 99.0].map(|q| {
        let position = (q / 100.0) as f64 * (finite - 1) as f64;
        value_at_rank(values, f32::is_finite, position)
    });
    Some(if p1 <= -500.0 && p99 > 0.0 {
        ModalityGuess {
            modality: Modality::Ct,
            reason: format!("CT in Hounsfield units (1st percentile {p1:.0}: air is −1000 HU)"),
        }
    } else {
        ModalityGuess {
            modality: Modality::Mri,
            reason: format!(
                "not CT in Hounsfield units (1st percentile {p1:.0}; CT air is −1000 HU), so MRI \
                 or another modality"
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_in_hounsfield_units_is_told_from_mri() {
        // A head CT: a third air (−1000 HU), the rest brain and bone.
        let ct: Vec<f32> = (0..3000)
            .map(|i| {
                if i % 3 == 0 {
                    -1000.0
                } else {
                    40.0 + (i % 7) as f32 * 100.0
                }
            })
            .collect();
        let guess = guess_modality(&ct).unwrap();
        assert_eq!(guess.modality, Modality::Ct, "{}", guess.reason);
        // MRI magnitudes, and a z-scored MRI with a few negative values.
        let mri: Vec<f32> = (0..3000).map(|i| (i % 700) as f32).collect();
        assert_eq!(guess_modality(&mri).unwrap().modality, Modality::Mri);
        let z: Vec<f32> = (0..3000).map(|i| (i % 9) as f32 - 4.0).collect();
        assert_eq!(guess_modality(&z).unwrap().modality, Modality::Mri);
        // Non-finite voxels are left out; none finite: no guess.
        let mut with_nan = ct.clone();
        with_nan[5] = f32::NAN;
        assert_eq!(guess_modality(&with_nan).unwrap().modality, Modality::Ct);
        assert_eq!(guess_modality(&[f32::NAN]), None);
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn ct_windows_by_hand() {
        let map = IntensityRule::for_modality(Modality::Ct).fit(&[]).unwrap();
        // 40 HU: brain (40−0)/80, subdural (40+32.5)/215, bone (40+800)/2800.
        let [a, b, c] = map.channels(40.0);
        assert!(
            close(a, 0.5) && close(b, 72.5 / 215.0) && close(c, 0.3),
            "{a} {b} {c}"
        );
        // 0 HU.
        let [a, b, c] = map.channels(0.0);
        assert!(close(a, 0.0) && close(b, 32.5 / 215.0) && close(c, 800.0 / 2800.0));
        // 70 HU (acute blood).
        let [a, b, c] = map.channels(70.0);
        assert!(close(a, 70.0 / 80.0) && close(b, 102.5 / 215.0) && close(c, 870.0 / 2800.0));
        assert_eq!(map.channels(-1000.0), [0.0, 0.0, 0.0]);
        assert_eq!(map.channels(2500.0), [1.0, 1.0, 1.0]);
    }

    #[test]
    fn percentiles_match_numpy() {
        // numpy.percentile([1, 2, 3, 4], [0, 50, 25, 100]) = [1, 2.5, 1.75, 4].
        let p = percentiles(&[4.0, 1.0, 3.0, 2.0], [0.0, 50.0, 25.0, 100.0]).unwrap();
        assert_eq!(p, [1.0, 2.5, 1.75, 4.0]);
        let values: Vec<f32> = (0..=200).rev().map(|v| v as f32).collect();
        // Position 0.005 · 200 = 1 and 0.995 · 200 = 199.
        assert_eq!(percentiles(&values, [0.5, 99.5]).unwrap(), [1.0, 199.0]);
        assert!(percentiles(&[], [50.0]).is_err());
        assert!(percentiles(&[1.0, f32::NAN], [50.0]).is_err());
    }

    #[test]
    fn mri_percentiles_by_hand() {
        let values: Vec<f32> = (0..=200).map(|v| v as f32).collect();
        let map = IntensityRule::for_modality(Modality::Mri)
            .fit(&values)
            .unwrap();
        assert_eq!(map, ChannelMap::Range { lo: 1.0, hi: 199.0 });
        assert_eq!(map.channels(100.0), [0.5; 3]);
        assert_eq!(map.channels(0.0), [0.0; 3]);
        assert_eq!(map.channels(200.0), [1.0; 3]);
        assert!(close(map.channels(50.5)[1], 0.25));
        let constant = IntensityRule::for_modality(Modality::Mri)
            .fit(&[7.0; 10])
            .unwrap();
        assert_eq!(constant.channels(7.0), [0.0; 3]);
    }

    #[test]
    fn slices_become_channel_major() {
        let map = ChannelMap::Windows([Window::BRAIN, Window::SUBDURAL, Window::BONE]);
        let out = map.map_slice(&[0.0, 40.0, 80.0]);
        assert_eq!(out.len(), 9);
        assert_eq!(&out[..3], &[0.0, 0.5, 1.0]);
        assert!(close(out[3], 32.5 / 215.0) && close(out[8], 880.0 / 2800.0));
        let volume = Volume::new((0..8).map(|v| v as f32).collect(), [2, 2, 2], [1.0; 3]).unwrap();
        let rule = IntensityRule::Percentiles {
            low: 0.0,
            high: 100.0,
        };
        let all = volume_channels(&volume, &rule).unwrap();
        assert_eq!(all.len(), 2 * 3 * 4);
        // Slice 1, channel 2, voxel 3 holds value 7 → 7/7.
        assert_eq!(all[12 + 8 + 3], 1.0);
        assert_eq!(all[4], 0.0);
    }

    #[test]
    fn rules_serialise_for_the_manifest() {
        let ct = IntensityRule::for_modality(Modality::Ct);
        let json = serde_json::to_string(&ct).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"ct-windows","windows":[{"center":40.0,"width":80.0},{"center":75.0,"width":215.0},{"center":600.0,"width":2800.0}]}"#
        );
        let mri = IntensityRule::for_modality(Modality::Mri);
        let json = serde_json::to_string(&mri).unwrap();
        assert_eq!(json, r#"{"kind":"percentiles","low":0.5,"high":99.5}"#);
        assert_eq!(serde_json::from_str::<IntensityRule>(&json).unwrap(), mri);
        assert_eq!(serde_json::to_string(&Modality::Ct).unwrap(), r#""ct""#);
    }

    #[test]
    fn invalid_rules_are_refused() {
        let bad = IntensityRule::CtWindows {
            windows: [
                Window {
                    center: 40.0,
                    width: 0.0,
                },
                Window::SUBDURAL,
                Window::BONE,
            ],
        };
        assert!(bad.fit(&[1.0]).is_err());
        let bad = IntensityRule::Percentiles {
            low: 60.0,
            high: 40.0,
        };
        assert!(bad.fit(&[1.0]).is_err());
    }
}
