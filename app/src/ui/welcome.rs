//! First run: asks for a display name, creates the identity and a default space in the
//! background, then shows the recovery phrase once. Or, for a second device: joins the
//! identity of another device by its invitation (QR code or text).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError, channel};

use dxos_client::{ClientError, Space};
use eframe::egui;

use super::state::Services;

/// What the first-run flow hands to the app when it is done.
pub struct Ready {
    /// The default space to open.
    pub space: Space,
}

enum Step {
    AskName { name: String, error: Option<String> },
    Creating(Receiver<Result<(Space, String), String>>),
    ShowPhrase { space: Space, phrase: String },
}

/// The first-run view.
pub struct WelcomeView {
    services: Arc<Services>,
    step: Step,
}

impl WelcomeView {
    /// A first-run view for a profile with no identity.
    pub fn new(services: Arc<Services>) -> Self {
        Self { services, step: Step::AskName { name: String::new(), error: None } }
    }

    fn start(&mut self, ctx: &egui::Context, name: String) {
        let (tx, rx) = channel();
        let (services, ctx) = (self.services.clone(), ctx.clone());
        // Key files and the store are written in a job, off the UI thread.
        self.services.client.jobs().spawn("create your identity", move |_job| -> Result<(), ClientError> {
            let result = (|| {
                services.client.create_identity(&name)?;
                let space = services.local.first_space_or_create(super::DEFAULT_SPACE)?;
                let phrase = services.client.recovery_phrase()?;
                Ok((space, phrase))
            })()
            .map_err(|e: ClientError| e.to_string());
            let ok = result.is_ok();
            let _ = tx.send(result);
            ctx.request_repaint();
            // With an identity, the node can start: peers find this device from now on.
            if ok && let Err(e) = services.ensure_net() {
                tracing::warn!("the network node did not start: {e}");
            }
            Ok(())
        });
        self.step = Step::Creating(rx);
    }

    /// Draws the view; returns the default space once the user is through.
    pub fn ui(&mut self, ui: &mut egui::Ui, app: &mut super::state::AppState) -> Option<Ready> {
        let mut start: Option<String> = None;
        let mut done = None;
        match &mut self.step {
            Step::AskName { name, error } => {
                ui.add_space(40.0);
                ui.vertical_centered(|ui| {
                    ui.heading("Welcome to DXOS");
                    ui.add_space(8.0);
                    ui.label("Your data stays on your devices. What should others see as your name?");
                    ui.add_space(12.0);
                    let field = ui.add(egui::TextEdit::singleline(name).hint_text("Your name").desired_width(280.0));
                    field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Your name"));
                    // Start in the field, but let Enter take the focus away (that is how it submits).
                    if ui.memory(|m| m.focused().is_none()) && !field.lost_focus() {
                        field.request_focus();
                    }
                    let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    ui.add_space(8.0);
                    let ok = ui.add_enabled(!name.trim().is_empty(), egui::Button::new("Continue"));
                    if (ok.clicked() || enter) && !name.trim().is_empty() {
                        start = Some(name.trim().to_owned());
                    }
                    if let Some(e) = error {
                        ui.colored_label(ui.visuals().error_fg_color, e.as_str());
                    }
                    ui.add_space(24.0);
                    ui.label("Already use DXOS on another device?");
                    if ui.button("Join my other device").clicked() {
                        app.open_dialog(Box::new(super::join_dialog::JoinDialog::new()));
                    }
                });
            }
            Step::Creating(rx) => {
                ui.add_space(40.0);
                ui.vertical_centered(|ui| {
                    ui.spinner();
                    ui.label("Creating your identity…");
                });
                match rx.try_recv() {
                    Ok(Ok((space, phrase))) => self.step = Step::ShowPhrase { space, phrase },
                    Ok(Err(e)) => self.step = Step::AskName { name: String::new(), error: Some(e) },
                    Err(TryRecvError::Empty) => {}
                    Err(TryRecvError::Disconnected) => {
                        self.step = Step::AskName { name: String::new(), error: Some("Something went wrong.".into()) }
                    }
                }
            }
            Step::ShowPhrase { space, phrase } => {
                ui.add_space(24.0);
                ui.vertical_centered(|ui| {
                    ui.heading("Your recovery phrase");
                    ui.label("Write these 24 words down and keep them safe. They restore your identity on a new");
                    ui.label(
                        "device if this one is lost. Anyone who has them can act as you. Settings show them again.",
                    );
                    ui.add_space(12.0);
                });
                let words: Vec<&str> = phrase.split_whitespace().collect();
                egui::Grid::new("phrase").num_columns(4).spacing([24.0, 6.0]).show(ui, |ui| {
                    for (i, w) in words.iter().enumerate() {
                        ui.monospace(format!("{:>2}. {w}", i + 1));
                        if i % 4 == 3 {
                            ui.end_row();
                        }
                    }
                });
                ui.add_space(12.0);
                ui.vertical_centered(|ui| {
                    if ui.button("I wrote it down").clicked() {
                        done = Some(Ready { space: space.clone() });
                    }
                });
            }
        }
        if let Some(name) = start {
            self.start(ui.ctx(), name);
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dxos_client::{Local, Profile};
    use eframe::egui::accesskit::Role;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;

    #[test]
    fn first_run_creates_the_identity_and_shows_the_phrase() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let profile = Profile::new(Some(dir.path().join("p"))).unwrap_or_else(|e| panic!("{e}"));
        let local = Arc::new(Local::open(&profile).unwrap_or_else(|e| panic!("{e}")));
        let services = Services::new(local.clone(), None);
        let app = super::super::state::AppState::new(services.clone(), None);
        let mut h = Harness::new_ui_state(
            |ui, state: &mut (WelcomeView, Option<Ready>, super::super::state::AppState)| {
                if let Some(r) = state.0.ui(ui, &mut state.2) {
                    state.1 = Some(r);
                }
            },
            (WelcomeView::new(services), None, app),
        );
        h.run();
        // No name, no way on.
        h.key_press(egui::Key::Enter);
        h.run();
        assert!(local.identity().is_none());
        h.get_by_role(Role::TextInput).focus();
        h.step();
        h.get_by_role(Role::TextInput).type_text("Ada Lovelace");
        h.step();
        h.key_press(egui::Key::Enter);
        // The identity is made on a background thread: wait for the phrase screen.
        let mut shown = false;
        for _ in 0..200 {
            h.step(); // a spinner keeps repainting: step, do not wait to settle
            if h.query_by_label("I wrote it down").is_some() {
                shown = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        assert!(shown, "the recovery phrase screen appears");
        let phrase = local.recovery_phrase().unwrap_or_default();
        let first = phrase.split_whitespace().next().unwrap_or_default().to_owned();
        h.get_by_label_contains(&format!("1. {first}"));
        h.get_by_label("I wrote it down").click();
        h.run();
        let ready = h.state().1.as_ref().map(|r| r.space.name());
        assert_eq!(ready.as_deref(), Some(super::super::DEFAULT_SPACE));
        assert_eq!(local.identity().map(|i| i.display_name), Some("Ada Lovelace".to_owned()));
    }
}
