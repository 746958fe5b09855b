//! The trust seal on the publish listener: `GET /seal/{id}` (the
//! verification page) and `GET /seal/{id}.svg` (the image a site embeds),
//! in Japanese and English. What a seal says is `vetting::seal`'s; this
//! module parses the request and renders.
//!
//! The domain asked about is `?domain=`, else the host of the Referer
//! (the embedding page's, sent with the image and with a click on it).
//! Answers are cached briefly ([`MAX_AGE_SECS`]) so a suspension or a
//! revocation shows within minutes. An id with no seal is 404, the same
//! answer whatever the id looks like.

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};
use time::{OffsetDateTime, UtcOffset};

use crate::core::organization::Level;
use crate::vetting::checks::VettingStatus;
use crate::vetting::seal::{self, CertState, Domain, Reason, Report, Seals, Verdict};

/// Seconds a browser or proxy may reuse an answer.
pub const MAX_AGE_SECS: u64 = 60;
/// Longest seal id looked up (ids are 26 characters).
const MAX_ID_LEN: usize = 64;
/// Longest query string or Referer read.
const MAX_INPUT_LEN: usize = 2048;

type Body = Full<Bytes>;

/// What a request under `/seal/` asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum SealPath<'a> {
    Page(&'a str),
    Image(&'a str),
}

/// `/seal/{id}` or `/seal/{id}.svg`; None for other paths.
pub fn parse_path(path: &str) -> Option<SealPath<'_>> {
    let rest = path.strip_prefix("/seal/")?;
    let (id, image) = match rest.strip_suffix(".svg") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    if id.is_empty() || id.len() > MAX_ID_LEN || id.contains('/') {
        return None;
    }
    Some(if image {
        SealPath::Image(id)
    } else {
        SealPath::Page(id)
    })
}

/// The HTML a site embeds: the image, linking to the verification page.
/// `base` is `publish.seal_base_url`.
pub fn snippet(base: &str, seal_id: &str) -> String {
    format!(
        "<a href=\"{base}/seal/{seal_id}\" target=\"_blank\" rel=\"noopener\">\
         <img src=\"{base}/seal/{seal_id}.svg\" width=\"240\" height=\"72\" \
         alt=\"Trust seal / 認証シール\"></a>"
    )
}

