//! Non-contrast head-CT phantom standing in for BHSD: a seeded, deterministic generator of one
//! volume in Hounsfield units with a label map in BHSD's classes (0 background, 1 epidural,
//! 2 intraparenchymal, 3 intraventricular, 4 subarachnoid, 5 subdural) per `(case, seed)`.
//!
//! Geometry: 128×128 voxels of 1.6 mm in-plane (a 205 mm field of view that holds an adult
//! head), 16–24 slices of 5 mm from the skull base (slice 0) towards the vertex. Anatomy: air,
//! scalp, a skull shell of cortical tables and diploë whose thickness varies with angle and
//! grows towards the base, a thin subarachnoid CSF rim, cortical grey matter with sulci, white
//! matter, deep grey nuclei, the interhemispheric fissure with the falx, butterfly-shaped
//! lateral ventricles and a third ventricle, the superior sagittal sinus (dense venous blood at
//! the midline) and (often) calcified pineal gland and choroid plexus — bright structures that
//! are not hemorrhage.
//!
//! Each case holds a random subset of 0–3 hemorrhage types, each spanning consecutive slices:
//! epidural = biconvex lens against the inner table; subdural = long thin crescent along it;
//! intraparenchymal = irregular blob with a hypodense oedema rim; intraventricular = blood
//! layering in the dependent (posterior) part of the lateral ventricles; subarachnoid = blood
//! filling the sulci (and possibly the interhemispheric fissure) of one region.
//!
//! Image formation: 5 samples per voxel (partial volume, through the slab too: the area average
//! of a finer scan) and Gaussian noise. Labels come from the voxel centre.

use std::f32::consts::{PI, TAU};

use super::random::{PhantomRng, Purpose, SmoothField, chance, int, normal_pair, stream, uniform};
use super::{PARTIAL_VOLUME_OFFSETS, assemble};
use crate::Volume;

/// Label of epidural hemorrhage.
pub const EPIDURAL: u8 = 1;
/// Label of intraparenchymal hemorrhage.
pub const INTRAPARENCHYMAL: u8 = 2;
/// Label of intraventricular hemorrhage.
pub const INTRAVENTRICULAR: u8 = 3;
/// Label of subarachnoid hemorrhage.
pub const SUBARACHNOID: u8 = 4;
/// Label of subdural hemorrhage.
pub const SUBDURAL: u8 = 5;
/// BHSD's class names (its `dataset.json`), indexed by label.
pub const BRAIN_CT_CLASS_NAMES: [&str; 6] = [
    "background",
    "epidural",
    "intraparenchymal",
    "intraventricular",
    "subarachnoid",
    "subdural",
];

/// In-plane size in voxels.
pub const BRAIN_CT_SIZE: usize = 128;
/// Voxel spacing in mm (x, y, z).
pub const BRAIN_CT_SPACING: [f32; 3] = [1.6, 1.6, 5.0];

/// Stream tag of this task, so brain and cardiac phantoms never share random numbers.
const TASK: u64 = 0xB4A1_0C70;
/// Lowest value a CT scanner writes (air and outside the field of view).
const HU_MIN: f32 = -1024.0;

/// The hemorrhage types present in phantom case `(case, seed)`, as labels, without rendering.
pub fn brain_ct_lesion_types(case: usize, seed: u64) -> Vec<u8> {
    let mut types: Vec<u8> = Head::draw(case, seed)
        .lesions
        .iter()
        .map(Lesion::label)
        .collect();
    types.sort_unstable();
    types.dedup();
    types
}

/// Phantom case `(case, seed)`: `(image in HU, labels)`.
pub fn brain_ct_case(case: usize, seed: u64) -> (Volume<f32>, Volume<u8>) {
    let head = Head::draw(case, seed);
    let mut noise_rng = stream(TASK, case, seed, Purpose::Noise, 0);
    head.render(&mut noise_rng)
}

/// A hemorrhage. Extra-axial ones (epidural, subdural) are measured inwards from the inner
/// table, over an angular sector around `angle`; all span slices `z ± half_height` with an
/// ellipsoidal profile.
#[derive(Clone, Debug)]
enum Lesion {
    Epidural {
        angle: [f32; 2],
        half_width: f32,
        thickness: f32,
        z: f32,
        half_height: f32,
        hu: f32,
    },
    Subdural {
        angle: [f32; 2],
        half_width: f32,
        thickness: f32,
        z: f32,
        half_height: f32,
        hu: f32,
    },
    Intraparenchymal {
        /// Centre in the head frame (voxels from the head centre).
        centre: [f32; 2],
        radius: f32,
        shape: [[f32; 2]; 3],
        oedema: f32,
        z: f32,
        half_height: f32,
        hu: f32,
    },
    Intraventricular {
        /// Which lateral ventricles bleed: `[left, right]` (image left = negative u).
        sides: [bool; 2],
        /// Blood fills the ventricle behind this head-frame v coordinate.
        level: f32,
        z: f32,
        half_height: f32,
        hu: f32,
    },
    Subarachnoid {
        angle: [f32; 2],
        half_width: f32,
        /// Whether the interhemispheric fissure fills too.
        fissure: bool,
        z: f32,
        half_height: f32,
        hu: f32,
    },
}

