//! A space: one shared database of objects, on one `yrs::Doc`.
//!
//! Every write runs in one yrs transaction; yrs observers collect the touched object ids and the
//! encoded update, and after the commit the index, the subscriptions, the update listeners and
//! the store's log are fed from them. Remote updates go through the same path, so local and
//! remote changes are indistinguishable to readers. Bytes from outside are never trusted: they
//! are decoded and applied with panics caught, and a failed apply leaves the space as it was.
//!
//! Here: the types and the public API of objects, text, queries, subscriptions and undo;
//! `read.rs`: where reads come from; `load.rs`: the background load; `commit.rs`: a transaction
//! and what follows it; `replication.rs`: state vectors, diffs and updates from outside.

mod commit;
mod load;
mod read;
mod replication;
mod text;

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};

use dxos_halo::PublicKey;
use redb::Database;
use serde_json::{Map, Value};
use yrs::types::{Event, PathSegment};
use yrs::undo::Options as UndoOptions;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{
    Any, DeepObservable, Doc, GetString, In, Map as _, MapPrelim, MapRef, Observable, OffsetKind, Options, Out,
    ReadTxn, StateVector, Text, TextPrelim, Transact, TransactionMut, UndoManager, Update, WriteTxn,
};

use crate::error::{EchoError, Result};
use crate::index::Index;
use crate::object::{DELETED_KEY, Object, ObjectId, TYPE_KEY, TypedObject, new_object_id};
use crate::query::{Direction, Query, sort_cmp};
use crate::store::{self, Msg, SpaceRecord};
use crate::subscription::{
    Callback, Change, SubEntry, Subscription, Target, UpdateCallback, UpdateListener, UpdateOrigin,
};
use crate::value::{json_to_in, map_to_json, out_to_json};
use load::{Loaded, load_doc};
pub(crate) use read::{Preview, Reader, query_matches};
use read::{object_map, query_results, read_meta, read_object, read_prop, sort_and_limit};
pub(crate) use replication::decode_update;
pub use text::{TextEditor, diff as diff_text};

/// Origin of transactions that apply bytes from outside (so undo ignores them).
const REMOTE_ORIGIN: &str = "dxos-echo-remote";
/// Key of ECHO's own yrs observers.
const OBSERVER_KEY: &str = "dxos-echo";
/// Root map holding the objects.
pub const OBJECTS_ROOT: &str = "objects";
/// Root map holding the space's properties.
pub const SPACE_ROOT: &str = "space";
/// Undo groups changes closer together than this (keystrokes).
const UNDO_CAPTURE_MS: u64 = 500;

/// Tuning for a space.
#[derive(Debug, Clone)]
pub struct SpaceOptions {
    /// Compact the log into a snapshot once it holds more than this many bytes (and more than
    /// the last snapshot).
    pub snapshot_min_bytes: usize,
    /// Keep an undo history of local changes from the start (see also [`Space::enable_undo`]).
    pub undo: bool,
}

impl Default for SpaceOptions {
    fn default() -> Self {
        Self { snapshot_min_bytes: 4 << 20, undo: false }
    }
}

/// What yrs observers collect during one transaction.
#[derive(Default)]
struct Sink {
    updates: Vec<Vec<u8>>,
    /// Objects touched by a remote or undo transaction (their index entry is read back).
    changed: Vec<ObjectId>,
    /// Objects touched by a local write, which says what it did to their index entry.
    known: Vec<(ObjectId, Hint)>,
    props: bool,
}

/// What a local write does to an object's typename and deleted flag (so the index is
/// updated without reading the object back).
enum Hint {
    /// Neither changes (properties and text cannot touch `@` keys).
    Unchanged,
    /// A new object of this type.
    Added(Option<Arc<str>>),
    /// Soft-deleted or restored.
    Deleted(bool),
}

/// A cheap, cloneable handle on one open space.
#[derive(Clone)]
pub struct Space {
    pub(crate) inner: Arc<SpaceInner>,
}

pub(crate) struct SpaceInner {
    id: PublicKey,
    state: Mutex<State>,
    sink: Arc<Mutex<Sink>>,
    persist: Option<(Arc<Database>, Sender<Msg>)>,
    next_id: AtomicU64,
    options: SpaceOptions,
    /// Signalled when a background load installed its document (or failed).
    loaded: std::sync::Condvar,
    /// The name as last read (see [`Space::name`]).
    last_name: Mutex<String>,
}

