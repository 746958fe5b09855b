//! The remote-perspective interface (BR 3.2.2.9): what the primary VA asks
//! a `trustgate perspective` service and what it answers. The same types
//! are the JSON body of the perspective API (`POST /v1/check`), so the
//! client (`va::remote::client`) and the service (`perspective`) cannot
//! drift apart. A perspective only reports; the primary decides.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::caa::CaaEvidence;
use super::ValidationRecord;
use crate::acme::ChallengeType;
use crate::core::Region;

pub mod client;
pub mod mtls;

/// One check a perspective performs with its own resolver and network.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum RemoteCheck {
    /// A domain validation (RFC 8555 §8): http-01, dns-01 or tls-alpn-01.
    #[serde(rename_all = "camelCase")]
    Challenge {
        method: ChallengeType,
        /// Never a wildcard; validated through its base name.
        identifier: String,
        token: String,
        key_authorization: String,
    },
    /// A CAA check (RFC 8659, RFC 8657) for one name about to be issued.
    #[serde(rename_all = "camelCase")]
    Caa {
        /// May start with `*.`.
        name: String,
        account_uri: String,
        method: ChallengeType,
        caa_identities: Vec<String>,
    },
}

// By hand: the key authorization never reaches a log line.
impl std::fmt::Debug for RemoteCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteCheck::Challenge {
                method, identifier, ..
            } => f
                .debug_struct("Challenge")
                .field("method", method)
                .field("identifier", identifier)
                .finish_non_exhaustive(),
            RemoteCheck::Caa { name, method, .. } => f
                .debug_struct("Caa")
                .field("name", name)
                .field("method", method)
                .finish_non_exhaustive(),
        }
    }
}

/// A perspective's answer: its outcome and the evidence it gathered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteAnswer {
    /// The configured name of the perspective (set by the primary from its
    /// configuration, never trusted from the wire).
    #[serde(default)]
    pub perspective: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    pub outcome: RemoteOutcome,
    /// Addresses connected to, DNS answers and their DNSSEC status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<ValidationRecord>,
    /// For a CAA check: what the perspective saw and decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caa: Option<CaaEvidence>,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
}

/// `valid`, or the ACME error type (`connection`, `dns`, `caa`,
/// `incorrectResponse` …) with its detail. A perspective that could not be
/// reached or answered nonsense is `unreachable`: it does not corroborate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum RemoteOutcome {
    Valid,
    #[serde(rename_all = "camelCase")]
    Invalid {
        /// The ACME error type without its URN prefix, e.g. `dns`.
        problem: String,
        detail: String,
    },
    #[serde(rename_all = "camelCase")]
    Unreachable {
        detail: String,
    },
}

impl RemoteOutcome {
    pub fn corroborates(&self) -> bool {
        matches!(self, RemoteOutcome::Valid)
    }
}

/// One remote perspective as the primary sees it. The production
/// implementation is the mutual-TLS client of a `trustgate perspective`
/// service; it never fails: a timeout or error is an `Unreachable` answer.
pub trait RemotePerspective: Send + Sync {
    fn name(&self) -> &str;
    fn region(&self) -> Region;
    fn check<'a>(
        &'a self,
        check: &'a RemoteCheck,
    ) -> Pin<Box<dyn Future<Output = RemoteAnswer> + Send + 'a>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_round_trips_through_json_and_refuses_unknown_fields() {
        let c = RemoteCheck::Challenge {
            method: ChallengeType::Http01,
            identifier: "www.example.jp".into(),
            token: "t".into(),
            key_authorization: "t.k".into(),
        };
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"kind\":\"challenge\""), "{json}");
        let back: RemoteCheck = serde_json::from_str(&json).unwrap();
        assert!(matches!(back, RemoteCheck::Challenge { .. }));
        let extra = json.replace("{", "{\"extra\":1,");
        assert!(serde_json::from_str::<RemoteCheck>(&extra).is_err());
        assert!(!format!("{c:?}").contains("t.k"));
    }
}
