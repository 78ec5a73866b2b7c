//! Diagnostic: what a trained coarse head, used as the teacher, would hand the unlabeled term.
//! For each scan, over the voxels of every true bleed (any foreground class): the share the
//! argmax calls background, the share whose merged foreground probability `1 − p(bg)` passes
//! 0.5, the share given the right class; over true background, the share called foreground;
//! the confusion of true and predicted classes; and how many bleed and background voxels pass a few background confidence thresholds.
//! Tells apart a teacher that misses the bleed from one whose probability is split over the
//! foreground classes so that background wins the argmax.
//!
//! ```sh
//! cargo run --release -p sss --example inspect_teacher -- RUN_DIR IMAGE.nii.gz LABELS.nii.gz [...]
//! ```
use burn::tensor::Device;
use sss::data::nifti_io::read_nifti;
use sss::predictor::sss::SssSegmenter;
use sss::weights::read_export;

/// Background confidences whose pass rates are reported, on bleed and on background voxels.
const THRESHOLDS: [f32; 3] = [0.95, 0.99, 0.999];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let device = Device::flex();
    let (manifest, bytes) =
        read_export(&std::path::PathBuf::from(&args[1]).join("model.json")).unwrap();
    let segmenter = SssSegmenter::load(&manifest, bytes, &device).unwrap();
    let mut totals = [0usize; 12];
    let k = segmenter.num_classes();
    let mut confusion = vec![vec![0usize; k]; k];
    println!(
        "scan: bleed voxels | argmax bg | merged fg > 0.5 | right class | bg voxels called fg"
    );
    for pair in args[2..].chunks(2) {
        let image = read_nifti(&pair[0]).unwrap();
        let gt = read_nifti(&pair[1]).unwrap();
        let prepared = segmenter.prepare(&image).unwrap();
        let coarse = segmenter.coarse(&prepared).unwrap();
        let n = coarse.labels.len();
        let mut c = [0usize; 12];
        for i in 0..n {
            let truth = gt.data[i].round() as usize;
            let predicted = coarse.labels[i] as usize;
            let background = coarse.probabilities[i];
            confusion[truth][predicted] += 1;
            if truth > 0 {
                c[0] += 1;
                c[1] += usize::from(predicted == 0);
                c[2] += usize::from(background < 0.5);
                c[3] += usize::from(predicted == truth);
                println!("voxels by true class (rows) and predicted class (columns):");
                for (truth, row) in confusion.iter().enumerate() {
                    let cells: Vec<String> = row.iter().map(|v| format!("{v:>8}")).collect();
                    println!("{truth}: {}", cells.join(""));
                }
                for (j, t) in THRESHOLDS.iter().enumerate() {
                    c[6 + j] += usize::from(background >= *t);
                }
            } else {
                c[4] += 1;
                c[5] += usize::from(predicted > 0);
                println!("voxels by true class (rows) and predicted class (columns):");
                for (truth, row) in confusion.iter().enumerate() {
                    let cells: Vec<String> = row.iter().map(|v| format!("{v:>8}")).collect();
                    println!("{truth}: {}", cells.join(""));
                }
                for (j, t) in THRESHOLDS.iter().enumerate() {
                    c[9 + j] += usize::from(background >= *t);
                }
            }
        }
        let share = |a: usize, b: usize| a as f64 / b.max(1) as f64;
        println!(
            "{}: {} | {:.3} | {:.3} | {:.3} | {:.4}",
            pair[0],
            c[0],
            share(c[1], c[0]),
            share(c[2], c[0]),
            share(c[3], c[0]),
            share(c[5], c[4])
        );
        for (t, v) in totals.iter_mut().zip(c) {
            *t += v;
        }
    }
    let share = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    println!(
        "all: {} | {:.3} | {:.3} | {:.3} | {:.4}",
        totals[0],
        share(totals[1], totals[0]),
        share(totals[2], totals[0]),
        share(totals[3], totals[0]),
        share(totals[5], totals[4])
    );
    println!("voxels by true class (rows) and predicted class (columns):");
    for (truth, row) in confusion.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>8}")).collect();
        println!("{truth}: {}", cells.join(""));
    }
    for (j, t) in THRESHOLDS.iter().enumerate() {
        println!(
            "p(bg) >= {t}: {:.3} of bleed voxels, {:.3} of background voxels",
            share(totals[6 + j], totals[0]),
            share(totals[9 + j], totals[4])
        );
    }
}
