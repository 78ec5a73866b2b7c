//! libFuzzer entry for the `manifest` target (`sss_fuzz::manifest`); run through `scripts/fuzz.sh`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sss_fuzz::manifest(data));
