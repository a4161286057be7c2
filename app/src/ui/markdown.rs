//! Markdown styled as you type: the editor's layouter. The text stays as written (the `#`, `*`
//! and backticks are shown, dimmed); headings are larger, emphasis italic, strong text and
//! headings in the strong colour, code on the code background in the monospace font, links in
//! the accent colour and underlined, list bullets and quote marks dimmed. Parsing is
//! pulldown-cmark's (CommonMark, with strikethrough); colours come from the theme's tokens.

use std::ops::Range;

use eframe::egui::{self, FontId, Stroke, TextFormat, text::LayoutJob};
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag};

use super::theme::Tokens;

/// A kind of styled run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Heading(u8),
    Emphasis,
    Strong,
    Strike,
    Code,
    Link,
    Quote,
    /// Syntax: bullets, `#`, emphasis stars, fences.
    Mark,
}

/// The styled runs of `text` (byte ranges), from its Markdown.
fn runs(text: &str) -> Vec<(Range<usize>, Kind)> {
    let mut out = Vec::new();
    let parser = Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH).into_offset_iter();
    for (event, range) in parser {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                let n = match level {
                    HeadingLevel::H1 => 1,
                    HeadingLevel::H2 => 2,
                    HeadingLevel::H3 => 3,
                    _ => 4,
                };
                out.push((range.clone(), Kind::Heading(n)));
                // The leading #s.
                let hashes = text[range.clone()].bytes().take_while(|b| *b == b'#').count();
                if hashes > 0 {
                    out.push((range.start..range.start + hashes, Kind::Mark));
                }
            }
            Event::Start(Tag::Emphasis) => {
                out.push((range.clone(), Kind::Emphasis));
                marks(&mut out, text, &range, 1);
            }
            Event::Start(Tag::Strong) => {
                out.push((range.clone(), Kind::Strong));
                marks(&mut out, text, &range, 2);
            }
            Event::Start(Tag::Strikethrough) => {
                out.push((range.clone(), Kind::Strike));
                marks(&mut out, text, &range, 2);
            }
            Event::Start(Tag::Link { .. }) => out.push((range, Kind::Link)),
            Event::Start(Tag::BlockQuote(_)) => out.push((range, Kind::Quote)),
            Event::Start(Tag::CodeBlock(_)) | Event::Code(_) => out.push((range, Kind::Code)),
            Event::Start(Tag::Item) => {
                // The bullet or number, up to the first space.
                let marker = text[range.clone()].find([' ', '\t', '\n']).unwrap_or(0);
                if marker > 0 {
                    out.push((range.start..range.start + marker, Kind::Mark));
                }
            }
            _ => {}
        }
    }
    out
}

/// Marks `n` bytes at each end of `range` as syntax (emphasis stars, tildes).
fn marks(out: &mut Vec<(Range<usize>, Kind)>, text: &str, range: &Range<usize>, n: usize) {
    if range.len() >= 2 * n && text.is_char_boundary(range.start + n) && text.is_char_boundary(range.end - n) {
        out.push((range.start..range.start + n, Kind::Mark));
        out.push((range.end - n..range.end, Kind::Mark));
    }
}

/// Sizes and colours for the layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    /// The theme's colours.
    pub tokens: Tokens,
    /// The body font size.
    pub body: f32,
    /// The monospace font size.
    pub mono: f32,
}

impl Look {
    /// The look of `ui`'s style.
    pub fn of(ui: &egui::Ui) -> Self {
        let style = ui.style();
        let size = |s: &egui::TextStyle, d: f32| style.text_styles.get(s).map_or(d, |f| f.size);
        Self {
            tokens: Tokens::ui(ui),
            body: size(&egui::TextStyle::Body, 14.0),
            mono: size(&egui::TextStyle::Monospace, 13.0),
        }
    }
}

