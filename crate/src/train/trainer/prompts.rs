//! Prompts of the SAM-2 objects of a training clip, in model-input pixels: simulated from the
//! ground truth for labeled clips (official SAM-2's `sample_box_points` and uniform clicks,
//! `docs/sam2-training.md` §1), PCSW's or the coarse mask's for unlabeled ones, and the
//! correction clicks sampled from a prediction's errors.

use burn::tensor::{Device, Tensor, TensorData};
use rand::RngExt;
use rand::rngs::SmallRng;

use super::config::{PromptMix, Sam2TrainConfig, TrainPoint};
use crate::model::prompt_encoder::PointPrompt;
use crate::prompt::pcsw::{Connectivity, connected_components};
use crate::prompt::point::interior_point;

/// A box's corner labels and a positive / negative click's, as SAM-2's prompt encoder reads
/// them.
const BOX_TOP_LEFT: i64 = 2;
const BOX_BOTTOM_RIGHT: i64 = 3;
pub const POSITIVE: i64 = 1;
pub const NEGATIVE: i64 = 0;

/// Prompts of the SAM-2 objects of a clip: per object its class and its points (box corners
/// first, labels 2 and 3, then clicks). Every object has the same number of points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectPrompts {
    pub classes: Vec<u8>,
    pub points: Vec<Vec<([f32; 2], i64)>>,
}

impl ObjectPrompts {
    /// An object prompted with a box `[x0, y0, x1, y1]` (inclusive pixels) and a point.
    pub fn push_box_and_point(&mut self, class: u8, box_xyxy: [f32; 4], point: [f32; 2]) {
        self.classes.push(class);
        self.points.push(vec![
            ([box_xyxy[0], box_xyxy[1]], BOX_TOP_LEFT),
            ([box_xyxy[2], box_xyxy[3]], BOX_BOTTOM_RIGHT),
            (point, POSITIVE),
        ]);
    }

    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Points per object.
    pub fn points_per_object(&self) -> usize {
        self.points.first().map_or(0, Vec::len)
    }

    /// `[n, points, 2]` coordinates and `[n, points]` labels.
    pub fn to_point_prompt(&self, device: &Device) -> PointPrompt {
        let (n, k) = (self.len(), self.points_per_object());
        let coords: Vec<f32> = self
            .points
            .iter()
            .flat_map(|p| p.iter().flat_map(|(xy, _)| *xy))
            .collect();
        let labels: Vec<i64> = self
            .points
            .iter()
            .flat_map(|p| p.iter().map(|(_, l)| *l))
            .collect();
        PointPrompt {
            coords: Tensor::from_data(TensorData::new(coords, [n, k, 2]), device),
            labels: Tensor::from_data(TensorData::new(labels, [n, k]), device),
        }
    }
}

/// The bounding box (inclusive indices) and its centre of the `true` pixels of a `[h][w]`
/// mask.
pub fn box_and_centre(mask: &[bool], w: usize) -> Option<([f32; 4], [f32; 2])> {
    let b = crate::prompt::pcsw::bounding_box(mask.iter().copied(), w)?.map(|v| v as f32);
    Some((b, [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]))
}

/// Ground-truth prompts as the product's inference forms them (exact box, the interior point
/// of [`interior_point`]) for every class present in a `[s][s]` label map (255 ignored).
pub fn ground_truth_prompts(labels: &[u8], size: usize, num_classes: usize) -> ObjectPrompts {
    let mut prompts = ObjectPrompts::default();
    for class in 1..num_classes as u8 {
        let mask: Vec<bool> = labels.iter().map(|&l| l == class).collect();
        if let Some((b, _)) = box_and_centre(&mask, size) {
            let [x, y] = interior_point(&mask, size, size).expect("a non-empty mask");
            prompts.push_box_and_point(class, b, [x as f32, y as f32]);
        }
    }
    prompts
}

/// The prompt kind of one labeled clip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    BoxAndPoint,
    BoxOnly,
    Click,
}

impl PromptKind {
    pub fn sample(mix: &PromptMix, rng: &mut SmallRng) -> Self {
        let total = mix.box_and_point + mix.box_only + mix.click;
        let r = rng.random::<f64>() * total;
        if r < mix.box_and_point {
            Self::BoxAndPoint
        } else if r < mix.box_and_point + mix.box_only {
            Self::BoxOnly
        } else {
            Self::Click
        }
    }
}

/// A uniformly drawn `true` pixel of a mask, `[x, y]`.
fn uniform_pixel(mask: &[bool], w: usize, rng: &mut SmallRng) -> Option<[f32; 2]> {
    let count = mask.iter().filter(|&&m| m).count();
    if count == 0 {
        return None;
    }
    let k = rng.random_range(0..count);
    let i = mask
        .iter()
        .enumerate()
        .filter(|(_, m)| **m)
        .nth(k)
        .map(|(i, _)| i)?;
    Some([(i % w) as f32, (i / w) as f32])
}

