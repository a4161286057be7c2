//! Presence in the window: collaborators' cursors in the editor, from what their devices say
//! (`/dxos/presence/1`, through [`dxos_client::Local::here`]), each in the person's colour.

use dxos_client::space::TextEditor;
use dxos_client::{LocalPresence, PublicKey};
use eframe::egui::Color32;

use super::state::AppState;
use super::theme::Tokens;

/// A collaborator's cursor and selection in the text shown (chars of the buffer).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteCursor {
    /// Their name.
    pub name: String,
    /// Their colour.
    pub color: Color32,
    /// Where their selection starts.
    pub anchor: usize,
    /// Where their cursor is.
    pub head: usize,
    /// The cursor's line and column (from 1), for screen readers.
    pub line: usize,
    /// See `line`.
    pub column: usize,
}

/// What the cursors were mapped for: the buffer's version, what each device said (device,
/// identity, state), the snapshot (names), the theme.
type CursorsKey = (u64, Vec<(PublicKey, PublicKey, LocalPresence)>, usize, Tokens);

/// The cursors of the other people in `object` of `space`, mapped into `editor`'s buffer, kept
/// until the text, what they said, the names or the theme change (mapping a position walks
/// the text's history: not work for every frame).
#[derive(Default)]
pub struct Cursors {
    key: Option<CursorsKey>,
    cursors: Vec<RemoteCursor>,
}

impl Cursors {
    /// The cursors to draw this frame.
    pub fn get(
        &mut self,
        app: &AppState,
        tokens: &Tokens,
        space: &PublicKey,
        object: &str,
        editor: &TextEditor,
    ) -> &[RemoteCursor] {
        let said: Vec<(PublicKey, PublicKey, LocalPresence)> = app
            .services
            .local
            .here(space)
            .into_iter()
            .filter(|p| p.state.object.as_deref() == Some(object))
            .map(|p| (p.device, p.identity, p.state))
            .collect();
        // The snapshot is replaced when members' names change.
        let key = (editor.version(), said, std::sync::Arc::as_ptr(&app.snapshot) as usize, *tokens);
        if self.key.as_ref() != Some(&key) {
            self.cursors = cursors_in(app, tokens, space, object, editor);
            self.key = Some(key);
        }
        &self.cursors
    }
}

/// The cursors of the other people in `object` of `space`, mapped into `editor`'s buffer.
/// A position that names text not here yet (their typing still on its way) is left out until
/// it arrives.
pub fn cursors_in(
    app: &AppState,
    tokens: &Tokens,
    space: &PublicKey,
    object: &str,
    editor: &TextEditor,
) -> Vec<RemoteCursor> {
    let me = app.services.local.identity_key();
    let mut out = Vec::new();
    for p in app.services.local.here(space) {
        if p.state.object.as_deref() != Some(object) || Some(p.identity) == me {
            continue;
        }
        let Some(head) = p.state.head.as_deref().and_then(|b| editor.decode_position(b)) else { continue };
        let anchor = p.state.anchor.as_deref().and_then(|b| editor.decode_position(b)).unwrap_or(head);
        let rope = editor.rope();
        let line = rope.char_to_line(head.min(rope.len_chars()));
        let column = head - rope.line_to_char(line);
        out.push(RemoteCursor {
            name: app.member_name(space, &p.identity),
            color: tokens.person(p.identity.as_bytes()),
            anchor,
            head,
            line: line + 1,
            column: column + 1,
        });
    }
    out
}
