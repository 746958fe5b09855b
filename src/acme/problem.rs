//! RFC 7807 problem documents with RFC 8555 §6.7 types.

use serde::Serialize;

/// The URN prefix of ACME error types (RFC 8555 §6.7).
pub const ACME_ERROR_NS: &str = "urn:ietf:params:acme:error:";

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub detail: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subproblems: Vec<SubProblem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubProblem {
    #[serde(rename = "type")]
    pub kind: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<super::Identifier>,
}
