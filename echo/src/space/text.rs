//! [`TextEditor`]: a collaborative text property as an editor holds it.
//!
//! An editor shows a buffer, changes it at a position, keeps a cursor in it and undoes its own
//! typing. Here each local change becomes one `Y.Text` insert or delete at its position (in a
//! transaction marked with the editor's own origin), the visible buffer is a rope kept in step
//! (so a change costs O(log n) beside yrs' own work, at any document size), the selection is
//! held as yrs sticky indices (so it stays between the same characters whatever others insert
//! or delete around it), and undo is a yrs `UndoManager` scoped to this text and tracking only
//! the editor's origin: Ctrl+Z never undoes a collaborator's typing, nor a change made
//! elsewhere in this process. Positions in this API count Unicode scalar values (chars), as
//! egui does; the text's own offsets are UTF-16 code units, as Yjs counts them.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use ropey::Rope;
use yrs::branch::BranchPtr;
use yrs::types::Delta;
use yrs::types::text::TextEvent;
use yrs::undo::Options as UndoOptions;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Assoc, IndexedSequence, Origin, StickyIndex, TextRef};

use super::*;

/// Undo groups an editor's changes closer together than this (a burst of typing).
const EDITOR_UNDO_CAPTURE_MS: u64 = 500;
/// Editors' transaction origins: this bit and a counter.
const EDITOR_ORIGINS: u64 = 0xD0C5_0000_0000_0000;

/// Wakes whoever draws the editor when the text changed from elsewhere.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The text as bound to the document of the moment.
struct Bound {
    text: TextRef,
    /// The object's map and the space's objects map, observed (shallowly) for the text being
    /// replaced, the object deleted or the object itself replaced.
    object: MapRef,
    objects: MapRef,
    undo: UndoManager,
    generation: u64,
    /// The key of the observer that collects changes made by anyone else into [`Pending`].
    observer: Origin,
}

impl Drop for Bound {
    fn drop(&mut self) {
        self.text.unobserve(self.observer.clone());
        self.object.unobserve(self.observer.clone());
        self.objects.unobserve(self.observer.clone());
    }
}

/// One step of a change to the text, in UTF-16 code units (as yrs reports them).
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Retain(u32),
    Insert(String),
    Delete(u32),
}

/// Changes from elsewhere not yet applied to the buffer, one `Vec` per transaction.
#[derive(Default)]
struct Pending {
    changes: Vec<Vec<Op>>,
    /// A change the buffer cannot follow step by step (an embed from another client): reload.
    reload: bool,
}

/// A selection held as positions in the text's history rather than offsets.
struct Sticky {
    anchor: StickyIndex,
    head: StickyIndex,
}

/// A collaborative text property (e.g. a document's `content`) opened for editing: the buffer
/// to show, local edits, the local selection kept through remote changes, and per-editor
/// undo. Open with [`Space::text_editor`]; call [`TextEditor::refresh`] before drawing.
pub struct TextEditor {
    space: Space,
    id: ObjectId,
    key: String,
    origin: Origin,
    bound: Option<Bound>,
    rope: Rope,
    /// The rope as one string, made when first asked for after a change.
    cache: std::cell::OnceCell<String>,
    sticky: Option<Sticky>,
    /// The selection in chars (anchor, head), as last set or mapped.
    selection: Option<(usize, usize)>,
    pending: Arc<Mutex<Pending>>,
    /// Counts changes to the buffer (see [`TextEditor::version`]).
    version: u64,
    /// Set when the object changed (its text may have been replaced, or it deleted).
    object_changed: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl std::fmt::Debug for TextEditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEditor").field("id", &self.id).field("key", &self.key).finish_non_exhaustive()
    }
}

