//! Invitation URIs: never panic, as text or as base32 payloads behind the scheme.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = dxos_halo::Offer::from_uri(text, 0);
    }
    let uri = format!("DXOS:{}", data_to_base32(data));
    if let Ok(offer) = dxos_halo::Offer::from_uri(&uri, 0) {
        assert_eq!(dxos_halo::Offer::from_uri(&offer.to_uri(), 0).ok(), Some(offer));
    }
});

fn data_to_base32(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    data.iter().map(|b| A[(*b as usize) % 32] as char).collect()
}
