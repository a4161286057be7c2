//! The join dialog: redeem an invitation from pasted text, a clicked `dxos:` link, a picture (a
//! path, or a file dropped on the window) or the camera; type the code if the invitation needs
//! one; then follow the join (connecting, checking with the pairing words, syncing) to its end.
//! Every failure is said in plain words, and the other ways keep working.
//!
//! It never joins by itself: however the invitation arrived, the dialog first says what it
//! admits to and who offers it, and the person presses Join. An invitation to make this device
//! one of another identity's devices is said to be exactly that, and Join waits until the
//! person says they made it themselves (links and QR codes were used to take over devices this
//! way: a link must never be enough).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

use dxos_client::{ClientError, Events, InvitationInfo, JoinStep, PublicKey, read_invitation};
use eframe::egui;

use super::plugin::Surface;
use super::state::AppState;

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

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

/// Who an invitation's inviting device belongs to, as this profile knows.
enum Who {
    /// Being looked up (HALO, in a job).
    Checking(Receiver<Option<(PublicKey, Option<String>)>>),
    /// The identity and its name, if the device is one this profile knows.
    Found(Option<(PublicKey, Option<String>)>),
}

/// What the text in the field offers, read when it changes.
struct Reading {
    /// The text it was read from.
    text: String,
    /// The offer, or why it is not one.
    info: Result<InvitationInfo, String>,
    who: Who,
}

/// The join dialog.
pub struct JoinDialog {
    text: String,
    path: String,
    code: String,
    error: Option<String>,
    step: Step,
    reading: Option<Reading>,
    /// For a device invitation: the person says they made it themselves.
    own_invitation: bool,
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
            reading: None,
            own_invitation: false,
            joined: None,
        }
    }

    /// A dialog showing `link` (a clicked `dxos:` link), waiting for the person to join.
    pub fn with_link(link: String) -> Self {
        Self { text: link, ..Self::new() }
    }

    /// Reads the field's text again if it changed, looking up who offers it in a job.
    fn read_text(&mut self, app: &AppState, ctx: &egui::Context) {
        let text = self.text.trim();
        if self.reading.as_ref().is_some_and(|r| r.text == text) {
            return;
        }
        self.own_invitation = false;
        let info = read_invitation(text).map_err(|e| match e {
            ClientError::InvalidInput(m) => m,
            e => e.to_string(),
        });
        let who = match &info {
            Ok(i) => {
                let (tx, rx) = std::sync::mpsc::channel();
                let (local, device, ctx) = (app.services.local.clone(), i.inviter, ctx.clone());
                app.services.client.jobs().spawn("look up who offers the invitation", move |_job| {
                    let _ = tx.send(local.halo().device_owner(&device));
                    ctx.request_repaint();
                    Ok::<(), ClientError>(())
                });
                Who::Checking(rx)
            }
            Err(_) => Who::Found(None),
        };
        self.reading = Some(Reading { text: text.to_owned(), info, who });
    }

    /// Says what the invitation admits to and who offers it (and, for a device invitation,
    /// what joining means); returns whether Join may be pressed.
    fn summary_ui(&mut self, ui: &mut egui::Ui, app: &AppState) -> bool {
        let Some(r) = self.reading.as_mut() else { return false };
        if let Who::Checking(rx) = &r.who
            && let Ok(found) = rx.try_recv()
        {
            r.who = Who::Found(found);
        }
        let info = match &r.info {
            Ok(i) => i,
            Err(e) => {
                if !r.text.is_empty() {
                    ui.colored_label(ui.visuals().error_fg_color, format!("That is not a usable invitation: {e}"));
                }
                return false;
            }
        };
        let me = app.snapshot.identity.as_ref();
        let who = match &r.who {
            Who::Checking(_) => "Looking up who offers it…".to_owned(),
            Who::Found(Some((identity, name))) if me.is_some_and(|i| i.identity_key == *identity) => {
                let device = me.and_then(|i| i.devices.iter().find(|d| d.device_key == info.inviter));
                match device.map(|d| d.name.as_str()).filter(|n| !n.is_empty()) {
                    Some(n) => format!("Offered by your own device \u{201c}{n}\u{201d}."),
                    None => format!("Offered by your own device ({}).", name.as_deref().unwrap_or("your identity")),
                }
            }
            Who::Found(Some((identity, name))) => format!(
                "Offered by a device of {}, someone you already share a space with.",
                name.clone().unwrap_or_else(|| identity.fingerprint())
            ),
            Who::Found(None) => format!(
                "Offered by a device this profile has never met (its words: {}). Be sure you know who sent it.",
                info.inviter.fingerprint()
            ),
        };
        let minutes = info.expires_at.saturating_sub(now_s()).div_ceil(60);
        let expires = format!("It expires in {minutes} minute{}.", if minutes == 1 { "" } else { "s" });
        match (info.space, info.role) {
            (Some(space), role) => {
                let known = app.snapshot.spaces.iter().find(|s| s.id == space && s.role.is_some());
                let what = match known {
                    Some(s) => format!("the space \u{201c}{}\u{201d}, which you are already in", s.name),
                    None => "a space you are not in yet".to_owned(),
                };
                let role = role.map(|r| format!(" as {}", r.as_str())).unwrap_or_default();
                ui.label(egui::RichText::new(format!("This invitation admits you to {what}{role}.")).strong());
                ui.label(who);
                ui.label(format!("{expires} Once you press Join, both screens show the same pairing words."));
                true
            }
            (None, _) => {
                ui.label(
                    egui::RichText::new("This invitation makes THIS device one of the devices of another identity.")
                        .strong(),
                );
                ui.label(who);
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    "Only join with an invitation you made yourself, on your other device. Joining gives whoever \
                     made it this device: they will see and change everything on it, as you. Nobody else ever \
                     needs your device to join their identity: if someone sent you this, do not join.",
                );
                ui.label(expires);
                let c = ui.checkbox(&mut self.own_invitation, "I made this invitation myself, on my other device");
                c.widget_info(|| {
                    egui::WidgetInfo::selected(
                        egui::Role::CheckBox,
                        true,
                        self.own_invitation,
                        "I made this invitation myself, on my other device",
                    )
                });
                self.own_invitation
            }
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
        self.read_text(app, ui.ctx());
        let may_join = self.summary_ui(ui, app);
        let needs_code = self.reading.as_ref().is_some_and(|r| r.info.as_ref().is_ok_and(|i| i.code_required));
        if needs_code {
            ui.horizontal(|ui| {
                ui.label("Code:");
                let c = ui.add(egui::TextEdit::singleline(&mut self.code).desired_width(80.0).hint_text("123456"));
                c.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Code"));
            });
        }
        if ui.add_enabled(may_join, egui::Button::new("Join")).clicked() {
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
                // A code that was read is shown like typed text: what it offers, then Join.
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
