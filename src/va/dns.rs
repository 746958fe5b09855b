//! The VA's DNS resolver: a thin wrapper over hickory-resolver that turns
//! answers into the validation's vocabulary and every failure into
//! `ErrorKind::Dns` with a reason a subscriber can act on.
//!
//! Each lookup is a fresh question: the cache is off, so a subscriber who
//! fixes a record sees the fix on the next attempt, and a record is never
//! trusted longer than the validation that asked for it.
//!
//! DNSSEC (on by default, `VaConfig::dnssec`): every lookup is validated
//! from the configured trust anchors. A Bogus answer is an error
//! ("DNSSEC validation failed for NAME"); Secure and Insecure answers
//! proceed and their status is reported with the records so it can be kept
//! as evidence (RFC 4035 §4.3 terms).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::rdata::CAA;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

use crate::config::VaConfig;
use crate::error::{Error, ErrorKind, Result};

/// CNAMEs followed at most for one lookup; hickory bounds the chain too,
/// this bounds what we accept from a single answer.
pub const MAX_CNAMES: usize = 8;

/// How every DNSSEC failure's detail starts.
const DNSSEC_FAILED: &str = "DNSSEC validation failed";

/// A DNS resolver for validation lookups. Cheap to share behind the
/// validator's `Arc`; hickory multiplexes concurrent queries.
pub struct Resolver {
    inner: hickory_resolver::TokioResolver,
    /// Upper bound on one lookup (all record types, retries included), so a
    /// DNS failure is reported as such before the whole validation times out.
    budget: Duration,
    /// Whether answers carry a DNSSEC proof worth reporting.
    validating: bool,
}

/// The records of one type found at a name after following CNAMEs, with
/// the evidence of how they were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer<T> {
    /// The records' data; empty for NXDOMAIN or NOERROR without data.
    pub values: Vec<T>,
    /// CNAMEs followed, in order, as `owner -> target` (no trailing dots).
    pub cnames: Vec<String>,
    /// RFC 4035 §4.3 status of the answer ("Secure", "Insecure",
    /// "Indeterminate") when validating; `None` with DNSSEC off. Bogus
    /// never gets here: it is an error.
    pub dnssec: Option<String>,
}

impl Resolver {
    /// Builds a resolver from `cfg.resolvers`, or from `/etc/resolv.conf`
    /// when the list is empty, validating DNSSEC when `cfg.dnssec` is set.
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
        // Keep the CNAMEs of a chain in the answer: they are evidence.
        opts.preserve_intermediates = true;
        // Only retry over TCP on truncation; a SERVFAIL is an answer.
        opts.try_tcp_on_error = false;
        opts.validate = cfg.dnssec;

