//! The URL layout of ACME resources (RFC 8555 §7.1): their paths, and the
//! absolute URLs built from the configured base. Here, not in `wfe`,
//! because `ra` (CAA accounturi) and `admin` (evidence links) name the
//! same resources; `wfe::urls` parses request paths against it.

use super::{AccountId, AuthzId, CertificateId, ChallengeId, OrderId};

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

/// Customer-portal pages named from outside the portal: the ACME
/// directory's terms, and `instance` links of `userActionRequired`
/// problems (RFC 8555 §7.3.3). The portal routes the same paths.
pub const PORTAL_AGREEMENT: &str = "/agreement";
pub const PORTAL_STATUS: &str = "/status";
pub const PORTAL_ACME_TERMS: &str = "/terms/acme/";

/// Absolute URLs of portal pages.
#[derive(Debug, Clone)]
pub struct PortalUrls {
    base: String,
}

impl PortalUrls {
    pub fn new(base: &str) -> PortalUrls {
        PortalUrls {
            base: base.trim_end_matches('/').to_owned(),
        }
    }
    /// Where a customer accepts the current agreement for ACME account
    /// `id`.
    pub fn acme_terms(&self, id: AccountId) -> String {
        format!("{}{PORTAL_ACME_TERMS}{id}", self.base)
    }
    /// The vetting status of the customer's organization.
    pub fn status(&self) -> String {
        format!("{}{PORTAL_STATUS}", self.base)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kids_name_accounts_of_this_server_only() {
        let u = Urls::new("https://ca.jp:1");
        assert_eq!(
            u.account_id_of_kid(&u.account(AccountId(42))),
            Some(AccountId(42))
        );
        assert_eq!(u.account_id_of_kid("https://evil.jp/acme/acct/42"), None);
        assert_eq!(
            u.account_id_of_kid(&format!("{}/acme/acct/-1", u.base())),
            None
        );
        assert_eq!(u.order(OrderId(7)), "https://ca.jp:1/acme/order/7");
    }

    #[test]
    fn portal_pages_are_under_the_portal_base() {
        let p = PortalUrls::new("https://portal.ca.jp/");
        assert_eq!(
            p.acme_terms(AccountId(9)),
            "https://portal.ca.jp/terms/acme/9"
        );
        assert_eq!(p.status(), "https://portal.ca.jp/status");
    }
}
