//! A hook for tests: [`hold`] keeps a space's background load from finishing until the
//! returned guard drops, so a test can act while the space is still loading (as a person
//! does who types into a space that is slow to open). Loads of other spaces are not held.

use std::sync::{Condvar, LazyLock, Mutex};

use dxos_halo::PublicKey;

static HELD: LazyLock<(Mutex<Vec<PublicKey>>, Condvar)> = LazyLock::new(|| (Mutex::new(Vec::new()), Condvar::new()));

/// While alive, loads of its space wait.
#[must_use = "the load is held only while the guard lives"]
pub struct Held(PublicKey);

/// Holds the background loads of `space` until the guard drops.
pub fn hold(space: PublicKey) -> Held {
    HELD.0.lock().unwrap_or_else(|e| e.into_inner()).push(space);
    Held(space)
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = HELD.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = held.iter().position(|s| *s == self.0) {
            held.remove(at);
        }
        HELD.1.notify_all();
    }
}

/// Called by a background load before it reads: waits while its space is held.
pub(crate) fn wait(space: &PublicKey) {
    let held = HELD.0.lock().unwrap_or_else(|e| e.into_inner());
    let _unheld = HELD.1.wait_while(held, |h| h.contains(space)).unwrap_or_else(|e| e.into_inner());
}
