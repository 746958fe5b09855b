//! RFC 8555 conformance of trustgate, in process, with a JWS-signing test
//! client. Modules are named after the RFC sections they cover.
#![allow(clippy::unwrap_used)]

mod responders;
mod support;

mod bad_input;
mod br_3_2_2_9_perspectives;
mod br_4_2_1_validation_age;
mod br_5_4_1_audit_trail;
mod br_6_3_2_validity_by_date;
mod cluster;
mod connections;
mod mail_notices;
mod operations;
mod portal_orders;
mod rate_limits;
mod rfc6962_transparency;
mod rfc9773_renewal_info;
mod section_6_jws;
mod section_7_1_directory_nonce;
mod section_7_3_3_agreement_changes;
mod section_7_3_accounts;
mod section_7_4_orders;
mod section_7_5_authorizations;
mod section_7_6_revocation;
mod section_8_validation;
mod staff_account_actions;
mod vetting_gate;
