//! Signs one CRL with 100,000 entries (or the count given as the first
//! argument) with a development intermediate, and prints how long signing
//! took and how large the CRL is. With a second argument, writes the DER
//! there (inspect with `openssl crl -inform DER -noout -text -in FILE`).
//!
//! `cargo run --release --example crl_bench [entries] [out.der]`

use std::time::Instant;

use time::{Duration, OffsetDateTime};
use trustgate::ca::crl::{CrlRequest, RevokedEntry};
use trustgate::ca::{dev, CertificateAuthority, IssuerUrls, Serial, Settings};
use trustgate::config::CaConfig;
use trustgate::core::RevocationReason;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: usize = match args.next() {
        Some(n) => n.parse()?,
        None => 100_000,
    };
    let out = args.next();

    let dir = tempfile::tempdir()?;
    let (root, cert, key) = (
        dir.path().join("ca/root.pem"),
        dir.path().join("ca/intermediate.pem"),
        dir.path().join("ca/intermediate.key"),
    );
    let at = trustgate::core::Clock::system().now();
    dev::generate_hierarchy("crl_bench", &root, &cert, &key, at)?;
    let urls = IssuerUrls::new(
        "http://localhost/intermediate.der".into(),
        vec!["http://localhost/crl/0.crl".into()],
    )?;
    let settings = Settings::new(&CaConfig::default(), urls);
    let ca = CertificateAuthority::load(&root, &cert, &key, settings)?;

    let reasons = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn,
    ];
    let now = OffsetDateTime::now_utc();
    let entries = (0..count)
        .map(|i| {
            Ok(RevokedEntry {
                serial: Serial::random()?.0.to_vec(),
                revoked_at: now - Duration::seconds(i as i64),
                reason: reasons[i % reasons.len()],
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, trustgate::error::Error>>()?;

    let req = CrlRequest {
        number: 1,
        this_update: now,
        next_update: now + Duration::days(7),
        url: "http://crl.example.jp/crl/0.crl",
        entries: &entries,
    };
    let start = Instant::now();
    let der = ca.sign_crl(&req)?;
    let took = start.elapsed();
    println!(
        "{count} entries: signed and checked in {:.3} s, {} bytes ({:.1} bytes/entry), profile {}",
        took.as_secs_f64(),
        der.len(),
        der.len() as f64 / count.max(1) as f64,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    if let Some(path) = out {
        std::fs::write(&path, &der)?;
        println!("written to {path}");
    }
    Ok(())
}
