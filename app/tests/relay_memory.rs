//! The memory a relay holds under load: `dxos relay serve` (its own process) with 50 idle
//! reservations and 10 circuits kept busy, sampled from /proc. The bound is stated in
//! [`BOUND_MIB`] and in BENCHMARKS.md.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use futures_util::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm};

/// The most resident memory the relay may reach in this test (a debug build; see
/// BENCHMARKS.md for the figures measured).
const BOUND_MIB: u64 = 64;
const IDLE: usize = 50;
const BUSY: usize = 10;
const SINK: StreamProtocol = StreamProtocol::new("/test/sink/1");
const LONG: Duration = Duration::from_secs(30);

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A stranger's libp2p node: a relay client and streams of its own.
#[derive(libp2p::swarm::NetworkBehaviour)]
struct Stranger {
    relay: libp2p::relay::client::Behaviour,
    stream: libp2p_stream::Behaviour,
}

fn stranger() -> Result<Swarm<Stranger>, Error> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(libp2p::tcp::Config::default(), libp2p::noise::Config::new, libp2p::yamux::Config::default)?
        .with_relay_client(libp2p::noise::Config::new, libp2p::yamux::Config::default)?
        .with_behaviour(|_, relay| Stranger { relay, stream: libp2p_stream::Behaviour::new() })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
        .build())
}

/// A stranger that reserves on the relay, then runs on its own task; returns its circuit
/// address (ending in its peer id) and its stream control.
async fn reserve(relay: &Multiaddr) -> Result<(Multiaddr, libp2p_stream::Control), Error> {
    let mut swarm = stranger()?;
    swarm.listen_on(relay.clone().with(Protocol::P2pCircuit))?;
    let addr = tokio::time::timeout(LONG, async {
        loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                return address;
            }
        }
    })
    .await
    .map_err(|_| "no reservation")?;
    let peer = *swarm.local_peer_id();
    let addr = if addr.iter().any(|p| p == Protocol::P2p(peer)) { addr } else { addr.with(Protocol::P2p(peer)) };
    let control = swarm.behaviour().stream.new_control();
    tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    Ok((addr, control))
}

/// Resident and peak resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field =
        |name: &str| status.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse::<u64>().ok();
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Keeps one circuit to `sink` busy until `stop`: dials it through the relay, writes until
/// the relay cuts the circuit at its byte limit (strangers' circuits: 128 KiB), and again.
async fn keep_busy(sink: Multiaddr, sink_peer: PeerId, sent: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    let Ok(mut swarm) = stranger() else { return };
    let mut control = swarm.behaviour().stream.new_control();
    let mut connected = false;
    let chunk = vec![0x5au8; 4096];
    while !stop.load(Ordering::Relaxed) {
        if !connected {
            if swarm.dial(sink.clone()).is_err() {
                return;
            }
            let up = tokio::time::timeout(LONG, async {
                loop {
                    match swarm.select_next_some().await {
                        SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == sink_peer => return true,
                        SwarmEvent::OutgoingConnectionError { .. } => return false,
                        _ => {}
                    }
                }
            })
            .await
            .unwrap_or(false);
            if !up {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        }
        // Drive the swarm while the stream writes.
        let write = async {
            let Ok(mut s) = control.open_stream(sink_peer, SINK).await else { return };
            while !stop.load(Ordering::Relaxed) {
                if s.write_all(&chunk).await.is_err() {
                    return;
                }
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        };
        tokio::pin!(write);
        loop {
            tokio::select! {
                _ = &mut write => break,
                ev = swarm.select_next_some() => {
                    if let SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } = ev
                        && peer_id == sink_peer
                    {
                        break;
                    }
                }
            }
        }
        connected = swarm.is_connected(&sink_peer);
        if connected {
            // The stream failed but the connection stands: go through a new circuit.
            let _ = swarm.disconnect_peer_id(sink_peer);
            connected = false;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_with_50_idle_reservations_and_10_busy_circuits_stays_within_its_bound() -> Result<(), Error> {
    let dir = tmp();
    let mut cmd = Command::new(BIN);
    cmd.args(["--json", "relay", "serve", "--open", "--listen", "/ip4/127.0.0.1/tcp/0", "--circuit-burst", "100000"])
        .arg("--key")
        .arg(dir.path().join("relay.key"));
    let mut relay = Running::spawn(cmd);
    let pid = relay.child.id();
    let first = relay.next();
    let addr: Multiaddr = first["addrs"][0].as_str().ok_or("no relay address")?.parse()?;
    let (rss_idle_start, _) = rss_kib(pid).ok_or("no /proc status")?;

    // 50 idle reservations.
    for _ in 0..IDLE {
        reserve(&addr).await?;
    }
    let (rss_reserved, _) = rss_kib(pid).ok_or("relay gone")?;

    // 10 sinks that read and drop everything, each kept busy by a source through the relay.
    let (sent, received, stop) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let mut tasks = Vec::new();
    for _ in 0..BUSY {
        let (sink, control) = reserve(&addr).await?;
        let sink_peer = match sink.iter().last() {
            Some(Protocol::P2p(p)) => p,
            _ => return Err("a circuit address without its peer".into()),
        };
        let mut incoming = control.clone().accept(SINK)?;
        let got = received.clone();
        tasks.push(tokio::spawn(async move {
            while let Some((_, mut s)) = incoming.next().await {
                let got = got.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        got.fetch_add(n as u64, Ordering::Relaxed);
                    }
                });
            }
        }));
        tasks.push(tokio::spawn(keep_busy(sink, sink_peer, sent.clone(), stop.clone())));
    }

    // Sample the relay's memory for 15 s of traffic.
    let mut peak_sampled = 0;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak_sampled = peak_sampled.max(rss_kib(pid).ok_or("the relay died")?.0);
    }
    stop.store(true, Ordering::Relaxed);
    let (rss_end, hwm) = rss_kib(pid).ok_or("the relay died")?;
    let moved = received.load(Ordering::Relaxed);
    println!(
        "relay RSS: {} KiB at start, {} KiB with {IDLE} reservations, peak {} KiB (VmHWM {} KiB), {} KiB at the end; \
         {} MiB relayed in 15 s through {BUSY} busy circuits",
        rss_idle_start,
        rss_reserved,
        peak_sampled,
        hwm,
        rss_end,
        moved >> 20
    );
    for t in tasks {
        t.abort();
    }
    assert!(moved > 16 << 20, "the circuits were busy: {moved} bytes relayed");
    assert!(hwm <= BOUND_MIB << 10, "the relay's peak resident memory, {hwm} KiB, is over {BOUND_MIB} MiB");
    assert_eq!(relay.signal("-TERM"), 0, "the relay stops cleanly");
    Ok(())
}
