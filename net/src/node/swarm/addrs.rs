//! What an address says: its peer, whether it is on the local network or loopback, and how
//! long a dial to it may take.

use super::*;

/// The peer an address leads to: its last `/p2p/` part. Through a relay
/// (`<relay>/p2p/<relay id>/p2p-circuit/p2p/<peer>`) that is the peer behind the relay; an
/// address ending in `/p2p-circuit` names no peer.
pub(super) fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(id)) => Some(id),
        _ => None,
    }
}

/// Whether `addr` is on this host or a private network (a LAN).
pub(super) fn is_local_network(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Protocol::Ip6(ip) => ip.is_loopback() || ip.is_unicast_link_local() || ip.is_unique_local(),
        _ => false,
    })
}

/// How long a dial to these addresses may stay pending before it is given up for a fresh one.
pub(super) fn dial_patience(addrs: &[Multiaddr]) -> Duration {
    if addrs.iter().all(is_local_network) { LAN_DIAL_PATIENCE } else { WAN_DIAL_PATIENCE }
}

pub(super) fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

/// The address without the peer it leads to (its trailing `/p2p/<peer>`); a relay's
/// `/p2p/<relay id>` inside a circuit address is kept.
pub(super) fn without_peer(addr: &Multiaddr) -> Multiaddr {
    let mut a = addr.clone();
    if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
        a.pop();
    }
    a
}

/// The `/webrtc` address of `peer` through the circuit of a relayed connection at `addr`
/// (`<relay>/p2p-circuit[/p2p/<peer>]`); `None` if `addr` is no circuit.
pub(super) fn webrtc_via(addr: &Multiaddr, peer: PeerId) -> Option<Multiaddr> {
    let circuit = without_peer(addr);
    if circuit.iter().last() != Some(Protocol::P2pCircuit) {
        return None;
    }
    Some(circuit.with(Protocol::WebRTC).with(Protocol::P2p(peer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circuit_addresses_keep_their_relay() {
        let relay = PeerId::random();
        let peer = PeerId::random();
        let direct: Multiaddr = format!("/ip4/10.0.0.1/tcp/4001/p2p/{peer}").parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(peer_of(&direct), Some(peer));
        assert_eq!(without_peer(&direct).to_string(), "/ip4/10.0.0.1/tcp/4001");
        let circuit: Multiaddr = format!("/ip4/10.0.0.1/tcp/4001/p2p/{relay}/p2p-circuit/p2p/{peer}")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(peer_of(&circuit), Some(peer));
        assert_eq!(without_peer(&circuit).to_string(), format!("/ip4/10.0.0.1/tcp/4001/p2p/{relay}/p2p-circuit"));
        let listen: Multiaddr =
            format!("/ip4/10.0.0.1/tcp/4001/p2p/{relay}/p2p-circuit").parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(peer_of(&listen), None);
        assert_eq!(Transport::of(&circuit), Transport::Relay);
        // A circuit to a peer's QUIC or WebRTC-direct address is still the relay's...
        let quic_relay: Multiaddr = "/ip4/203.0.113.9/udp/4001/quic-v1/p2p/12D3KooWDFmdaRwqgVNr9iMPL5vqiZr15KFdEtgASuLeRXNE5Du9/p2p-circuit/p2p/12D3KooWDFmdaRwqgVNr9iMPL5vqiZr15KFdEtgASuLeRXNE5Du9".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Transport::of(&quic_relay), Transport::Relay);
        // ...but `/p2p-circuit/webrtc` is WebRTC, signalled through the circuit.
        let webrtc: Multiaddr = "/ip4/203.0.113.9/udp/4001/quic-v1/p2p/12D3KooWDFmdaRwqgVNr9iMPL5vqiZr15KFdEtgASuLeRXNE5Du9/p2p-circuit/webrtc/p2p/12D3KooWDFmdaRwqgVNr9iMPL5vqiZr15KFdEtgASuLeRXNE5Du9".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Transport::of(&webrtc), Transport::WebRtc);
        assert_eq!(Transport::WebRtc.as_str(), "webrtc");
    }
}
