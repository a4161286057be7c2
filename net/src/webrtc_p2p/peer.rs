//! One `/webrtc` connection being set up: the peer connection (full ICE with host and
//! server-reflexive candidates from STUN), the offer/answer and trickled candidates over the
//! signaling stream, every step under a timeout, and the result wrapped as a libp2p
//! connection (libp2p-webrtc's [`Connection`]: the spec's data-channel multiplexing).
//!
//! There is no Noise handshake: the DTLS fingerprints travel in the SDP over the relayed
//! connection, which Noise already authenticated, and the remote's peer id is that
//! connection's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::futures::channel::{mpsc, oneshot};
use libp2p::futures::{FutureExt, StreamExt};
use libp2p_webrtc::tokio::Connection;
use webrtc::api::APIBuilder;
use webrtc::api::setting_engine::SettingEngine;
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::ice_transport::ice_connection_state::RTCIceConnectionState;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;

use super::signaling::{Candidate, Message, Signaling, Type, parse_candidate};
use super::{Error, Timeouts};

/// What one attempt needs to know.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// STUN servers, `host:port`.
    pub stun: Vec<String>,
    /// Also offer loopback candidates (tests on one host with no other interface).
    pub include_loopback: bool,
    /// How long each step may take.
    pub timeouts: Timeouts,
}

/// Which side of the exchange we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We opened the signaling stream: we offer.
    Offerer,
    /// The remote opened it: we answer.
    Answerer,
}

/// Runs the exchange on `stream` and returns the connection once its data channels can open.
pub async fn connect(signaling: Signaling, role: Role, config: &PeerConfig) -> Result<Connection, Error> {
    let started = Instant::now();
    let pc = new_peer_connection(config).await?;
    // Collected from the start: the remote may open its first stream the moment it is
    // connected, before this side has finished.
    let incoming = Connection::collect_incoming(&pc).await;
    let pc = Arc::new(pc);
    let guard = CloseOnDrop(Some(pc.clone()));
    let result = exchange(signaling, role, &pc, config).await;
    if let Err(e) = &result {
        tracing::debug!(?role, "a /webrtc attempt failed after {:?}: {e}", started.elapsed());
    }
    result?;
    tracing::debug!(?role, "/webrtc connected in {:?}", started.elapsed());
    drop(guard.disarm());
    let pc = Arc::try_unwrap(pc).map_err(|_| Error::Internal("the peer connection is still shared".into()))?;
    Ok(Connection::new(pc, incoming))
}

async fn new_peer_connection(config: &PeerConfig) -> Result<RTCPeerConnection, Error> {
    let mut se = SettingEngine::default();
    // libp2p's streams are detached data channels (read and written as byte streams).
    se.detach_data_channels();
    se.set_include_loopback_candidate(config.include_loopback);
    // A path that was there and is gone is given up after 3 + 5 s rather than 5 + 25 s, so a
    // dead connection ends while the relay still carries the peer.
    se.set_ice_timeouts(Some(Duration::from_secs(3)), Some(Duration::from_secs(5)), Some(Duration::from_secs(1)));
    let api = APIBuilder::new().with_setting_engine(se).build();
    let ice_servers = if config.stun.is_empty() {
        Vec::new()
    } else {
        vec![RTCIceServer { urls: config.stun.iter().map(|s| format!("stun:{s}")).collect(), ..Default::default() }]
    };
    Ok(api.new_peer_connection(RTCConfiguration { ice_servers, ..Default::default() }).await?)
}

/// The candidates seen on each side, by type, to say why ICE failed.
#[derive(Default, Debug)]
struct Seen {
    local: [usize; 3],
    remote: [usize; 3],
}

