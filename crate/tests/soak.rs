//! Soak (issue 11, item 7): the page's default weights segment the demo scan many times in one
//! process (`SssSegmenter::segment`, the whole pipeline: coarse head, PCSW, SAM-2 propagation,
//! label fusion), every call gives the same label map, and the resident memory stays flat
//! after a warm-up. The test command runs a short soak (`SSS_SOAK_CALLS`, default 30 calls);
//! the long one (1,000 calls) and its figures are in RELIABILITY.md:
//!
//! ```sh
//! SSS_SOAK_CALLS=1000 SSS_SOAK_REPORT=/tmp/soak.json cargo test -p sss --test soak -- --nocapture
//! ```

use std::path::PathBuf;

use burn::tensor::Device;
use sss::data::nifti_io::read_nifti;
use sss::predictor::pipeline::{SegmentMode, SssSegmenter};
use sss::weights::read_export;

/// Calls before the memory baseline is taken: the backend's buffers and caches fill there.
const WARM_UP_CALLS: usize = 5;
/// What the resident memory may grow by after the warm-up, whatever the number of calls
/// (measured: 0.2 MiB over 30 calls, 55.7 MiB resident). The short soak thus catches a leak
/// of ≥ 0.55 MB a call (an input volume's copy, a slice's logits per class); 1,000 calls
/// catch ≥ 17 KB a call.
const GROWTH_LIMIT_BYTES: u64 = 16 << 20;

/// Resident memory of this process (`VmRSS` of `/proc/self/status`), in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}

#[test]
fn segmenting_again_and_again_keeps_the_output_and_the_memory() {
    let calls: usize = std::env::var("SSS_SOAK_CALLS")
        .ok()
        .map(|v| v.parse().expect("SSS_SOAK_CALLS is a number"))
        .unwrap_or(30);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let image_path = root.join("web/assets/demo/demo.nii.gz");
    assert!(
        image_path.is_file(),
        "{} is missing: run scripts/demo-data.sh (scripts/test.sh does)",
        image_path.display()
    );
    let (manifest, bytes) = read_export(&root.join("web/assets/weights/sss-cardiac.json")).unwrap();
    let segmenter = SssSegmenter::load(&manifest, bytes, &Device::flex()).unwrap();

    let mut first = None;
    let mut samples = Vec::new(); // (call, resident bytes)
    let mut baseline = 0;
    let started = std::time::Instant::now();
    for call in 0..WARM_UP_CALLS + calls {
        // The scan is read again each time, as a user opening it again would.
        let image = read_nifti(&image_path).unwrap();
        let seg = segmenter.segment(&image, SegmentMode::Full).unwrap();
        let labels = seg.labels.data;
        assert!(
            labels.iter().any(|&l| l > 0),
            "call {call}: an empty segmentation"
        );
        match &first {
            None => first = Some(labels),
            Some(first) => assert!(
                *first == labels,
                "call {call}: the label map differs from the first call's"
            ),
        }
        if call + 1 == WARM_UP_CALLS {
            baseline = resident_bytes();
        }
        if call + 1 >= WARM_UP_CALLS && (call + 1 - WARM_UP_CALLS).is_multiple_of(10) {
            samples.push((call + 1, resident_bytes()));
        }
    }
    let end = resident_bytes();
    samples.push((WARM_UP_CALLS + calls, end));
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(end);
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    eprintln!(
        "soak: {calls} calls after {WARM_UP_CALLS} to warm up, {:.1} s; resident {:.1} MiB after \
         the warm-up, {:.1} MiB at the end, {:.1} MiB at most",
        started.elapsed().as_secs_f64(),
        mib(baseline),
        mib(end),
        mib(peak)
    );
    if let Ok(path) = std::env::var("SSS_SOAK_REPORT") {
        let report = serde_json::json!({
            "calls": calls,
            "warm_up_calls": WARM_UP_CALLS,
            "seconds": started.elapsed().as_secs_f64(),
            "baseline_bytes": baseline,
            "end_bytes": end,
            "peak_bytes": peak,
            "samples": samples,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    }
    let growth = peak.saturating_sub(baseline);
    assert!(
        growth <= GROWTH_LIMIT_BYTES,
        "resident memory grew by {:.1} MiB over {calls} calls after the warm-up (limit {:.0} \
         MiB): samples {samples:?}",
        mib(growth),
        mib(GROWTH_LIMIT_BYTES)
    );
}
