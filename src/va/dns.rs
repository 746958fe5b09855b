//! The VA's DNS resolver: a thin wrapper over hickory-resolver that turns
//! answers into the validation's vocabulary and every failure into
//! `ErrorKind::Dns` with a reason a subscriber can act on.
//!
//! Each lookup is a fresh question: the cache is off, so a subscriber who
//! fixes a record sees the fix on the next attempt, and a record is never
//! trusted longer than the validation that asked for it.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

use crate::config::VaConfig;
use crate::error::{Error, ErrorKind, Result};

/// A DNS resolver for validation lookups. Cheap to share behind the
/// validator's `Arc`; hickory multiplexes concurrent queries.
pub struct Resolver {
    inner: hickory_resolver::TokioResolver,
    /// Upper bound on one lookup (all record types, retries included), so a
    /// DNS failure is reported as such before the whole validation times out.
    budget: Duration,
}

impl Resolver {
    /// Builds a resolver from `cfg.resolvers`, or from `/etc/resolv.conf`
    /// when the list is empty.
    pub fn new(cfg: &VaConfig) -> Result<Self> {
        let config = if cfg.resolvers.is_empty() {
            // Only the name servers are taken from the system; the options
            // (search domains, ndots, hosts file) must not apply to a CA.
            let (system, _) = hickory_resolver::system_conf::read_system_conf().map_err(|e| {
                Error::internal(format!(
                    "va: no DNS resolvers configured and the system configuration \
                     (/etc/resolv.conf) cannot be read: {e}"
                ))
            })?;
            let (_, _, servers) = system.into_parts();
            if servers.is_empty() {
                return Err(Error::internal(
                    "va: no DNS resolvers configured and /etc/resolv.conf lists no name servers",
                ));
            }
            ResolverConfig::from_name_servers(servers)
        } else {
            let servers = cfg
                .resolvers
                .iter()
                .map(|sa| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = sa.port();
                    // TCP is used when a UDP answer comes back truncated.
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = sa.port();
                    NameServerConfig::new(sa.ip(), true, vec![udp, tcp])
                })
                .collect();
            ResolverConfig::from_name_servers(servers)
        };

        let total = Duration::from_secs(cfg.timeout_secs.max(1));
        // Leave a third of the validation budget for connecting and reading,
        // and give each query a slice so one silent server does not eat it.
        let budget = total * 2 / 3;
        let mut opts = ResolverOpts::default();
        opts.cache_size = 0;
        opts.attempts = 2;
        opts.timeout = (budget / 3).clamp(Duration::from_millis(500), Duration::from_secs(5));
        opts.use_hosts_file = ResolveHosts::Never;
        opts.ndots = 0;
        opts.preserve_intermediates = false;
        // Only retry over TCP on truncation; a SERVFAIL is an answer.
        opts.try_tcp_on_error = false;

        let inner = hickory_resolver::Resolver::builder_with_config(
            config,
            TokioRuntimeProvider::default(),
        )
        .with_options(opts)
        .build()
        .map_err(|e| Error::internal(format!("va: building the DNS resolver: {e}")))?;
        Ok(Resolver { inner, budget })
    }

    /// A and AAAA records of `name`, IPv6 first (as Boulder orders them so a
    /// dual-stack host is tried over IPv6 first). An error for one type is
    /// tolerated when the other type has addresses.
    pub async fn lookup_ip(&self, name: &str) -> Result<Vec<IpAddr>> {
        let fqdn = fqdn(name)?;
        let bounded = async {
            tokio::join!(
                self.query(&fqdn, RecordType::AAAA),
                self.query(&fqdn, RecordType::A)
            )
        };
        let (aaaa, a) = tokio::time::timeout(self.budget, bounded)
            .await
            .map_err(|_| dns_timeout(name))?;

        let mut addrs = Vec::new();
        let mut failures = Vec::new();
        for result in [aaaa, a] {
            match result {
                Ok(records) => addrs.extend(records.iter().filter_map(|r| match &r.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                    _ => None,
                })),
                Err(e) => failures.push(e),
            }
        }
        if !addrs.is_empty() {
            return Ok(addrs);
        }
        match failures.into_iter().next() {
            Some(e) => Err(e),
            None => Err(Error::new(
                ErrorKind::Dns,
                format!("DNS problem: no valid A or AAAA records for {name}"),
            )),
        }
    }

    /// TXT records of `name`, each with its character-strings concatenated
    /// (RFC 8555 §8.4 reads `_acme-challenge.<name>`). No records is an
    /// empty list, not an error; the caller decides what that means.
    pub async fn lookup_txt(&self, name: &str) -> Result<Vec<String>> {
        let fqdn = fqdn(name)?;
        let records = tokio::time::timeout(self.budget, self.query(&fqdn, RecordType::TXT))
            .await
            .map_err(|_| dns_timeout(name))??;
        Ok(records
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => {
                    let bytes: Vec<u8> =
                        t.txt_data.iter().flat_map(|c| c.iter().copied()).collect();
                    Some(String::from_utf8_lossy(&bytes).into_owned())
                }
                _ => None,
            })
            .collect())
    }

    /// One query. NXDOMAIN and NOERROR-without-data give an empty list;
    /// every other failure is `ErrorKind::Dns` with its reason. Answers of
    /// other types (CNAMEs, RRSIGs) are left for the caller to filter.
    async fn query(&self, fqdn: &Name, rtype: RecordType) -> Result<Vec<Record>> {
        match self.inner.lookup(fqdn.clone(), rtype).await {
            Ok(lookup) => Ok(answers(&lookup)),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => {
                tracing::debug!(name = %fqdn, %rtype, error = %e, "DNS lookup failed");
                Err(Error::new(
                    ErrorKind::Dns,
                    format!(
                        "DNS problem: {} looking up {rtype} for {}",
                        reason(&e),
                        display_name(fqdn)
                    ),
                ))
            }
        }
    }
}

