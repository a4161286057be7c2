//! Two people typing into one paragraph, through [`TextEditor`]: every character of both is
//! kept, both replicas end with the same text, and each one's cursor stays between the same
//! characters through the other's edits, whatever order and timing the updates arrive in.

use std::sync::{Arc, Mutex};

use dxos_echo::{DOCUMENT_CONTENT, Space, SpaceOptions, TextEditor, UpdateListener, UpdateOrigin};
use dxos_halo::KeyPair;
use proptest::prelude::*;

/// A small deterministic generator (the test's randomness comes from proptest's seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// One person: their replica, their editor, the updates they made that the other has not had
/// yet, and what they typed (their own characters, in order).
struct Person {
    space: Space,
    editor: TextEditor,
    outbox: Arc<Mutex<Vec<Vec<u8>>>>,
    _listener: UpdateListener,
    typed: Vec<char>,
    /// Each person's characters are unique: CJK (in the BMP) for one, CJK extension B (two
    /// UTF-16 units each) for the other, so offsets in chars and in UTF-16 differ.
    alphabet: u32,
    next_char: u32,
    /// The cursor as left by its owner: (own characters before it, the character after it).
    cursor: Option<(usize, Option<char>)>,
}

fn person(space: Space, doc: &str, alphabet: u32) -> Person {
    let outbox: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let out = outbox.clone();
    let listener = space.on_update(move |u, origin| {
        if origin == UpdateOrigin::Local {
            out.lock().unwrap_or_else(|e| e.into_inner()).push(u.to_vec());
        }
    });
    let editor = space.text_editor(doc, DOCUMENT_CONTENT).unwrap_or_else(|e| panic!("{e}"));
    Person { space, editor, outbox, _listener: listener, typed: Vec::new(), alphabet, next_char: 0, cursor: None }
}

impl Person {
    fn mine(&self, c: char) -> bool {
        (self.alphabet..self.alphabet + 0x4000).contains(&(c as u32))
    }
    fn own(&self) -> Vec<char> {
        self.editor.text().chars().filter(|c| self.mine(*c)).collect()
    }
    fn fresh(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| {
                self.next_char += 1;
                char::from_u32(self.alphabet + self.next_char).unwrap_or('?')
            })
            .collect()
    }
    fn own_before(&self, at: usize) -> usize {
        self.editor.text().chars().take(at).filter(|c| self.mine(*c)).count()
    }

    /// Types or deletes (own characters only) somewhere, on the buffer as it shows now.
    fn edit(&mut self, rng: &mut Rng) {
        let text: Vec<char> = self.editor.text().chars().collect();
        let own_positions: Vec<usize> = (0..text.len()).filter(|i| self.mine(text[*i])).collect();
        if own_positions.is_empty() || rng.chance(65) {
            let at = rng.below(text.len() + 1);
            let k = self.own_before(at);
            let s = self.fresh(1 + rng.below(3));
            if rng.chance(20) {
                // The path of an editor that hands back a whole buffer.
                let mut new: String = text[..at].iter().collect();
                new.push_str(&s);
                new.extend(&text[at..]);
                let cursor = at + s.chars().count();
                assert!(self.editor.replace_with(&new, Some(cursor)).unwrap_or_else(|e| panic!("{e}")));
            } else {
                self.editor.insert(at, &s).unwrap_or_else(|e| panic!("{e}"));
            }
            for (i, c) in s.chars().enumerate() {
                self.typed.insert(k + i, c);
            }
        } else {
            let at = own_positions[rng.below(own_positions.len())];
            let k = self.own_before(at);
            self.editor.delete(at..at + 1).unwrap_or_else(|e| panic!("{e}"));
            self.typed.remove(k);
        }
        assert_eq!(self.own(), self.typed, "own characters after a local edit");
        let stored = self.space.text(self.editor.object_id(), DOCUMENT_CONTENT).unwrap_or_default();
        if self.editor.text() != stored {
            panic!(
                "after a local edit the buffer is not the text:\n{:?}\n{:?}\n{:?}",
                self.editor.text(),
                stored,
                text.iter().collect::<String>()
            );
        }
        self.cursor = None;
    }

    /// Puts the cursor somewhere (after catching up, as an editor draws before the user clicks).
    fn place_cursor(&mut self, rng: &mut Rng) {
        self.editor.refresh().unwrap_or_else(|e| panic!("{e}"));
        let len = self.editor.len_chars();
        let at = rng.below(len + 1);
        self.editor.set_selection(at, at);
        let after = self.editor.text().chars().nth(at).filter(|c| self.mine(*c));
        self.cursor = Some((self.own_before(at), after));
    }

    /// Catches up with the other's edits; the cursor must still be where it was left.
    fn refresh(&mut self) {
        let before = self.editor.text().to_owned();
        self.editor.refresh().unwrap_or_else(|e| panic!("{e}"));
        let stored = self.space.text(self.editor.object_id(), DOCUMENT_CONTENT).unwrap_or_default();
        assert_eq!(self.editor.text(), stored, "the buffer is the text (before: {before:?})");
        assert_eq!(self.own(), self.typed, "own characters after merging the other's edits");
        if let Some((own_before, after)) = self.cursor {
            let Some((anchor, head)) = self.editor.selection() else { panic!("the selection was lost") };
            assert_eq!(anchor, head);
            assert_eq!(self.own_before(head), own_before, "own characters before the cursor");
            if let Some(c) = after {
                assert_eq!(self.editor.text().chars().nth(head), Some(c), "the character after the cursor");
            }
        }
    }
}

