//! The admin API and the operator CLI, end to end: a real server in
//! process for the API, the real binary for the CLI.

mod api;
mod auth;
mod cli;
mod openapi;
mod support;
