//! libFuzzer entry for the `prompts` target (`sss_fuzz::prompts`); run through `scripts/fuzz.sh`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sss_fuzz::prompts(data));
