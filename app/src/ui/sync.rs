//! The sync section of the sidebar: offline, connected, or syncing with progress; how each
//! peer is reached; the relays this profile reserves on (added and removed here).

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
            make: |_, _| Some(Box::new(SyncSection::default())),
        });
    }
}

#[derive(Default)]
struct SyncSection {
    /// The relay address being typed.
    new_relay: String,
}

/// A relay's address, shortened for the sidebar: its host and port, and its peer id's end.
fn short_relay(addr: &str) -> String {
    let parts: Vec<&str> = addr.split('/').collect();
    let host = parts.get(2).copied().unwrap_or(addr);
    let port = parts.get(4).copied().unwrap_or_default();
    // By characters: a hand-edited relays.json may hold anything.
    let last = parts.last().copied().unwrap_or_default();
    let id: String = last.chars().skip(last.chars().count().saturating_sub(6)).collect();
    format!("{host}:{port} …{id}")
}

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
        // The snapshot is shared: holding it lets the buttons below use `app`, with no copy.
        let s = app.snapshot.clone();
        let s = &*s;
        ui.label(describe(s));
        let (pending, total) = s.syncing;
        if pending > 0 && total > 0 {
            ui.add(egui::ProgressBar::new((total - pending) as f32 / total as f32).desired_width(160.0));
        }
        for p in &s.reached {
            ui.label(format!("{}: {}", p.name, p.how));
        }
        ui.add_space(4.0);
        relays_ui(ui, app, &mut self.new_relay);
    }
}

/// The profile's relays, each with Remove, and a field to add one; the Sync section and
/// Settings both show it (`new_relay` holds the address being typed).
pub fn relays_ui(ui: &mut egui::Ui, app: &mut AppState, new_relay: &mut String) {
    let s = app.snapshot.clone();
    ui.label(egui::RichText::new("Relays").strong());
    if s.relays.is_empty() {
        ui.label(egui::RichText::new("None: devices on other networks cannot reach this one.").weak());
    }
    for r in &s.relays {
        ui.horizontal(|ui| {
            ui.label(short_relay(r)).on_hover_text(r);
            let b = ui.small_button("Remove");
            b.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, format!("Remove relay {r}")));
            if b.clicked() {
                let r = r.clone();
                app.spawn_write(ui.ctx(), "remove the relay", move |c| c.remove_relay(&r).map(|_| ()));
            }
        });
    }
    ui.horizontal(|ui| {
        let edit =
            egui::TextEdit::singleline(new_relay).hint_text("/ip4/…/udp/4001/quic-v1/p2p/…").desired_width(150.0);
        let field = ui.add(edit);
        field.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Relay address"));
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button("Add relay").clicked() || enter) && !new_relay.trim().is_empty() {
            let addr = std::mem::take(new_relay).trim().to_owned();
            app.spawn_write(ui.ctx(), "add the relay", move |c| c.add_relay(&addr).map(|_| ()));
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_relay_address_is_shortened_by_characters() {
        let addr = "/ip4/203.0.113.9/udp/4001/quic-v1/p2p/12D3KooWDFmdaRwqgVNr9iMPL5vqiZr15KFdEtgASuLeRXNE5Du9";
        assert_eq!(super::short_relay(addr), "203.0.113.9:4001 …NE5Du9");
        // A hand-edited list may hold anything: no panic on a multi-byte character.
        assert_eq!(super::short_relay("/ip4/h/udp/1/p2p/ééééééé"), "h:1 …éééééé");
        assert_eq!(super::short_relay("é"), "é: …é");
    }
}
