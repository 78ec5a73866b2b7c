//! libFuzzer entry for the `raster` target (`sss_fuzz::raster`); run through `scripts/fuzz.sh`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sss_fuzz::raster(data));
