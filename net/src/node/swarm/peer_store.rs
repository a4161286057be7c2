//! The peer store: the addresses of the peers we care about, kept in the profile so a
//! restarted node can dial them again with no mDNS.

use super::*;

impl Task {
    pub(super) fn load_peer_store(&mut self) {
        let Some(path) = &self.peer_store else { return };
        let Ok(text) = std::fs::read_to_string(path) else { return };
        let Ok(map) = serde_json::from_str::<HashMap<String, Vec<String>>>(&text) else {
            tracing::warn!("ignoring unreadable peer store {}", path.display());
            return;
        };
        let now = Instant::now();
        for (peer, addrs) in map {
            let Ok(peer) = peer.parse::<PeerId>() else { continue };
            for a in addrs.iter().rev() {
                if let Ok(a) = a.parse::<Multiaddr>() {
                    self.redial.learn(peer, a, now);
                }
            }
        }
    }

    pub(super) fn save_peer_store(&mut self) {
        if !self.store_dirty {
            return;
        }
        self.store_dirty = false;
        let Some(path) = &self.peer_store else { return };
        let map: HashMap<String, Vec<String>> = self
            .redial
            .known()
            .filter(|(p, a)| self.redial.is_wanted(p) && !a.is_empty())
            .map(|(p, a)| (p.to_base58(), a.iter().map(|a| a.to_string()).collect()))
            .collect();
        let Ok(text) = serde_json::to_string_pretty(&map) else { return };
        let tmp = path.with_extension("tmp");
        if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)) {
            tracing::warn!("cannot write the peer store {}: {e}", path.display());
        }
    }
}
