//! Staff authentication: bearer tokens whose SHA-256 is configured
//! (`admin.staff`), and the roles each member holds.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::config::{AdminConfig, StaffRole};
use crate::error::{Error, Result};

/// One configured staff member.
#[derive(Clone)]
pub struct Member {
    /// Recorded as the actor of everything they do.
    pub name: String,
    token_sha256: [u8; 32],
    roles: Vec<StaffRole>,
}

/// Redacts the token hash: it is not secret, but nothing derived from a
/// credential belongs in a log.
impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl Member {
    /// Whether the member may act with `role`. Anyone who may vet or
    /// approve must be able to see what they act on.
    pub fn may(&self, role: StaffRole) -> bool {
        match role {
            StaffRole::View => !self.roles.is_empty(),
            r => self.roles.contains(&r),
        }
    }
}

/// No token, or one that matches nobody (HTTP 401, unlike a known member
/// lacking a role, which is 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthenticated(pub &'static str);

/// The staff list, checked on every request.
#[derive(Debug, Clone, Default)]
pub struct Staff {
    members: Vec<Member>,
}

impl Staff {
    /// Refuses a configuration whose hashes are not 64 hex digits, or
    /// where two members share a name or a token: the audit log could not
    /// tell them apart.
    pub fn from_config(cfg: &AdminConfig) -> Result<Staff> {
        let mut members: Vec<Member> = Vec::with_capacity(cfg.staff.len());
        for s in &cfg.staff {
            let bad = |why: &str| {
                Error::internal(format!(
                    "invalid configuration: admin.staff {:?}: {why}",
                    s.name
                ))
            };
            if s.name.trim().is_empty() {
                return Err(bad("name is empty"));
            }
            let hash = parse_sha256_hex(&s.token_sha256)
                .ok_or_else(|| bad("token_sha256 must be 64 hex digits"))?;
            if members.iter().any(|m| m.name == s.name) {
                return Err(bad("the name is used twice"));
            }
            if members.iter().any(|m| m.token_sha256 == hash) {
                return Err(bad("the token is used by another member"));
            }
            members.push(Member {
                name: s.name.clone(),
                token_sha256: hash,
                roles: s.roles.clone(),
            });
        }
        Ok(Staff { members })
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member an `Authorization` header value names.
    ///
    /// The presented token is hashed and compared with every configured
    /// hash in constant time, without stopping at a match, so response
    /// time tells an attacker nothing about which hashes exist.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<&Member, Unauthenticated> {
        let token = authorization.and_then(bearer_token).ok_or(Unauthenticated(
            "an Authorization: Bearer token is required",
        ))?;
        let digest = sha256(token.as_bytes());
        let mut found = u32::MAX;
        for (i, m) in self.members.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            found.conditional_assign(&i, m.token_sha256.ct_eq(&digest));
        }
        usize::try_from(found)
            .ok()
            .and_then(|i| self.members.get(i))
            .ok_or(Unauthenticated("the bearer token is not valid"))
    }
}

/// RFC 6750 §2.1: `Bearer <token>`; the scheme is case-insensitive.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn parse_sha256_hex(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Lowercase hex SHA-256 of a token, as `admin.staff.token_sha256` takes it.
pub fn token_sha256_hex(token: &str) -> String {
    sha256(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh 256-bit token from the OS CSPRNG, base64url without padding.
pub fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::internal("OS random number generator failed"))?;
    Ok(B64.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StaffConfig;

    fn staff(entries: &[(&str, &str, &[StaffRole])]) -> Result<Staff> {
        Staff::from_config(&AdminConfig {
            listen: None,
            staff: entries
                .iter()
                .map(|(name, token, roles)| StaffConfig {
                    name: (*name).into(),
                    token_sha256: token_sha256_hex(token),
                    roles: roles.to_vec(),
                })
                .collect(),
        })
    }

    #[test]
    fn tokens_identify_members() {
        let s = staff(&[
            ("alice", "tok-a", &[StaffRole::Vet]),
            ("bob", "tok-b", &[StaffRole::View]),
        ])
        .unwrap();
        assert_eq!(s.authenticate(Some("Bearer tok-a")).unwrap().name, "alice");
        assert_eq!(s.authenticate(Some("bearer  tok-b ")).unwrap().name, "bob");
        for bad in [
            None,
            Some("Bearer"),
            Some("Basic tok-a"),
            Some("Bearer tok-c"),
        ] {
            assert!(s.authenticate(bad).is_err());
        }
    }

    #[test]
    fn vet_and_approve_imply_view() {
        let s = staff(&[("a", "t", &[StaffRole::Approve])]).unwrap();
        let m = s.authenticate(Some("Bearer t")).unwrap();
        assert!(m.may(StaffRole::View) && m.may(StaffRole::Approve));
        assert!(!m.may(StaffRole::Vet));
        let none = staff(&[("n", "t", &[])]).unwrap();
        assert!(!none
            .authenticate(Some("Bearer t"))
            .unwrap()
            .may(StaffRole::View));
    }

    #[test]
    fn bad_configuration_is_refused() {
        assert!(staff(&[("a", "t", &[]), ("a", "u", &[])]).is_err());
        assert!(staff(&[("a", "t", &[]), ("b", "t", &[])]).is_err());
        let mut cfg = AdminConfig::default();
        cfg.staff.push(StaffConfig {
            name: "x".into(),
            token_sha256: "abc".into(),
            roles: vec![],
        });
        assert!(Staff::from_config(&cfg).is_err());
    }

    #[test]
    fn token_hash_format() {
        // echo -n abc | sha256sum
        assert_eq!(
            token_sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            parse_sha256_hex(&token_sha256_hex("abc").to_uppercase()),
            Some(sha256(b"abc"))
        );
        assert_eq!(new_token().unwrap().len(), 43);
    }
}
