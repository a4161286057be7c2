//! The join dialog: redeem an invitation from pasted text, a picture (a path, or a file
//! dropped on the window) or the camera; type the code if the invitation needs one; then
//! follow the join (connecting, checking with the pairing words, syncing) to its end. Every
//! failure is said in plain words, and the other ways keep working.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

use dxos_halo::{Offer, OfferKind};
use dxos_net::invite::{JoinStatus, Joined};
use eframe::egui;
use tokio::sync::watch;

use super::plugin::Surface;
use super::state::AppState;

/// How long the camera looks for a code.
const SCAN_FOR: Duration = Duration::from_secs(60);

enum Step {
    /// Choosing how to give the invitation.
    Input,
    /// Reading a picture or the camera.
    Reading { rx: Receiver<Result<String, String>>, stop: Arc<AtomicBool>, what: &'static str },
    /// Starting the node for the join.
    Starting(Receiver<Result<watch::Receiver<JoinStatus>, String>>),
    /// Joining.
    Joining(watch::Receiver<JoinStatus>),
}

/// The join dialog.
pub struct JoinDialog {
    text: String,
    path: String,
    code: String,
    error: Option<String>,
    step: Step,
    /// Set once done: what was joined.
    pub joined: Option<Joined>,
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Default for JoinDialog {
    fn default() -> Self {
        Self::new()
    }
}

impl JoinDialog {
    /// A dialog waiting for an invitation.
    pub fn new() -> Self {
        Self {
            text: String::new(),
            path: String::new(),
            code: String::new(),
            error: None,
            step: Step::Input,
            joined: None,
        }
    }

    fn read_in_background(
        &mut self,
        ctx: &egui::Context,
        what: &'static str,
        f: impl FnOnce(&AtomicBool) -> Result<String, String> + Send + 'static,
    ) {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, ctx) = (stop.clone(), ctx.clone());
        std::thread::spawn(move || {
            let _ = tx.send(f(&s));
            ctx.request_repaint();
        });
        self.error = None;
        self.step = Step::Reading { rx, stop, what };
    }

    fn read_picture(&mut self, ctx: &egui::Context, path: std::path::PathBuf) {
        self.read_in_background(ctx, "Reading the picture…", move |_| {
            crate::qr::decode_file(&path).map_err(|e| e.to_string())
        });
    }

    fn scan_camera(&mut self, ctx: &egui::Context) {
        self.read_in_background(ctx, "Looking for a code with the camera…", |stop| {
            let mut cam = crate::camera::open_camera().map_err(|e| e.to_string())?;
            crate::camera::scan(cam.as_mut(), SCAN_FOR, &|| stop.load(Ordering::SeqCst)).map_err(|e| e.to_string())
        });
    }

    fn start_join(&mut self, app: &AppState, ctx: &egui::Context) {
        let offer = match Offer::from_uri(&self.text, now_s()) {
            Ok(o) => o,
            Err(e) => {
                self.error = Some(format!("That is not a usable invitation: {e}"));
                return;
            }
        };
        let has_identity = app.services.client.halo().identity().is_some();
        match offer.kind {
            OfferKind::Device if has_identity => {
                self.error = Some(
                    "This invitation adds a new device, and this one already has an identity. Open it on the new device."
                        .into(),
                );
                return;
            }
            OfferKind::Space { .. } if !has_identity => {
                self.error = Some("Create your identity first, then join the space.".into());
                return;
            }
            _ => {}
        }
        let code = offer.code_required.then(|| self.code.trim().to_owned());
        if code.as_ref().is_some_and(|c| c.len() != 6 || !c.bytes().all(|b| b.is_ascii_digit())) {
            self.error = Some("This invitation needs the 6-digit code shown on the inviting device.".into());
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let (services, ctx) = (app.services.clone(), ctx.clone());
        std::thread::spawn(move || {
            let r = services.ensure_net().map(|net| net.join(offer, code, crate::client::device_label()));
            let _ = tx.send(r);
            ctx.request_repaint();
        });
        self.error = None;
        self.step = Step::Starting(rx);
    }

    fn status_text(s: &JoinStatus) -> String {
        match s {
            JoinStatus::Connecting => "Connecting to the inviting device…".into(),
            JoinStatus::Authenticating { fingerprint } => {
                format!("Checking the invitation… Both screens should show: {fingerprint}")
            }
            JoinStatus::Syncing => "Admitted. Syncing for the first time…".into(),
            JoinStatus::Done(Joined::Device { .. }) => "Done: this device is now one of your devices.".into(),
            JoinStatus::Done(Joined::Space { already: true, .. }) => "You are already a member of this space.".into(),
            JoinStatus::Done(Joined::Space { .. }) => "Done: you joined the space.".into(),
            JoinStatus::Failed { reason, .. } => format!("Could not join: {reason}"),
        }
    }

    fn input_ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        ui.label("Paste the invitation text:");
        let field = ui.add(egui::TextEdit::multiline(&mut self.text).desired_rows(3).hint_text("DXOS:…"));
        field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Invitation text"));
        let needs_code = Offer::from_uri(&self.text, now_s()).is_ok_and(|o| o.code_required);
        if needs_code {
            ui.horizontal(|ui| {
                ui.label("Code:");
                let c = ui.add(egui::TextEdit::singleline(&mut self.code).desired_width(80.0).hint_text("123456"));
                c.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Code"));
            });
        }
        if ui.add_enabled(!self.text.trim().is_empty(), egui::Button::new("Join")).clicked() {
            self.start_join(app, ui.ctx());
        }
        ui.separator();
        ui.label("Or read the QR code from a picture (type its path, or drop the file on this window):");
        ui.horizontal(|ui| {
            let p = ui.add(egui::TextEdit::singleline(&mut self.path).hint_text("/path/to/picture.png"));
            p.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Picture path"));
            if ui.add_enabled(!self.path.trim().is_empty(), egui::Button::new("Read picture")).clicked() {
                let path = std::path::PathBuf::from(self.path.trim());
                self.read_picture(ui.ctx(), path);
            }
        });
        let dropped: Option<std::path::PathBuf> = ui
            .input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).find(|p| !p.as_os_str().is_empty()));
        if let Some(path) = dropped {
            self.path = path.display().to_string();
            self.read_picture(ui.ctx(), path);
        }
        if ui.button("Paste a picture").on_hover_text("A screenshot or photo of the code, copied").clicked() {
            self.read_in_background(ui.ctx(), "Reading the picture on the clipboard…", |_| {
                crate::qr::decode_clipboard().map_err(|e| e.to_string())
            });
        }
        ui.separator();
        if ui.button("Scan with the camera").clicked() {
            self.scan_camera(ui.ctx());
        }
    }
}

