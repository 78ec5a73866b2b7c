//! Diagnostic of `sss pretrain` foundation weights (RESULTS.md, "Promptable pretraining on
//! procedural scenes": why the foundation fills the myocardium's hole): SAM-2's image
//! predictor prompted, slice by slice and without memory, with each object's box and
//! interior point (the prompts of `sss eval --gt-prompts-every-slice` and of the `simple`
//! recipe), one mask (`multimask_output` false) and, for rings, also the three multimask
//! outputs (the one with the highest predicted IoU, and the best of the three by Dice).
//!
//! Three modes:
//! - `scenes COUNT SEED`: held-out procedural scenes (`data::phantom::scenes`; pretraining
//!   uses scene seed 0). The generator does not export an object's kind, so objects are
//!   classed by their shape on each slice: a *ring* encloses a hole (split by whether another
//!   object fills the hole and by its wall thickness `r_out − r_in` from the areas), a
//!   *nested* object lies in another's hole, a *thin* one is at most 3 erosions deep (tubes),
//!   the rest are *solid* (blobs, polygons, crescents, rings opened by an occluder).
//! - `probe`: synthetic cardiac-like rings (a ring around a disk, optionally with a touching
//!   neighbour) at chosen wall thickness and hole / wall / background intensities.
//! - `cardiac IMAGE LABELS`: an ACDC-style volume (1 RV, 2 Myo, 3 LV), every class on every
//!   slice, with the myocardium's wall thickness.
//!
//! For rings it reports how many predicted pixels fall in the hole. With `--neg-hole` (any
//! position) a ring's prompt also gets a negative click at its hole's interior point; with
//! `--no-box` every prompt is its point alone, with `--no-point` its box alone.
//!
//! ```sh
//! cargo run --release -p sss --example scene_zeroshot -- WEIGHTS.bpk scenes 40 1
//! cargo run --release -p sss --example scene_zeroshot -- WEIGHTS.bpk probe
//! cargo run --release -p sss --example scene_zeroshot -- WEIGHTS.bpk cardiac IMAGE LABELS
//! ```
//!
//! `WEIGHTS.bpk` is a burnpack of `sss pretrain` (`foundation.bpk`) or the built-in
//! `crate/assets/foundation/micro-wide-128.bpk`, with its `.config.json` beside it.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::{Device, Tensor};
use sss::Volume;
use sss::data::intensity::IntensityRule;
use sss::data::nifti_io::read_nifti;
use sss::data::phantom::{SceneSize, scene};
use sss::model::Sam2Config;
use sss::model::import::load_sam2_burnpack;
use sss::predictor::image::{ImagePredictor, ImagePrompt};
use sss::predictor::pipeline::model_input;
use sss::prompt::pcsw::{PcswConfig, slice_prompts_from_labels};
use sss::prompt::point::interior_point;

/// `--neg-hole`: see [`score_object`].
static NEG_HOLE: AtomicBool = AtomicBool::new(false);
/// `--no-box`: the point alone, no box.
static NO_BOX: AtomicBool = AtomicBool::new(false);
/// `--no-point`: the box alone, no point.
static NO_POINT: AtomicBool = AtomicBool::new(false);

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--neg-hole") {
        args.remove(i);
        NEG_HOLE.store(true, Ordering::Relaxed);
    }
    if let Some(i) = args.iter().position(|a| a == "--no-box") {
        args.remove(i);
        NO_BOX.store(true, Ordering::Relaxed);
    }
    if let Some(i) = args.iter().position(|a| a == "--no-point") {
        args.remove(i);
        NO_POINT.store(true, Ordering::Relaxed);
    }
    assert!(
        args.len() >= 3,
        "usage: {} WEIGHTS.bpk scenes COUNT SEED | probe | cardiac IMAGE LABELS",
        args[0]
    );
    let bpk = Path::new(&args[1]);
    let config_path = bpk.with_extension("config.json");
    let config: Sam2Config =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    let device = Device::flex();
    let model = load_sam2_burnpack(bpk, &config, &device).unwrap();
    let mut predictor = ImagePredictor::new(model);
    let t = std::time::Instant::now();
    match args[2].as_str() {
        "scenes" => {
            let count = args.get(3).map_or(40, |a| a.parse().unwrap());
            let seed = args.get(4).map_or(1, |a| a.parse().unwrap());
            scenes(&mut predictor, count, seed);
        }
        "probe" => probe(&mut predictor),
        "cardiac" => cardiac(&mut predictor, &args[3], &args[4]),
        other => panic!("unknown mode {other}"),
    }
    eprintln!("{:.1} s", t.elapsed().as_secs_f64());
}

