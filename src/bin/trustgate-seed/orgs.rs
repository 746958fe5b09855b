//! Organizations, their EAB credentials and the accounts bound with them.
//! Organizations and credentials go through the vetting service, exactly
//! as staff create them (checks by one person, approval by another, audit
//! events); accounts are inserted in bulk with real P-256 keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use diesel::prelude::*;
use futures_util::{StreamExt, TryStreamExt};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use time::{Duration, OffsetDateTime, PrimitiveDateTime};
use trustgate::config::VettingConfig;
use trustgate::core::AccountStatus;
use trustgate::jose::AccountKey;
use trustgate::sa::schema::{accounts, eab_credentials};
use trustgate::sa::{to_db, DbConn, Store};
use trustgate::vetting::checks::{CheckRecord, Transition};
use trustgate::vetting::eab::CreateOptions;
use trustgate::vetting::organization::{BusinessCategory, EvData, Level, OrganizationData};
use trustgate::vetting::Vetting;

use crate::rows::{Mix, Owner};

const ORGANIZATION: &str = include_str!("../../../conf/organization.example.json");
const CHECKS: [&str; 10] = [
    include_str!("../../../conf/checks/existence.json"),
    include_str!("../../../conf/checks/phone_intent.json"),
    include_str!("../../../conf/checks/domain_scope.json"),
    include_str!("../../../conf/checks/ev_registration.json"),
    include_str!("../../../conf/checks/ev_business_category.json"),
    include_str!("../../../conf/checks/ev_place_of_business.json"),
    include_str!("../../../conf/checks/ev_operational_existence.json"),
    include_str!("../../../conf/checks/ev_communication.json"),
    include_str!("../../../conf/checks/ev_authority.json"),
    include_str!("../../../conf/checks/ev_denied_party_screening.json"),
];
/// The first three are what OV needs; EV needs all ten.
const OV_CHECKS: usize = 3;

pub struct Organizations {
    /// The approved ones (accounts and certificates belong to them).
    pub orgs: Vec<Seeded>,
}

/// One seeded organization: its id, domain, profile (`ov` or `ev`) and
/// its credential's id.
pub struct Seeded {
    pub id: i64,
    pub domain: String,
    pub profile: &'static str,
    pub eab: i64,
}

/// Organizations created at once.
const PARALLEL: usize = 32;

/// One in `ev_every` organizations is EV, the rest OV; the last `pending`
/// are left awaiting vetting (the vetting desk's queue).
pub async fn create_organizations(
    store: &Store,
    cfg: VettingConfig,
    count: usize,
    ev_every: usize,
    pending: usize,
    label: &str,
) -> Result<Organizations, String> {
    let vetting = Vetting::new(store.clone(), cfg);
    let template: OrganizationData =
        serde_json::from_str(ORGANIZATION).map_err(|e| format!("organization template: {e}"))?;
    let checks: Vec<CheckRecord> = CHECKS
        .iter()
        .map(|c| serde_json::from_str(c).map_err(|e| format!("check template: {e}")))
        .collect::<Result<_, _>>()?;
    let desk = Desk {
        vetting: &vetting,
        template: &template,
        checks: &checks,
        label,
    };
    // Many at once, so the store's group-commit writer syncs them together.
    let first_pending = count.saturating_sub(pending);
    let orgs: Vec<Option<Seeded>> = futures_util::stream::iter(0..count)
        .map(|i| {
            let ev = ev_every > 0 && i % ev_every == 0;
            desk.organization(i, ev, i >= first_pending)
        })
        .buffered(PARALLEL)
        .try_collect()
        .await?;
    let orgs = orgs.into_iter().flatten().collect();
    Ok(Organizations { orgs })
}

/// What every seeded organization is made from.
struct Desk<'a> {
    vetting: &'a Vetting,
    template: &'a OrganizationData,
    checks: &'a [CheckRecord],
    label: &'a str,
}

