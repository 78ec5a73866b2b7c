//! Runs every fuzz target on its generated seeds and on every input under `regressions/<target>/`
//! (each crash the fuzzer found, kept so it stays fixed), in the test command. The seeds must
//! also be accepted by their reader: a seed the reader refuses would start the fuzzer from
//! nothing. No input here is larger than a few kB, so no single allocation may pass
//! [`MAX_ALLOCATION`]: a reader that allocates what a header declares before checking it
//! against the file fails here (the DICOM regressions once reserved 1 GB each).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use sss_fuzz::{TARGETS, seeds};

/// The largest single allocation any replayed input may cause.
const MAX_ALLOCATION: usize = 64 << 20;

/// The system allocator, recording the largest allocation asked for.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

fn assert_bounded(what: &str) {
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= MAX_ALLOCATION,
        "{what}: an allocation of {largest} bytes (bound {MAX_ALLOCATION})"
    );
}

#[test]
fn every_target_survives_its_seeds() {
    for (name, target) in TARGETS {
        let seeds = seeds(name);
        assert!(!seeds.is_empty(), "{name}: no seeds");
        for (file, bytes) in &seeds {
            eprintln!("{name}: seed {file} ({} bytes)", bytes.len());
            target(bytes);
        }
        assert_bounded(&format!("{name} seeds"));
        println!("fuzz target {name}: {} seeds replayed", seeds.len());
    }
}

#[test]
fn every_crash_found_stays_fixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut count = 0;
    for (name, target) in TARGETS {
        let Ok(dir) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        let mut files: Vec<_> = dir.map(|e| e.unwrap().path()).collect();
        files.sort();
        for path in files {
            eprintln!("{name}: regression {}", path.display());
            target(&std::fs::read(&path).unwrap());
            assert_bounded(&path.display().to_string());
            count += 1;
        }
    }
    println!("fuzz regressions replayed: {count}");
}

/// The seeds are valid inputs: each is accepted by its reader (checked where the reader is
/// reachable from here), so the fuzzer starts from files that reach deep into it.
#[test]
fn seeds_are_accepted_by_their_readers() {
    use sss::data::nifti_io::read_nifti_bytes;
    for (file, bytes) in seeds("nifti") {
        let result = read_nifti_bytes(&bytes);
        // Two frames are refused by design (the reader takes one); every other seed reads.
        assert_eq!(
            result.is_ok(),
            file != "4d-two-frames.nii",
            "{file}: {result:?}"
        );
    }
    for (file, bytes) in seeds("manifest") {
        let text = String::from_utf8(bytes).unwrap();
        sss::weights::Manifest::from_json(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    for (file, bytes) in seeds("burnpack") {
        let module = sss_fuzz::burnpack_module(&burn::tensor::Device::flex());
        sss::weights::decode_into(module, bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}
