//! EAB credentials: created by staff, shown once, bound to one account
//! (or several, when not single-use).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use time::Duration;

use crate::core::EabCredential;
use crate::error::{Error, Result};
use crate::sa::{self, Store};

/// A credential as shown to staff the one time its key is visible.
pub struct IssuedCredential {
    pub credential: EabCredential,
    /// base64url of the 256-bit HMAC key, as ACME clients take it
    /// (certbot `--eab-hmac-key`).
    pub hmac_key: String,
}

pub struct CreateOptions {
    pub note: String,
    pub single_use: bool,
    pub expires_in: Option<Duration>,
}

pub async fn create(store: &Store, opts: CreateOptions) -> Result<IssuedCredential> {
    let rng = SystemRandom::new();
    let mut id = [0u8; 12];
    let mut key = vec![0u8; 32];
    rng.fill(&mut id)
        .and_then(|_| rng.fill(&mut key))
        .map_err(|_| Error::internal("OS random number generator failed"))?;
    let key_id = format!("kid-{}", B64.encode(id));
    let now = sa::now();
    let expires_at = opts.expires_in.map(|d| now + d);
    let hmac_key = B64.encode(&key);
    let credential = store
        .run(move |c| {
            sa::eab::create(
                c,
                sa::eab::NewEab {
                    key_id: &key_id,
                    hmac_key: &key,
                    note: &opts.note,
                    single_use: opts.single_use,
                    expires_at,
                },
                now,
            )
        })
        .await?;
    tracing::info!(key_id = %credential.key_id, "EAB credential created");
    Ok(IssuedCredential {
        credential,
        hmac_key,
    })
}

pub async fn list(store: &Store) -> Result<Vec<EabCredential>> {
    store.run(sa::eab::list).await
}

pub async fn revoke(store: &Store, key_id: &str) -> Result<()> {
    let k = key_id.to_owned();
    let now = sa::now();
    if store.run(move |c| sa::eab::revoke(c, &k, now)).await? {
        tracing::info!(key_id, "EAB credential revoked");
        Ok(())
    } else {
        Err(Error::not_found(format!(
            "no unrevoked EAB credential {key_id:?}"
        )))
    }
}
