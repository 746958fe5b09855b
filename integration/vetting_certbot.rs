//! The vetting gate with certbot: what staff decide through the admin API
//! (EV approval, suspension, the age of the vetting data) decides what
//! certbot gets at finalize (RFC 8555 §7.4), and staff see each refusal
//! in the blocked-orders list and the audit trail.

use std::time::Duration;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::common::issued::{assert_issued, assert_nothing_issued, EV_POLICY, OV_POLICY};
use crate::common::staff::{
    Level, Staff, APPROVER, EV_BUSINESS_CATEGORY, EV_JURISDICTION_COUNTRY, LEGAL_NAME,
    REGISTRATION_NUMBER, VETTER,
};
use crate::common::{Certbot, TestServer};

/// Subject attributes of an EV certificate (EV Guidelines 9.2).
const BUSINESS_CATEGORY: &str = "2.5.4.15";
const SERIAL_NUMBER: &str = "2.5.4.5";
const JURISDICTION_COUNTRY: &str = "1.3.6.1.4.1.311.60.2.1.3";

/// An EV organization, approved after the EV checks (registration and
/// business category on top of the OV ones): certbot asks for the `ev`
/// profile and gets a certificate whose subject carries what staff vetted.
#[test]
fn ev_profile_certificate_carries_the_vetted_registration() {
    let server = TestServer::start();
    let staff = server.staff();
    let org = staff.create_organization(Level::Ev, &["example.jp"]);
    staff.vet_and_approve(org);
    let eab = staff.create_eab(org, false);
    let certbot = Certbot::new(&server, "ev");
    let name = "ev.example.jp";

    certbot
        .certonly_profile(&eab, &[name], "ev")
        .assert_success();

    let leaf = assert_issued(&server, &certbot.lineage(name), &[name], EV_POLICY);
    assert!(
        !leaf.policies.iter().any(|p| p == OV_POLICY),
        "an EV certificate with the OV policy: {leaf:?}"
    );
    assert_eq!(
        leaf.subject_values(BUSINESS_CATEGORY),
        [EV_BUSINESS_CATEGORY],
        "businessCategory of {leaf:?}"
    );
    assert_eq!(
        leaf.subject_values(SERIAL_NUMBER),
        [REGISTRATION_NUMBER],
        "serialNumber of {leaf:?}"
    );
    assert_eq!(
        leaf.subject_values(JURISDICTION_COUNTRY),
        [EV_JURISDICTION_COUNTRY],
        "jurisdictionCountryName of {leaf:?}"
    );
}

/// Staff suspend an approved organization (an unpaid invoice): certbot's
/// next renewal is refused with the reason, the refused order waits in
/// the blocked list, and the audit trail holds every step with who took
/// it; once staff reinstate, the renewal goes through.
#[test]
fn suspension_blocks_renewal_until_reinstated() {
    let server = TestServer::start();
    let staff = server.staff();
    let org = staff.create_organization(Level::Ov, &["example.jp"]);
    staff.vet_and_approve(org);
    let eab = staff.create_eab(org, false);
    let certbot = Certbot::new(&server, "suspend");
    let name = "shop.example.jp";
    certbot.certonly(&eab, &[name]).assert_success();
    let lineage = certbot.lineage(name);
    let first = assert_issued(&server, &lineage, &[name], OV_POLICY);

    staff.suspend(org, "invoice unpaid");
    let refused = certbot.force_renew(false);
    // certbot's renew prints the detail with non-ASCII \u-escaped, so the
    // organization's name is matched in the blocked order below instead.
    refused
        .assert_failure()
        .assert_output_contains("is suspended: invoice unpaid; contact the CA");
    assert_eq!(
        certbot.archived_certificates().len(),
        1,
        "a certificate was issued while suspended\n{refused}"
    );

    let accounts = staff.accounts(org);
    assert_eq!(
        accounts.len(),
        1,
        "accounts of the organization: {accounts:?}"
    );
    let account = &accounts[0]["id"];
    let blocked = staff.blocked_orders();
    assert_eq!(blocked.len(), 1, "blocked orders: {blocked:?}\n{refused}");
    let order = &blocked[0];
    assert_eq!(order["organization"], org.id, "{order}");
    assert_eq!(order["organization_name"], LEGAL_NAME, "{order}");
    assert_eq!(&order["account"], account, "{order}");
    assert_eq!(order["condition"], "suspended", "{order}");
    assert!(
        text(&order["detail"]).contains(&format!("'{LEGAL_NAME}' is suspended: invoice unpaid")),
        "{order}"
    );

    let audit = staff.audit(org);
    let acme_actor = format!("acme:account/{account}");
    let order_subject = format!("order:{}", order["order"]);
    for (action, actor) in [
        ("organization.create", VETTER),
        ("check.record", VETTER),
        ("eab.create", VETTER),
        ("organization.approve", APPROVER),
        ("organization.suspend", APPROVER),
        ("gate.refuse", acme_actor.as_str()),
    ] {
        assert!(
            audit.iter().any(|e| e["action"] == action
                && (e["actor"] == actor || Staff::is_actor(&e["actor"], actor))),
            "no {action} by {actor} in the audit trail: {audit:#?}"
        );
    }
    assert_eq!(
        audit
            .iter()
            .filter(|e| e["action"] == "check.record")
            .count(),
        3,
        "{audit:#?}"
    );
    let suspend = find(&audit, "organization.suspend");
    assert_eq!(suspend["reason"], "invoice unpaid", "{suspend}");
    let refusal = find(&audit, "gate.refuse");
    assert_eq!(refusal["subject"], order_subject, "{refusal}");
    assert_eq!(refusal["details"]["condition"], "suspended", "{refusal}");
    // Oldest first: the refusal came after the suspension.
    let at = |action: &str| audit.iter().position(|e| e["action"] == action);
    assert!(at("organization.suspend") < at("gate.refuse"), "{audit:#?}");

    staff.reinstate(org, "invoice paid");
    let renewed = certbot.force_renew(false);
    renewed.assert_success();
    let after = assert_issued(&server, &lineage, &[name], OV_POLICY);
    assert_ne!(
        first.serial, after.serial,
        "renewal kept the serial\n{renewed}"
    );
    assert_eq!(certbot.archived_certificates().len(), 2, "{renewed}");
}

