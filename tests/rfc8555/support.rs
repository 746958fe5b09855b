//! The in-process fixture: a trustgate server on loopback (plain HTTP, as
//! behind a TLS proxy), a DNS responder that points every name at
//! 127.0.0.1, an http-01 responder, and a JWS-signing ACME test client.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use bytes::Bytes;
use diesel::prelude::*;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use josekit::jwk::Jwk;
use josekit::jws::JwsSigner;
use serde_json::{json, Map, Value};
use trustgate::config::{Config, TlsMode};
use trustgate::core::{Clock, OrganizationId};
use trustgate::vetting::checks::{CheckRecord, ThirdPartySource, Transition};
use trustgate::vetting::organization::{
    BusinessCategory, DomainScope, EvData, Level, OrganizationData,
};
use trustgate::vetting::Vetting;

// The certbot suite's scratch PostgreSQL database, shared rather than
// copied.
#[path = "../../integration/common/database.rs"]
mod database;
pub use database::ScratchDatabase;

pub type Http = HttpClient<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

pub struct Server {
    /// Kept so the server lives as long as the fixture.
    pub _running: trustgate::app::Running,
    pub cfg: Config,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub http01: Arc<Mutex<HashMap<String, String>>>,
    /// CAA records the fake DNS serves, by owner name.
    pub caa: CaaZone,
    /// TXT records the fake DNS serves (dns-01), by owner name.
    pub txt: TxtZone,
    /// The server's clock, and the one `vetting()` works on.
    pub clock: Clock,
    default_org: Mutex<Option<OrganizationId>>,
    /// With TEST_DATABASE_URL (a PostgreSQL URL), the server's database
    /// of its own there; without it, SQLite in `dir`. Dropped after
    /// `_running`, so the server is gone first.
    _database: Option<ScratchDatabase>,
    _dns: DnsResponder,
}

/// A server and a client registered with an EAB credential of an
/// approved organization.
pub async fn registered() -> (Server, Client) {
    registered_with(|_| {}).await
}

/// As `registered`, with the configuration tweaked first.
pub async fn registered_with(tweak: impl FnOnce(&mut Config)) -> (Server, Client) {
    registered_on(Clock::system(), tweak).await
}

/// As `registered_with`, with the server on `clock` (a manual clock lets a
/// test move time).
pub async fn registered_on(clock: Clock, tweak: impl FnOnce(&mut Config)) -> (Server, Client) {
    let s = Server::start_on(clock, tweak).await;
    let mut c = Client::new(&s).await;
    c.register(&s).await;
    (s, c)
}

