//! Replay nonces (RFC 8555 §6.5).
//!
//! A nonce is `expiry (8 bytes) ‖ body (12) ‖ HMAC tag (12)`, base64url:
//! issuing one needs no database write, and the tag tells a nonce of this
//! server from anything else without a lookup. Where a redemption is
//! recorded depends on how many instances share the database:
//!
//! - **Shared** (PostgreSQL, where several instances serve one CA): the MAC
//!   key is shared through the database, the body is random, and redeeming
//!   inserts the nonce into `used_nonces` (see `sa::nonces`), so any
//!   instance redeems any nonce exactly once.
//! - **Local** (SQLite, one process): the key is made at start and kept in
//!   memory, the body carries a serial number, and a bitmap of the last
//!   [`WINDOW`] serials records which were redeemed. No write per request;
//!   memory is fixed. A nonce of an earlier process (or of another process
//!   on the same file) fails the tag, and one older than the window is
//!   refused: both are `badNonce`, which clients answer by retrying with
//!   the fresh nonce the problem carries (RFC 8555 §6.5). Nothing can be
//!   redeemed twice, since a restart forgets the key along with the bitmap.

use std::sync::{Arc, Mutex, PoisonError};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::{Error, ErrorKind, Result};
use crate::metrics::Metrics;
use crate::sa::Store;

const TAG_LEN: usize = 12;
const BODY_LEN: usize = 12;
const NONCE_LEN: usize = 8 + BODY_LEN + TAG_LEN;
/// A local body: `salt (4) ‖ serial XOR mask (8)`.
const SALT_LEN: usize = 4;

/// Serials a local ledger remembers: 4 Mi nonces in a 512 KiB bitmap,
/// nearly 15 minutes of nonces at 5,000 responses a second. A client
/// uses a nonce within seconds of getting it.
pub const WINDOW: u64 = 1 << 22;

/// Name of the shared MAC key in `server_secrets`.
pub const SECRET_NAME: &str = "nonce-mac-key";

pub struct Nonces {
    key: ring::hmac::Key,
    lifetime: time::Duration,
    rng: SystemRandom,
    ledger: Ledger,
}

enum Ledger {
    /// Redemptions go to `used_nonces`.
    Shared,
    /// Redemptions are recorded in this process's memory.
    Local {
        window: Mutex<Window>,
        metrics: Arc<Metrics>,
    },
}

impl Nonces {
    /// Nonces any instance sharing `secret` (and the database) redeems.
    pub fn shared(secret: &[u8], lifetime: time::Duration) -> Nonces {
        Nonces {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
            lifetime,
            rng: SystemRandom::new(),
            ledger: Ledger::Shared,
        }
    }

    /// Nonces only this process issues and redeems; `metrics` gets the
    /// number of redeemed nonces it remembers.
    pub fn local(lifetime: time::Duration, metrics: Arc<Metrics>) -> Result<Nonces> {
        let key = Self::generate_secret()?;
        Ok(Nonces {
            ledger: Ledger::Local {
                window: Mutex::new(Window::new()),
                metrics,
            },
            ..Nonces::shared(&key, lifetime)
        })
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
        match &self.ledger {
            Ledger::Shared => self.random(&mut buf[8..8 + BODY_LEN])?,
            Ledger::Local { window, .. } => {
                self.random(&mut buf[8..8 + SALT_LEN])?;
                let serial = lock(window).issue();
                let masked = serial ^ self.mask(&buf[..8 + SALT_LEN]);
                buf[8 + SALT_LEN..8 + BODY_LEN].copy_from_slice(&masked.to_be_bytes());
            }
        }
        let tag = ring::hmac::sign(&self.key, &buf[..8 + BODY_LEN]);
        buf[8 + BODY_LEN..].copy_from_slice(&tag.as_ref()[..TAG_LEN]);
        Ok(B64.encode(buf))
    }

    /// Checks that this server issued `nonce`, that it has not expired and
    /// that it was not used before, and records it as used.
    pub async fn redeem(&self, store: &Store, nonce: &str, now: OffsetDateTime) -> Result<()> {
        let raw = self.check(nonce, now)?;
        let fresh = match &self.ledger {
            // Redeemed with those of concurrent requests in one transaction
            // whose commit is not waited onto the disk: a request that
            // changes anything commits again, synced, after it (which makes
            // this one durable too), so only a read could be replayed after
            // a power loss (`Store::redeem_nonce`).
            Ledger::Shared => store.redeem_nonce(nonce, expiry_of(&raw)?).await?,
            Ledger::Local { window, metrics } => {
                let mut w = lock(window);
                let fresh = w.redeem(self.serial(&raw))?;
                metrics.set_nonces_used(w.redeemed as i64);
                fresh
            }
        };
        if fresh {
            Ok(())
        } else {
            Err(bad("nonce has already been used"))
        }
    }

