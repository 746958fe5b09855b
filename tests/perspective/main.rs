//! The remote-perspective API end to end, in process, over real mutual
//! TLS on loopback: a `trustgate perspective` service with a development
//! PKI from `perspective init`'s code, asked by the primary's client
//! (`va::remote::client`). Bad input is refused before anything is
//! validated.
#![allow(clippy::unwrap_used)]

mod support;

mod checks;
mod refusals;
