//! BIND's tools for the DNSSEC tests: where they are, and the two steps
//! that make a signed zone. Shared by the library's tests (`va::testutil`)
//! and the integration suite (`integration/common/bind.rs`, through
//! `#[path]`), so it uses the standard library only.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A BIND tool, from PATH or the Debian locations (named lives in
/// /usr/sbin, often not on a user's PATH). Missing is a failure: the DNS
/// tests are part of the suite.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found on PATH or in /usr/sbin, /usr/bin: the DNS tests need BIND 9 \
                 (apt-get install bind9 bind9-utils bind9-dnsutils, as .ci/run does)"
            )
        })
}

/// A CSK for `zone` (ECDSA P-256, KSK flag), named as dnssec-keygen prints.
pub fn keygen(dir: &Path, zone: &str) -> String {
    let out = Command::new(tool("dnssec-keygen"))
        .args([
            "-q",
            "-K",
            ".",
            "-a",
            "ECDSAP256SHA256",
            "-n",
            "ZONE",
            "-f",
            "KSK",
            zone,
        ])
        .current_dir(dir)
        .output()
        .expect("running dnssec-keygen");
    assert!(out.status.success(), "dnssec-keygen {zone}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `<zone>.db` → `<zone>.signed` and `dsset-<zone>.`; `-z` because the one
/// key signs everything (notes/dns.md).
pub fn sign(dir: &Path, zone: &str, key: &str) {
    let out = Command::new(tool("dnssec-signzone"))
        .args(["-q", "-z", "-K", ".", "-d", ".", "-o", zone, "-f"])
        .arg(format!("{zone}.signed"))
        .arg(format!("{zone}.db"))
        .arg(key)
        .current_dir(dir)
        .output()
        .expect("running dnssec-signzone");
    assert!(out.status.success(), "dnssec-signzone {zone}: {out:?}");
}
