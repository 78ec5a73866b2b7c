//! Short-axis cardiac cine-MRI phantom standing in for ACDC: a seeded, deterministic
//! generator of one volume (image in arbitrary MRI units, label map with ACDC's classes
//! 0 background, 1 RV, 2 Myo, 3 LV) per `(case, seed)`.
//!
//! Geometry: 128×128 voxels of 1.5 mm in-plane, 8–11 slices of 10 mm; slice 0 is basal,
//! the last slice apical. The left ventricle is a truncated ellipsoid of revolution (blood pool
//! ringed by a myocardium whose thickness varies with angle), the right ventricle a crescent
//! wrapped around the septum that vanishes before the apex. ACDC's five groups (NOR, DCM, HCM,
//! MINF, RV) set the sizes; end-systole contracts the blood pools with the myocardial area kept.
//! Around the heart: body outline with subcutaneous fat and chest-wall muscle, lungs with
//! vessels, descending aorta, spine, liver towards the apex, atria above the base, and
//! pericardial fat that is as bright as blood. Papillary muscles (dark) sit inside the LV pool
//! and are labelled LV, as in ACDC; the RV free wall looks like myocardium and is background.
//!
//! Image formation: 5 samples per voxel (centre plus four diagonal samples spread through the
//! slab) for partial volume, per-tissue texture, a smooth multiplicative bias field, a 3-tap
//! point-spread blur in-plane, then Rician noise. Labels come from the voxel centre.

use std::f32::consts::PI;

use super::random::{Purpose, SmoothField, chance, int, normal_pair, stream, uniform};
use super::{PARTIAL_VOLUME_OFFSETS, assemble, blur_in_plane};
use crate::Volume;

/// Label of the right-ventricular cavity.
pub const RV: u8 = 1;
/// Label of the left-ventricular myocardium.
pub const MYO: u8 = 2;
/// Label of the left-ventricular cavity (papillary muscles included).
pub const LV: u8 = 3;
/// ACDC's class names, indexed by label.
pub const CARDIAC_CLASS_NAMES: [&str; 4] = ["background", "RV", "Myo", "LV"];

/// In-plane size in voxels.
pub const CARDIAC_SIZE: usize = 128;
/// Voxel spacing in mm (x, y, z).
pub const CARDIAC_SPACING: [f32; 3] = [1.5, 1.5, 10.0];

/// Stream tag of this task, so cardiac and brain phantoms never share random numbers.
const TASK: u64 = 0xCA4D_1AC0;

/// The cardiac phase a frame shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// End-diastole: largest cavities (ACDC's `ED` frame).
    EndDiastole,
    /// End-systole: smallest cavities, thickest myocardium (ACDC's `ES` frame).
    EndSystole,
}

/// ACDC's diagnostic groups; each sets the phantom's sizes and contraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardiacGroup {
    /// Normal.
    Nor,
    /// Dilated cardiomyopathy: large LV, thin wall, weak contraction.
    Dcm,
    /// Hypertrophic cardiomyopathy: small LV, thick wall, strong contraction.
    Hcm,
    /// Myocardial infarction: a thinned, akinetic wall sector, weak contraction.
    Minf,
    /// Abnormal right ventricle: dilated RV.
    Arv,
}

impl CardiacGroup {
    /// The group's name as ACDC's `Info.cfg` writes it.
    pub fn acdc_name(self) -> &'static str {
        match self {
            Self::Nor => "NOR",
            Self::Dcm => "DCM",
            Self::Hcm => "HCM",
            Self::Minf => "MINF",
            Self::Arv => "RV",
        }
    }
}

/// What ACDC's `Info.cfg` says about a patient, for the phantom patient `(case, seed)`.
#[derive(Clone, Debug, PartialEq)]
pub struct CardiacInfo {
    pub group: CardiacGroup,
    /// Number of slices of every frame.
    pub slices: usize,
    /// Frames in the (notional) cine series; end-diastole is frame 1.
    pub frames: usize,
    /// The end-systolic frame number (1-based).
    pub es_frame: usize,
    pub height_cm: f32,
    pub weight_kg: f32,
}

/// Info about phantom patient `(case, seed)` without rendering it.
pub fn cardiac_info(case: usize, seed: u64) -> CardiacInfo {
    Anatomy::draw(case, seed).info
}

/// The end-diastolic frame of phantom patient `(case, seed)`: `(image, labels)`.
pub fn cardiac_case(case: usize, seed: u64) -> (Volume<f32>, Volume<u8>) {
    cardiac_frame(case, seed, Phase::EndDiastole)
}

/// One frame of phantom patient `(case, seed)`: `(image, labels)`. Both phases share the
/// patient's anatomy; the noise differs.
pub fn cardiac_frame(case: usize, seed: u64, phase: Phase) -> (Volume<f32>, Volume<u8>) {
    let anatomy = Anatomy::draw(case, seed);
    let mut noise_rng = stream(TASK, case, seed, Purpose::Noise, phase as u64);
    anatomy.render(phase, &mut noise_rng)
}

