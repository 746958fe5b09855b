//! trustgate: an RFC 8555 ACME certificate authority for OV and EV
//! certificates. See `DESIGN.md` for the flow through these modules.

pub mod acme;
pub mod config;
pub mod error;
