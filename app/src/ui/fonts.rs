//! Text in every script: the app's own fonts come first, and a character none of them has is
//! found among the system's fonts (fontdb, pure Rust) and that font is added after them.
//!
//! egui asks for a missing character through [`FontProvider::font_for`] while it lays text
//! out, on the UI thread, so asking only queues the character: a background thread scans the
//! system fonts (once, on the first missing character), picks the face that has it, reads
//! its file and adds it to the context, then asks for a repaint. Until then the character
//! shows as a box for a moment. Nothing here reads the disk on the UI thread.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use eframe::egui;
use egui::epaint::text::{FallbackRequest, FontData, FontInsert, FontPriority, FontProvider, InsertFontFamily};

/// Missing characters queued for the background thread; more in one burst are dropped (egui
/// asks again the next time its fonts change).
const QUEUE: usize = 4096;

/// The system's font faces, in the order they are preferred as a fallback.
pub struct SystemFonts {
    db: fontdb::Database,
    /// Face ids, most preferred first.
    order: Vec<fontdb::ID>,
}

/// A face chosen for a character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The face in the database.
    pub id: fontdb::ID,
    /// Its name as added to egui (`system:` and its PostScript name).
    pub name: String,
}

impl SystemFonts {
    /// Scans the system's fonts (fontconfig's folders, as configured). Blocking: reads many
    /// files' headers; call it off the UI thread.
    pub fn scan() -> Self {
        let mut db = fontdb::Database::new();
        db.load_system_fonts();
        Self::from_database(db)
    }

    /// Uses the faces of `db`.
    pub fn from_database(db: fontdb::Database) -> Self {
        let mut faces: Vec<&fontdb::FaceInfo> = db.faces().collect();
        faces.sort_by_key(|f| preference(f));
        let order = faces.iter().map(|f| f.id).collect();
        Self { db, order }
    }

    /// How many faces there are.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True if no font was found at all.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The most preferred face with a glyph for `c` (regular upright sans-serif first).
    /// Blocking: maps font files to read their character maps.
    pub fn face_for(&self, c: char) -> Option<Found> {
        self.order.iter().find_map(|&id| {
            let has = self.db.with_face_data(id, |data, index| {
                ttf_parser::Face::parse(data, index).ok().and_then(|f| f.glyph_index(c)).is_some_and(|g| g.0 != 0)
            });
            let info = self.db.face(id)?;
            has.unwrap_or(false).then(|| Found { id, name: format!("system:{}", info.post_script_name) })
        })
    }

    /// The font egui gets for `found`: its file's bytes and the face's index. Blocking: reads
    /// the file.
    pub fn load(&self, found: &Found) -> Option<FontInsert> {
        let data = self.db.with_face_data(found.id, |data, index| {
            let bytes: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(data.to_vec());
            FontData::from_blob(bytes, index)
        })?;
        let families = [egui::FontFamily::Proportional, egui::FontFamily::Monospace]
            .into_iter()
            .map(|family| InsertFontFamily { family, priority: FontPriority::Lowest })
            .collect();
        Some(FontInsert { name: found.name.clone(), data, families })
    }
}

/// Sort key of a face as a fallback (smaller first): upright before slanted, proportional
/// before monospaced, sans before serif, weight nearest regular, then by name (stable).
fn preference(f: &fontdb::FaceInfo) -> (bool, bool, bool, u16, String, u32) {
    let family = f.families.first().map(|(n, _)| n.clone()).unwrap_or_default();
    let serif = family.contains("Serif") && !family.contains("Sans");
    (f.style != fontdb::Style::Normal, f.monospaced, serif, f.weight.0.abs_diff(400), family, f.index)
}

/// The provider egui asks for a missing character: it queues it and answers "none yet".
struct Asker {
    tx: SyncSender<char>,
}

impl FontProvider for Asker {
    fn font_for(&self, request: &FallbackRequest<'_>) -> Option<FontInsert> {
        // A full queue drops the character: egui asks again the next time its fonts change.
        let _ = self.tx.try_send(request.cluster.chars().next()?);
        None
    }
}

/// Where the fallback stands (for tests and logs).
#[derive(Default)]
pub struct FallbackStats {
    /// Faces added to the context so far.
    pub added: AtomicUsize,
    /// Characters looked up so far (each once).
    pub looked_up: AtomicUsize,
}

/// Lets egui fall back to the system's fonts for characters the app's fonts lack. Returns at
/// once; the work happens on a background thread that lives as long as the context asks.
pub fn install_system_fallback(ctx: &egui::Context) -> Arc<FallbackStats> {
    install_with(ctx, SystemFonts::scan)
}

