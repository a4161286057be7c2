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

fn tracing_note(e: &dyn std::error::Error) {
    eprintln!("relay restart: {e}");
}

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

/// A node with no listen address of its own (reachable only through its relay).
async fn behind_nat(p: &TestProfile, relay: &Multiaddr) -> TestResult<Node> {
    let mut config = p.config(&[Transport::Tcp]);
    config.listen.clear();
    config.relays = vec![relay.clone()];
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_behind_nats_replicate_through_the_relay() -> TestResult<()> {
    logs();
    let a = TestProfile::new("Ada")?;
    let b = TestProfile::new("Bob")?;
    let (key, space) = a.create_space("Shared")?;
    space.add_task("milk")?;
    a.admit(&key, &b, Role::Editor)?;
    // Only Ada's identity is allowed: Bob reaches her through her reservation.
    let key_of_relay = libp2p::identity::Keypair::generate_ed25519();
    let (server, mut events, relay_addr) = relay_with(key_of_relay.clone(), &[&a]).await?;
    let na = behind_nat(&a, &relay_addr).await?;
    let circuit = circuit_addr(&na).await.ok_or("A never listened through the relay")?;
    assert!(next_event(&mut events, |e| matches!(e, RelayEvent::Reserved { .. })).await.is_some());

    let mut nb_config = b.config(&[Transport::Tcp]);
    nb_config.listen.clear();
    let nb = b.start(nb_config).await?;
    nb.dial(circuit.clone()).await?;
    let sb = b.echo.open_replica(key.public())?;
    assert!(wait_until(LONG, || titles(&sb) == ["milk"]).await.is_some(), "B got A's task through the relay");
    sb.add_task("eggs")?;
    assert!(wait_until(LONG, || titles(&space) == ["milk", "eggs"]).await.is_some(), "A got B's task");
    let peers = nb.peers().await?;
    let to_a = peers.iter().find(|p| p.device_key == a.halo.device_key().map(|k| k.public())).ok_or("A not a peer")?;
    assert_eq!(to_a.transport, Transport::Relay, "{peers:?}");
    // The relay is not a replication peer of A's: only B is.
    let a_peers = na.peers().await?;
    assert!(a_peers.iter().any(|p| p.transport == Transport::Relay), "{a_peers:?}");
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
            Err(e) => tracing_note(&e),
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

/// Asks the relay for a reservation with a bare libp2p relay client (no admission first).
/// Returns the listener's events and whether a circuit address came up.
async fn raw_reservation(relay_addr: &Multiaddr) -> TestResult<(Vec<String>, bool)> {
    use libp2p::swarm::SwarmEvent;
    #[derive(libp2p::swarm::NetworkBehaviour)]
    struct Raw {
        relay: libp2p::relay::client::Behaviour,
    }
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(libp2p::tcp::Config::default(), libp2p::noise::Config::new, libp2p::yamux::Config::default)?
        .with_relay_client(libp2p::noise::Config::new, libp2p::yamux::Config::default)?
        .with_behaviour(|_, relay| Raw { relay })?
        .build();
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
