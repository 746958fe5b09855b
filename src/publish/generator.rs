//! Keeps every shard's CRL fresh: a loop every `publish.regenerate_secs`
//! regenerates the shards that have new revocations, no CRL yet, or a CRL
//! past half its validity (see `sa::crls::needing_regeneration`), so a
//! revocation is on its CRL within about that interval (BR 4.9.7, 4.10.2).
//!
//! Several instances over one database may all run this loop: the cRLNumber
//! is taken inside the write transaction that stores the CRL, so numbers
//! stay strictly increasing; at worst a shard is regenerated twice.

use std::sync::Arc;

use time::Duration;
use tokio::sync::{watch, Mutex};
use tokio::time::MissedTickBehavior;

use crate::ca::crl::CrlRequest;
use crate::ca::CertificateAuthority;
use crate::config::{PublishConfig, PublishUrls};
use crate::core::Clock;
use crate::error::{ErrorKind, Result};
use crate::sa::crls::{PublishedCrl, SignedCrl};
use crate::sa::leases::Lease;
use crate::sa::{self, Store};

/// Generates and looks up CRLs. Cheap to clone.
#[derive(Clone)]
pub struct Generator {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    ca: Arc<CertificateAuthority>,
    urls: PublishUrls,
    /// nextUpdate − thisUpdate.
    validity: Duration,
    every: std::time::Duration,
    /// One generation at a time in this process, so that concurrent
    /// requests for a missing CRL sign it once.
    busy: Mutex<()>,
    /// thisUpdate, and whether a stored CRL is still current.
    clock: Clock,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("urls", &self.inner.urls)
            .field("validity", &self.inner.validity)
            .finish_non_exhaustive()
    }
}

