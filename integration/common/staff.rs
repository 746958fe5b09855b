//! What CA staff do before (and after) a subscriber gets a certificate:
//! enter the organization, record the vetting checks, approve it, hand
//! out EAB credentials, suspend and reinstate, and look at what is
//! blocked and at the audit trail.
//!
//! All of it goes through the admin API over HTTP, as two staff members
//! of the test server: a vetter (`view`, `vet`) who enters data and
//! records checks, and an approver (`view`, `approve`) who decides, so
//! the four-eyes rule holds as it would at a real CA. They are enrolled
//! the operator's way, with the `trustgate staff` CLI before the server
//! starts (the approver first, from the host; the approver then adds the
//! vetter), and each gets an API token. The organization and the checks
//! are the examples shipped in `conf/`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::http;

/// The organizationName its certificates carry (`conf/organization.example.json`
/// does not ask for the English name).
pub const LEGAL_NAME: &str = "例示株式会社";
/// Its corporate registration number: the EV subject's serialNumber.
pub const REGISTRATION_NUMBER: &str = "180301018771";
/// The EV data of an EV organization.
pub const EV_BUSINESS_CATEGORY: &str = "Private Organization";
pub const EV_JURISDICTION_COUNTRY: &str = "JP";

/// The names of the two staff members (their audit actor is
/// `staff:NAME#ID`, see `Staff::actor`).
pub const VETTER: &str = "integration-vetter";
pub const APPROVER: &str = "integration-approver";

/// An External Account Binding credential, as the admin API hands it out.
#[derive(Debug, Clone)]
pub struct Eab {
    pub kid: String,
    pub hmac_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ov,
    Ev,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Ov => "ov",
            Level::Ev => "ev",
        }
    }

    /// The checks staff record before approving this level.
    fn checks(self) -> &'static [&'static str] {
        match self {
            Level::Ov => &["existence", "phone_intent", "domain_scope"],
            Level::Ev => &[
                "existence",
                "phone_intent",
                "domain_scope",
                "ev_registration",
                "ev_business_category",
                "ev_place_of_business",
                "ev_operational_existence",
                "ev_communication",
                "ev_authority",
                "ev_denied_party_screening",
            ],
        }
    }
}

/// An organization in the test server's database.
#[derive(Debug, Clone, Copy)]
pub struct Organization {
    pub id: i64,
    pub level: Level,
}

/// One staff member: audit name and bearer token.
#[derive(Clone)]
struct Member {
    name: &'static str,
    token: String,
}

/// The staff of one test server, talking to its admin listener.
pub struct Staff {
    admin: SocketAddr,
    vetter: Member,
    approver: Member,
}

impl Staff {
    /// Enrols the two members in the database of the config `cli` runs
    /// with (`trustgate staff add`, `staff token create`), for the admin
    /// API at `admin`.
    pub fn enrol(admin: SocketAddr, cli: impl Fn() -> Command) -> Staff {
        let run = |args: &[&str], env: &[(&str, &str)]| -> String {
            let out = cli()
                .args(args)
                .env_remove("TRUSTGATE_STAFF_TOKEN")
                .envs(env.iter().copied())
                .output()
                .expect("running trustgate staff");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "trustgate {args:?}: {}\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            stdout
        };
        let field = |out: &str, label: &str| -> String {
            out.lines()
                .find_map(|l| l.strip_prefix(label))
                .unwrap_or_else(|| panic!("no {label} in {out}"))
                .trim()
                .to_owned()
        };
        // The first member is added from the host, then logs in with the
        // one-time password and the TOTP code for a token.
        let added = run(&["staff", "add", APPROVER, "--roles", "view,approve"], &[]);
        let code = trustgate::vetting::staff::totp_code(
            &field(&added, "TOTP secret:"),
            OffsetDateTime::now_utc(),
        )
        .expect("a TOTP code");
        let password = field(&added, "one-time password:");
        let made = run(
            &[
                "staff",
                "token",
                "create",
                APPROVER,
                "--label",
                "integration",
            ],
            &[
                ("TRUSTGATE_STAFF", APPROVER),
                ("TRUSTGATE_STAFF_PASSWORD", &password),
                ("TRUSTGATE_STAFF_TOTP", &code),
            ],
        );
        let approver_token = field(&made, "token:");
        let as_approver = [("TRUSTGATE_STAFF_TOKEN", approver_token.as_str())];
        run(
            &["staff", "add", VETTER, "--roles", "view,vet"],
            &as_approver,
        );
        let made = run(
            &["staff", "token", "create", VETTER, "--label", "integration"],
            &as_approver,
        );
        Staff {
            admin,
            vetter: Member {
                name: VETTER,
                token: field(&made, "token:"),
            },
            approver: Member {
                name: APPROVER,
                token: approver_token,
            },
        }
    }

