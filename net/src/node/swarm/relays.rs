//! The node's relays: it keeps a connection to each (they are redialled like wanted peers),
//! proves its identity on each new connection (`/dxos/relay-auth/1`), then reserves a slot
//! by listening on `<relay>/p2p-circuit`. The circuit address is a listen address like any
//! other: `status` shows it, identify and invitations carry it. A reservation that ends (the
//! relay restarted, the link went) is made again once the relay is back.
//!
//! The relays are this device's own (its profile's list, `DXOS_RELAYS`) and the identity's
//! list, which its devices share as HALO credentials: a relay added on one device is reserved
//! on by all of them once the credential replicates, so they find each other through it.

use super::*;
use crate::relay::auth;

/// How an admission exchange with a relay ended.
pub(super) enum AuthOutcome {
    /// Admitted: reserve.
    Admitted,
    /// The relay refused this device (not allowed, revoked): wait for new credentials.
    Refused(String),
    /// The exchange itself failed (the stream was cut, the relay was still starting): try
    /// again shortly.
    Failed(String),
}

/// Where the node stands with one relay.
pub(super) struct RelaySlot {
    /// The relay's address, without `/p2p/`.
    addr: Multiaddr,
    /// The circuit listener, once admitted.
    listener: Option<ListenerId>,
    /// An admission exchange is under way.
    authing: bool,
    /// How many credentials we last showed it.
    shown: usize,
    /// Our credentials changed while an exchange was under way: show them again after it.
    again: bool,
}

/// The relays in `config`, by peer id (addresses without a `/p2p/` part are skipped: a relay
/// is reached by who it is).
pub(super) fn slots(relays: &[Multiaddr]) -> HashMap<PeerId, RelaySlot> {
    relays
        .iter()
        .filter_map(|a| match peer_of(a) {
            Some(p) => {
                Some((p, RelaySlot { addr: without_peer(a), listener: None, authing: false, shown: 0, again: false }))
            }
            None => {
                tracing::warn!(%a, "a relay address needs its /p2p/<peer id>: skipped");
                None
            }
        })
        .collect()
}

/// This device's relays, then the identity's list (addresses that are not a relay's are
/// skipped, each relay once).
pub(super) fn merged(local: &[Multiaddr], identity: &[String]) -> Vec<Multiaddr> {
    let mut out: Vec<Multiaddr> = local.to_vec();
    for a in identity {
        match a.parse::<Multiaddr>() {
            Ok(m) if !m.iter().any(|p| p == Protocol::P2pCircuit) && peer_of(&m).is_some() => {
                if !out.iter().any(|o| peer_of(o) == peer_of(&m)) {
                    out.push(m);
                }
            }
            _ => tracing::warn!(%a, "the identity lists a relay address that names no relay: skipped"),
        }
    }
    out
}

/// The port relays answer STUN on when none is configured (`relay serve --stun 0.0.0.0:3478`,
/// STUN's registered port).
pub(super) const RELAY_STUN_PORT: u16 = 3478;