/// Official `sample_box_points`: each corner moves by U(±min(noise·side, bound)) (x by the
/// width, y by the height), then the box is clamped to the image.
fn noisy_box(b: [f32; 4], size: usize, t: &Sam2TrainConfig, rng: &mut SmallRng) -> [f32; 4] {
    let bound = t.box_noise_bound_px * size as f64 / 1024.0;
    let dx = (t.box_noise * f64::from(b[2] - b[0])).min(bound) as f32;
    let dy = (t.box_noise * f64::from(b[3] - b[1])).min(bound) as f32;
    let mut jitter = |v: f32, d: f32| {
        if d > 0.0 {
            v + rng.random_range(-d..=d)
        } else {
            v
        }
    };
    let max = (size - 1) as f32;
    let out = [
        jitter(b[0], dx).clamp(0.0, max),
        jitter(b[1], dy).clamp(0.0, max),
        jitter(b[2], dx).clamp(0.0, max),
        jitter(b[3], dy).clamp(0.0, max),
    ];
    [
        out[0].min(out[2]),
        out[1].min(out[3]),
        out[0].max(out[2]),
        out[1].max(out[3]),
    ]
}

/// Simulated prompts of a labeled clip's first frame: one object per class present in the
/// `[s][s]` label map, all with the same prompt kind, the click where `t.point` puts it.
/// The legacy mix with [`TrainPoint::BoxCentre`] (exact box, box centre)
/// reproduces the earlier recipe.
pub fn sample_labeled_prompts(
    labels: &[u8],
    size: usize,
    num_classes: usize,
    t: &Sam2TrainConfig,
    rng: &mut SmallRng,
) -> ObjectPrompts {
    let kind = PromptKind::sample(&t.prompts, rng);
    let mut prompts = ObjectPrompts::default();
    let mut classes: Vec<u8> = (1..num_classes as u8)
        .filter(|c| labels.contains(c))
        .collect();
    if t.max_objects > 0 {
        while classes.len() > t.max_objects {
            classes.remove(rng.random_range(0..classes.len()));
        }
    }
    for class in classes {
        let mask: Vec<bool> = labels.iter().map(|&l| l == class).collect();
        let Some((exact, centre)) = box_and_centre(&mask, size) else {
            continue;
        };
        let b = noisy_box(exact, size, t, rng);
        let inside = match t.point {
            TrainPoint::BoxCentre => centre,
            TrainPoint::Interior => {
                let [x, y] = interior_point(&mask, size, size).expect("a non-empty mask");
                [x as f32, y as f32]
            }
            TrainPoint::Uniform => uniform_pixel(&mask, size, rng).expect("a non-empty mask"),
        };
        prompts.classes.push(class);
        prompts.points.push(match kind {
            PromptKind::BoxAndPoint => vec![
                ([b[0], b[1]], BOX_TOP_LEFT),
                ([b[2], b[3]], BOX_BOTTOM_RIGHT),
                (inside, POSITIVE),
            ],
            PromptKind::BoxOnly => vec![
                ([b[0], b[1]], BOX_TOP_LEFT),
                ([b[2], b[3]], BOX_BOTTOM_RIGHT),
            ],
            PromptKind::Click => vec![(inside, POSITIVE)],
        });
    }
    prompts
}

/// A correction click for one object (official `sample_random_points_from_errors`): a pixel
/// drawn uniformly from the errors of `pred` against `target` (positive where the object was
/// missed, negative where it was over-segmented); with probability `from_gt`, or when there is
/// no error, a positive click inside the target (a negative one in the background when the
/// target is empty). Pixels outside `valid` are never drawn.
pub fn correction_click(
    pred: &[bool],
    target: &[bool],
    valid: &[bool],
    w: usize,
    from_gt: f64,
    rng: &mut SmallRng,
) -> ([f32; 2], i64) {
    let inside: Vec<bool> = target.iter().zip(valid).map(|(t, v)| *t && *v).collect();
    let from_target = |rng: &mut SmallRng| match uniform_pixel(&inside, w, rng) {
        Some(p) => (p, POSITIVE),
        None => {
            let outside: Vec<bool> = target.iter().zip(valid).map(|(t, v)| !*t && *v).collect();
            (
                uniform_pixel(&outside, w, rng).unwrap_or([0.0, 0.0]),
                NEGATIVE,
            )
        }
    };
    if rng.random::<f64>() < from_gt {
        return from_target(rng);
    }
    let errors: Vec<bool> = pred
        .iter()
        .zip(target)
        .zip(valid)
        .map(|((p, t), v)| *v && p != t)
        .collect();
    match uniform_pixel(&errors, w, rng) {
        Some(p) => {
            let i = p[1] as usize * w + p[0] as usize;
            (p, if target[i] { POSITIVE } else { NEGATIVE })
        }
        None => from_target(rng),
    }
}

