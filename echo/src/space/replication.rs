//! Replicating a space: its state vector, diffs and whole-document export, and updates from
//! outside (peers, imports) decoded and applied with panics caught, so a malformed one is an
//! error that changes nothing.

use super::*;

/// Decodes a Yjs v1 update from outside, turning a decoder panic into an error.
pub(crate) fn decode_update(bytes: &[u8]) -> Result<Update> {
    match catch_unwind(|| Update::decode_v1(bytes)) {
        Ok(Ok(u)) => Ok(u),
        Ok(Err(e)) => Err(EchoError::MalformedUpdate(e.to_string())),
        Err(_) => Err(EchoError::MalformedUpdate("the update could not be decoded".into())),
    }
}

impl Space {
    /// Listens to every update as it happens (encoded Yjs v1), with its origin: the hook
    /// replication sends local changes through.
    pub fn on_update(&self, cb: impl Fn(&[u8], UpdateOrigin) + Send + Sync + 'static) -> UpdateListener {
        let id = self.inner.next_id.fetch_add(1, AtomicOrdering::Relaxed);
        lock(&self.inner.state).listeners.push((id, Arc::new(cb)));
        UpdateListener { space: Arc::downgrade(&self.inner), id }
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
}

impl SpaceInner {
    pub(super) fn apply(&self, bytes: &[u8], origin: UpdateOrigin) -> Result<()> {
        let update = decode_update(bytes)?;
        let (mut st, mut notes) = self.ensure_loaded(lock(&self.state))?;
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
}
