//! Composer in the window (kittest): a document made from the tree and typed into, a
//! collaborator's cursor with their name (over real nodes on loopback), undo that leaves a
//! collaborator's typing alone, and the theme kept across a restart.

use std::sync::Arc;
use std::time::Duration;

use dxos_client::space::{DOCUMENT_CONTENT, DOCUMENT_TYPE};
use dxos_client::{Local, LocalPresence, NetOptions, Profile, Role, Space};
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use super::DxosApp;
use super::state::{Saved, Selected, Services};
use super::testing::{AppHarness, Fixture, fixture};
use super::theme::{ThemeMode, ThemeSettings};

/// The whole app over `services`, opened with `saved`.
fn app_with(services: Arc<Services>, saved: Saved) -> AppHarness {
    Harness::builder().with_size(egui::vec2(1100.0, 760.0)).with_step_dt(1.0 / 60.0).build_ui_state(
        move |ui, app: &mut Option<DxosApp>| {
            app.get_or_insert_with(|| DxosApp::new(ui.ctx(), services.clone(), saved.clone())).frame(ui);
        },
        None,
    )
}

/// Steps (sleeping between) until `done`, for up to `secs` seconds.
fn wait(h: &mut AppHarness, what: &str, secs: u64, done: impl Fn(&AppHarness) -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        h.step();
        if done(h) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what} did not happen within {secs} s");
}

/// What the editor shows.
fn shown(h: &AppHarness) -> String {
    h.get_by_label("Document text").accesskit_node().value().map(|v| v.to_string()).unwrap_or_default()
}

fn text(space: &Space, id: &str) -> String {
    space.text(id, DOCUMENT_CONTENT).unwrap_or_default()
}

