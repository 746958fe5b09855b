//! The harness: a server per test, the DNS it validates through (the
//! harness's responder, or a BIND the test starts), certbot, and what we
//! check certificates with.

pub mod bind;
pub mod certbot;
pub mod ctlog;
pub mod database;
pub mod dns;
pub mod http;
pub mod issued;
pub mod netns;
pub mod pkilint;
pub mod postgres;
pub mod server;
pub mod smtp;
pub mod softhsm;
pub mod staff;
pub mod views;
pub mod x509;

pub use certbot::Certbot;
pub use server::TestServer;
