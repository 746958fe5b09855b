//! revokeCert (RFC 8555 §7.6) and key rollover (§7.3.5).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{Map, Value};

use super::events::Audit;
use super::Ra;
use crate::core::{Account, AccountId, Certificate, RevocationReason};
use crate::error::{Error, ErrorKind, Result};
use crate::jose::{AccountKey, Alg, FlattenedJws};
use crate::sa::{self, Store};

/// Who asks for a revocation (RFC 8555 §7.6): an account, or whoever holds
/// the certificate's private key.
pub enum Revoker<'a> {
    Account(&'a Account),
    CertificateKey(&'a AccountKey),
}

/// On what a revocation request rests (RFC 8555 §7.6), which decides the
/// reason recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Authority {
    /// Signed by the certificate's own key: the key is proven.
    CertificateKey,
    /// Signed by the account that ordered the certificate.
    IssuingAccount,
    /// Signed by another account holding valid authorizations for every
    /// name: it controls the names, not the subscriber's key or contract.
    AuthorizedAccount,
}

impl Authority {
    /// The reason written to the CRL. keyCompromise blocks the key for
    /// everyone, so it needs the key itself; an account that only
    /// controls the names ends the certificate as cessationOfOperation,
    /// as Boulder does.
    fn recorded_reason(self, requested: Option<RevocationReason>) -> Result<RevocationReason> {
        use RevocationReason::{CessationOfOperation, KeyCompromise, Unspecified};
        match (self, requested) {
            (Authority::CertificateKey, r) => Ok(r.unwrap_or(KeyCompromise)),
            (_, Some(KeyCompromise)) => Err(Error::new(
                ErrorKind::BadRevocationReason,
                "keyCompromise must be proven: sign the revocation request with the \
                 certificate's own key (RFC 8555 §7.6, \"jwk\" in the protected header)",
            )),
            (Authority::IssuingAccount, r) => Ok(r.unwrap_or(Unspecified)),
            (Authority::AuthorizedAccount, _) => Ok(CessationOfOperation),
        }
    }
}

/// The reason code the client asked for, if any, among those a subscriber
/// may use.
fn requested_reason(code: Option<i64>) -> Result<Option<RevocationReason>> {
    let Some(code) = code else {
        return Ok(None);
    };
    RevocationReason::from_code(code)
        .filter(|r| r.subscriber_may_use())
        .map(Some)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::BadRevocationReason,
                format!("reason {code} is not allowed; use 0, 1, 3, 4 or 5 (RFC 5280 §5.3.1)"),
            )
        })
}