        let mut builder = hickory_resolver::Resolver::builder_with_config(
            config,
            TokioRuntimeProvider::default(),
        )
        .with_options(opts);
        if cfg.dnssec && !cfg.trust_anchors.is_empty() {
            // Through the builder, not `ResolverOpts::trust_anchor`: that
            // option keeps the built-in root keys and ignores the file
            // (notes/dns.md).
            builder = builder.with_trust_anchor(Arc::new(load_trust_anchors(cfg)?));
        }
        let inner = builder
            .build()
            .map_err(|e| Error::internal(format!("va: building the DNS resolver: {e}")))?;
        Ok(Resolver {
            inner,
            budget,
            validating: cfg.dnssec,
        })
    }

    /// A and AAAA records of `name`, IPv6 first (as Boulder orders them so a
    /// dual-stack host is tried over IPv6 first). An error for one type is
    /// tolerated when the other type has addresses, except a DNSSEC
    /// failure, which always fails the lookup.
    pub async fn lookup_ip(&self, name: &str) -> Result<Vec<IpAddr>> {
        Ok(self.lookup_addresses(name).await?.values)
    }

    /// As `lookup_ip`, with the evidence of how the addresses were found:
    /// the CNAMEs followed (once, though both types follow the same chain)
    /// and the weakest DNSSEC status of the answers that gave addresses.
    pub async fn lookup_addresses(&self, name: &str) -> Result<DnsAnswer<IpAddr>> {
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
        let mut cnames: Vec<String> = Vec::new();
        let mut proofs = Vec::new();
        let mut failures = Vec::new();
        for (rtype, result) in [(RecordType::AAAA, aaaa), (RecordType::A, a)] {
            match result.and_then(|answer| follow_chain(&fqdn, rtype, answer)) {
                Ok(chain) => {
                    let found = addrs.len();
                    addrs.extend(chain.records.iter().filter_map(|r| match &r.data {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                        _ => None,
                    }));
                    for c in chain.cnames {
                        if !cnames.contains(&c) {
                            cnames.push(c);
                        }
                    }
                    // The status that matters is that of the addresses
                    // used; an empty answer of the other type adds nothing.
                    if addrs.len() > found {
                        proofs.push(chain.proof);
                    }
                }
                Err(e) if e.detail.starts_with(DNSSEC_FAILED) => return Err(e),
                Err(e) => failures.push(e),
            }
        }
        if !addrs.is_empty() {
            return Ok(DnsAnswer {
                values: addrs,
                cnames,
                dnssec: self
                    .validating
                    .then(|| proof_name(weakest(proofs)).to_owned()),
            });
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
    /// (RFC 8555 §8.4 reads `_acme-challenge.<name>`), after following
    /// CNAMEs. No records is an empty list, not an error; the caller
    /// decides what that means.
    pub async fn lookup_txt(&self, name: &str) -> Result<DnsAnswer<String>> {
        let answer = self.rrset(name, RecordType::TXT).await?;
        Ok(self.finish(answer, |data| match data {
            RData::TXT(t) => {
                let bytes: Vec<u8> = t.txt_data.iter().flat_map(|c| c.iter().copied()).collect();
                Some(String::from_utf8_lossy(&bytes).into_owned())
            }
            _ => None,
        }))
    }

    /// CAA records at `name` (RFC 8659 §3, one step of the climb), after
    /// following CNAMEs. No records is an empty list.
    pub(crate) async fn lookup_caa(&self, name: &str) -> Result<DnsAnswer<CAA>> {
        let answer = self.rrset(name, RecordType::CAA).await?;
        Ok(self.finish(answer, |data| match data {
            RData::CAA(c) => Some(c.clone()),
            _ => None,
        }))
    }

    /// One bounded lookup of `rtype` at `name`, reduced to the CNAME chain
    /// from `name` and the records of `rtype` at its end.
    async fn rrset(&self, name: &str, rtype: RecordType) -> Result<Chain> {
        let fqdn = fqdn(name)?;
        let answer = tokio::time::timeout(self.budget, self.query(&fqdn, rtype))
            .await
            .map_err(|_| dns_timeout(name))??;
        follow_chain(&fqdn, rtype, answer)
    }

    fn finish<T>(&self, chain: Chain, map: impl Fn(&RData) -> Option<T>) -> DnsAnswer<T> {
        DnsAnswer {
            values: chain.records.iter().filter_map(|r| map(&r.data)).collect(),
            cnames: chain.cnames,
            dnssec: self.validating.then(|| proof_name(chain.proof).to_owned()),
        }
    }

    /// One query. NXDOMAIN and NOERROR-without-data give no records;
    /// every other failure is `ErrorKind::Dns` with its reason. Answers of
    /// other types (CNAMEs, RRSIGs) are left for the caller to filter.
    async fn query(&self, fqdn: &Name, rtype: RecordType) -> Result<Answer> {
        match self.inner.lookup(fqdn.clone(), rtype).await {
            Ok(lookup) => Ok(Answer {
                records: answers(&lookup),
                negative_proof: None,
            }),
            Err(NetError::Dns(DnsError::NoRecordsFound(no))) => Ok(Answer {
                records: Vec::new(),
                // A negative answer the validator accepted as proven (or
                // provably unsigned); its NSEC/SOA records carry the proof.
                negative_proof: Some(weakest(
                    no.authorities
                        .iter()
                        .flat_map(|a| a.iter())
                        .filter(|r| r.record_type() != RecordType::RRSIG)
                        .map(|r| r.proof),
                )),
            }),
            // A negative answer whose denial is not Secure (RFC 4035 §5.4);
            // Bogus ones were already turned into `DnssecBogus`.
            Err(NetError::Dns(DnsError::Nsec { proof, .. })) if proof != Proof::Bogus => {
                Ok(Answer {
                    records: Vec::new(),
                    negative_proof: Some(proof),
                })
            }
            Err(e) => {
                tracing::debug!(name = %fqdn, %rtype, error = %e, "DNS lookup failed");
                Err(lookup_error(&e, fqdn, rtype))
            }
        }
    }
}

/// Reads every trust-anchor file into one set (DNSKEY records, any owner).
fn load_trust_anchors(cfg: &VaConfig) -> Result<TrustAnchors> {
    let mut text = String::new();
    for path in &cfg.trust_anchors {
        let content = std::fs::read_to_string(path).map_err(|e| {
            Error::internal(format!(
                "va: reading DNSSEC trust anchor {}: {e}",
                path.display()
            ))
        })?;
        text.push_str(&content);
        text.push('\n');
    }
    let anchors: TrustAnchors = text.parse().map_err(|e| {
        Error::internal(format!(
            "va: DNSSEC trust anchors {:?} hold no usable DNSKEY records: {e}",
            cfg.trust_anchors
        ))
    })?;
    // `TrustAnchors` counts only root keys; a file of comments alone would
    // leave no anchor at all and every answer Bogus, so say so at start.
    let has_key = text
        .lines()
        .any(|l| l.split(';').next().is_some_and(|l| l.contains("DNSKEY")));
    if !has_key {
        return Err(Error::internal(format!(
            "va: DNSSEC trust anchors {:?} hold no DNSKEY record",
            cfg.trust_anchors
        )));
    }
    Ok(anchors)
}

/// The raw result of one query.
struct Answer {
    records: Vec<Record>,
    /// For an empty answer: the proof of the denial, when validating.
    negative_proof: Option<Proof>,
}

/// An answer reduced to what was asked.
struct Chain {
    records: Vec<Record>,
    cnames: Vec<String>,
    proof: Proof,
}

/// Walks the CNAME chain from `qname` through the answer section and keeps
/// only the `rtype` records at its end, so records for other names that a
/// server slipped into the answer are never used. RRSIGs are dropped
/// (hickory returns them alongside the data when validating). The proof is
/// the weakest of every record relied on.
fn follow_chain(qname: &Name, rtype: RecordType, answer: Answer) -> Result<Chain> {
    let mut current = qname.clone();
    let mut cnames = Vec::new();
    let mut proofs = Vec::new();
    for _ in 0..=MAX_CNAMES {
        let here: Vec<Record> = answer
            .records
            .iter()
            .filter(|r| r.record_type() == rtype && r.name == current)
            .cloned()
            .collect();
        if !here.is_empty() {
            proofs.extend(here.iter().map(|r| r.proof));
            return Ok(Chain {
                records: here,
                cnames,
                proof: weakest(proofs),
            });
        }
        let cname = answer.records.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if r.name == current => Some((r.proof, target.0.clone())),
            _ => None,
        });
        match cname {
            Some((proof, target)) => {
                cnames.push(format!(
                    "{} -> {}",
                    display_name(&current),
                    display_name(&target)
                ));
                proofs.push(proof);
                current = target;
            }
            None => {
                proofs.extend(answer.negative_proof);
                return Ok(Chain {
                    records: Vec::new(),
                    cnames,
                    proof: weakest(proofs),
                });
            }
        }
    }
    Err(Error::new(
        ErrorKind::Dns,
        format!(
            "DNS problem: more than {MAX_CNAMES} CNAMEs following {} for {rtype}",
            display_name(qname)
        ),
    ))
}

