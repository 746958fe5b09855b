//! Rate limits (docs/operations.md, "Rate limits"): which limit applies
//! to which request, and the arithmetic. Each rate is a GCRA bucket, as
//! in Boulder's `ratelimits` package: a theoretical arrival time (TAT) per
//! key; an event adds one emission interval (`period / count`) to the
//! later of the TAT and now, and is refused when that lands more than a
//! burst (`count` intervals) ahead of now. `sa::limits` keeps the TATs:
//! shared rows on PostgreSQL, this process on SQLite.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::events::Audit;
use super::Ra;
use crate::config::{LimitsConfig, Rate, MAX_LIMIT_COUNT, MAX_LIMIT_PERIOD_SECS};
use crate::core::{AccountId, OrganizationId};
use crate::error::{Error, ErrorKind, Result};
use crate::sa::limits::{Buckets, Override};
use crate::sa::{self, Store};

/// Every limit, named as in the `[limits]` table and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    NewOrders,
    PendingAuthorizations,
    FailedValidations,
    Finalizes,
    CertificatesPerNameSet,
    NewAccounts,
    Requests,
    ValidationsInFlight,
}

impl Limit {
    /// The config key, metrics label and documentation anchor.
    pub fn name(self) -> &'static str {
        match self {
            Limit::NewOrders => "new_orders_per_account",
            Limit::PendingAuthorizations => "pending_authorizations_per_account",
            Limit::FailedValidations => "failed_validations_per_account",
            Limit::Finalizes => "finalizes_per_account",
            Limit::CertificatesPerNameSet => "certificates_per_name_set",
            Limit::NewAccounts => "new_accounts_per_address",
            Limit::Requests => "requests_per_address",
            Limit::ValidationsInFlight => "validations_in_flight",
        }
    }

    /// What the client did too often, and whose count it is.
    fn describe(self) -> (&'static str, &'static str) {
        match self {
            Limit::NewOrders => ("new orders", "for this account"),
            Limit::PendingAuthorizations => ("pending authorizations", "for this account"),
            Limit::FailedValidations => ("failed validations", "for this account"),
            Limit::Finalizes => ("finalize requests", "for this account"),
            Limit::CertificatesPerNameSet => (
                "certificates for this exact set of names",
                "for this organization",
            ),
            Limit::NewAccounts => ("new accounts", "from this address"),
            Limit::Requests => ("requests", "from this address"),
            Limit::ValidationsInFlight => ("validations in flight", "on this server"),
        }
    }
}

/// A GCRA decision: the TAT to store, or how long until the event would
/// conform (microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed { tat: i64 },
    Refused { retry_in: i64 },
}

/// One event against `rate` at `now`, the bucket's TAT being `tat`
/// (microseconds since the epoch; `None`: a fresh bucket). `count = 0`:
/// no limit, always allowed (and nothing to store).
pub fn spend(tat: Option<i64>, now: i64, rate: Rate) -> Decision {
    if rate.count == 0 {
        return Decision::Allowed {
            tat: tat.unwrap_or(now),
        };
    }
    let count = rate.count.min(MAX_LIMIT_COUNT) as i64;
    let interval = (rate.period_secs as i64 * 1_000_000 / count).max(1);
    let next = tat.unwrap_or(now).max(now) + interval;
    let allowed_at = next - interval * count;
    if allowed_at > now {
        Decision::Refused {
            retry_in: allowed_at - now,
        }
    } else {
        Decision::Allowed { tat: next }
    }
}

/// Microseconds since the epoch: the buckets' unit.
fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

/// "300 per 3h": a rate as the detail and the documentation write it.
pub fn rate_text(rate: Rate) -> String {
    let p = rate.period_secs;
    let period = match p {
        _ if p % 86_400 == 0 => format!("{}d", p / 86_400),
        _ if p % 3600 == 0 => format!("{}h", p / 3600),
        _ if p % 60 == 0 => format!("{}m", p / 60),
        _ => format!("{p}s"),
    };
    format!("{} per {period}", rate.count)
}

/// A pending-authorizations refusal asks the client to come back after
/// this (an authorization stops counting once answered or deactivated).
const PENDING_RETRY_SECS: u64 = 60;
/// A validations-in-flight refusal: about one validation's time.
const IN_FLIGHT_RETRY_SECS: u64 = 5;