/// Answers a seal request.
pub async fn respond(
    seals: &Seals,
    what: SealPath<'_>,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<Body> {
    let (id, image) = match what {
        SealPath::Page(id) => (id, false),
        SealPath::Image(id) => (id, true),
    };
    let params = Params::parse(query.unwrap_or(""));
    let domain = domain(&params, headers);
    match seals.report(id, domain).await {
        Ok(Some(report)) => {
            let lang = Lang::choose(params.lang.as_deref(), headers);
            let rendered = if image {
                image_of(&report, lang).render()
            } else {
                page_of(&report, lang, id).render()
            };
            match rendered {
                Ok(text) => answer(StatusCode::OK, text, image),
                Err(e) => {
                    tracing::error!(error = %e, "rendering a seal failed");
                    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
                }
            }
        }
        Ok(None) => plain(StatusCode::NOT_FOUND, "not found\n"),
        Err(e) => {
            tracing::error!(error = %e, "reading a seal failed");
            let mut r = plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable; retry later\n",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

/// The query's `domain` and `lang` (other keys are ignored).
#[derive(Debug, Default)]
struct Params {
    domain: Option<String>,
    lang: Option<String>,
}

impl Params {
    fn parse(query: &str) -> Params {
        let mut p = Params::default();
        if query.len() > MAX_INPUT_LEN {
            return p;
        }
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = v.replace('+', " ");
            let v = percent_encoding::percent_decode_str(&v)
                .decode_utf8_lossy()
                .into_owned();
            match k {
                "domain" => p.domain = Some(v),
                "lang" => p.lang = Some(v),
                _ => {}
            }
        }
        p
    }
}

/// `?domain=` wins; else the Referer's host.
fn domain(params: &Params, headers: &HeaderMap) -> Domain {
    if let Some(d) = &params.domain {
        return seal::parse_domain(d);
    }
    let referer = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= MAX_INPUT_LEN);
    match referer.and_then(referer_host) {
        Some(host) => seal::parse_domain(host),
        None => Domain::Missing,
    }
}

/// The host of an http(s) URL, without user info or port.
fn referer_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    (!host.is_empty()).then_some(host)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    /// `?lang=`, else the first of Japanese or English in
    /// Accept-Language, else Japanese.
    fn choose(param: Option<&str>, headers: &HeaderMap) -> Lang {
        match param {
            Some("en") => return Lang::En,
            Some("ja") => return Lang::Ja,
            _ => {}
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        for tag in accept.split(',').take(16) {
            let tag = tag
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if tag == "ja" || tag.starts_with("ja-") {
                return Lang::Ja;
            }
            if tag == "en" || tag.starts_with("en-") {
                return Lang::En;
            }
        }
        Lang::Ja
    }

    fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
}

/// The words of the page and the image in one language.
struct Words {
    title: &'static str,
    verified: &'static str,
    not_verified: &'static str,
    organization: &'static str,
    address: &'static str,
    level: &'static str,
    vetted_on: &'static str,
    domain: &'static str,
    certificates: &'static str,
    serial: &'static str,
    names: &'static str,
    valid_until: &'static str,
    state: &'static str,
    checked_at: &'static str,
    none: &'static str,
    explain: &'static str,
    other_lang: (&'static str, &'static str),
}

const JA: Words = Words {
    title: "認証シール",
    verified: "認証済み",
    not_verified: "未認証",
    organization: "組織名",
    address: "所在地",
    level: "認証レベル",
    vetted_on: "審査日",
    domain: "確認したドメイン",
    certificates: "このドメインの証明書",
    serial: "シリアル番号",
    names: "ドメイン名",
    valid_until: "有効期限",
    state: "状態",
    checked_at: "確認日時",
    none: "なし",
    explain: "このページは、上記の組織が当認証局の実在性審査を受けて承認されており、確認したドメインに有効な（失効・期限切れでない）証明書を保有しているかを、表示の都度確認しています。",
    other_lang: ("en", "English"),
};

const EN: Words = Words {
    title: "Trust seal",
    verified: "Verified",
    not_verified: "Not verified",
    organization: "Organization",
    address: "Address",
    level: "Validation level",
    vetted_on: "Vetted on",
    domain: "Domain checked",
    certificates: "Certificates for this domain",
    serial: "Serial number",
    names: "Names",
    valid_until: "Valid until",
    state: "Status",
    checked_at: "Checked at",
    none: "none",
    explain: "This page checks, each time it is shown, that the organization above was vetted and approved by this certificate authority and holds a valid (neither revoked nor expired) certificate for the domain checked.",
    other_lang: ("ja", "日本語"),
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::Ja => &JA,
        Lang::En => &EN,
    }
}

