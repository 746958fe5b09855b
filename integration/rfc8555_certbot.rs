//! RFC 8555 with certbot: account registration with External Account
//! Binding (§7.3, §7.3.4), issuance through http-01 (§7.4, §8.3) behind
//! the vetting gate, renewal, revocation (§7.6) and failed validation
//! (§7.5.1, §8.3).

use crate::common::certbot::{Lineage, Run};
use crate::common::issued::{self, assert_nothing_issued, OV_POLICY};
use crate::common::staff::Level;
use crate::common::x509::Leaf;
use crate::common::{server::free_port, Certbot, TestServer};

/// §7.3.4: an account bound to a single-use credential registers (before
/// any vetting: the organization is still pending); the same credential
/// cannot bind a second account.
#[test]
fn register_with_single_use_eab_binds_exactly_one_account() {
    let server = TestServer::start();
    let staff = server.staff();
    let org = staff.create_organization(Level::Ov, &["example.jp"]);
    let eab = staff.create_eab(org, false);

    let first = Certbot::new(&server, "first");
    first
        .register(Some(&eab))
        .assert_success()
        .assert_output_contains("Account registered");
    assert_eq!(first.accounts().len(), 1, "certbot stored no account");

    let second = Certbot::new(&server, "second");
    second
        .register(Some(&eab))
        .assert_failure()
        .assert_output_contains(&format!(
            "external account binding key \"{}\" has already been used to create an account",
            eab.kid
        ));
    assert!(
        second.accounts().is_empty(),
        "certbot stored an account the server refused"
    );
}

/// `eab create --reusable`: one credential binds several accounts.
#[test]
fn register_with_reusable_eab_binds_several_accounts() {
    let server = TestServer::start();
    let staff = server.staff();
    let org = staff.create_organization(Level::Ov, &["example.jp"]);
    let eab = staff.create_eab(org, true);
    for label in ["first", "second"] {
        let certbot = Certbot::new(&server, label);
        certbot.register(Some(&eab)).assert_success();
        assert_eq!(certbot.accounts().len(), 1, "{label}: no account stored");
    }
}

/// §7.3.4: the directory says `externalAccountRequired`, so certbot
/// refuses to register without a credential. (The server's own refusal of
/// such a newAccount is checked on the wire in `rfc8555_wire`.)
#[test]
fn register_without_eab_is_refused() {
    let server = TestServer::start();
    let certbot = Certbot::new(&server, "no-eab");
    certbot
        .register(None)
        .assert_failure()
        .assert_output_contains("Server requires external account binding");
    assert!(certbot.accounts().is_empty());
}

/// §7.4 + §8.3: one name, validated over http-01 by certbot's standalone
/// responder; the certificate chains to the root and carries that name.
#[test]
fn obtain_single_name_certificate() {
    let server = TestServer::start();
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "single");

    certbot.certonly(&eab, &["a.example.jp"]).assert_success();

    assert!(
        server.dns().was_queried("a.example.jp"),
        "the VA never resolved the name through the test DNS"
    );
    assert_issued(&server, &certbot.lineage("a.example.jp"), &["a.example.jp"]);
}

/// §7.4: an order for three names gets one certificate with exactly
/// those three names.
#[test]
fn obtain_multi_name_certificate() {
    let server = TestServer::start();
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "multi");
    let names = ["example.jp", "www.example.jp", "api.example.jp"];

    certbot.certonly(&eab, &names).assert_success();

    for n in names {
        assert!(server.dns().was_queried(n), "{n} was never resolved");
    }
    assert_issued(&server, &certbot.lineage("example.jp"), &names);
}

/// A renewal is a new order with a new key (certbot's default) and a new
/// certificate: a different serial, and it verifies like the first.
#[test]
fn renew_issues_a_new_certificate() {
    let server = TestServer::start();
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "renew");
    let name = "renew.example.jp";
    certbot.certonly(&eab, &[name]).assert_success();
    let lineage = certbot.lineage(name);
    let before = assert_issued(&server, &lineage, &[name]);

    let run = certbot.force_renew(false);
    run.assert_success();

    let after = assert_issued(&server, &lineage, &[name]);
    assert_ne!(
        before.serial, after.serial,
        "renewal kept the serial\n{run}"
    );
    assert_eq!(
        certbot.archived_certificates().len(),
        2,
        "expected the original and the renewed certificate\n{run}"
    );
}