/// Bob, on his replica `bob` of `ada`'s space, catches up with Ada, types `text` at `at` in
/// `doc`, and his change reaches Ada's space from another thread, as from the network.
fn bob_types(ada: &Space, bob: &Space, doc: &str, at: usize, text: &str) {
    bob.import(&ada.export().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let before = bob.state_vector().unwrap_or_default();
    let mut editor = bob.text_editor(doc, DOCUMENT_CONTENT).unwrap_or_else(|e| panic!("{e}"));
    editor.insert(at, text).unwrap_or_else(|e| panic!("{e}"));
    let update = bob.diff(&before).unwrap_or_default();
    let space = ada.clone();
    std::thread::spawn(move || space.apply_update(&update, 7)).join().ok();
}

/// The app opened at document `doc` of the fixture's space.
fn open_at(f: &Fixture, services: Arc<Services>, doc: &str) -> AppHarness {
    let saved = Saved {
        space: Some(f.space.id().to_string()),
        object: Some(Selected { id: doc.to_owned(), typename: DOCUMENT_TYPE.to_owned() }),
        ..Saved::default()
    };
    let mut h = app_with(services, saved);
    wait(&mut h, "the editor", 20, |h| h.query_by_label("Document text").is_some());
    h
}

#[test]
fn a_document_made_from_the_tree_is_typed_into() {
    let f = fixture();
    let mut h = app_with(Services::new(f.local.clone(), None), Saved::default());
    wait(&mut h, "the tree", 20, |h| h.query_by_label("+ New document").is_some());
    h.get_by_label("+ New document").click();
    // It opens with its name to type.
    wait(&mut h, "the new document", 20, |h| h.query_by_label("Document name").is_some());
    h.get_by_label("Document name").type_text("Plan");
    h.key_press(egui::Key::Enter);
    wait(&mut h, "the rename", 20, |_| f.space.documents(false).iter().any(|d| d.name == "Plan"));
    let doc = f.space.documents(false)[0].id.to_string();
    wait(&mut h, "the editor", 20, |h| h.query_by_label("Document text").is_some());
    h.get_by_label("Document text").focus();
    h.step();
    h.get_by_label("Document text").type_text("# Hello *world*");
    h.run_steps(3);
    assert_eq!(text(&f.space, &doc), "# Hello *world*");
    // Backspace deletes one character where it is.
    h.key_press(egui::Key::Backspace);
    h.run_steps(3);
    assert_eq!(text(&f.space, &doc), "# Hello *world");
    // The tree lists it under the space, and selecting the task list shows the tasks' tabs.
    h.get_by_label("Document Plan");
    h.get_by_label("Task list").click();
    h.run_steps(3);
    h.get_by_label("TodoMVC");
}

#[test]
fn undo_in_the_editor_undoes_only_the_local_typing() {
    let f = fixture();
    let doc = f.space.add_document("Notes", "").unwrap_or_else(|e| panic!("{e}"));
    // Bob's replica of the space (as a peer would hold it).
    let bob = Space::in_memory(f.space.id(), Default::default()).unwrap_or_else(|e| panic!("{e}"));
    bob.import(&f.space.export().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let mut h = open_at(&f, Services::new(f.local.clone(), None), &doc);
    h.get_by_label("Document text").focus();
    h.step();
    h.get_by_label("Document text").type_text("mine");
    h.run_steps(3);
    assert_eq!(text(&f.space, &doc), "mine");
    // Bob types after it; his edit arrives (as from the network).
    bob_types(&f.space, &bob, &doc, 4, " and theirs");
    h.run_steps(3);
    assert_eq!(text(&f.space, &doc), "mine and theirs");
    assert_eq!(shown(&h), "mine and theirs", "the editor shows Bob's edit");
    // Ctrl+Z takes back Ada's typing only.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(3);
    assert_eq!(text(&f.space, &doc), " and theirs");
    assert_eq!(shown(&h), " and theirs");
    h.key_press_modifiers(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, egui::Key::Z);
    h.run_steps(3);
    assert_eq!(text(&f.space, &doc), "mine and theirs");
}

#[test]
fn a_collaborators_cursor_shows_with_their_name() {
    let f = fixture();
    let doc = f.space.add_document("Notes", "Hello world\nsecond line").unwrap_or_else(|e| panic!("{e}"));
    // Bob, an editor of Ada's space, on his own profile.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bob = Arc::new(
        Local::open(&Profile::new(Some(dir.path().join("b"))).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    bob.create_identity("Bob").unwrap_or_else(|e| panic!("{e}"));
    let device = bob.halo().device_key().map(|k| k.public()).unwrap_or_else(|| panic!("no device"));
    let (_, creds) = f
        .local
        .halo()
        .admit_member(&f.space.id(), Role::Editor, &device, bob.halo().identity_credentials().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    bob.halo().apply_all(creds).unwrap_or_else(|e| panic!("{e}"));
    // Both nodes on loopback; Bob dials Ada.
    let services = Services::new(f.local.clone(), Some(NetOptions::loopback(&["tcp"])));
    services.ensure_net().unwrap_or_else(|e| panic!("{e}"));
    let ada_addr = f.local.addrs().into_iter().next().unwrap_or_else(|| panic!("Ada listens nowhere"));
    let mut options = NetOptions::loopback(&["tcp"]);
    options.peers = vec![ada_addr];
    bob.start_node(&options).unwrap_or_else(|e| panic!("{e}"));
    let replica = bob.echo().open_replica(f.space.id()).unwrap_or_else(|e| panic!("{e}"));
    let mut h = open_at(&f, services, &doc);
    wait(&mut h, "Bob's replica", 30, |_| replica.text(&doc, DOCUMENT_CONTENT).is_ok_and(|t| t.starts_with("Hello")));
    // Bob puts his cursor after "Hello" on the first line, with "Hello" selected.
    let mut editor = replica.text_editor(&doc, DOCUMENT_CONTENT).unwrap_or_else(|e| panic!("{e}"));
    editor.set_selection(0, 5);
    let here = LocalPresence {
        object: Some(doc.to_string()),
        anchor: editor.encode_position(0),
        head: editor.encode_position(5),
    };
    bob.set_here(f.space.id(), Some(here));
    wait(&mut h, "Bob's cursor", 30, |h| h.query_by_label("Bob's cursor at line 1, column 6").is_some());
    h.get_by_label("• Bob");
    // The member list says what Bob is looking at.
    wait(&mut h, "Bob's presence in the member list", 10, |h| h.query_by_label("viewing Notes").is_some());
    // Ada types before it: his cursor stays after "Hello".
    h.get_by_label("Document text").focus();
    h.step();
    h.key_press(egui::Key::ArrowUp);
    h.key_press(egui::Key::Home);
    h.get_by_label("Document text").type_text(">> ");
    h.run_steps(3);
    assert_eq!(text(&f.space, &doc), ">> Hello world\nsecond line");
    wait(&mut h, "the cursor to follow", 10, |h| h.query_by_label("Bob's cursor at line 1, column 9").is_some());
    bob.stop_node();
}

#[test]
fn the_theme_persists_across_a_restart() {
    let f = fixture();
    let services = Services::new(f.local.clone(), None);
    let mut storage = super::app_tests::Memory::default();
    {
        let mut h = app_with(services.clone(), Saved::default());
        wait(&mut h, "the sidebar", 20, |h| h.query_by_label("Light").is_some());
        h.get_by_label("Light").click();
        h.run_steps(3);
        assert_eq!(h.ctx.options(|o| o.theme_preference), egui::ThemePreference::Light);
        let app = h.state_mut().as_mut().unwrap_or_else(|| panic!("no app"));
        app.app_state_mut().theme.text_scale = 1.3;
        eframe::App::save(app, &mut storage);
    }
    let saved: Saved = eframe::get_value(&storage, "dxos").unwrap_or_default();
    assert_eq!(saved.theme, ThemeSettings { mode: ThemeMode::Light, text_scale: 1.3 });
    let mut h = app_with(services, saved);
    h.run_steps(2);
    assert_eq!(h.ctx.options(|o| o.theme_preference), egui::ThemePreference::Light);
    let style = h.ctx.style_of(egui::Theme::Light);
    assert_eq!(h.ctx.theme(), egui::Theme::Light, "drawn light");
    let body = style.text_styles.get(&egui::TextStyle::Body).map(|f| f.size).unwrap_or_default();
    let default = egui::Style::default().text_styles.get(&egui::TextStyle::Body).map(|f| f.size).unwrap_or_default();
    assert_eq!(body, (default * 1.3).round(), "the text size came back");
}

#[test]
fn a_remote_edit_keeps_the_cursor_where_it_was() {
    let f = fixture();
    let doc = f.space.add_document("Notes", "").unwrap_or_else(|e| panic!("{e}"));
    let bob = Space::in_memory(f.space.id(), Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut h = open_at(&f, Services::new(f.local.clone(), None), &doc);
    h.get_by_label("Document text").focus();
    h.step();
    h.get_by_label("Document text").type_text("hello world");
    h.run_steps(2);
    for _ in 0..6 {
        h.key_press(egui::Key::ArrowLeft);
    }
    h.run_steps(2);
    // Bob writes before Ada's cursor (which is after "hello").
    bob_types(&f.space, &bob, &doc, 0, "Dear ");
    h.run_steps(2);
    assert_eq!(shown(&h), "Dear hello world");
    // Ada's next keystroke lands where she left her cursor.
    h.get_by_label("Document text").type_text(",");
    h.run_steps(2);
    assert_eq!(text(&f.space, &doc), "Dear hello, world");
}

#[test]
fn the_tree_sorts_filters_moves_by_keys_renames_deletes_and_restores() {
    let f = fixture();
    for name in ["Plan 10", "Plan 2", "Budget"] {
        f.space.add_document(name, "").unwrap_or_else(|e| panic!("{e}"));
    }
    let mut h = app_with(Services::new(f.local.clone(), None), Saved::default());
    wait(&mut h, "the documents", 20, |h| h.query_by_label("Document Budget").is_some());
    let y = |h: &AppHarness, label: &str| {
        h.get_by_label(label).accesskit_node().raw_bounds().map(|b| b.y0).unwrap_or_default()
    };
    assert!(y(&h, "Document Budget") < y(&h, "Document Plan 2"), "sorted by name");
    assert!(y(&h, "Document Plan 2") < y(&h, "Document Plan 10"), "\"Plan 2\" before \"Plan 10\"");
    // Filtering as you type.
    h.get_by_label("Filter spaces and documents").focus();
    h.step();
    h.get_by_label("Filter spaces and documents").type_text("plan 1");
    h.run_steps(3);
    assert!(h.query_by_label("Document Budget").is_none() && h.query_by_label("Document Plan 2").is_none());
    h.get_by_label("Document Plan 10");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.key_press(egui::Key::Backspace);
    h.run_steps(3);
    h.get_by_label("Document Budget");
    // The arrow keys move between rows; Enter opens.
    h.get_by_label("Document Budget").focus();
    h.run_steps(2);
    h.key_press(egui::Key::ArrowDown);
    h.run_steps(2);
    let focused: Vec<String> =
        ["Document Budget", "Document Plan 2", "Document Plan 10", "Task list", "+ New document"]
            .iter()
            .filter(|l| h.query_by_label(l).is_some_and(|n| n.is_focused()))
            .map(|l| l.to_string())
            .collect();
    assert!(h.get_by_label("Document Plan 2").is_focused(), "down to the next row, not {focused:?}");
    h.key_press(egui::Key::Enter);
    wait(&mut h, "the document", 20, |h| h.query_by_label("Document text").is_some());
    let open = h.state().as_ref().and_then(|a| a.state().object.clone()).map(|o| o.id);
    let plan2 = f.space.documents(false).into_iter().find(|d| d.name == "Plan 2").map(|d| d.id.to_string());
    assert_eq!(open, plan2);
    // F2 renames the focused document.
    h.get_by_label("Document Budget").focus();
    h.run_steps(2);
    h.key_press(egui::Key::F2);
    wait(&mut h, "the rename field", 5, |h| h.query_by_label("Document name").is_some());
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Document name").type_text("Costs");
    h.key_press(egui::Key::Enter);
    wait(&mut h, "the rename", 20, |_| f.space.documents(false).iter().any(|d| d.name == "Costs"));
    // Delete deletes it (soft); Restore brings it back.
    wait(&mut h, "the renamed row", 20, |h| h.query_by_label("Document Costs").is_some());
    h.get_by_label("Document Costs").focus();
    h.run_steps(2);
    h.key_press(egui::Key::Delete);
    wait(&mut h, "the delete", 20, |_| !f.space.documents(false).iter().any(|d| d.name == "Costs"));
    wait(&mut h, "the deleted list", 20, |h| h.query_by_label("Deleted (1)").is_some());
    h.get_by_label("Deleted (1)").click();
    h.run_steps(2);
    h.get_by_label("Restore").click();
    wait(&mut h, "the restore", 20, |_| f.space.documents(false).iter().any(|d| d.name == "Costs"));
}

#[test]
fn a_reader_sees_the_document_but_cannot_change_it() {
    let mut doc = String::new();
    let (f, _owner) = super::app_tests::reader_fixture_with(|shared| {
        doc = shared.add_document("Rules", "Read only").map(|d| d.to_string()).unwrap_or_else(|e| panic!("{e}"));
    });
    let mut h = open_at(&f, Services::new(f.local.clone(), None), &doc);
    assert_eq!(shown(&h), "Read only");
    h.get_by_label("Document text").focus();
    h.step();
    h.get_by_label("Document text").type_text("x");
    h.key_press(egui::Key::Backspace);
    h.run_steps(3);
    assert_eq!(text(&f.space, &doc), "Read only", "a reader's typing changes nothing");
    assert_eq!(shown(&h), "Read only");
}