/// The limits in force and where their buckets are.
pub(super) struct Limits {
    cfg: LimitsConfig,
    documentation_url: String,
    /// Per account, organization and new-account address.
    buckets: Buckets,
    /// Requests per address: always this process's (a database round
    /// trip per request would put the database on the path of the very
    /// flood this limit sheds).
    requests: Buckets,
}

impl Limits {
    pub(super) fn new(cfg: &crate::config::Config, backend: sa::Backend) -> Limits {
        Limits {
            cfg: cfg.limits.clone(),
            documentation_url: cfg.limits_documentation_url(),
            buckets: Buckets::for_backend(backend),
            requests: Buckets::local(),
        }
    }

    /// An IPv4-mapped IPv6 peer (a dual-stack listener) is its IPv4 address.
    fn exempt(&self, client: IpAddr) -> bool {
        let client = client.to_canonical();
        self.cfg
            .exempt_addresses
            .iter()
            .any(|a| a.to_canonical() == client)
    }
}

/// What an account's limits depend on, read in one call.
struct AccountState {
    overrides: Vec<Override>,
    /// Counted for newOrder only (0 otherwise).
    pending: u64,
    /// The bucket key of the organization's certificates for the request's
    /// names, when asked for and the account has an organization.
    name_set: Option<String>,
    /// Shared buckets' TATs read in the same call, by key (none when the
    /// buckets are this process's): a check then costs no round trip and
    /// an update one.
    tats: Vec<(String, Option<i64>)>,
}

impl AccountState {
    /// The TAT of `key` as read with the state, if it was read.
    fn known(&self, key: &str) -> Option<Option<i64>> {
        self.tats
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, tat)| *tat)
    }
}

/// An issuance to count against the organization's certificates for its
/// names, once the certificate exists (`Ra::certificate_issued`).
pub(super) struct PerNameSet {
    key: String,
    rate: Rate,
    known: Option<Option<i64>>,
}

/// The organization's override of `limit`, if it has one.
fn overridden(limit: Limit, overrides: &[Override]) -> Option<Rate> {
    overrides
        .iter()
        .find(|o| o.name == limit.name())
        .map(|o| Rate::new(o.count, o.period_secs))
}