/// Sums over the (object, slice) pairs of one category.
#[derive(Default)]
struct Stats {
    n: usize,
    dice: f64,
    /// Of them rings (the sums below are over these).
    rings: usize,
    /// Ring only: multimask, the highest predicted IoU / the best by Dice.
    dice_multi: f64,
    dice_oracle: f64,
    /// Ring only: hole pixels, and predicted pixels in the hole.
    hole: usize,
    hole_predicted: usize,
    wall: f64,
}

impl Stats {
    fn row(&self, name: &str) -> String {
        let n = self.n.max(1) as f64;
        let r = self.rings.max(1) as f64;
        let ring = if self.rings > 0 {
            format!(
                " | {:.3} | {:.3} | {:.1} | {:.2}",
                self.dice_multi / r,
                self.dice_oracle / r,
                self.wall / r,
                self.hole_predicted as f64 / self.hole as f64
            )
        } else {
            " | | | |".into()
        };
        format!("| {name} | {} | {:.3}{ring} |", self.n, self.dice / n)
    }
}

fn print_table(stats: &BTreeMap<String, Stats>) {
    println!(
        "| category | n (object·slices) | Dice (1 mask) | rings: Dice (multimask, best IoU) | \
         Dice (multimask, best of 3) | wall px (mean) | hole predicted (fraction) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, s) in stats {
        println!("{}", s.row(name));
    }
}

/// One object's prediction on the cached slice: one mask, and the three multimask outputs'
/// masks with their predicted IoUs.
fn predict(
    predictor: &ImagePredictor,
    box_xyxy: [f32; 4],
    point: [f32; 2],
    negative: Option<[f32; 2]>,
    multimask: bool,
) -> Vec<(Vec<bool>, f32)> {
    let (points, labels) = std::iter::once((point, 1))
        .filter(|_| !NO_POINT.load(Ordering::Relaxed))
        .chain(negative.map(|p| (p, 0)))
        .unzip();
    let out = predictor
        .predict(
            &ImagePrompt {
                points,
                labels,
                box_xyxy: (!NO_BOX.load(Ordering::Relaxed)).then_some(box_xyxy),
                mask_input: None,
            },
            multimask,
        )
        .unwrap();
    let [_, m, h, w] = out.masks.dims();
    let logits = out.masks.into_data().try_to_vec::<f32>().unwrap();
    let iou = out.iou.into_data().try_to_vec::<f32>().unwrap();
    (0..m)
        .map(|k| {
            let mask = logits[k * h * w..(k + 1) * h * w]
                .iter()
                .map(|&l| l > 0.0)
                .collect();
            (mask, iou[k])
        })
        .collect()
}

fn dice(pred: &[bool], truth: &[bool]) -> f64 {
    let inter = pred.iter().zip(truth).filter(|(p, t)| **p && **t).count();
    let total = pred.iter().filter(|p| **p).count() + truth.iter().filter(|t| **t).count();
    2.0 * inter as f64 / total.max(1) as f64
}

/// The hole of a mask on an `n × n` slice: pixels outside it that the border cannot reach
/// through other pixels outside it (4-connected).
fn hole_of(mask: &[bool], n: usize) -> Vec<bool> {
    let mut reached = vec![false; n * n];
    let mut stack: Vec<usize> = (0..n)
        .flat_map(|i| [i, (n - 1) * n + i, i * n, i * n + n - 1])
        .filter(|&i| !mask[i])
        .collect();
    while let Some(i) = stack.pop() {
        if reached[i] || mask[i] {
            continue;
        }
        reached[i] = true;
        let (x, y) = (i % n, i / n);
        if x > 0 {
            stack.push(i - 1);
        }
        if x + 1 < n {
            stack.push(i + 1);
        }
        if y > 0 {
            stack.push(i - n);
        }
        if y + 1 < n {
            stack.push(i + n);
        }
    }
    (0..n * n).map(|i| !mask[i] && !reached[i]).collect()
}

