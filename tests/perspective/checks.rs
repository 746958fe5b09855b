//! What a perspective answers: each check runs on its own validator and
//! comes back with its outcome and evidence, labelled by the primary.

use base64::Engine;
use trustgate::acme::ChallengeType;
use trustgate::core::Region;
use trustgate::va::remote::client::perspectives_from_config;
use trustgate::va::remote::{RemoteCheck, RemoteOutcome, RemotePerspective};

use crate::support::{Setup, KEY_AUTHZ, NAME, TOKEN};

fn challenge(method: ChallengeType, key_authorization: &str) -> RemoteCheck {
    RemoteCheck::Challenge {
        method,
        identifier: NAME.into(),
        token: TOKEN.into(),
        key_authorization: key_authorization.into(),
    }
}

fn caa(identity: &str) -> RemoteCheck {
    RemoteCheck::Caa {
        name: NAME.into(),
        account_uri: "https://acme.example.com/acme/acct/1".into(),
        method: ChallengeType::Http01,
        caa_identities: vec![identity.into()],
    }
}

#[tokio::test]
async fn http01_is_valid_with_records_and_labelled_by_the_primary() {
    let s = Setup::start().await;
    let client = s.client();
    let answer = client
        .check(&challenge(ChallengeType::Http01, KEY_AUTHZ))
        .await;
    assert_eq!(answer.outcome, RemoteOutcome::Valid, "{answer:?}");
    assert_eq!(answer.perspective, "p1");
    assert_eq!(answer.region, Some(Region::Ripe));
    let rec = answer.records.first().expect("a validation record");
    assert_eq!(rec.hostname, NAME);
    assert_eq!(rec.address_used, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(s.http01.hits(), 1);
    // The kept HTTP/2 connection carries the next checks, also at once.
    let check = challenge(ChallengeType::Http01, KEY_AUTHZ);
    let (a, b) = tokio::join!(client.check(&check), client.check(&check));
    assert!(a.outcome.corroborates() && b.outcome.corroborates());
    assert_eq!(s.http01.hits(), 3);
}

#[tokio::test]
async fn a_wrong_key_authorization_is_the_primarys_error_type() {
    let s = Setup::start().await;
    let answer = s
        .client()
        .check(&challenge(ChallengeType::Http01, "tok_1.other"))
        .await;
    let RemoteOutcome::Invalid { problem, detail } = &answer.outcome else {
        panic!("{answer:?}");
    };
    // The same type the primary's VA gives for a mismatch (as Boulder).
    assert_eq!(problem, "unauthorized", "{detail}");
    assert!(detail.contains("did not match"), "{detail}");
    assert!(!answer.records.is_empty());
}

#[tokio::test]
async fn dns01_reads_the_perspectives_own_dns() {
    let s = Setup::start().await;
    let digest = ring::digest::digest(&ring::digest::SHA256, KEY_AUTHZ.as_bytes());
    let txt = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    let client = s.client();
    let before = client
        .check(&challenge(ChallengeType::Dns01, KEY_AUTHZ))
        .await;
    assert!(
        matches!(&before.outcome, RemoteOutcome::Invalid { .. }),
        "{before:?}"
    );
    s.dns.txt(&format!("_acme-challenge.{NAME}"), &txt);
    let after = client
        .check(&challenge(ChallengeType::Dns01, KEY_AUTHZ))
        .await;
    assert_eq!(after.outcome, RemoteOutcome::Valid, "{after:?}");
    assert_eq!(after.records[0].dns_answers, vec![txt]);
}

#[tokio::test]
async fn caa_answers_carry_the_evidence() {
    let s = Setup::start().await;
    s.dns.caa("example.com", "issue", "ca.example.net");
    let client = s.client();
    let refused = client.check(&caa("trustgate.example")).await;
    let RemoteOutcome::Invalid { problem, .. } = &refused.outcome else {
        panic!("{refused:?}");
    };
    assert_eq!(problem, "caa");
    let evidence = refused.caa.as_ref().expect("CAA evidence");
    assert_eq!(evidence.relevant_name.as_deref(), Some("example.com"));
    assert!(evidence.decision.starts_with("refused"), "{evidence:?}");
    assert!(evidence
        .records
        .iter()
        .any(|r| r.contains("ca.example.net")));
    let permitted = client.check(&caa("ca.example.net")).await;
    assert_eq!(permitted.outcome, RemoteOutcome::Valid, "{permitted:?}");
    let evidence = permitted.caa.expect("CAA evidence");
    assert!(evidence.decision.starts_with("permitted"), "{evidence:?}");
    assert!(evidence.checked_at.is_some());
    assert_eq!(s.http01.hits(), 0);
}

#[tokio::test]
async fn perspectives_from_config_builds_every_table_and_refuses_a_repeated_name() {
    let s = Setup::start().await;
    let mut cfg = trustgate::config::VaConfig {
        perspectives: vec![s.remote_config()],
        ..Default::default()
    };
    let built = perspectives_from_config(&cfg).unwrap();
    assert_eq!(built.len(), 1);
    assert_eq!((built[0].name(), built[0].region()), ("p1", Region::Ripe));
    let answer = built[0]
        .check(&challenge(ChallengeType::Http01, KEY_AUTHZ))
        .await;
    assert_eq!(answer.outcome, RemoteOutcome::Valid, "{answer:?}");
    cfg.perspectives.push(s.remote_config());
    let err = perspectives_from_config(&cfg).err().expect("repeated name");
    assert!(err.detail.contains("used twice"), "{}", err.detail);
}
