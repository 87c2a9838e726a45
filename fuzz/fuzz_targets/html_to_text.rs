//! Matrix HTML → the network's plain text, Markdown → HTML, reply fallback stripping, splitting.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| imbridge_fuzz::html_to_text(data));
