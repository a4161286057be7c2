//! A shared list on DXOS in about a hundred lines: it opens a profile through the client,
//! shows the list live (edits from other devices appear as they sync), and pairs another
//! device by QR code. Run it, press "Pair a device", and on the other device run
//! `shared_list OTHER_DIR --join TEXT` with the text under the code (or scan the code with the
//! DXOS app's Join).
//!
//! `cargo run -p dxos-examples --bin shared_list -- [PROFILE_DIR] [--join TEXT]`

use std::sync::Arc;

use dxos_client::owner::{self, Owner};
use dxos_client::*;
use eframe::egui;

struct ListApp {
    client: Client,
    space: String,
    items: Vec<ObjectItem>,
    updates: Events<Result<WatchUpdate>>,
    pairing: Option<(Events<Result<InviteStep>>, String, String)>,
    input: String,
}

/// Opens the profile (this process holds it, as an app does) with an identity and the list.
fn open(dir: std::path::PathBuf, join: Option<String>) -> Result<(Owner, Client, String)> {
    let (owner, _events) = owner::acquire(&Profile::new(Some(dir))?, OwnerRole::App)?;
    let client = Client::in_process(owner.local().clone());
    if let Some(text) = join {
        for step in client.join(&text, None) {
            println!("{:?}", step?); // Connecting, Authenticating {fingerprint}, Syncing, Joined...
        }
    } else if client.identity()?.is_none() {
        client.create_identity("Me")?;
    }
    owner.local().start_node(&NetOptions::default())?;
    let space = match client.spaces()?.into_iter().next() {
        Some(s) => s.id.to_string(),
        None => client.create_space("Shared list")?.id.to_string(),
    };
    Ok((owner, client, space))
}

impl eframe::App for ListApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        // Take what arrived; each arrival asked for this frame (no polling).
        while let Ok(Some(update)) = self.updates.try_recv() {
            if let Ok(u) = update {
                self.items = u.objects;
            }
        }
        if let Some((steps, uri, status)) = &mut self.pairing {
            while let Ok(Some(step)) = steps.try_recv() {
                *status = match step {
                    Ok(InviteStep::Open { uri: text, .. }) => {
                        println!("{text}");
                        *uri = text;
                        "Scan the code on the other device, or send it the text.".into()
                    }
                    Ok(InviteStep::Admitted { .. }) => "Paired.".into(),
                    Ok(InviteStep::Authenticating { fingerprint }) => format!("Check the words: {fingerprint}"),
                    Ok(other) => format!("{other:?}"),
                    Err(e) => format!("{e}"),
                };
            }
        }
        egui::CentralPanel::default().show(ui, |ui| {
            ui.horizontal(|ui| {
                let field = ui.text_edit_singleline(&mut self.input);
                let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if (ui.button("Add").clicked() || enter) && !self.input.trim().is_empty() {
                    // Writes go through a job: the frame never waits on the disk.
                    let (client, space, title) = (self.client.clone(), self.space.clone(), self.input.clone());
                    self.client.jobs().spawn("add an item", move |_| client.add_task(&space, &title).map(|_| ()));
                    self.input.clear();
                    field.request_focus();
                }
            });
            for item in &self.items {
                ui.label(item.data.get("title").and_then(|t| t.as_str()).unwrap_or_default());
            }
            ui.separator();
            if self.pairing.is_none() && ui.button("Pair a device").clicked() {
                let steps =
                    self.client.invite(InviteOptions { space: None, role: None, timeout_secs: 600, code: false });
                let ctx = ui.ctx().clone();
                steps.on_item(Arc::new(move || ctx.request_repaint()));
                self.pairing = Some((steps, String::new(), "Making an invitation…".into()));
            }
            if let Some((_, uri, status)) = &self.pairing {
                if let Ok(code) = qrcode::QrCode::new(uri.as_bytes()) {
                    let (w, px) = (code.width(), 4.0);
                    let (rect, _) = ui.allocate_exact_size(
                        egui::vec2((w + 8) as f32 * px, (w + 8) as f32 * px),
                        egui::Sense::hover(),
                    );
                    ui.painter().rect_filled(rect, 0.0, egui::Color32::WHITE);
                    for (i, c) in code.to_colors().iter().enumerate() {
                        if *c == qrcode::Color::Dark {
                            let at = rect.min + egui::vec2((i % w + 4) as f32 * px, (i / w + 4) as f32 * px);
                            ui.painter().rect_filled(
                                egui::Rect::from_min_size(at, egui::vec2(px, px)),
                                0.0,
                                egui::Color32::BLACK,
                            );
                        }
                    }
                    ui.add(egui::TextEdit::multiline(&mut uri.as_str()).desired_width(f32::INFINITY));
                }
                ui.label(status.as_str());
            }
        });
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "dxos-shared-list".into());
    let join = match (args.next().as_deref(), args.next()) {
        (Some("--join"), Some(text)) => Some(text),
        _ => None,
    };
    let (owner, client, space) = open(dir.into(), join)?;
    let updates = client.watch(&space, Some("dxos.org/type/Task"));
    let app = ListApp { client, space, items: Vec::new(), updates, pairing: None, input: String::new() };
    eframe::run_native(
        "Shared list",
        eframe::NativeOptions::default(),
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            app.updates.on_item(Arc::new(move || ctx.request_repaint()));
            Ok(Box::new(app))
        }),
    )?;
    owner.stop()?; // flushes and releases the profile
    Ok(())
}
