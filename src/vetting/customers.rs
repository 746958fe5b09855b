//! Customer accounts of the portal: sign-up (the account holder's data
//! checked field by field, the subscriber agreement accepted, a one-time
//! e-mail link written to the outbox), e-mail verification, login
//! (argon2id, refused until verified), agreement acceptance. Each is
//! audited: `customer.signup`, `customer.verify`, `customer.login`,
//! `customer.login_refused`, `agreement.accept`.

use std::net::IpAddr;

use time::{Duration, OffsetDateTime};

use super::staff::{dummy_phc, hash_password, verify_password, Secret};
use super::Vetting;
use crate::core::customer::{AccountHolder, Customer, Language};
use crate::core::names::check_email_address;
use crate::core::CustomerId;
use crate::error::Result;
use crate::http::page::{random_token, token_hash};
use crate::mail::notices::{self, EmailVerification};
use crate::sa::{self, audit::NewEvent, customers::NewCustomer, outbox::NewNotice, DbConn};

/// A verification link works this long.
pub const VERIFICATION_VALIDITY: Duration = Duration::hours(24);
/// The shortest password accepted (as for staff).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longer passwords are refused before hashing: argon2 work grows with
/// the input, and nobody types more.
const MAX_PASSWORD_BYTES: usize = 256;
/// Who audit events name before a login succeeded.
const UNAUTHENTICATED: &str = "unauthenticated";

/// What a visitor submits on the sign-up form.
pub struct SignUp {
    pub email: String,
    pub password: Secret,
    pub password_again: Secret,
    pub holder: AccountHolder,
    pub language: Language,
    /// The agreement version the form showed, when its box was ticked.
    pub accepted_version: Option<String>,
    pub address: Option<IpAddr>,
}

/// A sign-up form field, named as the form names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Email,
    Password,
    PasswordAgain,
    ContactName,
    Organization,
    Department,
    PostalCode,
    Address,
    Phone,
    Fax,
    Agreement,
}

impl Field {
    pub fn name(self) -> &'static str {
        match self {
            Field::Email => "email",
            Field::Password => "password",
            Field::PasswordAgain => "password_again",
            Field::ContactName => "contact_name",
            Field::Organization => "organization",
            Field::Department => "department",
            Field::PostalCode => "postal_code",
            Field::Address => "address",
            Field::Phone => "phone",
            Field::Fax => "fax",
            Field::Agreement => "agree",
        }
    }
}

/// What is wrong with a field (the portal words it in the page's language).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Required,
    /// More characters than the number.
    TooLong(usize),
    /// Fewer characters than the number.
    TooShort(usize),
    NotEmail,
    /// The two passwords differ.
    Mismatch,
    /// Not a Japanese postal code (123-4567).
    PostalCode,
    /// Not a phone number (digits, with + - ( ) and spaces).
    Phone,
    /// A control character (a line break in a one-line field).
    ControlCharacter,
    /// The box was not ticked, or a newer agreement is in force.
    NotAccepted,
}

/// The outcome of a sign-up a visitor is told about: the same for a new
/// address and a taken one, so the form does not tell who has an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedUp {
    /// A link was written to the outbox for this address.
    LinkSent,
    /// The address has an account; nothing was changed or sent.
    AddressTaken,
}

/// Every problem of a sign-up, field by field, so all are shown at once.
pub fn sign_up_problems(s: &SignUp, agreement_version: &str) -> Vec<(Field, Problem)> {
    let mut p = Vec::new();
    let h = &s.holder;
    text(&mut p, Field::Email, &s.email, true, 254);
    if !s.email.trim().is_empty() && check_email_address(s.email.trim()).is_err() {
        p.push((Field::Email, Problem::NotEmail));
    }
    password_problems(&mut p, s);
    text(&mut p, Field::ContactName, &h.contact_name, true, 100);
    text(&mut p, Field::Organization, &h.organization, true, 200);
    text(&mut p, Field::Department, &h.department, false, 100);
    text(&mut p, Field::PostalCode, &h.postal_code, true, 8);
    if !h.postal_code.trim().is_empty() && !postal_code_ok(h.postal_code.trim()) {
        p.push((Field::PostalCode, Problem::PostalCode));
    }
    text(&mut p, Field::Address, &h.address, true, 300);
    phone(&mut p, Field::Phone, &h.phone, true);
    phone(&mut p, Field::Fax, &h.fax, false);
    if s.accepted_version.as_deref() != Some(agreement_version) {
        p.push((Field::Agreement, Problem::NotAccepted));
    }
    dedup_fields(p)
}

