//! Which addresses the VA may connect to.
//!
//! A CA that fetched from loopback, private or reserved space would let any
//! ACME client use it to probe the CA's own network (SSRF), and a
//! validation against such an address proves nothing about the public DNS
//! name anyway. The lists follow the IANA IPv4 and IPv6 Special-Purpose
//! Address Registries (RFC 6890 and successors).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True when `ip` is a globally routable unicast address the VA may
/// connect to. IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::/96`)
/// addresses are judged by the IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// True when the VA may connect to `ip`: a public address, or loopback
/// when the (test-only) `va.allow_loopback` setting says so. Private and
/// reserved space stays closed even then, so a test run cannot open it.
pub fn may_connect(ip: IpAddr, allow_loopback: bool) -> bool {
    is_public(ip) || (allow_loopback && is_loopback(ip))
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// IPv4 ranges that are not globally reachable unicast, as (network, prefix).
const V4_NON_PUBLIC: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),       // "this network", RFC 791; includes 0.0.0.0
    ([10, 0, 0, 0], 8),      // private, RFC 1918
    ([100, 64, 0, 0], 10),   // shared address space (CGNAT), RFC 6598
    ([127, 0, 0, 0], 8),     // loopback, RFC 1122
    ([169, 254, 0, 0], 16),  // link-local, RFC 3927
    ([172, 16, 0, 0], 12),   // private, RFC 1918
    ([192, 0, 0, 0], 24),    // IETF protocol assignments, RFC 6890
    ([192, 0, 2, 0], 24),    // documentation TEST-NET-1, RFC 5737
    ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast, RFC 7526
    ([192, 168, 0, 0], 16),  // private, RFC 1918
    ([198, 18, 0, 0], 15),   // benchmarking, RFC 2544
    ([198, 51, 100, 0], 24), // documentation TEST-NET-2, RFC 5737
    ([203, 0, 113, 0], 24),  // documentation TEST-NET-3, RFC 5737
    ([224, 0, 0, 0], 4),     // multicast, RFC 5771
    ([240, 0, 0, 0], 4),     // reserved, RFC 1112; includes 255.255.255.255
];

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let addr = u32::from(ip);
    !V4_NON_PUBLIC.iter().any(|&(net, prefix)| {
        let mask = u32::MAX << (32 - u32::from(prefix));
        addr & mask == u32::from(Ipv4Addr::from(net)) & mask
    })
}

/// Ranges inside 2000::/3 (global unicast) that are still not public.
const V6_NON_PUBLIC: &[(u128, u8)] = &[
    // IETF protocol assignments, RFC 2928: Teredo, ORCHIDv2, benchmarking 2001:2::/48.
    (0x2001_0000_0000_0000_0000_0000_0000_0000, 23),
    (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32), // documentation, RFC 3849
    (0x2002_0000_0000_0000_0000_0000_0000_0000, 16), // 6to4, RFC 3056 (deprecated, RFC 7526)
    (0x3fff_0000_0000_0000_0000_0000_0000_0000, 20), // documentation, RFC 9637
];

