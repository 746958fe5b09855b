-- Every serial the CA is about to sign, recorded before anything is
-- signed: a crash between signing and storing never leaves a certificate
-- the CA has no record of.
CREATE TABLE serials (
    serial TEXT PRIMARY KEY NOT NULL,
    order_id BIGINT NOT NULL REFERENCES orders(id),
    reserved_at TIMESTAMP NOT NULL
);
CREATE INDEX serials_order ON serials(order_id);

-- Precertificates (RFC 6962), recorded before they are sent to a CT log.
-- A precertificate counts as issued: it is revocable by serial and listed
-- on its CRL shard once revoked, unless its final certificate (same
-- serial, in certificates) is what the CRL lists.
CREATE TABLE precertificates (
    serial TEXT PRIMARY KEY NOT NULL REFERENCES serials(serial),
    order_id BIGINT NOT NULL REFERENCES orders(id),
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    der BLOB NOT NULL,
    not_before TIMESTAMP NOT NULL,
    not_after TIMESTAMP NOT NULL,
    crl_shard INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revocation_reason INTEGER
);
-- Only revoked ones are looked up by shard (as certificates_revoked).
CREATE INDEX precertificates_revoked ON precertificates(crl_shard, revoked_at)
    WHERE revoked_at IS NOT NULL;
CREATE INDEX precertificates_order ON precertificates(order_id);
CREATE INDEX precertificates_account ON precertificates(account_id);