impl Space {
    /// Opens the collaborative text property `key` of object `id` for editing. A missing
    /// property, or a plain string written by another client, becomes a `Y.Text` holding the
    /// same characters; any other value is refused.
    pub fn text_editor(&self, id: &str, key: &str) -> Result<TextEditor> {
        check_keys(&Map::from_iter([(key.to_owned(), Value::Null)]))?;
        self.ensure_text(id, key)?;
        static NEXT: AtomicU64 = AtomicU64::new(1);
        // Eight bytes, so a transaction's origin is cloned without allocating (every keystroke
        // is a transaction); above any address, so it never equals an undo manager's origin.
        let origin = Origin::from(EDITOR_ORIGINS | NEXT.fetch_add(1, AtomicOrdering::Relaxed));
        let object_changed = Arc::new(AtomicBool::new(true));
        let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        let mut editor = TextEditor {
            space: self.clone(),
            id: Arc::from(id),
            key: key.to_owned(),
            origin,
            bound: None,
            rope: Rope::new(),
            cache: std::cell::OnceCell::new(),
            sticky: None,
            selection: None,
            pending: Arc::default(),
            version: 0,
            object_changed,
            waker,
        };
        editor.refresh()?;
        Ok(editor)
    }

    /// Makes property `key` of object `id` a `Y.Text` if it is missing or a plain string.
    fn ensure_text(&self, id: &str, key: &str) -> Result<()> {
        let current = self.inner.with_doc(|st| {
            let txn = st.doc.transact();
            let m = object_map(&txn, &st.objects, id).ok_or_else(|| EchoError::ObjectNotFound(id.to_owned()))?;
            Ok::<_, EchoError>(match m.get(&txn, key) {
                Some(Out::YText(_)) => None,
                None => Some(String::new()),
                Some(Out::Any(Any::String(s))) => Some(s.to_string()),
                Some(_) => {
                    return Err(EchoError::InvalidValue(format!(
                        "property {key:?} of {id} is not text, so it cannot be edited as text"
                    )));
                }
            })
        })??;
        match current {
            Some(text) => self.set_text(id, key, &text),
            None => Ok(()),
        }
    }
}

/// An editor is opened on a worker thread (opening may wait for the space to load) and then
/// handed to the UI thread.
#[allow(dead_code)]
fn editor_is_send(e: TextEditor) -> impl Send {
    e
}

fn wake(waker: &Mutex<Option<Waker>>) {
    let w = lock(waker).clone();
    if let Some(w) = w {
        w();
    }
}

fn out_of_range(at: usize, len: usize) -> EchoError {
    EchoError::InvalidValue(format!("position {at} is outside the text (length {len} characters)"))
}

impl TextEditor {
    /// The object this edits.
    pub fn object_id(&self) -> &str {
        &self.id
    }

    /// The text as it is now (after the last [`TextEditor::refresh`] and local edits).
    pub fn text(&self) -> &str {
        self.cache.get_or_init(|| self.rope.to_string())
    }

    /// A number that changes whenever the buffer does (for caching what is drawn from it).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The number of characters (Unicode scalar values) in the text.
    pub fn len_chars(&self) -> usize {
        self.rope.len_chars()
    }

    /// The text as a rope (cheap to slice: for drawing only what is visible).
    pub fn rope(&self) -> &Rope {
        &self.rope
    }

    /// Calls `waker` (from any thread) when the text changes from elsewhere, so a UI repaints.
    pub fn set_waker(&self, waker: Waker) {
        *lock(&self.waker) = Some(waker);
    }

    /// Inserts `text` before character `at`.
    pub fn insert(&mut self, at: usize, text: &str) -> Result<()> {
        self.splice(at..at, text)
    }

    /// Deletes the characters in `range`.
    pub fn delete(&mut self, range: Range<usize>) -> Result<()> {
        self.splice(range, "")
    }

