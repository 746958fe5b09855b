//! An invoice or credit note as a one-page A4 PDF, in Japanese, with the
//! configured TrueType font embedded: cut to the glyphs the page uses
//! (`subsetter`), written as a CID font with Identity-H encoding and a
//! ToUnicode map, so that any reader — `pdftotext` too — gets the text
//! back.

use std::collections::BTreeMap;
use std::sync::Arc;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

use crate::error::{Error, Result};

/// A4 in points.
const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 56.0;

/// The font every invoice is set in, read once at startup.
#[derive(Clone)]
pub struct Font {
    data: Arc<Vec<u8>>,
}

impl std::fmt::Debug for Font {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Font({} bytes)", self.data.len())
    }
}

impl Font {
    /// The font in `data`, refused unless it is a TrueType font with the
    /// glyphs of a Japanese invoice.
    pub fn new(data: Vec<u8>) -> Result<Font> {
        let face = ttf_parser::Face::parse(&data, 0)
            .map_err(|e| Error::internal(format!("billing.font: not a font ({e})")))?;
        if "請求書¥０".chars().any(|c| face.glyph_index(c).is_none()) {
            return Err(Error::internal(
                "billing.font has no Japanese glyphs (use e.g. IPAexGothic)",
            ));
        }
        Ok(Font {
            data: Arc::new(data),
        })
    }

    /// The font file at `path`.
    pub fn load(path: &std::path::Path) -> Result<Font> {
        let data = std::fs::read(path).map_err(|e| {
            Error::internal(format!(
                "reading billing.font {}: {e} (Debian: apt-get install fonts-ipaexfont-gothic)",
                path.display()
            ))
        })?;
        Font::new(data)
    }
}

/// Where a piece of text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A page being laid out: text runs, and rules under headings.
#[derive(Debug, Default)]
pub struct Page {
    runs: Vec<Run>,
    rules: Vec<(f32, f32, f32)>,
    y: f32,
}

#[derive(Debug)]
struct Run {
    x: f32,
    y: f32,
    size: f32,
    align: Align,
    text: String,
}

impl Page {
    pub fn new() -> Page {
        Page {
            y: PAGE.1 - MARGIN,
            ..Page::default()
        }
    }

    /// Text at `x` from the left margin (or ending `x` from the right
    /// one) on the current line.
    pub fn text(&mut self, x: f32, align: Align, size: f32, text: impl Into<String>) -> &mut Page {
        let x = match align {
            Align::Left => MARGIN + x,
            Align::Right => PAGE.0 - MARGIN - x,
        };
        self.runs.push(Run {
            x,
            y: self.y,
            size,
            align,
            text: text.into(),
        });
        self
    }

    /// Moves down by `points`.
    pub fn down(&mut self, points: f32) -> &mut Page {
        self.y -= points;
        self
    }

    /// A thin rule across the page just below the current line.
    pub fn rule(&mut self) -> &mut Page {
        self.rules.push((MARGIN, PAGE.0 - MARGIN, self.y - 4.0));
        self
    }

    /// The PDF of the page, set in `font`.
    pub fn render(&self, font: &Font, title: &str) -> Result<Vec<u8>> {
        let face = ttf_parser::Face::parse(&font.data, 0)
            .map_err(|e| Error::internal(format!("billing font: {e}")))?;
        let glyphs = Glyphs::of(&face, self.runs.iter().map(|r| r.text.as_str()));
        let subset = subsetter::subset(&font.data, 0, &glyphs.remapper)
            .map_err(|e| Error::internal(format!("subsetting the invoice font: {e:?}")))?;
        let content = self.content(&face, &glyphs);
        Ok(write(&face, &glyphs, &subset, &content, title))
    }

    fn content(&self, face: &ttf_parser::Face<'_>, glyphs: &Glyphs) -> Vec<u8> {
        let mut c = Content::new();
        c.set_line_width(0.5);
        for &(x1, x2, y) in &self.rules {
            c.move_to(x1, y).line_to(x2, y).stroke();
        }
        for run in &self.runs {
            let width = glyphs.width(face, &run.text) * run.size;
            let x = match run.align {
                Align::Left => run.x,
                Align::Right => run.x - width,
            };
            c.begin_text();
            c.set_font(Name(b"F1"), run.size);
            c.next_line(x, run.y);
            c.show(Str(&glyphs.encode(&run.text)));
            c.end_text();
        }
        c.finish().into_vec()
    }
}

