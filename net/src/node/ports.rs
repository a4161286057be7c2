//! The ports a node listened on last time, kept in its profile, so that it listens on them
//! again after a restart and the addresses its peers stored stay valid (the WebRTC certhash
//! already does). Without mDNS (beyond the LAN, or with multicast blocked) a restarted node on
//! new ports could only be found again by a peer that was told its new address.
//!
//! Only listen addresses configured with port 0 are remembered; a port asked for explicitly is
//! used as asked. A remembered port that stays taken (see [`PORT_PATIENCE`]) is given up for a
//! new one.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

/// How long a start waits for a remembered port that is still taken. A node that just stopped
/// holds its QUIC port while its connections drain (87 ms seen on loopback).
pub(crate) const PORT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

/// The remembered port of each configured listen address (by its text, port 0).
#[derive(Debug, Default)]
pub(crate) struct ListenPorts {
    path: Option<PathBuf>,
    ports: BTreeMap<String, u16>,
}

impl ListenPorts {
    /// The ports kept at `path` (none kept when there is no path, no file or an unreadable one).
    pub(crate) fn load(path: Option<&Path>) -> Self {
        let Some(path) = path else { return Self::default() };
        let ports = match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str::<BTreeMap<String, u16>>(&text).unwrap_or_else(|e| {
                tracing::warn!("ignoring unreadable listen ports {}: {e}", path.display());
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        let ports = ports.into_iter().filter(|(_, port)| *port != 0).collect();
        Self { path: Some(path.to_path_buf()), ports }
    }

    /// `configured` on the port it had last time, if it asks for any port (0) and one was kept.
    pub(crate) fn previous(&self, configured: &Multiaddr) -> Option<Multiaddr> {
        if port_of(configured)? != 0 {
            return None;
        }
        let port = *self.ports.get(&configured.to_string())?;
        Some(with_port(configured, port))
    }

    /// Remembers the port `bound` got for `configured`, writing the file if it changed.
    pub(crate) fn record(&mut self, configured: &Multiaddr, bound: &Multiaddr) {
        if port_of(configured) != Some(0) {
            return;
        }
        let Some(port) = port_of(bound).filter(|p| *p != 0) else { return };
        if self.ports.insert(configured.to_string(), port) == Some(port) {
            return;
        }
        let Some(path) = &self.path else { return };
        let Ok(text) = serde_json::to_string_pretty(&self.ports) else { return };
        let tmp = path.with_extension("tmp");
        if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)) {
            tracing::warn!("cannot write the listen ports {}: {e}", path.display());
        }
    }
}

/// The TCP or UDP port of `addr`.
fn port_of(addr: &Multiaddr) -> Option<u16> {
    addr.iter().find_map(|p| match p {
        Protocol::Tcp(port) | Protocol::Udp(port) => Some(port),
        _ => None,
    })
}

/// `addr` with its TCP or UDP port set to `port`.
fn with_port(addr: &Multiaddr, port: u16) -> Multiaddr {
    addr.iter()
        .map(|p| match p {
            Protocol::Tcp(_) => Protocol::Tcp(port),
            Protocol::Udp(_) => Protocol::Udp(port),
            other => other,
        })
        .collect()
}

/// Whether nothing holds `addr`'s port. libp2p's TCP listener sets SO_REUSEPORT, so its own
/// bind would succeed next to another process of ours on that port and share its connections;
/// a plain bind does not.
pub(crate) fn is_free(addr: &Multiaddr) -> bool {
    let mut ip = None;
    let mut tcp = None;
    let mut udp = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(IpAddr::V6(a)),
            Protocol::Tcp(port) => tcp = Some(port),
            Protocol::Udp(port) => udp = Some(port),
            _ => {}
        }
    }
    match (ip, tcp, udp) {
        (Some(ip), Some(port), None) => TcpListener::bind(SocketAddr::new(ip, port)).is_ok(),
        (Some(ip), None, Some(port)) => UdpSocket::bind(SocketAddr::new(ip, port)).is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn a_port_is_kept_for_the_address_that_asked_for_any() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("listen-ports.json");
        let configured = addr("/ip4/127.0.0.1/udp/0/quic-v1");
        // A port that is free: bind one, note it, let it go.
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut ports = ListenPorts::load(Some(&path));
        assert_eq!(ports.previous(&configured), None, "nothing kept yet");
        let bound = addr(&format!("/ip4/127.0.0.1/udp/{port}/quic-v1"));
        ports.record(&configured, &bound);

        let again = ListenPorts::load(Some(&path));
        assert_eq!(again.previous(&configured), Some(bound.clone()));
        assert_eq!(again.previous(&addr("/ip4/127.0.0.1/tcp/0")), None, "another address has its own");
        assert_eq!(again.previous(&addr("/ip4/127.0.0.1/udp/4242/quic-v1")), None, "a port asked for is used as asked");

        assert!(is_free(&bound));
        let _holder = UdpSocket::bind(("127.0.0.1", port)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!is_free(&bound), "taken by someone else");
    }

    #[test]
    fn a_held_tcp_port_is_taken() {
        let holder = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = holder.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!is_free(&addr(&format!("/ip4/127.0.0.1/tcp/{port}"))));
        drop(holder);
        assert!(is_free(&addr(&format!("/ip4/127.0.0.1/tcp/{port}"))));
    }

    #[test]
    fn an_unreadable_file_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("listen-ports.json");
        std::fs::write(&path, "{not json").unwrap_or_else(|e| panic!("{e}"));
        let ports = ListenPorts::load(Some(&path));
        assert_eq!(ports.previous(&addr("/ip4/127.0.0.1/tcp/0")), None);
        std::fs::write(&path, r#"{"/ip4/127.0.0.1/tcp/0": 0}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ListenPorts::load(Some(&path)).previous(&addr("/ip4/127.0.0.1/tcp/0")), None, "port 0 is no port");
    }
}
