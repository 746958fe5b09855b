//! Customer sessions, as the console's: a random 256-bit id in an
//! HttpOnly cookie, stored as its SHA-256 with the CSRF token of the
//! session's forms, ended by logout, an idle timeout or an absolute
//! timeout.

use time::{Duration, OffsetDateTime};

use crate::core::customer::Customer;
use crate::core::{CustomerId, OrganizationId};
use crate::error::{Error, Result};
use crate::http::page::{random_token, same_secret, token_hash};
use crate::sa;
use crate::vetting::Vetting;

/// The session cookie's name.
pub const COOKIE: &str = "tg_portal_session";
/// `last_seen_at` is written at most this often.
const TOUCH_GRANULARITY: Duration = Duration::minutes(1);

/// A signed-in customer: who, the organization their pages are scoped
/// to, and the token every form of theirs carries.
pub struct Session {
    pub customer: Customer,
    pub csrf: String,
    id_hash: String,
}

impl Session {
    /// The customer account's id.
    pub fn account(&self) -> CustomerId {
        self.customer.id
    }

    /// The customer's organization: every organization-scoped page loads
    /// its data through it (`WHERE organization_id = …`). `NotFound`
    /// (the portal's 404 page) while no application created one.
    pub fn organization(&self) -> Result<OrganizationId> {
        self.customer
            .organization
            .ok_or_else(|| Error::not_found("the customer has no organization yet"))
    }

    /// Whether a submitted form token is this session's (constant time).
    pub fn csrf_ok(&self, given: Option<&str>) -> bool {
        same_secret(&self.csrf, given)
    }
}

pub struct Sessions {
    vetting: Vetting,
    idle: Duration,
    absolute: Duration,
}

impl Sessions {
    pub fn new(vetting: Vetting, idle: Duration, absolute: Duration) -> Sessions {
        Sessions {
            vetting,
            idle,
            absolute,
        }
    }

    /// A new session for `customer`: the cookie value (shown only to the
    /// browser).
    pub async fn start(&self, customer: CustomerId) -> Result<String> {
        let id = random_token(32)?;
        let csrf = random_token(32)?;
        let (h, now) = (token_hash(&id), self.vetting.clock().now());
        let (idle_before, created_before) = (now - self.idle, now - self.absolute);
        self.vetting
            .store()
            .write(move |c| {
                sa::customer_sessions::delete_expired(c, idle_before, created_before)?;
                sa::customer_sessions::insert(c, &h, customer, &csrf, now)
            })
            .await?;
        Ok(id)
    }

    /// The live session of cookie value `id`, if any: unknown or expired
    /// reads as none (an expired row is deleted).
    pub async fn find(&self, id: &str) -> Result<Option<Session>> {
        let h = token_hash(id);
        let now = self.vetting.clock().now();
        let h2 = h.clone();
        let found = self
            .vetting
            .store()
            .read(move |c| {
                let Some(s) = sa::customer_sessions::by_hash(c, &h2)? else {
                    return Ok(None);
                };
                Ok(sa::customers::by_id(c, s.customer)?.map(|who| (s, who)))
            })
            .await?;
        let Some((stored, customer)) = found else {
            return Ok(None);
        };
        if !self.live(stored.created_at, stored.last_seen_at, now) {
            self.end_hash(h).await?;
            return Ok(None);
        }
        if now - stored.last_seen_at >= TOUCH_GRANULARITY {
            let h3 = h.clone();
            self.vetting
                .store()
                .write(move |c| sa::customer_sessions::touch(c, &h3, now))
                .await?;
        }
        Ok(Some(Session {
            customer,
            csrf: stored.csrf_token,
            id_hash: h,
        }))
    }

    fn live(&self, created: OffsetDateTime, seen: OffsetDateTime, now: OffsetDateTime) -> bool {
        seen + self.idle > now && created + self.absolute > now
    }

    /// Logout: the row goes, so the cookie is worth nothing.
    pub async fn end(&self, s: &Session) -> Result<()> {
        self.end_hash(s.id_hash.clone()).await
    }

    async fn end_hash(&self, h: String) -> Result<()> {
        self.vetting
            .store()
            .write(move |c| sa::customer_sessions::delete(c, &h))
            .await
    }
}
