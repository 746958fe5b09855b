//! The bulk rows: per certificate an order, its authorizations (each with
//! the three challenges newOrder offers), the order–authorization links
//! and the certificate; plus orders that never reached a certificate.
//! Every value is one the server itself writes (statuses from the crate's
//! enums, JSON from its own types), so seeded rows load like real ones.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use diesel::prelude::*;
use ring::rand::{SecureRandom, SystemRandom};
use time::{Duration, OffsetDateTime, PrimitiveDateTime};
use trustgate::acme::problem::Problem;
use trustgate::core::{
    AuthorizationStatus, ChallengeStatus, ChallengeType, RevocationReason, StoredOrderStatus,
};
use trustgate::error::{Error, ErrorKind};
use trustgate::sa::schema::{
    audit_events, authorizations, blocked_keys, certificates, challenges, order_authorizations,
    orders,
};
use trustgate::sa::to_db;
use trustgate::va::caa::CaaEvidence;
use trustgate::va::ValidationRecord;

#[derive(Insertable)]
#[diesel(table_name = orders, treat_none_as_default_value = false)]
pub struct OrderRow {
    pub id: i64,
    pub account_id: i64,
    pub status: &'static str,
    pub names: String,
    pub profile: &'static str,
    pub not_before: Option<PrimitiveDateTime>,
    pub not_after: Option<PrimitiveDateTime>,
    pub expires_at: PrimitiveDateTime,
    pub error: Option<String>,
    pub gate_refusal: Option<String>,
    pub caa_evidence: Option<String>,
    pub replaces: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}
pub const ORDER_COLUMNS: usize = 14;

#[derive(Insertable)]
#[diesel(table_name = authorizations, treat_none_as_default_value = false)]
pub struct AuthzRow {
    pub id: i64,
    pub account_id: i64,
    pub identifier: String,
    pub wildcard: bool,
    pub status: &'static str,
    pub expires_at: PrimitiveDateTime,
    pub created_at: PrimitiveDateTime,
}
pub const AUTHZ_COLUMNS: usize = 7;

#[derive(Insertable)]
#[diesel(table_name = order_authorizations, treat_none_as_default_value = false)]
pub struct LinkRow {
    pub order_id: i64,
    pub authorization_id: i64,
}
pub const LINK_COLUMNS: usize = 2;

#[derive(Insertable)]
#[diesel(table_name = challenges, treat_none_as_default_value = false)]
pub struct ChallengeRow {
    pub id: i64,
    pub authorization_id: i64,
    pub kind: &'static str,
    pub token: String,
    pub status: &'static str,
    pub validated_at: Option<PrimitiveDateTime>,
    pub error: Option<String>,
    pub validation_records: Option<String>,
    pub started_at: Option<PrimitiveDateTime>,
}
pub const CHALLENGE_COLUMNS: usize = 9;

#[derive(Insertable)]
#[diesel(table_name = certificates, treat_none_as_default_value = false)]
pub struct CertificateRow {
    pub id: i64,
    pub serial: String,
    pub order_id: i64,
    pub account_id: i64,
    pub der: &'static [u8],
    pub not_before: PrimitiveDateTime,
    pub not_after: PrimitiveDateTime,
    pub created_at: PrimitiveDateTime,
    pub revoked_at: Option<PrimitiveDateTime>,
    pub revocation_reason: Option<i32>,
    pub crl_shard: i32,
}
pub const CERTIFICATE_COLUMNS: usize = 11;

#[derive(Insertable)]
#[diesel(table_name = blocked_keys, treat_none_as_default_value = false)]
pub struct BlockedKeyRow {
    pub spki_sha256: String,
    pub reason: &'static str,
    pub blocked_at: PrimitiveDateTime,
}
pub const BLOCKED_KEY_COLUMNS: usize = 3;

/// An audit event as `sa::audit::append` writes it (the id is the
/// database's).
#[derive(Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub struct EventRow {
    pub at: PrimitiveDateTime,
    pub actor: String,
    pub action: &'static str,
    pub organization_id: Option<i64>,
    pub subject: String,
    pub reason: Option<String>,
    pub details: String,
    pub request_id: Option<String>,
}
pub const EVENT_COLUMNS: usize = 8;

