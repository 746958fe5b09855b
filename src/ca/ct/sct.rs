//! Signed certificate timestamps (RFC 6962 §3.2, §3.3): what a log
//! answers, the bytes its signature covers, and the TLS encoding of the
//! list a certificate embeds.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Deserialize;

/// RFC 6962 §3.2: v1 is version 0.
const V1: u8 = 0;
/// `signature_type` certificate_timestamp.
const CERTIFICATE_TIMESTAMP: u8 = 0;
/// `LogEntryType` precert_entry.
const PRECERT_ENTRY: u16 = 1;
/// TLS HashAlgorithm sha256 (RFC 5246 §7.4.1.4.1).
pub const SHA256: u8 = 4;
/// TLS SignatureAlgorithm rsa and ecdsa.
pub const RSA: u8 = 1;
pub const ECDSA: u8 = 3;

/// One SCT as a log signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sct {
    /// SHA-256 of the log's SubjectPublicKeyInfo.
    pub log_id: [u8; 32],
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    pub extensions: Vec<u8>,
    pub hash_algorithm: u8,
    pub signature_algorithm: u8,
    /// DER ECDSA-Sig-Value or RSA PKCS#1 v1.5 signature.
    pub signature: Vec<u8>,
}

/// The JSON answer of `add-pre-chain` (RFC 6962 §4.1).
#[derive(Deserialize)]
struct Answer {
    sct_version: u8,
    id: String,
    timestamp: u64,
    extensions: String,
    signature: String,
}

impl Sct {
    /// Parses a log's answer; says what is wrong with one that does not.
    pub fn from_json(body: &[u8]) -> Result<Sct, String> {
        let a: Answer =
            serde_json::from_slice(body).map_err(|e| format!("answer is not an SCT: {e}"))?;
        if a.sct_version != V1 {
            return Err(format!("SCT version {} is not v1", a.sct_version));
        }
        let b64 = |what: &str, v: &str| {
            B64.decode(v)
                .map_err(|_| format!("SCT {what} is not base64"))
        };
        let log_id: [u8; 32] = b64("id", &a.id)?
            .try_into()
            .map_err(|_| "SCT id is not 32 octets".to_owned())?;
        let extensions = b64("extensions", &a.extensions)?;
        let signed = b64("signature", &a.signature)?;
        // DigitallySigned (RFC 5246 §4.7): hash, signature, u16 length.
        let [hash_algorithm, signature_algorithm, hi, lo, signature @ ..] = signed.as_slice()
        else {
            return Err("SCT signature is truncated".into());
        };
        if usize::from(u16::from_be_bytes([*hi, *lo])) != signature.len() {
            return Err("SCT signature length does not match".into());
        }
        if extensions.len() > usize::from(u16::MAX) {
            return Err("SCT extensions are too long".into());
        }
        Ok(Sct {
            log_id,
            timestamp: a.timestamp,
            extensions,
            hash_algorithm: *hash_algorithm,
            signature_algorithm: *signature_algorithm,
            signature: signature.to_vec(),
        })
    }

    /// The SCT in its TLS encoding (RFC 6962 §3.2 `SignedCertificateTimestamp`).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(47 + self.extensions.len() + self.signature.len());
        out.push(V1);
        out.extend_from_slice(&self.log_id);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        push_u16_prefixed(&mut out, &self.extensions);
        out.push(self.hash_algorithm);
        out.push(self.signature_algorithm);
        push_u16_prefixed(&mut out, &self.signature);
        out
    }
}

/// The bytes a log signs for a precertificate entry (RFC 6962 §3.2):
/// version | signature_type | timestamp | entry_type | issuer_key_hash |
/// u24-length TBS (without the poison) | u16-length extensions.
pub fn signed_input(
    timestamp: u64,
    issuer_key_hash: &[u8; 32],
    tbs: &[u8],
    extensions: &[u8],
) -> Result<Vec<u8>, String> {
    let tbs_len = u32::try_from(tbs.len())
        .ok()
        .filter(|n| *n < 1 << 24)
        .ok_or("tbsCertificate is too long for an SCT")?;
    let ext_len = u16::try_from(extensions.len()).map_err(|_| "SCT extensions are too long")?;
    let mut out = Vec::with_capacity(50 + tbs.len() + extensions.len());
    out.push(V1);
    out.push(CERTIFICATE_TIMESTAMP);
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&PRECERT_ENTRY.to_be_bytes());
    out.extend_from_slice(issuer_key_hash);
    out.extend_from_slice(&tbs_len.to_be_bytes()[1..]);
    out.extend_from_slice(tbs);
    out.extend_from_slice(&ext_len.to_be_bytes());
    out.extend_from_slice(extensions);
    Ok(out)
}