/// The bucket key of an address: IPv4 whole, IPv6 by its /64 (one
/// subscriber's usual allocation).
fn address_key(client: IpAddr) -> String {
    match client {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = a.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The bucket key of an organization's certificates for exactly `names`
/// (in any order or case).
fn name_set_key(org: OrganizationId, names: &[String]) -> String {
    let mut names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    let digest = ring::digest::digest(&ring::digest::SHA256, names.join(",").as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{}:{org}:{hex}", Limit::CertificatesPerNameSet.name())
}

fn account_key(limit: Limit, id: AccountId) -> String {
    format!("{}:{id}", limit.name())
}

impl Ra {
    fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The rate in force for `limit`: the organization's override, else
    /// the configuration's.
    fn rate_of(&self, limit: Limit, overrides: &[Override]) -> Rate {
        overridden(limit, overrides).unwrap_or_else(|| self.configured(limit))
    }

    /// The configuration's rate for `limit`.
    fn configured(&self, limit: Limit) -> Rate {
        let c = &self.limits().cfg;
        match limit {
            Limit::NewOrders => c.new_orders_per_account,
            Limit::FailedValidations => c.failed_validations_per_account,
            Limit::Finalizes => c.finalizes_per_account,
            Limit::CertificatesPerNameSet => c.certificates_per_name_set,
            Limit::NewAccounts => c.new_accounts_per_address,
            Limit::Requests => c.requests_per_address,
            Limit::PendingAuthorizations => Rate::new(c.pending_authorizations_per_account, 0),
            Limit::ValidationsInFlight => Rate::new(c.validations_in_flight, 0),
        }
    }

    /// The rateLimited problem for `limit` (counted in the metrics): what
    /// was too many, the limit, when to retry, and where it is explained.
    fn limited(&self, limit: Limit, limit_text: String, retry_secs: u64) -> Error {
        self.store().metrics().rate_limited(limit.name());
        let retry_secs = retry_secs.max(1);
        let at = self.clock().now() + Duration::seconds(retry_secs as i64);
        let at = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let (what, whose) = limit.describe();
        let url = &self.limits().documentation_url;
        let anchor = limit.name().replace('_', "-");
        Error::new(
            ErrorKind::RateLimited,
            format!(
                "too many {what} {whose} (limit: {limit_text}): retry after {at}; see {url}#{anchor}"
            ),
        )
        .with_retry_after(retry_secs)
    }

    fn refused_rate(&self, limit: Limit, rate: Rate, retry_in: i64) -> Error {
        let secs = (retry_in.max(0) as u64).div_ceil(1_000_000);
        self.limited(limit, rate_text(rate), secs)
    }

    /// Spends one event of `limit` from bucket `key`; refused (nothing
    /// stored) when the bucket is empty. `known` is the bucket's TAT if it
    /// was read already (`AccountState::known`).
    async fn spend(
        &self,
        limit: Limit,
        key: String,
        rate: Rate,
        known: Option<Option<i64>>,
    ) -> Result<()> {
        if rate.count == 0 {
            return Ok(());
        }
        let now = micros(self.clock().now());
        let decision = self
            .limits()
            .buckets
            .update(self.store(), key, now, known, move |tat| {
                match spend(tat, now, rate) {
                    Decision::Allowed { tat } => (Some(tat), Decision::Allowed { tat }),
                    refused => (None, refused),
                }
            })
            .await?;
        match decision {
            Decision::Allowed { .. } => Ok(()),
            Decision::Refused { retry_in } => Err(self.refused_rate(limit, rate, retry_in)),
        }
    }

    /// Refused if one more event of `limit` would be; spends nothing.
    async fn check(&self, limit: Limit, key: &str, rate: Rate, state: &AccountState) -> Result<()> {
        if rate.count == 0 {
            return Ok(());
        }
        let now = micros(self.clock().now());
        let tat = match state.known(key) {
            Some(tat) => tat,
            None => {
                let key = key.to_owned();
                self.limits().buckets.peek(self.store(), key).await?
            }
        };
        match spend(tat, now, rate) {
            Decision::Allowed { .. } => Ok(()),
            Decision::Refused { retry_in } => Err(self.refused_rate(limit, rate, retry_in)),
        }
    }

    /// Counts one event that happened (a failure, an issuance) even past
    /// the limit: the next check refuses until the bucket has drained.
    async fn charge(&self, key: String, rate: Rate, known: Option<Option<i64>>) -> Result<()> {
        if rate.count == 0 {
            return Ok(());
        }
        let now = micros(self.clock().now());
        let interval = (rate.period_secs as i64 * 1_000_000 / rate.count as i64).max(1);
        self.limits()
            .buckets
            .update(self.store(), key, now, known, move |tat| {
                (Some(tat.unwrap_or(now).max(now) + interval), ())
            })
            .await
    }

    /// The account's organization and its overrides; with `count_pending`
    /// (newOrder), also the authorizations it holds pending, if that is
    /// limited; with `names`, the key of the organization's certificates
    /// for them. On PostgreSQL also the TATs of that key and of the
    /// account's `buckets`. One read: on PostgreSQL each is a hop to a
    /// blocking thread, and each statement a round trip.
    async fn account_state(
        &self,
        id: AccountId,
        count_pending: bool,
        buckets: &'static [Limit],
        names: Option<&[String]>,
    ) -> Result<AccountState> {
        let now = self.clock().now();
        let limit = Limit::PendingAuthorizations;
        let configured = self.configured(limit);
        let shared = self.limits().buckets.is_shared();
        let names = names.map(<[String]>::to_vec);
        self.store()
            .read(move |c| {
                let (organization, overrides) = sa::limits::account_limits(c, id)?;
                let rate = overridden(limit, &overrides).unwrap_or(configured);
                let pending = if count_pending && rate.count > 0 {
                    sa::limits::pending_authorizations(c, id, now)?
                } else {
                    0
                };
                let name_set = organization
                    .zip(names)
                    .map(|(org, names)| name_set_key(org, &names));
                let mut tats = Vec::new();
                if shared {
                    let mut keys: Vec<String> =
                        buckets.iter().map(|l| account_key(*l, id)).collect();
                    keys.extend(name_set.clone());
                    let read = sa::limits::shared_tats(c, &keys)?;
                    tats = keys.into_iter().zip(read).collect();
                }
                Ok(AccountState {
                    overrides,
                    pending,
                    name_set,
                    tats,
                })
            })
            .await
    }

    /// newOrder: the account's pending authorizations and failed
    /// validations, the organization's certificates for these names, then
    /// one new order spent. A refusal changes nothing but the metrics.
    pub(super) async fn limit_new_order(&self, account: AccountId, names: &[String]) -> Result<()> {
        let buckets = &[Limit::FailedValidations, Limit::NewOrders];
        let state = self
            .account_state(account, true, buckets, Some(names))
            .await?;
        let pending = self.rate_of(Limit::PendingAuthorizations, &state.overrides);
        if pending.count > 0 && state.pending >= pending.count {
            let text = pending.count.to_string();
            return Err(self.limited(Limit::PendingAuthorizations, text, PENDING_RETRY_SECS));
        }
        let failed = Limit::FailedValidations;
        let rate = self.rate_of(failed, &state.overrides);
        self.check(failed, &account_key(failed, account), rate, &state)
            .await?;
        if let Some(key) = &state.name_set {
            let limit = Limit::CertificatesPerNameSet;
            let rate = self.rate_of(limit, &state.overrides);
            self.check(limit, key, rate, &state).await?;
        }
        let limit = Limit::NewOrders;
        let rate = self.rate_of(limit, &state.overrides);
        let key = account_key(limit, account);
        let known = state.known(&key);
        self.spend(limit, key, rate, known).await
    }

    /// finalize: one finalize spent, and the organization's certificates
    /// for these names checked. Returns what `certificate_issued` needs.
    pub(super) async fn limit_finalize(
        &self,
        account: AccountId,
        names: &[String],
    ) -> Result<Option<PerNameSet>> {
        let buckets = &[Limit::Finalizes];
        let state = self
            .account_state(account, false, buckets, Some(names))
            .await?;
        let per_names = match &state.name_set {
            Some(key) => {
                let limit = Limit::CertificatesPerNameSet;
                let rate = self.rate_of(limit, &state.overrides);
                self.check(limit, key, rate, &state).await?;
                let known = state.known(key);
                Some(PerNameSet {
                    key: key.clone(),
                    rate,
                    known,
                })
            }
            None => None,
        };
        let limit = Limit::Finalizes;
        let rate = self.rate_of(limit, &state.overrides);
        let key = account_key(limit, account);
        let known = state.known(&key);
        self.spend(limit, key, rate, known).await?;
        Ok(per_names)
    }

    /// A certificate was issued for the name set `limit_finalize` checked.
    /// Counting it cannot undo the issuance: a failure is only logged.
    pub(super) async fn certificate_issued(&self, per_names: Option<PerNameSet>) {
        if let Some(PerNameSet { key, rate, known }) = per_names {
            if let Err(e) = self.charge(key, rate, known).await {
                tracing::warn!(error = %e, "counting an issuance against its rate limit failed");
            }
        }
    }

    /// A validation of the account's failed: counted against its failed
    /// validations (only logged if that fails).
    pub(super) async fn validation_failed(&self, account: AccountId) {
        let counted = async {
            let limit = Limit::FailedValidations;
            let buckets = &[Limit::FailedValidations];
            let state = self.account_state(account, false, buckets, None).await?;
            let rate = self.rate_of(limit, &state.overrides);
            let key = account_key(limit, account);
            let known = state.known(&key);
            self.charge(key, rate, known).await
        };
        if let Err(e) = counted.await {
            tracing::warn!(error = %e, "counting a failed validation against its rate limit failed");
        }
    }

    /// newAccount creating an account, from `client`.
    pub(super) async fn limit_new_account(&self, client: Option<IpAddr>) -> Result<()> {
        let Some(client) = client.filter(|c| !self.limits().exempt(*c)) else {
            return Ok(());
        };
        let limit = Limit::NewAccounts;
        let rate = self.rate_of(limit, &[]);
        let key = format!("{}:{}", limit.name(), address_key(client));
        self.spend(limit, key, rate, None).await
    }

    /// Any ACME request from `client`, in this process.
    pub fn limit_request(&self, client: IpAddr) -> Result<()> {
        let limit = Limit::Requests;
        let rate = self.rate_of(limit, &[]);
        if rate.count == 0 || self.limits().exempt(client) {
            return Ok(());
        }
        let now = micros(self.clock().now());
        let decision = self
            .limits()
            .requests
            .update_local(address_key(client), now, |tat| {
                match spend(tat, now, rate) {
                    Decision::Allowed { tat } => (Some(tat), Decision::Allowed { tat }),
                    refused => (None, refused),
                }
            });
        match decision {
            Some(Decision::Refused { retry_in }) => Err(self.refused_rate(limit, rate, retry_in)),
            _ => Ok(()),
        }
    }

    /// Drops shared buckets that are as good as empty (PostgreSQL; the
    /// stale sweep calls it).
    pub async fn prune_rate_limits(&self) -> Result<usize> {
        let now = micros(self.clock().now());
        self.store().run(move |c| sa::limits::prune(c, now)).await
    }

    /// Refused when `running` validations (this process's) fill the cap.
    pub(super) fn limit_validations_in_flight(&self, running: usize) -> Result<()> {
        let cap = self.limits().cfg.validations_in_flight;
        if cap > 0 && running as u64 >= cap {
            return Err(self.limited(
                Limit::ValidationsInFlight,
                cap.to_string(),
                IN_FLIGHT_RETRY_SECS,
            ));
        }
        Ok(())
    }
}

/// A count limit's override (pending authorizations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Count {
    pub count: u64,
}

/// The limits staff may set per organization; `None`: the configuration's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSet {
    #[serde(default)]
    pub new_orders_per_account: Option<Rate>,
    #[serde(default)]
    pub pending_authorizations_per_account: Option<Count>,
    #[serde(default)]
    pub failed_validations_per_account: Option<Rate>,
    #[serde(default)]
    pub finalizes_per_account: Option<Rate>,
    #[serde(default)]
    pub certificates_per_name_set: Option<Rate>,
}

impl LimitSet {
    fn rates(&self) -> [(Limit, Option<Rate>); 4] {
        [
            (Limit::NewOrders, self.new_orders_per_account),
            (
                Limit::FailedValidations,
                self.failed_validations_per_account,
            ),
            (Limit::Finalizes, self.finalizes_per_account),
            (
                Limit::CertificatesPerNameSet,
                self.certificates_per_name_set,
            ),
        ]
    }

    fn rate_mut(&mut self, limit: Limit) -> Option<&mut Option<Rate>> {
        match limit {
            Limit::NewOrders => Some(&mut self.new_orders_per_account),
            Limit::FailedValidations => Some(&mut self.failed_validations_per_account),
            Limit::Finalizes => Some(&mut self.finalizes_per_account),
            Limit::CertificatesPerNameSet => Some(&mut self.certificates_per_name_set),
            _ => None,
        }
    }

    /// Counts up to `MAX_LIMIT_COUNT`, periods from 1 s to a year.
    pub fn validate(&self) -> Result<()> {
        for (limit, rate) in self.rates() {
            let Some(r) = rate else { continue };
            if r.count > MAX_LIMIT_COUNT
                || r.period_secs == 0
                || r.period_secs > MAX_LIMIT_PERIOD_SECS
            {
                return Err(Error::malformed(format!(
                    "{}: count must be 0 to {MAX_LIMIT_COUNT}, period_secs 1 to {MAX_LIMIT_PERIOD_SECS}",
                    limit.name()
                )));
            }
        }
        if self
            .pending_authorizations_per_account
            .is_some_and(|c| c.count > MAX_LIMIT_COUNT)
        {
            return Err(Error::malformed(format!(
                "pending_authorizations_per_account: count must be 0 to {MAX_LIMIT_COUNT}"
            )));
        }
        Ok(())
    }

    fn from_overrides(rows: &[Override]) -> LimitSet {
        let mut set = LimitSet::default();
        for o in rows {
            if o.name == Limit::PendingAuthorizations.name() {
                set.pending_authorizations_per_account = Some(Count { count: o.count });
                continue;
            }
            let limit = set
                .rates()
                .map(|(l, _)| l)
                .into_iter()
                .find(|l| l.name() == o.name);
            if let Some(slot) = limit.and_then(|l| set.rate_mut(l)) {
                *slot = Some(Rate::new(o.count, o.period_secs));
            }
        }
        set
    }

    fn to_overrides(&self) -> Vec<Override> {
        let mut rows: Vec<Override> = self
            .rates()
            .into_iter()
            .filter_map(|(l, r)| {
                r.map(|r| Override {
                    name: l.name().to_owned(),
                    count: r.count,
                    period_secs: r.period_secs,
                })
            })
            .collect();
        if let Some(c) = self.pending_authorizations_per_account {
            rows.push(Override {
                name: Limit::PendingAuthorizations.name().to_owned(),
                count: c.count,
                period_secs: 0,
            });
        }
        rows
    }

    /// Every limit filled in: the override, else the configuration's.
    fn effective(&self, cfg: &LimitsConfig) -> LimitSet {
        LimitSet {
            new_orders_per_account: self
                .new_orders_per_account
                .or(Some(cfg.new_orders_per_account)),
            pending_authorizations_per_account: self.pending_authorizations_per_account.or(Some(
                Count {
                    count: cfg.pending_authorizations_per_account,
                },
            )),
            failed_validations_per_account: self
                .failed_validations_per_account
                .or(Some(cfg.failed_validations_per_account)),
            finalizes_per_account: self
                .finalizes_per_account
                .or(Some(cfg.finalizes_per_account)),
            certificates_per_name_set: self
                .certificates_per_name_set
                .or(Some(cfg.certificates_per_name_set)),
        }
    }
}

/// An organization's limits as staff see them.
#[derive(Debug, Serialize)]
pub struct OrganizationLimits {
    pub organization: OrganizationId,
    /// What staff set; absent: the configuration's.
    pub overrides: LimitSet,
    /// What applies to the organization and its accounts.
    pub effective: LimitSet,
}

/// The organization's overrides and the limits in force for it.
pub async fn organization_limits(
    store: &Store,
    cfg: &LimitsConfig,
    org: OrganizationId,
) -> Result<OrganizationLimits> {
    let rows = store.read(move |c| sa::limits::overrides(c, org)).await?;
    let overrides = LimitSet::from_overrides(&rows);
    Ok(OrganizationLimits {
        organization: org,
        effective: overrides.effective(cfg),
        overrides,
    })
}

/// Replaces the organization's overrides with `set` (staff `actor`, for
/// `reason`); the audit event, with the overrides before and after,
/// commits with the change.
pub async fn set_organization_limits(
    store: &Store,
    cfg: &LimitsConfig,
    actor: &str,
    org: OrganizationId,
    set: LimitSet,
    reason: &str,
) -> Result<OrganizationLimits> {
    set.validate()?;
    let audit = Audit::by(actor.to_owned(), Some(org), store.clock().now());
    let (rows, reason_owned) = (set.to_overrides(), reason.to_owned());
    let after = set.clone();
    store
        .write(move |c| {
            let before = LimitSet::from_overrides(&sa::limits::overrides(c, org)?);
            sa::limits::replace_overrides(c, org, &rows)?;
            let details = serde_json::json!({"before": before, "after": after});
            audit.record(
                c,
                "organization.limits",
                format!("organization:{org}"),
                Some(&reason_owned),
                details,
            )
        })
        .await?;
    Ok(OrganizationLimits {
        organization: org,
        effective: set.effective(cfg),
        overrides: set,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Clock;

    const S: i64 = 1_000_000;

    /// Events one after another at the times of `clock`, as `spend`
    /// stores them.
    fn run(clock: &Clock, tat: &mut Option<i64>, rate: Rate) -> Decision {
        let d = spend(*tat, micros(clock.now()), rate);
        if let Decision::Allowed { tat: t } = d {
            *tat = Some(t);
        }
        d
    }

    #[test]
    fn a_burst_of_count_then_one_per_interval() {
        let clock = Clock::manual(time::macros::datetime!(2026-12-06 12:00 UTC));
        let rate = Rate::new(5, 3600);
        let mut tat = None;
        for i in 0..5 {
            assert!(
                matches!(run(&clock, &mut tat, rate), Decision::Allowed { .. }),
                "event {i}"
            );
        }
        // The sixth waits one interval (720 s) from the first.
        assert_eq!(
            run(&clock, &mut tat, rate),
            Decision::Refused { retry_in: 720 * S }
        );
        clock.advance(Duration::seconds(719));
        assert_eq!(
            run(&clock, &mut tat, rate),
            Decision::Refused { retry_in: S }
        );
        clock.advance(Duration::seconds(1));
        assert!(matches!(
            run(&clock, &mut tat, rate),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            run(&clock, &mut tat, rate),
            Decision::Refused { .. }
        ));
        // After a whole period idle, the whole burst again.
        clock.advance(Duration::hours(1));
        for _ in 0..5 {
            assert!(matches!(
                run(&clock, &mut tat, rate),
                Decision::Allowed { .. }
            ));
        }
        assert!(matches!(
            run(&clock, &mut tat, rate),
            Decision::Refused { .. }
        ));
    }

    #[test]
    fn a_passed_tat_counts_as_a_fresh_bucket_and_zero_is_no_limit() {
        let now = 1_000 * S;
        let rate = Rate::new(2, 10);
        assert_eq!(
            spend(Some(3), now, rate),
            spend(None, now, rate),
            "an old TAT is no debt"
        );
        assert_eq!(
            spend(None, now, rate),
            Decision::Allowed { tat: now + 5 * S }
        );
        let off = Rate::new(0, 0);
        assert_eq!(
            spend(Some(now * 2), now, off),
            Decision::Allowed { tat: now * 2 }
        );
    }

    #[test]
    fn rates_read_as_people_write_them() {
        assert_eq!(rate_text(Rate::new(300, 10800)), "300 per 3h");
        assert_eq!(rate_text(Rate::new(5, 604800)), "5 per 7d");
        assert_eq!(rate_text(Rate::new(20, 1)), "20 per 1s");
        assert_eq!(rate_text(Rate::new(3, 120)), "3 per 2m");
    }

    #[test]
    fn keys_group_ipv6_by_64_and_name_sets_by_content() {
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.1");
        let limits = Limits::new(&crate::config::Config::default(), sa::Backend::Sqlite);
        assert!(limits.exempt("::ffff:127.0.0.1".parse().unwrap()));
        assert!(limits.exempt("::1".parse().unwrap()));
        assert!(!limits.exempt("192.0.2.1".parse().unwrap()));
        let org = OrganizationId(7);
        let k1 = name_set_key(org, &["b.jp".into(), "A.jp".into()]);
        assert_eq!(k1, name_set_key(org, &["a.jp".into(), "b.jp".into()]));
        assert_ne!(k1, name_set_key(org, &["a.jp".into()]));
        assert_ne!(
            k1,
            name_set_key(OrganizationId(8), &["a.jp".into(), "b.jp".into()])
        );
    }

    #[test]
    fn override_sets_round_trip_and_fill_from_the_config() {
        let set: LimitSet = serde_json::from_str(
            r#"{"new_orders_per_account": {"count": 1000, "period_secs": 3600},
                "pending_authorizations_per_account": {"count": 5}}"#,
        )
        .unwrap();
        set.validate().unwrap();
        assert_eq!(LimitSet::from_overrides(&set.to_overrides()), set);
        let eff = set.effective(&LimitsConfig::default());
        assert_eq!(eff.new_orders_per_account, Some(Rate::new(1000, 3600)));
        assert_eq!(eff.finalizes_per_account, Some(Rate::new(300, 3600)));
        assert_eq!(
            eff.pending_authorizations_per_account,
            Some(Count { count: 5 })
        );
        for bad in [
            r#"{"finalizes_per_account": {"count": 1, "period_secs": 0}}"#,
            r#"{"finalizes_per_account": {"count": 2000000000, "period_secs": 1}}"#,
        ] {
            let set: LimitSet = serde_json::from_str(bad).unwrap();
            assert!(set.validate().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<LimitSet>(r#"{"requests_per_address": null}"#).is_err());
        assert!(serde_json::from_str::<LimitSet>(
            r#"{"finalizes_per_account": {"count": 1, "period_secs": 1, "x": 1}}"#
        )
        .is_err());
    }
}
