DROP INDEX certificates_revoked;
CREATE INDEX certificates_revoked ON certificates(crl_shard, revoked_at);
