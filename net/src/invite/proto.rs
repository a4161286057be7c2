//! The invitation protocol (`/dxos/invite/1`) as an IO-less state machine.
//!
//! The guest has dialled the peer id written in the offer, so the Noise handshake already
//! proved it reached the inviter. It then sends one [`Wire::Hello`]: the offer id and an HMAC
//! of the *transcript* (offer id, kind, both device keys) keyed by the one-time secret, so the
//! secret is never sent and a proof is worth nothing on any other connection; with `--code`, a
//! second HMAC over the transcript and the 6-digit code. The host answers with the credentials
//! that admit the guest ([`Wire::Admitted`]) or with why not ([`Wire::Refused`]). An admitted
//! guest says [`Wire::Synced`] once it has the first sync, on the same stream.
//!
//! An offer admits one guest, until it expires; three failed attempts in all (wrong proofs
//! and wrong codes together) kill it; the host can cancel it.

use dxos_halo::{Credential, Offer, OfferKind, PublicKey};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Failed attempts (wrong secret or code) after which an offer is dead.
pub const MAX_ATTEMPTS: u32 = 3;
/// Largest invitation message (an identity with many spaces sends all their credentials).
pub const MAX_INVITE_MESSAGE: usize = 16 << 20;
/// Most credentials one answer may carry.
const MAX_CREDENTIALS: usize = 100_000;

/// One message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wire {
    /// Guest to host: which offer, and the proofs.
    Hello {
        /// The offer's id.
        offer: [u8; 8],
        /// HMAC(secret, "secret" | transcript).
        proof: [u8; 32],
        /// HMAC(secret, "code" | transcript | code), when the offer needs a code.
        code_proof: Option<[u8; 32]>,
        /// The guest's identity credentials (for a space; empty for a device join).
        credentials: Vec<Vec<u8>>,
    },
    /// Host to guest: the credentials that admit it.
    Admitted {
        /// Encoded credentials.
        credentials: Vec<Vec<u8>>,
    },
    /// Host to guest: not admitted, and why.
    Refused(Refusal),
    /// Guest to host, after `Admitted`: the guest has the first sync of everything it was
    /// admitted to, so an inviter that runs only for the invitation may stop.
    Synced,
}

impl Wire {
    /// The bytes of this message.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Reads a message (bounded by [`MAX_INVITE_MESSAGE`]).
    pub fn decode(bytes: &[u8]) -> Result<Wire, JoinError> {
        if bytes.len() > MAX_INVITE_MESSAGE {
            return Err(JoinError::Malformed(format!("a message of {} bytes", bytes.len())));
        }
        postcard::from_bytes(bytes).map_err(|e| JoinError::Malformed(e.to_string()))
    }
}

/// Why a host refused a guest, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// No open offer with that id.
    #[error("the inviter has no such open invitation (cancelled, already used, or from another device)")]
    UnknownOffer,
    /// Past its expiry.
    #[error("the invitation expired")]
    Expired,
    /// Someone was admitted with it already.
    #[error("the invitation was already used")]
    Used,
    /// The host cancelled it.
    #[error("the inviter cancelled the invitation")]
    Cancelled,
    /// The proof of the secret is wrong.
    #[error("the invitation's secret does not match (a damaged or forged invitation)")]
    WrongSecret,
    /// The code is wrong.
    #[error("wrong code")]
    WrongCode,
    /// Three failed attempts: the offer is dead.
    #[error("too many failed attempts: the invitation is no longer valid")]
    TooManyAttempts,
    /// The host could not admit the guest.
    #[error("the inviter could not admit you: {0}")]
    NotAdmitted(String),
}

/// Why a join failed on the guest's side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The offer needs a code and none (or a malformed one) was given.
    #[error("this invitation needs the 6-digit code shown by the inviter (--code)")]
    CodeRequired,
    /// The host refused.
    #[error("{0}")]
    Refused(Refusal),
    /// The host sent something that is not the protocol.
    #[error("the inviter sent a malformed answer: {0}")]
    Malformed(String),
}

/// The transcript both sides bind their proofs to.
pub fn transcript(offer: &Offer, host: &PublicKey, guest: &PublicKey) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"dxos/invite/v1");
    h.update(offer.id);
    h.update(postcard::to_stdvec(&offer.kind).unwrap_or_default());
    h.update(host.as_bytes());
    h.update(guest.as_bytes());
    h.finalize().into()
}

