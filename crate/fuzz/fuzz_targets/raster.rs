//! libFuzzer entry for the `raster` target (`sss_fuzz::raster`); run through `scripts/fuzz.sh`.
#![no_main]

/// The heap's bound for this target (1 GiB: PNG and JPEG inflate; the reader itself caps decoding at 512 MiB); past it the run stops with the input saved.
#[global_allocator]
static HEAP: sss_fuzz::HeapLimit<{ 1 << 30 }> = sss_fuzz::HeapLimit::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| sss_fuzz::raster(data));
