//! Staff identities: who acts on the admin API and the CLI, with what
//! roles. Every staff action is attributed to one `StaffIdentity`; its
//! secrets (password hash, TOTP secret, token hashes) stay in `sa` rows
//! and `vetting::staff`, never in these types.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A staff member's row id: what the four-eyes rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StaffId(pub i64);

impl std::fmt::Display for StaffId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StaffRole {
    View,
    Vet,
    Approve,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::View => "view",
            StaffRole::Vet => "vet",
            StaffRole::Approve => "approve",
        }
    }

    pub fn parse(s: &str) -> Option<StaffRole> {
        match s.trim() {
            "view" => Some(StaffRole::View),
            "vet" => Some(StaffRole::Vet),
            "approve" => Some(StaffRole::Approve),
            _ => None,
        }
    }

    /// `view,vet` (the stored and the CLI's form); None on an unknown role.
    pub fn parse_list(s: &str) -> Option<Vec<StaffRole>> {
        let mut roles = Vec::new();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let r = StaffRole::parse(part)?;
            if !roles.contains(&r) {
                roles.push(r);
            }
        }
        Some(roles)
    }

    pub fn join(roles: &[StaffRole]) -> String {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A staff member as listed: no secret in it.
#[derive(Debug, Clone, Serialize)]
pub struct StaffMember {
    pub id: StaffId,
    pub name: String,
    pub roles: Vec<StaffRole>,
    /// The password is a one-time one (set by `add` or `reset`).
    pub must_change_password: bool,
    pub disabled_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub created_by: String,
}

impl StaffMember {
    pub fn identity(&self) -> StaffIdentity {
        StaffIdentity {
            id: self.id,
            name: self.name.clone(),
            roles: self.roles.clone(),
        }
    }
}

/// An authenticated staff member: what an action is attributed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffIdentity {
    pub id: StaffId,
    pub name: String,
    pub roles: Vec<StaffRole>,
}

impl StaffIdentity {
    /// Whether the member may act with `role`. Anyone who may vet or
    /// approve must be able to see what they act on.
    pub fn may(&self, role: StaffRole) -> bool {
        match role {
            StaffRole::View => !self.roles.is_empty(),
            r => self.roles.contains(&r),
        }
    }

    /// The audit log's actor: `staff:NAME#ID` (the id makes it an
    /// identity, not a typed name).
    pub fn actor(&self) -> String {
        format!("staff:{}#{}", self.name, self.id)
    }
}

/// The staff id in an actor written by `StaffIdentity::actor`; None for
/// any other actor (the CA itself, an account, a name recorded before
/// staff identities).
pub fn staff_id_of(actor: &str) -> Option<StaffId> {
    let rest = actor.strip_prefix("staff:")?;
    let (_, id) = rest.rsplit_once('#')?;
    id.parse().ok().map(StaffId)
}

/// The operating-system user of a CLI process, recorded with every
/// audit event that process writes (set once, by the CLI).
static OS_USER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

pub fn set_os_user(user: String) {
    let _ = OS_USER.set(user);
}

pub fn os_user() -> Option<&'static str> {
    OS_USER.get().map(String::as_str)
}

/// An API token as listed: never the token, never its hash.
#[derive(Debug, Clone, Serialize)]
pub struct StaffToken {
    pub id: i64,
    pub staff: StaffId,
    pub label: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_name_the_identity() {
        let who = StaffIdentity {
            id: StaffId(7),
            name: "a#b".into(),
            roles: vec![StaffRole::Approve],
        };
        assert_eq!(who.actor(), "staff:a#b#7");
        assert_eq!(staff_id_of(&who.actor()), Some(StaffId(7)));
        assert_eq!(staff_id_of("alice"), None);
        assert_eq!(staff_id_of("staff:alice"), None);
        assert!(who.may(StaffRole::View) && !who.may(StaffRole::Vet));
    }

    #[test]
    fn role_lists() {
        assert_eq!(
            StaffRole::parse_list("view, approve,view"),
            Some(vec![StaffRole::View, StaffRole::Approve])
        );
        assert_eq!(StaffRole::parse_list("view,root"), None);
        assert_eq!(
            StaffRole::join(&[StaffRole::Vet, StaffRole::View]),
            "vet,view"
        );
    }
}
