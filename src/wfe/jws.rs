//! Verification of ACME request bodies (RFC 8555 §6.2–§6.5, RFC 7515).
//!
//! A request is signed either by an existing account (`kid`) or by the key
//! in its own header (`jwk`). [`KidPost`] and [`JwkPost`] can only be built
//! here, by the verifier of that kind, so a handler that takes one knows
//! the signature, URL and nonce were checked and by which kind of key.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::Wfe;
use crate::core::Account;
use crate::error::{Error, ErrorKind, Result};
use crate::jose::{AccountKey, Alg, FlattenedJws, SUPPORTED_ALGS};

/// A POST as it arrived, before verification.
#[derive(Clone, Copy)]
pub struct PostRequest<'a> {
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    /// The request's absolute URL, which the JWS `url` must equal.
    pub url: &'a str,
}

/// The verified payload of a request and the URL it was sent to.
pub struct Payload {
    url: String,
    bytes: Vec<u8>,
}

/// A request signed by a valid account's key, named by `kid` (RFC 8555
/// §6.2): every resource but newAccount and revokeCert.
pub struct KidPost {
    payload: Payload,
    account: Box<Account>,
}

/// A request signed by the key embedded as `jwk` (RFC 8555 §6.2):
/// newAccount, and revokeCert by the certificate's key.
pub struct JwkPost {
    payload: Payload,
    key: AccountKey,
    /// The JWK exactly as sent, for the EAB payload comparison.
    raw: Map<String, Value>,
}

/// revokeCert accepts either kind (RFC 8555 §7.6).
pub enum RevokePost {
    Account(KidPost),
    CertificateKey(JwkPost),
}

impl Payload {
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The payload as signed, decoded.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// POST-as-GET (RFC 8555 §6.3): the payload is the empty string.
    pub fn is_post_as_get(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The payload as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        if self.bytes.is_empty() {
            return Err(Error::malformed(
                "this request needs a JSON payload, not POST-as-GET",
            ));
        }
        payload_json(&self.bytes)
    }

    /// Refuses anything but POST-as-GET (RFC 8555 §6.3 for fetching).
    pub fn require_post_as_get(&self) -> Result<()> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(Error::malformed(
                "this resource is fetched with POST-as-GET (empty payload)",
            ))
        }
    }
}

impl KidPost {
    pub fn account(&self) -> &Account {
        &self.account
    }

    pub fn payload(&self) -> &Payload {
        &self.payload
    }
}

impl JwkPost {
    pub fn key(&self) -> &AccountKey {
        &self.key
    }

    /// The JWK exactly as sent.
    pub fn raw_jwk(&self) -> &Map<String, Value> {
        &self.raw
    }

    pub fn payload(&self) -> &Payload {
        &self.payload
    }
}

impl RevokePost {
    pub fn payload(&self) -> &Payload {
        match self {
            RevokePost::Account(p) => p.payload(),
            RevokePost::CertificateKey(p) => p.payload(),
        }
    }
}

/// A JWS whose syntax, algorithm, nonce and URL were checked: what is left
/// is its key and signature.
struct Checked<'a> {
    jws: FlattenedJws,
    alg: Alg,
    url: &'a str,
}

