//! The whole app in a kittest harness: both views react to an update from outside within one
//! frame, a reader's views offer no editing, and the invitation dialog's texture is a QR code
//! of the offer's URI.

use dxos_client::space::SpaceOptions;
use dxos_client::{Role, Space};
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use super::DxosApp;
use super::state::{AppState, Saved, Services};
use super::testing::{self, AppHarness, Fixture, fixture, harness, wait_for_label, wait_for_label_containing};
use dxos_client::{Local, NetOptions, Profile};

fn app_harness(f: &Fixture) -> AppHarness {
    testing::app_harness(Services::new(f.local.clone(), None), egui::vec2(1000.0, 640.0), false)
}

/// An update made by another replica of `space` (as a peer's), adding a task `title`.
fn peer_update(space: &Space, title: &str) -> Vec<u8> {
    let peer = Space::in_memory(space.id(), SpaceOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    peer.import(&space.export().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let sv = peer.state_vector().unwrap_or_default();
    peer.add_task(title).unwrap_or_else(|e| panic!("{e}"));
    peer.diff(&sv).unwrap_or_default()
}

/// Applies `update` on another thread, as the node does for a peer's update.
fn apply_from_elsewhere(space: &Space, update: Vec<u8>) {
    let s = space.clone();
    std::thread::spawn(move || s.apply_update(&update, 42)).join().ok();
}

#[test]
fn an_update_from_outside_shows_after_one_frame_in_both_views() {
    let f = fixture();
    f.space.add_task("Milk").ok();
    let mut h = app_harness(&f);
    // The space opens in a job: wait for it.
    wait_for_label(&mut h, "Milk");
    h.get_by_label("Tasks");
    apply_from_elsewhere(&f.space, peer_update(&f.space, "From a peer"));
    h.step();
    h.get_by_label("From a peer");
    // The other view shows it at once too, and the next update after one frame.
    h.get_by_label("TodoMVC").click();
    h.step();
    h.get_by_label("From a peer");
    h.get_by_label("2 items left");
    apply_from_elsewhere(&f.space, peer_update(&f.space, "Another"));
    h.step();
    h.get_by_label("Another");
    h.get_by_label("3 items left");
    // The sidebar lists the space, the identity and the sync state (its snapshot comes
    // from a job).
    wait_for_label(&mut h, "Groceries");
    h.get_by_label("Ada");
    h.get_by_label_contains("Offline");
}

/// A reader of a space owned by another identity, with the owner's tasks.
fn reader_fixture() -> (Fixture, tempfile::TempDir) {
    reader_fixture_with(|shared| {
        shared.add_task("Read me").ok();
    })
}

/// A reader of a space "Shared" owned by another identity, after `setup` wrote the owner's
/// objects into it.
pub(super) fn reader_fixture_with(setup: impl FnOnce(&Space)) -> (Fixture, tempfile::TempDir) {
    let reader = fixture();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let owner = Local::open(&Profile::new(Some(dir.path().join("o"))).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    owner.create_identity("Olga").unwrap_or_else(|e| panic!("{e}"));
    let shared = owner.create_space("Shared").unwrap_or_else(|e| panic!("{e}"));
    setup(&shared);
    let halo = reader.local.halo();
    let device = halo.device_key().map(|k| k.public()).unwrap_or_else(|| panic!("no device"));
    let (_, creds) = owner
        .halo()
        .admit_member(&shared.id(), Role::Reader, &device, halo.identity_credentials().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    halo.apply_all(creds).unwrap_or_else(|e| panic!("{e}"));
    let replica = reader.local.echo().open_replica(shared.id()).unwrap_or_else(|e| panic!("{e}"));
    replica.import(&shared.export().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    (Fixture { space: replica, ..reader }, dir)
}

#[test]
fn a_reader_sees_the_space_read_only_in_both_views() {
    let (f, _owner) = reader_fixture();
    assert_eq!(f.local.my_role(&f.space.id()), Some(Role::Reader));
    let mut h = harness(&f, super::tasks::TasksView::new);
    h.run();
    h.get_by_label(super::task_model::READ_ONLY_NOTE);
    assert!(h.query_by_label("New task").is_none() && h.query_by_label("Add").is_none());
    assert!(h.get_by_label("Done: Read me").accesskit_node().is_disabled());
    h.get_by_label("Read me").click();
    h.run();
    assert!(h.query_by_label("Edit task").is_none(), "no editing");
    h.get_by_label("Read me").hover();
    h.run();
    assert!(h.query_by_label("Delete Read me").is_none());

    let mut h = harness(&f, super::todomvc::TodoMvcView::new);
    h.run();
    h.get_by_label(super::task_model::READ_ONLY_NOTE);
    assert!(h.query_by_label("New todo").is_none() && h.query_by_label("Mark all as complete").is_none());
    assert!(h.get_by_label("Toggle Read me").accesskit_node().is_disabled());
    h.get_by_label("Read me").click();
    h.step();
    h.get_by_label("Read me").click();
    h.run();
    assert!(h.query_by_label("Edit todo").is_none(), "no editing");
    h.get_by_label("Read me").hover();
    h.run();
    assert!(h.query_by_label("Delete Read me").is_none());
    assert_eq!(f.space.tasks().len(), 1);
}

#[test]
fn the_invitation_dialog_shows_a_qr_code_of_the_offer() {
    let f = fixture();
    f.local.start_node(&NetOptions::loopback(&["tcp"])).unwrap_or_else(|e| panic!("{e}"));
    let services = Services::new(f.local.clone(), None);
    let app = AppState::new(services, Some(f.space.clone()));
    type State = (AppState, Option<super::invite_dialog::InviteDialog>);
    let mut h = Harness::builder().with_size(egui::vec2(500.0, 700.0)).with_step_dt(1.0 / 60.0).build_ui_state(
        |ui, s: &mut State| {
            let (app, d) = s;
            let d =
                d.get_or_insert_with(|| super::invite_dialog::InviteDialog::new(app, ui.ctx(), None, "Add a device"));
            super::plugin::Surface::ui(d, ui, app);
        },
        (app, None),
    );
    for _ in 0..3000 {
        h.step();
        if h.query_by_label("Invitation QR code").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let shown = h.get_by_label("Invitation QR code").rect();
    assert!(shown.width() >= 300.0 && shown.width() == shown.height(), "big and square: {shown:?}");
    assert!(shown.width() < 400.0, "and no bigger than it must be: {shown:?}");
    h.get_by_label("Copy");
    let d = h.state().1.as_ref().unwrap_or_else(|| panic!("no dialog"));
    let uri = d.uri().map(str::to_owned).unwrap_or_else(|| panic!("no offer"));
    let img = d.shown_image().unwrap_or_else(|| panic!("no texture"));
    let pixels = img.pixels.iter().map(|c| c.r()).collect();
    let decoded = crate::qr::decode(&crate::qr::Luma { width: img.size[0], height: img.size[1], pixels });
    assert_eq!(decoded.as_deref(), Ok(uri.as_str()), "the texture is the offer's QR code");
    assert!(dxos_client::read_invitation(&uri).is_ok_and(|i| i.space.is_none()));
    h.get_by_label_contains("Waiting for the other device");
}

#[test]
fn the_join_dialog_pairs_a_fresh_device_from_pasted_text() {
    let host = fixture();
    host.space.add_task("Milk").ok();
    // Every transport, as the app listens: the offer carries one address of each.
    let loopback = || NetOptions::loopback(&["webrtc-direct", "quic", "tcp"]);
    host.local.start_node(&loopback()).unwrap_or_else(|e| panic!("{e}"));
    let host_client = dxos_client::Client::in_process(host.local.clone());
    let options = dxos_client::InviteOptions { space: None, role: None, timeout_secs: 60, code: false };
    // Open until the guest joined (dropping it cancels the invitation).
    let invitation = host_client.invite(options);
    let uri = match invitation.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(Some(Ok(dxos_client::InviteStep::Open { uri, .. }))) => uri,
        other => panic!("no invitation: {other:?}"),
    };

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let guest = std::sync::Arc::new(
        Local::open(&Profile::new(Some(dir.path().join("g"))).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let app = AppState::new(Services::new(guest.clone(), Some(loopback())), None);
    type State = (AppState, super::join_dialog::JoinDialog);
    let mut h = Harness::builder().with_size(egui::vec2(500.0, 600.0)).with_step_dt(1.0 / 60.0).build_ui_state(
        |ui, s: &mut State| {
            s.0.begin_frame();
            super::plugin::Surface::ui(&mut s.1, ui, &mut s.0);
        },
        (app, super::join_dialog::JoinDialog::new()),
    );
    h.run();
    // A malformed text is refused with a reason, and nothing starts.
    h.get_by_label("Invitation text").focus();
    h.step();
    h.get_by_label("Invitation text").type_text("DXOS:NOTANINVITATION");
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Join").click();
    h.run();
    h.get_by_label_contains("not a usable invitation");
    h.get_by_label("Invitation text").focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_label("Invitation text").type_text(&uri);
    h.step();
    // A device invitation says what joining means, and Join waits until the person says it
    // is their own.
    wait_for_label_containing(&mut h, "THIS device one of the devices of another identity");
    wait_for_label_containing(&mut h, "Offered by a device this profile has never met");
    assert!(h.get_by_role_and_label(egui::accesskit::Role::Button, "Join").accesskit_node().is_disabled());
    h.get_by_label("I made this invitation myself, on my other device").click();
    h.step();
    h.step();
    assert!(!h.get_by_role_and_label(egui::accesskit::Role::Button, "Join").accesskit_node().is_disabled());
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Join").click();
    let mut done = false;
    for _ in 0..3000 {
        h.step();
        if h.query_by_label_contains("this device is now one of your devices").is_some() {
            done = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    if !done {
        let shown: Vec<String> =
            h.root().children_recursive().filter_map(|n| n.accesskit_node().label()).map(|l| l.to_string()).collect();
        panic!("the join did not finish; the dialog shows {shown:?}");
    }
    assert!(h.state().0.identity_changed, "the app opens the joined identity");
    assert_eq!(guest.identity().map(|i| i.identity_key), host.local.identity().map(|i| i.identity_key));
    let space = guest.space_by_id(&host.space.id()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(space.tasks().len(), 1);
}

/// eframe's storage, in memory.
#[derive(Default)]
pub(super) struct Memory(std::collections::HashMap<String, String>);

impl eframe::Storage for Memory {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

#[test]
fn the_app_reopens_where_it_was_left() {
    let f = fixture();
    let other = f.local.create_space("Work").unwrap_or_else(|e| panic!("{e}"));
    other.add_task("Report").ok();
    let services = Services::new(f.local.clone(), None);
    // First run: pick the space "Work", the TodoMVC view and the Active filter; save.
    let mut storage = Memory::default();
    {
        let s = services.clone();
        let mut h = Harness::builder().with_size(egui::vec2(1000.0, 640.0)).with_step_dt(1.0 / 60.0).build_ui_state(
            move |ui, app: &mut Option<DxosApp>| {
                app.get_or_insert_with(|| DxosApp::new(ui.ctx(), s.clone(), Saved::default())).frame(ui);
            },
            None,
        );
        // The sidebar's snapshot and the first space arrive from jobs: wait for them.
        wait_until(&mut h, "the sidebar", |h| h.query_by_label("Work").is_some());
        wait_until(&mut h, "the first space", |h| h.state().as_ref().is_some_and(|a| a.state().space.is_some()));
        h.get_by_label("Work").click();
        // The space opens off the UI thread: wait for it.
        for _ in 0..2000 {
            h.step();
            if h.state().as_ref().and_then(|a| a.state().space.as_ref().map(|s| s.id())) == Some(other.id()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        h.run_steps(8);
        h.get_by_label("TodoMVC").click();
        h.run_steps(8);
        h.get_by_label("Active").click();
        h.run_steps(8);
        h.get_by_label("Report");
        let app = h.state_mut().as_mut().unwrap_or_else(|| panic!("no app"));
        eframe::App::save(app, &mut storage);
    }
    let saved: Saved = eframe::get_value(&storage, "dxos").unwrap_or_default();
    assert_eq!(saved.space, Some(other.id().to_string()));
    assert_eq!(saved.view.as_deref(), Some("todomvc"));
    assert_eq!(saved.filter, super::state::Filter::Active);
    // Next run: the same space, view and filter.
    let mut h = Harness::builder().with_size(egui::vec2(1000.0, 640.0)).with_step_dt(1.0 / 60.0).build_ui_state(
        move |ui, app: &mut Option<DxosApp>| {
            app.get_or_insert_with(|| DxosApp::new(ui.ctx(), services.clone(), saved.clone())).frame(ui);
        },
        None,
    );
    wait_until(&mut h, "the saved space", |h| h.query_by_label("Report").is_some());
    h.get_by_label("todos");
    let state = h.state().as_ref().map(|a| (a.state().view.clone(), a.state().filter));
    assert_eq!(state, Some(("todomvc".to_owned(), super::state::Filter::Active)));
}

/// Steps (sleeping between) until `label` is shown, for what background threads bring.
#[test]
fn the_sidebar_creates_renames_deletes_and_restores_spaces() {
    let f = fixture();
    let mut h = app_harness(&f);
    // The first space opens in a job: wait for it.
    wait_until(&mut h, "the first space", |h| h.state().as_ref().is_some_and(|a| a.state().space.is_some()));
    h.run_steps(8);
    h.get_by_label("New space").click();
    h.run_steps(8);
    h.get_by_label("New space name").focus();
    h.step();
    h.get_by_label("New space name").type_text("Holidays");
    h.step();
    h.get_by_label("Create").click();
    wait_for_label(&mut h, "Holidays");
    assert!(f.local.echo().spaces(false).unwrap_or_default().iter().any(|s| s.name == "Holidays"));
    // Rename the selected space (Groceries).
    h.get_by_label("Rename").click();
    h.run_steps(8);
    h.get_by_label("Space name").focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_label("Space name").type_text("Food");
    h.step();
    h.get_by_label("Save").click();
    wait_for_label(&mut h, "Food");
    assert_eq!(f.space.name(), "Food");
    // Delete it: it moves to "Deleted", from where it comes back.
    h.get_by_label("Delete").click();
    wait_for_label(&mut h, "Deleted");
    h.get_by_label("Deleted").click();
    wait_for_label(&mut h, "Restore");
    assert!(f.local.echo().spaces(false).unwrap_or_default().iter().all(|s| s.name != "Food"));
    h.get_by_label("Restore").click();
    for _ in 0..2000 {
        h.step();
        if h.query_by_label("Restore").is_none() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(f.local.echo().spaces(false).unwrap_or_default().iter().any(|s| s.name == "Food"));
    // Members and devices show who we are.
    h.get_by_label("Ada (you)");
    h.get_by_label_contains("(this device)");
}

#[test]
fn typing_into_a_space_that_is_still_loading_never_waits_for_it() {
    // A space on disk, opened afresh so that it loads in the background.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let profile = Profile::new(Some(dir.path().join("p"))).unwrap_or_else(|e| panic!("{e}"));
    let id = {
        let local = Local::open(&profile).unwrap_or_else(|e| panic!("{e}"));
        local.create_identity("Ada").unwrap_or_else(|e| panic!("{e}"));
        let space = local.create_space("Big").unwrap_or_else(|e| panic!("{e}"));
        for i in 0..5 {
            space.add_task(&format!("Task {i}")).unwrap_or_else(|e| panic!("{e}"));
        }
        local.flush().unwrap_or_else(|e| panic!("{e}"));
        space.id()
    };
    let local = std::sync::Arc::new(Local::open(&profile).unwrap_or_else(|e| panic!("{e}")));
    // The load cannot finish until the test lets it: a slow disk, as long as we like.
    let held = dxos_echo::load_gate::hold(id);
    let space = local.space_by_id(&id).unwrap_or_else(|e| panic!("{e}"));
    assert!(space.is_loading());
    let f = Fixture { dir, local, space: space.clone() };
    let mut h = harness(&f, super::tasks::TasksView::new);
    h.run();
    h.get_by_label("Task 0"); // read from the stored rows meanwhile
    h.get_by_label("New task").focus();
    h.step();
    h.get_by_label("New task").type_text("Tea");
    h.step();
    h.key_press(egui::Key::Enter);
    // Had a frame waited for the load, it would wait forever: the load is held.
    h.run();
    assert!(space.is_loading(), "the frames did not wait for the load");
    assert_eq!(h.state().view.as_ref().map(|v| v.waiting()), Some(1), "the new task waits in the queue");
    assert!(h.get_by_label("New task").value().unwrap_or_default().is_empty(), "the input is ready for more");
    drop(held);
    wait_until(&mut h, "the space loads", |_| !space.is_loading());
    wait_until(&mut h, "the queued task is written", |_| space.tasks().iter().any(|(_, t)| t.title == "Tea"));
    wait_until(&mut h, "the view shows it", |h| h.query_by_label("Tea").is_some());
    assert_eq!(space.tasks().len(), 6);
}

/// Steps until `done` (background work repaints), for up to 20 s.
fn wait_until<S>(h: &mut Harness<'static, S>, what: &str, done: impl Fn(&Harness<'static, S>) -> bool) {
    for _ in 0..2000 {
        h.step();
        if done(h) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{what}: it never happened");
}

#[test]
fn relays_are_added_and_removed_in_the_sync_section() {
    let f = fixture();
    let mut h = app_harness(&f);
    wait_for_label(&mut h, "None: devices on other networks cannot reach this one.");
    let addr = "/ip4/203.0.113.9/udp/4001/quic-v1/p2p/12D3KooWDFmdaRwqgVNr9iMPL5vqiZr15KFdEtgASuLeRXNE5Du9";
    // A wrong address is refused in plain words, and nothing is added.
    h.get_by_label("Relay address").focus();
    h.step();
    h.get_by_label("Relay address").type_text("/ip4/203.0.113.9/tcp/4001");
    h.step();
    h.get_by_label("Add relay").click();
    wait_for_label_containing(&mut h, "does not name its relay");
    h.get_by_label("Relay address").focus();
    h.step();
    h.get_by_label("Relay address").type_text(addr);
    h.step();
    h.get_by_label("Add relay").click();
    wait_for_label(&mut h, &format!("Remove relay {addr}"));
    assert_eq!(dxos_client::Client::in_process(f.local.clone()).relays().ok(), Some(vec![addr.to_owned()]));
    h.get_by_label(&format!("Remove relay {addr}")).click();
    wait_for_label(&mut h, "None: devices on other networks cannot reach this one.");
    assert_eq!(dxos_client::Client::in_process(f.local.clone()).relays().ok(), Some(vec![]));
}