    /// Whether an audit event's actor is the member named `name`.
    pub fn is_actor(actor: &Value, name: &str) -> bool {
        actor
            .as_str()
            .and_then(|a| a.strip_prefix(&format!("staff:{name}#")))
            .is_some_and(|id| id.parse::<i64>().is_ok())
    }

    /// The admin API's origin, e.g. `http://127.0.0.1:14001`.
    pub fn admin_origin(&self) -> String {
        format!("http://{}", self.admin)
    }

    /// The approver's bearer token (roles view and approve): it may enrol
    /// more staff (`trustgate staff add` with `TRUSTGATE_STAFF_TOKEN`).
    pub fn approver_token(&self) -> &str {
        &self.approver.token
    }

    /// The vetter's bearer token (roles view and vet), for tools that
    /// call the admin API themselves.
    pub fn vetter_token(&self) -> &str {
        &self.vetter.token
    }

    /// A new organization (the vetter enters it) at `level` whose domain
    /// scope is `domains`, each with every name under it; pending.
    pub fn create_organization(&self, level: Level, domains: &[&str]) -> Organization {
        let mut data = read_conf("organization.example.json");
        assert_eq!(
            data["legal_name"], LEGAL_NAME,
            "conf/organization.example.json"
        );
        assert_eq!(data["registration_number"], REGISTRATION_NUMBER);
        data["level"] = level.as_str().into();
        data["ev"] = match level {
            Level::Ov => Value::Null,
            Level::Ev => json!({
                "business_category": EV_BUSINESS_CATEGORY,
                "jurisdiction_country": EV_JURISDICTION_COUNTRY,
            }),
        };
        data["domains"] = domains
            .iter()
            .map(|d| json!({"name": d, "exact": false}))
            .collect();
        let org = self.call(
            &self.vetter,
            "POST",
            "/admin/organizations",
            Some(data),
            201,
        );
        assert_eq!(org["status"], "pending", "{org}");
        Organization {
            id: org["id"].as_i64().unwrap_or_else(|| panic!("no id: {org}")),
            level,
        }
    }

    /// The vetter records every check the organization's level needs
    /// (existence at Teikoku Databank, intent by phone at a number from
    /// the NTT directory, domain scope, and for EV the registration, the
    /// business category and the EVG 11.4–11.12 items: place of business,
    /// operational existence, verified communication, signer and approver
    /// authority, denied-party screening), performed now or at `performed_at`.
    pub fn record_checks(&self, org: Organization, performed_at: Option<OffsetDateTime>) {
        for kind in org.level.checks() {
            let mut check = read_conf(&format!("checks/{kind}.json"));
            assert_eq!(check["kind"], *kind, "conf/checks/{kind}.json");
            if let Some(t) = performed_at {
                check["performed_at"] = t.format(&Rfc3339).expect("an RFC 3339 time").into();
            }
            self.call(
                &self.vetter,
                "POST",
                &format!("/admin/organizations/{}/checks", org.id),
                Some(check),
                201,
            );
        }
    }

    /// The approver approves (someone else recorded the checks); the
    /// organization as the API shows it.
    pub fn approve(&self, org: Organization) -> Value {
        let view = self.transition(org, "approve", None);
        assert_eq!(view["effective_status"], "approved", "{view}");
        view
    }

    /// Checks recorded now, then approval.
    pub fn vet_and_approve(&self, org: Organization) {
        self.record_checks(org, None);
        self.approve(org);
    }

    pub fn suspend(&self, org: Organization, reason: &str) {
        let view = self.transition(org, "suspend", Some(reason));
        assert_eq!(view["status"], "suspended", "{view}");
    }