/// One problem per field: the first found.
fn dedup_fields(p: Vec<(Field, Problem)>) -> Vec<(Field, Problem)> {
    let mut out: Vec<(Field, Problem)> = Vec::new();
    for (f, why) in p {
        if !out.iter().any(|(g, _)| *g == f) {
            out.push((f, why));
        }
    }
    out
}

fn text(p: &mut Vec<(Field, Problem)>, f: Field, v: &str, required: bool, max: usize) {
    let v = v.trim();
    if required && v.is_empty() {
        p.push((f, Problem::Required));
    } else if v.chars().count() > max {
        p.push((f, Problem::TooLong(max)));
    } else if v.chars().any(char::is_control) {
        p.push((f, Problem::ControlCharacter));
    }
}

fn password_problems(p: &mut Vec<(Field, Problem)>, s: &SignUp) {
    let pw = s.password.expose();
    if pw.is_empty() {
        p.push((Field::Password, Problem::Required));
    } else if pw.chars().count() < MIN_PASSWORD_CHARS {
        p.push((Field::Password, Problem::TooShort(MIN_PASSWORD_CHARS)));
    } else if pw.len() > MAX_PASSWORD_BYTES {
        p.push((Field::Password, Problem::TooLong(MAX_PASSWORD_BYTES)));
    } else if pw != s.password_again.expose() {
        p.push((Field::PasswordAgain, Problem::Mismatch));
    }
}

/// 123-4567 or 1234567.
fn postal_code_ok(v: &str) -> bool {
    let digits: String = v.chars().filter(|c| *c != '-').collect();
    let hyphen_ok = match v.find('-') {
        None => true,
        Some(i) => i == 3 && v.matches('-').count() == 1,
    };
    digits.len() == 7 && digits.bytes().all(|b| b.is_ascii_digit()) && hyphen_ok
}

fn phone(p: &mut Vec<(Field, Problem)>, f: Field, v: &str, required: bool) {
    let v = v.trim();
    if v.is_empty() {
        if required {
            p.push((f, Problem::Required));
        }
        return;
    }
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    let chars_ok = v
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_digit() || b"-() ".contains(&b) || (b == b'+' && i == 0));
    if v.len() > 24 {
        p.push((f, Problem::TooLong(24)));
    } else if !chars_ok || !(6..=15).contains(&digits) {
        p.push((f, Problem::Phone));
    }
}

/// The holder's data as stored: trimmed.
fn trimmed(h: &AccountHolder) -> AccountHolder {
    AccountHolder {
        contact_name: h.contact_name.trim().to_owned(),
        organization: h.organization.trim().to_owned(),
        department: h.department.trim().to_owned(),
        postal_code: h.postal_code.trim().to_owned(),
        address: h.address.trim().to_owned(),
        phone: h.phone.trim().to_owned(),
        fax: h.fax.trim().to_owned(),
    }
}

fn address_text(a: Option<IpAddr>) -> Option<String> {
    a.map(|a| a.to_string())
}

