//! The OpenAPI document describes exactly the routes the router serves.

use std::collections::BTreeSet;

use hyper::{Method, StatusCode};
use serde_json::Value;
use trustgate::config::StaffRole;

use crate::support::*;

fn role_name(role: StaffRole) -> &'static str {
    match role {
        StaffRole::View => "view",
        StaffRole::Vet => "vet",
        StaffRole::Approve => "approve",
    }
}

/// Resolves a `$ref` to `#/components/...`.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => doc.pointer(r.trim_start_matches('#')).expect(r),
        None => v,
    }
}

#[tokio::test]
async fn openapi_covers_every_route_and_nothing_else() {
    let s = Server::start().await;
    let r = s.raw(None, Method::GET, "/openapi.json", Vec::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let served: BTreeSet<(String, String)> = trustgate::admin::ROUTES
        .iter()
        .map(|r| (r.method.to_lowercase(), r.path.to_owned()))
        .collect();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    assert!(extra.is_empty(), "documented but not served: {extra:?}");

    for route in trustgate::admin::ROUTES {
        let op = &doc["paths"][route.path][route.method.to_lowercase()];
        let what = format!("{} {}", route.method, route.path);
        match route.role {
            None => assert_eq!(op["security"], serde_json::json!([]), "{what}"),
            Some(role) => {
                assert!(op.get("security").is_none(), "{what}: uses the default");
                assert_eq!(op["x-required-role"], role_name(role), "{what}");
                assert!(op["responses"]["401"].is_object(), "{what}");
                assert!(op["responses"]["403"].is_object(), "{what}");
            }
        }
        let params: Vec<&Value> = op["parameters"]
            .as_array()
            .map(|a| a.iter().map(|p| resolve(&doc, p)).collect())
            .unwrap_or_default();
        let query: BTreeSet<&str> = params
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            query,
            route.query.iter().copied().collect::<BTreeSet<_>>(),
            "{what}: query parameters"
        );
        let in_path: BTreeSet<&str> = params
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let templated: BTreeSet<&str> = route
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        assert_eq!(in_path, templated, "{what}: path parameters");
    }

    // Every $ref points at something.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        assert!(
            doc.pointer(r.trim_start_matches('#')).is_some(),
            "dangling {r}"
        );
    }
}