/// The key the protected header names: exactly one of `jwk` and `kid`
/// (RFC 8555 §6.2).
enum KeyRef<'a> {
    Jwk(&'a Value),
    Kid(&'a Value),
}

impl Wfe {
    /// Verifies a request that must be signed with `kid`.
    pub(super) async fn verify_kid(&self, req: PostRequest<'_>) -> Result<KidPost> {
        let checked = self.check_envelope(req).await?;
        let KeyRef::Kid(kid) = checked.key_ref()? else {
            return Err(Error::malformed(
                "this request must be signed with kid (the account URL)",
            ));
        };
        self.verify_by_account(&checked, kid).await
    }

    /// Verifies a request that must be signed with an embedded `jwk`.
    pub(super) async fn verify_jwk(&self, req: PostRequest<'_>) -> Result<JwkPost> {
        let checked = self.check_envelope(req).await?;
        let KeyRef::Jwk(jwk) = checked.key_ref()? else {
            return Err(Error::malformed(
                "this request must be signed with an embedded jwk",
            ));
        };
        verify_by_jwk(&checked, jwk)
    }

    /// Verifies a revokeCert request, signed either way.
    pub(super) async fn verify_revoke(&self, req: PostRequest<'_>) -> Result<RevokePost> {
        let checked = self.check_envelope(req).await?;
        match checked.key_ref()? {
            KeyRef::Kid(kid) => self
                .verify_by_account(&checked, kid)
                .await
                .map(RevokePost::Account),
            KeyRef::Jwk(jwk) => verify_by_jwk(&checked, jwk).map(RevokePost::CertificateKey),
        }
    }

    /// Checks a POST body in RFC order up to the key: media type,
    /// flattened JWS syntax, protected header, nonce (redeemed here, before
    /// anything else can change), URL.
    async fn check_envelope<'a>(&self, req: PostRequest<'a>) -> Result<Checked<'a>> {
        let (jws, alg) = parse_envelope(req)?;
        // RFC 8555 §6.5: the nonce is checked and consumed first.
        self.nonces
            .redeem(&self.store, nonce_of(&jws)?, self.clock.now())
            .await?;
        check_url(&jws, req.url)?;
        Ok(Checked {
            jws,
            alg,
            url: req.url,
        })
    }

    /// `kid` names a valid account of this server, whose key signed.
    async fn verify_by_account(&self, checked: &Checked<'_>, kid: &Value) -> Result<KidPost> {
        let kid = kid
            .as_str()
            .ok_or_else(|| Error::malformed("kid is not a string"))?;
        let id = self.urls.account_id_of_kid(kid).ok_or_else(|| {
            Error::new(
                ErrorKind::AccountDoesNotExist,
                format!("kid {kid:?} is not an account of this server"),
            )
        })?;
        let account = Box::new(self.ra.account_for_request(id).await?);
        let payload = checked.verified_by(&AccountKey::from_jwk(&account.jwk)?)?;
        Ok(KidPost { payload, account })
    }
}

/// The embedded `jwk` is an acceptable key, and it signed.
fn verify_by_jwk(checked: &Checked<'_>, jwk: &Value) -> Result<JwkPost> {
    let raw = jwk
        .as_object()
        .ok_or_else(|| Error::malformed("jwk is not an object"))?
        .clone();
    let key = AccountKey::from_jwk(&raw)?;
    let payload = checked.verified_by(&key)?;
    Ok(JwkPost { payload, key, raw })
}

impl Checked<'_> {
    fn key_ref(&self) -> Result<KeyRef<'_>> {
        let header = &self.jws.header;
        match (header.get("jwk"), header.get("kid")) {
            (Some(_), Some(_)) => Err(Error::malformed("JWS has both jwk and kid")),
            (None, None) => Err(Error::malformed("JWS has neither jwk nor kid")),
            (Some(jwk), None) => Ok(KeyRef::Jwk(jwk)),
            (None, Some(kid)) => Ok(KeyRef::Kid(kid)),
        }
    }

    /// The payload, once the signature verifies with `key`.
    fn verified_by(&self, key: &AccountKey) -> Result<Payload> {
        let signing_input = self.jws.signing_input();
        key.verify(self.alg, signing_input.as_bytes(), &self.jws.signature)?;
        Ok(Payload {
            url: self.url.to_owned(),
            bytes: self.jws.payload("JWS")?,
        })
    }
}

/// A non-empty payload as `T`. Every ACME request payload is a JSON
/// object (RFC 8555 §7); serde alone would also read a struct from an
/// array, by position.
pub(crate) fn payload_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    if !bytes.trim_ascii_start().starts_with(b"{") {
        return Err(Error::malformed(
            "payload is not the expected JSON: it must be a JSON object",
        ));
    }
    // serde_json checks UTF-8 only in the strings it keeps; JSON is UTF-8
    // throughout (RFC 8259 §8.1), ignored members too.
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::malformed("payload is not the expected JSON: it is not UTF-8"))?;
    serde_json::from_str(text)
        .map_err(|e| Error::malformed(format!("payload is not the expected JSON: {e}")))
}

