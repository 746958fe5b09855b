//! Which uploaded files the CA accepts as vetting documents: PDF, PNG and
//! JPEG only, recognized by their first bytes *and* declared so, within a
//! size limit, under a file name that is only a name. Anything a browser
//! could run or render as a page (HTML, SVG, scripts) is refused, so a
//! stored document is never served as anything but one of three inert
//! types.

use std::fmt;

/// The accepted types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentType {
    Pdf,
    Png,
    Jpeg,
}

impl DocumentType {
    /// The one content type it is stored and served with.
    pub fn content_type(self) -> &'static str {
        match self {
            DocumentType::Pdf => "application/pdf",
            DocumentType::Png => "image/png",
            DocumentType::Jpeg => "image/jpeg",
        }
    }

    /// The stored content type, if it is one of ours (what the console
    /// serves is checked again on the way out).
    pub fn from_content_type(s: &str) -> Option<DocumentType> {
        let essence = s.split(';').next().unwrap_or_default().trim();
        [DocumentType::Pdf, DocumentType::Png, DocumentType::Jpeg]
            .into_iter()
            .find(|t| t.content_type().eq_ignore_ascii_case(essence))
    }

    /// By the file's own first bytes (its signature).
    fn sniff(bytes: &[u8]) -> Option<DocumentType> {
        if bytes.starts_with(b"%PDF-") {
            Some(DocumentType::Pdf)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(DocumentType::Png)
        } else if bytes.starts_with(b"\xFF\xD8\xFF") {
            Some(DocumentType::Jpeg)
        } else {
            None
        }
    }
}

/// Why a file was refused; the portal words it for the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentProblem {
    Empty,
    TooLarge {
        limit: usize,
    },
    /// The declared type is not PDF, PNG or JPEG.
    TypeNotAccepted {
        declared: String,
    },
    /// The bytes are not what was declared (e.g. HTML renamed `.pdf`).
    ContentMismatch {
        declared: DocumentType,
    },
    BadName,
}

impl fmt::Display for DocumentProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentProblem::Empty => f.write_str("the file is empty"),
            DocumentProblem::TooLarge { limit } => {
                write!(f, "the file is larger than {limit} bytes")
            }
            DocumentProblem::TypeNotAccepted { declared } => write!(
                f,
                "files of type {declared:?} are not accepted; send PDF, PNG or JPEG"
            ),
            DocumentProblem::ContentMismatch { declared } => write!(
                f,
                "the file is not a {} file",
                match declared {
                    DocumentType::Pdf => "PDF",
                    DocumentType::Png => "PNG",
                    DocumentType::Jpeg => "JPEG",
                }
            ),
            DocumentProblem::BadName => f.write_str("the file has no usable name"),
        }
    }
}

/// The longest file name kept (characters).
const NAME_CHARS: usize = 120;

/// A file as the customer sent it.
pub struct Upload<'a> {
    pub file_name: &'a str,
    pub declared_type: &'a str,
    pub bytes: &'a [u8],
}

/// An accepted file: its type and the name it is kept under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub kind: DocumentType,
    pub file_name: String,
}

/// Accepts `u` when it is non-empty, within `limit` bytes, declared as one
/// of the accepted types and its bytes begin as that type does.
pub fn check(u: &Upload<'_>, limit: usize) -> Result<Accepted, DocumentProblem> {
    if u.bytes.is_empty() {
        return Err(DocumentProblem::Empty);
    }
    if u.bytes.len() > limit {
        return Err(DocumentProblem::TooLarge { limit });
    }
    let declared = DocumentType::from_content_type(u.declared_type).ok_or_else(|| {
        DocumentProblem::TypeNotAccepted {
            declared: u.declared_type.chars().take(80).collect(),
        }
    })?;
    if DocumentType::sniff(u.bytes) != Some(declared) {
        return Err(DocumentProblem::ContentMismatch { declared });
    }
    let file_name = safe_name(u.file_name).ok_or(DocumentProblem::BadName)?;
    Ok(Accepted {
        kind: declared,
        file_name,
    })
}

/// The last path component, without control characters, quotes or
/// separators (it goes into a `Content-Disposition` header later), at
/// most `NAME_CHARS` characters.
fn safe_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | ';' | '\\' | '/'))
        .take(NAME_CHARS)
        .collect();
    let clean = clean.trim().to_owned();
    (!clean.is_empty() && clean != "." && clean != "..").then_some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up<'a>(name: &'a str, ty: &'a str, bytes: &'a [u8]) -> Upload<'a> {
        Upload {
            file_name: name,
            declared_type: ty,
            bytes,
        }
    }

    #[test]
    fn pdf_png_and_jpeg_are_accepted_when_they_are_what_they_say() {
        let ok = check(&up("登記簿.pdf", "application/pdf", b"%PDF-1.7\n..."), 100).unwrap();
        assert_eq!(ok.kind, DocumentType::Pdf);
        assert_eq!(ok.file_name, "登記簿.pdf");
        let png = check(&up("a.png", "image/png", b"\x89PNG\r\n\x1a\n\0\0"), 100).unwrap();
        assert_eq!(png.kind.content_type(), "image/png");
        let jpg = check(
            &up("C:\\scan\\a.jpg", "IMAGE/JPEG", b"\xFF\xD8\xFF\xE0"),
            100,
        )
        .unwrap();
        assert_eq!(
            (jpg.kind, jpg.file_name.as_str()),
            (DocumentType::Jpeg, "a.jpg")
        );
    }

    /// HTML renamed `.pdf` (the browser declares application/pdf), SVG
    /// declared as what it is or as PNG, and a PNG declared as PDF.
    #[test]
    fn what_is_not_what_it_claims_is_refused() {
        let html = b"<!doctype html><script>alert(1)</script>";
        assert_eq!(
            check(&up("x.pdf", "application/pdf", html), 100),
            Err(DocumentProblem::ContentMismatch {
                declared: DocumentType::Pdf
            })
        );
        let svg = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>";
        assert!(matches!(
            check(&up("x.svg", "image/svg+xml", svg), 100),
            Err(DocumentProblem::TypeNotAccepted { .. })
        ));
        assert!(matches!(
            check(&up("x.png", "image/png", svg), 100),
            Err(DocumentProblem::ContentMismatch { .. })
        ));
        assert!(matches!(
            check(&up("x.pdf", "application/pdf", b"\x89PNG\r\n\x1a\n"), 100),
            Err(DocumentProblem::ContentMismatch { .. })
        ));
        assert!(matches!(
            check(&up("x.html", "text/html", html), 100),
            Err(DocumentProblem::TypeNotAccepted { .. })
        ));
    }

    #[test]
    fn size_and_names_are_limited() {
        assert_eq!(
            check(&up("a.pdf", "application/pdf", b"%PDF-1.7 long"), 8),
            Err(DocumentProblem::TooLarge { limit: 8 })
        );
        assert_eq!(
            check(&up("a.pdf", "application/pdf", b""), 8),
            Err(DocumentProblem::Empty)
        );
        assert_eq!(
            check(&up("../", "application/pdf", b"%PDF-1"), 8),
            Err(DocumentProblem::BadName)
        );
        let named = check(&up("a\"b;\r\nc.pdf", "application/pdf", b"%PDF-1"), 8).unwrap();
        assert_eq!(named.file_name, "abc.pdf");
        let long = "あ".repeat(500);
        let kept = check(&up(&long, "application/pdf", b"%PDF-1"), 8).unwrap();
        assert_eq!(kept.file_name.chars().count(), NAME_CHARS);
    }
}
