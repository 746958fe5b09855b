//! RFC 8555 conformance of trustgate, in process, with a JWS-signing test
//! client. Modules are named after the RFC sections they cover.
#![allow(clippy::unwrap_used)]

mod responders;
mod support;

mod cluster;
mod operations;
mod rfc9773_renewal_info;
mod section_6_jws;
mod section_7_1_directory_nonce;
mod section_7_3_accounts;
mod section_7_4_orders;
mod section_7_5_authorizations;
mod section_7_6_revocation;
mod section_8_validation;
mod vetting_gate;
