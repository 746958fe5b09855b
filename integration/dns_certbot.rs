//! dns-01 (RFC 8555 §8.4) with certbot against a real BIND: the
//! certbot-dns-rfc2136 plugin for a wildcard and its base name (§7.1.3),
//! a delegated `_acme-challenge` CNAME followed into another zone, and
//! DNSSEC (the VA validating from a trust anchor; a tampered zone refused).

use crate::common::bind::{Bind, Signing};
use crate::common::certbot::Run;
use crate::common::issued::{assert_issued, assert_nothing_issued, OV_POLICY};
use crate::common::{Certbot, TestServer};

/// §7.1.3, §8.4: one order for `x.example.jp` and `*.x.example.jp`,
/// both validated through the one name `_acme-challenge.x.example.jp`,
/// where the plugin puts two TXT records at once; it removes them after.
#[test]
fn wildcard_and_base_name_through_rfc2136() {
    let bind = Bind::start(Signing::Unsigned, "");
    let server = TestServer::start_with_dns(&bind.va_dns(), "");
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "rfc2136");
    let names = ["x.example.jp", "*.x.example.jp"];
    let challenge = "_acme-challenge.x.example.jp";

    let run = certbot.certonly_rfc2136(&eab, &names, &bind.rfc2136_credentials());
    run.assert_success();

    assert_issued(&server, &certbot.lineage("x.example.jp"), &names, OV_POLICY);
    // Only the VA asks for the TXT records (the plugin asks for SOAs).
    assert!(
        bind.was_queried(challenge, "TXT"),
        "the VA never asked BIND for {challenge}\n{run}\n{}",
        bind.log_tail(60)
    );
    // Each authorization's lookup found both values side by side.
    assert_eq!(
        dns01_lookups(&server, challenge),
        vec![format!("name={challenge} answers=2 cnames=[] dnssec=None"); 2],
        "{run}"
    );
    assert_eq!(
        bind.txt(challenge),
        Vec::<String>::new(),
        "certbot left its TXT records behind\n{run}"
    );
}

/// §8.4 with a delegated challenge: `_acme-challenge.alias.example.jp`
/// is a CNAME into another zone. BIND (authoritative, no recursion)
/// answers with the CNAME alone, so the VA must follow it itself; the
/// subscriber's hooks write (and then remove) the TXT record at the target.
#[test]
fn delegated_challenge_cname_is_followed() {
    let bind = Bind::start(
        Signing::Unsigned,
        "_acme-challenge.alias IN CNAME alias.acme-delegate.jp.",
    );
    let server = TestServer::start_with_dns(&bind.va_dns(), "");
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "delegated");
    let name = "alias.example.jp";
    let (auth, cleanup) = bind.delegated_hooks();

    let run = certbot.certonly_manual_dns(&eab, &[name], &auth, Some(&cleanup));
    run.assert_success();

    assert_issued(&server, &certbot.lineage(name), &[name], OV_POLICY);
    assert!(
        bind.was_queried("alias.acme-delegate.jp", "TXT"),
        "the VA never looked up the CNAME's target\n{run}\n{}",
        bind.log_tail(60)
    );
    assert_eq!(
        dns01_lookups(&server, "_acme-challenge.alias.example.jp"),
        ["name=_acme-challenge.alias.example.jp answers=1 \
          cnames=[\"_acme-challenge.alias.example.jp -> alias.acme-delegate.jp\"] dnssec=None"],
        "{run}"
    );
    assert_eq!(
        bind.txt("alias.acme-delegate.jp"),
        Vec::<String>::new(),
        "the cleanup hook left the TXT record behind\n{run}"
    );
}

