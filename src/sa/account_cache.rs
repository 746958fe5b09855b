//! Accounts by id, kept in memory: every POST but newAccount is signed by
//! an account (`kid`), so without a cache each one reads the account row
//! and parses its key again.
//!
//! An account changes only through `Store::change_account` (key rollover,
//! deactivation, contact), which drops it from this instance's cache once
//! the change has committed. Other instances learn of it from the
//! database: on PostgreSQL the change's transaction sends a `NOTIFY`, and
//! every instance's listener thread drops the account when it arrives
//! (it polls every `POLL`, so another instance serves the old account for
//! that long at most — no longer than a request that read the row just
//! before the commit would have used it anyway). While the listener is
//! not confirmed connected the cache is bypassed, and when it reconnects
//! the cache starts empty, so no notice can be missed. SQLite is one
//! instance (docs/deployment.md) and needs no listener; but an operator's
//! command (`trustgate account deactivate`, `eab revoke`) is another
//! process on the same file, so there an entry is trusted only for
//! `LOCAL_FRESH_FOR`.
//!
//! A read that began before a change committed must not put the old row
//! back after the change dropped it: every drop advances a generation,
//! and a read's row is kept only if the generation it started at is still
//! current.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;

use crate::core::{Account, AccountId};

/// Entries kept (about 1 KB each); when full, the cache starts over
/// (cheap, and the hot set — accounts in the middle of an order now —
/// refills it at once).
const CAPACITY: usize = 10_000;

/// How long a SQLite instance serves an account from memory before
/// reading it again: the longest an operator's command run beside a live
/// server waits to take effect.
const LOCAL_FRESH_FOR: Duration = Duration::from_secs(5);

/// How often the listener asks PostgreSQL for notices.
const POLL: Duration = Duration::from_millis(10);

/// How long a listener's last confirmation vouches for the cache: a
/// listener stuck on a hung connection stops vouching after this.
const CONFIRMED_FOR: Duration = Duration::from_secs(1);

/// How often the listener proves its connection with a round trip (a
/// dead connection whose socket never errors would otherwise poll
/// nothing forever).
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// The PostgreSQL channel account changes are announced on.
pub const CHANNEL: &str = "trustgate_accounts";

pub struct AccountCache {
    state: Mutex<State>,
    /// Only on PostgreSQL: when the listener last confirmed it had
    /// received every notice (nanoseconds since `epoch`; 0 = never).
    confirmed_at: Option<AtomicU64>,
    epoch: Instant,
}

struct State {
    generation: u64,
    /// Each with when it was read.
    accounts: HashMap<AccountId, (Account, Instant)>,
}

/// Where a lookup stands: a hit, or what a miss must bring back to `put`.
pub enum Lookup {
    Hit(Account),
    Miss(Generation),
}

/// The generation a read started at (`AccountCache::put`).
pub struct Generation(Option<u64>);

impl AccountCache {
    /// A cache for one instance (SQLite): changes are all made here.
    pub fn local() -> AccountCache {
        AccountCache::new(None)
    }

    /// A cache whose entries other instances may change (PostgreSQL): it
    /// serves nothing until `listen`'s thread has confirmed its connection.
    pub fn shared(database_url: &str) -> Result<Arc<AccountCache>, std::io::Error> {
        let cache = Arc::new(AccountCache::new(Some(AtomicU64::new(0))));
        let weak = Arc::downgrade(&cache);
        let url = database_url.to_owned();
        std::thread::Builder::new()
            .name("sa-accounts-listener".into())
            .spawn(move || listen(&url, &weak))?;
        Ok(cache)
    }

    fn new(confirmed_at: Option<AtomicU64>) -> AccountCache {
        AccountCache {
            state: Mutex::new(State {
                generation: 0,
                accounts: HashMap::new(),
            }),
            confirmed_at,
            epoch: Instant::now(),
        }
    }

    pub fn get(&self, id: AccountId) -> Lookup {
        if !self.vouched_for() {
            return Lookup::Miss(Generation(None));
        }
        let state = self.lock();
        match state.accounts.get(&id) {
            Some((a, read)) if self.fresh(*read) => Lookup::Hit(a.clone()),
            _ => Lookup::Miss(Generation(Some(state.generation))),
        }
    }

    /// Keeps `account`, read after `get` returned `at`, unless a change
    /// has been announced since.
    pub fn put(&self, at: Generation, account: &Account) {
        let Generation(Some(at)) = at else { return };
        let mut state = self.lock();
        if state.generation != at {
            return;
        }
        if state.accounts.len() >= CAPACITY {
            state.accounts.clear();
        }
        state
            .accounts
            .insert(account.id, (account.clone(), Instant::now()));
    }

