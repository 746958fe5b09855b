//! The trust seal: what an organization's seal says about the site that
//! shows it. `publish::seal` serves the page and the image; this module
//! decides, from the records as they are at the moment of the request,
//! whether the seal may say **verified** — never from a cached claim.
//!
//! Verified means: the organization's vetting is in force (approved and
//! not expired, `Organization::effective_status`) and it holds a
//! certificate for the domain (or a wildcard covering it) that is neither
//! revoked nor expired. Anything else is "not verified" with the reason.

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use time::{Duration, OffsetDateTime};

use super::checks::VettingStatus;
use super::Organization;
use crate::core::names::DnsName;
use crate::core::{Clock, OrganizationId};
use crate::error::{Error, Result};
use crate::sa::{self, certificate_search, DbConn, Store};

/// Newest covering certificates read per name looked up: enough to find
/// a valid one among renewals and revocations, bounded for a stranger.
const CERTS_READ: i64 = 20;

/// A new seal id: 128 random bits in lowercase base32 without padding
/// (26 characters), unguessable and safe in a URL path.
pub fn new_id() -> Result<String> {
    let mut raw = [0u8; 16];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| Error::internal("no randomness for a seal id"))?;
    Ok(data_encoding::BASE32_NOPAD
        .encode(&raw)
        .to_ascii_lowercase())
}

/// The digest a seal is looked up by: SHA-256 of whatever was presented,
/// so every lookup compares 32 bytes whatever a guess looks like.
pub fn lookup(seal_id: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, seal_id.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// Creates the organization's seal in the caller's transaction unless it
/// has one (on approval: `Step::apply`).
pub(super) fn create(
    conn: &mut DbConn,
    org: OrganizationId,
    now: OffsetDateTime,
) -> Result<String> {
    let id = new_id()?;
    sa::seals::create_if_absent(conn, org, &id, &lookup(&id), now)
}

/// The domain the seal is asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Domain {
    /// Neither `?domain=` nor a Referer named one.
    Missing,
    /// What was given is no domain name (shown back, escaped).
    Invalid(String),
    Name(DnsName),
}

/// A certificate's state as the seal shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertState {
    Valid,
    Revoked,
    Expired,
}

/// A certificate of the organization that covers the domain.
#[derive(Debug, Clone)]
pub struct Covering {
    pub serial: String,
    pub names: Vec<String>,
    pub issued_at: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub state: CertState,
}

/// Why a seal says "not verified".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The organization's vetting is not in force (pending, rejected,
    /// suspended or expired).
    Organization(VettingStatus),
    NoDomain,
    InvalidDomain(String),
    /// No certificate of the organization covers the domain.
    NoCertificate,
    /// The covering certificates are all revoked (the newest is).
    Revoked,
    /// The covering certificates have all expired (the newest has).
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Verified,
    NotVerified(Reason),
}

/// Everything the page and the image show.
#[derive(Debug, Clone)]
pub struct Report {
    pub organization: Organization,
    pub domain: Domain,
    /// Newest first.
    pub certificates: Vec<Covering>,
    pub verdict: Verdict,
    /// When the verdict was reached.
    pub checked_at: OffsetDateTime,
}

/// Answers what seals say.
#[derive(Clone)]
pub struct Seals {
    store: Store,
    clock: Clock,
    max_age: Duration,
}

impl Seals {
    /// `max_age` is the vetting's (`vetting.max_age_days`), as the gate's.
    pub fn new(store: Store, max_age: Duration) -> Seals {
        let clock = store.clock().clone();
        Seals {
            store,
            clock,
            max_age,
        }
    }

