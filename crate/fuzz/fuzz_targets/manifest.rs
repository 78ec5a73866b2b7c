//! libFuzzer entry for the `manifest` target (`sss_fuzz::manifest`); run through `scripts/fuzz.sh`.
#![no_main]

/// The heap's bound for this target (64 MiB: JSON holds no more than a small multiple of its text); past it the run stops with the input saved.
#[global_allocator]
static HEAP: sss_fuzz::HeapLimit<{ 64 << 20 }> = sss_fuzz::HeapLimit::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| sss_fuzz::manifest(data));
