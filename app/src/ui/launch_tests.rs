//! One window per profile, and links (kittest, over the real owner socket): a second launch
//! of the app, or `dxos open` with a `dxos:` link, reaches the app that runs on the profile
//! (`ui::launch`, as the binary calls it); the app raises its window with
//! `ViewportCommand::Focus` and shows the link in its join dialog, filled in and not joined.

use dxos_client::owner::Owner;
use dxos_client::{Local, OwnerRole, Profile};
use dxos_halo::{KeyPair, Offer, OfferKind, Role};
use eframe::egui;
use egui_kittest::kittest::{NodeT, Queryable};

use super::state::Services;
use super::testing::{AppHarness, app_harness, wait_for_label_containing};
use super::{Launched, forward_launches, launch};

/// The app running on a profile (identity "Ada", a space), as `ui::run` sets it up: the
/// owner's socket serves, and its launches reach the window.
struct Running {
    _dir: tempfile::TempDir,
    profile: Profile,
    owner: Option<Owner>,
    h: AppHarness,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(o) = self.owner.take() {
            let _ = o.stop();
        }
    }
}

fn running() -> Running {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let profile = Profile::new(Some(dir.path().join("p"))).unwrap_or_else(|e| panic!("{e}"));
    let local = Local::open(&profile).unwrap_or_else(|e| panic!("{e}"));
    local.create_identity("Ada").unwrap_or_else(|e| panic!("{e}"));
    local.create_space("Groceries").unwrap_or_else(|e| panic!("{e}"));
    let (owner, events) = Owner::start(local, OwnerRole::App).unwrap_or_else(|e| panic!("{e}"));
    let mut h = app_harness(Services::new(owner.local().clone(), None), egui::vec2(900.0, 640.0), false);
    h.step();
    let ctx = h.ctx.clone();
    h.state_mut().as_mut().unwrap_or_else(|| panic!("the app")).set_launches(forward_launches(events, &ctx));
    Running { _dir: dir, profile, owner: Some(owner), h }
}

