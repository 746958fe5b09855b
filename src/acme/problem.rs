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
    /// RFC 8555 §6.2: the algorithms accepted, with badSignatureAlgorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<String>>,
    /// RFC 7807 §3.1, RFC 8555 §7.3.3: the page a person visits to do
    /// what `userActionRequired` asks. Set by the front end that knows
    /// the page's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubProblem {
    #[serde(rename = "type")]
    pub kind: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<super::Identifier>,
}

use crate::error::{Error, ErrorKind};

/// Text sent instead of the detail of an internal error, which is only
/// logged (it may name tables, files or keys).
pub const INTERNAL_DETAIL: &str = "the server experienced an internal error";

impl Problem {
    /// The one mapping from internal errors to problem documents.
    pub fn from_error(e: &Error) -> Problem {
        let (status, kind) = status_and_type(e.kind);
        let detail = match e.kind {
            ErrorKind::ServerInternal => INTERNAL_DETAIL.to_owned(),
            _ => e.detail.clone(),
        };
        Problem {
            kind: format!("{ACME_ERROR_NS}{kind}"),
            detail,
            status,
            subproblems: e
                .subproblems
                .iter()
                .map(|s| SubProblem {
                    kind: format!("{ACME_ERROR_NS}{}", status_and_type(s.kind).1),
                    detail: s.detail.clone(),
                    identifier: s.identifier.as_ref().map(super::Identifier::dns),
                })
                .collect(),
            algorithms: (e.kind == ErrorKind::BadSignatureAlgorithm).then(|| {
                crate::jose::SUPPORTED_ALGS
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
            }),
            instance: None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        // A struct of strings and numbers always serializes.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// HTTP status and ACME error type for each kind (RFC 8555 §6.7; statuses
/// as RFC 8555 and Boulder use them).
pub fn status_and_type(kind: ErrorKind) -> (u16, &'static str) {
    use ErrorKind::*;
    match kind {
        AccountDoesNotExist => (400, "accountDoesNotExist"),
        AlreadyRevoked => (400, "alreadyRevoked"),
        AlreadyReplaced => (409, "alreadyReplaced"),
        BadCsr => (400, "badCSR"),
        BadNonce => (400, "badNonce"),
        BadPublicKey => (400, "badPublicKey"),
        BadRevocationReason => (400, "badRevocationReason"),
        BadSignatureAlgorithm => (400, "badSignatureAlgorithm"),
        Caa => (403, "caa"),
        Compound => (400, "compound"),
        Connection => (400, "connection"),
        Dns => (400, "dns"),
        ExternalAccountRequired => (403, "externalAccountRequired"),
        IncorrectResponse => (403, "incorrectResponse"),
        InvalidContact => (400, "invalidContact"),
        InvalidProfile => (400, "invalidProfile"),
        Malformed => (400, "malformed"),
        OrderNotReady => (403, "orderNotReady"),
        RateLimited => (429, "rateLimited"),
        RejectedIdentifier => (400, "rejectedIdentifier"),
        ServerInternal => (500, "serverInternal"),
        Tls => (400, "tls"),
        Unauthorized => (403, "unauthorized"),
        UnsupportedContact => (400, "unsupportedContact"),
        UnsupportedIdentifier => (400, "unsupportedIdentifier"),
        UserActionRequired => (403, "userActionRequired"),
        NotFound => (404, "malformed"),
        MethodNotAllowed => (405, "malformed"),
        UnsupportedMediaType => (415, "malformed"),
        PayloadTooLarge => (413, "malformed"),
        RequestTimeout => (408, "malformed"),
        Conflict => (409, "malformed"),
        Unavailable => (503, "serverInternal"),
    }
}