    /// The raw bytes of `nonce` if this server issued it and it has not
    /// expired.
    fn check(&self, nonce: &str, now: OffsetDateTime) -> Result<[u8; NONCE_LEN]> {
        let raw: [u8; NONCE_LEN] = B64
            .decode(nonce)
            .map_err(|_| bad("nonce is not base64url"))?
            .try_into()
            .map_err(|_| bad("nonce was not issued by this server"))?;
        let tag = ring::hmac::sign(&self.key, &raw[..8 + BODY_LEN]);
        if !bool::from(tag.as_ref()[..TAG_LEN].ct_eq(&raw[8 + BODY_LEN..])) {
            return Err(bad("nonce was not issued by this server"));
        }
        if expiry_of(&raw)? <= now {
            return Err(bad("nonce has expired"));
        }
        Ok(raw)
    }

    /// The serial number in a local nonce's body.
    fn serial(&self, raw: &[u8; NONCE_LEN]) -> u64 {
        let (salted, rest) = raw.split_at(8 + SALT_LEN);
        let mut masked = [0u8; 8];
        masked.copy_from_slice(&rest[..8]);
        u64::from_be_bytes(masked) ^ self.mask(salted)
    }

    /// Hides a local nonce's serial (how many nonces this process issued)
    /// under a mask only the key's holder can compute.
    fn mask(&self, expiry_and_salt: &[u8]) -> u64 {
        let mut ctx = ring::hmac::Context::with_key(&self.key);
        // Distinct from a tag's input, which is 20 bytes long.
        ctx.update(b"serial-mask");
        ctx.update(expiry_and_salt);
        let mut m = [0u8; 8];
        m.copy_from_slice(&ctx.sign().as_ref()[..8]);
        u64::from_be_bytes(m)
    }

    fn random(&self, out: &mut [u8]) -> Result<()> {
        self.rng
            .fill(out)
            .map_err(|_| Error::internal("OS random number generator failed"))
    }
}

fn bad(detail: &str) -> Error {
    Error::new(ErrorKind::BadNonce, detail.to_owned())
}

fn expiry_of(raw: &[u8; NONCE_LEN]) -> Result<OffsetDateTime> {
    let mut exp = [0u8; 8];
    exp.copy_from_slice(&raw[..8]);
    OffsetDateTime::from_unix_timestamp(i64::from_be_bytes(exp))
        .map_err(|_| bad("nonce was not issued by this server"))
}

/// Nothing panics while holding the window, and its state is valid after
/// every statement, so a poisoned lock is still good.
fn lock(window: &Mutex<Window>) -> std::sync::MutexGuard<'_, Window> {
    window.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The serials of the last [`WINDOW`] nonces issued, and which of them
/// were redeemed.
struct Window {
    /// The serial the next nonce gets.
    next: u64,
    /// Bit `s % WINDOW` is set when serial `s` (within the window) was
    /// redeemed.
    used: Vec<u64>,
    /// Bits set in `used`.
    redeemed: usize,
}

impl Window {
    fn new() -> Window {
        Window {
            next: 0,
            used: vec![0; (WINDOW / 64) as usize],
            redeemed: 0,
        }
    }

    fn slot(serial: u64) -> (usize, u64) {
        let bit = serial % WINDOW;
        ((bit / 64) as usize, 1 << (bit % 64))
    }

    fn issue(&mut self) -> u64 {
        let serial = self.next;
        self.next += 1;
        // The slot held serial − WINDOW, which leaves the window now.
        let (word, bit) = Self::slot(serial);
        if self.used[word] & bit != 0 {
            self.used[word] &= !bit;
            self.redeemed -= 1;
        }
        serial
    }