/// The rows of a run of consecutive units, inserted in one transaction.
#[derive(Default)]
pub struct Chunk {
    pub orders: Vec<OrderRow>,
    pub authzs: Vec<AuthzRow>,
    pub links: Vec<LinkRow>,
    pub challenges: Vec<ChallengeRow>,
    pub certificates: Vec<CertificateRow>,
    pub blocked_keys: Vec<BlockedKeyRow>,
    pub events: Vec<EventRow>,
    /// Units (orders) this chunk covers, for progress.
    pub units: u64,
}

impl Chunk {
    pub fn rows(&self) -> u64 {
        (self.orders.len()
            + self.authzs.len()
            + self.links.len()
            + self.challenges.len()
            + self.certificates.len()
            + self.blocked_keys.len()
            + self.events.len()) as u64
    }
}

/// An account rows can belong to: its id, and the organization's domain
/// and profile (`ov` or `ev`).
pub struct Owner {
    pub account_id: i64,
    pub organization_id: i64,
    pub domain: String,
    pub profile: &'static str,
}

/// Fixed inputs of the generator.
pub struct Plan {
    /// Certificates to write (each with a valid order).
    pub certificates: u64,
    /// Orders that never got a certificate: abandoned (pending) ones …
    pub abandoned: u64,
    /// … and failed ones (an invalid authorization or a refused finalize).
    pub failed: u64,
    /// Per mille of the certificates that are revoked.
    pub revoked_per_mille: u32,
    /// The time span the rows are spread over, ending now.
    pub span: Duration,
    pub now: OffsetDateTime,
    pub crl_shards: u32,
    pub order_lifetime: Duration,
    pub authz_lifetime: Duration,
    /// How long a valid authorization stays reusable (config and BR cap).
    pub authz_reuse_days: u32,
    pub validity_days: u32,
    pub backdate: Duration,
    /// The one certificate body every row carries (only its size matters).
    pub der: &'static [u8],
    /// A key identifier for the `replaces` ARI identifiers of renewals.
    pub ari_key_id: String,
    /// Write each certificate's `certificate.issue` audit event.
    pub certificate_events: bool,
}

/// What the next row of each table gets as its id; the seed writes ids
/// itself so that links can name rows inserted in the same statement.
#[derive(Debug, Clone, Copy)]
pub struct NextIds {
    pub order: i64,
    pub authz: i64,
    pub challenge: i64,
    pub certificate: i64,
}

/// A fast, non-cryptographic generator for the shape of the data
/// (splitmix64); serials and tokens come from the OS CSPRNG.
pub struct Mix(u64);

