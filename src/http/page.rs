//! What both server-rendered front ends (the staff console and the
//! customer portal) need of HTTP: cookies, form bodies, return paths
//! within the site, the headers every page carries (a CSP that allows no
//! script), a per-address attempt limiter, and the random tokens of
//! sessions and CSRF with the hash they are stored as.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Response, StatusCode};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};

/// No script at all, styles only from our one stylesheet.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `application/x-www-form-urlencoded` (also a query string).
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// A return path is only ever a page of this listener under `root` (which
/// ends in `/`): no scheme, no host, no `//`, no backslash, nothing
/// outside printable ASCII.
pub fn local_path<'a>(p: &'a str, root: &str) -> Option<&'a str> {
    let ok = p.starts_with(root)
        && !p.contains("//")
        && !p.contains('\\')
        && p.bytes().all(|b| (0x21..0x7f).contains(&b));
    ok.then_some(p)
}

/// A page with the security headers every page carries.
pub fn page(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

pub fn html(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    page(status, "text/html; charset=utf-8", Bytes::from(body))
}

/// 303 to `to` (a path of ours).
pub fn see_other(to: &str) -> Response<Full<Bytes>> {
    let mut r = page(
        StatusCode::SEE_OTHER,
        "text/plain; charset=utf-8",
        Bytes::new(),
    );
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

pub fn set_cookie(r: &mut Response<Full<Bytes>>, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Login attempts per client address: at most `max` in each `window`.
pub struct Limiter {
    max: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (OffsetDateTime, u32)>>,
}

/// Addresses remembered at most; past that, stale entries are dropped.
const LIMITER_ENTRIES: usize = 10_000;

impl Limiter {
    pub fn new(max: u32, window: Duration) -> Limiter {
        Limiter {
            max,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt from `ip`; false when over the limit.
    pub fn allow(&self, ip: IpAddr, now: OffsetDateTime) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        if seen.len() >= LIMITER_ENTRIES {
            let window = self.window;
            seen.retain(|_, (start, _)| *start + window > now);
        }
        let e = seen.entry(ip).or_insert((now, 0));
        if e.0 + self.window <= now {
            *e = (now, 0);
        }
        e.1 = e.1.saturating_add(1);
        e.1 <= self.max
    }
}

/// `n` random bytes from the OS, base64url: session ids, CSRF and
/// e-mail tokens.
pub fn random_token(n: usize) -> Result<String> {
    let mut b = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Error::internal("OS random number generator failed"))?;
    Ok(B64.encode(b))
}

/// How a token is stored: its SHA-256, hex. A token has 256 random bits,
/// so no salt or slow hash is needed; a database reader cannot use it.
pub fn token_hash(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a submitted secret (a CSRF token) is the expected one, in
/// constant time.
pub fn same_secret(expected: &str, given: Option<&str>) -> bool {
    given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())))
}

/// Of the `offered` language codes, the one Accept-Language prefers (by
/// q-value; a region such as `en-US` counts for its language).
pub fn preferred_language(accept: Option<&str>, offered: &[&'static str]) -> Option<&'static str> {
    let mut best: Option<(f32, &'static str)> = None;
    for part in accept.unwrap_or_default().split(',') {
        let mut it = part.split(';');
        let tag = it.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = it
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let Some(lang) = tag
            .split('-')
            .next()
            .and_then(|t| offered.iter().find(|o| **o == t))
        else {
            continue;
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, l)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_the_root_are_return_paths() {
        assert_eq!(
            local_path("/console/organizations/7", "/console/"),
            Some("/console/organizations/7")
        );
        assert_eq!(local_path("/console/", "/console/"), Some("/console/"));
        assert_eq!(local_path("/status?x=1", "/"), Some("/status?x=1"));
        assert_eq!(local_path("//evil.example/", "/"), None);
        for bad in [
            "//evil.example/",
            "https://evil.example/console/",
            "/console//evil.example",
            "/console/\\evil",
            "/admin/organizations",
            "/console/a b",
        ] {
            assert_eq!(local_path(bad, "/console/"), None, "{bad}");
        }
    }

    #[test]
    fn forms_decode_plus_and_percent() {
        let f = form(b"name=a+b&code=%31%32&x");
        assert_eq!(field(&f, "name"), Some("a b"));
        assert_eq!(field(&f, "code"), Some("12"));
        assert_eq!(field(&f, "x"), Some(""));
        assert_eq!(field(&f, "y"), None);
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("tg_session_x=1; tg_session=abc; tg_lang=en"),
        );
        assert_eq!(cookie(&h, "tg_session"), Some("abc"));
        assert_eq!(cookie(&h, "tg_lang"), Some("en"));
        assert_eq!(cookie(&h, "nope"), None);
    }

    #[test]
    fn the_limiter_refuses_past_the_limit_then_forgets() {
        let l = Limiter::new(2, Duration::minutes(5));
        let ip: IpAddr = [127, 0, 0, 1].into();
        let t = OffsetDateTime::UNIX_EPOCH;
        assert!(l.allow(ip, t));
        assert!(l.allow(ip, t));
        assert!(!l.allow(ip, t));
        assert!(l.allow([127, 0, 0, 2].into(), t));
        assert!(l.allow(ip, t + Duration::minutes(5)));
    }

    #[test]
    fn tokens_are_256_bits_stored_hashed_and_compared_whole() {
        let a = random_token(32).unwrap();
        assert_eq!(B64.decode(&a).unwrap().len(), 32);
        assert_ne!(a, random_token(32).unwrap());
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
        assert!(same_secret(&a, Some(&a)));
        assert!(!same_secret(&a, Some(&a[..10])));
        assert!(!same_secret(&a, None));
    }

    #[test]
    fn accept_language_is_read_by_q_value() {
        let offered = &["ja", "en"];
        let pick = |a| preferred_language(Some(a), offered);
        assert_eq!(pick("en-US,en;q=0.9,ja;q=0.8"), Some("en"));
        assert_eq!(pick("en;q=0.5, ja-JP"), Some("ja"));
        assert_eq!(pick("fr, de;q=0.5"), None);
        assert_eq!(pick("ja;q=0, en;q=0.1"), Some("en"));
        assert_eq!(preferred_language(None, offered), None);
    }
}