/// Vetting data may be relied on for `[vetting] max_age_days` from the
/// oldest check: checks performed (almost) ten days ago are approved, and
/// once the ten days are up certbot's finalize is refused until staff
/// vet again; staff see the order blocked as `expired`.
#[test]
fn expired_vetting_blocks_issuance() {
    let server = TestServer::start_with("\n[vetting]\nmax_age_days = 10\n");
    let staff = server.staff();
    let org = staff.create_organization(Level::Ov, &["example.jp"]);
    let eab = staff.create_eab(org, false);
    // Long enough for the checks and the approval to land before the data
    // turns ten days old.
    let slack = time::Duration::seconds(2);
    let performed = OffsetDateTime::now_utc() - time::Duration::days(10) + slack;
    staff.record_checks(org, Some(performed));
    let approved = staff.approve(org);
    let expires = OffsetDateTime::parse(text(&approved["vetting_expires_at"]), &Rfc3339)
        .unwrap_or_else(|e| panic!("vetting_expires_at: {e}: {approved}"));
    assert!(
        (expires - (performed + time::Duration::days(10))).abs() < time::Duration::seconds(1),
        "vetting should expire ten days after the oldest check ({performed}): {approved}"
    );

    // The subscriber registers meanwhile (the gate is at finalize only).
    let certbot = Certbot::new(&server, "expired");
    certbot.register(Some(&eab)).assert_success();
    let wait = expires - OffsetDateTime::now_utc() + time::Duration::milliseconds(200);
    if wait.is_positive() {
        std::thread::sleep(Duration::try_from(wait).unwrap());
    }
    let view = staff.organization(org);
    assert_eq!(view["effective_status"], "expired", "{view}");

    let name = "late.example.jp";
    let run = certbot.certonly(&eab, &[name]);
    run.assert_failure()
        .assert_output_contains(&format!("organization '{LEGAL_NAME}' needs re-vetting"));
    assert_nothing_issued(&certbot, name, &run);

    let blocked = staff.blocked_orders();
    assert_eq!(blocked.len(), 1, "blocked orders: {blocked:?}\n{run}");
    assert_eq!(blocked[0]["organization"], org.id, "{blocked:?}");
    assert_eq!(blocked[0]["condition"], "expired", "{blocked:?}");
    let audit = staff.audit(org);
    let refusal = find(&audit, "gate.refuse");
    assert_eq!(refusal["details"]["condition"], "expired", "{refusal}");
}

/// The newest audit event with `action`.
fn find<'a>(audit: &'a [Value], action: &str) -> &'a Value {
    audit
        .iter()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} in the audit trail: {audit:#?}"))
}

fn text(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}