impl Mix {
    pub fn new(seed: u64) -> Mix {
        Mix(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Random bytes from the OS, taken in bulk.
struct Entropy {
    rng: SystemRandom,
    buf: Vec<u8>,
    pos: usize,
}

impl Entropy {
    fn new() -> Entropy {
        Entropy {
            rng: SystemRandom::new(),
            buf: vec![0; 1 << 16],
            pos: 1 << 16,
        }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        if self.pos + N > self.buf.len() {
            self.rng
                .fill(&mut self.buf)
                .map_err(|_| "the OS random number generator failed".to_owned())?;
            self.pos = 0;
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        Ok(out)
    }

    /// A certificate serial as `ca::Serial::random` makes it: 128 bits,
    /// positive, first octet non-zero.
    fn serial(&mut self) -> Result<trustgate::ca::Serial, String> {
        loop {
            let mut b = self.take::<16>()?;
            b[0] &= 0x7f;
            if b[0] != 0 {
                return Ok(trustgate::ca::Serial(b));
            }
        }
    }

    /// A challenge token as newOrder makes it (16 random octets).
    fn token(&mut self) -> Result<String, String> {
        Ok(B64.encode(self.take::<16>()?))
    }
}

/// Microseconds, as the server stores times (`core::Clock::now`).
fn micros(t: OffsetDateTime) -> PrimitiveDateTime {
    to_db(
        t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
            .unwrap_or(t),
    )
}

/// What became of one order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Issued,
    Abandoned,
    ValidationFailed,
    FinalizeRefused,
}

pub struct Generator<'a> {
    plan: &'a Plan,
    owners: &'a [Owner],
    next: NextIds,
    mix: Mix,
    entropy: Entropy,
    /// Units done, and of them certificates done.
    unit: u64,
    issued: u64,
}

impl<'a> Generator<'a> {
    pub fn new(plan: &'a Plan, owners: &'a [Owner], next: NextIds, seed: u64) -> Generator<'a> {
        Generator {
            plan,
            owners,
            next,
            mix: Mix::new(seed),
            entropy: Entropy::new(),
            unit: 0,
            issued: 0,
        }
    }

    pub fn total_units(&self) -> u64 {
        self.plan.certificates + self.plan.abandoned + self.plan.failed
    }

    pub fn done(&self) -> bool {
        self.unit >= self.total_units()
    }

    /// The next `units` orders (fewer at the end), oldest first.
    pub fn chunk(&mut self, units: u64) -> Result<Chunk, String> {
        let mut c = Chunk::default();
        let end = (self.unit + units).min(self.total_units());
        while self.unit < end {
            self.unit_into(&mut c)?;
            self.unit += 1;
            c.units += 1;
        }
        Ok(c)
    }

    /// Orders without a certificate are spread evenly among the issued
    /// ones, so ids keep growing with time as on a real server.
    fn fate(&mut self) -> Fate {
        let total = self.total_units();
        let extra = self.plan.abandoned + self.plan.failed;
        let u = self.unit;
        let is_extra = (u as u128 + 1) * extra as u128 / total as u128
            > u as u128 * extra as u128 / total as u128;
        if !is_extra {
            return Fate::Issued;
        }
        let failed_share = self.plan.failed as f64 / extra.max(1) as f64;
        if self.mix.unit() >= failed_share {
            Fate::Abandoned
        } else if self.mix.below(5) == 0 {
            Fate::FinalizeRefused
        } else {
            Fate::ValidationFailed
        }
    }

    /// A few accounts hold most of the certificates (hosting providers),
    /// most hold a few: the account index is n·u³.
    fn owner(&mut self) -> &'a Owner {
        let u = self.mix.unit();
        let i = ((self.owners.len() as f64) * u * u * u) as usize;
        &self.owners[i.min(self.owners.len() - 1)]
    }

