#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| txqlab_fuzz_common::tc_parse(data));
