//! libFuzzer entry for the `burnpack` target (`sss_fuzz::burnpack`); run through `scripts/fuzz.sh`.
#![no_main]

/// The heap's bound for this target (256 MiB: the small module it loads into, and the file's tensors); past it the run stops with the input saved.
#[global_allocator]
static HEAP: sss_fuzz::HeapLimit<{ 256 << 20 }> = sss_fuzz::HeapLimit::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| sss_fuzz::burnpack(data));
