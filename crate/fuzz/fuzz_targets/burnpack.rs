//! libFuzzer entry for the `burnpack` target (`sss_fuzz::burnpack`); run through `scripts/fuzz.sh`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sss_fuzz::burnpack(data));
