//! Replication sessions: one per connected peer that runs the protocol, opened (or
//! accepted) once the peer is connected, and what each reports (presence, first syncs).

use super::*;
use dxos_halo::PeerIdExt;

impl Task {
    /// The peer with the smaller id opens the replication stream; the other accepts it.
    pub(super) fn maybe_open(&mut self, peer: PeerId) {
        if *self.swarm.local_peer_id() >= peer
            || self.sessions.contains_key(&peer)
            || self.opening.contains(&peer)
            || !self.connections.contains_key(&peer)
            || self.is_relay(&peer)
        {
            return;
        }
        self.opening.insert(peer);
        tracing::debug!(%peer, "opening a replication stream");
        let mut control = self.control.clone();
        let tx = self.internal.clone();
        let newest = self.replicate_version;
        tokio::spawn(async move {
            // The newest version first; a peer that does not speak it gets version 1.
            let r = if newest >= 2 {
                match control.open_stream(peer, REPLICATE_PROTOCOL_V2).await {
                    Err(OpenStreamError::UnsupportedProtocol(_)) => {
                        control.open_stream(peer, REPLICATE_PROTOCOL).await.map(|s| (s, 1))
                    }
                    r => r.map(|s| (s, 2)),
                }
            } else {
                control.open_stream(peer, REPLICATE_PROTOCOL).await.map(|s| (s, 1))
            };
            let _ = tx.send(Internal::Opened(peer, r));
        });
    }

    pub(super) fn retry_later(&self, peer: PeerId, after: Duration) {
        let tx = self.internal.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(Internal::Retry(peer));
        });
    }

    pub(super) fn start_session(&mut self, peer: PeerId, stream: libp2p::Stream, version: u8) {
        let Ok(device) = PublicKey::from_peer_id(&peer) else {
            tracing::info!(%peer, "not an ed25519 peer: no replication");
            return;
        };
        self.next_session += 1;
        let id = self.next_session;
        tracing::debug!(%peer, session = id, version, "replication session starts");
        let (tx, report) = (self.internal.clone(), self.internal.clone());
        let ctx = self.ctx.clone();
        let handle = tokio::spawn(async move {
            let r = driver::run(stream.compat(), version, device, id, ctx, move |ev| {
                let _ = report.send(Internal::Session(peer, id, ev));
            })
            .await;
            let _ = tx.send(Internal::SessionEnded(peer, id, r.err().map(|e| e.to_string())));
        });
        if let Some(old) = self.sessions.insert(peer, Running { id, handle: handle.abort_handle(), version }) {
            old.handle.abort();
        }
    }

    pub(super) fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::Incoming(peer, stream, version) => {
                if self.is_down() {
                    return;
                }
                self.presence.remove(&peer);
                self.start_session(peer, stream, version);
            }
            Internal::Opened(peer, r) => {
                self.opening.remove(&peer);
                match r {
                    Ok((stream, version)) => self.start_session(peer, stream, version),
                    Err(OpenStreamError::UnsupportedProtocol(_)) => {
                        tracing::debug!(%peer, "peer does not replicate (not a DXOS node)");
                    }
                    Err(e) => {
                        tracing::debug!(%peer, "cannot open a replication stream: {e}");
                        self.retry_later(peer, Duration::from_millis(500));
                    }
                }
            }
            Internal::Session(peer, id, ev) => {
                if self.sessions.get(&peer).is_none_or(|s| s.id != id) {
                    return;
                }
                let p = self.presence.entry(peer).or_default();
                match &ev {
                    SessionEvent::Verified { space, member, role } => {
                        p.spaces.insert(*space, (*member, *role));
                    }
                    SessionEvent::Denied { space, .. } => {
                        p.spaces.remove(space);
                    }
                    _ => {}
                }
                self.emit(NodeEvent::Session { peer, event: ev });
            }
            Internal::SessionEnded(peer, id, error) => {
                if self.sessions.get(&peer).is_none_or(|s| s.id != id) {
                    return;
                }
                self.sessions.remove(&peer);
                self.presence.remove(&peer);
                match &error {
                    Some(e) => tracing::info!(%peer, session = id, "replication ended: {e}"),
                    None => tracing::debug!(%peer, session = id, "replication ended"),
                }
                let after = if error.as_deref().is_some_and(|e| e.starts_with("protocol")) {
                    Duration::from_secs(5)
                } else {
                    Duration::from_millis(200)
                };
                self.emit(NodeEvent::SessionEnded { peer, error });
                self.retry_later(peer, after);
            }
            Internal::Retry(peer) => self.maybe_open(peer),
            Internal::RelayAuth(relay, r) => self.on_relay_auth(relay, r),
            Internal::RelayAgain(relay) => self.relay_auth(relay),
            Internal::HaloChanged => {
                self.refresh_wanted();
                self.relays_on_halo_change();
                // A device that just joined an identity replicates as that identity from now
                // on: the sessions it had as a stranger start again.
                if !self.had_identity && self.ctx.halo.identity().is_some() {
                    self.had_identity = true;
                    for (_, s) in self.sessions.drain() {
                        s.handle.abort();
                    }
                    self.presence.clear();
                    let peers: Vec<PeerId> = self.connections.keys().copied().collect();
                    for peer in peers {
                        self.maybe_open(peer);
                    }
                }
            }
        }
    }
}
