//! Framing of protocol messages on a stream: each message is length-prefixed (tokio-util's
//! `LengthDelimitedCodec`, with a bound), and no single write to the transport reaches 8 KiB,
//! because libp2p-webrtc fails a write of 8192 bytes or more (rust-libp2p issue 4049). A large
//! message (a whole space's first sync, tens of MB) is thus written in many small pieces and
//! read back whole; the transport's flow control gives backpressure.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Most bytes handed to the transport in one write (below libp2p-webrtc's 8192-byte limit).
pub const MAX_WRITE: usize = 8000;

/// A stream whose writes are cut to at most [`MAX_WRITE`] bytes, each flushed before the
/// next: libp2p-webrtc's stream buffers writes and would otherwise hand several of them to
/// the data channel as one message of 8192 bytes or more.
pub struct SmallWrites<T> {
    inner: T,
    unflushed: bool,
}

impl<T> SmallWrites<T> {
    /// Wraps a transport stream.
    pub fn new(inner: T) -> Self {
        Self { inner, unflushed: false }
    }

    /// The wrapped stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SmallWrites<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SmallWrites<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.unflushed {
            std::task::ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
            self.unflushed = false;
        }
        let n = buf.len().min(MAX_WRITE);
        let written = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &buf[..n]))?;
        self.unflushed = true;
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        self.unflushed = false;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A message stream and sink over `io`: messages up to `max_message` bytes, each write to
/// `io` under 8 KiB. A larger incoming length is an error (the stream should be closed).
pub fn framed<T: AsyncRead + AsyncWrite + Unpin>(
    io: T,
    max_message: usize,
) -> Framed<SmallWrites<T>, LengthDelimitedCodec> {
    let codec = LengthDelimitedCodec::builder().max_frame_length(max_message).new_codec();
    Framed::new(SmallWrites::new(io), codec)
}