    /// Replaces the characters in `range` of the buffer as last seen with `text`: a delete and
    /// an insert at that position, in one transaction. A change from elsewhere that arrived
    /// since is applied first, and the range is moved through it, so the edit lands where the
    /// user made it.
    pub fn splice(&mut self, range: Range<usize>, text: &str) -> Result<()> {
        let len = self.rope.len_chars();
        if range.start > range.end || range.end > len {
            return Err(out_of_range(range.end.max(range.start), len));
        }
        if range.is_empty() && text.is_empty() {
            return Ok(());
        }
        let space = self.space.clone();
        let inner = &space.inner;
        let (mut st, mut notes) = inner.ensure_loaded(lock(&inner.state))?;
        // Under the space's lock nothing else changes the text: catch up with what did, moving
        // the range through it.
        // The range's start follows the character after it; its end the one before it, so an
        // insert right at the end of a deleted range is not deleted with it.
        let mut at = [(range.start, true), (range.end, range.is_empty())];
        let caught_up = self.catch_up_locked(&st, &mut at);
        if let Err(e) = caught_up {
            drop(st);
            notify(notes);
            return Err(e);
        }
        let [(start, _), (end, _)] = at;
        let Some(bound) = self.bound.as_ref() else {
            drop(st);
            notify(notes);
            return Err(self.not_text());
        };
        let u_start = self.rope.char_to_utf16_cu(start) as u32;
        let u_end = if end == start { u_start } else { self.rope.char_to_utf16_cu(end) as u32 };
        lock(&inner.sink).known.push((self.id.clone(), Hint::Unchanged));
        {
            let mut txn = st.doc.transact_mut_with(self.origin.clone());
            if u_end > u_start {
                bound.text.remove_range(&mut txn, u_start, u_end - u_start);
            }
            if !text.is_empty() {
                bound.text.insert(&mut txn, u_start, text);
            }
        }
        notes.extend(inner.after_txn(&mut st, UpdateOrigin::Local));
        drop(st);
        notify(notes);
        if end > start {
            self.rope.remove(start..end);
        }
        if !text.is_empty() {
            self.rope.insert(start, text);
        }
        self.cache = std::cell::OnceCell::new();
        self.version += 1;
        // The caller places the cursor after its edit (set_selection); the old one is moot.
        self.sticky = None;
        self.selection = None;
        Ok(())
    }

    fn not_text(&self) -> EchoError {
        EchoError::InvalidValue(format!("property {:?} of {} is not collaborative text", self.key, self.id))
    }

    /// With the space's state locked: binds the current text if the object changed (a new
    /// text, a reloaded document), and applies changes from elsewhere to the buffer, moving
    /// the char positions in `at` through them (see [`catch_up`]). Returns whether the buffer
    /// changed.
    fn catch_up_locked(&mut self, st: &State, at: &mut [(usize, bool)]) -> Result<bool> {
        let object_changed = self.object_changed.swap(false, AtomicOrdering::AcqRel);
        if object_changed || self.bound.is_none() {
            let txn = st.doc.transact();
            let m = object_map(&txn, &st.objects, &self.id)
                .ok_or_else(|| EchoError::ObjectNotFound(self.id.to_string()))?;
            let Some(Out::YText(current)) = m.get(&txn, &self.key) else {
                return Err(self.not_text());
            };
            let stale = self.bound.as_ref().is_none_or(|b| b.generation != st.generation || b.text != current);
            if stale {
                let text = current.get_string(&txn);
                drop(txn);
                // The old binding (and its observer) goes before the new one is made.
                self.bound = None;
                lock(&self.pending).changes.clear();
                let watch = Watch { object: m, id: self.id.clone(), changed: self.object_changed.clone() };
                self.bound = Some(bind(st, current, watch, &self.pending, &self.waker, self.origin.clone()));
                let changed = self.rope != text.as_str();
                if changed {
                    self.rope = Rope::from_str(&text);
                    self.cache = std::cell::OnceCell::new();
                    self.version += 1;
                }
                let len = self.rope.len_chars();
                for (p, _) in at.iter_mut() {
                    *p = (*p).min(len);
                }
                return Ok(changed);
            }
        }
        let pending = std::mem::take(&mut *lock(&self.pending));
        if pending.changes.is_empty() && !pending.reload {
            return Ok(false);
        }
        let Some(bound) = self.bound.as_ref() else { return Err(self.not_text()) };
        catch_up(&mut self.rope, &bound.text, &st.doc.transact(), pending, at);
        self.cache = std::cell::OnceCell::new();
        self.version += 1;
        Ok(true)
    }

