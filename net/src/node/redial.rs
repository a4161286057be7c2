//! Which peers to dial, and when: the peers we care about are dialled again with a short,
//! capped backoff whenever they are not connected and we know an address, so a dropped link
//! (a Wi-Fi toggle, a laptop waking up) recovers by itself about a second after it returns.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

/// First wait after a disconnect or a failed dial.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between dials of a wanted peer with a known address.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between dials of a peer known only through relays: each dial asks a relay
/// for a circuit, and a peer that is away has no reservation to answer it. It dials us
/// through its relay when it comes back, and a reservation of ours coming back makes every
/// peer due at once.
pub const CIRCUIT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Most addresses kept per peer (newest first).
const MAX_ADDRS: usize = 16;

#[derive(Debug)]
struct Entry {
    addrs: Vec<Multiaddr>,
    connected: bool,
    backoff: Duration,
    next: Instant,
}

/// The redial schedule.
#[derive(Debug, Default)]
pub struct Redial {
    peers: HashMap<PeerId, Entry>,
    wanted: HashSet<PeerId>,
}

impl Redial {
    /// Sets the peers we care about (our devices, members of our spaces, explicit peers).
    pub fn set_wanted(&mut self, wanted: impl IntoIterator<Item = PeerId>) {
        self.wanted = wanted.into_iter().collect();
    }

    /// Adds one peer we care about.
    pub fn want(&mut self, peer: PeerId) {
        self.wanted.insert(peer);
    }

    /// Whether we care about `peer`.
    pub fn is_wanted(&self, peer: &PeerId) -> bool {
        self.wanted.contains(peer)
    }

    fn entry(&mut self, peer: PeerId, now: Instant) -> &mut Entry {
        self.peers.entry(peer).or_insert_with(|| Entry {
            addrs: Vec::new(),
            connected: false,
            backoff: FIRST_BACKOFF,
            next: now,
        })
    }

    /// An address where `peer` may be reached (mDNS, identify, an invitation, a stored one).
    /// New news of a peer that is not connected makes it due at once.
    pub fn learn(&mut self, peer: PeerId, addr: Multiaddr, now: Instant) {
        let e = self.entry(peer, now);
        // One address per socket: the same endpoint learned with and without its certhash
        // or peer id would otherwise be dialled twice at once.
        let key = endpoint(&addr);
        let mut addr = addr;
        if let Some(i) = e.addrs.iter().position(|a| endpoint(a) == key) {
            let old = e.addrs.remove(i);
            // Keep the certhash a WebRTC-direct dial needs, whichever form came last.
            if has_certhash(&old) && !has_certhash(&addr) {
                addr = old;
            }
        } else if !e.connected {
            e.next = now;
            e.backoff = FIRST_BACKOFF;
        }
        e.addrs.insert(0, addr);
        e.addrs.truncate(MAX_ADDRS);
    }

    /// Known addresses of `peer`.
    pub fn addrs(&self, peer: &PeerId) -> &[Multiaddr] {
        self.peers.get(peer).map(|e| e.addrs.as_slice()).unwrap_or(&[])
    }

    /// Every peer with known addresses.
    pub fn known(&self) -> impl Iterator<Item = (&PeerId, &[Multiaddr])> {
        self.peers.iter().map(|(p, e)| (p, e.addrs.as_slice()))
    }

    /// `peer` is connected.
    pub fn connected(&mut self, peer: PeerId, now: Instant) {
        let e = self.entry(peer, now);
        e.connected = true;
        e.backoff = FIRST_BACKOFF;
    }

    /// `peer`'s last connection closed: try again shortly.
    pub fn disconnected(&mut self, peer: PeerId, now: Instant) {
        let e = self.entry(peer, now);
        e.connected = false;
        e.backoff = FIRST_BACKOFF;
        e.next = now + FIRST_BACKOFF;
    }

    /// Everything is retried now (the link is known to be back). Both ends may dial at once:
    /// each WebRTC-direct dial has a socket of its own, so crossing dials both connect.
    pub fn all_due(&mut self, now: Instant) {
        for e in self.peers.values_mut() {
            e.next = now;
            e.backoff = FIRST_BACKOFF;
        }
    }

    /// The wanted peers to dial now, with their addresses; each is scheduled again after
    /// its backoff (doubled, up to [`MAX_BACKOFF`]), until it connects.
    pub fn due(&mut self, now: Instant) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut out = Vec::new();
        for (peer, e) in &mut self.peers {
            if e.connected || e.addrs.is_empty() || e.next > now || !self.wanted.contains(peer) {
                continue;
            }
            out.push((*peer, e.addrs.clone()));
            e.next = now + e.backoff;
            let circuits_only = e.addrs.iter().all(|a| a.iter().any(|p| p == libp2p::multiaddr::Protocol::P2pCircuit));
            e.backoff = (e.backoff * 2).min(if circuits_only { CIRCUIT_MAX_BACKOFF } else { MAX_BACKOFF });
        }
        out
    }
}

