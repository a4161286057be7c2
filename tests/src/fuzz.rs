//! What each fuzz target does with its bytes: decode them as the node does when they arrive
//! from outside. None may panic; errors are the expected outcome for most inputs.

use dxos_net::invite::proto::Wire as InviteWire;
use dxos_net::replicate::compress;
use dxos_net::replicate::proto::{self, MAX_MESSAGE, Wire};

/// A target's body: what it does with one input.
pub type Body = fn(&[u8]);

/// The fuzz targets by name (their corpus folders in `fuzz/corpus/`), with their bodies.
pub const TARGETS: &[(&str, Body)] =
    &[("replication_frame", replication_frame), ("invite_frame", invite_frame), ("owner_line", owner_line)];

/// A replication frame from a peer: unpacked (version 2 frames are compressed; version 1
/// frames are the message itself), decoded, and a sync message's Yjs content read.
pub fn replication_frame(data: &[u8]) {
    let unpacked = compress::unpack(data, 1 << 20).ok();
    for bytes in unpacked.iter().map(Vec::as_slice).chain([data]) {
        if bytes.len() > MAX_MESSAGE {
            continue;
        }
        if let Ok(Wire::Sync { message, .. }) = Wire::decode(bytes) {
            let _ = proto::decode_sync(&message);
        }
    }
}

/// An invitation protocol message from a guest or a host.
pub fn invite_frame(data: &[u8]) {
    let _ = InviteWire::decode(data);
}

/// A line on the owner's socket: as a request (the owner reads these) and as a reply (a
/// command reads these).
pub fn owner_line(data: &[u8]) {
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = dxos_client::wire::decode_request(line);
        let _ = dxos_client::wire::decode_reply(line);
    }
}