/// Passing checks for every kind the level requires.
pub fn checks_for(level: Level) -> Vec<CheckRecord> {
    let mut v = vec![
        CheckRecord::Existence {
            source: ThirdPartySource::Tdb,
            reference: "TDB 123456789".into(),
            passed: true,
            notes: String::new(),
        },
        CheckRecord::PhoneIntent {
            number_called: "03-1234-5678".into(),
            number_source: ThirdPartySource::Ntt104,
            person_reached: "佐藤花子".into(),
            confirmed: true,
            notes: String::new(),
        },
        CheckRecord::DomainScope {
            passed: true,
            notes: String::new(),
        },
    ];
    if level == Level::Ev {
        v.push(CheckRecord::EvRegistration {
            reference: "登記簿 180301018771".into(),
            passed: true,
            notes: String::new(),
        });
        v.push(CheckRecord::EvBusinessCategory {
            passed: true,
            notes: String::new(),
        });
        // The EVG 11.4–11.12 items, as the example files record them.
        for text in [
            include_str!("../../conf/checks/ev_place_of_business.json"),
            include_str!("../../conf/checks/ev_operational_existence.json"),
            include_str!("../../conf/checks/ev_communication.json"),
            include_str!("../../conf/checks/ev_authority.json"),
            include_str!("../../conf/checks/ev_denied_party_screening.json"),
        ] {
            v.push(serde_json::from_str(text).expect(text));
        }
    }
    v
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Server {
        Self::start_on(Clock::system(), tweak).await
    }

    /// A server whose every layer reads `clock`.
    pub async fn start_on(clock: Clock, tweak: impl FnOnce(&mut Config)) -> Server {
        Self::start_with_perspectives(clock, tweak, Vec::new()).await
    }

    /// As `start_on`, its VA asking `perspectives` beside every check.
    pub async fn start_with_perspectives(
        clock: Clock,
        tweak: impl FnOnce(&mut Config),
        perspectives: trustgate::app::Perspectives,
    ) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let caa = CaaZone::default();
        let txt = TxtZone::default();
        let dns = DnsResponder::start(caa.clone(), txt.clone()).await;
        let http01 = Arc::new(Mutex::new(HashMap::new()));
        let http01_port = serve_http01(http01.clone()).await;
        let mut cfg = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        cfg.server.listen = "127.0.0.1:0".parse().expect("addr");
        cfg.server.tls = TlsMode::None;
        cfg.va.http01_port = http01_port;
        cfg.va.allow_loopback = true;
        cfg.va.resolvers = vec![dns.addr];
        // The fake DNS server signs nothing; DNSSEC is tested in va::dns.
        cfg.va.dnssec = false;
        cfg.va.timeout_secs = 5;
        cfg.admin.listen = Some("127.0.0.1:0".parse().expect("addr"));
        // EAB keys sealed at rest, as production should run (the certbot
        // suite runs without a key, the development default).
        cfg.vetting.eab_encryption_key = Some(B64.encode([9u8; 32]));
        cfg.publish.listen = Some("127.0.0.1:0".parse().expect("addr"));
        let database = ScratchDatabase::create();
        if let Some(db) = &database {
            cfg.database.url = db.url.clone();
        }
        tweak(&mut cfg);
        let running =
            trustgate::app::start_with_perspectives(cfg.clone(), clock.clone(), perspectives)
                .await
                .expect("server starts");
        let base = format!("http://localhost:{}", running.addr.port());
        cfg.server.listen = running.addr;
        Server {
            _running: running,
            cfg,
            dir,
            base,
            http01,
            caa,
            txt,
            clock,
            default_org: Mutex::new(None),
            _database: database,
            _dns: dns,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A URL on the admin listener (health, readiness, metrics).
    pub fn admin_url(&self, path: &str) -> String {
        let addr = self._running.admin_addr.expect("admin listener bound");
        format!("http://{addr}{path}")
    }

    /// Staff's service, writing the notices the configuration asks for.
    pub fn vetting(&self) -> Vetting {
        Vetting::from_config(
            trustgate::app::open_store_with_clock(&self.cfg, self.clock.clone()).expect("store"),
            &self.cfg,
        )
    }

    /// A pending organization of `level` whose domain scope is `domains`.
    pub async fn organization(&self, level: Level, domains: &[&str]) -> OrganizationId {
        let mut data: OrganizationData =
            serde_json::from_str(include_str!("../../conf/organization.example.json"))
                .expect("example org");
        data.level = level;
        data.ev = (level == Level::Ev).then(|| EvData {
            business_category: BusinessCategory::PrivateOrganization,
            jurisdiction_country: "JP".into(),
            jurisdiction_state_or_province: None,
            jurisdiction_locality: None,
        });
        data.domains = domains
            .iter()
            .map(|d| DomainScope {
                name: (*d).into(),
                exact: false,
            })
            .collect();
        self.vetting()
            .create("vetter", data)
            .await
            .expect("create org")
            .id
    }

    /// Records every check the level needs (by "vetter") and approves (by
    /// "approver", so the four-eyes rule holds).
    pub async fn approve(&self, org: OrganizationId) {
        let v = self.vetting();
        let level = v.get(org).await.expect("org").data.level;
        for record in checks_for(level) {
            v.record_check("vetter", org, record, None)
                .await
                .expect("check");
        }
        v.transition("approver", org, Transition::Approve, None)
            .await
            .expect("approve");
    }

    /// An EAB credential of `org`: (key id, raw HMAC key).
    pub async fn eab_for(&self, org: OrganizationId, single_use: bool) -> (String, Vec<u8>) {
        let issued = self
            .vetting()
            .create_eab(
                "vetter",
                org,
                trustgate::vetting::eab::CreateOptions {
                    note: "test".into(),
                    single_use,
                    expires_in: None,
                },
            )
            .await
            .expect("eab");
        (
            issued.credential.key_id,
            B64.decode(issued.hmac_key).expect("b64"),
        )
    }

    /// The organization `eab` makes credentials of, once it has made one.
    pub fn default_organization(&self) -> Option<OrganizationId> {
        *self.default_org.lock().expect("lock")
    }

    /// An EAB credential of an approved OV organization scoped to
    /// `example.jp`, made on first use.
    pub async fn eab(&self, single_use: bool) -> (String, Vec<u8>) {
        let org = {
            let cached = *self.default_org.lock().expect("lock");
            match cached {
                Some(o) => o,
                None => {
                    let o = self.organization(Level::Ov, &["example.jp"]).await;
                    self.approve(o).await;
                    *self.default_org.lock().expect("lock") = Some(o);
                    o
                }
            }
        };
        self.eab_for(org, single_use).await
    }

    /// Counts rows of a table, to show that a refused request changed
    /// nothing.
    pub fn count(&self, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        with_db(&self.cfg.database_url(), |c| c.load::<N>(&sql))[0].n
    }

    /// A snapshot of every table's row count.
    pub fn counts(&self) -> Vec<(String, i64)> {
        [
            "accounts",
            "orders",
            "authorizations",
            "challenges",
            "certificates",
            "eab_credentials",
        ]
        .iter()
        .map(|t| (t.to_string(), self.count(t)))
        .collect()
    }

    /// Runs each query (one text column named `t`) on one connection and
    /// returns every row of every query, in order.
    pub fn sql_texts(&self, queries: &[&str]) -> Vec<String> {
        #[derive(QueryableByName)]
        struct T {
            #[diesel(sql_type = diesel::sql_types::Text)]
            t: String,
        }
        with_db(&self.cfg.database_url(), |c| {
            queries
                .iter()
                .flat_map(|q| c.load::<T>(q))
                .map(|r| r.t)
                .collect()
        })
    }

    /// Runs a query returning one text column named `t`.
    pub fn sql_text(&self, sql: &str) -> Vec<String> {
        #[derive(QueryableByName)]
        struct T {
            #[diesel(sql_type = diesel::sql_types::Text)]
            t: String,
        }
        with_db(&self.cfg.database_url(), |c| c.load::<T>(sql))
            .into_iter()
            .map(|r| r.t)
            .collect()
    }
}

/// A raw connection to either backend, for assertions about stored rows.
pub enum Db {
    Sqlite(diesel::SqliteConnection),
    Pg(diesel::PgConnection),
}

impl Db {
    pub fn execute(&mut self, sql: &str) -> usize {
        match self {
            Db::Sqlite(c) => diesel::sql_query(sql).execute(c),
            Db::Pg(c) => diesel::sql_query(sql).execute(c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub fn load<T>(&mut self, sql: &str) -> Vec<T>
    where
        T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
    {
        match self {
            Db::Sqlite(c) => diesel::sql_query(sql).load(c),
            Db::Pg(c) => diesel::sql_query(sql).load(c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

pub fn with_db<T>(url: &str, f: impl FnOnce(&mut Db) -> T) -> T {
    let mut db = if url.starts_with("postgres") {
        Db::Pg(trustgate::sa::connect_postgres(url).expect("postgres"))
    } else {
        use diesel::connection::SimpleConnection;
        let mut c = diesel::SqliteConnection::establish(url).expect("sqlite");
        // The server writes concurrently (CRLs, validations): wait for its lock.
        c.batch_execute("PRAGMA busy_timeout = 10000")
            .expect("busy_timeout");
        Db::Sqlite(c)
    };
    f(&mut db)
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    /// Asserts a problem document of `type` and returns it.
    #[track_caller]
    pub fn problem(&self, kind: &str) -> Value {
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "status {} body {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        let p = self.json();
        assert_eq!(
            p["type"],
            format!("urn:ietf:params:acme:error:{kind}"),
            "problem {p}"
        );
        assert_eq!(p["status"], self.status.as_u16(), "problem {p}");
        p
    }
}

pub async fn send(http: &Http, method: Method, url: &str, ct: Option<&str>, body: Vec<u8>) -> Resp {
    let mut req = Request::builder().method(method).uri(url);
    if let Some(ct) = ct {
        req = req.header("content-type", ct);
    }
    exchange(http, req, body).await
}

/// Sends `req` with `body` and reads the whole answer (the admin suite
/// sends its requests through here too).
pub async fn exchange(http: &Http, req: hyper::http::request::Builder, body: Vec<u8>) -> Resp {
    let resp = http
        .request(req.body(Full::new(Bytes::from(body))).expect("request"))
        .await
        .expect("HTTP request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Resp {
        status,
        headers,
        body,
    }
}

pub fn http() -> Http {
    HttpClient::builder(TokioExecutor::new()).build_http()
}

/// What to put in the protected header; tests bend these to make bad JWSs.
#[derive(Clone)]
pub struct Protected {
    pub alg: String,
    pub jwk: bool,
    pub kid: bool,
    pub nonce: Option<String>,
    pub url: Option<String>,
}

/// A minimal ACME client that signs with ES256 and lets tests build any
/// request, well-formed or not.
pub struct Client {
    pub http: Http,
    pub directory: Value,
    pub signer: Box<dyn JwsSigner>,
    pub jwk: Jwk,
    pub kid: Option<String>,
}

impl Client {
    pub async fn new(server: &Server) -> Client {
        let http = http();
        let directory = send(&http, Method::GET, &server.url("/directory"), None, vec![])
            .await
            .json();
        let kp = josekit::jws::ES256.generate_key_pair().expect("key");
        let signer = josekit::jws::ES256
            .signer_from_jwk(&kp.to_jwk_private_key())
            .expect("signer");
        Client {
            http,
            directory,
            signer: Box::new(signer),
            jwk: kp.to_jwk_public_key(),
            kid: None,
        }
    }

    /// A client whose account key is `key` (so tests can sign with a
    /// certificate's key, or put the account key in a CSR).
    pub async fn with_key(server: &Server, key: &rcgen::KeyPair) -> Client {
        let pem = key.serialize_pem();
        let mut c = Client::new(server).await;
        c.signer = Box::new(
            josekit::jws::ES256
                .signer_from_pem(pem.as_bytes())
                .expect("signer"),
        );
        c.jwk = josekit::jwk::alg::ec::EcKeyPair::from_pem(pem.as_bytes(), None)
            .expect("key")
            .to_jwk_public_key();
        c
    }

    pub fn dir(&self, name: &str) -> String {
        self.directory[name]
            .as_str()
            .expect("directory entry")
            .to_owned()
    }

    pub async fn nonce(&self) -> String {
        let r = send(
            &self.http,
            Method::HEAD,
            &self.dir("newNonce"),
            None,
            vec![],
        )
        .await;
        r.header("replay-nonce").expect("nonce")
    }

    pub fn jwk_map(&self) -> Map<String, Value> {
        self.jwk.as_ref().clone()
    }

    /// Signs `payload` (None = POST-as-GET) with the given header.
    pub fn sign(&self, p: &Protected, payload: Option<&Value>) -> Value {
        let mut h = Map::new();
        h.insert("alg".into(), json!(p.alg));
        if p.jwk {
            h.insert("jwk".into(), Value::Object(self.jwk_map()));
        }
        if p.kid {
            h.insert("kid".into(), json!(self.kid.clone().unwrap_or_default()));
        }
        if let Some(n) = &p.nonce {
            h.insert("nonce".into(), json!(n));
        }
        if let Some(u) = &p.url {
            h.insert("url".into(), json!(u));
        }
        let protected = B64.encode(Value::Object(h).to_string());
        let payload = payload
            .map(|v| B64.encode(v.to_string()))
            .unwrap_or_default();
        let sig = self
            .signer
            .sign(format!("{protected}.{payload}").as_bytes())
            .expect("sign");
        json!({"protected": protected, "payload": payload, "signature": B64.encode(sig)})
    }

    pub async fn protected(&self, url: &str) -> Protected {
        Protected {
            alg: "ES256".into(),
            jwk: self.kid.is_none(),
            kid: self.kid.is_some(),
            nonce: Some(self.nonce().await),
            url: Some(url.to_owned()),
        }
    }

    pub async fn post_jws(&self, url: &str, jws: &Value) -> Resp {
        send(
            &self.http,
            Method::POST,
            url,
            Some("application/jose+json"),
            jws.to_string().into_bytes(),
        )
        .await
    }

    /// A well-formed signed POST.
    /// POSTs `order`'s finalize with a CSR for `names` and a fresh key.
    pub async fn finalize(&self, order: &Value, names: &[&str]) -> Resp {
        let url = order["finalize"].as_str().expect("finalize url");
        self.post(url, Some(&json!({"csr": b64(&csr(names))})))
            .await
    }

    pub async fn post(&self, url: &str, payload: Option<&Value>) -> Resp {
        let p = self.protected(url).await;
        let jws = self.sign(&p, payload);
        self.post_jws(url, &jws).await
    }

    /// The externalAccountBinding member for newAccount (RFC 8555 §7.3.4).
    pub fn eab(&self, kid: &str, key: &[u8], url: &str) -> Value {
        let protected = B64.encode(json!({"alg": "HS256", "kid": kid, "url": url}).to_string());
        let payload = B64.encode(Value::Object(self.jwk_map()).to_string());
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key),
            format!("{protected}.{payload}").as_bytes(),
        );
        json!({"protected": protected, "payload": payload, "signature": B64.encode(mac.as_ref())})
    }

    /// Registers with a fresh EAB credential; sets `kid`.
    pub async fn register(&mut self, server: &Server) -> Resp {
        let (kid, key) = server.eab(true).await;
        let url = self.dir("newAccount");
        let eab = self.eab(&kid, &key, &url);
        let r = self
            .post(
                &url,
                Some(&json!({"termsOfServiceAgreed": true, "contact": ["mailto:ops@example.jp"], "externalAccountBinding": eab})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        self.kid = r.header("location");
        r
    }

    pub fn thumbprint(&self) -> String {
        let key = trustgate::jose::AccountKey::from_jwk(&self.jwk_map()).expect("key");
        key.thumbprint().to_owned()
    }

    pub async fn new_order(&self, names: &[&str]) -> Resp {
        let ids: Vec<Value> = names
            .iter()
            .map(|n| json!({"type": "dns", "value": n}))
            .collect();
        self.post(&self.dir("newOrder"), Some(&json!({"identifiers": ids})))
            .await
    }

    /// Makes `server`'s http-01 responder answer the challenge `ch` with
    /// this account's key authorization (RFC 8555 §8.1).
    pub fn provision_http01(&self, server: &Server, ch: &Value) {
        let token = ch["token"].as_str().expect("token").to_owned();
        let key_authorization = format!("{token}.{}", self.thumbprint());
        server
            .http01
            .lock()
            .expect("lock")
            .insert(token, key_authorization);
    }

    /// Publishes the dns-01 TXT record for `ch` at `_acme-challenge.name`:
    /// base64url(SHA-256(key authorization)), RFC 8555 §8.4.
    pub fn provision_dns01(&self, server: &Server, name: &str, ch: &Value) {
        let token = ch["token"].as_str().expect("token");
        let key_authorization = format!("{token}.{}", self.thumbprint());
        let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
        let value = B64.encode(digest.as_ref());
        server
            .txt
            .set(&format!("_acme-challenge.{name}"), &[value.as_str()]);
    }

    /// Publishes every http-01 key authorization of the order, answers the
    /// challenges and waits until the order is ready.
    pub async fn validate_order(&self, server: &Server, order: &Value) {
        for authz_url in order["authorizations"].as_array().expect("authzs") {
            let authz = self
                .post(authz_url.as_str().expect("url"), None)
                .await
                .json();
            let ch = challenge_of(&authz, "http-01").clone();
            self.provision_http01(server, &ch);
            let r = self
                .post(ch["url"].as_str().expect("url"), Some(&json!({})))
                .await;
            assert_eq!(
                r.status,
                StatusCode::OK,
                "{}",
                String::from_utf8_lossy(&r.body)
            );
        }
        self.wait_status(order_url(order, self).as_str(), &["ready"])
            .await;
    }

    /// Polls a resource until its status is one of `want`.
    pub async fn wait_status(&self, url: &str, want: &[&str]) -> Value {
        for _ in 0..100 {
            let v = self.post(url, None).await.json();
            if want.iter().any(|w| v["status"] == *w) {
                return v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{url} never reached {want:?}");
    }
}

/// The challenge of `kind` an authorization offers.
#[track_caller]
pub fn challenge_of<'a>(authz: &'a Value, kind: &str) -> &'a Value {
    authz["challenges"]
        .as_array()
        .expect("challenges")
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("{kind} not offered: {authz}"))
}

/// Orders carry no URL of their own; tests keep it from Location.
pub fn order_url(order: &Value, _c: &Client) -> String {
    order["__url"]
        .as_str()
        .expect("order url recorded")
        .to_owned()
}

/// newOrder with the Location recorded in the JSON for later polling.
pub async fn create_order(c: &Client, names: &[&str]) -> Value {
    let r = c.new_order(names).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let mut v = r.json();
    v["__url"] = json!(r.header("location").expect("order location"));
    v
}

/// A CSR (DER) for `names` with a fresh P-256 key.
pub fn csr(names: &[&str]) -> Vec<u8> {
    csr_with(names, &rcgen::KeyPair::generate().expect("key"))
}

/// A CSR (DER) for `names` with `key`.
pub fn csr_with(names: &[&str], key: &rcgen::KeyPair) -> Vec<u8> {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
    // rcgen's default subject has a CN that is not a DNS name.
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.serialize_request(key).expect("csr").der().to_vec()
}

/// Registers, validates and finalizes an order for `names` with a CSR of
/// `key`; returns the certificate DER and the finished order.
pub async fn issue(
    s: &Server,
    c: &Client,
    names: &[&str],
    key: &rcgen::KeyPair,
) -> (Vec<u8>, Value) {
    let order = create_order(c, names).await;
    c.validate_order(s, &order).await;
    let r = c
        .post(
            order["finalize"].as_str().expect("url"),
            Some(&json!({"csr": b64(&csr_with(names, key))})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let done = r.json();
    let chain = c
        .post(done["certificate"].as_str().expect("cert url"), None)
        .await;
    let der = pem::parse_many(&chain.body).expect("pem")[0]
        .contents()
        .to_vec();
    (der, done)
}

/// As `issue`, with a throwaway key.
pub async fn issue_fresh(s: &Server, c: &Client, names: &[&str]) -> (Vec<u8>, Value) {
    issue(s, c, names, &rcgen::KeyPair::generate().expect("key")).await
}

/// Enrols staff member `name` with an API token of a known value, in the
/// database of `cfg` (`trustgate staff token create` makes random ones;
/// a test wants its constants). Their audit actor is returned.
pub async fn add_staff(
    cfg: &trustgate::config::Config,
    name: &str,
    token: &str,
    roles: &[trustgate::config::StaffRole],
) -> String {
    use trustgate::sa::staff;
    let store = trustgate::app::open_store(cfg).expect("opening the store");
    let (name, hash, roles) = (name.to_owned(), sha256_hex(token), roles.to_vec());
    let member = store
        .write(move |c| {
            let now = time::OffsetDateTime::now_utc();
            let m = staff::insert(
                c,
                staff::NewStaff {
                    name: &name,
                    roles: &roles,
                    // No password logs in: the harness uses the token.
                    password_hash: "-",
                    totp_secret: &[],
                    created_by: "test",
                },
                now,
            )?;
            staff::insert_token(c, m.id, "test", &hash, now)?;
            Ok(m)
        })
        .await
        .expect("enrolling a staff member");
    member.identity().actor()
}

/// Lower-case hex SHA-256: how staff tokens are stored.
pub fn sha256_hex(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn b64(der: &[u8]) -> String {
    B64.encode(der)
}

/// Serves `/.well-known/acme-challenge/<token>` from the shared map.
pub async fn serve_http01(tokens: Arc<Mutex<HashMap<String, String>>>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let tokens = tokens.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let tokens = tokens.clone();
                    async move {
                        let token = req
                            .uri()
                            .path()
                            .strip_prefix("/.well-known/acme-challenge/")
                            .unwrap_or_default()
                            .to_owned();
                        let body = tokens.lock().expect("lock").get(&token).cloned();
                        let resp = match body {
                            Some(b) => hyper::Response::new(Full::new(Bytes::from(b))),
                            None => {
                                let mut r =
                                    hyper::Response::new(Full::new(Bytes::from("not found")));
                                *r.status_mut() = StatusCode::NOT_FOUND;
                                r
                            }
                        };
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    port
}

/// CAA records by owner name (lower case, no trailing dot): (critical,
/// tag, value) each.
#[derive(Clone, Default)]
pub struct CaaZone(Arc<Mutex<CaaRecords>>);

type CaaRecords = HashMap<String, Vec<(bool, String, String)>>;

impl CaaZone {
    pub fn add(&self, name: &str, critical: bool, tag: &str, value: &str) {
        self.0
            .lock()
            .expect("lock")
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push((critical, tag.to_owned(), value.to_owned()));
    }

    fn records(&self, name: &str) -> Vec<(bool, String, String)> {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        self.0
            .lock()
            .expect("lock")
            .get(&key)
            .cloned()
            .unwrap_or_default()
    }
}

/// TXT records by owner name (lower case, no trailing dot); setting a
/// name replaces its values, as a client's DNS hook would.
#[derive(Clone, Default)]
pub struct TxtZone(Arc<Mutex<HashMap<String, Vec<String>>>>);

impl TxtZone {
    pub fn set(&self, name: &str, values: &[&str]) {
        let values = values.iter().map(|v| (*v).to_owned()).collect();
        self.0
            .lock()
            .expect("lock")
            .insert(name.to_ascii_lowercase(), values);
    }

    fn records(&self, name: &str) -> Vec<String> {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        let zone = self.0.lock().expect("lock");
        zone.get(&key).cloned().unwrap_or_default()
    }
}

/// Answers every A query with 127.0.0.1, AAAA with no records, CAA from
/// its `CaaZone` and TXT from its `TxtZone` (none by default).
pub struct DnsResponder {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsResponder {
    pub async fn start(caa: CaaZone, txt: TxtZone) -> DnsResponder {
        use hickory_proto::op::{Message, MessageType, ResponseCode};
        use hickory_proto::rr::{RData, Record, RecordType};
        use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = sock.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                let Ok(q) = Message::from_bytes(&buf[..n]) else {
                    continue;
                };
                let mut resp = Message::response(q.metadata.id, q.metadata.op_code);
                resp.metadata.message_type = MessageType::Response;
                resp.metadata.authoritative = true;
                resp.metadata.recursion_desired = q.metadata.recursion_desired;
                resp.metadata.response_code = ResponseCode::NoError;
                for query in &q.queries {
                    resp.add_query(query.clone());
                    if query.query_type() == RecordType::A {
                        resp.add_answer(Record::from_rdata(
                            query.name().clone(),
                            60,
                            RData::A(std::net::Ipv4Addr::LOCALHOST.into()),
                        ));
                    }
                    if query.query_type() == RecordType::TXT {
                        for value in txt.records(&query.name().to_ascii()) {
                            resp.add_answer(Record::from_rdata(
                                query.name().clone(),
                                60,
                                RData::TXT(hickory_proto::rr::rdata::TXT::new(vec![value])),
                            ));
                        }
                    }
                    if query.query_type() == RecordType::CAA {
                        for (critical, tag, value) in caa.records(&query.name().to_ascii()) {
                            let mut c =
                                hickory_proto::rr::rdata::CAA::new_issue(false, None, vec![]);
                            c.issuer_critical = critical;
                            c.tag = tag;
                            c.value = value.into_bytes();
                            resp.add_answer(Record::from_rdata(
                                query.name().clone(),
                                60,
                                RData::CAA(c),
                            ));
                        }
                    }
                }
                if let Ok(bytes) = resp.to_bytes() {
                    let _ = sock.send_to(&bytes, peer).await;
                }
            }
        });
        DnsResponder { addr, task }
    }
}
