//! Invitation offers (device pairing, space sharing) and their `dxos:` URI.
//!
//! The URI is `DXOS:` then uppercase base32 (RFC 4648, no padding) of: a version byte, the
//! postcard encoding of the [`Offer`], and the first 4 bytes of its SHA-256. Every character is
//! in the QR alphanumeric alphabet, so the QR code stays small (target: at most 300
//! characters). Decoding names each way it can be wrong. The protocol that redeems an offer
//! lives in NET; this module is only the data.

use data_encoding::BASE32_NOPAD;
use multiaddr::Multiaddr;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::credential::{Key32, Role};
use crate::keys::PublicKey;

/// The URI's scheme, as written (decoding accepts any case).
pub const SCHEME: &str = "DXOS:";
/// The offer layout version this build writes and reads.
pub const VERSION: u8 = 1;
/// Longest URI accepted (and the most an encoded offer may take).
pub const MAX_URI: usize = 300;

/// What an offer admits the guest to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OfferKind {
    /// A new device of the inviter's identity.
    Device,
    /// Another identity, as a member of a space with a role.
    Space {
        /// The space.
        space: Key32,
        /// The role the guest gets.
        role: Role,
    },
}

/// A single-use, expiring invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// What it admits to.
    pub kind: OfferKind,
    /// Names this invitation to the host.
    pub id: [u8; 8],
    /// The one-time secret the guest proves it holds (never sent as is).
    pub secret: [u8; 16],
    /// The inviter's device key (its libp2p PeerId is derived from it).
    pub inviter: Key32,
    /// A few addresses of the inviter, as binary multiaddrs.
    pub addrs: Vec<Vec<u8>>,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// The guest must also type a 6-digit code shown by the host.
    pub code_required: bool,
}

/// Why a URI is not a usable offer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OfferError {
    /// It does not start with `dxos:`.
    #[error("not a DXOS invitation (it should start with \"dxos:\")")]
    NotDxos,
    /// Longer than any offer.
    #[error("the invitation is too long ({0} characters; at most {MAX_URI})")]
    TooLong(usize),
    /// Not valid base32.
    #[error("the invitation text is damaged (not base32)")]
    BadEncoding,
    /// The checksum does not match: a typo or a truncated copy.
    #[error("the invitation text is damaged or incomplete (checksum mismatch)")]
    BadChecksum,
    /// Made by a newer (or unknown) version.
    #[error("unknown invitation version {0}; upgrade dxos")]
    UnknownVersion(u8),
    /// The fields do not parse.
    #[error("the invitation is malformed: {0}")]
    Malformed(String),
    /// Past its expiry.
    #[error("the invitation expired")]
    Expired,
}

impl Offer {
    /// The inviter's device key.
    pub fn inviter_key(&self) -> Result<PublicKey, OfferError> {
        PublicKey::from_bytes(&self.inviter).map_err(|e| OfferError::Malformed(e.to_string()))
    }

    /// The inviter's addresses.
    pub fn multiaddrs(&self) -> Vec<Multiaddr> {
        self.addrs.iter().filter_map(|a| Multiaddr::try_from(a.clone()).ok()).collect()
    }

