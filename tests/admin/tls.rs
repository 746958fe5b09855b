//! The admin listener over TLS (`admin.tls`): the console's cookies are
//! `Secure`, every answer says its server time (`Server-Timing`), and
//! plain HTTP to the same port gets no answer (on SQLite and, with
//! TEST_DATABASE_URL, PostgreSQL). `trustgate check-config` refuses a
//! plain admin listener off loopback in production.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use trustgate::config::{AdminTls, Config, StaffRole, TlsFiles, TlsMode};
use trustgate::core::Clock;
use trustgate::vetting::staff::{totp_code, Enrolment};
use trustgate::vetting::Vetting;

use crate::acme::Resp;

struct Desk {
    _running: trustgate::app::Running,
    _dir: tempfile::TempDir,
    _database: Option<crate::acme::ScratchDatabase>,
    addr: SocketAddr,
    client: TlsConnector,
    member: Enrolment,
}

/// A server whose admin listener serves a certificate for `localhost`
/// from two PEM files, and one enrolled member.
async fn desk() -> Desk {
    let dir = tempfile::tempdir().unwrap();
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.path().join("admin.pem"), issued.cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("admin.key"),
        issued.signing_key.serialize_pem(),
    )
    .unwrap();
    let mut cfg = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    cfg.server.listen = "127.0.0.1:0".parse().unwrap();
    cfg.server.tls = TlsMode::None;
    cfg.admin.listen = Some("127.0.0.1:0".parse().unwrap());
    // Relative to data_dir.
    cfg.admin.tls = Some(AdminTls::Files(TlsFiles {
        cert: "admin.pem".into(),
        key: "admin.key".into(),
    }));
    cfg.publish.listen = None;
    let database = crate::acme::ScratchDatabase::create();
    if let Some(db) = &database {
        cfg.database.url = db.url.clone();
    }
    let running = trustgate::app::start(cfg.clone()).await.unwrap();
    let store = trustgate::app::open_store_with_clock(&cfg, Clock::system()).unwrap();
    let member = Vetting::new(store, cfg.vetting.clone())
        .add_staff(None, "approver", vec![StaffRole::View, StaffRole::Approve])
        .await
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(issued.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Desk {
        addr: running.admin_addr.unwrap(),
        _running: running,
        _dir: dir,
        _database: database,
        client: TlsConnector::from(Arc::new(tls)),
        member,
    }
}

impl Desk {
    /// One request over a fresh TLS connection to `localhost`.
    async fn send(&self, method: Method, path: &str, cookie: &str, form: &str) -> Resp {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = self.client.connect(name, tcp).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if !cookie.is_empty() {
            req = req.header("cookie", cookie);
        }
        if !form.is_empty() {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let req = req.body(Full::new(Bytes::from(form.to_owned()))).unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }
}

/// The `Set-Cookie` of `name` in `r`.
fn set_cookie(r: &Resp, name: &str) -> String {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", r.headers))
        .to_owned()
}

/// `name="NAME" value="…"` in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap() + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The server time an answer states, in ms.
fn server_time(r: &Resp) -> f64 {
    let v = r.header("server-timing").expect("a Server-Timing header");
    v.strip_prefix("app;dur=")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("Server-Timing: {v}"))
}

#[tokio::test]
async fn console_over_tls_sets_secure_cookies_and_plain_http_gets_no_answer() {
    let d = desk().await;
    let form = d.send(Method::GET, "/console/login", "", "").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text());
    let login_cookie = set_cookie(&form, "tg_login");
    assert!(login_cookie.contains("; Secure"), "{login_cookie}");
    assert!(server_time(&form) >= 0.0);

    let code = totp_code(
        d.member.totp_secret.expose(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let body = format!(
        "csrf={}&return=%2Fconsole%2F&name=approver&password={}&code={code}",
        enc(&hidden(&form.text(), "csrf")),
        enc(d.member.password.expose()),
    );
    let cookie = login_cookie.split(';').next().unwrap();
    let r = d.send(Method::POST, "/console/login", cookie, &body).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let session = set_cookie(&r, "tg_session");
    for attribute in [
        "; Secure",
        "; HttpOnly",
        "; SameSite=Strict",
        "; Path=/console",
    ] {
        assert!(session.contains(attribute), "{attribute}: {session}");
    }
    // The session works over TLS (the one-time password is replaced first).
    let session = session.split(';').next().unwrap();
    let page = d.send(Method::GET, "/console/", session, "").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text());
    assert_eq!(
        page.header("location").as_deref(),
        Some("/console/password")
    );
    assert!(server_time(&page) >= 0.0);
    let switch = "/console/lang?to=en&return=%2Fconsole%2F";
    let lang = set_cookie(&d.send(Method::GET, switch, "", "").await, "tg_lang");
    assert!(lang.contains("; Secure"), "{lang}");

    // The same port in plain HTTP: the handshake fails, nothing is served.
    let plain = crate::acme::http()
        .request(
            Request::builder()
                .uri(format!("http://{}/healthz", d.addr))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
}

/// A production configuration in `dir` that passes every other check,
/// with `admin` as its `[admin]` table.
fn production_config(dir: &std::path::Path, admin: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let db = dir.join("trustgate.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        r#"data_dir = "{}"
[server]
tls = "none"
[ca]
generate_dev_ca = false
intermediate_key = "pkcs11:token=ca;object=intermediate"
linter_url = "http://127.0.0.1:8081"
[vetting]
eab_encryption_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
[publish]
base_url = "http://crl.example.jp"
[admin]
{admin}
"#,
        dir.display()
    );
    let config = dir.join("trustgate.toml");
    std::fs::write(&config, text).unwrap();
    config
}

fn check_config(config: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trustgate"))
        .arg("--config")
        .arg(config)
        .arg("check-config")
        .env_remove("TRUSTGATE_EAB_ENCRYPTION_KEY")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn check_config_refuses_a_plain_admin_listener_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = check_config(&production_config(dir.path(), "listen = \"0.0.0.0:14001\""));
    assert!(!ok, "{text}");
    assert!(
        text.contains("admin.listen: 0.0.0.0:14001 without admin.tls"),
        "{text}"
    );
    assert!(text.contains("1 setting(s)"), "{text}");

    for fine in [
        "listen = \"127.0.0.1:14001\"",
        "listen = \"0.0.0.0:14001\"\ntls = { cert = \"admin.pem\", key = \"admin.key\" }",
    ] {
        let (ok, text) = check_config(&production_config(dir.path(), fine));
        assert!(ok, "{fine}: {text}");
        assert!(text.contains("nothing to fix"), "{fine}: {text}");
    }
    let (ok, text) = check_config(&production_config(
        dir.path(),
        "listen = \"0.0.0.0:14001\"\ntls = \"self-issued\"",
    ));
    assert!(!ok, "{text}");
    assert!(text.contains("admin.tls: "), "{text}");
}
