//! A relay on loopback (`dxos_net::relay`): devices with no address of their own (as behind
//! a NAT) reserve on it and replicate through it; a device of an identity that is not allowed
//! cannot reserve, even with a plain libp2p client that skips our admission; a revoked device
//! loses its reservation.

mod common;

use common::logs;

use std::time::Duration;

use dxos_halo::Role;
use dxos_net::relay::{RelayConfig, RelayEvent, RelayServer};
use dxos_net::testing::{TestProfile, TestResult, titles, wait_until};
use dxos_net::{Node, NodeEvent, Transport};
use futures_util::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc::UnboundedReceiver;

const LONG: Duration = Duration::from_secs(30);

fn without_p2p(a: &Multiaddr) -> Multiaddr {
    a.iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect()
}

async fn relay(allow: &[&TestProfile]) -> TestResult<(RelayServer, UnboundedReceiver<RelayEvent>, Multiaddr)> {
    relay_with(libp2p::identity::Keypair::generate_ed25519(), allow).await
}

async fn relay_with(
    key: libp2p::identity::Keypair,
    allow: &[&TestProfile],
) -> TestResult<(RelayServer, UnboundedReceiver<RelayEvent>, Multiaddr)> {
    let allow = allow.iter().filter_map(|p| p.halo.identity().map(|i| i.identity_key)).collect();
    let listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?, "/ip4/127.0.0.1/udp/0/quic-v1".parse()?];
    let (server, events) = RelayServer::start(key, RelayConfig::new(listen, allow, false)).await?;
    let addr = server.addrs().into_iter().find(|a| a.iter().any(|p| matches!(p, Protocol::Tcp(_)))).ok_or("no tcp")?;
    Ok((server, events, addr))
}

/// A node with no listen address of its own (reachable only through its relay), which
/// stays on the relay (no `/webrtc`: these tests are about the relay itself).
async fn behind_nat(p: &TestProfile, relay: &Multiaddr) -> TestResult<Node> {
    behind_nat_with(p, relay, vec![Transport::Tcp, Transport::Relay]).await
}

/// A node with no listen address of its own and `order` as its transport order.
async fn behind_nat_with(p: &TestProfile, relay: &Multiaddr, order: Vec<Transport>) -> TestResult<Node> {
    let mut config = p.config(&[Transport::Tcp]);
    config.listen.clear();
    config.relays = vec![relay.clone()];
    config.transport_order = order;
    p.start(config).await
}