impl Lesion {
    fn label(&self) -> u8 {
        match self {
            Self::Epidural { .. } => EPIDURAL,
            Self::Intraparenchymal { .. } => INTRAPARENCHYMAL,
            Self::Intraventricular { .. } => INTRAVENTRICULAR,
            Self::Subarachnoid { .. } => SUBARACHNOID,
            Self::Subdural { .. } => SUBDURAL,
        }
    }

    /// Centre slice and half height.
    fn extent(&self) -> (f32, f32) {
        match *self {
            Self::Epidural { z, half_height, .. }
            | Self::Subdural { z, half_height, .. }
            | Self::Intraparenchymal { z, half_height, .. }
            | Self::Intraventricular { z, half_height, .. }
            | Self::Subarachnoid { z, half_height, .. } => (z, half_height),
        }
    }

    /// The ellipsoidal through-plane profile at slice position `z`: 1 at the centre, 0 outside.
    fn profile(&self, z: f32) -> f32 {
        let (centre, half_height) = self.extent();
        let t = (z - centre) / half_height;
        (1.0 - t * t).max(0.0).sqrt()
    }
}

/// What a point of the head is before any hemorrhage, with the details lesions need.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tissue {
    Air,
    Scalp,
    Bone(f32),
    /// CSF between brain and inner table.
    SurfaceCsf,
    /// CSF in a sulcus.
    SulcusCsf,
    FissureCsf,
    Falx,
    /// Superior sagittal sinus: dense venous blood at the midline, not a hemorrhage.
    Sinus,
    /// Lateral ventricle, side 0 (image left) or 1.
    Ventricle(usize),
    ThirdVentricle,
    GreyMatter,
    WhiteMatter,
    Calcification(f32),
}

/// Sulci: `count` radial clefts at jittered angles, rotating slowly from slice to slice.
#[derive(Clone, Debug)]
struct Sulci {
    angles: Vec<f32>,
    depths: Vec<f32>,
    half_width: f32,
    twist_per_slice: f32,
}

impl Sulci {
    /// Depth of the sulcus that `(r, angle)` lies in, if any.
    fn depth_at(&self, r: f32, angle: f32, z: f32) -> Option<f32> {
        let count = self.angles.len();
        let a = (angle - self.twist_per_slice * z).rem_euclid(TAU);
        let nearest = (a / TAU * count as f32) as isize;
        (nearest - 1..=nearest + 1)
            .map(|k| k.rem_euclid(count as isize) as usize)
            .find(|&k| {
                let mut d = (a - self.angles[k]).abs();
                if d > PI {
                    d = TAU - d;
                }
                d * r < self.half_width
            })
            .map(|k| self.depths[k])
    }
}

/// Everything about one phantom head.
struct Head {
    slices: usize,
    centre: [f32; 2],
    /// Unit vector of the head's left-right axis in image coordinates.
    axis: [f32; 2],
    /// Outer head semi-axes at the widest level (LR, AP) and its shape harmonics.
    semi: [f32; 2],
    shape: [[f32; 2]; 3],
    /// Widest level and the vertical semi-axes above and below it (slices).
    widest_z: f32,
    height_up: f32,
    height_down: f32,
    scalp: f32,
    skull: f32,
    skull_shape: [[f32; 2]; 3],
    csf_rim: f32,
    cortex: f32,
    sulci: Sulci,
    fissure_half_width: f32,
    /// Lateral ventricles: centre v, centre offset from the midline, half width, half length,
    /// tilt, centre slice, half height.
    ventricle_v: f32,
    ventricle_offset: f32,
    ventricle_width: f32,
    ventricle_length: f32,
    ventricle_tilt: f32,
    ventricle_z: f32,
    ventricle_height: f32,
    /// Calcified pineal and choroid plexus: (u, v, z, radius, HU).
    calcifications: Vec<[f32; 5]>,
    hu_grey: f32,
    hu_white: f32,
    hu_csf: f32,
    hu_scalp: f32,
    hu_cortical_bone: f32,
    hu_diploe: f32,
    hu_falx: f32,
    /// Superior sagittal sinus: half width at the inner table and depth (voxels), HU.
    sinus: [f32; 3],
    texture: SmoothField,
    lesions: Vec<Lesion>,
    noise_sigma: f32,
}

/// Per-slice quantities.
struct SliceGeometry {
    z: f32,
    /// In-plane scale of the head at this level (0 above the vertex).
    scale: f32,
    /// Skull thickness factor (thicker towards the base).
    skull_factor: f32,
    /// Ventricle scale at this level (0 outside their height).
    ventricle_scale: f32,
    third_ventricle: bool,
    deep_grey: bool,
    lesions: Vec<usize>,
    lesion_profiles: Vec<f32>,
}

