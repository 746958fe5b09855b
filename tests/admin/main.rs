//! The admin API and the operator CLI, end to end: a real server in
//! process for the API, the real binary for the CLI.

mod api;
mod auth;
mod cli;
mod console;
mod console_certificates;
mod console_invoices;
mod console_org;
mod ev_vetting;
mod evidence;
mod openapi;
mod staff;
mod support;
mod tls;

/// The in-process ACME fixture of the conformance suite, to get real
/// orders and certificates for the evidence views.
#[path = "../rfc8555/support.rs"]
#[allow(dead_code)]
mod acme;
