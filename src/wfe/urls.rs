//! The URLs of ACME resources, built and parsed in one place.

use crate::core::{AccountId, AuthzId, CertificateId, ChallengeId, OrderId};

pub const DIRECTORY: &str = "/directory";
pub const NEW_NONCE: &str = "/acme/new-nonce";
pub const NEW_ACCOUNT: &str = "/acme/new-account";
pub const NEW_ORDER: &str = "/acme/new-order";
pub const REVOKE_CERT: &str = "/acme/revoke-cert";
pub const KEY_CHANGE: &str = "/acme/key-change";
pub const RENEWAL_INFO: &str = "/acme/renewal-info";
pub const ACCOUNT: &str = "/acme/acct/";
pub const ORDER: &str = "/acme/order/";
pub const AUTHZ: &str = "/acme/authz/";
pub const CHALLENGE: &str = "/acme/chall/";
pub const CERT: &str = "/acme/cert/";

#[derive(Debug, Clone)]
pub struct Urls {
    base: String,
}

impl Urls {
    pub fn new(base: &str) -> Urls {
        Urls {
            base: base.trim_end_matches('/').to_owned(),
        }
    }
    pub fn base(&self) -> &str {
        &self.base
    }
    /// Absolute URL of a path on this server.
    pub fn abs(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
    pub fn account(&self, id: AccountId) -> String {
        format!("{}{ACCOUNT}{id}", self.base)
    }
    pub fn orders(&self, id: AccountId, after: Option<OrderId>) -> String {
        match after {
            Some(c) => format!("{}{ACCOUNT}{id}/orders?cursor={c}", self.base),
            None => format!("{}{ACCOUNT}{id}/orders", self.base),
        }
    }
    pub fn order(&self, id: OrderId) -> String {
        format!("{}{ORDER}{id}", self.base)
    }
    pub fn finalize(&self, id: OrderId) -> String {
        format!("{}{ORDER}{id}/finalize", self.base)
    }
    pub fn authz(&self, id: AuthzId) -> String {
        format!("{}{AUTHZ}{id}", self.base)
    }
    pub fn challenge(&self, id: ChallengeId) -> String {
        format!("{}{CHALLENGE}{id}", self.base)
    }
    pub fn certificate(&self, id: CertificateId) -> String {
        format!("{}{CERT}{id}", self.base)
    }

    /// The account id in a `kid` (RFC 8555 §6.2), if it is an account URL
    /// of this server.
    pub fn account_id_of_kid(&self, kid: &str) -> Option<AccountId> {
        kid.strip_prefix(&self.base)?
            .strip_prefix(ACCOUNT)?
            .parse()
            .ok()
            .filter(|id: &AccountId| id.0 > 0)
    }
}

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
            Route::Directory => &["GET", "HEAD"],
            Route::NewNonce | Route::RenewalInfo => &["GET", "HEAD"],
            _ => &["POST"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_round_trip() {
        let u = Urls::new("https://ca.test:1");
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
        assert_eq!(
            u.account_id_of_kid(&u.account(AccountId(42))),
            Some(AccountId(42))
        );
        assert_eq!(u.account_id_of_kid("https://evil.test/acme/acct/42"), None);
        assert_eq!(
            u.account_id_of_kid(&format!("{}/acme/acct/-1", u.base())),
            None
        );
    }
}
