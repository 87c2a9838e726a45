//! The Easemob frame decoder alone: LZ4 frames (with history) and msync envelopes, payloads and metas, down to the connector's translation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| imbridge_fuzz::easemob_decode(data));
