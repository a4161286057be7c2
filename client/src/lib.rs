//! # dxos-client: build collaborative apps on DXOS
//!
//! One typed API over a *profile* (a folder with one person's identity, spaces and keys):
//! identity and devices (HALO), spaces, members and objects (ECHO), invitations, peers and
//! sync. The same [`Client`] works in two ways:
//!
//! - **in this process** ([`Client::in_process`]): your app holds the profile open ([`Local`])
//!   and runs its network node, as the DXOS app and `dxos serve` do. You also get live space
//!   handles ([`Local::space`]) that read from memory and call back on every change.
//! - **through whoever holds the profile** ([`Client::open`]): the app or `dxos serve` answers
//!   over the profile's socket; when nobody holds it, each call opens the store for its length.
//!
//! ## Quick start
//!
//! ```no_run
//! use dxos_client::{Client, Profile};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::open(Profile::new(Some("/tmp/alice".into()))?);
//! if client.identity()?.is_none() {
//!     client.create_identity("Alice")?;
//! }
//! let space = client.create_space("Groceries")?;
//! let id = space.id.to_string();
//! client.add_task(&id, "Milk")?;
//! for task in client.tasks(&id)? {
//!     println!("[{}] {}", if task.completed { "x" } else { " " }, task.title);
//! }
//! # Ok(()) }
//! ```
//!
//! ## Live results
//!
//! [`Client::watch`] streams a query's whole result after every change, local or from a peer.
//! Streams are [`Events`]: read them blocking (they are iterators), or without waiting from a
//! UI, with [`Events::on_item`] to wake it (e.g. `egui::Context::request_repaint`). Dropping a
//! stream stops its job.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let client = dxos_client::Client::open(dxos_client::Profile::new(None)?);
//! for update in client.watch("Groceries", Some("dxos.org/type/Task")) {
//!     let update = update?;
//!     println!("{} tasks", update.objects.len());
//! }
//! # Ok(()) }
//! ```
//!
//! ## Sharing
//!
//! [`Client::invite`] opens an invitation and streams its [`InviteStep`]s: show the `uri` of
//! [`InviteStep::Open`] as a QR code; the guest redeems it with [`Client::join`] on its own
//! profile. Pairing a device (`space: None`) makes the guest a device of this identity;
//! sharing a space makes the guest's identity a member.
//!
//! ## Errors
//!
//! Every call returns a [`ClientError`] on failure: typed, with its cause as `source`, and a
//! [`ErrorKind`] ([`ClientError::kind`]) that says what kind of failure it is. Bad input
//! changes nothing.
//!
//! ## Background work
//!
//! [`Jobs`] runs work off the caller's thread with a name, progress and kept failures; a UI
//! never blocks on the disk or the network. The client's own streams run as jobs.
//!
//! ## What is inside
//!
//! [`Client`] (`client.rs`) is the API; [`Local`] (`local.rs`) the in-process backend;
//! `owner/` the profile's socket (server, caller, handover); [`wire`] its versioned messages;
//! `node.rs` the network node; `invite.rs` invitations as steps; [`types`] the data.

pub mod client;
pub mod error;
pub mod events;
pub mod invite;
pub mod jobs;
pub mod local;
pub mod node;
pub mod owner;
pub mod profile;
pub mod relay;
pub(crate) mod relays;
pub(crate) mod stun;
pub mod types;
pub mod wire;

pub use client::Client;
pub use error::{ClientError, ErrorKind, Result, WireError};
pub use events::{Ended, Events, Waker};
pub use invite::{InvitationInfo, MAX_INVITATION_LEN, read_invitation};
pub use jobs::{Job, JobFailure, JobInfo, Jobs};
pub use local::{Local, device_label, now_ms};
pub use node::NetOptions;
pub use profile::Profile;
pub use relay::{Relay, RelayNotice, RelayOptions};
pub use types::*;

/// The ECHO and HALO data types the client's API speaks in, as the client's own.
pub use dxos_echo::{Object, ObjectId, Query, Space, Subscription, Task, TypedObject};
/// Marks a thread that must never wait for the disk (a UI thread): see [`dxos_halo::storage_guard`].
pub use dxos_halo::storage_guard::{Forbidden, forbid as forbid_storage};
pub use dxos_halo::{PublicKey, Role};
/// Live presence: what this device says ([`Local::set_here`]) and what others said
/// ([`Local::here`]).
pub use dxos_net::presence::{LocalPresence, PeerPresence};

/// Live space handles and their pieces (in-process only): ordering, change callbacks.
pub mod space {
    pub use dxos_echo::order;
    pub use dxos_echo::tasks::task_query;
    pub use dxos_echo::{Change, Direction, Filter, SpaceOptions, UpdateListener, UpdateOrigin};
    pub use dxos_echo::{DOCUMENT_CONTENT, DOCUMENT_NAME, DOCUMENT_TYPE, DocumentInfo, TextEditor, diff_text};
}
