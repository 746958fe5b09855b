//! Certificate serial numbers.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

/// A certificate serial number: 128 bits from the OS CSPRNG (BR §7.1
/// requires ≥ 64), positive and never zero (RFC 5280 §4.1.2.2).
///
/// [`Serial::random`] also keeps the first octet non-zero, so the DER
/// INTEGER is always exactly these 16 octets and the hex form is the
/// serial as openssl prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Serial(pub [u8; 16]);

impl Serial {
    pub fn random() -> Result<Self> {
        let rng = SystemRandom::new();
        loop {
            let mut b = [0u8; 16];
            rng.fill(&mut b)
                .map_err(|_| Error::internal("the OS random number generator failed"))?;
            // Clear the sign bit (a DER INTEGER with it set is negative).
            b[0] &= 0x7f;
            // Rejection sampling (probability 1/128): a zero first octet
            // would make the encoded serial shorter than 16 octets.
            if b[0] != 0 {
                return Ok(Serial(b));
            }
        }
    }

    /// Lowercase hex, 32 characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Inverse of [`Serial::to_hex`]: exactly 32 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        // Check the digits ourselves: from_str_radix also accepts a sign.
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Serial(out))
    }

    /// The CRL shard of the certificate with this serial, as `publish`
    /// computes it ([`crate::config::crl_shard`]).
    pub fn crl_shard(&self, shards: u32) -> u32 {
        crate::config::crl_shard(&self.0, shards)
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn serial_is_positive_128_bit_and_round_trips() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let s = Serial::random().unwrap();
            assert!(s.0[0] != 0 && s.0[0] < 0x80);
            let h = s.to_hex();
            assert_eq!(h.len(), 32);
            assert_eq!(h, h.to_lowercase());
            assert_eq!(Serial::from_hex(&h), Some(s));
            assert_eq!(Serial::from_hex(&h.to_uppercase()), Some(s));
            assert!(seen.insert(s));
        }
        assert_eq!(Serial::from_hex(""), None);
        assert_eq!(Serial::from_hex(&"0".repeat(31)), None);
        assert_eq!(Serial::from_hex(&"0".repeat(33)), None);
        assert_eq!(Serial::from_hex(&"g".repeat(32)), None);
        assert_eq!(Serial::from_hex(&format!("+{}", "1".repeat(31))), None);
        assert_eq!(Serial::from_hex(&"é".repeat(16)), None);
    }

    #[test]
    fn crl_shard_is_the_last_four_octets_modulo_the_shards() {
        let mut s = Serial([0x11; 16]);
        s.0[12..].copy_from_slice(&[0, 0, 1, 0x13]);
        assert_eq!(s.crl_shard(16), 0x113 % 16);
        assert_eq!(s.crl_shard(1), 0);
        assert_eq!(s.crl_shard(0), 0);
    }
}
