//! A hostile peer against a node: a raw libp2p peer that speaks `/dxos/replicate/1` badly
//! (malformed frames, an oversized length, garbage updates as a verified editor, updates as a
//! reader). The victim closes that stream, keeps running, keeps its data, and goes on
//! replicating with honest peers.

use std::time::Duration;

use dxos_halo::KeypairExt;
use dxos_halo::Role;
use dxos_net::node::REPLICATE_PROTOCOL;
use dxos_net::replicate::framing;
use dxos_net::replicate::proto::{Action, Session, Wire, discovery_key};
use dxos_net::testing::{TestProfile, TestResult, titles, wait_until};
use dxos_net::{Node, NodeEvent, SessionEvent, Transport};
use futures_util::{SinkExt, StreamExt};
use libp2p::{Multiaddr, PeerId, noise, tcp, yamux};
use tokio::io::AsyncWriteExt;
use tokio_util::bytes::Bytes;
use tokio_util::compat::FuturesAsyncReadCompatExt;
use yrs::sync::protocol::SyncMessage;
use yrs::updates::encoder::Encode;

const LONG: Duration = Duration::from_secs(30);

/// A bare libp2p peer with `profile`'s device key; returns a fresh replication stream to `to`.
async fn raw_stream(profile: &TestProfile, to: &Node) -> TestResult<libp2p::Stream> {
    let key = profile.halo.device_key().ok_or("no key")?.to_libp2p()?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|_| libp2p_stream::Behaviour::new())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let addr: Multiaddr = to.listen_addrs().await?.into_iter().next().ok_or("no address")?;
    swarm.dial(addr)?;
    let mut control = swarm.behaviour().new_control();
    tokio::spawn(async move {
        loop {
            let _ = swarm.select_next_some().await;
        }
    });
    let peer: PeerId = to.peer_id();
    for _ in 0..100 {
        if let Ok(s) = control.open_stream(peer, REPLICATE_PROTOCOL).await {
            return Ok(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("cannot open a stream".into())
}

type Framed = tokio_util::codec::Framed<
    framing::SmallWrites<tokio_util::compat::Compat<libp2p::Stream>>,
    tokio_util::codec::LengthDelimitedCodec,
>;

/// Runs the honest handshake as `profile` over `io` until the victim verified it for a space.
async fn handshake(profile: &TestProfile, victim: &TestProfile, io: &mut Framed) -> TestResult<Session> {
    let me = profile.halo.device_key().ok_or("no key")?.public();
    let them = victim.halo.device_key().ok_or("no key")?.public();
    // Only the handshake: the session's ECHO work (sync) is not done here.
    let spaces = profile.halo.spaces().into_iter().filter_map(|id| profile.halo.space_state(&id)).collect();
    let mut session = Session::new(me, them, 99, spaces);
    let mut verified = false;
    for a in session.start() {
        if let Action::Send(w) = a {
            io.send(Bytes::from(w.encode())).await?;
        }
    }
    while !verified {
        let frame = tokio::time::timeout(LONG, io.next()).await?.ok_or("stream ended")??;
        for a in session.receive(&frame)? {
            match a {
                Action::Send(w) => io.send(Bytes::from(w.encode())).await?,
                Action::Verified { .. } => verified = true,
                _ => {}
            }
        }
    }
    // Let the victim verify us too (our proof is on its way).
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(session)
}

/// Whether the victim closed the stream (reads end or fail) within the timeout.
async fn closed(io: &mut Framed) -> bool {
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        match tokio::time::timeout_at(deadline, io.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_))) => return true,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_peer_cannot_crash_a_node_or_change_its_data() -> TestResult<()> {
    let victim = TestProfile::new("Victim")?;
    let editor = TestProfile::new("Mallory the editor")?;
    let reader = TestProfile::new("Rita the reader")?;
    let honest = TestProfile::new("Hon")?;
    let (key, space) = victim.create_space("Shared")?;
    space.add_task("keep me")?;
    victim.admit(&key, &editor, Role::Editor)?;
    victim.admit(&key, &reader, Role::Reader)?;
    victim.admit(&key, &honest, Role::Editor)?;
    let nv = victim.start(victim.config(&[Transport::Tcp])).await?;
    let mut events = nv.subscribe();
    let before = space.export()?;
    let dk = |who: &TestProfile| -> TestResult<_> {
        let a = who.halo.device_key().ok_or("no key")?.public();
        let b = victim.halo.device_key().ok_or("no key")?.public();
        Ok(discovery_key(&key.public(), &a, &b))
    };

    // 1. Malformed frame before any handshake.
    let mut io = framing::framed(raw_stream(&editor, &nv).await?.compat(), 1 << 20);
    io.send(Bytes::from(b"\xff\xff\xff\xff".to_vec())).await?;
    assert!(closed(&mut io).await, "a malformed frame closes the stream");

    // 2. A length prefix far beyond the bound.
    let mut raw = raw_stream(&editor, &nv).await?.compat();
    raw.write_all(&[0xff, 0xff, 0xff, 0xf0, 1, 2, 3]).await?;
    raw.flush().await?;
    let mut io = framing::framed(raw, 1 << 20);
    assert!(closed(&mut io).await, "an oversized frame closes the stream");

    // 3. A verified editor sends garbage as an update.
    let mut io = framing::framed(raw_stream(&editor, &nv).await?.compat(), 1 << 28);
    handshake(&editor, &victim, &mut io).await?;
    let garbage = Wire::Sync { dk: dk(&editor)?, message: SyncMessage::Update(vec![7; 5000]).encode_v1() };
    io.send(Bytes::from(garbage.encode())).await?;
    assert!(closed(&mut io).await, "a garbage update closes the stream");

    // 4. A verified reader sends a well-formed update: refused, not applied.
    let mut io = framing::framed(raw_stream(&reader, &nv).await?.compat(), 1 << 28);
    handshake(&reader, &victim, &mut io).await?;
    let replica = reader.echo.open_replica(key.public())?;
    let sv = replica.state_vector()?;
    replica.add_task("written by a reader")?;
    let update = replica.diff(&sv)?;
    io.send(Bytes::from(Wire::Sync { dk: dk(&reader)?, message: SyncMessage::Update(update).encode_v1() }.encode()))
        .await?;
    let refused = tokio::time::timeout(LONG, async {
        loop {
            match events.recv().await {
                Ok(NodeEvent::Session { event: SessionEvent::Refused { .. }, .. }) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await;
    assert_eq!(refused, Ok(true), "the victim refused the reader's update");

    // The victim's data is as it was, and it still serves an honest peer.
    assert_eq!(space.export()?, before);
    assert_eq!(titles(&space), ["keep me"]);
    let nh = honest.start(honest.config(&[Transport::Tcp])).await?;
    nh.dial(nv.listen_addrs().await?.into_iter().next().ok_or("no address")?).await?;
    let sh = honest.echo.open_replica(key.public())?;
    assert!(wait_until(LONG, || titles(&sh) == ["keep me"]).await.is_some(), "the victim still replicates");
    space.add_task("still live")?;
    assert!(wait_until(LONG, || titles(&sh) == ["keep me", "still live"]).await.is_some());
    nv.shutdown().await?;
    nh.shutdown().await?;
    Ok(())
}
