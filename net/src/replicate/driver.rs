//! Runs one replication session over a stream: the thin IO part around [`Session`].
//!
//! A reader task decodes frames into the session; a writer task sends what the session says,
//! so a side that is busy sending a large message still reads (two peers each sending a
//! whole space to the other never wait on each other). Local edits arrive through ECHO's
//! update listeners, HALO's changes (a new space, a revocation) through its change listener.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dxos_echo::{Echo, UpdateListener, UpdateOrigin};
use dxos_halo::{Halo, PublicKey, Role};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::framing;
use super::proto::{Action, EchoAction, ProtoError, Session, Wire};
use yrs::StateVector;
use yrs::sync::protocol::SyncMessage;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;

/// Protocol bytes all sessions of this process have written (messages and their length
/// prefixes, before transport encryption and framing), for measuring overhead.
pub fn bytes_sent() -> u64 {
    BYTES_SENT.load(std::sync::atomic::Ordering::Relaxed)
}

static BYTES_SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What a session tells the node (for presence, events and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The peer's device proved it acts for `member` in `space`, with `role`.
    Verified {
        /// The space.
        space: PublicKey,
        /// The member the peer's device acts for.
        member: PublicKey,
        /// Its role.
        role: Role,
    },
    /// The peer could not prove membership of `space` (or lost it): it gets nothing of it.
    Denied {
        /// The space.
        space: PublicKey,
        /// Why.
        reason: String,
    },
    /// The first sync of `space` from the peer was applied.
    Synced {
        /// The space.
        space: PublicKey,
    },
    /// An update from a reader's device was refused.
    Refused {
        /// The space.
        space: PublicKey,
    },
    /// The peer is (or no longer is) another device of this identity.
    SameIdentity(bool),
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The stream failed or was closed.
    #[error("stream: {0}")]
    Io(#[from] std::io::Error),
    /// The peer broke the protocol (the stream is closed; nothing it sent was kept).
    #[error("protocol: {0}")]
    Protocol(#[from] ProtoError),
    /// This profile has no identity yet, so it replicates nothing.
    #[error("this profile has no identity")]
    NoIdentity,
    /// The peer id is not an ed25519 key.
    #[error("peer key: {0}")]
    PeerKey(String),
    /// A queue of the session filled up (the peer does not read, or local edits come faster
    /// than the link carries them). The session ends; the next one (moments later) starts
    /// from state vectors, so nothing is lost and no queue grows without bound.
    #[error("overloaded: {0}")]
    Overloaded(&'static str),
}

/// Frames waiting for the writer task. Full: the peer has not taken this many frames, and
/// the session ends ([`SessionError::Overloaded`]) rather than hold more.
pub const OUT_CAPACITY: usize = 1024;
/// Local news (edits to the session's spaces, HALO changes) waiting for the driver. Full:
/// the session ends ([`SessionError::Overloaded`]); the next one syncs from state vectors.
pub const LOCAL_CAPACITY: usize = 4096;

/// What a session needs of the profile.
#[derive(Clone)]
pub struct Context {
    /// The profile's spaces.
    pub echo: Echo,
    /// The profile's identity and credentials.
    pub halo: Halo,
    /// Largest message accepted from the peer.
    pub max_message: usize,
}

enum Local {
    Update(PublicKey, Vec<u8>, UpdateOrigin),
    Halo,
}

struct Driver {
    ctx: Context,
    local: PublicKey,
    session: Session,
    /// The replicas of the spaces the session replicates (the session holds none).
    spaces: HashMap<PublicKey, dxos_echo::Space>,
    /// Tags the updates applied from this peer.
    source: u64,
    listeners: HashMap<PublicKey, UpdateListener>,
    local_tx: mpsc::Sender<Local>,
    /// Set when local news did not fit in its queue.
    overflowed: Arc<AtomicBool>,
    out: mpsc::Sender<Vec<u8>>,
    report: Box<dyn Fn(SessionEvent) + Send>,
}

impl Driver {
    fn listen(&mut self, space: &dxos_echo::Space) {
        let (id, tx, overflowed) = (space.id(), self.local_tx.clone(), self.overflowed.clone());
        // Called by whoever wrote (a UI thread too): it never waits for the session.
        let l = space.on_update(move |u, origin| {
            if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(Local::Update(id, u.to_vec(), origin)) {
                overflowed.store(true, Ordering::Release);
            }
        });
        self.listeners.insert(id, l);
    }

    /// The spaces this device belongs to, opened in ECHO (an empty replica if new here).
    fn member_spaces(&self) -> Vec<(dxos_echo::Space, dxos_halo::SpaceState)> {
        let mut out = Vec::new();
        for id in self.ctx.halo.spaces() {
            let Some(state) = self.ctx.halo.space_state(&id) else { continue };
            if state.member_of_device(&self.local).is_none() {
                continue;
            }
            match self.ctx.echo.open_replica(id) {
                Ok(space) => out.push((space, state)),
                Err(e) => tracing::warn!(space = %id, "cannot open space for replication: {e}"),
            }
        }
        out
    }

    /// Takes a space up: its replica for the session's ECHO work, and its local edits.
    fn take_up(&mut self, space: dxos_echo::Space) {
        self.listen(&space);
        self.spaces.insert(space.id(), space);
    }

    /// Does what the session says; a peer's bad sync data ends the session, as does a full
    /// outgoing queue.
    fn act(&mut self, actions: Vec<Action>) -> Result<(), SessionError> {
        for a in actions {
            match a {
                Action::Send(w) => match self.out.try_send(w.encode()) {
                    Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        return Err(SessionError::Overloaded("the peer has not read 1024 frames"));
                    }
                },
                Action::Echo(work) => {
                    let Some(space) = self.spaces.get(&work.space()).cloned() else {
                        tracing::warn!(space = %work.space(), "the session asked for a space it was not given");
                        continue;
                    };
                    let more = carry_out(&space, work, self.source)?;
                    self.act(more)?;
                }
                Action::Store { credentials, .. } | Action::StoreAll(credentials) => {
                    if let Err(e) = self.ctx.halo.apply_all(credentials) {
                        tracing::warn!("cannot store credentials from a peer: {e}");
                    }
                }
                Action::Verified { space, member, role } => {
                    (self.report)(SessionEvent::Verified { space, member, role })
                }
                Action::Denied { space, reason } => {
                    tracing::info!(peer = %self.session.peer_device(), %space, "denied: {reason}");
                    (self.report)(SessionEvent::Denied { space, reason })
                }
                Action::Refused { space } => {
                    tracing::info!(peer = %self.session.peer_device(), %space, "refused a reader's update");
                    (self.report)(SessionEvent::Refused { space })
                }
                Action::Synced { space } => (self.report)(SessionEvent::Synced { space }),
                Action::SameIdentity(same) => (self.report)(SessionEvent::SameIdentity(same)),
            }
        }
        Ok(())
    }

    /// HALO changed: identity and memberships are checked again; new spaces are taken up.
    fn refresh(&mut self) -> Result<(), SessionError> {
        if let Some(state) = self.ctx.halo.identity_state() {
            let a = self.session.update_identity(state);
            self.act(a)?;
        }
        // A space we just left (or were removed from): the peer is sent the credential that
        // says so (it needs it; we hold nothing more of the space to give), then nothing more.
        for id in self.ctx.halo.spaces() {
            if self.session.has_space(&id)
                && let Some(state) = self.ctx.halo.space_state(&id)
                && state.member_of_device(&self.local).is_none()
            {
                let a = self.session.update_members(state);
                self.act(a)?;
            }
        }
        for (space, state) in self.member_spaces() {
            let a = if self.session.has_space(&space.id()) {
                self.session.update_members(state)
            } else {
                self.take_up(space);
                self.session.add_space(state)
            };
            self.act(a)?;
        }
        Ok(())
    }
}

/// A received frame's message: as it came on version 1, unpacked on version 2.
fn unpacked(
    frame: &[u8],
    compressed: bool,
    max: usize,
) -> Result<std::borrow::Cow<'_, [u8]>, super::proto::ProtoError> {
    if compressed {
        super::compress::unpack(frame, max).map(std::borrow::Cow::Owned)
    } else {
        Ok(std::borrow::Cow::Borrowed(frame))
    }
}

/// Runs replication with `peer_device` over `io` until the stream ends or the peer breaks the
/// protocol. `source` tags the updates applied from this peer; `report` hears what happens.
/// `version` is the protocol version the stream was opened with: 2 compresses messages
/// ([`super::compress`]), 1 sends them as they are.
pub async fn run<T>(
    io: T,
    version: u8,
    peer_device: PublicKey,
    source: u64,
    ctx: Context,
    report: impl Fn(SessionEvent) + Send + 'static,
) -> Result<(), SessionError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let local = ctx.halo.device_key().ok_or(SessionError::NoIdentity)?.public();
    let compressed = version >= 2;
    let max_message = ctx.max_message;
    // A version 2 frame is the message and one byte more (or less, compressed).
    let (mut sink, mut stream) =
        StreamExt::split::<tokio_util::bytes::Bytes>(framing::framed(io, max_message + usize::from(compressed)));
    let (out, mut out_rx) = mpsc::channel::<Vec<u8>>(OUT_CAPACITY);
    let writer = tokio::spawn(async move {
        while let Some(bytes) = out_rx.recv().await {
            // Compressing a first sync's tens of MB takes milliseconds; off the session's loop.
            let bytes = if compressed { super::compress::pack(&bytes) } else { bytes };
            BYTES_SENT.fetch_add(bytes.len() as u64 + 4, std::sync::atomic::Ordering::Relaxed);
            sink.send(bytes.into()).await?;
        }
        sink.close().await
    });
    let (local_tx, mut local_rx) = mpsc::channel(LOCAL_CAPACITY);
    let overflowed = Arc::new(AtomicBool::new(false));
    let (halo_tx, halo_overflowed) = (local_tx.clone(), overflowed.clone());
    let _halo_listener = ctx.halo.on_change(move || {
        if let Err(mpsc::error::TrySendError::Full(_)) = halo_tx.try_send(Local::Halo) {
            halo_overflowed.store(true, Ordering::Release);
        }
    });
    let mut driver = Driver {
        session: Session::new(local, peer_device, source, Vec::new()),
        ctx,
        local,
        spaces: HashMap::new(),
        source,
        listeners: HashMap::new(),
        local_tx,
        overflowed: overflowed.clone(),
        out,
        report: Box::new(report),
    };
    let mut states = Vec::new();
    for (space, state) in driver.member_spaces() {
        driver.take_up(space);
        states.push(state);
    }
    let mut session = Session::new(local, peer_device, source, states);
    if let Some(identity) = driver.ctx.halo.identity_state() {
        session = session.with_identity(identity);
    }
    driver.session = session;
    let start = driver.session.start();
    let started = driver.act(start);

    let result = if let Err(e) = started {
        Err(e)
    } else {
        loop {
            if overflowed.load(Ordering::Acquire) {
                break Err(SessionError::Overloaded("local edits came faster than the link carried them"));
            }
            // Local news first: a membership change (a removal, a revocation) made before an edit
            // is queued before it, so it is acted on before any frame from the peer is answered
            // with a state that holds the edit. Unbiased, a removed member's sync request could be
            // answered from the session's stale copy of the membership (seen once in CI).
            tokio::select! {
                biased;
                Some(local) = local_rx.recv() => match local {
                    Local::Update(space, update, origin) => {
                        let source = match origin {
                            UpdateOrigin::Local => None,
                            UpdateOrigin::Remote(s) => Some(s),
                        };
                        let a = driver.session.local_update(&space, &update, source);
                        if let Err(e) = driver.act(a) {
                            break Err(e);
                        }
                    }
                    Local::Halo => if let Err(e) = driver.refresh() {
                        break Err(e);
                    },
                },
                frame = stream.next() => match frame {
                    Some(Ok(bytes)) => match unpacked(&bytes, compressed, max_message)
                        .and_then(|m| driver.session.receive(&m))
                        .map_err(SessionError::from)
                        .and_then(|a| driver.act(a))
                    {
                        Ok(()) => {}
                        Err(e) => break Err(e),
                    },
                    Some(Err(e)) => break Err(SessionError::Io(e)),
                    None => break Ok(()),
                },
            }
        }
    };
    drop(driver);
    writer.abort();
    result
}

