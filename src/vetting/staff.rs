//! Staff identities: members with roles, a password (argon2id) and a TOTP
//! secret (RFC 6238, sealed like EAB keys), and per-member API tokens
//! (stored as SHA-256, shown once). Every change is audited; the acting
//! member is an authenticated `StaffIdentity`, never a typed name.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use super::{sealing, totp, Vetting};
use crate::core::staff::{StaffIdentity, StaffMember, StaffRole, StaffToken};
use crate::error::{Error, ErrorKind, Result};
use crate::sa::{self, audit::NewEvent, staff::StaffRecord, DbConn};

/// The issuer authenticator apps show beside the account name.
const TOTP_ISSUER: &str = "trustgate";
/// Failed logins in a row before the member is locked out for a while.
const MAX_FAILED_LOGINS: i32 = 5;
const LOCKOUT: Duration = Duration::minutes(15);
/// `last_used_at` is written at most this often per token.
const TOKEN_USE_GRANULARITY: Duration = Duration::hours(1);

/// A secret shown once (a one-time password, a token): never in a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Secret {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What `add` and `reset` hand to the member, once.
#[derive(Debug)]
pub struct Enrolment {
    pub member: StaffMember,
    pub password: Secret,
    /// `otpauth://` Key URI (carries the TOTP secret).
    pub otpauth_uri: Secret,
    /// The TOTP secret in base32, for typing into an app.
    pub totp_secret: Secret,
}

/// The actor of what is done before anyone has logged in.
const UNAUTHENTICATED: &str = "unauthenticated";
/// A name tried at login is recorded up to this many characters.
const MAX_AUDITED_NAME: usize = 64;

/// Why a login was refused, as the audit log records it (the person
/// trying is told only that it failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    UnknownName,
    Disabled,
    Locked,
    WrongPassword,
    /// The password was right; the code was not.
    WrongCode,
    CodeReused,
}

impl LoginRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginRefusal::UnknownName => "unknown_name",
            LoginRefusal::Disabled => "disabled",
            LoginRefusal::Locked => "locked",
            LoginRefusal::WrongPassword => "wrong_password",
            LoginRefusal::WrongCode => "wrong_code",
            LoginRefusal::CodeReused => "code_reused",
        }
    }
}

/// A refused login: why, whose (if the name is a member's), and the
/// error the caller answers with.
struct Refused {
    why: LoginRefusal,
    member: Option<StaffMember>,
    error: Error,
}

/// A bearer token's verdict: refused ones are a 401, not an error.
#[derive(Debug)]
pub enum TokenCheck {
    Valid(StaffIdentity),
    Refused(&'static str),
}

fn random(n: usize) -> Result<Vec<u8>> {
    let mut b = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Error::internal("OS random number generator failed"))?;
    Ok(b)
}

/// argon2id (the crate's defaults: RFC 9106's second recommendation
/// scaled to m = 19 MiB, t = 2, p = 1) as a PHC string.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&random(16)?)
        .map_err(|e| Error::internal(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("hashing a password: {e}")))
}

/// Whether `password` matches the PHC string (its parameters are read
/// from it, so stored hashes survive a change of defaults).
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The sealing context of a member's TOTP secret: a sealed secret
/// cannot be moved to another member's row.
fn totp_context(name: &str) -> String {
    format!("staff-totp:{name}")
}

fn subject(m: &StaffMember) -> String {
    m.identity().actor()
}

fn conflict(detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::Conflict, detail)
}

fn no_member(name: &str) -> Error {
    Error::not_found(format!("no staff member {name:?}"))
}

/// Staff management needs the `approve` role: the most trusted one.
fn require_manager(by: &StaffIdentity) -> Result<()> {
    if by.may(StaffRole::Approve) {
        Ok(())
    } else {
        Err(Error::unauthorized(format!(
            "{} does not have the approve role, which managing staff needs",
            by.name
        )))
    }
}