    /// What seal `seal_id` says about `domain` now; None when no seal has
    /// that id (the caller answers 404). A hit and a miss run the same
    /// lookup by digest; only a hit reads further.
    pub async fn report(&self, seal_id: &str, domain: Domain) -> Result<Option<Report>> {
        let digest = lookup(seal_id);
        let name = match &domain {
            Domain::Name(n) => Some(n.as_str().to_owned()),
            _ => None,
        };
        let found = self
            .store
            .read(move |c| {
                let Some(org) = sa::seals::organization_by_lookup(c, &digest)? else {
                    return Ok(None);
                };
                let Some(organization) = sa::organizations::by_id(c, org)? else {
                    return Ok(None);
                };
                let certs = match name {
                    Some(n) => covering(c, org, &n)?,
                    None => Vec::new(),
                };
                Ok(Some((organization, certs)))
            })
            .await?;
        let now = self.clock.now();
        Ok(found.map(|(organization, found)| {
            let certificates = states(found, now);
            let verdict = judge(&organization, &domain, &certificates, now, self.max_age);
            Report {
                organization,
                domain,
                certificates,
                verdict,
                checked_at: now,
            }
        }))
    }
}

/// The organization's certificates with a name covering `domain`: the
/// name itself, or the wildcard one label up. Newest first.
fn covering(
    c: &mut DbConn,
    org: OrganizationId,
    domain: &str,
) -> Result<Vec<certificate_search::Found>> {
    let mut lookups = vec![domain.to_owned()];
    if let Some((_, parent)) = domain.split_once('.') {
        // A wildcard's authorization is stored under its base name.
        lookups.push(parent.to_owned());
    }
    let mut found = Vec::new();
    for name in lookups {
        let filter = certificate_search::Filter {
            name: Some(name),
            organization: Some(certificate_search::OrgFilter::Id(org)),
            ..Default::default()
        };
        found.extend(certificate_search::search(c, &filter, None, CERTS_READ)?);
    }
    found.retain(|f| f.names.iter().any(|n| covers(n, domain)));
    found.sort_by_key(|f| std::cmp::Reverse((f.issued_at, f.id.0)));
    found.dedup_by_key(|f| f.id.0);
    Ok(found)
}

fn states(found: Vec<certificate_search::Found>, now: OffsetDateTime) -> Vec<Covering> {
    found
        .into_iter()
        .map(|f| Covering {
            state: if f.revoked {
                CertState::Revoked
            } else if f.not_after <= now {
                CertState::Expired
            } else {
                CertState::Valid
            },
            serial: f.serial,
            names: f.names,
            issued_at: f.issued_at,
            not_after: f.not_after,
        })
        .collect()
}

/// Whether a certificate name covers `domain` (RFC 6125 §6.4.3 as the
/// BRs allow it): equal, or `*.` + the domain's parent, the wildcard
/// standing for exactly one whole label.
pub fn covers(cert_name: &str, domain: &str) -> bool {
    if cert_name.eq_ignore_ascii_case(domain) {
        return true;
    }
    match (cert_name.strip_prefix("*."), domain.split_once('.')) {
        (Some(base), Some((label, parent))) => {
            !label.is_empty() && label != "*" && base.eq_ignore_ascii_case(parent)
        }
        _ => false,
    }
}

/// The verdict. The organization comes first: a seal never vouches for
/// a site of an organization whose vetting is not in force.
pub fn judge(
    org: &Organization,
    domain: &Domain,
    certs: &[Covering],
    now: OffsetDateTime,
    max_age: Duration,
) -> Verdict {
    let status = org.effective_status(now, max_age);
    if status != VettingStatus::Approved {
        return Verdict::NotVerified(Reason::Organization(status));
    }
    match domain {
        Domain::Missing => return Verdict::NotVerified(Reason::NoDomain),
        Domain::Invalid(s) => return Verdict::NotVerified(Reason::InvalidDomain(s.clone())),
        Domain::Name(_) => {}
    }
    if certs.iter().any(|c| c.state == CertState::Valid) {
        return Verdict::Verified;
    }
    Verdict::NotVerified(match certs.first().map(|c| c.state) {
        None => Reason::NoCertificate,
        Some(CertState::Revoked) => Reason::Revoked,
        Some(_) => Reason::Expired,
    })
}

