//! NET: how devices find each other and keep their spaces in sync, peer to peer.
//!
//! - [`node`]: the libp2p node (WebRTC-direct, QUIC, TCP; identify, ping, mDNS,
//!   relay client, DCUtR, AutoNAT), reached through a cloneable handle and an event stream;
//!   peers we care about are redialled with a short backoff so dropped links recover.
//! - [`invite`]: device pairing and space sharing by invitation (IO-less protocol and driver).
//! - [`replicate`]: the replication protocol as an IO-less state machine (`proto`), its
//!   framing with every write under 8 KiB (`framing`), and the thin driver that runs it over
//!   a stream (`driver`).
//! - [`presence`]: who is here and where their cursor is (`/dxos/presence/1`), signed,
//!   for members only, never stored.
//! - [`webrtc_p2p`]: libp2p's browser-to-browser WebRTC transport (`/webrtc`), signalled
//!   through a relay, for peers that are both behind NATs.

pub mod invite;
pub mod node;
pub mod presence;
pub mod relay;
pub mod replicate;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webrtc_p2p;

/// Addresses, as the node's API takes them.
pub use libp2p::multiaddr;
pub use node::{NetError, Node, NodeConfig, NodeEvent, PeerInfo, Presence, Transport};
pub use replicate::driver::SessionEvent;
