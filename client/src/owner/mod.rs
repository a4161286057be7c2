//! One owner per profile (docs/cli.md): the owner holds the store and serves the profile's
//! socket; every other process goes through that socket, or, with no owner, opens the store
//! for the length of one call. A temporary owner (a long command with no owner) hands the
//! profile over when the app or `serve` starts.
//!
//! The wire format is one [`Request`] line in, [`Reply`] lines out,
//! versioned ([`crate::wire`]). Nobody ever sees a lock error: a busy store is waited for.

mod client;
mod handover;
mod server;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, LazyLock, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{ClientError, Result};
use crate::local::Local;
use crate::profile::Profile;
use crate::types::{OwnerRole, WatchUpdate};
use crate::wire::{self, Reply, Request, Response};
pub use client::call;
use client::*;
pub(crate) use handover::unexpected;
pub use handover::{acquire, long, raise, watch};
use server::*;
pub use server::{Owner, OwnerEvent};

/// How long a command waits for a busy profile before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between attempts while the profile is busy.
const RETRY: Duration = Duration::from_millis(25);
/// How long a former temporary owner waits for the new owner's socket before it takes the
/// store back (the new owner may have died before binding).
const HANDOVER_GRACE: Duration = Duration::from_secs(10);
/// How long a stopping owner waits for the requests in flight to be answered.
const STOP_PATIENCE: Duration = Duration::from_secs(2);
/// How long a connection may stay silent before its request line arrives.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Set by SIGINT/SIGTERM: long-running loops check it and finish cleanly.
pub static STOP_SIGNAL: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Installs (once) the SIGINT/SIGTERM handler that sets [`STOP_SIGNAL`].
pub fn install_signal_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // Setting a flag is all the handler does (async-signal-safe).
            if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&STOP_SIGNAL)) {
                tracing::warn!("cannot handle signal {sig}: {e}");
            }
        }
    });
}

/// Blocks until SIGINT or SIGTERM arrives (for a thread that closes a window on one), then
/// sets [`STOP_SIGNAL`].
pub fn wait_for_signal() -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])?;
    let _ = signals.forever().next();
    STOP_SIGNAL.store(true, Ordering::SeqCst);
    Ok(())
}

/// True once SIGINT or SIGTERM arrived (with [`install_signal_handler`]).
pub fn stopping() -> bool {
    STOP_SIGNAL.load(Ordering::SeqCst)
}
