//! DXOS patch: tells the SCTP transport's owner when the connection under it ends.
//!
//! webrtc-sctp reads its packets from the DTLS connection. When that read fails (the remote
//! closed DTLS with close_notify, a fatal alert came, or the connection failed), webrtc-sctp
//! closes the association but tells no one: the accept loop keeps waiting for streams and the
//! owner of the peer connection never learns that the remote is gone. libp2p-webrtc kept such a
//! connection open until a write on it failed or its pings timed out.
//! [`EndedConn`] wraps the DTLS connection and calls the transport's `on_error` handler once,
//! with the error, the first time a read fails.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use portable_atomic::AtomicBool;
use tokio::sync::Mutex;
use util::Conn;

use crate::error::{Error, OnErrorHdlrFn};

/// A connection that reports the end of its reads to an `on_error` handler.
pub(crate) struct EndedConn {
    inner: Arc<dyn Conn + Send + Sync>,
    on_error_handler: Arc<ArcSwapOption<Mutex<OnErrorHdlrFn>>>,
    reported: AtomicBool,
}

impl EndedConn {
    /// Wraps `inner`, reporting to whatever handler `on_error_handler` holds when a read fails.
    pub(crate) fn new(
        inner: Arc<dyn Conn + Send + Sync>,
        on_error_handler: Arc<ArcSwapOption<Mutex<OnErrorHdlrFn>>>,
    ) -> Self {
        EndedConn {
            inner,
            on_error_handler,
            reported: AtomicBool::new(false),
        }
    }

    async fn report(&self, err: &util::Error) {
        if self.reported.swap(true, Ordering::SeqCst) {
            return;
        }
        log::debug!("the connection under the SCTP association ended: {err}");
        if let Some(handler) = &*self.on_error_handler.load() {
            let mut f = handler.lock().await;
            f(Error::new(format!("the connection under SCTP ended: {err}"))).await;
        }
    }
}

#[async_trait]
impl Conn for EndedConn {
    async fn connect(&self, addr: SocketAddr) -> util::Result<()> {
        self.inner.connect(addr).await
    }

    async fn recv(&self, buf: &mut [u8]) -> util::Result<usize> {
        let result = self.inner.recv(buf).await;
        if let Err(err) = &result {
            self.report(err).await;
        }
        result
    }

    async fn recv_from(&self, buf: &mut [u8]) -> util::Result<(usize, SocketAddr)> {
        let result = self.inner.recv_from(buf).await;
        if let Err(err) = &result {
            self.report(err).await;
        }
        result
    }

    async fn send(&self, buf: &[u8]) -> util::Result<usize> {
        self.inner.send(buf).await
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> util::Result<usize> {
        self.inner.send_to(buf, target).await
    }

    fn local_addr(&self) -> util::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr()
    }

    async fn close(&self) -> util::Result<()> {
        self.inner.close().await
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self.inner.as_any()
    }
}
