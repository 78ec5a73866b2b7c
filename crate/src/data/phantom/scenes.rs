//! Task-agnostic procedural 3-D scenes for promptable pretraining (`sss pretrain`): the
//! stand-in for SA-1B / SA-V that official SAM-2 is pretrained on, since no such data can be
//! downloaded here. A scene is a stack of slices holding several objects of generic shapes
//! (blobs, rings, crescents, thin curved tubes, star polygons; some nested in a ring's hole,
//! some touching another), each with its own texture and contrast, on a background with an
//! intensity gradient, then partial volume, blur and noise. Objects move, grow, shrink,
//! appear and disappear along z, so that memory propagation has something to learn. The
//! labels are instance ids (1 = first object, …; later objects occlude earlier ones), not
//! classes: a pretrained model learns "the object the prompt points at", whatever it is.
//!
//! Nothing here uses the cardiac or brain-CT phantoms' anatomy or generator; only the seeded
//! random streams and the in-plane blur are shared. Every scene is a pure function of
//! `(index, seed, size)`.

use std::f32::consts::TAU;

use super::random::{PhantomRng, Purpose, SmoothField, chance, int, normal_pair, stream, uniform};
use super::{PARTIAL_VOLUME_OFFSETS, assemble, blur_in_plane};
use crate::Volume;

/// Stream tag of the scenes (distinct from the phantoms' tasks).
const TASK: u64 = 0x5ce7e;

/// The most objects a scene holds (instance ids `1..=MAX_OBJECTS`).
pub const MAX_OBJECTS: usize = 7;

/// Size of the generated scenes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SceneSize {
    /// In-plane side in pixels (square slices).
    pub side: usize,
    /// Slices, drawn in `slices[0]..=slices[1]`.
    pub slices: [usize; 2],
}

impl Default for SceneSize {
    fn default() -> Self {
        Self {
            side: 128,
            slices: [8, 14],
        }
    }
}

/// The kinds of object outline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Blob,
    Ring,
    Crescent,
    Tube,
    Polygon,
}

/// A wobbly radius `r(θ) = 1 + Σ a_k cos(kθ − φ_k)`, k = 2..=4, as a factor on a base radius.
#[derive(Clone, Copy, Debug)]
struct Outline {
    harmonics: [[f32; 2]; 3],
}

impl Outline {
    fn draw(rng: &mut PhantomRng, roughness: f32) -> Self {
        let mut harmonics = [[0.0; 2]; 3];
        for (k, h) in harmonics.iter_mut().enumerate() {
            *h = [
                uniform(rng, 0.0, roughness / (k + 1) as f32),
                uniform(rng, 0.0, TAU),
            ];
        }
        Self { harmonics }
    }

    fn factor(&self, theta: f32) -> f32 {
        1.0 + self
            .harmonics
            .iter()
            .enumerate()
            .map(|(k, [a, phi])| a * ((k + 2) as f32 * theta - phi).cos())
            .sum::<f32>()
    }
}

/// One object: its shape at every slice follows from a centre path, a radius profile and the
/// kind's own parameters.
#[derive(Clone, Debug)]
struct Object {
    kind: Kind,
    /// Centre at the first slice and drift per slice (pixels).
    centre: [f32; 2],
    drift: [f32; 2],
    /// Base radius (pixels) and its relative change per slice.
    radius: f32,
    growth: f32,
    /// Slices where the object exists (inclusive), and whether it tapers towards its ends.
    z_range: [usize; 2],
    tapered: bool,
    outline: Outline,
    rotation: f32,
    spin: f32,
    /// Ring: wall thickness as a fraction of the radius. Crescent: the bite's offset and radius
    /// as fractions of the radius. Tube: the half-width in pixels and the control point.
    params: [f32; 3],
    /// Tube end points relative to the centre (pixels).
    ends: [[f32; 2]; 2],
    /// Polygon: vertex radii (as factors), evenly spaced angles.
    vertices: Vec<f32>,
    /// Mean intensity and texture amplitude.
    intensity: f32,
    texture_amplitude: f32,
    texture: SmoothField,
}

