//! Settings, in one dialog (the sidebar's Settings button, or Ctrl+,): this device's name,
//! the theme, the relays (the same list the Sync section edits), the profile folder, the
//! version and this device's peer id, and "Copy diagnostic info" (no keys, links or codes).

use eframe::egui;

use super::plugin::Surface;
use super::state::{AppState, Snapshot};

/// The Settings dialog.
#[derive(Default)]
pub struct SettingsDialog {
    /// The relay address being typed.
    new_relay: String,
    /// This device's name as being edited (taken from the snapshot when the dialog opens).
    name: Option<String>,
    /// Set for a moment after the diagnostic info was copied.
    copied: bool,
}

/// What "Copy diagnostic info" copies: the build, the system, the network's state in
/// counts; no keys, names, links, codes or addresses.
pub fn diagnostic_info(s: &Snapshot) -> String {
    let session = std::env::var("XDG_SESSION_TYPE").unwrap_or_else(|_| "unknown".into());
    let mut transports = s.transports.clone();
    transports.sort();
    transports.dedup();
    format!(
        "DXOS {}\nos: {} {} (session: {session})\nidentity: {}\nnetwork: {}\npeers connected: {} ({})\nrelays: {}\nspaces: {}\nsyncing: {} of {}\n",
        crate::cli::VERSION,
        std::env::consts::OS,
        std::env::consts::ARCH,
        if s.identity.is_some() { "yes" } else { "none yet" },
        if s.node { "running" } else { "stopped" },
        s.peers,
        if transports.is_empty() { "none".to_owned() } else { transports.join(", ") },
        s.relays.len(),
        s.spaces.iter().filter(|x| !x.deleted).count(),
        s.syncing.0,
        s.syncing.1,
    )
}

impl Surface for SettingsDialog {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        let s = app.snapshot.clone();
        ui.heading("Settings");
        egui::ScrollArea::vertical().max_height(480.0).show(ui, |ui| {
            ui.label(egui::RichText::new("This device").strong());
            let me = s.identity.as_ref();
            let device = me.and_then(|i| i.devices.iter().find(|d| d.this_device));
            let saved = device.map(|d| d.name.clone()).unwrap_or_default();
            if me.is_some() {
                let name = self.name.get_or_insert_with(|| saved.clone());
                ui.horizontal(|ui| {
                    ui.label("Name:");
                    let field = ui.add(egui::TextEdit::singleline(name).desired_width(180.0));
                    field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Device name"));
                    let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    let changed = !name.trim().is_empty() && name.trim() != saved;
                    let b = ui.add_enabled(changed, egui::Button::new("Rename"));
                    b.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, changed, "Rename this device"));
                    if b.clicked() || (enter && changed) {
                        let new = name.trim().to_owned();
                        app.spawn_write(ui.ctx(), "rename this device", move |c| c.rename_device(&new).map(|_| ()));
                    }
                });
                ui.label(egui::RichText::new("Your other devices and the people you share spaces with see it.").weak());
            }
            match me {
                Some(i) => {
                    ui.horizontal(|ui| {
                        ui.label("Peer id:");
                        let id = ui.add(egui::Label::new(egui::RichText::new(&i.peer_id).monospace()).truncate());
                        id.on_hover_text(&i.peer_id);
                    });
                }
                None => {
                    ui.label("No identity yet.");
                }
            }
            ui.label(format!("Version: {}", crate::cli::VERSION));
            ui.separator();
            ui.label(egui::RichText::new("Appearance").strong());
            super::theme::appearance_ui(ui, app);
            ui.separator();
            super::sync::relays_ui(ui, app, &mut self.new_relay);
            ui.separator();
            ui.label(egui::RichText::new("Profile folder").strong());
            let dir = app.services.local.profile().dir().display().to_string();
            ui.horizontal(|ui| {
                ui.add(egui::Label::new(egui::RichText::new(&dir).monospace()).truncate()).on_hover_text(&dir);
                if ui.small_button("Copy path").clicked() {
                    ui.ctx().copy_text(dir.clone());
                }
            });
            ui.label(
                egui::RichText::new("Keys, the store and the log (dxos.log) live there; crash reports in crashes/.")
                    .weak(),
            );
        });
        ui.separator();
        ui.horizontal(|ui| {
            if ui.button("Copy diagnostic info").clicked() {
                ui.ctx().copy_text(diagnostic_info(&s));
                self.copied = true;
            }
            if self.copied {
                ui.label("Copied.");
            }
            if ui.button("Close").clicked() {
                app.close_dialog = true;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_info_holds_no_keys_or_addresses() {
        let f = crate::ui::testing::fixture();
        let identity = f.local.identity();
        let s = Snapshot {
            identity: identity.clone(),
            relays: vec![
                "/ip4/203.0.113.9/udp/4001/quic-v1/p2p/12D3KooWDFmdaRwqgVNr9iMPL5vqiZr15KFdEtgASuLeRXNE5Du9".into(),
            ],
            node: true,
            peers: 2,
            transports: vec!["quic".into(), "relay".into(), "quic".into()],
            ..Snapshot::default()
        };
        let text = diagnostic_info(&s);
        let i = identity.unwrap_or_else(|| panic!("an identity"));
        for secret in [i.identity_key.to_string(), i.device_key.to_string(), i.peer_id.clone(), "203.0.113.9".into()] {
            assert!(!text.contains(&secret), "{secret} in {text}");
        }
        assert!(text.contains("peers connected: 2 (quic, relay)") && text.contains("relays: 1"), "{text}");
        assert!(text.contains(crate::cli::VERSION));
    }
}