/// Why not verified, as a sentence.
fn reason_text(lang: Lang, r: &Reason) -> String {
    let status = |s: VettingStatus| match (lang, s) {
        (Lang::Ja, VettingStatus::Pending) => "審査中です",
        (Lang::Ja, VettingStatus::Rejected) => "承認されていません",
        (Lang::Ja, VettingStatus::Suspended) => "認証が停止されています",
        (Lang::Ja, VettingStatus::Expired) => "審査の有効期間が過ぎています",
        (Lang::Ja, VettingStatus::Approved) => "承認されています",
        (Lang::En, VettingStatus::Pending) => "is awaiting vetting",
        (Lang::En, VettingStatus::Rejected) => "is not approved",
        (Lang::En, VettingStatus::Suspended) => "is suspended",
        (Lang::En, VettingStatus::Expired) => "needs re-vetting: its vetting has expired",
        (Lang::En, VettingStatus::Approved) => "is approved",
    };
    match (lang, r) {
        (Lang::Ja, Reason::Organization(s)) => format!("この組織は{}。", status(*s)),
        (Lang::En, Reason::Organization(s)) => format!("The organization {}.", status(*s)),
        (Lang::Ja, Reason::NoDomain) => {
            "確認するドメインが指定されていません（?domain= またはシールを表示したサイトから開いてください）。".into()
        }
        (Lang::En, Reason::NoDomain) => {
            "No domain to check: open this page from the site showing the seal, or add ?domain=.".into()
        }
        (Lang::Ja, Reason::InvalidDomain(d)) => format!("「{d}」はドメイン名ではありません。"),
        (Lang::En, Reason::InvalidDomain(d)) => format!("\u{201c}{d}\u{201d} is not a domain name."),
        (Lang::Ja, Reason::NoCertificate) => {
            "この組織はこのドメインの証明書を保有していません。".into()
        }
        (Lang::En, Reason::NoCertificate) => {
            "The organization holds no certificate for this domain.".into()
        }
        (Lang::Ja, Reason::Revoked) => "このドメインの証明書は失効しています。".into(),
        (Lang::En, Reason::Revoked) => "The certificate for this domain was revoked.".into(),
        (Lang::Ja, Reason::Expired) => "このドメインの証明書は有効期限が切れています。".into(),
        (Lang::En, Reason::Expired) => "The certificate for this domain has expired.".into(),
    }
}

fn state_text(lang: Lang, s: CertState) -> &'static str {
    match (lang, s) {
        (Lang::Ja, CertState::Valid) => "有効",
        (Lang::Ja, CertState::Revoked) => "失効",
        (Lang::Ja, CertState::Expired) => "期限切れ",
        (Lang::En, CertState::Valid) => "valid",
        (Lang::En, CertState::Revoked) => "revoked",
        (Lang::En, CertState::Expired) => "expired",
    }
}

/// The organization's name in the page's language: the English name on
/// English pages when there is one.
fn org_name(report: &Report, lang: Lang) -> String {
    let d = &report.organization.data;
    match (lang, &d.english_name) {
        (Lang::En, Some(n)) if !n.trim().is_empty() => n.clone(),
        _ => d.legal_name.clone(),
    }
}

/// Dates in Japan time, as the CA's customers read them.
fn jst_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC));
    format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

