//! The relay's key file: an ed25519 key made on first run and kept, so the relay's peer id,
//! and with it every `/p2p/<relay>` address devices store, stays valid across restarts.

use std::path::Path;

use libp2p::identity::Keypair;

use super::RelayError;

/// Reads the key at `path`, or makes one and writes it there (owner-only, atomically).
pub fn load_or_create(path: &Path) -> Result<Keypair, RelayError> {
    let shown = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes)
            .map_err(|e| RelayError::BadKey { path: shown, reason: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            let bytes = key
                .to_protobuf_encoding()
                .map_err(|e| RelayError::BadKey { path: shown.clone(), reason: e.to_string() })?;
            crate::node::cert::write_private(path, &bytes)
                .map_err(|source| RelayError::KeyFile { path: shown, source })?;
            Ok(key)
        }
        Err(source) => Err(RelayError::KeyFile { path: shown, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("relay.key");
        let a = load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        let b = load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        std::fs::write(&path, b"not a key").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(load_or_create(&path), Err(RelayError::BadKey { .. })));
    }
}
