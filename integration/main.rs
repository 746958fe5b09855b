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
//! the admin API; `mail_certbot` the e-mail notices through aiosmtpd
//! (`common::smtp`); `lifecycle_certbot` what follows issuance (renewal
//! steered by ARI, revocation reaching the CRL); `dns_certbot` dns-01
//! through real DNS (rfc2136 plugin, a delegated CNAME, DNSSEC);
//! `caa_certbot` CAA at finalize; `ct_certbot` Certificate Transparency with two test CT logs (`common::ctlog`; SCTs checked by openssl and by Python `cryptography` in `ct_check.py`, a log down, the precertificate revoked); `hsm_certbot` the intermediate key in a
//! SoftHSM2 token (init, issuance, CRL, the token going away and back); `linter_certbot` pkilint's REST service in the loop before signing (and its command line on what was issued); `console_browser` the staff console in headless Chromium (selenium, axe-core); `portal_browser` the customer portal's sign-up, e-mail confirmation through a real SMTP server and login in headless Chromium (axe-core); `portal_certs` the portal's EAB credential used by certbot and a pasted CSR proven by http-01 file and BIND TXT record, downloads checked with openssl, in headless Chromium (axe-core); `production_config` the refusal of unsafe production settings (`serve`, `check-config`); `perspectives_netns` multi-perspective
//! corroboration (BR 3.2.2.9) with five `trustgate perspective` processes,
//! each in its own network namespace (needs root, `ip` and `socat`);
//! `chaos` the server killed, and PostgreSQL restarted (a private cluster,
//! `common::postgres`), under `trustgate-load`, nothing told lost.

// Tests: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod caa_certbot;
mod chaos;
mod common;
mod console_browser;
mod ct_certbot;
mod dns_certbot;
mod hsm_certbot;
mod invoices_mail;
mod lifecycle_certbot;
mod linter_certbot;
mod mail_certbot;
mod notices_mail;
mod perspectives_netns;
mod portal_application;
mod portal_browser;
mod portal_certs;
mod production_config;
mod rfc8555_certbot;
mod rfc8555_wire;
mod schemathesis_admin;
mod seal_browser;
mod vetting_certbot;
