#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| txqlab_fuzz_common::ena_com_diff(data));
