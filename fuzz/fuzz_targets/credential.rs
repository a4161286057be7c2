//! Credential decoding: never panics; whatever decodes re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = dxos_halo::Credential::decode_unverified(data) {
        assert_eq!(c.encode(), data);
        let _ = c.verify_signature();
    }
});