impl Generator {
    /// Fails on an invalid `publish` section (see
    /// [`PublishConfig::validate`]).
    pub fn new(
        cfg: &PublishConfig,
        store: Store,
        ca: Arc<CertificateAuthority>,
        clock: Clock,
    ) -> Result<Generator> {
        cfg.validate()?;
        Ok(Generator {
            inner: Arc::new(Inner {
                store,
                ca,
                urls: PublishUrls::from_config(cfg)?,
                validity: Duration::hours(cfg.next_update_hours.into()),
                every: std::time::Duration::from_secs(cfg.regenerate_secs.max(1)),
                busy: Mutex::new(()),
                clock,
            }),
        })
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn urls(&self) -> &PublishUrls {
        &self.inner.urls
    }

    /// The intermediate's DER, served at the caIssuers URL.
    pub fn intermediate_der(&self) -> &[u8] {
        self.inner.ca.intermediate_der()
    }

    /// How often the loop looks for shards to regenerate.
    pub fn interval(&self) -> std::time::Duration {
        self.inner.every
    }

    /// Regenerates every shard that needs it, now; returns (shard,
    /// cRLNumber) of each CRL written. Call it after a revocation to
    /// publish it without waiting for the loop. A shard that fails is
    /// logged and the others are still tried; the first error is returned.
    pub async fn regenerate_now(&self) -> Result<Vec<(u32, u64)>> {
        let _busy = self.inner.busy.lock().await;
        let shards = self.inner.urls.shards();
        let validity = self.inner.validity;
        let now = self.inner.clock.now();
        let due = self
            .inner
            .store
            .read(move |c| sa::crls::needing_regeneration(c, shards, now, validity))
            .await?;
        let mut done = Vec::with_capacity(due.len());
        let mut first_err = None;
        for shard in due {
            match self.generate(shard).await {
                Ok(crl) => done.push((shard, crl.number)),
                // Another instance created this shard's first CRL at the
                // same moment; it is published either way.
                Err(e) if e.kind == ErrorKind::Unavailable => {
                    tracing::debug!(shard, error = %e, "CRL generation deferred");
                }
                Err(e) => {
                    tracing::error!(shard, error = %e, "CRL generation failed");
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// Generates the next CRL of `shard` whether or not it is due.
    pub async fn regenerate_shard(&self, shard: u32) -> Result<PublishedCrl> {
        let _busy = self.inner.busy.lock().await;
        self.generate(shard).await
    }

    /// The CRL to serve for `shard`: the stored one, or a new one when none
    /// exists yet or the stored one has passed its nextUpdate. `None` when
    /// no certificate can name this shard.
    pub async fn current(&self, shard: u32) -> Result<Option<PublishedCrl>> {
        if let Some(crl) = self.fresh(shard).await? {
            return Ok(Some(crl));
        }
        let shards = self.inner.urls.shards();
        if !self
            .inner
            .store
            .read(move |c| sa::crls::shard_exists(c, shard, shards))
            .await?
        {
            return Ok(None);
        }
        let _busy = self.inner.busy.lock().await;
        // Someone may have generated it while this waited.
        if let Some(crl) = self.fresh(shard).await? {
            return Ok(Some(crl));
        }
        self.generate(shard).await.map(Some)
    }

    async fn fresh(&self, shard: u32) -> Result<Option<PublishedCrl>> {
        let crl = self
            .inner
            .store
            .read(move |c| sa::crls::latest(c, shard))
            .await?;
        let now = self.inner.clock.now();
        Ok(crl.filter(|c| c.next_update > now))
    }

    /// Signs and stores the next CRL of `shard`; callers hold `busy`.
    async fn generate(&self, shard: u32) -> Result<PublishedCrl> {
        let ca = self.inner.ca.clone();
        let url = self.inner.urls.crl(shard);
        let validity = self.inner.validity;
        let now = self.inner.clock.now();
        let rt = tokio::runtime::Handle::current();
        let request_id = crate::http::current_request_id();
        // One transaction: the CRL and its audit event commit together.
        let crl = self
            .inner
            .store
            .write(move |c| {
                let crl = sa::crls::next_number_and_store(c, shard, now, |content| {
                    let next_update = content.this_update + validity;
                    let req = CrlRequest {
                        number: content.number,
                        this_update: content.this_update,
                        next_update,
                        url: &url,
                        entries: content.entries,
                    };
                    let der = ca.sign_crl_linted(&req, &rt)?;
                    tracing::info!(
                        shard,
                        number = content.number,
                        entries = content.entries.len(),
                        bytes = der.len(),
                        "CRL signed"
                    );
                    Ok(SignedCrl { der, next_update })
                })?;
                record_publication(c, &crl, request_id, now)?;
                Ok(crl)
            })
            .await?;
        Ok(crl)
    }

    /// The loop: regenerates what is due now and every interval after,
    /// on whichever instance holds `lease` (once across a cluster), until
    /// `shutdown` turns true.
    pub async fn run(self, lease: Lease, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.inner.every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
            if !lease.held().await {
                continue;
            }
            // Errors are logged per shard inside; the next tick retries.
            if let Ok(done) = self.regenerate_now().await {
                if !done.is_empty() {
                    tracing::debug!(crls = ?done, "CRLs regenerated");
                }
            }
        }
        lease.release().await;
    }
}

/// The audit event of a published CRL (BR 5.4.1), by the CA itself.
fn record_publication(
    c: &mut sa::DbConn,
    crl: &PublishedCrl,
    request_id: Option<crate::http::RequestId>,
    now: time::OffsetDateTime,
) -> Result<()> {
    let this_update = crl
        .this_update
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| crate::error::Error::internal(format!("formatting thisUpdate: {e}")))?;
    sa::audit::append(
        c,
        sa::audit::NewEvent {
            actor: sa::audit::SYSTEM,
            action: "crl.publish",
            organization: None,
            subject: format!("crl:{}", crl.shard),
            reason: None,
            details: serde_json::json!({"shard": crl.shard, "number": crl.number, "this_update": this_update}),
            // A request that found its CRL due triggered it: recorded as such.
            request_id,
        },
        now,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use std::process::Command;

    use rcgen::{KeyPair, PublicKeyData};
    use x509_parser::prelude::FromDer;
    use x509_parser::revocation_list::CertificateRevocationList;

    use super::*;
    use crate::ca::crl::test_support::{have_openssl, openssl_verify, settings, TestCa};
    use crate::ca::profile::Profile;
    use crate::ca::{IssuanceRequest, IssuedCertificate, IssuerUrls, Settings};
    use crate::config::crl_shard;
    use crate::sa::crls::testing::{insert_certificate, store};

    const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

    pub(crate) struct Fixture {
        pub ca: TestCa,
        /// The same hierarchy, issuing with the publish URLs.
        pub authority: Arc<CertificateAuthority>,
        pub generator: Generator,
        pub store: Store,
        _db: crate::sa::crls::testing::TestDb,
    }

    pub(crate) fn fixture(shards: u32) -> Fixture {
        let ca = TestCa::new();
        let (db, store) = store();
        let cfg = PublishConfig {
            base_url: Some("http://crl.trustgate.jp".into()),
            crl_shards: shards,
            ..PublishConfig::default()
        };
        // The same hierarchy, loaded again with the URLs publish serves.
        let urls = PublishUrls::from_config(&cfg).unwrap();
        let crls = (0..urls.shards()).map(|s| urls.crl(s)).collect();
        let settings = Settings {
            urls: IssuerUrls::new(urls.issuer(), crls).unwrap(),
            ..settings()
        };
        let (root, cert, key) = TestCa::paths(ca.dir.path());
        let authority = Arc::new(CertificateAuthority::load(&root, &cert, &key, settings).unwrap());
        let generator =
            Generator::new(&cfg, store.clone(), authority.clone(), Clock::system()).unwrap();
        Fixture {
            ca,
            authority,
            generator,
            store,
            _db: db,
        }
    }

    impl Fixture {
        /// Issues a leaf whose CRLDP is its shard's URL and stores it.
        pub async fn issue(&self) -> (IssuedCertificate, u32, crate::core::CertificateId) {
            let key = KeyPair::generate().unwrap();
            let req = IssuanceRequest {
                public_key_der: key.subject_public_key_info(),
                names: vec!["a.example.net".into()],
                profile: Profile::Dv,
                subject: None,
                not_before: None,
                not_after: None,
            };
            let issued = self.authority.issue(req).unwrap();
            let (cert, shard) = (issued.certificate, issued.crl_shard);
            // The CA picks the shard publish computes from the serial.
            assert_eq!(
                shard,
                crl_shard(&cert.serial.0, self.generator.urls().shards())
            );
            assert_eq!(self.generator.urls().crl_for(&cert.serial.0).0, shard);
            let (serial, der, not_after) = (cert.serial.to_hex(), cert.der.clone(), cert.not_after);
            let id = self
                .store
                .write(move |c| Ok(insert_certificate(c, &serial, &der, shard, not_after)))
                .await
                .unwrap();
            (cert, shard, id)
        }

        pub async fn revoke(&self, id: crate::core::CertificateId, reason: i32) {
            let now = Clock::system().now();
            self.store
                .write(move |c| sa::certificates::revoke(c, id, reason, now))
                .await
                .unwrap();
        }
    }

    fn serials(der: &[u8]) -> Vec<Vec<u8>> {
        let (_, crl) = CertificateRevocationList::from_der(der).unwrap();
        crl.iter_revoked_certificates()
            .map(|r| r.raw_serial().to_vec())
            .collect()
    }

    #[tokio::test]
    async fn revocations_reach_their_shard_with_growing_numbers() {
        let f = fixture(2);
        let first = f.generator.regenerate_now().await.unwrap();
        assert_eq!(first.iter().map(|d| d.0).collect::<Vec<_>>(), [0, 1]);
        // Nothing due: nothing written.
        assert!(f.generator.regenerate_now().await.unwrap().is_empty());

        let (cert, shard, id) = f.issue().await;
        let (_, _, other) = f.issue().await;
        f.revoke(id, 1).await;
        let second = f.generator.regenerate_now().await.unwrap();
        assert_eq!(second.len(), 1, "{second:?}");
        assert_eq!(second[0].0, shard);
        let before = first.iter().find(|d| d.0 == shard).unwrap().1;
        assert!(second[0].1 > before);

        let crl = f.generator.current(shard).await.unwrap().unwrap();
        assert_eq!(serials(&crl.der), [cert.serial.0.to_vec()]);
        assert!(crl.next_update - crl.this_update <= Duration::days(10));
        assert_eq!(crl.next_update - crl.this_update, Duration::days(7));

        f.revoke(other, 0).await;
        f.generator.regenerate_now().await.unwrap();
        let forced = f.generator.regenerate_shard(shard).await.unwrap();
        assert!(forced.number > second[0].1);
        let mut total = 0;
        for s in 0..2 {
            total += serials(&f.generator.current(s).await.unwrap().unwrap().der).len();
        }
        assert_eq!(total, 2);
        // A shard no certificate can name.
        assert!(f.generator.current(9).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn missing_crl_is_generated_on_demand() {
        let f = fixture(4);
        let crl = f.generator.current(3).await.unwrap().unwrap();
        assert_eq!(crl.shard, 3);
        let again = f.generator.current(3).await.unwrap().unwrap();
        assert_eq!(again, crl);
    }

    #[tokio::test]
    async fn the_loop_publishes_and_stops() {
        let f = fixture(1);
        let (tx, rx) = watch::channel(false);
        let lease = Lease::new(f.store.clone(), "crl", "me".into(), LEASE_TTL);
        let task = tokio::spawn(f.generator.clone().run(lease, rx));
        for _ in 0..100 {
            if f.store
                .run(|c| sa::crls::latest(c, 0))
                .await
                .unwrap()
                .is_some()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(f
            .store
            .run(|c| sa::crls::latest(c, 0))
            .await
            .unwrap()
            .is_some());
        tx.send(true).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        let now = Clock::system().now();
        let holder = f.store.run(move |c| sa::leases::holder(c, "crl", now));
        assert_eq!(holder.await.unwrap(), None, "released at shutdown");
    }

    /// Another instance holds the lease: this one's loop publishes nothing.
    #[tokio::test]
    async fn the_loop_leaves_the_work_to_the_lease_holder() {
        let f = fixture(1);
        let now = Clock::system().now();
        let taken = f
            .store
            .run(move |c| sa::leases::acquire(c, "crl", "other", now, LEASE_TTL));
        assert!(taken.await.unwrap());
        let (tx, rx) = watch::channel(false);
        let lease = Lease::new(f.store.clone(), "crl", "me".into(), LEASE_TTL);
        let task = tokio::spawn(f.generator.clone().run(lease, rx));
        // The first round is immediate; give it time to have run.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        tx.send(true).unwrap();
        task.await.unwrap();
        let latest = f.store.run(|c| sa::crls::latest(c, 0)).await.unwrap();
        assert!(latest.is_none(), "generated without the lease");
    }

    /// `openssl verify -crl_check` with the published CRL: the revoked leaf
    /// fails, an unrevoked leaf of the same shard passes.
    #[tokio::test]
    async fn openssl_rejects_the_revoked_leaf() {
        let f = fixture(1);
        let (revoked, _, id) = f.issue().await;
        let (good, _, _) = f.issue().await;
        f.revoke(id, 4).await;
        f.generator.regenerate_now().await.unwrap();
        let crl = f.generator.current(0).await.unwrap().unwrap();
        if !have_openssl() {
            return;
        }
        let der_path = f.ca.dir.path().join("published.crl");
        std::fs::write(&der_path, &crl.der).unwrap();
        let text = Command::new("openssl")
            .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
            .arg(&der_path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("Superseded"), "{text}");
        assert!(
            text.contains("URI:http://crl.trustgate.jp/crl/0.crl"),
            "{text}"
        );

        let pem_path = f.ca.write(
            "published.crl.pem",
            &pem::encode(&pem::Pem::new("X509 CRL", crl.der.clone())),
        );
        let args = ["-crl_check", "-CRLfile", pem_path.to_str().unwrap()];
        let (ok, out) = openssl_verify(&f.ca, &revoked.pem, &args).unwrap();
        assert!(!ok && out.contains("certificate revoked"), "{out}");
        let (ok, out) = openssl_verify(&f.ca, &good.pem, &args).unwrap();
        assert!(ok, "{out}");
    }
}
