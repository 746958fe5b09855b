//! Connecting to a subscriber's addresses, shared by http-01 and
//! tls-alpn-01: the same address policy (`addr::may_connect`) and the same
//! fallback from one resolved address to the next.

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use super::addr::may_connect;
use super::timeout_error;
use crate::error::{Error, ErrorKind, Result};

pub(crate) fn non_public(ip: IpAddr) -> Error {
    Error::new(
        ErrorKind::Connection,
        format!("refusing to connect to non-public address {ip}"),
    )
}

/// The resolved addresses the VA may contact. Private addresses among
/// public ones are skipped, never contacted; none left is an error.
pub(crate) fn allowed_addresses(
    host: &str,
    resolved: &[IpAddr],
    allow_loopback: bool,
) -> Result<Vec<IpAddr>> {
    let allowed: Vec<IpAddr> = resolved
        .iter()
        .copied()
        .filter(|ip| may_connect(*ip, allow_loopback))
        .collect();
    if allowed.is_empty() {
        return Err(match resolved.first() {
            Some(ip) => non_public(*ip),
            None => Error::new(
                ErrorKind::Dns,
                format!("DNS problem: no valid A or AAAA records for {host}"),
            ),
        });
    }
    Ok(allowed)
}

/// Connects to each address in turn until one accepts. Every address
/// but the last gets at most half the remaining time, so one
/// black-holed address cannot use up the attempt. `what` names the target
/// in errors (a URL, or `host:port`).
pub(crate) async fn connect_first(
    addrs: &[IpAddr],
    port: u16,
    what: &str,
    deadline: Instant,
    timeout_secs: u64,
) -> Result<(TcpStream, IpAddr)> {
    let mut failures = Vec::new();
    for (i, ip) in addrs.iter().enumerate() {
        let sa = SocketAddr::new(*ip, port);
        let last = i + 1 == addrs.len();
        let until = if last {
            deadline
        } else {
            let now = Instant::now();
            now + deadline.saturating_duration_since(now) / 2
        };
        match timeout_at(until, TcpStream::connect(sa)).await {
            Ok(Ok(stream)) => return Ok((stream, *ip)),
            Ok(Err(e)) => {
                tracing::debug!(target_name = %what, address = %sa, error = %e, "connect failed");
                failures.push(format!("{sa}: {}", io_reason(&e)));
            }
            Err(_) if last => return Err(timeout_error(timeout_secs)),
            Err(_) => failures.push(format!("{sa}: connect timed out")),
        }
    }
    Err(Error::new(
        ErrorKind::Connection,
        format!("Error connecting to {what}: {}", failures.join("; ")),
    ))
}

fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".into(),
        K::ConnectionReset => "connection reset by peer".into(),
        K::TimedOut => "connect timed out".into(),
        _ => e.to_string(),
    }
}
