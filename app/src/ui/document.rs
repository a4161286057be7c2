//! The Document plugin: Composer's editor for `dxos.org/type/Document`, written together.
//!
//! The text is an ECHO [`TextEditor`]: egui's `TextEdit` edits it through [`Buffer`], so each
//! keystroke is one `Y.Text` insert or delete at its position; others' edits arrive in the
//! buffer at the start of a frame with the cursor kept between the same characters; Ctrl+Z
//! and Ctrl+Shift+Z (or Ctrl+Y) undo and redo this editor's typing only. Markdown is styled as
//! it is typed ([`super::markdown`]); the laid-out text is kept until the text, the width or
//! the theme change. Collaborators' cursors and selections are drawn with their names, in
//! their colours ([`super::presence`]).

use std::any::TypeId;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};

use dxos_client::space::{DOCUMENT_CONTENT, DOCUMENT_TYPE, TextEditor};
use dxos_client::{ClientError, Space};
use eframe::egui::text::{CCursor, CCursorRange, CharIndex};
use eframe::egui::{self, Galley, Key, KeyboardShortcut, Modifiers, TextBuffer};

use super::markdown::{Look, layout_job};
use super::plugin::{Contribution, Plugin, Registry, Surface, SurfaceRole};
use super::presence::Cursors;
use super::state::AppState;
use super::theme::Tokens;

/// Contributes the document editor.
pub struct DocumentPlugin;

impl Plugin for DocumentPlugin {
    fn register(&self, r: &mut Registry) {
        r.add(Contribution {
            role: SurfaceRole::Main,
            id: "document",
            label: "Document",
            typename: Some(DOCUMENT_TYPE),
            make: |ctx, app| {
                let space = app.space.clone()?;
                let object = app.object.as_ref()?.id.clone();
                Some(Box::new(DocumentView::open(ctx, app, space, object)))
            },
        });
    }
}

/// egui's view of the editor's text: edits go to the [`TextEditor`], never a whole-string
/// replace.
pub struct Buffer<'a> {
    /// The text being edited.
    pub editor: &'a mut TextEditor,
    /// False for a reader: the text can be selected, not changed.
    pub mutable: bool,
    /// The first edit that failed, to tell the person.
    pub error: &'a mut Option<String>,
}

impl TextBuffer for Buffer<'_> {
    fn is_mutable(&self) -> bool {
        self.mutable
    }

    fn as_str(&self) -> &str {
        self.editor.text()
    }

    fn insert_text(&mut self, text: &str, char_index: CharIndex) -> usize {
        match self.editor.insert(char_index.0, text) {
            Ok(()) => text.chars().count(),
            Err(e) => {
                self.error.get_or_insert_with(|| e.to_string());
                0
            }
        }
    }

    fn delete_char_range(&mut self, char_range: Range<CharIndex>) {
        if let Err(e) = self.editor.delete(char_range.start.0..char_range.end.0) {
            self.error.get_or_insert_with(|| e.to_string());
        }
    }

    fn type_id(&self) -> TypeId {
        TypeId::of::<Buffer<'static>>()
    }
}

/// Lays out the Markdown of the text, keeping the last galley until the text, width or look
/// change (a frame without a change lays out nothing).
#[derive(Default)]
pub struct MarkdownLayouter {
    last: Option<(u64, Arc<Galley>)>,
}

impl MarkdownLayouter {
    /// The galley for `text` at `wrap_width`.
    pub fn layout(&mut self, ui: &egui::Ui, text: &str, wrap_width: f32) -> Arc<Galley> {
        let look = Look::of(ui);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        wrap_width.to_bits().hash(&mut h);
        format!("{look:?}").hash(&mut h);
        let key = h.finish();
        if let Some((k, g)) = &self.last
            && *k == key
        {
            return g.clone();
        }
        let galley = ui.painter().layout_job(layout_job(text, &look, wrap_width));
        self.last = Some((key, galley.clone()));
        galley
    }
}

/// The editor of one document.
pub struct DocumentView {
    space: Space,
    object: String,
    editor: Option<TextEditor>,
    opening: Option<Receiver<Result<TextEditor, ClientError>>>,
    error: Option<String>,
    layouter: MarkdownLayouter,
    /// The selection last given to the editor (anchor, head).
    selection: Option<(usize, usize)>,
    /// The buffer version the text edit's cursor was last set for.
    shown_version: u64,
    cursors: Cursors,
}