/// How many 4-neighbour erosions a mask survives.
fn depth(mask: &[bool], n: usize) -> usize {
    let mut m = mask.to_vec();
    let mut d = 0;
    while m.iter().any(|v| *v) {
        m = (0..n * n)
            .map(|i| {
                let (x, y) = (i % n, i / n);
                m[i] && x > 0 && x + 1 < n && y > 0 && y + 1 < n && m[i - 1] && m[i + 1] && {
                    m[i - n] && m[i + n]
                }
            })
            .collect();
        d += 1;
    }
    d
}

/// Wall thickness `r_out − r_in` of a ring from its area and its hole's.
fn wall_px(area: usize, hole: usize) -> f64 {
    let pi = std::f64::consts::PI;
    ((area + hole) as f64 / pi).sqrt() - (hole as f64 / pi).sqrt()
}

fn wall_bin(w: f64) -> &'static str {
    match w {
        w if w < 3.0 => "wall <3 px",
        w if w < 5.0 => "wall 3-5 px",
        w if w < 8.0 => "wall 5-8 px",
        _ => "wall >=8 px",
    }
}

/// Scores one prompted object on the cached slice into `stats` under its categories.
#[allow(clippy::too_many_arguments)]
fn score_object(
    predictor: &ImagePredictor,
    stats: &mut BTreeMap<String, Stats>,
    categories: &[String],
    truth: &[bool],
    hole: Option<&[bool]>,
    box_xyxy: [f32; 4],
    point: [f32; 2],
) -> f64 {
    // With --neg-hole, a ring's prompt also gets a negative click at its hole's interior
    // point (the hole's own prompt point), as a correction click would.
    let negative = hole
        .filter(|_| NEG_HOLE.load(Ordering::Relaxed))
        .and_then(|h| {
            let n = (h.len() as f64).sqrt() as usize;
            interior_point(h, n, n).map(|[x, y]| [x as f32, y as f32])
        });
    let single = predict(predictor, box_xyxy, point, negative, false);
    let d = dice(&single[0].0, truth);
    let ring = hole.map(|hole| {
        let multi = predict(predictor, box_xyxy, point, negative, true);
        let best_iou = multi
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(m, _)| dice(m, truth))
            .unwrap();
        let oracle = multi
            .iter()
            .map(|(m, _)| dice(m, truth))
            .fold(0.0, f64::max);
        let hole_px = hole.iter().filter(|h| **h).count();
        let predicted = single[0]
            .0
            .iter()
            .zip(hole)
            .filter(|(p, h)| **p && **h)
            .count();
        let area = truth.iter().filter(|t| **t).count();
        (best_iou, oracle, hole_px, predicted, wall_px(area, hole_px))
    });
    for c in categories {
        let s = stats.entry(c.clone()).or_default();
        s.n += 1;
        s.dice += d;
        if let Some((best_iou, oracle, hole_px, predicted, wall)) = ring {
            s.rings += 1;
            s.dice_multi += best_iou;
            s.dice_oracle += oracle;
            s.hole += hole_px;
            s.hole_predicted += predicted;
            s.wall += wall;
        }
    }
    d
}

/// Sets the predictor's image to slice `z` of `image` mapped by `map`'s rule.
fn set_slice(predictor: &mut ImagePredictor, image: &Volume<f32>, rule: &IntensityRule, z: usize) {
    let map = rule.fit(&image.data).unwrap();
    let [nx, ny, _] = image.dims;
    let size = predictor.model().config().image_size;
    let device = predictor.model().device();
    let input: Tensor<4> = model_input(&map.map_slice(image.slice(z)), [ny, nx], size, &device);
    predictor.set_image(input, [ny, nx]).unwrap();
}

const MRI: IntensityRule = IntensityRule::Percentiles {
    low: 0.5,
    high: 99.5,
};