    /// Marks `serial` used; false if it was already.
    fn redeem(&mut self, serial: u64) -> Result<bool> {
        if serial >= self.next {
            // The tag was good, so only a leaked key gets here.
            return Err(bad("nonce was not issued by this server"));
        }
        if self.next - serial > WINDOW {
            return Err(bad(
                "nonce is too old (too many were issued since); use the fresh one",
            ));
        }
        let (word, bit) = Self::slot(serial);
        if self.used[word] & bit != 0 {
            return Ok(false);
        }
        self.used[word] |= bit;
        self.redeemed += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour() -> time::Duration {
        time::Duration::hours(1)
    }

    fn local() -> Nonces {
        Nonces::local(hour(), Arc::default()).expect("local nonces")
    }

    /// What `redeem` does on a local ledger, without a store.
    fn redeem_local(n: &Nonces, nonce: &str, now: OffsetDateTime) -> Result<bool> {
        let raw = n.check(nonce, now)?;
        match &n.ledger {
            Ledger::Local { window, .. } => lock(window).redeem(n.serial(&raw)),
            Ledger::Shared => panic!("not a local ledger"),
        }
    }

    #[test]
    fn issued_nonces_check_and_tampering_fails() {
        for n in [Nonces::shared(&[1u8; 32], hour()), local()] {
            let now = OffsetDateTime::now_utc();
            let a = n.issue(now).expect("issue");
            let b = n.issue(now).expect("issue");
            assert_ne!(a, b);
            assert!(n.check(&a, now).is_ok());
            for at in [0, 10, 25] {
                let mut raw = B64.decode(&a).expect("b64");
                raw[at] ^= 1;
                let err = n.check(&B64.encode(raw), now).unwrap_err();
                assert_eq!(err.kind, ErrorKind::BadNonce);
            }
        }
        let a = Nonces::shared(&[1u8; 32], hour())
            .issue(OffsetDateTime::now_utc())
            .unwrap();
        let other = Nonces::shared(&[2u8; 32], hour());
        assert!(other.check(&a, OffsetDateTime::now_utc()).is_err());
    }

    #[test]
    fn expired_nonces_fail() {
        for n in [
            Nonces::shared(&[1u8; 32], time::Duration::seconds(10)),
            Nonces {
                lifetime: time::Duration::seconds(10),
                ..local()
            },
        ] {
            let now = OffsetDateTime::now_utc();
            let a = n.issue(now).expect("issue");
            let err = n.check(&a, now + time::Duration::seconds(11)).unwrap_err();
            assert_eq!(err.kind, ErrorKind::BadNonce);
            assert_eq!(err.detail, "nonce has expired");
            assert!(n.check("!!", now).is_err());
        }
    }

    #[test]
    fn a_local_nonce_is_redeemed_once_and_only_by_its_process() {
        let n = local();
        let now = OffsetDateTime::now_utc();
        let (a, b) = (n.issue(now).unwrap(), n.issue(now).unwrap());
        assert!(redeem_local(&n, &b, now).unwrap(), "out of order is fine");
        assert!(redeem_local(&n, &a, now).unwrap());
        assert!(!redeem_local(&n, &a, now).unwrap());
        assert!(!redeem_local(&n, &b, now).unwrap());

        // A restarted process (or another one on the same file) has
        // another key: the old process's nonces are not its own.
        let restarted = local();
        let c = n.issue(now).unwrap();
        let err = redeem_local(&restarted, &c, now).unwrap_err();
        assert_eq!(err.detail, "nonce was not issued by this server");
        assert!(redeem_local(&n, &c, now).unwrap());
    }

    #[test]
    fn a_local_nonce_does_not_show_how_many_were_issued() {
        let n = local();
        let now = OffsetDateTime::now_utc();
        let body = |nonce: &str| -> u64 {
            let raw = B64.decode(nonce).unwrap();
            u64::from_be_bytes(raw[8 + SALT_LEN..8 + BODY_LEN].try_into().unwrap())
        };
        let (a, b) = (n.issue(now).unwrap(), n.issue(now).unwrap());
        let (ra, rb) = (n.check(&a, now).unwrap(), n.check(&b, now).unwrap());
        assert_eq!((n.serial(&ra), n.serial(&rb)), (0, 1));
        assert_ne!((body(&a), body(&b)), (0, 1));
        assert_ne!(body(&a) ^ body(&b), 1, "consecutive serials look unrelated");
    }

    #[test]
    fn the_window_forgets_the_oldest_serials_and_refuses_them() {
        let mut w = Window::new();
        let first = w.issue();
        let second = w.issue();
        assert!(w.redeem(first).unwrap());
        assert_eq!(w.redeemed, 1);
        for _ in 2..WINDOW {
            w.issue();
        }
        // `second` is the oldest serial still in the window.
        assert!(w.redeem(second).unwrap());
        assert!(!w.redeem(second).unwrap());
        assert_eq!(w.redeemed, 2);
        // Serial WINDOW reuses `first`'s bit: cleared, not inherited.
        let reused = w.issue();
        assert_eq!(Window::slot(reused), Window::slot(first));
        assert_eq!(w.redeemed, 1);
        assert!(w.redeem(reused).unwrap());
        let err = w.redeem(first).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadNonce);
        assert!(err.detail.starts_with("nonce is too old"), "{}", err.detail);
        // Not issued yet: refused, not recorded.
        assert!(w.redeem(w.next).is_err());
        assert_eq!(w.redeemed, 2);
    }
}