    /// Makes the text `new` with the smallest single change from what it is (common prefix and
    /// suffix kept), for an editor that hands back a whole buffer. `cursor`, the cursor after
    /// the change (in chars of `new`), says where the change was when that is ambiguous
    /// (typing "a" after "a" in "aa"). Returns whether anything changed.
    pub fn replace_with(&mut self, new: &str, cursor: Option<usize>) -> Result<bool> {
        let Some((range, insert)) = diff(self.text(), new, cursor) else {
            return Ok(false);
        };
        let insert = insert.to_owned();
        self.splice(range, &insert)?;
        Ok(true)
    }

    /// Sets the local selection (anchor and head, in chars; equal for a plain cursor). It is
    /// kept as sticky positions, so [`TextEditor::selection`] follows it through others' edits.
    pub fn set_selection(&mut self, anchor: usize, head: usize) {
        let len = self.rope.len_chars();
        let (anchor, head) = (anchor.min(len), head.min(len));
        if self.selection == Some((anchor, head)) && self.sticky.is_some() {
            return;
        }
        self.selection = Some((anchor, head));
        self.sticky = match (self.sticky_at(anchor), self.sticky_at(head)) {
            (Some(anchor), Some(head)) => Some(Sticky { anchor, head }),
            _ => None,
        };
    }

    /// The local selection (anchor, head) in chars, as mapped through every change since set.
    pub fn selection(&self) -> Option<(usize, usize)> {
        self.selection
    }

    /// A position in the text's history for character `at`, that stays between the same two
    /// characters whatever is inserted or deleted around them (for the selection, presence).
    /// Made against the document as it is: call it right after [`TextEditor::refresh`].
    pub fn sticky_at(&self, at: usize) -> Option<StickyIndex> {
        let bound = self.bound.as_ref()?;
        let len = self.rope.len_chars();
        let at = at.min(len);
        let utf16 = self.rope.char_to_utf16_cu(at) as u32;
        // Stick to the character after the position; at the very end, to the one before.
        let assoc = if at == len { Assoc::Before } else { Assoc::After };
        self.space.inner.with_doc(|st| bound.text.sticky_index(&st.doc.transact(), utf16, assoc)).ok().flatten()
    }

    /// [`TextEditor::sticky_at`] encoded (Yjs' relative position, v1), for sending to peers.
    pub fn encode_position(&self, at: usize) -> Option<Vec<u8>> {
        self.sticky_at(at).map(|s| s.encode_v1())
    }

    /// Where an encoded position ([`TextEditor::encode_position`], maybe from a peer) is now,
    /// in chars of the buffer; `None` when it is malformed or not in this text.
    pub fn decode_position(&self, bytes: &[u8]) -> Option<usize> {
        let sticky = catch_unwind(|| StickyIndex::decode_v1(bytes)).ok()?.ok()?;
        self.resolve(&sticky)
    }

    /// Where a sticky position is now, in chars of the buffer; `None` when it is not in this
    /// text.
    pub fn resolve(&self, sticky: &StickyIndex) -> Option<usize> {
        let bound = self.bound.as_ref()?;
        let offset = self
            .space
            .inner
            .with_doc(|st| {
                let txn = st.doc.transact();
                // A malformed position from a peer must not take the editor down with it.
                catch_unwind(AssertUnwindSafe(|| sticky.get_offset(&txn))).ok().flatten()
            })
            .ok()
            .flatten()?;
        if offset.branch != BranchPtr::from(AsRef::<yrs::branch::Branch>::as_ref(&bound.text)) {
            return None;
        }
        let utf16 = (offset.index as usize).min(self.rope.len_utf16_cu());
        Some(self.rope.utf16_cu_to_char(utf16))
    }

