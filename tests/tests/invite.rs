//! Invitations between nodes on loopback: pairing a device, sharing a space as reader and as
//! editor, taking access back, and every way an invitation can be wrong (each a clear error
//! within its timeout, with nothing admitted).

mod common;

use common::logs;

use std::time::{Duration, Instant};

use dxos_halo::{Offer, OfferKind, Role};
use dxos_net::invite::driver::JoinFailure;
use dxos_net::invite::{Delivery, InviteStatus, JoinStatus, Joined};
use dxos_net::testing::{TestProfile, TestResult, titles, wait_until};
use dxos_net::{Node, Transport};
use tokio::sync::watch;

const LONG: Duration = Duration::from_secs(30);

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Waits for a join to end (the driver's own timeouts bound it) and returns how it ended.
async fn finished(mut rx: watch::Receiver<JoinStatus>) -> JoinStatus {
    let _ = rx.wait_for(JoinStatus::is_final).await;
    rx.borrow().clone()
}

async fn invite_status(rx: &mut watch::Receiver<InviteStatus>) -> InviteStatus {
    let _ = tokio::time::timeout(LONG, rx.wait_for(InviteStatus::is_final)).await;
    rx.borrow().clone()
}

fn join_offer(node: &Node, uri: &str, code: Option<&str>) -> TestResult<watch::Receiver<JoinStatus>> {
    Ok(node.join(Offer::from_uri(uri, now_s())?, code.map(str::to_owned), "phone".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_pairs_over_webrtc_and_syncs_live() -> TestResult<()> {
    logs();
    let a = TestProfile::new("Ada")?;
    let (key, space) = a.create_space("Home")?;
    space.add_task("milk")?;
    space.add_task("eggs")?;
    let b = TestProfile::fresh()?;
    let t = [Transport::WebRtcDirect];
    let na = a.start(a.config(&t)).await?;
    let nb = b.start(b.config(&t)).await?;
    let start = Instant::now();
    let mut inv = na.invite(OfferKind::Device, Duration::from_secs(600), false).await?;
    println!("device offer URI: {} characters", inv.uri.len());
    assert!(inv.uri.len() <= dxos_halo::invitation::MAX_URI);
    let status = finished(join_offer(&nb, &inv.uri, None)?).await;
    let elapsed = start.elapsed();
    println!("paired and first-synced over WebRTC in {elapsed:?}");
    let identity = a.halo.identity().ok_or("no identity")?;
    assert_eq!(status, JoinStatus::Done(Joined::Device { identity: identity.identity_key }));
    match invite_status(&mut inv.status).await {
        InviteStatus::Admitted { admitted, delivery, .. } => {
            assert_eq!(Some(admitted), b.halo.device_key().map(|k| k.public()));
            // The guest told the host it has the first sync.
            assert_eq!(delivery, Delivery::Done);
        }
        other => panic!("host status: {other:?}"),
    }
    // Same identity, two devices on both sides; the space and its tasks came along.
    let bi = b.halo.identity().ok_or("B has no identity")?;
    assert_eq!(bi.identity_key, identity.identity_key);
    assert_eq!(bi.devices.len(), 2);
    assert!(wait_until(LONG, || a.halo.identity().is_some_and(|i| i.devices.len() == 2)).await.is_some());
    let sb = b.echo.space(&key.public())?;
    assert_eq!(titles(&sb), ["milk", "eggs"]);
    // Live edits both ways.
    sb.add_task("bread")?;
    assert!(wait_until(LONG, || titles(&space) == ["milk", "eggs", "bread"]).await.is_some());
    space.add_task("tea")?;
    assert!(wait_until(LONG, || titles(&sb).len() == 4).await.is_some());
    // A single use: the offer is spent.
    let c = TestProfile::fresh()?;
    let nc = c.start(c.config(&t)).await?;
    let reuse = finished(join_offer(&nc, &inv.uri, None)?).await;
    assert!(
        matches!(&reuse, JoinStatus::Failed { kind: JoinFailure::Refused, reason } if reason.contains("already used")),
        "{reuse:?}"
    );
    assert!(c.halo.identity().is_none());
    // A profile with an identity cannot join as a device (nothing is sent).
    let inv2 = na.invite(OfferKind::Device, Duration::from_secs(600), false).await?;
    let again = finished(join_offer(&nb, &inv2.uri, None)?).await;
    assert!(matches!(again, JoinStatus::Failed { kind: JoinFailure::InvalidInput, .. }), "{again:?}");
    for n in [na, nb, nc] {
        n.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_space_is_shared_as_reader_and_editor_then_taken_back() -> TestResult<()> {
    logs();
    let a = TestProfile::new("Ada")?;
    let (key, space) = a.create_space("Plans")?;
    space.add_task("milk")?;
    let reader = TestProfile::new("Rita")?;
    let editor = TestProfile::new("Ed")?;
    let t = [Transport::Quic];
    let na = a.start(a.config(&t)).await?;
    let nr = reader.start(reader.config(&t)).await?;
    let ne = editor.start(editor.config(&t)).await?;

    // The reader joins with a code; both screens show the same words.
    let kind = OfferKind::Space { space: *key.public().as_bytes(), role: Role::Reader };
    let mut inv = na.invite(kind, Duration::from_secs(600), true).await?;
    let code = inv.code.clone().ok_or("no code")?;
    let mut rx = join_offer(&nr, &inv.uri, Some(&code))?;
    let guest_words = {
        let _ =
            tokio::time::timeout(LONG, rx.wait_for(|s| matches!(s, JoinStatus::Authenticating { .. }) || s.is_final()))
                .await;
        match &*rx.borrow() {
            JoinStatus::Authenticating { fingerprint } => fingerprint.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(finished(rx).await, JoinStatus::Done(Joined::Space { space: key.public(), already: false }));
    match invite_status(&mut inv.status).await {
        InviteStatus::Admitted { admitted, fingerprint, delivery } => {
            assert_eq!(Some(admitted), reader.halo.identity().map(|i| i.identity_key));
            assert_eq!(fingerprint, guest_words);
            assert_eq!(delivery, Delivery::Done);
        }
        other => panic!("{other:?}"),
    }
    let sr = reader.echo.space(&key.public())?;
    assert_eq!(titles(&sr), ["milk"]);
    // Joining again changes nothing.
    let inv_again = na
        .invite(
            OfferKind::Space { space: *key.public().as_bytes(), role: Role::Editor },
            Duration::from_secs(60),
            false,
        )
        .await?;
    let again = finished(join_offer(&nr, &inv_again.uri, None)?).await;
    assert_eq!(again, JoinStatus::Done(Joined::Space { space: key.public(), already: true }));
    assert_eq!(reader.halo.my_role(&key.public()), Some(Role::Reader));

    // The editor joins without a code.
    let kind = OfferKind::Space { space: *key.public().as_bytes(), role: Role::Editor };
    let inv = na.invite(kind, Duration::from_secs(600), false).await?;
    assert!(matches!(finished(join_offer(&ne, &inv.uri, None)?).await, JoinStatus::Done(_)));
    let se = editor.echo.space(&key.public())?;
    se.add_task("eggs")?;
    assert!(wait_until(LONG, || titles(&space) == ["milk", "eggs"]).await.is_some(), "the editor's edit arrived");
    assert!(wait_until(LONG, || titles(&sr) == ["milk", "eggs"]).await.is_some(), "the reader sees it");
    // The reader's own edit stays home (its UI would not offer it; peers refuse it anyway).
    sr.add_task("rita's")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(titles(&space), ["milk", "eggs"]);
    assert_eq!(titles(&se), ["milk", "eggs"]);

    // The owner removes the editor: it gets nothing new.
    let ed = editor.halo.identity().ok_or("no identity")?.identity_key;
    a.halo.remove_member(&key.public(), &ed)?;
    // The owner stops serving it at once (it is not told: a removed member learns nothing more).
    let mut gone = false;
    for _ in 0..300 {
        if !na.presence().await?.iter().any(|p| p.member == ed) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "the owner still counts the removed member as present");
    space.add_task("secret plan")?;
    // (The reader holds its own refused edit too, so count what arrives by name.)
    let arrived = || titles(&sr).iter().any(|t| t == "secret plan");
    assert!(wait_until(LONG, arrived).await.is_some(), "the reader still gets updates");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(titles(&se), ["milk", "eggs"], "the removed member got nothing new");

    // The reader leaves: the owner sees it go.
    let rita = reader.halo.identity().ok_or("no identity")?.identity_key;
    reader.halo.leave_space(&key.public())?;
    assert!(
        wait_until(LONG, || a.halo.space_state(&key.public()).and_then(|s| s.role_of(&rita)) == Some(Role::Removed))
            .await
            .is_some()
    );
    for n in [na, nr, ne] {
        n.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_gets_nothing_new() -> TestResult<()> {
    logs();
    let a = TestProfile::new("Ada")?;
    let (key, space) = a.create_space("Home")?;
    space.add_task("milk")?;
    let b = TestProfile::fresh()?;
    let t = [Transport::Tcp];
    let na = a.start(a.config(&t)).await?;
    let nb = b.start(b.config(&t)).await?;
    let inv = na.invite(OfferKind::Device, Duration::from_secs(600), false).await?;
    assert!(matches!(finished(join_offer(&nb, &inv.uri, None)?).await, JoinStatus::Done(_)));
    let sb = b.echo.space(&key.public())?;
    let device = b.halo.device_key().ok_or("no key")?.public();
    a.halo.revoke_device(&device)?;
    assert_eq!(a.halo.identity().map(|i| i.devices.len()), Some(1));
    space.add_task("after")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(titles(&sb), ["milk"], "the revoked device got nothing new");
    na.shutdown().await?;
    nb.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_invitations_fail_clearly_and_admit_nobody() -> TestResult<()> {
    logs();
    let a = TestProfile::new("Ada")?;
    let (key, _space) = a.create_space("Home")?;
    let b = TestProfile::new("Bob")?;
    let t = [Transport::WebRtcDirect, Transport::Quic];
    let na = a.start(a.config(&t)).await?;
    let nb = b.start(b.config(&t)).await?;
    let kind = OfferKind::Space { space: *key.public().as_bytes(), role: Role::Editor };

    // A tampered secret (a valid URI otherwise), a wrong code, then a missing code proof
    // cannot happen (the guest refuses to send without a code): three failures kill it.
    let mut inv = na.invite(kind.clone(), Duration::from_secs(600), true).await?;
    let code = inv.code.clone().ok_or("no code")?;
    let wrong = if code == "123456" { "654321" } else { "123456" };
    let mut tampered = inv.offer.clone();
    tampered.secret[0] ^= 1;
    let r1 = finished(nb.join(tampered, Some(code.clone()), "x".into())).await;
    assert!(
        matches!(&r1, JoinStatus::Failed { kind: JoinFailure::Refused, reason } if reason.contains("secret")),
        "{r1:?}"
    );
    let r2 = finished(join_offer(&nb, &inv.uri, Some(wrong))?).await;
    assert!(
        matches!(&r2, JoinStatus::Failed { kind: JoinFailure::Refused, reason } if reason.contains("wrong code")),
        "{r2:?}"
    );
    let no_code = finished(join_offer(&nb, &inv.uri, None)?).await;
    assert!(matches!(no_code, JoinStatus::Failed { kind: JoinFailure::InvalidInput, .. }), "{no_code:?}");
    let r3 = finished(join_offer(&nb, &inv.uri, Some(wrong))?).await;
    assert!(matches!(&r3, JoinStatus::Failed { reason, .. } if reason.contains("too many")), "{r3:?}");
    // The fourth, with the right code, is refused too.
    let r4 = finished(join_offer(&nb, &inv.uri, Some(&code))?).await;
    assert!(matches!(&r4, JoinStatus::Failed { reason, .. } if reason.contains("too many")), "{r4:?}");
    assert!(matches!(invite_status(&mut inv.status).await, InviteStatus::Failed { .. }));
    assert_eq!(b.halo.my_role(&key.public()), None, "nothing admitted");

    // Cancelled by the host.
    let inv = na.invite(kind.clone(), Duration::from_secs(600), false).await?;
    assert!(na.cancel_invitation(&inv.offer.id));
    let r = finished(join_offer(&nb, &inv.uri, None)?).await;
    assert!(matches!(&r, JoinStatus::Failed { reason, .. } if reason.contains("cancelled")), "{r:?}");

    // Expired: refused by the guest at once when it knows, and by the host when it expires
    // on the way.
    let inv = na.invite(kind.clone(), Duration::from_secs(1), false).await?;
    let offer = inv.offer.clone();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(matches!(Offer::from_uri(&inv.uri, now_s()), Err(dxos_halo::OfferError::Expired)));
    let r = finished(nb.join(offer.clone(), None, "x".into())).await;
    assert!(
        matches!(&r, JoinStatus::Failed { kind: JoinFailure::InvalidInput, reason } if reason.contains("expired")),
        "{r:?}"
    );
    let mut late = offer;
    late.expires_at = now_s() + 600; // the guest's clock says it is fine; the host's does not
    let r = finished(nb.join(late, None, "x".into())).await;
    assert!(matches!(&r, JoinStatus::Failed { kind: JoinFailure::Refused, .. }), "{r:?}");

    // An inviter that is not there: a network error within the connect timeout.
    let ghost = dxos_halo::KeyPair::generate();
    let unreachable = Offer {
        kind,
        id: [1; 8],
        secret: [2; 16],
        inviter: *ghost.public().as_bytes(),
        addrs: vec!["/ip4/127.0.0.1/tcp/9".parse::<libp2p::Multiaddr>()?.to_vec()],
        expires_at: now_s() + 600,
        code_required: false,
    };
    let start = Instant::now();
    let r = finished(nb.join(unreachable, None, "x".into())).await;
    assert!(
        matches!(&r, JoinStatus::Failed { kind: JoinFailure::Network, reason } if reason.contains("cannot reach")),
        "{r:?}"
    );
    assert!(start.elapsed() < dxos_net::invite::driver::CONNECT_TIMEOUT + Duration::from_secs(5));
    assert_eq!(b.halo.my_role(&key.public()), None, "nothing admitted");
    na.shutdown().await?;
    nb.shutdown().await?;
    Ok(())
}
