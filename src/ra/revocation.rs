//! revokeCert (RFC 8555 §7.6) and key rollover (§7.3.5).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{Map, Value};

use super::Ra;
use crate::core::{Account, Certificate, RevocationReason};
use crate::error::{Error, ErrorKind, Result};
use crate::jose::{AccountKey, Alg, FlattenedJws};
use crate::sa::{self, Store};

/// Who asks for a revocation (RFC 8555 §7.6): an account, or whoever holds
/// the certificate's private key.
pub enum Revoker<'a> {
    Account(&'a Account),
    CertificateKey(&'a AccountKey),
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
        let reason = match reason {
            None if matches!(by, Revoker::CertificateKey(_)) => RevocationReason::KeyCompromise,
            None => RevocationReason::Unspecified,
            Some(code) => RevocationReason::from_code(code)
                .filter(|r| r.subscriber_may_use())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::BadRevocationReason,
                        format!(
                            "reason {code} is not allowed; use 0, 1, 3, 4 or 5 (RFC 5280 §5.3.1)"
                        ),
                    )
                })?,
        };
        self.authorize_revocation(&by, &cert, &names, &spki).await?;
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
    ) -> Result<()> {
        match by {
            Revoker::CertificateKey(key) => {
                if key.matches_spki(spki) {
                    return Ok(());
                }
                Err(Error::unauthorized(
                    "the JWS key is not the certificate's key",
                ))
            }
            Revoker::Account(acct) if acct.id == cert.account_id => Ok(()),
            Revoker::Account(acct) => {
                let (id, names) = (acct.id, names.to_vec());
                let now = sa::now();
                let all = self
                    .store()
                    .run(move |c| {
                        for n in &names {
                            let (base, wildcard) = match n.strip_prefix("*.") {
                                Some(b) => (b, true),
                                None => (n.as_str(), false),
                            };
                            if sa::orders::reusable_authz(c, id, base, wildcard, now)?.is_none() {
                                return Ok(false);
                            }
                        }
                        Ok(true)
                    })
                    .await?;
                if all {
                    Ok(())
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
    ) -> Result<Account> {
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
        if AccountKey::from_jwk(old)?.thumbprint() != acct.key_thumbprint {
            return Err(Error::unauthorized(format!(
                "{WHAT}: oldKey is not the account's current key"
            )));
        }
        let id = acct.id;
        let (tp, jwk) = (new_key.thumbprint().to_owned(), new_key.jwk().clone());
        self.store()
            .change_account(id, move |c| sa::accounts::change_key(c, id, &tp, &jwk))
            .await?;
        tracing::info!(account = id.0, "account key changed");
        self.account_for_request(id).await
    }
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
    let cert = store
        .read(move |c| sa::certificates::by_serial(c, &s))
        .await?
        .ok_or_else(|| Error::not_found(format!("no certificate with serial {serial}")))?;
    record_revocation(store, &cert, reason, actor, Some(comment.to_owned())).await
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
    let (_, _, spki) = parse_certificate(&cert.der)?;
    let now = sa::now();
    let id = cert.id;
    let block = (reason == RevocationReason::KeyCompromise).then(|| spki_hash(&spki));
    let serial = cert.serial.clone();
    let (who, account) = (actor.to_owned(), cert.account_id);
    let revoked = store
        .write(move |c| {
            let organization = sa::organizations::for_account(c, account)?.map(|o| o.id);
            if !sa::certificates::revoke(c, id, reason.code(), now)? {
                return Ok(false);
            }
            if let Some(h) = &block {
                sa::certificates::block_key(c, h, "keyCompromise reported at revocation", now)?;
            }
            sa::audit::append(
                c,
                sa::audit::NewEvent {
                    actor: &who,
                    action: "certificate.revoke",
                    organization,
                    subject: format!("certificate:{serial}"),
                    reason: comment.as_deref(),
                    details: serde_json::json!({"reason": reason.code()}),
                },
                now,
            )?;
            Ok(true)
        })
        .await?;
    if !revoked {
        return Err(Error::new(
            ErrorKind::AlreadyRevoked,
            "the certificate is already revoked",
        ));
    }
    tracing::info!(serial = %cert.serial, reason = reason.code(), actor, "certificate revoked");
    Ok(())
}

/// Serial (hex), DNS names, and SPKI DER of a certificate.
fn parse_certificate(der: &[u8]) -> Result<(String, Vec<String>, Vec<u8>)> {
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
