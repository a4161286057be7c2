//! The invitation dialog ("Add device", "Share space"): makes the invitation on the node in
//! the background, then shows its QR code as a crisp texture (quiet zone included, about
//! 300 points: a phone reads it at arm's length), the text with a Copy button, and where the
//! invitation stands (waiting, checking, admitted, failed) until it ends.

use std::sync::Arc;
use std::time::Duration;

use dxos_client::{ClientError, Events, InviteOptions, InviteStep};
use eframe::egui;

use super::plugin::Surface;
use super::state::AppState;
use crate::qr;

/// How long an invitation from the app stays valid.
const VALID_FOR: Duration = Duration::from_secs(600);
/// Pixels per QR module in the texture (drawn at one point per pixel or more).
const MODULE_PX: usize = 6;

/// The invitation once open: what to show.
struct Open {
    uri: String,
    code: Option<String>,
    texture: Option<(egui::TextureHandle, Arc<egui::ColorImage>)>,
    copied: bool,
}

/// Where the invitation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Making,
    Waiting { failures: u32 },
    Checking { fingerprint: String },
    Syncing { fingerprint: String },
    Done { fingerprint: String },
    Unconfirmed { fingerprint: String, why: String },
    Failed(String),
}

/// The dialog for one invitation.
pub struct InviteDialog {
    title: String,
    /// The invitation's steps; dropping them (closing the dialog) cancels an open invitation.
    steps: Option<Events<Result<InviteStep, ClientError>>>,
    open: Option<Open>,
    status: Status,
    fingerprint: String,
}

impl InviteDialog {
    /// Starts an invitation (a new device with `space: None`, or a space) on the app's node.
    pub fn new(app: &AppState, ctx: &egui::Context, space: Option<String>, title: impl Into<String>) -> Self {
        let options = InviteOptions { space, role: None, timeout_secs: VALID_FOR.as_secs(), code: false };
        let steps = app.services.client.invite(options);
        let ctx = ctx.clone();
        // Each step wakes the UI: nobody polls.
        steps.on_item(Arc::new(move || ctx.request_repaint()));
        Self { title: title.into(), steps: Some(steps), open: None, status: Status::Making, fingerprint: String::new() }
    }

    /// The picture handed to the GPU as the QR code's texture, once made.
    pub fn shown_image(&self) -> Option<Arc<egui::ColorImage>> {
        self.open.as_ref().and_then(|o| o.texture.as_ref()).map(|(_, img)| img.clone())
    }

    /// The invitation's text, once made.
    pub fn uri(&self) -> Option<&str> {
        self.open.as_ref().map(|o| o.uri.as_str())
    }

    /// Takes the steps that arrived.
    fn take_steps(&mut self) {
        let Some(steps) = &self.steps else { return };
        loop {
            match steps.try_recv() {
                Ok(Some(Ok(step))) => match step {
                    InviteStep::Open { uri, code, .. } => {
                        self.open = Some(Open { uri, code, texture: None, copied: false });
                        self.status = Status::Waiting { failures: 0 };
                    }
                    InviteStep::Waiting { failures } => self.status = Status::Waiting { failures },
                    InviteStep::Authenticating { fingerprint } => {
                        self.fingerprint = fingerprint.clone();
                        self.status = Status::Checking { fingerprint };
                    }
                    InviteStep::Syncing { .. } => {
                        self.status = Status::Syncing { fingerprint: self.fingerprint.clone() }
                    }
                    InviteStep::Admitted { synced: true, .. } => {
                        self.status = Status::Done { fingerprint: self.fingerprint.clone() }
                    }
                    InviteStep::Admitted { note, .. } => {
                        let why = note.unwrap_or_else(|| "it did not say it has your data".into());
                        self.status = Status::Unconfirmed { fingerprint: self.fingerprint.clone(), why };
                    }
                },
                Ok(Some(Err(e))) => {
                    self.status = Status::Failed(match e {
                        ClientError::Network(_) if self.open.is_none() => {
                            "The network is not running yet, so no one can be invited. Try again in a moment.".into()
                        }
                        e if self.open.is_some() => format!("Nobody was admitted: {e}"),
                        e => e.to_string(),
                    });
                }
                Ok(None) => return,
                Err(_) => {
                    if self.status == Status::Making {
                        self.status = Status::Failed("the invitation could not be made".into());
                    }
                    self.steps = None;
                    return;
                }
            }
        }
    }

    fn status_text(s: &Status) -> String {
        match s {
            Status::Making => "Making an invitation…".into(),
            Status::Waiting { failures: 0 } => "Waiting for the other device to scan the code…".into(),
            Status::Waiting { failures } => {
                format!(
                    "Waiting… ({failures} failed attempt{}; 3 end the invitation)",
                    if *failures == 1 { "" } else { "s" }
                )
            }
            Status::Checking { fingerprint } => format!("Checking… Both screens should show: {fingerprint}"),
            Status::Syncing { fingerprint } => format!("Admitted ({fingerprint}). Sending it your data…"),
            Status::Done { fingerprint } => format!("Done ({fingerprint}): it has your data."),
            Status::Unconfirmed { fingerprint, why } => {
                format!("Admitted ({fingerprint}), but {why}. It gets your data when both are online.")
            }
            Status::Failed(reason) => reason.clone(),
        }
    }

    /// True while closing the dialog would cancel the invitation.
    fn cancellable(&self) -> bool {
        matches!(self.status, Status::Making | Status::Waiting { .. } | Status::Checking { .. })
    }
}

impl Surface for InviteDialog {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        ui.heading(&self.title);
        self.take_steps();
        let text = Self::status_text(&self.status);
        match &mut self.open {
            None => {
                if self.status == Status::Making {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(text);
                    });
                } else {
                    ui.colored_label(ui.visuals().error_fg_color, text);
                }
            }
            Some(open) => {
                let (tex, _) = open.texture.get_or_insert_with(|| {
                    let img =
                        qr::luma(&open.uri, MODULE_PX).unwrap_or(qr::Luma { width: 1, height: 1, pixels: vec![255] });
                    let color = Arc::new(egui::ColorImage::from_gray([img.width, img.height], &img.pixels));
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
                let mut shown = open.uri.clone();
                let t = ui.add(
                    egui::TextEdit::multiline(&mut shown)
                        .font(egui::TextStyle::Monospace)
                        .desired_rows(3)
                        .desired_width(f32::INFINITY),
                );
                t.widget_info(|| egui::WidgetInfo::labeled(egui::Role::MultilineTextInput, true, "Invitation text"));
                ui.horizontal(|ui| {
                    if ui.button("Copy").clicked() {
                        ui.ctx().copy_text(open.uri.clone());
                        open.copied = true;
                    }
                    if open.copied {
                        ui.label("Copied.");
                    }
                });
                if let Some(code) = &open.code {
                    ui.label(format!("Code to type on the other device: {code}"));
                }
                match self.status {
                    Status::Failed(_) => ui.colored_label(ui.visuals().error_fg_color, text),
                    _ => ui.label(text),
                };
            }
        }
        ui.separator();
        let label = if self.cancellable() { "Cancel" } else { "Close" };
        if ui.button(label).clicked() {
            // Dropping the steps cancels an invitation nobody was admitted with yet.
            self.steps = None;
            app.close_dialog = true;
        }
    }
}
