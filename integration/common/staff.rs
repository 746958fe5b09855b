//! What CA staff do before a subscriber can get a certificate: enter the
//! organization, record the vetting checks, approve it.
//!
//! There is no admin API or `org` command yet, so this goes through the
//! library's `Vetting` service (the code both will call) on the test
//! server's own database while the server runs. The organization and the
//! checks are written as the JSON staff would submit, so moving to the
//! admin API changes only how they are sent.

use serde_json::json;
use tokio::runtime::Runtime;
use trustgate::config::Config;
use trustgate::core::OrganizationId;
use trustgate::vetting::checks::{CheckRecord, Transition};
use trustgate::vetting::organization::OrganizationData;
use trustgate::vetting::Vetting;

/// Who records the checks, and who approves (the four-eyes rule wants two
/// different people).
const VETTER: &str = "integration-vetter";
const APPROVER: &str = "integration-approver";

/// The organizationName its certificates carry (the legal name, as the
/// example data does not ask for the English one).
pub const LEGAL_NAME: &str = "例示株式会社";

/// An OV organization in the test server's database.
#[derive(Debug, Clone, Copy)]
pub struct Organization {
    pub id: OrganizationId,
}

pub struct Staff {
    runtime: Runtime,
    vetting: Vetting,
}

impl Staff {
    /// Staff working on the database `config` (the server's) points at.
    pub fn new(config: &Config) -> Staff {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("building a runtime for staff actions");
        let store = trustgate::app::open_store(config).expect("opening the server's database");
        Staff {
            runtime,
            vetting: Vetting::new(store, config.vetting.clone()),
        }
    }

    /// A new OV organization whose domain scope is `domains` (each with
    /// every name under it); its vetting is pending.
    pub fn create_organization(&self, domains: &[&str]) -> Organization {
        let domains: Vec<_> = domains
            .iter()
            .map(|d| json!({"name": d, "exact": false}))
            .collect();
        let data: OrganizationData =
            serde_json::from_value(organization_json(&domains)).expect("organization JSON");
        let org = self
            .runtime
            .block_on(self.vetting.create(VETTER, data))
            .expect("creating the organization");
        Organization { id: org.id }
    }

    /// Records the checks OV approval needs and approves.
    pub fn approve(&self, org: Organization) {
        for check in ov_checks() {
            let record: CheckRecord = serde_json::from_value(check).expect("check JSON");
            self.runtime
                .block_on(self.vetting.record_check(VETTER, org.id, record, None))
                .expect("recording a check");
        }
        self.runtime
            .block_on(
                self.vetting
                    .transition(APPROVER, org.id, Transition::Approve, None),
            )
            .expect("approving the organization");
    }
}

/// A complete application, as the paper form collects it.
fn organization_json(domains: &[serde_json::Value]) -> serde_json::Value {
    let office = json!({
        "country": "JP",
        "prefecture": "東京都",
        "locality": "千代田区",
        "postal_code": "100-0005",
        "street": "丸の内1-1-1",
    });
    json!({
        "legal_name": LEGAL_NAME,
        "english_name": "Example KK",
        "use_english_name": false,
        "tdb_code": "123456789",
        "registration_number": "180301018771",
        "corporate_number": "1180301018771",
        "head_office": office,
        "office": office,
        "representative": {"name": "山田太郎", "title": "代表取締役"},
        "applicant": {
            "name": "佐藤花子",
            "department": "情報システム部",
            "title": "部長",
            "rank": "senior_manager",
            "phone": "03-1234-5678",
            "email": "sato@example.test",
        },
        "account_contact": {
            "name": "鈴木一郎",
            "organization": LEGAL_NAME,
            "department": "情報システム部",
            "address": "東京都千代田区丸の内1-1-1",
            "phone": "03-1234-5679",
            "email": "suzuki@example.test",
        },
        "billing_contact": {
            "party": "organization",
            "name": "経理部 担当者",
            "organization": LEGAL_NAME,
            "department": "経理部",
            "postal_code": "100-0005",
            "address": "東京都千代田区丸の内1-1-1",
            "phone": "03-1234-5670",
        },
        "level": "ov",
        "domains": domains,
    })
}

/// Existence from Teikoku Databank, the applicant's intent confirmed at a
/// number from the NTT directory, the domain scope reviewed.
fn ov_checks() -> Vec<serde_json::Value> {
    vec![
        json!({"kind": "existence", "source": "tdb", "reference": "TDB 123456789", "passed": true}),
        json!({
            "kind": "phone_intent",
            "number_called": "03-1234-5678",
            "number_source": "ntt104",
            "person_reached": "佐藤花子",
            "confirmed": true,
        }),
        json!({"kind": "domain_scope", "passed": true}),
    ]
}