/// As [`install_system_fallback`], with the faces `scan` returns (called once, on the
/// background thread, when the first character is missing).
pub fn install_with(ctx: &egui::Context, scan: fn() -> SystemFonts) -> Arc<FallbackStats> {
    let (tx, rx) = sync_channel(QUEUE);
    let stats = Arc::new(FallbackStats::default());
    let (c, s) = (ctx.clone(), stats.clone());
    let spawned = std::thread::Builder::new().name("dxos-fonts".into()).spawn(move || fallback_loop(&c, &rx, scan, &s));
    match spawned {
        Ok(_) => ctx.add_font_provider(Arc::new(Asker { tx })),
        Err(e) => tracing::warn!("no fallback fonts (cannot start a thread): {e}"),
    }
    stats
}

fn fallback_loop(ctx: &egui::Context, rx: &Receiver<char>, scan: fn() -> SystemFonts, stats: &FallbackStats) {
    let mut fonts: Option<SystemFonts> = None;
    let mut seen: HashSet<char> = HashSet::new();
    let mut added: HashSet<fontdb::ID> = HashSet::new();
    while let Ok(c) = rx.recv() {
        if !seen.insert(c) {
            continue;
        }
        let fonts = fonts.get_or_insert_with(|| {
            let start = std::time::Instant::now();
            let f = scan();
            tracing::info!("{} system font faces found in {:?}", f.len(), start.elapsed());
            f
        });
        stats.looked_up.fetch_add(1, Ordering::Relaxed);
        let Some(found) = fonts.face_for(c) else {
            tracing::debug!("no installed font has {c:?} (U+{:04X})", c as u32);
            continue;
        };
        if !added.insert(found.id) {
            continue;
        }
        match fonts.load(&found) {
            Some(insert) => {
                tracing::info!("using {} for {c:?} (U+{:04X}) and what else it has", found.name, c as u32);
                ctx.add_font(insert);
                stats.added.fetch_add(1, Ordering::Relaxed);
                ctx.request_repaint();
            }
            None => tracing::warn!("cannot read the font {}", found.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text people put in shared spaces, in several scripts (Japanese, Arabic, an emoji,
    /// Hebrew, Korean, Chinese, Greek, Cyrillic, accented Latin).
    pub const SAMPLE: &[&str] = &[
        "牛乳を買う",
        "اشتري الحليب",
        "🍞 Brot kaufen",
        "לקנות חלב",
        "우유 사기",
        "买牛奶",
        "Αγόρασε γάλα",
        "Купить молоко",
        "Crème brûlée, Ærø, Łódź",
    ];

    /// The characters of `text` egui must draw (not spaces, controls or joiners).
    fn drawn(text: &str) -> impl Iterator<Item = char> + '_ {
        text.chars().filter(|c| !c.is_whitespace() && !c.is_control() && !('\u{fe00}'..='\u{fe0f}').contains(c))
    }

    /// Characters of the sample the context cannot draw.
    fn missing(ctx: &egui::Context) -> Vec<char> {
        let font = egui::FontId::proportional(14.0);
        ctx.fonts_mut(|f| SAMPLE.iter().flat_map(|s| drawn(s)).filter(|&c| !f.has_glyph(&font, c)).collect())
    }

    #[test]
    fn every_character_of_a_multilingual_sample_gets_a_glyph() {
        let ctx = egui::Context::default();
        let run = |ctx: &egui::Context| {
            let mut out = ctx.run_ui(Default::default(), |ui| {
                for s in SAMPLE {
                    ui.label(*s);
                }
            });
            out.textures_delta.clear();
        };
        run(&ctx);
        let before = missing(&ctx);
        assert!(before.contains(&'牛') && before.contains(&'ا'), "egui's own fonts lack them: {before:?}");
        let stats = install_system_fallback(&ctx);
        let start = std::time::Instant::now();
        let mut left = before;
        while !left.is_empty() && start.elapsed() < std::time::Duration::from_secs(60) {
            run(&ctx);
            left = missing(&ctx);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            left.is_empty(),
            "no glyph for {left:?} after {:?} ({} faces added): install common fonts \
             (Debian: fonts-dejavu-core fonts-noto-cjk fonts-symbola, as .ci/run does)",
            start.elapsed(),
            stats.added.load(Ordering::Relaxed)
        );
        println!(
            "all {} sample characters drawn after {:?}, {} system faces added",
            SAMPLE.iter().flat_map(|s| drawn(s)).count(),
            start.elapsed(),
            stats.added.load(Ordering::Relaxed)
        );
    }

    #[test]
    fn a_face_is_found_for_what_it_has_and_added_to_both_families() {
        let hack = egui::epaint::text::FontDefinitions::default().font_data["Hack"].clone();
        let mut db = fontdb::Database::new();
        db.load_font_data((*hack.font).as_ref().to_vec());
        let fonts = SystemFonts::from_database(db);
        assert_eq!(fonts.len(), 1);
        // Hack has 'A' but not Japanese.
        assert!(fonts.face_for('A').is_some_and(|f| f.name.starts_with("system:Hack")));
        assert_eq!(fonts.face_for('牛'), None);
        let f = fonts.face_for('A').and_then(|f| fonts.load(&f));
        assert!(f.is_some_and(|f| f.families.len() == 2));
    }

    #[test]
    fn faces_are_preferred_upright_proportional_sans_and_regular() {
        let face = |name: &str, style, weight, monospaced| fontdb::FaceInfo {
            id: fontdb::ID::dummy(),
            source: fontdb::Source::Binary(Arc::new(Vec::<u8>::new())),
            index: 0,
            families: vec![(name.to_owned(), fontdb::Language::English_UnitedStates)],
            post_script_name: name.to_owned(),
            style,
            weight: fontdb::Weight(weight),
            stretch: fontdb::Stretch::Normal,
            monospaced,
        };
        use fontdb::Style::{Italic, Normal};
        let mut faces = [
            face("Noto Sans Italic", Italic, 400, false),
            face("Noto Sans Mono", Normal, 400, true),
            face("DejaVu Serif", Normal, 400, false),
            face("DejaVu Sans Bold", Normal, 700, false),
            face("DejaVu Sans", Normal, 400, false),
        ];
        faces.sort_by_key(preference);
        let names: Vec<&str> = faces.iter().map(|f| f.post_script_name.as_str()).collect();
        assert_eq!(names, ["DejaVu Sans", "DejaVu Sans Bold", "DejaVu Serif", "Noto Sans Mono", "Noto Sans Italic"]);
    }

    /// The string literals of a Rust source file's code before its test module: comments
    /// and tests are skipped (they are not shown to anyone).
    fn ui_strings(src: &str) -> Vec<String> {
        let code = src.split("#[cfg(test)]").next().unwrap_or_default();
        let mut out = Vec::new();
        let mut chars = code.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '/' if chars.peek() == Some(&'/') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                '\'' => {
                    // A char literal ('x', '\n') or a lifetime ('a): skip it whole.
                    let mut look = chars.clone();
                    let first = look.next();
                    let literal = match first {
                        Some('\\') => true,
                        Some(_) => look.next() == Some('\''),
                        None => false,
                    };
                    if literal {
                        let mut escaped = false;
                        for c in chars.by_ref() {
                            if c == '\'' && !escaped {
                                break;
                            }
                            escaped = c == '\\' && !escaped;
                        }
                    }
                }
                '"' => {
                    let mut s = String::new();
                    let mut escaped = false;
                    for c in chars.by_ref() {
                        if escaped {
                            escaped = false;
                            continue;
                        }
                        match c {
                            '\\' => escaped = true,
                            '"' => break,
                            c => s.push(c),
                        }
                    }
                    out.push(s);
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn the_literal_reader_finds_strings_and_skips_comments_and_tests() {
        let src = "// a comment \"→\"\nlet a = 'x'; let b = \"A → B\"; fn f<'a>() {} let c = \"q\\\"r\";\n#[cfg(test)]\nlet d = \"test\";";
        assert_eq!(ui_strings(src), ["A → B", "qr"]);
    }

    #[test]
    fn every_ui_string_has_a_glyph_in_the_fonts_the_app_ships() {
        // The app's own fonts (egui's: Ubuntu Light, Hack, Noto Emoji, the icon fonts), with
        // no system fallback: what every machine shows.
        let ctx = egui::Context::default();
        let mut out = ctx.run_ui(Default::default(), |_| {});
        out.textures_delta.clear();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("tests.rs") || n == "testing.rs"))
            .collect();
        files.sort();
        let mut checked = 0;
        let mut missing = Vec::new();
        for path in &files {
            let src = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
            for s in ui_strings(&src) {
                for c in drawn(&s) {
                    checked += 1;
                    let has = ctx.fonts_mut(|f| {
                        f.has_glyph(&egui::FontId::proportional(14.0), c)
                            && f.has_glyph(&egui::FontId::monospace(14.0), c)
                    });
                    if !has {
                        let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                        missing.push(format!("{file}: {s:?} has {c:?} (U+{:04X})", c as u32));
                    }
                }
            }
        }
        assert!(files.len() > 15 && checked > 2000, "read {} files, {checked} characters", files.len());
        assert!(missing.is_empty(), "characters the shipped fonts lack: {missing:#?}");
    }
}
