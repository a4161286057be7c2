//! Right-to-left text in its reading order. egui lays text out left to right; its shaper turns
//! each run of Arabic or Hebrew letters around (and joins Arabic letters), but it puts the runs
//! themselves, the words of a sentence, left to right. Here the Unicode Bidirectional Algorithm
//! (`unicode-bidi`) orders a line's runs as they are read, and each word of a right-to-left
//! run becomes a section of its own, so egui shapes it alone and in logical order.
//!
//! Only for text that is shown; what is stored, edited and read to a screen reader stays in
//! logical order.

use std::ops::Range;

use eframe::egui;
use unicode_bidi::{BidiClass, BidiInfo, bidi_class};

/// True if `text` has a right-to-left letter (Hebrew, Arabic, Syriac, Thaana, N'Ko, ...).
pub fn has_rtl(text: &str) -> bool {
    text.chars().any(is_rtl_letter)
}

fn is_rtl_letter(c: char) -> bool {
    matches!(bidi_class(c), BidiClass::R | BidiClass::AL)
}

/// Belongs to the right-to-left word it stands in: its letters and their marks.
fn in_rtl_word(c: char) -> bool {
    matches!(bidi_class(c), BidiClass::R | BidiClass::AL | BidiClass::NSM)
}

/// The pieces of `text` in the order they are drawn, left to right: left-to-right runs as
/// they are, right-to-left runs word by word from the end, each word in logical order (the
/// shaper draws it right to left), the spaces and punctuation between them reversed and
/// mirrored. Text with no right-to-left letter is one piece.
pub fn visual_pieces(text: &str) -> Vec<String> {
    if !has_rtl(text) {
        return vec![text.to_owned()];
    }
    let info = BidiInfo::new(text, None);
    let mut out = Vec::new();
    for para in &info.paragraphs {
        let (levels, runs) = info.visual_runs(para, para.range.clone());
        for run in runs {
            let Some(level) = levels.get(run.start) else { continue };
            let s = &text[run.clone()];
            if level.is_rtl() {
                out.extend(rtl_run(s));
            } else {
                out.push(s.to_owned());
            }
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// A right-to-left run, drawn left to right: its words from the last to the first.
fn rtl_run(s: &str) -> Vec<String> {
    let mut pieces: Vec<(bool, Range<usize>)> = Vec::new();
    for (i, c) in s.char_indices() {
        let word = in_rtl_word(c);
        match pieces.last_mut() {
            Some((w, r)) if *w == word => r.end = i + c.len_utf8(),
            _ => pieces.push((word, i..i + c.len_utf8())),
        }
    }
    pieces
        .into_iter()
        .rev()
        .map(|(word, r)| if word { s[r].to_owned() } else { s[r].chars().rev().map(mirror).collect() })
        .collect()
}

/// The mirrored form of a bracket, as drawn in right-to-left text.
fn mirror(c: char) -> char {
    match c {
        '(' => ')',
        ')' => '(',
        '[' => ']',
        ']' => '[',
        '{' => '}',
        '}' => '{',
        '<' => '>',
        '>' => '<',
        '«' => '»',
        '»' => '«',
        other => other,
    }
}

/// `text` as a layout job in reading order, each piece styled by `style` (for example
/// struck through). Text with no right-to-left letter is one section, as a plain label.
pub fn job(ui: &egui::Ui, text: &str, style: impl Fn(egui::RichText) -> egui::RichText) -> egui::text::LayoutJob {
    let mut job = egui::text::LayoutJob::default();
    for piece in visual_pieces(text) {
        style(egui::RichText::new(piece)).append_to(
            &mut job,
            ui.style(),
            egui::FontSelection::Default,
            egui::Align::Center,
        );
    }
    job
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_to_right_text_is_one_piece() {
        assert_eq!(visual_pieces("Milk and 牛乳"), ["Milk and 牛乳"]);
        assert!(!has_rtl("Crème brûlée"));
    }

    #[test]
    fn an_arabic_sentence_reads_from_the_right() {
        // "Buy the milk": the first word is drawn rightmost; each word stays in logical order
        // for the shaper, which draws its letters right to left.
        assert_eq!(visual_pieces("اشتري الحليب"), ["الحليب", " ", "اشتري"]);
        assert_eq!(visual_pieces("לקנות חלב"), ["חלב", " ", "לקנות"]);
    }

    #[test]
    fn mixed_text_keeps_each_direction() {
        // A left-to-right line with a Hebrew phrase in it: the phrase's words swap places.
        assert_eq!(visual_pieces("Buy חלב טרי today"), ["Buy ", "טרי", " ", "חלב", " today"]);
        // An Arabic line with a number and a Latin word: they read left to right in place.
        let p = visual_pieces("اشتري 2 Milk");
        assert_eq!(p.concat().chars().filter(|c| !c.is_whitespace()).count(), 10);
        assert_eq!(p.first().map(String::as_str), Some("Milk"));
        assert_eq!(p.last().map(String::as_str), Some("اشتري"));
    }

    #[test]
    fn brackets_in_right_to_left_text_are_mirrored() {
        // "Milk (fresh)": the closing bracket is drawn leftmost, mirrored.
        assert_eq!(visual_pieces("حليب (طازج)"), ["(", "طازج", ") ", "حليب"]);
    }
}
