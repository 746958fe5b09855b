//! The intermediate's key in a PKCS#11 token (SoftHSM2): `trustgate init
//! --pkcs11-module … --token …` generates it inside the token, `serve`
//! signs certificates and CRLs with it, and a token that goes away turns
//! issuance into a retryable 503 until it is back, without a restart.

use std::path::Path;

use crate::common::certbot::Lineage;
use crate::common::http;
use crate::common::issued::{assert_issued, OV_POLICY};
use crate::common::server::Setup;
use crate::common::softhsm::{SoftHsm, PIN};
use crate::common::x509::{self, Leaf};
use crate::common::{Certbot, TestServer};

/// init in a token, serve, certbot; CRL; the token away and back.
#[test]
fn token_key_signs_and_survives_the_token_going_away() {
    let hsm = SoftHsm::new();
    let init = |dir: &Path| drop(hsm.init_ca(dir));
    let extra = format!("[ca]\n{}", hsm.ca_lines());
    let conf = hsm.conf();
    let env = [("SOFTHSM2_CONF", conf.as_str())];
    let setup = Setup {
        prepare: Some(&init),
        env: &env,
    };
    let server = TestServer::start_prepared("regenerate_secs = 1", &extra, &setup);
    hsm.assert_private_key_stays_in_the_token();

    // Issuance: certbot's certificate verifies under root and chain.
    let eab = server.approved_eab(true);
    let certbot = Certbot::new(&server, "hsm");
    certbot.certonly(&eab, &["hsm.example.jp"]).assert_success();
    let lineage = certbot.lineage("hsm.example.jp");
    let leaf = assert_issued(&server, &lineage, &["hsm.example.jp"], OV_POLICY);
    assert_crl_verifies(&server, &lineage, &leaf);

    // The token goes away: a retryable 503, nothing issued, no restart.
    let away = hsm.dir.path().join("tokens.away");
    std::fs::rename(hsm.tokens(), &away).unwrap();
    let gone = Certbot::new(&server, "hsm-gone");
    let run = gone.certonly(&eab, &["gone.example.jp"]);
    run.assert_failure()
        .assert_output_contains("the CA's signing key is unavailable; retry later");
    assert!(gone.last_log().contains("503"), "{}", gone.last_log());

    // Back again: the next order succeeds on the same server process.
    std::fs::rename(&away, hsm.tokens()).unwrap();
    let back = Certbot::new(&server, "hsm-back");
    back.certonly(&eab, &["back.example.jp"]).assert_success();
    let lineage = back.lineage("back.example.jp");
    assert_issued(&server, &lineage, &["back.example.jp"], OV_POLICY);
    let log = server.log_tail(400);
    assert!(log.contains("PKCS#11 token unavailable"), "{log}");
    assert!(!log.contains(PIN), "the PIN is in the server log");
}

/// The CRL the publish listener serves (signed in the token) is one
/// `openssl verify -crl_check` accepts for the certificate.
fn assert_crl_verifies(server: &TestServer, lineage: &Lineage, leaf: &Leaf) {
    let [url] = leaf.crl_urls.as_slice() else {
        panic!("expected one CRL distribution point: {leaf:?}");
    };
    let (port, path) = url
        .strip_prefix("http://localhost:")
        .and_then(|rest| rest.split_once('/'))
        .unwrap_or_else(|| panic!("not a CRL URL of the test server: {url}"));
    let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port.parse().unwrap()));
    let r = http::plain_request(addr, None, "GET", &format!("/{path}"), None).unwrap();
    assert_eq!(r.status, 200, "GET {url}: {r:?}");
    let (ok, out) =
        x509::openssl_verify_with_crl(&server.root_pem(), &lineage.chain, &lineage.cert, &r.body);
    assert!(ok, "{out}");
}
