//! dns-01 (RFC 8555 §8.4; CA/B Forum BR 3.2.2.4.7 "DNS Change"): a TXT
//! record at `_acme-challenge.<name>` must hold base64url(SHA-256(key
//! authorization)).
//!
//! Several TXT records may sit at the name (a client validating a name and
//! its wildcard at once publishes two); any one matching is enough. The
//! character-strings of one record are concatenated (RFC 7208 §3.3 style;
//! RFC 8555 does not split the value, but a provider may). CNAMEs are
//! followed by the resolver, so a delegated `_acme-challenge` works.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;

use super::dns::Resolver;
use super::{ValidationRecord, ValidationRequest};
use crate::error::{Error, Result};

/// How much of a wrong TXT value is quoted back in the error.
const QUOTE_CHARS: usize = 100;

/// The owner name of the challenge record (RFC 8555 §8.4). The identifier
/// never starts with `*.`: a wildcard is validated through its base name
/// (RFC 8555 §7.1.3), checked by `Validator::validate`.
pub fn challenge_name(identifier: &str) -> String {
    format!("_acme-challenge.{}", identifier.to_ascii_lowercase())
}

/// The TXT value a client must publish: base64url without padding of the
/// SHA-256 digest of the key authorization (RFC 8555 §8.4).
pub fn expected_txt(key_authorization: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, key_authorization.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// One dns-01 attempt. Pushes its record before the lookup, so a failed
/// lookup still leaves evidence of what was asked.
pub(crate) async fn validate(
    resolver: &Resolver,
    req: &ValidationRequest,
    records: &mut Vec<ValidationRecord>,
) -> Result<()> {
    let name = challenge_name(&req.identifier);
    // `records[idx]` below is the record pushed here.
    let idx = records.len();
    records.push(ValidationRecord {
        hostname: req.identifier.to_ascii_lowercase(),
        ..ValidationRecord::default()
    });

    let answer = resolver.lookup_txt(&name).await?;
    tracing::debug!(
        %name, answers = answer.values.len(), cnames = ?answer.cnames,
        dnssec = ?answer.dnssec, "dns-01 lookup"
    );
    let rec = &mut records[idx];
    rec.dns_answers = answer.values.clone();
    rec.cnames = answer.cnames;
    rec.dnssec = answer.dnssec;

    check_values(&answer.values, &name, &req.key_authorization)
}

fn check_values(values: &[String], name: &str, key_authorization: &str) -> Result<()> {
    let Some(first) = values.first() else {
        return Err(Error::unauthorized(format!(
            "No TXT record found at {name}"
        )));
    };
    let expected = expected_txt(key_authorization);
    // Constant time out of habit: the expected value is not secret once
    // published, but nothing is lost.
    if values
        .iter()
        .any(|v| bool::from(v.as_bytes().ct_eq(expected.as_bytes())))
    {
        return Ok(());
    }
    let quoted: String = first.chars().take(QUOTE_CHARS).collect();
    let more = match values.len() - 1 {
        0 => String::new(),
        n => format!(" (and {n} more)"),
    };
    Err(Error::unauthorized(format!(
        "Incorrect TXT record \"{}\"{more} found at {name}",
        quoted.escape_debug()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::ChallengeType;
    use crate::error::ErrorKind;
    use crate::va::testutil::{cname, txt, DnsServer};
    use crate::va::{ValidationOutcome, Validator};

    const KEY_AUTH: &str =
        "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";

    async fn run(dns: &DnsServer, identifier: &str) -> ValidationOutcome {
        let v = Validator::new(&dns.config()).expect("validator builds");
        v.validate(&ValidationRequest {
            method: ChallengeType::Dns01,
            identifier: identifier.into(),
            token: "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0".into(),
            key_authorization: KEY_AUTH.into(),
        })
        .await
    }

    #[test]
    fn expected_value_is_base64url_sha256() {
        // echo -n KEY_AUTH | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d =
        assert_eq!(
            expected_txt(KEY_AUTH),
            "LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo"
        );
    }

    #[tokio::test]
    async fn success_among_several_txt_records() {
        let dns = DnsServer::start().await;
        let good = expected_txt(KEY_AUTH);
        dns.add("_acme-challenge.example.org", txt(&["unrelated"]));
        // The right value split into two character-strings.
        dns.add(
            "_acme-challenge.example.org",
            txt(&[&good[..20], &good[20..]]),
        );
        dns.add("_acme-challenge.example.org", txt(&["another"]));
        let out = run(&dns, "Example.ORG").await;
        out.result.expect("valid");
        assert_eq!(out.records.len(), 1);
        let rec = &out.records[0];
        assert_eq!(rec.hostname, "example.org");
        assert_eq!(rec.url, None);
        assert_eq!(rec.dnssec, None);
        assert!(rec.cnames.is_empty());
        assert_eq!(rec.dns_answers.len(), 3);
        assert!(rec.dns_answers.contains(&good));
    }

    #[tokio::test]
    async fn wrong_value_is_unauthorized_and_quoted() {
        let dns = DnsServer::start().await;
        dns.add("_acme-challenge.example.org", txt(&["wrong\"value"]));
        dns.add("_acme-challenge.example.org", txt(&["other"]));
        let out = run(&dns, "example.org").await;
        let err = out.result.expect_err("mismatch");
        assert_eq!(err.kind, ErrorKind::Unauthorized);
        assert_eq!(
            err.detail,
            "Incorrect TXT record \"wrong\\\"value\" (and 1 more) found at \
             _acme-challenge.example.org"
        );
        assert_eq!(out.records[0].dns_answers, vec!["wrong\"value", "other"]);
    }

    #[tokio::test]
    async fn no_record_is_unauthorized() {
        let dns = DnsServer::start().await;
        let out = run(&dns, "example.org").await;
        let err = out.result.expect_err("no record");
        assert_eq!(err.kind, ErrorKind::Unauthorized);
        assert_eq!(
            err.detail,
            "No TXT record found at _acme-challenge.example.org"
        );
        assert_eq!(out.records.len(), 1);
        assert!(out.records[0].dns_answers.is_empty());
        // NXDOMAIN is "no record" too, not a DNS failure.
        let out = run(&dns, "nx.jp").await;
        let err = out.result.expect_err("nxdomain");
        assert_eq!(err.kind, ErrorKind::Unauthorized);
    }

    #[tokio::test]
    async fn cname_delegated_challenge_is_followed_and_recorded() {
        let dns = DnsServer::start().await;
        dns.add(
            "_acme-challenge.example.org",
            cname("example.org.acme.dns-provider.jp"),
        );
        dns.add(
            "example.org.acme.dns-provider.jp",
            cname("final.dns-provider.jp"),
        );
        dns.add("final.dns-provider.jp", txt(&[&expected_txt(KEY_AUTH)]));
        let out = run(&dns, "example.org").await;
        out.result.expect("valid through CNAMEs");
        assert_eq!(
            out.records[0].cnames,
            vec![
                "_acme-challenge.example.org -> example.org.acme.dns-provider.jp",
                "example.org.acme.dns-provider.jp -> final.dns-provider.jp",
            ]
        );
    }

    #[tokio::test]
    async fn cname_loop_fails() {
        let dns = DnsServer::start().await;
        dns.add("_acme-challenge.example.org", cname("a.loop.jp"));
        dns.add("a.loop.jp", cname("b.loop.jp"));
        dns.add("b.loop.jp", cname("a.loop.jp"));
        let out = run(&dns, "example.org").await;
        // hickory ends the loop; whichever way it reports it, no TXT is
        // found through it.
        let err = out.result.expect_err("loop");
        assert!(
            matches!(err.kind, ErrorKind::Dns | ErrorKind::Unauthorized),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn servfail_is_dns_error() {
        let dns = DnsServer::start().await;
        dns.servfail("_acme-challenge.example.org");
        let out = run(&dns, "example.org").await;
        let err = out.result.expect_err("servfail");
        assert_eq!(err.kind, ErrorKind::Dns);
        assert!(err.detail.contains("SERVFAIL"), "{}", err.detail);
        assert!(
            err.detail.contains("_acme-challenge.example.org"),
            "{}",
            err.detail
        );
        assert_eq!(out.records.len(), 1, "evidence kept on failure");
    }

    #[tokio::test]
    async fn silent_server_is_dns_error_or_timeout() {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let cfg = crate::config::VaConfig {
            resolvers: vec![sock.local_addr().expect("addr")],
            timeout_secs: 2,
            dnssec: false,
            ..crate::config::VaConfig::default()
        };
        let v = Validator::new(&cfg).expect("validator");
        let out = v
            .validate(&ValidationRequest {
                method: ChallengeType::Dns01,
                identifier: "example.org".into(),
                token: "t".into(),
                key_authorization: KEY_AUTH.into(),
            })
            .await;
        let err = out.result.expect_err("timeout");
        assert_eq!(err.kind, ErrorKind::Dns, "{}", err.detail);
    }
}
