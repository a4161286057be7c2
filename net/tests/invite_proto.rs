//! The invitation protocol's state machine, without sockets: proofs, codes, single use,
//! expiry, the three-attempt limit, cancelling, fingerprints and hostile answers.

use dxos_halo::{KeyPair, Offer, OfferKind, PublicKey, Role};
use dxos_net::invite::proto::{GuestJoin, HostOffer, HostState, JoinError, Refusal, Wire, new_code};
use proptest::prelude::*;

struct Setup {
    host: PublicKey,
    offer: Offer,
}

fn setup(code_required: bool) -> Setup {
    let host = KeyPair::generate().public();
    let offer = Offer {
        kind: OfferKind::Space { space: [4; 32], role: Role::Editor },
        id: rand::random(),
        secret: rand::random(),
        inviter: *host.as_bytes(),
        addrs: Vec::new(),
        expires_at: 1_000,
        code_required,
    };
    Setup { host, offer }
}

fn hello_of(join: &GuestJoin) -> ([u8; 32], Option<[u8; 32]>) {
    match join.hello(&[]) {
        Wire::Hello { proof, code_proof, .. } => (proof, code_proof),
        other => panic!("not a hello: {other:?}"),
    }
}

#[test]
fn an_honest_guest_is_admitted_once() {
    let s = setup(false);
    let mut host = HostOffer::new(s.offer.clone(), None, s.host);
    let guest = KeyPair::generate().public();
    let join = GuestJoin::new(s.offer.clone(), None, &guest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(join.fingerprint(), host.fingerprint(&guest), "both screens show the same words");
    assert_eq!(join.fingerprint().split('-').count(), 4);
    let (p, c) = hello_of(&join);
    assert_eq!(host.check(&guest, &p, c.as_ref(), 10), Ok(()));
    assert_eq!(host.state(), &HostState::Admitting { guest });
    // While admitting, and after, the offer is used.
    let other = KeyPair::generate().public();
    let j2 = GuestJoin::new(s.offer.clone(), None, &other).unwrap_or_else(|e| panic!("{e}"));
    let (p2, c2) = hello_of(&j2);
    assert_eq!(host.check(&other, &p2, c2.as_ref(), 10), Err(Refusal::Used));
    host.admitted();
    assert_eq!(host.state(), &HostState::Admitted { guest });
    assert_eq!(host.check(&guest, &p, c.as_ref(), 10), Err(Refusal::Used));
    host.cancel();
    assert_eq!(host.state(), &HostState::Admitted { guest }, "cancelling after the fact changes nothing");
}

#[test]
fn a_proof_is_bound_to_the_secret_and_both_devices() {
    let s = setup(false);
    let mut host = HostOffer::new(s.offer.clone(), None, s.host);
    let guest = KeyPair::generate().public();
    // Someone who saw a proof on another connection replays it: another device, no good.
    let join = GuestJoin::new(s.offer.clone(), None, &guest).unwrap_or_else(|e| panic!("{e}"));
    let (p, _) = hello_of(&join);
    let thief = KeyPair::generate().public();
    assert_eq!(host.check(&thief, &p, None, 10), Err(Refusal::WrongSecret));
    // A tampered offer (another secret) proves nothing either; its fingerprint differs.
    let mut forged = s.offer.clone();
    forged.secret[0] ^= 1;
    let fj = GuestJoin::new(forged, None, &guest).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(fj.fingerprint(), host.fingerprint(&guest));
    let (fp, _) = hello_of(&fj);
    assert_eq!(host.check(&guest, &fp, None, 10), Err(Refusal::WrongSecret));
    assert_eq!(host.failures(), 2);
    // The honest guest still gets in (two failures so far).
    assert_eq!(host.check(&guest, &p, None, 10), Ok(()));
}

#[test]
fn three_failures_in_all_kill_the_offer() {
    let s = setup(true);
    let code = new_code();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut host = HostOffer::new(s.offer.clone(), Some(code.clone()), s.host);
    let guest = KeyPair::generate().public();
    // No code, or not six digits: refused on the guest's side before anything is sent.
    assert_eq!(GuestJoin::new(s.offer.clone(), None, &guest).err(), Some(JoinError::CodeRequired));
    assert_eq!(GuestJoin::new(s.offer.clone(), Some("12a456"), &guest).err(), Some(JoinError::CodeRequired));
    let bad = GuestJoin::new(s.offer.clone(), Some(wrong), &guest).unwrap_or_else(|e| panic!("{e}"));
    let (p, c) = hello_of(&bad);
    assert_eq!(host.check(&guest, &p, c.as_ref(), 10), Err(Refusal::WrongCode));
    // A code proof missing altogether is a wrong code too.
    assert_eq!(host.check(&guest, &p, None, 10), Err(Refusal::WrongCode));
    let mut forged = s.offer.clone();
    forged.secret[3] ^= 0x40;
    let fj = GuestJoin::new(forged, Some(&code), &guest).unwrap_or_else(|e| panic!("{e}"));
    let (fp, fc) = hello_of(&fj);
    assert_eq!(host.check(&guest, &fp, fc.as_ref(), 10), Err(Refusal::TooManyAttempts));
    // The fourth attempt, even a right one, is refused.
    let good = GuestJoin::new(s.offer.clone(), Some(&code), &guest).unwrap_or_else(|e| panic!("{e}"));
    let (gp, gc) = hello_of(&good);
    assert_eq!(host.check(&guest, &gp, gc.as_ref(), 10), Err(Refusal::TooManyAttempts));
    assert_eq!(host.state(), &HostState::Closed(Refusal::TooManyAttempts));
}

#[test]
fn a_right_code_gets_in() {
    let s = setup(true);
    let code = new_code();
    let mut host = HostOffer::new(s.offer.clone(), Some(code.clone()), s.host);
    let guest = KeyPair::generate().public();
    let join = GuestJoin::new(s.offer.clone(), Some(&format!(" {code} ")), &guest).unwrap_or_else(|e| panic!("{e}"));
    let (p, c) = hello_of(&join);
    assert!(c.is_some());
    assert_eq!(host.check(&guest, &p, c.as_ref(), 10), Ok(()));
}

#[test]
fn expired_cancelled_and_failed_admissions() {
    let s = setup(false);
    let guest = KeyPair::generate().public();
    let join = GuestJoin::new(s.offer.clone(), None, &guest).unwrap_or_else(|e| panic!("{e}"));
    let (p, _) = hello_of(&join);

    let mut host = HostOffer::new(s.offer.clone(), None, s.host);
    assert!(!host.expire(999));
    assert!(host.expire(1_000));
    assert_eq!(host.check(&guest, &p, None, 10), Err(Refusal::Expired));

    let mut host = HostOffer::new(s.offer.clone(), None, s.host);
    assert_eq!(host.check(&guest, &p, None, 1_000), Err(Refusal::Expired), "checked at the time of the hello");

    let mut host = HostOffer::new(s.offer.clone(), None, s.host);
    host.cancel();
    assert_eq!(host.check(&guest, &p, None, 10), Err(Refusal::Cancelled));

    // An admission that fails (the guest's identity chain did not hold) counts as an attempt.
    let mut host = HostOffer::new(s.offer.clone(), None, s.host);
    for _ in 0..2 {
        assert_eq!(host.check(&guest, &p, None, 10), Ok(()));
        host.failed();
        assert_eq!(host.state(), &HostState::Waiting);
    }
    assert_eq!(host.check(&guest, &p, None, 10), Ok(()));
    host.failed();
    assert_eq!(host.state(), &HostState::Closed(Refusal::TooManyAttempts));
}

#[test]
fn answers_are_checked() {
    let s = setup(false);
    let guest = KeyPair::generate().public();
    let join = GuestJoin::new(s.offer.clone(), None, &guest).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(join.on_reply(b"\xff\xff\xff"), Err(JoinError::Malformed(_))));
    assert!(matches!(join.on_reply(&join.hello(&[]).encode()), Err(JoinError::Malformed(_))));
    let refused = Wire::Refused(Refusal::WrongCode).encode();
    assert_eq!(join.on_reply(&refused), Err(JoinError::Refused(Refusal::WrongCode)));
    // A credential with a broken signature is refused.
    let key = KeyPair::generate();
    let c = dxos_halo::Credential::issue(
        dxos_halo::Claim::IdentityGenesis { identity: *key.public().as_bytes() },
        &key,
        None,
        1,
    );
    let mut bytes = c.encode();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    let reply = Wire::Admitted { credentials: vec![bytes] }.encode();
    assert!(matches!(join.on_reply(&reply), Err(JoinError::Malformed(_))));
    let good = Wire::Admitted { credentials: vec![c.encode()] }.encode();
    assert_eq!(join.on_reply(&good), Ok(vec![c]));
}

proptest! {
    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let s = setup(false);
        let guest = KeyPair::generate().public();
        let join = GuestJoin::new(s.offer, None, &guest).unwrap_or_else(|e| panic!("{e}"));
        let _ = join.on_reply(&bytes);
        let _ = Wire::decode(&bytes);
    }
}