impl Object {
    /// The radius and centre at slice `z`, or `None` outside its range.
    fn at_slice(&self, z: usize) -> Option<([f32; 2], f32, f32)> {
        let [z0, z1] = self.z_range;
        if z < z0 || z > z1 {
            return None;
        }
        let dz = (z - z0) as f32;
        let mut r = self.radius * (1.0 + self.growth * dz).max(0.3);
        if self.tapered && z1 > z0 {
            let mid = (z0 + z1) as f32 / 2.0;
            let half = (z1 - z0) as f32 / 2.0 + 0.75;
            let t = (z as f32 - mid) / half;
            r *= (1.0 - t * t).max(0.0).sqrt().max(0.45);
        }
        let c = [
            self.centre[0] + self.drift[0] * dz,
            self.centre[1] + self.drift[1] * dz,
        ];
        Some((c, r, self.rotation + self.spin * dz))
    }

    /// Whether the point `(x, y)` of slice position `z` (fractional for partial volume) lies
    /// inside; `zi` is the integer slice the shape is taken from.
    fn contains(&self, x: f32, y: f32, zi: usize) -> bool {
        let Some((c, r, rot)) = self.at_slice(zi) else {
            return false;
        };
        let (dx, dy) = (x - c[0], y - c[1]);
        let d = (dx * dx + dy * dy).sqrt();
        let theta = dy.atan2(dx) - rot;
        match self.kind {
            Kind::Blob => d < r * self.outline.factor(theta),
            Kind::Ring => {
                let outer = r * self.outline.factor(theta);
                let inner = outer * (1.0 - self.params[0]);
                d < outer && d >= inner
            }
            Kind::Crescent => {
                let outer = r * self.outline.factor(theta);
                let (off, bite) = (self.params[0] * r, self.params[1] * r);
                let (bx, by) = (c[0] + off * rot.cos(), c[1] + off * rot.sin());
                let db = ((x - bx).powi(2) + (y - by).powi(2)).sqrt();
                d < outer && db >= bite
            }
            Kind::Tube => {
                let (cos, sin) = (rot.cos(), rot.sin());
                let scale = r / self.radius;
                let place = |p: [f32; 2]| {
                    [
                        c[0] + scale * (p[0] * cos - p[1] * sin),
                        c[1] + scale * (p[0] * sin + p[1] * cos),
                    ]
                };
                let (a, b) = (place(self.ends[0]), place(self.ends[1]));
                let m = place([self.params[1], self.params[2]]);
                distance_to_bezier([x, y], a, m, b) < self.params[0]
            }
            Kind::Polygon => {
                let n = self.vertices.len();
                let t = theta.rem_euclid(TAU) / TAU * n as f32;
                let i = (t.floor() as usize).min(n - 1);
                let f = t - i as f32;
                let edge = self.vertices[i] * (1.0 - f) + self.vertices[(i + 1) % n] * f;
                d < r * edge
            }
        }
    }
}

/// Distance from `p` to the quadratic Bézier curve `a → m → b` (sampled).
fn distance_to_bezier(p: [f32; 2], a: [f32; 2], m: [f32; 2], b: [f32; 2]) -> f32 {
    const SAMPLES: usize = 24;
    let mut best = f32::INFINITY;
    for i in 0..=SAMPLES {
        let t = i as f32 / SAMPLES as f32;
        let u = 1.0 - t;
        let q = [
            u * u * a[0] + 2.0 * u * t * m[0] + t * t * b[0],
            u * u * a[1] + 2.0 * u * t * m[1] + t * t * b[1],
        ];
        best = best.min((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2));
    }
    best.sqrt()
}