fn mac(secret: &[u8; 16], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC takes keys of any length: this cannot fail.
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(p);
    }
    m
}

/// The proof of the secret.
pub fn proof(secret: &[u8; 16], transcript: &[u8; 32]) -> [u8; 32] {
    mac(secret, &[b"secret", transcript]).finalize().into_bytes().into()
}

/// The proof of the code.
pub fn code_proof(secret: &[u8; 16], transcript: &[u8; 32], code: &str) -> [u8; 32] {
    mac(secret, &[b"code", transcript, code.as_bytes()]).finalize().into_bytes().into()
}

/// Four words both screens show for a pairing: the same on both only if both sides see the
/// same offer and the same two devices.
pub fn fingerprint(secret: &[u8; 16], transcript: &[u8; 32]) -> String {
    let h =
        Sha256::new().chain_update(b"dxos/invite/fingerprint").chain_update(secret).chain_update(transcript).finalize();
    let words = bip39::Language::English.word_list();
    (0..4)
        .map(|i| words[usize::from(u16::from_be_bytes([h[2 * i], h[2 * i + 1]]) % 2048)])
        .collect::<Vec<_>>()
        .join("-")
}

/// A new 6-digit code.
pub fn new_code() -> String {
    format!("{:06}", rand::random::<u32>() % 1_000_000)
}

/// Where an offer stands, on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostState {
    /// Open: no guest yet.
    Waiting,
    /// A guest proved the secret (and code) and is being admitted.
    Admitting {
        /// Its device.
        guest: PublicKey,
    },
    /// Done: the guest is in.
    Admitted {
        /// Its device.
        guest: PublicKey,
    },
    /// Dead: expired, cancelled, or too many failed attempts.
    Closed(Refusal),
}

/// One offer, host side.
#[derive(Debug, Clone)]
pub struct HostOffer {
    offer: Offer,
    code: Option<String>,
    host: PublicKey,
    failures: u32,
    state: HostState,
}

impl HostOffer {
    /// An open offer made by the device `host`; `code` is the 6-digit code when the offer
    /// needs one.
    pub fn new(offer: Offer, code: Option<String>, host: PublicKey) -> Self {
        Self { offer, code, host, failures: 0, state: HostState::Waiting }
    }

    /// The offer.
    pub fn offer(&self) -> &Offer {
        &self.offer
    }

    /// Where it stands.
    pub fn state(&self) -> &HostState {
        &self.state
    }

    /// Failed attempts so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The pairing's fingerprint with this guest.
    pub fn fingerprint(&self, guest: &PublicKey) -> String {
        fingerprint(&self.offer.secret, &transcript(&self.offer, &self.host, guest))
    }

    /// Checks a guest's hello at `now` (Unix seconds). `Ok`: admit it (then call
    /// [`HostOffer::admitted`] or [`HostOffer::failed`]); `Err`: send the refusal.
    pub fn check(
        &mut self,
        guest: &PublicKey,
        proof_given: &[u8; 32],
        code_given: Option<&[u8; 32]>,
        now: u64,
    ) -> Result<(), Refusal> {
        if let HostState::Waiting = self.state
            && now >= self.offer.expires_at
        {
            self.state = HostState::Closed(Refusal::Expired);
        }
        match &self.state {
            HostState::Waiting => {}
            HostState::Admitting { .. } | HostState::Admitted { .. } => return Err(Refusal::Used),
            HostState::Closed(r) => return Err(r.clone()),
        }
        let t = transcript(&self.offer, &self.host, guest);
        let secret_ok = mac(&self.offer.secret, &[b"secret", &t]).verify_slice(proof_given).is_ok();
        let code_ok = match &self.code {
            None => true,
            Some(code) => code_given.is_some_and(|given| {
                mac(&self.offer.secret, &[b"code", &t, code.as_bytes()]).verify_slice(given).is_ok()
            }),
        };
        if secret_ok && code_ok {
            self.state = HostState::Admitting { guest: *guest };
            return Ok(());
        }
        self.failures += 1;
        if self.failures >= MAX_ATTEMPTS {
            self.state = HostState::Closed(Refusal::TooManyAttempts);
            return Err(Refusal::TooManyAttempts);
        }
        Err(if secret_ok { Refusal::WrongCode } else { Refusal::WrongSecret })
    }

