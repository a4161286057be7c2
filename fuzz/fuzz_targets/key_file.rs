//! Keyring files: never panic on any bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dxos_halo::keyring::decode_key_file(data);
});
