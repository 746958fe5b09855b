//! Staff authentication on the admin API: a per-staff API token
//! (`trustgate staff token create`) as an RFC 6750 bearer token, checked
//! by `vetting::staff` against the stored hashes.

use crate::core::staff::StaffIdentity;
use crate::error::Result;
use crate::vetting::staff::TokenCheck;
use crate::vetting::Vetting;

/// No token, or one that identifies nobody who may act (HTTP 401,
/// unlike a known member lacking a role, which is 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthenticated(pub &'static str);

/// The member an `Authorization` header value names: `Ok(Err(_))` is a
/// refusal, `Err(_)` a failure to look the token up.
pub async fn authenticate(
    vetting: &Vetting,
    authorization: Option<&str>,
) -> Result<Result<StaffIdentity, Unauthenticated>> {
    let Some(token) = authorization.and_then(bearer_token) else {
        return Ok(Err(Unauthenticated(
            "an Authorization: Bearer token is required",
        )));
    };
    Ok(match vetting.authenticate_token(token).await? {
        TokenCheck::Valid(who) => Ok(who),
        TokenCheck::Refused(why) => Err(Unauthenticated(why)),
    })
}

/// RFC 6750 §2.1: `Bearer <token>`; the scheme is case-insensitive.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 256)
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme() {
        assert_eq!(bearer_token("Bearer tok-a"), Some("tok-a"));
        assert_eq!(bearer_token("bearer  tok-b "), Some("tok-b"));
        for bad in ["Bearer", "Basic tok-a", "Bearer  ", ""] {
            assert_eq!(bearer_token(bad), None, "{bad:?}");
        }
        assert_eq!(bearer_token(&format!("Bearer {}", "x".repeat(257))), None);
    }
}
