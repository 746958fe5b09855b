//! The in-process fixture: a trustgate server (plain HTTP) with the admin
//! listener on loopback and four staff members, and a small JSON client.

use diesel::prelude::*;
use hyper::{Method, Request, StatusCode};
use serde_json::Value;
use trustgate::config::{Config, StaffRole, TlsMode};

pub use crate::acme::{Http, Resp};

/// A staff member: (name, bearer token).
#[derive(Clone, Copy, Debug)]
pub struct Who(pub &'static str, pub &'static str);

pub const VETTER: Who = Who("vetter", "tok-vetter-0f6c1d0b7e");
pub const APPROVER: Who = Who("approver", "tok-approver-93a2c4e1");
pub const VIEWER: Who = Who("viewer", "tok-viewer-5d17b8aa");
/// Holds every role, to show the four-eyes rule applies to one person
/// who both vets and approves.
pub const LEAD: Who = Who("lead", "tok-lead-c0ffee42");
/// Configured without any role: authenticated, allowed nothing.
pub const NOBODY: Who = Who("nobody", "tok-nobody-7a41e0c3");

/// How staff tokens are stored, computed here independently of the
/// server's code.
pub fn sha256_hex(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The staff every test server knows, with their roles.
pub fn staff_list() -> Vec<(Who, Vec<StaffRole>)> {
    use StaffRole::*;
    vec![
        (VETTER, vec![View, Vet]),
        (APPROVER, vec![View, Approve]),
        (VIEWER, vec![View]),
        (LEAD, vec![Vet, Approve]),
        (NOBODY, vec![]),
    ]
}

/// Enrols `staff_list()` in the database of `cfg`, in that order (so
/// their ids are 1 to 5).
pub async fn enrol_staff(cfg: &Config) {
    for (who, roles) in staff_list() {
        crate::acme::add_staff(cfg, who.0, who.1, &roles).await;
    }
}

/// The audit actor of `who` (ids in `staff_list()` order).
pub fn actor(who: Who) -> String {
    let id = staff_list()
        .iter()
        .position(|(w, _)| w.0 == who.0)
        .expect("a listed member")
        + 1;
    format!("staff:{}#{id}", who.0)
}

pub struct Server {
    /// Kept so the server lives as long as the fixture.
    pub _running: trustgate::app::Running,
    pub cfg: Config,
    pub _dir: tempfile::TempDir,
    pub admin: String,
    pub http: Http,
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        cfg.server.listen = "127.0.0.1:0".parse().expect("addr");
        cfg.server.tls = TlsMode::None;
        cfg.admin.listen = Some("127.0.0.1:0".parse().expect("addr"));
        // Not under test here; its default fixed port would collide
        // between parallel tests.
        cfg.publish.listen = None;
        tweak(&mut cfg);
        let running = trustgate::app::start(cfg.clone())
            .await
            .expect("server starts");
        enrol_staff(&cfg).await;
        let admin_addr = running.admin_addr.expect("the admin listener is bound");
        cfg.server.listen = running.addr;
        Server {
            _running: running,
            cfg,
            _dir: dir,
            admin: format!("http://{admin_addr}"),
            http: crate::acme::http(),
        }
    }

    /// The vetting service on the server's database (staff management).
    pub fn vetting(&self) -> trustgate::vetting::Vetting {
        trustgate::vetting::Vetting::new(
            trustgate::app::open_store(&self.cfg).expect("store"),
            self.cfg.vetting.clone(),
        )
    }

    /// A request with an optional bearer token and raw body.
    pub async fn raw(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Resp {
        request(&self.http, &self.admin, token, method, path, body).await
    }

    pub async fn get(&self, who: Who, path: &str) -> Resp {
        self.raw(Some(who.1), Method::GET, path, Vec::new()).await
    }

    /// POSTs `body` as JSON; `Value::Null` sends no body.
    pub async fn post(&self, who: Who, path: &str, body: Value) -> Resp {
        let body = match body {
            Value::Null => Vec::new(),
            b => b.to_string().into_bytes(),
        };
        self.raw(Some(who.1), Method::POST, path, body).await
    }

    pub async fn put(&self, who: Who, path: &str, body: Value) -> Resp {
        self.raw(
            Some(who.1),
            Method::PUT,
            path,
            body.to_string().into_bytes(),
        )
        .await
    }

    /// A new pending OV organization (created by the vetter); its id.
    pub async fn create_org(&self) -> i64 {
        let r = self
            .post(VETTER, "/admin/organizations", organization())
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["id"].as_i64().expect("id")
    }

    /// Records the three checks OV approval needs, as `who`.
    pub async fn record_ov_checks(&self, who: Who, org: i64) {
        for kind in ["existence", "phone_intent", "domain_scope"] {
            let r = self
                .post(
                    who,
                    &format!("/admin/organizations/{org}/checks"),
                    check(kind),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{kind}: {}", r.text());
        }
    }

    /// An approved OV organization.
    pub async fn approved_org(&self) -> i64 {
        let org = self.create_org().await;
        self.record_ov_checks(VETTER, org).await;
        let r = self
            .post(
                APPROVER,
                &format!("/admin/organizations/{org}/approve"),
                Value::Null,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        org
    }

    /// Runs SQL on the server's database (rows the ACME side would write).
    pub fn sql(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        let mut c =
            diesel::SqliteConnection::establish(&self.cfg.database_url()).expect("database");
        // The server writes too (CRLs at start-up): wait for its lock.
        c.batch_execute("PRAGMA busy_timeout = 10000")
            .expect("busy_timeout");
        diesel::sql_query(sql).execute(&mut c).expect(sql);
    }
}

/// One request to the admin listener at `base` (`http://host:port`).
pub async fn request(
    http: &Http,
    base: &str,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> Resp {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if !body.is_empty() {
        req = req.header("content-type", "application/json");
    }
    crate::acme::exchange(http, req, body).await
}

/// The example organization shipped in conf/.
pub fn organization() -> Value {
    read_conf("organization.example.json")
}

/// The example check of `kind` shipped in conf/checks/.
pub fn check(kind: &str) -> Value {
    read_conf(&format!("checks/{kind}.json"))
}

pub fn read_conf(name: &str) -> Value {
    let path = format!("{}/conf/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect(&path);
    serde_json::from_str(&text).expect(&path)
}

/// Admin answers are checked by status; the ACME suite's `problem`
/// checks by type.
impl Resp {
    /// Asserts a problem document with `status` and returns its detail.
    #[track_caller]
    pub fn problem_status(&self, status: u16) -> String {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let p = self.json();
        assert_eq!(p["status"], status, "{p}");
        assert!(
            p["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:ietf:params:acme:error:")),
            "{p}"
        );
        p["detail"].as_str().expect("detail").to_owned()
    }
}