    /// Brings the buffer up to date with changes from elsewhere (peers, undo, a rebuilt or
    /// replaced text) and maps the selection through them. Returns whether the text changed.
    pub fn refresh(&mut self) -> Result<bool> {
        if !self.object_changed.load(AtomicOrdering::Acquire) && self.bound.is_some() {
            let p = lock(&self.pending);
            if p.changes.is_empty() && !p.reload {
                return Ok(false);
            }
        }
        let space = self.space.clone();
        let changed = space.inner.with_doc(|st| self.catch_up_locked(st, &mut []))??;
        if !changed {
            return Ok(false);
        }
        let len = self.rope.len_chars();
        let clamp = |sel: Option<(usize, usize)>| sel.map(|(a, h)| (a.min(len), h.min(len)));
        self.selection = match &self.sticky {
            Some(s) => match (self.resolve(&s.anchor), self.resolve(&s.head)) {
                (Some(a), Some(h)) => Some((a, h)),
                _ => clamp(self.selection),
            },
            None => clamp(self.selection),
        };
        Ok(true)
    }

    /// Undoes this editor's last group of changes (never anyone else's). Returns whether
    /// there was one; the buffer shows the result.
    pub fn undo(&mut self) -> Result<bool> {
        self.undo_redo(true)
    }

    /// Redoes the last undone group. Returns whether there was one.
    pub fn redo(&mut self) -> Result<bool> {
        self.undo_redo(false)
    }

    /// Whether there is something of this editor's to undo.
    pub fn can_undo(&self) -> bool {
        self.bound.as_ref().is_some_and(|b| b.undo.can_undo())
    }

    /// Whether there is something to redo.
    pub fn can_redo(&self) -> bool {
        self.bound.as_ref().is_some_and(|b| b.undo.can_redo())
    }

    /// Ends the current undo group: the next change is undone on its own.
    pub fn undo_boundary(&mut self) {
        if let Some(b) = self.bound.as_mut() {
            b.undo.reset();
        }
    }

    fn undo_redo(&mut self, undo: bool) -> Result<bool> {
        self.refresh()?;
        let Some(bound) = self.bound.as_mut() else {
            return Ok(false);
        };
        let inner = &self.space.inner;
        let (mut st, mut notes) = inner.ensure_loaded(lock(&inner.state))?;
        if bound.generation != st.generation {
            return Ok(false); // the history pointed into a document since replaced
        }
        let objects = st.objects.clone();
        let um = &mut bound.undo;
        let done = observing_ids(&objects, &inner.sink, || if undo { um.undo_blocking() } else { um.redo_blocking() });
        notes.extend(inner.after_txn(&mut st, UpdateOrigin::Local));
        drop(st);
        notify(notes);
        // The undo's own change reached the buffer's queue (its origin is not the editor's).
        self.refresh()?;
        Ok(done)
    }
}

/// What to watch besides the text: the object holding it.
struct Watch {
    object: MapRef,
    id: ObjectId,
    changed: Arc<AtomicBool>,
}

