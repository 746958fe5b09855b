-- The expiry notices job (ra::notices) finds certificates ending within
-- 14 days by their notAfter, every hour: through this index, not a scan.
CREATE INDEX certificates_not_after ON certificates(not_after);