fn harmonics(rng: &mut PhantomRng, amplitudes: [f32; 3]) -> [[f32; 2]; 3] {
    amplitudes.map(|amp| {
        let a = uniform(rng, -amp, amp);
        let phase = uniform(rng, 0.0, TAU);
        [a * phase.cos(), a * phase.sin()]
    })
}

/// `1 + Σ_k a_k cos(kθ − φ_k)` at `(c, s) = (cos θ, sin θ)`.
fn harmonic_factor(h: &[[f32; 2]; 3], c: f32, s: f32) -> f32 {
    let (c2, s2) = (c * c - s * s, 2.0 * c * s);
    let (c3, s3) = (c * (4.0 * c * c - 3.0), s * (3.0 - 4.0 * s * s));
    1.0 + h[0][0] * c + h[0][1] * s + h[1][0] * c2 + h[1][1] * s2 + h[2][0] * c3 + h[2][1] * s3
}

/// Angular weight of direction `(c, s)` in the sector `centre ± half_width`: 1 at the centre,
/// falling as `1 − (Δ/half_width)²` (approximately), 0 outside.
fn sector_weight(centre: [f32; 2], half_width: f32, c: f32, s: f32) -> f32 {
    let cos_delta = c * centre[0] + s * centre[1];
    let cos_edge = half_width.min(PI).cos();
    ((cos_delta - cos_edge) / (1.0 - cos_edge)).max(0.0)
}

fn unit(angle: f32) -> [f32; 2] {
    [angle.cos(), angle.sin()]
}

impl Head {
    fn draw(case: usize, seed: u64) -> Self {
        let mut rng = stream(TASK, case, seed, Purpose::Anatomy, 0);
        let rng = &mut rng;
        // Step 1: the head's extent: slices, widest level and the heights above and below it (the
        // last slice still shows `top_scale` of the widest outline), in-plane tilt and size, and an
        // atrophy level that widens the CSF spaces.
        let slices = int(rng, 16, 24) as usize;
        let last = slices as f32 - 1.0;
        let widest_z = uniform(rng, 0.22, 0.38) * slices as f32;
        let top_scale = uniform(rng, 0.3, 0.5);
        let height_up = (last - widest_z) / (1.0 - top_scale * top_scale).sqrt();
        let height_down = height_up * uniform(rng, 2.0, 3.0);
        let tilt = uniform(rng, -0.15, 0.15);
        let semi = [uniform(rng, 44.0, 50.0), uniform(rng, 54.0, 61.0)];
        let atrophy = uniform(rng, 0.0, 1.0);

        // Step 2: sulci: radial clefts at jittered, evenly spread angles.
        let sulcus_count = int(rng, 28, 40) as usize;
        let sulcus_depth = uniform(rng, 3.5, 6.0);
        let sulci = Sulci {
            angles: (0..sulcus_count)
                .map(|k| TAU * (k as f32 + uniform(rng, -0.3, 0.3)) / sulcus_count as f32)
                .collect(),
            depths: (0..sulcus_count)
                .map(|_| sulcus_depth * uniform(rng, 0.5, 1.0))
                .collect(),
            half_width: 0.45 + 0.35 * atrophy,
            twist_per_slice: uniform(rng, -0.03, 0.03),
        };

        // Step 3: the lateral ventricles' level, length and position, and the calcifications placed
        // relative to them: pineal (midline) and choroid plexus (both sides).
        let ventricle_z = widest_z + uniform(rng, 1.0, 3.0);
        let ventricle_length = uniform(rng, 15.0, 21.0);
        let ventricle_v = uniform(rng, -2.0, 4.0);
        let mut calcifications = Vec::new();
        if chance(rng, 0.6) {
            calcifications.push([
                uniform(rng, -0.5, 0.5),
                ventricle_v + 0.6 * ventricle_length,
                ventricle_z - uniform(rng, 0.5, 1.5),
                uniform(rng, 1.0, 1.6),
                uniform(rng, 150.0, 400.0),
            ]);
        }
        let ventricle_offset = uniform(rng, 3.0, 4.5) + 2.0 * atrophy;
        if chance(rng, 0.5) {
            for side in [-1.0, 1.0] {
                calcifications.push([
                    side * (ventricle_offset + uniform(rng, 2.0, 4.0)),
                    ventricle_v + 0.55 * ventricle_length,
                    ventricle_z + uniform(rng, -0.5, 0.5),
                    uniform(rng, 0.8, 1.4),
                    uniform(rng, 100.0, 250.0),
                ]);
            }
        }

        // Step 4: HU values and the remaining shape parameters, drawn inside the literal in field
        // order; the order of draws fixes every later random number.
        let hu_grey = uniform(rng, 36.0, 42.0);
        let hu_white = hu_grey - uniform(rng, 6.0, 9.0);
        let mut head = Self {
            slices,
            centre: [
                64.0 + uniform(rng, -4.0, 4.0),
                64.0 + uniform(rng, -4.0, 4.0),
            ],
            axis: unit(tilt),
            semi,
            shape: harmonics(rng, [0.02, 0.04, 0.03]),
            widest_z,
            height_up,
            height_down,
            scalp: uniform(rng, 3.0, 5.0),
            skull: uniform(rng, 3.5, 5.5),
            skull_shape: harmonics(rng, [0.1, 0.2, 0.1]),
            csf_rim: 0.6 + 1.0 * atrophy,
            cortex: uniform(rng, 2.5, 3.5),
            sulci,
            fissure_half_width: 0.5 + 0.4 * atrophy,
            ventricle_v,
            ventricle_offset,
            ventricle_width: uniform(rng, 3.5, 5.0) * (1.0 + 0.5 * atrophy),
            ventricle_length,
            ventricle_tilt: uniform(rng, 0.12, 0.3),
            ventricle_z,
            ventricle_height: uniform(rng, 3.0, 4.5),
            calcifications,
            hu_grey,
            hu_white,
            hu_csf: uniform(rng, 2.0, 10.0),
            hu_scalp: uniform(rng, 20.0, 45.0),
            hu_cortical_bone: uniform(rng, 1100.0, 1500.0),
            hu_diploe: uniform(rng, 450.0, 800.0),
            hu_falx: uniform(rng, 45.0, 70.0),
            sinus: [
                uniform(rng, 2.0, 3.0),
                uniform(rng, 3.0, 4.5),
                uniform(rng, 50.0, 65.0),
            ],
            texture: SmoothField::new(rng, 8, 6.0, 30.0, 0.4),
            lesions: Vec::new(),
            noise_sigma: uniform(rng, 2.5, 4.5),
        };
        // Step 5: hemorrhages last, placed relative to the finished head.
        head.lesions = head.draw_lesions(rng);
        head
    }

