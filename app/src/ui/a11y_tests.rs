//! Every control a person can reach has an accessible name: a screen reader says what it is,
//! not just "entry" or "button". Walks the AccessKit tree of every screen and dialog of the
//! app (first run, recovery phrase, both views, a task being edited, the sidebar's forms, the
//! recovery phrase, invitation and join dialogs) and fails on any unnamed control.

use eframe::egui;
use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

use super::state::Services;
use super::testing::{self, AppHarness, fixture, wait_for_label};
use dxos_client::{Local, NetOptions, Profile};

/// The app, with the Arabic task's glyphs allowed to arrive a moment late.
fn app_harness(services: std::sync::Arc<Services>) -> AppHarness {
    testing::app_harness(services, egui::vec2(1000.0, 700.0), true)
}

/// Roles a person operates (or, for images, must be told about).
fn is_control(role: Role) -> bool {
    matches!(
        role,
        Role::Button
            | Role::CheckBox
            | Role::RadioButton
            | Role::Switch
            | Role::TextInput
            | Role::MultilineTextInput
            | Role::SearchInput
            | Role::PasswordInput
            | Role::EmailInput
            | Role::NumberInput
            | Role::SpinButton
            | Role::Slider
            | Role::ComboBox
            | Role::Link
            | Role::Tab
            | Role::MenuItem
            | Role::ListBoxOption
            | Role::Image
    )
}

/// The controls on screen with no accessible name, described for the failure message.
fn unnamed(h: &AppHarness) -> Vec<String> {
    h.root()
        .children_recursive()
        .map(|n| n.accesskit_node())
        .filter(|n| !n.is_hidden() && is_control(n.role()))
        .filter(|n| n.label().is_none_or(|l| l.trim().is_empty()))
        .map(|n| format!("{:?} (value {:?})", n.role(), n.value()))
        .collect()
}

/// Fails the test if anything on `screen` is unnamed; returns how many controls it checked.
fn check(h: &AppHarness, screen: &str) -> usize {
    let missing = unnamed(h);
    assert!(missing.is_empty(), "{screen}: controls with no accessible name: {missing:?}");
    h.root().children_recursive().filter(|n| is_control(n.accesskit_node().role())).count()
}

/// Closes the open dialog with its button `label`, and waits until it is gone.
fn close(h: &mut AppHarness, label: &str) {
    // A modal takes clicks once it has faded in.
    for _ in 0..30 {
        h.step();
    }
    h.get_by_role_and_label(Role::Button, label).click();
    for _ in 0..120 {
        h.step();
        if h.query_by_role_and_label(Role::Button, label).is_none() {
            h.run();
            return;
        }
    }
    let shown: Vec<String> = h
        .root()
        .children_recursive()
        .filter_map(|n| n.accesskit_node().label().map(|l| format!("{l} {:?}", n.accesskit_node().raw_bounds())))
        .collect();
    panic!("the dialog did not close; on screen: {shown:?}");
}

#[test]
fn the_walk_finds_an_unnamed_control() {
    // The check itself: a text field with no name is caught, one with a name is not.
    // A hint (placeholder) is not a name: the welcome screen's field had one, and a screen
    // reader said only "entry" (kittest's own check counts a hint as a name, so it is off).
    let unnamed_in = |named: bool| {
        let mut h = Harness::builder().with_accessibility_check(false).build_ui(move |ui| {
            let mut text = String::new();
            let r = ui.add(egui::TextEdit::singleline(&mut text).hint_text("Your name"));
            if named {
                r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Name"));
            }
        });
        h.run();
        h.root()
            .children_recursive()
            .map(|n| n.accesskit_node())
            .filter(|n| is_control(n.role()) && n.label().is_none_or(|l| l.trim().is_empty()))
            .count()
    };
    assert_eq!(unnamed_in(true), 0);
    assert_eq!(unnamed_in(false), 1);
}

#[test]
fn the_first_run_screens_name_every_control() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let profile = Profile::new(Some(dir.path().join("p"))).unwrap_or_else(|e| panic!("{e}"));
    let local = std::sync::Arc::new(Local::open(&profile).unwrap_or_else(|e| panic!("{e}")));
    let mut h = app_harness(Services::new(local, None));
    h.run();
    h.get_by_label("Your name");
    check(&h, "welcome");
    // Joining another device, from the first screen.
    h.get_by_label("Join my other device").click();
    h.run();
    h.get_by_label("Invitation text");
    check(&h, "join dialog");
    h.get_by_role_and_label(Role::Button, "Close").click();
    h.run();
    h.get_by_label("Your name").focus();
    h.step();
    h.get_by_label("Your name").type_text("Ada");
    h.step();
    h.get_by_label("Continue").click();
    wait_for_label(&mut h, "I wrote it down");
    check(&h, "recovery phrase");
}

#[test]
fn the_main_screens_and_dialogs_name_every_control() {
    let f = fixture();
    let milk = f.space.add_task("Milk").map(|(id, _)| id.to_string()).unwrap_or_default();
    f.space.add_task("Eggs").ok();
    f.space.add_task("اشتري الحليب").ok();
    f.space.set_task_completed(&milk, true).ok();
    f.local.start_node(&NetOptions::loopback(&["tcp"])).unwrap_or_else(|e| panic!("{e}"));
    let mut h = app_harness(Services::new(f.local.clone(), None));
    wait_for_label(&mut h, "Milk");
    // Right-to-left text is drawn in its reading order, but named as written.
    h.get_by_label("اشتري الحليب");
    let mut checked = check(&h, "Tasks");
    // A row shows its buttons on hover.
    h.get_by_label("Eggs").hover();
    h.run();
    checked += check(&h, "Tasks, a row hovered");
    h.get_by_label("Eggs").click();
    h.run();
    checked += check(&h, "Tasks, a title being edited");
    h.key_press(egui::Key::Escape);
    h.run();
    h.get_by_label("TodoMVC").click();
    h.run();
    checked += check(&h, "TodoMVC");
    h.get_by_label("New space").click();
    h.run();
    checked += check(&h, "sidebar, new space");
    h.get_by_label("Cancel").click();
    h.run();
    h.get_by_label("Rename").click();
    h.run();
    checked += check(&h, "sidebar, renaming the space");
    h.get_by_label("Cancel").click();
    h.run();
    h.get_by_label("Recovery phrase…").click();
    wait_for_label(&mut h, "Close");
    checked += check(&h, "recovery phrase dialog");
    close(&mut h, "Close");
    h.get_by_label("Add device").click();
    wait_for_label(&mut h, "Invitation QR code");
    checked += check(&h, "add device dialog");
    close(&mut h, "Cancel");
    h.get_by_label("Share…").click();
    wait_for_label(&mut h, "Invitation QR code");
    checked += check(&h, "share space dialog");
    close(&mut h, "Cancel");
    h.get_by_label("Join…").click();
    h.run();
    checked += check(&h, "join dialog");
    assert!(checked >= 30, "the walk reached the controls: {checked}");
}
