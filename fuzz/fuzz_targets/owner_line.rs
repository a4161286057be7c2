//! Lines on the owner's socket, read as requests and as replies: never panic.
//! The body is `dxos_tests::fuzz::owner_line`, which `cargo test` also runs on `corpus/owner_line/`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dxos_tests::fuzz::owner_line(data));