impl DocumentView {
    /// Opens `object` of `space` (in a job: opening may wait for the space to load).
    pub fn open(ctx: &egui::Context, app: &AppState, space: Space, object: String) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let (s, o, ctx2) = (space.clone(), object.clone(), ctx.clone());
        app.services.client.jobs().spawn("open the document", move |_job| -> Result<(), ClientError> {
            let editor = s.text_editor(&o, DOCUMENT_CONTENT).map_err(ClientError::from);
            if let Ok(e) = &editor {
                let ctx = ctx2.clone();
                e.set_waker(Arc::new(move || ctx.request_repaint()));
            }
            let _ = tx.send(editor);
            ctx2.request_repaint();
            Ok(())
        });
        Self {
            space,
            object,
            editor: None,
            opening: Some(rx),
            error: None,
            layouter: MarkdownLayouter::default(),
            selection: None,
            shown_version: 0,
            cursors: Cursors::default(),
        }
    }

    fn take_opened(&mut self) {
        let Some(rx) = &self.opening else { return };
        match rx.try_recv() {
            Ok(Ok(e)) => {
                self.shown_version = u64::MAX;
                self.editor = Some(e);
                self.opening = None;
            }
            Ok(Err(e)) => {
                self.error = Some(format!("Could not open the document: {e}"));
                self.opening = None;
            }
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => self.opening = None,
        }
    }

    fn header(&self, ui: &mut egui::Ui, app: &mut AppState) {
        let info = app.document_info(&self.space.id(), &self.object);
        let name = info.as_ref().map(|d| d.name.clone()).unwrap_or_default();
        ui.horizontal(|ui| {
            let title = if name.is_empty() { "Untitled".to_owned() } else { name };
            ui.heading(title);
            let tokens = Tokens::ui(ui);
            for v in app.viewers_of(&self.space.id(), &self.object) {
                let c = tokens.person(v.identity.as_bytes());
                ui.label(egui::RichText::new(format!("• {}", v.name)).color(c))
                    .on_hover_text(format!("{} is here", v.name));
            }
        });
        if info.as_ref().is_some_and(|d| d.deleted) {
            ui.horizontal(|ui| {
                ui.colored_label(Tokens::ui(ui).error, "This document is deleted.");
                if ui.small_button("Restore").clicked() {
                    let (space, id) = (self.space.clone(), self.object.clone());
                    app.spawn_write(ui.ctx(), "restore the document", move |_| {
                        space.restore(&id).map_err(ClientError::from)
                    });
                }
            });
        }
    }
}

/// The editor's id for egui (its text edit).
pub fn editor_id(object: &str) -> egui::Id {
    egui::Id::unique(("dxos-document", object))
}