/// Draws one object of `kind` around `centre`.
fn draw_object(
    rng: &mut PhantomRng,
    kind: Kind,
    centre: [f32; 2],
    radius: f32,
    nz: usize,
    background: f32,
) -> Object {
    // Step 1: z extent: every slice for half the objects, else a random run of at least 2 slices.
    let z_range = if chance(rng, 0.5) {
        [0, nz - 1]
    } else {
        let len = int(rng, 2.min(nz as u32), nz as u32) as usize;
        let start = int(rng, 0, (nz - len) as u32) as usize;
        [start, start + len - 1]
    };
    // Step 2: the kind's own parameters (see `Object::params`), the tube's end points (drawn for
    // every kind) and the polygon's vertex radii.
    let params = match kind {
        Kind::Ring => [uniform(rng, 0.25, 0.6), 0.0, 0.0],
        Kind::Crescent => [uniform(rng, 0.35, 0.8), uniform(rng, 0.7, 1.0), 0.0],
        Kind::Tube => [
            uniform(rng, 1.2, 3.5),
            uniform(rng, -radius, radius),
            uniform(rng, -radius, radius),
        ],
        Kind::Blob | Kind::Polygon => [0.0; 3],
    };
    let ends = {
        let angle = uniform(rng, 0.0, TAU);
        let (c, s) = (angle.cos(), angle.sin());
        [[-radius * c, -radius * s], [radius * c, radius * s]]
    };
    let vertices = if kind == Kind::Polygon {
        (0..int(rng, 3, 7))
            .map(|_| uniform(rng, 0.6, 1.15))
            .collect()
    } else {
        Vec::new()
    };
    // Step 3: contrast against the background: at least 0.12, either sign.
    let contrast = uniform(rng, 0.12, 0.55) * if chance(rng, 0.5) { 1.0 } else { -1.0 };
    // Step 4: motion along z (drift, growth, taper, spin), outline, rotation and texture, drawn
    // inside the literal in field order.
    Object {
        kind,
        centre,
        drift: [uniform(rng, -1.5, 1.5), uniform(rng, -1.5, 1.5)],
        radius,
        growth: uniform(rng, -0.06, 0.06),
        z_range,
        tapered: chance(rng, 0.5),
        outline: Outline::draw(rng, if kind == Kind::Polygon { 0.0 } else { 0.25 }),
        rotation: uniform(rng, 0.0, TAU),
        spin: uniform(rng, -0.15, 0.15),
        params,
        ends,
        vertices,
        intensity: (background + contrast).clamp(0.02, 1.0),
        texture_amplitude: uniform(rng, 0.0, 0.08),
        texture: SmoothField::new(rng, 6, 4.0, 20.0, 0.3),
    }
}