/// SHA-256 of a SubjectPublicKeyInfo, hex: the key's identity for the
/// block list.
pub fn spki_hash(spki_der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, spki_der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Ra {
    pub async fn revoke(
        &self,
        by: Revoker<'_>,
        cert_der: &[u8],
        reason: Option<i64>,
    ) -> Result<()> {
        let (serial, names, spki) = parse_certificate(cert_der)?;
        let cert = self
            .store()
            .read(move |c| sa::certificates::by_serial(c, &serial))
            .await?
            .filter(|c| c.der == cert_der)
            .ok_or_else(|| Error::not_found("this CA did not issue that certificate"))?;
        let requested = requested_reason(reason)?;
        let authority = self.authorize_revocation(&by, &cert, &names, &spki).await?;
        let reason = authority.recorded_reason(requested)?;
        let actor = match by {
            Revoker::Account(a) => format!("acme:account/{}", a.id),
            Revoker::CertificateKey(_) => "acme:certificate-key".to_owned(),
        };
        record_revocation(self.store(), &cert, reason, &actor, None).await
    }

    /// RFC 8555 §7.6: the issuing account, an account with valid
    /// authorizations for every name, or the certificate's own key.
    async fn authorize_revocation(
        &self,
        by: &Revoker<'_>,
        cert: &Certificate,
        names: &[String],
        spki: &[u8],
    ) -> Result<Authority> {
        match by {
            Revoker::CertificateKey(key) => {
                if key.matches_spki(spki) {
                    return Ok(Authority::CertificateKey);
                }
                Err(Error::unauthorized(
                    "the JWS key is not the certificate's key",
                ))
            }
            Revoker::Account(acct) if acct.id == cert.account_id => Ok(Authority::IssuingAccount),
            Revoker::Account(acct) => {
                let (id, names) = (acct.id, names.to_vec());
                let now = self.clock().now();
                let all = self
                    .store()
                    .run(move |c| {
                        for n in &names {
                            let (base, wildcard) = match n.strip_prefix("*.") {
                                Some(b) => (b, true),
                                None => (n.as_str(), false),
                            };
                            // Any age: revoking needs a valid authorization,
                            // not one fresh enough to issue on.
                            let any_age = time::OffsetDateTime::UNIX_EPOCH;
                            if sa::orders::reusable_authz(c, id, base, wildcard, now, any_age)?
                                .is_none()
                            {
                                return Ok(false);
                            }
                        }
                        Ok(true)
                    })
                    .await?;
                if all {
                    Ok(Authority::AuthorizedAccount)
                } else {
                    Err(Error::unauthorized(
                        "this account did not issue the certificate and lacks valid authorizations for all its names",
                    ))
                }
            }
        }
    }

    /// keyChange (RFC 8555 §7.3.5): `inner` is the payload of the outer
    /// JWS, itself a JWS signed by the new key.
    pub async fn change_key(
        &self,
        acct: &Account,
        inner: &Value,
        outer_url: &str,
        account_url: &str,
    ) -> Result<KeyChange> {
        const WHAT: &str = "keyChange inner JWS";
        let (new_key, old_key) = check_key_change(inner, outer_url, account_url)?;
        if old_key.thumbprint() != acct.key_thumbprint {
            return Err(Error::unauthorized(format!(
                "{WHAT}: oldKey is not the account's current key"
            )));
        }
        let id = acct.id;
        if new_key.thumbprint() == acct.key_thumbprint {
            // RFC 8555 §7.3.5: an account (this one) has the key already.
            return Ok(KeyChange::KeyInUse {
                holder: id,
                conflict: Error::new(
                    ErrorKind::Conflict,
                    "the new key is this account's current key",
                ),
            });
        }
        let (tp, jwk) = (new_key.thumbprint().to_owned(), new_key.jwk().clone());
        let thumbprint = tp.clone();
        let old_thumbprint = acct.key_thumbprint.clone();
        let audit = Audit::account(id, acct.organization(), self.clock().now());
        let changed = self
            .store()
            .change_account(id, move |c| {
                sa::accounts::change_key(c, id, &tp, &jwk)?;
                audit.record(
                    c,
                    "account.key-change",
                    format!("account:{id}"),
                    None,
                    serde_json::json!({"account": id, "old_thumbprint": old_thumbprint, "new_thumbprint": tp}),
                )
            })
            .await;
        match changed {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::Conflict => return self.key_in_use(thumbprint, e).await,
            Err(e) => return Err(e),
        }
        tracing::info!(account = id.0, "account key changed");
        Ok(KeyChange::Changed(self.account_for_request(id).await?))
    }

    /// The account that already has the key another asked for; without
    /// one (it went away meanwhile) the conflict stands alone.
    async fn key_in_use(&self, thumbprint: String, conflict: Error) -> Result<KeyChange> {
        let holder = self
            .store()
            .read(move |c| sa::accounts::by_thumbprint(c, &thumbprint))
            .await?;
        match holder {
            Some(holder) => Ok(KeyChange::KeyInUse {
                holder: holder.id,
                conflict,
            }),
            None => Err(conflict),
        }
    }
}

/// What keyChange did (RFC 8555 §7.3.5).
pub enum KeyChange {
    /// The account, with its new key.
    Changed(Account),
    /// Another account already has the new key: `conflict` (409) with
    /// that account's URL as its Location.
    KeyInUse { holder: AccountId, conflict: Error },
}

/// Staff revocation (admin API and CLI): any reason, including
/// privilegeWithdrawn, which only the CA may use (BR 4.9.1.1); `comment`
/// says why, for the audit log.
pub async fn revoke_by_staff(
    store: &Store,
    actor: &str,
    serial: &str,
    reason: RevocationReason,
    comment: &str,
) -> Result<()> {
    if comment.trim().is_empty() {
        return Err(Error::malformed("staff revocation needs a reason text"));
    }
    let s = serial.to_ascii_lowercase();
    let (cert, pre) = store
        .read(move |c| {
            Ok(match sa::certificates::by_serial(c, &s)? {
                Some(cert) => (Some(cert), None),
                None => (None, sa::precertificates::by_serial(c, &s)?),
            })
        })
        .await?;
    match (cert, pre) {
        (Some(cert), _) => {
            record_revocation(store, &cert, reason, actor, Some(comment.to_owned())).await
        }
        (None, Some(pre)) => revoke_precertificate(store, &pre, reason, actor, comment).await,
        (None, None) => Err(Error::not_found(format!(
            "no certificate or precertificate with serial {serial}"
        ))),
    }
}

/// A precertificate whose final certificate was never issued (RFC 6962
/// §3.1: it counts as issued): revoked by staff, listed on its CRL shard.
async fn revoke_precertificate(
    store: &Store,
    pre: &sa::precertificates::Precertificate,
    reason: RevocationReason,
    actor: &str,
    comment: &str,
) -> Result<()> {
    let serial = pre.serial.clone();
    let revocation = Revocation {
        what: "precertificate",
        der: &pre.der,
        serial: pre.serial.clone(),
        account: pre.account_id,
        reason,
        actor,
        comment: Some(comment.to_owned()),
        details: serde_json::json!({"reason": reason.code()}),
    };
    revocation
        .record(store, move |c, now| {
            sa::precertificates::revoke(c, &serial, reason.code(), now)
        })
        .await
}

/// Marks the certificate revoked (once), blocks its key on keyCompromise,
/// and writes the audit event, in one transaction.
async fn record_revocation(
    store: &Store,
    cert: &Certificate,
    reason: RevocationReason,
    actor: &str,
    comment: Option<String>,
) -> Result<()> {
    let (id, account) = (cert.id, cert.account_id);
    let revocation = Revocation {
        what: "certificate",
        der: &cert.der,
        serial: cert.serial.clone(),
        account,
        reason,
        actor,
        comment,
        details: serde_json::json!({"reason": reason.code(), "reason_name": format!("{reason:?}"), "serial": cert.serial, "account": account}),
    };
    revocation
        .record(store, move |c, now| {
            sa::certificates::revoke(c, id, reason.code(), now)
        })
        .await
}

/// One revocation of a certificate or a precertificate (`what`), and what
/// its audit event says.
struct Revocation<'a> {
    what: &'static str,
    der: &'a [u8],
    serial: String,
    account: AccountId,
    reason: RevocationReason,
    actor: &'a str,
    comment: Option<String>,
    details: Value,
}

