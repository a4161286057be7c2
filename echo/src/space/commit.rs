//! Committing to a space: local writes in one yrs transaction each, and after every
//! transaction (local, remote or undo) the index, subscriptions, update listeners, the
//! store's log and the materialized rows are brought up to date.

use super::*;

impl SpaceInner {
    /// Runs `f` in one local transaction. `touched` names the one object `f` may change: local
    /// writes say which object they touch, so the deep observer only works for remote changes.
    pub(super) fn write<R>(
        &self,
        touched: Option<(&ObjectId, Hint)>,
        f: impl FnOnce(&mut TransactionMut, &MapRef, &MapRef) -> Result<R>,
    ) -> Result<R> {
        let (mut st, mut notes) = self.ensure_loaded(lock(&self.state))?;
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
    pub(super) fn with_doc<R>(&self, f: impl FnOnce(&mut State) -> R) -> Result<R> {
        let (mut st, notes) = self.ensure_loaded(lock(&self.state))?;
        let r = f(&mut st);
        drop(st);
        notify(notes);
        Ok(r)
    }

    pub(super) fn write_object(
        &self,
        id: &str,
        f: impl FnOnce(&mut TransactionMut, &MapRef) -> Result<()>,
    ) -> Result<()> {
        self.write_object_as(id, Hint::Unchanged, f)
    }

    pub(super) fn write_object_as(
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

    /// Replaces the document with one rebuilt from the updates committed before this one.
    pub(super) fn rebuild(&self, st: &mut State) -> Result<()> {
        let Some((db, tx)) = &self.persist else {
            return Err(EchoError::MalformedUpdate(
                "the update could not be applied, and this in-memory space cannot be rebuilt".into(),
            ));
        };
        store::flush(tx)?;
        let stored = store::read_space(db, self.id.as_bytes())?;
        let loaded = load_doc(self.id, Some(stored), &self.sink)?;
        st.doc = loaded.doc;
        st.generation += 1;
        st.objects = loaded.objects;
        st.props = loaded.props;
        st.index = loaded.index;
        // The undo history pointed into the old document.
        st.undo = None;
        Ok(())
    }

    /// Feeds what the last transaction changed to the index, subscriptions, listeners and store.
    pub(super) fn after_txn(&self, st: &mut State, origin: UpdateOrigin) -> Notes {
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
        if let Some((_, tx)) = &self.persist {
            let made = st.compacted.swap(0, AtomicOrdering::Relaxed);
            if made > 0 {
                st.snapshot_bytes = made;
            }
            if st.log_bytes > self.options.snapshot_min_bytes.max(st.snapshot_bytes) {
                // The store's writer thread compacts (it encodes the document whole): not here,
                // under the state lock, on the thread that wrote (the UI's, for an edit in the
                // window). Until it says how large the snapshot
                // came out, count it as the old one and the log together.
                st.snapshot_bytes += st.log_bytes;
                st.log_bytes = 0;
                self.send_record(st);
                let size = st.compacted.clone();
                let doc = st.doc.clone();
                let _ = tx.send(Msg::Compact { space: *self.id.as_bytes(), seq: st.seq, doc, size });
                self.materialize_locked(st);
            }
        }
        notes
    }

    pub(super) fn materialize_locked(&self, st: &mut State) {
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

    pub(super) fn send_record(&self, st: &mut State) {
        if !st.record_dirty {
            return;
        }
        if let Some((_, tx)) = &self.persist {
            let _ = tx.send(Msg::Record { space: *self.id.as_bytes(), record: st.record.clone() });
        }
        st.record_dirty = false;
    }

    pub(super) fn sync_record(&self) {
        let mut st = lock(&self.state);
        self.send_record(&mut st);
    }

    pub(super) fn undo_redo(&self, undo: bool) -> bool {
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
}