/// Tissue classes that set a sample's intensity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tissue {
    Air,
    Fat,
    Muscle,
    Mediastinum,
    Lung,
    LungVessel,
    Myocardium,
    Blood,
    RvBlood,
    Liver,
    Spine,
}

const TISSUES: usize = 11;

/// A closed contour `r(θ) = r0 · (1 + a2 cos(2θ − φ2) + a3 cos(3θ − φ3))`, angles measured from
/// the heart's reference direction (towards the RV), evaluated from `(cos θ, sin θ)` without trig.
#[derive(Clone, Copy, Debug)]
struct Harmonics {
    a1: [f32; 2],
    a2: [f32; 2],
    a3: [f32; 2],
}

impl Harmonics {
    fn sample(rng: &mut super::random::PhantomRng, first: f32, second: f32, third: f32) -> Self {
        let mut term = |amp: f32| {
            let a = uniform(rng, -amp, amp);
            let phase = uniform(rng, 0.0, 2.0 * PI);
            [a * phase.cos(), a * phase.sin()]
        };
        Self {
            a1: term(first),
            a2: term(second),
            a3: term(third),
        }
    }

    /// `1 + Σ a_k cos(kθ − φ_k)` at the direction `(c, s) = (cos θ, sin θ)`.
    fn factor(&self, c: f32, s: f32) -> f32 {
        let (c2, s2) = (c * c - s * s, 2.0 * c * s);
        let (c3, s3) = (c * (4.0 * c * c - 3.0), s * (3.0 - 4.0 * s * s));
        1.0 + self.a1[0] * c
            + self.a1[1] * s
            + self.a2[0] * c2
            + self.a2[1] * s2
            + self.a3[0] * c3
            + self.a3[1] * s3
    }
}

/// An angular sector `θ0 ± half_width`; `weight` is 1 at its centre, 0 at and beyond its edges.
#[derive(Clone, Copy, Debug)]
struct Sector {
    centre: [f32; 2],
    cos_half_width: f32,
}

impl Sector {
    fn new(angle: f32, half_width: f32) -> Self {
        Self {
            centre: [angle.cos(), angle.sin()],
            cos_half_width: half_width.min(PI).cos(),
        }
    }

    fn weight(&self, c: f32, s: f32) -> f32 {
        let cos_delta = c * self.centre[0] + s * self.centre[1];
        ((cos_delta - self.cos_half_width) / (1.0 - self.cos_half_width)).max(0.0)
    }
}

/// A disc in image coordinates (voxels).
#[derive(Clone, Copy, Debug)]
struct Disc {
    centre: [f32; 2],
    radius: f32,
}

impl Disc {
    fn contains(&self, x: f32, y: f32) -> bool {
        let (dx, dy) = (x - self.centre[0], y - self.centre[1]);
        dx * dx + dy * dy < self.radius * self.radius
    }
}

/// An axis-aligned ellipse in image coordinates; `rho2` < 1 inside.
#[derive(Clone, Copy, Debug)]
struct Ellipse {
    centre: [f32; 2],
    semi: [f32; 2],
}

impl Ellipse {
    fn rho2(&self, x: f32, y: f32) -> f32 {
        let u = (x - self.centre[0]) / self.semi[0];
        let v = (y - self.centre[1]) / self.semi[1];
        u * u + v * v
    }
}

/// Everything about one phantom patient that does not depend on the phase or the noise.
struct Anatomy {
    info: CardiacInfo,
    /// Continuous slice position of the base (t = 0) and base-to-apex length, in slices.
    base_z: f32,
    length: f32,
    /// LV centre at the base and its drift from base to apex (voxels).
    lv_centre: [f32; 2],
    lv_drift: [f32; 2],
    /// Direction from the LV centre towards the RV (radians, image coordinates).
    rv_direction: f32,
    /// ED cavity radius and wall thickness at the base (voxels).
    endo_radius: f32,
    wall: f32,
    /// Epicardial radius at t is `epi0 · sqrt(1 − (apex_k · t)²)`.
    apex_k: f32,
    epi_shape: Harmonics,
    wall_shape: Harmonics,
    /// Thinned infarct sector and its thickness factor.
    infarct: Option<(Sector, f32)>,
    /// Endocardial trabeculation: two `(amplitude as a fraction of the radius, angular
    /// frequency, phase)` ripples.
    trabeculae: [(f32, f32, f32); 2],
    /// Fraction of the ED cavity radius lost at ES (LV, RV).
    contraction: [f32; 2],
    /// RV: centre offset, radial and tangential semi-axes (fractions of the base epicardial
    /// radius), free-wall thickness (voxels), and the t where it ends.
    rv_offset: f32,
    rv_radial: f32,
    rv_tangential: f32,
    rv_wall: f32,
    rv_end: f32,
    /// Papillary muscles: angle from the RV direction, distance and radius as cavity fractions.
    papillaries: Vec<(f32, f32, f32)>,
    /// Pericardial fat: sector and thickness (voxels).
    fat_sector: Sector,
    fat_thickness: f32,
    body: Ellipse,
    subcutaneous: f32,
    chest_wall: f32,
    lungs: [Ellipse; 2],
    lung_vessels: Vec<Disc>,
    aorta: Disc,
    spine: Disc,
    /// Liver ellipse at full size and the t where it appears.
    liver: Ellipse,
    liver_start: f32,
    intensity: [f32; TISSUES],
    texture_amplitude: [f32; TISSUES],
    texture: SmoothField,
    /// Bias field `exp(b · [X, Y, X², Y², XY, Z])` with X, Y in [−1, 1] over the image.
    bias: [f32; 6],
    noise_sigma: f32,
}

