//! RFC 8555 §7.1.1 (directory), §7.2 (newNonce), and the headers every
//! response carries.

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn directory_lists_resources_and_meta() {
    let s = Server::start_with(|c| {
        c.acme.terms_of_service = Some("https://ca.example.net/tos".into());
        c.acme.caa_identities = vec!["ca.example.net".into()];
    })
    .await;
    let r = send(&http(), Method::GET, &s.url("/directory"), None, vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    let d = r.json();
    for k in [
        "newNonce",
        "newAccount",
        "newOrder",
        "revokeCert",
        "keyChange",
    ] {
        assert!(d[k].as_str().unwrap().starts_with(&s.base), "{k}: {d}");
    }
    assert_eq!(d["meta"]["externalAccountRequired"], true);
    assert_eq!(d["meta"]["termsOfService"], "https://ca.example.net/tos");
    assert_eq!(d["meta"]["caaIdentities"][0], "ca.example.net");
    let profiles = d["meta"]["profiles"].as_object().unwrap();
    let names: Vec<&String> = profiles.keys().collect();
    assert_eq!(names, vec!["ev", "ov"], "dv is off unless configured");
}

#[tokio::test]
async fn new_nonce_head_is_200_and_get_is_204_with_headers() {
    let s = Server::start().await;
    let h = http();
    let url = s.url("/acme/new-nonce");
    let head = send(&h, Method::HEAD, &url, None, vec![]).await;
    assert_eq!(head.status, StatusCode::OK);
    let get = send(&h, Method::GET, &url, None, vec![]).await;
    assert_eq!(get.status, StatusCode::NO_CONTENT);
    for r in [&head, &get] {
        assert!(r.header("replay-nonce").is_some());
        assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
        assert_eq!(
            r.header("link"),
            Some(format!("<{}>;rel=\"index\"", s.url("/directory")))
        );
    }
    assert_ne!(head.header("replay-nonce"), get.header("replay-nonce"));
}

#[tokio::test]
async fn wrong_method_is_405_with_allow_and_unknown_path_404() {
    let s = Server::start().await;
    let h = http();
    let r = send(&h, Method::GET, &s.url("/acme/new-order"), None, vec![]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow").as_deref(), Some("POST"));
    r.problem("malformed");
    assert!(
        r.header("replay-nonce").is_some(),
        "errors carry a nonce too"
    );
    let r = send(&h, Method::POST, &s.url("/nope"), None, vec![]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    r.problem("malformed");
}

/// §6.3: the resources open to GET take POST-as-GET too, verified as any
/// other (an account's kid, an empty payload); other methods are 405 with
/// every allowed one named.
#[tokio::test]
async fn directory_and_new_nonce_take_post_as_get() {
    let (s, c) = registered().await;
    let dir_url = s.url("/directory");
    let get = send(&http(), Method::GET, &dir_url, None, vec![]).await;
    let post = c.post(&dir_url, None).await;
    assert_eq!(post.status, StatusCode::OK, "{}", post.text());
    assert_eq!(post.json(), get.json());

    let nonce_url = s.url("/acme/new-nonce");
    let post = c.post(&nonce_url, None).await;
    assert_eq!(post.status, StatusCode::NO_CONTENT, "{}", post.text());
    assert!(post.header("replay-nonce").is_some());
    assert_eq!(post.header("cache-control").as_deref(), Some("no-store"));

    // Not POST-as-GET: a payload, or no account.
    c.post(&dir_url, Some(&json!({})))
        .await
        .problem("malformed");
    let stranger = Client::new(&s).await;
    let r = stranger.post(&nonce_url, None).await;
    assert!(r.status.is_client_error(), "{}", r.text());

    let r = send(&http(), Method::PUT, &dir_url, None, vec![]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD, POST"));
    let r = send(
        &http(),
        Method::POST,
        &s.url("/acme/renewal-info/x.y"),
        None,
        vec![],
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
}