impl Surface for DocumentView {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        self.take_opened();
        self.header(ui, app);
        if let Some(e) = &self.error {
            ui.colored_label(Tokens::ui(ui).error, e.as_str());
        }
        let Some(editor) = self.editor.as_mut() else {
            if self.opening.is_some() {
                ui.label("Opening the document…");
            }
            return;
        };
        // Others' edits first, with the cursor kept where its user left it.
        match editor.refresh() {
            Ok(_) => {}
            Err(e) => {
                self.error = Some(format!("The document cannot be shown: {e}"));
                return;
            }
        }
        let id = editor_id(&self.object);
        let focused = ui.memory(|m| m.has_focus(id));
        if editor.version() != self.shown_version {
            // The text changed under the text edit: put its cursor where the editor mapped it.
            if let Some((anchor, head)) = editor.selection()
                && let Some(mut state) = egui::TextEdit::load_state(ui.ctx(), id)
            {
                state.cursor.set_char_range(Some(CCursorRange::two(CCursor::new(anchor), CCursor::new(head))));
                state.store(ui.ctx(), id);
            }
        }
        let mutable = !app.read_only();
        if focused && mutable {
            // Undo is the editor's (per person), not the text edit's (a whole-text replace).
            let redo = ui.input_mut(|i| {
                i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z))
                    || i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Y))
            });
            let undo = ui.input_mut(|i| i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Z)));
            let done = if redo {
                editor.redo()
            } else if undo {
                editor.undo()
            } else {
                Ok(false)
            };
            if let Err(e) = done {
                self.error = Some(format!("Could not undo: {e}"));
            }
            if redo || undo {
                self.selection = None;
            }
        }
        let layouter = &mut self.layouter;
        let mut layout = |ui: &egui::Ui, buf: &dyn TextBuffer, wrap: f32| layouter.layout(ui, buf.as_str(), wrap);
        let mut failed = None;
        let output = {
            let mut buffer = Buffer { editor: &mut *editor, mutable, error: &mut failed };
            let out = egui::ScrollArea::vertical().id_salt(("document-scroll", &self.object)).show(ui, |ui| {
                egui::TextEdit::multiline(&mut buffer)
                    .id(id)
                    .desired_width(f32::INFINITY)
                    .desired_rows(24)
                    .lock_focus(true)
                    .frame(egui::Frame::NONE)
                    .hint_text("Write here. Markdown: # heading, *emphasis*, **strong**, `code`, - list, [link](url)")
                    .layouter(&mut layout)
                    .show(ui)
            });
            out.inner
        };
        output
            .response
            .widget_info(|| egui::WidgetInfo::labeled(egui::Role::MultilineTextInput, true, "Document text"));
        if let Some(e) = failed {
            self.error = Some(format!("Your edit could not be saved: {e}"));
        }
        self.shown_version = editor.version();
        if let Some(range) = output.cursor_range {
            let sel = (range.secondary.index.0, range.primary.index.0);
            if self.selection != Some(sel) || editor.selection() != Some(sel) {
                editor.set_selection(sel.0, sel.1);
                self.selection = Some(sel);
                app.set_my_cursor(&self.space.id(), &self.object, editor, sel);
            }
        }
        let cursors = self.cursors.get(app, &Tokens::ui(ui), &self.space.id(), &self.object, editor);
        draw_cursors(ui, &output.galley, output.galley_pos, &output.text_clip_rect, cursors);
    }
}

/// Draws collaborators' cursors (a bar and their name) and selections over the laid-out text.
pub fn draw_cursors(
    ui: &egui::Ui,
    galley: &Galley,
    origin: egui::Pos2,
    clip: &egui::Rect,
    cursors: &[super::presence::RemoteCursor],
) {
    let painter = ui.painter().with_clip_rect(*clip);
    let tokens = Tokens::ui(ui);
    for (i, c) in cursors.iter().enumerate() {
        let (a, h) = (c.anchor.min(c.head), c.anchor.max(c.head));
        if a != h {
            // The selection, row by row.
            let start = galley.pos_from_cursor(CCursor::new(a));
            let end = galley.pos_from_cursor(CCursor::new(h));
            let fill = c.color.gamma_multiply(0.25);
            if (start.min.y - end.min.y).abs() < 1.0 {
                painter.rect_filled(
                    egui::Rect::from_min_max(start.min, end.max).translate(origin.to_vec2()),
                    0.0,
                    fill,
                );
            } else {
                let width = galley.rect.width().max(start.min.x + 1.0);
                let first = egui::Rect::from_min_max(start.min, egui::pos2(width, start.max.y));
                let middle = egui::Rect::from_min_max(egui::pos2(0.0, start.max.y), egui::pos2(width, end.min.y));
                let last = egui::Rect::from_min_max(egui::pos2(0.0, end.min.y), end.max);
                for r in [first, middle, last] {
                    if r.height() > 0.0 {
                        painter.rect_filled(r.translate(origin.to_vec2()), 0.0, fill);
                    }
                }
            }
        }
        let at = galley.pos_from_cursor(CCursor::new(c.head)).translate(origin.to_vec2());
        painter.line_segment([at.left_top(), at.left_bottom()], egui::Stroke::new(2.0, c.color));
        let font = egui::FontId::proportional(11.0);
        let label = painter.layout_no_wrap(c.name.clone(), font, tokens.on_person);
        let rect = egui::Rect::from_min_size(
            at.left_top() - egui::vec2(0.0, label.size().y + 2.0),
            label.size() + egui::vec2(6.0, 2.0),
        );
        painter.rect_filled(rect, 3.0, c.color);
        painter.galley(rect.min + egui::vec2(3.0, 1.0), label, tokens.on_person);
        // For screen readers (and tests): whose cursor, and where.
        let r = ui.interact(rect, ui.scope_id().with(("remote-cursor", &c.name, i)), egui::Sense::hover());
        let text = format!("{}'s cursor at line {}, column {}", c.name, c.line, c.column);
        r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, text.clone()));
    }
}
