//! A space: one shared database of objects, on one `yrs::Doc`.
//!
//! Every write runs in one yrs transaction; yrs observers collect the touched object ids and the
//! encoded update, and after the commit the index, the subscriptions, the update listeners and
//! the store's log are fed from them. Remote updates go through the same path, so local and
//! remote changes are indistinguishable to readers. Bytes from outside are never trusted: they
//! are decoded and applied with panics caught, and a failed apply leaves the space as it was.

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
    snapshot_bytes: usize,
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

/// Decodes a Yjs v1 update from outside, turning a decoder panic into an error.
pub(crate) fn decode_update(bytes: &[u8]) -> Result<Update> {
    match catch_unwind(|| Update::decode_v1(bytes)) {
        Ok(Ok(u)) => Ok(u),
        Ok(Err(e)) => Err(EchoError::MalformedUpdate(e.to_string())),
        Err(_) => Err(EchoError::MalformedUpdate("the update could not be decoded".into())),
    }
}

fn object_map<T: ReadTxn>(txn: &T, objects: &MapRef, id: &str) -> Option<MapRef> {
    match objects.get(txn, id) {
        Some(Out::YMap(m)) => Some(m),
        _ => None,
    }
}

/// An object's typename and deleted flag, if it exists as a map.
fn read_meta<T: ReadTxn>(txn: &T, objects: &MapRef, id: &str) -> Option<(Option<String>, bool)> {
    let m = object_map(txn, objects, id)?;
    let typename = match m.get(txn, TYPE_KEY) {
        Some(Out::Any(Any::String(s))) => Some(s.to_string()),
        _ => None,
    };
    let deleted = matches!(m.get(txn, DELETED_KEY), Some(Out::Any(Any::Bool(true))));
    Some((typename, deleted))
}

fn read_prop<T: ReadTxn>(txn: &T, map: &MapRef, key: &str) -> Option<Value> {
    map.get(txn, key).map(|v| out_to_json(txn, &v))
}

fn read_object<T: ReadTxn>(txn: &T, objects: &MapRef, id: &ObjectId) -> Option<Object> {
    let m = object_map(txn, objects, id)?;
    let mut data = map_to_json(txn, &m);
    let typename = match data.remove(TYPE_KEY) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let deleted = matches!(data.remove(DELETED_KEY), Some(Value::Bool(true)));
    data.retain(|k, _| !k.starts_with('@'));
    Some(Object { id: id.clone(), typename, deleted, data })
}

/// Objects as stored materialized (typename and deleted flag live in the index), answering
/// reads while the document loads.
pub(crate) type Preview = foldhash::HashMap<ObjectId, Map<String, Value>>;

/// Where reads come from: the document, or, while it loads, the materialized objects.
pub(crate) enum Reader<'a> {
    /// The loaded document.
    Doc(yrs::Transaction<'a>, &'a MapRef),
    /// The stored materialized objects.
    Preview(&'a Preview),
}

impl Reader<'_> {
    fn prop(&self, id: &str, key: &str) -> Option<Value> {
        match self {
            Reader::Doc(txn, objects) => object_map(txn, objects, id).and_then(|m| read_prop(txn, &m, key)),
            Reader::Preview(p) => p.get(id).and_then(|m| m.get(key).cloned()),
        }
    }

    fn object(&self, index: &Index, id: &ObjectId) -> Option<Object> {
        match self {
            Reader::Doc(txn, objects) => read_object(txn, objects, id),
            Reader::Preview(p) => {
                let meta = index.get(id)?;
                let data = p.get(id)?.clone();
                let typename = index.typename(meta).map(str::to_owned);
                Some(Object { id: id.clone(), typename, deleted: meta.deleted, data })
            }
        }
    }
}

impl State {
    fn reader(&self) -> Reader<'_> {
        match &self.preview {
            Some(p) => Reader::Preview(p),
            None => Reader::Doc(self.doc.transact(), &self.objects),
        }
    }
}

/// Does object `id` match query `q` now?
pub(crate) fn query_matches(q: &Query, index: &Index, reader: &Reader, id: &str) -> bool {
    let Some(meta) = index.get(id) else {
        return false;
    };
    if (meta.deleted && !q.include_deleted) || !index.is_type(meta, q.typename.as_deref()) {
        return false;
    }
    match &q.filter {
        None => true,
        Some(f) => f.matches(&mut |k| reader.prop(id, k)),
    }
}