    /// A random subset of 0–3 hemorrhage types, each placed where it typically occurs.
    fn draw_lesions(&self, rng: &mut PhantomRng) -> Vec<Lesion> {
        // Step 1: how many types: none 10 %, one 40 %, two 35 %, three 15 %.
        let roll = uniform(rng, 0.0, 1.0);
        let count = if roll < 0.1 {
            0
        } else if roll < 0.5 {
            1
        } else if roll < 0.85 {
            2
        } else {
            3
        };
        // Step 2: the candidate types; each pick removes one, so no type repeats.
        let mut types = vec![
            EPIDURAL,
            INTRAPARENCHYMAL,
            INTRAVENTRICULAR,
            SUBARACHNOID,
            SUBDURAL,
        ];
        // Step 3: the z range for lesion centres.
        let last = self.slices as f32 - 1.0;
        // Slices that hold enough brain for a lesion.
        let (low, high) = (self.widest_z - 2.0, last - 2.5);
        let mut lesions = Vec::new();
        // Step 4: each type drawn where it typically occurs: epidural and subdural lateral against
        // the inner table, intraparenchymal in the brain, intraventricular at the ventricles'
        // level, subarachnoid in one sector's sulci.
        for _ in 0..count {
            let pick = int(rng, 0, types.len() as u32 - 1) as usize;
            let lesion = match types.swap_remove(pick) {
                EPIDURAL => Lesion::Epidural {
                    // Mostly temporal-parietal, i.e. lateral.
                    angle: unit(if chance(rng, 0.5) { 0.0 } else { PI } + uniform(rng, -0.9, 0.9)),
                    half_width: uniform(rng, 0.35, 0.6),
                    thickness: uniform(rng, 5.0, 11.0),
                    z: uniform(rng, low, high),
                    half_height: uniform(rng, 1.5, 3.0),
                    hu: uniform(rng, 60.0, 85.0),
                },
                SUBDURAL => Lesion::Subdural {
                    angle: unit(if chance(rng, 0.5) { 0.0 } else { PI } + uniform(rng, -0.7, 0.7)),
                    half_width: uniform(rng, 0.8, 1.4),
                    thickness: uniform(rng, 3.0, 7.0),
                    z: uniform(rng, low + 1.0, high),
                    half_height: uniform(rng, 3.0, 6.0),
                    // Acute (bright) to subacute (nearly isodense with grey matter).
                    hu: uniform(rng, 45.0, 80.0),
                },
                INTRAPARENCHYMAL => {
                    let angle = uniform(rng, 0.0, TAU);
                    let reach = uniform(rng, 0.15, 0.55);
                    Lesion::Intraparenchymal {
                        centre: [
                            reach * self.semi[0] * 0.8 * angle.cos(),
                            reach * self.semi[1] * 0.8 * angle.sin(),
                        ],
                        radius: uniform(rng, 3.0, 9.0),
                        shape: harmonics(rng, [0.1, 0.15, 0.12]),
                        oedema: uniform(rng, 1.0, 3.0),
                        z: uniform(rng, low + 1.0, high - 1.0),
                        half_height: uniform(rng, 1.0, 3.0),
                        hu: uniform(rng, 55.0, 80.0),
                    }
                }
                INTRAVENTRICULAR => {
                    let both = chance(rng, 0.5);
                    let left = chance(rng, 0.5);
                    Lesion::Intraventricular {
                        sides: [both || left, both || !left],
                        level: self.ventricle_v + self.ventricle_length * uniform(rng, -0.3, 0.4),
                        z: self.ventricle_z + uniform(rng, -1.0, 1.0),
                        half_height: uniform(rng, 2.0, 4.0),
                        hu: uniform(rng, 50.0, 75.0),
                    }
                }
                _ => Lesion::Subarachnoid {
                    angle: unit(uniform(rng, 0.0, TAU)),
                    half_width: uniform(rng, 0.5, 1.2),
                    fissure: chance(rng, 0.5),
                    z: uniform(rng, low + 1.0, high),
                    half_height: uniform(rng, 2.0, 4.0),
                    hu: uniform(rng, 45.0, 70.0),
                },
            };
            lesions.push(lesion);
        }
        lesions
    }