/// The geometry of one slice position.
struct SliceGeometry {
    centre: [f32; 2],
    /// Heart frame: unit vector towards the RV.
    axis: [f32; 2],
    /// LV epicardial radius, wall thickness (before the angular factors); `None` outside the heart.
    lv: Option<(f32, f32)>,
    /// RV ellipse in the heart frame: centre offset along the axis, radial and tangential
    /// semi-axes, free-wall thickness.
    rv: Option<[f32; 4]>,
    papillaries: Vec<Disc>,
    /// Above the base: atrial and great-vessel blood pools (with walls).
    atria: Vec<Disc>,
    liver: Option<Ellipse>,
    lung_scale: f32,
}

impl Anatomy {
    fn draw(case: usize, seed: u64) -> Self {
        let mut rng = stream(TASK, case, seed, Purpose::Anatomy, 0);
        let rng = &mut rng;
        // Step 1: the patient as ACDC's Info.cfg describes it: group, slices, frames, ES frame,
        // height, weight.
        let group = match int(rng, 0, 4) {
            0 => CardiacGroup::Nor,
            1 => CardiacGroup::Dcm,
            2 => CardiacGroup::Hcm,
            3 => CardiacGroup::Minf,
            _ => CardiacGroup::Arv,
        };
        let slices = int(rng, 8, 11) as usize;
        let frames = int(rng, 20, 35) as usize;
        let es_frame = int(rng, 8, 15) as usize;
        let height_cm = uniform(rng, 150.0, 195.0);
        let weight_kg = uniform(rng, 50.0, 110.0);

        // Step 2: the group sets the LV's size, wall and contraction and the RV's size and
        // contraction; MINF adds a thinned infarct sector.
        // (cavity radius, wall thickness, LV contraction, RV scale, RV contraction)
        let (endo_radius, wall, lv_contraction, rv_scale, rv_contraction) = match group {
            CardiacGroup::Nor => (
                uniform(rng, 14.5, 17.5),
                uniform(rng, 4.8, 6.2),
                uniform(rng, 0.3, 0.4),
                1.0,
                uniform(rng, 0.25, 0.35),
            ),
            CardiacGroup::Dcm => (
                uniform(rng, 19.0, 23.0),
                uniform(rng, 3.5, 4.5),
                uniform(rng, 0.06, 0.15),
                uniform(rng, 1.0, 1.15),
                uniform(rng, 0.1, 0.25),
            ),
            CardiacGroup::Hcm => (
                uniform(rng, 11.5, 14.5),
                uniform(rng, 7.5, 10.5),
                uniform(rng, 0.4, 0.5),
                uniform(rng, 0.85, 1.0),
                uniform(rng, 0.25, 0.35),
            ),
            CardiacGroup::Minf => (
                uniform(rng, 16.5, 20.0),
                uniform(rng, 4.5, 5.5),
                uniform(rng, 0.08, 0.2),
                1.0,
                uniform(rng, 0.2, 0.3),
            ),
            CardiacGroup::Arv => (
                uniform(rng, 13.5, 16.5),
                uniform(rng, 4.8, 6.0),
                uniform(rng, 0.3, 0.4),
                uniform(rng, 1.2, 1.35),
                uniform(rng, 0.08, 0.18),
            ),
        };
        let infarct = (group == CardiacGroup::Minf).then(|| {
            (
                Sector::new(uniform(rng, 0.0, 2.0 * PI), uniform(rng, 0.6, 1.2)),
                uniform(rng, 0.4, 0.6),
            )
        });

        // Step 3: where the heart lies: base and length along z (in slices), LV centre and its
        // drift to the apex, the RV's direction, the papillary muscles.
        // Slice 0 either lies above the base (atria) or just below it.
        let base_z = if chance(rng, 0.5) {
            uniform(rng, 0.55, 0.9)
        } else {
            uniform(rng, -0.45, -0.1)
        };
        let length = (slices as f32 - 1.0) - base_z + uniform(rng, -0.9, 0.4);

        let lv_centre = [
            64.0 + uniform(rng, 2.0, 12.0),
            64.0 + uniform(rng, -8.0, 8.0),
        ];
        let lv_drift = [uniform(rng, -6.0, 6.0), uniform(rng, -6.0, 6.0)];
        let rv_direction = PI + uniform(rng, -0.6, 0.6);
        let papillaries = (0..int(rng, 1, 2))
            .map(|i| {
                let side = if i == 0 { -1.0 } else { 1.0 };
                (
                    PI + side * uniform(rng, 0.6, 1.1),
                    uniform(rng, 0.55, 0.7),
                    uniform(rng, 0.14, 0.24),
                )
            })
            .collect();

        // Step 4: the surroundings, in image voxels: body, a lung on each side of the heart with
        // vessels, spine, aorta beside it, and the liver (seen towards the apex).
        let epi0 = endo_radius + wall;
        let body = Ellipse {
            centre: [
                64.0 + uniform(rng, -3.0, 3.0),
                66.0 + uniform(rng, -3.0, 3.0),
            ],
            semi: [uniform(rng, 60.0, 72.0), uniform(rng, 46.0, 54.0)],
        };
        let lung_semi = |rng: &mut _| [uniform(rng, 14.0, 20.0), uniform(rng, 24.0, 32.0)];
        let (left_semi, right_semi) = (lung_semi(rng), lung_semi(rng));
        let rv_reach = (0.65 + 0.95 * rv_scale) * epi0;
        let lungs = [
            // Left lung, hugging the LV's lateral wall (image right).
            Ellipse {
                centre: [
                    lv_centre[0] + epi0 + left_semi[0] + uniform(rng, 1.0, 5.0),
                    lv_centre[1] + uniform(rng, -4.0, 8.0),
                ],
                semi: left_semi,
            },
            // Right lung, beyond the RV (image left).
            Ellipse {
                centre: [
                    lv_centre[0] - rv_reach - right_semi[0] - uniform(rng, 2.0, 8.0),
                    lv_centre[1] + uniform(rng, 0.0, 10.0),
                ],
                semi: right_semi,
            },
        ];
        let lung_vessels = lungs
            .iter()
            .flat_map(|lung| {
                (0..10)
                    .map(|_| {
                        let angle = uniform(rng, 0.0, 2.0 * PI);
                        let reach = uniform(rng, 0.0, 0.85);
                        Disc {
                            centre: [
                                lung.centre[0] + reach * lung.semi[0] * angle.cos(),
                                lung.centre[1] + reach * lung.semi[1] * angle.sin(),
                            ],
                            radius: uniform(rng, 0.7, 1.8),
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let spine = Disc {
            centre: [
                body.centre[0] + uniform(rng, -3.0, 3.0),
                body.centre[1] + body.semi[1] - 14.0,
            ],
            radius: uniform(rng, 8.0, 11.0),
        };
        let aorta = Disc {
            centre: [
                spine.centre[0] + uniform(rng, 10.0, 16.0),
                spine.centre[1] - uniform(rng, 10.0, 14.0),
            ],
            radius: uniform(rng, 5.0, 7.0),
        };
        let liver = Ellipse {
            centre: [
                lv_centre[0] - uniform(rng, 10.0, 25.0),
                lv_centre[1] + epi0 + uniform(rng, 12.0, 22.0),
            ],
            semi: [uniform(rng, 32.0, 44.0), uniform(rng, 20.0, 28.0)],
        };

        // Step 5: appearance, indexed by `Tissue as usize`: mean intensities (bright blood and fat,
        // dark myocardium) under one gain, texture amplitudes and field, bias-field coefficients.
        let blood = uniform(rng, 560.0, 720.0);
        let mut intensity = [0.0; TISSUES];
        intensity[Tissue::Air as usize] = 0.0;
        intensity[Tissue::Fat as usize] = uniform(rng, 520.0, 700.0);
        intensity[Tissue::Muscle as usize] = uniform(rng, 150.0, 220.0);
        intensity[Tissue::Mediastinum as usize] = uniform(rng, 230.0, 340.0);
        intensity[Tissue::Lung as usize] = uniform(rng, 20.0, 60.0);
        intensity[Tissue::LungVessel as usize] = uniform(rng, 200.0, 320.0);
        intensity[Tissue::Myocardium as usize] = uniform(rng, 150.0, 240.0);
        intensity[Tissue::Blood as usize] = blood;
        intensity[Tissue::RvBlood as usize] = blood * uniform(rng, 0.82, 1.0);
        intensity[Tissue::Liver as usize] = uniform(rng, 220.0, 320.0);
        intensity[Tissue::Spine as usize] = uniform(rng, 300.0, 420.0);
        let gain = uniform(rng, 0.75, 1.1);
        for value in &mut intensity {
            *value *= gain;
        }
        let mut texture_amplitude = [0.0; TISSUES];
        for (tissue, amplitude) in [
            (Tissue::Fat, 0.08),
            (Tissue::Muscle, 0.1),
            (Tissue::Mediastinum, 0.15),
            (Tissue::Lung, 0.3),
            (Tissue::LungVessel, 0.1),
            (Tissue::Myocardium, 0.07),
            (Tissue::Blood, 0.08),
            (Tissue::RvBlood, 0.1),
            (Tissue::Liver, 0.1),
            (Tissue::Spine, 0.15),
        ] {
            texture_amplitude[tissue as usize] = amplitude;
        }
        let texture = SmoothField::new(rng, 8, 4.0, 24.0, 0.6);
        let bias = [
            uniform(rng, -0.2, 0.2),
            uniform(rng, -0.2, 0.2),
            uniform(rng, -0.15, 0.15),
            uniform(rng, -0.15, 0.15),
            uniform(rng, -0.15, 0.15),
            uniform(rng, -0.1, 0.1),
        ];

        // Step 6: the remaining parameters are drawn inside the literal, in field order; the order
        // of draws fixes every later random number.
        Self {
            info: CardiacInfo {
                group,
                slices,
                frames,
                es_frame,
                height_cm,
                weight_kg,
            },
            base_z,
            length,
            lv_centre,
            lv_drift,
            rv_direction,
            endo_radius,
            wall,
            apex_k: uniform(rng, 0.88, 0.96),
            epi_shape: Harmonics::sample(rng, 0.03, 0.07, 0.04),
            wall_shape: Harmonics::sample(rng, 0.18, 0.12, 0.0),
            infarct,
            trabeculae: [
                (
                    uniform(rng, 0.01, 0.03),
                    int(rng, 5, 9) as f32,
                    uniform(rng, 0.0, 2.0 * PI),
                ),
                (
                    uniform(rng, 0.01, 0.025),
                    int(rng, 11, 17) as f32,
                    uniform(rng, 0.0, 2.0 * PI),
                ),
            ],
            contraction: [lv_contraction, rv_contraction],
            rv_offset: uniform(rng, 0.55, 0.75),
            rv_radial: uniform(rng, 0.85, 1.05) * rv_scale,
            rv_tangential: uniform(rng, 1.25, 1.5) * rv_scale,
            rv_wall: uniform(rng, 1.5, 2.5),
            rv_end: uniform(rng, 0.6, 0.85),
            papillaries,
            fat_sector: Sector::new(uniform(rng, -1.2, 1.2), uniform(rng, 0.6, 1.4)),
            fat_thickness: uniform(rng, 1.5, 3.5),
            body,
            subcutaneous: uniform(rng, 3.0, 6.0),
            chest_wall: uniform(rng, 3.0, 5.0),
            lungs,
            lung_vessels,
            aorta,
            spine,
            liver,
            liver_start: uniform(rng, 0.4, 0.75),
            intensity,
            texture_amplitude,
            texture,
            bias,
            noise_sigma: uniform(rng, 12.0, 35.0) * gain,
        }
    }

    /// The slice geometry at continuous slice position `z` (slice centres are integers).
    fn geometry(&self, z: f32, phase: Phase) -> SliceGeometry {
        // Step 1: t = depth along the LV, 0 at the base and 1 at the apex (shortened at ES); the
        // centre drifts with t clamped to the heart.
        let systole = phase == Phase::EndSystole;
        // The base descends towards the apex at end-systole.
        let length = if systole {
            self.length * 0.92
        } else {
            self.length
        };
        let base_z = if systole {
            self.base_z + 0.08 * self.length
        } else {
            self.base_z
        };
        let t = (z - base_z) / length;
        let tc = t.clamp(0.0, 1.0);
        let centre = [
            self.lv_centre[0] + self.lv_drift[0] * tc,
            self.lv_centre[1] + self.lv_drift[1] * tc,
        ];
        let axis = [self.rv_direction.cos(), self.rv_direction.sin()];
        let epi0 = self.endo_radius + self.wall;

        // Step 2: inside the heart, the LV's epicardial radius tapers like an ellipsoid towards the
        // apex; at ES the cavity contracts and the wall thickens to keep the area.
        let mut lv = None;
        let mut rv = None;
        let mut papillaries = Vec::new();
        let mut atria = Vec::new();
        if (0.0..=1.0).contains(&t) {
            let mut epi = epi0 * (1.0 - (self.apex_k * t).powi(2)).sqrt();
            let mut wall = self.wall * (1.0 - 0.25 * t);
            let mut cavity = (epi - wall).max(0.0);
            if systole {
                // Myocardial area is conserved while the cavity contracts.
                let contracted = cavity * (1.0 - self.contraction[0]);
                epi = (contracted * contracted + epi * epi - cavity * cavity).sqrt();
                wall = epi - contracted;
                cavity = contracted;
            }
            lv = Some((epi, wall));
            // Step 3: papillary muscles in the mid-ventricle, discs placed and sized as fractions
            // of the cavity radius (larger at ES).
            if (0.15..=0.85).contains(&t) && cavity > 3.0 {
                let scale = if systole { 1.3 } else { 1.0 };
                for &(angle, distance, radius) in &self.papillaries {
                    let a = self.rv_direction + angle;
                    papillaries.push(Disc {
                        centre: [
                            centre[0] + distance * cavity * a.cos(),
                            centre[1] + distance * cavity * a.sin(),
                        ],
                        radius: radius * cavity * scale,
                    });
                }
            }
            // Step 4: the RV, [offset, radial, tangential, wall], until `rv_end`: its ellipse
            // shrinks like an ellipsoid towards that end, and at ES by the RV contraction.
            if t < self.rv_end {
                let mut scale = (1.0 - (t / self.rv_end).powi(2)).sqrt();
                if systole {
                    scale *= 1.0 - self.contraction[1];
                }
                rv = Some([
                    self.rv_offset * epi,
                    self.rv_radial * epi0 * scale,
                    self.rv_tangential * epi0 * scale,
                    self.rv_wall,
                ]);
            }
        } else if t < 0.0 && t > -0.6 {
            // Step 5: above the base: left atrium (posterior), aortic root, right atrium.
            let place = |angle: f32, distance: f32, radius: f32| {
                let a = self.rv_direction + angle;
                Disc {
                    centre: [
                        centre[0] + distance * epi0 * a.cos(),
                        centre[1] + distance * epi0 * a.sin(),
                    ],
                    radius: radius * epi0,
                }
            };
            atria.push(place(PI, 0.35, 0.8));
            atria.push(place(-1.0, 0.45, 0.42));
            atria.push(place(0.2, 1.25, 0.7));
        }

        // Step 6: the liver grows in past `liver_start` towards the apex; the lungs shrink by up to
        // 30 % towards the apex.
        let liver = (t > self.liver_start).then(|| {
            let grow = ((t - self.liver_start) / (1.3 - self.liver_start))
                .clamp(0.0, 1.0)
                .sqrt();
            Ellipse {
                centre: self.liver.centre,
                semi: [self.liver.semi[0] * grow, self.liver.semi[1] * grow],
            }
        });
        SliceGeometry {
            centre,
            axis,
            lv,
            rv,
            papillaries,
            atria,
            liver,
            lung_scale: 1.0 - 0.3 * tc,
        }
    }

    /// The tissue and label at image position `(x, y)` of slice geometry `g`.
    /// Structures are tested from the heart outwards, and the first that holds the point wins.
    fn tissue_at(&self, g: &SliceGeometry, x: f32, y: f32) -> (Tissue, u8) {
        // Step 1: polar coordinates about the LV centre: radius r, direction (c, s) = (cos, sin).
        let (dx, dy) = (x - g.centre[0], y - g.centre[1]);
        // Heart frame: u along the RV direction, v across it.
        let u = dx * g.axis[0] + dy * g.axis[1];
        let v = -dx * g.axis[1] + dy * g.axis[0];
        let r = (u * u + v * v).sqrt();
        let (c, s) = if r > 1e-4 { (u / r, v / r) } else { (1.0, 0.0) };

        // Step 2: LV: inside the epicardium, the smooth endocardium sets the label (LV or Myo),
        // the rough one and the papillary muscles the tissue (blood or myocardium).
        let mut epi_here = 0.0;
        if let Some((epi, wall)) = g.lv {
            epi_here = epi * self.epi_shape.factor(c, s);
            let mut wall_here = wall * self.wall_shape.factor(c, s);
            if let Some((sector, thinning)) = &self.infarct {
                wall_here *= 1.0 - (1.0 - thinning) * sector.weight(c, s).sqrt();
            }
            let cavity = (epi_here - wall_here).max(0.0);
            if r < epi_here {
                let label = if r < cavity { LV } else { MYO };
                // Trabeculae roughen the visible endocardium; the label follows the smooth contour.
                let rough = if (r - cavity).abs() < 2.5 {
                    let angle = v.atan2(u);
                    let ripple: f32 = self
                        .trabeculae
                        .iter()
                        .map(|(amp, freq, phase)| amp * (freq * angle + phase).sin())
                        .sum();
                    cavity * (1.0 + ripple)
                } else {
                    cavity
                };
                let tissue = if r < rough && !g.papillaries.iter().any(|p| p.contains(x, y)) {
                    Tissue::Blood
                } else {
                    Tissue::Myocardium
                };
                return (tissue, label);
            }
        }
        // Step 3: RV: an ellipse offset along the axis, blood (label RV) inside a free wall of
        // myocardium (background); note whether the point lies in the fat around it.
        let mut in_rv_outer = false;
        if let Some([offset, radial, tangential, wall]) = g.rv {
            let ru = (u - offset) / radial;
            let rv_ = v / tangential;
            let outer = ru * ru + rv_ * rv_;
            if outer < 1.0 {
                let ci = (u - offset) / (radial - wall).max(0.1);
                let cv = v / (tangential - wall).max(0.1);
                return if ci * ci + cv * cv < 1.0 {
                    (Tissue::RvBlood, RV)
                } else {
                    (Tissue::Myocardium, 0)
                };
            }
            let fat = self.fat_thickness * self.fat_sector.weight(c, s);
            if fat > 0.0 {
                let fu = (u - offset) / (radial + fat);
                let fv = v / (tangential + fat);
                in_rv_outer = fu * fu + fv * fv < 1.0;
            }
        }
        // Step 4: pericardial fat around the LV and the RV, in the fat sector.
        if g.lv.is_some() {
            let fat = self.fat_thickness * self.fat_sector.weight(c, s);
            if in_rv_outer || r < epi_here + fat {
                return (Tissue::Fat, 0);
            }
        }
        // Step 5: outside the ventricles: atria and aortic root (blood in a wall), aorta, spine,
        // liver.
        for (i, atrium) in g.atria.iter().enumerate() {
            let (ax, ay) = (x - atrium.centre[0], y - atrium.centre[1]);
            let d = (ax * ax + ay * ay).sqrt();
            if d < atrium.radius {
                let wall = if i == 0 { 1.5 } else { 1.2 };
                let tissue = if d < atrium.radius - wall {
                    Tissue::Blood
                } else {
                    Tissue::Myocardium
                };
                return (tissue, 0);
            }
        }
        if self.aorta.contains(x, y) {
            return (Tissue::Blood, 0);
        }
        if self.spine.contains(x, y) {
            return (Tissue::Spine, 0);
        }
        if let Some(liver) = &g.liver
            && liver.rho2(x, y) < 1.0
        {
            return (Tissue::Liver, 0);
        }
        // Step 6: the body wall: air outside, then subcutaneous fat and chest-wall muscle.
        let body_rho2 = self.body.rho2(x, y);
        if body_rho2 >= 1.0 {
            return (Tissue::Air, 0);
        }
        // Depth below the skin, approximated along the ellipse's normalised radius.
        let depth = (1.0 - body_rho2.sqrt()) * self.body.semi[1];
        if depth < self.subcutaneous {
            return (Tissue::Fat, 0);
        }
        if depth < self.subcutaneous + self.chest_wall {
            return (Tissue::Muscle, 0);
        }
        // Step 7: lungs (smaller towards the apex) with their vessels; all else is mediastinum.
        for lung in &self.lungs {
            let scaled = Ellipse {
                centre: lung.centre,
                semi: [lung.semi[0] * g.lung_scale, lung.semi[1] * g.lung_scale],
            };
            if scaled.rho2(x, y) < 1.0 {
                let vessel = self.lung_vessels.iter().any(|d| d.contains(x, y));
                return (
                    if vessel {
                        Tissue::LungVessel
                    } else {
                        Tissue::Lung
                    },
                    0,
                );
            }
        }
        (Tissue::Mediastinum, 0)
    }

    /// Renders one phase: per voxel the mean intensity of the partial-volume samples and the
    /// centre sample's label, then bias, blur and Rician noise. Both volumes are [z][y][x],
    /// dims `[n, n, nz]`.
    fn render(
        &self,
        phase: Phase,
        noise_rng: &mut super::random::PhantomRng,
    ) -> (Volume<f32>, Volume<u8>) {
        // Step 1: both volumes flattened [z][y][x] (x fastest): voxel (i, j, z) at z·n² + j·n + i.
        let n = CARDIAC_SIZE;
        let nz = self.info.slices;
        let mut image = vec![0.0f32; n * n * nz];
        let mut labels = vec![0u8; n * n * nz];
        let half = n as f32 / 2.0;
        for z in 0..nz {
            // Step 2: one slice geometry per partial-volume sample, at its offset through the slab.
            let geometries: Vec<SliceGeometry> = PARTIAL_VOLUME_OFFSETS
                .iter()
                .map(|o| self.geometry(z as f32 + o[2], phase))
                .collect();
            let slice_image = &mut image[z * n * n..(z + 1) * n * n];
            let slice_labels = &mut labels[z * n * n..(z + 1) * n * n];
            // Step 3: per voxel, the mean textured intensity of the 5 samples; the label is the
            // centre sample's.
            for j in 0..n {
                for i in 0..n {
                    let (x, y) = (i as f32 + 0.5, j as f32 + 0.5);
                    let texture = self.texture.at(x, y, z as f32);
                    let mut sum = 0.0;
                    for (k, (offset, g)) in
                        PARTIAL_VOLUME_OFFSETS.iter().zip(&geometries).enumerate()
                    {
                        let (tissue, label) = self.tissue_at(g, x + offset[0], y + offset[1]);
                        if k == 0 {
                            slice_labels[j * n + i] = label;
                        }
                        let t = tissue as usize;
                        sum += self.intensity[t] * (1.0 + self.texture_amplitude[t] * texture);
                    }
                    // Step 4: times the smooth bias field, with X, Y, Z in [−1, 1] over the volume.
                    let (bx, by) = ((x - half) / half, (y - half) / half);
                    let bz = (z as f32 + 0.5) / nz as f32 * 2.0 - 1.0;
                    let b = &self.bias;
                    let bias = (b[0] * bx
                        + b[1] * by
                        + b[2] * bx * bx
                        + b[3] * by * by
                        + b[4] * bx * by
                        + b[5] * bz)
                        .exp();
                    slice_image[j * n + i] = sum / PARTIAL_VOLUME_OFFSETS.len() as f32 * bias;
                }
            }
            // Step 5: the point-spread blur in-plane, then the noise.
            blur_in_plane(slice_image, n, n);
            // Rician noise: the magnitude of a complex signal with Gaussian noise in both channels.
            for value in slice_image.iter_mut() {
                let (re, im) = normal_pair(noise_rng);
                let real = *value + self.noise_sigma * re;
                let imaginary = self.noise_sigma * im;
                *value = (real * real + imaginary * imaginary).sqrt();
            }
        }
        // Step 6: both as volumes of dims [x, y, z] with the phantom's spacing.
        let dims = [n, n, nz];
        (
            assemble(image, dims, CARDIAC_SPACING),
            assemble(labels, dims, CARDIAC_SPACING),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class_fraction(labels: &Volume<u8>, class: u8) -> f32 {
        labels.data.iter().filter(|&&l| l == class).count() as f32 / labels.data.len() as f32
    }

    fn slice_has(labels: &Volume<u8>, z: usize, class: u8) -> bool {
        labels.slice(z).contains(&class)
    }

    #[test]
    fn same_case_and_seed_give_identical_volumes() {
        let (a_image, a_labels) = cardiac_case(3, 42);
        let (b_image, b_labels) = cardiac_case(3, 42);
        assert_eq!(a_image.data, b_image.data);
        assert_eq!(a_labels.data, b_labels.data);
    }

    #[test]
    fn different_seeds_or_cases_differ() {
        let (a, a_labels) = cardiac_case(3, 42);
        let (b, b_labels) = cardiac_case(3, 43);
        let (c, _) = cardiac_case(4, 42);
        assert_ne!(a.data, b.data);
        assert_ne!(a_labels.data, b_labels.data);
        assert_ne!(a.data, c.data);
    }

    #[test]
    fn geometry_and_labels_are_acdc_like() {
        for case in 0..12 {
            let (image, labels) = cardiac_case(case, 7);
            let [nx, ny, nz] = image.dims;
            assert_eq!((nx, ny), (CARDIAC_SIZE, CARDIAC_SIZE));
            assert!((8..=11).contains(&nz), "case {case}: {nz} slices");
            assert_eq!(labels.dims, image.dims);
            assert_eq!(image.spacing, CARDIAC_SPACING);
            assert!(labels.data.iter().all(|&l| l <= LV));
            for class in [RV, MYO, LV] {
                let f = class_fraction(&labels, class);
                assert!(
                    f > 0.002 && f < 0.12,
                    "case {case}: class {class} fraction {f}"
                );
            }
            // The myocardium reaches further towards the apex than the RV does.
            let last_myo = (0..nz).rev().find(|&z| slice_has(&labels, z, MYO)).unwrap();
            let last_rv = (0..nz).rev().find(|&z| slice_has(&labels, z, RV)).unwrap();
            assert!(
                last_rv < last_myo,
                "case {case}: RV until {last_rv}, Myo until {last_myo}"
            );
            // Where the LV cavity is labelled, it is ringed by myocardium.
            for z in 0..nz {
                if slice_has(&labels, z, LV) {
                    assert!(slice_has(&labels, z, MYO), "case {case} slice {z}");
                }
            }
            // Structures shrink from base to apex.
            let area = |z: usize| {
                labels
                    .slice(z)
                    .iter()
                    .filter(|&&l| l == MYO || l == LV)
                    .count()
            };
            let first = (0..nz).find(|&z| area(z) > 0).unwrap();
            assert!(area(first) > area(last_myo), "case {case}");
        }
    }

    #[test]
    fn intensities_look_like_bssfp() {
        for case in 0..6 {
            let (image, labels) = cardiac_case(case, 11);
            assert!(image.data.iter().all(|v| v.is_finite() && *v >= 0.0));
            let max = image.data.iter().copied().fold(0.0f32, f32::max);
            assert!(max < 2000.0, "case {case}: max {max}");
            let mean_of = |class: u8| {
                let (sum, count) = image
                    .data
                    .iter()
                    .zip(&labels.data)
                    .filter(|(_, l)| **l == class)
                    .fold((0.0f64, 0usize), |(s, c), (v, _)| (s + *v as f64, c + 1));
                (sum / count as f64) as f32
            };
            let (lv, myo, rv) = (mean_of(LV), mean_of(MYO), mean_of(RV));
            // Bright blood, dark myocardium.
            assert!(lv > 1.6 * myo, "case {case}: LV {lv} vs Myo {myo}");
            assert!(rv > 1.4 * myo, "case {case}: RV {rv} vs Myo {myo}");
        }
    }

    #[test]
    fn end_systole_has_smaller_cavities_and_the_same_slices() {
        for case in 0..5 {
            let (ed_image, ed) = cardiac_frame(case, 5, Phase::EndDiastole);
            let (es_image, es) = cardiac_frame(case, 5, Phase::EndSystole);
            assert_eq!(ed_image.dims, es_image.dims);
            assert!(
                class_fraction(&es, LV) < class_fraction(&ed, LV),
                "case {case}"
            );
        }
    }

    #[test]
    fn info_matches_the_rendered_volume() {
        let info = cardiac_info(9, 1);
        let (image, _) = cardiac_case(9, 1);
        assert_eq!(info.slices, image.dims[2]);
        assert!(info.es_frame >= 2 && info.es_frame <= info.frames);
    }
}