/// Media type, flattened JWS syntax and protected header: everything
/// before the nonce that needs no state.
fn parse_envelope(req: PostRequest<'_>) -> Result<(FlattenedJws, Alg)> {
    check_content_type(req.content_type)?;
    let jws: Value = serde_json::from_slice(req.body)
        .map_err(|_| Error::malformed("body is not a JSON object"))?;
    let jws = FlattenedJws::parse(&jws, "JWS")?;
    let alg = check_header(&jws)?;
    Ok((jws, alg))
}

fn nonce_of(jws: &FlattenedJws) -> Result<&str> {
    match jws.header.get("nonce") {
        Some(Value::String(n)) => Ok(n.as_str()),
        _ => Err(Error::new(
            ErrorKind::BadNonce,
            "protected header has no nonce",
        )),
    }
}

/// What [`verify_stateless`] verified: by which kind of key, and the payload.
pub(crate) enum Verified {
    /// Signed by the key of the account `kid` names.
    Kid(String, Payload),
    Jwk(JwkPost),
}

/// The verifier's steps in order without its state (for `crate::fuzzing`):
/// any nonce is taken as fresh, and `account_key` stands in for the
/// account lookup by `kid`.
pub(crate) fn verify_stateless(
    req: PostRequest<'_>,
    account_key: impl Fn(&str) -> Option<AccountKey>,
) -> Result<Verified> {
    let (jws, alg) = parse_envelope(req)?;
    nonce_of(&jws)?;
    check_url(&jws, req.url)?;
    let checked = Checked {
        jws,
        alg,
        url: req.url,
    };
    match checked.key_ref()? {
        KeyRef::Jwk(jwk) => verify_by_jwk(&checked, jwk).map(Verified::Jwk),
        KeyRef::Kid(kid) => {
            let kid = kid
                .as_str()
                .ok_or_else(|| Error::malformed("kid is not a string"))?;
            let key = account_key(kid)
                .ok_or_else(|| Error::new(ErrorKind::AccountDoesNotExist, "no such account"))?;
            Ok(Verified::Kid(kid.to_owned(), checked.verified_by(&key)?))
        }
    }
}

/// RFC 8555 §6.2: `application/jose+json`.
fn check_content_type(content_type: Option<&str>) -> Result<()> {
    let ct = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim);
    if !ct.is_some_and(|c| c.eq_ignore_ascii_case("application/jose+json")) {
        return Err(Error::new(
            ErrorKind::UnsupportedMediaType,
            "Content-Type must be application/jose+json",
        ));
    }
    Ok(())
}

/// A supported `alg` (RFC 8555 §6.2) and no critical parameters.
fn check_header(jws: &FlattenedJws) -> Result<Alg> {
    let alg_name = jws
        .header_str("alg")
        .ok_or_else(|| Error::malformed("protected header has no alg"))?;
    let alg = Alg::parse(alg_name).ok_or_else(|| {
        Error::new(
            ErrorKind::BadSignatureAlgorithm,
            format!("JWS algorithm {alg_name:?} is not supported; use one of {SUPPORTED_ALGS:?}"),
        )
    })?;
    if jws.header.contains_key("crit") {
        return Err(Error::malformed(
            "no critical JWS header parameters are supported",
        ));
    }
    Ok(alg)
}

/// RFC 8555 §6.4: the signed `url` is the URL the request was sent to.
fn check_url(jws: &FlattenedJws, request_url: &str) -> Result<()> {
    match jws.header_str("url") {
        Some(u) if u == request_url => Ok(()),
        Some(_) => Err(Error::unauthorized(
            "JWS url does not match the request URL",
        )),
        None => Err(Error::malformed("protected header has no url")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_json_objects_not_arrays_read_by_position() {
        // serde reads a struct from an array by position; RFC 8555 §7
        // payloads are objects.
        let order = br#"[[{"type":"dns","value":"example.jp"}]]"#;
        let err = payload_json::<crate::acme::NewOrderRequest>(order).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Malformed);
        let order = br#" {"identifiers":[{"type":"dns","value":"example.jp"}]}"#;
        assert!(payload_json::<crate::acme::NewOrderRequest>(order).is_ok());
        // Found by the acme_json fuzz target: bad UTF-8 in an ignored member.
        let update = b"{\"x\":\"\xff\",\"status\":\"deactivated\"}";
        assert!(payload_json::<crate::acme::AuthorizationUpdate>(update).is_err());
    }
}