fn jst_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC));
    format!(
        "{}-{:02}-{:02} {:02}:{:02} JST",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

struct CertLine {
    serial: String,
    names: String,
    valid_until: String,
    state: &'static str,
    valid: bool,
}

#[derive(Template)]
#[template(path = "seal/page.html")]
struct Page {
    w: &'static Words,
    lang: &'static str,
    verified: bool,
    reason: String,
    name: String,
    address: String,
    level: &'static str,
    vetted_on: String,
    domain: String,
    certs: Vec<CertLine>,
    checked_at: String,
    other_lang_href: String,
}

fn page_of(report: &Report, lang: Lang, id: &str) -> Page {
    let d = &report.organization.data;
    let office = &d.office;
    let address = match lang {
        Lang::Ja => format!(
            "〒{} {}{}{}",
            office.postal_code, office.prefecture, office.locality, office.street
        ),
        Lang::En => format!(
            "{}, {}, {}, {} {}",
            office.street, office.locality, office.prefecture, office.postal_code, office.country
        ),
    };
    let domain = match &report.domain {
        Domain::Name(n) => n.as_str().to_owned(),
        Domain::Invalid(s) => s.clone(),
        Domain::Missing => String::new(),
    };
    let (other, _) = words(lang).other_lang;
    let mut other_lang_href = format!("/seal/{id}?lang={other}");
    if let Domain::Name(n) = &report.domain {
        other_lang_href.push_str(&format!("&domain={}", n.as_str()));
    }
    Page {
        w: words(lang),
        lang: lang.code(),
        verified: report.verdict == Verdict::Verified,
        reason: match &report.verdict {
            Verdict::Verified => String::new(),
            Verdict::NotVerified(r) => reason_text(lang, r),
        },
        name: org_name(report, lang),
        address,
        level: match d.level {
            Level::Ov => "OV",
            Level::Ev => "EV",
        },
        vetted_on: report
            .organization
            .vetted_at
            .map(jst_date)
            .unwrap_or_default(),
        domain,
        certs: report
            .certificates
            .iter()
            .take(10)
            .map(|c| CertLine {
                serial: c.serial.clone(),
                names: c.names.join(", "),
                valid_until: jst_date(c.not_after),
                state: state_text(lang, c.state),
                valid: c.state == CertState::Valid,
            })
            .collect(),
        checked_at: jst_time(report.checked_at),
        other_lang_href,
    }
}

/// The image: the organization's name, the verdict and the date of the
/// check — nothing the page does not show.
#[derive(Template)]
#[template(path = "seal/seal.svg")]
struct Image {
    lang: &'static str,
    title: &'static str,
    name: String,
    verified: bool,
    verdict: &'static str,
    date: String,
}

/// Names longer than this are cut (with an ellipsis) to fit the image.
const IMAGE_NAME_CHARS: usize = 22;

fn image_of(report: &Report, lang: Lang) -> Image {
    let w = words(lang);
    let verified = report.verdict == Verdict::Verified;
    let full = org_name(report, lang);
    let name = if full.chars().count() > IMAGE_NAME_CHARS {
        let cut: String = full.chars().take(IMAGE_NAME_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        full
    };
    Image {
        lang: lang.code(),
        title: w.title,
        name,
        verified,
        verdict: if verified { w.verified } else { w.not_verified },
        date: jst_date(report.checked_at),
    }
}

/// The seal image of `report` as SVG text (the portal's preview shows
/// it inline: its CSP loads no image from the publish listener).
pub fn svg(report: &Report, lang: Lang) -> crate::error::Result<String> {
    image_of(report, lang)
        .render()
        .map_err(|e| crate::error::Error::internal(format!("rendering the seal image: {e}")))
}

fn answer(status: StatusCode, text: String, image: bool) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    let (content_type, csp) = if image {
        (
            "image/svg+xml; charset=utf-8",
            "default-src 'none'; style-src 'unsafe-inline'",
        )
    } else {
        (
            "text/html; charset=utf-8",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'",
        )
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    caching(h);
    r
}

/// Short-lived, and per Referer and language, which change the answer.
fn caching(h: &mut HeaderMap) {
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={MAX_AGE_SECS}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(
        header::VARY,
        HeaderValue::from_static("Referer, Accept-Language"),
    );
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    caching(r.headers_mut());
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seal_paths() {
        assert_eq!(parse_path("/seal/abc"), Some(SealPath::Page("abc")));
        assert_eq!(parse_path("/seal/abc.svg"), Some(SealPath::Image("abc")));
        for bad in [
            "/seal/",
            "/seal/.svg",
            "/seal/a/b",
            "/seals/abc",
            &format!("/seal/{}", "a".repeat(65)),
        ] {
            assert_eq!(parse_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn referer_hosts() {
        assert_eq!(
            referer_host("https://www.example.jp/about?x=1"),
            Some("www.example.jp")
        );
        assert_eq!(
            referer_host("http://www.example.jp:8080"),
            Some("www.example.jp")
        );
        assert_eq!(
            referer_host("https://u:p@www.example.jp/"),
            Some("www.example.jp")
        );
        assert_eq!(referer_host("ftp://www.example.jp/"), None);
        assert_eq!(referer_host("https:///x"), None);
    }

    #[test]
    fn languages() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::choose(None, &h), Lang::Ja);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr, en-US;q=0.8, ja;q=0.5"),
        );
        assert_eq!(Lang::choose(None, &h), Lang::En);
        assert_eq!(Lang::choose(Some("ja"), &h), Lang::Ja);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("ja-JP,en"),
        );
        assert_eq!(Lang::choose(None, &h), Lang::Ja);
    }

    #[test]
    fn query_parameters_are_decoded() {
        let p = Params::parse("domain=www.example.jp&lang=en&x=%ZZ");
        assert_eq!(p.domain.as_deref(), Some("www.example.jp"));
        assert_eq!(p.lang.as_deref(), Some("en"));
        let p = Params::parse("domain=%3Cb%3E");
        assert_eq!(p.domain.as_deref(), Some("<b>"));
        assert!(Params::parse(&"a".repeat(MAX_INPUT_LEN + 1))
            .domain
            .is_none());
    }

    #[test]
    fn the_snippet_links_the_page_and_the_image() {
        let s = snippet("https://seal.example.jp", "abc");
        assert!(
            s.contains("href=\"https://seal.example.jp/seal/abc\""),
            "{s}"
        );
        assert!(
            s.contains("src=\"https://seal.example.jp/seal/abc.svg\""),
            "{s}"
        );
    }
}

/// The seal over HTTP on the publish listener, on SQLite (and PostgreSQL
/// with TEST_DATABASE_URL).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod http_tests {
    use std::time::Duration as StdDuration;

    use http_body_util::BodyExt;
    use hyper::{Method, Request};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use time::Duration;
    use tokio::net::TcpListener;
    use tokio::sync::watch;

    use super::*;
    use crate::publish::generator::tests::fixture;
    use crate::publish::server::{serve, Publisher};
    use crate::sa::organizations::StatusChange;
    use crate::vetting::seal::testing::{approved_org, certificate};

    struct Fetched {
        status: StatusCode,
        headers: HeaderMap,
        body: String,
    }

    #[tokio::test]
    async fn pages_and_images_say_what_the_records_say() {
        let f = fixture(1);
        let now = f.store.clock().now();
        let (org, seal) = f
            .store
            .write(move |c| {
                let (org, seal, acct) = approved_org(c, now, 10);
                let day = Duration::days(1);
                certificate(
                    c,
                    acct,
                    "5e01",
                    &["www.example.co.jp"],
                    now - day,
                    now + 90 * day,
                );
                let r = certificate(
                    c,
                    acct,
                    "5e02",
                    &["old.example.co.jp"],
                    now - day,
                    now + 90 * day,
                );
                crate::sa::certificates::revoke(c, r, 1, now)?;
                certificate(
                    c,
                    acct,
                    "5e03",
                    &["gone.example.co.jp"],
                    now - 100 * day,
                    now - day,
                );
                Ok((org, seal))
            })
            .await
            .unwrap();
        let seals = Seals::new(f.store.clone(), Duration::days(398));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = watch::channel(false);
        let publisher = Publisher::new(f.generator.clone(), Some(seals));
        let server = tokio::spawn(serve(listener, publisher, async move {
            let _ = rx.wait_for(|s| *s).await;
        }));
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let fetch = |method: Method, path: String, headers: Vec<(&'static str, &'static str)>| {
            let mut req = Request::builder()
                .method(method)
                .uri(format!("http://{addr}{path}"));
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let req = req.body(Full::default()).unwrap();
            let client = client.clone();
            async move {
                let r = client.request(req).await.unwrap();
                let (parts, body) = r.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                Fetched {
                    status: parts.status,
                    headers: parts.headers,
                    body: String::from_utf8(body.to_vec()).unwrap(),
                }
            }
        };
        let page = |domain: &str| {
            fetch(
                Method::GET,
                format!("/seal/{seal}?domain={domain}&lang=en"),
                vec![],
            )
        };

        // Verified for the certified domain: the page names the vetted
        // organization and the certificate; short caching.
        let r = page("www.example.co.jp").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(r.body.contains("data-verified=\"true\""), "{}", r.body);
        for fact in ["Verified", "www.example.co.jp", "5e01", "OV", "Vetted on"] {
            assert!(r.body.contains(fact), "{fact} missing from {}", r.body);
        }
        let cache = r.headers[header::CACHE_CONTROL].to_str().unwrap();
        let max_age: u64 = cache
            .strip_prefix("public, max-age=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(max_age <= 300, "{cache}");
        assert_eq!(r.headers[header::VARY], "Referer, Accept-Language");

        // Not verified, with the reason.
        for (domain, reason) in [
            (
                "other.example.co.jp",
                "holds no certificate for this domain",
            ),
            ("old.example.co.jp", "was revoked"),
            ("gone.example.co.jp", "has expired"),
            ("%3Cscript%3E", "&#60;script&#62; is not a domain name"),
        ] {
            let r = page(domain).await;
            assert_eq!(r.status, StatusCode::OK);
            assert!(
                r.body.contains("data-verified=\"false\""),
                "{domain}: {}",
                r.body
            );
            assert!(!r.body.contains("<script>"), "escaped: {}", r.body);
            let want = reason.replace("&#60;script&#62;", "\u{201c}&#60;script&#62;\u{201d}");
            assert!(
                r.body.contains(&want),
                "{domain}: {want} missing from {}",
                r.body
            );
        }

        // The image, asked about the Referer's host, in Japanese; it
        // shows the name, the verdict and the date, and nothing more.
        let r = fetch(
            Method::GET,
            format!("/seal/{seal}.svg"),
            vec![("referer", "https://www.example.co.jp/company/about.html")],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.headers[header::CONTENT_TYPE],
            "image/svg+xml; charset=utf-8"
        );
        assert!(r.body.starts_with("<svg"), "{}", r.body);
        assert!(r.body.contains("認証済み"), "{}", r.body);
        assert!(
            r.body.contains("例示株式会社") || r.body.contains("株式会社"),
            "{}",
            r.body
        );
        assert!(!r.body.contains("5e01"), "no serial in the image");
        assert!(
            !r.body.contains("www.example.co.jp"),
            "no domain in the image"
        );
        let r = fetch(
            Method::GET,
            format!("/seal/{seal}.svg"),
            vec![
                ("referer", "https://other.example.co.jp/"),
                ("accept-language", "en-US,en;q=0.9"),
            ],
        )
        .await;
        assert!(r.body.contains("Not verified"), "{}", r.body);

        // HEAD: the headers, no body.
        let r = fetch(Method::HEAD, format!("/seal/{seal}.svg"), vec![]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.is_empty());

        // Unknown ids: one 404, whatever the id looks like.
        let near = format!(
            "{}{}",
            &seal[..25],
            if seal.ends_with('a') { "b" } else { "a" }
        );
        let long = "a".repeat(100);
        for id in [
            near.as_str(),
            "x",
            long.as_str(),
            "abcdefghijklmnopqrstuvwxyz",
        ] {
            for suffix in ["", ".svg"] {
                let r = fetch(
                    Method::GET,
                    format!("/seal/{id}{suffix}?domain=www.example.co.jp"),
                    vec![],
                )
                .await;
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}{suffix}");
                assert_eq!(r.body, "not found\n");
            }
        }

        // Suspended: the next request says so.
        f.store
            .write(move |c| {
                crate::sa::organizations::change_status(
                    c,
                    org,
                    StatusChange {
                        from: VettingStatus::Approved,
                        to: VettingStatus::Suspended,
                        reason: Some("test"),
                        approval: None,
                        reset_checks: false,
                    },
                    now,
                )
            })
            .await
            .unwrap();
        let r = page("www.example.co.jp").await;
        assert!(r.body.contains("data-verified=\"false\""), "{}", r.body);
        assert!(
            r.body.contains("The organization is suspended."),
            "{}",
            r.body
        );

        tx.send(true).unwrap();
        tokio::time::timeout(StdDuration::from_secs(15), server)
            .await
            .unwrap()
            .unwrap();
    }
}