fn answers(lookup: &Lookup) -> Vec<Record> {
    lookup.answers().to_vec()
}

/// The name as an absolute DNS name, so no search domain is ever appended.
fn fqdn(name: &str) -> Result<Name> {
    let mut n = Name::from_ascii(name)
        .map_err(|e| Error::malformed(format!("invalid DNS name {name:?}: {e}")))?;
    n.set_fqdn(true);
    Ok(n)
}

fn display_name(n: &Name) -> String {
    n.to_ascii().trim_end_matches('.').to_owned()
}

fn dns_timeout(name: &str) -> Error {
    Error::new(
        ErrorKind::Dns,
        format!("DNS problem: query timed out looking up {name}"),
    )
}

/// A short reason in the words DNS operators use (Boulder's wording).
fn reason(e: &NetError) -> String {
    match e {
        NetError::Dns(DnsError::ResponseCode(code)) => match code {
            ResponseCode::ServFail => "SERVFAIL".into(),
            ResponseCode::Refused => "REFUSED".into(),
            ResponseCode::FormErr => "FORMERR".into(),
            ResponseCode::NotImp => "NOTIMP".into(),
            other => other.to_str().into(),
        },
        NetError::Timeout => "query timed out".into(),
        NetError::Dns(DnsError::DnssecBogus) => "DNSSEC validation failed".into(),
        NetError::Io(io) => format!("networking error ({io})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::va::testutil::DnsServer;

    async fn resolver() -> (Resolver, DnsServer) {
        let dns = DnsServer::start().await;
        let cfg = VaConfig {
            resolvers: vec![dns.addr],
            timeout_secs: 3,
            ..VaConfig::default()
        };
        (Resolver::new(&cfg).expect("resolver builds"), dns)
    }

    #[tokio::test]
    async fn a_records_resolve() {
        let (r, _dns) = resolver().await;
        let ips = r.lookup_ip("example.test").await.expect("resolves");
        assert_eq!(ips, vec!["127.0.0.1".parse::<IpAddr>().expect("ip")]);
    }

    #[tokio::test]
    async fn ipv6_comes_first() {
        let (r, _dns) = resolver().await;
        let ips = r.lookup_ip("v6.test").await.expect("resolves");
        assert_eq!(
            ips,
            vec![
                "::1".parse::<IpAddr>().expect("ip"),
                "127.0.0.1".parse().expect("ip")
            ]
        );
    }

    #[tokio::test]
    async fn nxdomain_is_dns_error() {
        let (r, _dns) = resolver().await;
        let err = r.lookup_ip("nx.test").await.expect_err("nxdomain");
        assert_eq!(err.kind, ErrorKind::Dns);
        assert!(
            err.detail
                .contains("no valid A or AAAA records for nx.test"),
            "{}",
            err.detail
        );
    }

    #[tokio::test]
    async fn servfail_is_dns_error() {
        let (r, _dns) = resolver().await;
        let err = r.lookup_ip("servfail.test").await.expect_err("servfail");
        assert_eq!(err.kind, ErrorKind::Dns);
        assert!(err.detail.contains("SERVFAIL"), "{}", err.detail);
        assert!(err.detail.contains("servfail.test"), "{}", err.detail);
    }

    #[tokio::test]
    async fn silent_server_times_out_as_dns_error() {
        // A UDP socket that never answers.
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let cfg = VaConfig {
            resolvers: vec![sock.local_addr().expect("addr")],
            timeout_secs: 2,
            ..VaConfig::default()
        };
        let r = Resolver::new(&cfg).expect("resolver builds");
        let start = std::time::Instant::now();
        let err = r.lookup_ip("example.test").await.expect_err("timeout");
        assert_eq!(err.kind, ErrorKind::Dns);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn txt_records_concatenate() {
        let (r, _dns) = resolver().await;
        let txt = r
            .lookup_txt("_acme-challenge.example.test")
            .await
            .expect("txt");
        assert_eq!(txt, vec!["part1part2".to_owned()]);
        let none = r.lookup_txt("nx.test").await.expect("no records is empty");
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn invalid_name_is_malformed() {
        let (r, _dns) = resolver().await;
        let err = r.lookup_ip("a..b").await.expect_err("invalid");
        assert_eq!(err.kind, ErrorKind::Malformed);
    }
}