    /// `id` changed (or may have): forget it.
    pub fn changed(&self, id: AccountId) {
        let mut state = self.lock();
        state.generation += 1;
        state.accounts.remove(&id);
    }

    /// Anything may have changed: forget everything.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.accounts.clear();
    }

    /// An entry read at `read` may still be served: always on PostgreSQL
    /// (notices drop it), for `LOCAL_FRESH_FOR` on SQLite.
    fn fresh(&self, read: Instant) -> bool {
        self.confirmed_at.is_some() || read.elapsed() < LOCAL_FRESH_FOR
    }

    fn vouched_for(&self) -> bool {
        let Some(confirmed_at) = &self.confirmed_at else {
            return true;
        };
        match confirmed_at.load(Ordering::Acquire) {
            0 => false,
            at => {
                let now = self.epoch.elapsed().as_nanos() as u64;
                now.saturating_sub(at) < CONFIRMED_FOR.as_nanos() as u64
            }
        }
    }

    fn confirm(&self) {
        if let Some(c) = &self.confirmed_at {
            let now = (self.epoch.elapsed().as_nanos() as u64).max(1);
            c.store(now, Ordering::Release);
        }
    }

    fn unconfirm(&self) {
        if let Some(c) = &self.confirmed_at {
            c.store(0, Ordering::Release);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves a consistent map.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The listener thread: drops every account another instance announces
/// as changed, and vouches for the cache while it is connected. Ends
/// with the cache.
fn listen(url: &str, cache: &Weak<AccountCache>) {
    let mut conn: Option<diesel::PgConnection> = None;
    let mut probed = Instant::now();
    while let Some(cache) = cache.upgrade() {
        let Some(c) = conn.as_mut() else {
            match super::connect_postgres(url)
                .map_err(|e| e.to_string())
                .and_then(|mut c| {
                    c.batch_execute(&format!("LISTEN {CHANNEL}"))
                        .map(|()| c)
                        .map_err(|e| e.to_string())
                }) {
                Ok(c) => {
                    // Notices sent before LISTEN are lost to us: start
                    // afresh.
                    cache.clear();
                    cache.confirm();
                    probed = Instant::now();
                    conn = Some(c);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "account cache: cannot listen for changes; cache bypassed");
                    drop(cache);
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            continue;
        };
        let mut healthy = drain(c, &cache);
        if healthy && probed.elapsed() >= PROBE_EVERY {
            healthy = c.batch_execute("SELECT 1").is_ok() && drain(c, &cache);
            probed = Instant::now();
        }
        if healthy {
            cache.confirm();
        } else {
            tracing::warn!(
                "account cache: lost the change listener; cache bypassed until it is back"
            );
            cache.unconfirm();
            conn = None;
        }
        drop(cache);
        std::thread::sleep(POLL);
    }
}

/// Applies the notices received so far; false if the connection failed.
fn drain(c: &mut diesel::PgConnection, cache: &AccountCache) -> bool {
    for notice in c.notifications_iter() {
        match notice {
            Ok(n) => match n.payload.parse() {
                Ok(id) => cache.changed(AccountId(id)),
                Err(_) => cache.clear(),
            },
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::AccountStatus;

    fn account(id: i64) -> Account {
        Account {
            id: AccountId(id),
            key_thumbprint: format!("thumb-{id}"),
            jwk: serde_json::Map::new(),
            contact: vec![],
            status: AccountStatus::Valid,
            binding: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            terms_version: Some("1".into()),
        }
    }

    fn miss(cache: &AccountCache, id: i64) -> Generation {
        match cache.get(AccountId(id)) {
            Lookup::Miss(g) => g,
            Lookup::Hit(_) => panic!("account {id} should not be cached"),
        }
    }

    #[test]
    fn a_read_is_kept_and_a_change_drops_it() {
        let cache = AccountCache::local();
        let at = miss(&cache, 1);
        cache.put(at, &account(1));
        assert!(matches!(cache.get(AccountId(1)), Lookup::Hit(a) if a.key_thumbprint == "thumb-1"));
        cache.changed(AccountId(1));
        miss(&cache, 1);
    }

    /// A read that started before a change and finishes after it would
    /// put the old row back; it is not kept.
    #[test]
    fn a_read_overtaken_by_a_change_is_not_kept() {
        let cache = AccountCache::local();
        let at = miss(&cache, 1);
        cache.changed(AccountId(2));
        cache.put(at, &account(1));
        miss(&cache, 1);
    }

    /// A shared cache serves nothing until its listener confirms, and
    /// stops serving when the confirmation grows old.
    #[test]
    fn a_shared_cache_serves_only_while_its_listener_vouches_for_it() {
        let cache = AccountCache::new(Some(AtomicU64::new(0)));
        let Lookup::Miss(Generation(None)) = cache.get(AccountId(1)) else {
            panic!("an unconfirmed cache must not even offer to keep a read")
        };
        cache.confirm();
        let at = miss(&cache, 1);
        cache.put(at, &account(1));
        assert!(matches!(cache.get(AccountId(1)), Lookup::Hit(_)));
        cache.unconfirm();
        assert!(matches!(cache.get(AccountId(1)), Lookup::Miss(_)));
        // A confirmation older than CONFIRMED_FOR vouches for nothing:
        // here, one made just after an epoch 10 s ago.
        let mut cache = cache;
        cache.epoch = Instant::now() - Duration::from_secs(10);
        cache
            .confirmed_at
            .as_ref()
            .unwrap()
            .store(1, Ordering::Release);
        assert!(matches!(cache.get(AccountId(1)), Lookup::Miss(_)));
        cache.confirm();
        assert!(matches!(cache.get(AccountId(1)), Lookup::Hit(_)));
    }

    /// Through the store: a cached account is served without the
    /// database; a change through `change_account` is seen at once by
    /// this instance and, on PostgreSQL, soon by another instance.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_reach_the_caches_of_every_instance() {
        use crate::sa::schema::accounts as t;
        use crate::sa::{accounts, crls, Backend, Store};
        use diesel::prelude::*;

        let (db, a) = crls::testing::store();
        let new = accounts::NewAccount {
            key_thumbprint: "thumb-old".into(),
            jwk: serde_json::Map::new(),
            contact: vec![],
            eab_credential: None,
            terms_version: "1".into(),
        };
        let now = crate::core::Clock::system().now();
        let id = match a.run(move |c| accounts::create(c, new, now)).await.unwrap() {
            accounts::Created::New(acct) => acct.id,
            accounts::Created::Existing(_) => panic!("a fresh database"),
        };
        cached(&a, id).await;

        // Changed behind the cache's back: still served from the cache.
        a.run(move |c| {
            diesel::update(t::table.find(id.0))
                .set(t::contact.eq(r#"["mailto:raw@example.com"]"#))
                .execute(c)
                .map_err(Into::into)
        })
        .await
        .unwrap();
        let hits = |s: &Store| {
            let page = s.metrics().render(None);
            let line = page
                .lines()
                .find(|l| l.starts_with("trustgate_account_cache_hits_total "))
                .expect("the hits counter")
                .to_owned();
            line.rsplit(' ').next().unwrap().parse::<u64>().unwrap()
        };
        let before = hits(&a);
        let served = a.account(id).await.unwrap().unwrap();
        assert!(served.contact.is_empty(), "a hit reads nothing");
        assert_eq!(hits(&a), before + 1);

        // Changed the way every change is made: seen at once.
        a.change_account(id, move |c| accounts::deactivate(c, id))
            .await
            .unwrap();
        let served = a.account(id).await.unwrap().unwrap();
        assert_eq!(served.status, AccountStatus::Deactivated);
        assert_eq!(served.contact, vec!["mailto:raw@example.com".to_owned()]);

        if a.backend != Backend::Postgres {
            eprintln!("SQLite is one instance: the second-instance half runs on PostgreSQL");
            return;
        }
        let b = Store::open(&db.url, 2, Duration::from_secs(5)).unwrap();
        cached(&b, id).await;
        a.change_account(id, move |c| {
            accounts::change_key(c, id, "thumb-new", &serde_json::Map::new())
        })
        .await
        .unwrap();
        let started = Instant::now();
        loop {
            let served = b.account(id).await.unwrap().unwrap();
            if served.key_thumbprint == "thumb-new" {
                break;
            }
            assert!(
                // Room for a loaded machine; without the notice it
                // would never happen.
                started.elapsed() < Duration::from_secs(5),
                "the other instance still serves the old key"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        eprintln!(
            "the other instance saw the new key after {:?}",
            started.elapsed()
        );
    }

    /// Reads `id` through `store` until its cache holds it (a shared cache
    /// keeps nothing before its listener has confirmed).
    async fn cached(store: &crate::sa::Store, id: AccountId) {
        let started = Instant::now();
        loop {
            store
                .account(id)
                .await
                .unwrap()
                .expect("the account exists");
            if matches!(store.accounts.get(id), Lookup::Hit(_)) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the cache never kept account {id}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