impl Desk<'_> {
    /// Organization `i`: created, its checks recorded by one member,
    /// approved by another, with a reusable EAB credential; or, `pending`,
    /// only its first check recorded (`None`).
    async fn organization(
        &self,
        i: usize,
        ev: bool,
        pending: bool,
    ) -> Result<Option<Seeded>, String> {
        let (vetting, template, checks, label) =
            (self.vetting, self.template, self.checks, self.label);
        let domain = format!("org{i}.{label}.example.net");
        let mut data = template.clone();
        data.legal_name = format!("{}{i}", template.legal_name);
        data.english_name = Some(format!("Seed Org {i} KK"));
        data.domains[0].name = domain.clone();
        if ev {
            data.level = Level::Ev;
            data.ev = Some(EvData {
                business_category: BusinessCategory::PrivateOrganization,
                jurisdiction_country: "JP".into(),
                jurisdiction_state_or_province: None,
                jurisdiction_locality: None,
            });
        }
        let err = |what: &str, e: trustgate::error::Error| format!("organization {i}: {what}: {e}");
        let org = vetting
            .create("seed-staff", data)
            .await
            .map_err(|e| err("create", e))?;
        let needed = match (pending, ev) {
            (true, _) => 1,
            (false, true) => CHECKS.len(),
            (false, false) => OV_CHECKS,
        };
        for check in &checks[..needed] {
            vetting
                .record_check("seed-vetter", org.id, check.clone(), None)
                .await
                .map_err(|e| err("check", e))?;
        }
        if pending {
            return Ok(None);
        }
        vetting
            .transition("seed-approver", org.id, Transition::Approve, None)
            .await
            .map_err(|e| err("approve", e))?;
        let cred = vetting
            .create_eab(
                "seed-staff",
                org.id,
                CreateOptions {
                    note: "seeded".into(),
                    single_use: false,
                    expires_in: None,
                },
            )
            .await
            .map_err(|e| err("EAB credential", e))?;
        Ok(Some(Seeded {
            id: org.id.0,
            domain,
            profile: if ev { "ev" } else { "ov" },
            eab: cred.credential.id.0,
        }))
    }
}

#[derive(Insertable)]
#[diesel(table_name = accounts, treat_none_as_default_value = false)]
struct AccountRow {
    id: i64,
    key_thumbprint: String,
    jwk: String,
    contact: String,
    status: &'static str,
    eab_credential_id: Option<i64>,
    created_at: PrimitiveDateTime,
}
const ACCOUNT_COLUMNS: usize = 7;

/// Inserts `count` accounts spread round-robin over the organizations,
/// each bound with its organization's credential; returns them as owners
/// of the bulk rows, in id order.
pub fn create_accounts(
    conn: &mut DbConn,
    orgs: &Organizations,
    count: usize,
    first_id: i64,
    now: OffsetDateTime,
    span: Duration,
    mix: &mut Mix,
) -> Result<Vec<Owner>, String> {
    let rng = SystemRandom::new();
    let mut rows = Vec::with_capacity(count);
    let mut owners = Vec::with_capacity(count);
    for i in 0..count {
        let org = &orgs.orgs[i % orgs.orgs.len()];
        let domain = &org.domain;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| "generating an account key failed".to_owned())?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| "loading an account key failed".to_owned())?;
        let point = key.public_key().as_ref();
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
        });
        let serde_json::Value::Object(map) = &jwk else {
            return Err("a JWK must be an object".into());
        };
        // The server's own thumbprint, so key lookups find these accounts.
        let thumbprint = AccountKey::from_jwk(map)
            .map_err(|e| format!("account key: {e}"))?
            .thumbprint()
            .to_owned();
        let id = first_id + i as i64;
        // Accounts are older than the rows they own.
        let created = now - span - Duration::days(30) + Duration::seconds(mix.below(86_400) as i64);
        rows.push(AccountRow {
            id,
            key_thumbprint: thumbprint,
            jwk: jwk.to_string(),
            contact: serde_json::to_string(&[format!("mailto:acme{i}@{domain}")])
                .map_err(|e| e.to_string())?,
            status: AccountStatus::Valid.as_str(),
            eab_credential_id: Some(org.eab),
            created_at: to_db(created),
        });
        owners.push(Owner {
            account_id: id,
            organization_id: org.id,
            domain: domain.clone(),
            profile: org.profile,
        });
    }
    crate::insert::in_transaction(conn, |c| {
        crate::insert_rows!(c, accounts::table, &rows, ACCOUNT_COLUMNS);
        // A bound credential records when it was first used.
        let first_use = to_db(now - span - Duration::days(30));
        diesel::update(eab_credentials::table.filter(
            eab_credentials::id.eq_any(orgs.orgs.iter().map(|o| o.eab).collect::<Vec<_>>()),
        ))
        .set(eab_credentials::used_at.eq(Some(first_use)))
        .execute(c)?;
        Ok(())
    })?;
    Ok(owners)
}
