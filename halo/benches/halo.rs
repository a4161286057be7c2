//! HALO benchmark: verifying a 3-link device chain (root -> device 1 -> device 2 -> device 3,
//! plus the genesis), beside bare ed25519 verification of the same four signatures.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dxos_halo::credential::DOMAIN;
use dxos_halo::keys::domain_message;
use dxos_halo::{Claim, Credential, CredentialId, IdentityState, KeyPair};

fn chain() -> (KeyPair, Vec<Credential>) {
    let root = KeyPair::generate();
    let me = *root.public().as_bytes();
    let mut creds = vec![Credential::issue(Claim::IdentityGenesis { identity: me }, &root, None, 1)];
    let mut issuer = KeyPair::from_secret_bytes(&root.secret_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let mut parent: Option<CredentialId> = None;
    for i in 0..3 {
        let d = KeyPair::generate();
        let c = Credential::issue(
            Claim::AuthorizedDevice { identity: me, device: *d.public().as_bytes() },
            &issuer,
            parent,
            2 + i,
        );
        parent = Some(c.id());
        creds.push(c);
        issuer = d;
    }
    (root, creds)
}

fn verify_chain(c: &mut Criterion) {
    let (root, creds) = chain();
    let mut g = c.benchmark_group("verify_device_chain_3_links");
    let signed: Vec<(ed25519_dalek::VerifyingKey, Vec<u8>, ed25519_dalek::Signature)> = creds
        .iter()
        .map(|c| {
            let key = ed25519_dalek::VerifyingKey::from_bytes(&c.issuer()).unwrap_or_else(|e| panic!("{e}"));
            (key, domain_message(DOMAIN, c.body_bytes()), ed25519_dalek::Signature::from_bytes(c.signature()))
        })
        .collect();
    g.bench_function("baseline_bare_ed25519", |b| {
        b.iter(|| {
            for (key, msg, sig) in &signed {
                key.verify_strict(msg, sig).unwrap_or_else(|e| panic!("{e}"));
            }
        })
    });
    g.bench_function("halo_identity_state", |b| {
        b.iter(|| {
            let s = IdentityState::from_credentials(root.public(), black_box(creds.clone()))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.devices().count(), 3);
            black_box(s)
        })
    });
    g.finish();
}

criterion_group!(benches, verify_chain);
criterion_main!(benches);
