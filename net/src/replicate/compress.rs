//! Message compression for `/dxos/replicate/2`: each message is one flag byte, then either the
//! message itself (flag 0) or its LZ4 block (flag 1: the message's length as a little-endian
//! `u32`, then the block; `lz4_flex`). Only messages of [`MIN_COMPRESS`] bytes or more are
//! compressed, and only when that makes them smaller. A first sync is mostly a Yjs update full
//! of repeated keys and ids, which LZ4 shrinks several times over; over WebRTC, whose SCTP moves
//! small messages slowly, fewer bytes is a faster sync.

use super::proto::ProtoError;

/// Smaller messages are sent as they are (compressing them gains little).
pub const MIN_COMPRESS: usize = 1024;

const RAW: u8 = 0;
const LZ4: u8 = 1;

/// The wire form of `message` on version 2.
pub fn pack(message: &[u8]) -> Vec<u8> {
    if message.len() >= MIN_COMPRESS && u32::try_from(message.len()).is_ok() {
        let block = lz4_flex::block::compress_prepend_size(message);
        if block.len() < message.len() {
            let mut out = Vec::with_capacity(block.len() + 1);
            out.push(LZ4);
            out.extend_from_slice(&block);
            return out;
        }
    }
    let mut out = Vec::with_capacity(message.len() + 1);
    out.push(RAW);
    out.extend_from_slice(message);
    out
}

/// The message in a version 2 frame; a frame that says it expands beyond `max` bytes, or does
/// not decode to the length it states, is malformed (nothing is allocated for a lie).
pub fn unpack(frame: &[u8], max: usize) -> Result<Vec<u8>, ProtoError> {
    match frame.split_first() {
        Some((&RAW, message)) => Ok(message.to_vec()),
        Some((&LZ4, block)) => {
            let (len, data) = block
                .split_first_chunk::<4>()
                .ok_or_else(|| ProtoError::Malformed("a compressed message without its length".into()))?;
            let len = u32::from_le_bytes(*len) as usize;
            if len > max {
                return Err(ProtoError::TooLarge(len));
            }
            let message = lz4_flex::block::decompress(data, len)
                .map_err(|e| ProtoError::Malformed(format!("a compressed message does not decode: {e}")))?;
            if message.len() != len {
                return Err(ProtoError::Malformed("a compressed message is not the length it states".into()));
            }
            Ok(message)
        }
        Some((flag, _)) => Err(ProtoError::Malformed(format!("unknown message encoding {flag}"))),
        None => Err(ProtoError::Malformed("an empty frame".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_and_incompressible_messages_go_as_they_are_and_large_ones_shrink() {
        let small = b"hello".to_vec();
        assert_eq!(pack(&small), [&[RAW][..], &small].concat());
        let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let packed = pack(&noise);
        assert!(packed.len() <= noise.len() + 1);
        assert_eq!(unpack(&packed, 1 << 20).ok(), Some(noise));
        let tasks: Vec<u8> =
            (0..2000).flat_map(|i| format!("{{\"title\":\"task {i}\",\"completed\":false}}").into_bytes()).collect();
        let packed = pack(&tasks);
        assert_eq!(packed[0], LZ4);
        assert!(packed.len() * 3 < tasks.len(), "{} -> {}", tasks.len(), packed.len());
        assert_eq!(unpack(&packed, 1 << 20).ok(), Some(tasks));
    }

    #[test]
    fn lies_and_garbage_are_refused() {
        let tasks: Vec<u8> = (0..2000).flat_map(|i| format!("task {i} ").into_bytes()).collect();
        let packed = pack(&tasks);
        // A frame claiming to expand past the limit is refused before anything is allocated.
        assert!(matches!(unpack(&packed, tasks.len() - 1), Err(ProtoError::TooLarge(_))));
        let mut bomb = vec![LZ4];
        bomb.extend_from_slice(&u32::MAX.to_le_bytes());
        bomb.extend_from_slice(&[0x1f, 0, 0, 0]);
        assert!(matches!(unpack(&bomb, 256 << 20), Err(ProtoError::TooLarge(_))));
        // A stated length that is not the truth, a cut block, unknown flags, nothing at all.
        let mut wrong = packed.clone();
        wrong[1..5].copy_from_slice(&((tasks.len() + 7) as u32).to_le_bytes());
        assert!(unpack(&wrong, 1 << 20).is_err());
        assert!(unpack(&packed[..packed.len() / 2], 1 << 20).is_err());
        assert!(unpack(&[LZ4, 1, 0], 1 << 20).is_err());
        assert!(unpack(&[9, 1, 2, 3], 1 << 20).is_err());
        assert!(unpack(&[], 1 << 20).is_err());
    }

    proptest! {
        #[test]
        fn every_message_comes_back_as_it_was(message in proptest::collection::vec(any::<u8>(), 0..5000), repeat in 1usize..4) {
            let message = message.repeat(repeat);
            prop_assert_eq!(unpack(&pack(&message), 1 << 20).ok(), Some(message));
        }

        #[test]
        fn any_frame_either_unpacks_or_is_refused(frame in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = unpack(&frame, 1 << 16);
        }
    }
}
