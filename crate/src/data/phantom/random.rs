//! Seeded randomness for the phantoms: independent streams per (task, case, seed, purpose),
//! Gaussian draws and smooth random fields (texture, bias).
//!
//! The generator is `Xoshiro256PlusPlus` named explicitly (not `SmallRng`, which switches to a
//! 32-bit generator on wasm32), so the same `(case, seed)` draws the same numbers on every target.

use std::f32::consts::TAU;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// The phantoms' random number generator.
pub(crate) type PhantomRng = Xoshiro256PlusPlus;

/// What a stream is used for; separate streams keep the anatomy independent of the noise draws.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Purpose {
    Anatomy = 1,
    Noise = 2,
}

/// SplitMix64's finaliser: a bijective 64-bit mixer.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A generator seeded from a hash of everything that names the stream.
pub(crate) fn stream(
    task: u64,
    case: usize,
    seed: u64,
    purpose: Purpose,
    extra: u64,
) -> PhantomRng {
    let mut h = splitmix(task);
    for word in [seed, case as u64, purpose as u64, extra] {
        h = splitmix(h ^ word);
    }
    PhantomRng::seed_from_u64(h)
}

/// Uniform draw in `[lo, hi)`.
pub(crate) fn uniform(rng: &mut PhantomRng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.random::<f32>()
}

/// Uniform integer in `lo..=hi`.
pub(crate) fn int(rng: &mut PhantomRng, lo: u32, hi: u32) -> u32 {
    rng.random_range(lo..=hi)
}

/// True with probability `p`.
pub(crate) fn chance(rng: &mut PhantomRng, p: f32) -> bool {
    rng.random::<f32>() < p
}

/// Two independent standard normal draws (Box–Muller).
pub(crate) fn normal_pair(rng: &mut PhantomRng) -> (f32, f32) {
    let u1 = 1.0 - rng.random::<f32>(); // (0, 1]
    let u2 = rng.random::<f32>();
    let radius = (-2.0 * u1.ln()).sqrt();
    let angle = TAU * u2;
    (radius * angle.cos(), radius * angle.sin())
}

/// A smooth random field: a sum of plane waves with random directions and phases, scaled to
/// unit variance. Cheap to evaluate anywhere, no grid needed.
#[derive(Clone, Debug)]
pub(crate) struct SmoothField {
    /// `(kx, ky, kz, phase)` per wave, wave numbers in radians per voxel.
    waves: Vec<[f32; 4]>,
    amplitude: f32,
}

impl SmoothField {
    /// `count` waves with in-plane wavelengths in `[min_wavelength, max_wavelength]` voxels and a
    /// through-plane wave number up to `max_kz` radians per slice.
    pub(crate) fn new(
        rng: &mut PhantomRng,
        count: usize,
        min_wavelength: f32,
        max_wavelength: f32,
        max_kz: f32,
    ) -> Self {
        let waves = (0..count)
            .map(|_| {
                let k = TAU / uniform(rng, min_wavelength, max_wavelength);
                let direction = uniform(rng, 0.0, TAU);
                [
                    k * direction.cos(),
                    k * direction.sin(),
                    uniform(rng, -max_kz, max_kz),
                    uniform(rng, 0.0, TAU),
                ]
            })
            .collect();
        Self {
            waves,
            amplitude: (2.0 / count.max(1) as f32).sqrt(),
        }
    }

    /// The field at voxel position `(x, y, z)`; zero mean, unit variance over space.
    pub(crate) fn at(&self, x: f32, y: f32, z: f32) -> f32 {
        self.amplitude
            * self
                .waves
                .iter()
                .map(|[kx, ky, kz, phase]| (kx * x + ky * y + kz * z + phase).cos())
                .sum::<f32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |case, seed, purpose| {
            let mut rng = stream(7, case, seed, purpose, 0);
            (0..4)
                .map(|_| uniform(&mut rng, 0.0, 1.0))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3, 1, Purpose::Anatomy), draw(3, 1, Purpose::Anatomy));
        assert_ne!(draw(3, 1, Purpose::Anatomy), draw(4, 1, Purpose::Anatomy));
        assert_ne!(draw(3, 1, Purpose::Anatomy), draw(3, 2, Purpose::Anatomy));
        assert_ne!(draw(3, 1, Purpose::Anatomy), draw(3, 1, Purpose::Noise));
    }

    #[test]
    fn normal_draws_have_unit_variance() {
        let mut rng = stream(1, 0, 0, Purpose::Noise, 0);
        let n = 20_000;
        let samples: Vec<f32> = (0..n / 2)
            .flat_map(|_| {
                let (a, b) = normal_pair(&mut rng);
                [a, b]
            })
            .collect();
        let mean = samples.iter().sum::<f32>() / n as f32;
        let var = samples.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n as f32;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
    }

    #[test]
    fn smooth_field_is_bounded_and_smooth() {
        let mut rng = stream(1, 0, 0, Purpose::Anatomy, 0);
        let field = SmoothField::new(&mut rng, 8, 10.0, 30.0, 0.2);
        let mut max_step = 0.0f32;
        for i in 0..100 {
            let x = i as f32;
            max_step = max_step.max((field.at(x + 1.0, 5.0, 0.0) - field.at(x, 5.0, 0.0)).abs());
        }
        // Each wave moves at most k ≤ 2π/10 per voxel, times its amplitude 0.5.
        assert!(max_step < 8.0 * 0.5 * TAU / 10.0);
        assert!(field.at(3.0, 4.0, 1.0).abs() <= 8.0 * 0.5 + 1e-4);
    }
}
