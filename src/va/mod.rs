// TEMPORARY stand-in matching the helper contract; replaced by wip-va.
#![allow(unused)]
use crate::error::Result;
use std::net::IpAddr;
#[derive(Clone)]
pub struct Validator;
impl Validator {
    pub fn new(cfg: &crate::config::VaConfig) -> Result<Self> {
        todo!()
    }
    pub async fn validate(&self, req: &ValidationRequest) -> ValidationOutcome {
        todo!()
    }
}
pub struct ValidationRequest {
    pub method: crate::acme::ChallengeType,
    pub identifier: String,
    pub token: String,
    pub key_authorization: String,
}
pub struct ValidationOutcome {
    pub result: Result<()>,
    pub records: Vec<ValidationRecord>,
}
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationRecord {
    pub url: Option<String>,
    pub hostname: String,
    pub port: Option<u16>,
    pub addresses_resolved: Vec<IpAddr>,
    pub address_used: Option<IpAddr>,
    pub dns_answers: Vec<String>,
}
