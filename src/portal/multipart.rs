//! `multipart/form-data` (RFC 7578) from a body the edge has already read
//! within the route's limit: a small parser that bounds what a stranger
//! can make it do — the boundary's length (RFC 2046: 1 to 70 characters),
//! the number of parts, the size of each part's headers — and keeps only
//! what the upload form needs (each part's name, file name, declared type
//! and bytes).

/// Parts in one body at most (the form has a few fields and up to five
/// files).
const MAX_PARTS: usize = 16;
/// One part's header block at most.
const MAX_HEADER_BYTES: usize = 8 * 1024;

/// One part of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    /// Present for a file input (empty when no file was chosen).
    pub file_name: Option<String>,
    /// The declared type (`text/plain` when none was declared).
    pub content_type: String,
    pub data: Vec<u8>,
}

/// Why a body is not a form we read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoBoundary,
    Malformed(&'static str),
    TooManyParts,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoBoundary => f.write_str("not multipart/form-data with a boundary"),
            Refusal::Malformed(why) => write!(f, "malformed multipart body: {why}"),
            Refusal::TooManyParts => write!(f, "more than {MAX_PARTS} parts"),
        }
    }
}

/// The boundary of a `multipart/form-data` Content-Type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let essence = params.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let b = params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim())
    })?;
    let b = b
        .strip_prefix('"')
        .and_then(|b| b.strip_suffix('"'))
        .unwrap_or(b);
    let ok = (1..=70).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c));
    ok.then(|| b.to_owned())
}

/// The parts of `body`, delimited by `boundary`.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, Refusal> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    // The first delimiter opens the body (a preamble before it is allowed
    // and ignored); every later one follows a CRLF.
    let start = if body.starts_with(delimiter) {
        0
    } else {
        find(body, &[b"\r\n", delimiter].concat())
            .map(|i| i + 2)
            .ok_or(Refusal::Malformed("no opening boundary"))?
    };
    let inner = [b"\r\n", delimiter].concat();
    let mut rest = &body[start + delimiter.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or(Refusal::Malformed("boundary not followed by CRLF"))?;
        if parts.len() == MAX_PARTS {
            return Err(Refusal::TooManyParts);
        }
        let end = find(rest, &inner).ok_or(Refusal::Malformed("no closing boundary"))?;
        parts.push(part(&rest[..end])?);
        rest = &rest[end + inner.len()..];
    }
}

/// One part: its headers, a blank line, its bytes.
fn part(raw: &[u8]) -> Result<Part, Refusal> {
    let split = find(&raw[..raw.len().min(MAX_HEADER_BYTES + 4)], b"\r\n\r\n")
        .ok_or(Refusal::Malformed("part headers too long or unterminated"))?;
    let headers = std::str::from_utf8(&raw[..split])
        .map_err(|_| Refusal::Malformed("part headers are not UTF-8"))?;
    let mut name = None;
    let mut file_name = None;
    let mut content_type = "text/plain".to_owned();
    for line in headers.split("\r\n") {
        let Some((k, v)) = line.split_once(':') else {
            return Err(Refusal::Malformed("a part header without a colon"));
        };
        let k = k.trim();
        if k.eq_ignore_ascii_case("content-disposition") {
            let (n, f) = disposition(v.trim())?;
            name = Some(n);
            file_name = f;
        } else if k.eq_ignore_ascii_case("content-type") {
            content_type = v.trim().to_owned();
        }
    }
    Ok(Part {
        name: name.ok_or(Refusal::Malformed("a part without Content-Disposition"))?,
        file_name,
        content_type,
        data: raw[split + 4..].to_vec(),
    })
}

