"""Independent check of embedded SCTs (RFC 6962 §3.2), with Python
`cryptography`: every SCT in the certificate's SCT list extension must
come from one of the given logs and verify with that log's key over the
precertificate entry built from `cert.tbs_precertificate_bytes`.

usage: ct_check.py CERT.pem ISSUER.pem LOG_KEY.der...   (prints one line per SCT)
"""

import datetime
import hashlib
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def main(cert_path, issuer_path, *key_paths):
    cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
    issuer = x509.load_pem_x509_certificate(open(issuer_path, "rb").read())
    logs = {}
    for path in key_paths:
        der = open(path, "rb").read()
        logs[hashlib.sha256(der).digest()] = serialization.load_der_public_key(der)
    scts = cert.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps
    ).value
    issuer_spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    issuer_key_hash = hashlib.sha256(issuer_spki).digest()
    tbs = cert.tbs_precertificate_bytes
    for sct in scts:
        key = logs[sct.log_id]
        when = sct.timestamp  # naive UTC in cryptography
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        millis = round(when.timestamp() * 1000)
        signed = (
            struct.pack(">BBQH", 0, 0, millis, 1)
            + issuer_key_hash
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack(">H", len(sct.extension_bytes))
            + sct.extension_bytes
        )
        key.verify(sct.signature, signed, ec.ECDSA(hashes.SHA256()))
        print("verified SCT from log", sct.log_id.hex())
    print(f"{len(scts)} SCTs verified")


if __name__ == "__main__":
    main(*sys.argv[1:])
