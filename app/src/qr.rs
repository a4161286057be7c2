//! QR codes of invitations: drawn (Unicode half-blocks for the terminal, grey pixels for the
//! app's texture and for PNG files) and read back (from a picture file, a pasted image or a
//! camera frame) with `rqrr`.

use std::path::Path;

use qrcode::render::unicode::Dense1x2;
use qrcode::{EcLevel, QrCode};

/// Modules of white border around a code (the QR spec's quiet zone).
pub const QUIET_ZONE: usize = 4;

/// Why a QR code could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The text does not fit a QR code.
    #[error("cannot make a QR code of this text: {0}")]
    Encode(String),
    /// The picture could not be opened.
    #[error("cannot read the picture: {0}")]
    Image(String),
    /// No QR code was found.
    #[error("no QR code found in the picture")]
    NotFound,
    /// A code was found but not read.
    #[error("a QR code was found but could not be read (blurred, cut off or damaged): {0}")]
    Unreadable(String),
}

/// A greyscale picture: 0 is black, 255 white; rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Luma {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` values.
    pub pixels: Vec<u8>,
}

fn code(text: &str) -> Result<QrCode, QrError> {
    // Level M: survives some damage and glare, still small for a ~220-character URI.
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|e| QrError::Encode(e.to_string()))
}

/// The code as Unicode half-blocks, light modules drawn (for a dark terminal), with its quiet
/// zone: two modules per character cell, so it stays square.
pub fn terminal(text: &str) -> Result<String, QrError> {
    Ok(code(text)?
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// The code as pixels, `module_px` pixels per module, with the quiet zone.
pub fn luma(text: &str, module_px: usize) -> Result<Luma, QrError> {
    let code = code(text)?;
    let n = code.width();
    let colors = code.to_colors();
    let px = module_px.max(1);
    let side = (n + 2 * QUIET_ZONE) * px;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i % n + QUIET_ZONE, i / n + QUIET_ZONE);
        for y in my * px..(my + 1) * px {
            pixels[y * side + mx * px..y * side + (mx + 1) * px].fill(0);
        }
    }
    Ok(Luma { width: side, height: side, pixels })
}

/// Reads the first QR code found in a picture.
pub fn decode(img: &Luma) -> Result<String, QrError> {
    if img.pixels.len() != img.width * img.height || img.width == 0 {
        return Err(QrError::Image("the picture is empty".into()));
    }
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(img.width, img.height, |x, y| img.pixels[y * img.width + x]);
    let grids = prepared.detect_grids();
    let mut last = None;
    for g in grids {
        match g.decode() {
            Ok((_, text)) => return Ok(text),
            Err(e) => last = Some(e.to_string()),
        }
    }
    Err(match last {
        Some(e) => QrError::Unreadable(e),
        None => QrError::NotFound,
    })
}

/// A picture given as RGBA bytes (a pasted image), as greyscale.
pub fn from_rgba(width: usize, height: usize, rgba: &[u8]) -> Result<Luma, QrError> {
    if rgba.len() != width * height * 4 || width == 0 {
        return Err(QrError::Image(format!("{} bytes for a {width}x{height} picture", rgba.len())));
    }
    let pixels = rgba
        .chunks_exact(4)
        .map(|p| ((299 * p[0] as u32 + 587 * p[1] as u32 + 114 * p[2] as u32) / 1000) as u8)
        .collect();
    Ok(Luma { width, height, pixels })
}

/// Reads the QR code in the picture on the clipboard (a screenshot pasted, say).
pub fn decode_clipboard() -> Result<String, QrError> {
    let mut clip = arboard::Clipboard::new().map_err(|e| QrError::Image(format!("the clipboard: {e}")))?;
    let img = clip.get_image().map_err(|e| match e {
        arboard::Error::ContentNotAvailable => QrError::Image("the clipboard holds no picture".into()),
        e => QrError::Image(format!("the clipboard: {e}")),
    })?;
    decode(&from_rgba(img.width, img.height, &img.bytes)?)
}

/// Reads a picture (PNG or JPEG) as greyscale.
pub fn load(bytes: &[u8]) -> Result<Luma, QrError> {
    let img = image::load_from_memory(bytes).map_err(|e| QrError::Image(e.to_string()))?.to_luma8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    Ok(Luma { width: w, height: h, pixels: img.into_raw() })
}

/// Reads the QR code in a picture file.
pub fn decode_file(path: &Path) -> Result<String, QrError> {
    let bytes = std::fs::read(path).map_err(|e| QrError::Image(format!("{}: {e}", path.display())))?;
    decode(&load(&bytes)?)
}

/// Writes a picture as PNG.
pub fn write_png(img: &Luma, path: &Path) -> Result<(), QrError> {
    image::GrayImage::from_raw(img.width as u32, img.height as u32, img.pixels.clone())
        .ok_or_else(|| QrError::Image("bad picture size".into()))?
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| QrError::Image(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "DXOS:AEAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn renders_and_reads_back_at_several_sizes() {
        let long = format!("DXOS:{}", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".repeat(9));
        for text in [URI, long.as_str()] {
            for px in [2, 3, 5, 8] {
                let img = luma(text, px).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(decode(&img).as_deref(), Ok(text), "{px} px per module");
            }
        }
    }

    #[test]
    fn an_offer_uri_makes_a_small_code() {
        // The longest URI an offer may take stays at version 10 (57 modules a side) at level M.
        let longest = format!("DXOS:{}", "A".repeat(MAX - 5));
        let v = code(&longest).map(|c| c.version()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v, qrcode::Version::Normal(10), "{v:?}");
        let typical = format!("DXOS:{}", "A".repeat(204));
        let v = code(&typical).map(|c| c.version()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v, qrcode::Version::Normal(8), "{v:?}");
    }

    const MAX: usize = dxos_client::MAX_INVITATION_LEN;

    #[test]
    fn terminal_form_is_square_half_blocks() {
        let t = terminal(URI).unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<&str> = t.lines().collect();
        let w = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == w));
        assert_eq!(lines.len(), w.div_ceil(2));
        assert!(t.chars().all(|c| " \u{2580}\u{2584}\u{2588}\n".contains(c)));
    }

    #[test]
    fn a_pasted_rgba_picture_is_read() {
        let img = luma(URI, 3).unwrap_or_else(|e| panic!("{e}"));
        // Dark blue on light yellow, as a screenshot might be.
        let rgba: Vec<u8> =
            img.pixels.iter().flat_map(|&p| if p < 128 { [10, 20, 90, 255] } else { [250, 240, 200, 255] }).collect();
        let back = from_rgba(img.width, img.height, &rgba).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decode(&back).as_deref(), Ok(URI));
        assert!(matches!(from_rgba(3, 3, &[0; 5]), Err(QrError::Image(_))));
    }

    #[test]
    fn damaged_pictures_are_clear_errors() {
        let img = luma(URI, 4).unwrap_or_else(|e| panic!("{e}"));
        // Cut in half.
        let half = Luma {
            width: img.width,
            height: img.height / 2,
            pixels: img.pixels[..img.width * (img.height / 2)].to_vec(),
        };
        assert!(matches!(decode(&half), Err(QrError::NotFound | QrError::Unreadable(_))));
        // Blank.
        let blank = Luma { width: 100, height: 100, pixels: vec![255; 10_000] };
        assert_eq!(decode(&blank), Err(QrError::NotFound));
        assert!(matches!(load(b"not a picture"), Err(QrError::Image(_))));
    }
}
