//! trustgate: an RFC 8555 ACME certificate authority for OV and EV
//! certificates. See `DESIGN.md` for the flow through these modules.

pub mod acme;
pub mod admin;
pub mod app;
pub mod ca;
pub mod config;
pub mod core;
pub mod error;
pub mod http;
pub mod jose;
pub mod metrics;
pub mod publish;
pub mod ra;
pub mod sa;
pub mod va;
pub mod vetting;
pub mod wfe;
