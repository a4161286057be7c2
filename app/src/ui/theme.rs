//! The Theme plugin: light, dark or following the system; the text size; the system's fonts
//! for characters the app's own fonts lack (see [`super::fonts`]); and the theme's *tokens*,
//! the colours every surface draws with (no surface names a colour of its own). The choice is
//! kept with the window's saved state and applied at start.

use eframe::egui::{self, Color32};
use serde::{Deserialize, Serialize};

use super::plugin::{Contribution, Plugin, Registry, Surface, SurfaceRole};
use super::state::AppState;

/// Light, dark, or as the system says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThemeMode {
    /// Follow the system's setting.
    #[default]
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

/// The person's theme choice, as saved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThemeSettings {
    /// Light, dark or system.
    pub mode: ThemeMode,
    /// Text size, relative to the default (0.8 to 1.6).
    pub text_scale: f32,
}

impl Default for ThemeSettings {
    fn default() -> Self {
        Self { mode: ThemeMode::System, text_scale: 1.0 }
    }
}

/// The smallest and largest text sizes offered.
pub const TEXT_SCALE: std::ops::RangeInclusive<f32> = 0.8..=1.6;

impl ThemeSettings {
    /// Applies the choice to every style of `ctx` (light and dark).
    pub fn apply(&self, ctx: &egui::Context) {
        let scale = if self.text_scale.is_finite() {
            self.text_scale.clamp(*TEXT_SCALE.start(), *TEXT_SCALE.end())
        } else {
            1.0
        };
        ctx.options_mut(|o| {
            o.theme_preference = match self.mode {
                ThemeMode::System => egui::ThemePreference::System,
                ThemeMode::Light => egui::ThemePreference::Light,
                ThemeMode::Dark => egui::ThemePreference::Dark,
            }
        });
        let base = egui::Style::default().text_styles;
        ctx.all_styles_mut(|s| {
            for (style, font) in s.text_styles.iter_mut() {
                if let Some(b) = base.get(style) {
                    font.size = (b.size * scale).round();
                }
            }
        });
    }
}

/// The colours surfaces draw with, for the theme in effect (read from `ui.visuals()`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tokens {
    /// Body text.
    pub text: Color32,
    /// Secondary text (hints, roles, counts).
    pub weak: Color32,
    /// Emphasised text (headings, strong).
    pub strong: Color32,
    /// Links and the accent.
    pub accent: Color32,
    /// Behind code.
    pub code_bg: Color32,
    /// Markdown syntax marks (`#`, `*`, list bullets).
    pub mark: Color32,
    /// Something is on / online.
    pub online: Color32,
    /// A problem.
    pub error: Color32,
    /// Colours for people (presence), picked per identity.
    pub people: [Color32; 8],
    /// Text on a person's colour.
    pub on_person: Color32,
}

const LIGHT_PEOPLE: [Color32; 8] = [
    Color32::from_rgb(0xd9, 0x48, 0x3b),
    Color32::from_rgb(0x1f, 0x7a, 0xe0),
    Color32::from_rgb(0x2e, 0x9e, 0x4f),
    Color32::from_rgb(0xb5, 0x6c, 0x00),
    Color32::from_rgb(0x8e, 0x44, 0xc9),
    Color32::from_rgb(0x00, 0x8b, 0x8b),
    Color32::from_rgb(0xc2, 0x18, 0x7a),
    Color32::from_rgb(0x5d, 0x6d, 0x7e),
];

const DARK_PEOPLE: [Color32; 8] = [
    Color32::from_rgb(0xff, 0x7a, 0x6b),
    Color32::from_rgb(0x6c, 0xb2, 0xff),
    Color32::from_rgb(0x6f, 0xd6, 0x8a),
    Color32::from_rgb(0xf5, 0xb0, 0x4c),
    Color32::from_rgb(0xc3, 0x94, 0xff),
    Color32::from_rgb(0x4f, 0xd6, 0xd6),
    Color32::from_rgb(0xff, 0x7e, 0xc6),
    Color32::from_rgb(0xa9, 0xb7, 0xc6),
];

impl Tokens {
    /// The tokens for `visuals` (light or dark).
    pub fn of(visuals: &egui::Visuals) -> Self {
        let dark = visuals.dark_mode;
        Self {
            text: visuals.text_color(),
            weak: visuals.weak_text_color(),
            strong: visuals.strong_text_color(),
            accent: visuals.hyperlink_color,
            code_bg: visuals.code_bg_color,
            mark: if dark { Color32::from_rgb(0x8a, 0x93, 0xa6) } else { Color32::from_rgb(0x7a, 0x82, 0x94) },
            online: if dark { Color32::from_rgb(0x5c, 0xc8, 0x7a) } else { Color32::from_rgb(0x2e, 0x9e, 0x4f) },
            error: visuals.error_fg_color,
            people: if dark { DARK_PEOPLE } else { LIGHT_PEOPLE },
            on_person: if dark { Color32::from_rgb(0x10, 0x12, 0x16) } else { Color32::WHITE },
        }
    }

    /// The tokens for the theme a `ui` draws with.
    pub fn ui(ui: &egui::Ui) -> Self {
        Self::of(ui.visuals())
    }

    /// A person's colour: the same for an identity everywhere (on every peer).
    pub fn person(&self, identity: &[u8]) -> Color32 {
        let h = identity.iter().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(*b)));
        self.people[(h as usize) % self.people.len()]
    }
}

/// Installs the theme (first of all plugins, so every surface is drawn with it).
pub struct ThemePlugin;

/// Contributes the Appearance section (last in the sidebar).
pub struct AppearancePlugin;

impl Plugin for AppearancePlugin {
    fn register(&self, r: &mut Registry) {
        r.add(Contribution {
            role: SurfaceRole::Sidebar,
            id: "appearance",
            label: "Appearance",
            typename: None,
            make: |_, _| Some(Box::new(AppearanceSection)),
        });
    }
}

impl Plugin for ThemePlugin {
    fn setup(&self, ctx: &egui::Context) {
        ThemeSettings::default().apply(ctx);
        ctx.all_styles_mut(|s| s.spacing.item_spacing = egui::vec2(8.0, 6.0));
        super::fonts::install_system_fallback(ctx);
    }
}

/// Light/dark/system and the text size.
struct AppearanceSection;

impl Surface for AppearanceSection {
    fn ui(&mut self, ui: &mut egui::Ui, app: &mut AppState) {
        appearance_ui(ui, app);
    }
}

/// The theme's choices (light, dark or the system's, and the text size), applied at once;
/// the Appearance section and Settings both show them.
pub fn appearance_ui(ui: &mut egui::Ui, app: &mut AppState) {
    let mut t = app.theme;
    ui.horizontal(|ui| {
        ui.selectable_value(&mut t.mode, ThemeMode::System, "System");
        ui.selectable_value(&mut t.mode, ThemeMode::Light, "Light");
        ui.selectable_value(&mut t.mode, ThemeMode::Dark, "Dark");
    });
    ui.horizontal(|ui| {
        ui.label("Text size");
        let r = ui.add(egui::Slider::new(&mut t.text_scale, TEXT_SCALE).step_by(0.1).show_value(false));
        r.widget_info(|| egui::WidgetInfo::slider(true, f64::from(t.text_scale), "Text size"));
        if ui.small_button("Reset").clicked() {
            t.text_scale = 1.0;
        }
    });
    if t != app.theme {
        app.theme = t;
        t.apply(ui.ctx());
    }
}
