//! Request paths parsed into ACME resources, against the URL layout of
//! `core::urls` (re-exported here for the handlers).

pub use crate::core::urls::*;
use crate::core::{AccountId, AuthzId, CertificateId, ChallengeId, OrderId};

/// An ACME resource, parsed from a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Directory,
    NewNonce,
    NewAccount,
    NewOrder,
    RevokeCert,
    KeyChange,
    Account(AccountId),
    Orders(AccountId),
    Order(OrderId),
    Finalize(OrderId),
    Authz(AuthzId),
    Challenge(ChallengeId),
    Certificate(CertificateId),
    /// RFC 9773: GET renewal-info/<certificate identifier>.
    RenewalInfo,
}

impl Route {
    pub fn parse(path: &str) -> Option<Route> {
        Some(match path {
            DIRECTORY => Route::Directory,
            NEW_NONCE => Route::NewNonce,
            NEW_ACCOUNT => Route::NewAccount,
            NEW_ORDER => Route::NewOrder,
            REVOKE_CERT => Route::RevokeCert,
            KEY_CHANGE => Route::KeyChange,
            _ if path.starts_with(RENEWAL_INFO) && path[RENEWAL_INFO.len()..].starts_with('/') => {
                Route::RenewalInfo
            }
            _ => {
                if let Some(rest) = path.strip_prefix(ACCOUNT) {
                    match rest.strip_suffix("/orders") {
                        Some(id) => Route::Orders(id.parse().ok()?),
                        None => Route::Account(rest.parse().ok()?),
                    }
                } else if let Some(rest) = path.strip_prefix(ORDER) {
                    match rest.strip_suffix("/finalize") {
                        Some(id) => Route::Finalize(id.parse().ok()?),
                        None => Route::Order(rest.parse().ok()?),
                    }
                } else if let Some(rest) = path.strip_prefix(AUTHZ) {
                    Route::Authz(rest.parse().ok()?)
                } else if let Some(rest) = path.strip_prefix(CHALLENGE) {
                    Route::Challenge(rest.parse().ok()?)
                } else if let Some(rest) = path.strip_prefix(CERT) {
                    Route::Certificate(rest.parse().ok()?)
                } else {
                    return None;
                }
            }
        })
    }

    /// Methods allowed on the resource (RFC 8555 §7.1: everything but the
    /// directory and newNonce is POST).
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            // RFC 8555 §6.3: GET, and POST-as-GET as for every resource.
            Route::Directory | Route::NewNonce => &["GET", "HEAD", "POST"],
            // RFC 9773 §4.1: unauthenticated GET only.
            Route::RenewalInfo => &["GET", "HEAD"],
            _ => &["POST"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_round_trip() {
        assert_eq!(
            Route::parse("/acme/order/7/finalize"),
            Some(Route::Finalize(OrderId(7)))
        );
        assert_eq!(
            Route::parse("/acme/acct/3/orders"),
            Some(Route::Orders(AccountId(3)))
        );
        assert_eq!(Route::parse("/acme/acct/x"), None);
        assert_eq!(Route::parse("/acme/order/1/finalize/x"), None);
    }
}