/// The weakest proof of a set (Secure > Insecure > Indeterminate); nothing
/// to prove is Indeterminate.
fn weakest(proofs: impl IntoIterator<Item = Proof>) -> Proof {
    let mut it = proofs.into_iter().peekable();
    if it.peek().is_none() {
        return Proof::Indeterminate;
    }
    it.fold(Proof::Secure, |acc, p| match (acc, p) {
        (Proof::Bogus, _) | (_, Proof::Bogus) => Proof::Bogus,
        (Proof::Indeterminate, _) | (_, Proof::Indeterminate) => Proof::Indeterminate,
        (Proof::Insecure, _) | (_, Proof::Insecure) => Proof::Insecure,
        _ => Proof::Secure,
    })
}

fn proof_name(p: Proof) -> &'static str {
    match p {
        Proof::Secure => "Secure",
        Proof::Insecure => "Insecure",
        Proof::Bogus => "Bogus",
        _ => "Indeterminate",
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

/// `ErrorKind::Dns` for a failed lookup; DNSSEC failures say so plainly
/// because the subscriber must fix the zone's signatures, not a record.
fn lookup_error(e: &NetError, fqdn: &Name, rtype: RecordType) -> Error {
    if matches!(e, NetError::Dns(DnsError::DnssecBogus)) {
        return Error::new(
            ErrorKind::Dns,
            format!("{DNSSEC_FAILED} for {}", display_name(fqdn)),
        );
    }
    Error::new(
        ErrorKind::Dns,
        format!(
            "DNS problem: {} looking up {rtype} for {}",
            reason(e),
            display_name(fqdn)
        ),
    )
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
        NetError::Dns(DnsError::DnssecBogus) => DNSSEC_FAILED.into(),
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
            // The test responder signs nothing.
            dnssec: false,
            ..VaConfig::default()
        };
        (Resolver::new(&cfg).expect("resolver builds"), dns)
    }

    #[tokio::test]
    async fn a_records_resolve() {
        let (r, _dns) = resolver().await;
        let ips = r.lookup_ip("example.jp").await.expect("resolves");
        assert_eq!(ips, vec!["127.0.0.1".parse::<IpAddr>().expect("ip")]);
    }

    #[tokio::test]
    async fn ipv6_comes_first() {
        let (r, _dns) = resolver().await;
        let ips = r.lookup_ip("v6.jp").await.expect("resolves");
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
        let err = r.lookup_ip("nx.jp").await.expect_err("nxdomain");
        assert_eq!(err.kind, ErrorKind::Dns);
        assert!(
            err.detail.contains("no valid A or AAAA records for nx.jp"),
            "{}",
            err.detail
        );
    }

    #[tokio::test]
    async fn servfail_is_dns_error() {
        let (r, _dns) = resolver().await;
        let err = r.lookup_ip("servfail.jp").await.expect_err("servfail");
        assert_eq!(err.kind, ErrorKind::Dns);
        assert!(err.detail.contains("SERVFAIL"), "{}", err.detail);
        assert!(err.detail.contains("servfail.jp"), "{}", err.detail);
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
            dnssec: false,
            ..VaConfig::default()
        };
        let r = Resolver::new(&cfg).expect("resolver builds");
        let start = std::time::Instant::now();
        let err = r.lookup_ip("example.jp").await.expect_err("timeout");
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
            .lookup_txt("_acme-challenge.example.jp")
            .await
            .expect("txt");
        assert_eq!(txt.values, vec!["part1part2".to_owned()]);
        assert_eq!(txt.dnssec, None);
        let none = r.lookup_txt("nx.jp").await.expect("no records is empty");
        assert!(none.values.is_empty());
    }

    fn record(owner: &str, data: RData) -> Record {
        Record::from_rdata(fqdn(owner).expect("name"), 60, data)
    }

    fn cname(target: &str) -> RData {
        RData::CNAME(hickory_resolver::proto::rr::rdata::CNAME(
            fqdn(target).expect("name"),
        ))
    }

    fn txt(v: &str) -> RData {
        RData::TXT(hickory_resolver::proto::rr::rdata::TXT::new(vec![v.into()]))
    }

    #[test]
    fn chain_keeps_only_records_at_its_end() {
        let answer = Answer {
            records: vec![
                record("a.jp", cname("b.jp")),
                // Slipped in by the server: not on the chain.
                record("evil.jp", txt("planted")),
                record("b.jp", txt("real")),
            ],
            negative_proof: None,
        };
        let chain =
            follow_chain(&fqdn("a.jp").expect("name"), RecordType::TXT, answer).expect("chain");
        assert_eq!(chain.cnames, vec!["a.jp -> b.jp"]);
        assert_eq!(chain.records.len(), 1);
        assert_eq!(chain.records[0].data, txt("real"));
    }

    #[test]
    fn chain_longer_than_the_bound_is_dns_error() {
        let records = (0..=MAX_CNAMES)
            .map(|i| record(&format!("c{i}.jp"), cname(&format!("c{}.jp", i + 1))))
            .chain([record(&format!("c{}.jp", MAX_CNAMES + 1), txt("x"))])
            .collect();
        let answer = Answer {
            records,
            negative_proof: None,
        };
        let err = follow_chain(&fqdn("c0.jp").expect("name"), RecordType::TXT, answer)
            .err()
            .expect("too long");
        assert_eq!(err.kind, ErrorKind::Dns);
        assert!(err.detail.contains("more than 8 CNAMEs"), "{}", err.detail);
    }

    #[test]
    fn weakest_proof_wins() {
        assert_eq!(weakest([]), Proof::Indeterminate);
        assert_eq!(weakest([Proof::Secure, Proof::Secure]), Proof::Secure);
        assert_eq!(weakest([Proof::Secure, Proof::Insecure]), Proof::Insecure);
        assert_eq!(
            weakest([Proof::Insecure, Proof::Indeterminate]),
            Proof::Indeterminate
        );
        assert_eq!(weakest([Proof::Secure, Proof::Bogus]), Proof::Bogus);
    }

    // DNSSEC against BIND serving offline-signed zones (testutil::Bind).

    const KEY_AUTH: &str = "tok.thumb";

    fn dnssec_config(bind: &crate::va::testutil::Bind) -> VaConfig {
        VaConfig {
            resolvers: vec![bind.addr],
            allow_loopback: true,
            timeout_secs: 6,
            dnssec: true,
            trust_anchors: vec![bind.anchor.clone()],
            ..VaConfig::default()
        }
    }

    fn dns01(identifier: &str) -> crate::va::ValidationRequest {
        crate::va::ValidationRequest {
            method: crate::acme::ChallengeType::Dns01,
            identifier: identifier.into(),
            token: "tok".into(),
            key_authorization: KEY_AUTH.into(),
        }
    }

    #[tokio::test]
    async fn dnssec_signed_is_secure_and_unsigned_child_is_insecure() {
        use crate::va::caa::CaaRequest;
        let value = crate::va::dns01::expected_txt(KEY_AUTH);
        let bind = crate::va::testutil::Bind::start(
            &format!(
                "_acme-challenge.secure IN TXT \"{value}\"\n\
                 @ IN CAA 0 issue \"trustgate.jp\"\n\
                 www IN A 127.0.0.1"
            ),
            &format!(
                "_acme-challenge.plain IN TXT \"{value}\"\n\
                 www IN A 127.0.0.1"
            ),
            None,
        )
        .await;
        let v = crate::va::Validator::new(&dnssec_config(&bind)).expect("validator");

        let out = v.validate(&dns01("secure.example.jp")).await;
        out.result.expect("signed TXT validates");
        assert_eq!(out.records[0].dnssec.as_deref(), Some("Secure"));

        let out = v.validate(&dns01("plain.insecure.jp")).await;
        out.result.expect("unsigned child validates");
        assert_eq!(out.records[0].dnssec.as_deref(), Some("Insecure"));

        // The address lookup of http-01 carries its status too (nothing
        // listens on port 1, so only the evidence is of interest).
        let http01 = |identifier: &str| crate::va::ValidationRequest {
            method: crate::acme::ChallengeType::Http01,
            ..dns01(identifier)
        };
        let cfg = VaConfig {
            http01_port: 1,
            ..dnssec_config(&bind)
        };
        let v1 = crate::va::Validator::new(&cfg).expect("validator");
        let out = v1.validate(&http01("www.example.jp")).await;
        assert_eq!(
            out.result.expect_err("closed port").kind,
            ErrorKind::Connection
        );
        assert_eq!(out.records[0].dnssec.as_deref(), Some("Secure"));
        let out = v1.validate(&http01("www.insecure.jp")).await;
        assert_eq!(out.records[0].dnssec.as_deref(), Some("Insecure"));

        // CAA: a Secure denial at www, then the signed set at the apex.
        let ids = vec!["trustgate.jp".to_owned()];
        let req = |name| CaaRequest {
            name,
            account_uri: "https://acme.jp/acct/1",
            method: crate::acme::ChallengeType::Dns01,
            caa_identities: &ids,
        };
        let (r, ev) = v.check_caa(&req("www.example.jp")).await;
        r.expect("CAA permits");
        assert_eq!(ev.relevant_name.as_deref(), Some("example.jp"));
        assert_eq!(ev.dnssec.as_deref(), Some("Secure"));
        let (r, ev) = v.check_caa(&req("x.insecure.jp")).await;
        r.expect("no CAA in the unsigned zone");
        assert_eq!(ev.relevant_name, None);
        assert_eq!(ev.dnssec.as_deref(), Some("Insecure"));
    }

    #[tokio::test]
    async fn dnssec_tampered_answer_is_bogus() {
        use crate::va::caa::CaaRequest;
        let value = crate::va::dns01::expected_txt(KEY_AUTH);
        let bind = crate::va::testutil::Bind::start(
            &format!(
                "_acme-challenge.secure IN TXT \"{value}\"\n\
                 @ IN CAA 0 issue \"trustgate.jp\""
            ),
            "",
            Some((value.as_str(), "planted-by-an-attacker")),
        )
        .await;
        let v = crate::va::Validator::new(&dnssec_config(&bind)).expect("validator");
        let out = v.validate(&dns01("secure.example.jp")).await;
        let err = out.result.expect_err("bogus");
        assert_eq!(err.kind, ErrorKind::Dns);
        assert_eq!(
            err.detail,
            "DNSSEC validation failed for _acme-challenge.secure.example.jp"
        );
        // The untouched CAA set in the same zone still validates.
        let ids = vec!["trustgate.jp".to_owned()];
        let (r, ev) = v
            .check_caa(&CaaRequest {
                name: "example.jp",
                account_uri: "https://acme.jp/acct/1",
                method: crate::acme::ChallengeType::Dns01,
                caa_identities: &ids,
            })
            .await;
        r.expect("CAA permits");
        assert_eq!(ev.dnssec.as_deref(), Some("Secure"));

        // Without the anchor, validating from the real root cannot reach
        // this private `test.` tree: the answer is Bogus, not "no CAA".
        let cfg = VaConfig {
            trust_anchors: vec![],
            ..dnssec_config(&bind)
        };
        let v = crate::va::Validator::new(&cfg).expect("validator");
        let (r, ev) = v
            .check_caa(&CaaRequest {
                name: "example.jp",
                account_uri: "https://acme.jp/acct/1",
                method: crate::acme::ChallengeType::Dns01,
                caa_identities: &ids,
            })
            .await;
        let err = r.expect_err("no chain from the root");
        assert_eq!(err.kind, ErrorKind::Caa);
        assert_eq!(
            err.detail,
            "CAA lookup failed for example.jp: DNSSEC validation failed for example.jp"
        );
        assert!(ev.decision.starts_with("lookup failed"), "{}", ev.decision);
    }

    #[test]
    fn trust_anchor_files_load_or_fail_loudly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("Kexample.key");
        std::fs::write(
            &good,
            "; a BIND key file\nexample.jp. IN DNSKEY 257 3 13 \
             mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n",
        )
        .expect("write");
        let cfg = VaConfig {
            resolvers: vec!["127.0.0.1:53".parse().expect("addr")],
            trust_anchors: vec![good],
            ..VaConfig::default()
        };
        Resolver::new(&cfg).expect("anchor loads");
        let missing = VaConfig {
            trust_anchors: vec![dir.path().join("nope.key")],
            ..cfg.clone()
        };
        let err = Resolver::new(&missing).err().expect("missing file");
        assert_eq!(err.kind, ErrorKind::ServerInternal);
        assert!(err.detail.contains("nope.key"), "{}", err.detail);
        let comments = dir.path().join("comments.key");
        std::fs::write(&comments, "; nothing here\n").expect("write");
        let empty = VaConfig {
            trust_anchors: vec![comments],
            ..cfg.clone()
        };
        let err = Resolver::new(&empty).err().expect("no key");
        assert!(err.detail.contains("no DNSKEY"), "{}", err.detail);
    }

    #[tokio::test]
    async fn invalid_name_is_malformed() {
        let (r, _dns) = resolver().await;
        let err = r.lookup_ip("a..b").await.expect_err("invalid");
        assert_eq!(err.kind, ErrorKind::Malformed);
    }
}