/// The glyphs a page uses: each character's glyph in the font, and its
/// number in the subset (which is also its CID: Identity mappings).
struct Glyphs {
    remapper: subsetter::GlyphRemapper,
    /// character → (glyph in the font, glyph in the subset)
    chars: BTreeMap<char, (u16, u16)>,
}

impl Glyphs {
    fn of<'a>(face: &ttf_parser::Face<'_>, texts: impl Iterator<Item = &'a str>) -> Glyphs {
        let mut remapper = subsetter::GlyphRemapper::new();
        let mut chars = BTreeMap::new();
        for c in texts.flat_map(str::chars) {
            chars.entry(c).or_insert_with(|| {
                // A character the font lacks shows as its .notdef box.
                let old = face.glyph_index(c).map_or(0, |g| g.0);
                (old, remapper.remap(old))
            });
        }
        Glyphs { remapper, chars }
    }

    /// Text as 2-byte CIDs (Identity-H).
    fn encode(&self, text: &str) -> Vec<u8> {
        text.chars()
            .flat_map(|c| self.chars.get(&c).map_or(0, |g| g.1).to_be_bytes())
            .collect()
    }

    /// The advance of `text` in ems.
    fn width(&self, face: &ttf_parser::Face<'_>, text: &str) -> f32 {
        let upem = f32::from(face.units_per_em());
        text.chars()
            .map(|c| {
                let old = self.chars.get(&c).map_or(0, |g| g.0);
                f32::from(
                    face.glyph_hor_advance(ttf_parser::GlyphId(old))
                        .unwrap_or(0),
                ) / upem
            })
            .sum()
    }
}

fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}

/// The document: catalog, one page, the Type0 font over its CID font,
/// descriptor, subset and ToUnicode map.
fn write(
    face: &ttf_parser::Face<'_>,
    glyphs: &Glyphs,
    subset: &[u8],
    content: &[u8],
    title: &str,
) -> Vec<u8> {
    let ids: Vec<Ref> = (1..=10).map(Ref::new).collect();
    let [catalog, tree, page, font, cid, descriptor, cmap, file, contents, info] = ids[..] else {
        return Vec::new();
    };
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page]).count(1);
    let mut p = pdf.page(page);
    p.media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1))
        .parent(tree)
        .contents(contents);
    p.resources().fonts().pair(Name(b"F1"), font);
    p.finish();
    pdf.document_info(info)
        .title(pdf_writer::TextStr(title))
        .producer(pdf_writer::TextStr("trustgate"));
    let base = Name(b"TGINVC+IPAexGothic");
    pdf.type0_font(font)
        .base_font(base)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(cmap);
    let system = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    let upem = f32::from(face.units_per_em());
    let scale = |v: i16| f32::from(v) * 1000.0 / upem;
    let mut widths = vec![0.0; usize::from(glyphs.remapper.num_gids())];
    let mut unicode = UnicodeCmap::new(Name(b"Custom"), system);
    for (&c, &(old, new)) in &glyphs.chars {
        let advance = face
            .glyph_hor_advance(ttf_parser::GlyphId(old))
            .unwrap_or(0);
        if let Some(w) = widths.get_mut(usize::from(new)) {
            *w = f32::from(advance) * 1000.0 / upem;
        }
        if new != 0 {
            unicode.pair(new, c);
        }
    }
    let mut cid_font = pdf.cid_font(cid);
    cid_font
        .subtype(CidFontType::Type2)
        .base_font(base)
        .system_info(system)
        .font_descriptor(descriptor)
        .default_width(0.0)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    cid_font.widths().consecutive(0, widths);
    cid_font.finish();
    let bbox = face.global_bounding_box();
    pdf.font_descriptor(descriptor)
        .name(base)
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(
            scale(bbox.x_min),
            scale(bbox.y_min),
            scale(bbox.x_max),
            scale(bbox.y_max),
        ))
        .italic_angle(0.0)
        .ascent(scale(face.ascender()))
        .descent(scale(face.descender()))
        .cap_height(scale(face.capital_height().unwrap_or(face.ascender())))
        .stem_v(80.0)
        .font_file2(file);
    let cmap_data = unicode.finish().into_vec();
    pdf.cmap(cmap, &cmap_data);
    let font_data = deflate(subset);
    let length = i32::try_from(subset.len()).unwrap_or(i32::MAX);
    pdf.stream(file, &font_data)
        .filter(Filter::FlateDecode)
        .pair(Name(b"Length1"), length);
    let content = deflate(content);
    pdf.stream(contents, &content).filter(Filter::FlateDecode);
    pdf.finish()
}
