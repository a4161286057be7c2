//! One owner per profile (CLI.md): the owner holds the store and serves the profile's socket;
//! every other command goes through that socket, or, with no owner, opens the store for the
//! length of one command. A temporary owner (`watch` with no owner) hands the profile over when
//! the app or `serve` starts.
//!
//! The wire format is one JSON [`Request`] line in, [`Reply`] lines out. Nobody ever sees a lock
//! error: a busy store is waited for.

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

use serde_json::{Value, json};

use crate::client::{Client, OpenError};
use crate::net::NetHost;
use crate::profile::Profile;
use crate::request::{CmdError, Kind, Reply, Request};
pub use client::call;
use client::*;
pub use handover::{acquire, long, watch};
pub use server::Owner;
use server::*;

/// How long a command waits for a busy profile before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between attempts while the profile is busy.
const RETRY: Duration = Duration::from_millis(25);
/// How long a former temporary owner waits for the new owner's socket before it takes the
/// store back (the new owner may have died before binding).
const HANDOVER_GRACE: Duration = Duration::from_secs(10);
/// How long a connection may stay silent before its request line arrives.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What kind of owner holds a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The desktop app.
    App,
    /// `dxos serve`.
    Serve,
    /// A long command (`watch`) that found no owner; it hands over on request.
    Temporary,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::App => "app",
            Role::Serve => "serve",
            Role::Temporary => "temporary",
        }
    }
}

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

fn stopping() -> bool {
    STOP_SIGNAL.load(Ordering::SeqCst)
}

/// Something the owner's main loop must act on.
pub enum OwnerEvent {
    /// A new owner asks this temporary owner to release the profile; answer on this stream.
    Handover(UnixStream),
}
