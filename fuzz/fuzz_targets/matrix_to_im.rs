//! Matrix text content JSON → the network's text and mentions → Easemob metas and back.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| imbridge_fuzz::matrix_to_im(data));
