//! The STUN servers `/webrtc` asks for this device's public address: the profile's setting,
//! `stun.json` in the profile folder (a JSON array of `"host:port"`), then the `DXOS_STUN`
//! environment variable (`host:port` separated by commas). With neither, the node asks its
//! relays' hosts (at port 3478, where `relay serve --stun 0.0.0.0:3478` answers).

use std::path::Path;

use crate::error::{ClientError, Result};

/// The file in the profile folder.
pub(crate) const STUN_FILE: &str = "stun.json";
/// The environment variable.
pub(crate) const STUN_ENV: &str = "DXOS_STUN";

/// Checks a STUN server: `host:port`, a host name or an IP address (IPv6 in brackets) and a
/// port that is not 0. Returns it trimmed.
pub(crate) fn parse(server: &str) -> Result<String> {
    let s = server.trim();
    let bad = || {
        ClientError::InvalidInput(format!("{server:?} is not a STUN server (HOST:PORT, e.g. stun.example.org:3478)"))
    };
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty() && host.len() <= 253 && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    if port == 0 || !host_ok {
        return Err(bad());
    }
    Ok(s.to_owned())
}

/// The profile's servers (none if the file does not exist).
pub(crate) fn load(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(STUN_FILE);
    let list: Vec<String> = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::InvalidInput(format!("{} is not a list of STUN servers: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ClientError::io(format!("cannot read {}", path.display()), e)),
    };
    list.iter().map(|s| parse(s).map_err(|e| ClientError::InvalidInput(format!("{}: {e}", path.display())))).collect()
}

/// Every server the node of the profile at `dir` uses: the profile's, then the environment's.
pub(crate) fn all(dir: &Path) -> Result<Vec<String>> {
    let mut out = load(dir)?;
    if let Ok(v) = std::env::var(STUN_ENV) {
        for s in v.split(',').filter(|s| !s.trim().is_empty()) {
            let s = parse(s).map_err(|e| ClientError::Usage(format!("{STUN_ENV}: {e}")))?;
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_checked() {
        for good in ["stun.l.google.com:19302", "100.64.0.10:3478", "[2001:db8::1]:3478"] {
            assert_eq!(parse(good).ok().as_deref(), Some(good));
        }
        for bad in ["", "host", "host:0", "host:99999", ":3478", "[nonsense]:1", "a b:1", "stun:host:1x"] {
            assert!(matches!(parse(bad), Err(ClientError::InvalidInput(_))), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(load(dir.path()).unwrap_or_else(|e| panic!("{e}")), Vec::<String>::new());
        std::fs::write(dir.path().join(STUN_FILE), br#"["100.64.0.10:3478"]"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(load(dir.path()).unwrap_or_else(|e| panic!("{e}")), vec!["100.64.0.10:3478".to_owned()]);
        std::fs::write(dir.path().join(STUN_FILE), br#"["nope"]"#).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(load(dir.path()), Err(ClientError::InvalidInput(_))));
    }
}
