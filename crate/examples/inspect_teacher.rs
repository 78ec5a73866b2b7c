//! Diagnostic: what a trained coarse head, used as the teacher, would hand the unlabeled term
//! (RESULTS.md, "Brain CT: why semi-supervision hurts"). Over the voxels of every true object
//! (any foreground class): the share the argmax calls background, the share whose merged
//! foreground probability `1 − p(bg)` passes 0.5, the share given the right class; over true
//! background, the share called foreground; the confusion of true and predicted classes; and
//! how many object and background voxels pass a few background confidence thresholds. Tells
//! apart a teacher that misses objects, one whose probability is split over the foreground
//! classes, and one that confuses the classes.
//!
//! ```sh
//! cargo run --release -p sss --example inspect_teacher -- WEIGHTS IMAGE.nii.gz LABELS.nii.gz [...]
//! ```
mod common;

/// Background confidences whose pass rates are reported, on object and on background voxels.
const THRESHOLDS: [f32; 3] = [0.95, 0.99, 0.999];

/// Voxel counts of one scan or of all of them.
#[derive(Default)]
struct Counts {
    object: usize,
    argmax_background: usize,
    merged_foreground: usize,
    right_class: usize,
    background: usize,
    background_called_object: usize,
    /// Per threshold: object voxels, background voxels with `p(bg)` at or above it.
    passing: [[usize; 2]; THRESHOLDS.len()],
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.object += other.object;
        self.argmax_background += other.argmax_background;
        self.merged_foreground += other.merged_foreground;
        self.right_class += other.right_class;
        self.background += other.background;
        self.background_called_object += other.background_called_object;
        for (a, b) in self.passing.iter_mut().zip(other.passing) {
            a[0] += b[0];
            a[1] += b[1];
        }
    }

    fn row(&self) -> String {
        format!(
            "{} | {:.3} | {:.3} | {:.3} | {:.4}",
            self.object,
            share(self.argmax_background, self.object),
            share(self.merged_foreground, self.object),
            share(self.right_class, self.object),
            share(self.background_called_object, self.background)
        )
    }
}

fn share(part: usize, whole: usize) -> f64 {
    part as f64 / whole.max(1) as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() >= 4 && args.len().is_multiple_of(2),
        "usage: {} WEIGHTS IMAGE.nii.gz LABELS.nii.gz [IMAGE LABELS ...]",
        args[0]
    );
    let segmenter = common::segmenter(&args[1]);
    let k = segmenter.num_classes();
    let mut totals = Counts::default();
    let mut confusion = vec![vec![0usize; k]; k];
    println!(
        "scan: object voxels | argmax bg | merged fg > 0.5 | right class | bg voxels called fg"
    );
    for pair in args[2..].chunks(2) {
        let (image, labels) = common::case(&pair[0], &pair[1]);
        let coarse = segmenter
            .coarse(&segmenter.prepare(&image).unwrap())
            .unwrap();
        let mut c = Counts::default();
        let background_volume = coarse.class_volume(0);
        for ((&truth, &predicted), &background) in labels
            .data
            .iter()
            .zip(&coarse.labels)
            .zip(&background_volume)
        {
            let (truth, predicted) = (truth as usize, predicted as usize);
            confusion[truth][predicted] += 1;
            let side = usize::from(truth == 0);
            for (passing, t) in c.passing.iter_mut().zip(THRESHOLDS) {
                passing[side] += usize::from(background >= t);
            }
            if truth > 0 {
                c.object += 1;
                c.argmax_background += usize::from(predicted == 0);
                c.merged_foreground += usize::from(background < 0.5);
                c.right_class += usize::from(predicted == truth);
            } else {
                c.background += 1;
                c.background_called_object += usize::from(predicted > 0);
            }
        }
        println!("{}: {}", pair[0], c.row());
        totals.add(&c);
    }
    println!("all: {}", totals.row());
    println!("voxels by true class (rows) and predicted class (columns):");
    for (truth, row) in confusion.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>8}")).collect();
        println!("{truth}: {}", cells.join(""));
    }
    for (passing, t) in totals.passing.iter().zip(THRESHOLDS) {
        println!(
            "p(bg) >= {t}: {:.3} of object voxels, {:.3} of background voxels",
            share(passing[0], totals.object),
            share(passing[1], totals.background)
        );
    }
}
