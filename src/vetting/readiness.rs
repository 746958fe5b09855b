//! Whether this instance is ready to serve ACME: what `/readyz` answers
//! and the console's health page shows, from one function.

use time::OffsetDateTime;

use super::Vetting;

/// How long readiness waits for the database: well under a load
/// balancer's probe interval.
const DB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Each check's outcome: `"ok"`, or what is wrong (no internal detail:
/// `/readyz` needs no authentication; the cause is logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub database: String,
    pub ca: String,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.database == "ok" && self.ca == "ok"
    }

    /// (name, outcome) of every check, in a fixed order.
    pub fn checks(&self) -> [(&'static str, &str); 2] {
        [("database", &self.database), ("ca", &self.ca)]
    }
}

impl Vetting {
    /// A database round trip answered in time, and the CA key loaded
    /// with an unexpired intermediate (`ca_not_after` is the loaded
    /// intermediate's notAfter, `None` while no CA is attached).
    pub async fn readiness(&self, ca_not_after: Option<OffsetDateTime>) -> Readiness {
        let database = match self.store().ping(DB_TIMEOUT).await {
            Ok(()) => "ok".to_owned(),
            Err(_) => format!("unavailable: no answer within {}s", DB_TIMEOUT.as_secs()),
        };
        let ca = match ca_not_after {
            None => "not loaded".to_owned(),
            Some(t) if t <= self.clock().now() => format!(
                "intermediate certificate expired at {}",
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ),
            Some(_) => "ok".to_owned(),
        };
        Readiness { database, ca }
    }
}