struct State {
    doc: Doc,
    objects: MapRef,
    props: MapRef,
    index: Index,
    subs: Vec<SubEntry>,
    listeners: Vec<(u64, UpdateCallback)>,
    undo: Option<UndoManager>,
    seq: u64,
    log_bytes: usize,
    /// The last snapshot's size, as far as known (see `compacted`).
    snapshot_bytes: usize,
    /// Set by the store's writer thread to the size of each snapshot it makes.
    compacted: Arc<std::sync::atomic::AtomicUsize>,
    record: SpaceRecord,
    record_dirty: bool,
    /// While the document loads in the background: the materialized objects reads come from.
    preview: Option<Preview>,
    /// The background load, until it is installed.
    loading: Option<Receiver<Result<Loaded>>>,
    /// Objects changed since their materialized rows were last written.
    dirty: foldhash::HashSet<ObjectId>,
    /// The materialized rows may be stale (loaded from the log): rewrite them all.
    rewrite_all: bool,
    /// Undo was asked for while the document loaded: the manager is made when it is installed.
    undo_wanted: bool,
    /// Counts the documents this state has held (a load installs one, a rebuild another), so
    /// handles into the document ([`TextEditor`]) know when theirs was replaced.
    generation: u64,
}

type Notes = Vec<(Callback, Change)>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn notify(notes: Notes) {
    for (cb, change) in notes {
        cb(&change);
    }
}

fn new_doc() -> Doc {
    // UTF-16 offsets, as Yjs in JavaScript counts them, so text positions agree with other clients.
    Doc::with_options(Options { offset_kind: OffsetKind::Utf16, ..Options::default() })
}

/// Rejects writes to reserved `@` keys.
fn check_keys(data: &Map<String, Value>) -> Result<()> {
    match data.keys().find(|k| k.starts_with('@') || k.is_empty()) {
        Some(k) => Err(EchoError::InvalidValue(format!("property name {k:?} is reserved"))),
        None => Ok(()),
    }
}

/// An undo manager for local changes to a space's objects and properties, grouping changes
/// closer than [`UNDO_CAPTURE_MS`] (keystrokes).
fn undo_manager(doc: &Doc, objects: &MapRef, props: &MapRef) -> UndoManager {
    let mut um =
        UndoManager::with_options(UndoOptions { capture_timeout_millis: UNDO_CAPTURE_MS, ..UndoOptions::default() });
    um.expand_scope(doc, objects);
    um.expand_scope(doc, props);
    um
}

/// Runs `f` with a deep observer on `objects` that reports every touched object id to `sink`.
/// Only transactions whose changes ECHO does not know in advance (a remote update, an undo)
/// need it; local writes name their object themselves and skip yrs' deep-event work.
fn observing_ids<R>(objects: &MapRef, sink: &Arc<Mutex<Sink>>, f: impl FnOnce() -> R) -> R {
    let s = sink.clone();
    objects.observe_deep(OBSERVER_KEY, move |txn, events| {
        let mut s = lock(&s);
        for e in events.iter() {
            match e.path().front() {
                // A change inside an object: the first path segment is its id.
                Some(PathSegment::Key(k)) => s.changed.push(k.clone()),
                Some(PathSegment::Index(_)) => {}
                // A change of the objects map itself: objects added, replaced or removed.
                None => {
                    if let Event::Map(me) = e {
                        s.changed.extend(me.keys(txn).keys().cloned());
                    }
                }
            }
        }
    });
    let r = f();
    objects.unobserve_deep(OBSERVER_KEY);
    r
}

