//! Invitation protocol messages from a guest or a host: never panic.
//! The body is `dxos_tests::fuzz::invite_frame`, which `cargo test` also runs on `corpus/invite_frame/`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dxos_tests::fuzz::invite_frame(data));