/// DNSSEC on (`va.dnssec`, anchored at `test.`'s key): named signs the
/// zones and the plugin's updates; the chain `test.` → DS → `example.jp.`
/// validates, the TXT record is Secure, and certbot gets its certificate.
#[test]
fn dnssec_signed_zone_validates() {
    let bind = Bind::start(Signing::Online, "");
    let dns = bind.va_dns();
    assert!(dns.dnssec && dns.trust_anchors.len() == 1, "{dns:?}");
    let server = TestServer::start_with_dns(&dns, "");
    let eab = server.approved_eab(false);
    let certbot = Certbot::new(&server, "dnssec");
    let name = "sec.example.jp";

    let run = certbot.certonly_rfc2136(&eab, &[name], &bind.rfc2136_credentials());
    run.assert_success();

    assert_issued(&server, &certbot.lineage(name), &[name], OV_POLICY);
    assert_eq!(
        dns01_lookups(&server, &format!("_acme-challenge.{name}")),
        [format!(
            "name=_acme-challenge.{name} answers=1 cnames=[] dnssec=Some(\"Secure\")"
        )],
        "{run}"
    );
}

/// DNSSEC on: the challenge's TXT record holds the right value, but the
/// zone was signed over another one (what an attacker who rewrites
/// answers produces). The VA must refuse: a `dns` problem naming the
/// DNSSEC failure, no certificate. First the same hook without the
/// tampering issues, so the anchor and the signing are known good.
#[test]
fn dnssec_tampered_zone_is_refused() {
    let bind = Bind::start(Signing::Offline, "");
    let server = TestServer::start_with_dns(&bind.va_dns(), "");
    let eab = server.approved_eab(true);

    let good = Certbot::new(&server, "signed");
    let name = "good.example.jp";
    let run = good.certonly_manual_dns(&eab, &[name], &bind.resigning_hook(false), None);
    run.assert_success();
    assert_issued(&server, &good.lineage(name), &[name], OV_POLICY);
    assert_eq!(
        dns01_lookups(&server, &format!("_acme-challenge.{name}")),
        [format!(
            "name=_acme-challenge.{name} answers=1 cnames=[] dnssec=Some(\"Secure\")"
        )],
        "{run}"
    );

    let tampered = Certbot::new(&server, "tampered");
    let name = "bogus.example.jp";
    let run = tampered.certonly_manual_dns(&eab, &[name], &bind.resigning_hook(true), None);

    let detail = format!("DNSSEC validation failed for _acme-challenge.{name}");
    assert_challenge_failed(&run, name, "dns", &detail);
    assert_nothing_issued(&tampered, name, &run);
    let log = server_log(&server);
    assert!(
        log.contains(&format!(
            "validation failed identifier={name} method=dns-01 kind=Dns"
        )) && log.contains(&format!("identifier={name} detail={detail}")),
        "the server did not log the DNSSEC failure\n{run}"
    );
}

/// certbot failed to authenticate `name`, reporting the problem type and
/// detail the VA gave.
fn assert_challenge_failed(run: &Run, name: &str, problem: &str, detail: &str) {
    run.assert_failure()
        .assert_output_contains("Certbot failed to authenticate some domains")
        .assert_output_contains(&format!("Identifier: {name}"))
        .assert_output_contains(&format!("Type:   {problem}\n"))
        .assert_output_contains(detail);
}

/// What the VA logged of each dns-01 lookup at `challenge` (records
/// found, CNAMEs followed, DNSSEC status), in order.
fn dns01_lookups(server: &TestServer, challenge: &str) -> Vec<String> {
    let needle = format!("dns-01 lookup name={challenge} ");
    let found: Vec<String> = server_log(server)
        .lines()
        .filter_map(|l| {
            l.find(&needle)
                .map(|at| l[at + "dns-01 lookup ".len()..].to_owned())
        })
        .collect();
    assert!(
        !found.is_empty(),
        "the server logged no dns-01 lookup of {challenge} (a debug line: keep \
         trustgate=debug in RUST_LOG)\n{}",
        server.log_tail(100)
    );
    found
}

/// Everything the server logged so far.
fn server_log(server: &TestServer) -> String {
    server.log_tail(usize::MAX)
}