impl Space {
    /// Opens a persisted space from its materialized rows: it answers queries at once, while
    /// its document loads from the log on a background thread. Writes wait for the document.
    pub(crate) fn load_materialized(
        id: PublicKey,
        rows: Vec<(String, Vec<u8>)>,
        record: SpaceRecord,
        persist: (Arc<Database>, Sender<Msg>),
        options: SpaceOptions,
    ) -> Result<Space> {
        let mut index = Index::default();
        let mut preview = Preview::default();
        preview.reserve(rows.len());
        for (id_text, bytes) in rows {
            let row: store::Row = serde_json::from_slice(&bytes)
                .map_err(|e| EchoError::Corrupt(format!("materialized object {id_text}: {e}")))?;
            let oid: ObjectId = Arc::from(id_text);
            index.set(&oid, Some((row.typename.as_deref(), row.deleted)));
            preview.insert(oid, row.data);
        }
        let sink = Arc::new(Mutex::new(Sink::default()));
        let doc = new_doc();
        let (objects, props) = (doc.get_or_insert_map(OBJECTS_ROOT), doc.get_or_insert_map(SPACE_ROOT));
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let state = State {
            doc,
            objects,
            props,
            index,
            subs: Vec::new(),
            listeners: Vec::new(),
            undo: None,
            seq: 0,
            log_bytes: 0,
            snapshot_bytes: 0,
            compacted: Arc::default(),
            record: record.clone(),
            record_dirty: false,
            preview: Some(preview),
            loading: Some(rx),
            dirty: foldhash::HashSet::default(),
            rewrite_all: false,
            undo_wanted: false,
            generation: 0,
        };
        let db = persist.0.clone();
        let space = Space::wrap(id, state, sink.clone(), Some(persist), options);
        let weak = Arc::downgrade(&space.inner);
        let spawned = std::thread::Builder::new().name("echo-load".into()).spawn(move || {
            crate::load_gate::wait(&id);
            // Hold the database only while reading, so closing the store does not wait for decoding.
            let stored = store::read_space(&db, id.as_bytes());
            drop(db);
            let loaded = stored.and_then(|stored| load_doc(id, Some(stored), &sink));
            let _ = tx.send(loaded);
            if let Some(inner) = weak.upgrade() {
                inner.finish_loading();
            }
        });
        if let Err(e) = spawned {
            return Err(EchoError::Storage(format!("cannot start loading space {id}: {e}")));
        }
        Ok(space)
    }

    /// The space's id: its public key.
    pub fn id(&self) -> PublicKey {
        self.inner.id
    }

    /// The space's name (`space.name`). Never waits for a writer: while one holds the space
    /// (a peer's large update being applied), the name as last read.
    pub fn name(&self) -> String {
        match self.inner.state.try_lock() {
            Ok(st) => {
                let name = st.record.name.clone();
                lock(&self.inner.last_name).clone_from(&name);
                name
            }
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().record.name.clone(),
            Err(std::sync::TryLockError::WouldBlock) => lock(&self.inner.last_name).clone(),
        }
    }