fn valid_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(Error::malformed(format!(
            "staff name {name:?}: 1 to 64 letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

/// Fresh one-time password and TOTP secret, and their stored forms.
struct Credentials {
    password: String,
    password_hash: String,
    totp: Vec<u8>,
    sealed_totp: Vec<u8>,
}

impl Vetting {
    fn new_credentials(&self, name: &str) -> Result<Credentials> {
        let password = B64.encode(random(18)?);
        let password_hash = hash_password(&password)?;
        let totp = totp::new_secret()?;
        let sealed_totp = sealing::seal(&self.cfg, &totp_context(name), &totp)?;
        Ok(Credentials {
            password,
            password_hash,
            totp,
            sealed_totp,
        })
    }

    fn enrolment(member: StaffMember, c: Credentials) -> Enrolment {
        Enrolment {
            otpauth_uri: Secret(totp::otpauth_uri(TOTP_ISSUER, &member.name, &c.totp)),
            totp_secret: Secret(totp::base32(&c.totp)),
            password: Secret(c.password),
            member,
        }
    }

    /// Adds a member with a one-time password and a TOTP secret. `by` is
    /// None only for the first member (the operator holding the database
    /// bootstraps); after that a member with the approve role adds.
    pub async fn add_staff(
        &self,
        by: Option<&StaffIdentity>,
        name: &str,
        roles: Vec<StaffRole>,
    ) -> Result<Enrolment> {
        valid_name(name)?;
        if roles.is_empty() {
            return Err(Error::malformed("a staff member needs at least one role"));
        }
        if let Some(by) = by {
            require_manager(by)?;
        }
        let creds = self.new_credentials(name)?;
        let actor = by.map_or_else(|| "host".to_owned(), StaffIdentity::actor);
        let bootstrap = by.is_none();
        let (name2, hash, sealed) = (
            name.to_owned(),
            creds.password_hash.clone(),
            creds.sealed_totp.clone(),
        );
        let now = self.clock.now();
        let request = crate::http::current_request_id();
        let member = self
            .store
            .write(move |c| {
                if bootstrap {
                    sa::staff::lock_for_bootstrap(c)?;
                }
                if bootstrap && sa::staff::count(c)? > 0 {
                    return Err(Error::unauthorized(
                        "staff exist: adding another needs a staff member with the approve \
                         role (--staff or TRUSTGATE_STAFF_TOKEN)",
                    ));
                }
                let member = sa::staff::insert(
                    c,
                    sa::staff::NewStaff {
                        name: &name2,
                        roles: &roles,
                        password_hash: &hash,
                        totp_secret: &sealed,
                        created_by: &actor,
                    },
                    now,
                )?;
                let details = serde_json::json!({"roles": member.roles, "bootstrap": bootstrap});
                staff_event(c, &actor, "staff.add", &member, details, request, now)?;
                Ok(member)
            })
            .await?;
        Ok(Self::enrolment(member, creds))
    }

    pub async fn list_staff(&self) -> Result<Vec<StaffMember>> {
        self.store.read(sa::staff::list).await
    }

    /// Disables a member: their password and every token stop working.
    pub async fn disable_staff(&self, by: &StaffIdentity, name: &str) -> Result<StaffMember> {
        require_manager(by)?;
        let (actor, name) = (by.actor(), name.to_owned());
        let now = self.clock.now();
        let request = crate::http::current_request_id();
        self.store
            .write(move |c| {
                let rec = sa::staff::by_name(c, &name)?.ok_or_else(|| no_member(&name))?;
                if !sa::staff::disable(c, rec.member.id, now)? {
                    return Err(conflict(format!("{name:?} is already disabled")));
                }
                staff_event(
                    c,
                    &actor,
                    "staff.disable",
                    &rec.member,
                    serde_json::json!({}),
                    request,
                    now,
                )?;
                Ok(StaffMember {
                    disabled_at: Some(now),
                    ..rec.member
                })
            })
            .await
    }

    /// A new one-time password and TOTP secret (a lost phone, a
    /// forgotten password); the member's tokens are left as they are.
    pub async fn reset_staff(&self, by: &StaffIdentity, name: &str) -> Result<Enrolment> {
        require_manager(by)?;
        let creds = self.new_credentials(name)?;
        let (actor, name) = (by.actor(), name.to_owned());
        let (hash, sealed) = (creds.password_hash.clone(), creds.sealed_totp.clone());
        let now = self.clock.now();
        let request = crate::http::current_request_id();
        let member = self
            .store
            .write(move |c| {
                let rec = sa::staff::by_name(c, &name)?.ok_or_else(|| no_member(&name))?;
                sa::staff::reset(c, rec.member.id, &hash, &sealed)?;
                staff_event(
                    c,
                    &actor,
                    "staff.reset",
                    &rec.member,
                    serde_json::json!({}),
                    request,
                    now,
                )?;
                Ok(StaffMember {
                    must_change_password: true,
                    ..rec.member
                })
            })
            .await?;
        Ok(Self::enrolment(member, creds))
    }

    /// A new API token for `name`: a member makes their own; one with the
    /// approve role makes anyone's. The token is returned once.
    pub async fn create_token(
        &self,
        by: &StaffIdentity,
        name: &str,
        label: &str,
    ) -> Result<(StaffToken, Secret)> {
        if by.name != name {
            require_manager(by)?;
        }
        if label.trim().is_empty() {
            return Err(Error::malformed("a token needs a label"));
        }
        let token = format!("tgs_{}", B64.encode(random(32)?));
        let hash = sha256_hex(token.as_bytes());
        let (actor, name, label) = (by.actor(), name.to_owned(), label.to_owned());
        let now = self.clock.now();
        let request = crate::http::current_request_id();
        let created = self
            .store
            .write(move |c| {
                let rec = sa::staff::by_name(c, &name)?.ok_or_else(|| no_member(&name))?;
                if rec.member.disabled_at.is_some() {
                    return Err(conflict(format!("{name:?} is disabled")));
                }
                let t = sa::staff::insert_token(c, rec.member.id, &label, &hash, now)?;
                staff_event(
                    c,
                    &actor,
                    "staff.token.create",
                    &rec.member,
                    serde_json::json!({"token": t.id, "label": t.label}),
                    request,
                    now,
                )?;
                Ok(t)
            })
            .await?;
        Ok((created, Secret(token)))
    }

    /// Revokes token `id`: the member's own, or anyone's with approve.
    pub async fn revoke_token(&self, by: &StaffIdentity, id: i64) -> Result<StaffToken> {
        let (who, actor) = (by.clone(), by.actor());
        let now = self.clock.now();
        let request = crate::http::current_request_id();
        self.store
            .write(move |c| {
                let t = sa::staff::token(c, id)?
                    .ok_or_else(|| Error::not_found(format!("no staff token {id}")))?;
                if t.staff != who.id {
                    require_manager(&who)?;
                }
                if !sa::staff::revoke_token(c, id, now)? {
                    return Err(conflict(format!("token {id} is already revoked")));
                }
                let owner = sa::staff::by_id(c, t.staff)?
                    .ok_or_else(|| Error::internal("a token without its member"))?;
                staff_event(
                    c,
                    &actor,
                    "staff.token.revoke",
                    &owner.member,
                    serde_json::json!({"token": id, "label": t.label}),
                    request,
                    now,
                )?;
                Ok(StaffToken {
                    revoked_at: Some(now),
                    ..t
                })
            })
            .await
    }

    pub async fn list_tokens(&self, name: &str) -> Result<Vec<StaffToken>> {
        let name = name.to_owned();
        self.store
            .read(move |c| {
                let rec = sa::staff::by_name(c, &name)?.ok_or_else(|| no_member(&name))?;
                sa::staff::tokens_of(c, rec.member.id)
            })
            .await
    }

    /// The member a bearer token belongs to. Candidates are found by the
    /// hash's first digits, then every candidate's whole hash is compared
    /// in constant time.
    pub async fn authenticate_token(&self, token: &str) -> Result<TokenCheck> {
        let hash = sha256_hex(token.as_bytes());
        let prefix = hash[..8].to_owned();
        let candidates = self
            .store
            .read(move |c| sa::staff::tokens_with_prefix(c, &prefix))
            .await?;
        let mut found = None;
        for (t, stored) in candidates {
            if bool::from(stored.as_bytes().ct_eq(hash.as_bytes())) {
                found = Some(t);
            }
        }
        let Some(t) = found else {
            return Ok(TokenCheck::Refused("the bearer token is not valid"));
        };
        if t.revoked_at.is_some() {
            return Ok(TokenCheck::Refused("the bearer token is revoked"));
        }
        let staff = t.staff;
        let Some(rec) = self.store.read(move |c| sa::staff::by_id(c, staff)).await? else {
            return Ok(TokenCheck::Refused("the bearer token is not valid"));
        };
        if rec.member.disabled_at.is_some() {
            return Ok(TokenCheck::Refused("the staff member is disabled"));
        }
        self.note_token_use(&t).await?;
        Ok(TokenCheck::Valid(rec.member.identity()))
    }

    /// `last_used_at`, written at most once an hour per token so that
    /// reads stay reads.
    async fn note_token_use(&self, t: &StaffToken) -> Result<()> {
        let now = self.clock.now();
        if t.last_used_at
            .is_some_and(|u| now - u < TOKEN_USE_GRANULARITY)
        {
            return Ok(());
        }
        let id = t.id;
        self.store
            .write_deferred(move |c| sa::staff::token_used(c, id, now))
            .await
    }

    /// A member's password and current TOTP code: the identity, or
    /// `unauthorized` saying no more than that the login failed. Each
    /// code is good once; five failures in a row lock the member out for
    /// fifteen minutes.
    pub async fn login(&self, name: &str, password: &str, code: &str) -> Result<StaffIdentity> {
        match self.check_login(name, password, code).await? {
            Ok(who) => Ok(who),
            Err(refused) => Err(refused.error),
        }
    }

    /// As `login`, for the console: the outcome is audited too,
    /// `staff.login` or `staff.login_refused` with the name tried, the
    /// client's address and why (never the password or the code).
    pub async fn login_audited(
        &self,
        name: &str,
        password: &str,
        code: &str,
        address: Option<std::net::IpAddr>,
    ) -> Result<StaffIdentity> {
        let outcome = self.check_login(name, password, code).await?;
        let tried: String = name.chars().take(MAX_AUDITED_NAME).collect();
        let address = address.map(|a| a.to_string());
        let (actor, action, subject, details) = match &outcome {
            Ok(who) => (
                who.actor(),
                "staff.login",
                who.actor(),
                serde_json::json!({"address": address}),
            ),
            Err(r) => (
                UNAUTHENTICATED.to_owned(),
                "staff.login_refused",
                r.member
                    .as_ref()
                    .map_or_else(|| format!("staff:{tried}"), subject),
                serde_json::json!({"name": tried, "address": address, "reason": r.why.as_str()}),
            ),
        };
        let (now, request) = (self.clock.now(), crate::http::current_request_id());
        self.store
            .write(move |c| {
                sa::audit::append(
                    c,
                    NewEvent {
                        actor: &actor,
                        action,
                        organization: None,
                        subject,
                        reason: None,
                        details,
                        request_id: request,
                    },
                    now,
                )
            })
            .await?;
        outcome.map_err(|r| r.error)
    }

    /// The login's verdict: an identity, or why it was refused.
    async fn check_login(
        &self,
        name: &str,
        password: &str,
        code: &str,
    ) -> Result<std::result::Result<StaffIdentity, Refused>> {
        let refused = |why, member: Option<&StaffMember>, error| {
            Ok(Err(Refused {
                why,
                member: member.cloned(),
                error,
            }))
        };
        let wrong = || Error::unauthorized("staff login failed: name, password or code is wrong");
        let (n, now) = (name.to_owned(), self.clock.now());
        let rec = self.store.read(move |c| sa::staff::by_name(c, &n)).await?;
        let Some(rec) = rec else {
            // The same work as for a member, so timing does not tell names.
            let _ = verify_password(dummy_phc(), password);
            return refused(LoginRefusal::UnknownName, None, wrong());
        };
        let member = Some(&rec.member);
        if rec.member.disabled_at.is_some() {
            let e = Error::unauthorized(format!("staff member {name:?} is disabled"));
            return refused(LoginRefusal::Disabled, member, e);
        }
        if rec.locked_until.is_some_and(|t| t > now) {
            let e = Error::unauthorized(format!(
                "staff member {name:?} is locked out after {MAX_FAILED_LOGINS} failed logins; try again later"
            ));
            return refused(LoginRefusal::Locked, member, e);
        }
        let secret = sealing::open(&self.cfg, &totp_context(name), &rec.totp_secret)?;
        let password_ok = verify_password(&rec.password_hash, password);
        let step = totp::matching_step(&secret, code, now);
        let id = rec.member.id;
        match (password_ok, step) {
            (true, Some(step)) => {
                let fresh = self
                    .store
                    .write(move |c| sa::staff::claim_totp_step(c, id, step))
                    .await?;
                if !fresh {
                    let e = Error::unauthorized(
                        "staff login failed: that code was used already; wait for the next one",
                    );
                    return refused(LoginRefusal::CodeReused, member, e);
                }
                Ok(Ok(rec.member.identity()))
            }
            (ok, _) => {
                self.login_failed(&rec).await?;
                let why = if ok {
                    LoginRefusal::WrongCode
                } else {
                    LoginRefusal::WrongPassword
                };
                refused(why, member, wrong())
            }
        }
    }

    async fn login_failed(&self, rec: &StaffRecord) -> Result<()> {
        let now = self.clock.now();
        let failures = rec.failed_logins.saturating_add(1);
        let (count, lock) = if failures >= MAX_FAILED_LOGINS {
            (0, Some(now + LOCKOUT))
        } else {
            (failures, None)
        };
        let (id, actor) = (rec.member.id, rec.member.identity().actor());
        let member = rec.member.clone();
        let request = crate::http::current_request_id();
        self.store
            .write(move |c| {
                sa::staff::login_failed(c, id, count, lock)?;
                if lock.is_some() {
                    staff_event(
                        c,
                        &actor,
                        "staff.locked",
                        &member,
                        serde_json::json!({"failed_logins": failures}),
                        request,
                        now,
                    )?;
                }
                Ok(())
            })
            .await
    }

    /// Replaces a one-time (or any) password; `by` is the member, just
    /// authenticated with the old one.
    pub async fn change_password(&self, by: &StaffIdentity, new_password: &str) -> Result<()> {
        if new_password.chars().count() < 12 {
            return Err(Error::malformed(
                "a staff password has at least 12 characters",
            ));
        }
        let hash = hash_password(new_password)?;
        let (who, actor) = (by.clone(), by.actor());
        let now = self.clock.now();
        let request = crate::http::current_request_id();
        self.store
            .write(move |c| {
                let rec = sa::staff::by_id(c, who.id)?.ok_or_else(|| no_member(&who.name))?;
                sa::staff::set_password(c, who.id, &hash)?;
                staff_event(
                    c,
                    &actor,
                    "staff.password",
                    &rec.member,
                    serde_json::json!({}),
                    request,
                    now,
                )
            })
            .await
    }
}

/// What a member's authenticator app shows at `at`, from the base32
/// secret they were given (for harnesses that enrol members).
pub fn totp_code(secret_base32: &str, at: OffsetDateTime) -> Result<String> {
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret_base32.trim().as_bytes())
        .map_err(|_| Error::malformed("the TOTP secret is not base32"))?;
    Ok(totp::code(&secret, totp::step_at(at)))
}

/// A hash of a random password, verified when a name is unknown.
pub(super) fn dummy_phc() -> &'static str {
    static PHC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PHC.get_or_init(|| {
        random(18)
            .and_then(|p| hash_password(&B64.encode(p)))
            .unwrap_or_default()
    })
}

fn staff_event(
    c: &mut DbConn,
    actor: &str,
    action: &str,
    member: &StaffMember,
    details: serde_json::Value,
    request_id: Option<crate::http::RequestId>,
    now: OffsetDateTime,
) -> Result<()> {
    sa::audit::append(
        c,
        NewEvent {
            actor,
            action,
            organization: None,
            subject: subject(member),
            reason: None,
            details,
            request_id,
        },
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_verify_and_redact() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horsf"));
        assert!(!verify_password("not a phc string", "x"));
        assert!(!verify_password(dummy_phc(), ""));
        assert_ne!(h, hash_password("correct horse").unwrap(), "salted");
        let s = Secret::new("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
