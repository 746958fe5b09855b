//! Certificate requests placed in the customer portal without an ACME
//! client (`ra::portal_orders`, issue #25): a pasted CSR becomes an order
//! of the organization's portal account, proven and finalized by the same
//! machinery as an ACME order; a bad request stores nothing; another
//! organization finds none of it. And the customer's EAB credentials
//! (`vetting::eab`): only once approved, never the portal's own, revoked
//! only by their organization. SQLite, and PostgreSQL with
//! TEST_DATABASE_URL.

use std::sync::Arc;

use trustgate::acme::{AuthorizationStatus, ChallengeType, OrderStatus};
use trustgate::core::{OrderId, Organization, OrganizationId};
use trustgate::error::ErrorKind;
use trustgate::ra::portal_orders::{
    CertificateStatus, Download, Field, Placed, PortalOrderView, PortalRequest,
};
use trustgate::ra::Ra;
use trustgate::vetting::organization::Level;
use x509_parser::prelude::*;

use crate::support::*;

const CUSTOMER: &str = "customer:buyer@example.jp#1";

/// The RA of the fixture's server (same database, config and clock).
fn ra_of(s: &Server) -> Ra {
    let store = trustgate::app::open_store_with_clock(&s.cfg, s.clock.clone()).unwrap();
    let clock = store.clock().clone();
    Ra::new(
        Arc::new(s.cfg.clone()),
        store,
        Arc::new(trustgate::app::load_ca(&s.cfg, &clock).unwrap()),
        trustgate::va::Validator::new(&s.cfg.va).unwrap(),
        clock,
    )
}

async fn approved(s: &Server, level: Level, domains: &[&str]) -> Organization {
    let id = s.organization(level, domains).await;
    s.approve(id).await;
    s.vetting().get(id).await.unwrap()
}

/// A CSR in PEM whose subject claims another organization (ignored: the
/// certificate's subject is the vetted record's).
fn csr_pem(names: &[&str]) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Somebody Else Ltd");
    params.serialize_request(&key).unwrap().pem().unwrap()
}

fn request(csr: String, level: &str, days: Option<u32>) -> PortalRequest {
    PortalRequest {
        csr,
        level: level.into(),
        validity_days: days,
    }
}

async fn place(ra: &Ra, org: &Organization, req: PortalRequest) -> OrderId {
    match ra.place_portal_order(org, CUSTOMER, req).await.unwrap() {
        Placed::Order(id) => id,
        Placed::Refused(p) => panic!("refused: {p:?}"),
    }
}

/// Places what the view says for each name: the http-01 file for the
/// first, the dns-01 TXT record for the others.
fn provision(s: &Server, view: &PortalOrderView) -> Vec<(trustgate::core::AuthzId, ChallengeType)> {
    let mut methods = Vec::new();
    for (i, n) in view.names.iter().enumerate() {
        if i == 0 {
            let h = n.http01.as_ref().unwrap();
            let token = h.url.rsplit('/').next().unwrap().to_owned();
            assert!(h
                .url
                .starts_with(&format!("http://{}/.well-known/acme-challenge/", n.name)));
            s.http01.lock().unwrap().insert(token, h.content.clone());
            methods.push((n.authorization, ChallengeType::Http01));
        } else {
            let d = n.dns01.as_ref().unwrap();
            assert_eq!(d.name, format!("_acme-challenge.{}", n.name));
            s.txt.set(&d.name, &[d.value.as_str()]);
            methods.push((n.authorization, ChallengeType::Dns01));
        }
    }
    methods
}