    pub fn reinstate(&self, org: Organization, reason: &str) {
        let view = self.transition(org, "reinstate", Some(reason));
        assert_eq!(view["effective_status"], "approved", "{view}");
    }

    fn transition(&self, org: Organization, name: &str, reason: Option<&str>) -> Value {
        let body = reason.map(|r| json!({ "reason": r }));
        self.call(
            &self.approver,
            "POST",
            &format!("/admin/organizations/{}/{name}", org.id),
            body,
            200,
        )
    }

    /// A credential the vetter creates for `org`; a reusable one binds
    /// any number of accounts, a single-use one exactly one.
    pub fn create_eab(&self, org: Organization, reusable: bool) -> Eab {
        let created = self.call(
            &self.vetter,
            "POST",
            &format!("/admin/organizations/{}/eab", org.id),
            Some(json!({"note": "integration test", "single_use": !reusable})),
            201,
        );
        let field = |name: &str| -> String {
            created[name]
                .as_str()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| panic!("no {name} in {created}"))
                .to_owned()
        };
        let eab = Eab {
            kid: field("key_id"),
            hmac_key: field("hmac_key"),
        };
        assert!(
            eab.hmac_key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "hmac_key is not base64url: {}",
            eab.hmac_key
        );
        eab
    }

    /// GET /admin/organizations/{id}.
    pub fn organization(&self, org: Organization) -> Value {
        self.get(&format!("/admin/organizations/{}", org.id))
    }

    /// GET /admin/organizations/{id}/accounts.
    pub fn accounts(&self, org: Organization) -> Vec<Value> {
        array(self.get(&format!("/admin/organizations/{}/accounts", org.id)))
    }

    /// GET /admin/orders/blocked: what waits on staff.
    pub fn blocked_orders(&self) -> Vec<Value> {
        array(self.get("/admin/orders/blocked"))
    }

    /// GET /admin/audit?organization=ID, newest first.
    pub fn audit(&self, org: Organization) -> Vec<Value> {
        array(self.get(&format!("/admin/audit?organization={}&limit=1000", org.id)))
    }

    /// GET /admin/certificates/{serial}/evidence (`serial` in hex).
    pub fn certificate_evidence(&self, serial: &str) -> Value {
        self.get(&format!("/admin/certificates/{serial}/evidence"))
    }

    /// POST /admin/certificates/{serial}/revoke as the approver: a
    /// certificate, or a precertificate without one, by serial (hex).
    pub fn revoke_serial(&self, serial: &str, code: &str, reason: &str) -> Value {
        self.call(
            &self.approver,
            "POST",
            &format!("/admin/certificates/{serial}/revoke"),
            Some(json!({"code": code, "reason": reason})),
            200,
        )
    }

    /// GET /admin/organizations/{id}/orders: newest first.
    pub fn organization_orders(&self, org: Organization) -> Vec<Value> {
        array(self.get(&format!("/admin/organizations/{}/orders", org.id)))
    }

    /// GET /admin/orders/{id}: the order with its evidence.
    pub fn order(&self, id: i64) -> Value {
        self.get(&format!("/admin/orders/{id}"))
    }

    /// A read, as the vetter (anyone with `view` may).
    fn get(&self, path: &str) -> Value {
        self.call(&self.vetter, "GET", path, None, 200)
    }

    /// One request as `who`; panics unless the answer has status `want`.
    fn call(
        &self,
        who: &Member,
        method: &str,
        path: &str,
        body: Option<Value>,
        want: u16,
    ) -> Value {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let r = http::plain_request(
            self.admin,
            Some(&who.token),
            method,
            path,
            bytes.as_deref().map(|b| ("application/json", b)),
        )
        .unwrap_or_else(|e| panic!("{} {method} {path}: {e}", who.name));
        let text = String::from_utf8_lossy(&r.body);
        assert_eq!(
            r.status, want,
            "{} {method} {path} answered {} (wanted {want}):\n{text}",
            who.name, r.status
        );
        r.json()
    }
}

fn array(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => panic!("expected a JSON array, got {other}"),
    }
}

/// An example shipped in `conf/`.
fn read_conf(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("conf")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}
