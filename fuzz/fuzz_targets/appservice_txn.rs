//! The appservice transaction parser (PUT /_matrix/app/v1/transactions bodies).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| imbridge_fuzz::appservice_txn(data));
