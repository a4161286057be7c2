//! ECHO: the local-first object database of DXOS.
//!
//! A [`Space`] is one shared database (one `yrs::Doc`) of objects: typed ([`TypedObject`],
//! e.g. [`Task`]) or dynamic JSON-like maps, queried with [`Query`] and watched with
//! reactive [`Subscription`]s that fire for local and remote changes alike. [`Echo`] keeps the
//! spaces of one profile in its redb store (an append-only log of Yjs updates with group
//! commit and snapshots). Replication hooks (state vectors, diffs, update streams) let the
//! network layer sync spaces without knowing how they are stored. The layout other Yjs clients
//! read and write is in `LAYOUT.md`.
//!
//! This crate never does network I/O and never blocks on anything but its own store.

pub mod documents;
mod echo;
pub mod error;
mod fields;
mod index;
pub mod load_gate;
pub mod object;
pub mod order;
pub mod query;
mod space;
pub mod store;
pub mod subscription;
pub mod tasks;
pub mod value;

pub use documents::{DOCUMENT_CONTENT, DOCUMENT_NAME, DOCUMENT_TYPE, DocumentInfo};
pub use echo::{Echo, SpaceInfo};
pub use error::{EchoError, Result};
pub use object::{Object, ObjectId, Task, TypedObject};
pub use query::{Direction, Filter, Query};
pub use space::{OBJECTS_ROOT, SPACE_ROOT, Space, SpaceOptions, TextEditor, diff_text};
pub use subscription::{Change, Subscription, UpdateListener, UpdateOrigin};