    fn geometry(&self, z: f32) -> SliceGeometry {
        let dz = z - self.widest_z;
        let height = if dz >= 0.0 {
            self.height_up
        } else {
            self.height_down
        };
        let scale = (1.0 - (dz / height).powi(2)).max(0.0).sqrt();
        let skull_factor = 1.0 + 0.8 * (-dz / self.widest_z.max(1.0)).clamp(0.0, 1.0);
        let tv = (z - self.ventricle_z) / self.ventricle_height;
        let ventricle_scale = (1.0 - tv * tv).max(0.0).sqrt();
        let mut lesions = Vec::new();
        let mut lesion_profiles = Vec::new();
        for (i, lesion) in self.lesions.iter().enumerate() {
            let p = lesion.profile(z);
            if p > 0.0 {
                lesions.push(i);
                lesion_profiles.push(p);
            }
        }
        SliceGeometry {
            z,
            scale,
            skull_factor,
            ventricle_scale,
            third_ventricle: (-1.2..=-0.3).contains(&tv),
            deep_grey: (-1.4..=0.2).contains(&tv),
            lesions,
            lesion_profiles,
        }
    }

    /// The tissue at head-frame position `(u, v)` (u left-right, v anterior-posterior, voxels),
    /// with the polar quantities lesions need: radius, direction, depth below the inner table.
    /// Layers are tested from the skin inwards, and the first that holds the point wins.
    fn tissue_at(&self, g: &SliceGeometry, u: f32, v: f32) -> (Tissue, f32, [f32; 2], f32) {
        // Step 1: polar coordinates; above the vertex all is air.
        let r = (u * u + v * v).sqrt();
        let (c, s) = if r > 1e-4 { (u / r, v / r) } else { (1.0, 0.0) };
        if g.scale <= 0.0 {
            return (Tissue::Air, r, [c, s], -1.0);
        }
        // Step 2: inwards from the skin: air, scalp, then the skull (cortical tables in its outer
        // and inner 30 %, diploë between), thicker towards the base.
        // Radius of the outer head ellipse in direction (c, s).
        let (a, b) = (self.semi[0] * g.scale, self.semi[1] * g.scale);
        let outer =
            a * b / ((b * c).powi(2) + (a * s).powi(2)).sqrt() * harmonic_factor(&self.shape, c, s);
        let depth = outer - r;
        if depth < 0.0 {
            return (Tissue::Air, r, [c, s], -1.0);
        }
        if depth < self.scalp {
            return (Tissue::Scalp, r, [c, s], -1.0);
        }
        let skull = self.skull * g.skull_factor * harmonic_factor(&self.skull_shape, c, s);
        let into_bone = depth - self.scalp;
        if into_bone < skull {
            let f = into_bone / skull;
            let hu = if !(0.3..=0.7).contains(&f) {
                self.hu_cortical_bone
            } else {
                self.hu_diploe
            };
            return (Tissue::Bone(hu), r, [c, s], -1.0);
        }
        // Step 3: inside the skull, d_in = depth below the inner table: calcifications first, then
        // the lateral and third ventricles.
        let d_in = into_bone - skull;
        let dir = [c, s];
        for &[cu, cv, cz, radius, hu] in &self.calcifications {
            let (du, dv, dzz) = (u - cu, v - cv, (g.z - cz) * 2.0);
            if du * du + dv * dv + dzz * dzz < radius * radius {
                return (Tissue::Calcification(hu), r, dir, d_in);
            }
        }
        if g.ventricle_scale > 0.0 {
            for (side, sign) in [(0usize, -1.0f32), (1, 1.0)] {
                // Tilted so the frontal horns sit close together and the atria diverge.
                let (cu, cv) = (u - sign * self.ventricle_offset, v - self.ventricle_v);
                let t = -sign * self.ventricle_tilt;
                let (pu, pv) = (cu * t.cos() + cv * t.sin(), -cu * t.sin() + cv * t.cos());
                let w = self.ventricle_width * g.ventricle_scale.sqrt();
                let l = self.ventricle_length * g.ventricle_scale;
                // Wider posteriorly (atrium), narrow frontal horn.
                let w_here = w * (1.0 + 0.35 * (pv / l).clamp(-1.0, 1.0));
                if (pu / w_here).powi(2) + (pv / l).powi(2) < 1.0 {
                    return (Tissue::Ventricle(side), r, dir, d_in);
                }
            }
        }
        if g.third_ventricle
            && u.abs() < 0.9
            && (v - self.ventricle_v - 0.2 * self.ventricle_length).abs() < 5.0
        {
            return (Tissue::ThirdVentricle, r, dir, d_in);
        }
        // Step 4: midline structures: the sinus under the inner table, then the fissure and falx.
        // Superior sagittal sinus: a triangle at the midline, its base on the inner table.
        let [sinus_width, sinus_depth, _] = self.sinus;
        if d_in < sinus_depth && u.abs() < sinus_width * (1.0 - d_in / sinus_depth) {
            return (Tissue::Sinus, r, dir, d_in);
        }
        // Interhemispheric fissure with the falx, outside the central core at ventricle level.
        let core = g.ventricle_scale * (self.ventricle_length + 6.0);
        if u.abs() < self.fissure_half_width && (v - self.ventricle_v).abs() > core {
            let tissue = if u.abs() < 0.25 {
                Tissue::Falx
            } else {
                Tissue::FissureCsf
            };
            return (tissue, r, dir, d_in);
        }
        // Step 5: the cortical ribbon: CSF rim, sulci cutting into the outer 6 voxels, grey matter;
        // then deep grey nuclei beside the ventricles; the rest is white matter.
        if d_in < self.csf_rim {
            return (Tissue::SurfaceCsf, r, dir, d_in);
        }
        let cortical = d_in - self.csf_rim;
        if cortical < 6.0 {
            let angle = s.atan2(c);
            if let Some(depth) = self.sulci.depth_at(r, angle, g.z)
                && cortical < depth
            {
                return (Tissue::SulcusCsf, r, dir, d_in);
            }
        }
        if cortical < self.cortex {
            return (Tissue::GreyMatter, r, dir, d_in);
        }
        if g.deep_grey {
            for sign in [-1.0f32, 1.0] {
                let du = (u - sign * (self.ventricle_offset + self.ventricle_width + 7.0)) / 5.0;
                let dv = (v - self.ventricle_v - 2.0) / 9.0;
                if du * du + dv * dv < 1.0 {
                    return (Tissue::GreyMatter, r, dir, d_in);
                }
            }
        }
        (Tissue::WhiteMatter, r, dir, d_in)
    }

