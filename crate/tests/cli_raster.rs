//! `sss segment` on a PNG image: the middle slice of the page's demo scan saved as an 8-bit grey
//! PNG segments with the page's default weights into a one-slice NIfTI label map of 1 × 1 mm
//! voxels and the affine diag(−1, −1, 1) (README, "What opens"), with the prompts beside it;
//! the heart is found where the demo's ground truth has it. A corrupt PNG is refused in words.

mod common;

use std::path::PathBuf;

use common::{ScratchDir, path, sss, sss_fails};
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};
use sss::data::nifti_io::read_nifti;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

#[test]
fn segment_reads_a_png_and_writes_a_one_slice_label_map() {
    let scratch = ScratchDir::new("cli-raster", "png");
    let demo = repo("web/assets/demo/demo.nii.gz");
    assert!(
        demo.is_file(),
        "{} is missing: run scripts/demo-data.sh (scripts/test.sh does)",
        demo.display()
    );
    let scan = read_nifti(&demo).unwrap();
    let gt = read_nifti(repo("web/assets/demo/demo_gt.nii.gz")).unwrap();
    let [nx, ny, nz] = scan.dims;
    let z = nz / 2;
    // The slice in 8 bits over its own range, rows of x as the volume stores them.
    let slice = scan.slice(z);
    let (lo, hi) = slice
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    let pixels: Vec<u8> = slice
        .iter()
        .map(|&v| ((v - lo) / (hi - lo) * 255.0).round() as u8)
        .collect();
    let png = scratch.0.join("slice.png");
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes)
        .write_image(&pixels, nx as u32, ny as u32, ExtendedColorType::L8)
        .unwrap();
    std::fs::write(&png, &bytes).unwrap();

    let weights = repo("web/assets/weights/sss-cardiac.json");
    let out = scratch.0.join("seg.nii.gz");
    let said = sss(&[
        "segment",
        path(&png),
        "--weights",
        path(&weights),
        "-o",
        path(&out),
    ]);
    assert!(said.contains("wrote"), "{said}");
    let labels = read_nifti(&out).unwrap();
    assert_eq!(labels.dims, [nx, ny, 1]);
    assert_eq!(labels.spacing, [1.0, 1.0, 1.0]);
    let identity_like = [
        [-1.0, 0.0, 0.0, 0.0],
        [0.0, -1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    assert_eq!(labels.affine, identity_like);
    assert!(labels.data.iter().all(|&l| (0.0..=3.0).contains(&l)));
    // The heart is found where the truth has it: the labelled pixels overlap the truth's.
    let truth = gt.slice(z);
    let found = labels.data.iter().filter(|&&l| l > 0.0).count();
    let overlap = labels
        .data
        .iter()
        .zip(truth)
        .filter(|(l, t)| **l > 0.0 && **t > 0.0)
        .count();
    let truth_count = truth.iter().filter(|&&t| t > 0.0).count();
    let dice = 2.0 * overlap as f64 / (found + truth_count) as f64;
    println!("PNG slice {z}: {found} pixels labelled, foreground Dice {dice:.3} against the truth");
    assert!(found > 0, "nothing segmented");
    assert!(dice > 0.75, "foreground Dice {dice} (0.857 when written)");
    let prompts = std::fs::read_to_string(scratch.0.join("seg.prompts.json")).unwrap();
    assert!(prompts.contains("slice.png"), "{prompts}");

    // A truncated PNG: a sentence, not a panic.
    let corrupt = scratch.0.join("corrupt.png");
    std::fs::write(&corrupt, &bytes[..bytes.len() / 2]).unwrap();
    let err = sss_fails(&[
        "segment",
        path(&corrupt),
        "--weights",
        path(&weights),
        "-o",
        path(&scratch.0.join("never.nii.gz")),
    ]);
    assert!(
        err.contains("this PNG file is corrupt or truncated")
            || err.contains("this PNG file ends early"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