/// "Check now" until the order settles (a check may still run when one
/// answer returns on a loaded machine).
async fn check_until_done(
    ra: &Ra,
    org: OrganizationId,
    id: OrderId,
    methods: &[(trustgate::core::AuthzId, ChallengeType)],
) -> OrderStatus {
    for _ in 0..100 {
        let status = ra.check_portal_order(org, id, methods).await.unwrap();
        if matches!(status, OrderStatus::Valid | OrderStatus::Invalid) {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("order {id} did not settle");
}

#[tokio::test]
async fn a_pasted_csr_is_proven_by_file_and_txt_record_and_issued_with_the_vetted_subject() {
    let s = Server::start().await;
    let ra = ra_of(&s);
    let org = approved(&s, Level::Ov, &["example.jp"]).await;
    let names = ["shop.example.jp", "www.example.jp"];
    let id = place(&ra, &org, request(csr_pem(&names), "ov", Some(90))).await;

    let view = ra.portal_order(org.id, id).await.unwrap();
    assert_eq!(view.status, OrderStatus::Pending);
    assert_eq!(view.placed_by, CUSTOMER);
    let shown: Vec<_> = view.names.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(shown, names);
    assert!(view
        .names
        .iter()
        .all(|n| n.status == AuthorizationStatus::Pending));
    let methods = provision(&s, &view);

    assert_eq!(
        check_until_done(&ra, org.id, id, &methods).await,
        OrderStatus::Valid
    );
    let view = ra.portal_order(org.id, id).await.unwrap();
    assert!(view
        .names
        .iter()
        .all(|n| n.status == AuthorizationStatus::Valid));
    let serial = view.serial.expect("issued");

    let cert = ra.organization_certificate(org.id, &serial).await.unwrap();
    let (_, leaf) = X509Certificate::from_der(&cert.der).unwrap();
    let o: Vec<_> = leaf
        .subject()
        .iter_organization()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        o,
        [org.data.certificate_name().to_owned()],
        "the vetted O, not the CSR's"
    );
    let days =
        (leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp()) / 86_400;
    assert!((89..=91).contains(&days), "asked for 90 days, got {days}");

    // The same issuance records as ACME's, plus who placed it.
    let actions = s.sql_text(&format!(
        "SELECT action AS t FROM audit_events WHERE subject IN ('order:{id}', 'certificate:{serial}') ORDER BY id"
    ));
    for a in [
        "portal.order",
        "caa.check",
        "certificate.request",
        "certificate.issue",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    assert_eq!(
        s.sql_text(&format!("SELECT actor AS t FROM audit_events WHERE action = 'portal.order' AND subject = 'order:{id}'")),
        [CUSTOMER]
    );
    // Listed with the organization's certificates, valid, and each file.
    let (listed, next) = ra
        .organization_certificates(org.id, None, 20)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(next.is_none());
    assert_eq!(listed[0].serial, serial);
    let now = s.clock.now();
    assert_eq!(
        CertificateStatus::of(listed[0].revoked, listed[0].not_after, now),
        CertificateStatus::Valid
    );
    let chain = String::from_utf8(ra.certificate_file(&cert, Download::PemChain)).unwrap();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
    assert_eq!(ra.certificate_file(&cert, Download::Der), cert.der);
    let p7 = ra.certificate_file(&cert, Download::Pkcs7);
    assert!(p7.windows(cert.der.len()).any(|w| w == cert.der.as_slice()));
}

#[tokio::test]
async fn a_renewal_is_a_new_request_and_names_already_proven_are_not_asked_again() {
    let s = Server::start().await;
    let ra = ra_of(&s);
    let org = approved(&s, Level::Ov, &["example.jp"]).await;
    let first = place(&ra, &org, request(csr_pem(&["a.example.jp"]), "ov", None)).await;
    let view = ra.portal_order(org.id, first).await.unwrap();
    let methods = provision(&s, &view);
    assert_eq!(
        check_until_done(&ra, org.id, first, &methods).await,
        OrderStatus::Valid
    );

    // A new CSR (a new key) for the same name: the portal account's valid
    // authorization is reused, so the order is ready at once.
    let second = place(&ra, &org, request(csr_pem(&["a.example.jp"]), "ov", None)).await;
    let view = ra.portal_order(org.id, second).await.unwrap();
    assert_eq!(view.status, OrderStatus::Ready);
    assert_eq!(
        check_until_done(&ra, org.id, second, &[]).await,
        OrderStatus::Valid
    );
    let a = ra
        .portal_order(org.id, first)
        .await
        .unwrap()
        .serial
        .unwrap();
    let b = ra
        .portal_order(org.id, second)
        .await
        .unwrap()
        .serial
        .unwrap();
    assert_ne!(a, b);
    assert_eq!(ra.portal_orders(org.id).await.unwrap().len(), 2);
    // One portal account for the organization, bound like a client's.
    assert_eq!(s.count("portal_accounts"), 1);
    assert_eq!(s.count("accounts"), 1);
}

#[tokio::test]
async fn a_failed_check_shows_its_reason_and_the_request_can_be_placed_again() {
    let s = Server::start().await;
    let ra = ra_of(&s);
    let org = approved(&s, Level::Ov, &["example.jp"]).await;
    let id = place(
        &ra,
        &org,
        request(csr_pem(&["late.example.jp"]), "ov", None),
    )
    .await;
    let view = ra.portal_order(org.id, id).await.unwrap();
    // Nothing placed: the http-01 fetch finds no file.
    let methods = [(view.names[0].authorization, ChallengeType::Http01)];
    assert_eq!(
        check_until_done(&ra, org.id, id, &methods).await,
        OrderStatus::Invalid
    );
    let view = ra.portal_order(org.id, id).await.unwrap();
    assert_eq!(view.names[0].status, AuthorizationStatus::Invalid);
    assert!(
        view.names[0].error.as_deref().unwrap().contains("404"),
        "{:?}",
        view.names[0].error
    );

    let again = match ra.repeat_portal_order(&org, CUSTOMER, id).await.unwrap() {
        Placed::Order(o) => o,
        Placed::Refused(p) => panic!("{p:?}"),
    };
    assert_ne!(again, id);
    let view = ra.portal_order(org.id, again).await.unwrap();
    let methods = provision(&s, &view);
    assert_eq!(
        check_until_done(&ra, org.id, again, &methods).await,
        OrderStatus::Valid
    );
}

#[tokio::test]
async fn a_refused_request_names_the_field_and_stores_nothing() {
    let s = Server::start().await;
    let ra = ra_of(&s);
    let org = approved(&s, Level::Ov, &["example.jp"]).await;
    assert!(ra.portal_may_order(&org));
    let before = s.counts();
    let refused = |placed: Placed| match placed {
        Placed::Refused(p) => p,
        Placed::Order(id) => panic!("order {id} placed"),
    };
    let cases: Vec<(PortalRequest, Field, &str)> = vec![
        (
            request(String::new(), "ov", None),
            Field::Csr,
            "paste the CSR",
        ),
        (request("hello".into(), "ov", None), Field::Csr, "not PEM"),
        (
            request(csr_pem(&["www.other.jp"]), "ov", None),
            Field::Csr,
            "outside the domain scope",
        ),
        (
            request(csr_pem(&["localhost"]), "ov", None),
            Field::Csr,
            "localhost",
        ),
        (
            request(csr_pem(&["www.example.jp"]), "ev", None),
            Field::Level,
            "OV",
        ),
        (
            request(csr_pem(&["www.example.jp"]), "dv", None),
            Field::Level,
            "OV",
        ),
        (
            request(csr_pem(&["www.example.jp"]), "ov", Some(0)),
            Field::Validity,
            "between 1 and",
        ),
        (
            request(csr_pem(&["www.example.jp"]), "ov", Some(5000)),
            Field::Validity,
            "between 1 and",
        ),
    ];
    for (req, field, says) in cases {
        let problems = refused(ra.place_portal_order(&org, CUSTOMER, req).await.unwrap());
        assert!(
            problems
                .iter()
                .any(|(f, m)| *f == field && m.contains(says)),
            "{field:?} / {says:?}: {problems:?}"
        );
    }
    // A tampered signature (the CSR's last bytes changed).
    let mut der = ::pem::parse(csr_pem(&["www.example.jp"]))
        .unwrap()
        .into_contents();
    let n = der.len();
    der[n - 2] ^= 0x55;
    let tampered = ::pem::encode(&::pem::Pem::new("CERTIFICATE REQUEST", der));
    let problems = refused(
        ra.place_portal_order(&org, CUSTOMER, request(tampered, "ov", None))
            .await
            .unwrap(),
    );
    assert!(
        problems.iter().any(|(f, _)| *f == Field::Csr),
        "{problems:?}"
    );
    // Every field at once: one message each.
    let problems = refused(
        ra.place_portal_order(&org, CUSTOMER, request("x".into(), "ev", Some(0)))
            .await
            .unwrap(),
    );
    let fields: Vec<Field> = problems.iter().map(|p| p.0).collect();
    assert_eq!(fields, [Field::Level, Field::Validity, Field::Csr]);
    assert_eq!(s.counts(), before, "nothing stored");
    // An organization still in vetting requests nothing.
    let pending_id = s.organization(Level::Ov, &["example.net"]).await;
    let pending = s.vetting().get(pending_id).await.unwrap();
    assert!(!ra.portal_may_order(&pending));
    let e = ra
        .place_portal_order(
            &pending,
            CUSTOMER,
            request(csr_pem(&["www.example.net"]), "ov", None),
        )
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unauthorized);
    assert!(e.detail.contains("pending"), "{}", e.detail);
    assert_eq!(s.count("orders"), 0, "nothing stored");
    assert_eq!(s.count("portal_orders"), 0);
}

#[tokio::test]
async fn an_ev_organization_may_ask_for_ev_and_an_ev_request_names_no_wildcard() {
    let s = Server::start().await;
    let ra = ra_of(&s);
    let org = approved(&s, Level::Ev, &["example.jp"]).await;
    let levels: Vec<_> = ra.portal_levels(&org).iter().map(|p| p.name()).collect();
    assert_eq!(levels, ["ov", "ev"]);
    let placed = ra
        .place_portal_order(
            &org,
            CUSTOMER,
            request(csr_pem(&["*.example.jp"]), "ev", None),
        )
        .await
        .unwrap();
    match placed {
        Placed::Refused(p) => assert!(p[0].1.contains("wildcard"), "{p:?}"),
        Placed::Order(id) => panic!("order {id}"),
    }
    place(&ra, &org, request(csr_pem(&["www.example.jp"]), "ev", None)).await;
    let ov = approved(&s, Level::Ov, &["example.com"]).await;
    let levels: Vec<_> = ra.portal_levels(&ov).iter().map(|p| p.name()).collect();
    assert_eq!(levels, ["ov"]);
}

#[tokio::test]
async fn another_organization_finds_no_request_and_no_certificate() {
    let s = Server::start().await;
    let ra = ra_of(&s);
    let org = approved(&s, Level::Ov, &["example.jp"]).await;
    let other = approved(&s, Level::Ov, &["example.com"]).await;
    let id = place(&ra, &org, request(csr_pem(&["x.example.jp"]), "ov", None)).await;
    let view = ra.portal_order(org.id, id).await.unwrap();
    let methods = provision(&s, &view);
    assert_eq!(
        check_until_done(&ra, org.id, id, &methods).await,
        OrderStatus::Valid
    );
    let serial = ra.portal_order(org.id, id).await.unwrap().serial.unwrap();

    let kind = |e: trustgate::error::Error| e.kind;
    assert_eq!(
        ra.portal_order(other.id, id)
            .await
            .map(|_| ())
            .map_err(kind),
        Err(ErrorKind::NotFound)
    );
    assert_eq!(
        ra.check_portal_order(other.id, id, &[])
            .await
            .map(|_| ())
            .map_err(kind),
        Err(ErrorKind::NotFound)
    );
    assert_eq!(
        ra.organization_certificate(other.id, &serial)
            .await
            .map(|_| ())
            .map_err(kind),
        Err(ErrorKind::NotFound)
    );
    assert!(ra.portal_orders(other.id).await.unwrap().is_empty());
    assert!(ra
        .organization_certificates(other.id, None, 20)
        .await
        .unwrap()
        .0
        .is_empty());
    // The serial in any case, with colons: the same certificate.
    let colons = serial
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    assert!(ra.organization_certificate(org.id, &colons).await.is_ok());
}

#[tokio::test]
async fn customers_make_eab_credentials_once_approved_and_revoke_only_their_own() {
    let s = Server::start().await;
    let ra = ra_of(&s);
    let v = s.vetting();
    let pending = s.organization(Level::Ov, &["example.net"]).await;
    let e = v
        .create_customer_eab(CUSTOMER, pending, "web")
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unauthorized);
    assert!(e.detail.contains("pending"), "{}", e.detail);
    assert_eq!(s.count("eab_credentials"), 0);

    let org = approved(&s, Level::Ov, &["example.jp"]).await;
    let other = approved(&s, Level::Ov, &["example.com"]).await;
    let issued = v
        .create_customer_eab(CUSTOMER, org.id, " web server ")
        .await
        .unwrap();
    assert_eq!(issued.credential.note, "web server");
    assert!(issued.credential.single_use);
    assert!(issued.credential.expires_at.is_some());
    let long = "x".repeat(201);
    assert_eq!(
        v.create_customer_eab(CUSTOMER, org.id, &long)
            .await
            .map(|_| ())
            .unwrap_err()
            .kind,
        ErrorKind::Malformed
    );
    // The portal's own credential exists once a request was placed, and
    // is never the customer's to see or revoke.
    place(&ra, &org, request(csr_pem(&["y.example.jp"]), "ov", None)).await;
    let listed = v.customer_eab(org.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key_id, issued.credential.key_id);
    assert_eq!(
        v.list_eab(Some(org.id)).await.unwrap().len(),
        2,
        "staff see both"
    );
    let portal_kid = s.sql_text(
        "SELECT e.key_id AS t FROM eab_credentials e JOIN portal_accounts p ON p.eab_credential_id = e.id",
    );
    let kid = &issued.credential.key_id;
    let not_found =
        |r: trustgate::error::Result<()>| r.map_err(|e| e.kind) == Err(ErrorKind::NotFound);
    assert!(not_found(
        v.revoke_customer_eab(CUSTOMER, org.id, &portal_kid[0], "x")
            .await
    ));
    assert!(not_found(
        v.customer_revocation_preview(org.id, &portal_kid[0])
            .await
            .map(|_| ())
    ));
    assert!(not_found(
        v.revoke_customer_eab(CUSTOMER, other.id, kid, "x").await
    ));
    assert!(not_found(
        v.customer_revocation_preview(other.id, kid)
            .await
            .map(|_| ())
    ));
    assert!(v.customer_eab(other.id).await.unwrap().is_empty());

    let (cred, bound) = v.customer_revocation_preview(org.id, kid).await.unwrap();
    assert_eq!((cred.key_id.as_str(), bound.len()), (kid.as_str(), 0));
    v.revoke_customer_eab(CUSTOMER, org.id, kid, "customer")
        .await
        .unwrap();
    assert!(v.customer_eab(org.id).await.unwrap()[0]
        .revoked_at
        .is_some());
    assert_eq!(
        s.sql_text("SELECT actor AS t FROM audit_events WHERE action = 'eab.revoke'"),
        [CUSTOMER]
    );
}