fn has_certhash(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, libp2p::multiaddr::Protocol::Certhash(_)))
}

/// An address without its `/certhash` and `/p2p` parts: the socket it reaches.
fn endpoint(addr: &Multiaddr) -> Multiaddr {
    use libp2p::multiaddr::Protocol;
    addr.iter().filter(|p| !matches!(p, Protocol::Certhash(_) | Protocol::P2p(_))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_peer_known_only_through_relays_is_dialled_less_often() {
        let (a, relay) = (PeerId::random(), PeerId::random());
        let circuit: Multiaddr =
            format!("/ip4/203.0.113.9/tcp/4001/p2p/{relay}/p2p-circuit").parse().unwrap_or_else(|e| panic!("{e}"));
        let t0 = Instant::now();
        let mut r = Redial::default();
        r.learn(a, circuit, t0);
        r.set_wanted([a]);
        let mut t = t0;
        let mut last = Duration::ZERO;
        for _ in 0..12 {
            let mut step = Duration::ZERO;
            while r.due(t + step).is_empty() {
                step += Duration::from_millis(100);
            }
            last = step;
            t += step;
        }
        assert_eq!(last, CIRCUIT_MAX_BACKOFF);
        // A direct address learned besides: back to the short backoff.
        r.learn(a, addr(1), t);
        let mut gaps = Vec::new();
        for _ in 0..6 {
            let mut step = Duration::ZERO;
            while r.due(t + step).is_empty() {
                step += Duration::from_millis(10);
            }
            gaps.push(step);
            t += step;
        }
        assert!(gaps.iter().all(|g| *g <= MAX_BACKOFF), "{gaps:?}");
    }

    #[test]
    fn only_wanted_peers_with_addresses_are_dialled_with_capped_backoff() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let t0 = Instant::now();
        let mut r = Redial::default();
        r.learn(a, addr(1), t0);
        r.learn(b, addr(2), t0);
        assert!(r.due(t0).is_empty(), "nobody is wanted yet");
        r.set_wanted([a]);
        assert_eq!(r.due(t0), vec![(a, vec![addr(1)])]);
        assert!(r.due(t0).is_empty(), "not again before the backoff");
        // The backoff doubles up to the cap, and stays there.
        let mut t = t0;
        let mut gaps = Vec::new();
        for _ in 0..8 {
            let mut step = Duration::ZERO;
            while r.due(t + step).is_empty() {
                step += Duration::from_millis(10);
            }
            gaps.push(step);
            t += step;
        }
        assert!(gaps.windows(2).all(|w| w[0] <= w[1]), "{gaps:?}");
        assert!(gaps.iter().all(|g| *g <= MAX_BACKOFF), "{gaps:?}");
        assert_eq!(*gaps.last().unwrap_or(&Duration::ZERO), MAX_BACKOFF);
        // Connected: never due. Disconnected: due again after the first backoff.
        r.connected(a, t);
        assert!(r.due(t + Duration::from_secs(10)).is_empty());
        r.disconnected(a, t);
        assert!(r.due(t).is_empty());
        assert_eq!(r.due(t + FIRST_BACKOFF).len(), 1);
    }

    #[test]
    fn one_address_per_socket_keeping_the_certhash() {
        let a = PeerId::random();
        let t0 = Instant::now();
        let mut r = Redial::default();
        let with: Multiaddr =
            "/ip4/10.0.0.1/udp/9/webrtc-direct/certhash/uEiDHb5cZE16R7lnraWQXJBRkKQx5Ln0aZsfckoFWwv22vQ"
                .parse()
                .unwrap_or_else(|e| panic!("{e}"));
        let plain: Multiaddr = "/ip4/10.0.0.1/udp/9/webrtc-direct".parse().unwrap_or_else(|e| panic!("{e}"));
        r.learn(a, with.clone(), t0);
        r.learn(a, plain, t0);
        r.learn(a, with.clone().with(libp2p::multiaddr::Protocol::P2p(a)), t0);
        assert_eq!(r.addrs(&a).len(), 1);
        assert!(has_certhash(&r.addrs(&a)[0]));
    }

    #[test]
    fn news_of_a_peer_makes_it_due_at_once() {
        let a = PeerId::random();
        let t0 = Instant::now();
        let mut r = Redial::default();
        r.want(a);
        r.learn(a, addr(1), t0);
        for _ in 0..5 {
            let _ = r.due(t0 + Duration::from_secs(100));
        }
        let later = t0 + Duration::from_secs(100);
        assert!(r.due(later).is_empty());
        r.learn(a, addr(2), later);
        assert_eq!(r.due(later), vec![(a, vec![addr(2), addr(1)])]);
    }
}
