-- Only revoked certificates are looked up by CRL shard (CRL generation,
-- the per-shard revoked counts behind each regeneration check, unknown
-- shard probes). Indexing just them keeps those reads proportional to the
-- revoked certificates instead of an index entry per certificate ever
-- issued (the counts were a full index scan every publish interval), and
-- issuance no longer writes an entry into this index.
DROP INDEX certificates_revoked;
CREATE INDEX certificates_revoked ON certificates(crl_shard, revoked_at)
    WHERE revoked_at IS NOT NULL;