impl Revocation<'_> {
    /// `mark` (false when it was revoked already), the key blocked on
    /// keyCompromise and the audit event, in one transaction.
    async fn record<F>(self, store: &Store, mark: F) -> Result<()>
    where
        F: FnOnce(&mut sa::DbConn, time::OffsetDateTime) -> Result<bool> + Send + 'static,
    {
        let (_, _, spki) = parse_certificate(self.der)?;
        let now = store.clock().now();
        let reason = self.reason;
        let block = (reason == RevocationReason::KeyCompromise).then(|| spki_hash(&spki));
        let (what, serial, account) = (self.what, self.serial.clone(), self.account);
        let (who, comment, details) = (self.actor.to_owned(), self.comment, self.details);
        let request_id = crate::http::current_request_id();
        let revoked = store
            .write(move |c| {
                let organization = sa::audit::organization_of(c, account)?;
                if !mark(c, now)? {
                    return Ok(false);
                }
                if let Some(h) = &block {
                    sa::certificates::block_key(c, h, "keyCompromise reported at revocation", now)?;
                }
                sa::audit::append(
                    c,
                    sa::audit::NewEvent {
                        actor: &who,
                        action: &format!("{what}.revoke"),
                        organization,
                        subject: format!("{what}:{serial}"),
                        reason: comment.as_deref(),
                        details,
                        request_id,
                    },
                    now,
                )?;
                Ok(true)
            })
            .await?;
        if !revoked {
            return Err(Error::new(
                ErrorKind::AlreadyRevoked,
                format!("the {what} is already revoked"),
            ));
        }
        tracing::info!(serial = %self.serial, reason = reason.code(), actor = self.actor, "{what} revoked");
        Ok(())
    }
}

/// The keyChange inner JWS checked as far as it can be without the
/// account (RFC 8555 §7.3.5): syntax, no kid or nonce, the outer URL, a
/// signature by the new key, the account URL. Returns (new key, old key).
pub(crate) fn check_key_change(
    inner: &Value,
    outer_url: &str,
    account_url: &str,
) -> Result<(AccountKey, AccountKey)> {
    const WHAT: &str = "keyChange inner JWS";
    let jws = FlattenedJws::parse(inner, WHAT)?;
    let bad = |d: &str| Error::malformed(format!("{WHAT}: {d}"));
    let alg = jws.header_str("alg").and_then(Alg::parse).ok_or_else(|| {
        Error::new(
            ErrorKind::BadSignatureAlgorithm,
            format!("{WHAT}: unsupported alg"),
        )
    })?;
    if jws.header.contains_key("kid") || jws.header.contains_key("nonce") {
        return Err(bad("must have a jwk and no kid or nonce"));
    }
    if jws.header_str("url") != Some(outer_url) {
        return Err(bad("url must equal the outer JWS url"));
    }
    let new_jwk = jws
        .header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("missing jwk"))?;
    let new_key = AccountKey::from_jwk(new_jwk)?;
    new_key.verify(alg, jws.signing_input().as_bytes(), &jws.signature)?;
    let payload: Map<String, Value> = match jws.payload_json(WHAT)? {
        Value::Object(m) => m,
        _ => return Err(bad("payload must be an object")),
    };
    if payload.get("account").and_then(Value::as_str) != Some(account_url) {
        return Err(bad(
            "account must be the URL of the account in the outer JWS",
        ));
    }
    let old = payload
        .get("oldKey")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("missing oldKey"))?;
    Ok((new_key, AccountKey::from_jwk(old)?))
}

/// Serial (hex), DNS names, and SPKI DER of a certificate.
pub(crate) fn parse_certificate(der: &[u8]) -> Result<(String, Vec<String>, Vec<u8>)> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|_| Error::malformed("certificate is not DER X.509"))?;
    let serial = cert
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let names = crate::ca::dns_names(&cert)
        .into_iter()
        .map(str::to_ascii_lowercase)
        .collect();
    Ok((serial, names, cert.public_key().raw.to_vec()))
}

/// Decodes the `certificate` member of a revokeCert payload.
pub fn decode_certificate(b64: &str) -> Result<Vec<u8>> {
    B64.decode(b64.trim_end_matches('='))
        .map_err(|_| Error::malformed("certificate is not base64url DER"))
}
