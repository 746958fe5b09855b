//! Verification of ACME request bodies (RFC 8555 §6.2–§6.5, RFC 7515).
//!
//! `VerifiedPost` can only be built by `Wfe::verify_post`, so a handler
//! that takes one knows the signature, URL and nonce were checked.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::Wfe;
use crate::core::Account;
use crate::error::{Error, ErrorKind, Result};
use crate::jose::{AccountKey, Alg, FlattenedJws, SUPPORTED_ALGS};
use crate::sa;

/// Which key a resource must be signed with (RFC 8555 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// newAccount (and revokeCert by certificate key): an embedded `jwk`.
    Jwk,
    /// Everything else: `kid`, the URL of an existing valid account.
    Kid,
    /// revokeCert: either (RFC 8555 §7.6).
    Either,
}

/// Who signed a verified request.
pub enum Signer {
    Jwk {
        key: AccountKey,
        /// The JWK exactly as sent, for the EAB payload comparison.
        raw: Map<String, Value>,
    },
    Account(Box<Account>),
}

pub struct VerifiedPost {
    url: String,
    payload: Vec<u8>,
    signer: Signer,
}

impl VerifiedPost {
    pub fn url(&self) -> &str {
        &self.url
    }

    /// POST-as-GET (RFC 8555 §6.3): the payload is the empty string.
    pub fn is_post_as_get(&self) -> bool {
        self.payload.is_empty()
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The signing account; only for requests verified with `KeyUse::Kid`.
    pub fn account(&self) -> Result<&Account> {
        match &self.signer {
            Signer::Account(a) => Ok(a),
            Signer::Jwk { .. } => Err(Error::malformed("this request must be signed with kid")),
        }
    }

    /// The payload as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        if self.payload.is_empty() {
            return Err(Error::malformed(
                "this request needs a JSON payload, not POST-as-GET",
            ));
        }
        serde_json::from_slice(&self.payload)
            .map_err(|e| Error::malformed(format!("payload is not the expected JSON: {e}")))
    }

    /// Refuses anything but POST-as-GET (RFC 8555 §6.3 for fetching).
    pub fn require_post_as_get(&self) -> Result<()> {
        if self.payload.is_empty() {
            Ok(())
        } else {
            Err(Error::malformed(
                "this resource is fetched with POST-as-GET (empty payload)",
            ))
        }
    }
}

impl Wfe {
    /// Checks a POST body in RFC order: flattened JWS syntax, protected
    /// header, nonce (redeemed here, before anything else can change), URL,
    /// key, signature.
    pub(super) async fn verify_post(
        &self,
        content_type: Option<&str>,
        body: &[u8],
        request_url: &str,
        key_use: KeyUse,
    ) -> Result<VerifiedPost> {
        // RFC 8555 §6.2.
        let ct = content_type
            .and_then(|c| c.split(';').next())
            .map(str::trim);
        if !ct.is_some_and(|c| c.eq_ignore_ascii_case("application/jose+json")) {
            return Err(Error::new(
                ErrorKind::UnsupportedMediaType,
                "Content-Type must be application/jose+json",
            ));
        }
        let jws: Value = serde_json::from_slice(body)
            .map_err(|_| Error::malformed("body is not a JSON object"))?;
        let jws = FlattenedJws::parse(&jws, "JWS")?;
        let header = &jws.header;
        let hdr = |k: &str| jws.header_str(k);

        let alg_name = hdr("alg").ok_or_else(|| Error::malformed("protected header has no alg"))?;
        let alg = Alg::parse(alg_name).ok_or_else(|| {
            Error::new(
                ErrorKind::BadSignatureAlgorithm,
                format!(
                    "JWS algorithm {alg_name:?} is not supported; use one of {SUPPORTED_ALGS:?}"
                ),
            )
        })?;
        if header.contains_key("crit") {
            return Err(Error::malformed(
                "no critical JWS header parameters are supported",
            ));
        }

        // RFC 8555 §6.5: the nonce is checked and consumed first.
        let nonce = match header.get("nonce") {
            Some(Value::String(n)) => n.as_str(),
            _ => {
                return Err(Error::new(
                    ErrorKind::BadNonce,
                    "protected header has no nonce",
                ))
            }
        };
        self.nonces.redeem(&self.store, nonce, sa::now()).await?;

        // RFC 8555 §6.4.
        match hdr("url") {
            Some(u) if u == request_url => {}
            Some(_) => {
                return Err(Error::unauthorized(
                    "JWS url does not match the request URL",
                ))
            }
            None => return Err(Error::malformed("protected header has no url")),
        }

        let signer = match (header.get("jwk"), header.get("kid")) {
            (Some(_), Some(_)) => return Err(Error::malformed("JWS has both jwk and kid")),
            (None, None) => return Err(Error::malformed("JWS has neither jwk nor kid")),
            (Some(jwk), None) => {
                if key_use == KeyUse::Kid {
                    return Err(Error::malformed(
                        "this request must be signed with kid (the account URL)",
                    ));
                }
                let raw = jwk
                    .as_object()
                    .ok_or_else(|| Error::malformed("jwk is not an object"))?
                    .clone();
                let key = AccountKey::from_jwk(&raw)?;
                Signer::Jwk { key, raw }
            }
            (None, Some(kid)) => {
                if key_use == KeyUse::Jwk {
                    return Err(Error::malformed(
                        "this request must be signed with an embedded jwk",
                    ));
                }
                let kid = kid
                    .as_str()
                    .ok_or_else(|| Error::malformed("kid is not a string"))?;
                let id = self.urls.account_id_of_kid(kid).ok_or_else(|| {
                    Error::new(
                        ErrorKind::AccountDoesNotExist,
                        format!("kid {kid:?} is not an account of this server"),
                    )
                })?;
                Signer::Account(Box::new(self.ra.account_for_request(id).await?))
            }
        };

        let signing_input = jws.signing_input();
        match &signer {
            Signer::Jwk { key, .. } => key.verify(alg, signing_input.as_bytes(), &jws.signature)?,
            Signer::Account(acct) => AccountKey::from_jwk(&acct.jwk)?.verify(
                alg,
                signing_input.as_bytes(),
                &jws.signature,
            )?,
        }
        let payload = jws.payload("JWS")?;
        Ok(VerifiedPost {
            url: request_url.to_owned(),
            payload,
            signer,
        })
    }
}
