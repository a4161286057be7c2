//! Invitations over NET: device pairing and space sharing (`/dxos/invite/1`).
//!
//! - [`proto`]: the protocol as an IO-less state machine (proofs bound to both peer ids,
//!   codes, single use, expiry, three attempts).
//! - [`driver`]: the host's side (open offers, answering guests) and the guest's (dial the
//!   inviter, prove, store what admits it, wait for the first sync), each step with a
//!   timeout and a status the UI shows.

pub mod driver;
pub mod proto;

pub use driver::{Delivery, Invitation, InviteStatus, JoinStatus, Joined};
