//! The devices section of the sidebar: this identity's devices and which are online; "Add
//! device" shows an invitation's QR code; "Join…" redeems one (a space shared with you);
//! "Revoke" takes a device's access away.

use eframe::egui;

use super::invite_dialog::InviteDialog;
use super::join_dialog::JoinDialog;
use super::plugin::{Contribution, Plugin, Registry, Surface, SurfaceRole};
use super::state::AppState;

/// Contributes the devices section.
pub struct DevicesPlugin;

impl Plugin for DevicesPlugin {
    fn register(&self, r: &mut Registry) {
        r.add(Contribution {
            role: SurfaceRole::Sidebar,
            id: "devices",
            label: "Devices",
            typename: None,
            make: |_, _| Some(Box::new(DevicesSection { confirm: None })),
        });
    }
}

struct DevicesSection {
    /// The device whose revocation waits for a second click.
    confirm: Option<dxos_client::PublicKey>,
}

impl Surface for DevicesSection {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        let Some(id) = app.snapshot.identity.clone() else { return };
        for d in &id.devices {
            ui.horizontal(|ui| {
                let online = d.this_device || app.snapshot.online_devices.contains(&d.device_key);
                super::state::online_dot(ui, online);
                let name = if d.name.is_empty() { d.device_key.fingerprint() } else { d.name.clone() };
                ui.label(if d.this_device { format!("{name} (this device)") } else { name.clone() });
                if !d.this_device {
                    let asking = self.confirm == Some(d.device_key);
                    let text = if asking { "Really revoke?" } else { "Revoke" };
                    let b = ui.small_button(text);
                    b.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, format!("{text} {name}")));
                    if b.clicked() {
                        if asking {
                            let key = d.device_key;
                            app.spawn_write(ui.ctx(), "revoke the device", move |c| c.revoke_device(key));
                            self.confirm = None;
                        } else {
                            self.confirm = Some(d.device_key);
                        }
                    }
                }
            });
        }
        ui.horizontal(|ui| {
            if ui.button("Add device").clicked() {
                let d = InviteDialog::new(app, ui.ctx(), None, "Add a device");
                app.open_dialog(Box::new(d));
            }
            if ui.button("Join…").clicked() {
                app.open_dialog(Box::new(JoinDialog::new()));
            }
        });
    }
}