    /// Whether the space is still loading, without waiting: `None` while a writer holds it
    /// (a write now would wait for that writer).
    pub fn try_is_loading(&self) -> Option<bool> {
        match self.inner.state.try_lock() {
            Ok(st) => Some(st.preview.is_some()),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner().preview.is_some()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Renames the space.
    pub fn rename(&self, name: &str) -> Result<()> {
        self.set_property("name", Value::String(name.to_owned()))
    }

    /// A property of the space (root map `space`).
    pub fn property(&self, key: &str) -> Result<Option<Value>> {
        self.inner.with_doc(|st| read_prop(&st.doc.transact(), &st.props, key))
    }

    /// Sets a property of the space.
    pub fn set_property(&self, key: &str, value: Value) -> Result<()> {
        self.inner.write(None, |txn, _, props| {
            props.insert(txn, key, json_to_in(&value));
            Ok(())
        })
    }

    /// Number of objects not deleted.
    pub fn len(&self) -> usize {
        lock(&self.inner.state).index.live()
    }

    /// True when the space holds no live object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds an object with an optional typename; returns its new id.
    pub fn add(&self, typename: Option<&str>, data: Map<String, Value>) -> Result<ObjectId> {
        check_keys(&data)?;
        self.add_fields(typename, data.iter().map(|(k, v)| (k.clone(), json_to_in(v))).collect())
    }

    /// Adds a typed object; returns its new id.
    pub fn add_typed<T: TypedObject>(&self, value: &T) -> Result<ObjectId> {
        let fields = value.to_fields()?;
        if let Some((k, _)) = fields.iter().find(|(k, _)| k.starts_with('@') || k.is_empty()) {
            return Err(EchoError::InvalidValue(format!("property name {k:?} is reserved")));
        }
        self.add_fields(Some(T::TYPENAME), fields)
    }

    /// Adds an object from yrs inputs (e.g. with a `Y.Text`); keys are the caller's own.
    pub(crate) fn add_raw(&self, typename: Option<&str>, fields: Vec<(String, In)>) -> Result<ObjectId> {
        self.add_fields(typename, fields)
    }

    fn add_fields(&self, typename: Option<&str>, mut fields: Vec<(String, In)>) -> Result<ObjectId> {
        let id = new_object_id();
        if let Some(t) = typename {
            fields.push((TYPE_KEY.to_owned(), In::Any(Any::String(Arc::from(t)))));
        }
        self.inner.write(Some((&id, Hint::Added(typename.map(Arc::from)))), |txn, objects, _| {
            objects.insert(txn, id.clone(), MapPrelim::from_iter(fields));
            Ok(())
        })?;
        Ok(id)
    }

    /// Reads an object (soft-deleted ones too: see [`Object::deleted`]).
    pub fn get(&self, id: &str) -> Result<Object> {
        let st = lock(&self.inner.state);
        let key = st.index.key(id).cloned().ok_or_else(|| EchoError::ObjectNotFound(id.to_owned()))?;
        st.reader().object(&st.index, &key).ok_or_else(|| EchoError::ObjectNotFound(id.to_owned()))
    }

    /// Reads an object as a typed struct.
    pub fn get_typed<T: TypedObject>(&self, id: &str) -> Result<T> {
        self.get(id)?.to_typed()
    }

    /// Sets the given properties of an object (others are kept).
    pub fn update(&self, id: &str, data: Map<String, Value>) -> Result<()> {
        check_keys(&data)?;
        self.inner.write_object(id, |txn, m| {
            for (k, v) in &data {
                m.insert(txn, k.as_str(), json_to_in(v));
            }
            Ok(())
        })
    }

    /// Replaces a typed object's properties with the struct's fields.
    pub fn update_typed<T: TypedObject>(&self, id: &str, value: &T) -> Result<()> {
        let current = self.get(id)?;
        if current.typename.as_deref() != Some(T::TYPENAME) {
            return Err(EchoError::WrongType {
                id: id.to_owned(),
                expected: T::TYPENAME.to_owned(),
                actual: current.typename.unwrap_or_else(|| "untyped".into()),
            });
        }
        self.update(id, value.to_data()?)
    }

    /// Removes one property of an object.
    pub fn remove_property(&self, id: &str, key: &str) -> Result<()> {
        check_keys(&Map::from_iter([(key.to_owned(), Value::Null)]))?;
        self.inner.write_object(id, |txn, m| {
            m.remove(txn, key);
            Ok(())
        })
    }

    /// Soft-deletes an object (`@deleted`): queries skip it; [`Space::restore`] brings it back.
    pub fn delete(&self, id: &str) -> Result<()> {
        self.inner.write_object_as(id, Hint::Deleted(true), |txn, m| {
            m.insert(txn, DELETED_KEY, true);
            Ok(())
        })
    }

    /// Restores a soft-deleted object.
    pub fn restore(&self, id: &str) -> Result<()> {
        self.inner.write_object_as(id, Hint::Deleted(false), |txn, m| {
            m.remove(txn, DELETED_KEY);
            Ok(())
        })
    }

    /// Sets a property to a new collaborative text (`Y.Text`) holding `text`.
    pub fn set_text(&self, id: &str, key: &str, text: &str) -> Result<()> {
        check_keys(&Map::from_iter([(key.to_owned(), Value::Null)]))?;
        self.inner.write_object(id, |txn, m| {
            m.insert(txn, key, TextPrelim::new(text));
            Ok(())
        })
    }

    /// Edits a collaborative text property: deletes `delete` units at `index`, then inserts
    /// `insert` there. Offsets count UTF-16 code units, as Yjs does.
    pub fn edit_text(&self, id: &str, key: &str, index: u32, delete: u32, insert: &str) -> Result<()> {
        self.inner.write_object(id, |txn, m| {
            let Some(Out::YText(t)) = m.get(txn, key) else {
                return Err(EchoError::InvalidValue(format!("property {key:?} of {id} is not collaborative text")));
            };
            let len = t.len(txn);
            if index > len || delete > len - index {
                return Err(EchoError::InvalidValue(format!(
                    "edit {index}+{delete} is outside the text (length {len})"
                )));
            }
            if delete > 0 {
                t.remove_range(txn, index, delete);
            }
            if !insert.is_empty() {
                t.insert(txn, index, insert);
            }
            Ok(())
        })
    }

    /// The current content of a collaborative text property.
    pub fn text(&self, id: &str, key: &str) -> Result<String> {
        self.inner.with_doc(|st| {
            let txn = st.doc.transact();
            let m = object_map(&txn, &st.objects, id).ok_or_else(|| EchoError::ObjectNotFound(id.to_owned()))?;
            match m.get(&txn, key) {
                Some(Out::YText(t)) => Ok(t.get_string(&txn)),
                _ => Err(EchoError::InvalidValue(format!("property {key:?} of {id} is not collaborative text"))),
            }
        })?
    }

    /// Runs a query once; returns matching ids in the query's order.
    pub fn query_ids(&self, q: &Query) -> Vec<ObjectId> {
        let st = lock(&self.inner.state);
        let reader = st.reader();
        let mut ids: Vec<ObjectId> = query_results(q, &st.index, &reader).cloned().collect();
        sort_and_limit(&reader, q, &mut ids);
        ids
    }

    /// Over live objects of `typename`: the greatest string value of property `key`, and
    /// whether some object lacks it. Reads that one property only.
    pub(crate) fn max_string_prop(&self, typename: &str, key: &str) -> (Option<String>, bool) {
        let st = lock(&self.inner.state);
        let reader = st.reader();
        let (mut max, mut missing): (Option<String>, bool) = (None, false);
        for id in st.index.select(Some(typename), false) {
            match reader.prop(id, key) {
                Some(Value::String(v)) => {
                    if max.as_deref().is_none_or(|m| m < v.as_str()) {
                        max = Some(v);
                    }
                }
                _ => missing = true,
            }
        }
        (max, missing)
    }

    /// Over objects of `typename` (deleted ones too when `include_deleted`), in id order: each
    /// one's string property `key` and its deleted flag. Reads that one property only.
    pub(crate) fn string_prop_of_type(
        &self,
        typename: &str,
        key: &str,
        include_deleted: bool,
    ) -> Vec<(ObjectId, Option<String>, bool)> {
        let st = lock(&self.inner.state);
        let reader = st.reader();
        let mut out: Vec<(ObjectId, Option<String>, bool)> = st
            .index
            .select(Some(typename), include_deleted)
            .map(|id| {
                let value = match reader.prop(id, key) {
                    Some(Value::String(s)) => Some(s),
                    _ => None,
                };
                let deleted = st.index.get(id).is_some_and(|m| m.deleted);
                (id.clone(), value, deleted)
            })
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Runs a query once; returns the matching objects in the query's order.
    pub fn query(&self, q: &Query) -> Vec<Object> {
        let ids = self.query_ids(q);
        self.inner.read_objects(&ids)
    }

    /// Runs a query for a typed object kind; objects that do not read as `T` are skipped.
    pub fn query_typed<T: TypedObject>(&self, mut q: Query) -> Vec<(ObjectId, T)> {
        q.typename = Some(T::TYPENAME.to_owned());
        self.query(&q).into_iter().filter_map(|o| o.to_typed().ok().map(|t| (o.id, t))).collect()
    }

    /// Subscribes to a query: `cb` is told each time its result set or one of its objects
    /// changes, from a local or a remote change.
    pub fn subscribe(&self, q: Query, cb: impl Fn(&Change) + Send + Sync + 'static) -> Subscription {
        let results: HashSet<ObjectId> = {
            let st = lock(&self.inner.state);
            let reader = st.reader();
            query_results(&q, &st.index, &reader).cloned().collect()
        };
        self.inner.add_sub(Target::Query(q), results, Arc::new(cb))
    }

    /// Subscribes to one object: `cb` is told when it changes, is deleted or comes back.
    pub fn subscribe_object(&self, id: &str, cb: impl Fn(&Change) + Send + Sync + 'static) -> Subscription {
        let id: ObjectId = Arc::from(id);
        let mut results = HashSet::new();
        if lock(&self.inner.state).index.get(&id).is_some() {
            results.insert(id.clone());
        }
        self.inner.add_sub(Target::Object(id), results, Arc::new(cb))
    }

    /// Starts keeping an undo history of local changes (from now on), if not kept yet. Undo
    /// costs some time on every transaction, so spaces keep none until a UI asks for it.
    pub fn enable_undo(&self) -> Result<()> {
        {
            // Still loading: undo starts with the loaded document (asking never waits for it).
            let mut st = lock(&self.inner.state);
            if st.preview.is_some() {
                st.undo_wanted = true;
                return Ok(());
            }
        }
        self.inner.with_doc(|st| {
            if st.undo.is_none() {
                st.undo = Some(undo_manager(&st.doc, &st.objects, &st.props));
            }
        })
    }

    /// Undoes the last group of local changes; false when there is nothing to undo.
    pub fn undo(&self) -> bool {
        self.inner.undo_redo(true)
    }

    /// Redoes the last undone group; false when there is nothing to redo.
    pub fn redo(&self) -> bool {
        self.inner.undo_redo(false)
    }

    /// Ends the current undo group, so the next change is undone on its own.
    pub fn undo_boundary(&self) {
        if let Some(u) = lock(&self.inner.state).undo.as_mut() {
            u.reset();
        }
    }

    /// Marks the space deleted or not (kept by the store as a restorable tombstone).
    pub(crate) fn set_deleted(&self, deleted: bool) {
        let mut st = lock(&self.inner.state);
        st.record.deleted = deleted;
        st.record_dirty = true;
        self.inner.send_record(&mut st);
    }

    /// The store's record of this space, as it is now.
    pub(crate) fn record(&self) -> SpaceRecord {
        lock(&self.inner.state).record.clone()
    }

    /// Sends the record to the store if it changed since it was last sent.
    pub(crate) fn sync_record(&self) {
        self.inner.sync_record();
    }
}

impl SpaceInner {
    /// Writes the materialized rows of objects changed since the last time (all of them after
    /// a load from the log), so the next open answers queries before loading the document.
    pub(crate) fn materialize(&self) {
        let mut st = lock(&self.state);
        self.materialize_locked(&mut st);
    }

    fn read_objects(&self, ids: &[ObjectId]) -> Vec<Object> {
        let st = lock(&self.state);
        let reader = st.reader();
        ids.iter().filter_map(|id| reader.object(&st.index, id)).collect()
    }

    fn add_sub(self: &Arc<Self>, target: Target, results: HashSet<ObjectId>, cb: Callback) -> Subscription {
        let id = self.next_id.fetch_add(1, AtomicOrdering::Relaxed);
        lock(&self.state).subs.push(SubEntry { id, target, results, cb });
        Subscription { space: Arc::downgrade(self), id }
    }

    pub(crate) fn unsubscribe(&self, id: u64) {
        lock(&self.state).subs.retain(|s| s.id != id);
    }

    pub(crate) fn remove_listener(&self, id: u64) {
        lock(&self.state).listeners.retain(|(i, _)| *i != id);
    }

    pub(crate) fn subscription_len(&self, id: u64) -> usize {
        lock(&self.state).subs.iter().find(|s| s.id == id).map(|s| s.results.len()).unwrap_or(0)
    }

    pub(crate) fn subscription_ids(&self, id: u64) -> Vec<ObjectId> {
        let st = lock(&self.state);
        let Some(sub) = st.subs.iter().find(|s| s.id == id) else {
            return Vec::new();
        };
        let mut ids: Vec<ObjectId> = sub.results.iter().cloned().collect();
        match &sub.target {
            Target::Query(q) => sort_and_limit(&st.reader(), q, &mut ids),
            Target::Object(_) => {}
        }
        ids
    }

    pub(crate) fn subscription_objects(&self, id: u64) -> Vec<Object> {
        let ids = self.subscription_ids(id);
        self.read_objects(&ids)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An in-memory space, for unit tests.
    pub(crate) fn memory_space() -> Space {
        let id = dxos_halo::KeyPair::generate().public();
        match Space::load(id, None, SpaceRecord::default(), None, SpaceOptions::default()) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn reserved_keys_are_refused() {
        let s = memory_space();
        let data = Map::from_iter([("@type".to_owned(), Value::from("x"))]);
        assert!(matches!(s.add(None, data), Err(EchoError::InvalidValue(_))));
        assert_eq!(s.len(), 0);
    }
}