impl Vetting {
    /// Creates an unverified account, records the agreement's acceptance
    /// and writes the verification link to the outbox, in one
    /// transaction; or the problems, field by field, with nothing stored.
    /// `link_base` is the portal's public origin.
    pub async fn sign_up(
        &self,
        s: SignUp,
        agreement_version: &str,
        link_base: &str,
    ) -> Result<std::result::Result<SignedUp, Vec<(Field, Problem)>>> {
        let problems = sign_up_problems(&s, agreement_version);
        if !problems.is_empty() {
            return Ok(Err(problems));
        }
        let email = s.email.trim().to_ascii_lowercase();
        let hash = hash_password(s.password.expose())?;
        let holder = trimmed(&s.holder);
        let token = random_token(32)?;
        let now = self.clock.now();
        let mail = EmailVerification {
            contact_name: holder.contact_name.clone(),
            link: format!("{}/verify?token={token}", link_base.trim_end_matches('/')),
            expires_at: now + VERIFICATION_VALIDITY,
        }
        .render(notices::Language::of(s.language))?;
        let (version, language) = (agreement_version.to_owned(), s.language);
        let (address, request) = (address_text(s.address), crate::http::current_request_id());
        let token_sha = token_hash(&token);
        self.store
            .write(move |c| {
                let new = NewCustomer {
                    email: &email,
                    password_hash: &hash,
                    holder: &holder,
                    language,
                };
                let Some(customer) = create_or_renew(c, &new, now)? else {
                    customer_event(
                        c,
                        UNAUTHENTICATED,
                        "customer.signup_refused",
                        &format!("customer:{email}"),
                        serde_json::json!({"reason": "address_taken", "address": address}),
                        request,
                        now,
                    )?;
                    return Ok(SignedUp::AddressTaken);
                };
                sa::customers::insert_acceptance(c, customer.id, &version, address.as_deref(), now)?;
                sa::customers::insert_email_token(c, &token_sha, customer.id, now + VERIFICATION_VALIDITY)?;
                sa::outbox::enqueue(
                    c,
                    &NewNotice {
                        kind: EmailVerification::KIND,
                        about: customer.subject(),
                        recipient: customer.email.clone(),
                        language: language.code(),
                        subject: mail.subject.clone(),
                        body: mail.body.clone(),
                    },
                    now,
                )?;
                let actor = customer.subject();
                customer_event(c, &actor, "customer.signup", &actor,
                    serde_json::json!({"email": customer.email, "agreement": version, "address": address}), request, now)?;
                Ok(SignedUp::LinkSent)
            })
            .await
            .map(Ok)
    }

    /// Opens a verification link: the account it verified, or `None`
    /// for an unknown, used or expired token.
    pub async fn verify_email(&self, token: &str) -> Result<Option<CustomerId>> {
        let (h, now, request) = (
            token_hash(token),
            self.clock.now(),
            crate::http::current_request_id(),
        );
        self.store
            .write(move |c| {
                let Some(id) = sa::customers::use_email_token(c, &h, now)? else {
                    return Ok(None);
                };
                let actor = format!("customer:{id}");
                customer_event(
                    c,
                    &actor,
                    "customer.verify",
                    &actor,
                    serde_json::json!({}),
                    request,
                    now,
                )?;
                Ok(Some(id))
            })
            .await
    }

    /// Checks an e-mail address and password, audited as `customer.login`
    /// or `customer.login_refused` (with the address tried and why; never
    /// the password). An unverified account is refused as such only
    /// after its password matched.
    pub async fn customer_login(
        &self,
        email: &str,
        password: &str,
        address: Option<IpAddr>,
    ) -> Result<std::result::Result<Customer, LoginRefusal>> {
        let email = email.trim().to_ascii_lowercase();
        let e2 = email.clone();
        let rec = self
            .store
            .read(move |c| sa::customers::by_email(c, &e2))
            .await?;
        let outcome = login_verdict(rec, password);
        let tried: String = email.chars().take(254).collect();
        let address = address_text(address);
        let (actor, action, subject, details) = match &outcome {
            Ok(c) => (
                c.subject(),
                "customer.login",
                c.subject(),
                serde_json::json!({ "address": address }),
            ),
            Err(r) => (
                UNAUTHENTICATED.to_owned(),
                "customer.login_refused",
                format!("customer:{tried}"),
                serde_json::json!({"email": tried, "address": address, "reason": r.reason()}),
            ),
        };
        let (now, request) = (self.clock.now(), crate::http::current_request_id());
        self.store
            .write(move |c| customer_event(c, &actor, action, &subject, details, request, now))
            .await?;
        Ok(outcome.map_err(|r| r.refusal()))
    }

