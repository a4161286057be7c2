//! Several nodes on loopback: replication over WebRTC-direct, QUIC and TCP, convergence of
//! offline edits, restarts, link loss, and what outsiders, readers, removed members, revoked
//! devices and hostile peers get (nothing they should).

mod common;

use common::logs;

use std::time::{Duration, Instant};

use dxos_halo::PeerIdExt;
use dxos_halo::{Claim, Credential, KeyPair, Role, Subject};
use dxos_net::testing::{TestProfile, TestResult, titles, wait_until};
use dxos_net::{Node, NodeEvent, SessionEvent, Transport};

const LONG: Duration = Duration::from_secs(30);

async fn connect(from: &Node, to: &Node) -> TestResult<()> {
    let addr = to.listen_addrs().await?.into_iter().next().ok_or("no listen address")?;
    from.dial(addr).await?;
    Ok(())
}

/// Owner A with a space holding "milk", editor B admitted, both nodes up over `t`, B dialled A.
async fn two(t: Transport) -> TestResult<(TestProfile, TestProfile, KeyPair, Node, Node)> {
    logs();
    let (a, b, key, _space) = TestProfile::ada_and_bob()?;
    let na = a.start(a.config(&[t])).await?;
    let nb = b.start(b.config(&[t])).await?;
    connect(&nb, &na).await?;
    Ok((a, b, key, na, nb))
}

