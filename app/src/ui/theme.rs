//! The Theme plugin: light or dark, following the system, a little more air, and the
//! system's fonts for characters the app's own fonts lack (see [`super::fonts`]).

use eframe::egui;

use super::plugin::Plugin;

/// Follows the system's light/dark setting.
pub struct ThemePlugin;

impl Plugin for ThemePlugin {
    fn setup(&self, ctx: &egui::Context) {
        ctx.options_mut(|o| o.theme_preference = egui::ThemePreference::System);
        ctx.all_styles_mut(|s| s.spacing.item_spacing = egui::vec2(8.0, 6.0));
        super::fonts::install_system_fallback(ctx);
    }
}
