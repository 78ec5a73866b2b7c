//! libFuzzer entry for the `nifti` target (`sss_fuzz::nifti`); run through `scripts/fuzz.sh`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sss_fuzz::nifti(data));