/// The STUN servers `/webrtc` uses: those configured, or else each relay's host at
/// [`RELAY_STUN_PORT`].
pub(super) fn stun_servers(configured: &[String], relays: &[Multiaddr]) -> Vec<String> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    let mut out: Vec<String> = Vec::new();
    for r in relays {
        let host = r.iter().find_map(|p| match p {
            Protocol::Ip4(ip) => Some(ip.to_string()),
            Protocol::Ip6(ip) => Some(format!("[{ip}]")),
            Protocol::Dns(h) | Protocol::Dns4(h) | Protocol::Dns6(h) => Some(h.to_string()),
            _ => None,
        });
        if let Some(h) = host {
            let s = format!("{h}:{RELAY_STUN_PORT}");
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

impl Task {
    /// Is `peer` one of our relays (no replication with it)?
    pub(super) fn is_relay(&self, peer: &PeerId) -> bool {
        self.relays.contains_key(peer)
    }

    /// Replaces the relays: reserves on the new ones, lets go of the ones removed.
    pub(super) fn set_relays(&mut self, relays: &[Multiaddr]) {
        let new = slots(relays);
        let gone: Vec<PeerId> = self.relays.keys().filter(|p| !new.contains_key(p)).copied().collect();
        for p in gone {
            if let Some(id) = self.relays.remove(&p).and_then(|s| s.listener) {
                self.swarm.remove_listener(id);
            }
            self.explicit.remove(&p);
            let _ = self.swarm.disconnect_peer_id(p);
        }
        self.webrtc.set_stun(stun_servers(&self.stun, relays));
        let added: Vec<PeerId> = new.keys().filter(|p| !self.relays.contains_key(p)).copied().collect();
        for (p, slot) in new {
            self.relays.entry(p).or_insert(slot);
        }
        self.want_relays(Instant::now());
        self.refresh_wanted();
        for p in added {
            self.relay_auth(p);
        }
    }

    /// Finding each other with no DHT: a peer we want may hold a reservation on one of our
    /// relays (devices of one identity use the same ones), so each is also dialled at
    /// `<relay>/p2p-circuit/p2p/<peer>`.
    pub(super) fn learn_circuits(&mut self, wanted: &HashSet<PeerId>) {
        let now = Instant::now();
        for (relay, slot) in &self.relays {
            let circuit = slot.addr.clone().with(Protocol::P2p(*relay)).with(Protocol::P2pCircuit);
            for peer in wanted {
                if peer != relay && !self.relays.contains_key(peer) && !self.redial.addrs(peer).contains(&circuit) {
                    self.redial.learn(*peer, circuit.clone(), now);
                }
            }
        }
    }

    /// Keeps a connection to every relay.
    pub(super) fn want_relays(&mut self, now: Instant) {
        let addrs: Vec<Multiaddr> = self.relays.iter().map(|(p, s)| s.addr.clone().with(Protocol::P2p(*p))).collect();
        for a in addrs {
            self.add_explicit(a, now);
        }
    }

    /// A connection to a relay is up (or our credentials changed): prove who we are, then
    /// reserve.
    pub(super) fn relay_auth(&mut self, relay: PeerId) {
        let Some(slot) = self.relays.get_mut(&relay) else { return };
        if !self.connections.contains_key(&relay) {
            return;
        }
        if slot.authing {
            slot.again = true;
            return;
        }
        slot.authing = true;
        let creds = match self.ctx.halo.identity_credentials() {
            Ok(c) => {
                slot.shown = c.len();
                c
            }
            Err(e) => {
                slot.authing = false;
                tracing::warn!(%relay, "no credentials to show the relay: {e}");
                return;
            }
        };
        let mut control = self.control.clone();
        let tx = self.internal.clone();
        tokio::spawn(async move {
            let r = match control.open_stream(relay, auth::AUTH_PROTOCOL).await {
                Ok(stream) => {
                    match tokio::time::timeout(Duration::from_secs(10), auth::authenticate(stream.compat(), &creds))
                        .await
                    {
                        Ok(Ok(())) => AuthOutcome::Admitted,
                        Ok(Err(auth::AuthError::Refused(why))) => AuthOutcome::Refused(why),
                        Ok(Err(e)) => AuthOutcome::Failed(e.to_string()),
                        Err(_) => AuthOutcome::Failed("the relay did not answer within 10 s".into()),
                    }
                }
                Err(e) => AuthOutcome::Failed(format!("cannot open the admission stream: {e}")),
            };
            let _ = tx.send(Internal::RelayAuth(relay, r));
        });
    }

    /// Our identity's credentials changed (a device added or revoked): show the relays the
    /// new ones, so a revocation reaches them from every device.
    pub(super) fn relays_on_halo_change(&mut self) {
        // The identity's list may have changed (another device added or removed a relay).
        let list = merged(&self.local_relays, &self.ctx.halo.relays());
        let same = list.len() == self.relays.len()
            && list.iter().all(|a| peer_of(a).is_some_and(|p| self.relays.contains_key(&p)));
        if !same {
            self.set_relays(&list);
        }
        if self.relays.is_empty() {
            return;
        }
        let now = self.ctx.halo.identity_credentials().map(|c| c.len()).unwrap_or(0);
        let stale: Vec<PeerId> = self.relays.iter().filter(|(_, s)| s.shown != now).map(|(p, _)| *p).collect();
        for relay in stale {
            self.relay_auth(relay);
        }
    }

    /// The relay answered: listen on it (reserve) if admitted.
    pub(super) fn on_relay_auth(&mut self, relay: PeerId, r: AuthOutcome) {
        let Some(slot) = self.relays.get_mut(&relay) else { return };
        slot.authing = false;
        // Our credentials changed meanwhile: ask again. Reserve on this answer if it admits
        // us (the next one, if it refuses, says so); a refusal waits for the next answer.
        if std::mem::take(&mut slot.again) {
            self.relay_auth(relay);
            if !matches!(r, AuthOutcome::Admitted) {
                return;
            }
        }
        let Some(slot) = self.relays.get_mut(&relay) else { return };
        match r {
            AuthOutcome::Failed(why) => {
                // Seen when a node reached a relay that was still starting: it had not yet
                // taken up the admission protocol and cut the stream. Ask again in a second.
                tracing::info!(%relay, "the admission exchange failed ({why}): trying again");
                slot.shown = 0;
                let tx = self.internal.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = tx.send(Internal::RelayAgain(relay));
                });
            }
            AuthOutcome::Admitted => {
                if slot.listener.is_some() {
                    return;
                }
                let circuit = slot.addr.clone().with(Protocol::P2p(relay)).with(Protocol::P2pCircuit);
                match self.swarm.listen_on(circuit.clone()) {
                    Ok(id) => slot.listener = Some(id),
                    Err(e) => tracing::warn!(%circuit, "cannot reserve: {e}"),
                }
            }
            AuthOutcome::Refused(reason) => {
                tracing::warn!(%relay, "the relay refused us: {reason}");
                self.emit(NodeEvent::RelayRefused { relay, reason });
            }
        }
    }

    /// A listener closed: if it was a relay's, reserve again once the relay is reachable.
    pub(super) fn on_relay_listener_closed(&mut self, id: ListenerId) {
        let Some((relay, slot)) = self.relays.iter_mut().find(|(_, s)| s.listener == Some(id)) else { return };
        slot.listener = None;
        let relay = *relay;
        tracing::info!(%relay, "the reservation ended");
        if self.connections.contains_key(&relay) {
            let tx = self.internal.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = tx.send(Internal::RelayAgain(relay));
            });
        }
    }
}
