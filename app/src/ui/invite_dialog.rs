//! The invitation dialog ("Add device", "Share space"): makes the invitation on the node in
//! the background, then shows its QR code as a crisp texture (quiet zone included, about
//! 300 points: a phone reads it at arm's length), the text with a Copy button, and where the
//! invitation stands (waiting, checking, admitted, failed) until it ends.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

use dxos_halo::OfferKind;
use dxos_net::invite::{Delivery, Invitation, InviteStatus};
use eframe::egui;

use super::plugin::Surface;
use super::state::AppState;
use crate::qr;

/// How long an invitation from the app stays valid.
const VALID_FOR: Duration = Duration::from_secs(600);
/// Pixels per QR module in the texture (drawn at one point per pixel or more).
const MODULE_PX: usize = 6;

enum Step {
    Making(Receiver<Result<Invitation, String>>),
    Open {
        inv: Box<Invitation>,
        texture: Option<(egui::TextureHandle, std::sync::Arc<egui::ColorImage>)>,
        copied: bool,
    },
    Failed(String),
}

/// The dialog for one invitation.
pub struct InviteDialog {
    title: String,
    step: Step,
}

impl InviteDialog {
    /// Starts making an invitation of `kind` on the app's node.
    pub fn new(app: &AppState, ctx: &egui::Context, kind: OfferKind, title: impl Into<String>) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let (services, ctx) = (app.services.clone(), ctx.clone());
        std::thread::spawn(move || {
            let r = match services.net() {
                Some(net) => net.invite(kind, VALID_FOR, false).map_err(|e| e.message),
                None => Err("The network is not running yet, so no one can be invited. Try again in a moment.".into()),
            };
            let _ = tx.send(r);
            ctx.request_repaint();
        });
        Self { title: title.into(), step: Step::Making(rx) }
    }

    /// The picture handed to the GPU as the QR code's texture, once made.
    pub fn shown_image(&self) -> Option<std::sync::Arc<egui::ColorImage>> {
        match &self.step {
            Step::Open { texture: Some((_, img)), .. } => Some(img.clone()),
            _ => None,
        }
    }

    /// The invitation's text, once made.
    pub fn uri(&self) -> Option<&str> {
        match &self.step {
            Step::Open { inv, .. } => Some(&inv.uri),
            _ => None,
        }
    }

    fn status_text(s: &InviteStatus) -> String {
        match s {
            InviteStatus::Waiting { failures: 0 } => "Waiting for the other device to scan the code…".into(),
            InviteStatus::Waiting { failures } => {
                format!(
                    "Waiting… ({failures} failed attempt{}; 3 end the invitation)",
                    if *failures == 1 { "" } else { "s" }
                )
            }
            InviteStatus::Authenticating { fingerprint } => {
                format!("Checking… Both screens should show: {fingerprint}")
            }
            InviteStatus::Admitted { fingerprint, delivery: Delivery::Syncing, .. } => {
                format!("Admitted ({fingerprint}). Sending it your data…")
            }
            InviteStatus::Admitted { fingerprint, delivery: Delivery::Done, .. } => {
                format!("Done ({fingerprint}): it has your data.")
            }
            InviteStatus::Admitted { fingerprint, delivery: Delivery::Unconfirmed(why), .. } => {
                format!("Admitted ({fingerprint}), but {why}. It gets your data when both are online.")
            }
            InviteStatus::Failed { reason, .. } => format!("Nobody was admitted: {reason}"),
        }
    }
}

impl Surface for InviteDialog {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        ui.heading(&self.title);
        let mut close = false;
        if let Step::Making(rx) = &self.step {
            match rx.try_recv() {
                Ok(Ok(inv)) => self.step = Step::Open { inv: Box::new(inv), texture: None, copied: false },
                Ok(Err(e)) => self.step = Step::Failed(e),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => self.step = Step::Failed("the invitation could not be made".into()),
            }
        }
        match &mut self.step {
            Step::Making(_) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Making an invitation…");
                });
            }
            Step::Failed(e) => {
                ui.colored_label(ui.visuals().error_fg_color, e.as_str());
            }
            Step::Open { inv, texture, copied } => {
                let (tex, _) = texture.get_or_insert_with(|| {
                    let img =
                        qr::luma(&inv.uri, MODULE_PX).unwrap_or(qr::Luma { width: 1, height: 1, pixels: vec![255] });
                    let color = std::sync::Arc::new(egui::ColorImage::from_gray([img.width, img.height], &img.pixels));
                    let tex = ui.ctx().load_texture("invitation-qr", color.clone(), egui::TextureOptions::NEAREST);
                    (tex, color)
                });
                // At least 300 points, a whole number of points per module, so modules stay
                // sharp. (Whole multiples of the texture made a short offer's code 588 points
                // wide, past the dialog and, at the window's default size, the Cancel button
                // past the window's bottom.)
                let modules = (tex.size_vec2().x / MODULE_PX as f32).max(1.0);
                let side = modules * (300.0 / modules).ceil();
                ui.vertical_centered(|ui| {
                    let img = ui.add(egui::Image::new(&*tex).fit_to_exact_size(egui::vec2(side, side)));
                    img.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "Invitation QR code"));
                });
                ui.label("Or send this text (valid for 10 minutes, for one device):");
                let mut text = inv.uri.clone();
                let t = ui.add(
                    egui::TextEdit::multiline(&mut text)
                        .font(egui::TextStyle::Monospace)
                        .desired_rows(3)
                        .desired_width(f32::INFINITY),
                );
                t.widget_info(|| egui::WidgetInfo::labeled(egui::Role::MultilineTextInput, true, "Invitation text"));
                ui.horizontal(|ui| {
                    if ui.button("Copy").clicked() {
                        ui.ctx().copy_text(inv.uri.clone());
                        *copied = true;
                    }
                    if *copied {
                        ui.label("Copied.");
                    }
                });
                if let Some(code) = &inv.code {
                    ui.label(format!("Code to type on the other device: {code}"));
                }
                let status = inv.status.borrow().clone();
                let text = Self::status_text(&status);
                match status {
                    InviteStatus::Failed { .. } => ui.colored_label(ui.visuals().error_fg_color, text),
                    _ => ui.label(text),
                };
                if !status.is_final() {
                    // The status changes on the node's thread: look again soon.
                    ui.ctx().request_repaint_after(Duration::from_millis(200));
                }
            }
        }
        ui.separator();
        let label = match &self.step {
            Step::Open { inv, .. } if !inv.status.borrow().is_final() && !inv.status.borrow().is_admitted() => "Cancel",
            _ => "Close",
        };
        if ui.button(label).clicked() {
            close = true;
        }
        if close {
            if let (Step::Open { inv, .. }, Some(net)) = (&self.step, app.services.net()) {
                net.cancel_invitation(&inv.offer.id);
            }
            app.close_dialog = true;
        }
    }
}
