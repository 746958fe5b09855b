//! End-to-end tests: the real `trustgate` binary on loopback, driven by
//! real ACME clients.
//!
//! Every test starts its own server (own data directory, database, ports
//! and DNS responder), so the tests run in parallel. The database is
//! SQLite, or a scratch PostgreSQL database when TEST_DATABASE_URL is set
//! (`./scripts/test` runs the suite both ways when it is); the DNS tests start their own
//! BIND 9 (`named`, from the bind9 packages) and point the server at it.
//! certbot comes from `$TRUSTGATE_CERTBOT`, else `<repo>/.venv/bin/certbot`,
//! which `./scripts/test` creates with the certbot-dns-rfc2136 plugin; a
//! missing certbot, plugin or named fails the suite rather than skipping
//! it. A failing test prints certbot's output and log and the server's
//! log; set `TRUSTGATE_KEEP_TEST_DIRS=1` to keep its directories.
//!
//! Layout: `common/` is the harness; each other module covers one part of
//! RFC 8555 with one client, named after the section it exercises;
//! `vetting_certbot` covers the vetting gate as staff drive it through
//! the admin API; `lifecycle_certbot` what follows issuance (renewal
//! steered by ARI, revocation reaching the CRL); `dns_certbot` dns-01
//! through real DNS (rfc2136 plugin, a delegated CNAME, DNSSEC);
//! `caa_certbot` CAA at finalize.

// Tests: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod caa_certbot;
mod common;
mod dns_certbot;
mod lifecycle_certbot;
mod rfc8555_certbot;
mod rfc8555_wire;
mod vetting_certbot;
