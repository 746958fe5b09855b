//! CAA (RFC 8659, with RFC 8657's `accounturi` and `validationmethods`;
//! BR 3.2.2.8) with certbot, against records a real BIND serves. The server
//! checks CAA at finalize, after dns-01 has validated every name through
//! certbot-dns-rfc2136, so a refusal reaches certbot as the finalize's
//! `caa` problem and nothing is issued.

use crate::common::bind::{Bind, Signing};
use crate::common::certbot::Run;
use crate::common::issued::{assert_issued, assert_nothing_issued, OV_POLICY};
use crate::common::{Certbot, TestServer};

/// This CA's issuer domain name in CAA records (`acme.caa_identities`).
const CA: &str = "trustgate.jp";

/// What certbot prints for the finalize's problem (acme's
/// `Error.__str__`: type, then description and detail).
const CAA_PROBLEM: &str = "urn:ietf:params:acme:error:caa :: ";

/// RFC 8659 §3: `www.example.jp` has no CAA, so the relevant set is the
/// apex's, found by climbing; one of its `issue` properties names us, so
/// the other CA it names does not matter. The VA asks every step of the
/// climb at once and reads the answers in order: `test`'s answer, above
/// the relevant set, decides nothing.
#[test]
fn caa_naming_this_ca_permits_issuance() {
    let (bind, server) = start(&format!(
        "@ IN CAA 0 issue \"other-ca.jp\"\n@ IN CAA 0 issue \"{CA}\""
    ));
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "caa-ok");
    let name = "www.example.jp";

    let run = certbot.certonly_rfc2136(&eab, &[name], &bind.rfc2136_credentials());
    run.assert_success();

    assert_issued(&server, &certbot.lineage(name), &[name], OV_POLICY);
    assert!(
        bind.was_queried(name, "CAA") && bind.was_queried("example.jp", "CAA"),
        "the VA did not climb from {name} to example.jp\n{}",
        bind.log_tail(60)
    );
    assert_server_logged(
        &server,
        &format!(
            "CAA check name={name} decision=permitted: issue \"{CA}\" authorizes this CA relevant=example.jp"
        ),
    );
}

/// RFC 8659 §4.2: `issue ";"` forbids every CA. It sits at the name, so it
/// wins over the apex's set, which would have allowed us.
#[test]
fn caa_issue_semicolon_forbids_issuance() {
    let (bind, server) = start(&format!(
        "@ IN CAA 0 issue \"{CA}\"\nnoissue IN CAA 0 issue \";\""
    ));
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "caa-none");
    let name = "noissue.example.jp";

    let run = certbot.certonly_rfc2136(&eab, &[name], &bind.rfc2136_credentials());

    assert_caa_refused(
        &server,
        &certbot,
        &run,
        name,
        &[name],
        &format!("CAA record for {name} prevents issuance: issue \";\" forbids issuance by any CA"),
    );
}

/// RFC 8659 §4.3: `issuewild ";"` refuses the wildcard of an order, while
/// `issue` still allows its base name; the finalize's subproblem names the
/// wildcard only. An order for the base name alone is then issued.
#[test]
fn caa_issuewild_semicolon_forbids_only_the_wildcard() {
    let (bind, server) = start(&format!(
        "wild IN CAA 0 issue \"{CA}\"\nwild IN CAA 0 issuewild \";\""
    ));
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "caa-wild");
    let base = "wild.example.jp";
    let wildcard = "*.wild.example.jp";

    let run = certbot.certonly_rfc2136(&eab, &[base, wildcard], &bind.rfc2136_credentials());

    let detail = format!(
        "CAA record for {base} prevents issuance: issuewild \";\" forbids issuance by any CA"
    );
    assert_caa_refused(&server, &certbot, &run, base, &[wildcard], &detail);
    assert!(
        !certbot.last_log().contains(&format!("Problem for {base}:")),
        "the base name was refused too\n{run}"
    );
    assert_server_logged(
        &server,
        &format!(
            "CAA check name={base} decision=permitted: issue \"{CA}\" authorizes this CA relevant=wild.example.jp"
        ),
    );

    let run = certbot.certonly_rfc2136(&eab, &[base], &bind.rfc2136_credentials());
    run.assert_success();
    assert_issued(&server, &certbot.lineage(base), &[base], OV_POLICY);
}

/// RFC 8657 §3: `accounturi` limits issuance to one account of this CA.
/// Another account is refused; the named account, with the same names and
/// the same method, is issued (so the record is otherwise right).
#[test]
fn caa_accounturi_of_another_account_forbids_issuance() {
    let (bind, server) = start("");
    let eab = server.approved_eab(true);
    let holder = Certbot::new(&server, "caa-holder");
    holder.register(Some(&eab)).assert_success();
    let holder_uri = holder.account_uri();
    let name = "acct.example.jp";
    bind.update(
        "example.jp",
        &[&format!(
            "{name}. 60 IN CAA 0 issue \"{CA}; accounturi={holder_uri}\""
        )],
    );

    let other = Certbot::new(&server, "caa-other");
    let run = other.certonly_rfc2136(&eab, &[name], &bind.rfc2136_credentials());
    let other_uri = other.account_uri();
    assert_ne!(other_uri, holder_uri);
    assert_caa_refused(
        &server,
        &other,
        &run,
        name,
        &[name],
        &format!(
            "CAA record for {name} prevents issuance: accounturi does not match \
             (record allows {holder_uri}, order is from {other_uri})"
        ),
    );

    let run = holder.certonly_rfc2136(&eab, &[name], &bind.rfc2136_credentials());
    run.assert_success();
    assert_issued(&server, &holder.lineage(name), &[name], OV_POLICY);
}

