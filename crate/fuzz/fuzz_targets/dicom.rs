//! libFuzzer entry for the `dicom` target (`sss_fuzz::dicom`); run through `scripts/fuzz.sh`.
#![no_main]

/// The heap's bound for this target (64 MiB: no compression is read, so 1,000 times the largest input (64 kB)); past it the run stops with the input saved.
#[global_allocator]
static HEAP: sss_fuzz::HeapLimit<{ 64 << 20 }> = sss_fuzz::HeapLimit::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| sss_fuzz::dicom(data));