fn in_v6_prefix(addr: u128, net: u128, prefix: u8) -> bool {
    let mask = u128::MAX << (128 - u32::from(prefix));
    addr & mask == net & mask
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let addr = u128::from(ip);
    // IPv4-mapped ::ffff:0:0/96 (RFC 4291 §2.5.5.2): the socket would reach
    // the IPv4 address, so judge that.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052 §3.1): a translator
    // forwards to the embedded IPv4 address, and the RFC forbids using the
    // prefix for non-global IPv4 addresses.
    if in_v6_prefix(addr, 0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96) {
        return is_public_v4(Ipv4Addr::from(addr as u32));
    }
    // Only 2000::/3 is allocated for global unicast (RFC 4291 §2.4, IANA
    // IPv6 address space). Everything else — ::, ::1, IPv4-compatible
    // ::/96, 64:ff9b:1::/48 local NAT64 (RFC 8215), 100::/64 discard
    // (RFC 6666), 5f00::/16 SRv6 (RFC 9602), ULA fc00::/7, link-local
    // fe80::/10, site-local fec0::/10, multicast ff00::/8 — is not public.
    if !in_v6_prefix(addr, 0x2000_0000_0000_0000_0000_0000_0000_0000, 3) {
        return false;
    }
    !V6_NON_PUBLIC
        .iter()
        .any(|&(net, prefix)| in_v6_prefix(addr, net, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().expect("test address parses"))
    }

    #[test]
    fn public_v4() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert!(public(s), "{s} should be public");
        }
    }

    #[test]
    fn this_network_and_unspecified() {
        assert!(!public("0.0.0.0"));
        assert!(!public("0.1.2.3"));
    }

    #[test]
    fn loopback_v4() {
        assert!(!public("127.0.0.1"));
        assert!(!public("127.255.255.254"));
    }

    #[test]
    fn private_rfc1918() {
        for s in [
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "192.168.255.255",
        ] {
            assert!(!public(s), "{s}");
        }
    }

    #[test]
    fn cgnat() {
        assert!(!public("100.64.0.0"));
        assert!(!public("100.127.255.255"));
    }

    #[test]
    fn link_local_v4() {
        assert!(!public("169.254.0.1"));
        assert!(!public("169.254.169.254")); // cloud metadata endpoint
    }

    #[test]
    fn multicast_broadcast_reserved_v4() {
        assert!(!public("224.0.0.1"));
        assert!(!public("239.255.255.255"));
        assert!(!public("240.0.0.1"));
        assert!(!public("255.255.255.255"));
    }

    #[test]
    fn documentation_v4() {
        assert!(!public("192.0.2.1"));
        assert!(!public("198.51.100.7"));
        assert!(!public("203.0.113.200"));
    }

    #[test]
    fn benchmarking_and_protocol_assignments_v4() {
        assert!(!public("198.18.0.1"));
        assert!(!public("198.19.255.255"));
        assert!(!public("192.0.0.8"));
        assert!(!public("192.88.99.1"));
    }

    #[test]
    fn public_v6() {
        for s in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "2001:200::1", // just past 2001::/23
        ] {
            assert!(public(s), "{s} should be public");
        }
    }

    #[test]
    fn loopback_unspecified_v6() {
        assert!(!public("::1"));
        assert!(!public("::"));
        assert!(!public("::127.0.0.1")); // IPv4-compatible, deprecated
    }

    #[test]
    fn ula_link_local_site_local_v6() {
        assert!(!public("fc00::1"));
        assert!(!public("fd12:3456:789a::1"));
        assert!(!public("fe80::1"));
        assert!(!public("febf::1"));
        assert!(!public("fec0::1"));
    }

    #[test]
    fn multicast_v6() {
        assert!(!public("ff02::1"));
        assert!(!public("ff0e::1"));
    }

    #[test]
    fn documentation_v6() {
        assert!(!public("2001:db8::1"));
        assert!(!public("2001:db8:ffff::1"));
        assert!(!public("3fff::1"));
    }

    #[test]
    fn special_purpose_v6() {
        assert!(!public("2001::1")); // Teredo
        assert!(!public("2001:2::1")); // benchmarking
        assert!(!public("2001:20::1")); // ORCHIDv2
        assert!(!public("2002:c000:0201::1")); // 6to4
        assert!(!public("100::1")); // discard-only
        assert!(!public("64:ff9b:1::1")); // local-use NAT64
        assert!(!public("5f00::1")); // SRv6 SIDs
    }

    #[test]
    fn ipv4_mapped() {
        assert!(!public("::ffff:127.0.0.1"));
        assert!(!public("::ffff:10.1.2.3"));
        assert!(!public("::ffff:169.254.169.254"));
        assert!(!public("::ffff:0.0.0.0"));
        assert!(public("::ffff:8.8.8.8"));
    }

    #[test]
    fn nat64_well_known_prefix() {
        assert!(!public("64:ff9b::127.0.0.1"));
        assert!(!public("64:ff9b::192.168.1.1"));
        assert!(!public("64:ff9b::100.64.0.1"));
        assert!(public("64:ff9b::8.8.8.8"));
    }

    #[test]
    fn allow_loopback_opens_loopback_only() {
        for ip in ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(may_connect(ip, true), "{ip}");
            assert!(!may_connect(ip, false), "{ip}");
        }
        for ip in [
            "10.0.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "fd00::1",
            "0.0.0.0",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!may_connect(ip, true), "{ip}");
        }
        assert!(may_connect("93.184.216.34".parse().unwrap(), false));
    }
}
