//! Reactive subscriptions: a query (or one object) whose result set is kept up to date from the
//! ids each transaction touched, and a callback told what was added, removed or updated.
//!
//! Callbacks run on the thread that made the change (a local write, or the network task applying
//! a peer's update), after the space's lock is released: they may read the space, and a UI
//! callback should just ask for a repaint.

use std::collections::HashSet;
use std::sync::{Arc, Weak};

use crate::index::Index;
use crate::object::{Object, ObjectId};
use crate::query::Query;
use crate::space::{Reader, SpaceInner, query_matches};

/// What changed in a subscription's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// Objects that now match and did not before.
    pub added: Vec<ObjectId>,
    /// Objects that matched and no longer do (deleted, or no longer pass the filter).
    pub removed: Vec<ObjectId>,
    /// Objects that still match and changed.
    pub updated: Vec<ObjectId>,
}

impl Change {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.updated.is_empty()
    }
}

/// A subscription callback.
pub(crate) type Callback = Arc<dyn Fn(&Change) + Send + Sync>;

/// What a subscription watches.
pub(crate) enum Target {
    Query(Query),
    Object(ObjectId),
}

/// A live subscription inside a space's state.
pub(crate) struct SubEntry {
    pub id: u64,
    pub target: Target,
    pub results: HashSet<ObjectId>,
    pub cb: Callback,
}

impl SubEntry {
    /// Does object `id` belong in the result now?
    pub fn matches(&self, index: &Index, reader: &Reader, id: &str) -> bool {
        match &self.target {
            Target::Object(oid) => &**oid == id && index.get(id).is_some(),
            Target::Query(q) => query_matches(q, index, reader, id),
        }
    }

    /// Folds the ids a transaction touched into the result; `None` when nothing of ours changed.
    pub fn apply(&mut self, index: &Index, reader: &Reader, changed: &[ObjectId]) -> Option<Change> {
        let mut change = Change::default();
        for id in changed {
            if let Target::Object(oid) = &self.target
                && oid != id
            {
                continue;
            }
            let now = self.matches(index, reader, id);
            let before = self.results.contains(id);
            match (before, now) {
                (false, true) => {
                    self.results.insert(id.clone());
                    change.added.push(id.clone());
                }
                (true, false) => {
                    self.results.remove(id);
                    change.removed.push(id.clone());
                }
                (true, true) => change.updated.push(id.clone()),
                (false, false) => {}
            }
        }
        (!change.is_empty()).then_some(change)
    }
}

/// A handle on a live subscription; dropping it unsubscribes.
pub struct Subscription {
    pub(crate) space: Weak<SpaceInner>,
    pub(crate) id: u64,
}

impl Subscription {
    /// The current result ids, in the query's order (and limit).
    pub fn ids(&self) -> Vec<ObjectId> {
        self.space.upgrade().map(|s| s.subscription_ids(self.id)).unwrap_or_default()
    }

    /// The current result objects, in the query's order (and limit).
    pub fn objects(&self) -> Vec<Object> {
        self.space.upgrade().map(|s| s.subscription_objects(self.id)).unwrap_or_default()
    }

    /// How many objects match now (before any limit).
    pub fn len(&self) -> usize {
        self.space.upgrade().map(|s| s.subscription_len(self.id)).unwrap_or(0)
    }

    /// True when nothing matches.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(s) = self.space.upgrade() {
            s.unsubscribe(self.id);
        }
    }
}

/// Where an update came from, for update listeners (replication must not echo a peer's update
/// back to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOrigin {
    /// Made on this device (an edit, an undo, an import).
    Local,
    /// Applied from outside; the number tells which source (a connection, say).
    Remote(u64),
}

/// An update listener callback: the Yjs v1 update and where it came from.
pub(crate) type UpdateCallback = Arc<dyn Fn(&[u8], UpdateOrigin) + Send + Sync>;

/// A handle on an update listener; dropping it stops the stream.
pub struct UpdateListener {
    pub(crate) space: Weak<SpaceInner>,
    pub(crate) id: u64,
}

impl Drop for UpdateListener {
    fn drop(&mut self) {
        if let Some(s) = self.space.upgrade() {
            s.remove_listener(self.id);
        }
    }
}