    fn unit_into(&mut self, c: &mut Chunk) -> Result<(), String> {
        let plan = self.plan;
        let fate = self.fate();
        let owner = self.owner();
        // Time grows with the id, with a little jitter.
        let total = self.total_units().max(1) as f64;
        let frac = (self.unit as f64 + self.mix.unit()) / total;
        let created = plan.now - plan.span + plan.span * frac - Duration::minutes(10);
        let order_id = self.next.order;
        self.next.order += 1;

        // Mostly one name; some orders carry two or three.
        let n_names = match self.mix.below(10) {
            0 => 3,
            1 | 2 => 2,
            _ => 1,
        };
        let names: Vec<String> = (0..n_names)
            .map(|j| {
                let host = if j == 0 { "www" } else { "api" };
                format!("{host}{j}-{order_id}.{}", owner.domain)
            })
            .collect();

        let validated = created + Duration::seconds(2);
        let mut caa = Vec::with_capacity(names.len());
        for (j, name) in names.iter().enumerate() {
            let authz_id = self.next.authz;
            self.next.authz += 1;
            // The authorization that failed validation is the first one.
            let (authz_status, authz_expires) = match fate {
                Fate::Abandoned => (AuthorizationStatus::Pending, created + plan.authz_lifetime),
                Fate::ValidationFailed if j == 0 => (AuthorizationStatus::Invalid, validated),
                Fate::ValidationFailed => {
                    (AuthorizationStatus::Pending, created + plan.authz_lifetime)
                }
                Fate::Issued | Fate::FinalizeRefused => (
                    AuthorizationStatus::Valid,
                    validated + reuse_period(plan, validated),
                ),
            };
            c.authzs.push(AuthzRow {
                id: authz_id,
                account_id: owner.account_id,
                identifier: name.clone(),
                wildcard: false,
                status: authz_status.as_str(),
                expires_at: micros(authz_expires),
                created_at: micros(created),
            });
            c.links.push(LinkRow {
                order_id,
                authorization_id: authz_id,
            });
            for kind in [
                ChallengeType::Http01,
                ChallengeType::Dns01,
                ChallengeType::TlsAlpn01,
            ] {
                let token = self.entropy.token()?;
                let answered = kind == ChallengeType::Http01
                    && matches!(
                        authz_status,
                        AuthorizationStatus::Valid | AuthorizationStatus::Invalid
                    );
                let mut row = ChallengeRow {
                    id: self.next.challenge,
                    authorization_id: authz_id,
                    kind: kind.as_str(),
                    token: String::new(),
                    status: ChallengeStatus::Pending.as_str(),
                    validated_at: None,
                    error: None,
                    validation_records: None,
                    started_at: None,
                };
                self.next.challenge += 1;
                if answered {
                    let ok = authz_status == AuthorizationStatus::Valid;
                    row.status = if ok {
                        ChallengeStatus::Valid.as_str()
                    } else {
                        ChallengeStatus::Invalid.as_str()
                    };
                    row.started_at = Some(micros(created + Duration::seconds(1)));
                    row.validated_at = ok.then(|| micros(validated));
                    row.validation_records = Some(http01_records(name, &token, self.unit)?);
                    row.error = (!ok).then(|| {
                        let e = Error::new(
                            ErrorKind::Unauthorized,
                            format!("invalid response from http://{name}/.well-known/acme-challenge/{token}: 404"),
                        );
                        Problem::from_error(&e).to_json().to_string()
                    });
                }
                row.token = token;
                c.challenges.push(row);
            }
            caa.push(CaaEvidence {
                name: name.clone(),
                relevant_name: None,
                records: Vec::new(),
                dnssec: None,
                decision: "permitted: no CAA records found".into(),
                method: Some(ChallengeType::Http01),
                checked_at: Some(validated),
            });
        }

        let issued = fate == Fate::Issued;
        let finalized = issued || fate == Fate::FinalizeRefused;
        let renewal = issued && self.mix.below(3) == 0;
        let replaces = if renewal {
            let s = self.entropy.serial()?;
            Some(format!("{}.{}", plan.ari_key_id, B64.encode(s.0)))
        } else {
            None
        };
        let (status, error) = match fate {
            Fate::Issued => (StoredOrderStatus::Valid, None),
            Fate::FinalizeRefused => {
                let e = Error::bad_csr("the CSR's public key must not be the account key");
                (
                    StoredOrderStatus::Invalid,
                    Some(Problem::from_error(&e).to_json().to_string()),
                )
            }
            Fate::Abandoned | Fate::ValidationFailed => (StoredOrderStatus::Pending, None),
        };
        c.orders.push(OrderRow {
            id: order_id,
            account_id: owner.account_id,
            status: status.as_str(),
            names: serde_json::to_string(&names).map_err(|e| e.to_string())?,
            profile: owner.profile,
            not_before: None,
            not_after: None,
            expires_at: micros(created + plan.order_lifetime),
            error,
            gate_refusal: None,
            caa_evidence: if finalized {
                Some(serde_json::to_string(&caa).map_err(|e| e.to_string())?)
            } else {
                None
            },
            replaces,
            created_at: micros(created),
            updated_at: micros(validated + Duration::milliseconds(300)),
        });

        if issued {
            self.certificate_into(c, order_id, owner, &names, validated)?;
        }
        Ok(())
    }