    /// HU and label at head-frame position `(u, v)`; `texture` is the smooth field there.
    fn sample(&self, g: &SliceGeometry, u: f32, v: f32, texture: f32) -> (f32, u8) {
        // Step 1: the tissue's HU, with texture on soft tissue and bone.
        let (tissue, _r, [c, s], d_in) = self.tissue_at(g, u, v);
        let mut hu = match tissue {
            Tissue::Air => HU_MIN,
            Tissue::Scalp => self.hu_scalp + 6.0 * texture,
            Tissue::Bone(hu) => hu * (1.0 + 0.08 * texture),
            Tissue::SurfaceCsf
            | Tissue::SulcusCsf
            | Tissue::FissureCsf
            | Tissue::Ventricle(_)
            | Tissue::ThirdVentricle => self.hu_csf,
            Tissue::Falx => self.hu_falx,
            Tissue::Sinus => self.sinus[2],
            Tissue::GreyMatter => self.hu_grey + 1.5 * texture,
            Tissue::WhiteMatter => self.hu_white + 1.5 * texture,
            Tissue::Calcification(hu) => hu,
        };
        // Step 2: hemorrhage only inside the skull (d_in ≥ 0), never in a calcification.
        let mut label = 0;
        let intracranial = d_in >= 0.0 && !matches!(tissue, Tissue::Calcification(_));
        if !intracranial {
            return (hu, label);
        }
        let parenchyma = matches!(tissue, Tissue::GreyMatter | Tissue::WhiteMatter);
        // Step 3: the lesions on this slice, in order (a later one wins), each scaled by its
        // through-plane profile: blood sets the HU and label; an oedema rim only lowers the HU.
        for (&i, &profile) in g.lesions.iter().zip(&g.lesion_profiles) {
            match &self.lesions[i] {
                Lesion::Epidural {
                    angle,
                    half_width,
                    thickness,
                    hu: blood,
                    ..
                } => {
                    // Biconvex lens: thickness falls steeply at the sector's ends.
                    let w = sector_weight(*angle, *half_width, c, s);
                    if w > 0.0 && d_in < thickness * w.sqrt() * profile {
                        hu = blood + 4.0 * texture;
                        label = EPIDURAL;
                    }
                }
                Lesion::Subdural {
                    angle,
                    half_width,
                    thickness,
                    hu: blood,
                    ..
                } => {
                    // Crescent: long, thin, tapering tails that follow the inner table.
                    let w = sector_weight(*angle, *half_width, c, s);
                    if w > 0.0 && d_in < thickness * w.powf(0.7) * profile.sqrt() {
                        hu = blood + 3.0 * texture;
                        label = SUBDURAL;
                    }
                }
                Lesion::Intraparenchymal {
                    centre,
                    radius,
                    shape,
                    oedema,
                    hu: blood,
                    ..
                } => {
                    let (du, dv) = (u - centre[0], v - centre[1]);
                    let dist = (du * du + dv * dv).sqrt();
                    let (lc, ls) = if dist > 1e-4 {
                        (du / dist, dv / dist)
                    } else {
                        (1.0, 0.0)
                    };
                    let reach = radius * harmonic_factor(shape, lc, ls) * profile;
                    if dist < reach && !matches!(tissue, Tissue::SurfaceCsf | Tissue::SulcusCsf) {
                        hu = blood + 5.0 * texture;
                        label = INTRAPARENCHYMAL;
                    } else if dist < reach + oedema * profile.sqrt() && parenchyma {
                        hu = self.hu_white - 8.0 + 1.5 * texture;
                    }
                }
                Lesion::Intraventricular {
                    sides,
                    level,
                    hu: blood,
                    ..
                } => {
                    if let Tissue::Ventricle(side) = tissue
                        && sides[side]
                        && v > *level
                    {
                        hu = *blood + 3.0 * texture;
                        label = INTRAVENTRICULAR;
                    }
                }
                Lesion::Subarachnoid {
                    angle,
                    half_width,
                    fissure,
                    hu: blood,
                    ..
                } => {
                    let in_sector = sector_weight(*angle, *half_width, c, s) > 0.0;
                    let in_fissure = *fissure && tissue == Tissue::FissureCsf && v < 0.0;
                    if (in_sector && tissue == Tissue::SulcusCsf) || in_fissure {
                        hu = *blood + 4.0 * texture;
                        label = SUBARACHNOID;
                    }
                }
            }
        }
        (hu, label)
    }