async fn circuit_addr(node: &Node) -> Option<Multiaddr> {
    for _ in 0..300 {
        if let Ok(addrs) = node.listen_addrs().await
            && let Some(a) = addrs.into_iter().find(|a| a.iter().any(|p| p == Protocol::P2pCircuit))
        {
            return Some(a);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

async fn next_event(
    events: &mut UnboundedReceiver<RelayEvent>,
    want: impl Fn(&RelayEvent) -> bool,
) -> Option<RelayEvent> {
    let deadline = tokio::time::Instant::now() + LONG;
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if want(&ev) {
            return Some(ev);
        }
    }
    None
}

/// The first of `node`'s listen addresses that has `/p2p-circuit/webrtc` in it.
async fn webrtc_addr(node: &Node) -> Option<Multiaddr> {
    for _ in 0..300 {
        if let Ok(addrs) = node.listen_addrs().await
            && let Some(a) = addrs.into_iter().find(|a| Transport::of(a) == Transport::WebRtc)
        {
            return Some(a);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_behind_nats_go_direct_over_webrtc() -> TestResult<()> {
    logs();
    let (a, b, key, space) = TestProfile::ada_and_bob()?;
    let (server, _events, relay_addr) = relay(&[&a, &b]).await?;
    // WebRTC is the only direct transport; neither has an address but its reservation.
    let order = vec![Transport::WebRtc, Transport::Relay];
    let na = behind_nat_with(&a, &relay_addr, order.clone()).await?;
    let nb = behind_nat_with(&b, &relay_addr, order).await?;
    // Each advertises `<relayed address>/webrtc` (what `status --json` lists).
    let a_webrtc = webrtc_addr(&na).await.ok_or("A never listed a /p2p-circuit/webrtc address")?;
    let b_webrtc = webrtc_addr(&nb).await.ok_or("B never listed a /p2p-circuit/webrtc address")?;
    let plain_circuit = |a: &Multiaddr| -> Multiaddr { a.iter().take_while(|p| *p != Protocol::WebRTC).collect() };
    assert!(a_webrtc.to_string().contains("/p2p-circuit/webrtc"), "{a_webrtc}");
    assert!(b_webrtc.to_string().contains("/p2p-circuit/webrtc"), "{b_webrtc}");

    // B reaches A through the relay; they go direct over /webrtc by themselves.
    nb.dial(plain_circuit(&a_webrtc)).await?;
    let device_a = a.halo.device_key().map(|k| k.public());
    let mut transport = None;
    for _ in 0..600 {
        let peers = nb.peers().await?;
        transport = peers.iter().find(|p| p.device_key == device_a).map(|p| p.transport);
        if transport == Some(Transport::WebRtc) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(transport, Some(Transport::WebRtc), "B's connection to A never went over /webrtc");
    let sb = b.echo.open_replica(key.public())?;
    assert!(wait_until(LONG, || titles(&sb) == ["milk"]).await.is_some(), "B got A's task");
    sb.add_task("eggs")?;
    assert!(wait_until(LONG, || titles(&space) == ["milk", "eggs"]).await.is_some(), "A got B's task");
    // The relayed connection is retired: only /webrtc carries them, both ways.
    let a_peers = na.peers().await?;
    assert_eq!(a_peers.len(), 1, "{a_peers:?}");
    assert_eq!(a_peers[0].transport, Transport::WebRtc, "{a_peers:?}");
    // The relay going away leaves the direct connection (and replication) up.
    server.stop().await;
    space.add_task("bread")?;
    assert!(
        wait_until(LONG, || titles(&sb) == ["milk", "eggs", "bread"]).await.is_some(),
        "B got A's edit over /webrtc with the relay gone"
    );
    na.shutdown().await?;
    nb.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_behind_nats_replicate_through_the_relay() -> TestResult<()> {
    logs();
    let (a, b, key, space) = TestProfile::ada_and_bob()?;
    // Only Ada's identity is allowed: Bob reaches her through her reservation.
    let key_of_relay = libp2p::identity::Keypair::generate_ed25519();
    let (server, mut events, relay_addr) = relay_with(key_of_relay.clone(), &[&a]).await?;
    let na = behind_nat(&a, &relay_addr).await?;
    let circuit = circuit_addr(&na).await.ok_or("A never listened through the relay")?;
    assert!(next_event(&mut events, |e| matches!(e, RelayEvent::Reserved { .. })).await.is_some());

    let mut nb_config = b.config(&[Transport::Tcp]);
    nb_config.listen.clear();
    nb_config.transport_order = vec![Transport::Tcp, Transport::Relay];
    let nb = b.start(nb_config).await?;
    nb.dial(circuit.clone()).await?;
    let sb = b.echo.open_replica(key.public())?;
    assert!(wait_until(LONG, || titles(&sb) == ["milk"]).await.is_some(), "B got A's task through the relay");
    sb.add_task("eggs")?;
    assert!(wait_until(LONG, || titles(&space) == ["milk", "eggs"]).await.is_some(), "A got B's task");
    let peers = nb.peers().await?;
    let to_a = peers.iter().find(|p| p.device_key == a.halo.device_key().map(|k| k.public())).ok_or("A not a peer")?;
    assert_eq!(to_a.transport, Transport::Relay, "{peers:?}");
    // A's peers: B, through the relay; the relay itself is not listed.
    let a_peers = na.peers().await?;
    assert_eq!(a_peers.len(), 1, "{a_peers:?}");
    assert_eq!(a_peers[0].peer_id, nb.peer_id());
    assert_eq!(a_peers[0].transport, Transport::Relay);
    let circuit_seen = next_event(&mut events, |e| matches!(e, RelayEvent::Circuit { .. })).await;
    let b_peer: PeerId = nb.peer_id();
    let a_peer: PeerId = na.peer_id();
    assert_eq!(circuit_seen, Some(RelayEvent::Circuit { src: b_peer, dst: a_peer }));

    // The relay restarts on the same address with the same key: A reserves again by itself,
    // and B, which remembered A's circuit address, gets A's next edit through it.
    let listen: Vec<Multiaddr> = server.addrs().into_iter().map(|a| without_p2p(&a)).collect();
    server.stop().await;
    let allow = vec![a.halo.identity().ok_or("no identity")?.identity_key];
    // The old relay's sockets may take a moment to let go of the ports.
    let mut restarted = None;
    for _ in 0..100 {
        match RelayServer::start(key_of_relay.clone(), RelayConfig::new(listen.clone(), allow.clone(), false)).await {
            Ok(r) => {
                restarted = Some(r);
                break;
            }
            Err(e) => eprintln!("relay restart: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (server, mut events) = restarted.ok_or("the relay could not listen on its old ports again")?;
    assert!(
        next_event(&mut events, |e| matches!(e, RelayEvent::Reserved { peer, .. } if *peer == a_peer)).await.is_some(),
        "A reserved again after the relay restarted"
    );
    space.add_task("bread")?;
    assert!(
        wait_until(LONG, || titles(&sb) == ["milk", "eggs", "bread"]).await.is_some(),
        "B got A's next edit through the restarted relay"
    );
    na.shutdown().await?;
    nb.shutdown().await?;
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_not_allowed_cannot_reserve() -> TestResult<()> {
    logs();
    let a = TestProfile::new("Ada")?;
    let eve = TestProfile::new("Eve")?;
    let (server, mut events, relay_addr) = relay(&[&a]).await?;
    let ne = behind_nat(&eve, &relay_addr).await?;
    let mut node_events = ne.subscribe();
    let refused = tokio::time::timeout(LONG, async {
        loop {
            match node_events.recv().await {
                Ok(NodeEvent::RelayRefused { reason, .. }) => return Some(reason),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    let reason = refused.ok_or("Eve's node never heard the relay refuse it")?;
    assert!(reason.contains("not allowed"), "{reason}");
    assert!(next_event(&mut events, |e| matches!(e, RelayEvent::Refused { .. })).await.is_some());
    assert!(
        !ne.listen_addrs().await?.iter().any(|a| a.iter().any(|p| p == Protocol::P2pCircuit)),
        "Eve has no circuit address"
    );
    ne.shutdown().await?;

    // A plain libp2p client that skips the admission protocol and asks for a reservation
    // straight away is refused too.
    let (seen, reserved) = raw_reservation(&relay_addr).await?;
    assert!(!reserved, "an unadmitted client reserved: {seen:?}");
    assert!(
        next_event(&mut events, |e| matches!(e, RelayEvent::ReservationDenied { .. })).await.is_some(),
        "the relay reports the denial"
    );
    server.stop().await;
    Ok(())
}

/// A bare libp2p node with a relay client (TCP, Noise, Yamux): a stranger to DXOS.
#[derive(libp2p::swarm::NetworkBehaviour)]
struct Raw {
    relay: libp2p::relay::client::Behaviour,
}

fn raw_client() -> TestResult<libp2p::Swarm<Raw>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(libp2p::tcp::Config::default(), libp2p::noise::Config::new, libp2p::yamux::Config::default)?
        .with_relay_client(libp2p::noise::Config::new, libp2p::yamux::Config::default)?
        .with_behaviour(|_, relay| Raw { relay })?
        .build())
}

/// Asks the relay for a reservation with a bare libp2p relay client (no admission first).
/// Returns the listener's events and whether a circuit address came up.
async fn raw_reservation(relay_addr: &Multiaddr) -> TestResult<(Vec<String>, bool)> {
    use libp2p::swarm::SwarmEvent;
    let mut swarm = raw_client()?;
    swarm.listen_on(relay_addr.clone().with(Protocol::P2pCircuit))?;
    let mut seen = Vec::new();
    let outcome = tokio::time::timeout(LONG, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } => {
                    seen.push(format!("listening on {address}"));
                    return true;
                }
                SwarmEvent::ListenerClosed { reason, .. } => {
                    seen.push(format!("closed: {reason:?}"));
                    return false;
                }
                other => seen.push(format!("{other:?}")),
            }
        }
    })
    .await
    .map_err(|_| "the reservation neither came up nor was refused")?;
    Ok((seen, outcome))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_loses_its_reservation() -> TestResult<()> {
    logs();
    let a = TestProfile::new("Ada")?;
    let a2 = TestProfile::second_device(&a)?;
    let (server, mut events, relay_addr) = relay(&[&a]).await?;
    let n1 = behind_nat(&a, &relay_addr).await?;
    let n2 = behind_nat(&a2, &relay_addr).await?;
    circuit_addr(&n1).await.ok_or("device 1 never reserved")?;
    circuit_addr(&n2).await.ok_or("device 2 never reserved")?;
    // Device 1 learns of device 2 (they would have synced; here they never meet).
    a.halo.apply_all(a2.halo.identity_credentials()?)?;
    let d2 = a2.halo.device_key().ok_or("no key")?.public();
    a.halo.revoke_device(&d2)?;
    // Device 1 shows the relay its new credentials; the relay drops device 2.
    let revoked = next_event(&mut events, |e| matches!(e, RelayEvent::Revoked { .. })).await;
    assert_eq!(revoked, Some(RelayEvent::Revoked { peer: n2.peer_id() }));
    // Device 2 comes back and is refused from now on.
    assert!(
        next_event(&mut events, |e| matches!(e, RelayEvent::Refused { peer, .. } if *peer == n2.peer_id()))
            .await
            .is_some(),
        "device 2 is refused after its revocation"
    );
    n1.shutdown().await?;
    n2.shutdown().await?;
    server.stop().await;
    Ok(())
}

/// What a relay's own side of its connections carries, after its hop's encryption: every
/// byte read or written on the connections' substreams.
mod tap {
    use std::io;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, ready};

    use futures_util::io::{AsyncRead, AsyncWrite};
    use libp2p::core::muxing::{StreamMuxer, StreamMuxerBox, StreamMuxerEvent, StreamMuxerExt, SubstreamBox};

    pub type Log = Arc<Mutex<Vec<u8>>>;

    pub struct Tap {
        pub inner: StreamMuxerBox,
        pub log: Log,
    }

    pub struct Tapped {
        inner: SubstreamBox,
        log: Log,
    }

    fn record(log: &Log, bytes: &[u8]) {
        log.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(bytes);
    }

    impl StreamMuxer for Tap {
        type Substream = Tapped;
        type Error = io::Error;

        fn poll_inbound(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Tapped, io::Error>> {
            let this = self.get_mut();
            let s = ready!(this.inner.poll_inbound_unpin(cx))?;
            Poll::Ready(Ok(Tapped { inner: s, log: this.log.clone() }))
        }

        fn poll_outbound(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Tapped, io::Error>> {
            let this = self.get_mut();
            let s = ready!(this.inner.poll_outbound_unpin(cx))?;
            Poll::Ready(Ok(Tapped { inner: s, log: this.log.clone() }))
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
            self.get_mut().inner.poll_close_unpin(cx)
        }

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<StreamMuxerEvent, io::Error>> {
            self.get_mut().inner.poll_unpin(cx)
        }
    }

    impl AsyncRead for Tapped {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            let n = ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
            record(&self.log, &buf[..n]);
            Poll::Ready(Ok(n))
        }
    }

    impl AsyncWrite for Tapped {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
            record(&self.log, &buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_close(cx)
        }
    }
}

/// A relay like `dxos relay serve` (libp2p's circuit relay, our admission protocol, open to
/// all) whose connections are tapped after their hop's Noise: the relay's own view.
async fn tapped_relay() -> TestResult<(Multiaddr, tap::Log, tokio::task::JoinHandle<()>)> {
    use libp2p::core::Transport as _;
    use libp2p::core::muxing::StreamMuxerBox;
    use libp2p::core::upgrade::Version;
    use libp2p::swarm::{NetworkBehaviour, SwarmEvent};

    #[derive(NetworkBehaviour)]
    struct RelayOnly {
        relay: libp2p::relay::Behaviour,
        stream: libp2p_stream::Behaviour,
    }
    let log: tap::Log = Default::default();
    let key = libp2p::identity::Keypair::generate_ed25519();
    let tap_log = log.clone();
    let transport = libp2p::tcp::tokio::Transport::new(libp2p::tcp::Config::default())
        .upgrade(Version::V1)
        .authenticate(libp2p::noise::Config::new(&key)?)
        .multiplex(libp2p::yamux::Config::default())
        .map(move |(peer, muxer), _| {
            (peer, StreamMuxerBox::new(tap::Tap { inner: StreamMuxerBox::new(muxer), log: tap_log.clone() }))
        })
        .boxed();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(|_| transport)?
        .with_behaviour(|k| {
            let config = libp2p::relay::Config {
                max_circuit_duration: Duration::from_secs(600),
                max_circuit_bytes: 1 << 30,
                ..Default::default()
            };
            let mut relay = libp2p::relay::Behaviour::new(k.public().to_peer_id(), config);
            relay.set_status(Some(libp2p::relay::Status::Enable));
            RelayOnly { relay, stream: libp2p_stream::Behaviour::new() }
        })?
        .build();
    swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    swarm.add_external_address(addr.clone());
    let me = *swarm.local_peer_id();
    let mut auths = swarm.behaviour().stream.new_control().accept(dxos_net::relay::auth::AUTH_PROTOCOL)?;
    let gate = dxos_net::relay::auth::Gate::new([], true);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = swarm.select_next_some() => {}
                Some((peer, stream)) = auths.next() => {
                    use tokio_util::compat::FuturesAsyncReadCompatExt;
                    let _ = dxos_net::relay::auth::answer(stream.compat(), peer, &gate).await;
                }
            }
        }
    });
    Ok((addr.with(Protocol::P2p(me)), log, task))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_sees_only_ciphertext() -> TestResult<()> {
    logs();
    let a = TestProfile::new("Ada")?;
    let b = TestProfile::new("Bob")?;
    let (key, space) = a.create_space("Shared")?;
    let secret = "a secret the relay must not read 7f3a9c";
    space.add_task(secret)?;
    a.admit(&key, &b, Role::Editor)?;
    let (relay_addr, log, relay_task) = tapped_relay().await?;
    let na = behind_nat(&a, &relay_addr).await?;
    let circuit = circuit_addr(&na).await.ok_or("A never listened through the relay")?;
    let mut nb_config = b.config(&[Transport::Tcp]);
    nb_config.listen.clear();
    let nb = b.start(nb_config).await?;
    nb.dial(circuit).await?;
    let sb = b.echo.open_replica(key.public())?;
    assert!(wait_until(LONG, || titles(&sb) == [secret]).await.is_some(), "B got the task through the relay");
    let reply = "and the answer, just as secret 41d8e2";
    sb.add_task(reply)?;
    assert!(wait_until(LONG, || titles(&space) == [secret, reply]).await.is_some(), "A got B's task back");
    let seen = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // The tap works: it reads the relay's own protocol in the clear...
    let contains = |needle: &[u8]| seen.windows(needle.len()).any(|w| w == needle);
    assert!(contains(b"/libp2p/circuit/relay/0.2.0/hop"), "the tap sees the relay's own messages");
    assert!(seen.len() > 1000, "the circuit's bytes passed the tap ({} bytes)", seen.len());
    // ...but never the space's content, either way (inside A and B's own Noise session).
    // (The name `/dxos/replicate/1` may show: B, which knows no relay, offers to replicate
    // with every peer it connects to, the relay too, which declines.)
    assert!(!contains(secret.as_bytes()), "the relay read A's task");
    assert!(!contains(reply.as_bytes()), "the relay read B's task");
    na.shutdown().await?;
    nb.shutdown().await?;
    relay_task.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_circuits_from_one_peer_is_capped() -> TestResult<()> {
    use libp2p::swarm::SwarmEvent;
    use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
    logs();
    let a = TestProfile::new("Ada")?;
    let allow = a.halo.identity().map(|i| i.identity_key).into_iter().collect();
    let listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    let mut config = RelayConfig::new(listen, allow, false);
    // A burst of 3 circuits per source, then one an hour.
    config.limits.circuit_burst = std::num::NonZeroU32::new(3).ok_or("3")?;
    config.limits.circuit_interval = Duration::from_secs(3600);
    let (server, mut events) = RelayServer::start(libp2p::identity::Keypair::generate_ed25519(), config).await?;
    let relay_addr = server.addrs().into_iter().next().ok_or("no address")?;
    let na = behind_nat(&a, &relay_addr).await?;
    let circuit = circuit_addr(&na).await.ok_or("A never reserved")?;

    // A stranger dials A through the relay again and again.
    let mut swarm = raw_client()?;
    let (mut up, mut refused) = (0, 0);
    for _ in 0..6 {
        let opts =
            DialOpts::peer_id(na.peer_id()).addresses(vec![circuit.clone()]).condition(PeerCondition::Always).build();
        let id = opts.connection_id();
        swarm.dial(opts)?;
        let outcome = tokio::time::timeout(LONG, async {
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { connection_id, endpoint, .. }
                        if connection_id == id && endpoint.is_relayed() =>
                    {
                        return true;
                    }
                    SwarmEvent::OutgoingConnectionError { connection_id, .. } if connection_id == id => return false,
                    _ => {}
                }
            }
        })
        .await
        .map_err(|_| "a circuit dial neither connected nor failed")?;
        if outcome { up += 1 } else { refused += 1 }
    }
    assert_eq!((up, refused), (3, 3), "three circuits, then the limiter");
    assert!(
        next_event(&mut events, |e| matches!(e, RelayEvent::CircuitDenied { .. })).await.is_some(),
        "the relay reports the denied circuits"
    );
    na.shutdown().await?;
    server.stop().await;
    Ok(())
}

/// A bare libp2p node with a relay client and streams of its own (a stranger's app).
#[derive(libp2p::swarm::NetworkBehaviour)]
struct RawStreams {
    relay: libp2p::relay::client::Behaviour,
    stream: libp2p_stream::Behaviour,
}

const SINK: libp2p::StreamProtocol = libp2p::StreamProtocol::new("/test/sink/1");

fn raw_streams() -> TestResult<libp2p::Swarm<RawStreams>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(libp2p::tcp::Config::default(), libp2p::noise::Config::new, libp2p::yamux::Config::default)?
        .with_relay_client(libp2p::noise::Config::new, libp2p::yamux::Config::default)?
        .with_behaviour(|_, relay| RawStreams { relay, stream: libp2p_stream::Behaviour::new() })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build())
}

/// A relay open to strangers, with these limits.
async fn open_relay(
    limits: impl FnOnce(&mut dxos_net::relay::Limits),
) -> TestResult<(RelayServer, UnboundedReceiver<RelayEvent>, Multiaddr)> {
    let listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    let mut config = RelayConfig::new(listen, Vec::new(), true);
    limits(&mut config.limits);
    let (server, events) = RelayServer::start(libp2p::identity::Keypair::generate_ed25519(), config).await?;
    let addr = server.addrs().into_iter().next().ok_or("no address")?;
    Ok((server, events, addr))
}

/// Two strangers on an open relay: one reserves and counts what arrives on [`SINK`]; the
/// other sends `bytes` to it through the relay. Returns how many arrived and how long it took.
async fn send_through(relay_addr: &Multiaddr, bytes: usize) -> TestResult<(u64, Duration)> {
    use futures_util::AsyncWriteExt;
    use libp2p::swarm::SwarmEvent;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    // The sink reserves.
    let mut sink = raw_streams()?;
    sink.listen_on(relay_addr.clone().with(Protocol::P2pCircuit))?;
    let circuit = tokio::time::timeout(LONG, async {
        loop {
            if let SwarmEvent::NewListenAddr { address, .. } = sink.select_next_some().await {
                return address;
            }
        }
    })
    .await
    .map_err(|_| "the sink never reserved")?;
    let sink_peer = *sink.local_peer_id();
    let received = Arc::new(AtomicU64::new(0));
    let mut incoming = sink.behaviour().stream.new_control().accept(SINK)?;
    let counter = received.clone();
    let reading = tokio::spawn(async move {
        use futures_util::AsyncReadExt;
        if let Some((_, mut s)) = incoming.next().await {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    });
    let sink_loop = tokio::spawn(async move {
        loop {
            sink.select_next_some().await;
        }
    });
    // The source dials the sink through the relay, then writes.
    let mut source = raw_streams()?;
    let circuit = if circuit.iter().any(|p| p == Protocol::P2p(sink_peer)) {
        circuit
    } else {
        circuit.with(Protocol::P2p(sink_peer))
    };
    source.dial(circuit.clone())?;
    tokio::time::timeout(LONG, async {
        loop {
            match source.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == sink_peer => return Ok(()),
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    return Err(format!("the source could not dial {circuit}: {error}"));
                }
                _ => {}
            }
        }
    })
    .await
    .map_err(|_| "the source never reached the sink")??;
    let mut control = source.behaviour().stream.new_control();
    let source_loop = tokio::spawn(async move {
        loop {
            source.select_next_some().await;
        }
    });
    let start = std::time::Instant::now();
    let mut s = control.open_stream(sink_peer, SINK).await?;
    let chunk = vec![7u8; 4096];
    let mut sent = 0;
    while sent < bytes {
        if tokio::time::timeout(LONG, s.write_all(&chunk)).await.map(|r| r.is_err()).unwrap_or(true) {
            break;
        }
        sent += chunk.len();
    }
    let _ = tokio::time::timeout(LONG, s.close()).await;
    // Wait for the count to settle (the circuit may have been cut).
    let mut last = u64::MAX;
    while received.load(Ordering::Relaxed) != last {
        last = received.load(Ordering::Relaxed);
        if last as usize >= bytes {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let took = start.elapsed();
    reading.abort();
    sink_loop.abort();
    source_loop.abort();
    Ok((received.load(Ordering::Relaxed), took))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circuit_to_a_stranger_gets_libp2p_s_limits() -> TestResult<()> {
    logs();
    // A relay open to strangers: circuits to them get libp2p's 128 KiB a direction. (Circuits
    // to admitted devices carry a 100k-object first sync: the NAT lab's tests.)
    let (server, mut events, addr) = open_relay(|l| l.bytes_per_sec = 0).await?;
    let (received, _) = send_through(&addr, 1 << 20).await?;
    assert!(received < 1 << 18, "the stranger's circuit carried {received} bytes (limit 128 KiB)");
    assert!(received >= 64 << 10, "the circuit carried data before its limit ({received} bytes)");
    let closed = next_event(&mut events, |e| matches!(e, RelayEvent::CircuitClosed { error: Some(_), .. })).await;
    assert!(
        matches!(&closed, Some(RelayEvent::CircuitClosed { error: Some(e), .. }) if e.contains("bytes")),
        "the relay cut the circuit at its byte limit: {closed:?}"
    );
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_circuits_together_are_held_to_the_relay_s_byte_rate() -> TestResult<()> {
    logs();
    // 128 KiB/s for the whole relay (with a burst of one second's worth); circuits to
    // strangers may carry 4 MiB here.
    let (server, _events, addr) = open_relay(|l| {
        l.bytes_per_sec = 128 << 10;
        l.guest_bytes = 4 << 20;
    })
    .await?;
    let (received, took) = send_through(&addr, 512 << 10).await?;
    assert_eq!(received, 512 << 10, "every byte arrives, only slower");
    // 512 KiB at 128 KiB/s after a 128 KiB burst: at least 3 s (a lower bound; a slow machine
    // only adds to it). Unpaced, it takes a few milliseconds on loopback.
    assert!(took >= Duration::from_millis(2500), "512 KiB went through in {took:?}: the pace did not hold");
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_reservations_from_one_peer_is_capped() -> TestResult<()> {
    use libp2p::swarm::SwarmEvent;
    logs();
    let (server, mut events, addr) = open_relay(|_| {}).await?;
    // One stranger asks for a reservation 40 times in a row: the relay grants a burst of 30 a
    // minute to one peer and refuses the rest.
    let mut swarm = raw_client()?;
    let (mut granted, mut refused) = (0, 0);
    for _ in 0..40 {
        let id = swarm.listen_on(addr.clone().with(Protocol::P2pCircuit))?;
        let up = tokio::time::timeout(LONG, async {
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::NewListenAddr { listener_id, .. } if listener_id == id => return true,
                    SwarmEvent::ListenerClosed { listener_id, .. } if listener_id == id => return false,
                    _ => {}
                }
            }
        })
        .await
        .map_err(|_| "a reservation neither came up nor was refused")?;
        if up {
            granted += 1;
            swarm.remove_listener(id);
        } else {
            refused += 1;
        }
    }
    assert_eq!((granted, refused), (30, 10), "a burst of 30 reservations, then refusals");
    let denied = next_event(&mut events, |e| matches!(e, RelayEvent::ReservationDenied { .. })).await;
    assert!(denied.is_some(), "the relay reports the refused reservations");
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_added_on_one_device_is_used_by_the_identity_s_others() -> TestResult<()> {
    logs();
    let a = TestProfile::new("Ada")?;
    let a2 = TestProfile::second_device(&a)?;
    let (server, _events, relay_addr) = relay(&[&a]).await?;
    // Two devices of one identity on loopback, neither with a relay of its own.
    let n1 = a.start(a.config(&[Transport::Tcp])).await?;
    let mut config = a2.config(&[Transport::Tcp]);
    config.peers = n1.listen_addrs().await?;
    let n2 = a2.start(config).await?;
    // They meet and learn of each other's device (identity replication).
    let both_known = || {
        a.halo.identity().is_some_and(|i| i.devices.len() == 2)
            && a2.halo.identity().is_some_and(|i| i.devices.len() == 2)
    };
    assert!(wait_until(LONG, both_known).await.is_some(), "the devices never met");
    // Device 1 lists the relay for the identity: it reserves there, and so does device 2 once
    // the credential has replicated.
    assert!(a.halo.set_relay(&relay_addr.to_string(), true)?);
    circuit_addr(&n1).await.ok_or("device 1 never reserved")?;
    circuit_addr(&n2).await.ok_or("device 2 never took up the identity's relay")?;
    assert_eq!(a2.halo.relays(), [relay_addr.to_string()]);
    // Device 2 takes it off the list: device 1 lets go of its reservation too.
    assert!(a2.halo.set_relay(&relay_addr.to_string(), false)?);
    let mut gone = false;
    for _ in 0..300 {
        let addrs = n1.listen_addrs().await?;
        if !addrs.iter().any(|a| a.iter().any(|p| p == Protocol::P2pCircuit)) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "device 1 still listens through the removed relay");
    assert!(a.halo.relays().is_empty());
    n1.shutdown().await?;
    n2.shutdown().await?;
    server.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_behind_another_relay_is_found_again_after_a_restart() -> TestResult<()> {
    logs();
    // Ada and Bob share a space; each is behind a NAT and reserves on a relay of its own.
    let a = TestProfile::new("Ada")?;
    let b = TestProfile::new("Bob")?;
    let (key, space) = a.create_space("Shared")?;
    space.add_task("before")?;
    a.admit(&key, &b, Role::Editor)?;
    let (r1, _e1, r1_addr) = relay(&[&a]).await?;
    let (r2, _e2, r2_addr) = relay(&[&b]).await?;
    let na = behind_nat(&a, &r1_addr).await?;
    let nb = behind_nat(&b, &r2_addr).await?;
    let a_circuit = circuit_addr(&na).await.ok_or("Ada never reserved")?;
    circuit_addr(&nb).await.ok_or("Bob never reserved")?;
    // They meet once through Ada's circuit (as an invitation would bring about)...
    nb.dial(a_circuit).await?;
    let sb = b.echo.open_replica(key.public())?;
    assert!(wait_until(LONG, || titles(&sb) == ["before"]).await.is_some(), "Bob got the space");
    na.shutdown().await?;
    nb.shutdown().await?;
    drop((space, sb, na, nb));
    // ...and after both restart, with nothing dialled by hand, they find each other again:
    // each kept the other's circuit address (learned by identify) in its peer store.
    let (a, b) = (a.reopen().await?, b.reopen().await?);
    let na = behind_nat(&a, &r1_addr).await?;
    let nb = behind_nat(&b, &r2_addr).await?;
    let sa = a.echo.open_replica(key.public())?;
    sa.add_task("after the restart")?;
    let sb = b.echo.open_replica(key.public())?;
    assert!(
        wait_until(LONG, || titles(&sb) == ["before", "after the restart"]).await.is_some(),
        "Bob never found Ada again through her relay: {:?}",
        titles(&sb)
    );
    na.shutdown().await?;
    nb.shutdown().await?;
    r1.stop().await;
    r2.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_answers_stun_binding_requests() -> TestResult<()> {
    logs();
    let listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    let mut config = RelayConfig::new(listen, Vec::new(), true);
    config.stun = Some("127.0.0.1:0".parse()?);
    let (server, _events) = RelayServer::start(libp2p::identity::Keypair::generate_ed25519(), config).await?;
    let at = server.stun_addr().ok_or("no STUN address")?;
    assert_ne!(at.port(), 0, "the port the system chose is reported");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let me = socket.local_addr()?;
    // Garbage is ignored; a Binding request is answered with the address it came from.
    socket.send_to(b"not stun at all", at).await?;
    let req = dxos_net::relay::stun::binding_request().ok_or("no request")?;
    socket.send_to(&req, at).await?;
    let mut buf = [0u8; 1500];
    let (n, from) = tokio::time::timeout(LONG, socket.recv_from(&mut buf)).await??;
    assert_eq!(from, at);
    assert_eq!(dxos_net::relay::stun::mapped_address(&buf[..n]), Some(me));
    server.stop().await;
    Ok(())
}
