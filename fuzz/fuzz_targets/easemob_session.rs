//! The sans-I/O Easemob msync session after a login, fed arbitrary websocket binary frames, ticks, sends and reconnects.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| imbridge_fuzz::easemob_session(data));