/// Does one of the session's [`EchoAction`]s on `space`, the replica it names: the message
/// to send, or [`Action::Synced`] once the peer's first sync is applied. A state vector or
/// update from the peer that the replica cannot use is an error and changes nothing (the
/// session ends). `source` tags the updates applied (see [`Session::new`]).
pub fn carry_out(space: &dxos_echo::Space, work: EchoAction, source: u64) -> Result<Vec<Action>, ProtoError> {
    let bad = |reason: String| ProtoError::BadSync { space: space.id().to_string(), reason };
    match work {
        EchoAction::SendStateVector { dk, .. } => {
            let sv = space
                .state_vector()
                .map_err(|e| e.to_string())
                .and_then(|b| StateVector::decode_v1(&b).map_err(|e| e.to_string()))
                .unwrap_or_else(|e| {
                    // Our own replica: ask for everything rather than nothing.
                    tracing::warn!(space = %space.id(), "cannot read the state vector ({e}); asking for everything");
                    StateVector::default()
                });
            Ok(vec![Action::Send(Wire::Sync { dk, message: SyncMessage::SyncStep1(sv).encode_v1() })])
        }
        EchoAction::SendDiff { dk, state_vector, .. } => {
            let diff = space.diff(&state_vector).map_err(|e| bad(e.to_string()))?;
            Ok(vec![Action::Send(Wire::Sync { dk, message: SyncMessage::SyncStep2(diff).encode_v1() })])
        }
        EchoAction::Apply { space: id, update, first } => match space.apply_update(&update, source) {
            Ok(()) if first => Ok(vec![Action::Synced { space: id }]),
            Ok(()) => Ok(Vec::new()),
            Err(dxos_echo::EchoError::MalformedUpdate(reason)) => Err(bad(reason)),
            Err(other) => Err(bad(other.to_string())),
        },
    }
}
