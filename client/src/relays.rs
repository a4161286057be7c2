//! The profile's relays before it has an identity: kept in `relays.json` in the profile
//! folder (a JSON array of multiaddrs, each ending in `/p2p/<relay peer id>`), plus those in
//! the `DXOS_RELAYS` environment variable (commas between them) for scripts. Once there is an
//! identity, the file's relays move to the identity's list (HALO credentials, shared by its
//! devices; see `Local::relay_list`). The node reserves a slot on each.

use std::path::Path;

use dxos_net::multiaddr::{Multiaddr, Protocol};

use crate::error::{ClientError, Result};

/// The file in the profile folder.
pub(crate) const RELAYS_FILE: &str = "relays.json";
/// The environment variable scripts set.
pub(crate) const RELAYS_ENV: &str = "DXOS_RELAYS";

/// Checks a relay address: a multiaddr that names its relay (`/p2p/<peer id>` at the end) and
/// is not itself a circuit. Returns it in canonical form.
pub(crate) fn parse(addr: &str) -> Result<Multiaddr> {
    let a: Multiaddr =
        addr.trim().parse().map_err(|e| ClientError::InvalidInput(format!("{addr:?} is not a multiaddr: {e}")))?;
    if a.iter().any(|p| p == Protocol::P2pCircuit) {
        return Err(ClientError::InvalidInput(format!("{addr:?} is a circuit through a relay, not a relay")));
    }
    if !matches!(a.iter().last(), Some(Protocol::P2p(_))) {
        return Err(ClientError::InvalidInput(format!(
            "{addr:?} does not name its relay: add /p2p/<peer id> (as `dxos relay serve` prints it)"
        )));
    }
    Ok(a)
}

/// The relays kept in the profile at `dir` (none if the file does not exist).
pub(crate) fn load(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(RELAYS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<Vec<String>>(&bytes)
            .map_err(|e| ClientError::InvalidInput(format!("{} is not a list of relays: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ClientError::io(format!("cannot read {}", path.display()), e)),
    }
}

/// Writes the list (atomically: a crash leaves the old list or the new one).
pub(crate) fn save(dir: &Path, relays: &[String]) -> Result<()> {
    let path = dir.join(RELAYS_FILE);
    let tmp = dir.join(format!(".{RELAYS_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(relays).map_err(|e| ClientError::Internal(e.to_string()))?;
    std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| ClientError::io(format!("cannot write {}", path.display()), e))
}

/// Removes the file (its relays have moved to the identity's list).
pub(crate) fn forget(dir: &Path) -> Result<()> {
    let path = dir.join(RELAYS_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ClientError::io(format!("cannot remove {}", path.display()), e)),
    }
}

/// The relays in `DXOS_RELAYS`, checked.
pub(crate) fn from_env() -> Result<Vec<Multiaddr>> {
    match std::env::var(RELAYS_ENV) {
        Ok(v) => v
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse(s).map_err(|e| ClientError::Usage(format!("{RELAYS_ENV}: {e}"))))
            .collect(),
        Err(_) => Ok(Vec::new()),
    }
}

/// Every relay the node of the profile at `dir` uses: the profile's, then the environment's.
pub(crate) fn all(dir: &Path) -> Result<Vec<Multiaddr>> {
    let mut out: Vec<Multiaddr> = load(dir)?.iter().filter_map(|a| parse(a).ok()).collect();
    for a in from_env()? {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: &str = "/ip4/203.0.113.9/udp/4001/quic-v1/p2p/12D3KooWDFmdaRwqgVNr9iMPL5vqiZr15KFdEtgASuLeRXNE5Du9";

    #[test]
    fn addresses_are_checked_and_the_list_kept() {
        assert!(parse(RELAY).is_ok());
        assert!(matches!(parse("nonsense"), Err(ClientError::InvalidInput(_))));
        assert!(matches!(parse("/ip4/203.0.113.9/tcp/4001"), Err(ClientError::InvalidInput(_))));
        assert!(matches!(parse(&format!("{RELAY}/p2p-circuit")), Err(ClientError::InvalidInput(_))));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(load(dir.path()).unwrap_or_else(|e| panic!("{e}")), Vec::<String>::new());
        save(dir.path(), &[RELAY.to_owned()]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(load(dir.path()).unwrap_or_else(|e| panic!("{e}")), vec![RELAY.to_owned()]);
        std::fs::write(dir.path().join(RELAYS_FILE), b"{").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(load(dir.path()), Err(ClientError::InvalidInput(_))));
    }
}