impl Seen {
    fn slot(typ: &str) -> Option<usize> {
        match typ {
            "host" => Some(0),
            "srflx" | "prflx" => Some(1),
            "relay" => Some(2),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        let side = |c: &[usize; 3]| format!("{} host, {} server-reflexive, {} relayed", c[0], c[1], c[2]);
        let why = if self.local[1] == 0 || self.remote[1] == 0 {
            "a side learned no public address from STUN (no STUN server answered, or UDP is blocked)"
        } else {
            "both sides learned public addresses but no pair answered (symmetric NATs, or a firewall \
             dropping UDP, need a TURN server)"
        };
        format!("ours: {}; the peer's: {}; {why}", side(&self.local), side(&self.remote))
    }
}

async fn exchange(
    mut sig: Signaling,
    role: Role,
    pc: &Arc<RTCPeerConnection>,
    config: &PeerConfig,
) -> Result<(), Error> {
    let t = &config.timeouts;
    let (cand_tx, mut cand_rx) = mpsc::unbounded::<RTCIceCandidateInit>();
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let seen_local = seen.clone();
    pc.on_ice_candidate(Box::new(move |c| {
        if let Some(c) = c {
            if let (Ok(mut s), Some(i)) = (seen_local.lock(), Seen::slot(&c.typ.to_string())) {
                s.local[i] += 1;
            }
            if let Ok(json) = c.to_json() {
                let _ = cand_tx.unbounded_send(json);
            }
        }
        Box::pin(async {})
    }));
    let (ice_tx, mut ice_rx) = mpsc::unbounded::<RTCIceConnectionState>();
    pc.on_ice_connection_state_change(Box::new(move |s| {
        let _ = ice_tx.unbounded_send(s);
        Box::pin(async {})
    }));

    // The offerer's `init` channel puts an application section (and so ICE) into the offer;
    // it is closed once connected.
    let mut init = None;
    match role {
        Role::Offerer => {
            let channel = pc.create_data_channel("init", None).await?;
            let (open_tx, open_rx) = oneshot::channel::<()>();
            let open_tx = std::sync::Mutex::new(Some(open_tx));
            channel.on_open(Box::new(move || {
                if let Some(tx) = open_tx.lock().ok().and_then(|mut t| t.take()) {
                    let _ = tx.send(());
                }
                Box::pin(async {})
            }));
            init = Some((channel, open_rx));
            let offer = pc.create_offer(None).await?;
            let sdp = offer.sdp.clone();
            pc.set_local_description(offer).await?;
            sig.send(Message::new(Type::SdpOffer, sdp), t.signaling).await?;
            let answer = next_of(&mut sig, Type::SdpAnswer, t.signaling, "waiting for the SDP answer").await?;
            pc.set_remote_description(RTCSessionDescription::answer(answer)?).await?;
        }
        Role::Answerer => {
            let offer = next_of(&mut sig, Type::SdpOffer, t.signaling, "waiting for the SDP offer").await?;
            pc.set_remote_description(RTCSessionDescription::offer(offer)?).await?;
            let answer = pc.create_answer(None).await?;
            let sdp = answer.sdp.clone();
            sig.send(Message::new(Type::SdpAnswer, sdp), t.signaling).await?;
            pc.set_local_description(answer).await?;
        }
    }

    // Trickle candidates both ways until ICE has a path.
    let ice_deadline = tokio::time::sleep(t.ice);
    tokio::pin!(ice_deadline);
    let mut remote_open = true;
    loop {
        tokio::select! {
            biased;
            state = ice_rx.next() => match state {
                Some(RTCIceConnectionState::Connected | RTCIceConnectionState::Completed) => break,
                Some(RTCIceConnectionState::Failed) => {
                    let detail = seen.lock().map(|s| s.describe()).unwrap_or_default();
                    return Err(Error::IceFailed { detail });
                }
                Some(RTCIceConnectionState::Closed) | None => return Err(Error::Internal("the peer connection closed".into())),
                Some(_) => {}
            },
            Some(c) = cand_rx.next() => {
                let json = serde_json::to_string(&c).map_err(|e| Error::Internal(e.to_string()))?;
                sig.send(Message::new(Type::IceCandidate, json), t.signaling).await?;
            }
            msg = sig.next(), if remote_open => match msg? {
                None => remote_open = false,
                Some(m) if m.kind() == Some(Type::IceCandidate) => {
                    match parse_candidate(m.data.as_deref().unwrap_or("null"))? {
                        Candidate::End => {}
                        Candidate::Add(c) => {
                            if let (Ok(mut s), Some(i)) = (seen.lock(), candidate_type(&c.candidate).and_then(Seen::slot)) {
                                s.remote[i] += 1;
                            }
                            // A candidate the agent cannot use is skipped, as browsers do.
                            if let Err(e) = pc.add_ice_candidate(c).await {
                                tracing::debug!("a remote ICE candidate was refused: {e}");
                            }
                        }
                    }
                }
                Some(m) => return Err(Error::Protocol(format!("expected an ICE candidate, got {:?}", m.kind()))),
            },
            () = &mut ice_deadline => {
                let detail = seen.lock().map(|s| s.describe()).unwrap_or_default();
                return Err(Error::IceTimeout { after: t.ice, detail });
            }
        }
    }

    // DTLS (and then SCTP) run over the path ICE found.
    let ice_done = Instant::now();
    let dtls_deadline = ice_done + t.dtls;
    loop {
        match pc.connection_state() {
            RTCPeerConnectionState::Connected => break,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                return Err(Error::Internal("DTLS failed: the peer's certificate does not match its offer".into()));
            }
            _ => {}
        }
        if Instant::now() >= dtls_deadline {
            return Err(Error::Timeout { step: "DTLS", after: t.dtls });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if let Some((channel, open)) = init {
        match tokio::time::timeout(t.dtls, open).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Error::Internal("the init data channel went away".into())),
            Err(_) => return Err(Error::Timeout { step: "opening the init data channel", after: t.dtls }),
        }
        let _ = channel.close().await;
    }
    tracing::debug!(?role, "/webrtc: DTLS and the first data channel took {:?} after ICE", ice_done.elapsed());
    pc.on_ice_candidate(Box::new(|_| Box::pin(async {})));
    pc.on_ice_connection_state_change(Box::new(|_| Box::pin(async {})));
    sig.close(Duration::from_secs(1)).now_or_never();
    Ok(())
}

