//! Framing: messages far larger than 8 KiB cross a transport that fails any write of 8192
//! bytes or more (as libp2p-webrtc does); oversized messages are refused.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use dxos_net::replicate::framing::{MAX_WRITE, framed};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio_util::bytes::Bytes;

/// A transport like libp2p-webrtc's stream: writes are buffered until a flush, and a flush
/// hands everything buffered to the data channel as one message, which fails at 8192 bytes or
/// more.
struct WebRtcLike(DuplexStream, Vec<u8>);

impl AsyncRead for WebRtcLike {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for WebRtcLike {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.1.len() >= 64 << 10 {
            std::task::ready!(self.as_mut().poll_flush(cx))?;
        }
        self.1.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.1.len() >= 8192 {
            return Poll::Ready(Err(io::Error::other(format!("Short buffer (size: {})", self.1.len()))));
        }
        while !self.1.is_empty() {
            let this = &mut *self;
            let n = std::task::ready!(Pin::new(&mut this.0).poll_write(cx, &this.1))?;
            this.1.drain(..n);
        }
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn large_messages_cross_in_small_writes() {
    const MAX: usize = 64 << 20;
    let (a, b) = tokio::io::duplex(MAX_WRITE * 4);
    let mut tx = framed(WebRtcLike(a, Vec::new()), MAX);
    let mut rx = framed(WebRtcLike(b, Vec::new()), MAX);
    let sizes = [0usize, 1, 8191, 8192, 8193, 100_000, 20 << 20];
    let send = tokio::spawn(async move {
        for n in sizes {
            tx.send(Bytes::from(payload(n))).await.unwrap_or_else(|e| panic!("send {n}: {e}"));
        }
        tx
    });
    for n in sizes {
        let got =
            rx.next().await.unwrap_or_else(|| panic!("stream ended before {n}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), n);
        assert!(got.iter().enumerate().all(|(i, b)| *b == (i * 31 % 251) as u8), "message of {n} bytes intact");
    }
    send.await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn oversized_messages_are_refused() {
    let (a, b) = tokio::io::duplex(MAX_WRITE * 4);
    // The sender allows more than the receiver accepts.
    let mut tx = framed(a, 1 << 20);
    let mut rx = framed(b, 64 << 10);
    let send = tokio::spawn(async move {
        let _ = tx.send(Bytes::from(payload(200_000))).await;
        tx
    });
    match rx.next().await {
        Some(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidData),
        other => panic!("an oversized message was not refused: {:?}", other.map(|r| r.map(|b| b.len()))),
    }
    drop(rx);
    let _ = send.await;
    // And a sender will not send more than its own bound.
    let (a, _b) = tokio::io::duplex(1024);
    let mut tx = framed(a, 1000);
    assert!(tx.send(Bytes::from(payload(2000))).await.is_err());
}
