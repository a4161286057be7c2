//! Composer's editor, timed frame by frame in a kittest harness (no GPU: the egui pass with its
//! layout and the AccessKit tree), side by side in one run:
//! - a keystroke to the frame done, in a 100 KB document (the automerge-paper's final text):
//!   the document editor beside a plain egui `TextEdit` holding the same text (goal: p99
//!   <= 1.2x the plain one);
//! - a remote edit (another replica's update) applied and its frame done, with the change on
//!   screen;
//! - a collaborator's cursor move, from their device saying it to the frame that draws it,
//!   over two nodes on loopback (TCP), moves 50 ms apart.
//!
//! `cargo bench -p dxos --bench editor` (KEYSTROKES, default 300; REMOTE_EDITS, default 200;
//! CURSOR_MOVES, default 50).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dxos::ui::document::DocumentView;
use dxos::ui::plugin::Surface;
use dxos::ui::state::{AppState, Selected, Services};
use dxos_client::space::{DOCUMENT_CONTENT, DOCUMENT_TYPE};
use dxos_client::{Local, LocalPresence, NetOptions, Profile, Role, Space};
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The automerge-paper's final text (about 104 KB of LaTeX and prose).
fn paper() -> String {
    #[derive(serde::Deserialize)]
    struct Trace {
        #[serde(rename = "endContent")]
        end: String,
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../echo/benches/data/editing-traces/automerge-paper.json.gz");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let t: Trace = serde_json::from_reader(flate2::read::GzDecoder::new(file)).unwrap_or_else(|e| panic!("{e}"));
    t.end
}

fn profile(name: &str) -> (tempfile::TempDir, Arc<Local>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let local = Arc::new(
        Local::open(&Profile::new(Some(dir.path().join("p"))).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    local.create_identity(name).unwrap_or_else(|e| panic!("{e}"));
    (dir, local)
}

type Editor = Harness<'static, (AppState, Option<DocumentView>)>;

/// The document editor over `doc` of `space`, once it has opened.
fn editor(services: Arc<Services>, space: Space, doc: &str) -> Editor {
    let mut app = AppState::new(services, Some(space));
    app.object = Some(Selected { id: doc.to_owned(), typename: DOCUMENT_TYPE.to_owned() });
    let mut h = Harness::builder().with_size(egui::vec2(1000.0, 760.0)).with_step_dt(1.0 / 60.0).build_ui_state(
        |ui, s: &mut (AppState, Option<DocumentView>)| {
            let (app, view) = s;
            app.begin_frame();
            let space = app.space.clone().unwrap_or_else(|| panic!("no space"));
            let object = app.object.as_ref().map(|o| o.id.clone()).unwrap_or_default();
            view.get_or_insert_with(|| DocumentView::open(ui.ctx(), app, space, object)).ui(ui, app);
        },
        (app, None),
    );
    for _ in 0..2000 {
        h.step();
        if h.query_by_label("Document text").is_some() {
            return h;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("the editor did not open");
}

fn shown(h: &Editor) -> String {
    h.get_by_label("Document text").accesskit_node().value().map(|v| v.to_string()).unwrap_or_default()
}

/// p50 and p99 of `times`, in ms.
fn percentiles(times: &mut [Duration]) -> (f64, f64) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    (at(0.5), at(0.99))
}

/// Focuses the text edit labelled `label` and puts its cursor in the middle of the text.
fn focus_middle<S>(h: &mut Harness<'static, S>, label: &str) {
    h.get_by_label(label).focus();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Home);
    for _ in 0..400 {
        h.key_press(egui::Key::ArrowDown);
    }
    h.run_steps(2);
}

fn keystrokes(n: usize) {
    let text = paper();
    let (_dir, local) = profile("Ada");
    let space = local.create_space("Bench").unwrap_or_else(|e| panic!("{e}"));
    let doc = space.add_document("Paper", &text).unwrap_or_else(|e| panic!("{e}"));
    let mut ed = editor(Services::new(local.clone(), None), space.clone(), &doc);
    let mut plain: Harness<'static, String> =
        Harness::builder().with_size(egui::vec2(1000.0, 760.0)).with_step_dt(1.0 / 60.0).build_ui_state(
            |ui, text: &mut String| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let r = ui.add(egui::TextEdit::multiline(text).desired_width(f32::INFINITY).desired_rows(24));
                    r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::MultilineTextInput, true, "Plain text"));
                });
            },
            text.clone(),
        );
    plain.run_steps(2);
    focus_middle(&mut ed, "Document text");
    focus_middle(&mut plain, "Plain text");
    let (mut t_ed, mut t_plain) = (Vec::with_capacity(n), Vec::with_capacity(n));
    // Warm up, then interleave so both share the machine's noise.
    for i in 0..n + 20 {
        let c = if i % 7 == 6 { " " } else { "x" };
        ed.event(egui::Event::Text(c.to_owned()));
        let t = Instant::now();
        ed.step();
        let a = t.elapsed();
        plain.event(egui::Event::Text(c.to_owned()));
        let t = Instant::now();
        plain.step();
        let b = t.elapsed();
        if i >= 20 {
            t_ed.push(a);
            t_plain.push(b);
        }
    }
    let stored = space.text(&doc, DOCUMENT_CONTENT).unwrap_or_default();
    assert_eq!(stored.chars().count(), text.chars().count() + n + 20, "every keystroke reached the document");
    assert_eq!(plain.state().chars().count(), text.chars().count() + n + 20);
    let (e50, e99) = percentiles(&mut t_ed);
    let (p50, p99) = percentiles(&mut t_plain);
    println!(
        "keystroke to frame done, {} KB document, {n} keystrokes: editor p50 {e50:.2} ms p99 {e99:.2} ms; \
         plain TextEdit p50 {p50:.2} ms p99 {p99:.2} ms; ratio p50 {:.2}x p99 {:.2}x",
        text.len() / 1024,
        e50 / p50,
        e99 / p99
    );
}

