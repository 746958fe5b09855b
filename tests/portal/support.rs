//! The portal's test fixture: a server with the portal listener on
//! loopback (plain HTTP) on a manual clock, the vetting service on its
//! database, and a client that acts as one browser (its own cookies).
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use hyper::{Method, Request, StatusCode};
use time::OffsetDateTime;
use trustgate::config::{Config, TlsMode};
use trustgate::core::customer::Customer;
use trustgate::core::Clock;
use trustgate::sa::{self, Store};
use trustgate::vetting::Vetting;

use crate::acme::{Http, Resp};

/// The page headers every portal answer carries (as the console's).
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A password every test customer uses.
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Portal {
    pub _running: trustgate::app::Running,
    pub _dir: tempfile::TempDir,
    pub _database: Option<crate::acme::ScratchDatabase>,
    pub cfg: Config,
    pub clock: Clock,
    pub store: Store,
    pub vetting: Vetting,
    /// `http://127.0.0.1:PORT`, the portal's origin.
    pub base: String,
    pub http: Http,
}

impl Portal {
    pub async fn start() -> Portal {
        Portal::start_with(|_| {}).await
    }

    /// A server whose portal listens on a free loopback port (its base
    /// URL follows it), on a manual clock.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Portal {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        cfg.server.listen = "127.0.0.1:0".parse().unwrap();
        cfg.server.tls = TlsMode::None;
        cfg.admin.listen = None;
        cfg.publish.listen = None;
        cfg.portal.listen = Some("127.0.0.1:0".parse().unwrap());
        let database = crate::acme::ScratchDatabase::create();
        if let Some(db) = &database {
            cfg.database.url = db.url.clone();
        }
        tweak(&mut cfg);
        let clock = Clock::manual(OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap());
        let running = trustgate::app::start_with_clock(cfg.clone(), clock.clone())
            .await
            .unwrap();
        let addr = running.portal_addr.expect("the portal listener is bound");
        cfg.portal.listen = Some(addr);
        let store = trustgate::app::open_store_with_clock(&cfg, clock.clone()).unwrap();
        let vetting = Vetting::new(store.clone(), cfg.vetting.clone());
        Portal {
            _running: running,
            _dir: dir,
            _database: database,
            cfg,
            clock,
            store,
            vetting,
            base: format!("http://{addr}"),
            http: crate::acme::http(),
        }
    }

    /// A new browser: no cookies, Japanese unless told.
    pub fn browser(&self) -> Browser<'_> {
        Browser {
            portal: self,
            cookies: Mutex::new(BTreeMap::new()),
            headers: Vec::new(),
        }
    }

    /// The e-mail notices written about `customer` (subject `customer:ID`).
    pub async fn notices(&self, customer: &Customer) -> Vec<sa::outbox::Notice> {
        let about = customer.subject();
        self.store
            .read(move |c| sa::outbox::about(c, &about))
            .await
            .unwrap()
    }

    pub async fn customer(&self, email: &str) -> Option<Customer> {
        let email = email.to_owned();
        self.store
            .read(move |c| sa::customers::by_email(c, &email))
            .await
            .unwrap()
            .map(|r| r.customer)
    }

    /// Notices queued in the outbox (not sent: no `[mail]` here).
    pub async fn queued_notices(&self) -> i64 {
        self.store.read(sa::outbox::queued_count).await.unwrap()
    }

    /// The actions of the newest audit events, newest first.
    pub async fn audit_actions(&self) -> Vec<(String, String, serde_json::Value)> {
        self.store
            .read(|c| sa::audit::list(c, None, 100))
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.action, e.subject, e.details))
            .collect()
    }

    /// Signs `email` up, verifies it with the link from the outbox and
    /// logs in: a browser with a live session.
    pub async fn customer_session(&self, email: &str) -> Browser<'_> {
        let b = self.browser();
        let r = b.sign_up(&signup_form(email)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        let token = self.verification_token(email).await;
        let r = b.verify(&token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let r = b.login(email, PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        b
    }

    /// The token of the newest verification link mailed to `email`.
    pub async fn verification_token(&self, email: &str) -> String {
        let customer = self.customer(email).await.expect("the account");
        let notices = self.notices(&customer).await;
        let body = &notices
            .iter()
            .rev()
            .find(|n| n.kind == "customer.email_verification")
            .expect("a verification notice")
            .body;
        // portal.base_url is unset: the links name localhost and the port.
        let port = self.base.rsplit(':').next().unwrap();
        let marker = format!("http://localhost:{port}/verify?token=");
        let start = body
            .find(&marker)
            .unwrap_or_else(|| panic!("no link in {body}"))
            + marker.len();
        body[start..].split_whitespace().next().unwrap().to_owned()
    }
}

/// A complete, valid sign-up form for `email` (fields by name).
pub fn signup_form(email: &str) -> Vec<(&'static str, String)> {
    vec![
        ("email", email.to_owned()),
        ("password", PASSWORD.to_owned()),
        ("password_again", PASSWORD.to_owned()),
        ("contact_name", "山田 太郎".to_owned()),
        ("organization", "例示株式会社".to_owned()),
        ("department", "情報システム部".to_owned()),
        ("postal_code", "100-0005".to_owned()),
        ("address", "東京都千代田区丸の内1-1-1".to_owned()),
        ("phone", "03-1234-5678".to_owned()),
        ("fax", "03-1234-5679".to_owned()),
        ("agree", "on".to_owned()),
        ("agreement_version", "development".to_owned()),
    ]
}

pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub fn encode_form(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// What `name="NAME" value="…"` holds in a page.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// One browser: it keeps the cookies the portal sets (and drops the ones
/// it expires), and sends extra headers (Accept-Language) with each
/// request.
pub struct Browser<'a> {
    pub portal: &'a Portal,
    pub cookies: Mutex<BTreeMap<String, String>>,
    pub headers: Vec<(&'static str, String)>,
}

impl Browser<'_> {
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub async fn send(&self, method: Method, path: &str, form: &str) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.portal.base));
        let cookies = self.cookie_header();
        if !cookies.is_empty() {
            req = req.header("cookie", cookies);
        }
        for (k, v) in &self.headers {
            req = req.header(*k, v.as_str());
        }
        if !form.is_empty() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let r = crate::acme::exchange(&self.portal.http, req, form.as_bytes().to_vec()).await;
        self.keep_cookies(&r);
        r
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&self, r: &Resp) {
        let mut jar = self.cookies.lock().unwrap();
        for set in r.headers.get_all("set-cookie").iter() {
            let set = set.to_str().unwrap();
            let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
            if set.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, "").await
    }

    /// POSTs `fields` from the page at `form_page`, with the CSRF token
    /// that page carries.
    pub async fn submit(&self, form_page: &str, action: &str, fields: &[(&str, String)]) -> Resp {
        let page = self.get(form_page).await;
        assert_eq!(page.status, StatusCode::OK, "{form_page}: {}", page.text());
        let mut all = vec![("csrf", hidden(&page.text(), "csrf"))];
        all.extend(fields.iter().map(|(k, v)| (*k, v.clone())));
        self.send(Method::POST, action, &encode_form(&all)).await
    }

    pub async fn sign_up(&self, fields: &[(&str, String)]) -> Resp {
        self.submit("/signup", "/signup", fields).await
    }

    pub async fn verify(&self, token: &str) -> Resp {
        let page = format!("/verify?token={}", enc(token));
        self.submit(&page, "/verify", &[("token", token.to_owned())])
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        let fields = [
            ("email", email.to_owned()),
            ("password", password.to_owned()),
        ];
        self.submit("/login", "/login", &fields).await
    }
}
