//! EAB HMAC keys at rest: sealed with AES-256-GCM under a key from the
//! configuration, so the database alone (a backup, a replica) does not
//! yield them. Stored form: `1 ‖ nonce (12) ‖ ciphertext+tag`; `0 ‖ key`
//! when no sealing key is configured (development).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use crate::config::VettingConfig;
use crate::error::{Error, Result};

const PLAIN: u8 = 0;
const SEALED: u8 = 1;

/// The sealing key of the configuration, if one is set.
fn sealing_key(cfg: &VettingConfig) -> Result<Option<LessSafeKey>> {
    let Some(text) = cfg.eab_encryption_key.as_deref() else {
        return Ok(None);
    };
    let raw = B64
        .decode(text.trim())
        .map_err(|_| Error::internal("eab_encryption_key is not base64url"))?;
    let key = UnboundKey::new(&AES_256_GCM, &raw)
        .map_err(|_| Error::internal("eab_encryption_key must be 32 bytes"))?;
    Ok(Some(LessSafeKey::new(key)))
}

/// Checks the configured key at start-up, and warns when there is none.
pub fn check_config(cfg: &VettingConfig) -> Result<()> {
    if sealing_key(cfg)?.is_none() {
        tracing::warn!(
            "no eab_encryption_key: EAB HMAC keys are stored unsealed (development only)"
        );
    }
    Ok(())
}

/// `key_id` is authenticated with the key, so a sealed key cannot be moved
/// to another credential's row.
pub fn seal(cfg: &VettingConfig, key_id: &str, hmac_key: &[u8]) -> Result<Vec<u8>> {
    let Some(k) = sealing_key(cfg)? else {
        let mut out = vec![PLAIN];
        out.extend_from_slice(hmac_key);
        return Ok(out);
    };
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| Error::internal("OS random number generator failed"))?;
    let mut data = hmac_key.to_vec();
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(key_id.as_bytes()),
        &mut data,
    )
    .map_err(|_| Error::internal("sealing the EAB key failed"))?;
    let mut out = vec![SEALED];
    out.extend_from_slice(&nonce);
    out.extend(data);
    Ok(out)
}

pub fn open(cfg: &VettingConfig, key_id: &str, stored: &[u8]) -> Result<Vec<u8>> {
    match stored.split_first() {
        Some((&PLAIN, key)) => Ok(key.to_vec()),
        Some((&SEALED, rest)) if rest.len() > NONCE_LEN => {
            let k = sealing_key(cfg)?.ok_or_else(|| {
                Error::internal("EAB keys are sealed but no eab_encryption_key is configured")
            })?;
            let (nonce, sealed) = rest.split_at(NONCE_LEN);
            let nonce = Nonce::try_assume_unique_for_key(nonce)
                .map_err(|_| Error::internal("stored EAB nonce is malformed"))?;
            let mut data = sealed.to_vec();
            let plain = k
                .open_in_place(nonce, Aad::from(key_id.as_bytes()), &mut data)
                .map_err(|_| {
                    Error::internal("stored EAB key does not open with eab_encryption_key")
                })?;
            Ok(plain.to_vec())
        }
        _ => Err(Error::internal("stored EAB key has an unknown format")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(key: Option<&str>) -> VettingConfig {
        VettingConfig {
            eab_encryption_key: key.map(str::to_owned),
            ..VettingConfig::default()
        }
    }

    #[test]
    fn sealed_keys_open_only_with_the_key_and_their_key_id() {
        let k = B64.encode([7u8; 32]);
        let c = cfg(Some(&k));
        let stored = seal(&c, "kid-1", b"secret-hmac-key-32-bytes-long!!").unwrap();
        assert_eq!(stored[0], SEALED);
        assert!(
            !stored.windows(6).any(|w| w == b"secret"),
            "not in the clear"
        );
        assert_eq!(
            open(&c, "kid-1", &stored).unwrap(),
            b"secret-hmac-key-32-bytes-long!!"
        );
        assert!(open(&c, "kid-2", &stored).is_err(), "bound to its key id");
        assert!(open(&cfg(Some(&B64.encode([8u8; 32]))), "kid-1", &stored).is_err());
        assert!(open(&cfg(None), "kid-1", &stored).is_err());
    }

    #[test]
    fn without_a_key_they_are_stored_plain_and_bad_keys_are_refused() {
        let stored = seal(&cfg(None), "kid", b"k").unwrap();
        assert_eq!(stored, vec![PLAIN, b'k']);
        assert_eq!(open(&cfg(None), "kid", &stored).unwrap(), b"k");
        assert!(check_config(&cfg(Some("short"))).is_err());
    }
}