fn scenes(predictor: &mut ImagePredictor, count: usize, seed: u64) {
    let size = SceneSize::default();
    let n = size.side;
    let mut stats: BTreeMap<String, Stats> = BTreeMap::new();
    for index in 0..count {
        let (image, labels) = scene(index, seed, size);
        let ids: Vec<u8> = (1..=sss::data::phantom::scenes::MAX_OBJECTS as u8).collect();
        let prompts = slice_prompts_from_labels(&labels, &ids, &PcswConfig::default());
        let mut current = usize::MAX;
        for p in &prompts {
            let z = p.prompt.slice;
            if z != current {
                set_slice(predictor, &image, &MRI, z);
                current = z;
            }
            let slice = labels.slice(z);
            let truth: Vec<bool> = slice.iter().map(|&l| l == p.class).collect();
            let area = truth.iter().filter(|t| **t).count();
            if area < 4 {
                continue;
            }
            let hole = hole_of(&truth, n);
            let hole_px = hole.iter().filter(|h| **h).count();
            // Inside another object's hole: most of its pixels are.
            let nested_in = (1..=ids.len() as u8).filter(|&o| o != p.class).any(|o| {
                let other: Vec<bool> = slice.iter().map(|&l| l == o).collect();
                if !other.iter().any(|v| *v) {
                    return false;
                }
                let h = hole_of(&other, n);
                let inside = truth.iter().zip(&h).filter(|(t, h)| **t && **h).count();
                inside * 5 >= area * 4
            });
            let mut categories = vec!["all".to_string()];
            let is_ring = hole_px >= 5;
            if is_ring {
                let filled = slice
                    .iter()
                    .zip(&hole)
                    .filter(|(l, h)| **h && **l != 0)
                    .count();
                let with = if filled * 10 >= hole_px * 3 {
                    "ring, blob in hole"
                } else {
                    "ring, empty hole"
                };
                let w = wall_px(area, hole_px);
                categories.push("ring (all)".into());
                categories.push(with.into());
                categories.push(format!("ring, {}", wall_bin(w)));
                categories.push(format!(
                    "{with}, {}",
                    if w < 5.0 {
                        "thin <5 px"
                    } else {
                        "thick >=5 px"
                    }
                ));
            } else if nested_in {
                categories.push("nested (in a hole)".into());
            } else if depth(&truth, n) <= 3 {
                categories.push("thin (tube-like)".into());
            } else {
                categories.push("solid".into());
            }
            let box_xyxy = p.prompt.box_xyxy;
            score_object(
                predictor,
                &mut stats,
                &categories,
                &truth,
                is_ring.then_some(hole.as_slice()),
                box_xyxy,
                p.prompt.point,
            );
        }
    }
    println!("scenes 0..{count}, scene seed {seed}, {n}² (SceneSize::default)");
    print_table(&stats);
}

/// A synthetic cardiac-like slice: background `bg`, a ring of outer radius `r` and wall `wall`
/// at intensity `wall_i` around a disk (the hole) of `hole_i`, optionally a touching crescent-
/// like neighbour (a disk of `wall_i`-contrast at the ring's side, under the ring), and
/// Gaussian noise. Labels: 1 ring, 2 hole, 3 neighbour.
#[allow(clippy::too_many_arguments)]
fn probe_slice(
    n: usize,
    centre: [f32; 2],
    r: f32,
    wall: f32,
    bg: f32,
    wall_i: f32,
    hole_i: f32,
    neighbour: Option<f32>,
    noise_seed: u64,
) -> (Volume<f32>, Volume<u8>) {
    let mut state = noise_seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut gauss = move || {
        let mut u = [0.0f32; 2];
        for v in &mut u {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *v = ((state >> 40) as f32 + 0.5) / (1u64 << 24) as f32;
        }
        (-2.0 * u[0].ln()).sqrt() * (std::f32::consts::TAU * u[1]).cos()
    };
    let mut image = vec![0.0f32; n * n];
    let mut labels = vec![0u8; n * n];
    for y in 0..n {
        for x in 0..n {
            let (dx, dy) = (x as f32 - centre[0], y as f32 - centre[1]);
            let d = (dx * dx + dy * dy).sqrt();
            let (mut v, mut l) = (bg, 0);
            if let Some(ni) = neighbour {
                let (ex, ey) = (dx + 1.25 * r, dy);
                if (ex * ex + ey * ey).sqrt() < 1.1 * r {
                    (v, l) = (ni, 3);
                }
            }
            if d < r - wall {
                (v, l) = (hole_i, 2);
            } else if d < r {
                (v, l) = (wall_i, 1);
            }
            image[y * n + x] = v + 0.03 * gauss();
            labels[y * n + x] = l;
        }
    }
    (
        Volume::new(image, [n, n, 1], [1.0; 3]).unwrap(),
        Volume::new(labels, [n, n, 1], [1.0; 3]).unwrap(),
    )
}

