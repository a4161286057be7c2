//! The identity section of the sidebar: your name and key fingerprint, and the recovery
//! phrase on request (read from the keyring off the UI thread).

use std::sync::mpsc::{Receiver, TryRecvError};

use eframe::egui;

use super::plugin::{Contribution, Plugin, Registry, Surface, SurfaceRole};
use super::state::AppState;

/// Contributes the identity section.
pub struct IdentityPlugin;

impl Plugin for IdentityPlugin {
    fn register(&self, r: &mut Registry) {
        r.add(Contribution {
            role: SurfaceRole::Sidebar,
            id: "identity",
            label: "You",
            typename: None,
            make: |_, _| Some(Box::new(IdentitySection)),
        });
    }
}

struct IdentitySection;

impl Surface for IdentitySection {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        let Some(id) = app.snapshot.identity.clone() else {
            ui.label("No identity yet.");
            return;
        };
        ui.strong(&id.display_name);
        ui.label(egui::RichText::new(id.identity_key.fingerprint()).weak())
            .on_hover_text(format!("Identity key {}", id.identity_key));
        if ui.small_button("Recovery phrase…").clicked() {
            let d = PhraseDialog::new(app, ui.ctx());
            app.open_dialog(Box::new(d));
        }
    }
}

/// Shows the recovery phrase again (on the device that holds the root key).
struct PhraseDialog {
    rx: Receiver<Result<String, String>>,
    phrase: Option<Result<String, String>>,
}

impl PhraseDialog {
    fn new(app: &AppState, ctx: &egui::Context) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let (client, ctx) = (app.services.client.clone(), ctx.clone());
        app.services.client.jobs().spawn(
            "read the recovery phrase",
            move |_job| -> Result<(), dxos_client::ClientError> {
                let _ = tx.send(client.recovery_phrase().map_err(|e| e.to_string()));
                ctx.request_repaint();
                Ok(())
            },
        );
        Self { rx, phrase: None }
    }
}

impl Surface for PhraseDialog {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        ui.heading("Your recovery phrase");
        if self.phrase.is_none() {
            match self.rx.try_recv() {
                Ok(r) => self.phrase = Some(r),
                Err(TryRecvError::Disconnected) => self.phrase = Some(Err("it could not be read".into())),
                Err(TryRecvError::Empty) => {}
            }
        }
        match &self.phrase {
            None => {
                ui.spinner();
            }
            Some(Ok(p)) => {
                ui.label("Anyone who has these words can act as you. Keep them safe.");
                egui::Grid::new("phrase-again").num_columns(4).spacing([24.0, 6.0]).show(ui, |ui| {
                    for (i, w) in p.split_whitespace().enumerate() {
                        ui.monospace(format!("{:>2}. {w}", i + 1));
                        if i % 4 == 3 {
                            ui.end_row();
                        }
                    }
                });
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("The phrase cannot be shown: {e}"));
            }
        }
        if ui.button("Close").clicked() {
            app.close_dialog = true;
        }
    }
}
