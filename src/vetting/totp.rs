//! RFC 6238 time-based one-time passwords as authenticator apps make
//! them: HMAC-SHA-1, 30-second steps, 6 digits. Staff logins accept the
//! step before and after the current one (clock drift), each step once.

use data_encoding::BASE32_NOPAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::{Error, Result};

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;
/// RFC 4226 §4 asks for at least 128 bits; 160 is HMAC-SHA-1's block.
const SECRET_BYTES: usize = 20;

/// RFC 4226 §5.3: dynamic truncation of HMAC-SHA-1(secret, counter).
fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    bin % 10u32.pow(digits)
}

/// The time step `at` falls in.
pub fn step_at(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(STEP_SECS)
}

/// The 6-digit code of `step`, zero-padded.
pub fn code(secret: &[u8], step: i64) -> String {
    let counter = u64::try_from(step).unwrap_or(0);
    format!(
        "{:0width$}",
        hotp(secret, counter, DIGITS),
        width = DIGITS as usize
    )
}

/// The step within one of `now`'s whose code `given` is. Every candidate
/// is compared, in constant time.
pub fn matching_step(secret: &[u8], given: &str, now: OffsetDateTime) -> Option<i64> {
    let given = given.trim();
    if given.len() != DIGITS as usize || !given.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut found = None;
    for step in current - 1..=current + 1 {
        if bool::from(code(secret, step).as_bytes().ct_eq(given.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

pub fn new_secret() -> Result<Vec<u8>> {
    let mut secret = vec![0u8; SECRET_BYTES];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| Error::internal("OS random number generator failed"))?;
    Ok(secret)
}

/// Base32 without padding, as authenticator apps take a typed secret.
pub fn base32(secret: &[u8]) -> String {
    BASE32_NOPAD.encode(secret)
}

/// The Key URI an authenticator app scans (Google Authenticator's
/// `otpauth://totp/ISSUER:ACCOUNT?secret=…` format).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let i = utf8_percent_encode(issuer, NON_ALPHANUMERIC);
    let a = utf8_percent_encode(account, NON_ALPHANUMERIC);
    format!(
        "otpauth://totp/{i}:{a}?secret={}&issuer={i}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, the SHA-1 rows (8 digits).
    #[test]
    fn rfc6238_appendix_b() {
        let secret = b"12345678901234567890";
        for (t, want) in [
            (59u64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(secret, t / 30, 8), want, "T = {t}");
        }
    }

    #[test]
    fn six_digit_codes_match_within_one_step() {
        let secret = b"12345678901234567890";
        let at = OffsetDateTime::from_unix_timestamp(59).unwrap();
        // 94287082 → its last six digits.
        assert_eq!(code(secret, step_at(at)), "287082");
        assert_eq!(matching_step(secret, "287082", at), Some(1));
        let later = at + time::Duration::seconds(30);
        assert_eq!(matching_step(secret, "287082", later), Some(1));
        let much_later = at + time::Duration::seconds(61);
        assert_eq!(matching_step(secret, "287082", much_later), None);
        for bad in ["28708", "2870822", "abcdef", ""] {
            assert_eq!(matching_step(secret, bad, at), None);
        }
    }

    #[test]
    fn uri_and_base32() {
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        let uri = otpauth_uri("trustgate", "al ice", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/trustgate:al%20ice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=trustgate&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(new_secret().unwrap().len(), 20);
    }
}
