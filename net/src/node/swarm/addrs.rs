//! What an address says: its peer, whether it is on the local network or loopback, and how
//! long a dial to it may take.

use super::*;

pub(super) fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
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

pub(super) fn without_peer(addr: &Multiaddr) -> Multiaddr {
    addr.iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect()
}