/// Puts ids in the query's order, then applies its limit (selecting the first `limit` before
/// sorting them, so a page of a large result costs linear time).
fn sort_and_limit(reader: &Reader, q: &Query, ids: &mut Vec<ObjectId>) {
    match &q.order_by {
        None => {
            if let Some(n) = q.limit.filter(|&n| n < ids.len()) {
                ids.select_nth_unstable(n);
                ids.truncate(n);
            }
            ids.sort_unstable();
        }
        Some((key, dir)) => {
            let mut keyed: Vec<(Option<Value>, ObjectId)> =
                ids.drain(..).map(|id| (reader.prop(&id, key), id)).collect();
            let cmp = |a: &(Option<Value>, ObjectId), b: &(Option<Value>, ObjectId)| {
                let by_value = match (dir, a.0.is_some(), b.0.is_some()) {
                    (Direction::Descending, true, true) => sort_cmp(b.0.as_ref(), a.0.as_ref()),
                    _ => sort_cmp(a.0.as_ref(), b.0.as_ref()),
                };
                by_value.then_with(|| a.1.cmp(&b.1))
            };
            if let Some(n) = q.limit.filter(|&n| n < keyed.len()) {
                keyed.select_nth_unstable_by(n, cmp);
                keyed.truncate(n);
            }
            keyed.sort_by(cmp);
            ids.extend(keyed.into_iter().map(|(_, id)| id));
        }
    }
    if let Some(n) = q.limit {
        ids.truncate(n);
    }
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

/// A document loaded from storage, observed into a sink, with its index built.
struct Loaded {
    doc: Doc,
    objects: MapRef,
    props: MapRef,
    index: Index,
    seq: u64,
    log_bytes: usize,
    snapshot_bytes: usize,
}

/// Builds a space's document from its stored snapshot and log, then observes it into `sink`
/// (after loading, so loading does not write the log again) and indexes its objects.
fn load_doc(id: PublicKey, stored: Option<store::Stored>, sink: &Arc<Mutex<Sink>>) -> Result<Loaded> {
    let doc = new_doc();
    let objects = doc.get_or_insert_map(OBJECTS_ROOT);
    let props = doc.get_or_insert_map(SPACE_ROOT);
    let (mut seq, mut log_bytes, mut snapshot_bytes) = (0, 0, 0);
    if let Some(stored) = stored {
        let mut txn = doc.transact_mut_with(REMOTE_ORIGIN);
        if let Some((s, bytes)) = &stored.snapshot {
            seq = *s;
            snapshot_bytes = bytes.len();
        }
        for (s, bytes) in stored.snapshot.iter().chain(stored.log.iter()) {
            seq = seq.max(*s);
            let applied =
                decode_update(bytes).and_then(|u| match catch_unwind(AssertUnwindSafe(|| txn.apply_update(u))) {
                    Ok(r) => r.map_err(|e| EchoError::MalformedUpdate(e.to_string())),
                    Err(_) => Err(EchoError::MalformedUpdate("panic while applying".into())),
                });
            if let Err(e) = applied {
                return Err(EchoError::Corrupt(format!("space {id}: stored update {s}: {e}")));
            }
        }
        log_bytes = stored.log.iter().map(|(_, b)| b.len()).sum();
    }
    let s = sink.clone();
    doc.observe_update_v1(OBSERVER_KEY, move |_, e| lock(&s).updates.push(e.update.clone()))
        .map_err(|e| EchoError::Storage(e.to_string()))?;
    let s = sink.clone();
    props.observe(OBSERVER_KEY, move |_, _| lock(&s).props = true);
    let mut index = Index::default();
    {
        let txn = doc.transact();
        for (k, v) in objects.iter(&txn) {
            if let Out::YMap(_) = v {
                let meta = read_meta(&txn, &objects, k);
                index.set(&Arc::from(k), meta.as_ref().map(|(t, d)| (t.as_deref(), *d)));
            }
        }
    }
    Ok(Loaded { doc, objects, props, index, seq, log_bytes, snapshot_bytes })
}

impl Space {
    /// Opens a space from its stored data (or empty), with persistence when `persist` is given.
    pub(crate) fn load(
        id: PublicKey,
        stored: Option<store::Stored>,
        record: SpaceRecord,
        persist: Option<(Arc<Database>, Sender<Msg>)>,
        options: SpaceOptions,
    ) -> Result<Space> {
        let sink = Arc::new(Mutex::new(Sink::default()));
        let is_new = stored.is_none();
        let loaded = load_doc(id, stored, &sink)?;
        let undo = options.undo.then(|| undo_manager(&loaded.doc, &loaded.objects, &loaded.props));
        let name = {
            let txn = loaded.doc.transact();
            match read_prop(&txn, &loaded.props, "name") {
                Some(v) => v.as_str().map(str::to_owned).unwrap_or_default(),
                None => record.name.clone(),
            }
        };
        let fresh = SpaceRecord { name, objects: loaded.index.live(), deleted: record.deleted };
        let record_dirty = is_new || fresh != record;
        let state = State {
            doc: loaded.doc,
            objects: loaded.objects,
            props: loaded.props,
            index: loaded.index,
            subs: Vec::new(),
            listeners: Vec::new(),
            undo,
            seq: loaded.seq,
            log_bytes: loaded.log_bytes,
            snapshot_bytes: loaded.snapshot_bytes,
            record: fresh,
            record_dirty,
            preview: None,
            loading: None,
            dirty: foldhash::HashSet::default(),
            // Loaded from the log: the materialized rows (if any) may lag behind.
            rewrite_all: !is_new && persist.is_some(),
        };
        let space = Space::wrap(id, state, sink, persist, options);
        space.inner.sync_record();
        Ok(space)
    }

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
            record: record.clone(),
            record_dirty: false,
            preview: Some(preview),
            loading: Some(rx),
            dirty: foldhash::HashSet::default(),
            rewrite_all: false,
        };
        let db = persist.0.clone();
        let space = Space::wrap(id, state, sink.clone(), Some(persist), options);
        let weak = Arc::downgrade(&space.inner);
        let spawned = std::thread::Builder::new().name("echo-load".into()).spawn(move || {
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

    fn wrap(
        id: PublicKey,
        state: State,
        sink: Arc<Mutex<Sink>>,
        persist: Option<(Arc<Database>, Sender<Msg>)>,
        options: SpaceOptions,
    ) -> Space {
        Space {
            inner: Arc::new(SpaceInner {
                id,
                state: Mutex::new(state),
                sink,
                persist,
                next_id: AtomicU64::new(1),
                options,
            }),
        }
    }

    /// A space that lives in memory only (not persisted): for tests, tools and benchmarks.
    pub fn in_memory(id: PublicKey, options: SpaceOptions) -> Result<Space> {
        Space::load(id, None, SpaceRecord::default(), None, options)
    }

    /// True while the document is still loading in the background (reads come from the
    /// stored materialized objects meanwhile; writes wait for the load).
    pub fn is_loading(&self) -> bool {
        lock(&self.inner.state).preview.is_some()
    }

    /// The space's id: its public key.
    pub fn id(&self) -> PublicKey {
        self.inner.id
    }

    /// The space's name (`space.name`).
    pub fn name(&self) -> String {
        lock(&self.inner.state).record.name.clone()
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
        let mut ids: Vec<ObjectId> = st
            .index
            .candidates(q.typename.as_deref())
            .filter(|id| query_matches(q, &st.index, &reader, id))
            .cloned()
            .collect();
        sort_and_limit(&reader, q, &mut ids);
        ids
    }

    /// Over live objects of `typename`: the greatest string value of property `key`, and
    /// whether some object lacks it. Reads that one property only.
    pub(crate) fn max_string_prop(&self, typename: &str, key: &str) -> (Option<String>, bool) {
        let st = lock(&self.inner.state);
        let reader = st.reader();
        let (mut max, mut missing): (Option<String>, bool) = (None, false);
        for id in st.index.candidates(Some(typename)) {
            if st.index.get(id).is_none_or(|m| m.deleted) {
                continue;
            }
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
            st.index
                .candidates(q.typename.as_deref())
                .filter(|id| query_matches(&q, &st.index, &reader, id))
                .cloned()
                .collect()
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

    /// Listens to every update as it happens (encoded Yjs v1), with its origin: the hook
    /// replication sends local changes through.
    pub fn on_update(&self, cb: impl Fn(&[u8], UpdateOrigin) + Send + Sync + 'static) -> UpdateListener {
        let id = self.inner.next_id.fetch_add(1, AtomicOrdering::Relaxed);
        lock(&self.inner.state).listeners.push((id, Arc::new(cb)));
        UpdateListener { space: Arc::downgrade(&self.inner), id }
    }

    /// Starts keeping an undo history of local changes (from now on), if not kept yet. Undo
    /// costs some time on every transaction, so spaces keep none until a UI asks for it.
    pub fn enable_undo(&self) -> Result<()> {
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

    /// The space's Yjs state vector (v1 encoding).
    pub fn state_vector(&self) -> Result<Vec<u8>> {
        self.inner.with_doc(|st| st.doc.transact().state_vector().encode_v1())
    }

    /// The Yjs v1 update holding everything this space has that a peer at state vector `sv` lacks.
    pub fn diff(&self, sv: &[u8]) -> Result<Vec<u8>> {
        let sv = match catch_unwind(|| StateVector::decode_v1(sv)) {
            Ok(Ok(sv)) => sv,
            Ok(Err(e)) => return Err(EchoError::MalformedUpdate(format!("state vector: {e}"))),
            Err(_) => {
                return Err(EchoError::MalformedUpdate("state vector could not be decoded".into()));
            }
        };
        self.inner.with_doc(|st| st.doc.transact().encode_diff_v1(&sv))
    }

    /// The whole space as one Yjs v1 update: what any Yjs client can load.
    pub fn export(&self) -> Result<Vec<u8>> {
        self.inner.with_doc(|st| st.doc.transact().encode_state_as_update_v1(&StateVector::default()))
    }

    /// Merges a Yjs v1 update made elsewhere (an import): a malformed one changes nothing.
    pub fn import(&self, update: &[u8]) -> Result<()> {
        self.inner.apply(update, UpdateOrigin::Local)
    }

    /// Applies a peer's Yjs v1 update; `source` tells update listeners where it came from.
    /// A malformed or hostile update is refused and changes nothing.
    pub fn apply_update(&self, update: &[u8], source: u64) -> Result<()> {
        self.inner.apply(update, UpdateOrigin::Remote(source))
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
    /// Runs `f` in one local transaction. `touched` names the one object `f` may change: local
    /// writes say which object they touch, so the deep observer only works for remote changes.
    fn write<R>(
        &self,
        touched: Option<(&ObjectId, Hint)>,
        f: impl FnOnce(&mut TransactionMut, &MapRef, &MapRef) -> Result<R>,
    ) -> Result<R> {
        let mut st = lock(&self.state);
        let mut notes = self.ensure_loaded(&mut st)?;
        if let Some((id, hint)) = touched {
            lock(&self.sink).known.push((id.clone(), hint));
        }
        let (objects, props) = (st.objects.clone(), st.props.clone());
        let r = {
            let mut txn = st.doc.transact_mut();
            f(&mut txn, &objects, &props)
        };
        notes.extend(self.after_txn(&mut st, UpdateOrigin::Local));
        drop(st);
        notify(notes);
        r
    }

    /// Runs `f` on the state once the document is loaded (waiting for a background load).
    fn with_doc<R>(&self, f: impl FnOnce(&mut State) -> R) -> Result<R> {
        let mut st = lock(&self.state);
        let notes = self.ensure_loaded(&mut st)?;
        let r = f(&mut st);
        drop(st);
        notify(notes);
        Ok(r)
    }

    /// Waits for a background load, if one is under way, and installs its document.
    fn ensure_loaded(&self, st: &mut State) -> Result<Notes> {
        if st.preview.is_none() {
            return Ok(Vec::new());
        }
        let Some(rx) = st.loading.take() else {
            return Err(EchoError::Corrupt(format!("space {} could not be loaded", self.id)));
        };
        match rx.recv() {
            Ok(Ok(loaded)) => Ok(self.install(st, loaded)),
            Ok(Err(e)) => {
                tracing::error!("echo: space {} could not be loaded: {e}", self.id);
                Err(e)
            }
            Err(_) => Err(EchoError::Corrupt(format!("space {} could not be loaded", self.id))),
        }
    }

    /// Called by the background loader when it is done: installs the document if no one has.
    fn finish_loading(&self) {
        let mut st = lock(&self.state);
        if st.preview.is_none() {
            return;
        }
        let notes = match st.loading.as_ref().map(|rx| rx.try_recv()) {
            Some(Ok(Ok(loaded))) => {
                st.loading = None;
                self.install(&mut st, loaded)
            }
            Some(Ok(Err(e))) => {
                st.loading = None;
                tracing::error!("echo: space {} could not be loaded: {e}; it stays read-only", self.id);
                Vec::new()
            }
            _ => Vec::new(),
        };
        drop(st);
        notify(notes);
    }

    /// Swaps the loaded document in for the materialized preview, and brings subscriptions
    /// in line with it (they match unless the rows were stale).
    fn install(&self, st: &mut State, loaded: Loaded) -> Notes {
        st.doc = loaded.doc;
        st.objects = loaded.objects;
        st.props = loaded.props;
        st.index = loaded.index;
        st.seq = loaded.seq;
        st.log_bytes = loaded.log_bytes;
        st.snapshot_bytes = loaded.snapshot_bytes;
        st.preview = None;
        st.loading = None;
        let State { subs, index, doc, objects, .. } = st;
        let reader = Reader::Doc(doc.transact(), objects);
        let mut notes = Vec::new();
        for sub in subs.iter_mut() {
            let now: HashSet<ObjectId> = match &sub.target {
                Target::Query(q) => index
                    .candidates(q.typename.as_deref())
                    .filter(|id| query_matches(q, index, &reader, id))
                    .cloned()
                    .collect(),
                Target::Object(id) => index.key(id).cloned().into_iter().collect(),
            };
            let change = Change {
                added: now.difference(&sub.results).cloned().collect(),
                removed: sub.results.difference(&now).cloned().collect(),
                updated: Vec::new(),
            };
            sub.results = now;
            if !change.is_empty() {
                notes.push((sub.cb.clone(), change));
            }
        }
        notes
    }

    fn write_object(&self, id: &str, f: impl FnOnce(&mut TransactionMut, &MapRef) -> Result<()>) -> Result<()> {
        self.write_object_as(id, Hint::Unchanged, f)
    }

    fn write_object_as(
        &self,
        id: &str,
        hint: Hint,
        f: impl FnOnce(&mut TransactionMut, &MapRef) -> Result<()>,
    ) -> Result<()> {
        let touched: ObjectId = Arc::from(id);
        self.write(Some((&touched, hint)), |txn, objects, _| match object_map(txn, objects, id) {
            Some(m) => f(txn, &m),
            None => Err(EchoError::ObjectNotFound(id.to_owned())),
        })
    }

    fn apply(&self, bytes: &[u8], origin: UpdateOrigin) -> Result<()> {
        let update = decode_update(bytes)?;
        let mut st = lock(&self.state);
        let mut notes = self.ensure_loaded(&mut st)?;
        let (doc, objects) = (st.doc.clone(), st.objects.clone());
        let applied = observing_ids(&objects, &self.sink, || {
            catch_unwind(AssertUnwindSafe(|| {
                let mut txn = doc.transact_mut_with(REMOTE_ORIGIN);
                let applied = txn.apply_update(update);
                // Updates that arrived before what they build on wait in yrs' pending store; yrs
                // retries them only when the update that completes them names the same client,
                // and a pending delete set could be left unapplied (replicas then disagreed in
                // the convergence property test). Offer what is pending once more.
                if applied.is_ok()
                    && txn.has_missing_updates()
                    && let Some(pending) = txn.prune_pending()
                {
                    return txn.apply_update(pending);
                }
                applied
            }))
        });
        match applied {
            Ok(Ok(())) => {
                notes.extend(self.after_txn(&mut st, origin));
                drop(st);
                notify(notes);
                Ok(())
            }
            failed => {
                // yrs refused the update or panicked half-way, possibly after changing part of
                // the document: throw the document away and rebuild it from what was committed
                // before this update, so the space is exactly as it was.
                *lock(&self.sink) = Sink::default();
                self.rebuild(&mut st)?;
                Err(EchoError::MalformedUpdate(match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "the update could not be applied".into(),
                }))
            }
        }
    }

    /// Replaces the document with one rebuilt from the updates committed before this one.
    fn rebuild(&self, st: &mut State) -> Result<()> {
        let Some((db, tx)) = &self.persist else {
            return Err(EchoError::MalformedUpdate(
                "the update could not be applied, and this in-memory space cannot be rebuilt".into(),
            ));
        };
        store::flush(tx)?;
        let stored = store::read_space(db, self.id.as_bytes())?;
        let loaded = load_doc(self.id, Some(stored), &self.sink)?;
        st.doc = loaded.doc;
        st.objects = loaded.objects;
        st.props = loaded.props;
        st.index = loaded.index;
        // The undo history pointed into the old document.
        st.undo = None;
        Ok(())
    }

    /// Feeds what the last transaction changed to the index, subscriptions, listeners and store.
    fn after_txn(&self, st: &mut State, origin: UpdateOrigin) -> Notes {
        let sink = std::mem::take(&mut *lock(&self.sink));
        if sink.updates.is_empty() && sink.changed.is_empty() && sink.known.is_empty() && !sink.props {
            return Vec::new();
        }
        let mut changed = sink.changed;
        let mut notes = Vec::new();
        {
            let State { doc, objects, index, subs, props, record, record_dirty, .. } = st;
            if !changed.is_empty() {
                // Touched by a remote or undo transaction: read each object's type back.
                let txn = doc.transact();
                for id in &changed {
                    let meta = read_meta(&txn, objects, id);
                    index.set(id, meta.as_ref().map(|(t, d)| (t.as_deref(), *d)));
                }
            }
            for (id, hint) in sink.known {
                match hint {
                    Hint::Unchanged => {}
                    Hint::Added(t) => {
                        index.set(&id, Some((t.as_deref(), false)));
                    }
                    Hint::Deleted(d) => index.set_deleted(&id, d),
                }
                changed.push(id);
            }
            if changed.len() > 1 {
                changed.sort_unstable();
                changed.dedup();
            }
            if !subs.is_empty() {
                let reader = Reader::Doc(doc.transact(), objects);
                for sub in subs.iter_mut() {
                    if let Some(c) = sub.apply(index, &reader, &changed) {
                        notes.push((sub.cb.clone(), c));
                    }
                }
            }
            if sink.props {
                let name = read_prop(&doc.transact(), props, "name")
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                if name != record.name {
                    record.name = name;
                    *record_dirty = true;
                }
            }
            if record.objects != index.live() {
                record.objects = index.live();
                *record_dirty = true;
            }
        }
        if self.persist.is_some() {
            st.dirty.extend(changed);
        }
        for u in sink.updates {
            st.seq += 1;
            st.log_bytes += u.len();
            for (_, l) in &st.listeners {
                l(&u, origin);
            }
            if let Some((_, tx)) = &self.persist {
                let _ = tx.send(Msg::Append { space: *self.id.as_bytes(), seq: st.seq, update: u });
            }
        }
        if sink.props {
            self.send_record(st);
        }
        if let Some((_, tx)) = &self.persist
            && st.log_bytes > self.options.snapshot_min_bytes.max(st.snapshot_bytes)
        {
            let data = st.doc.transact().encode_state_as_update_v1(&StateVector::default());
            st.snapshot_bytes = data.len();
            st.log_bytes = 0;
            self.send_record(st);
            let _ = tx.send(Msg::Snapshot { space: *self.id.as_bytes(), seq: st.seq, data });
            self.materialize_locked(st);
        }
        notes
    }

    /// Writes the materialized rows of objects changed since the last time (all of them after
    /// a load from the log), so the next open answers queries before loading the document.
    pub(crate) fn materialize(&self) {
        let mut st = lock(&self.state);
        self.materialize_locked(&mut st);
    }

    fn materialize_locked(&self, st: &mut State) {
        let Some((_, tx)) = &self.persist else { return };
        if st.preview.is_some() || (st.dirty.is_empty() && !st.rewrite_all) {
            return;
        }
        let full = std::mem::take(&mut st.rewrite_all);
        let ids: Vec<ObjectId> = if full {
            st.dirty.clear();
            st.index.candidates(None).cloned().collect()
        } else {
            st.dirty.drain().collect()
        };
        let txn = st.doc.transact();
        let rows = ids
            .into_iter()
            .map(|id| {
                let row = read_object(&txn, &st.objects, &id).and_then(|o| {
                    serde_json::to_vec(&store::Row { typename: o.typename, deleted: o.deleted, data: o.data }).ok()
                });
                (id.to_string(), row)
            })
            .collect();
        let _ = tx.send(Msg::Materialize { space: *self.id.as_bytes(), seq: st.seq, full, rows });
    }

    fn send_record(&self, st: &mut State) {
        if !st.record_dirty {
            return;
        }
        if let Some((_, tx)) = &self.persist {
            let _ = tx.send(Msg::Record { space: *self.id.as_bytes(), record: st.record.clone() });
        }
        st.record_dirty = false;
    }

    fn sync_record(&self) {
        let mut st = lock(&self.state);
        self.send_record(&mut st);
    }

    fn undo_redo(&self, undo: bool) -> bool {
        let mut st = lock(&self.state);
        if st.preview.is_some() {
            return false; // no history before the document is loaded
        }
        let objects = st.objects.clone();
        let Some(um) = st.undo.as_mut() else {
            return false;
        };
        let done = observing_ids(&objects, &self.sink, || if undo { um.undo_blocking() } else { um.redo_blocking() });
        let notes = self.after_txn(&mut st, UpdateOrigin::Local);
        drop(st);
        notify(notes);
        done
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