    pub async fn customer(&self, id: CustomerId) -> Result<Option<Customer>> {
        self.store.read(move |c| sa::customers::by_id(c, id)).await
    }

    /// The agreement version the customer accepted last.
    pub async fn accepted_agreement(&self, id: CustomerId) -> Result<Option<String>> {
        let v = self
            .store
            .read(move |c| sa::customers::accepted_version(c, id))
            .await?;
        Ok(v.map(|(v, _)| v))
    }

    /// Records the customer's acceptance of agreement `version`, audited.
    pub async fn accept_agreement(
        &self,
        id: CustomerId,
        version: &str,
        address: Option<IpAddr>,
    ) -> Result<()> {
        let (version, address) = (version.to_owned(), address_text(address));
        let (now, request) = (self.clock.now(), crate::http::current_request_id());
        self.store
            .write(move |c| {
                sa::customers::insert_acceptance(c, id, &version, address.as_deref(), now)?;
                let actor = format!("customer:{id}");
                customer_event(
                    c,
                    &actor,
                    "agreement.accept",
                    &actor,
                    serde_json::json!({"version": version, "address": address}),
                    request,
                    now,
                )
            })
            .await
    }

    /// The language of the customer's pages and mail from now on.
    pub async fn set_customer_language(&self, id: CustomerId, language: Language) -> Result<()> {
        self.store
            .write(move |c| sa::customers::set_language(c, id, language))
            .await
    }
}

/// Why a login was refused, as the customer is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Unknown address or wrong password: one answer for both.
    Wrong,
    /// The password matched; the address is not confirmed yet.
    Unverified,
}

/// Why, as the audit event records it.
enum Refused {
    UnknownAddress,
    WrongPassword,
    Unverified,
}

impl Refused {
    fn reason(&self) -> &'static str {
        match self {
            Refused::UnknownAddress => "unknown_address",
            Refused::WrongPassword => "wrong_password",
            Refused::Unverified => "unverified",
        }
    }

    fn refusal(self) -> LoginRefusal {
        match self {
            Refused::Unverified => LoginRefusal::Unverified,
            Refused::UnknownAddress | Refused::WrongPassword => LoginRefusal::Wrong,
        }
    }
}

/// The password is checked (argon2id) whether or not the account exists,
/// so timing does not tell which addresses have one.
fn login_verdict(
    rec: Option<sa::customers::CustomerRecord>,
    password: &str,
) -> std::result::Result<Customer, Refused> {
    let password = if password.len() > MAX_PASSWORD_BYTES {
        ""
    } else {
        password
    };
    let Some(r) = rec else {
        let _ = verify_password(dummy_phc(), password);
        return Err(Refused::UnknownAddress);
    };
    if !verify_password(&r.password_hash, password) {
        return Err(Refused::WrongPassword);
    }
    if r.customer.verified_at.is_none() {
        return Err(Refused::Unverified);
    }
    Ok(r.customer)
}

/// A new account; or, for an address whose account was never verified
/// and whose link has expired, that account with the new sign-up's data
/// (an address is not held by someone who cannot read its mail); else
/// `None`: the address is taken. Looked up first: on PostgreSQL a
/// failed insert would end the transaction.
fn create_or_renew(
    c: &mut DbConn,
    new: &NewCustomer<'_>,
    now: OffsetDateTime,
) -> Result<Option<Customer>> {
    let Some(old) = sa::customers::by_email(c, new.email)? else {
        return sa::customers::insert(c, new, now);
    };
    let expired = old.customer.verified_at.is_none()
        && old.customer.created_at + VERIFICATION_VALIDITY <= now;
    if !expired {
        return Ok(None);
    }
    sa::customers::replace_unverified(c, old.customer.id, new, now).map(Some)
}

