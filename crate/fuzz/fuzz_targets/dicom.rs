//! libFuzzer entry for the `dicom` target (`sss_fuzz::dicom`); run through `scripts/fuzz.sh`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sss_fuzz::dicom(data));
