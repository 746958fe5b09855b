//! The tbsCertificate a log signs: the precertificate's without the
//! poison extension (RFC 6962 §3.2), and the check that the final
//! certificate is the precertificate with the SCT list for the poison.

/// OID contents (DER, without tag and length) of the precertificate
/// poison, 1.3.6.1.4.1.11129.2.4.3, and the SCT list, …2.4.2.
pub const POISON_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03];
pub const SCT_LIST_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];
/// The same, as rcgen takes them.
pub const POISON_ARCS: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 3];
pub const SCT_LIST_ARCS: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
/// `[3] EXPLICIT Extensions` of a tbsCertificate.
const EXTENSIONS: u8 = 0xa3;

/// `tbs` (DER) with the one extension `oid` removed; an error when it
/// does not have exactly one.
pub fn without_extension(tbs: &[u8], oid: &[u8]) -> Result<Vec<u8>, String> {
    let (tag, fields, rest) = tlv(tbs)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return Err("tbsCertificate is not one SEQUENCE".into());
    }
    let mut removed = 0;
    let mut out = Vec::with_capacity(fields.len());
    let mut fields = fields;
    while !fields.is_empty() {
        let (tag, content, rest) = tlv(fields)?;
        let whole = &fields[..fields.len() - rest.len()];
        if tag == EXTENSIONS {
            let (kept, n) = extensions_without(content, oid)?;
            removed += n;
            out.extend(encode(EXTENSIONS, &encode(SEQUENCE, &kept)));
        } else {
            out.extend_from_slice(whole);
        }
        fields = rest;
    }
    if removed != 1 {
        return Err(format!(
            "tbsCertificate has {removed} of the extension, not one"
        ));
    }
    Ok(encode(SEQUENCE, &out))
}

/// The DER Extension elements of `[3]`'s content other than `oid`, and
/// how many were dropped.
fn extensions_without(explicit: &[u8], oid: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let (tag, mut list, rest) = tlv(explicit)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return Err("extensions are not one SEQUENCE".into());
    }
    let (mut kept, mut removed) = (Vec::with_capacity(list.len()), 0);
    while !list.is_empty() {
        let (tag, ext, rest) = tlv(list)?;
        let (oid_tag, ext_oid, _) = tlv(ext)?;
        if tag != SEQUENCE || oid_tag != OID {
            return Err("an extension is not a SEQUENCE starting with an OID".into());
        }
        if ext_oid == oid {
            removed += 1;
        } else {
            kept.extend_from_slice(&list[..list.len() - rest.len()]);
        }
        list = rest;
    }
    Ok((kept, removed))
}

/// One DER element: its tag, content and what follows it.
fn tlv(b: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let short = || "DER element is truncated".to_owned();
    let (&tag, b) = b.split_first().ok_or_else(short)?;
    let (&first, b) = b.split_first().ok_or_else(short)?;
    let (len, b) = if first < 0x80 {
        (usize::from(first), b)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 || b.len() < n {
            return Err("DER length is not definite or too long".into());
        }
        let len = b[..n].iter().fold(0usize, |a, d| a << 8 | usize::from(*d));
        (len, &b[n..])
    };
    if b.len() < len {
        return Err(short());
    }
    Ok((tag, &b[..len], &b[len..]))
}

/// A DER element with `tag` around `content` (definite length).
fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(len + 5);
    out.push(tag);
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xffff => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        _ => out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// The extension value (an OCTET STRING) of the SCT list extension.
pub fn sct_list_value(list: &[u8]) -> Vec<u8> {
    encode(0x04, list)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ext(oid: &[u8], value: &[u8]) -> Vec<u8> {
        let mut c = encode(OID, oid);
        c.extend(encode(0x04, value));
        encode(SEQUENCE, &c)
    }

    fn tbs(exts: &[Vec<u8>]) -> Vec<u8> {
        let mut fields = encode(0x02, &[1]);
        fields.extend(encode(SEQUENCE, &[0xab; 200]));
        fields.extend(encode(EXTENSIONS, &encode(SEQUENCE, &exts.concat())));
        encode(SEQUENCE, &fields)
    }

    #[test]
    fn removes_exactly_the_one_extension_and_fixes_lengths() {
        let a = ext(&[0x55, 0x1d, 0x0f], &[3, 2, 1, 0]);
        let poison = ext(POISON_OID, &[5, 0]);
        let with = tbs(&[a.clone(), poison.clone()]);
        assert_eq!(
            without_extension(&with, POISON_OID).unwrap(),
            tbs(std::slice::from_ref(&a))
        );
        let err = without_extension(&tbs(std::slice::from_ref(&a)), POISON_OID).unwrap_err();
        assert!(err.contains("0 of the extension"), "{err}");
        let twice = tbs(&[poison.clone(), a, poison]);
        assert!(without_extension(&twice, POISON_OID).is_err());
        assert!(without_extension(&with[..with.len() - 1], POISON_OID).is_err());
    }

    #[test]
    fn lengths_round_trip() {
        for n in [0, 1, 127, 128, 255, 256, 65535, 65536] {
            let e = encode(0x04, &vec![0; n]);
            let (tag, content, rest) = tlv(&e).unwrap();
            assert_eq!((tag, content.len(), rest.len()), (0x04, n, 0));
        }
    }
}
