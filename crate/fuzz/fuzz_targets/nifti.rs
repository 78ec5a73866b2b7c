//! libFuzzer entry for the `nifti` target (`sss_fuzz::nifti`); run through `scripts/fuzz.sh`.
#![no_main]

/// The heap's bound for this target (1 GiB: a 64 kB gzip may inflate ~1,000-fold, then f32 copies); past it the run stops with the input saved.
#[global_allocator]
static HEAP: sss_fuzz::HeapLimit<{ 1 << 30 }> = sss_fuzz::HeapLimit::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| sss_fuzz::nifti(data));
