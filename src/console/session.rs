//! Console sessions: a random 256-bit id in an HttpOnly cookie, stored as
//! its SHA-256 with a CSRF token, ended by logout, an idle timeout or an
//! absolute timeout.

use time::{Duration, OffsetDateTime};

use crate::core::staff::StaffIdentity;
use crate::error::Result;
pub use crate::http::page::random_token;
use crate::http::page::{same_secret, token_hash as hash};
use crate::sa;
use crate::vetting::Vetting;

/// The session cookie's name.
pub const COOKIE: &str = "tg_session";
/// `last_seen_at` is written at most this often: the idle timeout does
/// not need a write per page.
const TOUCH_GRANULARITY: Duration = Duration::minutes(1);

/// A live session: who, and the token its forms must carry.
pub struct Session {
    pub staff: StaffIdentity,
    pub csrf: String,
    /// The member still has the one-time password of `staff add`/`reset`.
    pub must_change_password: bool,
    id_hash: String,
}

impl Session {
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

    /// A new session for `staff`: the cookie value (shown only to the browser).
    pub async fn start(&self, staff: &StaffIdentity) -> Result<String> {
        let id = random_token(32)?;
        let csrf = random_token(32)?;
        let (h, who, now) = (hash(&id), staff.id, self.vetting.clock().now());
        let (idle_before, created_before) = (now - self.idle, now - self.absolute);
        self.vetting
            .store()
            .write(move |c| {
                sa::staff_sessions::delete_expired(c, idle_before, created_before)?;
                sa::staff_sessions::insert(c, &h, who, &csrf, now)
            })
            .await?;
        Ok(id)
    }

    /// The live session of cookie value `id`, if any: unknown, expired, or
    /// of a disabled member reads as none (an expired row is deleted).
    pub async fn find(&self, id: &str) -> Result<Option<Session>> {
        let h = hash(id);
        let now = self.vetting.clock().now();
        let h2 = h.clone();
        let found = self
            .vetting
            .store()
            .read(move |c| {
                let Some(s) = sa::staff_sessions::by_hash(c, &h2)? else {
                    return Ok(None);
                };
                let member = sa::staff::by_id(c, s.staff)?;
                Ok(member.map(|m| (s, m.member)))
            })
            .await?;
        let Some((stored, member)) = found else {
            return Ok(None);
        };
        if !self.live(stored.created_at, stored.last_seen_at, now) || member.disabled_at.is_some() {
            self.end(id).await?;
            return Ok(None);
        }
        if now - stored.last_seen_at >= TOUCH_GRANULARITY {
            let h3 = h.clone();
            self.vetting
                .store()
                .write(move |c| sa::staff_sessions::touch(c, &h3, now))
                .await?;
        }
        Ok(Some(Session {
            must_change_password: member.must_change_password,
            staff: member.identity(),
            csrf: stored.csrf_token,
            id_hash: h,
        }))
    }

    fn live(&self, created: OffsetDateTime, seen: OffsetDateTime, now: OffsetDateTime) -> bool {
        seen + self.idle > now && created + self.absolute > now
    }

    /// Logout: the row goes, so the cookie is worth nothing.
    pub async fn end(&self, id: &str) -> Result<()> {
        let h = hash(id);
        self.vetting
            .store()
            .write(move |c| sa::staff_sessions::delete(c, &h))
            .await
    }

    pub async fn end_session(&self, s: &Session) -> Result<()> {
        let h = s.id_hash.clone();
        self.vetting
            .store()
            .write(move |c| sa::staff_sessions::delete(c, &h))
            .await
    }
}