/// RFC 8657 §4: `validationmethods=http-01` does not allow a name that
/// dns-01 validated.
#[test]
fn caa_validationmethods_without_dns01_forbids_issuance() {
    let (bind, server) = start(&format!(
        "methods IN CAA 0 issue \"{CA}; validationmethods=http-01\""
    ));
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "caa-methods");
    let name = "methods.example.jp";

    let run = certbot.certonly_rfc2136(&eab, &[name], &bind.rfc2136_credentials());

    assert_caa_refused(
        &server,
        &certbot,
        &run,
        name,
        &[name],
        &format!(
            "CAA record for {name} prevents issuance: validationmethods \"http-01\" \
             does not include dns-01, the method used"
        ),
    );
}

/// RFC 8659 §4.1: a critical property with a tag we do not know forbids
/// issuance, even beside an `issue` that names us.
#[test]
fn caa_unknown_critical_tag_forbids_issuance() {
    let (bind, server) = start(&format!(
        "crit IN CAA 0 issue \"{CA}\"\ncrit IN CAA 128 tbs \"x\""
    ));
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "caa-critical");
    let name = "crit.example.jp";

    let run = certbot.certonly_rfc2136(&eab, &[name], &bind.rfc2136_credentials());

    assert_caa_refused(
        &server,
        &certbot,
        &run,
        name,
        &[name],
        &format!("CAA record for {name} prevents issuance: unknown critical property tag \"tbs\""),
    );
}

/// BR 3.2.2.8, RFC 8659 §3: a CAA lookup that fails is never "no CAA".
/// `sf.example.jp` is a CNAME into `broken.jp`, a zone BIND could not
/// load (a host behind a provider whose DNS is down): BIND answers the CAA
/// query for it with SERVFAIL. Its `_acme-challenge` record is in
/// example.jp, so dns-01 passes and only the CAA lookup fails.
#[test]
fn caa_lookup_servfail_forbids_issuance() {
    let (bind, server) = start("sf IN CNAME sf.broken.jp.");
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "caa-servfail");
    let name = "sf.example.jp";

    let run = certbot.certonly_rfc2136(&eab, &[name], &bind.rfc2136_credentials());

    assert_caa_refused(
        &server,
        &certbot,
        &run,
        name,
        &[name],
        &format!("CAA lookup failed for {name}: SERVFAIL looking up CAA for {name}"),
    );
    assert!(
        bind.logged(&format!("query failed (zone not loaded) for {name}/IN/CAA")),
        "BIND did not answer the CAA lookup with SERVFAIL\n{}",
        bind.log_tail(60)
    );
}

/// A BIND with `example_records` in `example.jp.`, and a server that
/// resolves through it and knows itself as [`CA`] in CAA records.
fn start(example_records: &str) -> (Bind, TestServer) {
    let bind = Bind::start(Signing::Unsigned, example_records);
    let server = TestServer::start_with_dns(
        &bind.va_dns(),
        &format!("[acme]\ncaa_identities = [\"{CA}\"]\n"),
    );
    (bind, server)
}

/// certbot's finalize was refused: certbot prints `detail`, its log has
/// the `caa` problem with that detail as a subproblem for each name of
/// `refused`, the server logged the problem it sent, and no certificate
/// was written (`lineage`: the name certbot files it under).
fn assert_caa_refused(
    server: &TestServer,
    certbot: &Certbot<'_>,
    run: &Run,
    lineage: &str,
    refused: &[&str],
    detail: &str,
) {
    run.assert_failure().assert_output_contains(detail);
    // Validation succeeded: the refusal is CAA's, not dns-01's.
    assert!(
        !run.output()
            .contains("Certbot failed to authenticate some domains"),
        "a challenge failed\n{run}"
    );
    let log = certbot.last_log();
    for name in refused {
        let prefix = format!("Problem for {name}: {CAA_PROBLEM}");
        assert!(
            log.lines()
                .any(|l| l.starts_with(&prefix) && l.ends_with(&format!(" :: {detail}"))),
            "certbot's log has no {prefix:?} with detail {detail:?}\n{run}"
        );
    }
    assert_server_logged(server, &format!("problem=\"caa\" detail={detail}"));
    assert_nothing_issued(certbot, lineage, run);
}

fn assert_server_logged(server: &TestServer, needle: &str) {
    let log = server.log_tail(usize::MAX);
    assert!(
        log.contains(needle),
        "the server did not log {needle:?}\n{log}"
    );
}
