//! [`Events`]: a stream of items from a background job (watch results, invitation steps, peer
//! events). Read it blocking ([`Events::recv`], or as an iterator) or without waiting
//! ([`Events::try_recv`]); [`Events::on_item`] wakes a UI when an item arrives, so nobody polls.
//! Dropping the stream (or [`Events::cancel`]) stops the job.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A callback run after each item is queued (e.g. `egui::Context::request_repaint`).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// How many items wait unread before the producer blocks (a slow reader slows the job down
/// instead of growing memory; watch results and invitation steps are few and small).
pub const EVENTS_CAPACITY: usize = 64;

/// The receiving end: a stream of `T`.
pub struct Events<T> {
    rx: Receiver<T>,
    shared: Arc<Shared>,
}

/// The producing end, held by the job.
pub struct Emitter<T> {
    tx: SyncSender<T>,
    shared: Arc<Shared>,
}

struct Shared {
    cancelled: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// A new stream and its producing end.
pub fn channel<T>() -> (Emitter<T>, Events<T>) {
    let (tx, rx) = mpsc::sync_channel(EVENTS_CAPACITY);
    let shared = Arc::new(Shared { cancelled: AtomicBool::new(false), waker: Mutex::new(None) });
    (Emitter { tx, shared: shared.clone() }, Events { rx, shared })
}

impl<T> Emitter<T> {
    /// Sends an item; false when nobody listens any more (the job should stop).
    pub fn emit(&self, item: T) -> bool {
        if self.is_cancelled() || self.tx.send(item).is_err() {
            return false;
        }
        self.wake();
        true
    }

    /// True once the reader cancelled or went away.
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::SeqCst)
    }

    fn wake(&self) {
        let waker = self.shared.waker.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(w) = waker {
            w();
        }
    }
}

impl<T> Drop for Emitter<T> {
    fn drop(&mut self) {
        // The reader learns the stream ended on its next look: wake it for that look.
        self.wake();
    }
}

impl<T> Events<T> {
    /// Runs `waker` after each item from now on (and once now, if items already wait).
    pub fn on_item(&self, waker: Waker) {
        *self.shared.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker.clone());
        waker();
    }

    /// The next item, waiting for it; `None` once the stream ended.
    pub fn recv(&self) -> Option<T> {
        self.rx.recv().ok()
    }

    /// The next item if one waits: `Ok(None)` if none does yet, `Err(Ended)` once the stream ended.
    pub fn try_recv(&self) -> Result<Option<T>, Ended> {
        match self.rx.try_recv() {
            Ok(t) => Ok(Some(t)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(Ended),
        }
    }

    /// The next item, waiting at most `timeout`: `Ok(None)` if none came.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<T>, Ended> {
        match self.rx.recv_timeout(timeout) {
            Ok(t) => Ok(Some(t)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(Ended),
        }
    }

    /// Stops the job (an open invitation is cancelled, a watch ends).
    pub fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::SeqCst);
    }
}

impl<T> Drop for Events<T> {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl<T> Iterator for Events<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.recv()
    }
}

/// The stream ended: its job finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stream ended")]
pub struct Ended;
