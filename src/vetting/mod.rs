//! Organizations and their vetting (a later issue), and the External
//! Account Binding credentials that tie ACME accounts to them.

pub mod eab;