/// The `SignedCertificateTimestampList` (RFC 6962 §3.3): a u16 total
/// length, then each SCT with a u16 length.
pub fn encode_list(scts: &[Sct]) -> Vec<u8> {
    let mut body = Vec::new();
    for sct in scts {
        push_u16_prefixed(&mut body, &sct.encode());
    }
    let mut out = Vec::with_capacity(body.len() + 2);
    push_u16_prefixed(&mut out, &body);
    out
}

/// SCTs and lists are bounded far below 64 KiB (a few hundred octets
/// each); longer fields were refused when parsed.
fn push_u16_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&bytes[..usize::from(len)]);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sct() -> Sct {
        Sct {
            log_id: [7; 32],
            timestamp: 0x0102_0304_0506_0708,
            extensions: vec![],
            hash_algorithm: SHA256,
            signature_algorithm: ECDSA,
            signature: vec![0x30, 0x01, 0xaa],
        }
    }

    #[test]
    fn signed_input_is_the_rfc_6962_struct() {
        let input = signed_input(0x0102_0304_0506_0708, &[9; 32], &[0x30, 0x00], &[]).unwrap();
        let mut want = vec![0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1];
        want.extend_from_slice(&[9; 32]);
        want.extend_from_slice(&[0, 0, 2, 0x30, 0x00, 0, 0]);
        assert_eq!(input, want);
        let input = signed_input(1, &[0; 32], &[0xab; 300], &[1, 2]).unwrap();
        assert_eq!(&input[44..47], &[0, 1, 44]);
        assert_eq!(&input[input.len() - 4..], &[0, 2, 1, 2]);
    }

    #[test]
    fn the_list_is_length_prefixed_twice() {
        let one = sct().encode();
        assert_eq!(one.len(), 1 + 32 + 8 + 2 + 2 + 2 + 3);
        assert_eq!(one[0], 0);
        assert_eq!(&one[33..41], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&one[41..47], &[0, 0, SHA256, ECDSA, 0, 3]);
        let list = encode_list(&[sct(), sct()]);
        let each = one.len() + 2;
        assert_eq!(list.len(), 2 + 2 * each);
        assert_eq!(u16::from_be_bytes([list[0], list[1]]) as usize, 2 * each);
        assert_eq!(u16::from_be_bytes([list[2], list[3]]) as usize, one.len());
        assert_eq!(&list[4..4 + one.len()], &one[..]);
    }

    #[test]
    fn answers_parse_or_say_why_not() {
        let signed = B64.encode([SHA256, ECDSA, 0, 3, 0x30, 0x01, 0xaa]);
        let good = serde_json::json!({"sct_version": 0, "id": B64.encode([7; 32]),
            "timestamp": 0x0102_0304_0506_0708_u64, "extensions": "", "signature": signed});
        assert_eq!(Sct::from_json(good.to_string().as_bytes()).unwrap(), sct());
        for (field, value, why) in [
            ("sct_version", serde_json::json!(1), "not v1"),
            ("id", serde_json::json!(B64.encode([7; 31])), "32 octets"),
            ("id", serde_json::json!("!!"), "base64"),
            (
                "signature",
                serde_json::json!(B64.encode([4, 3, 0, 9, 1])),
                "length",
            ),
            ("signature", serde_json::json!(B64.encode([4])), "truncated"),
            ("timestamp", serde_json::json!("soon"), "not an SCT"),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            let err = Sct::from_json(bad.to_string().as_bytes()).unwrap_err();
            assert!(err.contains(why), "{field}: {err}");
        }
        assert!(Sct::from_json(b"<html>")
            .unwrap_err()
            .contains("not an SCT"));
    }
}
