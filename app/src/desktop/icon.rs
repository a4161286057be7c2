//! The app's icon (assets/icon/, drawn for this project; scripts/icons.sh makes the PNGs from
//! the SVG), built into the binary so an installed `dxos` needs no other file.

use eframe::egui;

/// The SVG source, installed as the scalable icon.
pub const SVG: &[u8] = include_bytes!("../../../assets/icon/dxos.svg");

/// The PNGs by size in pixels, installed into the icon theme's fixed sizes.
pub const PNGS: &[(u32, &[u8])] = &[
    (16, include_bytes!("../../../assets/icon/dxos-16.png")),
    (24, include_bytes!("../../../assets/icon/dxos-24.png")),
    (32, include_bytes!("../../../assets/icon/dxos-32.png")),
    (48, include_bytes!("../../../assets/icon/dxos-48.png")),
    (64, include_bytes!("../../../assets/icon/dxos-64.png")),
    (128, include_bytes!("../../../assets/icon/dxos-128.png")),
    (256, include_bytes!("../../../assets/icon/dxos-256.png")),
    (512, include_bytes!("../../../assets/icon/dxos-512.png")),
];

/// The window's icon (the 256-pixel PNG decoded), or `None` if it does not decode (the window
/// then opens with the desktop's default icon).
pub fn window_icon() -> Option<egui::IconData> {
    let (_, png) = PNGS.iter().find(|(n, _)| *n == 256)?;
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png).ok()?.into_rgba8();
    let (width, height) = img.dimensions();
    Some(egui::IconData { rgba: img.into_raw(), width, height })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_png_decodes_at_its_size() {
        for (n, png) in super::PNGS {
            let img = image::load_from_memory(png).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!((img.width(), img.height()), (*n, *n));
        }
        let icon = super::window_icon().unwrap_or_else(|| panic!("the window icon decodes"));
        assert_eq!(icon.rgba.len(), (icon.width * icon.height * 4) as usize);
        assert!(std::str::from_utf8(super::SVG).is_ok_and(|s| s.contains("<svg")));
    }
}