/// The vetting gate (RFC 8555 §7.4 finalize, §6.7 userActionRequired):
/// while staff have not approved the organization, certbot's finalize is
/// refused with what is missing; once they approve, the same certbot
/// installation gets its certificate.
#[test]
fn finalize_waits_for_vetting_approval() {
    let server = TestServer::start();
    let staff = server.staff();
    let org = staff.create_organization(Level::Ov, &["example.jp"]);
    let eab = staff.create_eab(org, false);
    let certbot = Certbot::new(&server, "gate");
    let name = "gate.example.jp";

    let refused = certbot.certonly(&eab, &[name]);
    refused
        .assert_failure()
        .assert_output_contains("is awaiting vetting")
        .assert_output_contains("third-party existence check not recorded");
    assert_nothing_issued(&certbot, name, &refused);

    staff.vet_and_approve(org);
    certbot.certonly(&eab, &[name]).assert_success();
    assert_issued(&server, &certbot.lineage(name), &[name]);
}

/// The vetting gate's domain scope, applied at newOrder (§7.4
/// rejectedIdentifier): a name outside the organization's approved scope
/// is refused before anything is validated.
#[test]
fn name_outside_the_organization_scope_is_refused() {
    let server = TestServer::start();
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "scope");
    let names = ["www.example.jp", "www.other.jp"];

    let run = certbot.certonly(&eab, &names);
    run.assert_failure().assert_output_contains(
        "\"www.other.jp\" is outside the domain scope approved for organization",
    );
    assert!(
        !server.dns().was_queried("www.other.jp"),
        "the server validated a name it refuses\n{run}"
    );
    assert_nothing_issued(&certbot, names[0], &run);
}

/// §7.6: keyCompromise asked by the account is refused (not proven); with
/// the certificate's own key it revokes; a second revocation of the same
/// certificate is `alreadyRevoked`, and a key revoked as compromised is
/// never certified again.
#[test]
fn revoke_with_reason_key_compromise() {
    let server = TestServer::start();
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "revoke");
    let name = "revoke.example.jp";
    certbot.certonly(&eab, &[name]).assert_success();
    let lineage = certbot.lineage(name);
    assert_issued(&server, &lineage, &[name]);

    // Signed by the account, keyCompromise is not proven: refused, with
    // the way to prove it in the detail.
    certbot
        .revoke(&lineage.cert, "keycompromise")
        .assert_failure()
        .assert_output_contains("keyCompromise must be proven");

    certbot
        .revoke_with_cert_key(&lineage.cert, &lineage.privkey, "keycompromise")
        .assert_success()
        .assert_output_contains("Congratulations! You have successfully revoked");

    certbot
        .revoke(&lineage.cert, "superseded")
        .assert_failure()
        .assert_output_contains("the certificate is already revoked");

    let run = certbot.force_renew(true);
    run.assert_failure()
        .assert_output_contains("this key was reported compromised");
    assert_eq!(
        certbot.archived_certificates().len(),
        1,
        "a certificate was issued for the compromised key\n{run}"
    );
}

/// §8.3: a name without an address cannot be validated; certbot reports
/// the server's `dns` problem and nothing is issued.
#[test]
fn challenge_for_unresolvable_name_fails() {
    let server = TestServer::start();
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "nxdomain");
    let name = "nx.example.jp";

    let run = certbot.certonly(&eab, &[name]);
    assert_challenge_failed(&run, name, "dns");

    assert!(
        server.dns().was_queried(name),
        "the VA never asked the test DNS about {name}\n{run}"
    );
    assert_nothing_issued(&certbot, name, &run);
}

/// §8.3: the name resolves but nothing answers on the http-01 port
/// (certbot listens on another one); a `connection` problem, no
/// certificate.
#[test]
fn challenge_with_nothing_listening_fails() {
    let server = TestServer::start();
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "refused");
    let name = "refused.example.jp";

    let run = certbot.certonly_on_port(&eab, &[name], free_port());
    assert_challenge_failed(&run, name, "connection");

    assert!(
        server.dns().was_queried(name),
        "the VA never resolved {name}\n{run}"
    );
    assert_nothing_issued(&certbot, name, &run);
}

/// certbot failed, naming the domain and the problem type the VA found.
fn assert_challenge_failed(run: &Run, name: &str, problem: &str) {
    run.assert_failure()
        .assert_output_contains("Certbot failed to authenticate some domains")
        .assert_output_contains(&format!("Identifier: {name}"))
        .assert_output_contains(&format!("Type:   {problem}\n"));
}

/// An OV certificate: the checks common to every issuance.
fn assert_issued(server: &TestServer, lineage: &Lineage, names: &[&str]) -> Leaf {
    issued::assert_issued(server, lineage, names, OV_POLICY)
}
