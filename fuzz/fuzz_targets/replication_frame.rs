//! Replication frames from a peer (unpacked, decoded, their Yjs sync messages read): never panic.
//! The body is `dxos_tests::fuzz::replication_frame`, which `cargo test` also runs on `corpus/replication_frame/`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dxos_tests::fuzz::replication_frame(data));