/// The `--no-pcsw` rule on one slice: the box of the largest 2-D component of class `class`
/// in a `[h][w]` low-resolution class map, scaled by `scale` to model-input pixels, and the
/// component's interior point.
pub fn coarse_component_prompt(
    class_map: &[u8],
    hw: [usize; 2],
    class: u8,
    scale: f32,
) -> Option<([f32; 4], [f32; 2])> {
    let [h, w] = hw;
    let mask: Vec<bool> = class_map.iter().map(|&c| c == class).collect();
    let comps = connected_components(&mask, [w, h, 1], Connectivity::Six).ok()?;
    let largest = comps.largest()?;
    let keep: Vec<bool> = comps.labels.iter().map(|&l| l == largest).collect();
    let (b, _) = box_and_centre(&keep, w)?;
    let [px, py] = interior_point(&keep, w, h)?;
    let s = scale;
    let bx = [
        b[0] * s,
        b[1] * s,
        (b[2] + 1.0) * s - 1.0,
        (b[3] + 1.0) * s - 1.0,
    ];
    let centre = |v: usize| (v as f32 + 0.5) * s - 0.5;
    Some((bx, [centre(px), centre(py)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ground_truth_prompts_box_each_present_class_with_an_interior_point() {
        let s = 8;
        let mut labels = vec![0u8; s * s];
        for y in 2..5 {
            for x in 1..4 {
                labels[y * s + x] = 2;
            }
        }
        labels[7 * s + 7] = 255;
        let p = ground_truth_prompts(&labels, s, 4);
        assert_eq!(p.classes, vec![2]);
        assert_eq!(
            p.points[0],
            vec![([1.0, 2.0], 2), ([3.0, 4.0], 3), ([2.0, 3.0], 1)]
        );
    }

    #[test]
    fn sampled_prompts_stay_on_the_image_and_clicks_inside_the_object() {
        let s = 32;
        // A ring: its box centre is outside it.
        let labels: Vec<u8> = (0..s * s)
            .map(|i| {
                let (x, y) = ((i % s) as f32 - 15.5, (i / s) as f32 - 15.5);
                let r = (x * x + y * y).sqrt();
                u8::from((6.0..10.0).contains(&r))
            })
            .collect();
        let t = Sam2TrainConfig::official();
        let mut rng = SmallRng::seed_from_u64(3);
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let p = sample_labeled_prompts(&labels, s, 2, &t, &mut rng);
            assert_eq!(p.len(), 1);
            kinds.insert(p.points_per_object());
            for &([x, y], label) in &p.points[0] {
                assert!((0.0..s as f32).contains(&x) && (0.0..s as f32).contains(&y));
                if label == POSITIVE {
                    assert_eq!(labels[y as usize * s + x as usize], 1, "click off the ring");
                }
            }
        }
        assert_eq!(kinds.len(), 3, "box + point, box and click all drawn");
    }

    #[test]
    fn correction_clicks_fall_in_the_errors_with_their_sign() {
        let w = 4;
        let target = [true, true, false, false];
        let pred = [true, false, true, false];
        let valid = [true; 4];
        let mut rng = SmallRng::seed_from_u64(1);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..100 {
            let ([x, _], label) = correction_click(&pred, &target, &valid, w, 0.0, &mut rng);
            match x as usize {
                1 => assert_eq!(label, POSITIVE, "missed pixel"),
                2 => assert_eq!(label, NEGATIVE, "extra pixel"),
                other => panic!("click at {other}, not an error"),
            }
            seen.insert(x as usize);
        }
        assert_eq!(seen.len(), 2);
        // No error: a positive click inside the target.
        let (p, label) = correction_click(&target, &target, &valid, w, 0.0, &mut rng);
        assert_eq!(label, POSITIVE);
        assert!(target[p[0] as usize]);
    }

    #[test]
    fn coarse_component_prompt_takes_the_largest_component_scaled() {
        let (h, w) = (4, 6);
        let mut map = vec![0u8; h * w];
        map[0] = 1; // a single pixel
        for x in 3..6 {
            map[2 * w + x] = 1; // three pixels: the largest
        }
        let (b, p) = coarse_component_prompt(&map, [h, w], 1, 4.0).unwrap();
        assert_eq!(b, [12.0, 8.0, 23.0, 11.0]);
        // The middle pixel (x = 4, y = 2) of the three, at its centre in model pixels.
        assert_eq!(p, [17.5, 9.5]);
        assert!(coarse_component_prompt(&map, [h, w], 2, 4.0).is_none());
    }
}
