//! NET: how devices find each other and keep their spaces in sync, peer to peer.
//!
//! So far: the replication protocol as an IO-less state machine (`replicate::proto`), tested
//! without sockets, and the framing of its messages on a stream with every write under 8 KiB
//! (`replicate::framing`). The libp2p node that drives them over WebRTC-direct, QUIC and TCP
//! comes next; it must never block on ECHO's store (writes go to ECHO's writer thread).

pub mod replicate;