/// A domain as given (`?domain=` or the Referer's host): lowercased,
/// without a trailing dot; a wildcard is no site.
pub fn parse_domain(given: &str) -> Domain {
    let lower = given.trim().trim_end_matches('.').to_ascii_lowercase();
    if lower.is_empty() {
        return Domain::Missing;
    }
    match DnsName::parse(&lower) {
        Ok(n) if !n.as_str().starts_with("*.") => Domain::Name(n),
        _ => Domain::Invalid(given.chars().take(80).collect()),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! An approved organization with an ACME account, and certificates
    //! for it as issuance stores them (order, authorizations, certificate).

    use diesel::prelude::*;
    use time::{Duration, OffsetDateTime};

    use crate::core::organization::Level;
    use crate::core::{AccountId, CertificateId, OrganizationId};
    use crate::sa::organizations::StatusChange;
    use crate::sa::schema::{accounts, authorizations, certificates, order_authorizations, orders};
    use crate::sa::{to_db, DbConn};
    use crate::vetting::checks::VettingStatus;

    /// An organization approved (vetted `vetted_days_ago`) with its seal
    /// and one account; returns (organization, seal id, account).
    pub fn approved_org(
        c: &mut DbConn,
        now: OffsetDateTime,
        vetted_days_ago: i64,
    ) -> (OrganizationId, String, AccountId) {
        let data = crate::vetting::organization::tests::example(Level::Ov);
        let org = crate::sa::organizations::create(c, &data, "test", now).unwrap();
        crate::sa::organizations::change_status(
            c,
            org.id,
            StatusChange {
                from: VettingStatus::Pending,
                to: VettingStatus::Approved,
                reason: None,
                approval: Some(("approver", now - Duration::days(vetted_days_ago))),
                reset_checks: false,
            },
            now,
        )
        .unwrap();
        let seal = super::create(c, org.id, now).unwrap();
        let key_id = format!("kid-{}", org.id.0);
        let eab = crate::sa::eab::create(
            c,
            crate::sa::eab::NewEab {
                key_id: &key_id,
                organization: org.id,
                hmac_key: b"k",
                note: "",
                single_use: false,
                expires_at: None,
            },
            now,
        )
        .unwrap();
        let account: i64 = diesel::insert_into(accounts::table)
            .values((
                accounts::key_thumbprint.eq(format!("thumb-{}", org.id.0)),
                accounts::jwk.eq("{}"),
                accounts::contact.eq("[]"),
                accounts::status.eq("valid"),
                accounts::eab_credential_id.eq(Some(eab.id.0)),
                accounts::created_at.eq(to_db(now)),
            ))
            .returning(accounts::id)
            .get_result(c)
            .unwrap();
        (org.id, seal, AccountId(account))
    }

    /// A certificate for `names` issued `age` ago, valid until
    /// `not_after`, stored with its order and authorizations.
    pub fn certificate(
        c: &mut DbConn,
        account: AccountId,
        serial: &str,
        names: &[&str],
        issued_at: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> CertificateId {
        let order: i64 = diesel::insert_into(orders::table)
            .values((
                orders::account_id.eq(account.0),
                orders::status.eq("valid"),
                orders::names.eq(serde_json::to_string(names).unwrap()),
                orders::profile.eq("ov"),
                orders::expires_at.eq(to_db(issued_at + Duration::days(7))),
                orders::created_at.eq(to_db(issued_at)),
                orders::updated_at.eq(to_db(issued_at)),
            ))
            .returning(orders::id)
            .get_result(c)
            .unwrap();
        for name in names {
            let (identifier, wildcard) = match name.strip_prefix("*.") {
                Some(base) => (base, true),
                None => (*name, false),
            };
            let authz: i64 = diesel::insert_into(authorizations::table)
                .values((
                    authorizations::account_id.eq(account.0),
                    authorizations::identifier.eq(identifier),
                    authorizations::wildcard.eq(wildcard),
                    authorizations::status.eq("valid"),
                    authorizations::expires_at.eq(to_db(issued_at + Duration::days(30))),
                    authorizations::created_at.eq(to_db(issued_at)),
                ))
                .returning(authorizations::id)
                .get_result(c)
                .unwrap();
            diesel::insert_into(order_authorizations::table)
                .values((
                    order_authorizations::order_id.eq(order),
                    order_authorizations::authorization_id.eq(authz),
                ))
                .execute(c)
                .unwrap();
        }
        let id: i64 = diesel::insert_into(certificates::table)
            .values((
                certificates::serial.eq(serial),
                certificates::order_id.eq(order),
                certificates::account_id.eq(account.0),
                certificates::der.eq(b"der".as_slice()),
                certificates::not_before.eq(to_db(issued_at - Duration::hours(1))),
                certificates::not_after.eq(to_db(not_after)),
                certificates::created_at.eq(to_db(issued_at)),
                certificates::crl_shard.eq(0),
            ))
            .returning(certificates::id)
            .get_result(c)
            .unwrap();
        CertificateId(id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::sa::crls::testing::store;
    use crate::sa::organizations::StatusChange;

    const MAX_AGE: Duration = Duration::days(398);

    fn name(s: &str) -> Domain {
        parse_domain(s)
    }

    #[test]
    fn ids_are_128_random_bits_in_base32() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
        assert!(
            a.bytes().all(|c| matches!(c, b'a'..=b'z' | b'2'..=b'7')),
            "{a}"
        );
    }

    /// Every presented id, short, long or nearly right, is looked up as a
    /// digest of one length: the comparison in the index never sees it.
    #[test]
    fn lookups_are_fixed_length_digests() {
        let id = new_id().unwrap();
        let near = format!("{}x", &id[..25]);
        for presented in [id.as_str(), near.as_str(), "", "a", &"z".repeat(64)] {
            let d = lookup(presented);
            assert_eq!(d.len(), 43, "{presented}");
            assert_ne!(d, presented);
        }
        assert_ne!(lookup(&id), lookup(&near));
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("www.example.jp", "www.example.jp"));
        assert!(covers("*.example.jp", "www.example.jp"));
        assert!(!covers("*.example.jp", "example.jp"));
        assert!(!covers("*.example.jp", "a.www.example.jp"));
        assert!(!covers("*.www.example.jp", "www.example.jp"));
        assert!(!covers("www.example.jp", "example.jp"));
        assert!(!covers("*.example.jp", "wwwexample.jp"));
    }

    #[test]
    fn domains_from_strangers_are_parsed() {
        assert_eq!(
            parse_domain("WWW.Example.JP."),
            Domain::Name(DnsName::parse("www.example.jp").unwrap())
        );
        assert_eq!(parse_domain("  "), Domain::Missing);
        assert!(matches!(parse_domain("*.example.jp"), Domain::Invalid(_)));
        assert!(matches!(parse_domain("<script>"), Domain::Invalid(_)));
        assert!(matches!(parse_domain("127.0.0.1"), Domain::Invalid(_)));
    }

    /// The verdicts on real rows (SQLite, and PostgreSQL with
    /// TEST_DATABASE_URL): verified for the certified domain and under a
    /// wildcard; not for another domain, a revoked or an expired
    /// certificate, a suspended or an expired vetting; an unknown id is
    /// no seal at all.
    #[tokio::test]
    async fn verdicts_follow_the_records() {
        let (_db, store) = store();
        let now = store.clock().now();
        let (org, seal, account) = store
            .write(move |c| {
                let (org, seal, account) = approved_org(c, now, 10);
                let day = Duration::days(1);
                certificate(
                    c,
                    account,
                    "01",
                    &["www.example.co.jp"],
                    now - day,
                    now + 90 * day,
                );
                certificate(
                    c,
                    account,
                    "02",
                    &["*.shop.example.co.jp"],
                    now - day,
                    now + 90 * day,
                );
                let revoked = certificate(
                    c,
                    account,
                    "03",
                    &["old.example.co.jp"],
                    now - day,
                    now + 90 * day,
                );
                sa::certificates::revoke(c, revoked, 1, now)?;
                certificate(
                    c,
                    account,
                    "04",
                    &["gone.example.co.jp"],
                    now - 100 * day,
                    now - day,
                );
                Ok((org, seal, account))
            })
            .await
            .unwrap();
        let _ = account;
        let seals = Seals::new(store.clone(), MAX_AGE);
        let verdict = |domain: &'static str| {
            let (seals, seal) = (seals.clone(), seal.clone());
            async move {
                seals
                    .report(&seal, name(domain))
                    .await
                    .unwrap()
                    .unwrap()
                    .verdict
            }
        };
        assert_eq!(verdict("www.example.co.jp").await, Verdict::Verified);
        assert_eq!(verdict("a.shop.example.co.jp").await, Verdict::Verified);
        assert_eq!(
            verdict("shop.example.co.jp").await,
            Verdict::NotVerified(Reason::NoCertificate)
        );
        assert_eq!(
            verdict("other.example.co.jp").await,
            Verdict::NotVerified(Reason::NoCertificate)
        );
        assert_eq!(
            verdict("old.example.co.jp").await,
            Verdict::NotVerified(Reason::Revoked)
        );
        assert_eq!(
            verdict("gone.example.co.jp").await,
            Verdict::NotVerified(Reason::Expired)
        );
        assert_eq!(verdict("").await, Verdict::NotVerified(Reason::NoDomain));

        let report = seals
            .report(&seal, name("www.example.co.jp"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.organization.id, org);
        assert_eq!(report.certificates.len(), 1);
        assert_eq!(report.certificates[0].serial, "01");

        // Unknown ids, a near miss included, find no seal.
        assert!(seals
            .report("", name("www.example.co.jp"))
            .await
            .unwrap()
            .is_none());
        let near = format!("{}a", &seal[..25]);
        let near = if near == seal {
            format!("{}b", &seal[..25])
        } else {
            near
        };
        assert!(seals
            .report(&near, Domain::Missing)
            .await
            .unwrap()
            .is_none());

        // The vetting expires: no seal says verified past that day.
        let later = Seals::new(store.clone(), Duration::days(10) - Duration::minutes(1));
        assert_eq!(
            later
                .report(&seal, name("www.example.co.jp"))
                .await
                .unwrap()
                .unwrap()
                .verdict,
            Verdict::NotVerified(Reason::Organization(VettingStatus::Expired))
        );

        // Suspended: not verified, at once.
        store
            .write(move |c| {
                sa::organizations::change_status(
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
        assert_eq!(
            verdict("www.example.co.jp").await,
            Verdict::NotVerified(Reason::Organization(VettingStatus::Suspended))
        );
    }

    /// Another organization's certificate for the domain does not make
    /// this organization's seal verified.
    #[tokio::test]
    async fn only_the_organizations_own_certificates_count() {
        let (_db, store) = store();
        let now = store.clock().now();
        let (seal_a, _) = store
            .write(move |c| {
                let (_, seal_a, _) = approved_org(c, now, 1);
                let (_, seal_b, account_b) = approved_org(c, now, 1);
                certificate(
                    c,
                    account_b,
                    "0b",
                    &["www.example.co.jp"],
                    now - Duration::days(1),
                    now + Duration::days(90),
                );
                Ok((seal_a, seal_b))
            })
            .await
            .unwrap();
        let seals = Seals::new(store.clone(), MAX_AGE);
        let r = seals
            .report(&seal_a, name("www.example.co.jp"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.verdict, Verdict::NotVerified(Reason::NoCertificate));
        assert!(r.certificates.is_empty());
    }
}
