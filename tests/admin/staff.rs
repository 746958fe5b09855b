//! Staff logins through the library, on a manual clock: RFC 6238 codes
//! within one step and once each, the lockout after failed logins, reset
//! and disable (on SQLite and, with TEST_DATABASE_URL, PostgreSQL).
#![allow(clippy::unwrap_used)]

use time::{Duration, OffsetDateTime};
use trustgate::config::{Config, StaffRole};
use trustgate::core::Clock;
use trustgate::vetting::staff::{totp_code, Enrolment};
use trustgate::vetting::Vetting;

struct Fixture {
    vetting: Vetting,
    clock: Clock,
    _dir: tempfile::TempDir,
    _database: Option<crate::acme::ScratchDatabase>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let database = crate::acme::ScratchDatabase::create();
    if let Some(db) = &database {
        cfg.database.url = db.url.clone();
    }
    // A sealing key, as production has: the TOTP secrets are sealed.
    cfg.vetting.eab_encryption_key = Some("c2VjcmV0LWVhYi1rZXktYnl0ZXMtMzItbG9uZy4uLi4".into());
    let clock = Clock::manual(OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap());
    let store = trustgate::app::open_store_with_clock(&cfg, clock.clone()).expect("store");
    Fixture {
        vetting: Vetting::new(store, cfg.vetting.clone()),
        clock,
        _dir: dir,
        _database: database,
    }
}

impl Fixture {
    fn code(&self, e: &Enrolment, steps: i64) -> String {
        totp_code(
            e.totp_secret.expose(),
            self.clock.now() + Duration::seconds(30 * steps),
        )
        .unwrap()
    }
}

#[tokio::test]
async fn codes_count_within_one_step_and_once() {
    let f = fixture();
    let v = &f.vetting;
    let e = v
        .add_staff(None, "alice", vec![StaffRole::Approve])
        .await
        .unwrap();
    let pw = e.password.expose();
    // Two steps away is too far; one step late is fine, once.
    assert!(v.login("alice", pw, &f.code(&e, 2)).await.is_err());
    let late = f.code(&e, -1);
    let who = v.login("alice", pw, &late).await.unwrap();
    assert_eq!(who.actor(), "staff:alice#1");
    let again = v.login("alice", pw, &late).await.unwrap_err();
    assert!(again.to_string().contains("used already"), "{again}");
    // An earlier step than one used is spent too.
    assert!(v.login("alice", pw, &f.code(&e, -2)).await.is_err());
    v.login("alice", pw, &f.code(&e, 0)).await.unwrap();
    // A second bootstrap is refused: staff exist.
    let e2 = v.add_staff(None, "mallory", vec![StaffRole::Approve]).await;
    assert!(e2.unwrap_err().to_string().contains("staff exist"));
    // The one-time password is replaced by the member.
    v.change_password(&who, "short").await.unwrap_err();
    v.change_password(&who, "correct horse battery")
        .await
        .unwrap();
    f.clock.advance(Duration::seconds(30));
    assert!(v.login("alice", pw, &f.code(&e, 0)).await.is_err());
    f.clock.advance(Duration::seconds(30));
    v.login("alice", "correct horse battery", &f.code(&e, 0))
        .await
        .unwrap();
    let listed = v.list_staff().await.unwrap();
    assert!(!listed[0].must_change_password);
}

#[tokio::test]
async fn failed_logins_lock_the_member_out_for_a_while() {
    let f = fixture();
    let v = &f.vetting;
    let root = v
        .add_staff(None, "root", vec![StaffRole::Approve])
        .await
        .unwrap();
    let by = root.member.identity();
    let e = v
        .add_staff(Some(&by), "bob", vec![StaffRole::Vet])
        .await
        .unwrap();
    for _ in 0..5 {
        let r = v.login("bob", "wrong", &f.code(&e, 0)).await;
        assert!(r.unwrap_err().to_string().contains("login failed"));
    }
    let locked = v
        .login("bob", e.password.expose(), &f.code(&e, 0))
        .await
        .unwrap_err();
    assert!(locked.to_string().contains("locked out"), "{locked}");
    f.clock.advance(Duration::minutes(16));
    v.login("bob", e.password.expose(), &f.code(&e, 0))
        .await
        .unwrap();
    // Unknown names and disabled members get nowhere.
    assert!(v.login("nobody", "x", "000000").await.is_err());
    v.disable_staff(&by, "bob").await.unwrap();
    f.clock.advance(Duration::seconds(30));
    let off = v
        .login("bob", e.password.expose(), &f.code(&e, 0))
        .await
        .unwrap_err();
    assert!(off.to_string().contains("disabled"), "{off}");
    // A reset gives a new secret: the old one's codes no longer work.
    let fresh = v.reset_staff(&by, "bob").await.unwrap();
    assert_ne!(fresh.totp_secret.expose(), e.totp_secret.expose());
    let events = v.audit(None, 100).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for want in ["staff.add", "staff.locked", "staff.disable", "staff.reset"] {
        assert!(actions.contains(&want), "{actions:?}");
    }
    // No secret reaches the audit trail.
    let text = serde_json::to_string(&events).unwrap();
    for secret in [
        e.password.expose(),
        e.totp_secret.expose(),
        fresh.password.expose(),
    ] {
        assert!(!text.contains(secret));
    }
}

#[tokio::test]
async fn tokens_identify_members_until_revoked_or_disabled() {
    use trustgate::vetting::staff::TokenCheck;
    let f = fixture();
    let v = &f.vetting;
    let root = v
        .add_staff(None, "root", vec![StaffRole::Approve])
        .await
        .unwrap()
        .member
        .identity();
    v.add_staff(Some(&root), "vera", vec![StaffRole::Vet])
        .await
        .unwrap();
    let (t1, one) = v.create_token(&root, "vera", "desk").await.unwrap();
    let (_, two) = v.create_token(&root, "vera", "laptop").await.unwrap();
    let who = |check: TokenCheck| match check {
        TokenCheck::Valid(id) => Ok(id.actor()),
        TokenCheck::Refused(why) => Err(why),
    };
    let a = who(v.authenticate_token(one.expose()).await.unwrap());
    let b = who(v.authenticate_token(two.expose()).await.unwrap());
    assert_eq!(a, Ok("staff:vera#2".to_owned()));
    assert_eq!(a, b, "two tokens, one identity");
    // Neither a near miss nor the stored hash is a token.
    let mut near = one.expose().to_owned();
    near.push('x');
    assert!(who(v.authenticate_token(&near).await.unwrap()).is_err());
    let listed = v.list_tokens("vera").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[0].last_used_at.is_some(), "use is noted");
    v.revoke_token(&root, t1.id).await.unwrap();
    assert_eq!(
        who(v.authenticate_token(one.expose()).await.unwrap()),
        Err("the bearer token is revoked")
    );
    assert!(who(v.authenticate_token(two.expose()).await.unwrap()).is_ok());
    v.disable_staff(&root, "vera").await.unwrap();
    assert_eq!(
        who(v.authenticate_token(two.expose()).await.unwrap()),
        Err("the staff member is disabled")
    );
    // A disabled member gets no new token either.
    assert!(v.create_token(&root, "vera", "again").await.is_err());
}
