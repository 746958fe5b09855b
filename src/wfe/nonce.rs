//! Replay nonces (RFC 8555 §6.5).
//!
//! A nonce is `expiry (8 bytes) ‖ random (12) ‖ HMAC tag (12)`, base64url.
//! Issuing one needs no database write; the MAC key is shared by every
//! instance through the database, and redemption is recorded in
//! `used_nonces` (see `sa::nonces`), so any instance redeems any nonce
//! exactly once and storage holds only redeemed, unexpired nonces.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::{Error, ErrorKind, Result};

const TAG_LEN: usize = 12;
const RAND_LEN: usize = 12;
const NONCE_LEN: usize = 8 + RAND_LEN + TAG_LEN;

/// Name of the shared MAC key in `server_secrets`.
pub const SECRET_NAME: &str = "nonce-mac-key";

pub struct Nonces {
    key: ring::hmac::Key,
    lifetime: time::Duration,
    rng: SystemRandom,
}

impl Nonces {
    pub fn new(secret: &[u8], lifetime: time::Duration) -> Nonces {
        Nonces {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
            lifetime,
            rng: SystemRandom::new(),
        }
    }

    /// A fresh key for a new deployment.
    pub fn generate_secret() -> Result<Vec<u8>> {
        let mut k = vec![0u8; 32];
        SystemRandom::new()
            .fill(&mut k)
            .map_err(|_| Error::internal("OS random number generator failed"))?;
        Ok(k)
    }

    pub fn issue(&self, now: OffsetDateTime) -> Result<String> {
        let mut buf = [0u8; NONCE_LEN];
        let expiry = (now + self.lifetime).unix_timestamp();
        buf[..8].copy_from_slice(&expiry.to_be_bytes());
        self.rng
            .fill(&mut buf[8..8 + RAND_LEN])
            .map_err(|_| Error::internal("OS random number generator failed"))?;
        let tag = ring::hmac::sign(&self.key, &buf[..8 + RAND_LEN]);
        buf[8 + RAND_LEN..].copy_from_slice(&tag.as_ref()[..TAG_LEN]);
        Ok(B64.encode(buf))
    }

    /// Checks that this server issued the nonce and it has not expired;
    /// returns its expiry. Whether it was used is `sa::nonces::redeem`'s
    /// business.
    pub fn check(&self, nonce: &str, now: OffsetDateTime) -> Result<OffsetDateTime> {
        let bad = |d: &str| Error::new(ErrorKind::BadNonce, d.to_owned());
        let raw = B64
            .decode(nonce)
            .map_err(|_| bad("nonce is not base64url"))?;
        if raw.len() != NONCE_LEN {
            return Err(bad("nonce was not issued by this server"));
        }
        let tag = ring::hmac::sign(&self.key, &raw[..8 + RAND_LEN]);
        if !bool::from(tag.as_ref()[..TAG_LEN].ct_eq(&raw[8 + RAND_LEN..])) {
            return Err(bad("nonce was not issued by this server"));
        }
        let mut exp = [0u8; 8];
        exp.copy_from_slice(&raw[..8]);
        let expiry = OffsetDateTime::from_unix_timestamp(i64::from_be_bytes(exp))
            .map_err(|_| bad("nonce was not issued by this server"))?;
        if expiry <= now {
            return Err(bad("nonce has expired"));
        }
        Ok(expiry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_nonces_check_and_tampering_fails() {
        let n = Nonces::new(&[1u8; 32], time::Duration::hours(1));
        let now = OffsetDateTime::now_utc();
        let a = n.issue(now).expect("issue");
        let b = n.issue(now).expect("issue");
        assert_ne!(a, b);
        assert!(n.check(&a, now).is_ok());
        let mut raw = B64.decode(&a).expect("b64");
        raw[10] ^= 1;
        let err = n.check(&B64.encode(raw), now).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadNonce);
        let other = Nonces::new(&[2u8; 32], time::Duration::hours(1));
        assert!(other.check(&a, now).is_err());
    }

    #[test]
    fn expired_nonces_fail() {
        let n = Nonces::new(&[1u8; 32], time::Duration::seconds(10));
        let now = OffsetDateTime::now_utc();
        let a = n.issue(now).expect("issue");
        let err = n.check(&a, now + time::Duration::seconds(11)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadNonce);
        assert!(n.check("!!", now).is_err());
    }
}