fn remote_edits(n: usize) {
    let text = paper();
    let (_dir, local) = profile("Ada");
    let space = local.create_space("Bench").unwrap_or_else(|e| panic!("{e}"));
    let doc = space.add_document("Paper", &text).unwrap_or_else(|e| panic!("{e}"));
    let bob = Space::in_memory(space.id(), Default::default()).unwrap_or_else(|e| panic!("{e}"));
    bob.import(&space.export().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let mut bob_editor = bob.text_editor(&doc, DOCUMENT_CONTENT).unwrap_or_else(|e| panic!("{e}"));
    let mut ed = editor(Services::new(local.clone(), None), space.clone(), &doc);
    ed.run_steps(2);
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let before = bob.state_vector().unwrap_or_default();
        let at = (i * 7919) % bob_editor.len_chars();
        bob_editor.insert(at, "Z").unwrap_or_else(|e| panic!("{e}"));
        let update = bob.diff(&before).unwrap_or_default();
        let t = Instant::now();
        space.apply_update(&update, 9).unwrap_or_else(|e| panic!("{e}"));
        ed.step();
        times.push(t.elapsed());
    }
    ed.step();
    assert_eq!(shown(&ed).matches('Z').count(), n + text.matches('Z').count(), "every remote edit is shown");
    let (p50, p99) = percentiles(&mut times);
    println!(
        "remote edit applied and its frame done, {} KB document, {n} edits: p50 {p50:.2} ms p99 {p99:.2} ms",
        text.len() / 1024
    );
}

fn cursor_moves(n: usize) {
    let (_da, ada) = profile("Ada");
    let (_db, bob) = profile("Bob");
    let space = ada.create_space("Shared").unwrap_or_else(|e| panic!("{e}"));
    let line = "The quick brown fox jumps over the lazy dog. ".repeat(2);
    let doc = space.add_document("Notes", &line).unwrap_or_else(|e| panic!("{e}"));
    let device = bob.halo().device_key().map(|k| k.public()).unwrap_or_else(|| panic!("no device"));
    let (_, creds) = ada
        .halo()
        .admit_member(&space.id(), Role::Editor, &device, bob.halo().identity_credentials().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    bob.halo().apply_all(creds).unwrap_or_else(|e| panic!("{e}"));
    let services = Services::new(ada.clone(), Some(NetOptions::loopback(&["tcp"])));
    services.ensure_net().unwrap_or_else(|e| panic!("{e}"));
    let mut options = NetOptions::loopback(&["tcp"]);
    options.peers = ada.addrs();
    bob.start_node(&options).unwrap_or_else(|e| panic!("{e}"));
    let replica = bob.echo().open_replica(space.id()).unwrap_or_else(|e| panic!("{e}"));
    let mut ed = editor(services, space.clone(), &doc);
    let start = Instant::now();
    while replica.text(&doc, DOCUMENT_CONTENT).map(|t| t.len()).unwrap_or(0) < line.len() {
        assert!(start.elapsed() < Duration::from_secs(30), "Bob's replica did not sync");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut bob_ed = replica.text_editor(&doc, DOCUMENT_CONTENT).unwrap_or_else(|e| panic!("{e}"));
    let mut times = Vec::with_capacity(n);
    let mut heard_times = Vec::with_capacity(n);
    for i in 0..n + 3 {
        // Moves 50 ms apart (a person's pace): closer ones are sent at most every 15 ms.
        std::thread::sleep(Duration::from_millis(50));
        let at = 1 + (i * 13) % (line.chars().count() - 1);
        bob_ed.set_selection(at, at);
        let here = LocalPresence {
            object: Some(doc.to_string()),
            anchor: bob_ed.encode_position(at),
            head: bob_ed.encode_position(at),
        };
        // (Ada's window here runs no sidebar refresh, so Bob may show by his key's words.)
        let label = format!("'s cursor at line 1, column {}", at + 1);
        let t = Instant::now();
        bob.set_here(space.id(), Some(here.clone()));
        let mut heard = None;
        loop {
            if heard.is_none() && ada.here(&space.id()).iter().any(|p| p.state == here) {
                heard = Some(t.elapsed());
            }
            ed.step();
            if ed.query_by_label_contains(&label).is_some() {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "the cursor move did not arrive");
            std::thread::sleep(Duration::from_micros(200));
        }
        if i >= 3 {
            times.push(t.elapsed());
            heard_times.push(heard.unwrap_or_else(|| t.elapsed()));
        }
    }
    let (p50, p99) = percentiles(&mut times);
    let (h50, h99) = percentiles(&mut heard_times);
    println!(
        "cursor move to drawn, two nodes on loopback (TCP), {n} moves: p50 {p50:.2} ms p99 {p99:.2} ms \
         (arrived at Ada's node: p50 {h50:.2} ms p99 {h99:.2} ms)"
    );
    bob.stop_node();
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not ours runs nothing.
    if std::env::args().skip(1).any(|a| !a.starts_with("--") && !"editor".contains(a.as_str())) {
        return;
    }
    keystrokes(env_or("KEYSTROKES", 300));
    remote_edits(env_or("REMOTE_EDITS", 200));
    cursor_moves(env_or("CURSOR_MOVES", 50));
}
