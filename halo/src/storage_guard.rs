//! A check that threads which must never wait for the disk (a UI thread drawing a frame) do
//! not open a store transaction. [`forbid`] marks the current thread until the returned guard
//! drops; [`check`], called before every redb transaction of ECHO and HALO, panics on a
//! marked thread in debug builds (release builds skip the check).

use std::cell::Cell;

thread_local! {
    static FORBIDDEN: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// While alive, the thread that made it must not open a store transaction.
#[must_use = "the thread is marked only while the guard lives"]
pub struct Forbidden {
    before: Option<&'static str>,
}

/// Marks this thread (as `who`, for the panic message) until the guard drops.
pub fn forbid(who: &'static str) -> Forbidden {
    Forbidden { before: FORBIDDEN.replace(Some(who)) }
}

impl Drop for Forbidden {
    fn drop(&mut self) {
        FORBIDDEN.set(self.before);
    }
}

/// Called before a store transaction: panics (debug builds) on a thread marked by [`forbid`].
#[track_caller]
pub fn check() {
    if cfg!(debug_assertions)
        && let Some(who) = FORBIDDEN.get()
    {
        panic!("{who} opened a store transaction: disk I/O on a thread that must never wait for the disk");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_thread_may_not_open_a_transaction() {
        check();
        {
            let _g = forbid("the test");
            let caught = std::panic::catch_unwind(check);
            assert_eq!(caught.is_err(), cfg!(debug_assertions));
        }
        check();
    }
}