    fn certificate_into(
        &mut self,
        c: &mut Chunk,
        order_id: i64,
        owner: &Owner,
        names: &[String],
        finalized: OffsetDateTime,
    ) -> Result<(), String> {
        let account_id = owner.account_id;
        let plan = self.plan;
        let serial = self.entropy.serial()?;
        let shard = trustgate::config::crl_shard(&serial.0, plan.crl_shards);
        let not_before = finalized - plan.backdate;
        let validity = Duration::days(plan.validity_days.into())
            .min(trustgate::ca::schedule::max_validity(finalized));
        let not_after = not_before + validity - Duration::seconds(1);
        // Spread the revoked certificates evenly over the run.
        let i = self.issued;
        self.issued += 1;
        let per_mille = u64::from(plan.revoked_per_mille);
        let revoked = (i + 1) * per_mille / 1000 > i * per_mille / 1000;
        let (mut revoked_at, mut reason) = (None, None);
        if revoked {
            let end = plan.now.min(not_after);
            let at = finalized + (end - finalized) * self.mix.unit();
            let r = match self.mix.below(10) {
                0..=3 => RevocationReason::Superseded,
                4..=5 => RevocationReason::CessationOfOperation,
                6..=7 => RevocationReason::Unspecified,
                8 => RevocationReason::AffiliationChanged,
                _ => RevocationReason::KeyCompromise,
            };
            if r == RevocationReason::KeyCompromise {
                let h = self.entropy.take::<32>()?;
                c.blocked_keys.push(BlockedKeyRow {
                    spki_sha256: h.iter().map(|b| format!("{b:02x}")).collect(),
                    reason: "keyCompromise reported at revocation",
                    blocked_at: micros(at),
                });
            }
            revoked_at = Some(micros(at));
            reason = Some(r.code());
        }
        let created = micros(finalized + Duration::milliseconds(250));
        if plan.certificate_events {
            c.events
                .push(self.issue_event(owner, order_id, names, &serial, created)?);
        }
        c.certificates.push(CertificateRow {
            id: self.next.certificate,
            serial: serial.to_hex(),
            order_id,
            account_id,
            der: plan.der,
            not_before: micros(not_before),
            not_after: micros(not_after),
            created_at: created,
            revoked_at,
            revocation_reason: reason,
            crl_shard: i32::try_from(shard).map_err(|e| e.to_string())?,
        });
        self.next.certificate += 1;
        Ok(())
    }

    /// The event `ra` records with a stored certificate (`certificate.issue`).
    fn issue_event(
        &mut self,
        owner: &Owner,
        order_id: i64,
        names: &[String],
        serial: &trustgate::ca::Serial,
        at: PrimitiveDateTime,
    ) -> Result<EventRow, String> {
        let serial = serial.to_hex();
        let details = serde_json::json!({
            "serial": serial,
            "names": names,
            "profile": owner.profile,
            "organization": owner.organization_id,
            "account": owner.account_id,
            "order": order_id,
        });
        let request_id: String = self
            .entropy
            .take::<8>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(EventRow {
            at,
            actor: format!("acme:account/{}", owner.account_id),
            action: "certificate.issue",
            organization_id: Some(owner.organization_id),
            subject: format!("certificate:{serial}"),
            reason: None,
            details: details.to_string(),
            request_id: Some(request_id),
        })
    }
}

/// How long a valid authorization stays reusable, as `ra::authz` sets it.
fn reuse_period(plan: &Plan, at: OffsetDateTime) -> Duration {
    Duration::days(plan.authz_reuse_days.into()).min(trustgate::ca::schedule::max_dcv_reuse(at))
}

/// The validation records of one http-01 request, as the VA keeps them
/// (documentation addresses, RFC 5737).
fn http01_records(name: &str, token: &str, unit: u64) -> Result<String, String> {
    let addr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, (unit % 250) as u8 + 1));
    let rec = ValidationRecord {
        url: Some(format!("http://{name}/.well-known/acme-challenge/{token}")),
        hostname: name.to_owned(),
        port: Some(80),
        addresses_resolved: vec![addr],
        address_used: Some(addr),
        ..ValidationRecord::default()
    };
    serde_json::to_string(&[rec]).map_err(|e| e.to_string())
}
