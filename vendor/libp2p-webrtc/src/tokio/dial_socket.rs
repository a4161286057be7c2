//! DXOS patch: the UDP socket of one outbound connection.
//!
//! A dial binds a socket of its own (see `Transport::dial`); a task reads it for as long as
//! the connection lives. Dropping the [`DialSocket`] (the connection was dropped, or the dial
//! was given up) lets the socket linger briefly, so the peer connection's goodbyes still go
//! out, then closes its ICE connections and the socket.

use std::{future::poll_fn, task::Poll, time::Duration};

use futures::{FutureExt, channel::oneshot};

use crate::tokio::udp_mux::{UDPMuxEvent, UDPMuxNewAddr};

/// How long a socket outlives its connection, for the closing messages.
const LINGER: Duration = Duration::from_secs(1);

/// Keeps a dial's socket open while held.
pub(crate) struct DialSocket {
    _stop: oneshot::Sender<()>,
}

/// Starts reading `udp_mux`'s socket on the current tokio runtime.
pub(crate) fn spawn(mut udp_mux: UDPMuxNewAddr) -> DialSocket {
    let (stop, mut stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        // Reads the socket; ready only if it failed.
        let drive = |udp_mux: &mut UDPMuxNewAddr, cx: &mut std::task::Context<'_>| loop {
            match udp_mux.poll(cx) {
                // Nobody dials this socket: a stranger's binding request is ignored.
                Poll::Ready(UDPMuxEvent::NewAddr(new)) => {
                    tracing::debug!(address=%new.addr, "ignoring a binding request on a dial socket");
                }
                Poll::Ready(UDPMuxEvent::Error(e)) => {
                    tracing::debug!("dial socket failed: {e}");
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        };
        let connection_gone = poll_fn(|cx| {
            if stopped.poll_unpin(cx).is_ready() {
                return Poll::Ready(true);
            }
            drive(&mut udp_mux, cx).map(|()| false)
        })
        .await;
        if connection_gone {
            let _ = tokio::time::timeout(LINGER, poll_fn(|cx| drive(&mut udp_mux, cx))).await;
        }
        udp_mux.close_all();
    });
    DialSocket { _stop: stop }
}
