//! A certificate with its chain as a PKCS#7 "certs-only" message (RFC 2315
//! §9.1, RFC 5652 §5: SignedData with no content and no signers), DER —
//! the `.p7b` file Windows and Java key tools import.

use yasna::models::ObjectIdentifier;
use yasna::Tag;

/// id-signedData (RFC 5652 §5.1).
const SIGNED_DATA: &[u64] = &[1, 2, 840, 113549, 1, 7, 2];
/// id-data (RFC 5652 §4): the type of the absent content.
const DATA: &[u64] = &[1, 2, 840, 113549, 1, 7, 1];

/// ContentInfo { signedData, SignedData { version 1, no digest algorithms,
/// no content, `certificates`, no signerInfos } }. `certificates` are DER
/// certificates; a DER SET OF orders them by encoding, so readers build
/// the chain from the names, not from the order.
pub fn certs_only(certificates: &[&[u8]]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next()
                .write_oid(&ObjectIdentifier::from_slice(SIGNED_DATA));
            w.next().write_tagged(Tag::context(0), |w| {
                w.write_sequence(|w| {
                    w.next().write_u8(1);
                    w.next().write_set(|_| {});
                    w.next().write_sequence(|w| {
                        w.next().write_oid(&ObjectIdentifier::from_slice(DATA));
                    });
                    w.next().write_tagged_implicit(Tag::context(0), |w| {
                        w.write_set_of(|w| {
                            for der in certificates {
                                w.next().write_der(der);
                            }
                        });
                    });
                    w.next().write_set(|_| {});
                });
            });
        });
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cert(name: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    /// The certificates come back out of the structure unchanged, and the
    /// envelope is the certs-only SignedData (RFC 5652 §5.1).
    #[test]
    fn certs_only_carries_every_certificate_in_a_signed_data() {
        let (a, b) = (cert("a.example.jp"), cert("b.example.jp"));
        let der = certs_only(&[&a, &b]);
        let certs = yasna::parse_der(&der, |r| {
            r.read_sequence(|r| {
                let oid = r.next().read_oid()?;
                assert_eq!(oid, ObjectIdentifier::from_slice(SIGNED_DATA));
                r.next().read_tagged(Tag::context(0), |r| {
                    r.read_sequence(|r| {
                        assert_eq!(r.next().read_u8()?, 1);
                        assert_eq!(r.next().read_der()?, [0x31, 0], "no digest algorithms");
                        r.next().read_sequence(|r| {
                            assert_eq!(r.next().read_oid()?, ObjectIdentifier::from_slice(DATA));
                            Ok(())
                        })?;
                        let mut certs = Vec::new();
                        r.next().read_tagged_implicit(Tag::context(0), |r| {
                            r.read_set_of(|r| {
                                certs.push(r.read_der()?);
                                Ok(())
                            })
                        })?;
                        assert_eq!(r.next().read_der()?, [0x31, 0], "no signers");
                        Ok(certs)
                    })
                })
            })
        })
        .unwrap();
        assert_eq!(certs.len(), 2);
        assert!(certs.contains(&a) && certs.contains(&b));
    }

    /// openssl reads it as a PKCS#7 file and prints both certificates.
    #[test]
    fn openssl_reads_the_certificates_back() {
        let (a, b) = (cert("a.example.jp"), cert("b.example.jp"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain.p7b");
        std::fs::write(&path, certs_only(&[&a, &b])).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["pkcs7", "-inform", "DER", "-print_certs", "-noout", "-in"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(text.matches("subject=").count(), 2, "{text}");
    }
}
