//! What every test that obtains (or is refused) a certificate checks about
//! the files certbot wrote.

use std::path::Path;

use super::certbot::{Certbot, Lineage, Run};
use super::staff::LEGAL_NAME;
use super::x509::{self, Leaf};
use super::TestServer;

/// CA/Browser Forum organization-validated policy.
pub const OV_POLICY: &str = "2.23.140.1.2.2";
/// CA/Browser Forum extended-validation policy.
pub const EV_POLICY: &str = "2.23.140.1.1";

/// Checks a lineage certbot wrote for `names` under the profile whose
/// policy OID is `policy`, and returns its leaf.
pub fn assert_issued(server: &TestServer, lineage: &Lineage, names: &[&str], policy: &str) -> Leaf {
    for f in [
        &lineage.cert,
        &lineage.chain,
        &lineage.fullchain,
        &lineage.privkey,
    ] {
        assert!(f.is_file(), "certbot did not write {}", f.display());
    }
    if let Err(e) = x509::openssl_verify(&server.root_pem(), &lineage.chain, &lineage.cert) {
        panic!("{e}");
    }
    assert!(
        !pem_contains(&lineage.chain, &server.root_pem()),
        "the chain includes the root certificate"
    );

    let leaf = Leaf::read(&lineage.cert);
    let mut expected: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(leaf.sorted_dns_names(), expected, "SAN of {leaf:?}");
    assert!(!leaf.is_ca, "the leaf is a CA certificate: {leaf:?}");
    // The subject comes from the vetted organization, never from the CSR
    // (certbot's CSR has no subject at all).
    assert_eq!(leaf.organization, [LEGAL_NAME], "subject O of {leaf:?}");
    assert_eq!(leaf.country, ["JP"], "subject C of {leaf:?}");
    assert!(
        leaf.policies.iter().any(|p| p == policy),
        "no policy {policy} in {leaf:?}"
    );
    assert!(leaf.server_auth, "the leaf lacks EKU serverAuth: {leaf:?}");
    assert_eq!(
        leaf.spki_der,
        x509::public_key_of(&lineage.privkey),
        "the certificate is not for the key certbot's CSR carried"
    );
    leaf
}

/// certbot wrote no certificate at all.
pub fn assert_nothing_issued(certbot: &Certbot<'_>, name: &str, run: &Run) {
    assert!(
        !certbot.lineage(name).cert.exists(),
        "a certificate was written for {name}\n{run}"
    );
    assert!(
        certbot.archived_certificates().is_empty(),
        "certificates were written: {:?}\n{run}",
        certbot.archived_certificates()
    );
}

/// Whether any certificate of `haystack` is byte-identical to the one in
/// `needle`.
fn pem_contains(haystack: &Path, needle: &Path) -> bool {
    let ders = |p: &Path| -> Vec<Vec<u8>> {
        let text = std::fs::read_to_string(p).unwrap();
        pem::parse_many(&text)
            .unwrap()
            .into_iter()
            .map(|b| b.into_contents())
            .collect()
    };
    let wanted = ders(needle);
    ders(haystack).iter().any(|d| wanted.contains(d))
}
