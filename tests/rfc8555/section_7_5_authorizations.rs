//! RFC 8555 §7.5 (authorizations, challenges), §7.5.2 (deactivation) and
//! §8.3 (http-01) outcomes as the client sees them.

use hyper::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_wrong_key_authorization_invalidates_with_the_error_stored() {
    let s = Server::start().await;
    let mut c = Client::new(&s).await;
    c.register(&s).await;
    let order = create_order(&c, &["a.example.test"]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = c.post(&authz_url, None).await.json();
    assert_eq!(authz["status"], "pending");
    assert_eq!(authz["identifier"]["value"], "a.example.test");
    let ch = authz["challenges"][0].clone();
    assert_eq!(ch["type"], "http-01");
    let token = ch["token"].as_str().unwrap().to_owned();
    s.http01
        .lock()
        .unwrap()
        .insert(token.clone(), format!("{token}.wrong-thumbprint"));
    let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("link").unwrap().contains(&authz_url));
    let authz = c.wait_status(&authz_url, &["invalid"]).await;
    let ch = &authz["challenges"][0];
    assert_eq!(ch["status"], "invalid");
    assert_eq!(
        ch["error"]["type"], "urn:ietf:params:acme:error:unauthorized",
        "{ch}"
    );
    assert!(
        ch["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("wrong-thumbprint"),
        "{ch}"
    );
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "invalid"
    );
    let records = s.sql_text(
        "SELECT validation_records AS t FROM challenges WHERE validation_records IS NOT NULL",
    );
    assert!(
        records[0].contains("127.0.0.1"),
        "addresses used are stored: {records:?}"
    );
    // Answering again changes nothing.
    let r = c.post(ch["url"].as_str().unwrap(), Some(&json!({}))).await;
    assert_eq!(r.json()["status"], "invalid");
}

#[tokio::test]
async fn nothing_listening_is_a_connection_error() {
    let s = Server::start_with(|c| c.va.http01_port = 9).await;
    let mut c = Client::new(&s).await;
    c.register(&s).await;
    let order = create_order(&c, &["a.example.test"]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap().to_owned();
    let authz = c.post(&authz_url, None).await.json();
    c.post(
        authz["challenges"][0]["url"].as_str().unwrap(),
        Some(&json!({})),
    )
    .await;
    let authz = c.wait_status(&authz_url, &["invalid"]).await;
    assert_eq!(
        authz["challenges"][0]["error"]["type"],
        "urn:ietf:params:acme:error:connection"
    );
}

#[tokio::test]
async fn authorizations_can_be_deactivated() {
    let s = Server::start().await;
    let mut c = Client::new(&s).await;
    c.register(&s).await;
    let order = create_order(&c, &["a.example.test"]).await;
    let authz_url = order["authorizations"][0].as_str().unwrap();
    c.post(authz_url, Some(&json!({"status": "valid"})))
        .await
        .problem("malformed");
    let r = c
        .post(authz_url, Some(&json!({"status": "deactivated"})))
        .await;
    assert_eq!(r.json()["status"], "deactivated");
    c.post(authz_url, Some(&json!({"status": "deactivated"})))
        .await
        .problem("malformed");
    assert_eq!(
        c.post(&order_url(&order, &c), None).await.json()["status"],
        "invalid"
    );
}