/// Steps until the app sent `ViewportCommand::Focus` (within 10 s).
fn wait_for_focus(h: &mut AppHarness) {
    for _ in 0..1000 {
        h.step();
        let focused = h
            .output()
            .viewport_output
            .get(&egui::ViewportId::ROOT)
            .is_some_and(|v| v.commands.contains(&egui::ViewportCommand::Focus));
        if focused {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the running app never raised its window");
}

/// An invitation's link, as another device would make it (`None`: a device invitation).
fn link(space: Option<[u8; 32]>) -> String {
    link_from(space, *KeyPair::generate().public().as_bytes())
}

/// The same, offered by the device `inviter`.
fn link_from(space: Option<[u8; 32]>, inviter: [u8; 32]) -> String {
    let kind = match space {
        Some(space) => OfferKind::Space { space, role: Role::Editor },
        None => OfferKind::Device,
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let offer = Offer {
        kind,
        id: [7; 8],
        secret: [9; 16],
        inviter,
        addrs: Vec::new(),
        expires_at: now + 600,
        code_required: false,
    };
    offer.to_uri()
}

#[test]
fn a_second_launch_raises_the_running_window_instead_of_opening_another() {
    let mut r = running();
    let launched = launch(&r.profile, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(launched, Launched::Raised);
    wait_for_focus(&mut r.h);
    // No link: no dialog.
    assert!(r.h.state().as_ref().is_some_and(|a| a.state().dialog.is_none()));
}

#[test]
fn a_link_opens_the_join_dialog_filled_in_and_not_joined() {
    let mut r = running();
    // A space invitation from someone this profile never met, its link in lower case as a
    // chat program may pass it on.
    let uri = link(Some(*KeyPair::generate().public().as_bytes())).to_lowercase();
    assert!(uri.starts_with("dxos:"));
    assert_eq!(launch(&r.profile, Some(uri.clone())).unwrap_or_else(|e| panic!("{e}")), Launched::Raised);
    wait_for_focus(&mut r.h);
    wait_for_label_containing(&mut r.h, "This invitation admits you to a space you are not in yet as editor");
    let field = r.h.get_by_label("Invitation text");
    assert_eq!(field.accesskit_node().value().as_deref(), Some(uri.as_str()));
    wait_for_label_containing(&mut r.h, "Offered by a device this profile has never met");
    // Nothing started: the Join button waits for the person, and nothing says "connecting".
    for _ in 0..30 {
        r.h.step();
    }
    assert!(r.h.query_by_label_contains("Connecting").is_none() && r.h.query_by_label_contains("Starting").is_none());
    let join = r.h.get_by_role_and_label(egui::accesskit::Role::Button, "Join");
    assert!(!join.accesskit_node().is_disabled(), "a space invitation may be joined once the person presses Join");
}

#[test]
fn a_damaged_link_is_shown_with_what_is_wrong_and_cannot_be_joined() {
    let mut r = running();
    let mut uri = link(Some(*KeyPair::generate().public().as_bytes()));
    uri.truncate(uri.len() - 3);
    assert_eq!(launch(&r.profile, Some(uri)).unwrap_or_else(|e| panic!("{e}")), Launched::Raised);
    wait_for_label_containing(&mut r.h, "That is not a usable invitation");
    r.h.get_by_label_contains("the invitation text is damaged");
    assert!(r.h.get_by_role_and_label(egui::accesskit::Role::Button, "Join").accesskit_node().is_disabled());
}

#[test]
fn a_device_link_warns_and_waits_for_the_person_to_say_it_is_theirs() {
    let mut r = running();
    let uri = link(None);
    assert_eq!(launch(&r.profile, Some(uri)).unwrap_or_else(|e| panic!("{e}")), Launched::Raised);
    wait_for_label_containing(&mut r.h, "THIS device one of the devices of another identity");
    r.h.get_by_label_contains("Only join with an invitation you made yourself");
    let join = r.h.get_by_role_and_label(egui::accesskit::Role::Button, "Join");
    assert!(join.accesskit_node().is_disabled(), "a link alone never makes this device someone else's");
    r.h.get_by_label("I made this invitation myself, on my other device");
}

#[test]
fn serve_has_no_window_to_raise_and_says_so() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let profile = Profile::new(Some(dir.path().join("p"))).unwrap_or_else(|e| panic!("{e}"));
    let local = Local::open(&profile).unwrap_or_else(|e| panic!("{e}"));
    let (owner, _events) = Owner::start(local, OwnerRole::Serve).unwrap_or_else(|e| panic!("{e}"));
    let e = launch(&profile, None).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("dxos serve") && e.contains("no window"), "{e}");
    let _ = owner.stop();
}

#[test]
fn a_link_from_a_device_this_profile_knows_names_who_offers_it() {
    let mut r = running();
    let me = r.owner.as_ref().and_then(|o| o.local().identity()).unwrap_or_else(|| panic!("an identity"));
    let space = *KeyPair::generate().public().as_bytes();
    let uri = link_from(Some(space), *me.device_key.as_bytes());
    assert_eq!(launch(&r.profile, Some(uri)).unwrap_or_else(|e| panic!("{e}")), Launched::Raised);
    wait_for_label_containing(&mut r.h, "Offered by your own device");
}

#[test]
fn a_crash_report_of_the_last_run_is_offered_shown_and_then_marked_seen() {
    let mut r = running();
    let dir = crate::desktop::crash::dir(r.profile.dir());
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let report = dir.join("crash-1-1.txt");
    std::fs::write(&report, "DXOS crash report\nmessage: boom <link>\n").unwrap_or_else(|e| panic!("{e}"));
    let pending = crate::desktop::crash::pending(r.profile.dir());
    r.h.state_mut().as_mut().unwrap_or_else(|| panic!("the app")).set_crash_reports(pending);
    wait_for_label_containing(&mut r.h, "DXOS stopped unexpectedly last time");
    r.h.get_by_label("Show report").click();
    wait_for_label_containing(&mut r.h, "Saved as");
    assert_eq!(
        r.h.get_by_label("Crash report text").accesskit_node().value().as_deref(),
        Some("DXOS crash report\nmessage: boom <link>\n")
    );
    r.h.get_by_label("Close").click();
    r.h.run();
    assert!(r.h.query_by_label_contains("stopped unexpectedly").is_none());
    for _ in 0..500 {
        if !report.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!report.exists() && dir.join("crash-1-1.txt.seen").exists(), "kept, marked seen");
    assert!(crate::desktop::crash::pending(r.profile.dir()).is_empty());
}

#[test]
fn settings_open_from_the_sidebar_and_from_ctrl_comma() {
    let mut r = running();
    wait_for_label_containing(&mut r.h, "Settings");
    r.h.get_by_role_and_label(egui::accesskit::Role::Button, "Settings").click();
    wait_for_label_containing(&mut r.h, "Copy diagnostic info");
    r.h.get_by_label_contains(crate::cli::VERSION);
    r.h.get_by_label("Copy path");
    // Renaming this device.
    r.h.get_by_label("Device name").focus();
    r.h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    r.h.step();
    r.h.get_by_label("Device name").type_text("Studio");
    r.h.step();
    r.h.get_by_role_and_label(egui::accesskit::Role::Button, "Rename this device").click();
    let local = r.owner.as_ref().map(|o| o.local().clone()).unwrap_or_else(|| panic!("the owner"));
    let this_name = || local.identity().and_then(|i| i.devices.into_iter().find(|d| d.this_device)).map(|d| d.name);
    for _ in 0..1000 {
        r.h.step();
        if this_name().as_deref() == Some("Studio") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(this_name().as_deref(), Some("Studio"));
    r.h.get_by_role_and_label(egui::accesskit::Role::Button, "Close").click();
    r.h.run();
    assert!(r.h.query_by_label("Copy diagnostic info").is_none());
    r.h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Comma);
    wait_for_label_containing(&mut r.h, "Copy diagnostic info");
}
