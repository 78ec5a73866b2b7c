//! Soak test of the native pipeline (issue 11, item 7; RELIABILITY.md): the same scan
//! segmented N times in one process, as `sss segment` does it (coarse head → PCSW → SAM-2
//! propagation → label map), with the process's resident memory sampled along the way. Memory
//! that keeps growing after the first calls is a leak; the labels must not change between
//! calls either.
//!
//! ```sh
//! cargo run --release -p sss --example soak_segment -- WEIGHTS SCAN.nii.gz [CALLS]
//! ```
//!
//! Prints one line per tenth of the calls (call, resident MB, seconds per call) and the growth
//! from the end of the first tenth to the end, the figure RELIABILITY.md quotes.

use std::time::Instant;

use burn::tensor::Device;
use sss::cli::sss_weights::load_segmenter;
use sss::data::nifti_io::read_nifti;
use sss::predictor::pipeline::SegmentMode;

/// Resident memory of this process in MB (Linux: /proc/self/statm, 4 kB pages).
fn resident_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |pages| pages * 4096.0 / 1e6)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() >= 3,
        "usage: {} WEIGHTS SCAN.nii.gz [CALLS]",
        args[0]
    );
    let calls: usize = args.get(3).map_or(1000, |n| n.parse().expect("CALLS"));
    sss::backend::keep_freed_memory();
    let (_, segmenter) = load_segmenter(args[1].as_ref(), &Device::flex()).unwrap();
    let scan = read_nifti(&args[2]).unwrap();
    let first = segmenter.segment(&scan, SegmentMode::Full).unwrap().labels;
    let step = (calls / 10).max(1);
    let mut after_first_tenth = f64::NAN;
    let mut started = Instant::now();
    println!("call  resident MB  s/call");
    for call in 1..=calls {
        let labels = segmenter.segment(&scan, SegmentMode::Full).unwrap().labels;
        assert_eq!(labels.data, first.data, "call {call} gave other labels");
        if call % step == 0 {
            let rss = resident_mb();
            if call == step {
                after_first_tenth = rss;
            }
            println!(
                "{call:>4}  {rss:>11.1}  {:.3}",
                started.elapsed().as_secs_f64() / step as f64
            );
            started = Instant::now();
        }
    }
    println!(
        "growth after the first {step} calls: {:+.1} MB over {} calls",
        resident_mb() - after_first_tenth,
        calls - step
    );
}
