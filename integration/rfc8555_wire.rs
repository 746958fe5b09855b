//! RFC 8555 requests made by hand, for what no client will send: certbot
//! checks the directory's `externalAccountRequired` itself and never asks
//! the server without a binding.

use josekit::jwk::KeyPair;
use josekit::jws::{JwsHeaderSet, ES256};
use serde_json::{json, Value};

use crate::common::http::{self, Response};
use crate::common::TestServer;

/// §7.3.4: the directory advertises that a binding is required, and a
/// newAccount without one gets `externalAccountRequired` (§6.7), as a
/// problem document (RFC 7807) that still carries a fresh nonce (§6.5).
#[test]
fn section_7_3_4_new_account_without_eab_is_external_account_required() {
    let server = TestServer::start();
    let directory = get(&server, "/directory").json();
    assert_eq!(
        directory["meta"]["externalAccountRequired"],
        Value::Bool(true),
        "directory: {directory}"
    );
    let new_account = directory["newAccount"].as_str().expect("newAccount URL");
    let new_nonce = directory["newNonce"].as_str().expect("newNonce URL");

    let nonce_response = get(&server, path_of(&server, new_nonce));
    let nonce = nonce_response
        .header("Replay-Nonce")
        .unwrap_or_else(|| panic!("newNonce sent no Replay-Nonce: {nonce_response:?}"));

    let key = ES256.generate_key_pair().unwrap();
    let mut header = JwsHeaderSet::new();
    header.set_jwk(key.to_jwk_public_key(), true);
    header.set_url(new_account, true);
    header.set_claim("nonce", Some(json!(nonce)), true).unwrap();
    let payload = json!({
        "termsOfServiceAgreed": true,
        "contact": ["mailto:admin@example.jp"],
    });
    let signer = ES256.signer_from_jwk(&key.to_jwk_private_key()).unwrap();
    let jws =
        josekit::jws::serialize_flattened_json(payload.to_string().as_bytes(), &header, &signer)
            .unwrap();

    let r = http::request(
        &server.root_pem(),
        server.port(),
        "POST",
        path_of(&server, new_account),
        Some(("application/jose+json", jws.as_bytes())),
    )
    .unwrap();
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 403, "{body}\n{}", server.log_tail(50));
    assert_eq!(
        r.header("Content-Type"),
        Some("application/problem+json"),
        "{r:?}"
    );
    assert_eq!(
        r.json()["type"],
        Value::from("urn:ietf:params:acme:error:externalAccountRequired"),
        "{body}"
    );
    let fresh = r.header("Replay-Nonce");
    assert!(
        fresh.is_some_and(|n| !n.is_empty() && n != nonce),
        "the problem carries no fresh nonce: {r:?}"
    );
}

fn get(server: &TestServer, path: &str) -> Response {
    let r = http::request(&server.root_pem(), server.port(), "GET", path, None)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert!(
        r.status == 200 || r.status == 204,
        "GET {path} answered {}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r
}

/// The path of one of the server's own absolute URLs.
fn path_of<'u>(server: &TestServer, url: &'u str) -> &'u str {
    let origin = format!("https://localhost:{}", server.port());
    url.strip_prefix(&origin)
        .unwrap_or_else(|| panic!("{url} is not under {origin}"))
}