fn probe(predictor: &mut ImagePredictor) {
    let n = 128;
    // (name, background, wall, hole, neighbour)
    let contrasts: [(&str, f32, f32, f32, Option<f32>); 6] = [
        ("dark wall, bright hole (LV-like)", 0.3, 0.15, 0.8, None),
        (
            "dark wall, bright hole, bright neighbour (RV)",
            0.3,
            0.15,
            0.8,
            Some(0.7),
        ),
        ("dark wall, hole = background", 0.5, 0.15, 0.5, None),
        ("bright wall, hole = background", 0.3, 0.7, 0.3, None),
        ("bright wall, dark hole", 0.5, 0.8, 0.15, None),
        (
            "mid wall, bright hole, dark background",
            0.1,
            0.4,
            0.8,
            None,
        ),
    ];
    let mut stats: BTreeMap<String, Stats> = BTreeMap::new();
    for (name, bg, wall_i, hole_i, neighbour) in contrasts {
        for wall in [2.5f32, 4.0, 6.0, 9.0] {
            for (k, r) in [14.0f32, 18.0, 22.0].into_iter().enumerate() {
                let centre = [60.0 + 4.0 * k as f32, 64.0 - 3.0 * k as f32];
                let (image, labels) =
                    probe_slice(n, centre, r, wall, bg, wall_i, hole_i, neighbour, k as u64);
                set_slice(predictor, &image, &MRI, 0);
                let prompts = slice_prompts_from_labels(&labels, &[1], &PcswConfig::default());
                let p = &prompts[0];
                let truth: Vec<bool> = labels.data.iter().map(|&l| l == 1).collect();
                let hole: Vec<bool> = labels.data.iter().map(|&l| l == 2).collect();
                let categories = [
                    format!("{name}, wall {wall} px"),
                    format!("{name} (all walls)"),
                    format!("wall {wall} px (all contrasts)"),
                ];
                score_object(
                    predictor,
                    &mut stats,
                    &categories,
                    &truth,
                    Some(&hole),
                    p.prompt.box_xyxy,
                    p.prompt.point,
                );
            }
        }
    }
    println!("probe: synthetic rings, {n}², radii 14/18/22 px, noise 0.03");
    print_table(&stats);
}

fn cardiac(predictor: &mut ImagePredictor, image: &str, labels: &str) {
    let image = read_nifti(image).unwrap();
    let gt = read_nifti(labels).unwrap();
    let labels = image
        .with_data(gt.data.iter().map(|v| v.round() as u8).collect())
        .unwrap();
    let [nx, ny, _] = image.dims;
    assert_eq!(nx, ny, "square slices");
    let prompts = slice_prompts_from_labels(&labels, &[1, 2, 3], &PcswConfig::default());
    let names = ["", "RV", "Myo", "LV"];
    let mut stats: BTreeMap<String, Stats> = BTreeMap::new();
    let mut current = usize::MAX;
    for p in &prompts {
        let z = p.prompt.slice;
        if z != current {
            set_slice(predictor, &image, &MRI, z);
            current = z;
        }
        let truth: Vec<bool> = labels.slice(z).iter().map(|&l| l == p.class).collect();
        let hole = hole_of(&truth, nx);
        let is_ring = p.class == 2 && hole.iter().filter(|h| **h).count() >= 5;
        let mut categories = vec![names[p.class as usize].to_string()];
        if p.class == 2 {
            categories.push(
                if is_ring {
                    "Myo, closed ring"
                } else {
                    "Myo, open"
                }
                .into(),
            );
        }
        let d = score_object(
            predictor,
            &mut stats,
            &categories,
            &truth,
            is_ring.then_some(hole.as_slice()),
            p.prompt.box_xyxy,
            p.prompt.point,
        );
        println!("slice {z} {}: Dice {d:.3}", names[p.class as usize]);
    }
    print_table(&stats);
}
