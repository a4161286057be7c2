//! NET: how devices find each other and keep their spaces in sync, peer to peer.
//!
//! So far: the replication protocol as an IO-less state machine (`replicate::proto`), tested
//! without sockets. The libp2p node that drives it over WebRTC-direct, QUIC and TCP comes next.

pub mod replicate;