/// The layout job for `text` as Markdown, wrapped at `wrap_width`.
pub fn layout_job(text: &str, look: &Look, wrap_width: f32) -> LayoutJob {
    let runs = runs(text);
    // Every run boundary splits the text into sections with one combined format.
    let mut cuts: Vec<usize> = Vec::with_capacity(runs.len() * 2 + 2);
    cuts.push(0);
    cuts.push(text.len());
    for (r, _) in &runs {
        cuts.push(r.start.min(text.len()));
        cuts.push(r.end.min(text.len()));
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut job = LayoutJob { text: text.to_owned(), ..Default::default() };
    job.wrap.max_width = wrap_width;
    // Runs sorted by start, swept with the set of open runs.
    let mut by_start: Vec<&(Range<usize>, Kind)> = runs.iter().collect();
    by_start.sort_by_key(|(r, _)| r.start);
    let mut next = 0;
    let mut open: Vec<&(Range<usize>, Kind)> = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a == b {
            continue;
        }
        open.retain(|(r, _)| r.end > a);
        while next < by_start.len() && by_start[next].0.start <= a {
            if by_start[next].0.end > a {
                open.push(by_start[next]);
            }
            next += 1;
        }
        job.sections.push(egui::text::LayoutSection {
            leading_space: 0.0,
            byte_range: egui::text::ByteIndex(a)..egui::text::ByteIndex(b),
            format: format(open.iter().map(|(_, k)| *k), look),
        });
    }
    job
}

fn format(kinds: impl Iterator<Item = Kind>, look: &Look) -> TextFormat {
    let t = &look.tokens;
    let mut f = TextFormat { font_id: FontId::proportional(look.body), color: t.text, ..Default::default() };
    let mut mark = false;
    for k in kinds {
        match k {
            Kind::Heading(n) => {
                let scale = match n {
                    1 => 1.6,
                    2 => 1.35,
                    3 => 1.2,
                    _ => 1.1,
                };
                f.font_id = FontId::proportional((look.body * scale).round());
                f.color = t.strong;
            }
            Kind::Emphasis => f.italics = true,
            Kind::Strong => f.color = t.strong,
            Kind::Strike => f.strikethrough = Stroke::new(1.0, t.weak),
            Kind::Code => {
                f.font_id = FontId::monospace(look.mono);
                f.background = t.code_bg;
            }
            Kind::Link => {
                f.color = t.accent;
                f.underline = Stroke::new(1.0, t.accent);
            }
            Kind::Quote => f.color = t.weak,
            Kind::Mark => mark = true,
        }
    }
    if mark {
        f.color = t.mark;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_at(text: &str, at: usize) -> Vec<Kind> {
        runs(text).into_iter().filter(|(r, _)| r.contains(&at)).map(|(_, k)| k).collect()
    }

    #[test]
    fn markdown_is_styled_where_it_is_written() {
        let text = "# Title\n\nSome *soft* and **loud** `code` [link](http://x)\n\n- item\n> quote\n";
        assert!(kinds_at(text, 2).contains(&Kind::Heading(1)));
        assert!(kinds_at(text, 0).contains(&Kind::Mark), "the # is syntax");
        let soft = text.find("soft").unwrap_or(0);
        assert_eq!(kinds_at(text, soft), [Kind::Emphasis]);
        let loud = text.find("loud").unwrap_or(0);
        assert_eq!(kinds_at(text, loud), [Kind::Strong]);
        assert_eq!(kinds_at(text, text.find("code").unwrap_or(0)), [Kind::Code]);
        assert_eq!(kinds_at(text, text.find("link").unwrap_or(0)), [Kind::Link]);
        assert!(kinds_at(text, text.find("- item").unwrap_or(0)).contains(&Kind::Mark));
        assert!(kinds_at(text, text.find("quote").unwrap_or(0)).contains(&Kind::Quote));
    }

    #[test]
    fn the_job_covers_the_text_once_in_order() {
        let look = Look { tokens: Tokens::of(&egui::Visuals::dark()), body: 14.0, mono: 13.0 };
        for text in ["", "plain", "# h\n*a **b** c*\n", "héllo *wörld* `😀`", "**unclosed", "- a\n  - b\n1. c"] {
            let job = layout_job(text, &look, 300.0);
            let mut at = 0;
            for s in &job.sections {
                assert_eq!(s.byte_range.start.0, at, "{text:?}");
                assert!(s.byte_range.end > s.byte_range.start);
                assert!(text.is_char_boundary(s.byte_range.end.0));
                at = s.byte_range.end.0;
            }
            assert_eq!(at, text.len());
        }
    }
}
