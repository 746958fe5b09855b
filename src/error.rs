//! The one internal error type. Every layer returns `Error`; only the web
//! front end (`wfe::problem`) turns it into an RFC 7807 problem document.

use std::fmt;

/// What went wrong, in ACME's vocabulary (RFC 8555 §6.7) plus `Internal`.
///
/// Each kind maps to exactly one problem `type` and HTTP status in
/// `wfe::problem`; nowhere else decides that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    AccountDoesNotExist,
    AlreadyRevoked,
    /// RFC 9773 §5: the certificate named in `replaces` already has a
    /// replacement order.
    AlreadyReplaced,
    BadCsr,
    BadNonce,
    BadPublicKey,
    BadRevocationReason,
    BadSignatureAlgorithm,
    Caa,
    Compound,
    Connection,
    Dns,
    ExternalAccountRequired,
    IncorrectResponse,
    InvalidContact,
    /// draft-ietf-acme-profiles: the order names an unknown profile.
    InvalidProfile,
    Malformed,
    OrderNotReady,
    RateLimited,
    RejectedIdentifier,
    ServerInternal,
    Tls,
    Unauthorized,
    UnsupportedContact,
    UnsupportedIdentifier,
    UserActionRequired,
    /// Not an ACME type: a resource that does not exist (HTTP 404).
    NotFound,
    /// Not an ACME type: wrong HTTP method (405).
    MethodNotAllowed,
    /// Not an ACME type: unsupported Content-Type (415).
    UnsupportedMediaType,
    /// Not an ACME type: body over the configured limit (413).
    PayloadTooLarge,
    /// Not an ACME type: the body did not all arrive in time (408).
    RequestTimeout,
    /// A conflict with existing state (409), e.g. keyChange to a key in use.
    Conflict,
    /// The database (or another dependency) is unavailable; retry later (503).
    Unavailable,
}

/// A problem about one identifier, carried inside a compound error
/// (RFC 8555 §6.7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubProblem {
    pub kind: ErrorKind,
    pub detail: String,
    /// The DNS name the subproblem is about.
    pub identifier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// Shown to the client for every kind but `ServerInternal`, whose
    /// detail is only logged.
    pub detail: String,
    pub subproblems: Vec<SubProblem>,
    /// A URL the edge sends as Location with this error (the account
    /// holding the key on a keyChange 409). Only the web front end sets
    /// it: the layers below name resources by typed ids.
    pub location: Option<String>,
    /// Seconds the client should wait (`Retry-After`): a rate limit's.
    pub retry_after: Option<u64>,
    /// With `UserActionRequired`: what a person has to do, which the edge
    /// turns into the problem's `instance` link (RFC 8555 §6.7, §7.3.3).
    pub user_action: Option<UserAction>,
}

/// What a person must do before an ACME request can succeed; named by
/// ids, as the layers below the web front end name resources. The
/// portal page each one is done on is `core::urls::PortalUrls`'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    /// Accept the current subscriber agreement for ACME account `account`
    /// (its id: `core::AccountId` lives above this module).
    AcceptTerms { account: i64 },
    /// Wait for, or answer, the vetting of the account's organization.
    VettingStatus,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Error {
            kind,
            detail: detail.into(),
            subproblems: Vec::new(),
            location: None,
            retry_after: None,
            user_action: None,
        }
    }

    pub fn with_user_action(mut self, action: UserAction) -> Self {
        self.user_action = Some(action);
        self
    }

    pub fn with_subproblems(mut self, subproblems: Vec<SubProblem>) -> Self {
        self.subproblems = subproblems;
        self
    }

    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, detail)
    }
    pub fn bad_csr(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadCsr, detail)
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::ServerInternal, detail)
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, detail)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.detail)
    }
}

impl std::error::Error for Error {}

impl SubProblem {
    pub fn new(kind: ErrorKind, identifier: &str, detail: impl Into<String>) -> Self {
        SubProblem {
            kind,
            detail: detail.into(),
            identifier: Some(identifier.to_owned()),
        }
    }
}