/// Scene `index` of `seed`: `(image, instance labels)`, intensities roughly in `[0, 1]`.
pub fn scene(index: usize, seed: u64, size: SceneSize) -> (Volume<f32>, Volume<u8>) {
    let mut rng = stream(TASK, index, seed, Purpose::Anatomy, 0);
    // Step 1: slice count and background: level, linear in-plane gradient, texture.
    let n = size.side;
    let side = n as f32;
    let nz = int(
        &mut rng,
        size.slices[0] as u32,
        size.slices[1].max(size.slices[0]) as u32,
    ) as usize;
    let background = uniform(&mut rng, 0.15, 0.6);
    let gradient = [uniform(&mut rng, -0.3, 0.3), uniform(&mut rng, -0.3, 0.3)];
    let bg_texture = SmoothField::new(&mut rng, 8, 8.0, 60.0, 0.2);
    let bg_texture_amplitude = uniform(&mut rng, 0.0, 0.08);

    // Step 2: 2..=MAX_OBJECTS objects of random kinds, sizes and centres; some touch the one
    // before, and a ring may get a blob nested in its hole.
    let count = int(&mut rng, 2, MAX_OBJECTS as u32) as usize;
    let mut objects: Vec<Object> = Vec::new();
    let kinds = [
        Kind::Blob,
        Kind::Ring,
        Kind::Crescent,
        Kind::Tube,
        Kind::Polygon,
    ];
    while objects.len() < count {
        let kind = kinds[int(&mut rng, 0, kinds.len() as u32 - 1) as usize];
        let radius = uniform(&mut rng, 0.05, 0.2) * side;
        let mut centre = [
            uniform(&mut rng, 0.2, 0.8) * side,
            uniform(&mut rng, 0.2, 0.8) * side,
        ];
        // Touching: start at the rim of an earlier object.
        if let Some(host) = objects.last()
            && chance(&mut rng, 0.3)
        {
            let angle = uniform(&mut rng, 0.0, TAU);
            let reach = host.radius + radius * 0.9;
            centre = [
                host.centre[0] + reach * angle.cos(),
                host.centre[1] + reach * angle.sin(),
            ];
        }
        let object = draw_object(&mut rng, kind, centre, radius, nz, background);
        // Nested: a blob filling part of a ring's hole (painted after it).
        let nested = (kind == Kind::Ring && objects.len() + 1 < count && chance(&mut rng, 0.5))
            .then(|| {
                let inner = radius * (1.0 - object.params[0]) * uniform(&mut rng, 0.5, 0.95);
                let mut blob =
                    draw_object(&mut rng, Kind::Blob, object.centre, inner, nz, background);
                blob.drift = object.drift;
                blob.growth = object.growth;
                blob.z_range = object.z_range;
                blob.tapered = object.tapered;
                blob.outline = Outline::draw(&mut rng, 0.1);
                blob
            });
        objects.push(object);
        objects.extend(nested);
    }

    // Step 3: buffers flattened [z][y][x]: pixel (x, y) of slice z at z·plane + y·n + x. The
    // noise stream also sets sigma and blur passes; `owner` is the last object that holds a point
    // (later ones occlude earlier ones).
    let plane = n * n;
    let mut image = vec![0.0f32; plane * nz];
    let mut labels = vec![0u8; plane * nz];
    let mut noise = stream(TASK, index, seed, Purpose::Noise, 0);
    let sigma = uniform(&mut noise, 0.005, 0.06);
    let blur_passes = int(&mut noise, 0, 2);
    let owner = |x: f32, y: f32, zi: usize| -> Option<usize> {
        (0..objects.len())
            .rev()
            .find(|&o| objects[o].contains(x, y, zi))
    };
    for z in 0..nz {
        let slice = &mut image[z * plane..(z + 1) * plane];
        // Step 4: per pixel, the mean of 5 partial-volume samples (owner's intensity or the
        // background); the label is the owner of the centre sample in this slice.
        for y in 0..n {
            for x in 0..n {
                let mut sum = 0.0;
                for (k, [dx, dy, dz]) in PARTIAL_VOLUME_OFFSETS.iter().enumerate() {
                    let (px, py) = (x as f32 + dx, y as f32 + dy);
                    // Through-plane partial volume: the sample half a slab away reads the
                    // neighbouring slice's shapes.
                    let zs = if *dz > 0.0 && z + 1 < nz && chance(&mut noise, 0.5) {
                        z + 1
                    } else if *dz < 0.0 && z > 0 && chance(&mut noise, 0.5) {
                        z - 1
                    } else {
                        z
                    };
                    let base = background
                        + gradient[0] * (px / side - 0.5)
                        + gradient[1] * (py / side - 0.5)
                        + bg_texture_amplitude * bg_texture.at(px, py, z as f32);
                    let value = match owner(px, py, zs) {
                        Some(o) => {
                            let ob = &objects[o];
                            ob.intensity + ob.texture_amplitude * ob.texture.at(px, py, z as f32)
                        }
                        None => base,
                    };
                    if k == 0 {
                        labels[z * plane + y * n + x] =
                            owner(px, py, z).map_or(0, |o| (o + 1) as u8);
                    }
                    sum += value;
                }
                slice[y * n + x] = sum / PARTIAL_VOLUME_OFFSETS.len() as f32;
            }
        }
        // Step 5: 0–2 blur passes, then Gaussian noise.
        for _ in 0..blur_passes {
            blur_in_plane(slice, n, n);
        }
        for v in slice.iter_mut() {
            *v += sigma * normal_pair(&mut noise).0;
        }
    }
    // Step 6: slices 1–5 times as far apart as pixels; both volumes share the geometry.
    let spacing = [1.0, 1.0, uniform(&mut rng, 1.0, 5.0)];
    (
        assemble(image, [n, n, nz], spacing),
        assemble(labels, [n, n, nz], spacing),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SceneSize {
        SceneSize {
            side: 64,
            slices: [6, 8],
        }
    }

    #[test]
    fn scenes_are_reproducible_and_differ_by_index_and_seed() {
        let (a, la) = scene(3, 1, small());
        let (b, lb) = scene(3, 1, small());
        assert_eq!(a.data, b.data);
        assert_eq!(la.data, lb.data);
        let (c, _) = scene(4, 1, small());
        let (d, _) = scene(3, 2, small());
        assert_ne!(a.data, c.data);
        assert_ne!(a.data, d.data);
    }

    #[test]
    fn scenes_hold_several_objects_that_change_along_z() {
        let mut objects_seen = Vec::new();
        let mut changes = 0;
        for index in 0..20 {
            let (image, labels) = scene(index, 7, small());
            let [nx, ny, nz] = labels.dims;
            assert_eq!(image.dims, labels.dims);
            assert!((6..=8).contains(&nz));
            assert!(image.data.iter().all(|v| v.is_finite()));
            let max = *labels.data.iter().max().unwrap() as usize;
            assert!(max <= MAX_OBJECTS);
            let present: std::collections::BTreeSet<u8> =
                labels.data.iter().copied().filter(|&l| l > 0).collect();
            objects_seen.push(present.len());
            // Some object's area differs between the first and last slice.
            let plane = nx * ny;
            let area = |z: usize, l: u8| {
                labels.data[z * plane..(z + 1) * plane]
                    .iter()
                    .filter(|&&v| v == l)
                    .count()
            };
            if present.iter().any(|&l| area(0, l) != area(nz - 1, l)) {
                changes += 1;
            }
        }
        assert!(objects_seen.iter().all(|&n| n >= 1), "{objects_seen:?}");
        let mean = objects_seen.iter().sum::<usize>() as f32 / objects_seen.len() as f32;
        assert!(mean >= 2.5, "{objects_seen:?}");
        assert!(changes >= 15, "{changes} of 20 scenes change along z");
    }

    #[test]
    fn objects_differ_from_their_background() {
        // The mean intensity inside each labeled object differs from the mean outside all
        // objects by more than the noise: the prompt has something to find.
        let (image, labels) = scene(11, 3, small());
        let outside: Vec<f32> = image
            .data
            .iter()
            .zip(&labels.data)
            .filter(|(_, l)| **l == 0)
            .map(|(v, _)| *v)
            .collect();
        let bg = outside.iter().sum::<f32>() / outside.len() as f32;
        let mut separated = 0;
        let ids: std::collections::BTreeSet<u8> =
            labels.data.iter().copied().filter(|&l| l > 0).collect();
        for &id in &ids {
            let inside: Vec<f32> = image
                .data
                .iter()
                .zip(&labels.data)
                .filter(|(_, l)| **l == id)
                .map(|(v, _)| *v)
                .collect();
            let mean = inside.iter().sum::<f32>() / inside.len() as f32;
            if (mean - bg).abs() > 0.06 {
                separated += 1;
            }
        }
        assert!(separated * 2 >= ids.len(), "{separated} of {}", ids.len());
    }

    #[test]
    fn every_kind_draws_a_non_empty_shape() {
        let mut rng = stream(TASK, 0, 0, Purpose::Anatomy, 99);
        for kind in [
            Kind::Blob,
            Kind::Ring,
            Kind::Crescent,
            Kind::Tube,
            Kind::Polygon,
        ] {
            let mut o = draw_object(&mut rng, kind, [32.0, 32.0], 12.0, 4, 0.3);
            o.z_range = [0, 3];
            let inside = (0..64 * 64)
                .filter(|i| o.contains((i % 64) as f32, (i / 64) as f32, 1))
                .count();
            assert!(inside > 10, "{kind:?}: {inside} px");
            assert!(!o.contains(32.0, 32.0, 7), "{kind:?} outside its slices");
        }
    }
}