/// Applies the first `n` of `from`'s undelivered updates to `to`.
fn deliver(from: &Person, to: &Person, n: usize) {
    let batch: Vec<Vec<u8>> = {
        let mut out = from.outbox.lock().unwrap_or_else(|e| e.into_inner());
        let n = n.min(out.len());
        out.drain(..n).collect()
    };
    for u in batch {
        let id = to.editor.object_id().to_owned();
        let before = to.space.text(&id, DOCUMENT_CONTENT).unwrap_or_default();
        to.space.apply_update(&u, 1).unwrap_or_else(|e| panic!("{e}"));
        let after = to.space.text(&id, DOCUMENT_CONTENT).unwrap_or_default();
        let own: Vec<char> = after.chars().filter(|c| to.mine(*c)).collect();
        if own != to.typed {
            let sender = from.space.text(&id, DOCUMENT_CONTENT).unwrap_or_default();
            panic!("update lost own chars\nbefore {before:?}\nafter  {after:?}\nsender {sender:?}\nupdate {u:?}");
        }
    }
}

fn two_people() -> (Person, Person) {
    let id = KeyPair::generate().public();
    let a = Space::in_memory(id, SpaceOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let b = Space::in_memory(id, SpaceOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let doc = a.add_document("Paragraph", "").unwrap_or_else(|e| panic!("{e}"));
    b.import(&a.export().unwrap_or_else(|e| panic!("{e}"))).unwrap_or_else(|e| panic!("{e}"));
    (person(a, &doc, 0x4E00), person(b, &doc, 0x20000))
}

fn run(seed: u64, edits: usize) {
    let mut rng = Rng(seed | 1);
    let (mut a, mut b) = two_people();
    let (mut done_a, mut done_b) = (0, 0);
    while done_a < edits || done_b < edits {
        let a_turn = done_b >= edits || (done_a < edits && rng.chance(50));
        let (me, other, done) = if a_turn { (&mut a, &mut b, &mut done_a) } else { (&mut b, &mut a, &mut done_b) };
        match rng.below(10) {
            0..=5 => {
                me.edit(&mut rng);
                *done += 1;
            }
            6 => me.place_cursor(&mut rng),
            7 => me.refresh(),
            _ => {
                let n = 1 + rng.below(8);
                deliver(other, me, n);
                if rng.chance(50) {
                    me.refresh();
                }
            }
        }
    }
    // Everything arrives; both catch up.
    deliver(&a, &b, usize::MAX);
    deliver(&b, &a, usize::MAX);
    a.refresh();
    b.refresh();
    assert_eq!(a.editor.text(), b.editor.text(), "both replicas show the same text");
    assert_eq!(a.space.text(a.editor.object_id(), DOCUMENT_CONTENT).ok().as_deref(), Some(a.editor.text()));
    let all: Vec<char> = a.editor.text().chars().collect();
    assert_eq!(all.len(), a.typed.len() + b.typed.len(), "every character of both is kept, once");
    assert_eq!(b.own(), b.typed);
    assert_eq!(a.own(), a.typed);
}

#[test]
fn two_people_typing_in_one_paragraph_keep_every_character() {
    run(0x5eed, 1000);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn concurrent_typing_converges_and_cursors_stay_put(seed in any::<u64>()) {
        run(seed, 1000);
    }
}

#[test]
fn undo_undoes_only_the_local_typing() {
    let (mut a, b) = two_people();
    a.editor.insert(0, "hello").unwrap_or_else(|e| panic!("{e}"));
    deliver(&a, &b, usize::MAX);
    let mut b = b;
    b.editor.refresh().unwrap_or_else(|e| panic!("{e}"));
    b.editor.insert(5, " world").unwrap_or_else(|e| panic!("{e}"));
    deliver(&b, &a, usize::MAX);
    a.editor.refresh().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.editor.text(), "hello world");
    assert!(a.editor.undo().unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(a.editor.text(), " world", "the collaborator's typing stays");
    assert!(!a.editor.undo().unwrap_or_else(|e| panic!("{e}")), "nothing else of ours to undo");
    assert!(a.editor.redo().unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(a.editor.text(), "hello world");
    // A change made elsewhere in this process (not through this editor) is not ours to undo.
    a.space.edit_text(a.editor.object_id(), DOCUMENT_CONTENT, 0, 0, ">").unwrap_or_else(|e| panic!("{e}"));
    a.editor.refresh().unwrap_or_else(|e| panic!("{e}"));
    a.editor.undo_boundary();
    a.editor.insert(12, "!").unwrap_or_else(|e| panic!("{e}"));
    assert!(a.editor.undo().unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(a.editor.text(), ">hello world");
    // The undo reaches the other replica like any edit.
    deliver(&a, &b, usize::MAX);
    b.editor.refresh().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.editor.text(), ">hello world");
}

#[test]
fn positions_travel_between_replicas_and_bad_ones_are_refused() {
    let (mut a, mut b) = two_people();
    a.editor.insert(0, "abcdef").unwrap_or_else(|e| panic!("{e}"));
    deliver(&a, &b, usize::MAX);
    b.editor.refresh().unwrap_or_else(|e| panic!("{e}"));
    let pos = b.editor.encode_position(3).unwrap_or_else(|| panic!("no position"));
    // A types before it; the position b sent still names the gap before "d".
    a.editor.insert(1, "XYZ").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.editor.decode_position(&pos), Some(6));
    assert_eq!(a.editor.decode_position(&[0xff, 0x00, 0x13]), None);
    assert_eq!(a.editor.decode_position(&[]), None);
}

#[test]
fn a_text_written_as_a_plain_string_becomes_editable_and_other_values_are_refused() {
    let id = KeyPair::generate().public();
    let s = Space::in_memory(id, SpaceOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let data = serde_json::json!({"name": "From JS", "content": "plain", "n": 3});
    let doc = s
        .add(Some(dxos_echo::DOCUMENT_TYPE), data.as_object().cloned().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut e = s.text_editor(&doc, DOCUMENT_CONTENT).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.text(), "plain");
    e.insert(5, "!").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.text(&doc, DOCUMENT_CONTENT).ok().as_deref(), Some("plain!"));
    assert!(s.text_editor(&doc, "n").is_err());
    assert!(s.text_editor(&doc, "@type").is_err());
    assert!(e.insert(99, "x").is_err(), "a position outside the text is refused");
    assert_eq!(e.text(), "plain!");
}
