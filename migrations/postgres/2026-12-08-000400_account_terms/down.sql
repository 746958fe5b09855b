ALTER TABLE accounts DROP COLUMN terms_accepted_at;
ALTER TABLE accounts DROP COLUMN terms_version;
