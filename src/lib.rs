//! trustgate: an RFC 8555 ACME certificate authority for OV and EV
//! certificates. `docs/architecture.md` describes the layers and the flow
//! through these modules; `tests/architecture.rs` enforces the layers.

pub mod acme;
pub mod admin;
pub mod app;
pub mod billing;
pub mod ca;
pub mod config;
pub mod console;
pub mod core;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod jose;
pub mod mail;
pub mod metrics;
pub mod perspective;
pub mod portal;
pub mod publish;
pub mod ra;
pub mod sa;
pub mod va;
pub mod vetting;
pub mod wfe;