impl Surface for JoinDialog {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        ui.heading("Join");
        let mut next: Option<Step> = None;
        match &mut self.step {
            Step::Input => self.input_ui(ui, app),
            Step::Reading { rx, stop, what } => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(*what);
                });
                if ui.button("Stop").clicked() {
                    stop.store(true, Ordering::SeqCst);
                }
                match rx.try_recv() {
                    Ok(Ok(text)) => {
                        self.text = text;
                        next = Some(Step::Input);
                    }
                    Ok(Err(e)) => {
                        self.error = Some(e);
                        next = Some(Step::Input);
                    }
                    Err(TryRecvError::Empty) => {}
                    Err(TryRecvError::Disconnected) => next = Some(Step::Input),
                }
                if matches!(next, Some(Step::Input)) && self.error.is_none() {
                    // A code was read: join at once (unless it needs a code typed).
                    let needs_code = Offer::from_uri(&self.text, now_s()).is_ok_and(|o| o.code_required);
                    if !needs_code {
                        self.step = Step::Input;
                        self.start_join(app, ui.ctx());
                        next = None;
                    }
                }
            }
            Step::Starting(rx) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Starting the network…");
                });
                match rx.try_recv() {
                    Ok(Ok(status)) => next = Some(Step::Joining(status)),
                    Ok(Err(e)) => {
                        self.error = Some(e);
                        next = Some(Step::Input);
                    }
                    Err(TryRecvError::Empty) => {}
                    Err(TryRecvError::Disconnected) => next = Some(Step::Input),
                }
            }
            Step::Joining(status) => {
                let s = status.borrow().clone();
                let text = Self::status_text(&s);
                match &s {
                    JoinStatus::Failed { .. } => {
                        ui.colored_label(ui.visuals().error_fg_color, text);
                        if ui.button("Try again").clicked() {
                            next = Some(Step::Input);
                        }
                    }
                    JoinStatus::Done(joined) => {
                        ui.label(text);
                        if self.joined.is_none() {
                            self.joined = Some(joined.clone());
                            match joined {
                                Joined::Device { .. } => app.identity_changed = true,
                                Joined::Space { space, .. } => app.select_space(ui.ctx(), *space),
                            }
                        }
                    }
                    _ => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label(text);
                        });
                        ui.ctx().request_repaint_after(Duration::from_millis(100));
                    }
                }
            }
        }
        if let Some(n) = next {
            self.step = n;
        }
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e.as_str());
        }
        ui.separator();
        let busy =
            matches!(&self.step, Step::Joining(s) if !s.borrow().is_final()) || matches!(self.step, Step::Starting(_));
        if ui.add_enabled(!busy, egui::Button::new("Close")).clicked() {
            if let Step::Reading { stop, .. } = &self.step {
                stop.store(true, Ordering::SeqCst);
            }
            app.close_dialog = true;
        }
    }
}
