//! Loading a space: its document built from the stored snapshot and log on a background
//! thread, reads served from the materialized objects meanwhile, and the document installed
//! when it is ready (or when a write needs it first).

use super::*;

use std::sync::MutexGuard;
use std::sync::mpsc::TryRecvError;

/// How often a writer waiting for a load looks whether the loader went away.
const LOAD_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// A document loaded from storage, observed into a sink, with its index built.
pub(super) struct Loaded {
    pub(super) doc: Doc,
    pub(super) objects: MapRef,
    pub(super) props: MapRef,
    pub(super) index: Index,
    pub(super) seq: u64,
    pub(super) log_bytes: usize,
    pub(super) snapshot_bytes: usize,
}

/// Builds a space's document from its stored snapshot and log, then observes it into `sink`
/// (after loading, so loading does not write the log again) and indexes its objects.
pub(super) fn load_doc(id: PublicKey, stored: Option<store::Stored>, sink: &Arc<Mutex<Sink>>) -> Result<Loaded> {
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
            compacted: Arc::default(),
            record: fresh,
            record_dirty,
            preview: None,
            loading: None,
            dirty: foldhash::HashSet::default(),
            // Loaded from the log: the materialized rows (if any) may lag behind.
            rewrite_all: !is_new && persist.is_some(),
            undo_wanted: false,
            generation: 0,
        };
        let space = Space::wrap(id, state, sink, persist, options);
        space.inner.sync_record();
        Ok(space)
    }

    pub(super) fn wrap(
        id: PublicKey,
        state: State,
        sink: Arc<Mutex<Sink>>,
        persist: Option<(Arc<Database>, Sender<Msg>)>,
        options: SpaceOptions,
    ) -> Space {
        let last_name = Mutex::new(state.record.name.clone());
        Space {
            inner: Arc::new(SpaceInner {
                id,
                state: Mutex::new(state),
                sink,
                persist,
                next_id: AtomicU64::new(1),
                options,
                loaded: std::sync::Condvar::new(),
                last_name,
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
}

impl SpaceInner {
    /// Waits for a background load, if one is under way, until its document is installed.
    /// The state's lock is released while waiting (readers carry on from the stored rows);
    /// the guard is handed back, locked, once the document is in.
    pub(super) fn ensure_loaded<'a>(&'a self, mut st: MutexGuard<'a, State>) -> Result<(MutexGuard<'a, State>, Notes)> {
        let mut notes = Vec::new();
        while st.preview.is_some() {
            let failed = || EchoError::Corrupt(format!("space {} could not be loaded", self.id));
            match st.loading.as_ref().map(|rx| rx.try_recv()) {
                // The loader failed earlier, or went away without an answer.
                None | Some(Err(TryRecvError::Disconnected)) => return Err(failed()),
                Some(Ok(Ok(loaded))) => notes.extend(self.install(&mut st, loaded)),
                Some(Ok(Err(e))) => {
                    st.loading = None;
                    tracing::error!("echo: space {} could not be loaded: {e}", self.id);
                    return Err(e);
                }
                // Not yet: wait (without the lock) for the loader to install it.
                Some(Err(TryRecvError::Empty)) => {
                    st = self.loaded.wait_timeout(st, LOAD_CHECK).map(|(g, _)| g).unwrap_or_else(|e| e.into_inner().0);
                }
            }
        }
        Ok((st, notes))
    }

    /// Called by the background loader when it is done: installs the document if no one has.
    pub(super) fn finish_loading(&self) {
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
        // Writers waiting for the document go on (or learn that it failed).
        self.loaded.notify_all();
        notify(notes);
    }

    /// Swaps the loaded document in for the materialized preview, and brings subscriptions
    /// in line with it (they match unless the rows were stale).
    pub(super) fn install(&self, st: &mut State, loaded: Loaded) -> Notes {
        st.doc = loaded.doc;
        st.generation += 1;
        st.objects = loaded.objects;
        st.props = loaded.props;
        st.index = loaded.index;
        st.seq = loaded.seq;
        st.log_bytes = loaded.log_bytes;
        st.snapshot_bytes = loaded.snapshot_bytes;
        st.preview = None;
        st.loading = None;
        if st.undo_wanted && st.undo.is_none() {
            st.undo = Some(undo_manager(&st.doc, &st.objects, &st.props));
        }
        let State { subs, index, doc, objects, .. } = st;
        let reader = Reader::Doc(doc.transact(), objects);
        let mut notes = Vec::new();
        for sub in subs.iter_mut() {
            let now: HashSet<ObjectId> = match &sub.target {
                Target::Query(q) => query_results(q, index, &reader).cloned().collect(),
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
}