/// Binds `text` of the current document: its undo manager (this editor's origin only), an
/// observer that queues changes made by anyone else, and observers of the object's own keys and
/// of the objects map (not of every edit: they fire when the text property is replaced, the
/// object deleted or replaced).
fn bind(
    st: &State,
    text: TextRef,
    watch: Watch,
    pending: &Arc<Mutex<Pending>>,
    waker: &Arc<Mutex<Option<Waker>>>,
    origin: Origin,
) -> Bound {
    let mut undo = UndoManager::with_options(UndoOptions {
        capture_timeout_millis: EDITOR_UNDO_CAPTURE_MS,
        ..UndoOptions::default()
    });
    undo.expand_scope(&st.doc, &text);
    undo.include_origin(origin.clone());
    let (pending, waker) = (pending.clone(), waker.clone());
    static NEXT_OBSERVER: AtomicU64 = AtomicU64::new(1);
    let key =
        Origin::from(format!("dxos-editor-observer-{}", NEXT_OBSERVER.fetch_add(1, AtomicOrdering::Relaxed)).as_str());
    let Watch { object, id, changed } = watch;
    {
        let (changed, waker) = (changed.clone(), waker.clone());
        object.observe(key.clone(), move |_txn: &TransactionMut, _e: &yrs::types::map::MapEvent| {
            changed.store(true, AtomicOrdering::Release);
            wake(&waker);
        });
    }
    {
        let (waker, id) = (waker.clone(), id.clone());
        st.objects.observe(key.clone(), move |txn: &TransactionMut, e: &yrs::types::map::MapEvent| {
            if e.keys(txn).contains_key(&id) {
                changed.store(true, AtomicOrdering::Release);
                wake(&waker);
            }
        });
    }
    text.observe(key.clone(), move |txn: &TransactionMut, e: &TextEvent| {
        if txn.origin() == Some(&origin) {
            return; // the editor's own change: already in its buffer
        }
        let mut ops = Vec::new();
        let mut reload = false;
        for d in e.delta(txn) {
            match d {
                Delta::Retain(n, _) => ops.push(Op::Retain(*n)),
                Delta::Deleted(n) => ops.push(Op::Delete(*n)),
                Delta::Inserted(Out::Any(Any::String(s)), _) => ops.push(Op::Insert(s.to_string())),
                // An embed or a nested type: not characters of the buffer.
                Delta::Inserted(..) => reload = true,
            }
        }
        {
            let mut p = lock(&pending);
            p.changes.push(ops);
            p.reload |= reload;
        }
        wake(&waker);
    });
    Bound { text, object, objects: st.objects.clone(), undo, generation: st.generation, observer: key }
}

/// Applies queued changes from elsewhere to `rope`, moving the char positions in `at` through
/// them; reads the text whole if they cannot be followed (or do not add up). A position marked
/// `true` follows the character after it (an insert right at it goes before it), one marked
/// `false` the character before it.
fn catch_up<T: ReadTxn>(rope: &mut Rope, text: &TextRef, txn: &T, pending: Pending, at: &mut [(usize, bool)]) {
    let mut ok = !pending.reload;
    if ok {
        'changes: for ops in &pending.changes {
            let mut pos: usize = 0; // UTF-16 position in the rope as changed so far
            for op in ops {
                match op {
                    Op::Retain(n) => pos += *n as usize,
                    Op::Insert(s) => {
                        if pos > rope.len_utf16_cu() {
                            ok = false;
                            break 'changes;
                        }
                        let c = rope.utf16_cu_to_char(pos);
                        let n = s.chars().count();
                        for (p, after) in at.iter_mut() {
                            if *p > c || (*p == c && *after) {
                                *p += n;
                            }
                        }
                        rope.insert(c, s);
                        pos += s.encode_utf16().count();
                    }
                    Op::Delete(n) => {
                        let end = pos + *n as usize;
                        if end > rope.len_utf16_cu() {
                            ok = false;
                            break 'changes;
                        }
                        let (c0, c1) = (rope.utf16_cu_to_char(pos), rope.utf16_cu_to_char(end));
                        for (p, _) in at.iter_mut() {
                            if *p >= c1 {
                                *p -= c1 - c0;
                            } else if *p > c0 {
                                *p = c0;
                            }
                        }
                        rope.remove(c0..c1);
                    }
                }
            }
        }
    }
    if !ok || rope.len_utf16_cu() != text.len(txn) as usize {
        let whole = text.get_string(txn);
        *rope = Rope::from_str(&whole);
        let len = rope.len_chars();
        for (p, _) in at.iter_mut() {
            *p = (*p).min(len);
        }
    }
}