/// The next message, which must be of kind `kind`; its data.
async fn next_of(sig: &mut Signaling, kind: Type, patience: Duration, step: &'static str) -> Result<String, Error> {
    match tokio::time::timeout(patience, sig.next()).await {
        Err(_) => Err(Error::Timeout { step, after: patience }),
        Ok(Err(e)) => Err(e),
        Ok(Ok(None)) => Err(Error::Protocol(format!("the peer closed the signaling stream while we were {step}"))),
        Ok(Ok(Some(m))) if m.kind() == Some(kind) => {
            m.data.ok_or_else(|| Error::Protocol(format!("{kind:?} without its SDP")))
        }
        Ok(Ok(Some(m))) => Err(Error::Protocol(format!("expected {kind:?}, got {:?}", m.kind()))),
    }
}

/// The type in an SDP candidate line (`... typ host ...`).
fn candidate_type(line: &str) -> Option<&str> {
    let mut it = line.split_ascii_whitespace();
    while let Some(w) = it.next() {
        if w == "typ" {
            return it.next();
        }
    }
    None
}

/// Closes the peer connection if the attempt is given up (an error, a timeout, a drop), so
/// its ICE agent stops.
struct CloseOnDrop(Option<Arc<RTCPeerConnection>>);

impl CloseOnDrop {
    fn disarm(mut self) -> Option<Arc<RTCPeerConnection>> {
        self.0.take()
    }
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(pc) = self.0.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = pc.close().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_types_are_read_from_the_line() {
        assert_eq!(candidate_type("candidate:1 1 udp 2130706431 10.0.0.2 5000 typ host"), Some("host"));
        assert_eq!(
            candidate_type("candidate:2 1 udp 1694498815 203.0.113.4 6000 typ srflx raddr 10.0.0.2 rport 5000"),
            Some("srflx")
        );
        assert_eq!(candidate_type("garbage"), None);
    }
}
