//! The config loader on YAML text, with its semantic checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| imbridge_fuzz::config_yaml(data));