/// `form-data; name="x"; filename="y"`: the name and the file name.
fn disposition(v: &str) -> Result<(String, Option<String>), Refusal> {
    let (kind, mut rest) = v.split_once(';').unwrap_or((v, ""));
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return Err(Refusal::Malformed("a part that is not form-data"));
    }
    let (mut name, mut file) = (None, None);
    loop {
        rest = rest.trim_start_matches([';', ' ', '\t']);
        if rest.is_empty() {
            break;
        }
        let (key, after) = rest.split_once('=').ok_or(Refusal::Malformed(
            "a disposition parameter without a value",
        ))?;
        let (value, after) = param_value(after.trim_start())?;
        match key.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(value),
            "filename" => file = Some(value),
            _ => {}
        }
        rest = after;
    }
    Ok((
        name.ok_or(Refusal::Malformed("a part without a name"))?,
        file,
    ))
}

/// A quoted string (backslash escapes; browsers percent-encode `"` and
/// line breaks, which are kept as sent) or a token, and what follows.
fn param_value(s: &str) -> Result<(String, &str), Refusal> {
    let Some(q) = s.strip_prefix('"') else {
        let end = s.find(';').unwrap_or(s.len());
        return Ok((s[..end].trim().to_owned(), &s[end..]));
    };
    let mut out = String::new();
    let mut chars = q.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &q[i + 1..])),
            '\\' => {
                if let Some((_, n)) = chars.next() {
                    out.push(n);
                }
            }
            c => out.push(c),
        }
    }
    Err(Refusal::Malformed("an unterminated quoted string"))
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(off) = hay.get(from..)?.iter().position(|b| *b == first) {
        let at = from + off;
        if hay.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, Option<&str>, &str, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, file, ty, data) in parts {
            b.extend_from_slice(b"--XyZ\r\n");
            let disp = match file {
                Some(f) => format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: {ty}\r\n\r\n"),
                None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
            };
            b.extend_from_slice(disp.as_bytes());
            b.extend_from_slice(data);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"--XyZ--\r\n");
        b
    }

    #[test]
    fn a_browser_form_reads_back() {
        let pdf = b"%PDF-1.7\r\nx--XyZ is no boundary without CRLF\r\n\r\nbinary\x00\xff";
        let b = body(&[
            ("csrf", None, "", b"tok"),
            ("file", Some("登記 \\\"簿\\\".pdf"), "application/pdf", pdf),
            ("file", Some(""), "application/octet-stream", b""),
        ]);
        let parts = parse(&b, "XyZ").unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].data.as_slice()),
            ("csrf", &b"tok"[..])
        );
        assert_eq!(parts[0].file_name, None);
        assert_eq!(parts[1].file_name.as_deref(), Some("登記 \"簿\".pdf"));
        assert_eq!(parts[1].content_type, "application/pdf");
        assert_eq!(parts[1].data, pdf);
        assert_eq!(parts[2].file_name.as_deref(), Some(""));
        assert!(parts[2].data.is_empty());
    }

    #[test]
    fn boundaries_come_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=----WebKitFormBoundaryA1").as_deref(),
            Some("----WebKitFormBoundaryA1")
        );
        assert_eq!(
            boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={}", "a".repeat(71))),
            None
        );
        assert_eq!(boundary("multipart/form-data; boundary=a\r\nb"), None);
    }

    #[test]
    fn bad_bodies_are_refused() {
        assert!(matches!(parse(b"junk", "XyZ"), Err(Refusal::Malformed(_))));
        let open = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end";
        assert!(matches!(parse(open, "XyZ"), Err(Refusal::Malformed(_))));
        let no_name = b"--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--";
        assert!(matches!(parse(no_name, "XyZ"), Err(Refusal::Malformed(_))));
        let huge = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nX: {}\r\n\r\nx\r\n--XyZ--",
            "a".repeat(MAX_HEADER_BYTES)
        );
        assert!(matches!(
            parse(huge.as_bytes(), "XyZ"),
            Err(Refusal::Malformed(_))
        ));
        let many: Vec<(&str, Option<&str>, &str, &[u8])> = (0..=MAX_PARTS)
            .map(|_| ("a", None, "", &b"x"[..]))
            .collect();
        assert_eq!(parse(&body(&many), "XyZ"), Err(Refusal::TooManyParts));
    }
}
