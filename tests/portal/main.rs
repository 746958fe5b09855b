//! The customer portal over HTTP, in process, on a manual clock (on
//! SQLite and, with TEST_DATABASE_URL, PostgreSQL). `support` is the
//! fixture the portal's parts share: a server with the portal, a
//! browser-like client that keeps cookies, and a signed-up, verified,
//! logged-in customer in one call.

mod accounts;
mod applications;
mod certs;
mod invoices;
mod seal;
pub mod support;

/// The in-process ACME fixture of the conformance suite (its HTTP client
/// and scratch PostgreSQL databases).
#[path = "../rfc8555/support.rs"]
#[allow(dead_code)]
mod acme;