fn customer_event(
    c: &mut DbConn,
    actor: &str,
    action: &str,
    subject: &str,
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
            subject: subject.to_owned(),
            reason: None,
            details,
            request_id,
        },
        now,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use time::macros::datetime;

    use super::*;
    use crate::config::VettingConfig;
    use crate::core::Clock;
    use crate::sa::crls::testing::{scratch, TestDb};
    use crate::sa::Store;

    const START: OffsetDateTime = datetime!(2026-12-07 03:00 UTC);
    const VERSION: &str = "2026-12";
    const PASSWORD: &str = "correct horse battery";

    /// On PostgreSQL with TEST_DATABASE_URL, else SQLite; on a manual clock.
    fn vetting() -> (TestDb, Vetting, Clock) {
        let db = scratch();
        let clock = Clock::manual(START);
        let store = Store::open_with(
            &db.url,
            4,
            std::time::Duration::from_secs(5),
            clock.clone(),
            Arc::default(),
        )
        .unwrap();
        (db, Vetting::new(store, VettingConfig::default()), clock)
    }

    fn sign_up(email: &str) -> SignUp {
        SignUp {
            email: email.into(),
            password: Secret::new(PASSWORD.into()),
            password_again: Secret::new(PASSWORD.into()),
            holder: AccountHolder {
                contact_name: " 鈴木 一郎 ".into(),
                organization: "例示株式会社".into(),
                department: String::new(),
                postal_code: "1000005".into(),
                address: "東京都千代田区丸の内1-1-1".into(),
                phone: "+81 3-1234-5678".into(),
                fax: String::new(),
            },
            language: Language::En,
            accepted_version: Some(VERSION.into()),
            address: Some([192, 0, 2, 7].into()),
        }
    }

    /// A change to a good sign-up.
    type Tweak = Box<dyn FnOnce(&mut SignUp)>;

    fn problems_of(tweak: impl FnOnce(&mut SignUp)) -> Vec<(Field, Problem)> {
        let mut s = sign_up("a@example.jp");
        tweak(&mut s);
        sign_up_problems(&s, VERSION)
    }

    /// The token in the newest verification notice to `customer`.
    async fn mailed_token(v: &Vetting, customer: &Customer) -> String {
        let about = customer.subject();
        let notices = v
            .store()
            .read(move |c| sa::outbox::about(c, &about))
            .await
            .unwrap();
        let body = &notices.last().unwrap().body;
        let start = body.find("/verify?token=").unwrap() + "/verify?token=".len();
        body[start..].split_whitespace().next().unwrap().to_owned()
    }

    async fn stored(v: &Vetting, email: &str) -> Option<Customer> {
        let email = email.to_owned();
        v.store()
            .read(move |c| sa::customers::by_email(c, &email))
            .await
            .unwrap()
            .map(|r| r.customer)
    }

    #[test]
    fn a_good_sign_up_has_no_problem() {
        assert_eq!(problems_of(|_| {}), []);
    }

    #[test]
    fn each_field_is_checked_once_in_its_own_words() {
        let cases: Vec<(Tweak, Field, Problem)> = vec![
            (
                Box::new(|s| s.email = "a@b@".into()),
                Field::Email,
                Problem::NotEmail,
            ),
            (
                Box::new(|s| s.email = " ".into()),
                Field::Email,
                Problem::Required,
            ),
            (
                Box::new(|s| s.password = Secret::new("elevenchars".into())),
                Field::Password,
                Problem::TooShort(12),
            ),
            (
                Box::new(|s| s.password_again = Secret::new("other".into())),
                Field::PasswordAgain,
                Problem::Mismatch,
            ),
            (
                Box::new(|s| s.holder.organization = "x".repeat(201)),
                Field::Organization,
                Problem::TooLong(200),
            ),
            (
                Box::new(|s| s.holder.address = "a\u{0}b".into()),
                Field::Address,
                Problem::ControlCharacter,
            ),
            (
                Box::new(|s| s.holder.postal_code = "100-00051".into()),
                Field::PostalCode,
                Problem::TooLong(8),
            ),
            (
                Box::new(|s| s.holder.postal_code = "1000-005".into()),
                Field::PostalCode,
                Problem::PostalCode,
            ),
            (
                Box::new(|s| s.holder.phone = "03+1234".into()),
                Field::Phone,
                Problem::Phone,
            ),
            (
                Box::new(|s| s.holder.fax = "1234567890123456".into()),
                Field::Fax,
                Problem::Phone,
            ),
            (
                Box::new(|s| s.accepted_version = None),
                Field::Agreement,
                Problem::NotAccepted,
            ),
            (
                Box::new(|s| s.accepted_version = Some("2025-01".into())),
                Field::Agreement,
                Problem::NotAccepted,
            ),
        ];
        for (tweak, field, problem) in cases {
            assert_eq!(problems_of(tweak), [(field, problem)], "{field:?}");
        }
        // Several at once, each field once.
        let p = problems_of(|s| {
            s.email.clear();
            s.holder.phone = "x".into();
            s.holder.contact_name = "a\nb".into();
        });
        assert_eq!(
            p,
            [
                (Field::Email, Problem::Required),
                (Field::ContactName, Problem::ControlCharacter),
                (Field::Phone, Problem::Phone),
            ]
        );
    }

    /// Sign-up stores the trimmed, lowercased account with its acceptance
    /// and a verification notice; the link verifies once; login is
    /// refused before and works after, and every step is audited.
    #[tokio::test]
    async fn sign_up_verify_and_log_in() {
        let (_db, v, clock) = vetting();
        let base = "https://portal.example.jp/";
        let out = v
            .sign_up(sign_up("Ichiro@Example.JP"), VERSION, base)
            .await
            .unwrap();
        assert_eq!(out, Ok(SignedUp::LinkSent));
        let c = stored(&v, "ichiro@example.jp").await.unwrap();
        assert_eq!(c.holder.contact_name, "鈴木 一郎");
        assert_eq!(c.language, Language::En);
        assert!(c.verified_at.is_none() && c.organization.is_none());
        assert_eq!(
            v.accepted_agreement(c.id).await.unwrap().as_deref(),
            Some(VERSION)
        );
        let token = mailed_token(&v, &c).await;
        let ip = Some([192, 0, 2, 7].into());
        let refused = v.customer_login("ichiro@example.jp", PASSWORD, ip).await;
        assert_eq!(refused.unwrap().err(), Some(LoginRefusal::Unverified));

        clock.advance(Duration::hours(23));
        assert_eq!(v.verify_email(&token).await.unwrap(), Some(c.id));
        assert_eq!(v.verify_email(&token).await.unwrap(), None, "once");
        assert_eq!(v.verify_email("made-up").await.unwrap(), None);
        let wrong = v.customer_login("ICHIRO@example.jp", "nope", ip).await;
        assert_eq!(wrong.unwrap().err(), Some(LoginRefusal::Wrong));
        let unknown = v.customer_login("nobody@example.jp", PASSWORD, ip).await;
        assert_eq!(unknown.unwrap().err(), Some(LoginRefusal::Wrong));
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        let too_long = v.customer_login("ichiro@example.jp", &long, ip).await;
        assert_eq!(too_long.unwrap().err(), Some(LoginRefusal::Wrong));
        let ok = v.customer_login(" Ichiro@example.jp ", PASSWORD, ip).await;
        assert_eq!(ok.unwrap().unwrap().id, c.id);

        let events = v
            .store()
            .read(|c| sa::audit::list(c, None, 50))
            .await
            .unwrap();
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        for a in ["customer.signup", "customer.verify", "customer.login"] {
            assert!(actions.contains(&a), "{a} in {actions:?}");
        }
        assert_eq!(
            actions
                .iter()
                .filter(|a| **a == "customer.login_refused")
                .count(),
            4
        );
        assert!(!format!("{events:?}").contains(PASSWORD));
    }

    /// A link expires after 24 hours; the unverified address is then free
    /// for a new sign-up (which gets a new link), a verified one never.
    #[tokio::test]
    async fn links_expire_and_free_only_unverified_addresses() {
        let (_db, v, clock) = vetting();
        let base = "https://portal.example.jp";
        v.sign_up(sign_up("jiro@example.jp"), VERSION, base)
            .await
            .unwrap()
            .unwrap();
        let first = stored(&v, "jiro@example.jp").await.unwrap();
        let old = mailed_token(&v, &first).await;
        // Within the day the address is taken: nothing changes.
        let again = v.sign_up(sign_up("jiro@example.jp"), VERSION, base).await;
        assert_eq!(again.unwrap(), Ok(SignedUp::AddressTaken));
        clock.advance(VERIFICATION_VALIDITY);
        assert_eq!(v.verify_email(&old).await.unwrap(), None, "expired");
        let mut renewed = sign_up("jiro@example.jp");
        renewed.holder.contact_name = "次郎".into();
        renewed.language = Language::Ja;
        let out = v.sign_up(renewed, VERSION, base).await.unwrap();
        assert_eq!(out, Ok(SignedUp::LinkSent));
        let second = stored(&v, "jiro@example.jp").await.unwrap();
        assert_eq!(second.id, first.id, "the same row, renewed");
        assert_eq!(second.holder.contact_name, "次郎");
        assert_eq!(second.created_at, START + VERIFICATION_VALIDITY);
        let new = mailed_token(&v, &second).await;
        assert_ne!(new, old);
        assert_eq!(v.verify_email(&new).await.unwrap(), Some(first.id));
        clock.advance(VERIFICATION_VALIDITY * 2);
        let taken = v.sign_up(sign_up("jiro@example.jp"), VERSION, base).await;
        assert_eq!(taken.unwrap(), Ok(SignedUp::AddressTaken));
        assert_eq!(
            stored(&v, "jiro@example.jp")
                .await
                .unwrap()
                .holder
                .contact_name,
            "次郎"
        );
    }

    /// Invalid input stores nothing at all.
    #[tokio::test]
    async fn a_refused_sign_up_stores_nothing() {
        let (_db, v, _clock) = vetting();
        let mut s = sign_up("saburo@example.jp");
        s.holder.postal_code = "abc".into();
        let out = v.sign_up(s, VERSION, "https://p").await.unwrap();
        assert_eq!(out, Err(vec![(Field::PostalCode, Problem::PostalCode)]));
        assert!(stored(&v, "saburo@example.jp").await.is_none());
        assert_eq!(v.store().read(sa::outbox::queued_count).await.unwrap(), 0);
    }

    /// The newest acceptance counts; every one is kept.
    #[tokio::test]
    async fn the_newest_acceptance_counts() {
        let (_db, v, clock) = vetting();
        v.sign_up(sign_up("shiro@example.jp"), VERSION, "https://p")
            .await
            .unwrap()
            .unwrap();
        let c = stored(&v, "shiro@example.jp").await.unwrap();
        clock.advance(Duration::days(30));
        v.accept_agreement(c.id, "2027-01", None).await.unwrap();
        assert_eq!(
            v.accepted_agreement(c.id).await.unwrap().as_deref(),
            Some("2027-01")
        );
        v.set_customer_language(c.id, Language::Ja).await.unwrap();
        let c = v.customer(c.id).await.unwrap().unwrap();
        assert_eq!(c.language, Language::Ja);
    }
}