    fn encode_bytes(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        // Encoding into a Vec cannot fail.
        out.extend(postcard::to_stdvec(self).unwrap_or_default());
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum[..4]);
        out
    }

    /// The URI. Addresses are dropped from the end until it fits [`MAX_URI`] (the guest finds
    /// the rest by mDNS and identify), so put the best first.
    pub fn to_uri(&self) -> String {
        let mut offer = self.clone();
        loop {
            let uri = format!("{SCHEME}{}", BASE32_NOPAD.encode(&offer.encode_bytes()));
            if uri.len() <= MAX_URI || offer.addrs.is_empty() {
                return uri;
            }
            offer.addrs.pop();
        }
    }

    /// Reads a URI (checking it has not expired at `now` Unix seconds).
    pub fn from_uri(uri: &str, now: u64) -> Result<Offer, OfferError> {
        let uri = uri.trim();
        if uri.len() > MAX_URI {
            return Err(OfferError::TooLong(uri.len()));
        }
        let Some(scheme) = uri.get(..SCHEME.len()).filter(|s| s.eq_ignore_ascii_case(SCHEME)) else {
            return Err(OfferError::NotDxos);
        };
        let body = &uri[scheme.len()..];
        let bytes = BASE32_NOPAD.decode(body.to_ascii_uppercase().as_bytes()).map_err(|_| OfferError::BadEncoding)?;
        if bytes.len() < 5 {
            return Err(OfferError::BadChecksum);
        }
        let (data, sum) = bytes.split_at(bytes.len() - 4);
        if Sha256::digest(data)[..4] != *sum {
            return Err(OfferError::BadChecksum);
        }
        if data[0] != VERSION {
            return Err(OfferError::UnknownVersion(data[0]));
        }
        let (offer, rest): (Offer, &[u8]) =
            postcard::take_from_bytes(&data[1..]).map_err(|e| OfferError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(OfferError::Malformed("trailing bytes".into()));
        }
        offer.inviter_key()?;
        if offer.addrs.iter().any(|a| Multiaddr::try_from(a.clone()).is_err()) {
            return Err(OfferError::Malformed("an address is not a multiaddr".into()));
        }
        if offer.expires_at <= now {
            return Err(OfferError::Expired);
        }
        Ok(offer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyPair;
    use proptest::prelude::*;

    fn addr(s: &str) -> Vec<u8> {
        s.parse::<Multiaddr>().map(|m| m.to_vec()).unwrap_or_default()
    }

    fn offer(kind: OfferKind) -> Offer {
        Offer {
            kind,
            id: [3; 8],
            secret: [7; 16],
            inviter: *KeyPair::generate().public().as_bytes(),
            addrs: vec![
                addr(
                    "/ip4/192.168.1.20/udp/40123/webrtc-direct/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g",
                ),
                addr("/ip4/192.168.1.20/udp/40124/quic-v1"),
                addr("/ip4/192.168.1.20/tcp/40125"),
            ],
            expires_at: 2_000_000_000,
            code_required: true,
        }
    }

    const ALPHANUMERIC: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

    #[test]
    fn round_trip_short_and_qr_alphanumeric() {
        for kind in [OfferKind::Device, OfferKind::Space { space: [9; 32], role: Role::Editor }] {
            let o = offer(kind);
            let uri = o.to_uri();
            assert!(uri.len() <= MAX_URI, "{} characters", uri.len());
            assert!(uri.chars().all(|c| ALPHANUMERIC.contains(c)), "{uri}");
            assert_eq!(Offer::from_uri(&uri, 1_000), Ok(o.clone()), "{uri}");
            assert_eq!(Offer::from_uri(&uri.to_lowercase(), 1_000), Ok(o));
        }
    }

    #[test]
    fn too_many_addresses_are_dropped_to_fit() {
        let mut o = offer(OfferKind::Space { space: [9; 32], role: Role::Reader });
        for _ in 0..6 {
            o.addrs.push(o.addrs[0].clone());
        }
        let uri = o.to_uri();
        assert!(uri.len() <= MAX_URI);
        let back = Offer::from_uri(&uri, 0);
        assert!(back.as_ref().is_ok_and(|b| !b.addrs.is_empty() && b.addrs.len() < o.addrs.len()), "{back:?}");
    }

    #[test]
    fn each_fault_has_its_error() {
        let uri = offer(OfferKind::Device).to_uri();
        assert_eq!(Offer::from_uri("https://example.com", 0), Err(OfferError::NotDxos));
        assert_eq!(Offer::from_uri(&format!("DXOS:{}", "A".repeat(400)), 0), Err(OfferError::TooLong(405)));
        assert_eq!(Offer::from_uri("DXOS:!!!", 0), Err(OfferError::BadEncoding));
        let mut typo: Vec<char> = uri.chars().collect();
        let i = typo.len() / 2;
        typo[i] = if typo[i] == 'A' { 'B' } else { 'A' };
        let typo: String = typo.into_iter().collect();
        assert!(matches!(Offer::from_uri(&typo, 0), Err(OfferError::BadChecksum | OfferError::BadEncoding)));
        assert!(matches!(
            Offer::from_uri(&uri[..uri.len() - 8], 0),
            Err(OfferError::BadChecksum | OfferError::BadEncoding)
        ));
        assert_eq!(Offer::from_uri(&uri, 3_000_000_000), Err(OfferError::Expired));
        // A future version, with a valid checksum.
        let mut bytes = BASE32_NOPAD.decode(&uri.as_bytes()[5..]).unwrap_or_default();
        bytes.truncate(bytes.len() - 4);
        bytes[0] = 9;
        let sum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&sum[..4]);
        assert_eq!(
            Offer::from_uri(&format!("DXOS:{}", BASE32_NOPAD.encode(&bytes)), 0),
            Err(OfferError::UnknownVersion(9))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in ".{0,320}") {
            let _ = Offer::from_uri(&s, 0);
            let _ = Offer::from_uri(&format!("dxos:{s}"), 0);
        }

        #[test]
        fn arbitrary_payloads_with_valid_checksums_never_panic(body in proptest::collection::vec(any::<u8>(), 0..180)) {
            let mut bytes = vec![VERSION];
            bytes.extend(body);
            let sum = Sha256::digest(&bytes);
            bytes.extend_from_slice(&sum[..4]);
            let _ = Offer::from_uri(&format!("DXOS:{}", BASE32_NOPAD.encode(&bytes)), 0);
        }

        #[test]
        fn mutated_uris_are_refused_or_equal(flips in proptest::collection::vec((any::<usize>(), 0usize..32), 1..4)) {
            let o = offer(OfferKind::Device);
            let uri = o.to_uri();
            let alphabet: Vec<char> = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".chars().collect();
            let mut chars: Vec<char> = uri.chars().collect();
            for (i, c) in flips {
                let n = chars.len() - 5;
                chars[5 + i % n] = alphabet[c];
            }
            let m: String = chars.into_iter().collect();
            if let Ok(back) = Offer::from_uri(&m, 0) {
                prop_assert_eq!(back, o);
            }
        }
    }
}
