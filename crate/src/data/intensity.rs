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
    let mut scratch = values.to_vec();
    let last = scratch.len() - 1;
    let mut out = [0.0; N];
    for (q, slot) in qs.iter().zip(&mut out) {
        let position = (q / 100.0).clamp(0.0, 1.0) as f64 * last as f64;
        let below = position.floor() as usize;
        let fraction = (position - below as f64) as f32;
        let (_, &mut lower, rest) = scratch.select_nth_unstable_by(below, f32::total_cmp);
        let upper = if fraction > 0.0 {
            rest.iter().copied().fold(f32::INFINITY, f32::min)
        } else {
            lower
        };
        *slot = lower + fraction * (upper - lower);
    }
    Ok(out)
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
    let finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let [p1, p99] = percentiles(&finite, [1.0, 99.0]).ok()?;
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