    /// The guest being admitted is in.
    pub fn admitted(&mut self) {
        if let HostState::Admitting { guest } = self.state {
            self.state = HostState::Admitted { guest };
        }
    }

    /// Admitting the guest failed (say, its identity chain did not hold): that counts as a
    /// failed attempt, and the offer is open again unless it is dead.
    pub fn failed(&mut self) {
        if let HostState::Admitting { .. } = self.state {
            self.failures += 1;
            self.state = if self.failures >= MAX_ATTEMPTS {
                HostState::Closed(Refusal::TooManyAttempts)
            } else {
                HostState::Waiting
            };
        }
    }

    /// The host cancels the offer (unless a guest is already in).
    pub fn cancel(&mut self) {
        if !matches!(self.state, HostState::Admitted { .. }) {
            self.state = HostState::Closed(Refusal::Cancelled);
        }
    }

    /// Closes the offer if it expired by `now` and no guest got in; returns whether it did.
    pub fn expire(&mut self, now: u64) -> bool {
        if matches!(self.state, HostState::Waiting) && now >= self.offer.expires_at {
            self.state = HostState::Closed(Refusal::Expired);
            return true;
        }
        false
    }
}

/// One join, guest side.
#[derive(Debug, Clone)]
pub struct GuestJoin {
    offer: Offer,
    code: Option<String>,
    transcript: [u8; 32],
}

impl GuestJoin {
    /// A join of `offer` by the device `guest`, with the code the user typed (needed when
    /// the offer says so: six digits).
    pub fn new(offer: Offer, code: Option<&str>, guest: &PublicKey) -> Result<Self, JoinError> {
        let code = code.map(|c| c.trim().to_owned());
        if offer.code_required && !code.as_ref().is_some_and(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(JoinError::CodeRequired);
        }
        let host = offer.inviter_key().map_err(|e| JoinError::Malformed(e.to_string()))?;
        let transcript = transcript(&offer, &host, guest);
        Ok(Self { offer, code, transcript })
    }

    /// The offer.
    pub fn offer(&self) -> &Offer {
        &self.offer
    }

    /// The pairing's fingerprint (the host shows the same words).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.offer.secret, &self.transcript)
    }

    /// The first message, with the guest's identity credentials for a space join.
    pub fn hello(&self, credentials: &[Credential]) -> Wire {
        let credentials = match self.offer.kind {
            OfferKind::Device => Vec::new(),
            OfferKind::Space { .. } => credentials.iter().map(Credential::encode).collect(),
        };
        Wire::Hello {
            offer: self.offer.id,
            proof: proof(&self.offer.secret, &self.transcript),
            code_proof: match (&self.code, self.offer.code_required) {
                (Some(c), true) => Some(code_proof(&self.offer.secret, &self.transcript, c)),
                _ => None,
            },
            credentials,
        }
    }

    /// The host's answer: the credentials that admit us (each signature checked), or why not.
    pub fn on_reply(&self, bytes: &[u8]) -> Result<Vec<Credential>, JoinError> {
        match Wire::decode(bytes)? {
            Wire::Admitted { credentials } if credentials.len() <= MAX_CREDENTIALS => credentials
                .iter()
                .map(|c| Credential::decode(c).map_err(|e| JoinError::Malformed(e.to_string())))
                .collect(),
            Wire::Admitted { credentials } => Err(JoinError::Malformed(format!("{} credentials", credentials.len()))),
            Wire::Refused(r) => Err(JoinError::Refused(r)),
            Wire::Hello { .. } => Err(JoinError::Malformed("a hello from the host".into())),
            Wire::Synced => Err(JoinError::Malformed("`synced` from the host".into())),
        }
    }
}

/// Decodes the credentials a guest sent with its hello (bounded, signatures checked).
pub fn guest_credentials(encoded: &[Vec<u8>]) -> Result<Vec<Credential>, Refusal> {
    if encoded.len() > MAX_CREDENTIALS {
        return Err(Refusal::NotAdmitted("too many credentials".into()));
    }
    encoded
        .iter()
        .map(|c| Credential::decode(c).map_err(|e| Refusal::NotAdmitted(format!("a credential: {e}"))))
        .collect()
}