/// The one change that turns `old` into `new`: the replaced range of `old` (in chars) and the
/// inserted text, or `None` when they are equal. With the cursor after the change, an insert
/// or delete inside a run of equal characters is placed where the cursor says.
pub fn diff<'a>(old: &str, new: &'a str, cursor: Option<usize>) -> Option<(Range<usize>, &'a str)> {
    if old == new {
        return None;
    }
    // Common prefix and suffix, in chars, never overlapping.
    let prefix = old.chars().zip(new.chars()).take_while(|(a, b)| a == b).count();
    let (old_len, new_len) = (old.chars().count(), new.chars().count());
    let max_suffix = old_len.min(new_len) - prefix;
    let suffix = old.chars().rev().zip(new.chars().rev()).take(max_suffix).take_while(|(a, b)| a == b).count();
    let (mut start, mut old_end, mut new_end) = (prefix, old_len - suffix, new_len - suffix);
    if let Some(cursor) = cursor {
        if old_end == start && new_end > start {
            // A pure insert of n chars: it may sit anywhere in [old_len - longest suffix, prefix].
            let n = new_end - start;
            let wanted = cursor.saturating_sub(n).min(start);
            let shift = start - wanted;
            if shift > 0 && slides(old, new, wanted, n, true) {
                start = wanted;
                old_end -= shift;
                new_end -= shift;
            }
        } else if new_end == start && old_end > start {
            let n = old_end - start;
            let wanted = cursor.min(start);
            let shift = start - wanted;
            if shift > 0 && slides(old, new, wanted, n, false) {
                start = wanted;
                old_end -= shift;
                new_end -= shift;
            }
        }
    }
    let byte = |s: &str, chars: usize| s.char_indices().nth(chars).map_or(s.len(), |(i, _)| i);
    Some((start..old_end, &new[byte(new, start)..byte(new, new_end)]))
}

/// Whether inserting (or deleting) `n` chars at `at` instead also turns `old` into `new`.
fn slides(old: &str, new: &str, at: usize, n: usize, insert: bool) -> bool {
    let (long, short) = if insert { (new, old) } else { (old, new) };
    let head_ok = long.chars().take(at).eq(short.chars().take(at));
    let tail_ok = long.chars().skip(at + n).eq(short.chars().skip(at));
    head_ok && tail_ok
}

#[cfg(test)]
mod tests {
    use super::diff;

    #[test]
    fn diff_finds_the_one_change() {
        assert_eq!(diff("abc", "abc", None), None);
        assert_eq!(diff("abc", "abXc", None), Some((2..2, "X")));
        assert_eq!(diff("abc", "ac", None), Some((1..2, "")));
        assert_eq!(diff("abc", "aYc", None), Some((1..2, "Y")));
        assert_eq!(diff("", "héllo", None), Some((0..0, "héllo")));
        assert_eq!(diff("a😀b", "a😀😀b", None), Some((2..2, "😀")));
    }

    #[test]
    fn diff_places_an_ambiguous_change_at_the_cursor() {
        // Typing "a" after the first "a" of "aa": cursor 2 in "aaa".
        assert_eq!(diff("aa", "aaa", Some(2)), Some((1..1, "a")));
        assert_eq!(diff("aa", "aaa", Some(1)), Some((0..0, "a")));
        assert_eq!(diff("aa", "aaa", None), Some((2..2, "a")));
        // Backspace of the first "a" in "aaa": cursor 0.
        assert_eq!(diff("aaa", "aa", Some(0)), Some((0..1, "")));
        assert_eq!(diff("abab", "ababab", Some(4)), Some((2..2, "ab")));
        // A cursor that does not fit the change is ignored.
        assert_eq!(diff("abc", "abXc", Some(0)), Some((2..2, "X")));
    }
}