async fn replicate_both_ways(t: Transport) -> TestResult<()> {
    let (a, b, key, na, nb) = two(t).await?;
    let (sa, sb) = (a.echo.space(&key.public())?, b.echo.open_replica(key.public())?);
    assert!(wait_until(LONG, || titles(&sb) == ["milk"]).await.is_some(), "B got A's task over {t:?}");
    assert_eq!(sb.name(), "Shared");
    sb.add_task("eggs")?;
    assert!(wait_until(LONG, || titles(&sa) == ["milk", "eggs"]).await.is_some(), "A got B's task");
    sa.add_task("bread")?;
    assert!(wait_until(LONG, || titles(&sb) == ["milk", "eggs", "bread"]).await.is_some());
    // Both see each other, over the transport asked for, and A sees B online in the space.
    let peers = nb.peers().await?;
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].transport, t);
    assert_eq!(peers[0].device_key, a.halo.device_key().map(|k| k.public()));
    let bob = b.halo.identity().ok_or("no identity")?;
    let online = na.presence().await?;
    assert!(
        online.iter().any(|p| p.device == bob.device_key && p.member == bob.identity_key && p.role == Role::Editor),
        "{online:?}"
    );
    na.shutdown().await?;
    nb.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_replicate_over_webrtc() -> TestResult<()> {
    replicate_both_ways(Transport::WebRtcDirect).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_replicate_over_quic() -> TestResult<()> {
    replicate_both_ways(Transport::Quic).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_replicate_over_tcp() -> TestResult<()> {
    replicate_both_ways(Transport::Tcp).await
}

async fn three_in_a_line(t: Transport) -> TestResult<()> {
    // A - B - C: C never meets A, and still gets A's edits through B (and A gets C's).
    let a = TestProfile::new("Ada")?;
    let b = TestProfile::new("Bob")?;
    let c = TestProfile::new("Cy")?;
    let (key, sa) = a.create_space("Shared")?;
    a.admit(&key, &b, Role::Editor)?;
    a.admit(&key, &c, Role::Editor)?;
    // C's credentials must show B's admission too (as an invitation's chain would).
    c.halo.apply_all(a.halo.space_credentials(&key.public()))?;
    let (na, nb, nc) = (a.start(a.config(&[t])).await?, b.start(b.config(&[t])).await?, c.start(c.config(&[t])).await?);
    connect(&nb, &na).await?;
    connect(&nc, &nb).await?;
    sa.add_task("from A")?;
    let sc = c.echo.open_replica(key.public())?;
    assert!(wait_until(LONG, || titles(&sc) == ["from A"]).await.is_some(), "C got A's task through B");
    sc.add_task("from C")?;
    assert!(wait_until(LONG, || titles(&sa) == ["from A", "from C"]).await.is_some(), "A got C's task");
    for n in [na, nb, nc] {
        n.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_over_webrtc() -> TestResult<()> {
    three_in_a_line(Transport::WebRtcDirect).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_over_quic() -> TestResult<()> {
    three_in_a_line(Transport::Quic).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_offline_edits_converge() -> TestResult<()> {
    let a = TestProfile::new("Ada")?;
    let b = TestProfile::new("Bob")?;
    let (key, sa) = a.create_space("Shared")?;
    let (shared, _) = sa.add_task("shared")?;
    a.admit(&key, &b, Role::Editor)?;
    let sb = b.echo.open_replica(key.public())?;
    sb.import(&sa.export()?)?;
    // Offline: both edit the same task and add their own.
    sa.rename_task(&shared, "renamed by A")?;
    sa.add_task("A's")?;
    sb.set_task_completed(&shared, true)?;
    sb.add_task("B's")?;
    let t = Transport::Quic;
    let (na, nb) = (a.start(a.config(&[t])).await?, b.start(b.config(&[t])).await?);
    connect(&nb, &na).await?;
    let same = wait_until(LONG, || {
        let (ta, tb) = (sa.tasks(), sb.tasks());
        ta.len() == 3 && ta == tb
    })
    .await;
    assert!(same.is_some(), "A {:?} / B {:?}", sa.tasks(), sb.tasks());
    let task = sa.tasks().into_iter().find(|(id, _)| *id == shared).ok_or("shared task gone")?.1;
    assert_eq!((task.title.as_str(), task.completed), ("renamed by A", true));
    na.shutdown().await?;
    nb.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_catches_up() -> TestResult<()> {
    let t = Transport::Quic;
    let (a, b, key, na, nb) = two(t).await?;
    let sa = a.echo.space(&key.public())?;
    let sb = b.echo.open_replica(key.public())?;
    assert!(wait_until(LONG, || titles(&sb) == ["milk"]).await.is_some());
    nb.shutdown().await?;
    drop((sb, nb));
    // B is down (stores closed) while A goes on editing.
    let b = b.reopen().await?;
    sa.add_task("while B was away")?;
    let sb = b.echo.space(&key.public())?;
    assert_eq!(titles(&sb), ["milk"], "B kept what it had");
    let nb = b.start(b.config(&[t])).await?;
    // A redials B? No: B is the one that knows where A is (its peer store).
    let _ = na.listen_addrs().await?;
    assert!(
        wait_until(LONG, || titles(&sb) == ["milk", "while B was away"]).await.is_some(),
        "B caught up after its restart, dialling A from its stored peer addresses"
    );
    na.shutdown().await?;
    nb.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_resumes_after_link_loss() -> TestResult<()> {
    for t in [Transport::WebRtcDirect, Transport::Quic] {
        let (a, b, key, na, nb) = two(t).await?;
        let sa = a.echo.space(&key.public())?;
        let sb = b.echo.open_replica(key.public())?;
        assert!(wait_until(LONG, || titles(&sb) == ["milk"]).await.is_some());
        let down = Duration::from_secs(1);
        nb.sever(down).await?;
        let severed = Instant::now();
        sa.add_task("while the link was down")?;
        tokio::time::sleep(down / 2).await;
        assert_eq!(titles(&sb), ["milk"], "nothing crosses a severed link");
        let back = severed + down;
        assert!(wait_until(LONG, || titles(&sb).len() == 2).await.is_some(), "replication resumed over {t:?}");
        let resumed = Instant::now().saturating_duration_since(back);
        println!("{t:?}: replication resumed {} ms after the link returned", resumed.as_millis());
        na.shutdown().await?;
        nb.shutdown().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_gets_nothing() -> TestResult<()> {
    let t = Transport::Quic;
    let (a, _b, key, na, _nb) = two(t).await?;
    let outsider = TestProfile::new("Eve")?;
    let no = outsider.start(outsider.config(&[t])).await?;
    let mut events = no.subscribe();
    connect(&no, &na).await?;
    // Connected, with a replication session, and still nothing of the space.
    let eve = outsider.halo.device_key().ok_or("no key")?.public().to_peer_id()?;
    assert!(wait_peer(&na, eve).await, "the outsider connected");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(outsider.echo.spaces(true)?.is_empty(), "no space reached the outsider");
    assert!(outsider.halo.spaces().is_empty(), "no credential reached the outsider");
    while let Ok(ev) = events.try_recv() {
        assert!(!matches!(
            ev,
            NodeEvent::Session { event: SessionEvent::Verified { .. } | SessionEvent::Synced { .. }, .. }
        ));
    }
    let online = na.presence().await?;
    assert!(online.iter().all(|p| p.device.to_peer_id().ok() != Some(eve)), "{online:?}");
    let _ = a.echo.space(&key.public())?;
    Ok(())
}

async fn wait_peer(node: &Node, peer: libp2p::PeerId) -> bool {
    let start = Instant::now();
    while start.elapsed() < LONG {
        if node.peers().await.is_ok_and(|ps| ps.iter().any(|p| p.peer_id == peer)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_writes_stay_home() -> TestResult<()> {
    let a = TestProfile::new("Ada")?;
    let r = TestProfile::new("Rea")?;
    let (key, sa) = a.create_space("Shared")?;
    sa.add_task("read me")?;
    a.admit(&key, &r, Role::Reader)?;
    let t = Transport::Quic;
    let (na, nr) = (a.start(a.config(&[t])).await?, r.start(r.config(&[t])).await?);
    connect(&nr, &na).await?;
    let sr = r.echo.open_replica(key.public())?;
    assert!(wait_until(LONG, || titles(&sr) == ["read me"]).await.is_some(), "the reader reads");
    // A reader's own writes stay on its device (its UI would not even offer them); a
    // hostile reader that sends them anyway is refused (see hostile.rs).
    sr.add_task("local only")?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(titles(&sa), ["read me"]);
    // The owner's edits still reach the reader.
    sa.add_task("more")?;
    assert!(wait_until(LONG, || titles(&sr).contains(&"more".to_owned())).await.is_some());
    na.shutdown().await?;
    nr.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_members_and_revoked_devices_get_nothing_new() -> TestResult<()> {
    let a = TestProfile::new("Ada")?;
    let a2 = TestProfile::second_device(&a)?;
    let b = TestProfile::new("Bob")?;
    let (key, sa) = a.create_space("Shared")?;
    sa.add_task("before")?;
    a.admit(&key, &b, Role::Editor)?;
    let t = Transport::Quic;
    let (na, na2, nb) =
        (a.start(a.config(&[t])).await?, a2.start(a2.config(&[t])).await?, b.start(b.config(&[t])).await?);
    connect(&na2, &na).await?;
    connect(&nb, &na).await?;
    // A's second device learns the space from A (same identity), and B gets it as a member.
    let s2 = a2.echo.open_replica(key.public())?;
    let sb = b.echo.open_replica(key.public())?;
    assert!(wait_until(LONG, || titles(&s2) == ["before"]).await.is_some(), "the second device got the space");
    assert!(wait_until(LONG, || titles(&sb) == ["before"]).await.is_some());
    assert!(a2.halo.has_space(&key.public()));

    // Revoke the second device (root key) and remove B (space key).
    let root = a.keyring.load("identity-root")?.ok_or("no root key")?;
    let identity = *root.public().as_bytes();
    let device = *a2.halo.device_key().ok_or("no key")?.public().as_bytes();
    let now = dxos_halo::credential::now_ms();
    a.halo.apply(Credential::issue(Claim::Revocation(Subject::Device { identity, device }), &root, None, now))?;
    let bob = *b.halo.identity().ok_or("no identity")?.identity_key.as_bytes();
    let space = *key.public().as_bytes();
    a.halo.apply(Credential::issue(
        Claim::SpaceMember { space, identity: bob, role: Role::Removed },
        &key,
        None,
        now,
    ))?;
    sa.add_task("after")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(titles(&s2), ["before"], "the revoked device got nothing new");
    assert_eq!(titles(&sb), ["before"], "the removed member got nothing new");
    let online = na.presence().await?;
    assert!(online.is_empty(), "{online:?}");
    for n in [na, na2, nb] {
        n.shutdown().await?;
    }
    Ok(())
}

/// A node that stops closes its connections, so its peers see it gone at once; a connection
/// merely dropped would stay open at the peer until its pings failed (10 s or more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_is_gone_at_once_for_its_peers() -> TestResult<()> {
    for t in [Transport::WebRtcDirect, Transport::Quic, Transport::Tcp] {
        let (_a, _b, _key, na, nb) = two(t).await?;
        assert!(wait_peer(&na, nb.peer_id()).await, "B connected over {t:?}");
        let stopped = Instant::now();
        nb.shutdown().await?;
        let gone = async {
            while na.peers().await.is_ok_and(|ps| ps.iter().any(|p| p.peer_id == nb.peer_id())) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let within = Duration::from_secs(5);
        assert!(tokio::time::timeout(within, gone).await.is_ok(), "A still lists B over {t:?} after {within:?}");
        println!("{t:?}: A saw B gone {} ms after B stopped", stopped.elapsed().as_millis());
        na.shutdown().await?;
    }
    Ok(())
}

/// Two devices that both restart find each other again with no mDNS and no address given:
/// each listens on the ports it had, where the addresses the other stored point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_both_restart_find_each_other_again() -> TestResult<()> {
    for t in [Transport::WebRtcDirect, Transport::Quic, Transport::Tcp] {
        let (a, b, _key, na, nb) = two(t).await?;
        assert!(wait_peer(&na, nb.peer_id()).await, "A and B connected over {t:?}");
        let before = (na.listen_addrs().await?, nb.listen_addrs().await?);
        nb.shutdown().await?;
        na.shutdown().await?;
        let started = Instant::now();
        let na = a.start(a.config(&[t])).await?;
        let nb = b.start(b.config(&[t])).await?;
        assert_eq!((na.listen_addrs().await?, nb.listen_addrs().await?), before, "the same addresses over {t:?}");
        assert!(wait_peer(&na, nb.peer_id()).await, "A and B met again over {t:?}");
        println!("{t:?}: met again {} ms after the restart", started.elapsed().as_millis());
        nb.shutdown().await?;
        na.shutdown().await?;
    }
    Ok(())
}

/// Two nodes on WebRTC-direct, QUIC and TCP, both with `order`; B dials A at every address
/// at once (whichever answers first wins the dial). Returns the transport each reports for
/// the other once one connection of the first transport in `order` is left on each side, or
/// what was last seen after 20 s.
async fn settle_on(order: &[Transport]) -> TestResult<(Transport, Transport)> {
    logs();
    let all = [Transport::WebRtcDirect, Transport::Quic, Transport::Tcp];
    let (a, b) = (TestProfile::new("Ada")?, TestProfile::new("Bob")?);
    let (key, space) = a.create_space("Shared")?;
    space.add_task("milk")?;
    a.admit(&key, &b, Role::Editor)?;
    let mut ca = a.config(&all);
    ca.transport_order = order.to_vec();
    let na = a.start(ca).await?;
    let mut cb = b.config(&all);
    cb.transport_order = order.to_vec();
    cb.peers = na.listen_addrs().await?;
    let nb = b.start(cb).await?;
    let sb = b.echo.open_replica(key.public())?;
    assert!(wait_until(LONG, || titles(&sb) == ["milk"]).await.is_some(), "B got A's task");
    // The preferred connection comes up and the others close (after a grace of 5 s).
    let mut seen = (None, None);
    for _ in 0..400 {
        let (pa, pb) = (na.peers().await?, nb.peers().await?);
        if let ([x], [y]) = (pa.as_slice(), pb.as_slice()) {
            seen = (Some(x.transport), Some(y.transport));
            if x.addrs.len() == 1 && y.addrs.len() == 1 && Some(&x.transport) == order.first() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Replication still runs over what is left.
    space.add_task("eggs")?;
    assert!(wait_until(LONG, || titles(&sb) == ["milk", "eggs"]).await.is_some(), "B got the next task");
    na.shutdown().await?;
    nb.shutdown().await?;
    match seen {
        (Some(x), Some(y)) => Ok((x, y)),
        _ => Err("the peers never settled on one connection".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_keep_the_connection_their_transport_order_prefers() -> TestResult<()> {
    // By default QUIC is kept.
    assert_eq!(settle_on(&Transport::DEFAULT_ORDER).await?, (Transport::Quic, Transport::Quic));
    // For people who want WebRTC first.
    let webrtc_first = [Transport::WebRtcDirect, Transport::Quic, Transport::Tcp, Transport::Relay];
    assert_eq!(settle_on(&webrtc_first).await?, (Transport::WebRtcDirect, Transport::WebRtcDirect));
    let tcp_first = [Transport::Tcp, Transport::Quic];
    assert_eq!(settle_on(&tcp_first).await?, (Transport::Tcp, Transport::Tcp));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_peer_and_a_version_2_peer_sync() -> TestResult<()> {
    logs();
    // Each pair: A's newest version, B's newest, and the version their session must speak.
    for (va, vb, spoken) in [(1, 2, 1), (2, 1, 1), (2, 2, 2)] {
        let (a, b) = (TestProfile::new("Ada")?, TestProfile::new("Bob")?);
        let (key, space) = a.create_space("Shared")?;
        // Enough tasks that the first sync's messages are compressed on version 2.
        for i in 0..500 {
            space.add_task(&format!("task {i}"))?;
        }
        a.admit(&key, &b, Role::Editor)?;
        let mut ca = a.config(&[Transport::Quic]);
        ca.replicate_version = va;
        let na = a.start(ca).await?;
        let mut cb = b.config(&[Transport::Quic]);
        cb.replicate_version = vb;
        cb.peers = na.listen_addrs().await?;
        let nb = b.start(cb).await?;
        let sb = b.echo.open_replica(key.public())?;
        assert!(wait_until(LONG, || titles(&sb).len() == 500).await.is_some(), "B synced (A v{va}, B v{vb})");
        sb.add_task("from B")?;
        assert!(
            wait_until(LONG, || titles(&space).last().map(String::as_str) == Some("from B")).await.is_some(),
            "A got B's task (A v{va}, B v{vb})"
        );
        for n in [&na, &nb] {
            let peers = n.peers().await?;
            assert_eq!(peers.iter().map(|p| p.replication).collect::<Vec<_>>(), [Some(spoken)], "A v{va}, B v{vb}");
        }
        na.shutdown().await?;
        nb.shutdown().await?;
    }
    Ok(())
}
