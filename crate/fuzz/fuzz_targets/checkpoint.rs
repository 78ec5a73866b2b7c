//! libFuzzer entry for the `checkpoint` target (`sss_fuzz::checkpoint`); run through `scripts/fuzz.sh`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sss_fuzz::checkpoint(data));
