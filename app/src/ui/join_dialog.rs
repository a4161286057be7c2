//! The join dialog: redeem an invitation from pasted text, a picture (a path, or a file
//! dropped on the window) or the camera; type the code if the invitation needs one; then
//! follow the join (connecting, checking with the pairing words, syncing) to its end. Every
//! failure is said in plain words, and the other ways keep working.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

use dxos_client::{ClientError, Events, JoinStep, read_invitation};
use eframe::egui;

use super::plugin::Surface;
use super::state::AppState;

/// How long the camera looks for a code.
const SCAN_FOR: Duration = Duration::from_secs(60);

enum Step {
    /// Choosing how to give the invitation.
    Input,
    /// Reading a picture or the camera.
    Reading { rx: Receiver<Result<String, String>>, stop: Arc<AtomicBool>, what: &'static str },
    /// Joining: the join's steps, and where it stands.
    Joining { steps: Events<Result<JoinStep, ClientError>>, status: Status },
}

/// Where a join stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Starting,
    Step(JoinStep),
    Failed(String),
}

impl Status {
    fn is_final(&self) -> bool {
        matches!(self, Status::Failed(_) | Status::Step(JoinStep::JoinedIdentity { .. } | JoinStep::JoinedSpace { .. }))
    }
}

/// The join dialog.
pub struct JoinDialog {
    text: String,
    path: String,
    code: String,
    error: Option<String>,
    step: Step,
    /// Set once done: what was joined.
    pub joined: Option<JoinStep>,
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
        app: &AppState,
        ctx: &egui::Context,
        what: &'static str,
        f: impl FnOnce(&AtomicBool) -> Result<String, String> + Send + 'static,
    ) {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, ctx) = (stop.clone(), ctx.clone());
        app.services.client.jobs().spawn(what, move |_job| -> Result<(), ClientError> {
            let _ = tx.send(f(&s));
            ctx.request_repaint();
            Ok(())
        });
        self.error = None;
        self.step = Step::Reading { rx, stop, what };
    }

    fn read_picture(&mut self, app: &AppState, ctx: &egui::Context, path: std::path::PathBuf) {
        self.read_in_background(app, ctx, "Reading the picture…", move |_| {
            crate::qr::decode_file(&path).map_err(|e| e.to_string())
        });
    }

    fn scan_camera(&mut self, app: &AppState, ctx: &egui::Context) {
        self.read_in_background(app, ctx, "Looking for a code with the camera…", |stop| {
            let mut cam = crate::camera::open_camera().map_err(|e| e.to_string())?;
            crate::camera::scan(cam.as_mut(), SCAN_FOR, &|| stop.load(Ordering::SeqCst)).map_err(|e| e.to_string())
        });
    }

    fn start_join(&mut self, app: &AppState, ctx: &egui::Context) {
        let offer = match read_invitation(self.text.trim()) {
            Ok(o) => o,
            Err(e) => {
                self.error = Some(format!("That is not a usable invitation: {e}"));
                return;
            }
        };
        let has_identity = app.services.local.identity_key().is_some();
        match offer.space {
            None if has_identity => {
                self.error = Some(
                    "This invitation adds a new device, and this one already has an identity. Open it on the new device."
                        .into(),
                );
                return;
            }
            Some(_) if !has_identity => {
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
        // The client starts the node if needed (with the key a new device joins with).
        let steps = app.services.client.join(self.text.trim(), code);
        let ctx = ctx.clone();
        steps.on_item(Arc::new(move || ctx.request_repaint()));
        self.error = None;
        self.step = Step::Joining { steps, status: Status::Starting };
    }

    fn status_text(s: &Status) -> String {
        match s {
            Status::Starting => "Starting the network…".into(),
            Status::Step(JoinStep::Connecting) => "Connecting to the inviting device…".into(),
            Status::Step(JoinStep::Authenticating { fingerprint }) => {
                format!("Checking the invitation… Both screens should show: {fingerprint}")
            }
            Status::Step(JoinStep::Syncing) => "Admitted. Syncing for the first time…".into(),
            Status::Step(JoinStep::JoinedIdentity { .. }) => "Done: this device is now one of your devices.".into(),
            Status::Step(JoinStep::JoinedSpace { already: true, .. }) => {
                "You are already a member of this space.".into()
            }
            Status::Step(JoinStep::JoinedSpace { .. }) => "Done: you joined the space.".into(),
            Status::Failed(reason) => format!("Could not join: {reason}"),
        }
    }

    fn input_ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        ui.label("Paste the invitation text:");
        let field = ui.add(egui::TextEdit::multiline(&mut self.text).desired_rows(3).hint_text("DXOS:…"));
        field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Invitation text"));
        let needs_code = read_invitation(self.text.trim()).is_ok_and(|o| o.code_required);
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
                self.read_picture(app, ui.ctx(), path);
            }
        });
        let dropped: Option<std::path::PathBuf> = ui
            .input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).find(|p| !p.as_os_str().is_empty()));
        if let Some(path) = dropped {
            self.path = path.display().to_string();
            self.read_picture(app, ui.ctx(), path);
        }
        if ui.button("Paste a picture").on_hover_text("A screenshot or photo of the code, copied").clicked() {
            self.read_in_background(app, ui.ctx(), "Reading the picture on the clipboard…", |_| {
                crate::qr::decode_clipboard().map_err(|e| e.to_string())
            });
        }
        ui.separator();
        if ui.button("Scan with the camera").clicked() {
            self.scan_camera(app, ui.ctx());
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
                    let needs_code = read_invitation(self.text.trim()).is_ok_and(|o| o.code_required);
                    if !needs_code {
                        self.step = Step::Input;
                        self.start_join(app, ui.ctx());
                        next = None;
                    }
                }
            }
            Step::Joining { steps, status } => {
                // Take the steps that arrived (each woke the UI).
                loop {
                    match steps.try_recv() {
                        Ok(Some(Ok(step))) => *status = Status::Step(step),
                        Ok(Some(Err(e))) => *status = Status::Failed(e.to_string()),
                        Ok(None) => break,
                        Err(_) => {
                            if !status.is_final() {
                                *status = Status::Failed("the join stopped".into());
                            }
                            break;
                        }
                    }
                }
                let text = Self::status_text(status);
                match &*status {
                    Status::Failed(_) => {
                        ui.colored_label(ui.visuals().error_fg_color, text);
                        if ui.button("Try again").clicked() {
                            next = Some(Step::Input);
                        }
                    }
                    Status::Step(joined @ (JoinStep::JoinedIdentity { .. } | JoinStep::JoinedSpace { .. })) => {
                        ui.label(text);
                        if self.joined.is_none() {
                            self.joined = Some(joined.clone());
                            match joined {
                                JoinStep::JoinedSpace { space, .. } => app.select_space(ui.ctx(), *space),
                                _ => app.identity_changed = true,
                            }
                        }
                    }
                    _ => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label(text);
                        });
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
        let busy = matches!(&self.step, Step::Joining { status, .. } if !status.is_final());
        if ui.add_enabled(!busy, egui::Button::new("Close")).clicked() {
            if let Step::Reading { stop, .. } = &self.step {
                stop.store(true, Ordering::SeqCst);
            }
            app.close_dialog = true;
        }
    }
}