    /// Renders the head: per voxel the mean HU of the partial-volume samples and the centre
    /// sample's label, then Gaussian noise. Both volumes are [z][y][x], dims `[n, n, nz]`.
    fn render(&self, noise_rng: &mut PhantomRng) -> (Volume<f32>, Volume<u8>) {
        // Step 1: both volumes flattened [z][y][x] (x fastest): voxel (i, j, z) at z·n² + j·n + i.
        let n = BRAIN_CT_SIZE;
        let nz = self.slices;
        let mut image = vec![0.0f32; n * n * nz];
        let mut labels = vec![0u8; n * n * nz];
        let [ax, ay] = self.axis;
        for z in 0..nz {
            // Step 2: one slice geometry per partial-volume sample, at its offset through the slab.
            let geometries: Vec<SliceGeometry> = PARTIAL_VOLUME_OFFSETS
                .iter()
                .map(|o| self.geometry(z as f32 + o[2]))
                .collect();
            let slice_image = &mut image[z * n * n..(z + 1) * n * n];
            let slice_labels = &mut labels[z * n * n..(z + 1) * n * n];
            // Step 3: per voxel, the mean HU of the 5 samples; the label is the centre sample's.
            for j in 0..n {
                for i in 0..n {
                    let (x, y) = (i as f32 + 0.5, j as f32 + 0.5);
                    let texture = self.texture.at(x, y, z as f32);
                    let mut sum = 0.0;
                    for (k, (offset, g)) in
                        PARTIAL_VOLUME_OFFSETS.iter().zip(&geometries).enumerate()
                    {
                        let (dx, dy) = (
                            x + offset[0] - self.centre[0],
                            y + offset[1] - self.centre[1],
                        );
                        // Image (x, y) → head frame (u, v): about the head centre, by its tilt.
                        let (u, v) = (dx * ax + dy * ay, -dx * ay + dy * ax);
                        let (hu, label) = self.sample(g, u, v, texture);
                        if k == 0 {
                            slice_labels[j * n + i] = label;
                        }
                        sum += hu;
                    }
                    slice_image[j * n + i] = sum / PARTIAL_VOLUME_OFFSETS.len() as f32;
                }
            }
            // Step 4: Gaussian noise, one normal pair per two voxels, clamped to the CT range
            // [−1024, 3071] HU.
            for pair in slice_image.chunks_mut(2) {
                let (a, b) = normal_pair(noise_rng);
                for (value, noise) in pair.iter_mut().zip([a, b]) {
                    *value = (*value + self.noise_sigma * noise).clamp(HU_MIN, 3071.0);
                }
            }
        }
        // Step 5: both as volumes of dims [x, y, z] with the phantom's spacing.
        let dims = [n, n, nz];
        (
            assemble(image, dims, BRAIN_CT_SPACING),
            assemble(labels, dims, BRAIN_CT_SPACING),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slices_with(labels: &Volume<u8>, class: u8) -> Vec<usize> {
        (0..labels.num_slices())
            .filter(|&z| labels.slice(z).contains(&class))
            .collect()
    }

    fn median_where(image: &Volume<f32>, labels: &Volume<u8>, class: u8) -> Option<f32> {
        let mut values: Vec<f32> = image
            .data
            .iter()
            .zip(&labels.data)
            .filter(|(_, l)| **l == class)
            .map(|(v, _)| *v)
            .collect();
        values.sort_by(f32::total_cmp);
        values.get(values.len() / 2).copied()
    }

    #[test]
    fn same_case_and_seed_give_identical_volumes() {
        let (a, a_labels) = brain_ct_case(5, 9);
        let (b, b_labels) = brain_ct_case(5, 9);
        assert_eq!(a.data, b.data);
        assert_eq!(a_labels.data, b_labels.data);
        let (c, _) = brain_ct_case(5, 10);
        let (d, _) = brain_ct_case(6, 9);
        assert_ne!(a.data, c.data);
        assert_ne!(a.data, d.data);
    }

    #[test]
    fn lesions_are_the_announced_types_and_span_consecutive_slices() {
        let mut seen = [false; 6];
        let mut lesion_counts = Vec::new();
        for case in 0..16 {
            let (image, labels) = brain_ct_case(case, 3);
            assert_eq!(image.dims[..2], [BRAIN_CT_SIZE, BRAIN_CT_SIZE]);
            assert!((16..=24).contains(&image.dims[2]));
            assert_eq!(image.spacing, BRAIN_CT_SPACING);
            let types = brain_ct_lesion_types(case, 3);
            assert!(types.len() <= 3);
            lesion_counts.push(types.len());
            for class in 1..=5u8 {
                let zs = slices_with(&labels, class);
                assert_eq!(
                    !zs.is_empty(),
                    types.contains(&class),
                    "case {case} class {class}: slices {zs:?}, types {types:?}"
                );
                if let (Some(first), Some(last)) = (zs.first(), zs.last()) {
                    seen[class as usize] = true;
                    // 3-D continuity: no gap, and (except the thin subarachnoid streaks) more
                    // than one slice.
                    assert_eq!(
                        last - first + 1,
                        zs.len(),
                        "case {case} class {class}: {zs:?}"
                    );
                    if class != SUBARACHNOID {
                        assert!(zs.len() >= 2, "case {case} class {class}: {zs:?}");
                    }
                }
            }
            assert!(labels.data.iter().all(|&l| l <= SUBDURAL));
        }
        assert!(seen[1..].iter().all(|&s| s), "classes seen: {seen:?}");
        assert!(lesion_counts.contains(&0) || lesion_counts.iter().any(|&c| c >= 2));
    }

    #[test]
    fn hounsfield_units_are_plausible() {
        for case in 0..6 {
            let (image, labels) = brain_ct_case(case, 21);
            let min = image.data.iter().copied().fold(f32::MAX, f32::min);
            let max = image.data.iter().copied().fold(f32::MIN, f32::max);
            assert!((HU_MIN..-900.0).contains(&min), "case {case}: min {min}");
            assert!(max > 900.0 && max <= 3071.0, "case {case}: max {max}");
            // Corner voxels are air.
            assert!(image.data[0] < -900.0);
            // Blood is denser than brain but far below bone (the median, since voxels that
            // touch the skull take some bone by partial volume).
            for class in 1..=5u8 {
                if let Some(median) = median_where(&image, &labels, class) {
                    assert!(
                        (35.0..95.0).contains(&median),
                        "case {case} class {class}: {median}"
                    );
                }
            }
            // Tissue beside the centre of the middle slice is brain or CSF.
            let z = image.dims[2] / 2;
            let centre: Vec<f32> = (60..68)
                .flat_map(|y| (40..48).map(move |x| (x, y)))
                .map(|(x, y)| image.get(x, y, z))
                .collect();
            let mean = centre.iter().sum::<f32>() / centre.len() as f32;
            assert!((-5.0..60.0).contains(&mean), "case {case}: {mean}");
        }
    }
}
