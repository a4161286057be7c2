//! The sync section of the sidebar: offline, connected, or syncing with progress.

use eframe::egui;

use super::plugin::{Contribution, Plugin, Registry, Surface, SurfaceRole};
use super::state::AppState;

/// Contributes the sync state.
pub struct SyncPlugin;

impl Plugin for SyncPlugin {
    fn register(&self, r: &mut Registry) {
        r.add(Contribution {
            role: SurfaceRole::Sidebar,
            id: "sync",
            label: "Sync",
            typename: None,
            make: |_, _| Some(Box::new(SyncSection)),
        });
    }
}

struct SyncSection;

/// The sync state in words.
pub fn describe(s: &super::state::Snapshot) -> String {
    let (pending, total) = s.syncing;
    if !s.node {
        "Offline: the network is not running. Your changes are kept.".into()
    } else if s.peers == 0 {
        "Offline: no peer connected. Your changes are kept and sync when one is.".into()
    } else if pending > 0 {
        format!("Syncing {} of {total}…", total - pending)
    } else {
        format!("Up to date with {} peer{}.", s.peers, if s.peers == 1 { "" } else { "s" })
    }
}

impl Surface for SyncSection {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        let s = &app.snapshot;
        ui.label(describe(s));
        let (pending, total) = s.syncing;
        if pending > 0 && total > 0 {
            ui.add(egui::ProgressBar::new((total - pending) as f32 / total as f32).desired_width(160.0));
        }
    }
}
