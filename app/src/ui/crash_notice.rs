//! The offer, at the top of the window, to show the report of a crash in an earlier run
//! (desktop::crash wrote it). Showing or dismissing it marks it seen (in a job: the frame
//! touches no disk); it is kept in the profile's `crashes/` folder either way.

use std::path::PathBuf;

use dxos_client::ClientError;
use eframe::egui;

use super::plugin::Surface;
use super::state::AppState;
use crate::desktop::crash::{self, Pending};

/// The reports not yet seen, and the offer to show them.
#[derive(Default)]
pub struct CrashNotice {
    reports: Vec<Pending>,
}

impl CrashNotice {
    /// Offers `reports` (oldest first).
    pub fn new(reports: Vec<Pending>) -> Self {
        Self { reports }
    }

    fn mark_seen(app: &AppState, paths: Vec<PathBuf>) {
        app.services.client.jobs().spawn("mark the crash report seen", move |_job| -> Result<(), ClientError> {
            for p in paths {
                crash::mark_seen(&p).map_err(|e| ClientError::io(format!("cannot rename {}", p.display()), e))?;
            }
            Ok(())
        });
    }

    /// Draws the offer (nothing when there is none).
    pub fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        let Some(last) = self.reports.last() else { return };
        let n = self.reports.len();
        let mut show = None;
        let mut dismiss = false;
        egui::Panel::top("crash-notice").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                let what = if n == 1 { "DXOS stopped unexpectedly last time." } else { "DXOS stopped unexpectedly." };
                ui.label(format!(
                    "{what} A report was saved on this computer (it holds no keys, links or codes; nothing was sent)."
                ));
                if ui.button("Show report").clicked() {
                    show = Some((last.path.clone(), last.text.clone()));
                }
                if ui.button("Dismiss").clicked() {
                    dismiss = true;
                }
            });
        });
        if let Some((path, text)) = show {
            app.dialog = Some(Box::new(ReportDialog { path, text }));
            dismiss = true;
        }
        if dismiss {
            let paths = self.reports.drain(..).map(|r| r.path).collect();
            Self::mark_seen(app, paths);
        }
    }
}

/// A crash report, to read and copy.
struct ReportDialog {
    path: PathBuf,
    text: String,
}

impl Surface for ReportDialog {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        ui.heading("Crash report");
        ui.label(format!("Saved as {}", self.path.display()));
        egui::ScrollArea::vertical().max_height(320.0).show(ui, |ui| {
            let mut text = self.text.as_str();
            let r = ui.add(egui::TextEdit::multiline(&mut text).code_editor().desired_width(f32::INFINITY));
            r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, false, "Crash report text"));
        });
        ui.horizontal(|ui| {
            if ui.button("Copy").clicked() {
                ui.ctx().copy_text(self.text.clone());
            }
            if ui.button("Close").clicked() {
                app.close_dialog = true;
            }
        });
    }
}
